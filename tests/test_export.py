"""The board exports: the Excel workbook and the PNG chart, over the demo."""

from __future__ import annotations

import io
import struct
import warnings
from collections import Counter
from datetime import datetime

import pytest
from openpyxl import load_workbook

from bot.demo import DELIVERED, PEOPLE, TASKS, UNITS, load_demo
from handlers.export import (
    HEADER_ROW,
    LOG_HEADERS,
    MAX_CHART_TASKS,
    SUMMARY_HEADERS,
    TASK_HEADERS,
    UNIT_HEADERS,
    LogRow,
    SheetTask,
    board_chart,
    board_workbook,
    chart_height,
    export_tasks,
    load_log,
    shorten,
)
from handlers.texts import STATUS_LABELS
from storage.models import Assignment, AssignmentStatus, Person, Task
from storage.queries import TaskSummary, UnitLine, board, unit_by_code
from storage.status import DONE_STATUSES, transition
from tests.conftest import VN, vn

S = AssignmentStatus
LOADED = vn(2026, 11, 21, 9)
LATER = vn(2026, 11, 28, 10, 15)  # after the first deadline (end of Fri 27/11/2026)
NOW = vn(2026, 11, 30, 9)
UNIT_NAMES = {code: name for code, name, *_ in UNITS}
OFFICERS = {code: name for name, role, code in PEOPLE if role == "officer"}
COORDINATOR = next(name for name, role, _ in PEOPLE if role == "coordinator")
LEADER = next(name for name, role, _ in PEOPLE if role == "leader")


async def _assignment(session, task_title: str, code: str) -> Assignment:
    from sqlmodel import select

    unit = await unit_by_code(session, code)
    task = (await session.exec(select(Task).where(Task.title == task_title))).one()
    return (await session.exec(select(Assignment).where(Assignment.task_id == task.id,
                                                         Assignment.unit_id == unit.id))).one()


async def _person(session, name: str) -> Person:
    from sqlmodel import select

    return (await session.exec(select(Person).where(Person.name == name))).one()


@pytest.fixture
async def demo(sqlite_db):
    """The demo, plus a late submission, a returned one and an excused unit; the board at ``NOW``."""
    await load_demo(sqlite_db, now=LOADED, tz=VN)
    async with sqlite_db.session() as session:
        coordinator = await _person(session, COORDINATOR)
        leader = await _person(session, LEADER)
        vp = await _assignment(session, TASKS[0].title, "VP")
        await transition(session, vp, S.submitted, now=LATER, actor_person_id=(await _person(session, OFFICERS["VP"])).id)
        tp = await _assignment(session, TASKS[0].title, "TP")
        await transition(session, tp, S.returned, now=LATER, actor_person_id=coordinator.id, note="Thiếu Phụ lục 2")
        excused = await _assignment(session, TASKS[1].title, "VINHLAM")
        await transition(session, excused, S.excused, now=LATER, actor_person_id=leader.id, note="Đơn vị mới sáp nhập")
        await session.commit()
    async with sqlite_db.session() as session:
        entries = await board(session, NOW)
        log = await load_log(session)
        sheets = await export_tasks(session, NOW)
    return sqlite_db, entries, log, sheets


def _open(data: bytes):
    return load_workbook(io.BytesIO(data))


def _header(ws) -> tuple:
    return tuple(cell.value for cell in ws[HEADER_ROW])


def _rows(ws) -> list[tuple]:
    """The table's rows: from below the header to the first blank row."""
    rows = []
    for row in ws.iter_rows(min_row=HEADER_ROW + 1, values_only=True):
        if all(value is None for value in row):
            break
        rows.append(row)
    return rows


def _local(at: datetime) -> datetime:
    return at.astimezone(VN).replace(tzinfo=None)


# --- the workbook -----------------------------------------------------------------------------


