"""The morning digest for leaders and coordinators, and the Monday summary for unit heads.

``build_digest`` reads grouped counts per task (``storage.queries.task_summaries``), the units that owe
something due within the week or overdue and those waiting for review (as plain columns), plus small
queries (new submissions since the last digest, extension requests waiting, people the bot cannot
reach, people who never joined, the units' on-time ranking); the board chart (PNG) and the Excel board
are built in a worker thread with their own database connection (``handlers.export.board_files``).
The text is a list of sections (``DIGEST_SECTIONS``), so a new section is one more function.
``queue_digest`` writes the digest to the outbox for every leader and coordinator, once per local
date (dedupe key ``digest:YYYY-MM-DD``), and on Mondays each unit head's summary
(``unitsummary:YYYY-MM-DD:u<unit id>``); on days off it queues nothing.

The text is read on a phone: the counts come first, then short lists, each capped at ``LIST_CAP``
lines with "… và N … khác". Tasks are referred to by their one number, the id ("#12"), as in
``/status``, the chart and the workbook's sheet "#12".
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import messages as m
from handlers import texts as t
from handlers.chat import CHANNEL_LIMITS, OutFile, Reply, reply_to_payload
from handlers.export import board_files, shorten
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
from storage.channels import sent_this_month
from storage.outbox import OutboxRow, enqueue_many, people_without_chat, recipients
from storage.queries import (
    TaskSummary,
    UnitLine,
    UnitRank,
    people_with_roles,
    task_summaries,
    unit_lines,
    unit_order,
    unit_ranking,
)
from storage.status import OPEN_STATUSES, OPEN_VALUES, is_overdue

S = AssignmentStatus

DUE_SOON_DAYS = 7
""""Due soon": the unit's due day is at most this many calendar days after today."""
LIST_CAP = 10
"""At most this many lines (or unit names) per list; the rest is counted."""
SHORT_CAP = 3
"""Lines per list of the workflow sections in the shorter text (a Zalo message holds 2,000 characters)."""
TITLE_CHARS = 48
FEW_UNITS = 3
"""A due-soon task with at most this many units still owing names them."""
DIGEST_ROLES = (Role.leader, Role.coordinator)
PNG_MIME = "image/png"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- the parts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitRef:
    """A unit as the digest names it (plain values: thousands of these at national scale)."""

    id: int
    code: str
    name: str
    kind: str


def _unit_ref(line: UnitLine) -> UnitRef:
    return UnitRef(line.unit_id, line.unit_code, line.unit_name, line.unit_kind)


def _ref_order(unit: UnitRef) -> tuple[int, str]:
    from storage.queries import KIND_ORDER
    from storage.roster import fold

    return KIND_ORDER.get(unit.kind, 9), fold(unit.name)


@dataclass(frozen=True)
class DueSoon:
    """One task's units that are still owed and fall due on ``due_at`` (within the next days)."""

    number: int
    task: Task
    due_at: datetime
    outstanding: list[UnitRef]
    total: int


