"""Progress counts: a unit reports how many of its items are done ("12/15"); every report is kept.

Rules, in one place: the total is at least 1, done lies in 0..total, and when the task fixes the total
(``Task.count_total``) the report must use it. A task that asks for a count instead of a file
(``count_mode == "count"``) counts as delivered (submitted) with the first valid report of a round;
with ``"count+file"`` the count is recorded beside the files. Every report writes a status event.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Assignment, AssignmentStatus, CountMode, ProgressCount, Task, Unit
from storage.status import OPEN_STATUSES, log_event, transition

MAX_TOTAL = 100_000


class CountRefused(ValueError):
    """Nothing recorded. ``reason``: ``zero_total``, ``too_many`` (done > total), ``wrong_total`` (not the
    task's total; ``expected`` set), ``no_count`` (the task asks for none), ``closed``."""

    def __init__(self, reason: str, *, expected: int | None = None) -> None:
        self.reason = reason
        self.expected = expected
        super().__init__(reason)


def check_count(done: int, total: int, expected: int | None) -> None:
    if total < 1 or total > MAX_TOTAL:
        raise CountRefused("zero_total")
    if done < 0 or done > total:
        raise CountRefused("too_many")
    if expected is not None and total != expected:
        raise CountRefused("wrong_total", expected=expected)


async def record_count(session: AsyncSession, assignment: Assignment, task: Task, *, done: int, total: int,
                       text: str, person_id: int | None, now: datetime) -> tuple[ProgressCount, bool]:
    """Record a report; returns it and whether the assignment moved to submitted."""
    if not task.count_mode:
        raise CountRefused("no_count")
    if AssignmentStatus(assignment.status) in (AssignmentStatus.excused,):
        raise CountRefused("closed")
    check_count(done, total, task.count_total)
    row = ProgressCount(assignment_id=assignment.id, done=done, total=total, text=text.strip()[:500],
                        person_id=person_id, at=now)
    session.add(row)
    note = f"Báo cáo tiến độ: {done}/{total}"
    moved = False
    if task.count_mode == CountMode.count.value and AssignmentStatus(assignment.status) in OPEN_STATUSES:
        await transition(session, assignment, AssignmentStatus.submitted, now=now, actor_person_id=person_id,
                         note=note)
        moved = True
    else:
        session.add(log_event(assignment, "count", now=now, actor_person_id=person_id, note=note))
    await session.flush()
    return row, moved


@dataclass(frozen=True)
class UnitProgress:
    unit: Unit
    assignment: Assignment
    history: list[ProgressCount]  # oldest first

    @property
    def latest(self) -> ProgressCount | None:
        return self.history[-1] if self.history else None


@dataclass(frozen=True)
class TaskProgress:
    task: Task
    units: list[UnitProgress]

    @property
    def done(self) -> int:
        return sum(u.latest.done for u in self.units if u.latest)

    @property
    def total(self) -> int:
        return sum(u.latest.total for u in self.units if u.latest)

    @property
    def reported(self) -> int:
        return sum(1 for u in self.units if u.latest)


async def progress(session: AsyncSession, *, task_id: int | None = None) -> list[TaskProgress]:
    """Every task that asks for a count, with each unit's reports (the latest last)."""
    counted = select(Task.id).where(col(Task.count_mode).is_not(None))  # a few tasks, usually none
    if task_id is not None:
        counted = counted.where(Task.id == task_id)
    task_ids = list((await session.exec(counted)).all())
    if not task_ids:
        return []
    query = (select(Task, Assignment, Unit).join(Assignment, Assignment.task_id == Task.id)
             .join(Unit, Unit.id == Assignment.unit_id).where(col(Task.id).in_(task_ids)))
    rows = (await session.exec(query.order_by(Task.id, Unit.code))).all()
    if not rows:
        return []
    reports: dict[int, list[ProgressCount]] = defaultdict(list)
    for report in (await session.exec(select(ProgressCount).where(
            col(ProgressCount.assignment_id).in_([a.id for _, a, _ in rows])).order_by(
            ProgressCount.at, ProgressCount.id))).all():
        reports[report.assignment_id].append(report)
    tasks: dict[int, TaskProgress] = {}
    for task, assignment, unit in rows:
        entry = tasks.setdefault(task.id, TaskProgress(task, []))
        entry.units.append(UnitProgress(unit, assignment, reports.get(assignment.id, [])))
    return list(tasks.values())
