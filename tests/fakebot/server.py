"""A local fake of the Telegram Bot API, for end-to-end tests and benchmarks.

The fake is an ``aiohttp.web`` server on ``127.0.0.1`` with an ephemeral port. It speaks the real
Bot API's wire format (``POST /bot{token}/{method}``, answers ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code": ..., "description": ..., "parameters": {...}}`` with the HTTP status
equal to ``error_code``; files are downloaded from ``GET /file/bot{token}/{file_path}``), so the
real aiogram ``Bot`` and ``Dispatcher`` (long polling) run against it unchanged::

    fake = FakeBotApi()
    await fake.start()
    bot = fake.make_bot()   # == Bot(fake.token, session=AiohttpSession(api=fake.api_server))
    alice = fake.user(1001, "Alice")
    alice.send_command("/start ABC")            # queued for getUpdates
    [reply] = await fake.wait_for_sent(chat_id=alice.id)
    alice.press(reply, "accept")                # a callback_query on an inline button
    ...
    await bot.session.close()
    await fake.close()

Arguments are accepted as a JSON body, an urlencoded form or ``multipart/form-data`` (aiogram 3's
``AiohttpSession`` sends urlencoded forms, or multipart when a file is attached; every value is a
string, and complex values such as ``reply_markup`` are JSON-encoded strings). Method names are
case-insensitive, as in Telegram.

What the bot sent is kept in :attr:`FakeBotApi.sent`, an append-only history of
:class:`SentMessage` entries: one per message sent (``sendMessage``, ``sendDocument``,
``sendPhoto``) and one per edit (``editMessageText``, ``editMessageReplyMarkup``;
``kind == "edit"``, same ``message_id`` as the edited message). Entries are never changed
afterwards; the current state of a message (after edits) is :meth:`FakeBotApi.message`.

Strict by default, as Telegram is: rate limits (:class:`RateLimits`: about one message a second per
chat with a short burst, 30 a second overall, 20 a minute per group) answer 429 with ``retry_after``,
measured on the fake's own clock; sends to a chat whose user never wrote to the bot answer 400 "chat
not found"; an inline keyboard holds at most 100 buttons and about 10 KB of markup. The clock is
``time.monotonic`` plus a skew that user actions move on (a person needs about a second,
``user_pace``, to type or press), so tests never sleep to stay under the limits; :meth:`FakeBotApi.advance`
moves it further. ``FakeBotApi(rate_limits=None, strict_chats=False)`` is the lenient fake for tests
of the wire format. :meth:`FakeBotApi.fail_next` and :meth:`FakeBotApi.delay_next` inject faults;
:meth:`FakeUser.block_bot` makes sends to that chat answer 403.

Realism that catches bugs early (each answers ``400 Bad Request`` like Telegram does):
HTML ``parse_mode`` is parsed (unsupported tags such as ``<br>``, unbalanced tags or a bare ``<``
are rejected), texts over 4096 and captions over 1024 characters (Unicode code points of the visible
text after trimming, as Telegram counts), empty texts, ``callback_data`` over 64 bytes, over 100
buttons or 10 KB of inline keyboard, keyboard buttons without an action, invalid bot command names, editing a message
into the same content ("message is not modified"), replying to a missing message, answering a
callback query twice, ``getFile`` on a file over 20 MB ("file is too big").
"""

from __future__ import annotations

import asyncio
import copy
import html
import inspect
import itertools
import json
import math
import mimetypes
import os
import re
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

if TYPE_CHECKING:  # pragma: no cover
    from aiogram import Bot
    from aiogram.client.telegram import TelegramAPIServer

__all__ = [
    "ApiError",
    "FakeBotApi",
    "FakeUser",
    "RateLimits",
    "SentMessage",
    "StoredFile",
    "UploadedFile",
    "MAX_DOWNLOAD_SIZE",
]

T = TypeVar("T")

#: Telegram's cloud Bot API lets bots download files up to 20 MB with getFile.
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024
#: Bots may upload up to 50 MB (multipart); bigger requests answer 413.
MAX_UPLOAD_SIZE = 50 * 1024 * 1024
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
#: How long the test-side waits (``wait_for_sent``, ``next_message`` …) wait by default: a guard
#: against a hung run, not a measure of speed, so a loaded machine does not fail a correct test.
WAIT_GUARD_S = float(os.environ.get("FAKEBOT_WAIT_GUARD_S", "120"))
MAX_BUTTONS = 100
MAX_MARKUP_BYTES = 10 * 1024
MARKUP_TOO_LONG = "Bad Request: reply markup is too long"
CHAT_NOT_FOUND = "Bad Request: chat not found"

FORBIDDEN_BLOCKED = "Forbidden: bot was blocked by the user"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"

#: Update types Telegram delivers when ``allowed_updates`` was never given (or given as ``[]``).
DEFAULT_UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)

_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_HTML_TAGS = frozenset(
    "b strong i em u ins s strike del span tg-spoiler a tg-emoji code pre blockquote".split()
)
_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)(\s[^<>]*)?>")
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_SCOPE_TYPES = {
    "default": (),
    "all_private_chats": (),
    "all_group_chats": (),
    "all_chat_administrators": (),
    "chat": ("chat_id",),
    "chat_administrators": ("chat_id",),
    "chat_member": ("chat_id", "user_id"),
}