async def test_workbook_has_the_summary_units_one_sheet_per_task_and_the_log(demo):
    _, entries, log, sheets = demo
    wb = _open(board_workbook(sheets, log, now=NOW, tz=VN))
    assert wb.sheetnames == ["Tổng hợp", "Theo đơn vị"] + [f"#{e.task.id}" for e in entries] + ["Nhật ký"]
    for name, headers in [("Tổng hợp", SUMMARY_HEADERS), ("Theo đơn vị", UNIT_HEADERS), (f"#{entries[0].task.id}", TASK_HEADERS),
                          ("Nhật ký", LOG_HEADERS)]:
        ws = wb[name]
        assert _header(ws) == headers
        assert all(cell.font.b for cell in ws[HEADER_ROW])
        assert ws.freeze_panes == f"A{HEADER_ROW + 1}"
        assert ws.auto_filter.ref.startswith(f"A{HEADER_ROW}:")
        assert ws["A3"].value == "Xuất lúc 09:00 30/11/2026"
        widths = [ws.column_dimensions[cell.column_letter].width for cell in ws[HEADER_ROW]]
        assert all(6 <= width <= 70 for width in widths)
    summary = wb["Tổng hợp"]
    assert _header(summary)[:12] == ("Số", "Nhiệm vụ", "Công văn", "Hạn", "Hạn tính", "Đơn vị được giao",
                                     "Đã duyệt", "Chờ duyệt", "Chưa nộp", "Quá hạn", "Được miễn", "Tỉ lệ đã nộp")
    assert summary.auto_filter.ref == f"A{HEADER_ROW}:M{HEADER_ROW + len(entries)}"


async def test_summary_rows_match_the_board_counts_with_real_dates_and_percentages(demo):
    _, entries, log, sheets = demo
    summary = _open(board_workbook(sheets, log, now=NOW, tz=VN))["Tổng hợp"]
    rows = _rows(summary)
    assert len(rows) == len(entries)
    assert sum(entry.overdue for entry in entries) > 0  # the fixture really has overdue units
    for index, (row, entry) in enumerate(zip(rows, entries), start=1):
        counts = entry.counts
        number, title, letter, phrase, due_day, total, accepted, submitted, owed, overdue, excused, share, state = row
        assert (number, title, letter, phrase) == (f"#{entry.task.id}", entry.task.title, entry.letter.number,
                                                   entry.task.deadline_phrase)
        assert state == "đang theo dõi"
        assert (total, accepted, submitted, excused) == (entry.total, counts["accepted"], counts["submitted"],
                                                         counts["excused"])
        assert owed == counts["pending"] + counts["returned"]
        assert overdue == entry.overdue
        assert total == accepted + submitted + owed + excused
        date_cell = summary.cell(row=HEADER_ROW + index, column=5)
        assert date_cell.is_date and date_cell.number_format == "dd/mm/yyyy"
        assert due_day == datetime.combine(entry.task.due_at.astimezone(VN).date(), datetime.min.time())
        share_cell = summary.cell(row=HEADER_ROW + index, column=12)
        assert share_cell.data_type == "n" and "%" in share_cell.number_format
        assert share == pytest.approx(entry.delivered / entry.total)
        link = summary.cell(row=HEADER_ROW + index, column=2).hyperlink
        assert link.location == f"'#{entry.task.id}'!A1"
    totals = next(r for r in summary.iter_rows(min_row=HEADER_ROW + len(entries) + 1, values_only=True) if r[1] == "Cộng")
    assert totals[5] == sum(entry.total for entry in entries)
    assert totals[11] == pytest.approx(sum(e.delivered for e in entries) / sum(e.total for e in entries))


async def test_units_sheet_counts_tasks_done_over_tasks_assigned(demo):
    _, entries, log, sheets = demo
    ws = _open(board_workbook(sheets, log, now=NOW, tz=VN))["Theo đơn vị"]
    expected: dict[str, list[int]] = {}
    for entry in entries:
        for state in entry.units:
            tally = expected.setdefault(state.unit.code, [0, 0, 0])
            tally[0] += 1
            tally[1] += state.assignment.status in DONE_STATUSES
            tally[2] += state.overdue
    rows = _rows(ws)
    assert {row[1] for row in rows} == set(expected)
    for stt, code, name, assigned, done, ratio_text, _accepted, _submitted, _owed, overdue, share in rows:
        assert name == UNIT_NAMES[code]
        assert [assigned, done, overdue] == expected[code]
        assert ratio_text == f"{done}/{assigned}"
        assert share == pytest.approx(done / assigned)
    nv = next(row for row in rows if row[1] == "NV")
    assert nv[5] == "2/5"  # accepted CCHC report and the youth report submitted, of five tasks


