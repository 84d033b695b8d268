"""The console chat over the demo, through the same handlers Telegram uses."""

from __future__ import annotations

from collections import deque
from datetime import date, timedelta

import pytest

from bot.console import ConsoleChannel
from bot.demo import DELIVERED, PEOPLE, TASKS, DemoNotEmpty, load_demo, shifted_tasks, week_shift
from handlers.chat import Incoming, Sender
from handlers.conversation import Conversation, HandlerContext
from schedules.calendar import WorkCalendar
from schedules.clock import FixedClock
from schedules.deadlines import parse_deadline

from tests.conftest import VN, vn


class Script:
    """Feeds lines to the console and collects what it writes."""

    def __init__(self, *lines: str) -> None:
        self.lines = deque(lines)
        self.out: list[str] = []

    async def read(self, prompt: str) -> str | None:
        return self.lines.popleft() if self.lines else None

    def write(self, text: str) -> None:
        self.out.append(text)

    @property
    def text(self) -> str:
        return "\n".join(self.out)


def conversation(db, clock) -> Conversation:
    return Conversation(HandlerContext(db=db, clock=clock, tz=VN, calendar=WorkCalendar()))


@pytest.fixture
async def demo_db(sqlite_db):
    await load_demo(sqlite_db, now=vn(2026, 11, 21, 9), tz=VN)
    return sqlite_db


def person_number(name: str) -> str:
    """The number the console shows for a person (leaders, coordinators, heads, officers)."""
    order = ["leader", "coordinator", "admin", "head", "officer"]
    codes = sorted(PEOPLE, key=lambda p: (order.index(p[1]), p[2]))
    return str([p[0] for p in codes].index(name) + 1)


async def test_leader_sees_the_demo_board_with_deadlines_and_who_delivered(demo_db):
    clock = FixedClock(vn(2026, 11, 21, 9))
    script = Script(person_number("Lê Quang Vinh"), "/status", "1", "/status #5", "/status VINHTU", "/thoat")
    await ConsoleChannel(conversation(demo_db, clock), demo_db, clock, read=script.read, write=script.write).run()
    out = script.text
    board = out.split("📊 Tình hình thực hiện")[1].split("📌 #1")[0]
    first = out.split("📌 #1")[1].split("📌 #5")[0]
    fifth = "📌 #5" + out.split("📌 #5")[1].split("🏢")[0]
    unit = "🏢" + out.split("🏢")[1]
    assert "Đang theo dõi 7 nhiệm vụ · đã nộp 7/56 lượt (12%)" in board
    for number in range(1, 8):  # one line per task, by its number
        assert f"\n#{number} · " in board
    assert "2/5 đã nộp · hạn 27/11" in board and "📉 Xếp hạng đơn vị" in board
    # the first choice drills into task #1: the full title, the letter's phrase and the computed day
    titles = [task.title for task, _ in shifted_tasks(date(2026, 11, 21))]
    assert f" · {titles[0]}" in first.splitlines()[0]
    assert "«chậm nhất ngày 27/11/2026» (hết ngày thứ Sáu 27/11/2026)" in first
    assert "Đã nộp 2/5 (40%)" in first
    assert "✅ Đã duyệt (1):\nPhòng Nội vụ" in first and "📥 Đã nộp, chờ duyệt (1):\nPhòng Tư pháp" in first
    # chậm nhất ngày: due at the end of that day; trước ngày: at the end of the day before
    assert f"📌 #5 · {titles[4]}" in fifth and "«trước ngày 02/12/2026» (hết ngày thứ Ba 01/12/2026)" in fifth
    # 24/11/2026 is Vietnam Cultural Day: Mon 23, Wed 25, Thu 26, Fri 27 are the working days left
    assert "🏢 Xã Vĩnh Tú (VINHTU)" in unit and "còn 4 ngày làm việc" in unit


