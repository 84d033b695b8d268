"""The Zalo Bot Platform channel: a thin client on aiohttp, updates → neutral ``Incoming``, replies → calls.

What the platform really does (``../shared/ZALO.md``): errors come back as ``{"ok": false,
"error_code", "description"}`` often with HTTP 200, so every answer's ``ok`` is read whatever the
status; ``getUpdates`` takes only ``timeout``, returns ONE update and answers error 408 when nothing
came (an empty poll, not a failure); there is no offset, and a read update may be delivered again,
so each update is written to ``InboundUpdate`` under its ``message_id`` before it is handled and
marked handled in the same transaction as its handling: a replay is ignored and an update received
just before a crash is handled after the restart, exactly once. There are no buttons (numbered
choices, ``bot.numbered``), no files in either direction (signed links to the bot's own web page),
and texts are at most 2,000 characters (split on line breaks).

The token is part of every URL: it never appears in a log line or an exception text from here.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web
from sqlmodel import select

from bot.numbered import NumberedChoices, render
from bot.sender import DeliveryError, PermanentFailure, RetryLater, Unreachable
from handlers import messages as m
from handlers.chat import Button, Incoming, OutFile, Reply, Sender, limits_for, split_text
from handlers.conversation import Conversation
from handlers.links import LinkIssuer
from handlers.notify import notify_roles
from schedules.clock import Clock
from storage.channels import claim_quota_warning, claim_update, count_sent, record_update, unhandled_updates
from storage.db import Database
from storage.models import ChannelIdentity, Role
from storage.queries import person_by_identity

log = logging.getLogger(__name__)

CHANNEL = "zalo"
API_BASE = "https://bot-api.zaloplatforms.com"
TEXT_LIMIT = limits_for(CHANNEL).text  # 2,000: replies are paged to it; longer notices are split
POLL_TIMEOUT_S = 30
SECRET_HEADER = "X-Bot-Api-Secret-Token"
INVITE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{7,31}")
QUOTA_WARN_SHARE = 0.8


class ZaloApiError(Exception):
    """An answer with ``ok: false`` (whatever its HTTP status), or one that is not the platform's JSON."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(f"Zalo error {code}: {description}")
        self.code = code
        self.description = description


class ZaloClient:
    """``POST {api_base}/bot{token}/{method}`` with a JSON body; returns ``result`` or raises."""

    def __init__(self, token: str, api_base: str | None = None, *, request_timeout_s: float = 20.0) -> None:
        self._token = token
        self.api_base = (api_base or API_BASE).rstrip("/")
        self.request_timeout_s = request_timeout_s
        self._session: aiohttp.ClientSession | None = None

    def redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(self, method: str, payload: dict[str, Any] | None = None, *,
                   wait_s: float = 0.0) -> Any:
        """Call one method. Network trouble and timeouts raise ``DeliveryError`` (token-free text)."""
        url = f"{self.api_base}/bot{self._token}/{method}"
        timeout = aiohttp.ClientTimeout(total=self.request_timeout_s + wait_s)
        try:
            async with self.session.post(url, json=payload or {}, timeout=timeout) as response:
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
        except asyncio.TimeoutError as exc:
            raise DeliveryError(f"Zalo {method}: no answer in time") from None
        except aiohttp.ClientError as exc:
            raise DeliveryError(f"Zalo {method}: {self.redact(type(exc).__name__ + ': ' + str(exc))}") from None
        if not isinstance(body, dict):
            raise ZaloApiError(status if status >= 400 else 502, f"HTTP {status}, not the platform's JSON")
        if body.get("ok") is True:
            return body.get("result")
        try:
            code = int(body.get("error_code") or status)
        except (TypeError, ValueError):
            code = status
        raise ZaloApiError(code, self.redact(str(body.get("description") or "")))

    async def get_me(self) -> dict[str, Any]:
        return await self.call("getMe")

    async def get_update(self, timeout_s: int = POLL_TIMEOUT_S) -> dict[str, Any] | None:
        """One update, or None after an empty poll (error 408)."""
        try:
            result = await self.call("getUpdates", {"timeout": str(timeout_s)}, wait_s=timeout_s)
        except ZaloApiError as exc:
            if exc.code == 408:
                return None
            raise
        if isinstance(result, list):  # tolerate a list-shaped answer
            return result[0] if result else None
        return result or None

    async def send_message(self, chat_id: str, text: str) -> dict[str, Any]:
        return await self.call("sendMessage", {"chat_id": chat_id, "text": text})

    async def send_photo(self, chat_id: str, photo_url: str, caption: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"chat_id": chat_id, "photo": photo_url}
        if caption:
            payload["caption"] = caption
        return await self.call("sendPhoto", payload)

    async def set_webhook(self, url: str, secret_token: str) -> Any:
        return await self.call("setWebhook", {"url": url, "secret_token": secret_token})

    async def delete_webhook(self) -> Any:
        return await self.call("deleteWebhook")


