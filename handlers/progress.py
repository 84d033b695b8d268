"""Progress counts in chat: a unit reports "12/15" or «đã hoàn thành 12 trên 15 nhiệm vụ»; the bot says
what it read. Leaders see per unit and in total, with the history, on the board, in the digest and in
the export's «Tiến độ» sheet."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import texts as t
from handlers.chat import Reply
from storage.models import Assignment, Task
from storage.progress import CountRefused, TaskProgress, progress, record_count
from storage.roster import fold
from storage.status import TAKES_FILES

if TYPE_CHECKING:
    from handlers.conversation import Request

_TASK_REF = re.compile(r"(?<!\S)#(\d+)(?!\S)")
_PAIR = re.compile(r"(?<![\d/])(\d{1,6})\s*(?:nhiem vu\s+)?(?:/|tren|trong tong so|trong so|tren tong so)\s*(\d{1,6})(?![\d/])")
_WHOLE = re.compile(r"^(?:(?:don vi\s+)?da\s+)?(?:hoan thanh\s+)?(?:duoc\s+)?\d{1,6}\s*(?:(?:nhiem vu\s+)?(?:/|tren|trong tong so|"
                    r"trong so|tren tong so)\s*\d{1,6})?(?:\s+nhiem vu)?(?:\s+duoc giao)?$")
_DONE_ONLY = re.compile(r"^(?:da\s+)?(?:hoan thanh\s+)?(\d{1,6})(?:\s+nhiem vu)?$")
USAGE = "Gõ số đã hoàn thành trên tổng số được giao, ví dụ «/tiendo 12/15» hoặc «/tiendo đã hoàn thành 12 trên 15»."
HISTORY = 3
UNIT_CAP = 12
"""Units listed per task on the board (the rest are counted, never sent as a burst)."""
TASK_CAP = 5
FULL_CAP = 80
"""Units listed by ``/tiendo #N`` (about 4,000 characters)."""


class NotACount(ValueError):
    pass


def parse_count(text: str, expected_total: int | None) -> tuple[int, int]:
    """``12/15``, «đã hoàn thành 12 trên 15 nhiệm vụ», «12 trong tổng số 15»; just ``12`` when the total is known."""
    folded = fold(text)
    pairs = _PAIR.findall(folded)
    if len(pairs) == 1:
        return int(pairs[0][0]), int(pairs[0][1])
    if not pairs and expected_total is not None:
        match = _DONE_ONLY.match(folded.strip(" .!"))
        if match:
            return int(match.group(1)), expected_total
    raise NotACount(text)


def _pct(done: int, total: int) -> str:
    return t.percent(done, total)


REFUSED = {
    "zero_total": "Tổng số nhiệm vụ được giao phải lớn hơn 0; chưa ghi gì.",
    "too_many": "Số đã hoàn thành không thể lớn hơn tổng số được giao; chưa ghi gì.",
    "no_count": "Nhiệm vụ này không yêu cầu báo cáo số lượng.",
    "closed": "Nhiệm vụ này của đơn vị đã được miễn; không cần báo cáo.",
}


async def count_tasks_of_unit(request: Request) -> list[tuple[Assignment, Task]]:
    query = (select(Assignment, Task).join(Task, Task.id == Assignment.task_id)
             .where(Assignment.unit_id == request.unit.id, col(Task.count_mode).is_not(None),
                    col(Assignment.status).in_(TAKES_FILES + ("accepted",)))
             .order_by(Task.due_at, Task.id))
    return list((await request.session.exec(query)).all())


