"""Reminders: what the ladder says is due, addressed to people, worded in Vietnamese, queued once.

``plan_reminders`` is read-only (``dondoc tick --dry-run`` prints it); ``queue_reminders`` writes each
planned message to the outbox under its dedupe key (bulk ``INSERT … ON CONFLICT DO NOTHING RETURNING``),
so running the tick again, after a restart or on a second worker, queues nothing twice, and only the
worker whose insert won writes the "reminder" entry of the status log.

The tick runs every minute over every open assignment, so it reads plain columns rather than ORM
objects, computes each distinct ladder schedule once, and renders text only for messages not yet queued.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import insert, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import texts as t
from handlers.chat import Button, Reply, reply_to_payload
from handlers.messages import short
from schedules.calendar import WorkCalendar
from schedules.ladder import AssignmentView, DueReminder, Rung, due_reminders
from storage.db import upsert_insert
from storage.outbox import recipients
from storage.models import Assignment, ChannelIdentity, OutboxMessage, Person, StatusEvent, Task, TickState, Unit
from storage.status import OPEN_VALUES

UNIT_AUDIENCES = ("officer", "head")
CHUNK = 1000


@dataclass(frozen=True)
class LadderConfig:
    ladder: tuple[Rung, ...]
    calendar: WorkCalendar
    tz: ZoneInfo
    quiet: tuple[time, time]


@dataclass(frozen=True)
class OpenAssignment:
    """The columns of an open assignment the tick needs (no ORM object)."""

    id: int
    task_id: int
    unit_id: int
    status: str
    round: int
    due_at_override: datetime | None
    due_phrase_override: str | None
    created_at: datetime
    status_changed_at: datetime
    rearmed_at: datetime | None


@dataclass
class PlannedMessage:
    """One reminder to one person."""

    key: str
    """The reminder's dedupe key; the outbox adds the person and the chat account."""
    person: Person
    unit: Unit
    task: Task
    rung: str
    reply: Reply
    assignment_ids: tuple[int, ...]

    @property
    def person_key(self) -> str:
        return f"{self.key}:p{self.person.id}"

    def as_json(self) -> dict:
        return {"person": self.person.name, "person_id": self.person.id, "role": self.person.role,
                "unit": self.unit.code, "task": self.task.title, "task_id": self.task.id, "rung": self.rung,
                "text": self.reply.text}


def view_of(row: OpenAssignment, task: Task) -> AssignmentView:
    starts = [row.created_at]
    if row.status == "returned":
        starts.append(row.status_changed_at)
    if row.rearmed_at is not None:
        starts.append(row.rearmed_at)
    return AssignmentView(row.id, task.id, row.unit_id, row.status, row.round, row.due_at_override or task.due_at,
                          row.created_at, max(starts))


def reminder_text(rung: Rung, unit: Unit, task: Task, row: OpenAssignment, now: datetime,
                  config: LadderConfig) -> str:
    due_at = row.due_at_override or task.due_at
    phrase = row.due_phrase_override or task.deadline_phrase
    deadline = t.due(phrase, due_at, config.tz)
    left = t.remaining(due_at, now, config.tz, config.calendar)
    if row.status == "returned":
        head = f"↩️ Hồ sơ «{task.title}» của {unit.name} đã bị trả lại và chưa được nộp lại."
    elif rung.offset is None:
        head = f"📌 Nhiệm vụ mới cho {unit.name}: «{task.title}»."
    elif rung.offset < 0:
        head = f"⏰ Nhắc việc: {unit.name} chưa nộp «{task.title}» — {left}."
    elif rung.offset == 0:
        head = f"⚠️ Hôm nay là hạn cuối: {unit.name} chưa nộp «{task.title}»."
    else:
        head = f"❗ {unit.name} đã quá hạn nộp «{task.title}» ({left})."
    lines = [head, f"Hạn: {deadline}"]
    if task.template:
        lines.append(f"Biểu mẫu: {task.template}")
    if task.signature_required:
        lines.append("Yêu cầu: tệp PDF có ký số.")
    lines.append("Trả lời tin nhắn này bằng tệp PDF để nộp, hoặc bấm nút bên dưới.")
    return "\n".join(lines)


def escalation_text(task: Task, units: list[tuple[Unit, OpenAssignment]], now: datetime,
                    config: LadderConfig) -> str:
    lines = [f"🔺 Báo cáo lãnh đạo: {len(units)} đơn vị chưa nộp «{task.title}» dù đã quá hạn.",
             f"Hạn: {t.due(task.deadline_phrase, task.due_at, config.tz)}"]
    for unit, row in units[:30]:
        due_at = row.due_at_override or task.due_at
        lines.append(f"• {unit.name} — {t.remaining(due_at, now, config.tz, config.calendar)}")
    if len(units) > 30:
        lines.append(f"… và {len(units) - 30} đơn vị khác (bấm nút để xem tất cả).")
    return "\n".join(lines)


