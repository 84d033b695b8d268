"""Explanations (giải trình) in chat: an overdue unit explains, a leader decides.

Unit (officer, head): ``/giaitrinh #12 nội dung`` (``#12`` may be left out when one task is overdue); a PDF
sent with the caption «giải trình #12» is attached to the waiting explanation. Leaders and coordinators:
``/giaitrinh`` lists what waits (and how many overdue units have not explained); a leader presses
«✅ Chấp nhận» (the unit is excused), «🕒 Hạn mới» (types a date: an extension, the ladder re-arms) or
«❌ Không chấp nhận» (types a note). The unit is told each decision. Rules: ``storage.explanations``.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import defaultdict
from datetime import datetime, time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import texts as t
from handlers.chat import Button, FileTooLarge, OutFile, Reply, reply_to_payload
from handlers.messages import short
from handlers.notify import notify_roles
from schedules.calendar import WorkCalendar
from schedules.deadlines import DeadlineError, parse_deadline
from storage import explanations as xp
from storage.models import Explanation, Person, ReminderSent, Role, Task, TickState, Unit
from storage.db import upsert_insert
from storage.outbox import OutboxRow, enqueue_many, recipients
from storage.queries import clear_state, people_with_roles, set_state
from storage.roster import fold
from storage.types import read_instant
from storage.status import effective_due_at

if TYPE_CHECKING:
    from handlers.conversation import Conversation, Request

UNIT_ROLES = [Role.officer, Role.head]
DECIDERS = frozenset({Role.leader})
VIEWERS = frozenset({Role.leader, Role.coordinator, Role.admin})
STATE_DUE = "explanation_due"
STATE_REFUSE = "explanation_refuse"
CANCEL = [[Button("Huỷ", "cancel")]]
LIST_LIMIT = 5
"""Cards per /giaitrinh (each its own message with buttons); the rest are counted, not sent as a burst."""
ASK_FROM = time(9, 0)
"""After the morning's reminders (07:30): an overdue unit reminded since its due instant was asked there."""
ASK_UNTIL = time(20, 0)
ASK_STATE = "explanation_asks"
"""``TickState`` row: when overdue units were last asked for an explanation."""
_TASK_REF = re.compile(r"(?<!\S)#(\d+)(?!\S)")

USAGE = "Cách gửi giải trình: /giaitrinh #SỐ nội dung giải trình (ví dụ: /giaitrinh #12 Chờ số liệu của Sở Tài chính)."


def ref(task: Task) -> str:
    return f"#{task.id} «{task.title}»"


def _day(at: datetime, tz: ZoneInfo) -> str:
    return t.day_with_weekday(at.astimezone(tz).date())


def card(explanation: Explanation, task: Task, unit: Unit, due: datetime, who: str | None, tz: ZoneInfo) -> str:
    lines = [f"📝 Giải trình số {explanation.id}", f"Đơn vị: {unit.name}", f"Nhiệm vụ: {ref(task)}",
             f"Hạn: hết ngày {_day(due, tz)} (đã quá hạn)", f"Nội dung: {explanation.text}",
             f"Người gửi: {who or 'không rõ'}, lúc {t.instant(explanation.submitted_at, tz)}"]
    if explanation.file_name:
        lines.append(f"Kèm tệp: {explanation.file_name} ({explanation.pages} trang)")
    return "\n".join(lines)


def decision_buttons(explanation: Explanation) -> list[list[Button]]:
    rows = [[Button("✅ Chấp nhận", f"explok:{explanation.id}"), Button("🕒 Hạn mới", f"explext:{explanation.id}")],
            [Button("❌ Không chấp nhận", f"explno:{explanation.id}")]]
    if explanation.storage_key:
        rows.append([Button("📄 Xem tệp", f"explfile:{explanation.id}")])
    return rows


REFUSED_TEXT = {
    "empty": "Giải trình cần có nội dung (ít nhất vài chữ); chưa ghi gì. " + USAGE,
    "closed": "Nhiệm vụ này của đơn vị không còn phải nộp, không cần giải trình.",
    "not_overdue": "Nhiệm vụ này chưa quá hạn, chưa cần giải trình. Cần thêm thời gian thì dùng /extend.",
}


# --- the unit explains ------------------------------------------------------------------------


async def command(request: Request) -> list[Reply]:
    if request.role in VIEWERS:
        return await list_pending(request)
    return await explain(request)


