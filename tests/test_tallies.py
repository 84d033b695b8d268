"""The per-task counts kept beside the assignments (``storage.tallies``) always equal a recount: through every
write that changes them, a rollback, concurrent writers, and the migration that introduced them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from storage import extensions, tallies
from storage.migrate import upgrade
from storage.models import Assignment, AssignmentStatus, ReminderSent, TaskTally
from storage.queries import task_summaries
from storage.status import transition
from tests.conftest import VN, database_at, vn
from tests.test_storage import make_task, seed_units

S = AssignmentStatus
DUE = vn(2024, 11, 15, 23, 59, 59)
DUE_2026 = vn(2026, 12, 4, 23, 59, 59)  # 1796403599


async def kept(db) -> dict[tuple[str, bool], int]:
    async with db.session() as session:
        return {(row.status, row.late): row.units for row in (await session.exec(select(TaskTally))).all()
                if row.units}


async def no_drift(db) -> None:
    async with db.session() as session:
        assert await tallies.drift(session) == {}


async def step(db, assignment_id: int, target: S, at) -> None:
    async with db.session() as session:
        assignment = await session.get(Assignment, assignment_id)
        await transition(session, assignment, target, now=at, actor_person_id=None)
    await no_drift(db)


async def test_the_kept_counts_follow_every_change(db):
    now = vn(2024, 11, 1, 8)
    await seed_units(db, now, n=5)
    task, assignments = await make_task(db, now, "group:xa", due=DUE)
    a, b, c, d, e = (x.id for x in assignments)
    assert await kept(db) == {("pending", False): 5}
    await no_drift(db)

    await step(db, a, S.submitted, DUE + timedelta(hours=1))  # late
    await step(db, b, S.submitted, DUE - timedelta(days=1))  # on time …
    await step(db, b, S.returned, DUE - timedelta(hours=20))
    await step(db, b, S.submitted, DUE + timedelta(days=1))  # … then late, and accepted late
    await step(db, b, S.accepted, DUE + timedelta(days=2))
    await step(db, d, S.excused, DUE + timedelta(days=2))
    # c asks for more time, hands in after the task's due, and the extension is approved afterwards: on time
    async with db.session() as session:
        request = await extensions.request_extension(
            session, await session.get(Assignment, c), requested_due_at=DUE + timedelta(days=5),
            requested_phrase="20/11", reason="Chờ số liệu", person_id=None, now=DUE - timedelta(days=2), tz=VN)
    await step(db, c, S.submitted, DUE + timedelta(days=3))
    assert (await kept(db))[("submitted", True)] == 2
    async with db.session() as session:
        await extensions.approve(session, request.id, person_id=None, now=DUE + timedelta(days=3, hours=1), tz=VN)
    await no_drift(db)
    assert await kept(db) == {("submitted", True): 1, ("submitted", False): 1, ("accepted", True): 1,
                              ("excused", False): 1, ("pending", False): 1}

    async with db.session() as session:
        (summary,) = await task_summaries(session, DUE + timedelta(days=4), include_archived=True)
    assert summary.total == 5 and summary.delivered == 4 and summary.late == 2 and summary.overdue == 1
    assert summary.task.id == task.id


async def test_a_rolled_back_change_leaves_the_counts_alone(db):
    now = vn(2024, 11, 1, 8)
    await seed_units(db, now, n=2)
    _, (first, _second) = await make_task(db, now, "group:xa", due=DUE)
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            await transition(session, await session.get(Assignment, first.id), S.submitted, now=now,
                             actor_person_id=None)
            raise RuntimeError("the file check failed")
    assert await kept(db) == {("pending", False): 2}


async def test_concurrent_changes_to_one_task_all_count(db):
    """Many units of one task hand in at once (each its own transaction): none is lost, none deadlocks."""
    now = vn(2024, 11, 1, 8)
    await seed_units(db, now, n=12)
    _, assignments = await make_task(db, now, "group:xa", due=DUE)

    async def hand_in(index: int, assignment_id: int) -> None:
        async with db.session() as session:
            assignment = await session.get(Assignment, assignment_id)
            await transition(session, assignment, S.submitted, actor_person_id=None,
                             now=DUE + timedelta(hours=1) if index % 2 else DUE - timedelta(hours=1))
            if index % 3 == 0:
                await transition(session, assignment, S.accepted, now=DUE + timedelta(hours=2), actor_person_id=None)

    await asyncio.gather(*(hand_in(i, a.id) for i, a in enumerate(assignments)))
    await no_drift(db)
    assert sum((await kept(db)).values()) == 12


async def test_the_upgrade_counts_what_is_already_there(tmp_path):
    async with database_at(tmp_path, "0007", (
        "INSERT INTO unit (id, code, name, kind, groups, aliases, active, created_at, updated_at) VALUES "
        "(1, 'XA1', 'Xã Một', 'commune', '[]', '[]', 1, '2026-11-02 02:00:00', '2026-11-02 02:00:00'), "
        "(2, 'XA2', 'Xã Hai', 'commune', '[]', '[]', 1, '2026-11-02 02:00:00', '2026-11-02 02:00:00'), "
        "(3, 'XA3', 'Xã Ba', 'commune', '[]', '[]', 1, '2026-11-02 02:00:00', '2026-11-02 02:00:00')",
        "INSERT INTO task (id, title, due_at, deadline_phrase, signature_required, coordinating_unit_ids, "
        "created_at) VALUES (1, 'Báo cáo', '2026-12-04 16:59:59', 'hạn', 0, '[]', '2026-11-02 02:00:00')",
        "INSERT INTO assignment (id, task_id, unit_id, status, round, submitted_at, status_changed_at, "
        "created_at) VALUES "
        "(1, 1, 1, 'pending', 0, NULL, '2026-11-02 02:00:00', '2026-11-02 02:00:00'), "
        "(2, 1, 2, 'submitted', 1, '2026-12-05 02:00:00', '2026-12-05 02:00:00', '2026-11-02 02:00:00'), "
        "(3, 1, 3, 'accepted', 1, '2026-12-01 02:00:00', '2026-12-02 02:00:00', '2026-11-02 02:00:00')",
        "INSERT INTO person (id, name, role, unit_id, active, created_at, updated_at) VALUES "
        "(1, 'Cán bộ', 'officer', 1, 1, '2026-11-02 02:00:00', '2026-11-02 02:00:00')",
    ), outbox_keys=("explask:a1:1796403599:p1", "explask:a1:1796403599:p2"),  # asked (two people) before 0010
            outbox_kind="explanation", outbox_at="2026-12-07 02:00:00") as db:
        await upgrade(db)
        assert await kept(db) == {("pending", False): 1, ("submitted", True): 1, ("accepted", False): 1}
        await no_drift(db)
        async with db.session() as session:  # the ask already sent is recorded once: it is not sent again
            (ask,) = (await session.exec(select(ReminderSent))).all()
        assert (ask.assignment_id, ask.round, ask.rung, ask.due_at, ask.unit_id) == (1, 0, "explain", DUE_2026, 1)
