"""Evidence intake: a unit sends a PDF; the bot matches it to a task, checks it, stores it, records it.

Matching order (DESIGN.md): the reminder the file replies to, the task chosen with a "Nộp" button,
the caption, the only open task — otherwise the bot asks with buttons and keeps the file's reference
(not its bytes) until the person picks. Every check runs before anything is stored, so a refused
file leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import col, select

from handlers import messages as m
from handlers import texts as t
from handlers.chat import (FILELESS_CHANNELS, Button, FileTooLarge, Incoming, IncomingFile, Reply, Sender,
                           limits_for, reply_to_payload)
from handlers.paging import Block, paginate
from handlers.notify import notify_roles
from storage.evidence import EvidenceFile, Outcome, find_duplicate, record_evidence
from storage.links import UPLOAD_TTL, claim_upload
from storage.models import Assignment, AssignmentStatus, Evidence, Person, Role, Task, Unit
from storage.outbox import enqueue, message_for_reply, recipients
from storage.filestore import clean_file_name, clean_pdf_name
from storage.queries import clear_state, get_state, set_state
from storage.roster import fold
from storage.status import TAKES_FILES

if TYPE_CHECKING:
    from handlers.conversation import HandlerContext, Request

S = AssignmentStatus
UPLOAD_LINKS_AT_MOST = 10
"""Upload links in one answer at most (one per open task); the rest through /tasks and "Nộp"."""
WEB_CHANNEL = "web"
"""The ``Evidence.channel`` of files uploaded through the web page."""


async def open_assignments(request: Request) -> list[tuple[Assignment, Task]]:
    """The unit's assignments that still take files, soonest due first."""
    if request.unit is None:
        return []
    query = (
        select(Assignment, Task).join(Task, Task.id == Assignment.task_id)
        .where(Assignment.unit_id == request.unit.id, col(Assignment.status).in_(TAKES_FILES))
        .order_by(Task.due_at, Task.id)
    )
    return list((await request.session.exec(query)).all())


async def closed_task_named(request: Request, candidates: list[tuple[Assignment, Task]]
                            ) -> tuple[Assignment, Task] | None:
    """A caption ``#12`` naming one of the unit's tasks that no longer takes files."""
    open_ids = {task.id for _, task in candidates}
    for word in fold(request.incoming.text).split():
        if word.startswith("#") and word[1:].isdigit() and int(word[1:]) not in open_ids:
            row = (await request.session.exec(
                select(Assignment, Task).join(Task, Task.id == Assignment.task_id)
                .where(Assignment.unit_id == request.unit.id, Task.id == int(word[1:])))).first()
            if row is not None:
                return row  # type: ignore[return-value]
    return None


def match_caption(caption: str, candidates: list[tuple[Assignment, Task]]) -> tuple[Assignment, Task] | None:
    """``#12`` names a task; otherwise the one title that shares clearly more words with the caption."""
    text = fold(caption)
    if not text:
        return None
    for assignment, task in candidates:
        if f"#{task.id}" in text.split():
            return assignment, task
    words = {w for w in text.replace(",", " ").split() if len(w) > 2}
    scored = sorted(((len(words & set(fold(task.title).split())), index)
                     for index, (_, task) in enumerate(candidates)), reverse=True)
    if scored and scored[0][0] >= 2 and (len(scored) == 1 or scored[0][0] > scored[1][0]):
        return candidates[scored[0][1]]
    return None


async def replied_tasks(request: Request, candidates: list[tuple[Assignment, Task]]
                        ) -> list[tuple[Assignment, Task]] | None:
    """The open tasks named by the reminder the file replies to (one, or the several of a batched one)."""
    incoming = request.incoming
    if not incoming.reply_to:
        return None
    replied = await message_for_reply(request.session, channel=incoming.sender.channel,
                                      chat_id=incoming.sender.chat_id, platform_message_id=incoming.reply_to)
    if replied is None:
        return None
    ids = replied.payload.get("assignment_ids") or ([replied.assignment_id] if replied.assignment_id else [])
    named = [pair for pair in candidates if pair[0].id in ids]
    return named or None


