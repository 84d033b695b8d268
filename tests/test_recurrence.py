"""Recurring tasks: periods, labels, data periods and deadline rules; each period its own task, opened once."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from bot.demo import load_demo
from handlers.recurring import make_recurring, open_due_periods
from schedules.recurrence import (
    Frequency,
    RecurrenceError,
    check_rule,
    make_period,
    parse_frequency,
    parse_period,
    parse_rule,
    period_starts,
)
from storage.models import Assignment, AuditEvent, StatusEvent, Task, TaskSeries
from storage.queries import resolve_units
from storage.series import SeriesProblem, stop_series
from tests.conftest import VN, call, vn

SEED_001_RULE = "trước ngày 01 của tháng đầu quý sau"


def test_a_quarterly_series_across_a_year_boundary_with_its_data_periods() -> None:
    """Seed 001: the quarter's report covers 01/12 of the previous year to the end of February, due before 01/3."""
    rule = parse_rule(SEED_001_RULE)
    starts = period_starts(Frequency.quarterly, parse_period("Quý III/2027", Frequency.quarterly), 4)
    periods = [make_period(Frequency.quarterly, start, rule, -1, VN) for start in starts]
    assert [(p.label, p.data_start, p.data_end, p.due_day) for p in periods] == [
        ("Quý III/2027", date(2027, 6, 1), date(2027, 8, 31), date(2027, 8, 31)),
        ("Quý IV/2027", date(2027, 9, 1), date(2027, 11, 30), date(2027, 11, 30)),
        ("Quý I/2028", date(2027, 12, 1), date(2028, 2, 29), date(2028, 2, 29)),  # leap year
        ("Quý II/2028", date(2028, 3, 1), date(2028, 5, 31), date(2028, 5, 31)),
    ]
    assert periods[2].due_at == vn(2028, 2, 29, 23, 59, 59)
    assert periods[2].phrase.startswith("trước ngày 01/03/2028")
    assert periods[2].opens_at == vn(2027, 12, 1)


@pytest.mark.parametrize("rule, frequency, start, expected", [
    ("ngày 20 tháng cuối quý", Frequency.quarterly, date(2027, 1, 1), date(2027, 3, 20)),
    ("Ngày 20 tháng cuối quý", Frequency.quarterly, date(2027, 10, 1), date(2027, 12, 20)),
    ("trước ngày 01 của tháng đầu quý sau", Frequency.quarterly, date(2027, 10, 1), date(2027, 12, 31)),
    ("chậm nhất ngày 05 tháng đầu kỳ sau", Frequency.half_yearly, date(2027, 7, 1), date(2028, 1, 5)),
    ("ngày 10 tháng thứ hai của quý", Frequency.quarterly, date(2027, 4, 1), date(2027, 5, 10)),
    ("ngày 25 hằng tháng", Frequency.monthly, date(2027, 2, 1), date(2027, 2, 25)),
    ("trước ngày 15 tháng sau", Frequency.monthly, date(2027, 12, 1), date(2028, 1, 14)),
    ("ngày 15 tháng cuối năm", Frequency.yearly, date(2027, 1, 1), date(2027, 12, 15)),
])
def test_deadline_rules(rule, frequency, start, expected) -> None:
    assert make_period(frequency, start, parse_rule(rule), 0, VN).due_day == expected


@pytest.mark.parametrize("text, frequency, expected", [
    ("Quý I/2027", Frequency.quarterly, date(2027, 1, 1)), ("IV/2027", Frequency.quarterly, date(2027, 10, 1)),
    ("Q2/2027", Frequency.quarterly, date(2027, 4, 1)), ("Tháng 3/2027", Frequency.monthly, date(2027, 3, 1)),
    ("6 tháng cuối năm 2027", Frequency.half_yearly, date(2027, 7, 1)), ("Năm 2028", Frequency.yearly, date(2028, 1, 1)),
])
def test_periods_as_people_name_them(text, frequency, expected) -> None:
    assert parse_period(text, frequency) == expected