async def _open_rows(session: AsyncSession, *, tasks: set[int] | None = None, changed_since: datetime | None = None,
                     units: set[int] | None = None) -> list[OpenAssignment]:
    """Open assignments: all of them, or those of ``tasks``, changed since ``changed_since`` or of ``units``."""
    a = Assignment
    query = select(a.id, a.task_id, a.unit_id, a.status, a.round, a.due_at_override, a.due_phrase_override,
                   a.created_at, a.status_changed_at, a.rearmed_at).where(col(a.status).in_(OPEN_VALUES))
    if changed_since is not None:
        narrow = [a.created_at > changed_since, a.status_changed_at > changed_since, a.rearmed_at > changed_since]
        if tasks:
            narrow.append(col(a.task_id).in_(tasks))
        if units:
            narrow.append(col(a.unit_id).in_(units))
        query = query.where(or_(*narrow))
    return [OpenAssignment(*row) for row in (await session.exec(query)).all()]


async def _firing_tasks(session: AsyncSession, since: datetime, now: datetime, config: LadderConfig) -> set[int]:
    """Tasks with open assignments whose latest rung fired in (since, now]: one schedule per distinct shape."""
    a = Assignment
    shapes = (await session.exec(
        select(a.task_id, a.status, a.due_at_override, a.created_at, a.status_changed_at, a.rearmed_at, Task.due_at)
        .join(Task, Task.id == a.task_id).where(col(a.status).in_(OPEN_VALUES)).distinct())).all()
    views = [view_of(OpenAssignment(0, task_id, 0, status, 0, override, None, created, changed, rearmed),
                     _DueOnly(task_id, task_due))
             for task_id, status, override, created, changed, rearmed, task_due in shapes]
    due = due_reminders(views, now, config.calendar, config.ladder, config.tz, config.quiet)
    return {reminder.view.task_id for reminder in due if reminder.fire_at > since}


async def _dirty_units(session: AsyncSession, since: datetime) -> tuple[set[int], bool]:
    """Units whose people became reachable (a new chat account) or changed since ``since``; and whether a
    leader or coordinator did (then escalations are all re-checked)."""
    rows = (await session.exec(select(Person.unit_id, Person.role).join(
        ChannelIdentity, ChannelIdentity.person_id == Person.id, isouter=True).where(
        or_(ChannelIdentity.created_at > since, Person.updated_at > since)))).all()
    return {unit_id for unit_id, _ in rows if unit_id is not None}, any(role not in UNIT_AUDIENCES for _, role in rows)


@dataclass(frozen=True)
class _DueOnly:
    id: int
    due_at: datetime


async def watermark(session: AsyncSession) -> datetime | None:
    state = await session.get(TickState, "reminders")
    return state.at if state is not None else None


async def _advance_watermark(session: AsyncSession, now: datetime) -> None:
    """Move the watermark forward to ``now`` (never back); two workers may do it at once."""
    statement = upsert_insert(session, TickState).values(name="reminders", at=now)
    statement = statement.on_conflict_do_update(index_elements=["name"], set_={"at": statement.excluded.at},
                                                where=TickState.at < statement.excluded.at)
    await session.exec(statement)


async def _queued_keys(session: AsyncSession, since: datetime) -> set[str]:
    """Person-level keys of the reminders queued since ``since`` (rows are created after their rung fires)."""
    keys = (await session.exec(select(OutboxMessage.dedupe_key).where(
        OutboxMessage.kind == "reminder", OutboxMessage.created_at >= since))).all()
    return {key.rsplit(":", 2)[0] for key in keys}  # "<key>:p<person>" without ":<channel>:<chat>"


async def _identities(session: AsyncSession) -> dict[int, list[tuple[str, str]]]:
    """Each person's chat for reminders: the account they use most (``storage.outbox.recipients``)."""
    return {r.person_id: [(r.channel, r.chat_id)] for r in await recipients(session, None)}


