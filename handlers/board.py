"""``/status``, ``/tasks``, ``/late``, ``/log``, ``/export``, ``/archive``: the board, as each role may see it.

``/status`` opens with the headline (open tasks, overdue units and the worst five, the on-time rate,
what arrived since the previous working day), then one line per active task, ``#12 · Báo cáo … ·
14/20 đã nộp · 3 quá hạn · hạn 15/11``. Choices drill down: a task → its units grouped by state; a
unit (``/status MÃ``) → its tasks; the ranking of units by on-time rate, worst first. Counts come
from grouped queries (``storage.queries.task_summaries``); every reply is paged to the channel's
limits (``handlers.paging``). A task has one number, its id (``#12``), everywhere.

The status view is a list of sections (``STATUS_SECTIONS``): each takes the loaded ``BoardView`` and
returns blocks, so another section (progress counts, explanations) is one more function in the list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from handlers import messages as m
from handlers import texts as t
from handlers.chat import Button, OutFile, Reply, limits_for
from handlers.paging import Block, paginate
from schedules.calendar import WorkCalendar
from storage.models import AssignmentStatus, Role, Task, Unit
from storage.queries import (
    TaskSummary,
    UnitLine,
    UnitOverdue,
    archive_task,
    board,
    overdue_units,
    task_summaries,
    unit_by_code,
    unit_lines,
    unit_ranking,
)
from storage.roster import fold
from storage.status import OPEN_STATUSES, TAKES_FILES

if TYPE_CHECKING:
    from handlers.conversation import Conversation, Request

S = AssignmentStatus
OWN_UNIT_ONLY = frozenset({Role.officer, Role.head})
STAFF_VIEW = frozenset({Role.coordinator, Role.leader, Role.admin})
ARCHIVERS = frozenset({Role.coordinator, Role.admin})
ALL_WORDS = ("tat ca", "all", "ca luu tru")
WORST = 5
NAMES_PER_BLOCK = 12
TITLE_CHARS = 60
LOG_LIMIT = 500


# --- small texts ---------------------------------------------------------------------------------


def ref(task: Task) -> str:
    """A task as every view names it: its id."""
    return f"#{task.id}"


def short_day(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%d/%m")


def task_line(summary: TaskSummary, tz: ZoneInfo) -> str:
    """``#12 · Báo cáo CCHC quý IV · 14/20 đã nộp · 3 quá hạn · hạn 15/11``."""
    parts = [ref(summary.task), m.short(summary.task.title, TITLE_CHARS),
             f"{summary.delivered}/{summary.total} đã nộp"]
    if summary.overdue:
        parts.append(f"{summary.overdue} quá hạn")
    parts.append(f"hạn {short_day(summary.task.due_at, tz)}")
    if summary.archived:
        parts.append("🗄️ đã lưu trữ")
    elif summary.finished:
        parts.append("✅ đã xong")
    return " · ".join(parts)


def _names(names: list[str]) -> list[str]:
    """Names in chunks of ``NAMES_PER_BLOCK`` (each chunk a block, so a long list pages)."""
    return [", ".join(names[i:i + NAMES_PER_BLOCK]) for i in range(0, len(names), NAMES_PER_BLOCK)]


# --- the status view: headline and sections -------------------------------------------------------


@dataclass
class BoardView:
    now: datetime
    since: datetime
    tz: ZoneInfo
    calendar: WorkCalendar
    tasks: list[TaskSummary]
    overdue: list[UnitOverdue]
    include_archived: bool

    @property
    def shown(self) -> list[TaskSummary]:
        return self.tasks

    @property
    def active(self) -> list[TaskSummary]:
        return [s for s in self.tasks if s.active]


def since_of(now: datetime, tz: ZoneInfo, calendar: WorkCalendar) -> datetime:
    """"Since yesterday": the same local time on the previous working day (as the digest)."""
    local = now.astimezone(tz)
    previous = calendar.add_working_days(local.date(), -1)
    return datetime.combine(previous, local.timetz().replace(tzinfo=None), tz)


