"""A large board written straight into the database (bulk inserts): units, tasks, assignments in every state,
status events, and a leader, a coordinator and an officer reachable on every channel.

Used by the board tests (a few hundred units) and the national-scale benchmarks (3,321 communes and 700
departments, 60 tasks). Task ids are created in the reverse order of their due dates, so a task's id is
never its position on the board.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select

from storage import tallies
from storage.models import (
    Assignment,
    ChannelIdentity,
    Person,
    StatusEvent,
    Task,
    Unit,
)

CHANNELS = ("telegram", "zalo", "console")
STATES = ("pending", "submitted", "accepted", "returned", "excused", "pending", "accepted")


@dataclass
class Board:
    leader: int
    coordinator: int
    officer: int
    officer_unit: int
    tasks: int
    units: int


def external_id(role: str, channel: str) -> str:
    return {"leader": "1", "coordinator": "2", "officer": "3"}[role] + ("0" if channel == "telegram" else "")


async def populate_board(db, *, now: datetime, departments: int, communes: int, tasks: int,
                         events: bool = True, batch: int = 40_000) -> Board:
    created = now - timedelta(days=30)
    async with db.session() as session:
        units = [dict(code=f"PB{i:04d}", name=f"Phòng ban {i:04d}", kind="department", groups=["phong"], aliases=[],
                      active=True, created_at=created, updated_at=created) for i in range(departments)]
        units += [dict(code=f"XA{i:04d}", name=f"Xã số {i:04d}", kind="commune", groups=["xa"], aliases=[],
                       active=True, created_at=created, updated_at=created) for i in range(communes)]
        await session.exec(insert(Unit.__table__), params=units)
        unit_ids = list((await session.exec(select(Unit.id).order_by(Unit.id))).scalars().all())
        people = [dict(name="Lãnh đạo Tỉnh", role="leader", unit_id=None, active=True, created_at=created,
                       updated_at=created),
                  dict(name="Điều phối Nội vụ", role="coordinator", unit_id=None, active=True, created_at=created,
                       updated_at=created),
                  dict(name="Cán bộ Xã đầu", role="officer", unit_id=unit_ids[-1], active=True, created_at=created,
                       updated_at=created)]
        # people of the units who never joined a chat (the digest counts them)
        people += [dict(name=f"Cán bộ {i}", role="officer", unit_id=unit_ids[i], active=True, created_at=created,
                        updated_at=created) for i in range(0, len(unit_ids), 7)]
        await session.exec(insert(Person.__table__), params=people)
        person_ids = list((await session.exec(select(Person.id).order_by(Person.id))).scalars().all())
        leader, coordinator, officer = person_ids[:3]
        await session.exec(insert(ChannelIdentity.__table__), params=[
            dict(person_id=pid, channel=channel, external_id=external_id(role, channel),
                 chat_id=external_id(role, channel), created_at=created)
            for pid, role in ((leader, "leader"), (coordinator, "coordinator"), (officer, "officer"))
            for channel in CHANNELS])
        # ids in reverse due order: task id 1 is due last
        await session.exec(insert(Task.__table__), params=[
            dict(title=f"Báo cáo chuyên đề số {tasks - t:03d} về cải cách hành chính và chuyển đổi số năm 2026",
                 due_at=now + timedelta(days=(tasks - t) % 40 - 12, hours=3), deadline_phrase="chậm nhất ngày",
                 signature_required=False, coordinating_unit_ids=[], created_at=created)
            for t in range(tasks)])
        task_ids = list((await session.exec(select(Task.id).order_by(Task.id))).scalars().all())
        rows: list[dict] = []
        event_rows: list[dict] = []

        async def flush() -> None:
            if rows:
                await session.exec(insert(Assignment.__table__), params=rows)
                rows.clear()

        for t_index, task_id in enumerate(task_ids):
            due = now + timedelta(days=(tasks - t_index) % 40 - 12, hours=3)
            for u_index, unit_id in enumerate(unit_ids):
                status = STATES[(t_index * 3 + u_index) % len(STATES)]
                submitted = None
                if status in ("submitted", "accepted", "returned"):
                    submitted = due + timedelta(hours=((u_index % 5) - 3) * 24)
                    submitted = min(submitted, now - timedelta(minutes=1))
                rows.append(dict(task_id=task_id, unit_id=unit_id, status=status, round=1 if submitted else 0,
                                 submitted_at=submitted, status_changed_at=submitted or created, created_at=created))
            if len(rows) >= batch:
                await flush()
        await flush()
        if events:
            query = select(Assignment.id, Assignment.task_id, Assignment.unit_id, Assignment.status,
                           Assignment.submitted_at)
            for assignment_id, task_id, unit_id, status, submitted in (await session.exec(query)).all():
                event_rows.append(dict(assignment_id=assignment_id, task_id=task_id, unit_id=unit_id, at=created,
                                       actor_person_id=coordinator, kind="assigned", from_status=None,
                                       to_status="pending", round=0, note="chậm nhất ngày"))
                if submitted is not None:
                    event_rows.append(dict(assignment_id=assignment_id, task_id=task_id, unit_id=unit_id,
                                           at=submitted, actor_person_id=None, kind="status",
                                           from_status="pending", to_status="submitted", round=1, note=None))
                if len(event_rows) >= batch:
                    await session.exec(insert(StatusEvent.__table__), params=event_rows)
                    event_rows.clear()
            if event_rows:
                await session.exec(insert(StatusEvent.__table__), params=event_rows)
        await tallies.recount(session)  # the rows went in behind the application's back
    return Board(leader, coordinator, officer, unit_ids[-1], len(task_ids), len(unit_ids))