async def plan_reminders(session: AsyncSession, now: datetime, config: LadderConfig, *,
                         reachable_only: bool = False, since: datetime | None = None) -> list[PlannedMessage]:
    """Every reminder due at ``now`` that has not been queued yet, one per person (``reachable_only``:
    only people with a chat account, which is all the real tick can send to).

    With ``since`` (the watermark of the last complete tick) only what can have changed is read: tasks
    whose rungs fired after it, assignments created, returned or extended after it, and units whose
    people became reachable after it. Without it, every open assignment is read.
    """
    if since is not None and since < now:
        units_changed, staff_changed = await _dirty_units(session, since)
        if staff_changed:
            since = None
    if since is not None and since < now:
        firing = await _firing_tasks(session, since, now, config)
        rows = await _open_rows(session, tasks=firing, changed_since=since, units=units_changed)
    else:
        rows = await _open_rows(session)
    if not rows:
        return []
    task_ids = {row.task_id for row in rows}
    tasks = {task.id: task for task in (await session.exec(select(Task).where(col(Task.id).in_(task_ids)))).all()}
    units = {unit.id: unit for unit in (await session.exec(select(Unit).where(Unit.active == True))).all()}  # noqa: E712
    rows = [row for row in rows if row.unit_id in units]
    by_id = {row.id: row for row in rows}
    due = due_reminders([view_of(row, tasks[row.task_id]) for row in rows], now, config.calendar, config.ladder,
                        config.tz, config.quiet)
    if not due:
        return []
    queued = await _queued_keys(session, min(reminder.fire_at for reminder in due))
    people = (await session.exec(select(Person).where(Person.active == True))).all()  # noqa: E712
    if reachable_only:
        reachable = await _identities(session)
        people = [person for person in people if person.id in reachable and person.unreachable_since is None]
    by_unit_role: dict[tuple[int | None, str], list[Person]] = defaultdict(list)
    by_role: dict[str, list[Person]] = defaultdict(list)
    for person in people:
        by_unit_role[(person.unit_id, person.role)].append(person)
        by_role[person.role].append(person)

    planned: list[PlannedMessage] = []
    escalations: dict[tuple[int, str, datetime], list[DueReminder]] = defaultdict(list)
    for reminder in due:
        row = by_id[reminder.view.assignment_id]
        task, unit = tasks[row.task_id], units[row.unit_id]
        recipients = [person for role in reminder.rung.to if role in UNIT_AUDIENCES
                      for person in by_unit_role[(unit.id, role)]
                      if f"{reminder.key}:p{person.id}" not in queued]
        if recipients:
            reply = Reply(reminder_text(reminder.rung, unit, task, row, now, config), buttons=[[
                Button("📤 Nộp ngay", f"submit:{row.id}"), Button("🕒 Xin gia hạn", f"extend:{row.id}")]])
            planned += [PlannedMessage(reminder.key, person, unit, task, reminder.rung.name, reply, (row.id,))
                        for person in recipients]
        if any(role not in UNIT_AUDIENCES for role in reminder.rung.to):
            escalations[(task.id, reminder.rung.name, reminder.view.due_at)].append(reminder)

    for (task_id, rung_name, due_at), reminders in escalations.items():
        key = f"esc:t{task_id}:{rung_name}:{due_at.timestamp():.0f}"
        roles = [role for role in reminders[0].rung.to if role not in UNIT_AUDIENCES]
        recipients = [person for role in roles for person in by_role[role] if f"{key}:p{person.id}" not in queued]
        if not recipients:
            continue
        task = tasks[task_id]
        named = [(units[by_id[r.view.assignment_id].unit_id], by_id[r.view.assignment_id]) for r in reminders]
        reply = Reply(escalation_text(task, named, now, config), buttons=[[Button("📋 Xem các đơn vị", f"task:{task_id}")]])
        ids = tuple(row.id for _, row in named)
        planned += [PlannedMessage(key, person, named[0][0], task, rung_name, reply, ids) for person in recipients]
    return planned


async def queue_reminders(session: AsyncSession, now: datetime, config: LadderConfig) -> list[PlannedMessage]:
    """Queue every due reminder once; returns the planned messages that reached the outbox."""
    last = await watermark(session)
    planned = await plan_reminders(session, now, config, reachable_only=True, since=last)
    await _advance_watermark(session, now)
    if not planned:
        return []
    identities = await _identities(session)
    rows, owner = [], {}
    for message in planned:
        payload = reply_to_payload(message.reply)
        for channel, chat_id in identities.get(message.person.id, []):
            dedupe_key = f"{message.person_key}:{channel}:{chat_id}"
            owner[dedupe_key] = message
            rows.append(dict(dedupe_key=dedupe_key, person_id=message.person.id, channel=channel, chat_id=chat_id,
                             payload=payload, created_at=now, not_before=now, attempts=0, kind="reminder",
                             assignment_id=message.assignment_ids[0]))
    inserted: set[str] = set()
    for start in range(0, len(rows), CHUNK):
        statement = (upsert_insert(session, OutboxMessage).on_conflict_do_nothing(index_elements=["dedupe_key"])
                     .returning(OutboxMessage.dedupe_key))
        inserted.update((await session.exec(statement, params=rows[start:start + CHUNK])).scalars().all())
    won = {id(owner[key]): owner[key] for key in inserted}.values()
    events, logged = [], set()
    for message in won:
        for assignment_id in message.assignment_ids:
            if (assignment_id, message.key) in logged:
                continue
            logged.add((assignment_id, message.key))
            events.append(dict(assignment_id=assignment_id, task_id=message.task.id, at=now, actor_person_id=None,
                               kind="reminder", note=f"{message.rung}: {short(message.task.title, 60)}"))
    if events:
        await _log_reminders(session, events)
    return list(won)


async def _log_reminders(session: AsyncSession, events: list[dict]) -> None:
    """Status-log entries for the reminders this worker queued (unit, status and round from the rows)."""
    ids = {event["assignment_id"] for event in events}
    current = {}
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids)[start:start + CHUNK]
        for assignment_id, unit_id, status, round_ in (await session.exec(
                select(Assignment.id, Assignment.unit_id, Assignment.status, Assignment.round)
                .where(col(Assignment.id).in_(chunk)))).all():
            current[assignment_id] = (unit_id, status, round_)
    for event in events:
        unit_id, status, round_ = current[event["assignment_id"]]
        event.update(unit_id=unit_id, from_status=status, to_status=status, round=round_)
    for start in range(0, len(events), CHUNK):
        await session.exec(insert(StatusEvent), params=events[start:start + CHUNK])
