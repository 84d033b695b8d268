"""Repositories: reads and writes in the caller's unit of work (they never commit)."""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, update
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
    Unit,
)
from storage.roster import fold
from storage.status import effective_due_at, is_late, is_overdue

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
    session: AsyncSession, now: datetime, *, unit_id: int | None = None, task_id: int | None = None
) -> list[TaskBoard]:
    """Every task (or one unit's share of them) with each unit's state, overdue derived from ``now``."""
    query = (
        select(Assignment, Task, Unit)
        .join(Task, Task.id == Assignment.task_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .order_by(Task.due_at, Task.id, Unit.code)
    )
    if unit_id is not None:
        query = query.where(Assignment.unit_id == unit_id)
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
