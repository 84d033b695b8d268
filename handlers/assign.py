"""``/assign``: a coordinator turns an official letter (công văn) into tasks, in chat.

Flow: ``/assign`` → the bot asks for the letter (state ``assign_wait``): a pasted or forwarded text, or
a ``.docx`` / ``.pdf`` (with a text layer) / ``.txt`` file; ``/assign <text>`` takes the text at once.
The letter is read (``handlers.letters.read_letter``, in the sandbox, / ``paste_text``) and the tasks extracted against
the roster (``extract_letter``, reference date = the letter's date, else today), both off the event
loop. The bot shows the draft (``render_draft``) with buttons; the draft lives in the person's
conversation state as JSON (state ``assign_draft``), so it survives a restart. Nothing is created
before the coordinator confirms:

- ``asgdrop:V:i`` drops task ``i``; ``asgdue:V:i`` asks for a new deadline (state ``assign_due``, read
  with ``parse_deadline``); ``asgunits:V:i`` asks for units (state ``assign_units``: codes,
  ``group:xa``, ``all``, read with ``resolve_units``); ``asgedit:V:i`` shows one task's buttons (long
  letters); ``asgshow:V`` shows the draft again;
- ``asgok:V`` creates the letter, tasks and assignments with ``save_draft`` in this unit of work, only
  when every task has a deadline, units, and no name that matched no unit (those must be fixed or
  dropped: never dropped silently); ``asgcancel:V`` drops the draft.

``V`` is the draft's version, renewed on every change: tasks are numbered as the draft shows them, so
a button of an older draft message (whose numbers may have shifted) is refused, not applied to
another task. ``i`` is the task's number as shown (1-based).

A letter pasted in Telegram arrives split into parts of 4096 characters: a long text followed within
``JOIN_WINDOW`` by more text, before the draft is edited, is read as one letter.

The channel calls ``maybe_letter_file`` for every file before evidence intake: it takes the file as
the letter when the sender is a coordinator (or admin) waiting in ``assign_wait``.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import update

from handlers import messages as m
from handlers.chat import Button, FileTooLarge, Reply
from handlers.messages import short
from handlers.letters import (
    ISSUER_KINDS,
    NO_DEADLINE,
    NO_UNITS,
    DraftTask,
    LetterDraft,
    LetterError,
    check_size,
    extract_letter,
    read_letter,
    paste_text,
    render_draft,
    roster_refs,
    save_draft,
)
from handlers.texts import deadline_examples, due, example_day
from schedules.deadlines import DeadlineError, parse_deadline
from storage.models import ConversationState, Role
from storage.queries import UnknownUnits, clear_state, get_state, resolve_units, set_state

if TYPE_CHECKING:
    from handlers.conversation import Conversation, Request

ASSIGNERS = frozenset({Role.coordinator, Role.admin})

WAIT = "assign_wait"
DRAFT = "assign_draft"
ASK_DUE = "assign_due"
ASK_UNITS = "assign_units"
DRAFT_KINDS = (DRAFT, ASK_DUE, ASK_UNITS)
ALL_KINDS = (WAIT, *DRAFT_KINDS)

WAIT_TTL = timedelta(hours=2)
DRAFT_TTL = timedelta(hours=24)
SOURCE_LIMIT = 200_000  # characters of the letter kept with the draft (and saved with the letter)
JOIN_WINDOW = timedelta(minutes=2)
JOIN_MIN_PART = 3000  # a part this long may be the first of a message the chat app split
MAX_DRAFT_TASKS = 60  # more than this is not a letter to check button by button in a chat
ROWS_PER_TASK_LIMIT = 15  # up to this many tasks, each gets its row of buttons; beyond, one "✏️ n" each
EDIT_BUTTONS_PER_ROW = 5
TITLE_IN_LIST = 80

# --- messages (Vietnamese) --------------------------------------------------------------------------

ASK_LETTER = (
    "📝 Giao việc theo công văn.\n"
    "Hãy dán (hoặc chuyển tiếp) nội dung công văn vào đây, hoặc gửi tệp .docx, .pdf (có lớp chữ), .txt.\n"
    "Đôn Đốc sẽ đọc số, ngày, các mục và hạn nộp rồi gửi bản nháp để bạn kiểm tra. "
    "Chưa có việc nào được giao trước khi bạn bấm «✅ Xác nhận giao việc»."
)
OLD_DRAFT_DROPPED = "Bản nháp giao việc trước (chưa xác nhận) đã được bỏ."
NO_DEADLINE_FOUND = (
    "Không tìm thấy hạn nộp nào trong {what} (ví dụ «{ex1}», «{ex2}»), "
    "nên chưa có việc gì để giao và chưa tạo gì. Hãy kiểm tra lại rồi gửi lại công văn, hoặc bấm «Huỷ»."
)
MAYBE_SPLIT = " Nếu công văn dài bị tách thành nhiều tin nhắn, hãy gửi tiếp phần còn lại."
TOO_MANY_TASKS = (
    "Công văn này cho {count} nhiệm vụ, quá nhiều để duyệt từng mục trong chat (tối đa {limit}). "
    "Chưa tạo gì. Hãy nhập bằng lệnh «dondoc letter import» trên máy chủ, hoặc gửi từng phần công văn."
)
NO_ROSTER = "Chưa có danh sách đơn vị nên chưa thể giao việc. Hãy nhập danh sách đơn vị trước (dondoc roster import)."
SEND_AGAIN = "Hãy gửi lại công văn (dán nội dung, hoặc tệp .docx, .pdf, .txt), hoặc bấm «Huỷ»."
FILE_TOO_BIG_TO_FETCH = "Tệp «{name}» quá lớn để tải về; chỉ nhận công văn tối đa 1 MB."
NO_DRAFT = ("Không có bản nháp giao việc nào đang mở (đã xác nhận, đã huỷ hoặc đã quá hạn giữ). "
            "Gõ /assign để bắt đầu lại.")
STALE = ("Bản nháp đã thay đổi sau tin nhắn này (số thứ tự các mục có thể đã khác). "
         "Hãy dùng các nút của bản nháp mới nhất dưới đây.")
DRAFT_HINT = ("Bạn đang có bản nháp giao việc chờ xác nhận: dùng các nút dưới bản nháp để bỏ mục, sửa hạn, "
              "sửa đơn vị hoặc xác nhận; bấm «Huỷ» để bỏ bản nháp.")
JOINED = "🧩 Đã ghép phần tiếp theo vào công văn ({parts} phần) và đọc lại toàn bộ."
CANCELLED = "Đã huỷ giao việc theo công văn; không có nhiệm vụ nào được tạo."
NOTHING_TO_CANCEL = "Không có việc giao theo công văn nào đang chờ để huỷ."
DROPPED = "🗑 Đã bỏ mục {n}: {title}"
DUE_CHANGED = "📅 Đã đổi hạn mục {n}: {due}"
UNITS_CHANGED = "🏢 Đã đổi đơn vị nhận mục {n}: {units}"
ASK_NEW_DUE = (
    "📅 Nhập hạn mới cho mục {n}: {title}\n"
    "Hạn hiện tại: {current}\n"
    "Ví dụ: «{ex1}», «{ex2}» hoặc {ex3}."
)
ASK_NEW_UNITS = (
    "🏢 Nhập đơn vị nhận mục {n}: {title}\n"
    "Hiện giao: {current}\n"
    "Gõ mã đơn vị cách nhau bằng dấu phẩy (ví dụ: NV, TP), một nhóm (group:{group}), hoặc all (tất cả){groups}."
)
BAD_DUE = "{error}\nHãy nhập lại hạn cho mục {n}, hoặc bấm «Quay lại bản nháp»."
PAST_DUE = ("Hạn {due} đã qua. Hãy nhập một ngày từ hôm nay trở đi cho mục {n}, "
            "hoặc bấm «Quay lại bản nháp».")
EMPTY_UNITS = "Chưa có đơn vị nào. Hãy gõ mã đơn vị (ví dụ: NV, TP), group:{group} hoặc all."
UNKNOWN_UNITS = ("Không có trong danh sách đơn vị: {names}. Hãy gõ lại cho mục {n} (mã đơn vị như NV, TP; "
                 "nhóm như group:{group}; hoặc all), hoặc bấm «Quay lại bản nháp».")
NO_UNITS_LEFT = "Lựa chọn này không gồm đơn vị nào nhận việc được. Hãy gõ mã đơn vị khác cho mục {n}."
CANNOT_CONFIRM = ("⛔ Chưa thể xác nhận vì: {why}.\n"
                  "Hãy sửa hạn, sửa đơn vị hoặc bỏ các mục này rồi bấm «✅ Xác nhận giao việc» lại. Chưa tạo gì.")
NOTHING_LEFT = "Bản nháp không còn mục nào để giao. Bấm «Huỷ», hoặc gõ /assign để nhập công văn khác."
CREATED = "✅ Đã giao {count} nhiệm vụ theo {letter}:"
NONE_CREATED = "Không tạo được nhiệm vụ nào theo {letter}:"
REMINDERS_GO_OUT = ("Các đơn vị được giao sẽ nhận tin báo việc mới ở lượt nhắc việc kế tiếp, rồi được nhắc "
                    "theo lịch khi gần hạn. Xem tiến độ bằng /status.")
DUPLICATE_CLEARED = "Bản nháp đã được bỏ."


# --- the draft as JSON ------------------------------------------------------------------------------


def task_to_data(task: DraftTask) -> dict[str, Any]:
    return {
        "title": task.title,
        "deliverable": task.deliverable,
        "due_at": task.due_at.isoformat() if task.due_at else None,
        "phrase": task.phrase,
        "units": list(task.units),
        "lead": task.lead,
        "coordinating": list(task.coordinating),
        "templates": list(task.templates),
        "signed": task.signed,
        "unmatched_names": list(task.unmatched_names),
        "problem": task.problem,
        "item": task.item,
    }


def task_from_data(data: dict[str, Any]) -> DraftTask:
    return DraftTask(
        title=data["title"],
        deliverable=data["deliverable"],
        due_at=datetime.fromisoformat(data["due_at"]) if data.get("due_at") else None,
        phrase=data.get("phrase"),
        units=tuple(data.get("units", ())),
        lead=data.get("lead"),
        coordinating=tuple(data.get("coordinating", ())),
        templates=tuple(data.get("templates", ())),
        signed=bool(data.get("signed")),
        unmatched_names=tuple(data.get("unmatched_names", ())),
        problem=data.get("problem"),
        item=data.get("item"),
    )


def draft_to_data(draft: LetterDraft) -> dict[str, Any]:
    """Everything of the draft, JSON-ready (unit names as pairs: the roster order must survive)."""
    return {
        "number": draft.number,
        "number_hint": draft.number_hint,
        "date": draft.date.isoformat() if draft.date else None,
        "date_hint": draft.date_hint,
        "place": draft.place,
        "subject": draft.subject,
        "recipients": list(draft.recipients),
        "recipient_units": list(draft.recipient_units),
        "unmatched_names": list(draft.unmatched_names),
        "notes": list(draft.notes),
        "reference": draft.reference.isoformat(),
        "tasks": [task_to_data(task) for task in draft.tasks],
        "unit_names": [[code, name] for code, name in draft.unit_names.items()],
        "group_members": [[group, list(codes)] for group, codes in draft.group_members.items()],
        "group_labels": [[group, label] for group, label in draft.group_labels.items()],
    }


def draft_from_data(data: dict[str, Any]) -> LetterDraft:
    return LetterDraft(
        number=data.get("number"),
        number_hint=data.get("number_hint"),
        date=date.fromisoformat(data["date"]) if data.get("date") else None,
        date_hint=data.get("date_hint"),
        place=data.get("place"),
        subject=data.get("subject"),
        recipients=tuple(data.get("recipients", ())),
        recipient_units=tuple(data.get("recipient_units", ())),
        unmatched_names=tuple(data.get("unmatched_names", ())),
        notes=tuple(data.get("notes", ())),
        reference=date.fromisoformat(data["reference"]),
        tasks=tuple(task_from_data(task) for task in data.get("tasks", ())),
        unit_names={code: name for code, name in data.get("unit_names", ())},
        group_members={group: tuple(codes) for group, codes in data.get("group_members", ())},
        group_labels={group: label for group, label in data.get("group_labels", ())},
    )


# --- rules on the draft (pure) ----------------------------------------------------------------------


def blockers(draft: LetterDraft) -> list[str]:
    """Why the draft cannot be confirmed as it stands, one phrase per task (Vietnamese); empty when it can."""
    out: list[str] = []
    for number, task in enumerate(draft.tasks, start=1):
        if task.due_at is None and task.problem in (None, NO_DEADLINE, NO_UNITS):
            out.append(f"mục {number} chưa có hạn")
        elif task.due_at is None:  # a deadline that cannot be read ("Ngày 31/02/2025 không tồn tại.")
            out.append(f"mục {number}: {task.problem.rstrip('.')}")
        if not task.units:
            out.append(f"mục {number} chưa có đơn vị nhận")
        if task.unmatched_names:
            out.append(f"mục {number} có tên không khớp đơn vị nào ({', '.join(task.unmatched_names)})")
    return out


def _recheck(task: DraftTask) -> DraftTask:
    """The task's problem after an edit: none when ready; a deadline problem is kept until a deadline is set."""
    if task.ready:
        return replace(task, problem=None)
    if task.due_at is None:
        kept = task.problem if task.problem not in (None, NO_UNITS) else NO_DEADLINE
        return replace(task, problem=kept)
    return replace(task, problem=NO_UNITS)


