"""Repositories: reads and writes in the caller's unit of work (they never commit)."""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, literal, or_, union_all, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Assignment,
    AssignmentStatus,
    AuditEvent,
    ChannelIdentity,
    ConversationState,
    Invite,
    Letter,
    Person,
    Role,
    StatusEvent,
    Task,
    TaskTally,
    Unit,
)
from storage import tallies
from storage.roster import fold
from storage.status import OPEN_VALUES, effective_due_at, is_late, is_overdue

S = AssignmentStatus


class UnknownUnits(ValueError):
    """A unit specification names units or groups that are not in the roster."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        super().__init__("không có trong danh sách đơn vị: " + ", ".join(names))


# --- units and people -------------------------------------------------------------------------


async def list_units(session: AsyncSession, *, active_only: bool = True) -> list[Unit]:
    query = select(Unit).order_by(Unit.kind, Unit.code)
    if active_only:
        query = query.where(Unit.active == True)  # noqa: E712
    return list((await session.exec(query)).all())


async def unit_by_code(session: AsyncSession, code: str) -> Unit | None:
    return (await session.exec(select(Unit).where(func.upper(Unit.code) == code.strip().upper()))).first()


async def resolve_units(session: AsyncSession, spec: str) -> list[Unit]:
    """``all``, ``group:NAME`` or ``CODE,CODE,…`` (mixable, comma separated) → the units, in roster order."""
    units = await list_units(session)
    chosen: dict[int, Unit] = {}
    unknown: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if part.lower() in ("all", "tat ca", "tất cả"):
            chosen.update({u.id: u for u in units})
        elif part.lower().startswith(("group:", "nhom:", "nhóm:")):
            name = fold(part.split(":", 1)[1])
            members = [u for u in units if name in (fold(g) for g in u.groups)]
            if not members:
                unknown.append(part)
            chosen.update({u.id: u for u in members})
        else:
            match = next((u for u in units if u.code.upper() == part.upper()), None)
            if match is None:
                unknown.append(part)
            else:
                chosen[match.id] = match
    if unknown:
        raise UnknownUnits(unknown)
    return [u for u in units if u.id in chosen]


async def list_people(session: AsyncSession, *, active_only: bool = True) -> list[tuple[Person, Unit | None]]:
    query = select(Person, Unit).join(Unit, isouter=True).order_by(Unit.code, Person.role, Person.name)
    if active_only:
        query = query.where(Person.active == True)  # noqa: E712
    return list((await session.exec(query)).all())


async def person_by_identity(session: AsyncSession, channel: str, external_id: str) -> Person | None:
    query = (
        select(Person)
        .join(ChannelIdentity, ChannelIdentity.person_id == Person.id)
        .where(ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id)
        .where(Person.active == True)  # noqa: E712
    )
    return (await session.exec(query)).first()


async def bind_identity(
    session: AsyncSession, person: Person, *, channel: str, external_id: str, chat_id: str,
    username: str | None, now: datetime,
) -> ChannelIdentity:
    """Link a chat account to a person (idempotent for the same account)."""
    existing = (await session.exec(
        select(ChannelIdentity).where(ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id)
    )).first()
    if existing is not None:
        if existing.person_id != person.id or existing.chat_id != chat_id:
            before = {"person_id": existing.person_id, "chat_id": existing.chat_id}
            existing.person_id, existing.chat_id, existing.username = person.id, chat_id, username
            session.add(AuditEvent(at=now, actor=f"{channel}:{external_id}", action="identity.rebound",
                                   entity="person", entity_id=person.id, details={"before": before}))
        return existing
    identity = ChannelIdentity(person_id=person.id, channel=channel, external_id=external_id,
                               chat_id=chat_id, username=username, created_at=now)
    session.add(identity)
    session.add(AuditEvent(at=now, actor=f"{channel}:{external_id}", action="identity.bound",
                           entity="person", entity_id=person.id, details={"channel": channel}))
    await session.flush()
    return identity


# --- invites ----------------------------------------------------------------------------------


INVITE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
"""Letters and digits only, none easily mistaken for another (0/O, 1/l/I): a code never starts with "-"
(read as an option on a command line) and survives being read out or retyped."""


def invite_code(length: int = 12) -> str:
    """A one-time invite code: 12 characters of ``INVITE_ALPHABET``, about 70 bits."""
    return "".join(secrets.choice(INVITE_ALPHABET) for _ in range(length))


async def create_invite(
    session: AsyncSession, *, unit: Unit | None, role: Role, now: datetime, ttl: timedelta,
    person: Person | None = None, actor: str = "cli",
) -> Invite:
    invite = Invite(
        code=invite_code(),
        unit_id=unit.id if unit else None,
        role=role.value,
        person_id=person.id if person else None,
        expires_at=now + ttl,
        created_at=now,
    )
    session.add(invite)
    await session.flush()
    session.add(AuditEvent(at=now, actor=actor, action="invite.created", entity="invite", entity_id=invite.id,
                           details={"unit": unit.code if unit else None, "role": role.value}))
    return invite


# --- tasks ------------------------------------------------------------------------------------


async def create_task(
    session: AsyncSession,
    *,
    title: str,
    due_at: datetime,
    deadline_phrase: str,
    units: list[Unit],
    now: datetime,
    lead: Unit | None = None,
    coordinating: list[Unit] | None = None,
    signature_required: bool = False,
    deliverable: str | None = None,
    template: str | None = None,
    letter: Letter | None = None,
    created_by: Person | None = None,
) -> tuple[Task, list[Assignment]]:
    """A task and one assignment per unit, each with its "assigned" status event."""
    if not units:
        raise ValueError("a task needs at least one unit")
    task = Task(
        letter_id=letter.id if letter else None,
        title=title,
        deliverable=deliverable,
        template=template,
        due_at=due_at,
        deadline_phrase=deadline_phrase,
        signature_required=signature_required,
        lead_unit_id=lead.id if lead else None,
        coordinating_unit_ids=[u.id for u in coordinating or []],
        created_by_person_id=created_by.id if created_by else None,
        created_at=now,
    )
    session.add(task)
    await session.flush()
    assignments = [
        Assignment(task_id=task.id, unit_id=unit.id, status=S.pending.value, status_changed_at=now, created_at=now)
        for unit in units
    ]
    session.add_all(assignments)
    await session.flush()
    await tallies.move(session, task.id, None, tallies.key_of(S.pending.value, None, task.due_at), len(assignments))
    session.add_all(
        StatusEvent(assignment_id=a.id, task_id=task.id, unit_id=a.unit_id, at=now,
                    actor_person_id=created_by.id if created_by else None, kind="assigned",
                    from_status=None, to_status=S.pending.value, round=0, note=deadline_phrase)
        for a in assignments
    )
    await session.flush()
    return task, assignments


async def find_or_create_letter(
    session: AsyncSession, *, number: str | None, now: datetime, subject: str | None = None,
    source_text: str | None = None, issued_on=None,
) -> Letter | None:
    if not number:
        return None
    letter = (await session.exec(select(Letter).where(Letter.number == number))).first()
    if letter is None:
        letter = Letter(number=number, subject=subject, source_text=source_text, issued_on=issued_on, created_at=now)
        session.add(letter)
        await session.flush()
    return letter


async def list_tasks(session: AsyncSession) -> list[Task]:
    return list((await session.exec(select(Task).order_by(Task.due_at, Task.id))).all())


# --- the board --------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitState:
    unit: Unit
    assignment: Assignment
    due_at: datetime
    overdue: bool
    late: bool


@dataclass
class TaskBoard:
    task: Task
    letter: Letter | None
    lead: Unit | None
    units: list[UnitState] = field(default_factory=list)

    @property
    def counts(self) -> Counter[str]:
        return Counter(state.assignment.status for state in self.units)

    @property
    def total(self) -> int:
        return len(self.units)

    @property
    def delivered(self) -> int:
        """Units that have handed something in (submitted or accepted) or were excused."""
        c = self.counts
        return c[S.submitted] + c[S.accepted] + c[S.excused]

    @property
    def overdue(self) -> int:
        return sum(state.overdue for state in self.units)


async def board(
    session: AsyncSession, now: datetime, *, unit_id: int | None = None, task_id: int | None = None,
    unit_ids: list[int] | None = None,
) -> list[TaskBoard]:
    """Every task (or one unit's share of them, or ``unit_ids``' shares) with each unit's state, overdue derived
    from ``now``."""
    query = (
        select(Assignment, Task, Unit)
        .join(Task, Task.id == Assignment.task_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .order_by(Task.due_at, Task.id, Unit.code)
    )
    if unit_id is not None:
        query = query.where(Assignment.unit_id == unit_id)
    if unit_ids is not None:
        query = query.where(col(Assignment.unit_id).in_(unit_ids))
    if task_id is not None:
        query = query.where(Assignment.task_id == task_id)
    rows = (await session.exec(query)).all()
    letter_ids = {task.letter_id for _, task, _ in rows if task.letter_id is not None}
    lead_ids = {task.lead_unit_id for _, task, _ in rows if task.lead_unit_id is not None}
    letters = {l.id: l for l in (await session.exec(select(Letter).where(col(Letter.id).in_(letter_ids)))).all()
               } if letter_ids else {}
    units = {u.id: u for _, _, u in rows}
    missing = lead_ids - units.keys()
    if missing:
        units.update({u.id: u for u in (await session.exec(select(Unit).where(col(Unit.id).in_(missing)))).all()})
    boards: dict[int, TaskBoard] = {}
    for assignment, task, unit in rows:
        entry = boards.get(task.id)
        if entry is None:
            entry = boards[task.id] = TaskBoard(task, letters.get(task.letter_id), units.get(task.lead_unit_id))
        due_at = effective_due_at(assignment, task.due_at)
        entry.units.append(UnitState(
            unit=unit,
            assignment=assignment,
            due_at=due_at,
            overdue=is_overdue(assignment.status, due_at, now),
            late=is_late(assignment.submitted_at, due_at),
        ))
    for entry in boards.values():
        entry.units.sort(key=lambda state: unit_order(state.unit))
    return list(boards.values())


KIND_ORDER = {"office": 0, "department": 1, "service_unit": 2, "commune": 3}


def unit_order(unit: Unit) -> tuple[int, str]:
    """Departments, then service units, then communes; by name within each."""
    return KIND_ORDER.get(unit.kind, 9), fold(unit.name)


async def count_rows(session: AsyncSession, model: type) -> int:
    return (await session.exec(select(func.count()).select_from(model))).one()


# --- onboarding -------------------------------------------------------------------------------


class InviteProblem(ValueError):
    """An invite cannot be used: ``reason`` is unknown, used or expired."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


