"""The reminder ladder as a pure function, and the tick on two workers sharing one database."""

from __future__ import annotations

import asyncio
from datetime import time

import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.demo import load_demo
from handlers.reminders import LadderConfig, queue_reminders
from schedules.calendar import WorkCalendar
from schedules.ladder import DEFAULT_LADDER, AssignmentView, due_reminders, in_quiet_hours, next_allowed, schedule
from storage.db import Database
from storage.models import OutboxMessage, ReminderSent
from tests.conftest import VN, vn
from tests.test_campaign import bind_everyone

CAL = WorkCalendar()
QUIET = (time(21), time(7))


def view(status="pending", due=vn(2024, 11, 15, 23, 59, 59), created=vn(2024, 11, 1, 8), anchor=None, round_=0):
    return AssignmentView(1, 1, 1, status, round_, due, created, anchor or created)


@pytest.mark.parametrize("at, expected", [
    (vn(2024, 11, 14, 22, 0), vn(2024, 11, 15, 7, 0)),    # quiet evening → next morning
    (vn(2024, 11, 15, 5, 0), vn(2024, 11, 15, 7, 0)),     # quiet early morning → same morning
    (vn(2024, 11, 16, 10, 0), vn(2024, 11, 18, 7, 0)),    # Saturday → Monday
    (vn(2024, 8, 31, 10, 0), vn(2024, 9, 4, 7, 0)),       # weekend + National Day → Wednesday
    (vn(2024, 11, 15, 10, 0), vn(2024, 11, 15, 10, 0)),   # already allowed
])
def test_next_allowed(at, expected):
    assert next_allowed(at, CAL, VN, QUIET) == expected


def test_quiet_hours_across_midnight_and_within_a_day():
    assert in_quiet_hours(time(23), QUIET) and in_quiet_hours(time(6, 59), QUIET)
    assert not in_quiet_hours(time(7), QUIET) and not in_quiet_hours(time(20, 59), QUIET)
    assert in_quiet_hours(time(12, 30), (time(12), time(13))) and not in_quiet_hours(time(13), (time(12), time(13)))
    assert not in_quiet_hours(time(3), (time(0), time(0)))


def test_schedule_of_the_default_ladder():
    rungs = [(at.date().isoformat(), rung.name) for at, rung in schedule(view(), DEFAULT_LADDER, CAL, VN, QUIET)]
    assert rungs == [("2024-11-01", "assigned"), ("2024-11-12", "soon"), ("2024-11-14", "tomorrow"),
                     ("2024-11-15", "today"), ("2024-11-18", "overdue"), ("2024-11-20", "escalated")]


def test_due_on_a_sunday_counts_back_from_the_friday():
    rungs = [(at.date().isoformat(), rung.name) for at, rung in
             schedule(view(due=vn(2024, 11, 17, 23, 59, 59)), DEFAULT_LADDER, CAL, VN, QUIET)]
    assert rungs[1:4] == [("2024-11-12", "soon"), ("2024-11-14", "tomorrow"), ("2024-11-15", "today")]
    assert rungs[4] == ("2024-11-18", "overdue")


def test_only_the_latest_passed_rung_is_due_and_only_for_open_assignments():
    (only,) = due_reminders([view()], vn(2024, 11, 19, 9), CAL, DEFAULT_LADDER, VN, QUIET)
    assert only.rung.name == "overdue"
    assert due_reminders([view(status="submitted")], vn(2024, 11, 19, 9), CAL, DEFAULT_LADDER, VN, QUIET) == []
    assert due_reminders([view()], vn(2024, 11, 1, 7, 59), CAL, DEFAULT_LADDER, VN, QUIET) == []


def test_a_return_restarts_from_today_with_a_new_key():
    returned = view(status="returned", anchor=vn(2024, 11, 13, 15), round_=1)
    (first,) = due_reminders([returned], vn(2024, 11, 13, 15, 1), CAL, DEFAULT_LADDER, VN, QUIET)
    assert first.rung.name == "today" and first.key.startswith("rem:a1:r1:today:")
    (later,) = due_reminders([returned], vn(2024, 11, 15, 8), CAL, DEFAULT_LADDER, VN, QUIET)
    assert later.rung.name == "today" and later.key == first.key  # the same reminder: queued once
    (after,) = due_reminders([returned], vn(2024, 11, 18, 8), CAL, DEFAULT_LADDER, VN, QUIET)
    assert after.rung.name == "overdue"


def test_keys_change_with_the_due_instant_except_the_assigned_notice():
    early = due_reminders([view()], vn(2024, 11, 1, 9), CAL, DEFAULT_LADDER, VN, QUIET)[0]
    moved = due_reminders([view(due=vn(2024, 11, 22, 23, 59, 59))], vn(2024, 11, 1, 9), CAL, DEFAULT_LADDER, VN, QUIET)[0]
    assert early.rung.name == moved.rung.name == "assigned" and early.key == moved.key
    soon = due_reminders([view()], vn(2024, 11, 12, 9), CAL, DEFAULT_LADDER, VN, QUIET)[0]
    soon_moved = due_reminders([view(due=vn(2024, 11, 13, 23, 59, 59))], vn(2024, 11, 12, 9), CAL, DEFAULT_LADDER,
                               VN, QUIET)[0]
    assert soon.key != soon_moved.key


@pytest.mark.postgres
async def test_two_workers_on_one_postgresql_database_queue_each_reminder_once(tmp_path):
    from tests.conftest import postgres_database

    async for db in postgres_database():
        await load_demo(db, now=vn(2024, 11, 1, 8), tz=VN)
        await bind_everyone(db, vn(2024, 11, 1, 8))
        config = LadderConfig(ladder=DEFAULT_LADDER, calendar=CAL, tz=VN, quiet=QUIET)
        second = Database(db.url)
        try:
            async def worker(database: Database, at):
                return (await queue_reminders(database, at, config)).messages

            for at in (vn(2024, 11, 1, 12), vn(2024, 11, 15, 7, 30), vn(2024, 11, 20, 7, 30)):
                first_batch, second_batch = await asyncio.gather(worker(db, at), worker(second, at))
                async with db.session() as session:
                    keys = (await session.exec(select(OutboxMessage.dedupe_key))).all()
                    assert len(keys) == len(set(keys))
                assert first_batch or second_batch
            async with db.session() as session:
                total = (await session.exec(select(func.count()).select_from(OutboxMessage))).one()
                recorded = sorted((await session.exec(select(ReminderSent.assignment_id,
                                                             ReminderSent.created_at))).all())
                carried = sorted({(aid, message.created_at) for message in (await session.exec(select(OutboxMessage))).all()
                                  for aid in message.payload.get("assignment_ids", ())})
                per_tick = (await session.exec(select(OutboxMessage.person_id, OutboxMessage.created_at, func.count())
                                               .group_by(OutboxMessage.person_id, OutboxMessage.created_at))).all()
            # batched: one message per person per tick, whichever worker queued it
            assert total > 50 and all(count == 1 for _, _, count in per_tick)
            # each rung recorded once (by whichever worker won it), and carried by the messages of that tick
            assert recorded == carried
        finally:
            await second.dispose()
