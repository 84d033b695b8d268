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

import io
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import messages as m
from handlers import texts as t
from storage.models import AssignmentStatus, Person, StatusEvent, Task, Unit
from storage.queries import TaskBoard, unit_order
from storage.status import DONE_STATUSES, OPEN_STATUSES

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

S = AssignmentStatus

# --- the status log ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LogRow:
    """One status event, with the names a reader needs."""

    at: datetime  # aware (UTC, as stored)
    task_title: str
    unit_name: str
    actor_name: str | None  # None: the system (reminders, CLI, jobs)
    kind: str
    from_status: str | None
    to_status: str | None
    round: int
    note: str | None


async def load_log(
    session: AsyncSession, *, task_id: int | None = None, unit_id: int | None = None, limit: int = 5000
) -> list[LogRow]:
    """The latest ``limit`` status events (optionally of one task and/or one unit), OLDEST FIRST.

    The newest events are the ones kept when the log is longer than ``limit``; they are returned in
    chronological order (by instant, then by the order they were written) because the sheet reads
    like a diary and Excel's filter can reverse it.
    """
    query = (
        select(StatusEvent, Task.title, Unit.name, Person.name)
        .join(Task, Task.id == StatusEvent.task_id)
        .join(Unit, Unit.id == StatusEvent.unit_id)
        .join(Person, Person.id == StatusEvent.actor_person_id, isouter=True)
        .order_by(col(StatusEvent.at).desc(), col(StatusEvent.id).desc())
        .limit(limit)
    )
    if task_id is not None:
        query = query.where(StatusEvent.task_id == task_id)
    if unit_id is not None:
        query = query.where(StatusEvent.unit_id == unit_id)
    rows = (await session.exec(query)).all()
    return [
        LogRow(at=event.at, task_title=task_title, unit_name=unit_name, actor_name=actor_name,
               kind=event.kind, from_status=event.from_status, to_status=event.to_status,
               round=event.round, note=event.note)
        for event, task_title, unit_name, actor_name in reversed(rows)
    ]


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

SUMMARY_HEADERS = ("STT", "Nhiệm vụ", "Công văn", "Hạn", "Hạn tính", "Đơn vị được giao", "Đã duyệt",
                   "Chờ duyệt", "Chưa nộp", "Quá hạn", "Được miễn", "Tỉ lệ đã nộp")
UNIT_HEADERS = ("STT", "Mã", "Đơn vị", "Được giao", "Đã hoàn thành", "Hoàn thành / được giao",
                "Trong đó đã duyệt", "Chờ duyệt", "Chưa nộp", "Quá hạn", "Tỉ lệ hoàn thành")
TASK_HEADERS = ("STT", "Mã", "Đơn vị", "Trạng thái", "Lần nộp", "Nộp lúc", "Muộn", "Quá hạn",
                "Hạn của đơn vị")
LOG_HEADERS = ("Thời điểm", "Nhiệm vụ", "Đơn vị", "Người thực hiện", "Việc", "Từ", "Sang", "Lần",
               "Ghi chú")

DATE_FORMAT = "dd/mm/yyyy"
DATETIME_FORMAT = "hh:mm dd/mm/yyyy"
PERCENT_FORMAT = "0%"
SYSTEM_ACTOR = "(hệ thống)"
MAX_CELL_TEXT = 32_767  # Excel's limit per cell

HEADER_FILL = "DCE6F1"
OVERDUE_FILL = "FDE2E1"
STATUS_FILLS = {S.accepted: "E2F0D9", S.submitted: "DDEBF7", S.excused: "EDE7F6", S.returned: "FFF2CC"}


def task_sheet_title(index: int) -> str:
    """The sheet of the ``index``-th task (1-based, the board's order): "NV1", "NV2", …"""
    return f"NV{index}"


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


def _put(ws: Worksheet, row: int, column: int, value: Any, *, fmt: str | None = None) -> Any:
    """Write a cell; text is cleaned of characters XML forbids and never becomes a formula."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)[:MAX_CELL_TEXT]
    cell = ws.cell(row=row, column=column, value=value)
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"  # a title or note such as "=HYPERLINK(…)" stays text
    if fmt:
        cell.number_format = fmt
    return cell


def _title_rows(ws: Worksheet, title: str, details: str, now: datetime, tz: ZoneInfo) -> None:
    from openpyxl.styles import Font

    _put(ws, 1, 1, title).font = Font(bold=True, size=13)
    if details:
        _put(ws, 2, 1, details).font = Font(italic=True)
    _put(ws, 3, 1, exported_at(now, tz)).font = Font(italic=True, color="666666")


def _table(ws: Worksheet, headers: tuple[str, ...], rows: list[list[Any]], formats: dict[int, str],
           *, wide: dict[int, int] | None = None, empty: str | None = None) -> int:
    """Header at ``HEADER_ROW``, bold and frozen, with an autofilter over the rows; returns the last row."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    fill = PatternFill("solid", fgColor=HEADER_FILL)
    edge = Border(bottom=Side(style="thin", color="7F7F7F"))
    for column, header in enumerate(headers, start=1):
        cell = _put(ws, HEADER_ROW, column, header)
        cell.font = Font(bold=True)
        cell.fill = fill
        cell.border = edge
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for offset, values in enumerate(rows, start=1):
        for column, value in enumerate(values, start=1):
            cell = _put(ws, HEADER_ROW + offset, column, value, fmt=formats.get(column))
            if column in (wide or {}):
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    last = HEADER_ROW + len(rows)
    if not rows and empty:
        _put(ws, HEADER_ROW + 1, 1, empty).font = Font(italic=True)
    ws.freeze_panes = ws.cell(row=HEADER_ROW + 1, column=1)
    ws.auto_filter.ref = f"A{HEADER_ROW}:{get_column_letter(len(headers))}{max(last, HEADER_ROW + 1)}"
    ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    _fit_columns(ws, headers, rows, wide or {})
    return last


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