@dataclass(frozen=True)
class OverdueUnit:
    unit: UnitRef
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
    unit: UnitRef
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
    entries: list[TaskSummary]
    due_soon: list[DueSoon] = field(default_factory=list)
    overdue: list[OverdueTask] = field(default_factory=list)
    submissions: list[Submission] = field(default_factory=list)
    submission_count: int = 0
    submission_units: int = 0
    reviews: list[ReviewWaiting] = field(default_factory=list)
    review_count: int = 0
    extensions: list[ExtensionWaiting] = field(default_factory=list)
    unreachable: list[UnreachablePerson] = field(default_factory=list)
    unjoined: list[tuple[Person, Unit | None]] = field(default_factory=list)
    ranking: list[UnitRank] = field(default_factory=list)
    zalo_sent: int = 0
    """Zalo messages sent this calendar month (plans have a monthly quota)."""
    zalo_quota: int | None = None
    chart_key: str | None = None
    workbook_key: str | None = None
    short_text: str = ""
    """The text for a channel whose messages hold 2,000 characters (Zalo): the same sections, shorter lists."""

    @property
    def chart_name(self) -> str:
        return f"ban-tin-{self.day:%Y%m%d}.png"

    @property
    def workbook_name(self) -> str:
        return f"dondoc-{self.day:%Y%m%d}.xlsx"

    def reply(self, channel: str = "telegram") -> Reply:
        """The digest as one reply on ``channel``: the text (the shorter one where a message holds 2,000
        characters), the chart as an image and the board as a document."""
        short = CHANNEL_LIMITS.get(channel, CHANNEL_LIMITS["telegram"]).text < len(self.text) and self.short_text
        return Reply(short or self.text, image=OutFile(self.chart_name, self.chart_png, PNG_MIME, self.chart_key),
                     document=OutFile(self.workbook_name, self.workbook, XLSX_MIME, self.workbook_key))

    def store_files(self, blobs) -> None:
        """Keep the chart and the workbook once in ``blobs``; the outbox rows then carry their keys."""
        self.chart_key = blobs.put(self.chart_png)
        self.workbook_key = blobs.put(self.workbook)


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


def _numbers(entries: list[TaskSummary]) -> dict[int, int]:
    """Task id → its number: the id itself, as everywhere (kept as a map for the sections' signatures)."""
    return {entry.task.id: entry.task.id for entry in entries}


def _task_ref(number: int | None, task: Task) -> str:
    return f"#{task.id} " + shorten(task.title, TITLE_CHARS)


def _capped(lines: list[str], total: int, what: str, cap: int = LIST_CAP) -> list[str]:
    shown = lines[:cap]
    if total > len(shown):
        shown.append(f"   … và {total - len(shown)} {what} khác")
    return shown


# --- sections derived from the units' lines ---------------------------------------------------


def due_soon_of(lines: list[UnitLine], tasks: dict[int, TaskSummary], now: datetime, tz: ZoneInfo) -> list[DueSoon]:
    """Per task and due day: the units still owing that are due today or within ``DUE_SOON_DAYS``."""
    today = _local_day(now, tz)
    horizon = today + timedelta(days=DUE_SOON_DAYS)
    by_due: dict[tuple[int, datetime], list[UnitRef]] = defaultdict(list)
    for line in lines:
        if (line.task_id in tasks and S(line.status) in OPEN_STATUSES and not line.overdue
                and _local_day(line.due_at, tz) <= horizon):
            by_due[(line.task_id, line.due_at)].append(_unit_ref(line))
    items = [DueSoon(task_id, tasks[task_id].task, due_at, units, tasks[task_id].total)
             for (task_id, due_at), units in by_due.items()]
    return sorted(items, key=lambda item: (item.due_at, item.number))


def overdue_of(lines: list[UnitLine], tasks: dict[int, TaskSummary], now: datetime, tz: ZoneInfo
               ) -> list[OverdueTask]:
    by_task: dict[int, list[OverdueUnit]] = defaultdict(list)
    for line in lines:
        if line.overdue and line.task_id in tasks:
            by_task[line.task_id].append(OverdueUnit(_unit_ref(line), line.due_at,
                                                     _days_overdue(line.due_at, now, tz), line.status == S.returned))
    items = []
    for task_id, summary in tasks.items():  # board order: soonest due first
        units = by_task.get(task_id)
        if units:
            units.sort(key=lambda u: (-u.days, _ref_order(u.unit)))
            items.append(OverdueTask(task_id, summary.task, units))
    return items


