"""The reminder campaign of letter 000, 01/11 → 30/11/2024, on a fixed clock.

The demo loaded on 01/11/2024 keeps the letter's own dates (15/11, 22/11, before 20/11). Units submit on
different days, one gets an extension; the tick runs several times a day, every day; the test checks
the exact reminders each unit and leader receives, day by day. A second test covers a deadline next to
the National Day holidays (02–03/09/2024).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta

import pytest
from sqlmodel import select

from bot.demo import load_demo
from handlers.reminders import LadderConfig, plan_reminders, queue_reminders
from schedules.calendar import WorkCalendar
from schedules.ladder import DEFAULT_LADDER
from storage.extensions import approve, request_extension
from storage.models import Assignment, OutboxMessage, Person, Task, Unit
from storage.queries import bind_identity, create_task, resolve_units
from storage.status import transition
from tests.conftest import VN, vn

CONFIG = LadderConfig(ladder=DEFAULT_LADDER, calendar=WorkCalendar(), tz=VN, quiet=(time(21), time(7)))
TICKS = (time(0, 5), time(7, 29), time(7, 30), time(7, 31), time(12, 0), time(21, 30))


async def bind_everyone(db, now):
    async with db.session() as session:
        for person in (await session.exec(select(Person))).all():
            await bind_identity(session, person, channel="telegram", external_id=f"u{person.id}",
                                chat_id=str(person.id), username=None, now=now)


async def assignment_of(session, task_index: int, unit_code: str) -> Assignment:
    task = (await session.exec(select(Task).order_by(Task.id).offset(task_index).limit(1))).one()
    unit = (await session.exec(select(Unit).where(Unit.code == unit_code))).one()
    return (await session.exec(select(Assignment).where(Assignment.task_id == task.id,
                                                        Assignment.unit_id == unit.id))).one()


async def submit(db, task_index: int, unit_code: str, at: datetime):
    async with db.session() as session:
        assignment = await assignment_of(session, task_index, unit_code)
        await transition(session, assignment, "submitted", now=at, actor_person_id=None)


async def extend(db, task_index: int, unit_code: str, at: datetime, new_due: datetime, phrase: str):
    """The unit asks in the morning; a leader approves at ``at``."""
    async with db.session() as session:
        assignment = await assignment_of(session, task_index, unit_code)
        request = await request_extension(session, assignment, requested_due_at=new_due, requested_phrase=phrase,
                                          reason="Chờ số liệu của thôn", person_id=None, now=at - timedelta(hours=2),
                                          tz=VN)
        await approve(session, request.id, person_id=None, now=at, tz=VN)


async def run_campaign(db, events: dict[datetime, list]) -> dict[date, list[tuple[str, str, str, int]]]:
    """Tick through November; returns, per local day, (person, role/unit, rung, task number) queued."""
    received: dict[date, list] = defaultdict(list)
    async with db.session() as session:
        tasks = [t.id for t in (await session.exec(select(Task).order_by(Task.id))).all()]
    day = date(2024, 11, 1)
    while day <= date(2024, 11, 30):
        moments = sorted([datetime.combine(day, tick, VN) for tick in TICKS]
                         + [at for at in events if at.date() == day])
        for moment in moments:
            for action in events.get(moment, []):
                await action()
            if moment.time() in TICKS:
                for message in await queue_reminders(db, moment, CONFIG):
                    for item in message.items:
                        received[day].append((message.person.name, f"{message.person.role}@{item.unit.code}",
                                              item.rung.name, tasks.index(item.task.id)))
        day += timedelta(days=1)
    return received


def of(received, day: date, *, task: int | None = None, unit: str | None = None, rung: str | None = None):
    return sorted((who, role, r, t) for who, role, r, t in received.get(day, [])
                  if (task is None or t == task) and (unit is None or role.endswith("@" + unit))
                  and (rung is None or r == rung))


@pytest.fixture
async def campaign(db):
    start = vn(2024, 11, 1, 8, 0)  # Friday; the letter's tasks are created this morning
    await load_demo(db, now=start, tz=VN)
    await bind_everyone(db, start)
    events = {
        vn(2024, 11, 13, 10): [lambda: submit(db, 0, "VP", vn(2024, 11, 13, 10))],
        vn(2024, 11, 19, 10): [lambda: submit(db, 0, "TCKH", vn(2024, 11, 19, 10))],
        vn(2024, 11, 20, 10): [lambda: extend(db, 3, "VINHTU", vn(2024, 11, 20, 10), vn(2024, 11, 27, 23, 59, 59),
                                              "chậm nhất ngày 27/11/2024")],
        vn(2024, 11, 21, 15): [lambda: submit(db, 3, "HOXA", vn(2024, 11, 21, 15))],
    }
    return await run_campaign(db, events)


async def test_a_unit_that_submits_late_gets_each_rung_once_on_its_day(campaign):
    tckh = {day: of(campaign, day, task=0, unit="TCKH") for day in campaign if of(campaign, day, task=0, unit="TCKH")}
    officer, head = ("Lý Thị Hoa", "officer@TCKH"), ("Phan Văn Tùng", "head@TCKH")
    assert tckh == {
        date(2024, 11, 1): sorted([(*officer, "assigned", 0), (*head, "assigned", 0)]),   # created 08:00, sent 12:00
        date(2024, 11, 12): [(*officer, "soon", 0)],                                       # 3 working days before
        date(2024, 11, 14): sorted([(*officer, "tomorrow", 0), (*head, "tomorrow", 0)]),
        date(2024, 11, 15): sorted([(*officer, "today", 0), (*head, "today", 0)]),
        date(2024, 11, 18): sorted([(*officer, "overdue", 0), (*head, "overdue", 0)]),     # Monday after
    }  # submitted on 19/11: no escalation on 20/11


async def test_a_unit_that_submits_early_hears_nothing_more(campaign):
    vp = [(day, r) for day in sorted(campaign) for _, _, r, _ in of(campaign, day, task=0, unit="VP")]
    assert vp == [(date(2024, 11, 1), "assigned"), (date(2024, 11, 1), "assigned"), (date(2024, 11, 12), "soon")]


async def test_leaders_get_one_escalation_per_tick_listing_tasks_and_naming_the_units(db, campaign):
    escalations = {day: of(campaign, day, rung="escalated") for day in campaign if of(campaign, day, rung="escalated")}
    leaders = ["Hoàng Thị Mai", "Lê Quang Vinh"]
    # 15/11 tasks escalate on 20/11; the "before 20/11" tasks (due 19/11) on 22/11; 22/11 tasks on 27/11
    assert sorted(escalations) == [date(2024, 11, 20), date(2024, 11, 22), date(2024, 11, 27)]
    assert sorted({t for _, _, _, t in escalations[date(2024, 11, 20)]}) == [0, 1, 2]
    assert [who for who, _, _, t in escalations[date(2024, 11, 20)] if t == 0] == leaders
    assert sorted({t for _, _, _, t in escalations[date(2024, 11, 22)]}) == [4, 6]  # NV's task 5 was delivered
    assert sorted({t for _, _, _, t in escalations[date(2024, 11, 27)]}) == [3]
    async with db.session() as session:
        message = (await session.exec(select(OutboxMessage).where(
            OutboxMessage.dedupe_key.like("esc:%"), OutboxMessage.person_id == 1))).all()
        texts = [m.payload["text"] for m in message]
    # one escalation per leader per tick: 20/11 lists tasks 0, 1 and 2 in one message
    assert len([m for m in message if m.created_at.astimezone(VN).date() == date(2024, 11, 20)]) == 1
    sections = [section for text in texts for section in text.split("\n\n")]
    task0 = next(section for section in sections if "Kế hoạch CCHC" in section)
    assert "• Phòng Văn hóa và Thông tin" in task0 and "Phòng Tài chính - Kế hoạch" not in task0
    assert "Văn phòng HĐND" not in task0 and "Phòng Nội vụ" not in task0


async def test_an_extension_rearms_the_ladder_for_that_unit_only(campaign):
    vinhtu = [(day, r) for day in sorted(campaign) for who, _, r, _ in of(campaign, day, task=3, unit="VINHTU")
              if who == "Hoàng Văn Dũng"]
    vinhkhe = [(day, r) for day in sorted(campaign) for who, _, r, _ in of(campaign, day, task=3, unit="VINHKHE")
               if who == "Đặng Thị Oanh"]
    # due 22/11 (Fri): soon Tue 19/11, tomorrow Thu 21/11, today 22/11, overdue Mon 25/11
    assert vinhkhe == [(date(2024, 11, 1), "assigned"), (date(2024, 11, 19), "soon"),
                       (date(2024, 11, 21), "tomorrow"), (date(2024, 11, 22), "today"), (date(2024, 11, 25), "overdue")]
    # extended on 20/11 to 27/11 (Wed): the new ladder starts after the approval; its "soon" (Fri 22/11)
    # is the first rung after it; nothing on 21/11 or 25/11; today on 27/11, overdue on 28/11
    assert vinhtu == [(date(2024, 11, 1), "assigned"), (date(2024, 11, 19), "soon"), (date(2024, 11, 22), "soon"),
                      (date(2024, 11, 26), "tomorrow"), (date(2024, 11, 27), "today"), (date(2024, 11, 28), "overdue")]


async def test_nothing_is_sent_at_night_or_on_weekends_and_nothing_twice(campaign):
    for day, messages in campaign.items():
        assert CONFIG.calendar.is_working_day(day), day
    everything = [(day, m) for day, ms in campaign.items() for m in ms]
    assert len(everything) == len(set(everything))


async def test_a_restart_mid_campaign_queues_nothing_again(db, campaign):
    again = await plan_reminders(db, vn(2024, 11, 30, 12), CONFIG)
    assert again.messages == []
    queued = await queue_reminders(db, vn(2024, 11, 30, 12), CONFIG)
    assert queued.messages == []


async def test_a_deadline_next_to_national_day(db):
    """Due Wednesday 04/09/2024; Monday 02/09 and Tuesday 03/09 are holidays. Ticks at 08:00 each day."""
    start = vn(2024, 8, 20, 9)
    await load_demo(db, now=start, tz=VN)
    await bind_everyone(db, start)
    async with db.session() as session:
        units = await resolve_units(session, "VINHHA")
        await create_task(session, title="Báo cáo đột xuất", due_at=vn(2024, 9, 4, 23, 59, 59),
                          deadline_phrase="chậm nhất ngày 04/09/2024", units=units, now=start)
    got = []
    day = date(2024, 8, 20)
    while day <= date(2024, 9, 12):
        for message in await queue_reminders(db, datetime.combine(day, time(8), VN), CONFIG):
            for item in message.items:
                if item.task.title == "Báo cáo đột xuất" and message.person.role in ("officer", "leader"):
                    got.append((day, message.person.role, item.rung.name))
        day += timedelta(days=1)
    # working days before 04/09: 30/08 (Fri) is one, 29/08 two, 28/08 three; after: 05/09 one, 09/09 three
    assert got == [(date(2024, 8, 21), "officer", "assigned"), (date(2024, 8, 28), "officer", "soon"),
                   (date(2024, 8, 30), "officer", "tomorrow"), (date(2024, 9, 4), "officer", "today"),
                   (date(2024, 9, 5), "officer", "overdue"), (date(2024, 9, 9), "leader", "escalated"),
                   (date(2024, 9, 9), "leader", "escalated")]