def delivery_error(exc: ZaloApiError) -> DeliveryError:
    """The sender's outcome for a Zalo error: retry later, unreachable, or refused for good."""
    text = exc.description.lower()
    if exc.code == 429:
        return RetryLater(5.0, f"Zalo 429: {exc.description}")
    if exc.code == 403 or any(word in text for word in ("block", "not found user", "user not found",
                                                         "not interact", "chat not found")):
        return Unreachable(f"Zalo {exc.code}: {exc.description}")
    if exc.code in (400, 404, 413, 414):
        return PermanentFailure(f"Zalo {exc.code}: {exc.description}")
    return DeliveryError(f"Zalo {exc.code}: {exc.description}")  # 401, 5xx, anything else: try again later


LINK_ROOM = 250
"""Characters kept free in a message for one file's download line."""


@dataclass(frozen=True)
class ZaloPart:
    """One Zalo call of a reply: its picture, or a piece of its text (the last with the files' links)."""

    kind: str
    """"photo" or "text"."""
    text: str
    files: tuple[OutFile, ...] = ()
    choices: tuple[Button, ...] = ()
    """Remembered as the chat's numbered choices when this part goes (an outbox message's last part)."""


class ZaloOut:
    """Turns neutral replies into Zalo calls for one chat: numbered choices, 2,000-character parts, files
    as signed download links (the chart also through ``sendPhoto`` with such a link), monthly count."""

    def __init__(self, client: ZaloClient, db: Database, clock: Clock, tz: ZoneInfo, *,
                 links: Callable[[], LinkIssuer | None] = lambda: None, monthly_quota: int | None = None) -> None:
        self.client = client
        self.db = db
        self.clock = clock
        self.tz = tz
        self.links = links
        self.monthly_quota = monthly_quota
        self.numbered = NumberedChoices(db, CHANNEL)

    async def send(self, chat_id: str, replies: list[Reply], *, turn: bool) -> str | None:
        """Send replies (the answer to a ``turn``, or one outbox message); returns the last message id."""
        last: str | None = None
        for reply in await self.numbered.show(chat_id, replies, self.clock.now(), turn=turn):
            for part in self.parts_of(reply):
                last = await self.send_part(chat_id, part) or last
        return last

    @staticmethod
    def parts_of(rendered: Reply) -> list[ZaloPart]:
        """A reply whose choices are already written into its text, as Zalo calls in order: the picture
        (``sendPhoto`` by a download link), then the text in 2,000-character parts, the last one with the
        download links of the files (room kept for them)."""
        parts = [ZaloPart("photo", "", (rendered.image,))] if rendered.image is not None else []
        files = tuple(item for item in (rendered.image, rendered.document) if item is not None)
        texts = split_text(rendered.text.strip() or "…", TEXT_LIMIT - LINK_ROOM * len(files))
        parts += [ZaloPart("text", text) for text in texts]
        parts[-1] = replace(parts[-1], files=files)
        return parts

    async def send_part(self, chat_id: str, part: ZaloPart) -> str | None:
        if part.kind == "photo":
            [image] = part.files
            url = await self._link(chat_id, image.name, image.mime_type, image.data)
            return await self._call(self.client.send_photo(chat_id, url)) if url else None
        text = part.text
        for item in part.files:
            url = await self._link(chat_id, item.name, item.mime_type, item.data)
            if url is None:
                text += f"\n\n📎 {item.name}: tệp này chưa gửi được qua Zalo (máy chủ chưa bật trang web)."
            else:
                text += f"\n\n📎 Tải {item.name}: {url}\n(đường dẫn dùng riêng cho bạn, có thời hạn)"
        return await self._call(self.client.send_message(chat_id, text))

    async def _call(self, call: Awaitable[Any]) -> str | None:
        try:
            result = await call
        except ZaloApiError as exc:
            raise delivery_error(exc) from None
        await self._count()
        return str(result.get("message_id")) if isinstance(result, dict) and result.get("message_id") else None

    async def _link(self, chat_id: str, name: str, mime_type: str, data: bytes) -> str | None:
        links = self.links()
        if links is None:
            return None
        async with self.db.session() as session:
            identity = (await session.exec(
                select(ChannelIdentity).where(ChannelIdentity.channel == CHANNEL,
                                              ChannelIdentity.chat_id == chat_id))).first()
            if identity is None:
                return None
            return await links.download_link(session, identity.person_id, name, mime_type, data, self.clock.now())

    async def _count(self) -> None:
        now = self.clock.now()
        month = now.astimezone(self.tz).strftime("%Y-%m")
        async with self.db.session() as session:
            sent = await count_sent(session, channel=CHANNEL, month=month)
            quota = self.monthly_quota
            if quota and sent >= QUOTA_WARN_SHARE * quota and await claim_quota_warning(
                    session, channel=CHANNEL, month=month, now=now):
                await notify_roles(session, [Role.admin, Role.coordinator], Reply(m.zalo_quota_warning(sent, quota)),
                                   key=f"quota:{CHANNEL}:{month}", now=now, kind="notice")