async def load_view(request_or_session, now: datetime, tz: ZoneInfo, calendar: WorkCalendar, *,
                    include_archived: bool = False) -> BoardView:
    session = getattr(request_or_session, "session", request_or_session)
    since = since_of(now, tz, calendar)
    tasks = await task_summaries(session, now, since=since, include_archived=include_archived)
    dues = {s.task.id: s.task.due_at for s in tasks if not s.archived}
    return BoardView(now, since, tz, calendar, tasks, await overdue_units(session, now, dues=dues),
                     include_archived)


def headline_section(view: BoardView) -> list[Block]:
    active = view.active
    total = sum(s.total for s in active)
    delivered = sum(s.delivered for s in active)
    overdue = sum(s.overdue for s in active)
    handed_in = sum(s.counts[S.submitted] + s.counts[S.accepted] for s in active)
    late = sum(s.late for s in active)
    on_time = handed_in - late
    measured = handed_in + overdue
    recent = sum(s.recent for s in active)
    lines = [f"Đang theo dõi {len(active)} nhiệm vụ · đã nộp {delivered}/{total} lượt ({t.percent(delivered, total)})"]
    if view.overdue:
        worst = ", ".join(f"{u.name} ({u.overdue})" for u in view.overdue[:WORST])
        lines.append(f"⚠️ Quá hạn: {overdue} lượt ở {len(view.overdue)} đơn vị — nặng nhất: {worst}")
    else:
        lines.append("⚠️ Quá hạn: không có")
    lines.append(f"⏱️ Đúng hạn: {t.percent(on_time, measured) if measured else '—'}"
                 f" ({on_time}/{measured} lượt đã nộp hoặc đã đến hạn; nộp muộn {late})")
    lines.append(f"📥 Mới nộp từ {t.instant(view.since, view.tz)}: {recent} lượt")
    return [Block("\n".join(lines))]


def tasks_section(view: BoardView) -> list[Block]:
    blocks = [Block("")] if view.shown else [Block(m.NO_TASKS)]
    for summary in view.shown:
        blocks.append(Block(task_line(summary, view.tz),
                            [[Button(f"{ref(summary.task)} {m.short(summary.task.title, 40)}",
                                     f"task:{summary.task.id}")]]))
    return blocks


StatusSection = Callable[[BoardView], list[Block]]
STATUS_SECTIONS: list[StatusSection] = [headline_section, tasks_section]
"""The status view, in order; add a section here (e.g. progress counts) to extend ``/status`` and the CLI."""


def status_header(view: BoardView) -> str:
    scope = " (cả nhiệm vụ đã lưu trữ)" if view.include_archived else ""
    return f"📊 Tình hình thực hiện{scope} — {t.instant(view.now, view.tz)}"


def status_text(view: BoardView) -> str:
    """The whole status view as plain text (the CLI has no page limit)."""
    blocks = [block for section in STATUS_SECTIONS for block in section(view)]
    return "\n".join([status_header(view)] + [block.text for block in blocks])


# --- /status ---------------------------------------------------------------------------------------


def _scope_all(args: str) -> bool:
    return fold(args).strip() in ALL_WORDS


async def status(request: Request) -> list[Reply]:
    """``/status``; ``/status tất cả``; ``/status #12`` (a task); ``/status MÃ`` (a unit)."""
    args = request.incoming.args.strip()
    if args.lstrip("#").isdigit():
        return await task_units(request, int(args.lstrip("#")))
    if request.role in OWN_UNIT_ONLY:
        if request.unit is None:
            return [Reply(m.NO_UNIT)]
        if args and fold(args) != fold(request.unit.code) and not _scope_all(args):
            return [Reply(m.FORBIDDEN)]
        return await unit_tasks(request, request.unit.id)
    if args and not _scope_all(args):
        unit = await unit_by_code(request.session, args)
        if unit is None:
            return [Reply(status_usage(args))]
        return await unit_tasks(request, unit.id)
    return await status_page(request, 1 if _scope_all(args) else 0, 1)


