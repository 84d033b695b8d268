"""The conversation: one entry point for every channel.

``Conversation.handle`` takes a neutral ``Incoming``, opens one unit of work, finds who is talking,
checks their role, calls the one function for the command, button or file, and returns the replies.
Handlers are thin: the rules live in ``storage`` and ``schedules``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import board as board_views
from handlers import assign, extensions, intake, onboarding, review, workflows
from handlers import messages as m
from handlers.chat import Incoming, Reply, fits, limits_for
from handlers.links import LinkIssuer
from schedules.calendar import WorkCalendar
from schedules.clock import Clock
from storage.channels import claim_update, touch_identity, update_handled
from storage.db import Database
from storage.models import Person, Role, Unit
from storage.outbox import release_held
from storage.queries import clear_state, get_state, person_by_identity

ALL_ROLES = frozenset(Role)
STAFF = frozenset({Role.coordinator, Role.leader, Role.admin})
REVIEWERS = frozenset({Role.coordinator, Role.admin})
TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024

STEP_OWNERS = {"assign_": "assign", "extension_": "extend"}
"""The command that starts each kind of step: typed again, it starts its own flow over (and says so itself)."""

FileFetcher = Callable[[str, str], Awaitable[bytes]]


@dataclass
class HandlerContext:
    """What every handler may use; built once by the composition root."""

    db: Database
    clock: Clock
    tz: ZoneInfo
    calendar: WorkCalendar
    bot_username: str | None = None
    inspector: Any = None
    """``storage.pdfcheck.PdfInspector``: checks untrusted PDFs in a worker process."""
    store: Any = None
    """``storage.filestore.EvidenceStore``: content-addressed evidence files."""
    letters: Any = None
    """``storage.letterfile.LetterReader``: reads letter files in the sandbox."""
    fetch_file: FileFetcher | None = None
    """Fetch a file again by (channel, platform file reference)."""
    max_file_bytes: int = TELEGRAM_DOWNLOAD_LIMIT
    links: LinkIssuer | None = None
    """Signed web links for uploads and downloads (``bot.web.WebLinks``); None without a web server."""
    blobs: Any = None
    """``storage.blobs.BlobStore``: outgoing files (the digest's chart and workbook) stored once, by key."""


@dataclass(frozen=True)
class Request:
    """One incoming message inside its unit of work."""

    incoming: Incoming
    session: AsyncSession
    person: Person
    unit: Unit | None
    ctx: HandlerContext
    now: datetime

    @property
    def role(self) -> Role:
        return Role(self.person.role)


class _HandledMeanwhile(Exception):
    """The update was claimed by another handling while this one worked (rolled back)."""


Handler = Callable[[Request], Awaitable[list[Reply]]]
ChoiceHandler = Callable[..., Awaitable[list[Reply]]]


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    roles: frozenset[Role]
    summary: str


@dataclass(frozen=True)
class Choice:
    """A button: ``prefix:arg:arg`` with integer arguments."""

    prefix: str
    handler: ChoiceHandler
    roles: frozenset[Role]
    arity: int


class Conversation:
    """Routes neutral messages to handlers; the same object serves every channel."""

    def __init__(self, ctx: HandlerContext) -> None:
        self.ctx = ctx
        self.commands: dict[str, Command] = {}
        self.choices: dict[str, Choice] = {}
        self.states: dict[str, Callable[[Request, dict], Awaitable[list[Reply]]]] = {}
        for command in (
            Command("tasks", board_views.tasks, ALL_ROLES, "việc cần nộp và hạn nộp"),
            Command("status", board_views.status, ALL_ROLES, "tình hình nộp báo cáo"),
            Command("late", board_views.late, STAFF, "các đơn vị quá hạn"),
            Command("review", review.pending_reviews, REVIEWERS, "hồ sơ chờ xem xét"),
            Command("log", board_views.log, ALL_ROLES, "nhật ký: /log, /log #SỐ hoặc /log MÃ_ĐƠN_VỊ"),
            Command("export", board_views.export, STAFF, "xuất bảng tổng hợp Excel"),
            Command("help", self._help, ALL_ROLES, "hướng dẫn sử dụng"),
        ):
            self.register(command)
        for choice in (
            Choice("submit", intake.on_submit_button, ALL_ROLES, 1),
            Choice("pick", intake.on_pick, ALL_ROLES, 1),
            Choice("accept", review.accept, REVIEWERS, 2),
            Choice("return", review.ask_reason, REVIEWERS, 2),
            Choice("file", review.send_file, STAFF, 1),
            Choice("cancel", review.cancel, ALL_ROLES, 0),
            Choice("review", review.pending_reviews, REVIEWERS, 1),
            Choice("pickpg", intake.on_pick_page, ALL_ROLES, 1),
        ):
            self.register_choice(choice)
        self.states["return_reason"] = review.return_with_reason
        board_views.register(self)
        extensions.register(self)
        assign.register(self)
        workflows.register(self)
        self.register(self.commands.pop("help"))  # keep /help last in the menu

    def register(self, command: Command) -> None:
        self.commands[command.name] = command

    def register_choice(self, choice: Choice) -> None:
        self.choices[choice.prefix] = choice

    def menu(self, role: Role) -> list[Command]:
        """The commands a role may use, in the order they were registered."""
        return [c for c in self.commands.values() if role in c.roles]

    async def handle(self, incoming: Incoming) -> list[Reply]:
        """The replies to ``incoming``, handled in one unit of work, exactly once per update.

        The writes every update makes (the claim in the update log, the identity's last use) come
        last: on SQLite the first write takes the database's one write lock until the commit, and
        a file is checked (in the sandbox, up to its CPU limit) before anything else is written;
        taking the lock first would make every other chat wait for that check."""
        now = self.ctx.clock.now()
        sender = incoming.sender
        try:
            async with self.ctx.db.session() as session:
                if incoming.update_id is not None and await update_handled(
                        session, channel=sender.channel, update_id=incoming.update_id):
                    return []  # handled before (a replay, or a restart after the handling committed)
                person = await person_by_identity(session, sender.channel, sender.user_id)
                replies = await self._replies(incoming, session, person, now)
                if incoming.update_id is not None and not await claim_update(
                        session, channel=sender.channel, update_id=incoming.update_id, now=now):
                    raise _HandledMeanwhile  # a replay handled at the same time won: undo ours
                if person is not None:
                    await touch_identity(session, channel=sender.channel, external_id=sender.user_id, now=now)
                    await release_held(session, person)  # they write to us again: held messages go out
                return replies
        except _HandledMeanwhile:
            return []

    async def _replies(self, incoming: Incoming, session: AsyncSession, person: Person | None,
                       now: datetime) -> list[Reply]:
        if incoming.command == "start":
            replies = await onboarding.start(incoming, session, person, now)
            if replies is not None:
                return replies
        if person is None:
            return [Reply(m.NOT_REGISTERED)]
        unit = await session.get(Unit, person.unit_id) if person.unit_id else None
        request = Request(incoming, session, person, unit, self.ctx, now)
        return await self._route(request)

    async def _route(self, request: Request) -> list[Reply]:
        incoming = request.incoming
        if incoming.choice is not None:
            return await self._choice(request, incoming.choice)
        if incoming.file is not None:
            return (await workflows.maybe_file(request) or await assign.maybe_letter_file(request)
                    or await intake.on_file(request))
        if incoming.unsupported:
            return await intake.on_unsupported(request)
        state = await get_state(request.session, request.person.id, request.now)
        if incoming.command is not None:
            # Any command ends a step that waited for text (a reason, a date, a letter …), and says so:
            # the next plain message must not be taken for what that step wanted.
            before = []
            restarts = any(state.kind.startswith(prefix) and incoming.command == owner
                           for prefix, owner in STEP_OWNERS.items()) if state is not None else False
            if state is not None and state.kind != "idle" and not restarts:
                before = [Reply(m.step_cancelled(state.kind))]  # before clearing: it resets the same row
                await clear_state(request.session, request.person.id, now=request.now)
            return _with_notice(before, await self._command(request), incoming.sender.channel)
        if state is not None and state.kind in self.states:
            return await self.states[state.kind](request, state.data)
        return (await workflows.maybe_text(request) or await intake.on_reminder_reply(request)
                or [Reply(m.PLAIN_TEXT_HINT)])

    async def _command(self, request: Request) -> list[Reply]:
        name = request.incoming.command
        if name == "start":
            return await self._help(request)
        command = self.commands.get(name)
        if command is None:
            return [Reply(m.unknown_command(name))]
        if request.role not in command.roles:
            return [Reply(m.FORBIDDEN)]
        return await command.handler(request)

    async def _choice(self, request: Request, data: str) -> list[Reply]:
        prefix, *raw = data.split(":")
        choice = self.choices.get(prefix)
        if choice is None or len(raw) != choice.arity or not all(part.isdigit() for part in raw):
            return [Reply(m.UNKNOWN_CHOICE)]
        if request.role not in choice.roles:
            return [Reply(m.FORBIDDEN)]
        return await choice.handler(request, *(int(part) for part in raw))

    async def _help(self, request: Request) -> list[Reply]:
        lines = [f"/{c.name} — {c.summary}" for c in self.menu(request.role)]
        return [Reply(m.help_text(request.person.name, request.role, request.unit, lines))]


def _with_notice(notices: list[Reply], replies: list[Reply], channel: str) -> list[Reply]:
    """A short notice goes at the top of the first reply when it still fits there (a list stays one
    message), otherwise as a message of its own before it."""
    if not notices or not replies:
        return notices + replies
    [notice] = notices
    first = replace(replies[0], text=f"{notice.text}\n\n{replies[0].text}")
    return [first, *replies[1:]] if fits(first, limits_for(channel)) else notices + replies