async def explain(request: Request) -> list[Reply]:
    if request.unit is None:
        return [Reply("Tài khoản của bạn chưa gắn với đơn vị nào; hãy liên hệ Phòng Nội vụ.")]
    session, tz, now = request.session, request.ctx.tz, request.now
    args = request.incoming.args
    match = _TASK_REF.search(args)
    task_id = int(match.group(1)) if match else None
    text = (args[:match.start()] + args[match.end():]).strip() if match else args.strip()
    overdue = await xp.overdue_of_unit(session, request.unit.id, now)
    if task_id is not None:
        chosen = [(a, task) for a, task in overdue if task.id == task_id]
        if not chosen:
            task = await session.get(Task, task_id)
            if task is None:
                return [Reply(f"Không có nhiệm vụ #{task_id}. Gõ /tasks để xem.")]
            return [Reply(f"Nhiệm vụ #{task_id} của đơn vị không ở tình trạng quá hạn, chưa cần giải trình.")]
    else:
        chosen = overdue
    if not chosen:
        return [Reply("Đơn vị không có nhiệm vụ nào quá hạn, không cần giải trình. 👍")]
    if len(chosen) > 1:
        listed = "\n".join(f"• {ref(task)} — hạn hết ngày {_day(effective_due_at(a, task.due_at), tz)}"
                           for a, task in chosen[:15])
        return [Reply(f"Đơn vị có {len(chosen)} nhiệm vụ quá hạn; ghi rõ số nhiệm vụ.\n{listed}\n{USAGE}")]
    assignment, task = chosen[0]
    if len(" ".join(text.split())) < xp.MIN_TEXT:
        return [Reply(f"Giải trình cho nhiệm vụ {ref(task)} cần có nội dung (ít nhất vài chữ); chưa ghi gì.\n"
                      f"Ví dụ: /giaitrinh #{task.id} Chờ số liệu của Sở Tài chính.")]
    try:
        explanation = await xp.submit(session, assignment, text, person_id=request.person.id, now=now)
    except xp.ExplanationRefused as refused:
        if refused.reason == "pending":
            return [Reply(f"Đơn vị đã có giải trình số {refused.existing.id} cho nhiệm vụ {ref(task)} đang chờ "
                          "lãnh đạo xem xét; chưa ghi thêm.")]
        return [Reply(REFUSED_TEXT.get(refused.reason, REFUSED_TEXT["empty"]))]
    due = effective_due_at(assignment, task.due_at)
    await notify_roles(session, [Role.leader], Reply(card(explanation, task, request.unit, due, request.person.name, tz),
                                                     buttons=decision_buttons(explanation)),
                       key=f"expl:{explanation.id}", now=now, kind="explanation", assignment_id=assignment.id)
    return [Reply(f"✅ Đã gửi giải trình số {explanation.id} cho nhiệm vụ {ref(task)} đến lãnh đạo.\n"
                  f"Nội dung: {explanation.text}\nCó văn bản giải trình (PDF) thì gửi tệp kèm chú thích "
                  f"«giải trình #{task.id}». Đôn Đốc sẽ báo quyết định của lãnh đạo.")]


def is_explanation_caption(text: str) -> bool:
    folded = fold(text)
    return "giai trinh" in folded or "giaitrinh" in folded


async def maybe_file(request: Request) -> list[Reply] | None:
    """A PDF captioned «giải trình [#12]» from a unit with a waiting explanation: attach it. Else None."""
    file = request.incoming.file
    if file is None or request.unit is None or not is_explanation_caption(request.incoming.text):
        return None
    session, ctx = request.session, request.ctx
    rows = list((await session.exec(_pending_of_unit(request.unit.id))).all())
    if not rows:
        return None
    match = _TASK_REF.search(request.incoming.text)
    if match:
        rows = [row for row in rows if row[1].id == int(match.group(1))]
        if not rows:
            return [Reply(f"Không có giải trình nào đang chờ cho nhiệm vụ #{match.group(1)}; chưa ghi gì.")]
    elif len(rows) > 1:
        return [Reply("Đơn vị có nhiều giải trình đang chờ; ghi rõ chú thích «giải trình #SỐ»; chưa ghi gì.")]
    explanation, task = rows[-1]
    if explanation.storage_key:
        return [Reply(f"Giải trình số {explanation.id} đã có tệp kèm ({explanation.file_name}); chưa ghi thêm. "
                      "Cần thay thì gửi giải trình mới sau khi lãnh đạo quyết định.")]
    too_large = Reply(f"Tệp {file.file_name} quá lớn để bot tải về; chưa ghi gì.")
    if file.size is not None and file.size > ctx.max_file_bytes:
        return [too_large]
    try:
        data = await file.fetch()
    except FileTooLarge:
        return [too_large]
    report = await ctx.inspector.inspect(data)
    if not report.ok:
        return [Reply(f"Tệp {file.file_name} không dùng được ({report.error}); chỉ nhận tệp PDF. Chưa ghi gì.")]
    stored = await asyncio.to_thread(ctx.store.put, data)
    await xp.attach_file(session, explanation.id, file_name=file.file_name, sha256=hashlib.sha256(data).hexdigest(),
                         pages=report.pages, storage_key=stored.key, person_id=request.person.id, now=request.now)
    return [Reply(f"📎 Đã đính kèm {file.file_name} ({report.pages} trang) vào giải trình số {explanation.id} "
                  f"(nhiệm vụ {ref(task)}).")]


