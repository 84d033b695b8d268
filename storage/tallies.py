"""Per-task counts kept up to date in the same transaction as each change they count.

``/status``, the digest and the export open with per-task counts: units by status, and among the handed
in, how many came after their due instant. At national scale (4,000 units × 60 tasks) a ``GROUP BY`` over
the assignments takes as long as the rest of ``/status`` together, so the counts are kept instead: one
``TaskTally`` row per (task, status, late), moved by every write that changes what it counts —

- a task created with its assignments (``storage.queries.create_task``);
- a status change (``storage.status.transition``), which also sets ``submitted_at``;
- an approved extension (``storage.extensions``), which moves the due instant a hand-in is judged by.

Each write moves its counts with one upsert (``INSERT … ON CONFLICT DO UPDATE``, SQLite and PostgreSQL
alike), its rows in a fixed order. ``recount`` rebuilds the counts from the assignments (migration 0010 does
the same in SQL); whatever writes assignments behind the application's back (bulk loads in the benchmarks,
a restore) calls it, or ``dondoc counts --rebuild``; ``drift`` compares the kept counts with a recount.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import case, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import upsert_insert
from storage.models import Assignment, AssignmentStatus, Task, TaskTally

S = AssignmentStatus
HANDED_IN = frozenset({S.submitted.value, S.accepted.value})
"""Statuses whose ``submitted_at`` is judged against the due instant (``storage.queries.DELIVERED_VALUES``)."""

Key = tuple[str, bool]
"""(status, late) of one assignment."""


def key_of(status: str, submitted_at: datetime | None, due_at: datetime) -> Key:
    """What one assignment counts as: its status, and whether it was handed in after ``due_at``."""
    late = status in HANDED_IN and submitted_at is not None and submitted_at > due_at
    return status, late


async def _upsert(session: AsyncSession, deltas: Counter[tuple[int, str, bool]]) -> None:
    rows = [dict(task_id=task_id, status=status, late=late, units=units)
            for (task_id, status, late), units in sorted(deltas.items()) if units]
    if not rows:
        return
    statement = upsert_insert(session, TaskTally).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["task_id", "status", "late"],
        set_={"units": TaskTally.units + statement.excluded.units})
    await session.exec(statement)


async def move(session: AsyncSession, task_id: int, before: Key | None, after: Key | None, units: int = 1) -> None:
    """``units`` assignments of ``task_id`` went from ``before`` to ``after`` (``None``: did not exist)."""
    if before == after:
        return
    deltas: Counter[tuple[int, str, bool]] = Counter()
    if before is not None:
        deltas[(task_id, *before)] -= units
    if after is not None:
        deltas[(task_id, *after)] += units
    await _upsert(session, deltas)


async def task_due(session: AsyncSession, task_id: int) -> datetime:
    return (await session.exec(select(Task.due_at).where(Task.id == task_id))).one()


def _counted(task_ids: Iterable[int] | None):
    due = func.coalesce(Assignment.due_at_override, Task.due_at)
    late = case((col(Assignment.status).in_(sorted(HANDED_IN)) & (Assignment.submitted_at > due), True),
                else_=False)
    query = (select(Assignment.task_id, Assignment.status, late, func.count())
             .join(Task, Task.id == Assignment.task_id)
             .group_by(Assignment.task_id, Assignment.status, late))
    if task_ids is not None:
        query = query.where(col(Assignment.task_id).in_(list(task_ids)))
    return query


async def recount(session: AsyncSession, task_ids: Iterable[int] | None = None) -> None:
    """Rebuild the counts of ``task_ids`` (every task when ``None``) from the assignments themselves."""
    task_ids = None if task_ids is None else list(task_ids)
    zero = update(TaskTally).values(units=0)
    if task_ids is not None:
        zero = zero.where(col(TaskTally.task_id).in_(task_ids))
    await session.exec(zero)
    deltas: Counter[tuple[int, str, bool]] = Counter()
    for task_id, status, late, units in (await session.exec(_counted(task_ids))).all():
        deltas[(task_id, status, bool(late))] += units
    await _upsert(session, deltas)


async def drift(session: AsyncSession) -> dict[tuple[int, str, bool], tuple[int, int]]:
    """Where the kept counts differ from a recount: key → (kept, counted). Empty when they agree."""
    kept = {(row.task_id, row.status, row.late): row.units
            for row in (await session.exec(select(TaskTally))).all() if row.units}
    counted = {(task_id, status, bool(late)): units
               for task_id, status, late, units in (await session.exec(_counted(None))).all()}
    return {key: (kept.get(key, 0), counted.get(key, 0)) for key in kept.keys() | counted.keys()
            if kept.get(key, 0) != counted.get(key, 0)}