async def choose(request: Request, candidates: list[tuple[Assignment, Task]]) -> tuple[Assignment, Task] | None:
    incoming, session = request.incoming, request.session
    by_id = {a.id: (a, t) for a, t in candidates}
    named = await replied_tasks(request, candidates)
    if named is not None and len(named) == 1:
        return named[0]
    matched = match_caption(incoming.text, named or candidates)
    if matched is not None:
        return matched
    state = await get_state(session, request.person.id, request.now)
    if state is not None and state.kind == "await_file" and state.data.get("assignment_id") in by_id:
        return by_id[state.data["assignment_id"]]
    if len(candidates) == 1:
        return candidates[0]
    return None


async def on_file(request: Request) -> list[Reply]:
    file = request.incoming.file
    assert file is not None
    ctx = request.ctx
    if request.unit is None:
        return [Reply(m.NO_UNIT)]
    too_big = file.size is not None and file.size > ctx.max_file_bytes
    if too_big and (ctx.links is None or file.size > ctx.links.upload_max_bytes):
        limit = ctx.links.upload_max_bytes if ctx.links is not None else ctx.max_file_bytes
        return [Reply(m.file_too_large(file.file_name, file.size, limit))]
    candidates = await open_assignments(request)
    named = await closed_task_named(request, candidates)
    if named is not None:
        return [Reply(m.assignment_closed(named[1], named[0].status))]
    if not candidates:
        return [Reply(m.NOTHING_TO_SUBMIT)]
    chosen = await choose(request, candidates)
    if too_big:  # over the chat's download limit, within the web page's: the same file through a link
        return await upload_links(request, [chosen] if chosen else candidates,
                                  m.too_large_for_chat(file.file_name, file.size, ctx.max_file_bytes))
    if chosen is None:
        candidates = await replied_tasks(request, candidates) or candidates  # a batched reminder: ask among its tasks
        await set_state(request.session, request.person.id, "pick_task", {
            "ref": file.ref, "file_name": file.file_name, "size": file.size, "mime_type": file.mime_type,
            "channel": request.incoming.sender.channel}, now=request.now)
        return [pick_page(request, file.file_name, candidates, 1)]
    return await take_in(request, *chosen, file)


def pick_page(request: Request, file_name: str, candidates: list[tuple[Assignment, Task]], page: int) -> Reply:
    """"Which task is this file for?": the unit's open tasks, paged to the channel's limits."""
    tz = request.ctx.tz
    blocks = [Block(f"#{task.id} · {m.short(task.title, 80)} · hạn {task.due_at.astimezone(tz):%d/%m}",
                    [[Button(f"#{task.id} {m.short(task.title, 44)}", f"pick:{a.id}")]]) for a, task in candidates]
    return paginate(blocks, limits=limits_for(request.incoming.sender.channel), header=m.which_task(file_name),
                    page=page, nav=lambda n: f"pickpg:{n}", extra_buttons=[[Button("Huỷ", "cancel")]],
                    edit=page > 1)


async def on_pick_page(request: Request, page: int) -> list[Reply]:
    """Another page of the "which task?" choices."""
    state = await get_state(request.session, request.person.id, request.now)
    if state is None or state.kind != "pick_task":
        return [Reply(m.PICK_EXPIRED)]
    return [pick_page(request, state.data.get("file_name", ""), await open_assignments(request), page)]


async def on_pick(request: Request, assignment_id: int) -> list[Reply]:
    """The person chose the task for the file they sent before."""
    state = await get_state(request.session, request.person.id, request.now)
    if state is None or state.kind != "pick_task" or request.ctx.fetch_file is None or not state.data.get("ref"):
        return [Reply(m.PICK_EXPIRED)]
    candidates = {a.id: (a, t) for a, t in await open_assignments(request)}
    if assignment_id not in candidates:
        return [Reply(m.NOT_YOUR_TASK)]
    data = state.data
    channel, ref = data["channel"], data["ref"]

    async def fetch() -> bytes:
        return await request.ctx.fetch_file(channel, ref)

    file = IncomingFile(data["file_name"], data.get("size"), data.get("mime_type"), fetch, ref)
    return await take_in(request, *candidates[assignment_id], file)


