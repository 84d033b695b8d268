"""Reminders: what the ladder says is due, addressed to people, worded in Vietnamese, queued once.

One tick gives each person at most one message: every task due for them at that tick, each with its
number (``#12``), title, deadline and what its rung says, and a submit choice per task. Leaders get one
escalation a tick, listing the tasks and their late units. Each rung is recorded once in ``ReminderSent``
(assignment, round, rung, due instant) in the same transaction as the outbox messages that carry it, so
a restart or a second worker never sends a rung twice and never loses one. A rung is recorded only when
someone of its audience has a chat account: a unit whose people join later gets its latest rung then
(a person who joins a unit whose colleagues were already told sees the tasks in ``/tasks``).

Nothing is queued at an instant when nothing may be sent (a day that is not a working day, quiet
hours): the scheduled tick, ``dondoc tick`` and the catch-up tick at start-up share that rule
(``schedules.ladder.due_reminders``), and texts say how things stand at the moment they are sent.

Planning is set-based: one ladder schedule per task shape (assignments sharing status, due date and
start), one ``INSERT … SELECT`` per firing shape, in bounded transactions (``UNIT_CHUNK`` units at a
time), so the chat keeps answering while it runs and memory stays flat. A quiet minute reads only what changed since the watermark of the
last complete tick; every open assignment is read only when a rung can fire (a rung's time of day, the
end of quiet hours). People who have not joined any chat are counted and named, never skipped silently.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, bindparam, case, exists, func, literal, or_, text, union
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import texts as t
from handlers.chat import Button, Reply, reply_to_payload
from handlers.messages import count_hint, short, takes_file
from schedules.calendar import WorkCalendar
from schedules.ladder import AssignmentView, Rung, due_reminders, fire_instants, may_send
from storage.db import Database, upsert_insert
from storage.models import (Assignment, ChannelIdentity, Person, ReminderSent, Task,
                            TickState, Unit)
from storage.outbox import OutboxRow, Recipient, enqueue_many, recipients
from storage.status import OPEN_VALUES
from storage.types import UTCDateTime, read_instant

UNIT_AUDIENCES = ("officer", "head")
CHUNK = 1000
"""Rows per INSERT statement."""
UNIT_CHUNK = 500
"""Units per transaction of the tick (with 60 tasks: ~20,000 assignments, a thousand people)."""
SQLITE_HANDOVER = 0.12
"""Seconds the tick leaves SQLite's write lock free between two transactions. The chat writes on every
message (the account's last use); a writer waiting on the lock retries on SQLite's busy-handler schedule
(up to 100 ms apart), so a tick that took the lock again at once would keep it from the chat."""
YIELD_EVERY = 100
"""Messages rendered between two yields to the event loop (the chat's messages are handled in between)."""
TASK_BUTTONS = 20
"""Submit choices in one reminder; past it a "see all" choice opens the person's task list. Telegram
allows 100 buttons (~10 KB of markup); a channel without buttons types each choice as a numbered line."""
ESCALATION_UNITS = 30
"""Late units named per task in an escalation when it is about one task (10 when several); the rest counted."""
CHANGE_LAG = timedelta(minutes=10)
"""A quiet tick re-reads what changed a little before its watermark: a change committed just after a tick
read carries an earlier timestamp, and the dedupe makes reading it twice harmless."""
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
"""The due instant recorded for the "assigned" notice (sent once per assignment, whatever its due date)."""
ALL_UNITS = (0, 2**31 - 1)
"""Unit ids from first to last: the leaders' escalations are over every unit."""
TICK_LOCK = 0x446F6E44  # PostgreSQL advisory lock id: one tick at a time across workers


@dataclass(frozen=True)
class LadderConfig:
    ladder: tuple[Rung, ...]
    calendar: WorkCalendar
    tz: ZoneInfo
    quiet: tuple[time, time]


@dataclass(frozen=True)
class Shape:
    """Open assignments of one task that share their ladder: status, due date (override), creation,
    return and re-arm instants. The tick computes one schedule per shape and records a rung for all its
    assignments in one statement."""

    task: Task
    status: str
    override: datetime | None
    phrase_override: str | None
    created_at: datetime
    returned_at: datetime | None
    rearmed_at: datetime | None
    due_at: datetime = field(init=False)
    """The unit's due instant (an extension applied)."""
    order: tuple = field(init=False)
    """Where its tasks sort in a reminder: soonest due first, then by number (plain values: a heavy tick sorts
    a hundred thousand items by it)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "due_at", self.override or self.task.due_at)
        object.__setattr__(self, "order", (self.due_at, self.task.id))

    def view(self) -> AssignmentView:
        starts = [self.created_at] + [at for at in (self.returned_at, self.rearmed_at) if at is not None]
        return AssignmentView(0, self.task.id, 0, self.status, 0, self.due_at, self.created_at, max(starts))


@dataclass(frozen=True, slots=True)
class UnitRef:
    """The columns of a unit a reminder shows (plain values: a tick holds thousands)."""

    id: int
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class PersonRef:
    """The columns of a person a reminder is addressed to."""

    id: int
    name: str
    role: str
    unit_id: int | None


class ReminderItem:
    """One task in a reminder: one rung of one assignment (of a shape)."""

    __slots__ = ("assignment_id", "shape", "unit", "rung")

    def __init__(self, assignment_id: int, shape: Shape, unit: UnitRef, rung: Rung) -> None:
        self.assignment_id, self.shape, self.unit, self.rung = assignment_id, shape, unit, rung

    @property
    def task(self) -> Task:
        return self.shape.task

    @property
    def due_at(self) -> datetime:
        """The unit's own due instant (an extension applied)."""
        return self.shape.due_at

    @property
    def status(self) -> str:
        return self.shape.status

    @property
    def phrase(self) -> str:
        return self.shape.phrase_override or self.shape.task.deadline_phrase


@dataclass
class PlannedMessage:
    """One message to one person at one tick: their reminders, or a leader's escalation. ``reply`` is kept
    by a dry run (to print it); a real tick has written it to the outbox and lets it go."""

    person: PersonRef
    items: list[ReminderItem]
    reply: Reply | None
    escalation: bool = False
    reachable: bool = True
    """False in a dry run for someone with no chat account: what is due for them, which cannot be sent."""

    @property
    def unit(self) -> UnitRef:
        return self.items[0].unit

    @property
    def task(self) -> Task:
        return self.items[0].task

    @property
    def rung(self) -> str:
        return self.items[0].rung.name

    def as_json(self) -> dict:
        return {"person": self.person.name, "person_id": self.person.id, "role": self.person.role,
                "escalation": self.escalation, "reachable": self.reachable,
                "items": [{"task_id": i.task.id, "task": i.task.title, "unit": i.unit.code, "rung": i.rung.name,
                           "assignment_id": i.assignment_id} for i in self.items],
                "text": self.reply.text if self.reply is not None else None}


@dataclass
class TickResult:
    """What one tick queued (or, in a dry run, would queue), and who could not be reached."""

    messages: list[PlannedMessage] = field(default_factory=list)
    unjoined: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    """Unit name → names of the people due a reminder at this tick who have no linked chat."""
    unjoined_items: int = 0
    """How many reminders (task rungs) those people would have got."""
    skipped: str | None = None
    """Why nothing was looked at: not a working day, quiet hours, another worker is ticking."""

    def __iter__(self):
        return iter(self.messages)

    def __len__(self) -> int:
        return len(self.messages)

    @property
    def unjoined_people(self) -> int:
        return sum(len(names) for names in self.unjoined.values())


# --- texts ------------------------------------------------------------------------------------


def standing(item: ReminderItem, now: datetime, config: LadderConfig) -> str:
    """How the task stands at ``now`` (not what the rung was called when it came due)."""
    due_at = item.due_at
    if item.status == "returned":
        return "↩️ bị trả lại, chưa nộp lại"
    if now > due_at:
        return f"❗ {t.remaining(due_at, now, config.tz, config.calendar)}"
    if due_at.astimezone(config.tz).date() == now.astimezone(config.tz).date():
        return "⚠️ hôm nay là hạn cuối"
    left = t.remaining(due_at, now, config.tz, config.calendar)
    return f"📌 việc mới, {left}" if item.rung.offset is None else f"⏰ {left}"


def reminder_text(item: ReminderItem, now: datetime, config: LadderConfig) -> str:
    """One task: the headline says how it stands at ``now``."""
    task, unit = item.task, item.unit
    phrase = item.phrase
    deadline = t.due(phrase, item.due_at, config.tz)
    left = t.remaining(item.due_at, now, config.tz, config.calendar)
    today = now.astimezone(config.tz).date()
    if item.status == "returned":
        head = f"↩️ Hồ sơ #{task.id} «{task.title}» của {unit.name} đã bị trả lại và chưa được nộp lại."
    elif now > item.due_at:
        head = f"❗ {unit.name} đã quá hạn nộp #{task.id} «{task.title}» ({left})."
    elif item.due_at.astimezone(config.tz).date() == today:
        head = f"⚠️ Hôm nay là hạn cuối: {unit.name} chưa nộp #{task.id} «{task.title}»."
    elif item.rung.offset is None:
        head = f"📌 Nhiệm vụ mới #{task.id} cho {unit.name}: «{task.title}»."
    else:
        head = f"⏰ Nhắc việc: {unit.name} chưa nộp #{task.id} «{task.title}» — {left}."
    lines = [head, f"Hạn: {deadline}"]
    if task.template:
        lines.append(f"Biểu mẫu: {task.template}")
    if task.signature_required and takes_file(task):
        lines.append("Yêu cầu: tệp PDF có ký số.")
    if hint := count_hint(task):
        lines.append(hint)
    if takes_file(task):
        lines.append("Trả lời tin nhắn này bằng tệp PDF để nộp, hoặc bấm nút bên dưới.")
    if now > item.due_at:  # the ask for an explanation travels with the reminder (one message a morning)
        lines.append(f"Chưa nộp được thì gửi giải trình cho lãnh đạo: /giaitrinh #{task.id} lý do.")
    return "\n".join(lines)


def reminder_reply(items: list[ReminderItem], now: datetime, config: LadderConfig,
                   cache: dict | None = None, buttons: dict[int, Button] | None = None) -> Reply:
    """One person's reminders of one tick as one message, soonest due first."""
    if len(items) == 1:
        item = items[0]
        submit = [Button("📤 Nộp ngay", f"submit:{item.assignment_id}")] if takes_file(item.task) else []
        return Reply(reminder_text(item, now, config),
                     buttons=[submit + [Button("🕒 Xin gia hạn", f"extend:{item.assignment_id}")]])
    items = sorted(items, key=lambda i: i.shape.order)
    unit = items[0].unit
    lines = [f"🔔 Nhắc việc: {unit.name} có {len(items)} việc cần nộp "
             f"(hôm nay {t.day_with_weekday(now.astimezone(config.tz).date())})."]
    cache = {} if cache is None else cache  # one line per shape and rung, for everyone (shapes live for the tick)
    for item in items:
        key = (id(item.shape), item.rung.name)
        line = cache.get(key)
        if line is None:
            task = item.task
            extra = " · ký số" if task.signature_required and takes_file(task) else ""
            hint = count_hint(task)
            line = cache[key] = (f"\n#{task.id} «{short(task.title, 120)}»\n   Hạn: "
                                 f"{t.due(item.phrase, item.due_at, config.tz)}{extra}\n   {standing(item, now, config)}"
                                 + (f"\n   {hint}" if hint else ""))
        lines.append(line)
    with_files = [item for item in items if takes_file(item.task)]
    if with_files:
        lines.append("\nTrả lời tin này bằng tệp PDF kèm ghi chú «#SỐ» của việc, hoặc bấm nút nộp của việc đó.")
    if any(now > item.due_at for item in items):  # the ask for an explanation travels with the reminder
        lines.append("Việc đã quá hạn mà chưa nộp được: gửi giải trình cho lãnh đạo, «/giaitrinh #SỐ lý do».")
    buttons = {} if buttons is None else buttons  # one per assignment, shared by the unit's officer and head
    chosen = []
    for item in with_files[:TASK_BUTTONS]:
        if item.assignment_id not in buttons:
            buttons[item.assignment_id] = Button(f"📤 Nộp #{item.task.id}", f"submit:{item.assignment_id}")
        chosen.append(buttons[item.assignment_id])
    rows = [chosen[i:i + 4] for i in range(0, len(chosen), 4)]
    if len(with_files) > TASK_BUTTONS:
        lines.append(f"Nút nộp cho {TASK_BUTTONS} việc hạn sớm nhất; bấm «Xem tất cả» để thấy đủ {len(items)} việc.")
        rows.append([Button("📋 Xem tất cả", "tasks:1")])  # the /tasks view, its first page
    return Reply("\n".join(lines), buttons=rows)


def escalation_reply(by_task: dict[int, tuple[Task, int, list]], now: datetime, config: LadderConfig) -> Reply:
    """A leader's escalation: each task with its late units, the worst first, counts beyond a cap."""
    cap = ESCALATION_UNITS if len(by_task) == 1 else 10
    total = sum(count for _, count, _ in by_task.values())
    if len(by_task) == 1:
        ((task, count, _),) = by_task.values()
        lines = [f"🔺 Báo cáo lãnh đạo: {count} đơn vị chưa nộp #{task.id} «{task.title}» dù đã quá hạn."]
    else:
        lines = [f"🔺 Báo cáo lãnh đạo: {len(by_task)} nhiệm vụ, {total} lượt đơn vị chưa nộp dù đã quá hạn."]
    buttons = []
    for task, count, worst in sorted(by_task.values(), key=lambda entry: (entry[0].due_at, entry[0].id)):
        if len(by_task) > 1:
            lines.append(f"\n#{task.id} «{short(task.title, 120)}» — {count} đơn vị chưa nộp")
        lines.append(f"Hạn: {t.due(task.deadline_phrase, task.due_at, config.tz)}")
        for due_at, name in sorted(worst)[:cap]:
            lines.append(f"• {name} — {t.remaining(due_at, now, config.tz, config.calendar)}")
        if count > cap:
            lines.append(f"… và {count - cap} đơn vị khác (bấm nút để xem tất cả).")
        if len(buttons) < TASK_BUTTONS:
            buttons.append(Button(f"📋 Xem #{task.id}" if len(by_task) > 1 else "📋 Xem các đơn vị", f"task:{task.id}"))
    return Reply("\n".join(lines), buttons=[buttons[i:i + 4] for i in range(0, len(buttons), 4)])


# --- reading ----------------------------------------------------------------------------------


async def _dirty_units(session: AsyncSession, since: datetime) -> tuple[set[int], bool]:
    """Units whose people became reachable (a new chat account) or changed since ``since``; and whether a
    leader or coordinator did (then everything is re-checked, for the escalations)."""
    rows = (await session.exec(select(Person.unit_id, Person.role).join(
        ChannelIdentity, ChannelIdentity.person_id == Person.id, isouter=True).where(
        or_(ChannelIdentity.created_at > since, Person.updated_at > since)))).all()
    return {unit_id for unit_id, _ in rows if unit_id is not None}, any(role not in UNIT_AUDIENCES for _, role in rows)


async def watermark(session: AsyncSession) -> datetime | None:
    state = await session.get(TickState, "reminders")
    return state.at if state is not None else None


async def _advance_watermark(session: AsyncSession, now: datetime) -> None:
    """Move the watermark forward to ``now`` (never back); two workers may do it at once."""
    statement = upsert_insert(session, TickState).values(name="reminders", at=now)
    statement = statement.on_conflict_do_update(index_elements=["name"], set_={"at": statement.excluded.at},
                                                where=TickState.at < statement.excluded.at)
    await session.exec(statement)


# --- the tick ---------------------------------------------------------------------------------


class _Tick:
    """One tick: planning and (unless ``dry_run``) queueing, set-based: one schedule per shape, and per
    firing shape one ``INSERT … SELECT`` recording its rung for every assignment of the shape (the database
    does the row work, off the event loop), in bounded transactions of ``UNIT_CHUNK`` units; then one
    message per person, rendered from one line per task shape."""

    def __init__(self, db: Database, now: datetime, config: LadderConfig, dry_run: bool) -> None:
        self.db, self.now, self.config, self.dry_run = db, now, config, dry_run
        self.result = TickResult()
        self.units: dict[int, UnitRef] = {}
        self.lines: dict[tuple, str] = {}
        self.statements: dict[tuple, object] = {}

    # -- shapes and what fires

    @staticmethod
    def _shape_columns():
        a = Assignment
        returned_at = case((a.status == "returned", a.status_changed_at), else_=None)
        return (a.task_id, a.status, a.due_at_override, a.due_phrase_override, a.created_at, returned_at,
                a.rearmed_at)

    @staticmethod
    def _shape_key(row) -> tuple:
        """A row of ``_shape_columns`` as the key of its shape (SQLite hands back the CASE over an instant as
        text: it is read as the column would be)."""
        task_id, status, override, phrase, created, returned, rearmed = row
        return task_id, status, override, phrase, created, read_instant(returned), rearmed

    async def _firing(self, session: AsyncSession, where) -> list[tuple[Shape, Rung]]:
        columns = self._shape_columns()
        query = select(*columns).where(col(Assignment.status).in_(OPEN_VALUES)).group_by(*columns)
        if where is not None:
            query = query.where(where)
        rows = [self._shape_key(row) for row in (await session.exec(query)).all()]
        task_ids = list({row[0] for row in rows})
        tasks = {}
        for start in range(0, len(task_ids), CHUNK):
            for task in (await session.exec(select(Task).where(col(Task.id).in_(task_ids[start:start + CHUNK])))).all():
                tasks[task.id] = task
        shapes = []
        for task_id, status, override, phrase, created, returned, rearmed in rows:
            if tasks[task_id].archived_at is not None:  # archived by a coordinator: off the board, no reminders
                continue
            shapes.append(Shape(tasks[task_id], status, override, phrase, created, returned, rearmed))
        config = self.config
        firing = []
        for shape in shapes:
            due = due_reminders([shape.view()], self.now, config.calendar, config.ladder, config.tz, config.quiet)
            if due:
                firing.append((shape, due[0].rung))
        return firing

    # -- statements

    def _reachable(self, roles: list[str]):
        """Someone in ``roles`` who can be reached: of the assignment's unit (officers, heads), or anyone (leaders)."""
        p, a = Person, Assignment
        who = and_(p.active == True, p.unreachable_since == None, col(p.role).in_(roles),  # noqa: E711,E712
                   exists().where(ChannelIdentity.person_id == p.id,
                                  ChannelIdentity.unreachable_since == None))  # noqa: E711
        if any(r in UNIT_AUDIENCES for r in roles):
            who = and_(who, p.unit_id == a.unit_id)
        return exists().where(who)

    def _record_statement(self, session: AsyncSession, fixed: bool, roles: tuple[str, ...], where):
        """The statement recording one rung for one shape's assignments, built once per tick for each kind of
        rung and audience; the shape, rung and units come as parameters (``_shape_params``), so a heavy tick
        runs one compiled statement a few hundred times instead of building each."""
        cache_key = (fixed, roles)
        if cache_key in self.statements:
            return self.statements[cache_key]
        a = Assignment
        instant = UTCDateTime()
        key_round = literal(0) if fixed else a.round  # the "assigned" notice: once per assignment
        key_due = bindparam("s_due", type_=instant)
        match = and_(
            a.task_id == bindparam("s_task"), a.status == bindparam("s_status"),
            a.created_at == bindparam("s_created", type_=instant),
            a.due_at_override.is_not_distinct_from(bindparam("s_override", type_=instant)),
            a.due_phrase_override.is_not_distinct_from(bindparam("s_phrase", type_=String())),
            a.rearmed_at.is_not_distinct_from(bindparam("s_rearmed", type_=instant)),
            or_(a.status != "returned", a.status_changed_at == bindparam("s_returned", type_=instant)),
            a.unit_id.between(bindparam("s_first_unit"), bindparam("s_last_unit")))
        chosen = (select(a.id, a.unit_id).join(Unit, and_(Unit.id == a.unit_id, Unit.active == True))  # noqa: E712
                  .where(match))
        if where is not None:
            chosen = chosen.where(where)
        if self.dry_run:  # what is due for everyone, flagging who cannot be reached
            sent = exists().where(ReminderSent.assignment_id == a.id, ReminderSent.round == key_round,
                                  ReminderSent.rung == bindparam("s_rung"), ReminderSent.due_at == key_due)
            statement = chosen.where(~sent)
        else:
            rows = chosen.where(self._reachable(list(roles))).with_only_columns(
                a.id, key_round, bindparam("s_rung", type_=String()), key_due, a.unit_id,
                bindparam("s_now", type_=instant))
            statement = (upsert_insert(session, ReminderSent)
                         .from_select(["assignment_id", "round", "rung", "due_at", "unit_id", "created_at"], rows)
                         .on_conflict_do_nothing(index_elements=["assignment_id", "round", "rung", "due_at"])
                         .returning(ReminderSent.assignment_id, ReminderSent.unit_id))
        self.statements[cache_key] = statement
        return statement

    async def _record_rung(self, session: AsyncSession, shape: Shape, rung: Rung, roles: list[str], where,
                           units: tuple[int, int]) -> list[tuple[int, int]]:
        """Record the rung for each of the shape's assignments (of the units numbered ``units[0]`` to
        ``units[1]``) someone can be told about and that has not had it; returns the (assignment, unit) pairs
        this worker recorded. One statement for the whole shape: the database does the row work, off the
        event loop. A rung nobody can receive yet (nobody of the unit has joined) is not recorded: it goes
        when someone joins. The record is also the reminder's entry in the log (``/log``)."""
        statement = self._record_statement(session, rung.offset is None, tuple(roles), where)
        params = dict(s_task=shape.task.id, s_status=shape.status, s_created=shape.created_at,
                      s_override=shape.override, s_phrase=shape.phrase_override, s_rearmed=shape.rearmed_at,
                      s_returned=shape.returned_at, s_rung=rung.name,
                      s_due=EPOCH if rung.offset is None else shape.due_at,
                      s_first_unit=units[0], s_last_unit=units[1], s_now=self.now)
        connection = await session.connection()  # a Core statement with parameters, in the session's transaction
        return [tuple(row) for row in (await connection.execute(statement, params)).all()]

    async def _count_unjoined(self, session: AsyncSession, firing: list[tuple[Shape, Rung]], where, *,
                              leaders: bool) -> None:
        """People due a reminder at this tick who have no chat account: counted and named. They are few, so they
        are found first; then one grouped read counts the open assignments of each shape (in their units, for
        officers and heads), and each firing shape adds its count to those of its audience."""
        roles = sorted({r for _, rung in firing for r in rung.to if (r not in UNIT_AUDIENCES) == leaders})
        if not roles:
            return
        has_chat = exists().where(ChannelIdentity.person_id == Person.id)
        query = select(Person.id, Person.name, Person.role, Person.unit_id).where(
            Person.active == True, col(Person.role).in_(roles), ~has_chat)  # noqa: E712
        missing = (await session.exec(query)).all()
        if not missing:
            return
        hears: dict[tuple, list[Rung]] = defaultdict(list)  # shape key → the rungs it fires
        for shape, rung in firing:
            hears[(shape.task.id, shape.status, shape.override, shape.phrase_override, shape.created_at,
                   shape.returned_at, shape.rearmed_at)].append(rung)
        a = Assignment
        columns = self._shape_columns()
        counts: dict[tuple[int | None, str], int] = defaultdict(int)  # (unit or None for all, role) → reminders
        units = sorted({unit_id for _, _, _, unit_id in missing if unit_id is not None})
        parts = [None] if leaders else [units[start:start + CHUNK] for start in range(0, len(units), CHUNK)]
        for part in parts:
            grouped = (select(*columns, a.unit_id if part is not None else literal(None), func.count())
                       .join(Unit, and_(Unit.id == a.unit_id, Unit.active == True))  # noqa: E712
                       .where(col(a.status).in_(OPEN_VALUES)))
            grouped = grouped.group_by(*columns, a.unit_id) if part is not None else grouped.group_by(*columns)
            if where is not None:
                grouped = grouped.where(where)
            if part is not None:
                grouped = grouped.where(col(a.unit_id).in_(part))
            for row in (await session.exec(grouped)).all():
                for rung in hears.get(self._shape_key(row[:7]), ()):
                    for role in rung.to:
                        counts[(row[7], role)] += row[8]
        for _, name, role, unit_id in missing:
            total = counts.get((None if leaders else unit_id, role), 0)
            if total:
                unit = self.units.get(unit_id)
                self.result.unjoined[unit.name if unit else "(không thuộc đơn vị)"].add(name)
                self.result.unjoined_items += total

    # -- one transaction

    async def _chunk(self, firing: list[tuple[Shape, Rung]], where, units: tuple[int, int]) -> bool:
        """The unit reminders of the units numbered ``units[0]`` to ``units[1]`` (of those ``where`` selects),
        in one transaction: record, render, queue. Whether it recorded anything."""
        async with self.db.session(immediate=not self.dry_run) as session:
            recorded: list[tuple[int, int, Shape, Rung]] = []
            for shape, rung in firing:
                roles = [r for r in rung.to if r in UNIT_AUDIENCES]
                if roles:
                    recorded += [(aid, uid, shape, rung) for aid, uid in
                                 await self._record_rung(session, shape, rung, roles, where, units)]
            if not recorded:
                return False
            people, accounts = await self._people(session, units=sorted({uid for _, uid, _, _ in recorded}),
                                                  roles=list(UNIT_AUDIENCES))
            by_unit_role: dict[tuple[int, str], list[int]] = defaultdict(list)
            for person in people.values():
                if accounts.get(person.id) or self.dry_run:
                    by_unit_role[(person.unit_id, person.role)].append(person.id)
            won: dict[int, list[ReminderItem]] = defaultdict(list)
            await asyncio.sleep(0)
            for aid, uid, shape, rung in recorded:
                item = ReminderItem(aid, shape, self.units[uid], rung)  # one item, shared by its recipients
                for role in rung.to:
                    for person_id in by_unit_role.get((uid, role), ()):
                        won[person_id].append(item)
            await self._queue(session, won, people, accounts, escalation=False)
            return True

    async def _people(self, session: AsyncSession, *, units: list[int] | None = None, roles: list[str]):
        """Active people in ``roles`` (of ``units``), and the chat accounts of those who have one."""
        query = select(Person.id, Person.name, Person.role, Person.unit_id).where(
            Person.active == True, col(Person.role).in_(roles))  # noqa: E712
        people, accounts = {}, defaultdict(list)
        parts = [units[start:start + CHUNK] for start in range(0, len(units), CHUNK)] if units is not None else [None]
        for part in parts:
            chunk = query if part is None else query.where(col(Person.unit_id).in_(part))
            for row in (await session.exec(chunk)).all():
                people[row[0]] = PersonRef(*row)
        ids = sorted(people)
        for start in range(0, len(ids), CHUNK):  # each person's chat: the one they use most (channel routing)
            for recipient in await recipients(session, ids[start:start + CHUNK]):
                accounts[recipient.person_id].append((recipient.channel, recipient.chat_id))
        return people, accounts

    async def _queue(self, session: AsyncSession, won: dict[int, list[ReminderItem]], people, accounts, *,
                     escalation: bool) -> None:
        """One message per person for their rungs ``won``; queued once per chat account of theirs."""
        rows, messages = [], []
        buttons: dict[int, Button] = {}
        for count, (person_id, items) in enumerate(won.items(), start=1):
            if count % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # rendering thousands of messages: let the chat in
            person = people[person_id]
            reply = (self._escalation(items) if escalation
                     else reminder_reply(items, self.now, self.config, self.lines, buttons))
            messages.append(PlannedMessage(person, items, reply if self.dry_run else None, escalation=escalation,
                                           reachable=bool(accounts.get(person_id))))
            if self.dry_run:
                continue
            payload = reply_to_payload(reply)
            ids = sorted({item.assignment_id for item in items})
            payload["assignment_ids"] = ids
            first = min(items, key=lambda i: i.assignment_id)
            tag = f"{first.assignment_id}.{first.rung.name}.{self.now.timestamp():.0f}"
            for channel, chat_id in accounts[person_id]:
                rows.append(OutboxRow(f"{'esc' if escalation else 'rem'}:{tag}:p{person_id}:{channel}:{chat_id}",
                                      Recipient(person_id, channel, chat_id), payload,
                                      assignment_id=ids[0] if len(ids) == 1 else None))
        self.result.messages += messages
        await enqueue_many(session, rows, now=self.now, kind="reminder")

    def _escalation(self, items: list[ReminderItem]) -> Reply:
        by_task: dict[int, list] = {}
        for item in items:
            entry = by_task.setdefault(item.task.id, [item.task, 0, []])
            entry[1] += 1
            heapq.heappush(entry[2], (-item.due_at.timestamp(), item.unit.name, item.due_at))
            if len(entry[2]) > ESCALATION_UNITS:
                heapq.heappop(entry[2])  # keep the worst (earliest due) ones
        shown = {tid: (task, count, [(due, name) for _, name, due in worst])
                 for tid, (task, count, worst) in by_task.items()}
        return escalation_reply(shown, self.now, self.config)

    async def _finish(self, firing: list[tuple[Shape, Rung]], where) -> None:
        """Leaders' escalations (one message each, over every unit) and the watermark, in the last transaction."""
        async with self.db.session(immediate=not self.dry_run) as session:
            recorded: list[tuple[int, int, Shape, Rung]] = []
            for shape, rung in firing:
                roles = [r for r in rung.to if r not in UNIT_AUDIENCES]
                if roles:
                    recorded += [(aid, uid, shape, rung) for aid, uid in
                                 await self._record_rung(session, shape, rung, roles, where, ALL_UNITS)]
            await self._count_unjoined(session, firing, where, leaders=True)
            if recorded:
                roles = sorted({r for _, _, _, rung in recorded for r in rung.to if r not in UNIT_AUDIENCES})
                people, accounts = await self._people(session, roles=roles)
                heard: dict[str, list[ReminderItem]] = defaultdict(list)  # role → its items (shared lists)
                for aid, uid, shape, rung in recorded:
                    item = ReminderItem(aid, shape, self.units[uid], rung)
                    for role in rung.to:
                        heard[role].append(item)
                won: dict[int, list[ReminderItem]] = {}
                for person in people.values():
                    if accounts.get(person.id) or self.dry_run:
                        won[person.id] = heard.get(person.role, [])
                await self._queue(session, {k: v for k, v in won.items() if v}, people, accounts, escalation=True)
            if not self.dry_run:
                await _advance_watermark(session, self.now)

    async def run(self) -> TickResult:
        config, now = self.config, self.now
        if not may_send(now, config.calendar, config.tz, config.quiet):
            self.result.skipped = ("ngoài giờ gửi tin" if config.calendar.is_working_day(now.astimezone(config.tz).date())
                                   else "không phải ngày làm việc")
            return self.result
        async with self.db.session() as session:
            since = None if self.dry_run else await watermark(session)
            where = None
            if since is not None and since < now:
                units_changed, staff_changed = await _dirty_units(session, since - CHANGE_LAG)
                if not staff_changed and not fire_instants(since, now, config.ladder, config.calendar, config.tz,
                                                           config.quiet):
                    # what changed, each through its own index (an OR of them would scan every open row)
                    a, lag = Assignment, since - CHANGE_LAG
                    narrow = [select(a.id).where(a.created_at > lag), select(a.id).where(a.status_changed_at > lag),
                              select(a.id).where(a.rearmed_at > lag)]
                    if units_changed:
                        narrow.append(select(a.id).where(col(a.unit_id).in_(units_changed)))
                    where = col(a.id).in_(union(*narrow))
            firing = await self._firing(session, where)
            if firing:
                for unit_id, code, name in (await session.exec(select(Unit.id, Unit.code, Unit.name))).all():
                    self.units[unit_id] = UnitRef(unit_id, code, name)
                await self._count_unjoined(session, firing, where, leaders=False)
        if firing:
            ids = sorted(self.units)
            for start in range(0, len(ids), UNIT_CHUNK):
                part = ids[start:start + UNIT_CHUNK]
                wrote = await self._chunk(firing, where, (part[0], part[-1]))
                # let the chat in between transactions (on SQLite: its writes too, after a transaction that held
                # the write lock for its work, see SQLITE_HANDOVER)
                sqlite_writer = self.db.dialect == "sqlite" and not self.dry_run and wrote
                await asyncio.sleep(SQLITE_HANDOVER if sqlite_writer else 0)
        await self._finish(firing, where)
        return self.result


_frozen = 0


@contextmanager
def _collector_spares_the_heap():
    """While a tick runs, the process's long-lived objects (code, caches, the chat's state) are set aside from
    the garbage collector (``gc.freeze``): a heavy tick allocates hundreds of thousands of short-lived
    objects, and each full collection they trigger would otherwise walk the whole heap (a fifth of the
    heaviest tick's time). Nested uses (a tick beside the digest) unfreeze once, at the end of the last."""
    global _frozen
    if _frozen == 0:
        gc.freeze()
    _frozen += 1
    try:
        yield
    finally:
        _frozen -= 1
        if _frozen == 0:
            gc.unfreeze()


async def plan_reminders(db: Database, now: datetime, config: LadderConfig) -> TickResult:
    """What a tick at ``now`` would queue (read-only; ``dondoc tick --dry-run``): every rung due and not yet
    sent, one message per person, and who would be missed for having no chat."""
    return await _Tick(db, now, config, dry_run=True).run()


async def queue_reminders(db: Database, now: datetime, config: LadderConfig) -> TickResult:
    """Queue every due reminder once, one message per person; returns what reached the outbox.

    On PostgreSQL, one tick at a time across workers (an advisory lock); a worker that finds another
    one ticking skips this minute.
    """
    if db.dialect != "postgresql":
        with _collector_spares_the_heap():
            return await _Tick(db, now, config, dry_run=False).run()
    async with db.engine.connect() as lock:
        if not await lock.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": TICK_LOCK}):
            return TickResult(skipped="một tiến trình khác đang chạy lượt nhắc")
        try:
            with _collector_spares_the_heap():
                return await _Tick(db, now, config, dry_run=False).run()
        finally:
            await lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": TICK_LOCK})
            await lock.commit()