@pytest.mark.parametrize("call_, message", [
    (lambda: parse_rule("abc"), "không hiểu được"),
    (lambda: parse_rule("ngày 40 tháng cuối quý"), "không có trong tháng nào"),
    (lambda: check_rule(Frequency.quarterly, date(2027, 1, 1), parse_rule("ngày 31 tháng cuối quý"), 0, VN),
     "không cho ra ngày nào ở kỳ Quý II/2027"),
    (lambda: check_rule(Frequency.monthly, date(2027, 1, 1), parse_rule("ngày 30 hằng tháng"), 0, VN),
     "Tháng 2/2027"),
    (lambda: parse_period("Quý V/2027", Frequency.quarterly), "Quý I/2027"),
    (lambda: parse_period("2027", Frequency.monthly), "Tháng 3/2027"),
    (lambda: parse_frequency("weekly"), "quarterly"),
    (lambda: check_rule(Frequency.quarterly, date(2027, 1, 1), parse_rule("ngày 25 hằng tháng"), 0, VN),
     "không dùng được cho chu kỳ hằng quý"),
])
def test_bad_rules_periods_and_frequencies_are_refused_in_vietnamese(call_, message) -> None:
    with pytest.raises(RecurrenceError, match=message):
        call_()


async def test_each_period_is_its_own_task_opened_once_when_its_data_period_begins(db) -> None:
    await load_demo(db, now=vn(2026, 11, 2, 8), tz=VN)
    made_at = vn(2026, 11, 20, 9)
    async with db.session() as session:
        units = await resolve_units(session, "group:xa")
        new = await make_recurring(session, title="Báo cáo CCHC", every="quarterly", rule=SEED_001_RULE,
                                   period="Quý I/2027", data_offset=-1, units=units, now=made_at, tz=VN, actor="test")
        assert new.opened == []  # the data period of Q1/2027 starts 01/12/2026
        series_id = new.series.id
    async with db.session() as session:
        assert await open_due_periods(session, now=vn(2026, 11, 30, 23, 59), tz=VN) == []
    for _ in range(2):  # the tick runs every minute: the period opens once
        async with db.session() as session:
            opened = await open_due_periods(session, now=vn(2026, 12, 1, 0, 1), tz=VN)
    async with db.session() as session:
        tasks = (await session.exec(select(Task).where(Task.series_id == series_id))).all()
        assert [(t.title, t.period_label, t.data_start, t.data_end) for t in tasks] == [
            ("Báo cáo CCHC — Quý I/2027", "Quý I/2027", date(2026, 12, 1), date(2027, 2, 28))]
        assignments = (await session.exec(select(Assignment).where(Assignment.task_id == tasks[0].id))).all()
        assert len(assignments) == len(units)
        assert tasks[0].due_at == vn(2027, 2, 28, 23, 59, 59)
    assert opened == []  # the second run found nothing new
    # A year later (after downtime) the missed periods are all made, each with its own assignments.
    async with db.session() as session:
        caught_up = await open_due_periods(session, now=vn(2027, 9, 1, 7), tz=VN)
    assert [t.period_label for t in caught_up] == ["Quý II/2027", "Quý III/2027", "Quý IV/2027"]
    async with db.session() as session:
        await stop_series(session, series_id, reason="Tỉnh đổi mẫu báo cáo", now=vn(2027, 9, 2), actor="cli")
    async with db.session() as session:
        assert await open_due_periods(session, now=vn(2028, 6, 1), tz=VN) == []
        series = await session.get(TaskSeries, series_id)
        assert not series.active and series.stop_reason == "Tỉnh đổi mẫu báo cáo"
        actions = [a.action for a in (await session.exec(select(AuditEvent).where(
            AuditEvent.action.like("series.%")).order_by(AuditEvent.id))).all()]
        assert actions == ["series.created"] + ["series.period_opened"] * 4 + ["series.stopped"]
        with pytest.raises(SeriesProblem, match="đã dừng"):
            await stop_series(session, series_id, reason="lại", now=vn(2027, 9, 3), actor="cli")
        events = (await session.exec(select(StatusEvent).where(StatusEvent.kind == "assigned"))).all()
        assert len(events) >= 4 * len(units)