def with_due(task: DraftTask, due_at: datetime, phrase: str) -> DraftTask:
    return _recheck(replace(task, due_at=due_at, phrase=phrase))


def with_units(task: DraftTask, codes: tuple[str, ...]) -> DraftTask:
    """The coordinator chose the units: the lead stays only if chosen, names that matched nothing are settled."""
    lead = task.lead if task.lead in codes else None
    coordinating = tuple(code for code in task.coordinating if code not in codes)
    return _recheck(replace(task, units=codes, lead=lead, coordinating=coordinating, unmatched_names=()))


def without(draft: LetterDraft, number: int) -> LetterDraft:
    return replace(draft, tasks=draft.tasks[: number - 1] + draft.tasks[number:])


def with_task(draft: LetterDraft, number: int, task: DraftTask) -> LetterDraft:
    return replace(draft, tasks=draft.tasks[: number - 1] + (task,) + draft.tasks[number:])


def unit_spec(text: str) -> str:
    """What people type (``NV TP``, ``NV; TP``, ``group: xa``) as ``resolve_units`` reads it."""
    text = re.sub(r"\s*:\s*", ":", text.strip())
    return ",".join(part for part in re.split(r"[,;\s]+", text) if part)


def _units_text(draft: LetterDraft, codes: tuple[str, ...]) -> str:
    return ", ".join(draft.unit_names.get(code, code) for code in codes) if codes else "chưa có"