async def test_officer_sees_only_their_unit_and_can_switch_person(demo_db):
    clock = FixedClock(vn(2026, 11, 21, 9))
    script = Script(person_number("Nguyễn Văn An"), "/tasks", "/status", "/doi", "Thị Hương", "/tasks", "/nope", "/thoat")
    await ConsoleChannel(conversation(demo_db, clock), demo_db, clock, read=script.read, write=script.write).run()
    out = script.text
    an_part, huong_part = out.split("Bạn đang là Nguyễn Thị Hương")
    assert "📋 Việc của Thị trấn Hồ Xá:" in an_part
    assert "Trạng thái: đã duyệt" in an_part  # the demo has Hồ Xá's PAPI report accepted
    as_an = an_part.split("Bạn đang là Nguyễn Văn An")[1].split("Bạn là ai?")[0]
    assert "Thị trấn Hồ Xá" in as_an and "Xã Vĩnh Thái" not in as_an and "Phòng Tư pháp" not in as_an
    assert "📋 Các nhiệm vụ đang theo dõi:" in huong_part
    assert "Không có lệnh /nope" in huong_part


async def test_bad_choice_gets_an_answer_and_end_of_input_quits(demo_db):
    clock = FixedClock(vn(2026, 11, 21, 9))
    script = Script("999", "không ai")
    await ConsoleChannel(conversation(demo_db, clock), demo_db, clock, read=script.read, write=script.write).run()
    assert "Không hiểu «999»" in script.text and "Không hiểu «không ai»" in script.text


async def test_unregistered_sender_gets_no_data(demo_db):
    clock = FixedClock(vn(2026, 11, 21, 9))
    replies = await conversation(demo_db, clock).handle(
        Incoming.from_text(Sender("telegram", "777", "777"), "/status"))
    assert len(replies) == 1 and "chưa được đăng ký" in replies[0].text
    assert "Báo cáo" not in replies[0].text and "Xã" not in replies[0].text


async def test_demo_loads_only_into_an_empty_database(demo_db):
    with pytest.raises(DemoNotEmpty):
        await load_demo(demo_db, now=vn(2026, 11, 21, 9), tz=VN)


@pytest.mark.parametrize("today", [date(2024, 11, 1), date(2026, 11, 21), date(2027, 2, 28), date(2030, 6, 1)])
def test_demo_deadlines_lie_ahead_with_the_letters_order_spacing_and_weekdays(today):
    shifted = shifted_tasks(today)
    originals = [task.day for task in TASKS]
    parsed = [parse_deadline(phrase, today, VN) for _, phrase in shifted]
    moved = [d.due_date + (timedelta(days=1) if d.kind == "before" else timedelta()) for d in parsed]
    assert all(d.due_date > today for d in parsed)
    assert [(b - a) for a, b in zip(originals, originals[1:])] == [(b - a) for a, b in zip(moved, moved[1:])]
    assert [d.weekday() for d in moved] == [d.weekday() for d in originals]
    assert [p.kind for p in parsed] == ["by"] * 4 + ["before"] * 3
    assert week_shift(today, min(originals)).days % 7 == 0


def test_demo_marks_a_few_units_done():
    assert 3 <= len(DELIVERED) < 10
    assert {name for name, role, _ in PEOPLE if role == "leader"} and any(r == "coordinator" for _, r, _ in PEOPLE)


LETTER = [
    "UBND HUYỆN VĨNH LINH",
    "Số: 15/UBND-NV",
    "Vĩnh Linh, ngày 20 tháng 11 năm 2026",
    "V/v báo cáo công tác cải cách hành chính",
    "1. Phòng Tư pháp báo cáo kết quả rà soát văn bản, chậm nhất ngày 15/12/2026.",
    "2. UBND các xã, thị trấn báo cáo tình hình thực hiện, trước ngày 20/12/2026.",
]