def test_cli_recurring_task_add_series_stop_and_bad_input(env) -> None:
    assert call("demo").exit_code == 0
    bad = call("task", "add", "--title", "X", "--deadline", "ngày 31 tháng cuối quý", "--units", "NV",
               "--every", "quarterly", "--period", "Quý I/2027")
    assert bad.exit_code == 1 and "chưa ghi gì" in bad.output and "Quý II/2027" in bad.output
    assert "Chưa có nhiệm vụ định kỳ" in call("task", "series").output
    wrong = call("task", "add", "--title", "X", "--deadline", "chậm nhất ngày 15/12/2026", "--units", "NV",
                 "--period", "Quý I/2027")
    assert wrong.exit_code == 1 and "--every" in wrong.output
    ok = call("task", "add", "--title", "Báo cáo CCHC", "--deadline", SEED_001_RULE, "--units", "group:xa",
              "--every", "quarterly", "--period", "Quý I/2027", "--data-offset", "-1")
    assert ok.exit_code == 0, ok.output
    assert "số liệu từ 01/12/2026 đến 28/02/2027" in ok.output and "Định kỳ số 1" in ok.output
    assert "Quý I/2027" not in call("task", "list").output
    assert call("tick", "--at", "2026-12-01 08:00").exit_code == 0  # the tick opens the period
    listed = call("task", "list").output
    assert "Báo cáo CCHC — Quý I/2027" in listed and "trước ngày 01/03/2027" in listed
    stopped = call("task", "stop", "1", "--reason", "Không cần nữa")
    assert stopped.exit_code == 0 and "đã dừng" in stopped.output
    again = call("task", "stop", "1", "--reason", "x")
    assert again.exit_code == 1 and "đã dừng từ trước" in again.output


@pytest.mark.parametrize("text, frequency, period", [
    ("V/v báo cáo công tác cải cách hành chính quý I năm 2024", "quarterly", "Quý I/2024"),
    ("thực hiện chế độ báo cáo định kỳ hằng quý", "quarterly", None),
    ("Định kỳ 6 tháng, các đơn vị báo cáo kết quả", "half-yearly", None),
    ("báo cáo kết quả hằng tháng về Phòng Nội vụ", "monthly", None),
    ("định kỳ hằng năm gửi báo cáo", "yearly", None),
])
def test_a_letter_asking_for_a_periodic_report_proposes_a_recurring_task(text, frequency, period) -> None:
    from schedules.recurrence import detect_recurrence

    hint = detect_recurrence(text)
    assert hint is not None and (hint.frequency.value, hint.period) == (frequency, period)


@pytest.mark.parametrize("text", ["Kế hoạch cải cách hành chính hằng năm của huyện", "ngày tháng năm 2024",
                                  "báo cáo trước ngày 15/11/2024", "định kỳ hằng tuần tổ chức rà soát"])
def test_no_recurring_proposal_without_a_periodic_report(text) -> None:
    from schedules.recurrence import detect_recurrence

    assert detect_recurrence(text) is None


def test_the_seed_letters_quarterly_report_is_proposed(env) -> None:
    from tests.conftest import SEEDS

    seed = next(SEEDS.glob("001_*.txt"), None)
    if seed is None:
        pytest.skip(f"seed letters not found at {SEEDS}")
    assert call("demo").exit_code == 0
    result = call("letter", "import", str(seed), "--dry-run")
    assert "🔁 Văn bản yêu cầu báo cáo định kỳ hằng quý (Quý I/2024)" in result.output
    assert "--every quarterly --period «Quý I/2024»" in result.output


async def chat_office(db):
    """The demo with everyone in the console chat (``tests.test_extensions.Office``)."""
    from schedules.clock import FixedClock
    from tests.test_extensions import NOW, Office

    await load_demo(db, now=NOW, tz=VN)
    office = Office(db, FixedClock(NOW))
    await office.bind_everyone()
    return office