class ZaloTransport:
    """The sender's way out to Zalo (reminders and notices from the outbox), part by part: the sender
    records the parts Zalo accepted, so a retry resumes at the part that failed."""

    channel = CHANNEL

    def __init__(self, out: ZaloOut) -> None:
        self.out = out

    def parts(self, reply: Reply) -> list[ZaloPart]:
        [rendered], buttons = render([reply])
        parts = self.out.parts_of(rendered)
        parts[-1] = replace(parts[-1], choices=tuple(buttons))
        return parts

    async def deliver_part(self, chat_id: str, part: ZaloPart) -> str | None:
        sent = await self.out.send_part(chat_id, part)
        if part.choices:  # the message that shows them went: typing their numbers now presses them
            await self.out.numbered.remember(chat_id, part.choices, self.out.clock.now())
        return sent

    async def deliver(self, chat_id: str, reply: Reply) -> str | None:
        last = None
        for part in self.parts(reply):
            last = await self.deliver_part(chat_id, part) or last
        return last


class ZaloChannel:
    """Receives Zalo updates (long polling or webhook) and answers through the same conversation."""

    def __init__(self, client: ZaloClient, conversation: Conversation, db: Database, clock: Clock, out: ZaloOut, *,
                 on_outbox: Callable[[], None] | None = None) -> None:
        self.client = client
        self.conversation = conversation
        self.db = db
        self.clock = clock
        self.out = out
        self.on_outbox = on_outbox or (lambda: None)
        self.tasks: set[asyncio.Task] = set()
        self._chat_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # --- receiving -----------------------------------------------------------------------------

    async def receive(self, update: dict[str, Any]) -> bool:
        """Log an update once and handle it in the background; False for a replay or a malformed update."""
        message = update.get("message") if isinstance(update, dict) else None
        if not isinstance(message, dict) or not message.get("message_id") or not isinstance(message.get("chat"), dict):
            log.warning("Zalo update without a message id or chat, ignored: %s", str(update)[:200])
            return False
        async with self.db.session() as session:
            new = await record_update(session, channel=CHANNEL, update_id=str(message["message_id"]),
                                      payload=update, now=self.clock.now())
        if not new:
            log.info("Zalo update %s received again, ignored", message["message_id"])
            return False
        self._spawn(self.handle(update))
        return True

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def idle(self) -> None:
        """Wait until every update received so far has been handled (tests, shutdown)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def catch_up(self) -> int:
        """Handle updates logged but not handled before the last stop."""
        async with self.db.session() as session:
            pending = await unhandled_updates(session, CHANNEL)
        for row in pending:
            self._spawn(self.handle(row.payload))
        await self.idle()
        return len(pending)

    def chat_lock(self, chat_id: str) -> asyncio.Lock:
        lock = self._chat_locks.get(chat_id)
        if lock is None:
            lock = self._chat_locks[chat_id] = asyncio.Lock()
        return lock

    async def incoming(self, update: dict[str, Any]) -> Incoming:
        message = update["message"]
        sender_info = message.get("from") or {}
        chat_id = str(message["chat"].get("id") or sender_info.get("id"))
        sender = Sender(channel=CHANNEL, user_id=str(sender_info.get("id") or chat_id), chat_id=chat_id,
                        name=sender_info.get("display_name") or None)
        extra = {"message_id": str(message["message_id"]), "update_id": str(message["message_id"])}
        event = str(update.get("event_name") or "")
        if event in ("message.unsupported.received", "message.image.received"):
            return Incoming(sender=sender, text=str(message.get("caption") or ""), unsupported=True, **extra)
        text = message.get("text") if isinstance(message.get("text"), str) else ""
        stripped = text.strip()
        if INVITE_CODE.fullmatch(stripped) and not stripped.isdigit():  # the invite code sent as plain text
            async with self.db.session() as session:
                known = await person_by_identity(session, CHANNEL, sender.user_id)
            if known is None:
                return Incoming.from_text(sender, f"/start {stripped}", **extra)
        return await self.out.numbered.incoming(sender, text, self.clock.now(), **extra)

    async def handle(self, update: dict[str, Any]) -> None:
        incoming = await self.incoming(update)
        chat_id = incoming.sender.chat_id
        async with self.chat_lock(chat_id):
            try:
                replies = await self.conversation.handle(incoming)
            except Exception:
                log.exception("handling Zalo update %s failed", incoming.update_id)
                async with self.db.session() as session:  # never retried forever: it is marked handled
                    await claim_update(session, channel=CHANNEL, update_id=incoming.update_id or "",
                                       now=self.clock.now())
                replies = [Reply(m.INTERNAL_ERROR)]
            if replies:
                try:
                    await self.out.send(chat_id, replies, turn=True)
                except DeliveryError as exc:
                    log.warning("cannot answer Zalo chat %s: %s", chat_id, exc)
        self.on_outbox()

    # --- long polling --------------------------------------------------------------------------

    async def poll(self, stop: asyncio.Event, *, timeout_s: int = POLL_TIMEOUT_S,
                   sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Poll until ``stop``; errors back off (1 s doubling to 60 s), an empty poll just polls again."""
        await self.catch_up()
        failures = 0
        while not stop.is_set():
            poll = asyncio.ensure_future(self.client.get_update(timeout_s))
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait([poll, stopping], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not poll.done():
                poll.cancel()
                break
            try:
                update = poll.result()
            except (ZaloApiError, DeliveryError) as exc:
                failures += 1
                log.warning("Zalo getUpdates failed (%s); retrying", exc)
                await sleep(min(60.0, 2.0 ** (failures - 1)))
                continue
            failures = 0
            if update is not None:
                await self.receive(update)
        await self.idle()

    # --- webhook -------------------------------------------------------------------------------

    def webhook_handler(self, secret: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        """An aiohttp handler for Zalo's webhook deliveries: the secret header compared in constant time,
        flat and ``{ok, result}``-wrapped bodies both accepted; answers at once, handles in the background."""
        expected = secret.encode()

        async def handler(request: web.Request) -> web.Response:
            given = request.headers.get(SECRET_HEADER, "").encode()
            if not hmac.compare_digest(given, expected):
                return web.json_response({"ok": False, "error_code": 403, "description": "Forbidden"}, status=403)
            try:
                body = await request.json()
            except ValueError:
                return web.json_response({"ok": False, "error_code": 400, "description": "Bad JSON"}, status=400)
            if isinstance(body, dict) and "result" in body and "event_name" not in body:
                body = body["result"]
            await self.receive(body)
            return web.json_response({"ok": True})

        return handler
