"""Review: coordinators accept or return a submission (with a reason); ``/review`` lists what waits."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from sqlalchemy import func
from sqlmodel import col, select

from handlers import messages as m
from handlers.chat import Button, OutFile, Reply, limits_for
from handlers.paging import Block, paginate
from handlers.notify import notify_roles
from storage.filestore import clean_pdf_name
from storage.models import Assignment, AssignmentStatus, Evidence, Role, Task, Unit
from storage.queries import clear_state, set_state
from storage.status import ConcurrentChange, IllegalTransition, transition

if TYPE_CHECKING:
    from handlers.conversation import Request

S = AssignmentStatus
UNIT_ROLES = [Role.officer, Role.head]


async def _load(request: Request, assignment_id: int) -> tuple[Assignment, Task, Unit] | None:
    row = (await request.session.exec(
        select(Assignment, Task, Unit).join(Task, Task.id == Assignment.task_id).join(Unit, Unit.id == Assignment.unit_id)
        .where(Assignment.id == assignment_id))).first()
    return tuple(row) if row else None  # type: ignore[return-value]


def _stale(assignment: Assignment, round_: int) -> bool:
    return assignment.status != S.submitted.value or assignment.round != round_


async def accept(request: Request, assignment_id: int, round_: int) -> list[Reply]:
    loaded = await _load(request, assignment_id)
    if loaded is None:
        return [Reply(m.REVIEW_GONE)]
    assignment, task, unit = loaded
    if _stale(assignment, round_):
        return [Reply(m.review_stale(task, unit, assignment.status), edit=True)]
    try:
        await transition(request.session, assignment, S.accepted, now=request.now, actor_person_id=request.person.id)
    except (IllegalTransition, ConcurrentChange):
        return [Reply(m.review_stale(task, unit, assignment.status), edit=True)]
    await notify_roles(request.session, UNIT_ROLES, Reply(m.accepted_notice(task, request.person)),
                       key=f"accepted:a{assignment.id}:r{round_}", now=request.now, unit_id=unit.id,
                       assignment_id=assignment.id)
    return [Reply(m.accepted_done(task, unit, request.person), edit=True)]


async def ask_reason(request: Request, assignment_id: int, round_: int) -> list[Reply]:
    loaded = await _load(request, assignment_id)
    if loaded is None:
        return [Reply(m.REVIEW_GONE)]
    assignment, task, unit = loaded
    if _stale(assignment, round_):
        return [Reply(m.review_stale(task, unit, assignment.status))]
    await set_state(request.session, request.person.id, "return_reason",
                    {"assignment_id": assignment_id, "round": round_}, now=request.now)
    return [Reply(m.ask_return_reason(task, unit), buttons=[[Button("Huỷ", "cancel")]])]


async def return_with_reason(request: Request, data: dict) -> list[Reply]:
    reason = request.incoming.text.strip()
    if len(reason) < 3:
        return [Reply(m.REASON_TOO_SHORT)]
    loaded = await _load(request, data["assignment_id"])
    await clear_state(request.session, request.person.id, now=request.now)
    if loaded is None:
        return [Reply(m.REVIEW_GONE)]
    assignment, task, unit = loaded
    if _stale(assignment, data["round"]):
        return [Reply(m.review_stale(task, unit, assignment.status))]
    try:
        await transition(request.session, assignment, S.returned, now=request.now,
                         actor_person_id=request.person.id, note=reason[:2000])
    except (IllegalTransition, ConcurrentChange):
        return [Reply(m.review_stale(task, unit, assignment.status))]
    await notify_roles(request.session, UNIT_ROLES, Reply(m.returned_notice(task, reason, request.person), buttons=[
        [Button("📤 Nộp lại", f"submit:{assignment.id}")]]),
        key=f"returned:a{assignment.id}:r{data['round']}", now=request.now, unit_id=unit.id,
        assignment_id=assignment.id, kind="returned")
    return [Reply(m.returned_done(task, unit, reason))]


REVIEW_LIMIT = 500
"""``/review`` pages through the oldest this many submissions (the heading gives the total)."""


async def pending_reviews(request: Request, page: int = 1) -> list[Reply]:
    """``/review``: every submission waiting for a decision, oldest first, paged, each with its buttons."""
    session = request.session
    total = (await session.exec(select(func.count()).select_from(Assignment)
                                .where(Assignment.status == S.submitted.value))).one()
    if not total:
        return [Reply(m.NOTHING_TO_REVIEW)]
    rows = (await session.exec(
        select(Assignment, Task, Unit).join(Task, Task.id == Assignment.task_id).join(Unit, Unit.id == Assignment.unit_id)
        .where(Assignment.status == S.submitted.value).order_by(Assignment.submitted_at, Assignment.id)
        .limit(REVIEW_LIMIT))).all()
    files: dict[tuple[int, int], list[Evidence]] = {}
    for evidence in (await session.exec(select(Evidence).where(
            col(Evidence.assignment_id).in_([a.id for a, _, _ in rows])).order_by(Evidence.id))).all():
        files.setdefault((evidence.assignment_id, evidence.round), []).append(evidence)
    blocks = []
    for number, (assignment, task, unit) in enumerate(rows, start=1):
        own = files.get((assignment.id, assignment.round), [])
        buttons = [[Button(f"✅ {number}. Chấp nhận", f"accept:{assignment.id}:{assignment.round}"),
                    Button(f"↩️ {number}. Trả lại", f"return:{assignment.id}:{assignment.round}")]]
        buttons += [[Button(f"📄 {number}. {m.short(e.file_name, 36)}", f"file:{e.id}")] for e in own[:3]]
        blocks.append(Block(f"\n{number}. " + m.review_item(task, unit, assignment, own, request.ctx.tz).lstrip("• "),
                            buttons))
    heading = m.reviews_heading(total) + (f" (xem {len(rows)} hồ sơ chờ lâu nhất)" if total > len(rows) else "")
    return [paginate(blocks, limits=limits_for(request.incoming.sender.channel), header=heading, page=page,
                     nav=lambda n: f"review:{n}", edit=request.incoming.choice is not None and page > 1)]


async def send_file(request: Request, evidence_id: int) -> list[Reply]:
    """A stored evidence file, for coordinators and leaders only (checked by the router)."""
    evidence = await request.session.get(Evidence, evidence_id)
    if evidence is None:
        return [Reply(m.FILE_GONE)]
    data = await asyncio.to_thread(request.ctx.store.read, evidence.storage_key)
    return [Reply(m.file_caption(evidence), document=OutFile(clean_pdf_name(evidence.file_name), data, "application/pdf"))]


async def cancel(request: Request) -> list[Reply]:
    await clear_state(request.session, request.person.id, now=request.now)
    return [Reply(m.CANCELLED)]