async def reviews_waiting(session: AsyncSession, tasks: dict[int, TaskSummary], limit: int = LIST_CAP
                          ) -> tuple[list[ReviewWaiting], int]:
    """The ``limit`` submissions waiting longest for a coordinator's review, and how many wait in all."""
    waiting = (Assignment.status == S.submitted.value, col(Assignment.task_id).in_(list(tasks)))
    total = (await session.exec(select(func.count()).select_from(Assignment).where(*waiting))).one()
    query = (select(Assignment.task_id, Assignment.submitted_at, Assignment.round, Unit.id, Unit.code, Unit.name,
                    Unit.kind)
             .join(Unit, Unit.id == Assignment.unit_id).where(*waiting)
             .order_by(Assignment.submitted_at, Assignment.task_id, Assignment.id).limit(limit))
    items = [ReviewWaiting(task_id, tasks[task_id].task, UnitRef(uid, code, name, kind), submitted_at, round_)
             for task_id, submitted_at, round_, uid, code, name, kind in (await session.exec(query)).all()]
    return items, total


def reviews_of(lines: list[UnitLine], tasks: dict[int, TaskSummary]) -> list[ReviewWaiting]:
    """Submissions waiting for a coordinator's review, the longest waiting first."""
    items = [ReviewWaiting(line.task_id, tasks[line.task_id].task, _unit_ref(line), line.submitted_at, line.round)
             for line in lines if line.status == S.submitted and line.task_id in tasks]
    far_future = datetime.max.replace(tzinfo=ZoneInfo("UTC"))
    return sorted(items, key=lambda item: (item.submitted_at or far_future, item.number))


# --- sections that need their own queries -----------------------------------------------------


def _submitted_between(since: datetime, now: datetime):
    return (StatusEvent.kind == "status", StatusEvent.to_status == S.submitted.value,
            StatusEvent.at > since, StatusEvent.at <= now)


async def submissions_count(session: AsyncSession, since: datetime, now: datetime) -> tuple[int, int]:
    """How many submissions in (since, now], and from how many units."""
    return tuple((await session.exec(select(func.count(), func.count(func.distinct(StatusEvent.unit_id)))
                                     .where(*_submitted_between(since, now)))).one())


