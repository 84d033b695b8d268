"""Assignment status rules, in one place.

``pending → submitted → accepted``; ``submitted → returned → submitted …`` (each resubmission is a
new round); ``excused`` by a leader from any open state. Every change writes its ``StatusEvent`` in
the same transaction, and the update is conditional on the status read, so two concurrent
transitions cannot both win. "Late" and "overdue" are derived here from instants, never stored on the
assignment; ``storage.tallies`` keeps per-task counts of statuses and lateness, moved by each change here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import tallies
from storage.models import Assignment, AssignmentStatus, StatusEvent

S = AssignmentStatus

TRANSITIONS: dict[AssignmentStatus, frozenset[AssignmentStatus]] = {
    S.pending: frozenset({S.submitted, S.excused}),
    S.submitted: frozenset({S.accepted, S.returned, S.excused}),
    S.returned: frozenset({S.submitted, S.excused}),
    S.accepted: frozenset(),
    S.excused: frozenset(),
}

OPEN_STATUSES = frozenset({S.pending, S.returned})
"""States in which the unit still owes something (and is reminded)."""

DONE_STATUSES = frozenset({S.submitted, S.accepted, S.excused})
"""States in which the unit has delivered (or was let off)."""

OPEN_VALUES = tuple(sorted(s.value for s in OPEN_STATUSES))
"""``OPEN_STATUSES`` as column values, for queries."""

TAKES_FILES = (S.pending.value, S.returned.value, S.submitted.value)
"""States in which the unit may still send evidence (a submitted round may get more files)."""


class IllegalTransition(ValueError):
    """Raised when a status change is not allowed; nothing is changed."""

    def __init__(self, current: str, target: str) -> None:
        self.current = current
        self.target = target
        super().__init__(f"assignment cannot go from {current!r} to {target!r}")


class ConcurrentChange(RuntimeError):
    """The assignment changed under us (another message or worker won the race)."""


def can_transition(current: str, target: str) -> bool:
    return S(target) in TRANSITIONS[S(current)]


def effective_due_at(assignment: Assignment, task_due_at: datetime) -> datetime:
    """The unit's own due instant: an approved extension overrides the task's."""
    return assignment.due_at_override or task_due_at


def is_overdue(status: str, due_at: datetime, now: datetime) -> bool:
    """Still owed and past due."""
    return S(status) in OPEN_STATUSES and now > due_at


def is_late(submitted_at: datetime | None, due_at: datetime) -> bool:
    """Delivered after the due instant."""
    return submitted_at is not None and submitted_at > due_at


@dataclass(frozen=True)
class Transition:
    assignment: Assignment
    event: StatusEvent


async def transition(
    session: AsyncSession,
    assignment: Assignment,
    target: AssignmentStatus | str,
    *,
    now: datetime,
    actor_person_id: int | None,
    note: str | None = None,
) -> Transition:
    """Move ``assignment`` to ``target`` and append the status event, in the caller's transaction."""
    target = S(target)
    current = S(assignment.status)
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(current, target)
    new_round = assignment.round + 1 if target is S.submitted else assignment.round
    values: dict[str, object] = {"status": target.value, "status_changed_at": now, "round": new_round}
    if target is S.submitted:
        values["submitted_at"] = now
    result = await session.exec(
        update(Assignment)
        .where(Assignment.id == assignment.id, Assignment.status == current.value)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ConcurrentChange(f"assignment {assignment.id} is no longer {current.value}")
    due = effective_due_at(assignment, await tallies.task_due(session, assignment.task_id))
    before = tallies.key_of(current.value, assignment.submitted_at, due)
    for key, value in values.items():
        setattr(assignment, key, value)
    await tallies.move(session, assignment.task_id, before, tallies.key_of(target.value, assignment.submitted_at, due))
    event = StatusEvent(
        assignment_id=assignment.id,
        task_id=assignment.task_id,
        unit_id=assignment.unit_id,
        at=now,
        actor_person_id=actor_person_id,
        kind="status",
        from_status=current.value,
        to_status=target.value,
        round=new_round,
        note=note,
    )
    session.add(event)
    await session.flush()
    return Transition(assignment, event)


def log_event(
    assignment: Assignment,
    kind: str,
    *,
    now: datetime,
    actor_person_id: int | None,
    note: str | None = None,
) -> StatusEvent:
    """A status-log entry that is not a status change (created, extension, reminder …)."""
    return StatusEvent(
        assignment_id=assignment.id,
        task_id=assignment.task_id,
        unit_id=assignment.unit_id,
        at=now,
        actor_person_id=actor_person_id,
        kind=kind,
        from_status=assignment.status,
        to_status=assignment.status,
        round=assignment.round,
        note=note,
    )