async def report(request: Request, text: str, *, strict: bool = True) -> list[Reply] | None:
    """Record a count from ``text``; with ``strict=False`` (plain text) None when it is not one."""
    if request.unit is None:
        return [Reply("Tài khoản của bạn chưa gắn với đơn vị nào; hãy liên hệ Phòng Nội vụ.")] if strict else None
    candidates = await count_tasks_of_unit(request)
    match = _TASK_REF.search(text)
    if match:
        candidates = [(a, task) for a, task in candidates if task.id == int(match.group(1))]
        text = text[:match.start()] + text[match.end():]
        if not candidates:
            if not strict:
                return None
            return [Reply(f"Nhiệm vụ #{match.group(1)} của đơn vị không yêu cầu báo cáo số lượng (hoặc không còn "
                          "mở); chưa ghi gì.")]
    if not candidates:
        return [Reply("Đơn vị không có nhiệm vụ nào cần báo cáo số lượng.")] if strict else None
    if len(candidates) > 1:
        if not strict:
            return None
        listed = "\n".join(f"• #{task.id} {task.title}" for _, task in candidates[:15])
        return [Reply(f"Đơn vị có {len(candidates)} nhiệm vụ cần báo cáo số lượng; ghi rõ số nhiệm vụ, ví dụ "
                      f"«/tiendo #{candidates[0][1].id} 12/15».\n{listed}")]
    assignment, task = candidates[0]
    if not strict and not _WHOLE.match(fold(text).strip(" .!")):
        return None  # plain text that merely contains numbers
    try:
        done, total = parse_count(text, task.count_total)
    except NotACount:
        if not strict:
            return None
        return [Reply(f"Không đọc được số liệu «{text.strip()}»; chưa ghi gì. {USAGE}")]
    try:
        row, moved = await record_count(request.session, assignment, task, done=done, total=total, text=text,
                                        person_id=request.person.id, now=request.now)
    except CountRefused as refused:
        if refused.reason == "wrong_total":
            return [Reply(f"Đơn vị được giao {refused.expected} nhiệm vụ, không phải {total}; chưa ghi gì. "
                          f"Gõ lại, ví dụ «{min(done, refused.expected)}/{refused.expected}».")]
        return [Reply(f"Đọc được {done}/{total}. {REFUSED[refused.reason]} {USAGE}")]
    extra = " Đơn vị đã nộp báo cáo nhiệm vụ này." if moved else ""
    return [Reply(f"✅ Đã ghi: {request.unit.name} hoàn thành {row.done}/{row.total} ({_pct(row.done, row.total)}) "
                  f"— nhiệm vụ #{task.id} «{task.title}».{extra}\nSai thì gõ lại số đúng; bản mới thay bản cũ, "
                  "bản cũ vẫn lưu trong lịch sử.")]


async def command(request: Request) -> list[Reply]:
    if request.unit is None or request.role.value not in ("officer", "head"):
        match = _TASK_REF.search(request.incoming.args)
        if match:  # one task, every unit (up to FULL_CAP lines)
            entries = await progress(request.session, task_id=int(match.group(1)))
            if not entries:
                return [Reply(f"Nhiệm vụ #{match.group(1)} không yêu cầu báo cáo số lượng (hoặc không có).")]
            return [Reply("\n".join(["🔢 Tiến độ:", *render_task(entries[0], request.ctx.tz, cap=FULL_CAP)]))]
        return [Reply(render(await progress(request.session), request.ctx.tz) or "Chưa có nhiệm vụ nào yêu cầu "
                      "báo cáo số lượng.")]
    if not request.incoming.args.strip():
        return [Reply(USAGE)]
    return await report(request, request.incoming.args)


def _history(unit_progress, tz: ZoneInfo) -> str:
    earlier = unit_progress.history[-1 - HISTORY:-1]
    if not earlier:
        return ""
    return " (trước: " + ", ".join(f"{r.done}/{r.total} ngày {t.day(r.at.astimezone(tz).date())}"
                                    for r in reversed(earlier)) + ")"


def render_task(entry: TaskProgress, tz: ZoneInfo, cap: int | None = None) -> list[str]:
    """The task's total, then each unit (at most ``cap``, the rest counted; see /tiendo #N or /export)."""
    cap = UNIT_CAP if cap is None else cap
    lines = [f"#{entry.task.id} {entry.task.title}: tổng {entry.done}/{entry.total} ({_pct(entry.done, entry.total)}),"
             f" {entry.reported}/{len(entry.units)} đơn vị đã báo cáo"]
    if len(entry.units) > cap:
        rest = len(entry.units) - cap
        return lines + _unit_lines(entry.units[:cap], tz) + [
            f"   … và {rest} đơn vị khác: /tiendo #{entry.task.id} hoặc /export (trang «Tiến độ»)"]
    return lines + _unit_lines(entry.units, tz)