async def submissions_since(session: AsyncSession, since: datetime, now: datetime,
                            numbers: dict[int, int], limit: int = LIST_CAP) -> list[Submission]:
    """The first ``limit`` status changes to submitted in (since, now], oldest first, with the files of
    that round (the digest lists at most ``LIST_CAP``; ``submissions_count`` counts them all)."""
    query = (
        select(StatusEvent, Task, Unit, Person.name)
        .join(Task, Task.id == StatusEvent.task_id)
        .join(Unit, Unit.id == StatusEvent.unit_id)
        .join(Person, Person.id == StatusEvent.actor_person_id, isouter=True)
        .where(*_submitted_between(since, now))
        .order_by(StatusEvent.at, StatusEvent.id)
        .limit(limit)
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


def _visits(units: list[UnitRef]) -> str:
    """"31 lượt (23 đơn vị)": assignments, and the distinct units they belong to."""
    return f"{len(units)} lượt ({len({u.id for u in units})} đơn vị)"


def overview_section(d: Digest, tz: ZoneInfo, calendar: WorkCalendar, cap: int) -> list[str]:
    lines = []
    if not d.entries:
        lines += ["", "Chưa có nhiệm vụ nào."]
    else:
        total = sum(e.total for e in d.entries)
        delivered = sum(e.delivered for e in d.entries)
        lines.append(f"{len(d.entries)} nhiệm vụ · đã nộp {delivered}/{total} lượt đơn vị"
                     f" ({t.percent(delivered, total)})")
    overdue_units = [u.unit for o in d.overdue for u in o.units]
    soon_units = [u for s in d.due_soon for u in s.outstanding]
    soon_tasks = len({s.task.id for s in d.due_soon})
    submitted = max(d.submission_count, len(d.submissions))
    submitted_units = max(d.submission_units, len({s.unit.id for s in d.submissions}))
    lines += [
        "",
        f"⚠️ Quá hạn: {_visits(overdue_units)}" + (f" ở {len(d.overdue)} nhiệm vụ" if d.overdue else ""),
        f"⏰ Đến hạn trong {DUE_SOON_DAYS} ngày: {_visits(soon_units)} chưa nộp"
        + (f" ở {soon_tasks} nhiệm vụ" if soon_tasks else ""),
        f"📥 Mới nộp từ {t.instant(d.since, tz)}: {submitted} lượt ({submitted_units} đơn vị)",
        f"🔎 Chờ duyệt: {max(d.review_count, len(d.reviews))}",
        f"🕒 Xin gia hạn chờ quyết định: {len(d.extensions)}",
        f"📵 Bot không liên lạc được: {len(d.unreachable)} người",
        f"👤 Chưa tham gia: {len(d.unjoined)} người",
    ]
    return lines


def overdue_section(d: Digest, tz: ZoneInfo, calendar: WorkCalendar, cap: int) -> list[str]:
    if not d.overdue:
        return []
    body = []
    for item in d.overdue:
        body.append(f"• {_task_ref(item.number, item.task)} — {_visits([u.unit for u in item.units])}:")
        by_days: dict[int, list[str]] = defaultdict(list)
        for unit in item.units:
            by_days[unit.days].append(unit.unit.name + (" (bị trả lại)" if unit.returned else ""))
        shown = 0
        for days, units in by_days.items():  # most overdue first (units are sorted so)
            room = cap - shown
            if room <= 0:
                break
            label = f"quá {days} ngày" if days else "quá hạn hôm nay"
            body.append(f"   {label}: " + ", ".join(units[:room]))
            shown += min(len(units), room)
        if shown < len(item.units):
            body.append(f"   … và {len(item.units) - shown} đơn vị khác")
    return ["", "⚠️ QUÁ HẠN"] + _capped_blocks(body, d.overdue, cap)


def due_soon_section(d: Digest, tz: ZoneInfo, calendar: WorkCalendar, cap: int) -> list[str]:
    if not d.due_soon:
        return []
    body = []
    for s in d.due_soon:
        few = f" ({', '.join(u.name for u in s.outstanding)})" if len(s.outstanding) <= FEW_UNITS else ""
        body.append(f"• {_task_ref(s.number, s.task)} — hạn {t.day_with_weekday(_local_day(s.due_at, tz))},"
                    f" {t.remaining(s.due_at, d.now, tz, calendar)}: {len(s.outstanding)}/{s.total} đơn vị"
                    f" chưa nộp{few}")
    return ["", f"⏰ ĐẾN HẠN TRONG {DUE_SOON_DAYS} NGÀY"] + _capped(body, len(body), "nhiệm vụ", cap)


def submissions_section(d: Digest, tz: ZoneInfo, calendar: WorkCalendar, cap: int) -> list[str]:
    if not d.submissions:
        return []
    body = []
    for s in d.submissions:
        again = f", nộp lại lần {s.round}" if s.round > 1 else ""
        files = f", {s.files} tệp" if s.files else ""
        body.append(f"• {s.unit.name} — {_task_ref(s.number, s.task)} ({t.instant(s.at, tz)}{again}{files})")
    return ["", "📥 MỚI NỘP"] + _capped(body, max(d.submission_count, len(body)), "lượt nộp", cap)


def reviews_section(d: Digest, tz: ZoneInfo, calendar: WorkCalendar, cap: int) -> list[str]:
    if not d.reviews:
        return []
    body = [f"• {r.unit.name} — {_task_ref(r.number, r.task)}"
            + (f" (nộp {_short_day(r.submitted_at, tz)})" if r.submitted_at else "") for r in d.reviews]
    return ["", "🔎 CHỜ DUYỆT (lâu nhất trước)"] + _capped(body, max(d.review_count, len(body)), "hồ sơ", cap)


def extensions_section(d: Digest, tz: ZoneInfo, calendar: WorkCalendar, cap: int) -> list[str]:
    if not d.extensions:
        return []
    body = []
    for e in d.extensions:
        who = f" ({e.requested_by})" if e.requested_by else ""
        body.append(f"• {e.unit.name}{who} — {_task_ref(e.number, e.task)}: xin đến "
                    f"{t.day(_local_day(e.request.requested_due_at, tz))}. Lý do: {shorten(e.request.reason, 80)}")
    return ["", "🕒 XIN GIA HẠN"] + _capped(body, len(body), "đề nghị", cap)


def unreachable_section(d: Digest, tz: ZoneInfo, calendar: WorkCalendar, cap: int) -> list[str]:
    if not d.unreachable:
        return []
    body = [f"• {u.person.name} — {t.ROLE_LABELS.get(u.person.role, u.person.role)}"
            + (f", {u.unit.name}" if u.unit else "")
            + f" (từ {_short_day(u.person.unreachable_since, tz)})" for u in d.unreachable]
    return ["", "📵 BOT KHÔNG LIÊN LẠC ĐƯỢC (đã chặn bot hoặc bỏ tài khoản)"] + _capped(body, len(body), "người", cap)


def unjoined_section(d: Digest, tz: ZoneInfo, calendar: WorkCalendar, cap: int) -> list[str]:
    """People who never joined a chat: the reminders cannot reach them; counted by unit."""
    if not d.unjoined:
        return []
    by_unit: dict[str, int] = defaultdict(int)
    for _person, unit in d.unjoined:
        by_unit[unit.name if unit else "(chưa gắn đơn vị)"] += 1
    ordered = sorted(by_unit.items(), key=lambda item: (-item[1], item[0]))
    body = [f"• {name}: {count} người" for name, count in ordered]
    return (["", f"👤 CHƯA THAM GIA ({len(d.unjoined)} người ở {len(by_unit)} đơn vị; nhờ đơn vị nhắc đăng ký)"]
            + _capped(body, len(body), "đơn vị", cap))


def ranking_section(d: Digest, tz: ZoneInfo, calendar: WorkCalendar, cap: int) -> list[str]:
    """The five units with the lowest on-time rate (worst first)."""
    worst = [r for r in d.ranking if r.rate < 1.0][:5]
    if not worst:
        return []
    body = [f"• {r.unit.name}: {t.percent(r.on_time, r.measured)} đúng hạn ({r.on_time}/{r.measured}),"
            f" quá hạn {r.overdue}, nộp muộn {r.late}" for r in worst]
    return ["", "📉 ĐƠN VỊ ĐÚNG HẠN THẤP NHẤT"] + body


def zalo_section(d: Digest, tz: ZoneInfo, calendar: WorkCalendar, cap: int) -> list[str]:
    if not d.zalo_sent and not d.zalo_quota:
        return []
    quota = f"/{m.number(d.zalo_quota)} ({d.zalo_sent * 100 // d.zalo_quota}% hạn mức)" if d.zalo_quota else ""
    return ["", f"📨 Tin Zalo đã gửi tháng này: {m.number(d.zalo_sent)}{quota}"]


def footer_section(d: Digest, tz: ZoneInfo, calendar: WorkCalendar, cap: int) -> list[str]:
    return ["", "📎 Kèm biểu đồ và bảng Excel chi tiết. Gõ /status để xem đầy đủ."] if d.entries else []


DigestSection = Callable[[Digest, ZoneInfo, WorkCalendar, int], list[str]]
DIGEST_SECTIONS: list[DigestSection] = [
    overview_section, overdue_section, due_soon_section, submissions_section, reviews_section,
    extensions_section, unreachable_section, unjoined_section, ranking_section, zalo_section, footer_section,
]
"""The digest's text, in order; each section gets the list cap to use."""
TEXT_LIMIT = CHANNEL_LIMITS["telegram"].text


def fit_text(text: str, limit: int = TEXT_LIMIT) -> str:
    """At most ``limit`` characters (one message): whole lines kept, the cut said."""
    if len(text) <= limit:
        return text
    note = "\n… (còn nữa: gõ /status để xem đầy đủ)"
    kept = text[: limit - len(note)]
    return kept[: kept.rfind("\n")] + note if "\n" in kept else kept + note


def render_digest(d: Digest, tz: ZoneInfo, calendar: WorkCalendar, *, limit: int = TEXT_LIMIT) -> str:
    """The digest's text; lists are capped at ``LIST_CAP`` lines, fewer when that is needed to stay
    within ``limit`` characters (one message)."""
    text = ""
    for cap in (LIST_CAP, 5, 3, 1):
        lines = [d.title]
        for section in DIGEST_SECTIONS:
            lines += section(d, tz, calendar, cap)
        text = "\n".join(lines)
        if len(text) <= limit:
            return text
    return text[: limit - 1].rstrip() + "…"


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
                       since: datetime | None, zalo_quota: int | None = None) -> Digest:
    """Everything leaders and coordinators read in the morning, computed at ``now``.

    ``since`` is when the previous digest was made; None means ``default_since`` (the previous
    working day at the same time). Reads only; the chart and the workbook are built in a worker thread
    (``board_files``) with their own connection, so the event loop is free meanwhile.
    """
    since = since or default_since(now, tz, calendar)
    url = session.bind.url.render_as_string(hide_password=False)
    files = asyncio.ensure_future(board_files(url, now=now, tz=tz, chart=True))  # its own thread and connection
    summaries = await task_summaries(session, now, since=since)
    tasks = {s.task.id: s for s in summaries}
    numbers = _numbers(summaries)
    day = _local_day(now, tz)
    horizon = datetime.combine(day + timedelta(days=DUE_SOON_DAYS + 1), datetime.min.time(), tz)
    owing = await unit_lines(session, now, include_archived=False, statuses=OPEN_VALUES, due_before=horizon)
    reviews, review_count = await reviews_waiting(session, tasks) if tasks else ([], 0)
    digest = Digest(
        now=now, since=since, day=day, title=digest_title(day), text="", chart_png=b"", workbook=b"",
        entries=summaries,
        due_soon=due_soon_of(owing, tasks, now, tz),
        overdue=overdue_of(owing, tasks, now, tz),
        submissions=await submissions_since(session, since, now, numbers),
        submission_count=(counted := await submissions_count(session, since, now))[0],
        submission_units=counted[1],
        reviews=reviews, review_count=review_count,
        extensions=await extensions_waiting(session, numbers),
        unreachable=await unreachable_people(session),
        unjoined=[(person, unit) for unit, people in await people_without_chat(session) for person in people],
        ranking=await unit_ranking(session, now),
        zalo_sent=await sent_this_month(session, channel="zalo", month=now.astimezone(tz).strftime("%Y-%m")),
        zalo_quota=zalo_quota,
    )
    from handlers.workflows import digest_sections, insert_sections  # issue 11: explanations, progress

    sections = await digest_sections(session, now=now, tz=tz)
    digest.text = fit_text(insert_sections(render_digest(digest, tz, calendar), sections(LIST_CAP)))
    # Zalo takes 2,000 characters a message: its own, shorter text (shorter lists), not the long one in parts
    zalo = CHANNEL_LIMITS["zalo"].text
    digest.short_text = fit_text(insert_sections(render_digest(digest, tz, calendar, limit=zalo),
                                                 sections(SHORT_CAP)), zalo)
    built = await files
    digest.chart_png, digest.workbook = built.chart or b"", built.workbook
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


