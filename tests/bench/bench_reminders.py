"""Benchmark: the reminder tick at province scale, inside the running bot, beside a plain COUNT.

4,000 units × 60 tasks (240,000 assignments, two thirds open), an officer and a head per unit (every tenth
head has not joined), three leaders. Run: ``./test.sh tests/bench/bench_reminders.py -s`` (add
TEST_DATABASE_URL for PostgreSQL too). The data is written by a child process, so this process's idle
memory is the bot's own (code, an open database, one answered ``/status``), not the loader's garbage.

Measured in each of three runs, each on a database of its own (the heaviest tick happens once per
database), against the floor of the same run where one exists; min and median reported:
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
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, insert
from sqlmodel import select

from bot.jobs import release_memory
from handlers.chat import Incoming, Sender
from handlers.conversation import Conversation, HandlerContext
from handlers.reminders import queue_reminders
from schedules.clock import FixedClock
from storage.db import Database
from storage.models import Assignment, ChannelIdentity, OutboxMessage, Person, ReminderSent, Task, Unit
from tests.conftest import VN, postgres_database, sqlite_database, vn
from tests.test_campaign import CONFIG

UNITS = 4000
TASKS = 60
CREATED = vn(2024, 11, 1, 8)
HEAVY_AT = vn(2024, 11, 15, 7, 30)
QUIET_AT = vn(2024, 11, 15, 15, 17)
PROBE_EVERY = 0.1
RUNS = 3


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


@dataclass
class Run:
    """One run's figures, on a database of its own."""

    count_s: float
    heavy_s: float
    heavy_cpu_s: float
    queued: int
    people: int
    rung_items: int
    unjoined_people: int
    unjoined_items: int
    officer_max_s: float
    officer_answers: int
    officer_idle_s: float
    quiet_s: float
    idle_rss: int
    after_rss: int

    @property
    def quiet_ratio(self) -> float:
        return self.quiet_s / self.count_s

    @property
    def memory_ratio(self) -> float:
        return self.after_rss / self.idle_rss


@asynccontextmanager
async def fresh_database(dialect: str, folder) -> AsyncIterator[Database]:
    """A migrated, empty database of ``dialect`` (the heaviest tick happens once per database)."""
    if dialect == "postgresql":
        async for database in postgres_database():
            yield database
        return
    run_folder = folder / f"run-{uuid.uuid4().hex[:8]}"
    run_folder.mkdir()
    async for database in sqlite_database(run_folder):
        yield database


async def one_run(db: Database) -> Run:
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

    probes: list[float] = []
    done = asyncio.Event()

    async def probe(external_id: str) -> None:
        while not done.is_set():
            elapsed, replies = await timed(status_of(external_id))
            assert replies and replies[0].text
            probes.append(elapsed)
            try:
                await asyncio.wait_for(done.wait(), PROBE_EVERY)  # pacing: one /status per 100 ms
            except asyncio.TimeoutError:
                pass

    async def heavy():
        try:
            return await queue_reminders(db, HEAVY_AT, CONFIG)
        finally:
            done.set()

    prober = asyncio.create_task(probe(officer_id))
    cpu = time.process_time()
    heavy_s, heavy_result = await timed(heavy)
    heavy_cpu = time.process_time() - cpu
    await prober
    people, rung_items = len(heavy_result.messages), sum(len(m.items) for m in heavy_result.messages)
    reminded = len({item.assignment_id for m in heavy_result.messages for item in m.items})
    unjoined_people, unjoined_items = heavy_result.unjoined_people, heavy_result.unjoined_items
    del heavy_result  # as the scheduled job does with the tick's result,
    release_memory()  # and what it does after a heavy tick (``bot.jobs.tick``)
    after_rss = rss()

    quiet = [await timed(lambda: queue_reminders(db, QUIET_AT + timedelta(minutes=n), CONFIG)) for n in range(3)]
    quiet_s = min(elapsed for elapsed, _ in quiet)  # min of 3 quiet minutes, as the COUNT's min of 3
    assert quiet[-1][1].messages == []
    async with db.session() as session:
        queued = (await session.exec(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.created_at == HEAVY_AT))).one()
        recorded = (await session.exec(select(func.count()).select_from(ReminderSent).where(
            ReminderSent.created_at == HEAVY_AT))).one()
    assert recorded == reminded  # every rung that went into a message was recorded once (its log entry)
    assert open_count == UNITS * TASKS * 2 // 3
    return Run(floor, heavy_s, heavy_cpu, queued, people, rung_items, unjoined_people, unjoined_items, max(probes),
               len(probes), idle_officer, quiet_s, idle_rss, after_rss)


def spread(values: list[float], scale: float = 1.0, unit: str = "") -> str:
    return f"min {min(values) * scale:.2f}{unit}, median {statistics.median(values) * scale:.2f}{unit}"


async def test_reminder_tick_at_province_scale(db, tmp_path):
    runs: list[Run] = []
    for _ in range(RUNS):
        async with fresh_database(db.dialect, tmp_path) as database:
            runs.append(await one_run(database))
            gc.collect()

    tag = f"[{db.dialect}]"
    first = runs[0]
    heavy = [r.heavy_s for r in runs]
    officer = [r.officer_max_s for r in runs]
    print(f"\n{tag} {UNITS} units × {TASKS} tasks, {UNITS * TASKS * 2 // 3} open; {RUNS} runs, each on its own "
          f"database; plain COUNT {spread([r.count_s for r in runs], 1000, ' ms')}")
    print(f"{tag} heaviest morning tick: {spread(heavy, 1, ' s')} (process CPU "
          f"{spread([r.heavy_cpu_s for r in runs], 1, ' s')}) — target ≤ 5 s: "
          f"{'met' if statistics.median(heavy) <= 5 else 'NOT met'}")
    print(f"{tag} messages queued: {first.queued} ({first.people} people; {first.rung_items} task rungs), "
          f"drained at 30/s in {first.queued / 30 / 60:.1f} min — target ≤ 12,000, ≤ 7 min; "
          f"unjoined: {first.unjoined_people} people, {first.unjoined_items} reminders")
    print(f"{tag} officer's /status during the tick (every {PROBE_EVERY * 1000:.0f} ms; max of each run): "
          f"{spread(officer, 1000, ' ms')} over {sum(r.officer_answers for r in runs)} answers; idle "
          f"{spread([r.officer_idle_s for r in runs], 1000, ' ms')} — target ≤ 1 s: "
          f"{'met' if max(officer) <= 1 else 'NOT met'}")
    print(f"{tag} quiet mid-day tick: {spread([r.quiet_ratio for r in runs], 1, '×')} COUNT — target ≤ 5×")
    print(f"{tag} memory after the heaviest tick: {spread([r.memory_ratio for r in runs], 1, '×')} idle "
          f"(idle {first.idle_rss / 1e6:.0f} MB) — target ≤ 1.5×")
    # the goals that are counts or ratios to the same run's floor hold on a busy machine too; the absolute
    # times (tick ≤ 5 s, /status ≤ 1 s) are printed against their targets above
    assert all(r.queued == r.people <= 12_000 for r in runs)
    assert statistics.median(r.quiet_ratio for r in runs) <= 5
    assert statistics.median(r.memory_ratio for r in runs) <= 1.5
