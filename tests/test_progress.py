"""Progress counts: «12/15» read and confirmed; bad counts refused; per unit and total, with history, on
the board, in the digest and in the export."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from bot.demo import load_demo
from handlers.progress import NotACount, parse_count
from schedules.calendar import WorkCalendar
from schedules.clock import FixedClock
from storage.models import Assignment, ProgressCount, StatusEvent
from storage.queries import create_task, resolve_units
from tests.conftest import VN, vn
from tests.test_extensions import AN, NOW, VINH, Office

VAN = "Phạm Thị Vân"  # officer, BENQUAN


@pytest.mark.parametrize("text, total, expected", [
    ("12/15", None, (12, 15)), ("12 / 15", None, (12, 15)),
    ("đã hoàn thành 12 trên 15 nhiệm vụ", None, (12, 15)),
    ("Đơn vị đã hoàn thành 12 nhiệm vụ trên 15 nhiệm vụ được giao", None, (12, 15)),
    ("hoàn thành 9 trong tổng số 93", None, (9, 93)), ("12", 15, (12, 15)),
])
def test_counts_as_units_write_them(text, total, expected) -> None:
    assert parse_count(text, total) == expected


@pytest.mark.parametrize("text", ["abc", "12", "1/2 và 3/4", ""])
def test_not_a_count(text) -> None:
    with pytest.raises(NotACount):
        parse_count(text, None)


@pytest.fixture
async def office(db):
    await load_demo(db, now=NOW, tz=VN)
    office = Office(db, FixedClock(NOW))
    await office.bind_everyone()
    async with db.session() as session:
        units = await resolve_units(session, "HOXA,BENQUAN")
        task, _ = await create_task(session, title="Kết quả thực hiện KH CCHC năm 2026", due_at=vn(2026, 12, 15, 23, 59, 59),
                                    deadline_phrase="chậm nhất ngày 15/12/2026", units=units, now=NOW)
        task.count_mode = "count"
        fixed, _ = await create_task(session, title="Nhiệm vụ giao theo QĐ 3690", due_at=vn(2026, 12, 20, 23, 59, 59),
                                     deadline_phrase="chậm nhất ngày 20/12/2026",
                                     units=[u for u in units if u.code == "BENQUAN"], now=NOW)
        fixed.count_mode, fixed.count_total = "count+file", 12
        office.task_id, office.fixed_id = task.id, fixed.id
    return office


async def counts(office) -> list[tuple[int, int]]:
    async with office.db.session() as session:
        return [(r.done, r.total) for r in (await session.exec(select(ProgressCount).order_by(ProgressCount.id))).all()]


async def test_a_count_is_confirmed_and_delivers_the_task(office) -> None:
    for bad, message in (("/tiendo 12/0", "lớn hơn 0"), ("/tiendo abc", "Không đọc được"),
                         ("/tiendo 15/12", "không thể lớn hơn"), ("/tiendo", "ví dụ")):
        reply = await office.say(AN, bad)
        assert message in reply[0].text, reply[0].text
    assert await counts(office) == []
    ok = await office.say(AN, "/tiendo đã hoàn thành 12 trên 15 nhiệm vụ")
    assert "Đã ghi: Thị trấn Hồ Xá hoàn thành 12/15 (80%)" in ok[0].text and f"#{office.task_id}" in ok[0].text
    async with office.db.session() as session:
        assignment = await session.get(Assignment, (await office.assignment("HOXA", 7)).id)
        assert assignment.task_id == office.task_id and assignment.status == "submitted"
        kinds = [(e.kind, e.to_status, e.note) for e in (await session.exec(select(StatusEvent).where(
            StatusEvent.assignment_id == assignment.id).order_by(StatusEvent.id))).all()]
    assert kinds[-1] == ("status", "submitted", "Báo cáo tiến độ: 12/15")
    office.clock.set(vn(2026, 11, 25, 9))
    again = await office.say(AN, "13/15")  # plain text, a unit with one count task
    assert "13/15" in again[0].text
    chatter = await office.say(AN, "Cảm ơn anh chị")
    assert "13/15" not in chatter[0].text
    assert await counts(office) == [(12, 15), (13, 15)]


async def test_a_fixed_total_is_checked(office) -> None:
    several = await office.say(VAN, "/tiendo 10/12")
    assert "ghi rõ số nhiệm vụ" in several[0].text
    wrong = await office.say(VAN, f"/tiendo #{office.fixed_id} 12/15")
    assert "được giao 12 nhiệm vụ, không phải 15" in wrong[0].text
    assert await counts(office) == []
    ok = await office.say(VAN, f"/tiendo #{office.fixed_id} 10")
    assert "10/12" in ok[0].text
    async with office.db.session() as session:
        assignment = (await session.exec(select(Assignment).where(Assignment.task_id == office.fixed_id))).one()
        assert assignment.status == "pending"  # a file is still owed


async def test_board_digest_and_export_show_units_total_and_history(office) -> None:
    await office.say(AN, f"/tiendo #{office.task_id} 9/15")
    office.clock.set(vn(2026, 11, 30, 9))
    await office.say(AN, f"/tiendo #{office.task_id} 12/15")
    await office.say(VAN, f"/tiendo #{office.task_id} 3/10")
    status = await office.say(VINH, "/status")
    board = status[-1].text
    assert f"#{office.task_id} Kết quả thực hiện KH CCHC năm 2026: tổng 15/25 (60%), 2/2 đơn vị đã báo cáo" in board
    assert "• Thị trấn Hồ Xá: 12/15 (80%) (trước: 9/15 ngày 23/11/2026)" in board
    assert "• Thị trấn Bến Quan: 3/10 (30%)" in board
    per_task = await office.press(VINH, f"task:{office.task_id}")
    assert "tổng 15/25" in per_task[-1].text
    one = await office.say(VINH, f"/tiendo #{office.task_id}")
    assert "• Thị trấn Bến Quan: 3/10 (30%)" in one[0].text
    from handlers.progress import progress, render_task

    async with office.db.session() as session:
        (entry,) = await progress(session, task_id=office.task_id)
    capped = render_task(entry, VN, cap=1)
    assert capped[-1] == f"   … và 1 đơn vị khác: /tiendo #{office.task_id} hoặc /export (trang «Tiến độ»)"
    assert len(capped) == 3
    officer = await office.say(AN, "/status")
    assert all("🔢" not in r.text for r in officer)

    from handlers.digest import build_digest

    async with office.db.session() as session:
        digest = await build_digest(session, now=vn(2026, 12, 1, 7, 30), tz=VN, calendar=WorkCalendar(), since=None)
    assert f"• #{office.task_id} Kết quả thực hiện KH CCHC năm 2026: 15/25 (60%), 2/2 đơn vị đã báo cáo" in digest.text

    export = await office.say(VINH, "/export")
    document = next(r.document for r in export if r.document is not None)
    ws = load_workbook(io.BytesIO(document.data))["Tiến độ"]
    rows = [tuple(row) for row in ws.iter_rows(values_only=True)]
    assert (f"#{office.task_id}", "Kết quả thực hiện KH CCHC năm 2026", "Thị trấn Hồ Xá", 12, 15, 0.8,
            vn(2026, 11, 30, 9).replace(tzinfo=None), 2) in rows
    assert (f"#{office.task_id}", "Kết quả thực hiện KH CCHC năm 2026", "TỔNG", 15, 25, 0.6, None, None) in rows
    history = rows[rows.index(("Lịch sử báo cáo",) + (None,) * (len(rows[0]) - 1)) + 2:]
    assert [(r[1], r[2], r[3]) for r in history] == [("Thị trấn Bến Quan", 3, 10), ("Thị trấn Hồ Xá", 9, 15),
                                                      ("Thị trấn Hồ Xá", 12, 15)]


def test_cli_count_task_and_status(env) -> None:
    from tests.conftest import call

    assert call("demo").exit_code == 0
    both = call("task", "add", "--title", "X", "--deadline", "chậm nhất ngày 15/12/2026", "--units", "NV", "--count",
                "--count-with-file")
    assert both.exit_code == 1 and "Chọn một" in both.output
    made = call("task", "add", "--title", "Kết quả KH CCHC", "--deadline", "chậm nhất ngày 15/12/2026",
                "--units", "HOXA,BENQUAN", "--count", "--count-total", "93")
    assert made.exit_code == 0 and "/tiendo" in made.output
    status = call("status")
    assert "🔢 Tiến độ (đã hoàn thành / được giao):" in status.output
    assert "• Thị trấn Hồ Xá: chưa báo cáo" in status.output


async def test_a_count_only_task_asks_for_a_number_not_a_file(office) -> None:
    """A count-only task is reported with /tiendo: its reminder and /tasks say so and offer no file button; a
    count+file task keeps the file button and adds the count."""
    from datetime import timedelta

    from handlers.reminders import plan_reminders
    from tests.test_campaign import CONFIG

    count_only = await office.assignment("HOXA", 7)
    assert count_only.task_id == office.task_id
    tasks = await office.say(AN, "/tasks")
    listed = "\n".join(r.text for r in tasks)
    assert f"Báo cáo số lượng: /tiendo #{office.task_id}" in listed
    assert f"submit:{count_only.id}" not in [b.choice for r in tasks for row in r.buttons for b in row]

    plan = await plan_reminders(office.db, NOW + timedelta(hours=1), CONFIG)  # the "assigned" notices
    (mine,) = [m for m in plan if m.person.name == AN]
    assert f"/tiendo #{office.task_id}" in mine.reply.text
    assert f"submit:{count_only.id}" not in [b.choice for row in mine.reply.buttons for b in row]
    (van,) = [m for m in plan if m.person.name == VAN]  # BENQUAN owes the count+file task too
    fixed = [i for i in van.items if i.task.id == office.fixed_id]
    assert fixed and f"Kèm báo cáo số lượng: /tiendo #{office.fixed_id} 9/12" in van.reply.text
    assert f"submit:{fixed[0].assignment_id}" in [b.choice for row in van.reply.buttons for b in row]