@dataclass(frozen=True, slots=True)
class SummaryItem:
    """A unit's share of one active task, as its Monday summary shows it (plain values: a national roster's
    summaries read 240,000 of them)."""

    task: Task
    assignment_id: int
    status: str
    due_at: datetime
    overdue: bool


async def summary_items(session: AsyncSession, unit_ids: list[int], now: datetime) -> dict[int, list[SummaryItem]]:
    """Each unit's share of the active tasks: one columns query, the tasks read once."""
    tasks = {task.id: task for task in (await session.exec(select(Task).where(Task.archived_at == None))).all()}  # noqa: E711
    items: dict[int, list[SummaryItem]] = defaultdict(list)
    if not tasks:
        return items
    a = Assignment
    rows = (await session.exec(select(a.unit_id, a.task_id, a.id, a.status, a.due_at_override).where(
        col(a.unit_id).in_(unit_ids), col(a.task_id).in_(list(tasks))))).all()
    for unit_id, task_id, assignment_id, status, override in rows:
        task = tasks[task_id]
        due_at = override or task.due_at
        items[unit_id].append(SummaryItem(task, assignment_id, status, due_at, is_overdue(status, due_at, now)))
    return items


def render_unit_summary(unit: Unit, items: list[SummaryItem], reasons: dict[int, str | None], *,
                        now: datetime, tz: ZoneInfo, calendar: WorkCalendar) -> str:
    """One unit's week (``items``: its share of each active task): its open tasks by due date (overdue first),
    the returned ones with the reason."""
    open_items = sorted((i for i in items if S(i.status) in OPEN_STATUSES), key=lambda i: (i.due_at, i.task.id))
    waiting = sum(i.status == S.submitted for i in items)
    accepted = sum(i.status == S.accepted for i in items)
    overdue = sum(i.overdue for i in open_items)
    returned = [i for i in open_items if i.status == S.returned]
    lines = [f"📅 Việc của {unit.name} — {t.day_with_weekday(_local_day(now, tz))}"]
    if not open_items:
        lines.append("Đơn vị không còn việc nào phải nộp. Cảm ơn!")
    else:
        lines.append(f"Còn {len(open_items)} việc phải nộp"
                     + (f", trong đó {overdue} việc quá hạn" if overdue else "")
                     + (f", {len(returned)} việc bị trả lại" if returned else "") + ".")
        lines.append("")
        for item in open_items:
            mark = "⚠️" if item.overdue else ("↩️" if item.status == S.returned else "⏳")
            extended = " (đã gia hạn)" if item.due_at != item.task.due_at else ""
            lines.append(f"{mark} #{item.task.id} {shorten(item.task.title, 70)}")
            lines.append(f"   Hạn{extended}: {t.day_with_weekday(_local_day(item.due_at, tz))}"
                         f" — {t.remaining(item.due_at, now, tz, calendar)}")
            if item.status == S.returned:
                reason = reasons.get(item.assignment_id)
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
    items = (await summary_items(session, [unit_id], now))[unit_id]
    returned = [i.assignment_id for i in items if i.status == S.returned]
    return render_unit_summary(unit, items, await _return_reasons(session, returned), now=now, tz=tz,
                               calendar=calendar)