def _fit_columns(ws: Worksheet, headers: tuple[str, ...], rows: list[list[Any]], wide: dict[int, int]) -> None:
    """Width from the longest value (headers wrap, so they count only up to 14 characters)."""
    from openpyxl.utils import get_column_letter

    for column, header in enumerate(headers, start=1):
        longest = max([min(len(header), 14)] + [_display_width(r[column - 1]) for r in rows])
        cap = wide.get(column, 40)
        ws.column_dimensions[get_column_letter(column)].width = min(max(longest + 2, 6), cap)


def _summary_sheet(ws: Worksheet, entries: list[TaskBoard], now: datetime, tz: ZoneInfo) -> None:
    from openpyxl.styles import Font
    from openpyxl.worksheet.hyperlink import Hyperlink

    total_units = sum(e.total for e in entries)
    delivered = sum(e.delivered for e in entries)
    details = (f"{len(entries)} nhiệm vụ · {total_units} lượt giao cho đơn vị · đã nộp {delivered}/{total_units}"
               f" ({t.percent(delivered, total_units)})" if entries else "")
    _title_rows(ws, "TỔNG HỢP TÌNH HÌNH NỘP BÁO CÁO", details, now, tz)
    rows = []
    for index, entry in enumerate(entries, start=1):
        counts = entry.counts
        rows.append([
            index, entry.task.title, entry.letter.number if entry.letter and entry.letter.number else "",
            entry.task.deadline_phrase, _local_date(entry.task.due_at, tz), entry.total, counts[S.accepted],
            counts[S.submitted], _open_count(counts), entry.overdue, counts[S.excused],
            _ratio(entry.delivered, entry.total),
        ])
    last = _table(ws, SUMMARY_HEADERS, rows, {5: DATE_FORMAT, 12: PERCENT_FORMAT}, wide={2: 70},
                  empty=m.NO_TASKS)
    for index in range(1, len(entries) + 1):
        cell = ws.cell(row=HEADER_ROW + index, column=2)
        cell.hyperlink = Hyperlink(ref=cell.coordinate, location=f"'{task_sheet_title(index)}'!A1",
                                   tooltip=f"Xem sheet {task_sheet_title(index)}")
        cell.font = Font(color="0563C1", underline="single")
    if entries:
        # totals below a blank row, outside the filtered range
        totals = last + 2
        _put(ws, totals, 2, "Cộng").font = Font(bold=True)
        for column in range(6, 12):
            _put(ws, totals, column, sum(r[column - 1] for r in rows)).font = Font(bold=True)
        _put(ws, totals, 12, _ratio(delivered, total_units), fmt=PERCENT_FORMAT).font = Font(bold=True)


@dataclass
class _UnitTally:
    unit: Unit
    assigned: int = 0
    done: int = 0
    accepted: int = 0
    submitted: int = 0
    open: int = 0
    overdue: int = 0


def unit_tallies(entries: list[TaskBoard]) -> list[_UnitTally]:
    """Per unit across the tasks: assigned, done (submitted, accepted or excused), … in roster order."""
    tallies: dict[int, _UnitTally] = {}
    for entry in entries:
        for state in entry.units:
            tally = tallies.setdefault(state.unit.id, _UnitTally(state.unit))
            status = S(state.assignment.status)
            tally.assigned += 1
            tally.done += status in DONE_STATUSES
            tally.accepted += status is S.accepted
            tally.submitted += status is S.submitted
            tally.open += status in OPEN_STATUSES
            tally.overdue += state.overdue
    return sorted(tallies.values(), key=lambda tally: unit_order(tally.unit))


