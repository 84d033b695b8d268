"""Exports of the board: an Excel workbook (openpyxl) and a PNG chart (matplotlib).

Both are pure functions of the board entries (``storage.queries.board``) and ``now``; they return
bytes for the channel to send as a document or an image. ``load_log`` reads the status log that
the workbook's "Nhật ký" sheet lists. openpyxl and matplotlib are imported inside the functions,
so importing this module builds nothing; the chart uses the Agg canvas directly (never pyplot's
global state), so it is safe to call from a worker thread. Both calls are CPU-bound: an async
caller should run them in a thread (``asyncio.to_thread``).

Everything the reader sees is Vietnamese. Instants are stored in UTC; the workbook shows them as
local (``tz``) date/time cells without tzinfo, since Excel has no time zones.
"""

from __future__ import annotations

import asyncio
import functools
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import messages as m
from handlers import texts as t
from storage.models import Assignment, AssignmentStatus, Person, ReminderSent, StatusEvent, Task, Unit
from storage.queries import KIND_ORDER, TaskSummary, UnitLine, task_summaries, unit_lines
from storage.roster import fold
from storage.status import DONE_STATUSES, OPEN_STATUSES, OPEN_VALUES

DONE_VALUES = frozenset(s.value for s in DONE_STATUSES)

S = AssignmentStatus

# --- the status log ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LogRow:
    """One status event, with the names a reader needs."""

    at: datetime  # aware (UTC, as stored)
    task_id: int
    task_title: str
    unit_name: str
    actor_name: str | None  # None: the system (reminders, CLI, jobs)
    kind: str
    from_status: str | None
    to_status: str | None
    round: int
    note: str | None


RUNG_LABELS = {
    "assigned": "báo nhiệm vụ mới",
    "soon": "nhắc trước hạn",
    "tomorrow": "nhắc: mai đến hạn",
    "today": "nhắc: hôm nay là hạn cuối",
    "overdue": "nhắc: đã quá hạn",
    "escalated": "báo cáo lãnh đạo",
    "explain": "đề nghị giải trình (quá hạn)",
}
"""The default ladder's rungs as the log names them (a rung of a configured ladder shows its own name)."""


async def load_log(
    session: AsyncSession, *, task_id: int | None = None, unit_id: int | None = None, limit: int = 5000
) -> list[LogRow]:
    """The latest ``limit`` entries of the log (optionally of one task and/or one unit), OLDEST FIRST.

    The log is the status events and the reminders sent: each rung of the ladder is recorded once in
    ``ReminderSent`` (its dedupe key, with the instant it was queued), which is its log entry. The newest
    entries are the ones kept when the log is longer than ``limit``; they are returned in chronological
    order (by instant, then by the order they were written) because the sheet reads like a diary and
    Excel's filter can reverse it.
    """
    events = (
        select(StatusEvent, Task.title, Unit.name, Person.name)
        .join(Task, Task.id == StatusEvent.task_id)
        .join(Unit, Unit.id == StatusEvent.unit_id)
        .join(Person, Person.id == StatusEvent.actor_person_id, isouter=True)
        .where(StatusEvent.kind != "reminder")  # reminders before 0010: their ReminderSent rows are read below
        .order_by(col(StatusEvent.at).desc(), col(StatusEvent.id).desc())
        .limit(limit)
    )
    reminders = (
        select(ReminderSent.created_at, ReminderSent.id, ReminderSent.rung, ReminderSent.round, Assignment.task_id,
               Task.title, Unit.name)
        .join(Assignment, Assignment.id == ReminderSent.assignment_id)
        .join(Task, Task.id == Assignment.task_id)
        .join(Unit, Unit.id == ReminderSent.unit_id)
        .order_by(col(ReminderSent.id).desc())  # written in time order: the latest by the primary key, no index
        .limit(limit)
    )
    if task_id is not None:
        events = events.where(StatusEvent.task_id == task_id)
        reminders = reminders.where(Assignment.task_id == task_id)
    if unit_id is not None:
        events = events.where(StatusEvent.unit_id == unit_id)
        reminders = reminders.where(Assignment.unit_id == unit_id)  # the unit's few assignments, then their rungs
    rows = [((event.at, 0, event.id), LogRow(
                at=event.at, task_id=event.task_id, task_title=task_title, unit_name=unit_name,
                actor_name=actor_name, kind=event.kind, from_status=event.from_status, to_status=event.to_status,
                round=event.round, note=event.note))
            for event, task_title, unit_name, actor_name in (await session.exec(events)).all()]
    rows += [((at, 1, id_), LogRow(
                at=at, task_id=task_id_, task_title=task_title, unit_name=unit_name, actor_name=None,
                kind="reminder", from_status=None, to_status=None, round=round_, note=RUNG_LABELS.get(rung, rung)))
             for at, id_, rung, round_, task_id_, task_title, unit_name in (await session.exec(reminders)).all()]
    rows.sort(key=lambda row: row[0])
    return [row for _, row in rows[-limit:]] if limit else []