def _letter_name(draft: LetterDraft) -> str:
    return f"công văn số {draft.number}" if draft.number else "công văn (chưa ghi số)"


# --- rendering --------------------------------------------------------------------------------------


def draft_reply(draft: LetterDraft, version: int, tz: ZoneInfo, now: datetime, note: str | None = None) -> Reply:
    """The draft as the coordinator checks it, with its buttons."""
    lines = [note, ""] if note else []
    lines.append(render_draft(draft, tz))
    from handlers.recurring import recurrence_hint_lines  # issue 11: a periodic report proposes a recurring task

    first = draft.tasks[0] if draft.tasks else None
    lines += recurrence_hint_lines(" ".join([draft.subject or "", *(task.title for task in draft.tasks)]),
                                   chat_title=first.title if first else None,
                                   chat_units=first.units if first else ())
    if draft.tasks:
        lines.append("")
        problems = blockers(draft)
        if problems:
            lines.append("⛔ Chưa thể xác nhận: " + "; ".join(problems) + ". Hãy sửa hoặc bỏ các mục này.")
        past = [str(n) for n, task in enumerate(draft.tasks, start=1) if task.due_at is not None and task.due_at < now]
        if past:
            lines.append("⚠️ Hạn đã qua so với hôm nay: mục " + ", ".join(past) + " — nên sửa hạn trước khi giao.")
        if len(draft.tasks) <= ROWS_PER_TASK_LIMIT:
            lines.append("Dùng các nút để bỏ mục (❌), sửa hạn (📅), sửa đơn vị (🏢) theo số thứ tự ở trên.")
        else:
            lines.append("Bấm «✏️ số» để bỏ mục, sửa hạn hoặc sửa đơn vị của mục đó.")
        lines.append("Chưa có việc nào được giao cho đến khi bạn bấm «✅ Xác nhận giao việc».")
    return Reply("\n".join(lines), buttons=draft_buttons(draft, version))


