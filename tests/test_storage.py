"""Storage on a real database (SQLite, and PostgreSQL where reachable)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel, select

from storage.migrate import current_revision, head_revision, upgrade
from storage.models import Assignment, AssignmentStatus, StatusEvent, Unit
from storage.queries import board, create_task, resolve_units, UnknownUnits
from storage.status import ConcurrentChange, IllegalTransition, is_late, is_overdue, transition
from tests.conftest import vn

S = AssignmentStatus


async def test_migrations_are_idempotent_and_match_the_models(db):
    await upgrade(db)  # a second run changes nothing and does not fail
    assert await current_revision(db) == head_revision()

    def diff(connection):
        return compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)

    async with db.engine.connect() as connection:
        assert await connection.run_sync(diff) == []


async def seed_units(db, now, n=3):
    async with db.session() as session:
        units = [Unit(code=f"X{i}", name=f"Xã {i}", kind="commune", groups=["xa"], aliases=[],
                      created_at=now, updated_at=now) for i in range(n)]
        units.append(Unit(code="NV", name="Phòng Nội vụ", kind="department", groups=["cqcm"], aliases=[],
                          created_at=now, updated_at=now))
        session.add_all(units)
    return units


async def make_task(db, now, spec="all", due=None):
    async with db.session() as session:
        units = await resolve_units(session, spec)
        task, assignments = await create_task(
            session, title="Báo cáo CCHC", due_at=due or vn(2024, 11, 15, 23, 59, 59),
            deadline_phrase="chậm nhất ngày 15/11/2024", units=units, now=now)
    return task, assignments


async def test_task_creates_one_assignment_per_unit_with_an_event(db):
    now = vn(2024, 11, 1, 8)
    await seed_units(db, now)
    task, assignments = await make_task(db, now, "group:xa")
    assert len(assignments) == 3
    async with db.session() as session:
        events = (await session.exec(select(StatusEvent).where(StatusEvent.task_id == task.id))).all()
        assert sorted(e.kind for e in events) == ["assigned"] * 3
        loaded = (await session.exec(select(Assignment))).all()
        assert {a.status for a in loaded} == {"pending"}
        # instants come back aware and equal on both databases
        assert (await session.get(type(task), task.id)).due_at == vn(2024, 11, 15, 23, 59, 59)


async def test_unknown_units_are_named(db):
    now = vn(2024, 11, 1, 8)
    await seed_units(db, now)
    async with db.session() as session:
        with pytest.raises(UnknownUnits) as info:
            await resolve_units(session, "X0,ZZ,group:nope")
        assert info.value.names == ["ZZ", "group:nope"]


async def test_legal_transitions_write_events_in_the_same_transaction(db):
    now = vn(2024, 11, 1, 8)
    await seed_units(db, now, n=1)
    _, (first, *_) = await make_task(db, now, "X0")
    async with db.session() as session:
        a = await session.get(Assignment, first.id)
        await transition(session, a, S.submitted, now=now + timedelta(days=1), actor_person_id=None)
        await transition(session, a, S.returned, now=now + timedelta(days=2), actor_person_id=None, note="Thiếu chữ ký")
        await transition(session, a, S.submitted, now=now + timedelta(days=3), actor_person_id=None)
        await transition(session, a, S.accepted, now=now + timedelta(days=4), actor_person_id=None)
    async with db.session() as session:
        a = await session.get(Assignment, first.id)
        assert (a.status, a.round) == ("accepted", 2)
        events = (await session.exec(
            select(StatusEvent).where(StatusEvent.assignment_id == a.id, StatusEvent.kind == "status")
            .order_by(StatusEvent.id))).all()
        assert [(e.from_status, e.to_status, e.round) for e in events] == [
            ("pending", "submitted", 1), ("submitted", "returned", 1),
            ("returned", "submitted", 2), ("submitted", "accepted", 2)]
        assert events[1].note == "Thiếu chữ ký"


async def test_rolled_back_unit_of_work_leaves_neither_status_nor_event(db):
    now = vn(2024, 11, 1, 8)
    await seed_units(db, now, n=1)
    _, (first, *_) = await make_task(db, now, "X0")
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            a = await session.get(Assignment, first.id)
            await transition(session, a, S.submitted, now=now, actor_person_id=None)
            raise RuntimeError("the reply failed")
    async with db.session() as session:
        assert (await session.get(Assignment, first.id)).status == "pending"
        kinds = (await session.exec(select(StatusEvent.kind))).all()
        assert kinds == ["assigned"]


@pytest.mark.parametrize("path", [
    ("pending", "accepted"), ("pending", "returned"), ("accepted", "submitted"), ("excused", "pending")])
async def test_illegal_transition_raises_and_changes_nothing(db, path):
    start, target = path
    now = vn(2024, 11, 1, 8)
    await seed_units(db, now, n=1)
    _, (first, *_) = await make_task(db, now, "X0")
    async with db.session() as session:
        a = await session.get(Assignment, first.id)
        a.status = start  # arrange the starting state directly
    async with db.session() as session:
        a = await session.get(Assignment, first.id)
        with pytest.raises(IllegalTransition):
            await transition(session, a, target, now=now, actor_person_id=None)
    async with db.session() as session:
        assert (await session.get(Assignment, first.id)).status == start
        assert len((await session.exec(select(StatusEvent))).all()) == 1


async def test_a_stale_copy_cannot_overwrite_a_newer_status(db):
    now = vn(2024, 11, 1, 8)
    await seed_units(db, now, n=1)
    _, (first, *_) = await make_task(db, now, "X0")
    async with db.session() as reader:
        stale = await reader.get(Assignment, first.id)
    async with db.session() as session:
        a = await session.get(Assignment, first.id)
        await transition(session, a, S.submitted, now=now, actor_person_id=None)
        await transition(session, a, S.accepted, now=now, actor_person_id=None)
    with pytest.raises(ConcurrentChange):
        async with db.session() as session:
            stale = await session.merge(stale, load=False)
            await transition(session, stale, S.submitted, now=now, actor_person_id=None)
    async with db.session() as session:
        assert (await session.get(Assignment, first.id)).status == "accepted"


def test_late_and_overdue_are_derived():
    due = vn(2024, 11, 15, 23, 59, 59)
    assert not is_overdue("pending", due, due)
    assert is_overdue("pending", due, due + timedelta(seconds=1))
    assert is_overdue("returned", due, due + timedelta(days=2))
    assert not is_overdue("submitted", due, due + timedelta(days=2))
    assert not is_overdue("excused", due, due + timedelta(days=2))
    assert is_late(due + timedelta(minutes=1), due)
    assert not is_late(due, due)
    assert not is_late(None, due)


async def test_board_counts_and_overdue(db):
    now = vn(2024, 11, 1, 8)
    await seed_units(db, now, n=3)
    task, assignments = await make_task(db, now, "group:xa")
    async with db.session() as session:
        a = await session.get(Assignment, assignments[0].id)
        await transition(session, a, S.submitted, now=vn(2024, 11, 16, 9), actor_person_id=None)
        b = await session.get(Assignment, assignments[1].id)
        b.due_at_override = vn(2024, 11, 25, 23, 59, 59)
    async with db.session() as session:
        (entry,) = await board(session, vn(2024, 11, 17, 9))
        assert entry.total == 3 and entry.delivered == 1
        states = {s.unit.code: s for s in entry.units}
        assert states["X0"].late and not states["X0"].overdue
        assert not states["X1"].overdue  # extended
        assert states["X2"].overdue
        assert entry.overdue == 1
        (mine,) = await board(session, vn(2024, 11, 17, 9), unit_id=assignments[2].unit_id)
        assert [s.unit.code for s in mine.units] == ["X2"]