async def redeem_invite(
    session: AsyncSession, code: str, *, channel: str, external_id: str, chat_id: str,
    display_name: str | None, username: str | None, now: datetime,
) -> Person:
    """Use a single-use invite: bind the chat account to the invite's person (created if needed)."""
    invite = (await session.exec(select(Invite).where(Invite.code == code.strip()))).first()
    if invite is None:
        raise InviteProblem("unknown")
    if invite.used_at is not None:
        raise InviteProblem("used")
    if invite.expires_at <= now:
        raise InviteProblem("expired")
    claimed = await session.exec(
        update(Invite).where(Invite.id == invite.id, Invite.used_at == None)  # noqa: E711
        .values(used_at=now).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        raise InviteProblem("used")
    person = await session.get(Person, invite.person_id) if invite.person_id else None
    if person is None:
        person = Person(name=(display_name or username or f"{channel} {external_id}").strip()[:255],
                        role=invite.role, unit_id=invite.unit_id, created_at=now, updated_at=now)
        session.add(person)
        await session.flush()
        session.add(AuditEvent(at=now, actor=f"{channel}:{external_id}", action="person.created", entity="person",
                               entity_id=person.id, details={"invite": invite.id, "role": invite.role}))
    invite.used_at = now
    invite.used_by_person_id = person.id
    await bind_identity(session, person, channel=channel, external_id=external_id, chat_id=chat_id,
                        username=username, now=now)
    return person


# --- conversation state -----------------------------------------------------------------------


async def get_state(session: AsyncSession, person_id: int, now: datetime) -> ConversationState | None:
    state = (await session.exec(select(ConversationState).where(ConversationState.person_id == person_id))).first()
    return state if state is not None and state.expires_at > now else None


async def set_state(session: AsyncSession, person_id: int, kind: str, data: dict, *, now: datetime,
                    ttl: timedelta = timedelta(hours=24)) -> None:
    state = (await session.exec(select(ConversationState).where(ConversationState.person_id == person_id))).first()
    if state is None:
        state = ConversationState(person_id=person_id, kind=kind, data=data, expires_at=now + ttl, updated_at=now)
        session.add(state)
    else:
        state.kind, state.data, state.expires_at, state.updated_at = kind, data, now + ttl, now
    await session.flush()


async def clear_state(session: AsyncSession, person_id: int, *, now: datetime) -> None:
    state = (await session.exec(select(ConversationState).where(ConversationState.person_id == person_id))).first()
    if state is not None:
        state.kind, state.data, state.expires_at, state.updated_at = "idle", {}, now, now


# --- people by role ---------------------------------------------------------------------------


async def people_with_roles(session: AsyncSession, roles: list[Role], *, unit_id: int | None = None) -> list[Person]:
    query = select(Person).where(col(Person.role).in_([r.value for r in roles]), Person.active == True)  # noqa: E712
    if unit_id is not None:
        query = query.where(Person.unit_id == unit_id)
    return list((await session.exec(query.order_by(Person.id))).all())


# --- the board in SQL: grouped counts (no assignment is loaded to count) -----------------------


FINISHED_VALUES = (S.accepted.value, S.excused.value)
DELIVERED_VALUES = (S.submitted.value, S.accepted.value)
"""Handed in (and not returned): submitted_at says when."""


def _unit_due():
    """The unit's due instant in SQL: an approved extension overrides the task's."""
    return func.coalesce(Assignment.due_at_override, Task.due_at)


@dataclass
class TaskSummary:
    """One task's counts, straight from a grouped query."""

    task: Task
    letter_number: str | None
    lead_name: str | None
    counts: Counter[str] = field(default_factory=Counter)
    overdue: int = 0
    """Still owed and past the unit's due instant."""
    late: int = 0
    """Handed in (submitted or accepted) after the unit's due instant."""
    recent: int = 0
    """Submissions (first or again) logged since ``since``."""

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def delivered(self) -> int:
        """Submitted, accepted or excused (as ``TaskBoard.delivered``)."""
        c = self.counts
        return c[S.submitted] + c[S.accepted] + c[S.excused]

    @property
    def open(self) -> int:
        return self.counts[S.pending] + self.counts[S.returned]

    @property
    def finished(self) -> bool:
        """Every unit accepted or excused: the task leaves the active board by itself."""
        return self.total > 0 and all(status in FINISHED_VALUES for status, n in self.counts.items() if n)

    @property
    def archived(self) -> bool:
        return self.task.archived_at is not None

    @property
    def active(self) -> bool:
        return not self.archived and not self.finished


def _overdue_filters(dues: dict[int, datetime], now: datetime) -> list:
    """Owed and past the unit's due instant, as two conditions that are each an index range of
    ``ix_assignment_board`` (status, task, override): the tasks already due without an extension, and the
    extensions already past. Count each and add."""
    owed = col(Assignment.status).in_(OPEN_VALUES)
    past = [task_id for task_id, due in dues.items() if due < now]
    return [owed & col(Assignment.task_id).in_(past) & (Assignment.due_at_override == None),  # noqa: E711
            owed & col(Assignment.task_id).in_(list(dues)) & (Assignment.due_at_override != None)  # noqa: E711
            & (Assignment.due_at_override < now)]


async def _overdue_by(session: AsyncSession, column, dues: dict[int, datetime], now: datetime) -> Counter[int]:
    counts: Counter[int] = Counter()
    for condition in _overdue_filters(dues, now):
        for key, count in (await session.exec(select(column, func.count()).where(condition).group_by(column))).all():
            counts[key] += count
    return counts


async def _overdue_by_task(session: AsyncSession, summaries: dict[int, TaskSummary], now: datetime) -> None:
    """Still owed past the unit's due instant, per task: from the kept counts, every unit still owing a task
    already due; corrected by the few units with their own due instant (an approved extension), read
    through the partial index ``ix_assignment_override``."""
    extended = (select(Assignment.task_id, func.count(),
                       func.sum(case((Assignment.due_at_override < now, 1), else_=0)))
                .where(Assignment.due_at_override != None, col(Assignment.status).in_(OPEN_VALUES),  # noqa: E711
                       col(Assignment.task_id).in_(list(summaries)))
                .group_by(Assignment.task_id))
    corrections = {task_id: (count, past or 0) for task_id, count, past in (await session.exec(extended)).all()}
    for task_id, summary in summaries.items():
        count, past = corrections.get(task_id, (0, 0))
        summary.overdue = (summary.open - count if summary.task.due_at < now else 0) + past


async def task_summaries(
    session: AsyncSession, now: datetime, *, since: datetime | None = None, include_archived: bool = False,
    task_id: int | None = None,
) -> list[TaskSummary]:
    """Per task (soonest due first): units by status, overdue, late and recently handed in.

    The tasks are read first (a few dozen rows), then their kept counts (``storage.tallies``: units by
    status, late among the handed in), the few extensions still owed (overdue), and the log's recent
    submissions. No query groups the assignments. Archived and finished tasks only with
    ``include_archived``.
    """
    since = since or now
    lead = Unit.__table__.alias("lead")
    tasks_query = (
        select(Task, Letter.number, lead.c.name)
        .join(Letter, Letter.id == Task.letter_id, isouter=True)
        .join(lead, lead.c.id == Task.lead_unit_id, isouter=True)
        .order_by(Task.due_at, Task.id)
    )
    if task_id is not None:
        tasks_query = tasks_query.where(Task.id == task_id)
    if not include_archived:
        tasks_query = tasks_query.where(Task.archived_at == None)  # noqa: E711
    summaries = {task.id: TaskSummary(task, number, lead_name)
                 for task, number, lead_name in (await session.exec(tasks_query)).all()}
    if not summaries:
        return []
    kept = select(TaskTally.task_id, TaskTally.status, TaskTally.late, TaskTally.units).where(TaskTally.units != 0)
    recent = (select(StatusEvent.task_id, func.count())  # the log's index on "at": only the recent events
              .where(StatusEvent.at > since, StatusEvent.at <= now, StatusEvent.kind == "status",
                     StatusEvent.to_status == S.submitted.value)
              .group_by(StatusEvent.task_id))
    if task_id is not None:
        kept = kept.where(TaskTally.task_id == task_id)
        recent = recent.where(StatusEvent.task_id == task_id)
    for task_id_, status, late, units in (await session.exec(kept)).all():
        if task_id_ in summaries:
            summaries[task_id_].counts[status] += units
            if late and status in DELIVERED_VALUES:
                summaries[task_id_].late += units
    await _overdue_by_task(session, summaries, now)
    for task_id_, count in (await session.exec(recent)).all():
        if task_id_ in summaries:
            summaries[task_id_].recent = count
    ordered = [s for s in summaries.values() if s.total]
    return ordered if include_archived else [s for s in ordered if s.active]


@dataclass(frozen=True)
class UnitOverdue:
    unit_id: int
    name: str
    overdue: int


async def overdue_units(session: AsyncSession, now: datetime, *, dues: dict[int, datetime] | None = None
                        ) -> list[UnitOverdue]:
    """Units owing something past due on a task not archived (``dues``: those tasks' due instants, when the
    caller has them), the most overdue first (then by name)."""
    if dues is None:
        dues = dict((await session.exec(select(Task.id, Task.due_at).where(Task.archived_at == None))).all())  # noqa: E711
    counts = await _overdue_by(session, Assignment.unit_id, dues, now)
    if not counts:
        return []
    names = (await session.exec(select(Unit.id, Unit.name))).all()  # two columns, not the ORM rows
    rows = [UnitOverdue(unit_id, name, counts[unit_id]) for unit_id, name in names if unit_id in counts]
    return sorted(rows, key=lambda row: (-row.overdue, fold(row.name)))


@dataclass(frozen=True)
class UnitName:
    id: int
    code: str
    name: str


@dataclass(frozen=True)
class UnitRank:
    unit: UnitName
    on_time: int
    late: int
    overdue: int
    open: int
    assigned: int

    @property
    def measured(self) -> int:
        """What can be judged on time or not: handed in, or owed past due."""
        return self.on_time + self.late + self.overdue

    @property
    def rate(self) -> float:
        return self.on_time / self.measured if self.measured else 1.0


async def unit_ranking(session: AsyncSession, now: datetime, *, include_archived: bool = False) -> list[UnitRank]:
    """Units by on-time rate, worst first (more overdue first on a tie, then by name); one ``GROUP BY unit``."""
    due = _unit_due()
    delivered = col(Assignment.status).in_(DELIVERED_VALUES)
    owed = col(Assignment.status).in_(OPEN_VALUES)
    query = (
        select(Assignment.unit_id,
               func.sum(case((delivered & (Assignment.submitted_at <= due), 1), else_=0)),
               func.sum(case((delivered & (Assignment.submitted_at > due), 1), else_=0)),
               func.sum(case((owed & (due < now), 1), else_=0)),
               func.sum(case((owed, 1), else_=0)),
               func.count())
        .join(Task, Task.id == Assignment.task_id)
        .group_by(Assignment.unit_id)
    )
    if not include_archived:
        query = query.where(Task.archived_at == None)  # noqa: E711
    rows = (await session.exec(query)).all()
    units = {uid: UnitName(uid, code, name) for uid, code, name in
             (await session.exec(select(Unit.id, Unit.code, Unit.name))).all()}  # columns, not ORM rows
    ranks = [UnitRank(units[unit_id], on_time or 0, late or 0, overdue or 0, open_ or 0, assigned)
             for unit_id, on_time, late, overdue, open_, assigned in rows]
    ranks = [r for r in ranks if r.measured]
    return sorted(ranks, key=lambda r: (r.rate, -r.overdue, -r.late, fold(r.unit.name)))


@dataclass(frozen=True)
class UnitLine:
    """One unit's state under one task, as plain values (no ORM objects at national scale)."""

    task_id: int
    assignment_id: int
    unit_id: int
    unit_code: str
    unit_name: str
    unit_kind: str
    status: str
    due_at: datetime
    submitted_at: datetime | None
    overdue: bool
    late: bool
    extended: bool
    round: int = 0


async def unit_lines(session: AsyncSession, now: datetime, *, task_id: int | None = None,
                     overdue_only: bool = False, include_archived: bool = True,
                     statuses: tuple[str, ...] | None = None, due_before: datetime | None = None) -> list[UnitLine]:
    """Each unit's state under a task (or, ``overdue_only``, the overdue ones of every task), as columns;
    optionally only some ``statuses`` and units due at or before ``due_before``."""
    query = (
        select(Assignment.task_id, Assignment.id, Unit.id, Unit.code, Unit.name, Unit.kind, Assignment.status,
               Task.due_at, Assignment.due_at_override, Assignment.submitted_at, Assignment.round)
        .join(Task, Task.id == Assignment.task_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .order_by(Task.due_at, Task.id)
    )
    if task_id is not None:
        query = query.where(Assignment.task_id == task_id)
    if overdue_only:
        query = query.where(col(Assignment.status).in_(OPEN_VALUES), _unit_due() < now)
    if statuses is not None:
        query = query.where(col(Assignment.status).in_(statuses))
    if due_before is not None:
        query = query.where(_unit_due() <= due_before)
    if not include_archived:
        query = query.where(Task.archived_at == None)  # noqa: E711
    lines = []
    for task_id_, assignment_id, unit_id, code, name, kind, status, task_due, override, submitted_at, round_ in (
            await session.exec(query)).all():
        due_at = override or task_due
        lines.append(UnitLine(task_id_, assignment_id, unit_id, code, name, kind, status, due_at, submitted_at,
                              is_overdue(status, due_at, now), is_late(submitted_at, due_at), override is not None,
                              round_))
    order = {task_id_: index for index, task_id_ in enumerate(dict.fromkeys(line.task_id for line in lines))}
    units = {line.unit_id: (KIND_ORDER.get(line.unit_kind, 9), fold(line.unit_name)) for line in lines}
    return sorted(lines, key=lambda line: (order[line.task_id], units[line.unit_id]))


async def archive_task(session: AsyncSession, task: Task, *, person: Person | None, now: datetime,
                       actor: str) -> bool:
    """Take a task off the active board (kept, never deleted); False when it already was. Audited."""
    if task.archived_at is not None:
        return False
    task.archived_at = now
    task.archived_by_person_id = person.id if person else None
    session.add(task)
    session.add(AuditEvent(at=now, actor=actor, action="task.archived", entity="task", entity_id=task.id,
                           details={"title": task.title}))
    await session.flush()
    return True