async def test_a_letter_typed_after_assign_is_one_message_up_to_an_empty_line(demo_db):
    clock = FixedClock(vn(2026, 11, 23, 9))
    script = Script(person_number("Nguyễn Thị Hương"), "/assign", *LETTER, "", "/thoat")
    await ConsoleChannel(conversation(demo_db, clock), demo_db, clock, read=script.read, write=script.write).run()
    out = script.text
    assert "kết thúc bằng một dòng trống" in out
    assert out.count("📄 Công văn số 15/UBND-NV") == 1 and "Đề xuất 2 nhiệm vụ" in out
    assert "Không tìm thấy hạn nộp" not in out and "chưa hiểu tin nhắn" not in out


async def test_a_bracketed_paste_is_one_message(demo_db):
    clock = FixedClock(vn(2026, 11, 23, 9))
    pasted = ["/assign \x1b[200~" + LETTER[0], *LETTER[1:-1], LETTER[-1] + "\x1b[201~"]
    script = Script(person_number("Nguyễn Thị Hương"), *pasted, "/thoat")
    await ConsoleChannel(conversation(demo_db, clock), demo_db, clock, read=script.read, write=script.write).run()
    out = script.text
    assert out.count("📄 Công văn số 15/UBND-NV") == 1 and "Đề xuất 2 nhiệm vụ" in out
    assert "\x1b" not in out and "Không tìm thấy hạn nộp" not in out


async def test_gui_with_a_wrong_path_says_so_and_help_lists_the_console_commands(demo_db, tmp_path):
    clock = FixedClock(vn(2026, 11, 23, 9))
    script = Script(person_number("Nguyễn Văn An"), f"/gui {tmp_path / 'khong-co.pdf'}", f"/gui {tmp_path}", "/gui",
                    "/help", "/thoat")
    await ConsoleChannel(conversation(demo_db, clock), demo_db, clock, read=script.read, write=script.write).run()
    out = script.text
    assert f"Không tìm thấy tệp «{tmp_path / 'khong-co.pdf'}» trên máy này" in out
    assert f"«{tmp_path}» là một thư mục" in out and "Cách dùng: /gui" in out
    assert "Không có lệnh /gui" not in out
    after_help = out.split("Bạn đang là Nguyễn Văn An")[1]
    assert after_help.count("/gui ĐƯỜNG_DẪN") == 2  # at the start and after /help
    for command in ("/gui", "/doi", "/thoat"):
        assert command in after_help


async def test_any_command_cancels_a_pending_step_and_says_so(demo_db):
    from sqlmodel import select

    from storage.models import ExtensionRequest

    clock = FixedClock(vn(2026, 11, 23, 9))
    script = Script(person_number("Nguyễn Văn An"), "/extend", "/assign", "/foo", "xin chào", "/thoat")
    await ConsoleChannel(conversation(demo_db, clock), demo_db, clock, read=script.read, write=script.write).run()
    out = script.text
    assert "Hãy gõ lý do xin gia hạn" in out
    cancelled = out.split("Hãy gõ lý do xin gia hạn")[1]
    assert "Đã huỷ bước đang chờ (nhập lý do xin gia hạn)" in cancelled.split("không được dùng lệnh này")[0]
    assert cancelled.count("Đã huỷ bước đang chờ") == 1 and "Không có lệnh /foo" in cancelled
    assert "Đôn Đốc chưa hiểu tin nhắn này" in cancelled.split("Không có lệnh /foo")[1]
    async with demo_db.session() as session:
        assert (await session.exec(select(ExtensionRequest))).all() == []


def test_examples_in_messages_are_computed_from_today():
    from handlers import extensions
    from handlers.texts import deadline_examples, example_day

    for today in (date(2024, 11, 1), date(2031, 12, 28)):
        example = example_day(today)
        assert example > today
        assert deadline_examples(example)[0] == f"chậm nhất ngày {example:%d/%m/%Y}"
    due = vn(2031, 12, 30, 23, 59)
    text = extensions.ask_date(type("T", (), {"title": "Báo cáo"})(), due, VN, vn(2031, 12, 28, 9))
    assert "06/01/2032" in text and "25/11" not in text
