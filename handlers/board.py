"""``/tasks`` and ``/status``: the board, as each role may see it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from handlers import messages as m
from handlers import texts as t
from handlers.chat import Button, OutFile, Reply
from schedules.calendar import WorkCalendar
from storage.models import Role
from storage.queries import TaskBoard, board
from storage.status import OPEN_STATUSES, TAKES_FILES

if TYPE_CHECKING:
    from handlers.conversation import Request

OWN_UNIT_ONLY = frozenset({Role.officer, Role.head})


def _task_heading(index: int, entry: TaskBoard, tz: ZoneInfo) -> list[str]:
    task = entry.task
    lines = [f"{index}. {task.title}"]
    if entry.letter and entry.letter.number:
        lines.append(f"   Công văn: {entry.letter.number}")
    lines.append(f"   Hạn: {t.due(task.deadline_phrase, task.due_at, tz)}")
    if entry.lead:
        lines.append(f"   Chủ trì: {entry.lead.name}")
    if task.signature_required:
        lines.append("   Yêu cầu: tệp PDF có ký số")
    return lines


def render_status(entries: list[TaskBoard], now: datetime, tz: ZoneInfo, calendar: WorkCalendar) -> str:
    """The board as text: per task, its deadline and who has delivered."""
    out = [f"📊 Tình hình thực hiện — {t.instant(now, tz)}"]
    for index, entry in enumerate(entries, start=1):
        counts = entry.counts
        out.append("")
        out += _task_heading(index, entry, tz)
        out.append(f"   Thời hạn: {t.remaining(entry.task.due_at, now, tz, calendar)}")
        out.append(
            f"   Đã nộp {entry.delivered}/{entry.total} ({t.percent(entry.delivered, entry.total)})"
            f" · đã duyệt {counts['accepted']} · chờ duyệt {counts['submitted']}"
            f" · chưa nộp {counts['pending'] + counts['returned']} · quá hạn {entry.overdue}"
        )
        done = [s.unit.name + (" (muộn)" if s.late else "") for s in entry.units
                if s.assignment.status not in OPEN_STATUSES]
        waiting = [s.unit.name + (" ⚠️ quá hạn" if s.overdue else "") for s in entry.units
                   if s.assignment.status in OPEN_STATUSES]
        if done:
            out.append("   ✅ Đã nộp: " + ", ".join(done))
        if waiting:
            out.append("   ⏳ Chưa nộp: " + ", ".join(waiting))
    return "\n".join(out)


async def status(request: Request) -> list[Reply]:
    if request.role in STAFF_VIEW:
        return await staff_status(request)
    unit_id = request.unit.id if request.role in OWN_UNIT_ONLY and request.unit else None
    if request.role in OWN_UNIT_ONLY and unit_id is None:
        return [Reply(m.NO_UNIT)]
    entries = await board(request.session, request.now, unit_id=unit_id)
    if not entries:
        return [Reply(m.NO_TASKS)]
    return [Reply(render_status(entries, request.now, request.ctx.tz, request.ctx.calendar))]


async def tasks(request: Request) -> list[Reply]:
    """``/tasks``: officers and heads see their unit's tasks with a "Nộp" button for each open one;
    staff see every task with its count."""
    now, ctx = request.now, request.ctx
    if request.role not in OWN_UNIT_ONLY:
        entries = await board(request.session, now)
        if not entries:
            return [Reply(m.NO_TASKS)]
        out = ["📋 Các nhiệm vụ đang theo dõi:"]
        for index, entry in enumerate(entries, start=1):
            out.append("")
            out += _task_heading(index, entry, ctx.tz)
            out.append(f"   Đã nộp {entry.delivered}/{entry.total} · {t.remaining(entry.task.due_at, now, ctx.tz, ctx.calendar)}")
        return [Reply("\n".join(out))]
    if request.unit is None:
        return [Reply(m.NO_UNIT)]
    entries = await board(request.session, now, unit_id=request.unit.id)
    if not entries:
        return [Reply(m.NO_TASKS)]
    out = [f"📋 Việc của {request.unit.name}:"]
    buttons = []
    for index, entry in enumerate(entries, start=1):
        (state,) = entry.units
        out.append("")
        out += _task_heading(index, entry, ctx.tz)
        if state.due_at != entry.task.due_at:
            out.append(f"   Hạn của đơn vị (đã gia hạn): {t.day(state.due_at.astimezone(ctx.tz).date())}")
        out.append(f"   Trạng thái: {t.STATUS_LABELS[state.assignment.status]}"
                   + (f" · {t.remaining(state.due_at, now, ctx.tz, ctx.calendar)}"
                      if state.assignment.status in OPEN_STATUSES else ""))
        if state.assignment.status in TAKES_FILES:
            buttons.append([Button(f"📤 Nộp {index}. {m.short(entry.task.title, 36)}", f"submit:{state.assignment.id}")])
    return [Reply("\n".join(out), buttons=buttons)]

STAFF_VIEW = frozenset({Role.coordinator, Role.leader, Role.admin})


def status_buttons(entries: list[TaskBoard]) -> list[list[Button]]:
    return [[Button(f"{index}. {m.short(entry.task.title, 40)}", f"task:{entry.task.id}")]
            for index, entry in enumerate(entries, start=1)]


def render_units_summary(entries: list[TaskBoard]) -> str:
    """Per unit: tasks done / tasks assigned, as the letters ask."""
    from handlers.export import unit_tallies

    lines = ["🏢 Theo đơn vị (đã nộp / được giao):"]
    for tally in unit_tallies(entries):
        overdue = f" · quá hạn {tally.overdue}" if tally.overdue else ""
        lines.append(f"• {tally.unit.name}: {tally.done}/{tally.assigned}{overdue}")
    return "\n".join(lines)


async def staff_status(request: Request) -> list[Reply]:
    entries = await board(request.session, request.now)
    if not entries:
        return [Reply(m.NO_TASKS)]
    text = render_status(entries, request.now, request.ctx.tz, request.ctx.calendar)
    return [Reply(text, buttons=status_buttons(entries)), Reply(render_units_summary(entries))]


async def task_units(request: Request, task_id: int) -> list[Reply]:
    """The units of one task with their state (a button under /status)."""
    unit_id = request.unit.id if request.role not in STAFF_VIEW and request.unit else None
    entries = await board(request.session, request.now, task_id=task_id, unit_id=unit_id)
    if not entries:
        return [Reply(m.NO_TASKS)]
    (entry,) = entries
    ctx = request.ctx
    lines = [f"📌 {entry.task.title}", f"Hạn: {t.due(entry.task.deadline_phrase, entry.task.due_at, ctx.tz)}", ""]
    for index, state in enumerate(entry.units, start=1):
        flags = []
        if state.overdue:
            flags.append("⚠️ quá hạn")
        if state.late:
            flags.append("muộn")
        if state.due_at != entry.task.due_at:
            flags.append(f"gia hạn đến {t.day(state.due_at.astimezone(ctx.tz).date())}")
        extra = f" ({', '.join(flags)})" if flags else ""
        lines.append(f"{index}. {state.unit.name}: {t.STATUS_LABELS[state.assignment.status]}{extra}")
    return [Reply("\n".join(lines))]


async def late(request: Request) -> list[Reply]:
    """``/late``: overdue units, by task."""
    entries = [e for e in await board(request.session, request.now) if e.overdue]
    if not entries:
        return [Reply(m.NOTHING_LATE)]
    ctx = request.ctx
    lines = [f"⚠️ Đơn vị quá hạn — {t.instant(request.now, ctx.tz)}"]
    for entry in entries:
        lines += ["", f"• {entry.task.title}", f"  Hạn: {t.due(entry.task.deadline_phrase, entry.task.due_at, ctx.tz)}"]
        for state in entry.units:
            if state.overdue:
                lines.append(f"  – {state.unit.name} ({t.remaining(state.due_at, request.now, ctx.tz, ctx.calendar)})")
    return [Reply("\n".join(lines))]


async def log(request: Request) -> list[Reply]:
    """``/log``, ``/log #12`` (a task) or ``/log MÃ`` (a unit): the status log, newest last."""
    from handlers.export import event_label, load_log
    from storage.queries import unit_by_code

    arg = request.incoming.args.strip()
    task_id = unit_id = None
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
    rows = await load_log(request.session, task_id=task_id, unit_id=unit_id, limit=30)
    if not rows:
        return [Reply(m.LOG_EMPTY)]
    tz = request.ctx.tz
    lines = ["🗒️ Nhật ký (mới nhất ở cuối):"]
    for row in rows:
        who = row.actor_name or "hệ thống"
        note = f" — {row.note}" if row.note else ""
        lines.append(f"{t.instant(row.at, tz)} · {row.unit_name} · {m.short(row.task_title, 40)}: "
                     f"{event_label(row)} ({who}){note}")
    return [Reply("\n".join(lines))]


async def export(request: Request) -> list[Reply]:
    """``/export``: the board as an Excel workbook (one sheet per task, and the log)."""
    from handlers.export import board_workbook, load_log

    now, tz = request.now, request.ctx.tz
    entries = await board(request.session, now)
    rows = await load_log(request.session)
    data = board_workbook(entries, rows, now=now, tz=tz)
    name = f"dondoc-{now.astimezone(tz):%Y%m%d-%H%M}.xlsx"
    return [Reply(m.export_caption(len(entries)), document=OutFile(
        name, data, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))]