async def on_submit_button(request: Request, assignment_id: int) -> list[Reply]:
    candidates = {a.id: (a, t) for a, t in await open_assignments(request)}
    if assignment_id not in candidates:
        return [Reply(m.NOT_YOUR_TASK)]
    _, task = candidates[assignment_id]
    await set_state(request.session, request.person.id, "await_file", {"assignment_id": assignment_id},
                    now=request.now)
    if request.incoming.sender.channel in FILELESS_CHANNELS:  # a file sent next also gets this task's link
        return await upload_links(request, [candidates[assignment_id]],
                                  f"{m.send_file_for(task)} {m.UPLOAD_BY_LINK_SUBMIT}")
    return [Reply(m.send_file_for(task))]


async def on_unsupported(request: Request) -> list[Reply]:
    """A file the channel cannot hand over (Zalo): upload links, for the task it is meant for when that is
    clear (the reminder it answers, "Nộp" pressed before, the only open task), else one per open task."""
    if request.unit is None:
        return [Reply(m.NO_UNIT)]
    candidates = await open_assignments(request)
    if not candidates:
        return [Reply(m.NOTHING_TO_SUBMIT)]
    chosen = await choose(request, candidates)
    return await upload_links(request, [chosen] if chosen else candidates, m.UPLOAD_BY_LINK_UNSUPPORTED)


async def on_reminder_reply(request: Request) -> list[Reply] | None:
    """Text answering a reminder in a channel without files: the upload link for that reminder's task.
    None when the message answers no reminder of an open task."""
    incoming = request.incoming
    if request.unit is None or not incoming.reply_to or incoming.sender.channel not in FILELESS_CHANNELS:
        return None
    replied = await message_for_reply(request.session, channel=incoming.sender.channel,
                                      chat_id=incoming.sender.chat_id, platform_message_id=incoming.reply_to)
    if replied is None or replied.assignment_id is None:
        return None
    rows = [row for row in await open_assignments(request) if row[0].id == replied.assignment_id]
    return await upload_links(request, rows, m.UPLOAD_BY_LINK_REPLY) if rows else None


def due_text(assignment: Assignment, task: Task, tz) -> str:
    return t.due(assignment.due_phrase_override or task.deadline_phrase, assignment.due_at_override or task.due_at, tz)