async def test_each_task_sheet_lists_exactly_its_units_with_vietnamese_statuses(demo):
    _, entries, log, sheets = demo
    wb = _open(board_workbook(sheets, log, now=NOW, tz=VN))
    for index, entry in enumerate(entries, start=1):
        ws = wb[f"#{entry.task.id}"]
        assert ws["A1"].value == entry.task.title
        assert entry.task.deadline_phrase in ws["A2"].value
        rows = _rows(ws)
        assert [row[1] for row in rows] == [state.unit.code for state in entry.units]
        for offset, (row, state) in enumerate(zip(rows, entry.units), start=1):
            stt, code, name, status, round_, submitted_at, late, overdue, unit_due = row
            assert (stt, name) == (offset, state.unit.name)
            assert status == STATUS_LABELS[state.assignment.status]
            assert round_ == (state.assignment.round or None)
            if state.assignment.submitted_at:
                assert submitted_at == _local(state.assignment.submitted_at)
                cell = ws.cell(row=HEADER_ROW + offset, column=6)
                assert cell.is_date and cell.value.tzinfo is None
            else:
                assert submitted_at is None
            assert late == ("có" if state.late else "không")
            assert overdue == ("có" if state.overdue else "không")
            assert unit_due == datetime.combine(state.due_at.astimezone(VN).date(), datetime.min.time())
    cchc = {row[1]: row for row in _rows(wb[f"#{entries[0].task.id}"])}
    assert cchc["NV"][3] == "đã duyệt"
    assert cchc["TP"][3] == "bị trả lại" and cchc["TP"][4] == 1
    assert cchc["VP"][3:8] == ("đã nộp, chờ duyệt", 1, datetime(2026, 11, 28, 10, 15), "có", "không")
    assert cchc["VHTT"][7] == "có"  # still owed after 27/11


async def test_log_sheet_has_the_demo_events_with_actor_names_oldest_first(demo):
    _, entries, log, sheets = demo
    ws = _open(board_workbook(sheets, log, now=NOW, tz=VN))["Nhật ký"]
    rows = _rows(ws)
    assert len(rows) == len(log)
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)
    assert all(isinstance(row[0], datetime) and row[0].tzinfo is None for row in rows)
    assigned = sum(entry.total for entry in entries)
    assert sum(row[5] == "giao nhiệm vụ" for row in rows) == assigned
    numbers = {entry.task.title: f"#{entry.task.id}" for entry in entries}
    for index, code, final in DELIVERED:
        title, unit = TASKS[index].title, UNIT_NAMES[code]
        assert (datetime(2026, 11, 21, 9), numbers[title], title, unit, OFFICERS[code], "nộp báo cáo", "chưa nộp",
                "đã nộp, chờ duyệt", 1, None) in rows
        if final == "accepted":
            assert (datetime(2026, 11, 21, 9), numbers[title], title, unit, COORDINATOR, "duyệt",
                    "đã nộp, chờ duyệt", "đã duyệt", 1, "Hồ sơ đầy đủ") in rows
    assert (datetime(2026, 11, 28, 10, 15), numbers[TASKS[0].title], TASKS[0].title, UNIT_NAMES["TP"], COORDINATOR,
            "trả lại", "đã nộp, chờ duyệt", "bị trả lại", 1, "Thiếu Phụ lục 2") in rows
    assert rows[-1][5] == "miễn nộp" and rows[-1][4] == LEADER


async def test_load_log_filters_and_keeps_the_newest_when_limited(demo):
    db, entries, log, _ = demo
    assert [row.at for row in log] == sorted(row.at for row in log)
    assert isinstance(log[0], LogRow) and log[0].at.tzinfo is not None
    async with db.session() as session:
        nv = await unit_by_code(session, "NV")
        mine = await load_log(session, unit_id=nv.id)
        one_task = await load_log(session, task_id=entries[0].task.id)
        newest = await load_log(session, limit=3)
        both = await load_log(session, task_id=entries[0].task.id, unit_id=nv.id)
    assert mine and {row.unit_name for row in mine} == {"Phòng Nội vụ"}
    assert {row.task_title for row in one_task} == {entries[0].task.title}
    assert newest == log[-3:]
    assert [(row.kind, row.to_status) for row in both] == [("assigned", "pending"), ("status", "submitted"),
                                                           ("status", "accepted")]


async def test_system_events_have_no_actor(demo):
    db, entries, _, sheets = demo
    async with db.session() as session:
        from storage.models import ReminderSent

        assignment = entries[0].units[0].assignment
        session.add(ReminderSent(assignment_id=assignment.id, round=0, rung="tomorrow", due_at=entries[0].task.due_at,
                                 unit_id=assignment.unit_id, created_at=NOW))  # a reminder's record is its log entry
        await session.commit()
        log = await load_log(session)
    assert log[-1].actor_name is None and log[-1].note == "nhắc: mai đến hạn"
    rows = _rows(_open(board_workbook(sheets, log, now=NOW, tz=VN))["Nhật ký"])
    assert rows[-1][4:6] == ("(hệ thống)", "nhắc việc")