# --- queueing ---------------------------------------------------------------------------------


def digest_key(day: date) -> str:
    return f"digest:{day.isoformat()}"


def unit_summary_key(day: date, unit_id: int) -> str:
    return f"unitsummary:{day.isoformat()}:u{unit_id}"


async def _already_queued(session: AsyncSession, key: str, accounts: int) -> bool:
    """Whether the ``accounts`` chat accounts already have a message under ``key`` (keys are ``key:p…``), so a
    second worker or a restart need not render the chart and workbook again."""
    queued = (await session.exec(
        select(func.count()).select_from(OutboxMessage).where(col(OutboxMessage.dedupe_key).startswith(f"{key}:"))
    )).one()
    return queued >= accounts


SUMMARY_UNITS = 500
"""Units whose summaries are read and queued at once (a national roster has 4,000)."""


async def unit_summary_messages(session: AsyncSession, *, now: datetime, tz: ZoneInfo,
                                calendar: WorkCalendar) -> list[OutboxRow]:
    """Each unit head's summary of their unit, as outbox rows (reads only: on SQLite the write lock is taken when
    they are queued, not while thousands are rendered). Units with nothing left to deliver are skipped. The
    units that owe something are found with one grouped read; their shares are read as columns,
    ``SUMMARY_UNITS`` at a time."""
    heads: dict[int, list[int]] = defaultdict(list)
    for person in await people_with_roles(session, [Role.head]):
        if person.unit_id is not None:
            heads[person.unit_id].append(person.id)
    if not heads:
        return []
    owing = set((await session.exec(
        select(Assignment.unit_id).join(Task, Task.id == Assignment.task_id).join(Unit, Unit.id == Assignment.unit_id)
        .where(col(Assignment.status).in_(OPEN_VALUES), Task.archived_at == None, Unit.active == True)  # noqa: E711,E712
        .distinct())).all())
    chosen = sorted(heads.keys() & owing)
    day = _local_day(now, tz)
    messages: list[OutboxRow] = []
    for start in range(0, len(chosen), SUMMARY_UNITS):
        part = chosen[start:start + SUMMARY_UNITS]
        units = {unit.id: unit for unit in (await session.exec(select(Unit).where(col(Unit.id).in_(part)))).all()}
        items = await summary_items(session, part, now)
        reasons = await _return_reasons(session, [i.assignment_id for unit_items in items.values()
                                                  for i in unit_items if i.status == S.returned])
        accounts = {r.person_id: r for r in await recipients(session, [p for u in part for p in heads[u]])}
        for unit_id in sorted(part, key=lambda uid: unit_order(units[uid])):
            payload = reply_to_payload(Reply(render_unit_summary(units[unit_id], items[unit_id], reasons, now=now,
                                                                 tz=tz, calendar=calendar)))
            messages += [OutboxRow(f"{unit_summary_key(day, unit_id)}:p{person_id}", accounts[person_id], payload)
                         for person_id in heads[unit_id] if person_id in accounts]
        await asyncio.sleep(0)  # a national roster: let the chat in between two batches of units
    return messages