async def upload_links(request: Request, rows: list[tuple[Assignment, Task]], intro: str) -> list[Reply]:
    """One single-use upload link per task (task number, title, deadline), bound to this person."""
    links = request.ctx.links
    if links is None:
        return [Reply(m.UPLOAD_LINKS_UNAVAILABLE)]
    lines = []
    for assignment, task in rows[:UPLOAD_LINKS_AT_MOST]:
        url = await links.upload_link(request.session, request.person.id, assignment.id, request.now)
        lines.append(m.upload_line(task, due_text(assignment, task, request.ctx.tz), url))
    return [Reply(m.upload_links(intro, lines, int(UPLOAD_TTL.total_seconds() // 60),
                                 links.upload_max_bytes // 1024 // 1024, more=max(0, len(rows) - UPLOAD_LINKS_AT_MOST)))]


async def take_in(request: Request, assignment: Assignment, task: Task, file: IncomingFile) -> list[Reply]:
    replies, _ = await receive(request, assignment, task, file)
    return replies


async def receive(request: Request, assignment: Assignment, task: Task, file: IncomingFile, *,
                  limit: int | None = None) -> tuple[list[Reply], Evidence | None]:
    """Check, store and record one file; the replies, and the evidence when the file was taken."""
    ctx, session, now = request.ctx, request.session, request.now
    limit = limit or ctx.max_file_bytes
    try:
        data = await file.fetch()
    except FileTooLarge:
        if ctx.links is not None and (file.size is None or file.size <= ctx.links.upload_max_bytes):
            return await upload_links(request, [(assignment, task)],
                                      m.too_large_for_chat(file.file_name, file.size, limit)), None
        return [Reply(m.file_too_large(file.file_name, file.size, limit))], None
    if len(data) > limit:
        return [Reply(m.file_too_large(file.file_name, len(data), limit))], None
    report = await ctx.inspector.inspect(data, owner=f"person:{request.person.id}")
    if not report.ok:
        return [Reply(m.pdf_problem(clean_file_name(file.file_name), report.error))], None
    digest = hashlib.sha256(data).hexdigest()
    if await find_duplicate(session, assignment.id, digest) is not None:
        await clear_state(session, request.person.id, now=now)
        return [Reply(m.already_received(task, assignment.status))], None
    if task.signature_required and not report.signed:
        return [Reply(m.signature_required(task, file.file_name))], None
    if task.signature_required and not report.all_intact:
        return [Reply(m.signature_broken(task, file.file_name, report))], None
    stored = await asyncio.to_thread(ctx.store.put, data)
    evidence_file = EvidenceFile(
        file_name=clean_pdf_name(file.file_name), size=len(data), sha256=digest, pages=report.pages, storage_key=stored.key,
        channel=request.incoming.sender.channel, signed=report.signed, signatures_intact=report.all_intact,
        signatures=[m.signature_json(s) for s in report.signatures])
    outcome, evidence = await record_evidence(session, assignment, evidence_file, person_id=request.person.id, now=now)
    if outcome is Outcome.duplicate:
        return [Reply(m.already_received(task, assignment.status))], None
    if outcome is Outcome.closed:
        return [Reply(m.assignment_closed(task, assignment.status))], None
    await clear_state(session, request.person.id, now=now)
    due_at = assignment.due_at_override or task.due_at
    notice = m.review_request(request.unit, task, evidence, report, due_at, ctx.tz, request.person,
                              added=outcome is Outcome.added)
    await notify_roles(session, [Role.coordinator], Reply(notice, buttons=[
        [Button("✅ Chấp nhận", f"accept:{assignment.id}:{assignment.round}"),
         Button("↩️ Trả lại", f"return:{assignment.id}:{assignment.round}")],
        [Button("📄 Xem tệp", f"file:{evidence.id}")]]),
        key=f"review:e{evidence.id}", now=now, kind="review", assignment_id=assignment.id,
        exclude=request.person.id)
    return [Reply(m.receipt(task, evidence, report, due_at, ctx.tz, outcome is Outcome.added))], evidence


class LinkAlreadyUsed(Exception):
    """The upload link took another file meanwhile (raised to roll the unit of work back)."""


@dataclass(frozen=True)
class UploadOutcome:
    accepted: bool
    replies: list[Reply]
    link_used: bool = False


async def take_in_upload(ctx: HandlerContext, person_id: int, assignment_id: int, file_name: str, data: bytes, *,
                         link_id: int | None = None, channel: str = WEB_CHANNEL) -> UploadOutcome:
    """A file uploaded through the web page: the same checks, storage, status event and receipt as a chat
    file (``receive``), in one unit of work that also uses up the link and queues the receipt to the
    person's chat through the outbox. A refused file stores nothing and leaves the link usable."""
    from handlers.conversation import Request

    now = ctx.clock.now()
    try:
        async with ctx.db.session() as session:
            person = await session.get(Person, person_id)
            unit = await session.get(Unit, person.unit_id) if person is not None and person.unit_id else None
            assignment = await session.get(Assignment, assignment_id)
            if person is None or not person.active or unit is None:
                return UploadOutcome(False, [Reply(m.NO_UNIT)])
            if assignment is None or assignment.unit_id != unit.id:
                return UploadOutcome(False, [Reply(m.NOT_YOUR_TASK)])
            task = await session.get(Task, assignment.task_id)
            if assignment.status not in TAKES_FILES:
                return UploadOutcome(False, [Reply(m.assignment_closed(task, assignment.status))])
            incoming = Incoming(sender=Sender(channel=channel, user_id=f"person:{person_id}", chat_id=""))
            request = Request(incoming, session, person, unit, ctx, now)

            async def fetch() -> bytes:
                return data

            upload = IncomingFile(file_name, len(data), "application/pdf", fetch)
            limit = ctx.links.upload_max_bytes if ctx.links is not None else None
            replies, evidence = await receive(request, assignment, task, upload, limit=limit)
            if evidence is None:
                return UploadOutcome(False, replies)
            if link_id is not None and not await claim_upload(session, link_id, now):
                raise LinkAlreadyUsed
            for recipient in await recipients(session, [person_id]):
                for index, reply in enumerate(replies):
                    await enqueue(session, dedupe_key=f"upload:e{evidence.id}:{index}:{recipient.channel}:"
                                  f"{recipient.chat_id}", recipient=recipient, payload=reply_to_payload(reply),
                                  now=now, kind="receipt", assignment_id=assignment.id)
            return UploadOutcome(True, replies)
    except LinkAlreadyUsed:
        return UploadOutcome(False, [], link_used=True)
