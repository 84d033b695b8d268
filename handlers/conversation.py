"""The conversation: one entry point for every channel.

``Conversation.handle`` takes a neutral ``Incoming``, opens one unit of work, finds who is talking,
checks their role, calls the one function for the command and renders the reply. Handlers are thin:
the rules live in ``storage`` and ``schedules``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import board as board_views
from handlers import messages as m
from handlers.chat import Incoming, Reply
from schedules.calendar import WorkCalendar
from schedules.clock import Clock
from storage.db import Database
from storage.models import Person, Role, Unit
from storage.queries import person_by_identity

ALL_ROLES = frozenset(Role)
STAFF = frozenset({Role.coordinator, Role.leader, Role.admin})


@dataclass
class HandlerContext:
    """What every handler may use; built once by the composition root."""

    db: Database
    clock: Clock
    tz: ZoneInfo
    calendar: WorkCalendar
    bot_username: str | None = None


@dataclass(frozen=True)
class Request:
    """One incoming message inside its unit of work."""

    incoming: Incoming
    session: AsyncSession
    person: Person
    unit: Unit | None
    ctx: HandlerContext

    @property
    def role(self) -> Role:
        return Role(self.person.role)

    @property
    def now(self):
        return self.ctx.clock.now()


Handler = Callable[[Request], Awaitable[list[Reply]]]


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    roles: frozenset[Role]
    summary: str


class Conversation:
    """Routes neutral messages to handlers; the same object serves every channel."""

    def __init__(self, ctx: HandlerContext) -> None:
        self.ctx = ctx
        self.commands: dict[str, Command] = {}
        for command in (
            Command("help", self._help, ALL_ROLES, "hướng dẫn sử dụng"),
            Command("tasks", board_views.tasks, ALL_ROLES, "việc của đơn vị và hạn nộp"),
            Command("status", board_views.status, ALL_ROLES, "tình hình nộp báo cáo"),
        ):
            self.register(command)

    def register(self, command: Command) -> None:
        self.commands[command.name] = command

    def menu(self, role: Role) -> list[Command]:
        """The commands a role may use, in the order they were registered."""
        return [c for c in self.commands.values() if role in c.roles]

    async def handle(self, incoming: Incoming) -> list[Reply]:
        async with self.ctx.db.session() as session:
            sender = incoming.sender
            person = await person_by_identity(session, sender.channel, sender.user_id)
            if person is None:
                return [Reply(m.NOT_REGISTERED)]
            unit = await session.get(Unit, person.unit_id) if person.unit_id else None
            request = Request(incoming, session, person, unit, self.ctx)
            if incoming.command is None:
                return [Reply(m.PLAIN_TEXT_HINT)]
            if incoming.command == "start":
                return await self._help(request)
            command = self.commands.get(incoming.command)
            if command is None:
                return [Reply(m.unknown_command(incoming.command))]
            if request.role not in command.roles:
                return [Reply(m.FORBIDDEN)]
            return await command.handler(request)

    async def _help(self, request: Request) -> list[Reply]:
        lines = [f"/{c.name} — {c.summary}" for c in self.menu(request.role)]
        return [Reply(m.help_text(request.person.name, request.role, request.unit, lines))]
