"""Recording evidence files against an assignment, with the status change and its event."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Assignment, AssignmentStatus, Evidence
from storage.status import log_event, transition

S = AssignmentStatus


class Outcome(StrEnum):
    submitted = "submitted"   # a new round: the assignment moved to submitted
    added = "added"           # another file for the round already waiting for review
    duplicate = "duplicate"   # this very file was already received for this assignment
    closed = "closed"         # accepted or excused: nothing more is taken


@dataclass(frozen=True)
class EvidenceFile:
    file_name: str
    size: int
    sha256: str
    pages: int
    storage_key: str
    channel: str
    signed: bool = False
    signatures_intact: bool = False
    signatures: list[dict[str, Any]] = field(default_factory=list)


async def find_duplicate(session: AsyncSession, assignment_id: int, sha256: str) -> Evidence | None:
    query = select(Evidence).where(Evidence.assignment_id == assignment_id, Evidence.sha256 == sha256)
    return (await session.exec(query)).first()


async def record_evidence(
    session: AsyncSession, assignment: Assignment, file: EvidenceFile, *, person_id: int | None, now: datetime
) -> tuple[Outcome, Evidence | None]:
    """File the evidence; moves pending/returned → submitted (a new round), writes the events."""
    if await find_duplicate(session, assignment.id, file.sha256) is not None:
        return Outcome.duplicate, None
    status = S(assignment.status)
    if status in (S.accepted, S.excused):
        return Outcome.closed, None
    if status is S.submitted:
        outcome = Outcome.added
        session.add(log_event(assignment, "evidence_added", now=now, actor_person_id=person_id, note=file.file_name))
    else:
        outcome = Outcome.submitted
        await transition(session, assignment, S.submitted, now=now, actor_person_id=person_id, note=file.file_name)
    evidence = Evidence(
        assignment_id=assignment.id, round=assignment.round, file_name=file.file_name[:255], size=file.size,
        sha256=file.sha256, pages=file.pages, signed=file.signed, signatures_intact=file.signatures_intact,
        signature_summary=file.signatures, storage_key=file.storage_key, person_id=person_id,
        channel=file.channel, received_at=now,
    )
    session.add(evidence)
    await session.flush()
    return outcome, evidence


async def evidence_of(session: AsyncSession, assignment_id: int, round_: int | None = None) -> list[Evidence]:
    query = select(Evidence).where(Evidence.assignment_id == assignment_id)
    if round_ is not None:
        query = query.where(Evidence.round == round_)
    return list((await session.exec(query.order_by(Evidence.id))).all())
