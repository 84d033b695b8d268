"""Reminders people can trust: working days only (also after downtime), one message per person per tick,
nobody silently unreached."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from handlers.reminders import TASK_BUTTONS, plan_reminders, queue_reminders
from storage.models import OutboxMessage, Person, ReminderSent, Unit
from storage.queries import bind_identity, create_task
from tests.conftest import VN, vn
from tests.test_campaign import CONFIG

CREATED = vn(2026, 11, 2, 9)  # Monday


async def office(db) -> dict[str, Person]:
    """Two communes: Xã Một (officer and head joined), Xã Hai (officer not joined); a leader who joined."""
    people = {}
    async with db.session() as session:
        one = Unit(code="XA1", name="Xã Một", kind="commune", created_at=CREATED, updated_at=CREATED)
        two = Unit(code="XA2", name="Xã Hai", kind="commune", created_at=CREATED, updated_at=CREATED)
        top = Unit(code="UBND", name="UBND huyện", kind="office", created_at=CREATED, updated_at=CREATED)
        session.add_all([one, two, top])
        await session.flush()
        for name, role, unit, joined in (("Cán bộ Một", "officer", one, True), ("Trưởng Một", "head", one, True),
                                         ("Cán bộ Hai", "officer", two, False), ("Lãnh đạo", "leader", top, True)):
            person = Person(name=name, role=role, unit_id=unit.id, created_at=CREATED, updated_at=CREATED)
            session.add(person)
            await session.flush()
            if joined:
                await bind_identity(session, person, channel="telegram", external_id=f"u{person.id}",
                                    chat_id=str(person.id), username=None, now=CREATED)
            people[name] = person
    return people


async def add_task(db, title: str, due: datetime, units=("XA1", "XA2")):
    async with db.session() as session:
        found = list((await session.exec(select(Unit).where(Unit.code.in_(units)))).all())
        task, _ = await create_task(session, title=title, due_at=due, deadline_phrase=f"chậm nhất ngày {due:%d/%m/%Y}",
                                    units=found, now=CREATED)
        return task


async def texts_for(db, person: Person) -> list[str]:
    async with db.session() as session:
        rows = (await session.exec(select(OutboxMessage).where(OutboxMessage.person_id == person.id)
                                   .order_by(OutboxMessage.id))).all()
    return [row.payload["text"] for row in rows]


async def test_a_weekend_after_downtime_sends_nothing_and_monday_says_the_truth(db):
    people = await office(db)
    task = await add_task(db, "Báo cáo tuần", vn(2026, 12, 4, 23, 59, 59))  # Friday 04/12/2026
    await queue_reminders(db, vn(2026, 11, 2, 9, 5), CONFIG)  # the "assigned" notices
    before = len(await texts_for(db, people["Cán bộ Một"]))
    # the bot was down from Thursday morning to Saturday: the "tomorrow" and "today" rungs were missed
    for at in (vn(2026, 12, 5, 8), vn(2026, 12, 5, 12), vn(2026, 12, 6, 9)):  # Saturday, Sunday
        result = await queue_reminders(db, at, CONFIG)
        assert result.messages == [] and result.skipped == "không phải ngày làm việc"
        assert (await plan_reminders(db, at, CONFIG)).messages == []
    assert (await queue_reminders(db, vn(2026, 12, 7, 6, 30), CONFIG)).skipped == "ngoài giờ gửi tin"
    # Monday 07:00: Friday's "today" is stale and Monday's own rung ("overdue") comes at 07:30
    assert (await queue_reminders(db, vn(2026, 12, 7, 7, 0), CONFIG)).messages == []
    monday = await queue_reminders(db, vn(2026, 12, 7, 7, 30), CONFIG)
    assert sorted((m.person.name, m.rung) for m in monday) == [("Cán bộ Một", "overdue"), ("Trưởng Một", "overdue")]
    (text,) = (await texts_for(db, people["Cán bộ Một"]))[before:]
    assert f"đã quá hạn nộp #{task.id} «Báo cáo tuần» (quá hạn 3 ngày)" in text
    assert "Hôm nay là hạn cuối" not in text
    assert (await queue_reminders(db, vn(2026, 12, 7, 9), CONFIG)).messages == []


async def test_a_late_start_on_monday_sends_the_latest_rung_once_worded_for_that_day(db):
    people = await office(db)
    await add_task(db, "Báo cáo tuần", vn(2026, 12, 4, 23, 59, 59))
    await queue_reminders(db, vn(2026, 11, 2, 9, 5), CONFIG)
    before = len(await texts_for(db, people["Cán bộ Một"]))
    # down from Thursday to Monday 10:00: only Monday's rung goes, once
    first = await queue_reminders(db, vn(2026, 12, 7, 10), CONFIG)
    assert [m.rung for m in first if m.person.name == "Cán bộ Một"] == ["overdue"]
    assert (await queue_reminders(db, vn(2026, 12, 7, 10, 1), CONFIG)).messages == []
    (text,) = (await texts_for(db, people["Cán bộ Một"]))[before:]
    assert "quá hạn 3 ngày" in text and "Hôm nay là hạn cuối" not in text


async def test_a_holiday_sends_nothing_and_the_next_working_morning_says_the_truth(db):
    people = await office(db)
    # Thursday 31/12/2026; Friday 01/01/2027 is New Year's Day
    task = await add_task(db, "Báo cáo năm", vn(2026, 12, 31, 23, 59, 59))
    await queue_reminders(db, vn(2026, 11, 2, 9, 5), CONFIG)
    before = len(await texts_for(db, people["Cán bộ Một"]))
    for at in (vn(2027, 1, 1, 7, 30), vn(2027, 1, 1, 9)):
        assert (await plan_reminders(db, at, CONFIG)).messages == []  # a dry run on the holiday plans nothing
        assert (await queue_reminders(db, at, CONFIG)).messages == []
    monday = await queue_reminders(db, vn(2027, 1, 4, 7, 30), CONFIG)
    assert {m.rung for m in monday} == {"overdue"}
    (text,) = (await texts_for(db, people["Cán bộ Một"]))[before:]
    assert f"đã quá hạn nộp #{task.id}" in text and "quá hạn 4 ngày" in text


async def test_a_person_with_five_tasks_due_gets_one_message_listing_each(db):
    people = await office(db)
    tasks = [await add_task(db, f"Báo cáo số {n}", vn(2026, 12, 4, 23, 59, 59), units=("XA1",)) for n in range(5)]
    await queue_reminders(db, vn(2026, 11, 2, 9, 5), CONFIG)
    officer = people["Cán bộ Một"]
    assert len(await texts_for(db, officer)) == 1  # the five "assigned" notices: one message
    result = await queue_reminders(db, vn(2026, 12, 4, 7, 30), CONFIG)  # "today" for all five
    mine = [m for m in result if m.person.id == officer.id]
    assert len(mine) == 1 and sorted(item.task.id for item in mine[0].items) == sorted(t.id for t in tasks)
    text = (await texts_for(db, officer))[-1]
    assert text.startswith("🔔 Nhắc việc: Xã Một có 5 việc cần nộp")
    assert all(f"#{task.id} «Báo cáo số" in text for task in tasks) and text.count("⚠️ hôm nay là hạn cuối") == 5
    async with db.session() as session:
        row = (await session.exec(select(OutboxMessage).where(OutboxMessage.person_id == officer.id)
                                  .order_by(OutboxMessage.id.desc()))).first()
        recorded = (await session.exec(select(ReminderSent).where(ReminderSent.rung == "today"))).all()
    assert len(row.payload["assignment_ids"]) == 5 and row.assignment_id is None
    assert [b["label"] for r in row.payload["buttons"] for b in r] == [f"📤 Nộp #{t.id}" for t in tasks]
    assert len(recorded) == 5  # each rung recorded once per assignment (the officer and the head both told)
    assert (await queue_reminders(db, vn(2026, 12, 4, 7, 31), CONFIG)).messages == []  # never re-sent


async def test_past_the_button_limit_a_see_all_choice_opens_the_task_list(db):
    await office(db)
    count = TASK_BUTTONS + 3
    for n in range(count):
        await add_task(db, f"Việc {n}", vn(2026, 12, 4, 23, 59, 59), units=("XA1",))
    result = await plan_reminders(db, vn(2026, 11, 2, 9, 5), CONFIG)  # a dry run keeps the rendered reply
    (message,) = [m for m in result if m.person.name == "Cán bộ Một"]
    choices = [b.choice for row in message.reply.buttons for b in row]
    assert len(message.items) == count and len(choices) == TASK_BUTTONS + 1 and choices[-1] == "tasks:1"
    assert f"đủ {count} việc" in message.reply.text


async def test_an_unjoined_person_is_counted_and_named_in_the_tick(db):
    await office(db)
    await add_task(db, "Báo cáo tháng", vn(2026, 12, 4, 23, 59, 59))
    dry = await plan_reminders(db, vn(2026, 12, 4, 7, 30), CONFIG)
    assert dry.unjoined == {"Xã Hai": {"Cán bộ Hai"}} and dry.unjoined_items == 1
    real = await queue_reminders(db, vn(2026, 12, 4, 7, 30), CONFIG)
    assert real.unjoined == {"Xã Hai": {"Cán bộ Hai"}} and real.unjoined_people == 1
    assert {m.person.name for m in real} == {"Cán bộ Một", "Trưởng Một"}


async def test_leaders_get_one_escalation_a_tick_worst_first(db):
    people = await office(db)
    early = await add_task(db, "Việc sớm", vn(2026, 11, 20, 23, 59, 59))
    late = await add_task(db, "Việc muộn", vn(2026, 11, 23, 23, 59, 59))
    # 27/11: three working days after 23/11 (24/11 is a holiday): "Việc muộn" escalates; "Việc sớm" escalated
    # on 26/11 but the bot was down: both go in one message on 27/11, the worst (earliest due) first
    result = await queue_reminders(db, vn(2026, 11, 27, 7, 30), CONFIG)
    (escalation,) = [m for m in result if m.person.id == people["Lãnh đạo"].id]
    assert escalation.escalation and {i.task.id for i in escalation.items} == {early.id, late.id}
    (text,) = await texts_for(db, people["Lãnh đạo"])
    assert text.index(f"#{early.id} «Việc sớm»") < text.index(f"#{late.id} «Việc muộn»")
    assert text.count("• Xã Một") == 2 and text.count("• Xã Hai") == 2
    assert (await queue_reminders(db, vn(2026, 11, 27, 7, 31), CONFIG)).messages == []


async def test_people_without_chat_are_listed_by_unit_for_the_digest(db):
    from storage.outbox import channels_by_person, people_without_chat

    people = await office(db)
    async with db.session() as session:
        missing = await people_without_chat(session)
        channels = await channels_by_person(session)
    assert [(unit.name, [p.name for p in names]) for unit, names in missing] == [("Xã Hai", ["Cán bộ Hai"])]
    assert channels[people["Cán bộ Một"].id] == ["telegram"] and people["Cán bộ Hai"].id not in channels


async def test_the_worker_runs_the_catch_up_tick_in_its_own_process(env):
    """``dondoc worker`` owns the jobs: at start it ticks at once (here the clock is a working morning)."""
    import asyncio

    from bot.app import build_app, run_worker
    from bot.settings import load_settings
    from schedules.clock import FixedClock
    from storage.migrate import upgrade

    app = build_app(load_settings(), clock=FixedClock(vn(2026, 12, 4, 7, 30)))
    try:
        await upgrade(app.db)
        await office(app.db)
        await add_task(app.db, "Báo cáo tháng", vn(2026, 12, 4, 23, 59, 59))
        stop = asyncio.Event()
        stop.set()  # stop as soon as the catch-up tick is done
        await run_worker(app, stop=stop)
        assert {p.name for p in await texts_people(app.db)} == {"Cán bộ Một", "Trưởng Một"}
    finally:
        await app.close()


async def texts_people(db) -> list[Person]:
    async with db.session() as session:
        return list((await session.exec(select(Person).join(OutboxMessage, OutboxMessage.person_id == Person.id)
                                        .distinct())).all())


async def test_a_tick_beside_a_busy_sqlite_bot_waits_for_the_lock_instead_of_failing(sqlite_db):
    """``dondoc tick`` (its own process, its own connections) while the bot holds the write lock."""
    import asyncio

    from storage.db import Database

    await office(sqlite_db)
    await add_task(sqlite_db, "Báo cáo tháng", vn(2026, 12, 4, 23, 59, 59))
    other = Database(sqlite_db.url)
    try:
        async with sqlite_db.session(immediate=True) as bot_session:  # the bot is writing
            bot_session.add(Unit(code="XA3", name="Xã Ba", kind="commune", created_at=CREATED, updated_at=CREATED))
            await bot_session.flush()
            tick = asyncio.create_task(queue_reminders(other, vn(2026, 12, 4, 7, 30), CONFIG))
            for _ in range(50):  # let the tick reach the lock and wait on it
                await asyncio.sleep(0)
            assert not tick.done()
        result = await tick  # the bot committed: the tick goes on
        assert {m.person.name for m in result} == {"Cán bộ Một", "Trưởng Một"}
    finally:
        await other.dispose()


async def test_reminders_queued_before_batching_still_count_as_sent(tmp_path):
    """The upgrade to 0007 records each rung found in the old one-row-per-rung outbox keys."""
    from storage.migrate import upgrade
    from tests.conftest import database_at

    async with database_at(tmp_path, "0009", (
        "INSERT INTO unit (id, code, name, kind, groups, aliases, active, created_at, updated_at) VALUES "
        "(1, 'XA1', 'Xã Một', 'commune', '[]', '[]', 1, '2026-11-02 02:00:00', '2026-11-02 02:00:00')",
        "INSERT INTO person (id, name, role, unit_id, active, created_at, updated_at) VALUES "
        "(1, 'Cán bộ', 'officer', 1, 1, '2026-11-02 02:00:00', '2026-11-02 02:00:00')",
        "INSERT INTO task (id, title, due_at, deadline_phrase, signature_required, coordinating_unit_ids, "
        "created_at) VALUES (1, 'Báo cáo', '2026-12-04 16:59:59', 'hạn', 0, '[]', '2026-11-02 02:00:00')",
        "INSERT INTO assignment (id, task_id, unit_id, status, round, status_changed_at, created_at) VALUES "
        "(1, 1, 1, 'pending', 0, '2026-11-02 02:00:00', '2026-11-02 02:00:00')",
    ), outbox_keys=("rem:a1:assigned:p1:telegram:1", "rem:a1:r0:today:20261204T165959:p1:telegram:1",
                    "esc:t1:escalated:1796403599:p9:telegram:9")) as db:
        await upgrade(db)
        async with db.session() as session:
            rows = (await session.exec(select(ReminderSent).order_by(ReminderSent.id))).all()
        assert [(r.assignment_id, r.round, r.rung, r.unit_id) for r in rows] == [
            (1, 0, "assigned", 1), (1, 0, "today", 1), (1, 0, "escalated", 1)]
        assert rows[1].due_at == rows[2].due_at == vn(2026, 12, 4, 23, 59, 59)


async def test_an_archived_task_is_not_reminded(db):
    from storage.models import Task
    from storage.queries import archive_task

    people = await office(db)
    kept = await add_task(db, "Báo cáo còn theo dõi", vn(2026, 12, 4, 23, 59, 59))
    archived = await add_task(db, "Báo cáo đã lưu trữ", vn(2026, 12, 4, 23, 59, 59))
    async with db.session() as session:
        assert await archive_task(session, await session.get(Task, archived.id), person=people["Lãnh đạo"],
                                  now=CREATED, actor="test")
    await queue_reminders(db, vn(2026, 11, 2, 9, 5), CONFIG)
    today = await queue_reminders(db, vn(2026, 12, 4, 7, 30), CONFIG)
    assert today.messages
    texts = await texts_for(db, people["Cán bộ Một"])
    assert any(f"#{kept.id}" in text for text in texts)
    assert not any(f"#{archived.id}" in text for text in texts)


def test_the_collector_spares_the_heap_only_while_ticks_run():
    """A tick sets the long-lived heap aside from the collector (gc.freeze); nested uses (a tick beside the
    digest) give it back once, when the last ends."""
    import gc

    from handlers.reminders import _collector_spares_the_heap

    assert gc.get_freeze_count() == 0
    with _collector_spares_the_heap():
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with _collector_spares_the_heap():
            assert gc.get_freeze_count() >= frozen
        assert gc.get_freeze_count() >= frozen  # the outer one still runs
    assert gc.get_freeze_count() == 0