async def queue_unit_summaries(session: AsyncSession, *, now: datetime, tz: ZoneInfo,
                               calendar: WorkCalendar) -> int:
    """Queue each unit head's summary (``unit_summary_messages``) with one insert per batch; how many were new."""
    messages = await unit_summary_messages(session, now=now, tz=tz, calendar=calendar)
    return await enqueue_many(session, messages, now=now, kind="unit_summary")


async def queue_digest(session: AsyncSession, *, now: datetime, tz: ZoneInfo, calendar: WorkCalendar,
                       since: datetime | None, blobs=None, zalo_quota: int | None = None) -> int:
    """Queue today's digest to every leader and coordinator (and, on Mondays, each unit head's summary).

    Once per local date whoever calls it (dedupe keys); nothing on days off. Returns how many
    outbox messages were written by this call. With ``blobs`` (``storage.blobs.BlobStore``) the chart
    and workbook are stored once and the rows reference them; without, each row carries them inline.
    """
    day = _local_day(now, tz)
    if not calendar.is_working_day(day):
        return 0
    queued = 0
    # everything is read and rendered first; the writes come last, so SQLite's write lock is held briefly
    summaries = await unit_summary_messages(session, now=now, tz=tz, calendar=calendar) if day.weekday() == 0 else []
    accounts = await recipients(session, [p.id for p in await people_with_roles(session, list(DIGEST_ROLES))])
    if accounts and not await _already_queued(session, digest_key(day), len(accounts)):
        digest = await build_digest(session, now=now, tz=tz, calendar=calendar, since=since, zalo_quota=zalo_quota)
        if blobs is not None:
            digest.store_files(blobs)
        payloads = {channel: reply_to_payload(digest.reply(channel)) for channel in {r.channel for r in accounts}}
        queued += await enqueue_many(session, [OutboxRow(f"{digest_key(day)}:p{r.person_id}", r, payloads[r.channel])
                                               for r in accounts], now=now, kind="digest")
    return queued + await enqueue_many(session, summaries, now=now, kind="unit_summary")
