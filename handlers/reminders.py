"""Reminders: what the ladder says is due, addressed to people, worded in Vietnamese, queued once.

``plan_reminders`` is read-only (``dondoc tick --dry-run`` prints it); ``queue_reminders`` writes each
planned message to the outbox under its dedupe key, so running the tick again, after a restart or on a
second worker, queues nothing twice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import texts as t
from handlers.chat import Button, Reply
from handlers.messages import short
from handlers.notify import notify
from schedules.calendar import WorkCalendar
from schedules.ladder import AssignmentView, DueReminder, Rung, due_reminders
from storage.models import Assignment, OutboxMessage, Person, Task, Unit
from storage.status import OPEN_STATUSES, log_event

UNIT_AUDIENCES = ("officer", "head")


@dataclass(frozen=True)
class LadderConfig:
    ladder: tuple[Rung, ...]
    calendar: WorkCalendar
    tz: ZoneInfo
    quiet: tuple[time, time]


@dataclass
class PlannedMessage:
    """One reminder to one person."""

    key: str
    """The reminder's dedupe key (the outbox adds the person and the chat account)."""
    person: Person
    unit: Unit
    task: Task
    rung: str
    reply: Reply
    assignments: list[Assignment] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"person": self.person.name, "person_id": self.person.id, "role": self.person.role,
                "unit": self.unit.code, "task": self.task.title, "task_id": self.task.id, "rung": self.rung,
                "text": self.reply.text}


async def _open_assignments(session: AsyncSession) -> list[tuple[Assignment, Task, Unit]]:
    query = (select(Assignment, Task, Unit).join(Task, Task.id == Assignment.task_id)
             .join(Unit, Unit.id == Assignment.unit_id)
             .where(col(Assignment.status).in_([s.value for s in OPEN_STATUSES]), Unit.active == True)  # noqa: E712
             .order_by(Task.due_at, Task.id, Unit.code))
    return list((await session.exec(query)).all())


def view_of(assignment: Assignment, task: Task) -> AssignmentView:
    starts = [assignment.created_at]
    if assignment.status == "returned":
        starts.append(assignment.status_changed_at)
    if assignment.rearmed_at is not None:
        starts.append(assignment.rearmed_at)
    return AssignmentView(assignment.id, task.id, assignment.unit_id, assignment.status, assignment.round,
                          assignment.due_at_override or task.due_at, assignment.created_at, max(starts))


def reminder_text(rung: Rung, unit: Unit, task: Task, assignment: Assignment, now: datetime,
                  config: LadderConfig) -> str:
    due_at = assignment.due_at_override or task.due_at
    phrase = assignment.due_phrase_override or task.deadline_phrase
    deadline = t.due(phrase, due_at, config.tz)
    left = t.remaining(due_at, now, config.tz, config.calendar)
    if assignment.status == "returned":
        head = f"↩️ Hồ sơ «{task.title}» của {unit.name} đã bị trả lại và chưa được nộp lại."
    elif rung.offset is None:
        head = f"📌 Nhiệm vụ mới cho {unit.name}: «{task.title}»."
    elif rung.offset < 0:
        head = f"⏰ Nhắc việc: {unit.name} chưa nộp «{task.title}» — {left}."
    elif rung.offset == 0:
        head = f"⚠️ Hôm nay là hạn cuối: {unit.name} chưa nộp «{task.title}»."
    else:
        head = f"❗ {unit.name} đã quá hạn nộp «{task.title}» ({left})."
    lines = [head, f"Hạn: {deadline}"]
    if task.template:
        lines.append(f"Biểu mẫu: {task.template}")
    if task.signature_required:
        lines.append("Yêu cầu: tệp PDF có ký số.")
    lines.append("Trả lời tin nhắn này bằng tệp PDF để nộp, hoặc bấm nút bên dưới.")
    return "\n".join(lines)


def escalation_text(task: Task, units: list[tuple[Unit, Assignment]], now: datetime, config: LadderConfig) -> str:
    lines = [f"🔺 Báo cáo lãnh đạo: {len(units)} đơn vị chưa nộp «{task.title}» dù đã quá hạn.",
             f"Hạn: {t.due(task.deadline_phrase, task.due_at, config.tz)}"]
    for unit, assignment in units:
        due_at = assignment.due_at_override or task.due_at
        lines.append(f"• {unit.name} — {t.remaining(due_at, now, config.tz, config.calendar)}")
    return "\n".join(lines)


