"""The morning digest for leaders and coordinators, and the Monday summary for unit heads.

``build_digest`` reads the board once and derives every section from it (due soon, overdue, waiting
for review), plus three small queries (new submissions since the last digest, extension requests
waiting, people the bot cannot reach); it also renders the board chart (PNG) and the Excel board.
``queue_digest`` writes the digest to the outbox for every leader and coordinator, once per local
date (dedupe key ``digest:YYYY-MM-DD``), and on Mondays each unit head's summary
(``unitsummary:YYYY-MM-DD:u<unit id>``); on days off it queues nothing.

The text is read on a phone: the counts come first, then short lists, each capped at ``LIST_CAP``
lines with "… và N … khác". Tasks are referred to by their number on the board ("[2]"), the same
number the chart shows and the workbook's sheet "NV2" carries.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import texts as t
from handlers.chat import OutFile, Reply
from handlers.export import board_chart, board_workbook, load_log, shorten
from handlers.notify import notify
from schedules.calendar import WorkCalendar
from storage.models import (
    Assignment,
    AssignmentStatus,
    Evidence,
    ExtensionRequest,
    ExtensionStatus,
    OutboxMessage,
    Person,
    Role,
    StatusEvent,
    Task,
    Unit,
)
from storage.outbox import recipients
from storage.queries import TaskBoard, board, people_with_roles, unit_order
from storage.status import OPEN_STATUSES

S = AssignmentStatus

DUE_SOON_DAYS = 7
""""Due soon": the unit's due day is at most this many calendar days after today."""
LIST_CAP = 10
"""At most this many lines (or unit names) per list; the rest is counted."""
TITLE_CHARS = 48
FEW_UNITS = 3
"""A due-soon task with at most this many units still owing names them."""
DIGEST_ROLES = (Role.leader, Role.coordinator)
PNG_MIME = "image/png"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- the parts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DueSoon:
    """One task's units that are still owed and fall due on ``due_at`` (within the next days)."""

    number: int
    task: Task
    due_at: datetime
    outstanding: list[Unit]
    total: int


@dataclass(frozen=True)
class OverdueUnit:
    unit: Unit
    due_at: datetime
    days: int
    """Calendar days since the due day (0: the due instant has passed today)."""
    returned: bool


@dataclass(frozen=True)
class OverdueTask:
    number: int
    task: Task
    units: list[OverdueUnit]


@dataclass(frozen=True)
class Submission:
    """A status change to submitted (a first submission or a resubmission) since the last digest."""

    number: int | None
    task: Task
    unit: Unit
    at: datetime
    round: int
    by: str | None
    files: int


@dataclass(frozen=True)
class ReviewWaiting:
    number: int
    task: Task
    unit: Unit
    submitted_at: datetime | None
    round: int


@dataclass(frozen=True)
class ExtensionWaiting:
    number: int | None
    request: ExtensionRequest
    task: Task
    unit: Unit
    requested_by: str | None


@dataclass(frozen=True)
class UnreachablePerson:
    person: Person
    unit: Unit | None


@dataclass
class Digest:
    now: datetime
    since: datetime
    day: date
    title: str
    text: str
    chart_png: bytes
    workbook: bytes
    entries: list[TaskBoard]
    due_soon: list[DueSoon] = field(default_factory=list)
    overdue: list[OverdueTask] = field(default_factory=list)
    submissions: list[Submission] = field(default_factory=list)
    reviews: list[ReviewWaiting] = field(default_factory=list)
    extensions: list[ExtensionWaiting] = field(default_factory=list)
    unreachable: list[UnreachablePerson] = field(default_factory=list)

    @property
    def chart_name(self) -> str:
        return f"ban-tin-{self.day:%Y%m%d}.png"

    @property
    def workbook_name(self) -> str:
        return f"dondoc-{self.day:%Y%m%d}.xlsx"

    def reply(self) -> Reply:
        """The digest as one reply: the text, the chart as an image and the board as a document."""
        return Reply(self.text, image=OutFile(self.chart_name, self.chart_png, PNG_MIME),
                     document=OutFile(self.workbook_name, self.workbook, XLSX_MIME))


