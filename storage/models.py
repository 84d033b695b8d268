"""The tables: the core records of DESIGN.md.

Enumerations are stored as short strings (not database enum types) so that adding a value needs no
schema migration; the allowed values live in the ``StrEnum`` classes here and are checked in code.
Nothing is ever deleted: people and units are deactivated, assignments change status through
``storage.status`` which appends a ``StatusEvent`` in the same transaction.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


def _instant(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


class UnitKind(StrEnum):
    department = "department"
    commune = "commune"
    service_unit = "service_unit"
    office = "office"  # the People's Committee itself (leaders sit here)


class Role(StrEnum):
    officer = "officer"
    head = "head"
    coordinator = "coordinator"
    leader = "leader"
    admin = "admin"


class AssignmentStatus(StrEnum):
    pending = "pending"
    submitted = "submitted"
    accepted = "accepted"
    returned = "returned"
    excused = "excused"


class ExtensionStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    denied = "denied"


class Unit(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=255)
    kind: str = Field(max_length=32)
    groups: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    aliases: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True
    created_at: datetime = _instant()
    updated_at: datetime = _instant()


class Person(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=255)
    role: str = Field(max_length=32)
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    phone: str | None = Field(default=None, max_length=32)
    active: bool = True
    unreachable_since: datetime | None = _instant(default=None, nullable=True)
    created_at: datetime = _instant()
    updated_at: datetime = _instant()


class ChannelIdentity(SQLModel, table=True):
    """How a person is reached on one chat platform."""

    __table_args__ = (UniqueConstraint("channel", "external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    channel: str = Field(max_length=32)
    external_id: str = Field(max_length=64)
    chat_id: str = Field(max_length=64)
    username: str | None = Field(default=None, max_length=255)
    created_at: datetime = _instant()
    last_seen_at: datetime | None = _instant(default=None, nullable=True)
    """When the person last wrote on this account: notices go to the most recently used channel."""
    unreachable_since: datetime | None = _instant(default=None, nullable=True)
    """The platform said this account cannot be reached (blocked the bot): skipped until they write again."""


class Invite(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True, index=True)
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    role: str = Field(max_length=32)
    person_id: int | None = Field(default=None, foreign_key="person.id")
    expires_at: datetime = _instant()
    used_at: datetime | None = _instant(default=None, nullable=True)
    used_by_person_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = _instant()


class Letter(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    number: str | None = Field(default=None, max_length=64, index=True)
    issued_on: date | None = None
    subject: str | None = Field(default=None, sa_column=Column(Text))
    source_text: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _instant()


class TaskSeries(SQLModel, table=True):
    """A recurring task: each period becomes its own ``Task`` (``Task.series_id``) when its data period opens."""

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=500)
    deliverable: str | None = Field(default=None, sa_column=Column(Text))
    template: str | None = Field(default=None, max_length=255)
    frequency: str = Field(max_length=16)
    deadline_rule: str = Field(max_length=255)
    data_offset_months: int = 0
    unit_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    lead_unit_id: int | None = Field(default=None, foreign_key="unit.id")
    signature_required: bool = False
    letter_id: int | None = Field(default=None, foreign_key="letter.id")
    next_period_start: date
    """The next period not yet created."""
    count_mode: str | None = Field(default=None, max_length=16)
    count_total: int | None = None
    active: bool = True
    stopped_at: datetime | None = _instant(default=None, nullable=True)
    stop_reason: str | None = Field(default=None, sa_column=Column(Text))
    created_by_person_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = _instant()


class Task(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("series_id", "period_start", name="uq_task_series_period"),)
    id: int | None = Field(default=None, primary_key=True)
    letter_id: int | None = Field(default=None, foreign_key="letter.id", index=True)
    title: str = Field(max_length=500)
    deliverable: str | None = Field(default=None, sa_column=Column(Text))
    template: str | None = Field(default=None, max_length=255)
    due_at: datetime = _instant()
    deadline_phrase: str = Field(max_length=255)
    signature_required: bool = False
    lead_unit_id: int | None = Field(default=None, foreign_key="unit.id")
    coordinating_unit_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_by_person_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = _instant()
    series_id: int | None = Field(default=None, foreign_key="taskseries.id", index=True)
    """The recurring series this task is one period of (None: a one-off task)."""
    period_label: str | None = Field(default=None, max_length=64)
    """The period, as people say it: «Quý I/2027»."""
    period_start: date | None = None
    data_start: date | None = None
    data_end: date | None = None
    count_mode: str | None = Field(default=None, max_length=16)
    """A progress count asked of each unit: None (a file only), "count" (instead of a file), "count+file"."""
    count_total: int | None = None
    """How many items each unit was given, when the same for all (the "trên" of "12 trên 15")."""
    archived_at: datetime | None = _instant(default=None, nullable=True)
    """When a coordinator took the task off the active board (``/archive``); a task whose every unit is
    accepted or excused leaves the active board without it."""
    archived_by_person_id: int | None = Field(default=None, foreign_key="person.id")


class Assignment(SQLModel, table=True):
    """One unit's duty under one task."""

    __table_args__ = (
        UniqueConstraint("task_id", "unit_id"),
        # covers the board's grouped counts (by status and task, overdue, late, per unit) without the rows
        Index("ix_assignment_board", "status", "task_id", "due_at_override", "submitted_at", "unit_id"),
        # the reminder tick reads "what changed since its watermark" through these
        Index("ix_assignment_created_at", "created_at"),
        Index("ix_assignment_status_changed_at", "status_changed_at"),
        Index("ix_assignment_rearmed_at", "rearmed_at"),
        # the few units with their own due instant (an approved extension), for the board's overdue counts
        Index("ix_assignment_override", "due_at_override", "task_id", "status",
              sqlite_where=text("due_at_override IS NOT NULL"),
              postgresql_where=text("due_at_override IS NOT NULL")),
    )
    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    status: str = Field(default=AssignmentStatus.pending, max_length=32, index=True)
    due_at_override: datetime | None = _instant(default=None, nullable=True)
    due_phrase_override: str | None = Field(default=None, max_length=255)
    rearmed_at: datetime | None = _instant(default=None, nullable=True)
    """When the due date last moved (an approved extension): the reminder ladder starts again from here."""
    round: int = 0
    submitted_at: datetime | None = _instant(default=None, nullable=True)
    status_changed_at: datetime = _instant()
    created_at: datetime = _instant()