def _units_sheet(ws: Worksheet, entries: list[TaskBoard], now: datetime, tz: ZoneInfo) -> None:
    _title_rows(ws, "KẾT QUẢ THEO ĐƠN VỊ",
                "Đã hoàn thành: đã nộp (chờ duyệt hoặc đã duyệt) hoặc được miễn." if entries else "", now, tz)
    rows = [
        [index, tally.unit.code, tally.unit.name, tally.assigned, tally.done, f"{tally.done}/{tally.assigned}",
         tally.accepted, tally.submitted, tally.open, tally.overdue, _ratio(tally.done, tally.assigned)]
        for index, tally in enumerate(unit_tallies(entries), start=1)
    ]
    _table(ws, UNIT_HEADERS, rows, {11: PERCENT_FORMAT}, wide={3: 50}, empty=m.NO_TASKS)


def _task_details(entry: TaskBoard, tz: ZoneInfo) -> str:
    parts = []
    if entry.letter and entry.letter.number:
        parts.append(f"Công văn {entry.letter.number}")
    parts.append(f"Hạn: {t.due(entry.task.deadline_phrase, entry.task.due_at, tz)}")
    if entry.task.template:
        parts.append(f"Mẫu: {entry.task.template}")
    if entry.lead:
        parts.append(f"Chủ trì: {entry.lead.name}")
    if entry.task.signature_required:
        parts.append("Yêu cầu: tệp PDF có ký số")
    parts.append(f"Đã nộp {entry.delivered}/{entry.total} ({t.percent(entry.delivered, entry.total)})")
    return " · ".join(parts)


def _task_sheet(ws: Worksheet, entry: TaskBoard, now: datetime, tz: ZoneInfo) -> None:
    from openpyxl.styles import PatternFill

    _title_rows(ws, entry.task.title, _task_details(entry, tz), now, tz)
    rows = []
    for index, state in enumerate(entry.units, start=1):
        assignment = state.assignment
        rows.append([
            index, state.unit.code, state.unit.name, _status_label(assignment.status), assignment.round or None,
            _local(assignment.submitted_at, tz) if assignment.submitted_at else None,
            yes_no(state.late), yes_no(state.overdue), _local_date(state.due_at, tz),
        ])
    _table(ws, TASK_HEADERS, rows, {6: DATETIME_FORMAT, 9: DATE_FORMAT}, wide={3: 50})
    for offset, state in enumerate(entry.units, start=1):
        colour = OVERDUE_FILL if state.overdue else STATUS_FILLS.get(S(state.assignment.status))
        if colour:
            ws.cell(row=HEADER_ROW + offset, column=4).fill = PatternFill("solid", fgColor=colour)
        if state.overdue:
            ws.cell(row=HEADER_ROW + offset, column=8).fill = PatternFill("solid", fgColor=OVERDUE_FILL)


def _log_sheet(ws: Worksheet, log: list[LogRow], now: datetime, tz: ZoneInfo) -> None:
    _title_rows(ws, "NHẬT KÝ TRẠNG THÁI", f"{len(log)} sự kiện, cũ trước mới sau" if log else "", now, tz)
    rows = [
        [_local(row.at, tz), row.task_title, row.unit_name, row.actor_name or SYSTEM_ACTOR, event_label(row),
         _status_label(row.from_status), _status_label(row.to_status), row.round, row.note or ""]
        for row in log
    ]
    _table(ws, LOG_HEADERS, rows, {1: DATETIME_FORMAT}, wide={2: 45, 3: 30, 9: 50}, empty="Chưa có sự kiện nào.")


def board_workbook(entries: list[TaskBoard], log: list[LogRow], *, now: datetime, tz: ZoneInfo) -> bytes:
    """The board as an .xlsx: "Tổng hợp", "Theo đơn vị", one sheet per task ("NV1", …), "Nhật ký"."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.properties.creator = "Đôn Đốc"
    workbook.properties.title = "Tình hình nộp báo cáo"
    workbook.properties.created = workbook.properties.modified = _local(now, tz)
    summary = workbook.active
    summary.title = SUMMARY_SHEET
    _summary_sheet(summary, entries, now, tz)
    _units_sheet(workbook.create_sheet(UNITS_SHEET), entries, now, tz)
    for index, entry in enumerate(entries, start=1):
        _task_sheet(workbook.create_sheet(task_sheet_title(index)), entry, now, tz)
    _log_sheet(workbook.create_sheet(LOG_SHEET), log, now, tz)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


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


def segments(entry: TaskBoard) -> dict[str, int]:
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


def board_chart(entries: list[TaskBoard], *, now: datetime, tz: ZoneInfo) -> bytes:
    """A PNG: one horizontal stacked bar per task (shares of its units), numbered as on the board."""
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
    axes.set_yticks(positions, [f"{i}. {shorten(e.task.title)}" for i, e in enumerate(shown, start=1)],
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
                    f"… và {len(rest)} nhiệm vụ khác (từ số {MAX_CHART_TASKS + 1}): đã nộp {delivered}/{total}"
                    f" ({t.percent(delivered, total)}), quá hạn {overdue}.",
                    ha="left", va="bottom", fontsize=9, color="#333333", family=FONT)
    return _png(figure)


def _png(figure: Any) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()