def test_an_empty_board_says_there_is_no_task():
    wb = _open(board_workbook([], [], now=NOW, tz=VN))
    assert wb.sheetnames == ["Tổng hợp", "Theo đơn vị", "Nhật ký"]
    summary = wb["Tổng hợp"]
    assert _header(summary) == SUMMARY_HEADERS
    assert summary.cell(row=HEADER_ROW + 1, column=1).value == "Chưa có nhiệm vụ nào."
    assert "Chưa có nhiệm vụ nào" in wb["Theo đơn vị"].cell(row=HEADER_ROW + 1, column=1).value


def _hand_made_board(title: str, note_unit: str) -> list[SheetTask]:
    due = vn(2026, 12, 1, 23, 59, 59)
    task = Task(id=1, title=title, due_at=due, deadline_phrase="hạn 01/12", created_at=LOADED)
    line = UnitLine(1, 1, 1, "X", note_unit, "commune", "pending", due, None, overdue=False, late=False,
                    extended=False)
    return [SheetTask(TaskSummary(task, "=1+1", None, Counter(pending=1)), [line])]


def test_text_that_looks_like_a_formula_stays_text_and_control_characters_are_dropped():
    entries = _hand_made_board('=HYPERLINK("http://x","bấm")', "Xã\x07 Mới")
    wb = _open(board_workbook(entries, [], now=NOW, tz=VN))
    cell = wb["Tổng hợp"].cell(row=HEADER_ROW + 1, column=2)
    assert cell.value == '=HYPERLINK("http://x","bấm")' and cell.data_type == "s"
    assert wb["Tổng hợp"].cell(row=HEADER_ROW + 1, column=3).data_type == "s"
    assert wb["#1"].cell(row=HEADER_ROW + 1, column=3).value == "Xã Mới"


# --- the chart --------------------------------------------------------------------------------


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _chart(entries) -> tuple[bytes, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = board_chart(entries, now=NOW, tz=VN)
    return data, caught


async def test_chart_is_a_small_png_without_missing_glyphs(demo):
    _, entries, _, _ = demo
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph … missing from font(s)" would raise here
        data = board_chart(entries, now=NOW, tz=VN)
    width, height = _png_size(data)
    assert (width, height) == (1100, round(chart_height(len(entries)) * 100))
    assert len(data) < 300_000
    from matplotlib.image import imread

    pixels = imread(io.BytesIO(data))
    assert pixels.shape[:2] == (height, width)
    reds = ((pixels[..., 0] > 0.75) & (pixels[..., 1] < 0.3) & (pixels[..., 2] < 0.3)).sum()
    assert reds > 1000  # the overdue segments are drawn


async def test_chart_grows_with_the_tasks_up_to_the_cap(demo):
    _, entries, _, _ = demo
    heights = {}
    for count in (0, 1, 3, len(entries), MAX_CHART_TASKS, MAX_CHART_TASKS + 1, MAX_CHART_TASKS + 12):
        data, caught = _chart([entries[i % len(entries)] for i in range(count)])
        assert not [w for w in caught if "Glyph" in str(w.message)]
        heights[count] = _png_size(data)[1]
    assert heights[1] < heights[3] < heights[len(entries)] < heights[MAX_CHART_TASKS]
    assert heights[MAX_CHART_TASKS + 1] == heights[MAX_CHART_TASKS + 12]  # the rest is one footnote
    assert heights[MAX_CHART_TASKS + 12] - heights[MAX_CHART_TASKS] < 50
    assert heights[0] > 0


def test_labels_are_shortened_with_an_ellipsis():
    title = "Báo cáo kết quả thực hiện Bản cam kết số 07/CK-BCĐCCHC (PAR Index, SIPAS, PAPI, PCI)"
    short = shorten(title, 40)
    assert len(short) <= 40 and short.endswith("…") and title.startswith(short[:-1])
    assert shorten("Báo cáo ngắn") == "Báo cáo ngắn"



async def test_dollar_signs_in_a_title_are_drawn_as_text(demo):
    """Matplotlib reads "$…$" as TeX: an unbalanced or bad one used to crash the chart (digest, /export)."""
    import dataclasses

    _, entries, _, _ = demo
    titles = ["Báo cáo $x^2$ quý 3", "Chi phí $5 và $", r"Kế hoạch $\frac{$", "$$$"]
    odd = [dataclasses.replace(entries[0], task=entries[0].task.model_copy(update={"title": title}))
           for title in titles]
    assert [entry.task.title for entry in odd] == titles
    data, _ = _chart(odd)
    assert _png_size(data)[0] == 1100