def draft_buttons(draft: LetterDraft, version: int) -> list[list[Button]]:
    count = len(draft.tasks)
    rows: list[list[Button]] = []
    if count <= ROWS_PER_TASK_LIMIT:
        rows += [task_buttons(version, n) for n in range(1, count + 1)]
    else:
        edits = [Button(f"✏️ {n}", f"asgedit:{version}:{n}") for n in range(1, count + 1)]
        rows += [edits[i:i + EDIT_BUTTONS_PER_ROW] for i in range(0, count, EDIT_BUTTONS_PER_ROW)]
    last = [Button("✅ Xác nhận giao việc", f"asgok:{version}")] if count else []
    rows.append(last + [Button("✖️ Huỷ", f"asgcancel:{version}")])
    return rows


def task_buttons(version: int, number: int) -> list[Button]:
    return [Button(f"❌ Bỏ {number}", f"asgdrop:{version}:{number}"),
            Button(f"📅 Hạn {number}", f"asgdue:{version}:{number}"),
            Button(f"🏢 Đơn vị {number}", f"asgunits:{version}:{number}")]


def _back(version: int) -> list[list[Button]]:
    return [[Button("↩️ Quay lại bản nháp", f"asgshow:{version}")]]


def _current_due(task: DraftTask, tz: ZoneInfo) -> str:
    return due(task.phrase, task.due_at, tz) if task.due_at is not None and task.phrase else "chưa có hạn"