class ApiError(Exception):
    """An error answer of the Bot API (raised inside the fake, turned into a JSON reply)."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(f"{error_code} {description}")
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass(frozen=True)
class RateLimits:
    """Telegram's broadcast limits; ``None`` switches one limit off.

    A ``send*`` call that would exceed one answers 429 with ``parameters.retry_after`` (whole
    seconds, at least 1: when the limit lets the next message through). A chat (groups included)
    gets ``per_chat_burst`` messages at once, then ``per_chat_per_s`` a second (a token bucket);
    overall, at most ``global_per_s`` in any second; groups (chat id < 0) also at most
    ``per_group_per_min`` in any minute.
    """

    global_per_s: int | None = 30
    per_chat_per_s: float | None = 1
    per_chat_burst: int = 3
    per_group_per_min: int | None = 20


class _RateLimiter:
    def __init__(self, limits: RateLimits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self.clock = clock
        self._global: deque[float] = deque()
        self._buckets: dict[int, tuple[float, float]] = {}  # chat id -> (tokens, at)
        self._per_group: dict[int, deque[float]] = {}

    def _windows(self, chat_id: int) -> list[tuple[deque[float], int, float]]:
        windows: list[tuple[deque[float], int, float]] = []
        if self.limits.global_per_s is not None:
            windows.append((self._global, self.limits.global_per_s, 1.0))
        if chat_id < 0 and self.limits.per_group_per_min is not None:
            windows.append(
                (self._per_group.setdefault(chat_id, deque()), self.limits.per_group_per_min, 60.0)
            )
        return windows

    def _tokens(self, chat_id: int, now: float) -> float:
        rate, burst = self.limits.per_chat_per_s, max(1, self.limits.per_chat_burst)
        tokens, at = self._buckets.get(chat_id, (float(burst), now))
        return min(float(burst), tokens + max(0.0, now - at) * rate)  # type: ignore[operator]

    def retry_after(self, chat_id: int) -> int | None:
        """Seconds to wait if a send to ``chat_id`` now would exceed a limit, else ``None``."""
        now = self.clock()
        wait = 0.0
        for stamps, limit, window in self._windows(chat_id):
            while stamps and stamps[0] <= now - window:
                stamps.popleft()
            if len(stamps) >= limit:
                # The call that frees a slot is the one ``limit`` places back from the end.
                wait = max(wait, stamps[-limit] + window - now)
        if self.limits.per_chat_per_s is not None:
            tokens = self._tokens(chat_id, now)
            if tokens < 1.0:
                wait = max(wait, (1.0 - tokens) / self.limits.per_chat_per_s)
        if wait <= 1e-9:
            return None
        return max(1, math.ceil(wait - 1e-9))

    def record(self, chat_id: int) -> None:
        now = self.clock()
        for stamps, _limit, _window in self._windows(chat_id):
            stamps.append(now)
        if self.limits.per_chat_per_s is not None:
            self._buckets[chat_id] = (self._tokens(chat_id, now) - 1.0, now)


@dataclass
class UploadedFile:
    """A file part of a multipart request."""

    filename: str | None
    content_type: str | None
    data: bytes

    def __repr__(self) -> str:  # keep logs readable: no bytes dump
        return f"UploadedFile({self.filename!r}, {self.content_type!r}, {len(self.data)} bytes)"


@dataclass
class StoredFile:
    """A file known to the fake: sent by a user, or uploaded by the bot."""

    file_id: str
    file_unique_id: str
    data: bytes
    file_size: int
    file_name: str | None
    mime_type: str | None
    file_path: str

    def __repr__(self) -> str:
        return f"StoredFile({self.file_id!r}, {self.file_name!r}, {self.file_size} bytes)"


@dataclass
class SentMessage:
    """One entry of :attr:`FakeBotApi.sent`: a message the bot sent, or an edit it made.

    ``text`` is the text exactly as the bot sent it (markup included, for ``sendMessage`` and
    ``editMessageText``); ``caption`` likewise for media; :attr:`plain_text` is what the user
    sees (HTML parsed). ``message`` is a snapshot of the Message object answered to the bot.
    """

    method: str
    chat_id: int
    message_id: int
    text: str | None = None
    caption: str | None = None
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    reply_to_message_id: int | None = None
    document: bytes | None = None
    filename: str | None = None
    mime_type: str | None = None
    photo: bytes | None = None
    time: float = 0.0
    message: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def kind(self) -> str:
        """``"edit"`` for editMessage* entries, else ``"send"``."""
        return "edit" if self.method.startswith("edit") else "send"

    @property
    def is_edit(self) -> bool:
        return self.kind == "edit"

    @property
    def body(self) -> str | None:
        """The text, or the caption for media (as sent, markup included)."""
        return self.text if self.text is not None else self.caption

    @property
    def plain_text(self) -> str | None:
        """The text or caption as the user reads it (HTML tags removed, entities decoded)."""
        return self.message.get("text", self.message.get("caption"))

    @property
    def buttons(self) -> list[list[dict[str, Any]]]:
        """The inline keyboard rows (empty without one)."""
        markup = self.reply_markup or {}
        return [list(row) for row in markup.get("inline_keyboard", [])]

    @property
    def callback_data(self) -> list[str]:
        """Every ``callback_data`` of the inline keyboard, row by row."""
        return [b["callback_data"] for row in self.buttons for b in row if "callback_data" in b]

    def button(self, text: str) -> dict[str, Any]:
        """The first inline button whose label contains ``text``."""
        for row in self.buttons:
            for b in row:
                if text in b.get("text", ""):
                    return b
        raise LookupError(f"no inline button labelled {text!r} in {self.buttons!r}")

    def __str__(self) -> str:
        what = self.body if self.body is not None else ""
        if self.filename:
            what = f"[{self.filename}] {what}"
        return f"{self.method}(chat={self.chat_id}, id={self.message_id}): {what[:80]!r}"


@dataclass
class _Fault:
    error_code: int
    description: str
    retry_after: int | None
    count: int


@dataclass
class _Delay:
    seconds: float
    count: int
    after: bool


# Canonical spellings of the methods the fake implements, by lower-case name.
_METHOD_NAMES = [
    "getMe",
    "getUpdates",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "sendMessage",
    "sendDocument",
    "sendPhoto",
    "sendChatAction",
    "getFile",
    "editMessageText",
    "editMessageReplyMarkup",
    "deleteMessage",
    "answerCallbackQuery",
]
_METHODS = {name.lower(): name for name in _METHOD_NAMES}
_SEND_METHODS = frozenset({"sendMessage", "sendDocument", "sendPhoto"})


# --------------------------------------------------------------------------- argument helpers


def _present(params: dict[str, Any], key: str) -> bool:
    return params.get(key) not in (None, "")


def _int(params: dict[str, Any], key: str, default: int | None = None) -> int | None:
    if not _present(params, key):
        return default
    value = params[key]
    if isinstance(value, bool):
        raise ApiError(400, f"Bad Request: invalid {key} specified")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: invalid {key} specified") from None


def _required_int(params: dict[str, Any], key: str) -> int:
    value = _int(params, key)
    if value is None:
        raise ApiError(400, f"Bad Request: {key} is empty")
    return value


def _bool(params: dict[str, Any], key: str) -> bool:
    value = params.get(key)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _str(params: dict[str, Any], key: str) -> str | None:
    value = params.get(key)
    if value is None or isinstance(value, UploadedFile):
        return None
    return value if isinstance(value, str) else str(value)


def _json(params: dict[str, Any], key: str) -> Any:
    value = params.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError(400, f"Bad Request: can't parse {key} JSON object") from None
    return value


def _chat_id(params: dict[str, Any]) -> int:
    if not _present(params, "chat_id"):
        raise ApiError(400, "Bad Request: chat_id is empty")
    try:
        return int(params["chat_id"])
    except (TypeError, ValueError):
        # "@channelusername": the fake knows no public usernames.
        raise ApiError(400, "Bad Request: chat not found") from None


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _visible_len(text: str) -> int:
    """Telegram's length of a text or caption: Unicode code points, after trimming white space."""
    return len(text.strip())


