"""Explanations (giải trình): an overdue unit explains to the leader, who decides.

Rules, in one place:

- only an open assignment (pending or returned) that is past its due instant may explain, with text
  (at least a few characters); one explanation waits per assignment at a time;
- a PDF may be attached to the waiting explanation (optional);
- the leader decides once (a conditional ``UPDATE … WHERE status = 'pending'``): **accept** (the
  assignment is excused), **a new deadline** (recorded as an extension request approved at once through
  ``storage.extensions``, so the unit's due date moves and the reminder ladder re-arms), or **refuse**
  with a note;
- every step appends a status-log entry in the same transaction; nothing is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import extensions as ext
from storage.models import Assignment, AssignmentStatus, Explanation, ExplanationStatus, Task, Unit
from storage.status import OPEN_STATUSES, OPEN_VALUES, effective_due_at, log_event, transition

X = ExplanationStatus
TEXT_LIMIT = 4000
MIN_TEXT = 3


class ExplanationRefused(ValueError):
    """Nothing recorded. ``reason``: ``empty``, ``closed``, ``not_overdue``, ``pending`` (``existing`` set),
    ``no_note`` (a refusal without a note), ``has_file`` (one PDF per explanation), or one of ``storage.extensions.ExtensionRefused``'s reasons."""

    def __init__(self, reason: str, *, existing: Explanation | None = None) -> None:
        self.reason = reason
        self.existing = existing
        super().__init__(reason)


class ExplanationDecided(ValueError):
    def __init__(self, explanation: Explanation | None) -> None:
        self.explanation = explanation
        super().__init__("explanation already decided" if explanation else "explanation not found")


async def pending_for(session: AsyncSession, assignment_id: int) -> Explanation | None:
    return (await session.exec(select(Explanation).where(
        Explanation.assignment_id == assignment_id, Explanation.status == X.pending.value))).first()


async def overdue_of_unit(session: AsyncSession, unit_id: int, now: datetime) -> list[tuple[Assignment, Task]]:
    """The unit's open assignments past their due instant, most overdue first."""
    rows = (await session.exec(select(Assignment, Task).join(Task, Task.id == Assignment.task_id).where(
        Assignment.unit_id == unit_id, col(Assignment.status).in_(OPEN_VALUES)))).all()
    late = [(a, t) for a, t in rows if now > effective_due_at(a, t.due_at)]
    return sorted(late, key=lambda row: (effective_due_at(row[0], row[1].due_at), row[1].id))


async def submit(session: AsyncSession, assignment: Assignment, text: str, *, person_id: int | None,
                 now: datetime) -> Explanation:
    text = " ".join(text.split())[:TEXT_LIMIT]
    if len(text) < MIN_TEXT:
        raise ExplanationRefused("empty")
    await session.refresh(assignment)
    if AssignmentStatus(assignment.status) not in OPEN_STATUSES:
        raise ExplanationRefused("closed")
    task = await session.get(Task, assignment.task_id)
    if now <= effective_due_at(assignment, task.due_at):
        raise ExplanationRefused("not_overdue")
    existing = await pending_for(session, assignment.id)
    if existing is not None:
        raise ExplanationRefused("pending", existing=existing)
    explanation = Explanation(assignment_id=assignment.id, person_id=person_id, submitted_at=now, text=text)
    session.add(explanation)
    session.add(log_event(assignment, "explanation_submitted", now=now, actor_person_id=person_id,
                          note=f"Giải trình: {text}"))
    await session.flush()
    return explanation


async def attach_file(session: AsyncSession, explanation_id: int, *, file_name: str, sha256: str, pages: int,
                      storage_key: str, person_id: int | None, now: datetime) -> Explanation:
    explanation = await session.get(Explanation, explanation_id)
    if explanation is None or explanation.status != X.pending.value:
        raise ExplanationDecided(explanation)
    if explanation.storage_key:
        raise ExplanationRefused("has_file")
    explanation.file_name, explanation.sha256 = file_name[:255], sha256
    explanation.pages, explanation.storage_key = pages, storage_key
    assignment = await session.get(Assignment, explanation.assignment_id)
    session.add(log_event(assignment, "explanation_file", now=now, actor_person_id=person_id, note=file_name))
    await session.flush()
    return explanation


@dataclass(frozen=True)
class ExplanationDecision:
    explanation: Explanation
    assignment: Assignment
    task: Task
    unit: Unit
    new_due_at: datetime | None = None


async def _decide(session: AsyncSession, explanation_id: int, status: ExplanationStatus, *, person_id: int | None,
                  now: datetime, note: str | None) -> tuple[Explanation, Assignment, Task, Unit]:
    result = await session.exec(
        update(Explanation)
        .where(Explanation.id == explanation_id, Explanation.status == X.pending.value)
        .values(status=status.value, decided_by_person_id=person_id, decided_at=now, decision_note=note)
        .execution_options(synchronize_session=False))
    explanation = await session.get(Explanation, explanation_id)
    if explanation is not None:
        await session.refresh(explanation)
    if result.rowcount != 1:
        raise ExplanationDecided(explanation)
    assignment = await session.get(Assignment, explanation.assignment_id)
    return (explanation, assignment, await session.get(Task, assignment.task_id),
            await session.get(Unit, assignment.unit_id))