def status_usage(arg: str) -> str:
    return (f"Không hiểu «{arg}». Dùng: /status, /status tất cả (cả nhiệm vụ đã lưu trữ), /status #SỐ_NHIỆM_VỤ "
            "hoặc /status MÃ_ĐƠN_VỊ.")


async def status_page(request: Request, everything: int, page: int) -> list[Reply]:
    if request.role not in STAFF_VIEW:
        return await status(request)
    view = await load_view(request, request.now, request.ctx.tz, request.ctx.calendar,
                           include_archived=bool(everything))
    blocks = [block for section in STATUS_SECTIONS for block in section(view)]
    return [paginate(blocks, limits=limits_for(request.incoming.sender.channel), header=status_header(view),
                     page=page, nav=lambda n: f"status:{everything}:{n}",
                     extra_buttons=[[Button("📉 Xếp hạng đơn vị", "rank:1")]],
                     edit=request.incoming.choice is not None)]


# --- a task → its units, grouped by state ----------------------------------------------------------

GROUPS = (
    ("overdue", "⚠️ Quá hạn"),
    ("returned", "↩️ Bị trả lại, chờ nộp lại"),
    ("pending", "⏳ Chưa nộp, còn hạn"),
    ("submitted", "📥 Đã nộp, chờ duyệt"),
    ("accepted", "✅ Đã duyệt"),
    ("excused", "🕊️ Được miễn"),
)


def _group_of(line: UnitLine) -> str:
    return "overdue" if line.overdue else line.status


def _unit_mark(line: UnitLine, tz: ZoneInfo) -> str:
    flags = []
    if line.late:
        flags.append("muộn")
    if line.extended:
        flags.append(f"gia hạn đến {short_day(line.due_at, tz)}")
    return line.unit_name + (f" ({', '.join(flags)})" if flags else "")


async def task_units(request: Request, task_id: int, page: int = 1) -> list[Reply]:
    """The units of one task grouped by state (``/status #12`` or a task's choice)."""
    session, tz = request.session, request.ctx.tz
    task = await session.get(Task, task_id)
    if task is None:
        return [Reply(task_gone(task_id))]
    if request.role not in STAFF_VIEW:
        return await unit_tasks(request, request.unit.id if request.unit else -1)
    (summary,) = await task_summaries(session, request.now, task_id=task_id, include_archived=True) or [None]
    lines = await unit_lines(session, request.now, task_id=task_id)
    header = [f"📌 {ref(task)} · {task.title}", f"Hạn: {t.due(task.deadline_phrase, task.due_at, tz)}"]
    if summary is not None:
        header.append(f"Đã nộp {summary.delivered}/{summary.total} ({t.percent(summary.delivered, summary.total)})"
                      f" · quá hạn {summary.overdue} · nộp muộn {summary.late}"
                      + (" · 🗄️ đã lưu trữ" if summary.archived else ""))
    blocks = []
    for key, label in GROUPS:
        members = [_unit_mark(line, tz) for line in lines if _group_of(line) == key]
        if members:
            blocks.append(Block(f"\n{label} ({len(members)}):"))
            blocks += [Block(chunk) for chunk in _names(members)]
    return [paginate(blocks, limits=limits_for(request.incoming.sender.channel), header="\n".join(header),
                     page=page, nav=lambda n: f"taskpg:{task_id}:{n}", empty="Nhiệm vụ chưa giao cho đơn vị nào.",
                     edit=request.incoming.choice is not None and page > 1)]


def task_gone(task_id: int) -> str:
    return f"Không có nhiệm vụ #{task_id}. Gõ /tasks để xem các nhiệm vụ và số của chúng."


# --- a unit → its tasks ----------------------------------------------------------------------------