# --- state ------------------------------------------------------------------------------------------


def _new_version(old: int | None = None) -> int:
    while True:
        version = secrets.randbelow(2_000_000_000) + 1
        if version != old:
            return version


async def _keep_draft(request: Request, kind: str, draft: LetterDraft, data: dict[str, Any], *,
                      version: int | None = None, **changes: Any) -> dict[str, Any]:
    """Store the draft (``version`` None: a new version) in the person's state; returns the stored data."""
    stored = {**data, **changes, "draft": draft_to_data(draft), "v": version or _new_version(data.get("v"))}
    await set_state(request.session, request.person.id, kind, stored, now=request.now, ttl=DRAFT_TTL)
    return stored


def _allowed(request: Request) -> bool:
    return request.role in ASSIGNERS


async def _forbidden(request: Request) -> list[Reply]:
    await clear_state(request.session, request.person.id, now=request.now)
    return [Reply(m.FORBIDDEN)]


def _cancel_row(version: int = 0) -> list[list[Button]]:
    return [[Button("✖️ Huỷ", f"asgcancel:{version}")]]


# --- taking the letter in ---------------------------------------------------------------------------


async def start(request: Request) -> list[Reply]:
    """``/assign`` (ask for the letter) or ``/assign <text>`` (read it at once)."""
    state = await get_state(request.session, request.person.id, request.now)
    dropped = state is not None and state.kind in DRAFT_KINDS
    text = request.incoming.args
    if text.strip():
        replies = await _take(request, text, origin="paste")
    else:
        await set_state(request.session, request.person.id, WAIT, {}, now=request.now, ttl=WAIT_TTL)
        replies = [Reply(ASK_LETTER, buttons=_cancel_row())]
    return ([Reply(OLD_DRAFT_DROPPED)] if dropped else []) + replies


async def on_wait_text(request: Request, data: dict[str, Any]) -> list[Reply]:
    """Text while waiting for the letter: the letter (joined to a long part that came just before)."""
    if not _allowed(request):
        return await _forbidden(request)
    text = request.incoming.text
    pending, parts = data.get("pending"), int(data.get("parts", 1))
    if pending and _within(data.get("join_until"), request.now):
        return await _take(request, pending + "\n" + text, origin="paste", parts=parts + 1, last=text)
    return await _take(request, text, origin="paste")


async def maybe_letter_file(request: Request) -> list[Reply] | None:
    """A file from a coordinator (or admin) waiting in ``/assign`` is the letter: the replies.
    Any other file: None (it is evidence, for ``intake.on_file``)."""
    file = request.incoming.file
    if file is None or not _allowed(request):
        return None
    state = await get_state(request.session, request.person.id, request.now)
    if state is None or state.kind != WAIT:
        return None
    try:
        if file.size is not None:
            check_size(file.size)
        try:
            data = await file.fetch()
        except FileTooLarge:
            return [Reply(FILE_TOO_BIG_TO_FETCH.format(name=file.file_name), buttons=_cancel_row())]
        text = await read_letter(request.ctx.letters, data, file.file_name, owner=f"person:{request.person.id}")
    except LetterError as error:
        return [Reply(f"{error}\n{SEND_AGAIN}", buttons=_cancel_row())]
    return await _take(request, text, origin="file", name=file.file_name)


def _within(until: str | None, now: datetime) -> bool:
    return until is not None and now <= datetime.fromisoformat(until)