def html_to_plain(text: str) -> str:
    """Parse Telegram-flavoured HTML like the Bot API does; return the visible text.

    Raises :class:`ApiError` (400 "can't parse entities") where Telegram would.
    """
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    while True:
        lt = text.find("<", pos)
        if lt < 0:
            out.append(text[pos:])
            break
        out.append(text[pos:lt])
        offset = len(text[:lt].encode("utf-8"))
        match = _TAG_RE.match(text, lt)
        if match is None:
            raise ApiError(
                400,
                "Bad Request: can't parse entities: Unsupported start tag \"\" at byte offset "
                f"{offset}",
            )
        closing, name, _attrs = match.groups()
        name = name.lower()
        if name not in _HTML_TAGS:
            which = "end" if closing else "start"
            raise ApiError(
                400,
                f'Bad Request: can\'t parse entities: Unsupported {which} tag "{name}" at byte '
                f"offset {offset}",
            )
        if closing:
            if not stack or stack[-1] != name:
                expected = f'"</{stack[-1]}>"' if stack else "nothing"
                raise ApiError(
                    400,
                    f"Bad Request: can't parse entities: Unmatched end tag at byte offset {offset},"
                    f' expected {expected}, found "</{name}>"',
                )
            stack.pop()
        else:
            stack.append(name)
        pos = match.end()
    if stack:
        raise ApiError(
            400,
            "Bad Request: can't parse entities: Can't find end tag corresponding to start tag "
            f'"{stack[-1]}"',
        )
    return html.unescape("".join(out))


def _render(text: str, parse_mode: str | None) -> str:
    if parse_mode and parse_mode.lower() == "html":
        return html_to_plain(text)
    return text  # Markdown / MarkdownV2 are recorded but not parsed