KIND_LABELS = {
    "assigned": "giao nhiệm vụ",
    "evidence_added": "gửi thêm tệp",
    "extension": "gia hạn",
    "extension_requested": "xin gia hạn",
    "extension_approved": "đồng ý gia hạn",
    "extension_denied": "từ chối gia hạn",
    "reminder": "nhắc việc",
    "note": "ghi chú",
}

STATUS_CHANGE_LABELS = {
    S.submitted: "nộp báo cáo",
    S.accepted: "duyệt",
    S.returned: "trả lại",
    S.excused: "miễn nộp",
}


def event_label(row: LogRow) -> str:
    """What happened, in Vietnamese: a status change by its target, other events by their kind."""
    if row.kind == "status" and row.to_status in STATUS_CHANGE_LABELS:
        if row.to_status == S.submitted and row.round > 1:
            return f"nộp lại (lần {row.round})"
        return STATUS_CHANGE_LABELS[S(row.to_status)]
    return KIND_LABELS.get(row.kind, row.kind)


def _status_label(status: str | None) -> str:
    return t.STATUS_LABELS.get(status, status) if status else ""


# --- the workbook -----------------------------------------------------------------------------

SUMMARY_SHEET = "Tổng hợp"
UNITS_SHEET = "Theo đơn vị"
LOG_SHEET = "Nhật ký"
HEADER_ROW = 4
"""Every table sheet: rows 1–3 are the title, details and "Xuất lúc …"; row 4 the header."""

SUMMARY_HEADERS = ("Số", "Nhiệm vụ", "Công văn", "Hạn", "Hạn tính", "Đơn vị được giao", "Đã duyệt",
                   "Chờ duyệt", "Chưa nộp", "Quá hạn", "Được miễn", "Tỉ lệ đã nộp", "Theo dõi")
UNIT_HEADERS = ("STT", "Mã", "Đơn vị", "Được giao", "Đã hoàn thành", "Hoàn thành / được giao",
                "Trong đó đã duyệt", "Chờ duyệt", "Chưa nộp", "Quá hạn", "Tỉ lệ hoàn thành")
TASK_HEADERS = ("STT", "Mã", "Đơn vị", "Trạng thái", "Lần nộp", "Nộp lúc", "Muộn", "Quá hạn",
                "Hạn của đơn vị")
LOG_HEADERS = ("Thời điểm", "Số", "Nhiệm vụ", "Đơn vị", "Người thực hiện", "Việc", "Từ", "Sang", "Lần",
               "Ghi chú")

DATE_FORMAT = "dd/mm/yyyy"
DATETIME_FORMAT = "hh:mm dd/mm/yyyy"
PERCENT_FORMAT = "0%"
SYSTEM_ACTOR = "(hệ thống)"
MAX_CELL_TEXT = 32_767  # Excel's limit per cell
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

HEADER_FILL = "DCE6F1"
OVERDUE_FILL = "FDE2E1"
STATUS_FILLS = {S.accepted: "E2F0D9", S.submitted: "DDEBF7", S.excused: "EDE7F6", S.returned: "FFF2CC"}


def task_sheet_title(task_id: int) -> str:
    """The sheet of task ``#12`` is "#12": the task's one number, as in every chat view."""
    return f"#{task_id}"


def exported_at(now: datetime, tz: ZoneInfo) -> str:
    return f"Xuất lúc {t.instant(now, tz)}"


