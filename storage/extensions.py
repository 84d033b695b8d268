"""Extension requests (gia hạn): a unit asks for a later due date, a leader approves or denies.

Rules, in one place:

- only an open assignment (pending or returned) may ask, and only one request per assignment may
  wait at a time;
- the requested instant must lie after the unit's current due instant, after ``now``, and at most
  ``MAX_EXTENSION`` after the current due instant (a date written without a year resolves to its
  next occurrence, so "20/11" typed on 21/11 would otherwise ask for a whole year);
- a decision is a conditional ``UPDATE … WHERE status = 'pending'``: two leaders pressing at once,
  only one decision wins; the other gets ``AlreadyDecided``;
- approval sets the assignment's ``due_at_override`` / ``due_phrase_override``; the reminder
  ladder's dedupe keys include the due instant, so this re-arms the ladder by itself;
- every step appends a status-log entry in the same transaction; nothing is deleted.

Repositories never commit: the caller's unit of work does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import tallies
from storage.models import Assignment, ExtensionRequest, ExtensionStatus, Task, Unit
from storage.status import OPEN_VALUES, effective_due_at, log_event

E = ExtensionStatus
MAX_EXTENSION = timedelta(days=180)
"""The longest extension one request may ask for, counted from the current due instant."""

REASON_LIMIT = 2000


class ExtensionRefused(ValueError):
    """A request cannot be recorded. ``reason`` is one of:

    ``closed`` (the assignment no longer owes anything), ``pending`` (a request already waits;
    ``existing`` holds it), ``not_later`` (not after the current due instant), ``past`` (not after
    now), ``too_far`` (more than ``MAX_EXTENSION`` after the current due instant).
    """

    def __init__(self, reason: str, *, existing: ExtensionRequest | None = None) -> None:
        self.reason = reason
        self.existing = existing
        super().__init__(reason)


class AlreadyDecided(ValueError):
    """The request was decided before (perhaps by another leader a moment ago)."""

    def __init__(self, request: ExtensionRequest | None) -> None:
        self.request = request
        super().__init__("extension request already decided" if request else "extension request not found")


def check_requested_due(current_due: datetime, requested_due: datetime, now: datetime) -> None:
    """Raise ``ExtensionRefused`` unless ``requested_due`` is a sensible new due instant."""
    if requested_due <= current_due:
        raise ExtensionRefused("not_later")
    if requested_due <= now:
        raise ExtensionRefused("past")
    if requested_due - current_due > MAX_EXTENSION:
        raise ExtensionRefused("too_far")


async def current_due(session: AsyncSession, assignment: Assignment) -> datetime:
    """The unit's due instant now: an approved extension, or the task's."""
    task = await session.get(Task, assignment.task_id)
    return effective_due_at(assignment, task.due_at)


async def pending_for(session: AsyncSession, assignment_id: int) -> ExtensionRequest | None:
    query = (select(ExtensionRequest)
             .where(ExtensionRequest.assignment_id == assignment_id, ExtensionRequest.status == E.pending.value)
             .order_by(ExtensionRequest.id))
    return (await session.exec(query)).first()


async def extendable(session: AsyncSession, unit_id: int) -> list[tuple[Assignment, Task]]:
    """The unit's open assignments (the ones an extension makes sense for), soonest due first."""
    query = (
        select(Assignment, Task).join(Task, Task.id == Assignment.task_id)
        .where(Assignment.unit_id == unit_id, col(Assignment.status).in_(OPEN_VALUES))
    )
    rows = list((await session.exec(query)).all())
    return sorted(rows, key=lambda row: (effective_due_at(row[0], row[1].due_at), row[1].id))


