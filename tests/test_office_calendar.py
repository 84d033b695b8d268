"""The office's calendar: default corrections, CALENDAR_FILE, overrides in the database, and the ladder they move."""

from __future__ import annotations

import json
from datetime import date, time

import pytest
from sqlmodel import select

from schedules.calendar import WorkCalendar
from schedules.ladder import DEFAULT_LADDER, AssignmentView, schedule
from schedules.office_calendar import OfficeCalendar, load_calendar_file, parse_day
from storage.calendar_days import set_override
from storage.models import AuditEvent, CalendarDay
from tests.conftest import VN, call, vn

QUIET = (time(21), time(7))


def test_the_2026_new_year_swap_is_applied_by_default() -> None:
    raw = WorkCalendar()
    assert raw.is_working_day(date(2026, 1, 2)) and not raw.is_working_day(date(2026, 1, 10))  # the package lags
    office = OfficeCalendar(WorkCalendar())
    office.apply()
    cal = office.calendar
    assert not cal.is_working_day(date(2026, 1, 2))
    assert cal.is_working_day(date(2026, 1, 10))
    # Working days from Wed 31/12/2025 to Mon 12/01/2026: 05, 06, 07, 08, 09, Sat 10, 12 (01 and 02 off).
    assert cal.working_days_between(date(2025, 12, 31), date(2026, 1, 12)) == 7
    sources = {(d, kind.value, src) for d, kind, _, src in office.year(2026)}
    assert (date(2026, 1, 2), "off", "default") in sources
    assert (date(2026, 1, 10), "work", "default") in sources
    assert (date(2026, 1, 1), "off", "package") in sources
    assert (date(2026, 8, 22), "work", "package") in sources


def view(due):
    created = vn(2026, 1, 1, 8)
    return AssignmentView(1, 1, 1, "pending", 0, due, created, created)


def rungs(cal: WorkCalendar, due) -> dict[str, object]:
    return {rung.name: at for at, rung in schedule(view(due), DEFAULT_LADDER, cal, VN, QUIET)}


def test_the_swap_and_an_office_override_move_the_ladder() -> None:
    due = vn(2026, 1, 6, 23, 59, 59)  # Tuesday 06/01/2026
    before = rungs(WorkCalendar(), due)
    assert before["soon"] == vn(2025, 12, 31, 7, 30)  # package: Fri 02/01 is a working day
    office = OfficeCalendar(WorkCalendar())
    office.apply()
    assert rungs(office.calendar, due)["soon"] == vn(2025, 12, 30, 7, 30)  # Fri 02/01 off: one day earlier
    # The office closes Monday 05/01 too, and works Sunday 11/01.
    office.file_overrides = load_overrides_json({"2026-01-05": "off", "2026-01-11": "work"})
    office.apply()
    after = rungs(office.calendar, due)
    assert after["tomorrow"] == vn(2025, 12, 31, 7, 30)  # Thu 01, Fri 02 and Mon 05 off
    assert after["overdue"] == vn(2026, 1, 7, 7, 30)
    assert after["escalated"] == vn(2026, 1, 9, 7, 30)


def load_overrides_json(mapping):
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp())
    path = folder / "cal.json"
    path.write_text(json.dumps(mapping))
    return load_calendar_file(path)


async def test_overrides_are_stored_audited_and_refresh_the_shared_calendar(db, clock) -> None:
    office = OfficeCalendar(WorkCalendar())
    shared = office.calendar  # what the ladder, the digest and the texts hold
    async with db.session() as session:
        assert await office.refresh(session) is True
        assert shared.is_working_day(date(2026, 3, 2))
        await set_override(session, date(2026, 3, 2), "off", "QĐ 15/QĐ-UBND nghỉ bầu cử", actor="cli", now=clock.now())
        assert await office.refresh(session) is True
        assert not shared.is_working_day(date(2026, 3, 2))
        assert await office.refresh(session) is False  # nothing new: nothing rebuilt
        await set_override(session, date(2026, 3, 2), "work", "Hủy nghỉ", actor="cli", now=clock.now())
        await office.refresh(session)
        assert shared.is_working_day(date(2026, 3, 2))
    async with db.session() as session:
        rows = (await session.exec(select(CalendarDay))).all()
        assert [(r.day, r.kind) for r in rows] == [(date(2026, 3, 2), "work")]
        audit = (await session.exec(select(AuditEvent).order_by(AuditEvent.id))).all()
        assert [a.action for a in audit] == ["calendar_off", "calendar_work"]
        assert audit[1].details["previous"] == {"kind": "off", "reason": "QĐ 15/QĐ-UBND nghỉ bầu cử"}


