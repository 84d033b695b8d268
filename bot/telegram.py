"""The Telegram channel (aiogram 3): updates → neutral ``Incoming``; neutral ``Reply`` → Bot API calls.

Long polling by default; webhook mode when ``WEBHOOK_URL`` is set, with Telegram's secret-token header
checked by aiogram's ``SimpleRequestHandler`` (a request without it is refused). ``TELEGRAM_API_BASE``
points the bot at another Bot API server (a local one, or the tests' fake).
"""

from __future__ import annotations

import asyncio
import io
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from sqlmodel import col, select

from bot.sender import DeliveryError, PermanentFailure, RateLimiter, RetryLater, Unreachable, backoff
from handlers import chat
from handlers.chat import FileTooLarge, Incoming, IncomingFile, OutFile, Reply, Sender
from handlers.conversation import Conversation
from storage.blobs import PlatformFiles
from storage.db import Database
from storage.models import ChannelIdentity, Person, Role

log = logging.getLogger(__name__)

CHANNEL = "telegram"
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
STAFF_ROLES = (Role.coordinator.value, Role.leader.value, Role.admin.value)


def make_bot(token: str, api_base: str | None = None) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base.rstrip("/"))) if api_base else AiohttpSession()
    return Bot(token, session=session)


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cut a long text at line breaks into Telegram-sized parts."""
    return chat.split_text(text, limit)


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=b.label, callback_data=b.choice) for b in row] for row in reply.buttons])



@dataclass(frozen=True)
class Part:
    """One Bot API call of a reply: a text, or a photo or document with its caption."""

    kind: str
    """"message", "photo" or "document"."""
    text: str | None
    file: OutFile | None = None
    markup: InlineKeyboardMarkup | None = None


def parts_of(reply: Reply) -> list[Part]:
    """A neutral reply as Bot API calls, in order: files first (the last one with the caption and the buttons
    when the text fits a caption), else the text cut into Telegram-sized parts, buttons on the last."""
    markup = keyboard(reply)
    files = [(kind, item) for kind, item in (("photo", reply.image), ("document", reply.document)) if item is not None]
    caption = reply.text if files and len(reply.text) <= CAPTION_LIMIT else None
    parts = []
    for index, (kind, item) in enumerate(files):
        last_file = index == len(files) - 1
        parts.append(Part(kind, caption if last_file else None, item, markup if last_file and caption else None))
    if caption is None:
        texts = split_text(reply.text)
        parts += [Part("message", text, None, markup if index == len(texts) - 1 else None)
                  for index, text in enumerate(texts)]
    return parts


async def send_part(bot: Bot, chat_id: int | str, part: Part, file_ids: PlatformFiles | None = None) -> int:
    """One Bot API call. A file with a blob key is uploaded once; with ``file_ids`` its Telegram ``file_id``
    is remembered and later sends of the same blob go by that id."""
    if part.kind == "message":
        message = await bot.send_message(chat_id=chat_id, text=part.text, reply_markup=part.markup)
        return message.message_id
    send = bot.send_photo if part.kind == "photo" else bot.send_document
    extra = {"caption": part.text, "reply_markup": part.markup}
    known = await file_ids.get(part.file.key) if file_ids is not None and part.file.key else None
    if known is not None:  # uploaded once already: Telegram re-sends it by its file_id
        try:
            return (await send(chat_id=chat_id, **extra, **{part.kind: known})).message_id
        except TelegramBadRequest as exc:
            log.info("file_id %s refused, uploading again: %s", known, exc)
    upload = BufferedInputFile(part.file.data, filename=part.file.name)
    message = await send(chat_id=chat_id, **extra, **{part.kind: upload})
    uploaded = message.photo[-1].file_id if part.kind == "photo" and message.photo else (
        message.document.file_id if part.kind == "document" and message.document else None)
    if file_ids is not None and part.file.key and uploaded:
        await file_ids.put(part.file.key, uploaded)
    return message.message_id


NETWORK_RETRIES = 3


async def send_reply(bot: Bot, chat_id: int | str, reply: Reply, *, edit_message: Message | None = None,
                     limiter: RateLimiter | None = None, patient: bool = True,
                     sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                     file_ids: PlatformFiles | None = None) -> int | None:
    """A direct reply, part by part through the shared rate limiter (a long reply is paced, not cut off);
    a part that gets a 429 waits ``retry_after`` and goes again, never dropped. Returns the id of the
    last message sent (the one with the buttons). ``patient=False``: a 429 before anything went is raised
    (the caller reschedules); once a part has gone, the rest waits anyway (else it would go twice)."""
    limiter = limiter or RateLimiter()
    key = str(chat_id)
    sent_any = False

    async def call(send):
        failures = 0
        while True:
            await limiter.acquire(key, sleep)
            try:
                return await send()
            except TelegramRetryAfter as exc:
                if not patient and not sent_any:
                    raise
                log.info("direct reply to %s rate limited, retrying in %s s", chat_id, exc.retry_after)
                limiter.pause(key, exc.retry_after)
            except (TelegramNetworkError, TelegramServerError) as exc:
                failures += 1
                if failures > NETWORK_RETRIES:
                    raise
                log.warning("direct reply to %s failed (%s), retrying", chat_id, exc)
                await sleep(backoff(failures).total_seconds())

    if reply.edit and edit_message is not None and len(reply.text) <= MESSAGE_LIMIT and not reply.document:
        try:
            await call(lambda: bot.edit_message_text(text=reply.text, chat_id=chat_id,
                                                     message_id=edit_message.message_id, reply_markup=keyboard(reply)))
            return edit_message.message_id
        except TelegramBadRequest as exc:  # not modified, too old to edit …: send it as a new message
            log.info("edit failed, sending instead: %s", exc)
    last: int | None = None
    for part in parts_of(reply):
        last = await call(lambda part=part: send_part(bot, chat_id, part, file_ids))
        sent_any = True
    return last


class TelegramTransport:
    """The sender's way out to Telegram, part by part: Bot API errors become the sender's delivery errors."""

    channel = CHANNEL

    def __init__(self, bot: Bot, file_ids: PlatformFiles | None = None) -> None:
        self.bot = bot
        self.file_ids = file_ids

    def parts(self, reply: Reply) -> list[Part]:
        return parts_of(reply)

    async def deliver_part(self, chat_id: str, part: Part) -> str | None:
        try:
            message_id = await send_part(self.bot, int(chat_id), part, self.file_ids)
        except TelegramRetryAfter as exc:
            raise RetryLater(exc.retry_after) from exc
        except TelegramForbiddenError as exc:
            raise Unreachable(exc.message) from exc
        except TelegramBadRequest as exc:
            if "chat not found" in exc.message.lower() or "user is deactivated" in exc.message.lower():
                raise Unreachable(exc.message) from exc
            raise PermanentFailure(exc.message) from exc
        except (TelegramNetworkError, TelegramServerError) as exc:
            raise DeliveryError(str(exc)) from exc
        return str(message_id)

    async def deliver(self, chat_id: str, reply: Reply) -> str | None:
        """All parts at once (unpaced; the sender goes part by part through ``parts``/``deliver_part``)."""
        last = None
        for part in parts_of(reply):
            last = await self.deliver_part(chat_id, part)
        return last


class TelegramChannel:
    """Wires aiogram's dispatcher to the conversation."""

    def __init__(self, bot: Bot, conversation: Conversation, db: Database,
                 on_outbox: Callable[[], None] | None = None, limiter: RateLimiter | None = None) -> None:
        self.bot = bot
        self.limiter = limiter or RateLimiter()  # shared with the outbox sender (``run_telegram``)
        self.conversation = conversation
        self.db = db
        self.on_outbox = on_outbox or (lambda: None)
        self._chat_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self.dispatcher = Dispatcher()
        router = Router(name="dondoc")
        router.message.register(self.on_message)
        router.callback_query.register(self.on_callback, F.data)
        self.dispatcher.include_router(router)

    # --- updates → conversation -----------------------------------------------------------------

    @staticmethod
    def sender(user, chat_id: int) -> Sender:
        name = " ".join(part for part in (user.first_name, user.last_name) if part)
        return Sender(channel=CHANNEL, user_id=str(user.id), chat_id=str(chat_id), name=name or None,
                      username=user.username)

    def incoming(self, message: Message) -> Incoming:
        sender = self.sender(message.from_user, message.chat.id)
        reply_to = str(message.reply_to_message.message_id) if message.reply_to_message else None
        extra = {"reply_to": reply_to, "message_id": str(message.message_id)}
        upload = message.document or (message.photo[-1] if message.photo else None)
        if upload is not None:
            file_name = getattr(upload, "file_name", None) or "anh.jpg"
            mime = getattr(upload, "mime_type", None) or ("image/jpeg" if message.photo else None)
            file = IncomingFile(file_name=file_name, size=upload.file_size, mime_type=mime,
                                fetch=lambda: self.fetch(upload.file_id), ref=upload.file_id)
            return Incoming(sender=sender, text=message.caption or "", file=file, **extra)
        return Incoming.from_text(sender, message.text or message.caption or "", **extra)

    async def fetch(self, file_id: str) -> bytes:
        try:
            info = await self.bot.get_file(file_id)
        except TelegramBadRequest as exc:
            if "too big" in exc.message.lower():
                raise FileTooLarge(exc.message) from exc
            raise
        buffer = io.BytesIO()
        await self.bot.download_file(info.file_path, destination=buffer)
        return buffer.getvalue()

    async def fetch_ref(self, channel: str, ref: str) -> bytes:
        if channel != CHANNEL:
            raise ValueError(f"cannot fetch a {channel} file from Telegram")
        return await self.fetch(ref)

    def chat_lock(self, chat_id: int) -> asyncio.Lock:
        """aiogram handles updates concurrently; one chat's messages are handled in order."""
        lock = self._chat_locks.get(chat_id)
        if lock is None:
            lock = self._chat_locks[chat_id] = asyncio.Lock()
        return lock

    async def on_message(self, message: Message) -> None:
        if message.from_user is None or message.chat.type != "private":
            return
        incoming = self.incoming(message)
        async with self.chat_lock(message.chat.id):
            replies = await self.conversation.handle(incoming)
            for reply in replies:
                await send_reply(self.bot, message.chat.id, reply, limiter=self.limiter)
        if incoming.command == "start":
            await self.refresh_commands(str(message.from_user.id))
        self.on_outbox()

    async def on_callback(self, query: CallbackQuery) -> None:
        chat_id = query.message.chat.id if query.message else query.from_user.id
        incoming = Incoming(sender=self.sender(query.from_user, chat_id), choice=query.data)
        async with self.chat_lock(chat_id):
            replies = await self.conversation.handle(incoming)
            try:
                await query.answer()
            except TelegramBadRequest as exc:  # too old, or answered already: the replies still go out
                log.info("cannot answer callback %s: %s", query.id, exc)
            message = query.message if isinstance(query.message, Message) else None
            for reply in replies:
                await send_reply(self.bot, chat_id, reply, edit_message=message, limiter=self.limiter)
        self.on_outbox()

    # --- the command menu ----------------------------------------------------------------------

    def commands_for(self, role: Role) -> list[BotCommand]:
        return [BotCommand(command=c.name, description=c.summary[:256]) for c in self.conversation.menu(role)]

    async def set_default_commands(self) -> None:
        await self.bot.set_my_commands(self.commands_for(Role.officer), scope=BotCommandScopeDefault(),
                                       language_code=None)

    async def refresh_commands(self, external_id: str | None = None) -> None:
        """Coordinators and leaders get the larger menu in their own chat."""
        async with self.db.session() as session:
            query = (select(ChannelIdentity, Person).join(Person, Person.id == ChannelIdentity.person_id)
                     .where(ChannelIdentity.channel == CHANNEL, col(Person.role).in_(STAFF_ROLES),
                            Person.active == True))  # noqa: E712
            if external_id is not None:
                query = query.where(ChannelIdentity.external_id == external_id)
            rows = (await session.exec(query)).all()
        for identity, person in rows:
            try:
                await self.bot.set_my_commands(self.commands_for(Role(person.role)),
                                               scope=BotCommandScopeChat(chat_id=int(identity.chat_id)))
            except (TelegramBadRequest, TelegramForbiddenError) as exc:
                log.warning("cannot set the menu for chat %s: %s", identity.chat_id, exc)