async def _take(request: Request, text: str, *, origin: str, name: str | None = None, parts: int = 1,
                last: str | None = None) -> list[Reply]:
    """Read the letter into a draft and show it; a clear answer (and still waiting) when it gives none.

    ``parts``/``last``: a paste joined from several messages, and the last of them."""
    tz, now, session, person_id = request.ctx.tz, request.now, request.session, request.person.id

    async def refuse(answer: str, wait: dict[str, Any] | None = None) -> list[Reply]:
        await set_state(session, person_id, WAIT, wait or {}, now=now, ttl=WAIT_TTL)
        return [Reply(answer, buttons=_cancel_row())]

    try:
        paste_text(text)
    except LetterError as error:
        return await refuse(f"{error}\n{SEND_AGAIN}")
    refs = await roster_refs(session)
    if not refs:
        await clear_state(session, person_id, now=now)
        return [Reply(NO_ROSTER)]
    try:
        draft = await asyncio.to_thread(extract_letter, text, refs, now.astimezone(tz).date(), tz)
    except LetterError as error:
        return await refuse(f"{error}\n{SEND_AGAIN}")
    # more may follow when the last message was long enough to have been cut by the chat app
    join_until = None
    if origin == "paste" and len(text) <= SOURCE_LIMIT and len(last if last is not None else text) >= JOIN_MIN_PART:
        join_until = (now + JOIN_WINDOW).isoformat()
    if not any(task.due_at is not None for task in draft.tasks):
        ex1, ex2, _ = deadline_examples(example_day(now.astimezone(tz).date()))
        answer = NO_DEADLINE_FOUND.format(what=f"tệp «{name}»" if name else "văn bản này", ex1=ex1, ex2=ex2)
        if join_until is None:
            return await refuse(answer)
        return await refuse(answer + MAYBE_SPLIT, {"pending": text, "parts": parts, "join_until": join_until})
    if len(draft.tasks) > MAX_DRAFT_TASKS:
        return await refuse(TOO_MANY_TASKS.format(count=len(draft.tasks), limit=MAX_DRAFT_TASKS))
    data: dict[str, Any] = {"source": text[:SOURCE_LIMIT], "origin": origin, "parts": parts, "edited": False,
                            "join_until": join_until}
    stored = await _keep_draft(request, DRAFT, draft, data)
    return [draft_reply(draft, stored["v"], tz, now, JOINED.format(parts=parts) if parts > 1 else None)]


async def on_draft_text(request: Request, data: dict[str, Any]) -> list[Reply]:
    """Text while the draft waits: the rest of a long letter split by the chat app, else a hint."""
    if not _allowed(request):
        return await _forbidden(request)
    text = request.incoming.text
    if data.get("origin") == "paste" and not data.get("edited") and _within(data.get("join_until"), request.now):
        return await _take(request, data["source"] + "\n" + text, origin="paste",
                           parts=int(data.get("parts", 1)) + 1, last=text)
    version = data.get("v", 0)
    return [Reply(DRAFT_HINT, buttons=[[Button("📄 Xem lại bản nháp", f"asgshow:{version}"),
                                        Button("✖️ Huỷ", f"asgcancel:{version}")]])]


# --- the buttons ------------------------------------------------------------------------------------


async def _open(request: Request, version: int, number: int | None = None
                ) -> tuple[dict[str, Any], LetterDraft] | list[Reply]:
    """The draft a button belongs to, or the answer when it is gone or the button is from an older draft."""
    state = await get_state(request.session, request.person.id, request.now)
    if state is None or state.kind not in DRAFT_KINDS:
        return [Reply(NO_DRAFT)]
    data = dict(state.data)
    draft = draft_from_data(data["draft"])
    if data.get("v") != version or (number is not None and not 1 <= number <= len(draft.tasks)):
        return [Reply(STALE), draft_reply(draft, data["v"], request.ctx.tz, request.now)]
    return data, draft


async def show(request: Request, version: int) -> list[Reply]:
    """``asgshow:V``: the draft again (and no longer waiting for a typed answer)."""
    state = await get_state(request.session, request.person.id, request.now)
    if state is None or state.kind not in DRAFT_KINDS:
        return [Reply(NO_DRAFT)]
    data = dict(state.data)
    draft = draft_from_data(data["draft"])
    if state.kind != DRAFT:
        data.pop("ask", None)
        await set_state(request.session, request.person.id, DRAFT, data, now=request.now, ttl=DRAFT_TTL)
    return [draft_reply(draft, data["v"], request.ctx.tz, request.now)]


async def edit_task(request: Request, version: int, number: int) -> list[Reply]:
    """``asgedit:V:i``: one task's buttons (long drafts show one "✏️ i" per task)."""
    opened = await _open(request, version, number)
    if isinstance(opened, list):
        return opened
    data, draft = opened
    task, tz = draft.tasks[number - 1], request.ctx.tz
    text = (f"Mục {number}: {task.title}\nHạn: {_current_due(task, tz)}\n"
            f"Giao: {_units_text(draft, task.units)}")
    return [Reply(text, buttons=[task_buttons(version, number)] + _back(version))]