# --- time -------------------------------------------------------------------------------------


def default_since(now: datetime, tz: ZoneInfo, calendar: WorkCalendar) -> datetime:
    """Where the previous digest stood: the same local time on the previous working day.

    That is 24 hours before on Tuesday to Friday, and Friday morning on a Monday (so a weekend's
    submissions are not lost between two digests).
    """
    local = now.astimezone(tz)
    previous = calendar.add_working_days(local.date(), -1)
    return datetime.combine(previous, local.timetz().replace(tzinfo=None), tz)


def _local_day(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


def _short_day(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%d/%m")


def _days_overdue(due_at: datetime, now: datetime, tz: ZoneInfo) -> int:
    return max(0, (_local_day(now, tz) - _local_day(due_at, tz)).days)


def _numbers(entries: list[TaskBoard]) -> dict[int, int]:
    """Task id → its number on the board (as on the chart and the workbook's sheets)."""
    return {entry.task.id: index for index, entry in enumerate(entries, start=1)}


def _task_ref(number: int | None, task: Task) -> str:
    prefix = f"[{number}] " if number is not None else ""
    return prefix + shorten(task.title, TITLE_CHARS)


def _capped(lines: list[str], total: int, what: str, cap: int = LIST_CAP) -> list[str]:
    shown = lines[:cap]
    if total > len(shown):
        shown.append(f"   … và {total - len(shown)} {what} khác")
    return shown


# --- sections derived from the board ----------------------------------------------------------


def due_soon_of(entries: list[TaskBoard], now: datetime, tz: ZoneInfo) -> list[DueSoon]:
    """Per task and due day: the units still owing that are due today or within ``DUE_SOON_DAYS``."""
    today = _local_day(now, tz)
    horizon = today + timedelta(days=DUE_SOON_DAYS)
    numbers = _numbers(entries)
    items = []
    for entry in entries:
        by_due: dict[datetime, list[Unit]] = defaultdict(list)
        for state in entry.units:
            if (S(state.assignment.status) in OPEN_STATUSES and not state.overdue
                    and _local_day(state.due_at, tz) <= horizon):
                by_due[state.due_at].append(state.unit)
        items += [DueSoon(numbers[entry.task.id], entry.task, due_at, units, entry.total)
                  for due_at, units in by_due.items()]
    return sorted(items, key=lambda item: (item.due_at, item.number))


def overdue_of(entries: list[TaskBoard], now: datetime, tz: ZoneInfo) -> list[OverdueTask]:
    numbers = _numbers(entries)
    items = []
    for entry in entries:
        units = [OverdueUnit(s.unit, s.due_at, _days_overdue(s.due_at, now, tz), s.assignment.status == S.returned)
                 for s in entry.units if s.overdue]
        if units:
            units.sort(key=lambda u: (-u.days, unit_order(u.unit)))
            items.append(OverdueTask(numbers[entry.task.id], entry.task, units))
    return items


def reviews_of(entries: list[TaskBoard]) -> list[ReviewWaiting]:
    """Submissions waiting for a coordinator's review, the longest waiting first."""
    numbers = _numbers(entries)
    items = [ReviewWaiting(numbers[e.task.id], e.task, s.unit, s.assignment.submitted_at, s.assignment.round)
             for e in entries for s in e.units if s.assignment.status == S.submitted]
    far_future = datetime.max.replace(tzinfo=ZoneInfo("UTC"))
    return sorted(items, key=lambda item: (item.submitted_at or far_future, item.number))


# --- sections that need their own queries -----------------------------------------------------


async def submissions_since(session: AsyncSession, since: datetime, now: datetime,
                            numbers: dict[int, int]) -> list[Submission]:
    """Status changes to submitted in (since, now], oldest first, with the files of that round."""
    query = (
        select(StatusEvent, Task, Unit, Person.name)
        .join(Task, Task.id == StatusEvent.task_id)
        .join(Unit, Unit.id == StatusEvent.unit_id)
        .join(Person, Person.id == StatusEvent.actor_person_id, isouter=True)
        .where(StatusEvent.kind == "status", StatusEvent.to_status == S.submitted.value,
               StatusEvent.at > since, StatusEvent.at <= now)
        .order_by(StatusEvent.at, StatusEvent.id)
    )
    rows = (await session.exec(query)).all()
    files: dict[tuple[int, int], int] = {}
    if rows:
        counted = (await session.exec(
            select(Evidence.assignment_id, Evidence.round, func.count())
            .where(col(Evidence.assignment_id).in_({event.assignment_id for event, *_ in rows}))
            .group_by(Evidence.assignment_id, Evidence.round)
        )).all()
        files = {(assignment_id, round_): count for assignment_id, round_, count in counted}
    return [Submission(numbers.get(task.id), task, unit, event.at, event.round, actor,
                       files.get((event.assignment_id, event.round), 0))
            for event, task, unit, actor in rows]


async def extensions_waiting(session: AsyncSession, numbers: dict[int, int]) -> list[ExtensionWaiting]:
    query = (
        select(ExtensionRequest, Task, Unit, Person.name)
        .join(Assignment, Assignment.id == ExtensionRequest.assignment_id)
        .join(Task, Task.id == Assignment.task_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .join(Person, Person.id == ExtensionRequest.requested_by_person_id, isouter=True)
        .where(ExtensionRequest.status == ExtensionStatus.pending.value)
        .order_by(ExtensionRequest.requested_at, ExtensionRequest.id)
    )
    return [ExtensionWaiting(numbers.get(task.id), request, task, unit, name)
            for request, task, unit, name in (await session.exec(query)).all()]


async def unreachable_people(session: AsyncSession) -> list[UnreachablePerson]:
    query = (
        select(Person, Unit).join(Unit, Unit.id == Person.unit_id, isouter=True)
        .where(Person.active == True, Person.unreachable_since != None)  # noqa: E711,E712
        .order_by(Person.unreachable_since, Person.id)
    )
    return [UnreachablePerson(person, unit) for person, unit in (await session.exec(query)).all()]


# --- the text ---------------------------------------------------------------------------------


def digest_title(day: date) -> str:
    return f"☀️ Bản tin sáng {t.day_with_weekday(day)}"


def render_digest(d: Digest, tz: ZoneInfo, calendar: WorkCalendar) -> str:
    now = d.now
    lines = [d.title]
    if not d.entries:
        lines += ["", "Chưa có nhiệm vụ nào."]
    else:
        total = sum(e.total for e in d.entries)
        delivered = sum(e.delivered for e in d.entries)
        lines.append(f"{len(d.entries)} nhiệm vụ · đã nộp {delivered}/{total} lượt đơn vị"
                     f" ({t.percent(delivered, total)})")
    overdue_units = sum(len(o.units) for o in d.overdue)
    soon_units = sum(len(s.outstanding) for s in d.due_soon)
    soon_tasks = len({s.task.id for s in d.due_soon})
    lines += [
        "",
        f"⚠️ Quá hạn: {overdue_units} đơn vị" + (f" ở {len(d.overdue)} nhiệm vụ" if d.overdue else ""),
        f"⏰ Đến hạn trong {DUE_SOON_DAYS} ngày: {soon_units} đơn vị chưa nộp"
        + (f" ở {soon_tasks} nhiệm vụ" if soon_tasks else ""),
        f"📥 Mới nộp từ {t.instant(d.since, tz)}: {len(d.submissions)}",
        f"🔎 Chờ duyệt: {len(d.reviews)}",
        f"🕒 Xin gia hạn chờ quyết định: {len(d.extensions)}",
        f"📵 Bot không liên lạc được: {len(d.unreachable)} người",
    ]

    if d.overdue:
        lines += ["", "⚠️ QUÁ HẠN"]
        body = []
        for item in d.overdue:
            body.append(f"• {_task_ref(item.number, item.task)} — {len(item.units)} đơn vị:")
            by_days: dict[int, list[str]] = defaultdict(list)
            for unit in item.units:
                by_days[unit.days].append(unit.unit.name + (" (bị trả lại)" if unit.returned else ""))
            shown = 0
            for days, units in by_days.items():  # most overdue first (units are sorted so)
                room = LIST_CAP - shown
                if room <= 0:
                    break
                label = f"quá {days} ngày" if days else "quá hạn hôm nay"
                body.append(f"   {label}: " + ", ".join(units[:room]))
                shown += min(len(units), room)
            if shown < len(item.units):
                body.append(f"   … và {len(item.units) - shown} đơn vị khác")
        lines += _capped_blocks(body, d.overdue)

    if d.due_soon:
        lines += ["", f"⏰ ĐẾN HẠN TRONG {DUE_SOON_DAYS} NGÀY"]
        body = []
        for s in d.due_soon:
            few = f" ({', '.join(u.name for u in s.outstanding)})" if len(s.outstanding) <= FEW_UNITS else ""
            body.append(f"• {_task_ref(s.number, s.task)} — hạn {t.day_with_weekday(_local_day(s.due_at, tz))},"
                        f" {t.remaining(s.due_at, now, tz, calendar)}: {len(s.outstanding)}/{s.total} đơn vị"
                        f" chưa nộp{few}")
        lines += _capped(body, len(body), "nhiệm vụ")

    if d.submissions:
        lines += ["", "📥 MỚI NỘP"]
        body = []
        for s in d.submissions:
            again = f", nộp lại lần {s.round}" if s.round > 1 else ""
            files = f", {s.files} tệp" if s.files else ""
            body.append(f"• {s.unit.name} — {_task_ref(s.number, s.task)} ({t.instant(s.at, tz)}{again}{files})")
        lines += _capped(body, len(body), "lượt nộp")

    if d.reviews:
        lines += ["", "🔎 CHỜ DUYỆT (lâu nhất trước)"]
        body = [f"• {r.unit.name} — {_task_ref(r.number, r.task)}"
                + (f" (nộp {_short_day(r.submitted_at, tz)})" if r.submitted_at else "") for r in d.reviews]
        lines += _capped(body, len(body), "hồ sơ")

    if d.extensions:
        lines += ["", "🕒 XIN GIA HẠN"]
        body = []
        for e in d.extensions:
            who = f" ({e.requested_by})" if e.requested_by else ""
            body.append(f"• {e.unit.name}{who} — {_task_ref(e.number, e.task)}: xin đến "
                        f"{t.day(_local_day(e.request.requested_due_at, tz))}. Lý do: {shorten(e.request.reason, 80)}")
        lines += _capped(body, len(body), "đề nghị")

    if d.unreachable:
        lines += ["", "📵 BOT KHÔNG LIÊN LẠC ĐƯỢC (đã chặn bot hoặc bỏ tài khoản)"]
        body = [f"• {u.person.name} — {t.ROLE_LABELS.get(u.person.role, u.person.role)}"
                + (f", {u.unit.name}" if u.unit else "")
                + f" (từ {_short_day(u.person.unreachable_since, tz)})" for u in d.unreachable]
        lines += _capped(body, len(body), "người")

    if d.entries:
        lines += ["", "📎 Kèm biểu đồ và bảng Excel chi tiết. Gõ /status để xem đầy đủ."]
    return "\n".join(lines)


def _capped_blocks(body: list[str], tasks: list[OverdueTask], cap: int = LIST_CAP) -> list[str]:
    """The overdue section: at most ``cap`` tasks (each a heading line and its unit lines)."""
    if len(tasks) <= cap:
        return body
    kept, seen = [], 0
    for line in body:
        if line.startswith("•"):
            seen += 1
            if seen > cap:
                break
        kept.append(line)
    rest = tasks[cap:]
    kept.append(f"   … và {len(rest)} nhiệm vụ khác ({sum(len(o.units) for o in rest)} đơn vị quá hạn)")
    return kept


# --- the digest -------------------------------------------------------------------------------


async def build_digest(session: AsyncSession, *, now: datetime, tz: ZoneInfo, calendar: WorkCalendar,
                       since: datetime | None) -> Digest:
    """Everything leaders and coordinators read in the morning, computed at ``now``.

    ``since`` is when the previous digest was made; None means ``default_since`` (the previous
    working day at the same time). Reads only; the chart and the workbook are rendered in a thread.
    """
    since = since or default_since(now, tz, calendar)
    entries = await board(session, now)
    numbers = _numbers(entries)
    day = _local_day(now, tz)
    digest = Digest(
        now=now, since=since, day=day, title=digest_title(day), text="", chart_png=b"", workbook=b"",
        entries=entries,
        due_soon=due_soon_of(entries, now, tz),
        overdue=overdue_of(entries, now, tz),
        submissions=await submissions_since(session, since, now, numbers),
        reviews=reviews_of(entries),
        extensions=await extensions_waiting(session, numbers),
        unreachable=await unreachable_people(session),
    )
    digest.text = render_digest(digest, tz, calendar)
    from handlers.workflows import with_digest_sections  # issue 11: explanations, progress counts

    digest.text = await with_digest_sections(session, digest.text, now=now, tz=tz)
    log = await load_log(session)
    digest.chart_png = await asyncio.to_thread(board_chart, entries, now=now, tz=tz)
    digest.workbook = await asyncio.to_thread(board_workbook, entries, log, now=now, tz=tz)
    return digest


# --- the unit head's Monday summary -----------------------------------------------------------


async def _return_reasons(session: AsyncSession, assignment_ids: list[int]) -> dict[int, str | None]:
    """The note of each assignment's latest return."""
    if not assignment_ids:
        return {}
    query = (
        select(StatusEvent.assignment_id, StatusEvent.note)
        .where(col(StatusEvent.assignment_id).in_(assignment_ids), StatusEvent.kind == "status",
               StatusEvent.to_status == S.returned.value)
        .order_by(StatusEvent.at, StatusEvent.id)
    )
    return {assignment_id: note for assignment_id, note in (await session.exec(query)).all()}


def render_unit_summary(unit: Unit, entries: list[TaskBoard], reasons: dict[int, str | None], *,
                        now: datetime, tz: ZoneInfo, calendar: WorkCalendar) -> str:
    """One unit's week: its open tasks by due date (overdue first), the returned ones with the reason."""
    states = [(entry, state) for entry in entries for state in entry.units if state.unit.id == unit.id]
    open_items = sorted(((e, s) for e, s in states if S(s.assignment.status) in OPEN_STATUSES),
                        key=lambda item: (item[1].due_at, item[0].task.id))
    waiting = sum(s.assignment.status == S.submitted for _, s in states)
    accepted = sum(s.assignment.status == S.accepted for _, s in states)
    overdue = sum(s.overdue for _, s in open_items)
    returned = [(e, s) for e, s in open_items if s.assignment.status == S.returned]
    lines = [f"📅 Việc của {unit.name} — {t.day_with_weekday(_local_day(now, tz))}"]
    if not open_items:
        lines.append("Đơn vị không còn việc nào phải nộp. Cảm ơn!")
    else:
        lines.append(f"Còn {len(open_items)} việc phải nộp"
                     + (f", trong đó {overdue} việc quá hạn" if overdue else "")
                     + (f", {len(returned)} việc bị trả lại" if returned else "") + ".")
        lines.append("")
        for index, (entry, state) in enumerate(open_items, start=1):
            mark = "⚠️" if state.overdue else ("↩️" if state.assignment.status == S.returned else "⏳")
            extended = " (đã gia hạn)" if state.due_at != entry.task.due_at else ""
            lines.append(f"{index}. {mark} {shorten(entry.task.title, 70)}")
            lines.append(f"   Hạn{extended}: {t.day_with_weekday(_local_day(state.due_at, tz))}"
                         f" — {t.remaining(state.due_at, now, tz, calendar)}")
            if state.assignment.status == S.returned:
                reason = reasons.get(state.assignment.id)
                lines.append("   Bị trả lại, cần nộp lại" + (f". Lý do: {reason}" if reason else "."))
    if waiting or accepted:
        lines += ["", f"Đang chờ duyệt: {waiting} · Đã được duyệt: {accepted}"]
    if open_items:
        lines.append("Gõ /tasks để xem và nộp tài liệu.")
    return "\n".join(lines)


async def build_unit_summary(session: AsyncSession, unit_id: int, *, now: datetime, tz: ZoneInfo,
                             calendar: WorkCalendar) -> str:
    """The Monday summary a unit head gets: the unit's open tasks with their due days, the returned ones."""
    unit = await session.get(Unit, unit_id)
    if unit is None:
        raise ValueError(f"no unit {unit_id}")
    entries = await board(session, now, unit_id=unit_id)
    returned = [s.assignment.id for e in entries for s in e.units if s.assignment.status == S.returned]
    return render_unit_summary(unit, entries, await _return_reasons(session, returned), now=now, tz=tz,
                               calendar=calendar)


# --- queueing ---------------------------------------------------------------------------------


def digest_key(day: date) -> str:
    return f"digest:{day.isoformat()}"


def unit_summary_key(day: date, unit_id: int) -> str:
    return f"unitsummary:{day.isoformat()}:u{unit_id}"


async def _already_queued(session: AsyncSession, key: str, people: list[int]) -> bool:
    """Whether every chat account of ``people`` already has a message under ``key`` (``notify`` keys
    are ``key:p…``), so a second worker or a restart need not render the chart and workbook again."""
    accounts = len(await recipients(session, people))
    queued = (await session.exec(
        select(func.count()).select_from(OutboxMessage).where(col(OutboxMessage.dedupe_key).startswith(f"{key}:"))
    )).one()
    return queued >= accounts


async def queue_unit_summaries(session: AsyncSession, *, now: datetime, tz: ZoneInfo,
                               calendar: WorkCalendar) -> int:
    """Each unit head gets their unit's summary; units with nothing left to deliver are skipped."""
    heads: dict[int, list[int]] = defaultdict(list)
    for person in await people_with_roles(session, [Role.head]):
        if person.unit_id is not None:
            heads[person.unit_id].append(person.id)
    if not heads:
        return 0
    entries = await board(session, now)
    units: dict[int, Unit] = {}
    open_units: set[int] = set()
    returned: list[int] = []
    for entry in entries:
        for state in entry.units:
            units[state.unit.id] = state.unit
            if S(state.assignment.status) in OPEN_STATUSES:
                open_units.add(state.unit.id)
            if state.assignment.status == S.returned:
                returned.append(state.assignment.id)
    reasons = await _return_reasons(session, returned)
    day = _local_day(now, tz)
    queued = 0
    for unit_id in sorted(heads.keys() & open_units, key=lambda uid: unit_order(units[uid])):
        unit = units[unit_id]
        if not unit.active:
            continue
        text = render_unit_summary(unit, entries, reasons, now=now, tz=tz, calendar=calendar)
        queued += await notify(session, heads[unit_id], Reply(text), key=unit_summary_key(day, unit_id), now=now,
                               kind="unit_summary")
    return queued


async def queue_digest(session: AsyncSession, *, now: datetime, tz: ZoneInfo, calendar: WorkCalendar,
                       since: datetime | None) -> int:
    """Queue today's digest to every leader and coordinator (and, on Mondays, each unit head's summary).

    Once per local date whoever calls it (dedupe keys); nothing on days off. Returns how many
    outbox messages were written by this call.
    """
    day = _local_day(now, tz)
    if not calendar.is_working_day(day):
        return 0
    queued = 0
    people = [p.id for p in await people_with_roles(session, list(DIGEST_ROLES))]
    if people and not await _already_queued(session, digest_key(day), people):
        digest = await build_digest(session, now=now, tz=tz, calendar=calendar, since=since)
        queued += await notify(session, people, digest.reply(), key=digest_key(day), now=now, kind="digest")
    if day.weekday() == 0:
        queued += await queue_unit_summaries(session, now=now, tz=tz, calendar=calendar)
    return queued
