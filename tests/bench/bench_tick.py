"""Benchmark: one reminder tick over 4,000 units × 60 tasks (240,000 assignments) against a plain SQL
count over the same assignments table, in one run.

Run: ``./test.sh tests/bench/bench_tick.py -s`` (add TEST_DATABASE_URL for PostgreSQL too).
The tick is measured twice: at an instant when rungs fire for every open assignment of a third of the
tasks (the heavy morning tick), and at a quiet minute when nothing is due (the other 1,439 ticks a day).
"""

from __future__ import annotations

import time
import resource

from sqlalchemy import func, insert
from sqlmodel import select

from handlers.reminders import plan_reminders, queue_reminders
from storage.models import Assignment, ChannelIdentity, OutboxMessage, Person, Task, Unit
from tests.conftest import vn
from tests.test_campaign import CONFIG

UNITS = 4000
TASKS = 60


async def populate(db) -> None:
    created = vn(2024, 11, 1, 8)
    async with db.session() as session:
        await session.exec(insert(Unit), params=[
            dict(code=f"U{i:04d}", name=f"Xã {i}", kind="commune", groups=["xa"], aliases=[], active=True,
                 created_at=created, updated_at=created) for i in range(UNITS)])
        await session.exec(insert(Person), params=[
            dict(name=f"Cán bộ {i}", role="officer", unit_id=i + 1, active=True, created_at=created,
                 updated_at=created) for i in range(UNITS)])
        await session.exec(insert(ChannelIdentity), params=[
            dict(person_id=i + 1, channel="telegram", external_id=str(10_000 + i), chat_id=str(10_000 + i),
                 created_at=created) for i in range(UNITS)])
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


async def test_tick_over_4000_units_and_60_tasks(db):
    await populate(db)
    async with db.session() as session:
        started = time.perf_counter()
        count = (await session.exec(select(func.count()).select_from(Assignment).where(
            Assignment.status.in_(["pending", "returned"])))).one()
        baseline = time.perf_counter() - started
    heavy_at = vn(2024, 11, 15, 7, 30)   # today/tomorrow/soon rungs fire for every open assignment
    quiet_at = vn(2024, 11, 15, 15, 17)  # later the same day: everything due is already queued
    figures = {}
    for label, at, work in (("morning, dry run", heavy_at, plan_reminders), ("morning", heavy_at, queue_reminders),
                            ("mid-day", quiet_at, queue_reminders)):
        async with db.session() as session:
            started = time.perf_counter()
            planned = await work(session, at, CONFIG)
        elapsed = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        figures[label] = (elapsed, len(planned), peak)
    async with db.session() as session:
        queued = (await session.exec(select(func.count()).select_from(OutboxMessage))).one()
    print(f"\n[{db.dialect}] {count} open of {UNITS * TASKS} assignments; plain COUNT: {baseline * 1000:.0f} ms")
    for label, (elapsed, planned, peak) in figures.items():
        print(f"[{db.dialect}] tick ({label}): {elapsed * 1000:.0f} ms, {planned} messages, "
              f"process peak RSS so far {peak / 1e6:.0f} MB; ratio to COUNT {elapsed / baseline:.0f}×")
    assert figures["morning"][1] == queued > 0 and figures["mid-day"][1] == 0
    assert count == sum(1 for t in range(TASKS) for u in range(UNITS) if (t + u) % 3)
    assert figures["morning"][1] > 0