def _pending_of_unit(unit_id: int):
    from storage.models import Assignment

    return (select(Explanation, Task).join(Assignment, Assignment.id == Explanation.assignment_id)
            .join(Task, Task.id == Assignment.task_id)
            .where(Assignment.unit_id == unit_id, Explanation.status == xp.X.pending.value)
            .order_by(Explanation.id))


# --- leaders decide ---------------------------------------------------------------------------


async def list_pending(request: Request) -> list[Reply]:
    session, tz = request.session, request.ctx.tz
    rows = await xp.pending_explanations(session)
    missing = await xp.overdue_without_explanation(session, request.now)
    head = (f"📝 {len(rows)} giải trình đang chờ quyết định; {len(missing)} lượt đơn vị quá hạn chưa giải trình."
            if rows else f"Không có giải trình nào đang chờ. {len(missing)} lượt đơn vị quá hạn chưa giải trình.")
    replies = [Reply(head)]
    for explanation, assignment, task, unit in rows[:LIST_LIMIT]:
        who = await session.get(Person, explanation.person_id) if explanation.person_id else None
        buttons = decision_buttons(explanation) if request.role in DECIDERS else []
        replies.append(Reply(card(explanation, task, unit, effective_due_at(assignment, task.due_at),
                                  who.name if who else None, tz), buttons=buttons))
    if len(rows) > LIST_LIMIT:
        replies.append(Reply(f"… và {len(rows) - LIST_LIMIT} giải trình khác. Xử lý bớt rồi gõ /giaitrinh."))
    return replies


async def _already(request: Request, decided: xp.ExplanationDecided) -> list[Reply]:
    e = decided.explanation
    if e is None:
        return [Reply("Không tìm thấy giải trình này.")]
    labels = {"accepted": "đã được chấp nhận", "extended": "đã được cho hạn mới", "refused": "đã bị từ chối"}
    return [Reply(f"Giải trình số {e.id} đã được xử lý: {labels.get(e.status, e.status)}.")]


async def on_accept(request: Request, explanation_id: int) -> list[Reply]:
    try:
        d = await xp.accept(request.session, explanation_id, person_id=request.person.id, now=request.now)
    except xp.ExplanationDecided as decided:
        return await _already(request, decided)
    await clear_state(request.session, request.person.id, now=request.now)
    await notify_roles(request.session, UNIT_ROLES, Reply(
        f"✅ Lãnh đạo ({request.person.name}) chấp nhận giải trình số {explanation_id}: đơn vị được miễn nhiệm vụ "
        f"{ref(d.task)}."), key=f"explok:{explanation_id}", now=request.now, unit_id=d.unit.id, kind="explanation",
        assignment_id=d.assignment.id)
    return [Reply(f"✅ Đã chấp nhận giải trình số {explanation_id}: {d.unit.name} được miễn nhiệm vụ {ref(d.task)}.",
                  edit=True)]


async def _load_pending(request: Request, explanation_id: int) -> Explanation | list[Reply]:
    explanation = await request.session.get(Explanation, explanation_id)
    if explanation is None or explanation.status != xp.X.pending.value:
        return await _already(request, xp.ExplanationDecided(explanation))
    return explanation


