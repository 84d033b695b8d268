"""Benchmark: the leader's views at national scale — 3,321 communes + 700 departments, 60 tasks (241,260
assignments, their status events) — beside the SQL ``GROUP BY`` floor measured in the same run.

Run: ``./test.sh tests/bench/bench_board.py -s`` (add TEST_DATABASE_URL for PostgreSQL too).

Measured three times each, min and median reported:
- the floor: ``SELECT task_id, status, count(*) FROM assignment GROUP BY task_id, status``;
- ``/status`` through the whole conversation (identity lookup, grouped counts, headline, paging);
- ``/export`` through the conversation (workbook built in a worker thread, write-only);
- the digest (``build_digest``: sections, chart and workbook);
- an inbound message (an officer's ``/tasks``, a leader's ``/status``) answered while ``/export`` runs;
- Monday's unit summaries, one to each of 4,021 unit heads (three Mondays).
Targets (issue 10): ``/status`` ≤ 200 ms on a quiet machine and ≤ 5× the floor; ``/export`` ≤ 10 s; the digest
≤ 10 s; an inbound message ≤ 1 s while ``/export`` runs. Only the ratio is asserted (a shared machine
slows everything alike); the absolute figures are printed against their targets.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import timedelta

from sqlalchemy import func, insert
from sqlmodel import select

from handlers.chat import Incoming, Sender, fits, limits_for
from handlers.conversation import Conversation, HandlerContext
from handlers.digest import build_digest, queue_unit_summaries
from schedules.calendar import WorkCalendar
from schedules.clock import FixedClock
from storage.models import Assignment, ChannelIdentity, Person, Unit
from tests.board_factory import external_id, populate_board
from tests.conftest import VN, vn

NOW = vn(2026, 11, 24, 9)
MONDAY = vn(2026, 11, 30, 9)
RUNS = 3


def figures(samples: list[float]) -> str:
    return f"min {min(samples) * 1000:.0f} ms, median {statistics.median(samples) * 1000:.0f} ms"


async def timed(work) -> tuple[float, object]:
    started = time.perf_counter()
    result = await work()
    return time.perf_counter() - started, result


async def test_board_views_at_national_scale(db):
    started = time.perf_counter()
    board = await populate_board(db, now=NOW, departments=700, communes=3321, tasks=60)
    populated = time.perf_counter() - started
    conversation = Conversation(HandlerContext(db=db, clock=FixedClock(NOW), tz=VN, calendar=WorkCalendar()))
    leader = Sender("telegram", external_id("leader", "telegram"), external_id("leader", "telegram"))
    officer = Sender("telegram", external_id("officer", "telegram"), external_id("officer", "telegram"))

    async def floor():
        async with db.session() as session:
            return (await session.exec(select(Assignment.task_id, Assignment.status, func.count())
                                       .group_by(Assignment.task_id, Assignment.status))).all()

    async def status():
        return await conversation.handle(Incoming.from_text(leader, "/status"))

    async def export():
        return await conversation.handle(Incoming.from_text(leader, "/export"))

    async def digest():
        async with db.session() as session:
            return await build_digest(session, now=NOW, tz=VN, calendar=WorkCalendar(), since=None)

    results: dict[str, list[float]] = {}
    for name, work in (("floor", floor), ("status", status), ("export", export), ("digest", digest)):
        samples = []
        for _ in range(RUNS):
            elapsed, result = await timed(work)
            samples.append(elapsed)
        results[name] = samples
        if name == "floor":
            assert len(result) == 60 * 5  # noqa: PLR2004  every task has every state
        if name == "status":
            (reply,) = result
            assert fits(reply, limits_for("telegram")) and "Đang theo dõi" in reply.text
        if name == "export":
            (reply,) = result
            assert reply.document is not None and len(reply.document.data) > 100_000
        if name == "digest":
            assert result.workbook and result.chart_png and len(result.text) <= 4096  # noqa: PLR2004

    # inbound messages while /export runs in its worker thread
    inbound: list[float] = []
    for _ in range(RUNS):
        running = asyncio.create_task(export())
        for who, text in ((officer, "/tasks"), (leader, "/status")):
            elapsed, _ = await timed(lambda: conversation.handle(Incoming.from_text(who, text)))
            assert not running.done(), "the export finished before the inbound message was measured"
            inbound.append(elapsed)
        await running
    results["inbound during /export"] = inbound

    # Monday: every unit head gets their unit's summary (a head per unit, each with a chat)
    async with db.session() as session:
        unit_ids = list((await session.exec(select(Unit.id))).all())
        await session.exec(insert(Person.__table__), params=[
            dict(name=f"Trưởng {u}", role="head", unit_id=u, active=True, created_at=NOW, updated_at=NOW)
            for u in unit_ids])
        heads = list((await session.exec(select(Person.id).where(Person.role == "head"))).all())
        await session.exec(insert(ChannelIdentity.__table__), params=[
            dict(person_id=p, channel="telegram", external_id=f"h{p}", chat_id=f"h{p}", created_at=NOW)
            for p in heads])
    summaries = []
    for week in range(RUNS):
        monday = MONDAY + timedelta(days=7 * week)
        async with db.session() as session:
            elapsed, queued = await timed(lambda: queue_unit_summaries(session, now=monday, tz=VN,
                                                                       calendar=WorkCalendar()))
        assert queued == len(heads)  # every unit owes something on this board
        summaries.append(elapsed)
    results["Monday unit summaries"] = summaries

    floor_median = statistics.median(results["floor"])
    ratio = statistics.median(results["status"]) / floor_median
    print(f"\n[{db.dialect}] {board.units} units × {board.tasks} tasks = {board.units * board.tasks} assignments"
          f" (populated in {populated:.1f} s)")
    targets = {"floor": None, "status": 0.2, "export": 10.0, "digest": 10.0, "inbound during /export": 1.0,
               "Monday unit summaries": 10.0}
    for name, samples in results.items():
        target = targets[name]
        verdict = "" if target is None else (f" — target ≤ {target * 1000:.0f} ms: "
                                             f"{'met' if statistics.median(samples) <= target else 'NOT met'}")
        print(f"[{db.dialect}] {name}: {figures(samples)}{verdict}")
    print(f"[{db.dialect}] /status ÷ GROUP BY floor (medians): {ratio:.1f}× (target ≤ 5×)")
    assert ratio <= 5