async def test_coordinators_make_list_and_stop_a_series_in_chat(sqlite_db) -> None:
    from tests.test_extensions import AN, HUONG, VINH

    office = await chat_office(sqlite_db)
    empty = await office.say(HUONG, "/dinhky")
    assert "Chưa có nhiệm vụ định kỳ nào" in empty[0].text and "/dinhky Báo cáo CCHC" in empty[0].text
    assert "không được" in (await office.say(AN, "/dinhky"))[0].text.lower()
    for bad, message in (("/dinhky Báo cáo; hằng quý", "Thiếu"),
                         ("/dinhky Báo cáo; hằng tuần; ngày 20 tháng cuối quý; NV", "Chu kỳ «hằng tuần»"),
                         ("/dinhky Báo cáo; hằng quý; ngày 31 tháng cuối quý; NV; Quý I/2027", "Quý II/2027"),
                         ("/dinhky Báo cáo; hằng quý; ngày 20 tháng cuối quý; KHONGCO", "KHONGCO")):
        reply = await office.say(HUONG, bad)
        assert message in reply[0].text and "chưa ghi gì" in reply[0].text, reply[0].text
    async with sqlite_db.session() as session:
        assert (await session.exec(select(TaskSeries))).all() == []
    assert "Chỉ Phòng Nội vụ" in (await office.say(VINH, "/dinhky X; hằng quý; ngày 20 tháng cuối quý; NV"))[0].text
    made = await office.say(HUONG, "/dinhky Báo cáo CCHC; hằng quý; trước ngày 01 của tháng đầu quý sau; group: xa")
    assert "Định kỳ số 1: Báo cáo CCHC (hằng quý" in made[0].text
    assert "Đã mở nhiệm vụ #" in made[0].text and "Quý IV/2026" in made[0].text  # the current quarter, still due
    listed = await office.say(VINH, "/dinhky")
    assert "Định kỳ số 1" in listed[0].text and "đang chạy" in listed[0].text
    stopped = await office.say(HUONG, "/dinhky dung 1 Tỉnh đổi mẫu")
    assert "đã dừng" in stopped[0].text and "Tỉnh đổi mẫu" in stopped[0].text
    assert "đã dừng từ trước" in (await office.say(HUONG, "/dinhky dung 1 lại"))[0].text
    # seed 001: the quarter's figures run from the month before it (Quý I: 01/12 of the year before to 28/02)
    offset = await office.say(HUONG, "/dinhky Báo cáo CCHC quý; hằng quý; trước ngày 01 của tháng đầu quý sau; NV; "
                                     "Quý I/2027; số liệu lệch -1")
    assert "Định kỳ số 2" in offset[0].text and "kỳ số liệu lệch -1 tháng" in offset[0].text, offset[0].text
    async with sqlite_db.session() as session:
        series = (await session.exec(select(TaskSeries).where(TaskSeries.id == 2))).one()
    assert series.data_offset_months == -1
    for bad, message in (("số liệu lệch -20", "chưa ghi gì"), ("Quý II/2027; Quý III/2027", "Không hiểu phần")):
        reply = await office.say(HUONG, f"/dinhky X; hằng quý; ngày 20 tháng cuối quý; NV; Quý I/2027; {bad}"
                                 if "Quý II" not in bad else f"/dinhky X; hằng quý; ngày 20 tháng cuối quý; NV; {bad}")
        assert message in reply[0].text, reply[0].text


async def test_a_periodic_letter_in_chat_proposes_a_dinhky_line_that_works(sqlite_db) -> None:
    """In chat the proposal is a /dinhky line (not a shell command); sent as it is, it creates the series."""
    from handlers.recurring import recurrence_hint_lines
    from tests.test_extensions import HUONG

    text = "Báo cáo tình hình thực hiện cải cách hành chính định kỳ hằng quý, bắt đầu từ báo cáo quý I năm 2027"
    lines = recurrence_hint_lines(text, chat_title="Báo cáo CCHC quý", chat_units=("NV",))
    (command,) = [line for line in lines if line.startswith("/dinhky ")]
    assert "dondoc" not in "\n".join(lines)
    many = recurrence_hint_lines(text, chat_title="X", chat_units=tuple(f"XA{i}" for i in range(20)))
    assert command.endswith("; NV; Quý I/2027") and "; ĐƠN VỊ; Quý I/2027" in many[-1]
    office = await chat_office(sqlite_db)
    made = await office.say(HUONG, command)
    assert "Định kỳ số 1: Báo cáo CCHC quý (hằng quý" in made[0].text, made[0].text