async def ask_due(request: Request, explanation_id: int) -> list[Reply]:
    loaded = await _load_pending(request, explanation_id)
    if isinstance(loaded, list):
        return loaded
    await set_state(request.session, request.person.id, STATE_DUE, {"explanation_id": explanation_id}, now=request.now)
    return [Reply(f"Hạn mới cho giải trình số {explanation_id}? Gõ ngày, ví dụ «15/12» hoặc «chậm nhất ngày "
                  "15/12/2026».", buttons=CANCEL)]


async def on_due(request: Request, data: dict) -> list[Reply]:
    tz, session = request.ctx.tz, request.session
    if request.role not in DECIDERS:
        await clear_state(session, request.person.id, now=request.now)
        return [Reply("Xin lỗi, vai trò của bạn không được quyết định giải trình.")]
    try:
        deadline = parse_deadline(request.incoming.text, request.now, tz)
    except DeadlineError as error:
        return [Reply(f"{error} Gõ lại hạn mới, hoặc bấm Huỷ.", buttons=CANCEL)]
    explanation_id = data["explanation_id"]
    try:
        d = await xp.extend(session, explanation_id, new_due_at=deadline.due_at, phrase=deadline.phrase,
                            person_id=request.person.id, now=request.now, tz=tz)
    except xp.ExplanationDecided as decided:
        await clear_state(session, request.person.id, now=request.now)
        return await _already(request, decided)
    except xp.ExplanationRefused as refused:
        if refused.reason in ("not_later", "past", "too_far"):
            return [Reply(f"Hạn mới ({_day(deadline.due_at, tz)}) phải sau hôm nay và sau hạn hiện tại, trong vòng "
                          "180 ngày. Gõ lại, hoặc bấm Huỷ.", buttons=CANCEL)]
        await clear_state(session, request.person.id, now=request.now)
        if refused.reason == "pending":
            return [Reply("Đơn vị đang có một đề nghị gia hạn chờ quyết định; xử lý nó trước (/requests).")]
        return [Reply("Nhiệm vụ này của đơn vị không còn mở, không đặt hạn mới được.")]
    await clear_state(session, request.person.id, now=request.now)
    await notify_roles(session, UNIT_ROLES, Reply(
        f"🕒 Lãnh đạo ({request.person.name}) xem giải trình số {explanation_id} và cho hạn mới nhiệm vụ "
        f"{ref(d.task)}: hết ngày {_day(d.new_due_at, tz)}."), key=f"explext:{explanation_id}", now=request.now,
        unit_id=d.unit.id, kind="explanation", assignment_id=d.assignment.id)
    return [Reply(f"🕒 Đã cho {d.unit.name} hạn mới nhiệm vụ {ref(d.task)}: hết ngày {_day(d.new_due_at, tz)}. "
                  "Nhắc việc tính lại theo hạn mới.")]


async def ask_refuse(request: Request, explanation_id: int) -> list[Reply]:
    loaded = await _load_pending(request, explanation_id)
    if isinstance(loaded, list):
        return loaded
    await set_state(request.session, request.person.id, STATE_REFUSE, {"explanation_id": explanation_id},
                    now=request.now)
    return [Reply(f"Lý do không chấp nhận giải trình số {explanation_id}? (đơn vị nhận nguyên văn)", buttons=CANCEL)]


async def on_refuse(request: Request, data: dict) -> list[Reply]:
    session = request.session
    if request.role not in DECIDERS:
        await clear_state(session, request.person.id, now=request.now)
        return [Reply("Xin lỗi, vai trò của bạn không được quyết định giải trình.")]
    explanation_id = data["explanation_id"]
    try:
        d = await xp.refuse(session, explanation_id, note=request.incoming.text, person_id=request.person.id,
                            now=request.now)
    except xp.ExplanationRefused:
        return [Reply("Hãy viết rõ lý do không chấp nhận (ít nhất vài chữ), hoặc bấm Huỷ.", buttons=CANCEL)]
    except xp.ExplanationDecided as decided:
        await clear_state(session, request.person.id, now=request.now)
        return await _already(request, decided)
    await clear_state(session, request.person.id, now=request.now)
    note = d.explanation.decision_note
    await notify_roles(session, UNIT_ROLES, Reply(
        f"❌ Lãnh đạo ({request.person.name}) không chấp nhận giải trình số {explanation_id} (nhiệm vụ {ref(d.task)}).\n"
        f"Lý do: {note}\nĐơn vị cần nộp sớm nhất có thể."), key=f"explno:{explanation_id}", now=request.now,
        unit_id=d.unit.id, kind="explanation", assignment_id=d.assignment.id)
    return [Reply(f"❌ Đã không chấp nhận giải trình số {explanation_id} của {d.unit.name}. Lý do: {note}")]