class TaskTally(SQLModel, table=True):
    """How many of a task's units are in one status (and, among the handed in, late or not): kept up to date
    in the same transaction as each change by ``storage.tallies``, so the board reads a few hundred rows
    instead of grouping every assignment."""

    task_id: int = Field(foreign_key="task.id", primary_key=True)
    status: str = Field(max_length=32, primary_key=True)
    late: bool = Field(primary_key=True)
    """Handed in (submitted or accepted) after the unit's due instant."""
    units: int = 0


class Evidence(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    assignment_id: int = Field(foreign_key="assignment.id", index=True)
    round: int
    file_name: str = Field(max_length=255)
    size: int
    sha256: str = Field(max_length=64, index=True)
    pages: int
    signed: bool = False
    signatures_intact: bool = False
    signature_summary: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    storage_key: str = Field(max_length=255)
    person_id: int | None = Field(default=None, foreign_key="person.id")
    channel: str = Field(max_length=32)
    received_at: datetime = _instant()


class StatusEvent(SQLModel, table=True):
    """Append-only log of everything that happens to an assignment."""

    __table_args__ = (Index("ix_statusevent_task_unit", "task_id", "unit_id"), 
                      # covers "what arrived since …" (digest, /status headline) without the rows
                      Index("ix_statusevent_at", "at", "kind", "to_status", "task_id", "unit_id"))
    id: int | None = Field(default=None, primary_key=True)
    assignment_id: int = Field(foreign_key="assignment.id", index=True)
    task_id: int = Field(foreign_key="task.id")
    unit_id: int = Field(foreign_key="unit.id")
    at: datetime = _instant()
    actor_person_id: int | None = Field(default=None, foreign_key="person.id")
    kind: str = Field(max_length=32)
    from_status: str | None = Field(default=None, max_length=32)
    to_status: str | None = Field(default=None, max_length=32)
    round: int = 0
    note: str | None = Field(default=None, sa_column=Column(Text))


class ExtensionRequest(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    assignment_id: int = Field(foreign_key="assignment.id", index=True)
    requested_by_person_id: int | None = Field(default=None, foreign_key="person.id")
    requested_at: datetime = _instant()
    reason: str = Field(sa_column=Column(Text, nullable=False))
    requested_due_at: datetime = _instant()
    requested_phrase: str = Field(max_length=255)
    status: str = Field(default=ExtensionStatus.pending, max_length=32)
    decided_by_person_id: int | None = Field(default=None, foreign_key="person.id")
    decided_at: datetime | None = _instant(default=None, nullable=True)
    decision_note: str | None = Field(default=None, sa_column=Column(Text))


class OutboxMessage(SQLModel, table=True):
    """A message to send, written once under its dedupe key; the sender drains it."""

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=255, unique=True)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    channel: str = Field(max_length=32)
    chat_id: str = Field(max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _instant()
    not_before: datetime = _instant()
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    sent_at: datetime | None = _instant(default=None, nullable=True, index=True)
    failed_at: datetime | None = _instant(default=None, nullable=True)
    claimed_until: datetime | None = _instant(default=None, nullable=True)
    sent_message_id: str | None = Field(default=None, max_length=64)
    parts_sent: int = 0
    """How many parts of a multi-part message the platform has accepted (a retry resumes after them)."""
    assignment_id: int | None = Field(default=None, foreign_key="assignment.id", index=True)
    kind: str = Field(default="notice", max_length=32)


class ReminderSent(SQLModel, table=True):
    """One rung of the reminder ladder, recorded once: its dedupe key (assignment, round, rung, due instant).
    A person's reminders of one tick travel together in one outbox message (its payload lists the
    assignments), recorded in the same transaction as that message, so batching never sends a rung twice
    nor loses one. A rung is recorded when someone of its audience can be reached. The row is also the
    reminder's entry in the log (``/log``, the workbook's "Nhật ký"), so a heavy morning writes one row per
    rung, not two."""

    __table_args__ = (UniqueConstraint("assignment_id", "round", "rung", "due_at", name="uq_remindersent_key"),)
    id: int | None = Field(default=None, primary_key=True)
    assignment_id: int = Field(foreign_key="assignment.id")
    round: int
    rung: str = Field(max_length=32)
    due_at: datetime = _instant()
    """The unit's due instant the rung was computed for (the "assigned" notice: the epoch, once per assignment)."""
    unit_id: int = Field(foreign_key="unit.id")
    created_at: datetime = _instant()


class AuditEvent(SQLModel, table=True):
    """Append-only log of changes outside assignments: roster imports, invites, tasks."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _instant()
    actor: str = Field(max_length=255)
    action: str = Field(max_length=64)
    entity: str = Field(max_length=32)
    entity_id: int | None = None
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ConversationState(SQLModel, table=True):
    """What the bot is waiting for from one person (a reason, a file, a choice); survives restarts."""

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", unique=True)
    kind: str = Field(max_length=32)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    expires_at: datetime = _instant()
    updated_at: datetime = _instant()


class PlatformFile(SQLModel, table=True):
    """A stored file (blob key) already uploaded to a chat platform, re-sent by the platform's id."""

    __table_args__ = (UniqueConstraint("channel", "blob_key"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    blob_key: str = Field(max_length=128)
    file_id: str = Field(max_length=255)
    created_at: datetime = _instant()


class TickState(SQLModel, table=True):
    """The last instant up to which the reminder tick has looked at everything (its watermark)."""

    name: str = Field(primary_key=True, max_length=32)
    at: datetime = _instant()


class InboundUpdate(SQLModel, table=True):
    """Every update received from a platform that gives no acknowledgement (Zalo), written before it is
    handled: a replayed update is ignored, and one received just before a crash is handled after the
    restart. ``handled_at`` is set in the same transaction as the handling itself (exactly once)."""

    __table_args__ = (UniqueConstraint("channel", "update_id"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    update_id: str = Field(max_length=128)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    received_at: datetime = _instant()
    handled_at: datetime | None = _instant(default=None, nullable=True, index=True)


class ChatChoices(SQLModel, table=True):
    """The numbered choices last shown in a chat without buttons (Zalo, the console): "1" presses the first."""

    __table_args__ = (UniqueConstraint("channel", "chat_id"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    chat_id: str = Field(max_length=64)
    choices: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    expires_at: datetime = _instant()
    updated_at: datetime = _instant()


class ChannelUsage(SQLModel, table=True):
    """Messages sent per channel per calendar month (Zalo's plans have a monthly quota)."""

    __table_args__ = (UniqueConstraint("channel", "month"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    month: str = Field(max_length=7)
    """``YYYY-MM`` in the office's time zone."""
    sent: int = 0
    warned_at: datetime | None = _instant(default=None, nullable=True)


class IssuedLink(SQLModel, table=True):
    """A signed web link handed to one person in their private chat (``storage.links``).

    ``upload``: single-use, for one assignment, used once the upload is accepted. ``download``: a stored
    blob (the board, the digest chart, an evidence file) under a clean name and type, until it expires;
    ``staff_only`` ones (evidence) open only while the person is a coordinator, leader or admin.
    """

    id: int | None = Field(default=None, primary_key=True)
    token_id: str = Field(max_length=64, unique=True)
    kind: str = Field(max_length=16)
    person_id: int = Field(foreign_key="person.id", index=True)
    assignment_id: int | None = Field(default=None, foreign_key="assignment.id")
    blob_key: str | None = Field(default=None, max_length=255)
    file_name: str | None = Field(default=None, max_length=255)
    mime_type: str | None = Field(default=None, max_length=128)
    staff_only: bool = False
    expires_at: datetime = _instant()
    used_at: datetime | None = _instant(default=None, nullable=True)
    created_at: datetime = _instant()


class CalendarKind(StrEnum):
    off = "off"
    work = "work"


class CalendarDay(SQLModel, table=True):
    """The office's own correction of the working-day calendar: one row per day, its change audited."""

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(unique=True, index=True)
    kind: str = Field(max_length=8)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    actor: str = Field(max_length=255)
    updated_at: datetime = _instant()


class ExplanationStatus(StrEnum):
    pending = "pending"
    accepted = "accepted"
    extended = "extended"
    refused = "refused"


class Explanation(SQLModel, table=True):
    """An overdue unit's explanation (giải trình) to the leader, and the leader's decision."""

    id: int | None = Field(default=None, primary_key=True)
    assignment_id: int = Field(foreign_key="assignment.id", index=True)
    person_id: int | None = Field(default=None, foreign_key="person.id")
    submitted_at: datetime = _instant()
    text: str = Field(sa_column=Column(Text, nullable=False))
    file_name: str | None = Field(default=None, max_length=255)
    sha256: str | None = Field(default=None, max_length=64)
    pages: int | None = None
    storage_key: str | None = Field(default=None, max_length=255)
    status: str = Field(default=ExplanationStatus.pending, max_length=16, index=True)
    decided_by_person_id: int | None = Field(default=None, foreign_key="person.id")
    decided_at: datetime | None = _instant(default=None, nullable=True)
    decision_note: str | None = Field(default=None, sa_column=Column(Text))
    extension_id: int | None = Field(default=None, foreign_key="extensionrequest.id")


class CountMode(StrEnum):
    count = "count"
    count_and_file = "count+file"


class ProgressCount(SQLModel, table=True):
    """A unit's reported progress on a task: done of total (every report kept: the history)."""

    id: int | None = Field(default=None, primary_key=True)
    assignment_id: int = Field(foreign_key="assignment.id", index=True)
    done: int
    total: int
    text: str = Field(sa_column=Column(Text, nullable=False))
    person_id: int | None = Field(default=None, foreign_key="person.id")
    at: datetime = _instant()