def _validate_markup(markup: Any) -> dict[str, Any] | None:
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    keyboard = markup.get("inline_keyboard")
    if keyboard is None:
        return markup  # ReplyKeyboardMarkup / ReplyKeyboardRemove / ForceReply: recorded as is
    if not isinstance(keyboard, list) or not all(isinstance(row, list) for row in keyboard):
        raise ApiError(
            400,
            "Bad Request: can't parse inline keyboard: "
            'field "inline_keyboard" must be an Array of Arrays',
        )
    if sum(len(row) for row in keyboard) > MAX_BUTTONS:
        raise ApiError(400, MARKUP_TOO_LONG)
    if len(json.dumps(markup, ensure_ascii=False, separators=(",", ":")).encode("utf-8")) > MAX_MARKUP_BYTES:
        raise ApiError(400, MARKUP_TOO_LONG)
    for row in keyboard:
        for button in row:
            if not isinstance(button, dict) or not button.get("text"):
                raise ApiError(
                    400, "Bad Request: can't parse inline keyboard button: Text must be non-empty"
                )
            actions = [key for key in _BUTTON_ACTIONS if key in button]
            if not actions:
                raise ApiError(
                    400,
                    "Bad Request: can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard",
                )
            data = button.get("callback_data")
            if data is not None and (
                not isinstance(data, str)
                or not data
                or len(data.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES
            ):
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _png_size(data: bytes) -> tuple[int, int]:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    return 0, 0


# --------------------------------------------------------------------------- the simulated user


class FakeUser:
    """A Telegram user talking to the bot in a private chat (chat id == user id).

    Every action queues an Update for ``getUpdates`` and returns the Message (or CallbackQuery)
    dict it carries. Sending anything while the bot is blocked unblocks it first, as Telegram's
    "Restart bot" does.
    """

    def __init__(
        self,
        api: FakeBotApi,
        user_id: int,
        first_name: str,
        *,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = "vi",
    ) -> None:
        if user_id <= 0:
            raise ValueError("user ids are positive")
        self.api = api
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.blocked = False
        #: Whether this user ever wrote to the bot (or pressed its button): before that, sends to
        #: their chat answer "chat not found" (``strict_chats``), as a bot cannot start a chat.
        self.has_written = False
        self._cursor = 0  # index into api.sent for next_message()

    @property
    def chat_id(self) -> int:
        return self.id

    def as_user(self) -> dict[str, Any]:
        """The Telegram ``User`` object."""
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    def as_chat(self) -> dict[str, Any]:
        """The Telegram ``Chat`` object of the private chat with the bot."""
        chat: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        return chat

    # -- messages

    def send_text(self, text: str, reply_to: int | dict | SentMessage | None = None) -> dict:
        """Send a text message (commands get a ``bot_command`` entity, as Telegram adds)."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            content["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _utf16_len(command)}
            ]
        return self._send(content, reply_to)

    def send_command(self, command: str, reply_to: int | dict | SentMessage | None = None) -> dict:
        """Send a command such as ``"/start ABC"`` (the leading slash may be left out)."""
        if not command.startswith("/"):
            command = "/" + command
        return self.send_text(command, reply_to=reply_to)

    def send_document(
        self,
        data: bytes,
        file_name: str,
        mime_type: str | None = "application/pdf",
        caption: str | None = None,
        reply_to: int | dict | SentMessage | None = None,
        *,
        file_size: int | None = None,
    ) -> dict:
        """Send a file. ``file_size`` overrides the declared size (e.g. to fake a 50 MB file
        without allocating it); getFile refuses files over 20 MB like Telegram."""
        stored = self.api.register_file(
            data, file_name=file_name, mime_type=mime_type, file_size=file_size
        )
        document: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "file_size": stored.file_size,
        }
        if mime_type:
            document["mime_type"] = mime_type
        content: dict[str, Any] = {"document": document}
        if caption is not None:
            content["caption"] = caption
        return self._send(content, reply_to)

    def send_photo(
        self,
        data: bytes,
        caption: str | None = None,
        reply_to: int | dict | SentMessage | None = None,
    ) -> dict:
        """Send a photo (one size)."""
        stored = self.api.register_file(
            data, file_name=None, mime_type="image/jpeg", folder="photos"
        )
        width, height = _png_size(data)
        content: dict[str, Any] = {"photo": [self.api._photo_size(stored, width, height)]}
        if caption is not None:
            content["caption"] = caption
        return self._send(content, reply_to)

    def _send(self, content: dict[str, Any], reply_to: int | dict | SentMessage | None) -> dict:
        if self.blocked:
            self.unblock_bot()
        self._act()
        message = self.api._new_message(
            self.id, sender=self.as_user(), content=content, reply_to=reply_to
        )
        self.api._enqueue({"message": message})
        return message

    # -- buttons

    def press(self, message: dict | SentMessage | int, callback_data: str) -> dict:
        """Press the inline button with ``callback_data`` on a bot message in this chat.

        The button must be on the message's current keyboard (after edits), else ``ValueError``.
        Returns the CallbackQuery dict; its ``id`` is what answerCallbackQuery must name.
        """
        message_id = self.api._message_id_of(message)
        current = self.api.message(self.id, message_id)
        if current is None:
            raise ValueError(f"no message {message_id} in chat {self.id}")
        keyboard = (current.get("reply_markup") or {}).get("inline_keyboard", [])
        offered = [b.get("callback_data") for row in keyboard for b in row]
        if callback_data not in offered:
            raise ValueError(
                f"message {message_id} in chat {self.id} has no button {callback_data!r}; "
                f"its buttons: {offered!r}"
            )
        if self.blocked:
            self.unblock_bot()
        self._act()
        query_id = str(next(self.api._query_ids))
        query = {
            "id": query_id,
            "from": self.as_user(),
            "message": copy.deepcopy(current),
            "chat_instance": f"ci{self.id}",
            "data": callback_data,
        }
        self.api._callback_queries[query_id] = None
        self.api._enqueue({"callback_query": query})
        return query

    def _act(self) -> None:
        """A person acts: they have written to the bot, and some time passed (see ``user_pace``)."""
        self.has_written = True
        self.api.advance(self.api.user_pace)

    # -- blocking

    def block_bot(self, *, notify: bool = True) -> None:
        """Block the bot: later sends to this chat answer 403. With ``notify``, the bot gets a
        ``my_chat_member`` update (member → kicked) as from Telegram."""
        if self.blocked:
            return
        self.blocked = True
        if notify:
            self.api._enqueue({"my_chat_member": self._member_change("member", "kicked")})

    def unblock_bot(self, *, notify: bool = True) -> None:
        if not self.blocked:
            return
        self.blocked = False
        if notify:
            self.api._enqueue({"my_chat_member": self._member_change("kicked", "member")})

    def _member_change(self, old: str, new: str) -> dict[str, Any]:
        bot = self.api.bot_user
        return {
            "chat": self.as_chat(),
            "from": self.as_user(),
            "date": int(self.api.wall_clock()),
            "old_chat_member": {"status": old, "user": bot}
            if old != "kicked"
            else {"status": "kicked", "user": bot, "until_date": 0},
            "new_chat_member": {"status": new, "user": bot}
            if new != "kicked"
            else {"status": "kicked", "user": bot, "until_date": 0},
        }

    # -- what the bot sent here

    @property
    def received(self) -> list[SentMessage]:
        """Everything the bot sent (and edited) in this chat, oldest first."""
        return self.api.messages_to(self.id)

    async def next_message(
        self,
        predicate: Callable[[SentMessage], bool] | None = None,
        *,
        timeout: float = WAIT_GUARD_S,
    ) -> SentMessage:
        """The next entry of ``sent`` for this chat this user has not read yet (sends and edits
        alike), optionally the next one matching ``predicate``. Entries skipped over count as
        read."""
        sent = self.api.sent

        def check() -> SentMessage | None:
            while self._cursor < len(sent):
                entry = sent[self._cursor]
                self._cursor += 1
                if entry.chat_id == self.id and (predicate is None or predicate(entry)):
                    return entry
            return None

        return await self.api._wait_until(check, timeout, f"a message to {self.id}")

    def __repr__(self) -> str:
        return f"FakeUser({self.id}, {self.first_name!r})"


# --------------------------------------------------------------------------- the server


class FakeBotApi:
    """The fake Bot API server and the test-side controls (see the module docstring)."""

    def __init__(
        self,
        token: str = "123:TEST",
        *,
        rate_limits: RateLimits | None = RateLimits(),
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        bot_username: str = "dondoc_bot",
        bot_name: str = "Đôn Đốc",
        strict_chats: bool = True,
        user_pace: float = 1.0,
        host: str = "127.0.0.1",
    ) -> None:
        """
        :param rate_limits: enforce Telegram's send limits (429) on the fake's clock; off if None.
        :param clock: monotonic seconds; the fake's clock is this plus the skew moved by
            :meth:`advance` (rate limits, :attr:`SentMessage.time`).
        :param wall_clock: epoch seconds, for the ``date`` of messages.
        :param strict_chats: answer 400 "chat not found" to sends to chats whose user never wrote
            to the bot (and to groups never declared with :meth:`group`).
        :param user_pace: seconds that pass on the fake's clock with each action of a
            :class:`FakeUser` (a message, a press): people do not type a message a millisecond.
        """
        bot_id, _, _ = token.partition(":")
        if not bot_id.isdigit():
            raise ValueError("a bot token looks like '123:ABC'")
        self.token = token
        self.bot_id = int(bot_id)
        self.bot_user = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_name,
            "username": bot_username,
        }
        self._base_clock = clock
        self.skew = 0.0
        self.user_pace = user_pace
        self.wall_clock = wall_clock
        self.strict_chats = strict_chats
        self.host = host
        self.rate_limits = rate_limits
        self._limiter = _RateLimiter(rate_limits, self.clock) if rate_limits else None

        #: Every message the bot sent, and every edit, in order (see :class:`SentMessage`).
        self.sent: list[SentMessage] = []
        #: Every API call: (canonical method name, params). Params hold strings as received
        #: (native JSON values for JSON bodies); file parts appear as :class:`UploadedFile`.
        self.calls: list[tuple[str, dict[str, Any]]] = []
        #: How many 429s the rate limiter answered (injected faults are not counted).
        self.too_many_requests = 0
        #: The last setWebhook arguments, or None (deleteWebhook).
        self.webhook: dict[str, Any] | None = None
        #: answerCallbackQuery arguments by callback query id.
        self.callback_answers: dict[str, dict[str, Any]] = {}

        self.users: dict[int, FakeUser] = {}
        self.groups: dict[int, dict[str, Any]] = {}
        self.files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._raw: dict[tuple[int, int], tuple[str | None, str | None]] = {}
        self._last_message_id: dict[int, int] = {}
        self._callback_queries: dict[str, dict[str, Any] | None] = {}
        self._query_ids = itertools.count(4_000_000_000_001)
        self._file_ids = itertools.count(1)

        self._updates: deque[dict[str, Any]] = deque()
        self._next_update_id = 100_000_001
        self._allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
        self._poll_generation = 0

        self._faults: dict[str, deque[_Fault]] = {}
        self._delays: dict[str, deque[_Delay]] = {}

        self._waiters: set[asyncio.Event] = set()  # test-side waits (sent / calls)
        self._poll_waiters: set[asyncio.Event] = set()  # getUpdates long polls
        self._closed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def clock(self) -> float:
        """The fake's clock: the given monotonic clock plus the skew (see :meth:`advance`)."""
        return self._base_clock() + self.skew

    def advance(self, seconds: float) -> None:
        """Move the fake's clock ahead (rate limits see that much more time pass), without sleeping."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.skew += seconds

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_UPLOAD_SIZE + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        # handler_cancellation: a client that gives up (stop_polling, a timeout) cancels the
        # server side of its request instead of leaving it waiting.
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]  # the ephemeral port the OS picked

    async def close(self) -> None:
        """Stop the server; pending long polls answer ``[]``, waits raise."""
        self._closed.set()
        self._wake(self._poll_waiters)
        self._wake(self._waiters)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotApi:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: give it to ``TelegramAPIServer.from_base``."""
        if self.port is None:
            raise RuntimeError("FakeBotApi is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def api_server(self) -> TelegramAPIServer:
        """The aiogram ``TelegramAPIServer`` pointing at this fake."""
        from aiogram.client.telegram import TelegramAPIServer

        return TelegramAPIServer.from_base(self.base_url)

    def make_bot(self, **kwargs: Any) -> Bot:
        """A real aiogram ``Bot`` talking to this fake (close ``bot.session`` when done)."""
        from aiogram import Bot
        from aiogram.client.session.aiohttp import AiohttpSession

        return Bot(self.token, session=AiohttpSession(api=self.api_server), **kwargs)

    # ------------------------------------------------------------------ test-side controls

    def user(
        self,
        user_id: int,
        first_name: str,
        *,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = "vi",
    ) -> FakeUser:
        """The simulated user ``user_id`` (created on first call; later calls return it)."""
        existing = self.users.get(user_id)
        if existing is not None:
            return existing
        user = FakeUser(
            self,
            user_id,
            first_name,
            username=username,
            last_name=last_name,
            language_code=language_code,
        )
        self.users[user_id] = user
        return user

    def group(self, chat_id: int, title: str, *, supergroup: bool = False) -> dict[str, Any]:
        """Declare a group chat (chat id < 0) so sends to it show this title."""
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        chat = {"id": chat_id, "type": "supergroup" if supergroup else "group", "title": title}
        self.groups[chat_id] = chat
        return chat

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str,
        retry_after: int | None = None,
        count: int = 1,
    ) -> None:
        """Answer the next ``count`` calls of ``method`` (``"*"``: any method) with this error,
        without performing them."""
        self._faults.setdefault(method.lower(), deque()).append(
            _Fault(error_code, description, retry_after, count)
        )

    def delay_next(
        self, method: str, seconds: float, count: int = 1, *, after_processing: bool = False
    ) -> None:
        """Make the next ``count`` calls of ``method`` (``"*"``: any) wait ``seconds`` on the
        server. By default the wait comes first, so a client that gives up in the meantime
        cancels the call (nothing is sent); with ``after_processing`` the call is performed and
        only the answer is late (the message is sent but the client may time out)."""
        self._delays.setdefault(method.lower(), deque()).append(
            _Delay(seconds, count, after_processing)
        )

    def commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]] | None:
        """The commands set for ``scope`` (default scope if None), or None if never set."""
        commands = self._commands.get((self._scope_key(scope), language_code))
        return copy.deepcopy(commands) if commands is not None else None

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """The current state (after edits) of a message in a chat, or None."""
        return self._messages.get((chat_id, message_id))

    def messages_to(
        self, chat_id: int, *, method: str | Iterable[str] | None = None, edits: bool = True
    ) -> list[SentMessage]:
        """What the bot sent to ``chat_id`` (and its edits unless ``edits=False``)."""
        methods = self._method_filter(method)
        return [
            m
            for m in self.sent
            if m.chat_id == chat_id
            and (edits or not m.is_edit)
            and (methods is None or m.method in methods)
        ]

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        """The params of every call of ``method`` (any case), oldest first."""
        name = _METHODS.get(method.lower(), method)
        return [params for called, params in self.calls if called == name]

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates queued and not yet confirmed by a getUpdates offset."""
        return list(self._updates)

    def enqueue_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw Update (``update_id`` is assigned); returns it."""
        body = {k: v for k, v in update.items() if k != "update_id"}
        return self._enqueue(body)

    async def wait_for_sent(
        self,
        predicate: Callable[[SentMessage], bool] | None = None,
        *,
        chat_id: int | None = None,
        method: str | Iterable[str] | None = None,
        edits: bool = True,
        count: int = 1,
        since: int = 0,
        timeout: float = WAIT_GUARD_S,
    ) -> list[SentMessage]:
        """Wait until ``count`` entries of ``sent`` (from index ``since``) match; return the first
        ``count`` of them. Wakes on each new entry (no polling); raises ``TimeoutError`` after
        ``timeout`` seconds. Use ``since=len(fake.sent)`` to wait for new messages only."""
        methods = self._method_filter(method)
        found: list[SentMessage] = []
        pos = since

        def matches(m: SentMessage) -> bool:
            return (
                (chat_id is None or m.chat_id == chat_id)
                and (edits or not m.is_edit)
                and (methods is None or m.method in methods)
                and (predicate is None or predicate(m))
            )

        def check() -> list[SentMessage] | None:
            nonlocal pos
            while pos < len(self.sent) and len(found) < count:
                if matches(self.sent[pos]):
                    found.append(self.sent[pos])
                pos += 1
            return list(found) if len(found) >= count else None

        what = f"{count} sent message(s)" + (f" to chat {chat_id}" if chat_id is not None else "")
        return await self._wait_until(check, timeout, what)

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        *,
        count: int = 1,
        since: int = 0,
        timeout: float = WAIT_GUARD_S,
    ) -> list[dict[str, Any]]:
        """Wait until ``count`` calls of ``method`` (from index ``since`` of ``calls``) match;
        return their params. Calls are logged when they arrive, before they are answered."""
        name = _METHODS.get(method.lower(), method)
        found: list[dict[str, Any]] = []
        pos = since

        def check() -> list[dict[str, Any]] | None:
            nonlocal pos
            while pos < len(self.calls) and len(found) < count:
                called, params = self.calls[pos]
                if called == name and (predicate is None or predicate(params)):
                    found.append(params)
                pos += 1
            return list(found) if len(found) >= count else None

        return await self._wait_until(check, timeout, f"{count} call(s) of {name}")

    def register_file(
        self,
        data: bytes,
        *,
        file_name: str | None,
        mime_type: str | None,
        file_size: int | None = None,
        folder: str = "documents",
    ) -> StoredFile:
        """Store a file and give it a file_id (what users' uploads and bot uploads do)."""
        n = next(self._file_ids)
        suffix = ""
        if file_name and "." in file_name:
            suffix = "." + file_name.rsplit(".", 1)[1]
        elif mime_type:
            suffix = mimetypes.guess_extension(mime_type) or ""
        stored = StoredFile(
            file_id=f"FAKE-{folder[:3].upper()}-{n:08d}",
            file_unique_id=f"U{n:08d}",
            data=bytes(data),
            file_size=len(data) if file_size is None else file_size,
            file_name=file_name,
            mime_type=mime_type,
            file_path=f"{folder}/file_{n}{suffix}",
        )
        self.files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    # ------------------------------------------------------------------ internals: waiting

    @staticmethod
    def _wake(waiters: set[asyncio.Event]) -> None:
        for event in waiters:
            event.set()

    def _notify(self) -> None:
        self._wake(self._waiters)

    async def _wait_until(
        self,
        check: Callable[[], T | None],
        timeout: float,
        what: str,
        waiters: set[asyncio.Event] | None = None,
    ) -> T:
        """Run ``check`` now and after every change until it returns non-None."""
        waiters = self._waiters if waiters is None else waiters
        event = asyncio.Event()
        waiters.add(event)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    event.clear()
                    result = check()
                    if result is not None:
                        return result
                    if self._closed.is_set():
                        raise RuntimeError(f"FakeBotApi closed while waiting for {what}")
                    await event.wait()
        except TimeoutError:
            recent = "\n  ".join(str(m) for m in self.sent[-10:]) or "(nothing)"
            raise TimeoutError(
                f"timed out after {timeout}s waiting for {what}; last sent:\n  {recent}"
            ) from None
        finally:
            waiters.discard(event)

    # ------------------------------------------------------------------ internals: state

    @staticmethod
    def _method_filter(method: str | Iterable[str] | None) -> set[str] | None:
        if method is None:
            return None
        names = [method] if isinstance(method, str) else list(method)
        return {_METHODS.get(n.lower(), n) for n in names}

    @staticmethod
    def _scope_key(scope: dict[str, Any] | None) -> str:
        scope = scope or {"type": "default"}
        normal = {k: (int(v) if k in ("chat_id", "user_id") else v) for k, v in scope.items()}
        return json.dumps(normal, sort_keys=True)

    def _chat(self, chat_id: int) -> dict[str, Any]:
        user = self.users.get(chat_id)
        if user is not None:
            return user.as_chat()
        group = self.groups.get(chat_id)
        if group is not None:
            return dict(group)
        if chat_id < 0:
            kind = "supergroup" if chat_id <= -1_000_000_000_000 else "group"
            return {"id": chat_id, "type": kind, "title": f"Group {chat_id}"}
        return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}

    def _enqueue(self, body: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": self._next_update_id, **body}
        self._next_update_id += 1
        self._updates.append(update)
        self._wake(self._poll_waiters)
        return update

    def _message_id_of(self, message: dict | SentMessage | int) -> int:
        if isinstance(message, SentMessage):
            return message.message_id
        if isinstance(message, dict):
            return int(message["message_id"])
        return int(message)

    def _next_message_id(self, chat_id: int) -> int:
        # One sequence per chat, shared by the user's and the bot's messages, as in private chats.
        n = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = n
        return n

    def _new_message(
        self,
        chat_id: int,
        *,
        sender: dict[str, Any],
        content: dict[str, Any],
        reply_to: int | dict | SentMessage | None = None,
        allow_missing_reply: bool = True,
    ) -> dict[str, Any]:
        replied = None
        if reply_to is not None:
            reply_id = self._message_id_of(reply_to)
            replied = self._messages.get((chat_id, reply_id))
            if replied is None and not allow_missing_reply:
                raise ApiError(400, "Bad Request: message to be replied not found")
            if replied is None and sender is not self.bot_user:
                raise ValueError(f"no message {reply_id} in chat {chat_id} to reply to")
        message_id = self._next_message_id(chat_id)
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": sender,
            "chat": self._chat(chat_id),
            "date": int(self.wall_clock()),
        }
        if replied is not None:
            # Telegram does not nest replies further than one level.
            message["reply_to_message"] = {
                k: copy.deepcopy(v) for k, v in replied.items() if k != "reply_to_message"
            }
        message.update(content)
        self._messages[(chat_id, message_id)] = message
        return message

    def _photo_size(self, stored: StoredFile, width: int, height: int) -> dict[str, Any]:
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": width,
            "height": height,
            "file_size": stored.file_size,
        }

    def _check_chat(self, chat_id: int) -> None:
        user = self.users.get(chat_id)
        if user is not None and user.blocked:
            raise ApiError(403, FORBIDDEN_BLOCKED)
        if chat_id == self.bot_id:
            raise ApiError(403, "Forbidden: bot can't send messages to bots")
        if self.strict_chats and chat_id not in self.groups and (user is None or not user.has_written):
            raise ApiError(400, CHAT_NOT_FOUND)

    def _check_rate(self, chat_id: int) -> None:
        if self._limiter is None:
            return
        retry_after = self._limiter.retry_after(chat_id)
        if retry_after is not None:
            self.too_many_requests += 1
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)

    def _record_send(self, entry: SentMessage) -> SentMessage:
        if self._limiter is not None and entry.method in _SEND_METHODS:
            self._limiter.record(entry.chat_id)
        self.sent.append(entry)
        self._notify()
        return entry

    def _take(self, table: dict[str, deque], name: str) -> Any:
        for key in (name.lower(), "*"):
            queue = table.get(key)
            if queue:
                item = queue[0]
                item.count -= 1
                if item.count <= 0:
                    queue.popleft()
                return item
        return None

    async def _pause(self, seconds: float) -> None:
        # Simulated server latency; ends early when the fake closes.
        try:
            await asyncio.wait_for(self._closed.wait(), seconds)
        except TimeoutError:
            pass

    # ------------------------------------------------------------------ HTTP plumbing

    @staticmethod
    def _reply(payload: dict[str, Any], status: int = 200) -> web.Response:
        return web.json_response(payload, status=status, dumps=_dumps)

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if not request.body_exists:
            return params
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise ApiError(400, "Bad Request: can't parse JSON body") from None
            if not isinstance(body, dict):
                raise ApiError(400, "Bad Request: JSON body must be an object")
            params.update(body)
            return params
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = UploadedFile(value.filename, value.content_type, value.file.read())
            else:
                params[key] = value
        return params

    async def _handle_api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._reply(ApiError(401, "Unauthorized").payload(), 401)
        raw_method = request.match_info["method"]
        name = _METHODS.get(raw_method.lower())
        try:
            params = await self._read_params(request)
        except web.HTTPRequestEntityTooLarge:
            return self._reply(ApiError(413, "Request Entity Too Large").payload(), 413)
        except ApiError as error:
            return self._reply(error.payload(), error.error_code)
        self.calls.append((name or raw_method, params))
        self._notify()
        if name is None:
            return self._reply(ApiError(404, "Not Found").payload(), 404)

        fault: _Fault | None = self._take(self._faults, name)
        if fault is not None:
            error = ApiError(fault.error_code, fault.description, fault.retry_after)
            return self._reply(error.payload(), fault.error_code)
        delay: _Delay | None = self._take(self._delays, name)
        if delay is not None and not delay.after:
            await self._pause(delay.seconds)

        handler: Callable[[dict[str, Any]], Any] = getattr(self, "_api_" + name)
        try:
            result = handler(params)
            if inspect.isawaitable(result):
                result = await result
            response = self._reply({"ok": True, "result": result})
        except ApiError as error:
            response = self._reply(error.payload(), error.error_code)
        if delay is not None and delay.after:
            await self._pause(delay.seconds)
        return response

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        stored = self._files_by_path.get(request.match_info["path"])
        if request.match_info["token"] != self.token or stored is None:
            return self._reply(ApiError(404, "Not Found").payload(), 404)
        content_type = stored.mime_type or "application/octet-stream"
        return web.Response(body=stored.data, content_type=content_type)

    # ------------------------------------------------------------------ API methods

    def _api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _int(params, "offset")
        limit = min(max(_int(params, "limit", 100) or 100, 1), 100)
        timeout = max(_int(params, "timeout", 0) or 0, 0)
        allowed = _json(params, "allowed_updates")
        if allowed is not None:
            self._allowed_updates = frozenset(allowed) if allowed else DEFAULT_UPDATE_TYPES

        # A newer getUpdates terminates an older one still waiting (409), as in Telegram.
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake(self._poll_waiters)

        if offset is not None:
            if offset < 0:
                keep = -offset
                while len(self._updates) > keep:
                    self._updates.popleft()
            else:
                while self._updates and self._updates[0]["update_id"] < offset:
                    self._updates.popleft()

        def check() -> list[dict[str, Any]] | None:
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            if self._closed.is_set():
                return []
            batch = [u for u in self._updates if self._update_type(u) in self._allowed_updates]
            return batch[:limit] or None

        try:
            return await self._wait_until(check, timeout, "updates", self._poll_waiters)
        except TimeoutError:
            return []
        except RuntimeError:  # closed while waiting
            return []

    @staticmethod
    def _update_type(update: dict[str, Any]) -> str:
        return next(k for k in update if k != "update_id")

    def _api_setWebhook(self, params: dict[str, Any]) -> bool:
        url = _str(params, "url")
        if not url:
            self.webhook = None
            return True
        self.webhook = {
            "url": url,
            "secret_token": _str(params, "secret_token"),
            "allowed_updates": _json(params, "allowed_updates"),
            "max_connections": _int(params, "max_connections"),
            "drop_pending_updates": _bool(params, "drop_pending_updates"),
        }
        if _bool(params, "drop_pending_updates"):
            self._updates.clear()
        self._wake(self._poll_waiters)
        return True

    def _api_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        if _bool(params, "drop_pending_updates"):
            self._updates.clear()
        return True

    def _api_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook and self.webhook.get("allowed_updates") is not None:
            info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    def _scope_param(self, params: dict[str, Any]) -> dict[str, Any]:
        scope = _json(params, "scope") or {"type": "default"}
        if not isinstance(scope, dict) or scope.get("type") not in _SCOPE_TYPES:
            raise ApiError(400, "Bad Request: can't parse BotCommandScope JSON object")
        for key in _SCOPE_TYPES[scope["type"]]:
            if scope.get(key) in (None, ""):
                raise ApiError(400, f"Bad Request: {key} is empty")
        return scope

    def _api_setMyCommands(self, params: dict[str, Any]) -> bool:
        commands = _json(params, "commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: too many commands specified")
        for command in commands:
            if (
                not isinstance(command, dict)
                or not _COMMAND_RE.match(str(command.get("command", "")))
                or not 1 <= len(str(command.get("description", "")).strip()) <= 256
            ):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        key = (self._scope_key(self._scope_param(params)), _str(params, "language_code") or "")
        self._commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _api_getMyCommands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        key = (self._scope_key(self._scope_param(params)), _str(params, "language_code") or "")
        return copy.deepcopy(self._commands.get(key, []))

    def _api_deleteMyCommands(self, params: dict[str, Any]) -> bool:
        key = (self._scope_key(self._scope_param(params)), _str(params, "language_code") or "")
        self._commands.pop(key, None)
        return True

    def _reply_to(self, params: dict[str, Any]) -> tuple[int | None, bool]:
        reply_parameters = _json(params, "reply_parameters")
        if isinstance(reply_parameters, dict) and reply_parameters.get("message_id") is not None:
            allow = bool(reply_parameters.get("allow_sending_without_reply"))
            return int(reply_parameters["message_id"]), allow
        return _int(params, "reply_to_message_id"), _bool(params, "allow_sending_without_reply")

    def _bot_message(
        self, chat_id: int, params: dict[str, Any], content: dict[str, Any]
    ) -> tuple[dict[str, Any], int | None]:
        reply_to, allow_missing = self._reply_to(params)
        message = self._new_message(
            chat_id,
            sender=self.bot_user,
            content=content,
            reply_to=reply_to,
            allow_missing_reply=allow_missing,
        )
        return message, reply_to

    @staticmethod
    def _caption(params: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
        caption = _str(params, "caption")
        parse_mode = _str(params, "parse_mode")
        if caption is None:
            return None, None, parse_mode
        plain = _render(caption, parse_mode)
        if _visible_len(plain) > MAX_CAPTION_LENGTH:
            raise ApiError(400, "Bad Request: message caption is too long")
        return caption, plain, parse_mode

    def _input_file(self, params: dict[str, Any], key: str) -> StoredFile | UploadedFile:
        value = params.get(key)
        if isinstance(value, str) and value.startswith("attach://"):
            value = params.get(value[len("attach://"):])
            if not isinstance(value, UploadedFile):
                raise ApiError(400, f"Bad Request: there is no {key} in the request")
        if isinstance(value, UploadedFile):
            if not value.data:
                raise ApiError(400, "Bad Request: file must be non-empty")
            return value
        if isinstance(value, str) and value:
            stored = self.files.get(value)
            if stored is not None:
                return stored
            if value.startswith(("http://", "https://")):
                raise ApiError(400, "Bad Request: failed to get HTTP URL content")
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        raise ApiError(400, f"Bad Request: there is no {key} in the request")

    def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = _chat_id(params)
        text = _str(params, "text")
        if not text or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        parse_mode = _str(params, "parse_mode")
        plain = _render(text, parse_mode)
        if not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if _visible_len(plain) > MAX_TEXT_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        markup = _validate_markup(_json(params, "reply_markup"))
        self._check_chat(chat_id)
        self._check_rate(chat_id)
        content: dict[str, Any] = {"text": plain}
        if markup is not None and "inline_keyboard" in markup:
            content["reply_markup"] = markup
        message, reply_to = self._bot_message(chat_id, params, content)
        self._raw[(chat_id, message["message_id"])] = (text, parse_mode)
        entry = SentMessage(
            method="sendMessage",
            chat_id=chat_id,
            message_id=message["message_id"],
            text=text,
            parse_mode=parse_mode,
            reply_markup=markup,
            reply_to_message_id=reply_to,
            time=self.clock(),
            message=copy.deepcopy(message),
        )
        self._record_send(entry)
        return message

    def _api_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = _chat_id(params)
        source = self._input_file(params, "document")
        caption, plain, parse_mode = self._caption(params)
        markup = _validate_markup(_json(params, "reply_markup"))
        self._check_chat(chat_id)
        self._check_rate(chat_id)
        if isinstance(source, UploadedFile):
            filename = source.filename or "document"
            mime = mimetypes.guess_type(filename)[0] or source.content_type
            stored = self.register_file(source.data, file_name=filename, mime_type=mime)
        else:
            stored = source
        document: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
        }
        if stored.file_name:
            document["file_name"] = stored.file_name
        if stored.mime_type:
            document["mime_type"] = stored.mime_type
        content: dict[str, Any] = {"document": document}
        if plain is not None:
            content["caption"] = plain
        if markup is not None and "inline_keyboard" in markup:
            content["reply_markup"] = markup
        message, reply_to = self._bot_message(chat_id, params, content)
        self._raw[(chat_id, message["message_id"])] = (caption, parse_mode)
        entry = SentMessage(
            method="sendDocument",
            chat_id=chat_id,
            message_id=message["message_id"],
            caption=caption,
            parse_mode=parse_mode,
            reply_markup=markup,
            reply_to_message_id=reply_to,
            document=stored.data,
            filename=stored.file_name,
            mime_type=stored.mime_type,
            time=self.clock(),
            message=copy.deepcopy(message),
        )
        self._record_send(entry)
        return message

    def _api_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = _chat_id(params)
        source = self._input_file(params, "photo")
        caption, plain, parse_mode = self._caption(params)
        markup = _validate_markup(_json(params, "reply_markup"))
        self._check_chat(chat_id)
        self._check_rate(chat_id)
        if isinstance(source, UploadedFile):
            mime = source.content_type
            if not mime or mime == "application/octet-stream":
                mime = mimetypes.guess_type(source.filename or "")[0] or "image/jpeg"
            stored = self.register_file(
                source.data, file_name=None, mime_type=mime, folder="photos"
            )
        else:
            stored = source
        width, height = _png_size(stored.data)
        content: dict[str, Any] = {"photo": [self._photo_size(stored, width, height)]}
        if plain is not None:
            content["caption"] = plain
        if markup is not None and "inline_keyboard" in markup:
            content["reply_markup"] = markup
        message, reply_to = self._bot_message(chat_id, params, content)
        self._raw[(chat_id, message["message_id"])] = (caption, parse_mode)
        entry = SentMessage(
            method="sendPhoto",
            chat_id=chat_id,
            message_id=message["message_id"],
            caption=caption,
            parse_mode=parse_mode,
            reply_markup=markup,
            reply_to_message_id=reply_to,
            photo=stored.data,
            mime_type=stored.mime_type,
            time=self.clock(),
            message=copy.deepcopy(message),
        )
        self._record_send(entry)
        return message

    def _api_sendChatAction(self, params: dict[str, Any]) -> bool:
        chat_id = _chat_id(params)
        if not _str(params, "action"):
            raise ApiError(400, "Bad Request: action is empty")
        self._check_chat(chat_id)
        return True

    def _api_getFile(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = _str(params, "file_id")
        if not file_id:
            raise ApiError(400, "Bad Request: file_id is empty")
        stored = self.files.get(file_id)
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if stored.file_size > MAX_DOWNLOAD_SIZE:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": stored.file_path,
        }

    def _editable(self, params: dict[str, Any]) -> tuple[int, int, dict[str, Any]]:
        if _present(params, "inline_message_id"):
            raise ApiError(400, "Bad Request: inline messages are not supported by the fake")
        chat_id = _chat_id(params)
        message_id = _required_int(params, "message_id")
        message = self._messages.get((chat_id, message_id))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message["from"].get("id") != self.bot_id:
            raise ApiError(400, "Bad Request: message can't be edited")
        self._check_chat(chat_id)
        return chat_id, message_id, message

    def _api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, message_id, message = self._editable(params)
        text = _str(params, "text")
        if not text or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        parse_mode = _str(params, "parse_mode")
        plain = _render(text, parse_mode)
        if _visible_len(plain) > MAX_TEXT_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        markup = _validate_markup(_json(params, "reply_markup"))
        inline = markup if markup is not None and "inline_keyboard" in markup else None
        if self._raw.get((chat_id, message_id)) == (text, parse_mode) and message.get(
            "reply_markup"
        ) == inline:
            raise ApiError(400, NOT_MODIFIED)
        # Editing the text without a reply_markup removes the inline keyboard, as in Telegram.
        message["text"] = plain
        message.pop("reply_markup", None)
        if inline is not None:
            message["reply_markup"] = inline
        message["edit_date"] = int(self.wall_clock())
        self._raw[(chat_id, message_id)] = (text, parse_mode)
        entry = SentMessage(
            method="editMessageText",
            chat_id=chat_id,
            message_id=message_id,
            text=text,
            parse_mode=parse_mode,
            reply_markup=markup,
            time=self.clock(),
            message=copy.deepcopy(message),
        )
        self._record_send(entry)
        return message

    def _api_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, message_id, message = self._editable(params)
        markup = _validate_markup(_json(params, "reply_markup"))
        inline = markup if markup is not None and "inline_keyboard" in markup else None
        if message.get("reply_markup") == inline:
            raise ApiError(400, NOT_MODIFIED)
        message.pop("reply_markup", None)
        if inline is not None:
            message["reply_markup"] = inline
        message["edit_date"] = int(self.wall_clock())
        entry = SentMessage(
            method="editMessageReplyMarkup",
            chat_id=chat_id,
            message_id=message_id,
            reply_markup=markup,
            time=self.clock(),
            message=copy.deepcopy(message),
        )
        self._record_send(entry)
        return message

    def _api_deleteMessage(self, params: dict[str, Any]) -> bool:
        chat_id = _chat_id(params)
        message_id = _required_int(params, "message_id")
        if self._messages.pop((chat_id, message_id), None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        self._raw.pop((chat_id, message_id), None)
        return True

    def _api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        query_id = _str(params, "callback_query_id")
        if not query_id:
            raise ApiError(400, "Bad Request: callback_query_id is empty")
        if query_id not in self._callback_queries or self._callback_queries[query_id] is not None:
            raise ApiError(400, QUERY_INVALID)
        answer = {
            "callback_query_id": query_id,
            "text": _str(params, "text"),
            "show_alert": _bool(params, "show_alert"),
            "url": _str(params, "url"),
            "cache_time": _int(params, "cache_time"),
        }
        if answer["text"] is not None and len(answer["text"]) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._callback_queries[query_id] = answer
        self.callback_answers[query_id] = answer
        self._notify()
        return True
