"""Benchmark: the reminder tick at province scale, inside the running bot, beside a plain COUNT.

4,000 units × 60 tasks (240,000 assignments, two thirds open), an officer and a head per unit (every tenth
head has not joined), three leaders. Run: ``./test.sh tests/bench/bench_reminders.py -s`` (add
TEST_DATABASE_URL for PostgreSQL too). The data is written by a child process, so this process's idle
memory is the bot's own (code, an open database, one answered ``/status``), not the loader's garbage.

Measured in one run, each against the floor of the same run where one exists:
- the plain ``COUNT`` of open assignments (the floor; min of 3);
- the heaviest morning tick (07:30, when rungs fire for every open assignment): its time, the messages
  queued (goal ≤ 12,000, one per person), and how long they take to drain at 30 messages/s;
- ``/status`` sent by an officer every 100 ms while that tick runs in the same event loop (the bot and the
  tick share it in ``dondoc run``): the slowest answer, against the same ``/status`` answered when the bot
  is idle (a leader's ``/status`` is the whole board, issue 10's to page; it is not probed here);
- the quiet mid-day tick (nothing fires), as a ratio to the COUNT;
- the process's resident memory after the heaviest tick (after what the scheduled job does then: drop the
  result, hand freed heap back with ``malloc_trim``), as a ratio to its idle memory.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import time
from datetime import timedelta

from sqlalchemy import func, insert
from sqlmodel import select

from bot.jobs import release_memory
from handlers.chat import Incoming, Sender
from handlers.conversation import Conversation, HandlerContext
from handlers.reminders import queue_reminders
from schedules.clock import FixedClock
from storage.db import Database
from storage.models import Assignment, ChannelIdentity, OutboxMessage, Person, Task, Unit
from tests.conftest import VN, vn
from tests.test_campaign import CONFIG

UNITS = 4000
TASKS = 60
CREATED = vn(2024, 11, 1, 8)
HEAVY_AT = vn(2024, 11, 15, 7, 30)
QUIET_AT = vn(2024, 11, 15, 15, 17)
PROBE_EVERY = 0.1


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def populate(url: str) -> None:
    db = Database(url)
    created = CREATED
    async with db.session() as session:
        await session.exec(insert(Unit), params=[
            dict(code=f"U{i:04d}", name=f"Xã {i}", kind="commune", groups=["xa"], aliases=[], active=True,
                 created_at=created, updated_at=created) for i in range(UNITS)] + [
            dict(code="UBND", name="UBND tỉnh", kind="office", groups=[], aliases=[], active=True,
                 created_at=created, updated_at=created)])
        people, identities = [], []
        for i in range(UNITS):
            for role in ("officer", "head"):
                people.append(dict(name=f"{'Cán bộ' if role == 'officer' else 'Chủ tịch'} {i}", role=role,
                                   unit_id=i + 1, active=True, created_at=created, updated_at=created))
                if role == "officer" or i % 10:
                    identities.append(len(people))
        for n in range(3):
            people.append(dict(name=f"Lãnh đạo {n}", role="leader", unit_id=UNITS + 1, active=True,
                               created_at=created, updated_at=created))
            identities.append(len(people))
        await session.exec(insert(Person), params=people)
        await session.exec(insert(ChannelIdentity), params=[
            dict(person_id=pid, channel="telegram", external_id=str(10_000 + pid), chat_id=str(10_000 + pid),
                 created_at=created) for pid in identities])
        await session.exec(insert(Task), params=[
            dict(title=f"Báo cáo {t}", due_at=vn(2024, 11, 11 + t % 20, 23, 59, 59), deadline_phrase="hạn",
                 signature_required=False, coordinating_unit_ids=[], created_at=created) for t in range(TASKS)])
        rows = []
        for t in range(TASKS):
            for u in range(UNITS):
                status = "submitted" if (t + u) % 3 == 0 else "pending"
                rows.append(dict(task_id=t + 1, unit_id=u + 1, status=status, round=0, status_changed_at=created,
                                 created_at=created))
            if len(rows) >= 40_000:
                await session.exec(insert(Assignment), params=rows)
                rows = []
        if rows:
            await session.exec(insert(Assignment), params=rows)
    # the "assigned" notices went out on 01/11 (as in a real campaign), so the heavy morning is a ladder rung
    await queue_reminders(db, vn(2024, 11, 1, 9), CONFIG)
    if db.dialect == "postgresql":  # table statistics, as autovacuum keeps them on a live server
        async with db.engine.connect() as connection:
            await connection.exec_driver_sql("ANALYZE")
            await connection.commit()
    await db.dispose()


def _populate(url: str) -> None:
    asyncio.run(populate(url))


async def timed(work) -> tuple[float, object]:
    started = time.perf_counter()
    result = await work()
    return time.perf_counter() - started, result


async def test_reminder_tick_at_province_scale(db):
    context = multiprocessing.get_context("spawn")
    loader = context.Process(target=_populate, args=(db.url,))
    loader.start()
    await asyncio.get_running_loop().run_in_executor(None, loader.join)
    assert loader.exitcode == 0

    clock = FixedClock(HEAVY_AT)
    conversation = Conversation(HandlerContext(db=db, clock=clock, tz=VN, calendar=CONFIG.calendar))
    async with db.session() as session:
        officer_id = (await session.exec(select(ChannelIdentity.external_id).join(Person).where(
            Person.role == "officer", Person.unit_id == 2))).one()

    def status_of(external_id: str):
        return lambda: conversation.handle(Incoming.from_text(Sender("telegram", external_id, external_id), "/status"))

    async def count():
        async with db.session() as session:
            return (await session.exec(select(func.count()).select_from(Assignment).where(
                Assignment.status.in_(["pending", "returned"])))).one()

    floor = min([(await timed(count))[0] for _ in range(3)])
    open_count = await count()
    idle_officer = min([(await timed(status_of(officer_id)))[0] for _ in range(3)])
    gc.collect()
    idle_rss = rss()

    probes: dict[str, list[float]] = {"officer": []}
    done = asyncio.Event()

    async def probe(label: str, external_id: str) -> None:
        while not done.is_set():
            elapsed, replies = await timed(status_of(external_id))
            assert replies and replies[0].text
            probes[label].append(elapsed)
            try:
                await asyncio.wait_for(done.wait(), PROBE_EVERY)  # pacing: one /status per 100 ms each
            except asyncio.TimeoutError:
                pass

    async def heavy():
        try:
            return await queue_reminders(db, HEAVY_AT, CONFIG)
        finally:
            done.set()

    probers = [asyncio.create_task(probe("officer", officer_id))]
    cpu = time.process_time()
    heavy_s, heavy_result = await timed(heavy)
    heavy_cpu = time.process_time() - cpu
    await asyncio.gather(*probers)
    people, rung_items = len(heavy_result.messages), sum(len(m.items) for m in heavy_result.messages)
    unjoined_people, unjoined_items = heavy_result.unjoined_people, heavy_result.unjoined_items
    del heavy_result  # as the scheduled job does with the tick's result,
    release_memory()  # and what it does after a heavy tick (``bot.jobs.tick``)
    after_rss = rss()

    quiet = [await timed(lambda: queue_reminders(db, QUIET_AT + timedelta(minutes=n), CONFIG)) for n in range(3)]
    quiet_s = min(elapsed for elapsed, _ in quiet)  # min of 3 quiet minutes, as the COUNT's min of 3
    quiet_result = quiet[-1][1]
    async with db.session() as session:
        queued = (await session.exec(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.created_at == HEAVY_AT))).one()
        rungs = (await session.exec(select(func.count()).select_from(Assignment).where(
            Assignment.status.in_(["pending", "returned"])))).one()

    tag = f"[{db.dialect}]"
    print(f"\n{tag} {open_count} open of {UNITS * TASKS} assignments; plain COUNT {floor * 1000:.0f} ms")
    print(f"{tag} heaviest morning tick: {heavy_s:.2f} s (process CPU {heavy_cpu:.2f} s), {queued} messages queued "
          f"({people} people; {rung_items} task rungs); "
          f"drain at 30/s: {queued / 30 / 60:.1f} min; unjoined: {unjoined_people} people, "
          f"{unjoined_items} reminders")
    for label, idle in (("officer", idle_officer),):
        seen = probes[label]
        print(f"{tag} /status ({label}) during the tick: max {max(seen) * 1000:.0f} ms over {len(seen)} answers; "
              f"idle {idle * 1000:.0f} ms")
    print(f"{tag} quiet mid-day tick: {quiet_s * 1000:.0f} ms = {quiet_s / floor:.1f}× COUNT")
    print(f"{tag} memory: idle {idle_rss / 1e6:.0f} MB, after heaviest tick {after_rss / 1e6:.0f} MB "
          f"= {after_rss / idle_rss:.2f}×")
    print(f"BENCH {db.dialect} heavy_s={heavy_s:.3f} heavy_cpu_s={heavy_cpu:.2f} queued={queued} "
          f"officer_max_ms={max(probes['officer']) * 1000:.0f} officer_idle_ms={idle_officer * 1000:.0f} "
          f"quiet_ratio={quiet_s / floor:.2f} mem_ratio={after_rss / idle_rss:.2f} count_ms={floor * 1000:.1f}")
    assert queued == people > 0 and quiet_result.messages == []
    assert rungs == open_count