async def send_file(request: Request, explanation_id: int) -> list[Reply]:
    explanation = await request.session.get(Explanation, explanation_id)
    if explanation is None or not explanation.storage_key:
        return [Reply("Giải trình này không kèm tệp.")]
    data = await asyncio.to_thread(request.ctx.store.read, explanation.storage_key)
    return [Reply(f"📄 Tệp kèm giải trình số {explanation_id}",
                  document=OutFile(f"giai-trinh-{explanation_id}.pdf", data, "application/pdf"))]


# --- asking overdue units (the scheduled job) ------------------------------------------------------


EXPLAIN_RUNG = "explain"
"""The ask recorded in ``ReminderSent`` (round 0, the unit's due instant): once per assignment and due instant,
like a rung of the ladder, and shown in the log as "đề nghị giải trình"."""
ASK_LISTED = 15
"""Tasks listed in one unit's ask (within Zalo's 2,000 characters); the rest counted, with /tasks."""


def ask_text(unit_name: str, rows: list[xp.OverdueRow], tz: ZoneInfo) -> str:
    """One unit's ask for its tasks overdue since before today, soonest due first."""
    if len(rows) == 1:
        (row,) = rows
        return (f"⚠️ Nhiệm vụ #{row.task_id} đã quá hạn (hết ngày {_day(row.due_at, tz)}) mà {unit_name} chưa nộp.\n"
                f"Đề nghị đơn vị nộp ngay, hoặc gửi giải trình cho lãnh đạo: /giaitrinh #{row.task_id} nội dung giải trình.")
    lines = [f"⚠️ {unit_name} có {len(rows)} nhiệm vụ đã quá hạn mà chưa nộp:"]
    lines += [f"• #{row.task_id} «{short(row.task_title, 60)}» — hết hạn ngày {_day(row.due_at, tz)}"
              for row in rows[:ASK_LISTED]]
    if len(rows) > ASK_LISTED:
        lines.append(f"… và {len(rows) - ASK_LISTED} nhiệm vụ khác (xem /tasks).")
    lines.append("Đề nghị đơn vị nộp ngay, hoặc gửi giải trình cho lãnh đạo cho từng việc: "
                 "/giaitrinh #SỐ nội dung giải trình.")
    return "\n".join(lines)


async def _record_asks(session: AsyncSession, rows: list[xp.OverdueRow], now: datetime) -> set[int]:
    """Record each ask once (assignment, due instant); the assignments this call recorded."""
    won: set[int] = set()
    for start in range(0, len(rows), 1000):
        statement = (upsert_insert(session, ReminderSent).values([
            dict(assignment_id=row.assignment_id, round=0, rung=EXPLAIN_RUNG, due_at=row.due_at, unit_id=row.unit_id,
                 created_at=now) for row in rows[start:start + 1000]])
            .on_conflict_do_nothing(index_elements=["assignment_id", "round", "rung", "due_at"])
            .returning(ReminderSent.assignment_id))
        won.update((await session.exec(statement)).scalars().all())
    return won


async def _reminded_since_due(session: AsyncSession, rows: list[xp.OverdueRow]) -> set[int]:
    """The assignments among ``rows`` that had a reminder after their due instant: it carried the ask for an
    explanation, so the unit is not sent a second message for it."""
    if not rows:
        return set()
    due = {row.assignment_id: row.due_at for row in rows}
    ids = sorted(due)
    reminded: set[int] = set()
    for start in range(0, len(ids), 1000):  # through the key's index (assignment first), a thousand at a time
        latest = (select(ReminderSent.assignment_id, func.max(ReminderSent.created_at))
                  .where(col(ReminderSent.assignment_id).in_(ids[start:start + 1000]), ReminderSent.rung != EXPLAIN_RUNG)
                  .group_by(ReminderSent.assignment_id))
        reminded |= {assignment_id for assignment_id, at in (await session.exec(latest)).all()
                     if at is not None and read_instant(at) > due[assignment_id]}
    return reminded