async def unit_tasks(request: Request, unit_id: int, page: int = 1) -> list[Reply]:
    session, now, ctx = request.session, request.now, request.ctx
    if request.role in OWN_UNIT_ONLY and (request.unit is None or request.unit.id != unit_id):
        return [Reply(m.NO_UNIT if request.unit is None else m.FORBIDDEN)]
    unit = await session.get(Unit, unit_id)
    if unit is None:
        return [Reply(m.NO_UNIT)]
    entries = await board(session, now, unit_id=unit_id)
    done = sum(1 for e in entries for s in e.units if s.assignment.status not in OPEN_STATUSES)
    overdue = sum(e.overdue for e in entries)
    header = f"🏢 {unit.name} ({unit.code}) — {t.instant(now, ctx.tz)}\nĐã nộp {done}/{len(entries)} việc" + (
        f" · ⚠️ quá hạn {overdue}" if overdue else "")
    blocks = []
    for entry in entries:
        (state,) = entry.units
        status = t.STATUS_LABELS[state.assignment.status]
        extra = ""
        if state.assignment.status in OPEN_STATUSES:
            extra = f" · {t.remaining(state.due_at, now, ctx.tz, ctx.calendar)}"
        elif state.late:
            extra = " · nộp muộn"
        archived = " · 🗄️ đã lưu trữ" if entry.task.archived_at else ""
        mark = "⚠️ " if state.overdue else ""
        blocks.append(Block(f"{mark}{ref(entry.task)} · {m.short(entry.task.title, TITLE_CHARS)} · {status}"
                            f" · hạn {short_day(state.due_at, ctx.tz)}{extra}{archived}"))
    return [paginate(blocks, limits=limits_for(request.incoming.sender.channel), header=header, page=page,
                     nav=lambda n: f"unitpg:{unit_id}:{n}", empty=m.NO_TASKS,
                     edit=request.incoming.choice is not None and page > 1)]


# --- units ranked by on-time rate, worst first ------------------------------------------------------


async def ranking(request: Request, page: int = 1) -> list[Reply]:
    ranks = await unit_ranking(request.session, request.now)
    blocks = []
    for index, rank in enumerate(ranks, start=1):
        blocks.append(Block(
            f"{index}. {rank.unit.name} — {t.percent(rank.on_time, rank.measured)} đúng hạn"
            f" ({rank.on_time}/{rank.measured}) · quá hạn {rank.overdue} · nộp muộn {rank.late}",
            [[Button(f"{index}. {m.short(rank.unit.name, 40)}", f"unit:{rank.unit.id}")]]))
    header = ("📉 Xếp hạng đơn vị theo tỉ lệ đúng hạn (thấp nhất trước)\n"
              "Đúng hạn = đã nộp trong hạn / (đã nộp + đang quá hạn), các nhiệm vụ đang theo dõi.")
    return [paginate(blocks, limits=limits_for(request.incoming.sender.channel), header=header, page=page,
                     nav=lambda n: f"rank:{n}", empty="Chưa có đơn vị nào đến hạn hoặc đã nộp.",
                     edit=request.incoming.choice is not None and page > 1)]


# --- /tasks ----------------------------------------------------------------------------------------


def _task_heading(entry, tz: ZoneInfo) -> list[str]:
    task = entry.task
    lines = [f"{ref(task)} · {task.title}"]
    if entry.letter and entry.letter.number:
        lines.append(f"   Công văn: {entry.letter.number}")
    lines.append(f"   Hạn: {t.due(task.deadline_phrase, task.due_at, tz)}")
    if entry.lead:
        lines.append(f"   Chủ trì: {entry.lead.name}")
    if task.signature_required and m.takes_file(task):
        lines.append("   Yêu cầu: tệp PDF có ký số")
    return lines