async def accept(session: AsyncSession, explanation_id: int, *, person_id: int | None, now: datetime,
                 note: str | None = None) -> ExplanationDecision:
    """The explanation is accepted: the assignment is excused (if it still owes something)."""
    explanation, assignment, task, unit = await _decide(session, explanation_id, X.accepted, person_id=person_id,
                                                        now=now, note=note)
    if AssignmentStatus(assignment.status) in OPEN_STATUSES:
        await transition(session, assignment, AssignmentStatus.excused, now=now, actor_person_id=person_id,
                         note=f"Chấp nhận giải trình số {explanation.id}")
    else:
        session.add(log_event(assignment, "explanation_accepted", now=now, actor_person_id=person_id,
                              note=f"Chấp nhận giải trình số {explanation.id}"))
    await session.flush()
    return ExplanationDecision(explanation, assignment, task, unit)


async def extend(session: AsyncSession, explanation_id: int, *, new_due_at: datetime, phrase: str,
                 person_id: int | None, now: datetime, tz: ZoneInfo) -> ExplanationDecision:
    """A new deadline: an extension request (the explanation as its reason) approved at once."""
    explanation = await session.get(Explanation, explanation_id)
    if explanation is None or explanation.status != X.pending.value:
        raise ExplanationDecided(explanation)
    assignment = await session.get(Assignment, explanation.assignment_id)
    try:
        request = await ext.request_extension(
            session, assignment, requested_due_at=new_due_at, requested_phrase=phrase,
            reason=f"Giải trình số {explanation.id}: {explanation.text}", person_id=person_id, now=now, tz=tz)
    except ext.ExtensionRefused as refused:
        raise ExplanationRefused(refused.reason, existing=None) from refused
    decision = await ext.approve(session, request.id, person_id=person_id, now=now, tz=tz)
    explanation, assignment, task, unit = await _decide(session, explanation_id, X.extended, person_id=person_id,
                                                        now=now, note=phrase)
    explanation.extension_id = request.id
    await session.flush()
    return ExplanationDecision(explanation, decision.assignment, task, unit, new_due_at)


async def refuse(session: AsyncSession, explanation_id: int, *, note: str, person_id: int | None,
                 now: datetime) -> ExplanationDecision:
    note = " ".join(note.split())[:TEXT_LIMIT]
    if len(note) < MIN_TEXT:
        raise ExplanationRefused("no_note")
    explanation, assignment, task, unit = await _decide(session, explanation_id, X.refused, person_id=person_id,
                                                        now=now, note=note)
    session.add(log_event(assignment, "explanation_refused", now=now, actor_person_id=person_id,
                          note=f"Không chấp nhận giải trình số {explanation.id}: {note}"))
    await session.flush()
    return ExplanationDecision(explanation, assignment, task, unit)


async def pending_explanations(session: AsyncSession) -> list[tuple[Explanation, Assignment, Task, Unit]]:
    query = (select(Explanation, Assignment, Task, Unit)
             .join(Assignment, Assignment.id == Explanation.assignment_id)
             .join(Task, Task.id == Assignment.task_id)
             .join(Unit, Unit.id == Assignment.unit_id)
             .where(Explanation.status == X.pending.value)
             .order_by(Explanation.submitted_at, Explanation.id))
    return [tuple(row) for row in (await session.exec(query)).all()]  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class OverdueRow:
    """An open assignment past its due instant (plain columns: a national board has ~40,000)."""

    assignment_id: int
    task_id: int
    task_title: str
    unit_id: int
    unit_code: str
    unit_name: str
    due_at: datetime


async def overdue_without_explanation(session: AsyncSession, now: datetime) -> list[OverdueRow]:
    """Open assignments past due with no explanation waiting, the earliest due first (then by unit code)."""
    a = Assignment
    columns = (a.id, a.task_id, Task.title, a.unit_id, Unit.code, Unit.name, a.due_at_override, Task.due_at)
    base = (select(*columns).join(Task, Task.id == a.task_id).join(Unit, Unit.id == a.unit_id)
            .where(col(a.status).in_(OPEN_VALUES)))
    rows = (await session.exec(base.where(Task.due_at < now))).all()
    overrides = (await session.exec(base.where(col(a.due_at_override).is_not(None), a.due_at_override < now))).all()
    seen: dict[int, OverdueRow] = {}
    for assignment_id, task_id, title, unit_id, code, name, override, task_due in [*rows, *overrides]:
        due = override or task_due
        if now > due:
            seen[assignment_id] = OverdueRow(assignment_id, task_id, title, unit_id, code, name, due)
    if not seen:
        return []
    # the waiting explanations are few; an IN list of every overdue assignment is not (PostgreSQL allows
    # 32,767 parameters, a national board has ~40,000 overdue units)
    explained = set((await session.exec(select(Explanation.assignment_id).where(
        col(Explanation.status).in_([X.pending.value])))).all())
    return sorted((row for aid, row in seen.items() if aid not in explained),
                  key=lambda row: (row.due_at, row.unit_code))