async def ask_overdue_units(session: AsyncSession, *, now: datetime, tz: ZoneInfo, calendar: WorkCalendar) -> int:
    """Once per due instant, on a working day in office hours, ask each overdue unit for an explanation: one
    message per unit (to its officers and heads) listing its tasks overdue since before today. A task whose
    unit had a reminder after its due instant was asked in that reminder: it is recorded, not sent again (one
    message a morning). An ask is recorded only for units someone can be reached in: a unit whose people join
    later is asked then."""
    local = now.astimezone(tz)
    if not calendar.is_working_day(local.date()) or not ASK_FROM <= local.time() < ASK_UNTIL:
        return 0
    # Who is eligible changes only from one day to the next (overdue since the day before), so the scan of
    # open overdue assignments runs once a working day, not on every tick.
    last = await session.get(TickState, ASK_STATE)
    if last is not None and last.at.astimezone(tz).date() == local.date():
        return 0
    statement = upsert_insert(session, TickState).values(name=ASK_STATE, at=now)
    await session.exec(statement.on_conflict_do_update(index_elements=["name"], set_={"at": statement.excluded.at}))
    rows = [row for row in await xp.overdue_without_explanation(session, now)
            if row.due_at.astimezone(tz).date() < local.date()]  # from the day after the due day
    if not rows:
        return 0
    people = await people_with_roles(session, UNIT_ROLES)
    reachable = {r.person_id: r for r in await recipients(session, [p.id for p in people])}
    audience: dict[int, list] = defaultdict(list)  # unit → the chat accounts of its officers and heads
    for person in people:
        if person.unit_id is not None and person.id in reachable:
            audience[person.unit_id].append(reachable[person.id])
    rows = [row for row in rows if row.unit_id in audience]
    won = await _record_asks(session, rows, now)
    reminded = await _reminded_since_due(session, [row for row in rows if row.assignment_id in won])
    by_unit: dict[int, list[xp.OverdueRow]] = defaultdict(list)
    for row in rows:
        if row.assignment_id in won and row.assignment_id not in reminded:
            by_unit[row.unit_id].append(row)
    messages = []
    for unit_id, unit_rows in by_unit.items():
        payload = reply_to_payload(Reply(ask_text(unit_rows[0].unit_name, unit_rows, tz)))
        messages += [OutboxRow(f"explask:u{unit_id}:{now.timestamp():.0f}:p{recipient.person_id}", recipient, payload,
                               unit_rows[0].assignment_id if len(unit_rows) == 1 else None)
                     for recipient in audience[unit_id]]
    return await enqueue_many(session, messages, now=now, kind="explanation")


# --- the digest's part --------------------------------------------------------------------------


async def digest_lines(session: AsyncSession, *, now: datetime, tz: ZoneInfo, cap: int = 10) -> list[str]:
    return render_digest_lines(await xp.pending_explanations(session),
                               await xp.overdue_without_explanation(session, now), tz, cap)


def render_digest_lines(pending: list, missing: list[xp.OverdueRow], tz: ZoneInfo, cap: int) -> list[str]:
    """The digest's explanations section: the first ``cap`` of each list, the rest counted."""
    if not pending and not missing:
        return []
    lines = ["", f"📝 GIẢI TRÌNH: {len(pending)} chờ quyết định (/giaitrinh); {len(missing)} lượt đơn vị quá hạn "
                 "chưa giải trình"]
    for explanation, _, task, unit in pending[:cap]:
        lines.append(f"• chờ: {unit.name} — #{task.id}: {explanation.text[:80]}")
    if len(pending) > cap:
        lines.append(f"   … và {len(pending) - cap} giải trình khác")
    for row in missing[:cap]:
        lines.append(f"• chưa giải trình: {row.unit_name} — #{row.task_id} (hạn {t.day(row.due_at.astimezone(tz).date())})")
    if len(missing) > cap:
        lines.append(f"   … và {len(missing) - cap} lượt đơn vị khác")
    return lines


def register(conversation: Conversation) -> None:
    from handlers.conversation import ALL_ROLES, Choice, Command

    conversation.register(Command("giaitrinh", command, ALL_ROLES,
                                  "giải trình khi quá hạn: /giaitrinh #SỐ nội dung (lãnh đạo: xem và quyết định)"))
    conversation.register_choice(Choice("explok", on_accept, DECIDERS, 1))
    conversation.register_choice(Choice("explext", ask_due, DECIDERS, 1))
    conversation.register_choice(Choice("explno", ask_refuse, DECIDERS, 1))
    conversation.register_choice(Choice("explfile", send_file, VIEWERS, 1))
    conversation.states[STATE_DUE] = on_due
    conversation.states[STATE_REFUSE] = on_refuse