async def tasks(request: Request, page: int = 1) -> list[Reply]:
    """``/tasks``: officers and heads see their unit's tasks with a "Nộp" button for each open one;
    staff see every active task with its count."""
    now, ctx = request.now, request.ctx
    limits = limits_for(request.incoming.sender.channel)
    edit = request.incoming.choice is not None and page > 1
    if request.role not in OWN_UNIT_ONLY:
        view = await load_view(request, now, ctx.tz, ctx.calendar)
        blocks = tasks_section(view)[1:] if view.shown else []
        return [paginate(blocks, limits=limits, header="📋 Các nhiệm vụ đang theo dõi:", page=page,
                         nav=lambda n: f"tasks:{n}", empty=m.NO_TASKS, edit=edit)]
    if request.unit is None:
        return [Reply(m.NO_UNIT)]
    entries = [e for e in await board(request.session, now, unit_id=request.unit.id)
               if e.task.archived_at is None]
    blocks = []
    for entry in entries:
        (state,) = entry.units
        lines = [""] + _task_heading(entry, ctx.tz)
        if state.due_at != entry.task.due_at:
            lines.append(f"   Hạn của đơn vị (đã gia hạn): {t.day(state.due_at.astimezone(ctx.tz).date())}")
        lines.append(f"   Trạng thái: {t.STATUS_LABELS[state.assignment.status]}"
                     + (f" · {t.remaining(state.due_at, now, ctx.tz, ctx.calendar)}"
                        if state.assignment.status in OPEN_STATUSES else ""))
        if state.assignment.status in OPEN_STATUSES and (hint := m.count_hint(entry.task)):
            lines.append(f"   {hint}")
        buttons = []
        if state.assignment.status in TAKES_FILES and m.takes_file(entry.task):
            buttons = [[Button(f"📤 Nộp {ref(entry.task)} {m.short(entry.task.title, 36)}",
                               f"submit:{state.assignment.id}")]]
        blocks.append(Block("\n".join(lines), buttons))
    return [paginate(blocks, limits=limits, header=f"📋 Việc của {request.unit.name}:", page=page,
                     nav=lambda n: f"tasks:{n}", empty=m.NO_TASKS, edit=edit)]


# --- /late -----------------------------------------------------------------------------------------


async def late(request: Request, page: int = 1) -> list[Reply]:
    """``/late``: overdue units, by task (active tasks)."""
    ctx, now = request.ctx, request.now
    lines = await unit_lines(request.session, now, overdue_only=True, include_archived=False)
    if not lines:
        return [Reply(m.NOTHING_LATE)]
    tasks_by_id = {s.task.id: s for s in await task_summaries(request.session, now)}
    blocks: list[Block] = []
    current: int | None = None
    group: list[UnitLine] = []

    def flush() -> None:
        if current is None or current not in tasks_by_id:
            return
        summary = tasks_by_id[current]
        blocks.append(Block(f"\n• {ref(summary.task)} · {m.short(summary.task.title, TITLE_CHARS)} — "
                            f"hạn {short_day(summary.task.due_at, ctx.tz)} — {len(group)} đơn vị quá hạn:"))
        names = [f"{line.unit_name} ({t.remaining(line.due_at, now, ctx.tz, ctx.calendar)})" for line in group]
        blocks.extend(Block("  " + chunk) for chunk in _names(names))

    for line in lines:
        if line.task_id != current:
            flush()
            current, group = line.task_id, []
        group.append(line)
    flush()
    header = f"⚠️ Đơn vị quá hạn — {t.instant(now, ctx.tz)}"
    return [paginate(blocks, limits=limits_for(request.incoming.sender.channel), header=header, page=page,
                     nav=lambda n: f"late:{n}", edit=request.incoming.choice is not None and page > 1)]


# --- /log ------------------------------------------------------------------------------------------


async def log(request: Request) -> list[Reply]:
    """``/log``, ``/log #12`` (a task) or ``/log MÃ`` (a unit): the status log, newest first."""
    arg = request.incoming.args.strip()
    task_id = unit_id = 0
    if request.role not in STAFF_VIEW:
        unit_id = request.unit.id if request.unit else -1
    if arg.lstrip("#").isdigit():
        task_id = int(arg.lstrip("#"))
    elif arg:
        unit = await unit_by_code(request.session, arg)
        if unit is None:
            return [Reply(m.log_usage(arg))]
        if request.role in STAFF_VIEW:
            unit_id = unit.id
        elif unit.id != unit_id:
            return [Reply(m.FORBIDDEN)]
    return await log_page(request, task_id, unit_id, 1)