def _unit_lines(units, tz: ZoneInfo) -> list[str]:
    lines = []
    for u in units:
        if u.latest:
            lines.append(f"   • {u.unit.name}: {u.latest.done}/{u.latest.total} ({_pct(u.latest.done, u.latest.total)})"
                         + _history(u, tz))
        else:
            lines.append(f"   • {u.unit.name}: chưa báo cáo")
    return lines


def render(entries: list[TaskProgress], tz: ZoneInfo) -> str:
    if not entries:
        return ""
    lines = ["🔢 Tiến độ (đã hoàn thành / được giao):"]
    for entry in entries[:TASK_CAP]:
        lines += render_task(entry, tz)
    if len(entries) > TASK_CAP:
        lines.append(f"… và {len(entries) - TASK_CAP} nhiệm vụ khác: /tiendo #SỐ hoặc /export (trang «Tiến độ»)")
    return "\n".join(lines)


async def digest_lines(session: AsyncSession, *, tz: ZoneInfo, cap: int = 10) -> list[str]:
    return render_digest_lines(await progress(session), cap)


def render_digest_lines(entries: list, cap: int) -> list[str]:
    """The digest's progress section: the first ``cap`` tasks, the rest counted."""
    if not entries:
        return []
    lines = ["", "🔢 TIẾN ĐỘ (đã hoàn thành / được giao)"]
    for entry in entries[:cap]:
        lines.append(f"• #{entry.task.id} {entry.task.title}: {entry.done}/{entry.total} "
                     f"({_pct(entry.done, entry.total)}), {entry.reported}/{len(entry.units)} đơn vị đã báo cáo")
    if len(entries) > cap:
        lines.append(f"   … và {len(entries) - cap} nhiệm vụ khác")
    return lines


def _append(ws: Any, values: list[Any]) -> None:
    """One row; text never becomes a formula and loses characters XML forbids."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    ws.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in values])
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, str) and cell.value.startswith("="):
            cell.data_type = "s"


def add_progress_sheet(workbook: Any, entries: list[TaskProgress], tz: ZoneInfo) -> None:
    """A «Tiến độ» sheet: per task and unit the latest count, then every report (the history)."""
    ws = workbook.create_sheet("Tiến độ")
    _append(ws, ["Nhiệm vụ", "Tên nhiệm vụ", "Đơn vị", "Đã hoàn thành", "Được giao", "Tỷ lệ", "Báo cáo lúc",
               "Số lần báo cáo"])
    for entry in entries:
        for u in entry.units:
            latest = u.latest
            _append(ws, [f"#{entry.task.id}", entry.task.title, u.unit.name,
                       latest.done if latest else None, latest.total if latest else None,
                       round(latest.done / latest.total, 4) if latest else None,
                       latest.at.astimezone(tz).replace(tzinfo=None) if latest else None, len(u.history)])
        _append(ws, [f"#{entry.task.id}", entry.task.title, "TỔNG", entry.done, entry.total,
                   round(entry.done / entry.total, 4) if entry.total else None, None, None])
    _append(ws, [])
    _append(ws, ["Lịch sử báo cáo"])
    _append(ws, ["Nhiệm vụ", "Đơn vị", "Đã hoàn thành", "Được giao", "Lúc", "Nội dung gửi"])
    for entry in entries:
        for u in entry.units:
            for r in u.history:
                _append(ws, [f"#{entry.task.id}", u.unit.name, r.done, r.total,
                           r.at.astimezone(tz).replace(tzinfo=None), r.text])


def with_progress_sheet(data: bytes, entries: list[TaskProgress], tz: ZoneInfo) -> bytes:
    """The export workbook with the «Tiến độ» sheet added (blocking: run in a thread)."""
    import io

    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(data))
    add_progress_sheet(workbook, entries, tz)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