def _day(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%d/%m/%Y")


async def request_extension(
    session: AsyncSession,
    assignment: Assignment,
    *,
    requested_due_at: datetime,
    requested_phrase: str,
    reason: str,
    person_id: int | None,
    now: datetime,
    tz: ZoneInfo,
) -> ExtensionRequest:
    """Record a pending request and its ``extension_requested`` log entry, in the caller's transaction.

    The assignment row is touched first with a conditional no-op UPDATE (still open?): this locks it,
    so two requests for the same assignment are serialised and the second sees the first.
    """
    touched = await session.exec(
        update(Assignment)
        .where(Assignment.id == assignment.id,
               col(Assignment.status).in_(OPEN_VALUES))
        .values(status=Assignment.status)
        .execution_options(synchronize_session=False)
    )
    if touched.rowcount != 1:
        raise ExtensionRefused("closed")
    existing = await pending_for(session, assignment.id)
    if existing is not None:
        raise ExtensionRefused("pending", existing=existing)
    due = await current_due(session, assignment)
    check_requested_due(due, requested_due_at, now)
    reason = reason.strip()[:REASON_LIMIT]
    request = ExtensionRequest(
        assignment_id=assignment.id, requested_by_person_id=person_id, requested_at=now, reason=reason,
        requested_due_at=requested_due_at, requested_phrase=requested_phrase[:255], status=E.pending.value)
    session.add(request)
    session.add(log_event(
        assignment, "extension_requested", now=now, actor_person_id=person_id,
        note=f"Xin gia hạn từ {_day(due, tz)} đến {_day(requested_due_at, tz)} («{requested_phrase}»). "
             f"Lý do: {reason}"))
    await session.flush()
    return request


@dataclass(frozen=True)
class Decision:
    request: ExtensionRequest
    assignment: Assignment
    task: Task
    unit: Unit
    old_due_at: datetime
    """The unit's due instant before the decision (unchanged by a denial)."""


async def _decide(
    session: AsyncSession, request_id: int, status: ExtensionStatus, *, person_id: int | None,
    now: datetime, note: str | None,
) -> ExtensionRequest:
    result = await session.exec(
        update(ExtensionRequest)
        .where(ExtensionRequest.id == request_id, ExtensionRequest.status == E.pending.value)
        .values(status=status.value, decided_by_person_id=person_id, decided_at=now, decision_note=note)
        .execution_options(synchronize_session=False)
    )
    request = await session.get(ExtensionRequest, request_id)
    if request is not None:
        await session.refresh(request)
    if result.rowcount != 1:
        raise AlreadyDecided(request)
    return request  # type: ignore[return-value]


async def _context(session: AsyncSession, request: ExtensionRequest) -> tuple[Assignment, Task, Unit]:
    assignment = await session.get(Assignment, request.assignment_id)
    task = await session.get(Task, assignment.task_id)
    unit = await session.get(Unit, assignment.unit_id)
    return assignment, task, unit


async def approve(
    session: AsyncSession, request_id: int, *, person_id: int | None, now: datetime, tz: ZoneInfo,
) -> Decision:
    """Approve a pending request: the unit's due instant moves to the requested one."""
    request = await _decide(session, request_id, E.approved, person_id=person_id, now=now, note=None)
    assignment, task, unit = await _context(session, request)
    old = effective_due_at(assignment, task.due_at)
    before = tallies.key_of(assignment.status, assignment.submitted_at, old)
    assignment.due_at_override = request.requested_due_at
    assignment.due_phrase_override = request.requested_phrase
    assignment.rearmed_at = now  # the reminder ladder starts again from the approval
    session.add(assignment)
    await tallies.move(session, task.id, before, tallies.key_of(assignment.status, assignment.submitted_at,
                                                                  request.requested_due_at))
    session.add(log_event(
        assignment, "extension_approved", now=now, actor_person_id=person_id,
        note=f"Hạn: {_day(old, tz)} → {_day(request.requested_due_at, tz)} («{request.requested_phrase}»)"))
    await session.flush()
    return Decision(request, assignment, task, unit, old)


async def deny(
    session: AsyncSession, request_id: int, *, reason: str, person_id: int | None, now: datetime,
) -> Decision:
    """Deny a pending request with a reason; the due instant stays."""
    reason = reason.strip()[:REASON_LIMIT]
    request = await _decide(session, request_id, E.denied, person_id=person_id, now=now, note=reason)
    assignment, task, unit = await _context(session, request)
    session.add(log_event(assignment, "extension_denied", now=now, actor_person_id=person_id,
                          note=f"Lý do: {reason}"))
    await session.flush()
    return Decision(request, assignment, task, unit, effective_due_at(assignment, task.due_at))


async def pending_requests(session: AsyncSession) -> list[tuple[ExtensionRequest, Assignment, Task, Unit]]:
    """Every request waiting for a leader, oldest first."""
    query = (
        select(ExtensionRequest, Assignment, Task, Unit)
        .join(Assignment, Assignment.id == ExtensionRequest.assignment_id)
        .join(Task, Task.id == Assignment.task_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .where(ExtensionRequest.status == E.pending.value)
        .order_by(ExtensionRequest.requested_at, ExtensionRequest.id)
    )
    return [tuple(row) for row in (await session.exec(query)).all()]  # type: ignore[misc]