async def drop(request: Request, version: int, number: int) -> list[Reply]:
    """``asgdrop:V:i``: the task is left out of the draft."""
    opened = await _open(request, version, number)
    if isinstance(opened, list):
        return opened
    data, draft = opened
    title = draft.tasks[number - 1].title
    draft = without(draft, number)
    data.pop("ask", None)
    stored = await _keep_draft(request, DRAFT, draft, data, edited=True)
    note = DROPPED.format(n=number, title=short(title, TITLE_IN_LIST))
    return [draft_reply(draft, stored["v"], request.ctx.tz, request.now, note)]


async def ask_due(request: Request, version: int, number: int) -> list[Reply]:
    """``asgdue:V:i``: ask for the task's new deadline."""
    opened = await _open(request, version, number)
    if isinstance(opened, list):
        return opened
    data, draft = opened
    task = draft.tasks[number - 1]
    await _keep_draft(request, ASK_DUE, draft, data, version=version, ask=number)
    ex1, ex2, ex3 = deadline_examples(example_day(request.now.astimezone(request.ctx.tz).date()))
    text = ASK_NEW_DUE.format(n=number, title=short(task.title, TITLE_IN_LIST),
                              current=_current_due(task, request.ctx.tz), ex1=ex1, ex2=ex2, ex3=ex3)
    return [Reply(text, buttons=_back(version))]


async def on_due_text(request: Request, data: dict[str, Any]) -> list[Reply]:
    """The new deadline, typed: a phrase or a date (no year: the next such day from today)."""
    if not _allowed(request):
        return await _forbidden(request)
    tz, now, version = request.ctx.tz, request.now, data["v"]
    draft, number = draft_from_data(data["draft"]), int(data["ask"])
    if not 1 <= number <= len(draft.tasks):
        return await show(request, version)
    try:
        deadline = parse_deadline(request.incoming.text, now.astimezone(tz).date(), tz)
    except DeadlineError as error:
        return [Reply(BAD_DUE.format(error=error, n=number), buttons=_back(version))]
    if deadline.due_at < now:
        return [Reply(PAST_DUE.format(due=due(deadline.phrase, deadline.due_at, tz), n=number), buttons=_back(version))]
    task = with_due(draft.tasks[number - 1], deadline.due_at, deadline.phrase)
    draft = with_task(draft, number, task)
    data = {key: value for key, value in data.items() if key != "ask"}
    stored = await _keep_draft(request, DRAFT, draft, data, edited=True)
    note = DUE_CHANGED.format(n=number, due=due(deadline.phrase, deadline.due_at, tz))
    return [draft_reply(draft, stored["v"], tz, now, note)]


def _example_group(draft: LetterDraft) -> str:
    return next(iter(draft.group_members), "xa")


async def ask_units(request: Request, version: int, number: int) -> list[Reply]:
    """``asgunits:V:i``: ask for the task's units."""
    opened = await _open(request, version, number)
    if isinstance(opened, list):
        return opened
    data, draft = opened
    task = draft.tasks[number - 1]
    await _keep_draft(request, ASK_UNITS, draft, data, version=version, ask=number)
    current = ", ".join(task.units) if task.units else "chưa có"
    if task.unmatched_names:
        current += f" (không khớp: {', '.join(task.unmatched_names)})"
    groups = f"; các nhóm: {', '.join(draft.group_members)}" if draft.group_members else ""
    text = ASK_NEW_UNITS.format(n=number, title=short(task.title, TITLE_IN_LIST), current=current,
                                group=_example_group(draft), groups=groups)
    return [Reply(text, buttons=_back(version))]


async def on_units_text(request: Request, data: dict[str, Any]) -> list[Reply]:
    """The units, typed: codes, ``group:NAME``, ``all``; the issuing body only when named by its code."""
    if not _allowed(request):
        return await _forbidden(request)
    version = data["v"]
    draft, number = draft_from_data(data["draft"]), int(data["ask"])
    if not 1 <= number <= len(draft.tasks):
        return await show(request, version)
    spec = unit_spec(request.incoming.text)
    group = _example_group(draft)
    if not spec:
        return [Reply(EMPTY_UNITS.format(group=group), buttons=_back(version))]
    try:
        units = await resolve_units(request.session, spec)
    except UnknownUnits as error:
        answer = UNKNOWN_UNITS.format(names=", ".join(error.names), n=number, group=group)
        return [Reply(answer, buttons=_back(version))]
    named = {part.upper() for part in spec.split(",")}
    chosen = [unit.code for unit in units if str(unit.kind) not in ISSUER_KINDS or unit.code.upper() in named]
    order = {code: index for index, code in enumerate(draft.unit_names)}  # roster order, as the draft lists units
    codes = tuple(sorted(chosen, key=lambda code: (order.get(code, len(order)), code)))
    if not codes:
        return [Reply(NO_UNITS_LEFT.format(n=number), buttons=_back(version))]
    draft = with_task(draft, number, with_units(draft.tasks[number - 1], codes))
    data = {key: value for key, value in data.items() if key != "ask"}
    stored = await _keep_draft(request, DRAFT, draft, data, edited=True)
    note = UNITS_CHANGED.format(n=number, units=short(_units_text(draft, codes), 300))
    return [draft_reply(draft, stored["v"], request.ctx.tz, request.now, note)]