async def plan_reminders(session: AsyncSession, now: datetime, config: LadderConfig) -> list[PlannedMessage]:
    """Every reminder due at ``now`` that has not been queued yet, one per person."""
    rows = await _open_assignments(session)
    by_id = {assignment.id: (assignment, task, unit) for assignment, task, unit in rows}
    due = due_reminders([view_of(a, task) for a, task, _ in rows], now, config.calendar, config.ladder,
                        config.tz, config.quiet)
    if not due:
        return []
    people = (await session.exec(select(Person).where(Person.active == True))).all()  # noqa: E712
    by_unit_role: dict[tuple[int | None, str], list[Person]] = defaultdict(list)
    by_role: dict[str, list[Person]] = defaultdict(list)
    for person in people:
        by_unit_role[(person.unit_id, person.role)].append(person)
        by_role[person.role].append(person)

    planned: list[PlannedMessage] = []
    escalations: dict[tuple[int, str, datetime], list[DueReminder]] = defaultdict(list)
    for reminder in due:
        assignment, task, unit = by_id[reminder.view.assignment_id]
        unit_roles = [role for role in reminder.rung.to if role in UNIT_AUDIENCES]
        if unit_roles:
            reply = Reply(reminder_text(reminder.rung, unit, task, assignment, now, config), buttons=[[
                Button("📤 Nộp ngay", f"submit:{assignment.id}"), Button("🕒 Xin gia hạn", f"extend:{assignment.id}")]])
            for role in unit_roles:
                for person in by_unit_role[(unit.id, role)]:
                    planned.append(PlannedMessage(reminder.key, person, unit, task, reminder.rung.name, reply,
                                                  [assignment]))
        if any(role not in UNIT_AUDIENCES for role in reminder.rung.to):
            escalations[(task.id, reminder.rung.name, reminder.view.due_at)].append(reminder)

    for (task_id, rung_name, due_at), reminders in escalations.items():
        first = by_id[reminders[0].view.assignment_id]
        task = first[1]
        units = [(by_id[r.view.assignment_id][2], by_id[r.view.assignment_id][0]) for r in reminders]
        reply = Reply(escalation_text(task, units, now, config),
                      buttons=[[Button("📋 Xem các đơn vị", f"task:{task.id}")]])
        key = f"esc:t{task_id}:{rung_name}:{due_at.timestamp():.0f}"
        roles = [role for role in reminders[0].rung.to if role not in UNIT_AUDIENCES]
        for role in roles:
            for person in by_role[role]:
                planned.append(PlannedMessage(key, person, units[0][0], task, rung_name, reply,
                                              [a for _, a in units]))
    return await _not_yet_queued(session, planned)


async def _not_yet_queued(session: AsyncSession, planned: list[PlannedMessage]) -> list[PlannedMessage]:
    if not planned:
        return []
    assignment_ids = {a.id for p in planned for a in p.assignments}
    keys = (await session.exec(select(OutboxMessage.dedupe_key).where(
        col(OutboxMessage.assignment_id).in_(assignment_ids) | col(OutboxMessage.dedupe_key).like("esc:%"),
        OutboxMessage.kind == "reminder"))).all()
    queued = {key.rsplit(":", 2)[0] for key in keys}  # "<key>:p<person>", without ":<channel>:<chat>"
    return [p for p in planned if f"{p.key}:p{p.person.id}" not in queued]


async def queue_reminders(session: AsyncSession, now: datetime, config: LadderConfig) -> list[PlannedMessage]:
    """Queue every due reminder once; returns the planned messages that reached the outbox."""
    queued: list[PlannedMessage] = []
    logged: set[tuple[int, str]] = set()
    for message in await plan_reminders(session, now, config):
        count = await notify(session, [message.person.id], message.reply, key=message.key, now=now,
                             kind="reminder", assignment_id=message.assignments[0].id)
        if count:
            queued.append(message)
            for assignment in message.assignments:
                if (assignment.id, message.rung) not in logged:
                    logged.add((assignment.id, message.rung))
                    session.add(log_event(assignment, "reminder", now=now, actor_person_id=None,
                                          note=f"{message.rung}: {short(message.task.title, 60)}"))
    return queued