async def test_an_office_override_beats_the_default_and_the_file(db, clock) -> None:
    office = OfficeCalendar(WorkCalendar(), load_overrides_json({"2026-01-02": "work"}))
    office.apply()
    assert office.calendar.is_working_day(date(2026, 1, 2))  # the file beats the default
    async with db.session() as session:
        await set_override(session, date(2026, 1, 2), "off", "Theo thông báo", actor="cli", now=clock.now())
        await office.refresh(session)
    assert not office.calendar.is_working_day(date(2026, 1, 2))
    assert ("office" in {src for d, _, _, src in office.year(2026) if d == date(2026, 1, 2)})


@pytest.mark.parametrize("text", ["30/02/2026", "2026-02-30", "32/1/2026", "hôm qua", "1/2", ""])
def test_dates_that_do_not_exist_are_refused_in_vietnamese(text) -> None:
    with pytest.raises(ValueError, match="không tồn tại"):
        parse_day(text)


def test_parse_day_accepts_both_forms() -> None:
    assert parse_day("02/01/2026") == parse_day("2026-01-02") == date(2026, 1, 2)


@pytest.mark.parametrize("content, message", [
    ("not json", "không phải JSON"),
    ('["2026-01-02"]', "đối tượng JSON"),
    ('{"2026-02-30": "off"}', "không tồn tại"),
    ('{"2026-01-02": "holiday"}', '"off" hoặc "work"'),
])
def test_a_bad_calendar_file_stops_start_up_naming_the_key(env, content, message, monkeypatch) -> None:
    (env / "cal.json").write_text(content)
    monkeypatch.setenv("CALENDAR_FILE", str(env / "cal.json"))
    result = call("calendar", "show", "2026")
    assert result.exit_code == 2
    assert "CALENDAR_FILE" in result.output and message in result.output


def test_cli_off_work_show_and_bad_input(env, monkeypatch) -> None:
    (env / "cal.json").write_text('{"2026-12-31": "off"}')
    monkeypatch.setenv("CALENDAR_FILE", str(env / "cal.json"))
    bad = call("calendar", "off", "30/02/2026", "--reason", "x")
    assert bad.exit_code == 1 and "không tồn tại" in bad.output and "Không ghi gì" in bad.output
    for year in ("2301", "năm nay"):
        bad_year = call("calendar", "show", year)
        assert bad_year.exit_code == 1 and f"Năm «{year}» không hợp lệ" in bad_year.output
    no_reason = call("calendar", "off", "02/03/2026", "--reason", "  ")
    assert no_reason.exit_code == 1 and "lý do" in no_reason.output
    ok = call("calendar", "off", "02/03/2026", "--reason", "Nghỉ bầu cử")
    assert ok.exit_code == 0, ok.output
    assert "thứ Hai 02/03/2026 là ngày nghỉ" in ok.output and "ngày nghỉ." in ok.output
    assert call("calendar", "work", "2026-03-07", "--reason", "Làm bù").exit_code == 0
    shown = call("calendar", "show", "2026")
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert "  thứ Hai 02/03/2026 — Nghỉ bầu cử [cơ quan]" in lines
    assert "  thứ Bảy 07/03/2026 — Làm bù [cơ quan]" in lines
    assert any(line.startswith("  thứ Sáu 02/01/2026") and "[điều chỉnh mặc định]" in line for line in lines)
    assert any(line.startswith("  thứ Năm 31/12/2026") and "[tệp CALENDAR_FILE]" in line for line in lines)
    assert any(line.startswith("  thứ Năm 01/01/2026 — Tết Dương lịch [gói holidays]") for line in lines)


async def test_an_office_day_off_in_the_database_moves_the_running_apps_reminders(tmp_path) -> None:
    """The app's one calendar (ladder, texts, digest) picks up a day off stored in the database."""
    from collections import Counter

    from bot import jobs
    from bot.app import build_app
    from bot.demo import load_demo
    from bot.settings import load_settings
    from schedules.clock import FixedClock
    from storage.migrate import upgrade

    loaded = vn(2026, 11, 23, 9)
    app = build_app(load_settings(data_dir=tmp_path / "data"), clock=FixedClock(loaded))
    try:
        await upgrade(app.db)
        await load_demo(app.db, now=loaded, tz=VN)
        await app.refresh_calendar()
        monday = vn(2026, 11, 30, 7, 45)

        async def rungs() -> Counter:
            return Counter(item.rung.name for p in await jobs.tick(app, monday, dry_run=True) for item in p.items)

        before = await rungs()
        assert before["soon"] == 0 and before["tomorrow"] > 0
        async with app.db.session() as session:
            await set_override(session, date(2026, 12, 1), "off", "Nghỉ theo QĐ của tỉnh", actor="test", now=loaded)
        assert await app.refresh_calendar() is True
        assert app.ctx.calendar is app.calendar and not app.ctx.calendar.is_working_day(date(2026, 12, 1))
        after = await rungs()
        # Tuesday 01/12 is off: every rung counted across it moves a working day earlier, onto Monday
        # ("soon" of the tasks due Friday 04/12, "today"/"tomorrow" of the ones due just after the day off).
        assert after["soon"] > 0 and after["tomorrow"] == 0 and after["today"] > 0
    finally:
        await app.close()