async def log_page(request: Request, task_id: int, unit_id: int, page: int) -> list[Reply]:
    from handlers.export import event_label, load_log

    if request.role not in STAFF_VIEW:
        own = request.unit.id if request.unit else -1
        if unit_id != own:
            return [Reply(m.FORBIDDEN)]
    rows = await load_log(request.session, task_id=task_id or None, unit_id=unit_id or None, limit=LOG_LIMIT)
    if not rows:
        return [Reply(m.LOG_EMPTY)]
    tz = request.ctx.tz
    blocks = []
    for row in reversed(rows):
        who = row.actor_name or "hệ thống"
        note = f" — {m.short(row.note, 200)}" if row.note else ""
        blocks.append(Block(f"{t.instant(row.at, tz)} · #{row.task_id} {m.short(row.task_title, 40)} · "
                            f"{row.unit_name}: {event_label(row)} ({who}){note}"))
    what = f" nhiệm vụ #{task_id}" if task_id else ""
    header = f"🗒️ Nhật ký{what} (mới nhất trước, {len(rows)} sự kiện gần nhất):"
    return [paginate(blocks, limits=limits_for(request.incoming.sender.channel), header=header, page=page,
                     nav=lambda n: f"log:{task_id}:{unit_id}:{n}",
                     edit=request.incoming.choice is not None and page > 1)]


# --- /archive --------------------------------------------------------------------------------------

ARCHIVE_USAGE = "Dùng: /archive #SỐ_NHIỆM_VỤ (ví dụ /archive #12). Gõ /tasks để xem số của các nhiệm vụ."


async def archive(request: Request) -> list[Reply]:
    """``/archive #12``: a coordinator takes a task off the active board (kept, logged)."""
    arg = request.incoming.args.strip().lstrip("#")
    if not arg.isdigit():
        return [Reply(ARCHIVE_USAGE)]
    task = await request.session.get(Task, int(arg))
    if task is None:
        return [Reply(task_gone(int(arg)))]
    done = await archive_task(request.session, task, person=request.person, now=request.now,
                              actor=f"person:{request.person.id}")
    if not done:
        return [Reply(f"Nhiệm vụ {ref(task)} «{task.title}» đã được lưu trữ từ trước.")]
    return [Reply(f"🗄️ Đã lưu trữ nhiệm vụ {ref(task)} «{task.title}»: nhiệm vụ rời bảng đang theo dõi "
                  "(vẫn xem được bằng /status tất cả và trong tệp Excel).")]


# --- /export ---------------------------------------------------------------------------------------


async def export(request: Request) -> list[Reply]:
    """``/export``: the board as an Excel workbook, archived tasks included, built off the event loop."""
    from handlers.export import XLSX_MIME, export_workbook

    now, tz = request.now, request.ctx.tz
    data, count = await export_workbook(request.ctx.db.url, now=now, tz=tz)
    name = f"dondoc-{now.astimezone(tz):%Y%m%d-%H%M}.xlsx"
    return [Reply(m.export_caption(count), document=OutFile(name, data, XLSX_MIME))]


# --- wiring ----------------------------------------------------------------------------------------


def register(conversation: Conversation) -> None:
    """The board's page and drill-down choices, and ``/archive``."""
    from handlers.conversation import ALL_ROLES, STAFF, Choice, Command

    async def status_choice(request: Request, everything: int, page: int) -> list[Reply]:
        return await status_page(request, everything, page)

    async def log_choice(request: Request, task_id: int, unit_id: int, page: int) -> list[Reply]:
        return await log_page(request, task_id, unit_id, page)

    for choice in (
        Choice("status", status_choice, ALL_ROLES, 2),
        Choice("task", task_units, ALL_ROLES, 1),
        Choice("taskpg", task_units, ALL_ROLES, 2),
        Choice("unit", unit_tasks, STAFF, 1),
        Choice("unitpg", unit_tasks, ALL_ROLES, 2),
        Choice("rank", ranking, STAFF, 1),
        Choice("tasks", tasks, ALL_ROLES, 1),
        Choice("late", late, STAFF, 1),
        Choice("log", log_choice, ALL_ROLES, 3),
    ):
        conversation.register_choice(choice)
    conversation.register(Command("archive", archive, ARCHIVERS, "lưu trữ nhiệm vụ đã xong: /archive #SỐ"))