def yes_no(flag: bool) -> str:
    return "có" if flag else "không"


def _local(at: datetime, tz: ZoneInfo) -> datetime:
    """A local wall-clock datetime without tzinfo (Excel cells have no time zone)."""
    return at.astimezone(tz).replace(tzinfo=None)


def _local_date(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _open_count(counts: Counter[str]) -> int:
    return counts[S.pending] + counts[S.returned]


@dataclass
class SheetTask:
    """One task for the workbook: its grouped counts and its units' states (plain values)."""

    summary: TaskSummary
    lines: list[UnitLine]

    @property
    def task(self) -> Task:
        return self.summary.task


async def export_tasks(session: AsyncSession, now: datetime) -> list[SheetTask]:
    """Every task, archived ones too (soonest due first), with its units; two queries."""
    summaries = await task_summaries(session, now, include_archived=True)
    by_task: dict[int, list[UnitLine]] = {s.task.id: [] for s in summaries}
    for line in await unit_lines(session, now):
        if line.task_id in by_task:
            by_task[line.task_id].append(line)
    return [SheetTask(summary, by_task[summary.task.id]) for summary in summaries]


@functools.cache
def _wrap() -> Any:
    from openpyxl.styles import Alignment

    return Alignment(wrap_text=True, vertical="top")


@functools.cache
def _fill(colour: str) -> Any:
    from openpyxl.styles import PatternFill

    return PatternFill("solid", fgColor=colour)


class _Sheet:
    """A write-only sheet: rows are appended in order; widths and panes are set before the first row."""

    def __init__(self, workbook: Any, title: str) -> None:
        self.ws = workbook.create_sheet(title)

    def clean(self, value: Any) -> Any:
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        if isinstance(value, str):
            value = ILLEGAL_CHARACTERS_RE.sub("", value)[:MAX_CELL_TEXT]
        return value

    def cell(self, value: Any, *, fmt: str | None = None, font: Any = None, fill: str | None = None,
             wrap: bool = False, link: str | None = None) -> Any:
        from openpyxl.cell import WriteOnlyCell

        value = self.clean(value)
        cell = WriteOnlyCell(self.ws, value=value)
        if isinstance(value, str) and value.startswith("="):
            cell.data_type = "s"  # a title or note such as "=HYPERLINK(…)" stays text
        if fmt:
            cell.number_format = fmt
        if font is not None:
            cell.font = font
        if fill:
            cell.fill = _fill(fill)
        if wrap:
            cell.alignment = _wrap()
        if link:  # a place in this workbook ("'#12'!A1")
            from openpyxl.worksheet.hyperlink import Hyperlink

            cell.hyperlink = Hyperlink(ref="", location=link, tooltip=f"Xem sheet {link.split('!')[0]}")
        return cell


def _table(workbook: Any, title: str, heading: str, details: str, headers: tuple[str, ...],
           rows: list[list[Any]], formats: dict[int, str], *, now: datetime, tz: ZoneInfo,
           wide: dict[int, int] | None = None, empty: str | None = None,
           styles: Callable[[int, list[Any]], dict[int, dict[str, Any]]] | None = None,
           after: list[list[Any]] | None = None, widths: list[int] | None = None) -> None:
    """A sheet: title rows, the bold frozen header at ``HEADER_ROW`` with an autofilter, the rows."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    sheet = _Sheet(workbook, title)
    ws = sheet.ws
    wide = wide or {}
    for column, header in enumerate(headers, start=1):
        if widths is not None:
            width = widths[column - 1]
        else:
            longest = max([min(len(header), 14)] + [_display_width(r[column - 1]) for r in rows])
            width = min(max(longest + 2, 6), wide.get(column, 40))
        ws.column_dimensions[get_column_letter(column)].width = width
    ws.freeze_panes = f"A{HEADER_ROW + 1}"
    last = HEADER_ROW + len(rows)
    ws.auto_filter.ref = f"A{HEADER_ROW}:{get_column_letter(len(headers))}{max(last, HEADER_ROW + 1)}"
    ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True

    ws.append([sheet.cell(heading, font=Font(bold=True, size=13))])
    ws.append([sheet.cell(details, font=Font(italic=True))] if details else [])
    ws.append([sheet.cell(exported_at(now, tz), font=Font(italic=True, color="666666"))])
    header_font, edge = Font(bold=True), Border(bottom=Side(style="thin", color="7F7F7F"))
    centred = Alignment(horizontal="center", vertical="center", wrap_text=True)
    header_cells = []
    for header in headers:
        cell = sheet.cell(header, font=header_font)
        cell.fill, cell.border, cell.alignment = PatternFill("solid", fgColor=HEADER_FILL), edge, centred
        header_cells.append(cell)
    ws.append(header_cells)
    plain = [column not in formats and column not in wide for column in range(1, len(headers) + 1)]
    for index, values in enumerate(rows):
        extra = styles(index, values) if styles else {}
        out = []
        for column, value in enumerate(values, start=1):
            if plain[column - 1] and column not in extra and not (isinstance(value, str) and value[:1] == "="):
                out.append(sheet.clean(value))  # a bare value: no cell object, no style lookup
            else:
                out.append(sheet.cell(value, fmt=formats.get(column), wrap=column in wide, **extra.get(column, {})))
        ws.append(out)
    if not rows and empty:
        ws.append([sheet.cell(empty, font=Font(italic=True))])
    if after:
        ws.append([])
        for values in after:
            ws.append([sheet.cell(value, fmt=formats.get(column), font=Font(bold=True)) if value is not None
                       else None for column, value in enumerate(values, start=1)])


def _display_width(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    if isinstance(value, float):
        return 6
    return max((len(line) for line in str(value).splitlines()), default=0)


def _tracking(summary: TaskSummary) -> str:
    if summary.archived:
        return "đã lưu trữ"
    return "đã xong" if summary.finished else "đang theo dõi"


def _summary_sheet(workbook: Any, tasks: list[SheetTask], now: datetime, tz: ZoneInfo, *, linked: bool = True) -> None:
    from openpyxl.styles import Font

    summaries = [item.summary for item in tasks]
    total_units = sum(s.total for s in summaries)
    delivered = sum(s.delivered for s in summaries)
    details = (f"{len(summaries)} nhiệm vụ · {total_units} lượt giao cho đơn vị · đã nộp {delivered}/{total_units}"
               f" ({t.percent(delivered, total_units)})" if summaries else "")
    rows = []
    for summary in summaries:
        counts, task = summary.counts, summary.task
        rows.append([
            task_sheet_title(task.id), task.title, summary.letter_number or "", task.deadline_phrase,
            _local_date(task.due_at, tz), summary.total, counts[S.accepted], counts[S.submitted], _open_count(counts),
            summary.overdue, counts[S.excused], _ratio(summary.delivered, summary.total), _tracking(summary),
        ])
    link = Font(color="0563C1", underline="single")

    def styles(index: int, values: list[Any]) -> dict[int, dict[str, Any]]:
        return {2: {"font": link, "link": f"'{values[0]}'!A1"}} if linked else {}

    after = None
    if summaries:  # totals below a blank row, outside the filtered range
        after = [[None, "Cộng", None, None, None] + [sum(r[c] for r in rows) for c in range(5, 11)]
                 + [_ratio(delivered, total_units)]]
    _table(workbook, SUMMARY_SHEET, "TỔNG HỢP TÌNH HÌNH NỘP BÁO CÁO", details, SUMMARY_HEADERS, rows,
           {5: DATE_FORMAT, 12: PERCENT_FORMAT}, now=now, tz=tz, wide={2: 70}, empty=m.NO_TASKS, styles=styles,
           after=after)


@dataclass
class _UnitTally:
    code: str
    name: str
    kind: str
    assigned: int = 0
    done: int = 0
    accepted: int = 0
    submitted: int = 0
    open: int = 0
    overdue: int = 0


def unit_tallies(tasks: list[SheetTask]) -> list[_UnitTally]:
    """Per unit across the tasks: assigned, done (submitted, accepted or excused), … in roster order."""
    tallies: dict[int, _UnitTally] = {}
    for item in tasks:
        for line in item.lines:
            tally = tallies.get(line.unit_id)
            if tally is None:
                tally = tallies[line.unit_id] = _UnitTally(line.unit_code, line.unit_name, line.unit_kind)
            status = S(line.status)
            tally.assigned += 1
            tally.done += status in DONE_STATUSES
            tally.accepted += status is S.accepted
            tally.submitted += status is S.submitted
            tally.open += status in OPEN_STATUSES
            tally.overdue += line.overdue
    return sorted(tallies.values(), key=lambda tally: (KIND_ORDER.get(tally.kind, 9), fold(tally.name)))


def _units_sheet(workbook: Any, tasks: list[SheetTask], now: datetime, tz: ZoneInfo,
                 tallies: list[_UnitTally] | None = None) -> None:
    rows = [
        [index, tally.code, tally.name, tally.assigned, tally.done, f"{tally.done}/{tally.assigned}",
         tally.accepted, tally.submitted, tally.open, tally.overdue, _ratio(tally.done, tally.assigned)]
        for index, tally in enumerate(unit_tallies(tasks) if tallies is None else tallies, start=1)
    ]
    _table(workbook, UNITS_SHEET, "KẾT QUẢ THEO ĐƠN VỊ",
           "Đã hoàn thành: đã nộp (chờ duyệt hoặc đã duyệt) hoặc được miễn." if tasks else "", UNIT_HEADERS, rows,
           {11: PERCENT_FORMAT}, now=now, tz=tz, wide={3: 50}, empty=m.NO_TASKS)


def _task_details(summary: TaskSummary, tz: ZoneInfo) -> str:
    task = summary.task
    parts = [task_sheet_title(task.id)]
    if summary.letter_number:
        parts.append(f"Công văn {summary.letter_number}")
    parts.append(f"Hạn: {t.due(task.deadline_phrase, task.due_at, tz)}")
    if task.template:
        parts.append(f"Mẫu: {task.template}")
    if summary.lead_name:
        parts.append(f"Chủ trì: {summary.lead_name}")
    if task.signature_required:
        parts.append("Yêu cầu: tệp PDF có ký số")
    parts.append(f"Đã nộp {summary.delivered}/{summary.total} ({t.percent(summary.delivered, summary.total)})")
    if summary.archived:
        parts.append("Đã lưu trữ")
    return " · ".join(parts)


def _task_sheet(workbook: Any, item: SheetTask, now: datetime, tz: ZoneInfo) -> None:
    rows = [[index, line.unit_code, line.unit_name, _status_label(line.status), line.round or None,
             _local(line.submitted_at, tz) if line.submitted_at else None,
             yes_no(line.late), yes_no(line.overdue), _local_date(line.due_at, tz)]
            for index, line in enumerate(item.lines, start=1)]

    def styles(index: int, values: list[Any]) -> dict[int, dict[str, Any]]:
        line = item.lines[index]
        colour = OVERDUE_FILL if line.overdue else STATUS_FILLS.get(S(line.status))
        out: dict[int, dict[str, Any]] = {4: {"fill": colour}} if colour else {}
        if line.overdue:
            out[8] = {"fill": OVERDUE_FILL}
        return out

    _table(workbook, task_sheet_title(item.task.id), item.task.title, _task_details(item.summary, tz), TASK_HEADERS,
           rows, {6: DATETIME_FORMAT, 9: DATE_FORMAT}, now=now, tz=tz, wide={3: 50}, styles=styles)


def _log_sheet(workbook: Any, log: list[LogRow], now: datetime, tz: ZoneInfo) -> None:
    rows = [
        [_local(row.at, tz), task_sheet_title(row.task_id), row.task_title, row.unit_name,
         row.actor_name or SYSTEM_ACTOR, event_label(row), _status_label(row.from_status),
         _status_label(row.to_status), row.round, row.note or ""]
        for row in log
    ]
    _table(workbook, LOG_SHEET, "NHẬT KÝ TRẠNG THÁI", f"{len(log)} sự kiện, cũ trước mới sau" if log else "",
           LOG_HEADERS, rows, {1: DATETIME_FORMAT}, now=now, tz=tz, wide={3: 45, 4: 30, 10: 50},
           empty="Chưa có sự kiện nào.")


LARGE_BOARD = 50_000
"""Assignments above which the workbook has one matrix sheet (units × tasks) instead of a sheet per task:
openpyxl writes some 10⁵ cells a second, and a national board (241,260 assignments) as a sheet per task
is 2.2 million cells."""
MATRIX_SHEET = "Chi tiết"
MATRIX_GROUPS = (("overdue", "Quá hạn"), ("returned", "Bị trả lại"), ("pending", "Chưa nộp, còn hạn"),
                 ("submitted", "Chờ duyệt"), ("accepted", "Đã duyệt"), ("excused", "Được miễn"))


@dataclass
class Matrix:
    """Per unit, the numbers of its tasks in each state (the large board's detail sheet)."""

    tallies: list[_UnitTally]
    groups: dict[int, dict[str, list[int]]]
    """unit id → state → task ids (soonest due first)."""
    unit_ids: dict[str, int]


async def board_matrix(session: AsyncSession, now: datetime, summaries: list[TaskSummary]) -> Matrix:
    """One pass over the assignments as plain columns: each unit's tasks by state, and its tallies."""
    dues = {s.task.id: s.task.due_at for s in summaries}
    order = {s.task.id: index for index, s in enumerate(summaries)}
    units = {uid: (code, name, kind) for uid, code, name, kind in
             (await session.exec(select(Unit.id, Unit.code, Unit.name, Unit.kind))).all()}
    tallies: dict[int, _UnitTally] = {}
    groups: dict[int, dict[str, list[int]]] = {}
    query = select(Assignment.unit_id, Assignment.task_id, Assignment.status, Assignment.due_at_override)
    for unit_id, task_id, status, override in (await session.exec(query)).all():
        if task_id not in dues:
            continue
        tally = tallies.get(unit_id)
        if tally is None:
            tally = tallies[unit_id] = _UnitTally(*units[unit_id])
            groups[unit_id] = {key: [] for key, _ in MATRIX_GROUPS}
        tally.assigned += 1
        overdue = status in OPEN_VALUES and (override or dues[task_id]) < now
        if status in DONE_VALUES:
            tally.done += 1
        if status == S.accepted:
            tally.accepted += 1
        elif status == S.submitted:
            tally.submitted += 1
        elif status in OPEN_VALUES:
            tally.open += 1
        tally.overdue += overdue
        groups[unit_id]["overdue" if overdue else status].append(task_id)
    for by_state in groups.values():
        for ids in by_state.values():
            ids.sort(key=order.__getitem__)
    ordered = sorted(tallies.items(), key=lambda item: (KIND_ORDER.get(item[1].kind, 9), fold(item[1].name)))
    return Matrix([tally for _, tally in ordered], groups, {tally.code: uid for uid, tally in ordered})


def _matrix_sheet(workbook: Any, matrix: Matrix, now: datetime, tz: ZoneInfo) -> None:
    headers = ("STT", "Mã", "Đơn vị") + tuple(label for _, label in MATRIX_GROUPS)
    rows = []
    for index, tally in enumerate(matrix.tallies, start=1):
        by_state = matrix.groups[matrix.unit_ids[tally.code]]
        rows.append([index, tally.code, tally.name]
                    + [", ".join(task_sheet_title(i) for i in by_state[key]) for key, _ in MATRIX_GROUPS])
    _table(workbook, MATRIX_SHEET, "NHIỆM VỤ CỦA TỪNG ĐƠN VỊ THEO TRẠNG THÁI",
           "Mỗi ô liệt kê số các nhiệm vụ (#số như trên trang Tổng hợp).", headers, rows, {}, now=now, tz=tz,
           widths=[6, 10, 40] + [30] * len(MATRIX_GROUPS))


def board_workbook(tasks: list[SheetTask], log: list[LogRow], *, now: datetime, tz: ZoneInfo,
                   matrix: Matrix | None = None) -> bytes:
    """The board as an .xlsx (openpyxl write-only): "Tổng hợp", "Theo đơn vị", one sheet per task
    ("#12", …, archived tasks too) — or, for a large board (``matrix``), one "Chi tiết" sheet of units ×
    tasks — and "Nhật ký"."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    workbook.properties.creator = "Đôn Đốc"
    workbook.properties.title = "Tình hình nộp báo cáo"
    workbook.properties.created = workbook.properties.modified = _local(now, tz)
    _summary_sheet(workbook, tasks, now, tz, linked=matrix is None)
    _units_sheet(workbook, tasks, now, tz, matrix.tallies if matrix is not None else None)
    if matrix is not None:
        _matrix_sheet(workbook, matrix, now, tz)
    else:
        for item in tasks:
            _task_sheet(workbook, item, now, tz)
    _log_sheet(workbook, log, now, tz)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


# --- off the event loop -----------------------------------------------------------------------


@dataclass(frozen=True)
class BoardFiles:
    workbook: bytes
    chart: bytes | None
    tasks: int


async def _build_files(url: str, now: datetime, tz: ZoneInfo, chart: bool) -> BoardFiles:
    from storage.db import Database

    db = Database(url)
    matrix = None
    try:
        async with db.session() as session:
            summaries = await task_summaries(session, now, include_archived=True)
            if sum(s.total for s in summaries) > LARGE_BOARD:
                tasks = [SheetTask(summary, []) for summary in summaries]
                matrix = await board_matrix(session, now, summaries)
            else:
                tasks = await export_tasks(session, now)
            log = await load_log(session)
    finally:
        await db.dispose()
    png = board_chart([item.summary for item in tasks if item.summary.active], now=now, tz=tz) if chart else None
    return BoardFiles(board_workbook(tasks, log, now=now, tz=tz, matrix=matrix), png, len(tasks))


def _build_files_blocking(url: str, now: datetime, tz: ZoneInfo, chart: bool) -> BoardFiles:
    return asyncio.run(_build_files(url, now, tz, chart))


async def board_files(url: str, *, now: datetime, tz: ZoneInfo, chart: bool = False) -> BoardFiles:
    """The workbook (and the chart) read and rendered in a worker thread with its own database
    connection and event loop, so the bot's event loop keeps answering while it runs."""
    return await asyncio.to_thread(_build_files_blocking, url, now, tz, chart)


async def export_workbook(url: str, *, now: datetime, tz: ZoneInfo) -> tuple[bytes, int]:
    files = await board_files(url, now=now, tz=tz)
    return files.workbook, files.tasks


# --- the chart --------------------------------------------------------------------------------

MAX_CHART_TASKS = 40
LABEL_CHARS = 56
FONT = "DejaVu Sans"  # ships with matplotlib and has every Vietnamese glyph
DPI = 100

# (key, legend, colour, text colour)
SEGMENTS = (
    ("accepted", "Đã duyệt", "#2E7D32", "white"),
    ("submitted", "Đã nộp, chờ duyệt", "#1E6FD9", "white"),
    ("waiting", "Chưa nộp, còn hạn", "#BDBDBD", "#212121"),
    ("overdue", "Quá hạn", "#D32F2F", "white"),
    ("excused", "Được miễn", "#9575CD", "white"),
)

# layout, in inches
WIDTH = 11.0
LEFT, RIGHT = 4.5, 1.1
TOP = 1.05  # title and legend
BOTTOM = 0.55  # x axis and the export time
FOOTNOTE = 0.3
ROW = 0.42


def shorten(text: str, limit: int = LABEL_CHARS) -> str:
    """At most ``limit`` characters, cut at a word boundary when one is near, ending with "…"."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 2 // 3:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-–") + "…"


def segments(entry: TaskSummary) -> dict[str, int]:
    """The bar of one task: accepted, submitted, owed but not yet due, overdue, excused."""
    counts = entry.counts
    return {
        "accepted": counts[S.accepted],
        "submitted": counts[S.submitted],
        "waiting": _open_count(counts) - entry.overdue,
        "overdue": entry.overdue,
        "excused": counts[S.excused],
    }


def chart_height(task_count: int) -> float:
    """Figure height in inches: grows with the tasks drawn, up to ``MAX_CHART_TASKS``."""
    shown = min(task_count, MAX_CHART_TASKS)
    footnote = FOOTNOTE if task_count > MAX_CHART_TASKS else 0.0
    return TOP + BOTTOM + footnote + ROW * max(shown, 2) + 0.2


def board_chart(entries: list[TaskSummary], *, now: datetime, tz: ZoneInfo) -> bytes:
    """A PNG: one horizontal stacked bar per task (shares of its units), each labelled with its number (#12)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    shown, rest = entries[:MAX_CHART_TASKS], entries[MAX_CHART_TASKS:]
    height = chart_height(len(entries))
    figure = Figure(figsize=(WIDTH, height), dpi=DPI)
    FigureCanvasAgg(figure)
    figure.text(0.5, 1 - 0.3 / height, f"Tình hình nộp báo cáo — {t.day(_local_date(now, tz))}",
                ha="center", va="center", fontsize=14, fontweight="bold", family=FONT)
    figure.text(1 - 0.1 / WIDTH, 0.12 / height, exported_at(now, tz), ha="right", va="bottom",
                fontsize=8, color="#666666", family=FONT)
    if not entries:
        figure.text(0.5, 0.45, m.NO_TASKS, ha="center", va="center", fontsize=12, color="#444444", family=FONT)
        return _png(figure)

    footnote = FOOTNOTE if rest else 0.0
    axes = figure.add_axes((LEFT / WIDTH, (BOTTOM + footnote) / height, 1 - (LEFT + RIGHT) / WIDTH,
                            1 - (TOP + BOTTOM + footnote) / height))
    axes_inches = WIDTH - LEFT - RIGHT
    keys = [key for key, *_ in SEGMENTS if key != "excused" or any(segments(e)["excused"] for e in shown)]
    positions = list(range(len(shown)))
    lefts = [0.0] * len(shown)
    bars = [segments(entry) for entry in shown]
    for key, _legend, colour, ink in SEGMENTS:
        if key not in keys:
            continue
        widths = [_ratio(bar[key], entry.total) for bar, entry in zip(bars, shown)]
        axes.barh(positions, widths, left=lefts, height=0.66, color=colour, edgecolor="white", linewidth=0.8)
        for y, (left, width, bar) in enumerate(zip(lefts, widths, bars)):
            if bar[key] and width * axes_inches >= 0.08 + 0.08 * len(str(bar[key])):
                axes.text(left + width / 2, y, str(bar[key]), ha="center", va="center", fontsize=8.5,
                          color=ink, fontweight="bold", family=FONT)
        lefts = [left + width for left, width in zip(lefts, widths)]
    for y, entry in enumerate(shown):
        axes.text(1.01, y, f"{entry.delivered}/{entry.total} · {t.percent(entry.delivered, entry.total)}",
                  ha="left", va="center", fontsize=8.5, color="#333333", family=FONT,
                  transform=axes.get_yaxis_transform())
    axes.text(1.01, -0.55, "đã nộp", ha="left", va="bottom", fontsize=8, color="#666666", family=FONT,
              transform=axes.get_yaxis_transform())
    axes.set_yticks(positions, [f"#{e.task.id} {shorten(e.task.title)}" for e in shown],
                    fontsize=9, family=FONT, parse_math=False)  # a "$" in a title is text, not TeX
    axes.set_ylim(len(shown) - 0.5, -0.5)  # task 1 at the top
    axes.set_xlim(0, 1)
    axes.set_xticks([0, 0.25, 0.5, 0.75, 1], ["0%", "25%", "50%", "75%", "100%"], fontsize=8, family=FONT)
    axes.tick_params(axis="y", length=0)
    axes.grid(axis="x", color="#E0E0E0", linewidth=0.6)
    axes.set_axisbelow(True)
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    handles = [Patch(facecolor=colour, label=legend) for key, legend, colour, _ in SEGMENTS if key in keys]
    figure.legend(handles=handles, loc="center", bbox_to_anchor=(0.5, 1 - 0.72 / height), ncol=len(handles),
                  frameon=False, prop={"family": FONT, "size": 9}, handlelength=1.2, columnspacing=1.4)
    if rest:
        delivered = sum(e.delivered for e in rest)
        total = sum(e.total for e in rest)
        overdue = sum(e.overdue for e in rest)
        figure.text(0.1 / WIDTH, 0.12 / height,
                    f"… và {len(rest)} nhiệm vụ khác: đã nộp {delivered}/{total}"
                    f" ({t.percent(delivered, total)}), quá hạn {overdue}.",
                    ha="left", va="bottom", fontsize=9, color="#333333", family=FONT)
    return _png(figure)


def _png(figure: Any) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()
