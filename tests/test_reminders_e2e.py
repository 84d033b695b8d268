"""Reminders through real channels: Telegram (the aiogram bot against the fake Bot API, with the
scheduler running) and the console."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlmodel import select

from bot.console import ConsoleChannel, ConsoleTransport
from bot.demo import load_demo
from bot.sender import Limits, OutboxSender, RateLimiter
from handlers.reminders import queue_reminders
from schedules.clock import FixedClock
from storage.models import Assignment, Evidence, Person
from storage.queries import bind_identity
from tests import pdf_factory
from tests.conftest import VN, vn
from tests.test_campaign import CONFIG
from tests.test_console import Script, conversation
from tests.harness import World, running_bot


async def test_scheduled_reminder_in_telegram_and_a_pdf_replied_to_it_is_filed_for_its_task(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    clock = FixedClock(vn(2026, 11, 23, 9))
    # tasks due 27/11, 01/12 and 04/12; the scheduler runs (its first tick at start-up)
    async with running_bot(tmp_path, clock=clock, demo_at=vn(2026, 11, 21, 9), scheduler=True) as (fake, app):
        world = World(fake, app, clock)
        officer = await world.register("Võ Thị Lan")
        clock.set(vn(2026, 11, 26, 7, 30))  # Thursday: "tomorrow" for the tasks due Friday 27/11
        # APScheduler's triggers run on the wall clock; the job itself reads the test's clock
        app.scheduler.get_job("tick").modify(next_run_time=datetime.now(timezone.utc))
        reminder = await officer.next_message(lambda m: "⏰" in (m.text or ""))
        # one message for the unit's tasks: the ones due tomorrow and the notices the officer joined after
        assert reminder.text.startswith("🔔 Nhắc việc: Văn phòng HĐND và UBND huyện có ")
        assert "#1 «" in reminder.text and "⏰ còn 1 ngày làm việc" in reminder.text
        labels = [b["text"] for row in reminder.buttons for b in row]
        assert labels and all(label.startswith("📤 Nộp #") for label in labels)
        assert len([m for m in fake.messages_to(reminder.chat_id) if "Nhắc việc" in (m.text or "")]) == 1
        # a PDF replied to it without naming the task: the bot asks which, among that message's tasks only
        officer.send_document(pdf_factory.make_signed_pdf()[0], "tra-loi-nhac-viec.pdf", reply_to=reminder.message_id)
        question = await officer.next_message(lambda m: "dùng cho nhiệm vụ nào" in (m.text or ""))
        picks = [d for d in question.callback_data if d.startswith("pick:")]
        assert sorted(int(d.split(":")[1]) for d in picks) == sorted(
            int(d.split(":")[1]) for d in reminder.callback_data)
        assignment_id = int(reminder.callback_data[0].split(":")[1])
        officer.press(question, f"pick:{assignment_id}")
        receipt = await officer.next_message(lambda m: "Đã nhận" in (m.text or ""))
        assert "Lần nộp: 1" in receipt.text
        async with app.db.session() as session:
            evidence = (await session.exec(select(Evidence))).one()
            assert evidence.assignment_id == assignment_id
            assert (await session.get(Assignment, assignment_id)).status == "submitted"


async def test_reminders_reach_console_identities(sqlite_db):
    await load_demo(sqlite_db, now=vn(2026, 11, 21, 9), tz=VN)  # Hồ Xá still owes the task due 04/12
    async with sqlite_db.session() as session:
        officer = (await session.exec(select(Person).where(Person.name == "Nguyễn Văn An"))).one()
        await bind_identity(session, officer, channel="console", external_id=str(officer.id),
                            chat_id=str(officer.id), username=None, now=vn(2026, 11, 21, 9))
    queued = await queue_reminders(sqlite_db, vn(2026, 12, 4, 7, 30), CONFIG)
    assert [m.person.name for m in queued] == ["Nguyễn Văn An"]
    script = Script()
    send_clock = FixedClock(vn(2026, 12, 4, 7, 30))
    sender = OutboxSender(sqlite_db, {"console": ConsoleTransport(sqlite_db, write=script.write, clock=send_clock)},
                          send_clock,
                          limiter=RateLimiter(Limits(global_per_s=1000, per_chat_interval_s=0)))
    assert await sender.drain() == 1
    assert "[Tin nhắn gửi tới Nguyễn Văn An]" in script.text and "Hôm nay là hạn cuối" in script.text
    assert "[1] 📤 Nộp ngay\n[2] 🕒 Xin gia hạn" in script.text
    assert await sender.drain() == 0

    clock = FixedClock(vn(2026, 12, 4, 7, 45))
    pressed = Script("Nguyễn Văn An", "1", "/thoat")  # the reminder's numbered choice, typed back
    await ConsoleChannel(conversation(sqlite_db, clock), sqlite_db, clock, read=pressed.read,
                         write=pressed.write).run()
    assert "Hãy gửi tệp PDF cho nhiệm vụ «" in pressed.text, pressed.text

    clock = FixedClock(vn(2026, 12, 4, 8))
    chat = Script("Nguyễn Văn An", "/tasks", "/thoat")
    await ConsoleChannel(conversation(sqlite_db, clock), sqlite_db, clock, read=chat.read, write=chat.write).run()
    assert "[1] 📤 Nộp #4 Báo cáo kết quả thực hiện Bản cam k" in chat.text


async def test_the_morning_digest_reaches_a_leader_in_telegram_with_chart_and_workbook(tmp_path, monkeypatch):
    from bot import jobs

    monkeypatch.chdir(tmp_path)
    clock = FixedClock(vn(2026, 11, 23, 7, 30))
    async with running_bot(tmp_path, clock=clock, demo_at=vn(2026, 11, 21, 9)) as (fake, app):
        leader = await World(fake, app, clock).register("Lê Quang Vinh")
        assert await jobs.digest(app, clock.now()) == 1
        assert await jobs.digest(app, clock.now()) == 0  # once a day
        photo = await leader.next_message(lambda m: m.photo is not None)
        document = await leader.next_message(lambda m: m.document is not None)
        assert photo.photo.startswith(b"\x89PNG") and document.filename.endswith(".xlsx")
        text = await leader.next_message(lambda m: "Bản tin sáng" in (m.text or m.caption or ""))
        assert "thứ Hai 23/11/2026" in (text.text or text.caption)