async def confirm(request: Request, version: int) -> list[Reply]:
    """``asgok:V``: create the letter, its tasks and assignments, once."""
    opened = await _open(request, version)
    if isinstance(opened, list):
        return opened
    data, draft = opened
    tz, now, session = request.ctx.tz, request.now, request.session
    if not draft.tasks:
        return [Reply(NOTHING_LEFT, buttons=_cancel_row(version))]
    problems = blockers(draft)
    if problems:
        return [Reply(CANNOT_CONFIRM.format(why="; ".join(problems)), buttons=_back(version))]
    if not await _claim(request):  # pressed twice at once: the other press creates the tasks
        return [Reply(NO_DRAFT)]
    sender = request.incoming.sender
    try:
        saved = await save_draft(session, draft, now=now, source_text=data["source"], created_by=request.person,
                                 actor=f"{sender.channel}:{sender.user_id}")
    except LetterError as error:
        return [Reply(f"{error} {DUPLICATE_CLEARED}")]
    letter = _letter_name(draft)
    lines = [(CREATED if saved.created else NONE_CREATED).format(count=len(saved.created), letter=letter)]
    for task, row in saved.created:
        lines.append(f"• #{row.id} {short(task.title, TITLE_IN_LIST)}\n"
                     f"  Hạn: {_current_due(task, tz)} · {len(task.units)} đơn vị")
    if saved.skipped:
        lines.append("Không tạo:")
        lines += [f"• {short(task.title, TITLE_IN_LIST)}: {reason}" for task, reason in saved.skipped]
    if saved.created:
        lines += ["", REMINDERS_GO_OUT]
    return [Reply("\n".join(lines))]


async def _claim(request: Request) -> bool:
    """End the draft state if it is still the one read (a second, concurrent confirm finds nothing)."""
    state = await get_state(request.session, request.person.id, request.now)
    if state is None:
        return False
    result = await request.session.exec(
        update(ConversationState)
        .where(ConversationState.id == state.id, ConversationState.kind == state.kind,
               ConversationState.updated_at == state.updated_at)
        .values(kind="idle", data={}, expires_at=request.now, updated_at=request.now)
        .execution_options(synchronize_session=False))
    request.session.expire(state)
    return result.rowcount == 1


async def cancel(request: Request, version: int) -> list[Reply]:
    """``asgcancel:V``: drop the draft (or stop waiting for the letter); nothing was created."""
    state = await get_state(request.session, request.person.id, request.now)
    if state is None or state.kind not in ALL_KINDS:
        return [Reply(NOTHING_TO_CANCEL)]
    await clear_state(request.session, request.person.id, now=request.now)
    return [Reply(CANCELLED)]


# --- wiring -----------------------------------------------------------------------------------------


def register(conversation: Conversation) -> None:
    """Add ``/assign``, its buttons and its states to ``conversation`` (idempotent)."""
    from handlers.conversation import Choice, Command

    conversation.register(Command("assign", start, ASSIGNERS,
                                  "giao việc theo công văn: dán nội dung hoặc gửi tệp"))
    for choice in (
        Choice("asgdrop", drop, ASSIGNERS, 2),
        Choice("asgdue", ask_due, ASSIGNERS, 2),
        Choice("asgunits", ask_units, ASSIGNERS, 2),
        Choice("asgedit", edit_task, ASSIGNERS, 2),
        Choice("asgshow", show, ASSIGNERS, 1),
        Choice("asgok", confirm, ASSIGNERS, 1),
        Choice("asgcancel", cancel, ASSIGNERS, 1),
    ):
        conversation.register_choice(choice)
    conversation.states[WAIT] = on_wait_text
    conversation.states[DRAFT] = on_draft_text
    conversation.states[ASK_DUE] = on_due_text
    conversation.states[ASK_UNITS] = on_units_text
