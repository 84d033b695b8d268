"""``/tasks`` and ``/status``: the board, as each role may see it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from handlers import messages as m
from handlers import texts as t
from handlers.chat import Reply
from schedules.calendar import WorkCalendar
from storage.models import Role
from storage.queries import TaskBoard, board
from storage.status import OPEN_STATUSES

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
    unit_id = request.unit.id if request.role in OWN_UNIT_ONLY and request.unit else None
    if request.role in OWN_UNIT_ONLY and unit_id is None:
        return [Reply(m.NO_UNIT)]
    entries = await board(request.session, request.now, unit_id=unit_id)
    if not entries:
        return [Reply(m.NO_TASKS)]
    return [Reply(render_status(entries, request.now, request.ctx.tz, request.ctx.calendar))]


async def tasks(request: Request) -> list[Reply]:
    """The open tasks of the officer's unit; staff see every task with its count."""
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
    for index, entry in enumerate(entries, start=1):
        (state,) = entry.units
        out.append("")
        out += _task_heading(index, entry, ctx.tz)
        if state.due_at != entry.task.due_at:
            out.append(f"   Hạn của đơn vị (đã gia hạn): {t.day(state.due_at.astimezone(ctx.tz).date())}")
        out.append(f"   Trạng thái: {t.STATUS_LABELS[state.assignment.status]}"
                   + (f" · {t.remaining(state.due_at, now, ctx.tz, ctx.calendar)}"
                      if state.assignment.status in OPEN_STATUSES else ""))
    return [Reply("\n".join(out))]
