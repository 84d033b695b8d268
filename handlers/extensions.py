"""Extension requests (gia hạn): a unit asks, a leader decides.

Flow: ``/extend`` (or the "🕒 Xin gia hạn" button a reminder carries, ``extend:<assignment>``) →
which task (when the unit has several open) → the reason → the new date → a pending request, a
status-log entry, a message with "✅ Đồng ý" / "❌ Từ chối" buttons to every leader, and a receipt.
``/extend 25/11 vì chờ số liệu của xã`` gives the date and the reason in one message (``#12`` picks
the task). A leader approves (the unit's due date moves; unit and coordinators are told) or denies
with a reason (the unit is told). ``/requests`` lists what waits. The rules live in
``storage.extensions``; this module parses, calls one function, renders.

``register(conversation)`` adds the commands, buttons and states to a ``Conversation``.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from handlers import texts as t
from sqlmodel import col, select

from handlers.chat import Button, Reply, limits_for
from handlers.paging import Block, paginate
from handlers.notify import notify_roles
from schedules.deadlines import Deadline, DeadlineError, find_deadlines, parse_deadline
from storage import extensions as ext
from storage.models import Assignment, ExtensionRequest, Person, Role, Task, Unit
from storage.queries import clear_state, get_state, set_state
from storage.status import OPEN_STATUSES, effective_due_at

if TYPE_CHECKING:
    from handlers.conversation import Conversation, Request

UNIT_ROLES = [Role.officer, Role.head]
REQUESTERS = frozenset(UNIT_ROLES)
DECIDERS = frozenset({Role.leader})
VIEWERS = frozenset({Role.leader, Role.coordinator, Role.admin})

STATE_REASON = "extension_reason"
STATE_DATE = "extension_date"
STATE_DENY = "extension_deny"
STATE_PICK = "extension_pick"
"""Not a text state: a date and reason typed with ``/extend`` wait here while the person picks a task."""
PICK_TTL = timedelta(hours=1)

CANCEL = [[Button("Huỷ", "cancel")]]
LIST_LIMIT = 20


# --- texts (Vietnamese) ---------------------------------------------------------------------------

NOTHING_TO_EXTEND = "Đơn vị bạn không có nhiệm vụ nào đang chờ nộp, nên không cần xin gia hạn. Gõ /tasks để xem."
NO_UNIT = "Tài khoản của bạn chưa gắn với đơn vị nào; hãy liên hệ Phòng Nội vụ."
NOT_YOUR_TASK = "Nhiệm vụ này không thuộc đơn vị bạn."
TASK_GONE = "Không tìm thấy nhiệm vụ này. Gõ /tasks để xem việc đang mở."
REQUEST_GONE = "Không tìm thấy đề nghị gia hạn này."
REASON_TOO_SHORT = "Hãy viết rõ lý do xin gia hạn (ít nhất vài chữ), hoặc bấm Huỷ."
DENY_REASON_TOO_SHORT = "Hãy viết rõ lý do từ chối (ít nhất vài chữ), hoặc bấm Huỷ."
NOTHING_PENDING = "Không có đề nghị gia hạn nào đang chờ. 👍"
FORBIDDEN = "Xin lỗi, vai trò của bạn không được dùng lệnh này."


def date_example(d: date) -> str:
    """How to write a date, with a date that is not past (see ``texts.example_day``)."""
    return f"ví dụ «{d:%d/%m}», «ngày {t.day(d)}» hoặc «chậm nhất ngày {d:%d/%m}»"
DECISIONS = {"approved": "đã được đồng ý", "denied": "đã bị từ chối", "pending": "đang chờ"}


def _due(at: datetime, tz: ZoneInfo) -> str:
    return t.deadline(at, tz)


def _title(task: Task) -> str:
    return f"«{task.title}»"


def which_task() -> str:
    return "🕒 Xin gia hạn cho nhiệm vụ nào? Chọn một nhiệm vụ:"


def task_button(task: Task) -> str:
    title = task.title if len(task.title) <= 40 else task.title[:39].rstrip() + "…"
    return f"🕒 #{task.id} {title}"


def ask_reason(task: Task, due: datetime, tz: ZoneInfo) -> str:
    return (f"🕒 Xin gia hạn nhiệm vụ {_title(task)}.\nHạn hiện tại: {_due(due, tz)}.\n"
            "Hãy gõ lý do xin gia hạn (lãnh đạo sẽ đọc nguyên văn).")


def _example(due: datetime, tz: ZoneInfo, now: datetime | None) -> date:
    today = (now or due).astimezone(tz).date()
    return t.example_day(today, after=due.astimezone(tz).date(), days=7)


def ask_date(task: Task, due: datetime, tz: ZoneInfo, now: datetime | None = None) -> str:
    return (f"Xin gia hạn nhiệm vụ {_title(task)} đến ngày nào? Hạn hiện tại: {_due(due, tz)}.\n"
            f"Hãy gõ ngày, {date_example(_example(due, tz, now))}.")


def bad_date(error: str, example: date) -> str:
    return f"{error} Hãy gõ lại ngày xin gia hạn, {date_example(example)}, hoặc bấm Huỷ."


def refused_date(reason: str, wanted: datetime, due: datetime, tz: ZoneInfo, now: datetime | None = None) -> str:
    if reason == "not_later":
        return (f"Ngày xin gia hạn ({_due(wanted, tz)}) phải sau hạn hiện tại ({_due(due, tz)}). "
                "Hãy gõ một ngày muộn hơn, hoặc bấm Huỷ.")
    if reason == "past":
        return f"Ngày {t.day(wanted.astimezone(tz).date())} đã qua. Hãy gõ một ngày từ hôm nay trở đi, hoặc bấm Huỷ."
    return (f"Ngày {t.day(wanted.astimezone(tz).date())} cách hạn hiện tại hơn {ext.MAX_EXTENSION.days} ngày. "
            "Nếu viết ngày không kèm năm, Đôn Đốc hiểu là lần tới của ngày đó; hãy ghi rõ năm "
            f"(ví dụ {t.day(_example(due, tz, now))}), hoặc bấm Huỷ.")


def already_pending(task: Task, pending: ExtensionRequest, tz: ZoneInfo) -> str:
    return (f"Đơn vị đã có một đề nghị gia hạn nhiệm vụ {_title(task)} (đến {_due(pending.requested_due_at, tz)}) "
            "đang chờ lãnh đạo xem xét. Vui lòng chờ kết quả; Đôn Đốc sẽ báo ngay khi có quyết định.")


def not_open(task: Task, status: str) -> str:
    return (f"Nhiệm vụ {_title(task)} của đơn vị đang ở trạng thái «{t.STATUS_LABELS.get(status, status)}», "
            "không cần xin gia hạn.")


def receipt(task: Task, request: ExtensionRequest, due: datetime, tz: ZoneInfo) -> str:
    return (f"✅ Đã gửi đề nghị gia hạn nhiệm vụ {_title(task)} đến lãnh đạo.\n"
            f"Xin gia hạn đến: «{request.requested_phrase}» ({_due(request.requested_due_at, tz)})\n"
            f"Lý do: {request.reason}\n"
            f"Trong khi chờ quyết định, hạn vẫn là {_due(due, tz)}. Đôn Đốc sẽ báo kết quả cho đơn vị.")


def request_card(request: ExtensionRequest, task: Task, unit: Unit, due: datetime, requester: str | None,
                 tz: ZoneInfo) -> str:
    """What a leader reads to decide (in the notice and in /requests)."""
    return (f"🕒 Đề nghị gia hạn số {request.id}\n"
            f"Đơn vị: {unit.name}\n"
            f"Nhiệm vụ: {_title(task)}\n"
            f"Hạn hiện tại: {_due(due, tz)}\n"
            f"Xin gia hạn đến: «{request.requested_phrase}» ({_due(request.requested_due_at, tz)})\n"
            f"Lý do: {request.reason}\n"
            f"Người đề nghị: {requester or 'không rõ'}, lúc {t.instant(request.requested_at, tz)}")


def decision_buttons(request_id: int) -> list[list[Button]]:
    return [[Button("✅ Đồng ý", f"extapprove:{request_id}"), Button("❌ Từ chối", f"extdeny:{request_id}")]]


def already_decided(request: ExtensionRequest, decider: str | None, tz: ZoneInfo) -> str:
    when = f", lúc {t.instant(request.decided_at, tz)}" if request.decided_at else ""
    who = f" ({decider}{when})" if decider else ""
    return f"Đề nghị gia hạn số {request.id} đã được xử lý: {DECISIONS.get(request.status, request.status)}{who}."


def approved_done(task: Task, unit: Unit, new_due: datetime, tz: ZoneInfo) -> str:
    return f"✅ Đã đồng ý gia hạn nhiệm vụ {_title(task)} cho {unit.name}: hạn mới {_due(new_due, tz)}."


def approved_notice(task: Task, old: datetime, new: datetime, leader: Person, tz: ZoneInfo) -> str:
    return (f"✅ Lãnh đạo ({leader.name}) đã đồng ý gia hạn nhiệm vụ {_title(task)}.\n"
            f"Hạn mới của đơn vị: {_due(new, tz)} (trước đây: {_due(old, tz)}).")


def approved_for_coordinators(task: Task, unit: Unit, old: datetime, new: datetime, leader: Person,
                              tz: ZoneInfo) -> str:
    return (f"🕒 {unit.name} được gia hạn nhiệm vụ {_title(task)}: từ {_due(old, tz)} đến {_due(new, tz)} "
            f"(lãnh đạo: {leader.name}).")


def ask_deny_reason(task: Task, unit: Unit) -> str:
    return (f"Lý do từ chối gia hạn nhiệm vụ {_title(task)} của {unit.name}? "
            "Hãy gõ lý do (đơn vị sẽ nhận được nguyên văn).")


def denied_done(task: Task, unit: Unit, reason: str) -> str:
    return f"❌ Đã từ chối gia hạn nhiệm vụ {_title(task)} của {unit.name}. Lý do: {reason}"


def denied_notice(task: Task, reason: str, due: datetime, leader: Person, tz: ZoneInfo) -> str:
    return (f"❌ Lãnh đạo ({leader.name}) không đồng ý gia hạn nhiệm vụ {_title(task)}.\nLý do: {reason}\n"
            f"Hạn vẫn là {_due(due, tz)}; hãy nộp đúng hạn.")


def requests_heading(count: int) -> str:
    return f"🕒 Có {count} đề nghị gia hạn đang chờ quyết định:"


def more_requests(count: int) -> str:
    return f"… và {count} đề nghị khác. Xử lý bớt rồi gõ /requests để xem tiếp."


# --- reading "/extend 25/11 vì chờ số liệu" --------------------------------------------------------

_TASK_REF = re.compile(r"(?<!\S)#(\d+)(?!\S)")
_LOOKS_LIKE_DATE = re.compile(r"^\s*(?:ng[àa]y\s+)?\d{1,2}\s*[/.-]\s*\d{1,2}\S*", re.IGNORECASE)
_FILLER = re.compile(r"^(?:(?:xin|đề nghị|de nghi)\s+)?(?:gia\s+h[ạa]n\s+)?", re.IGNORECASE)
_TRAILING_FILLER = re.compile(r"[\s,;:]*(?:(?:xin|đề nghị|de nghi)\s*)?(?:gia\s+h[ạa]n\s*)?$", re.IGNORECASE)
_LEADING_JUNK = " \t\n,.;:-–—"
_MAX_DATE_WORDS = 6


def split_args(args: str, reference: datetime, tz: ZoneInfo) -> tuple[int | None, Deadline | None, str]:
    """``#12 25/11 vì chờ số liệu`` → (task id 12, the deadline, "vì chờ số liệu").

    A date at the start wins (``25/11 …``, ``chậm nhất ngày 25/11 …``); otherwise a keyword phrase
    anywhere (``… xin đến 30/11``); otherwise everything is the reason. Raises ``DeadlineError`` for a
    date at the start that does not exist (``31/02``).
    """
    task_id = None
    ref = _TASK_REF.search(args)
    if ref is not None:
        task_id = int(ref.group(1))
        args = args[:ref.start()] + args[ref.end():]
    text = _FILLER.sub("", " ".join(args.split()))
    if not text:
        return task_id, None, ""
    words = text.split(" ")
    for n in range(1, min(len(words), _MAX_DATE_WORDS) + 1):
        head = " ".join(words[:n])
        try:
            deadline = parse_deadline(head, reference, tz)
        except DeadlineError:
            continue
        if not head[:deadline.start].strip(_LEADING_JUNK + "("):
            return task_id, deadline, " ".join(words[n:]).strip(_LEADING_JUNK)
    looks_like_date = _LOOKS_LIKE_DATE.match(text)
    if looks_like_date:
        parse_deadline(looks_like_date.group(0), reference, tz)  # raises, saying why the date is wrong
    found = find_deadlines(text, reference, tz)
    if found:
        deadline = found[0]
        head = _TRAILING_FILLER.sub("", text[:deadline.start])
        rest = head.rstrip(_LEADING_JUNK) + " " + text[deadline.end:].lstrip(_LEADING_JUNK)
        return task_id, deadline, rest.strip(_LEADING_JUNK)
    return task_id, None, text


# --- asking ---------------------------------------------------------------------------------------


async def _assignment(request: Request, assignment_id: int) -> tuple[Assignment, Task] | None:
    assignment = await request.session.get(Assignment, assignment_id)
    if assignment is None:
        return None
    return assignment, await request.session.get(Task, assignment.task_id)


def _state(assignment: Assignment, reason: str | None = None, deadline: Deadline | None = None,
           due_at: str | None = None, phrase: str | None = None) -> dict:
    data: dict = {"assignment_id": assignment.id}
    if reason:
        data["reason"] = reason
    if deadline is not None:
        data["due_at"], data["phrase"] = deadline.due_at.isoformat(), deadline.phrase
    elif due_at and phrase:
        data["due_at"], data["phrase"] = due_at, phrase
    return data


async def _proceed(request: Request, assignment: Assignment, task: Task, data: dict,
                   before: list[Reply] | None = None) -> list[Reply]:
    """Ask for what is missing (the reason, then the date), or record the request."""
    replies = list(before or [])
    tz = request.ctx.tz
    due = effective_due_at(assignment, task.due_at)
    if not data.get("reason"):
        await set_state(request.session, request.person.id, STATE_REASON, data, now=request.now)
        return replies + [Reply(ask_reason(task, due, tz), buttons=CANCEL)]
    if not data.get("due_at"):
        await set_state(request.session, request.person.id, STATE_DATE, data, now=request.now)
        return replies + [Reply(ask_date(task, due, tz, request.now), buttons=CANCEL)]
    return replies + await _record(request, assignment, task, data)


async def _begin(request: Request, assignment: Assignment, task: Task, data: dict,
                 before: list[Reply] | None = None) -> list[Reply]:
    """Checks common to the command and the button, then ask or record."""
    if request.unit is None or assignment.unit_id != request.unit.id:
        return [Reply(NOT_YOUR_TASK)]
    if assignment.status not in OPEN_STATUSES:
        return [Reply(not_open(task, assignment.status))]
    pending = await ext.pending_for(request.session, assignment.id)
    if pending is not None:
        return [Reply(already_pending(task, pending, request.ctx.tz))]
    if len(data.get("reason", "")) < 3:
        data.pop("reason", None)
    if data.get("due_at"):
        wanted = datetime.fromisoformat(data["due_at"])
        due = effective_due_at(assignment, task.due_at)
        try:
            ext.check_requested_due(due, wanted, request.now)
        except ext.ExtensionRefused as refused:
            data = {k: v for k, v in data.items() if k not in ("due_at", "phrase")}
            before = list(before or []) + [Reply(refused_date(refused.reason, wanted, due, request.ctx.tz,
                                                              request.now))]
    return await _proceed(request, assignment, task, data, before)


async def extend_command(request: Request) -> list[Reply]:
    """``/extend`` [#task] [date] [reason]."""
    if request.unit is None:
        return [Reply(NO_UNIT)]
    tz = request.ctx.tz
    try:
        task_id, deadline, reason = split_args(request.incoming.args, request.now, tz)
    except DeadlineError as error:
        example = t.example_day(request.now.astimezone(tz).date(), days=7)
        return [Reply(f"{error} Hãy gõ lại, ví dụ: /extend {example:%d/%m} vì chờ số liệu của các xã.")]
    candidates = await ext.extendable(request.session, request.unit.id)
    if task_id is not None:
        candidates = [(a, task) for a, task in candidates if task.id == task_id]
    if not candidates:
        return [Reply(NOTHING_TO_EXTEND if task_id is None else TASK_GONE)]
    if len(candidates) > 1:
        await clear_state(request.session, request.person.id, now=request.now)
        if reason or deadline:  # kept until a task is picked
            draft = {"reason": reason} if reason else {}
            if deadline is not None:
                draft |= {"due_at": deadline.due_at.isoformat(), "phrase": deadline.phrase}
            await set_state(request.session, request.person.id, STATE_PICK, draft, now=request.now, ttl=PICK_TTL)
        return [extend_pick_page(request, candidates, 1)]
    assignment, task = candidates[0]
    return await _begin(request, assignment, task, _state(assignment, reason, deadline))


def extend_pick_page(request: Request, candidates: list[tuple[Assignment, Task]], page: int) -> Reply:
    """Which task to extend: the unit's open tasks (by their number), paged to the channel's limits."""
    tz = request.ctx.tz
    blocks = [Block(f"#{task.id} · {task.title[:80]} · {_due(effective_due_at(a, task.due_at), tz)}",
                    [[Button(task_button(task), f"extend:{a.id}")]]) for a, task in candidates]
    return paginate(blocks, limits=limits_for(request.incoming.sender.channel), header=which_task(), page=page,
                    nav=lambda n: f"extendpg:{n}", extra_buttons=CANCEL, edit=page > 1)


async def on_extend_page(request: Request, page: int) -> list[Reply]:
    if request.unit is None:
        return [Reply(NO_UNIT)]
    candidates = await ext.extendable(request.session, request.unit.id)
    if not candidates:
        return [Reply(NOTHING_TO_EXTEND)]
    return [extend_pick_page(request, candidates, page)]


async def on_extend_button(request: Request, assignment_id: int) -> list[Reply]:
    """``extend:<assignment>``: from a reminder or from the list ``/extend`` showed."""
    loaded = await _assignment(request, assignment_id)
    if loaded is None:
        return [Reply(TASK_GONE)]
    assignment, task = loaded
    data = _state(assignment)
    state = await get_state(request.session, request.person.id, request.now)
    if state is not None and state.kind == STATE_PICK:
        data = _state(assignment, state.data.get("reason"), due_at=state.data.get("due_at"),
                      phrase=state.data.get("phrase"))
        await clear_state(request.session, request.person.id, now=request.now)
    return await _begin(request, assignment, task, data)


async def on_reason(request: Request, data: dict) -> list[Reply]:
    reason = request.incoming.text.strip()
    if len(reason) < 3:
        return [Reply(REASON_TOO_SHORT, buttons=CANCEL)]
    loaded = await _assignment(request, data["assignment_id"])
    if loaded is None:
        await clear_state(request.session, request.person.id, now=request.now)
        return [Reply(TASK_GONE)]
    assignment, task = loaded
    return await _proceed(request, assignment, task, data | {"reason": reason[:ext.REASON_LIMIT]})


async def on_date(request: Request, data: dict) -> list[Reply]:
    tz = request.ctx.tz
    loaded = await _assignment(request, data["assignment_id"])
    if loaded is None:
        await clear_state(request.session, request.person.id, now=request.now)
        return [Reply(TASK_GONE)]
    assignment, task = loaded
    try:
        deadline = parse_deadline(request.incoming.text, request.now, tz)
    except DeadlineError as error:
        due = effective_due_at(assignment, task.due_at)
        return [Reply(bad_date(str(error), _example(due, tz, request.now)), buttons=CANCEL)]
    due = effective_due_at(assignment, task.due_at)
    try:
        ext.check_requested_due(due, deadline.due_at, request.now)
    except ext.ExtensionRefused as refused:
        return [Reply(refused_date(refused.reason, deadline.due_at, due, tz, request.now), buttons=CANCEL)]
    return await _proceed(request, assignment, task, _state(assignment, data.get("reason"), deadline))


async def _record(request: Request, assignment: Assignment, task: Task, data: dict) -> list[Reply]:
    tz, session = request.ctx.tz, request.session
    wanted = datetime.fromisoformat(data["due_at"])
    due = effective_due_at(assignment, task.due_at)
    try:
        extension = await ext.request_extension(
            session, assignment, requested_due_at=wanted, requested_phrase=data["phrase"], reason=data["reason"],
            person_id=request.person.id, now=request.now, tz=tz)
    except ext.ExtensionRefused as refused:
        if refused.reason in ("not_later", "past", "too_far"):
            data = {k: v for k, v in data.items() if k not in ("due_at", "phrase")}
            await set_state(session, request.person.id, STATE_DATE, data, now=request.now)
            return [Reply(refused_date(refused.reason, wanted, due, tz, request.now), buttons=CANCEL)]
        await clear_state(session, request.person.id, now=request.now)
        if refused.reason == "pending":
            return [Reply(already_pending(task, refused.existing, tz))]
        await session.refresh(assignment)
        return [Reply(not_open(task, assignment.status))]
    await clear_state(session, request.person.id, now=request.now)
    unit = await session.get(Unit, assignment.unit_id)
    card = request_card(extension, task, unit, due, request.person.name, tz)
    await notify_roles(session, [Role.leader], Reply(card, buttons=decision_buttons(extension.id)),
                       key=f"extreq:{extension.id}", now=request.now, kind="extension", assignment_id=assignment.id)
    return [Reply(receipt(task, extension, due, tz))]


# --- deciding -------------------------------------------------------------------------------------


async def _decided(request: Request, refused: ext.AlreadyDecided) -> list[Reply]:
    if refused.request is None:
        return [Reply(REQUEST_GONE)]
    decider = (await request.session.get(Person, refused.request.decided_by_person_id)
               if refused.request.decided_by_person_id else None)
    return [Reply(already_decided(refused.request, decider.name if decider else None, request.ctx.tz))]


async def approve(request: Request, request_id: int) -> list[Reply]:
    tz = request.ctx.tz
    try:
        decision = await ext.approve(request.session, request_id, person_id=request.person.id, now=request.now, tz=tz)
    except ext.AlreadyDecided as refused:
        return await _decided(request, refused)
    state = await get_state(request.session, request.person.id, request.now)
    if state is not None and state.kind == STATE_DENY and state.data.get("request_id") == request_id:
        await clear_state(request.session, request.person.id, now=request.now)  # changed their mind
    task, unit, old, new = decision.task, decision.unit, decision.old_due_at, decision.request.requested_due_at
    await notify_roles(request.session, UNIT_ROLES, Reply(approved_notice(task, old, new, request.person, tz)),
                       key=f"extok:{request_id}", now=request.now, unit_id=unit.id, kind="extension",
                       assignment_id=decision.assignment.id)
    await notify_roles(request.session, [Role.coordinator],
                       Reply(approved_for_coordinators(task, unit, old, new, request.person, tz)),
                       key=f"extok:{request_id}:coord", now=request.now, exclude=request.person.id, kind="extension",
                       assignment_id=decision.assignment.id)
    return [Reply(approved_done(task, unit, new, tz), edit=True)]


async def ask_deny(request: Request, request_id: int) -> list[Reply]:
    extension = await request.session.get(ExtensionRequest, request_id)
    if extension is None:
        return [Reply(REQUEST_GONE)]
    if extension.status != "pending":
        return await _decided(request, ext.AlreadyDecided(extension))
    assignment, task = await _assignment(request, extension.assignment_id)
    unit = await request.session.get(Unit, assignment.unit_id)
    await set_state(request.session, request.person.id, STATE_DENY, {"request_id": request_id}, now=request.now)
    return [Reply(ask_deny_reason(task, unit), buttons=CANCEL)]


async def deny_with_reason(request: Request, data: dict) -> list[Reply]:
    if request.role not in DECIDERS:
        await clear_state(request.session, request.person.id, now=request.now)
        return [Reply(FORBIDDEN)]
    reason = request.incoming.text.strip()
    if len(reason) < 3:
        return [Reply(DENY_REASON_TOO_SHORT, buttons=CANCEL)]
    await clear_state(request.session, request.person.id, now=request.now)
    tz = request.ctx.tz
    try:
        decision = await ext.deny(request.session, data["request_id"], reason=reason, person_id=request.person.id,
                                  now=request.now)
    except ext.AlreadyDecided as refused:
        return await _decided(request, refused)
    task, unit, reason = decision.task, decision.unit, decision.request.decision_note
    await notify_roles(request.session, UNIT_ROLES,
                       Reply(denied_notice(task, reason, decision.old_due_at, request.person, tz)),
                       key=f"extno:{decision.request.id}", now=request.now, unit_id=unit.id, kind="extension",
                       assignment_id=decision.assignment.id)
    return [Reply(denied_done(task, unit, reason))]


async def list_requests(request: Request, page: int = 1) -> list[Reply]:
    """``/requests``: pending requests, oldest first, paged; leaders get the decision buttons."""
    rows = await ext.pending_requests(request.session)
    if not rows:
        return [Reply(NOTHING_PENDING)]
    tz = request.ctx.tz
    people = {p.id: p.name for p in (await request.session.exec(select(Person).where(
        col(Person.id).in_({e.requested_by_person_id for e, *_ in rows if e.requested_by_person_id})))).all()}
    blocks = []
    for extension, assignment, task, unit in rows:
        card = request_card(extension, task, unit, effective_due_at(assignment, task.due_at),
                            people.get(extension.requested_by_person_id), tz)
        buttons = [[Button(f"✅ Đồng ý số {extension.id}", f"extapprove:{extension.id}"),
                    Button(f"❌ Từ chối số {extension.id}", f"extdeny:{extension.id}")]] \
            if request.role in DECIDERS else []
        blocks.append(Block("\n" + card, buttons))
    return [paginate(blocks, limits=limits_for(request.incoming.sender.channel), header=requests_heading(len(rows)),
                     page=page, nav=lambda n: f"requests:{n}", edit=request.incoming.choice is not None and page > 1)]


# --- wiring ---------------------------------------------------------------------------------------


def register(conversation: Conversation) -> None:
    """Add the extension commands, buttons and states to ``conversation`` (idempotent)."""
    from handlers.conversation import Choice, Command

    conversation.register(Command("extend", extend_command, REQUESTERS,
                                  "xin gia hạn: /extend hoặc /extend NGÀY/THÁNG vì lý do"))
    conversation.register(Command("requests", list_requests, VIEWERS, "các đề nghị gia hạn đang chờ"))
    conversation.register_choice(Choice("extend", on_extend_button, REQUESTERS, 1))
    conversation.register_choice(Choice("extendpg", on_extend_page, REQUESTERS, 1))
    conversation.register_choice(Choice("requests", list_requests, VIEWERS, 1))
    conversation.register_choice(Choice("extapprove", approve, DECIDERS, 1))
    conversation.register_choice(Choice("extdeny", ask_deny, DECIDERS, 1))
    conversation.states[STATE_REASON] = on_reason
    conversation.states[STATE_DATE] = on_date
    conversation.states[STATE_DENY] = deny_with_reason
