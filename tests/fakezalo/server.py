"""A local fake of the Zalo Bot Platform, faithful to ``../shared/ZALO.md``, for end-to-end tests.

An ``aiohttp.web`` server on ``127.0.0.1`` with an ephemeral port, ``POST /bot{token}/{method}``:

- every answer is ``{"ok": true, "result": …}`` or ``{"ok": false, "error_code", "description"}``
  with **HTTP 200** (``http_status_errors=True`` mirrors the code as the HTTP status instead);
- ``getUpdates`` takes only ``timeout``, returns **one** update object, and after the timeout with
  nothing to deliver answers error **408** "Request timeout"; no offset: an update is consumed when
  read, unless ``replay_next()`` makes the next one come again; refused while a webhook is set;
- ``sendMessage``: ``chat_id`` required, text 1–2,000 characters, only to people who wrote first;
  ``sendPhoto``: ``photo`` must be an ``http(s)`` URL; there is **no** ``sendDocument`` (404);
- ``setWebhook`` needs an https URL and an 8–256 character secret; ``deliver_webhook`` POSTs an update
  to the bot's webhook with the ``X-Bot-Api-Secret-Token`` header, flat like the real platform;
- users: ``fake.user(id, name)``; ``user.send_text``, ``user.send_file`` (arrives as
  ``message.unsupported.received``, no content), ``user.send_image``; ``await user.next_message()``.

Faults: ``fail_next(method, code, description)``, ``http_error_next(method, status)`` (an HTML 5xx),
``hang_next(method)`` (never answers: a client timeout).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakebot.server import WAIT_GUARD_S

TEXT_LIMIT = 2000
METHODS = {"getMe", "getUpdates", "setWebhook", "deleteWebhook", "getWebhookInfo", "sendMessage", "sendPhoto",
           "sendSticker", "sendChatAction"}


class ZaloError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass
class Sent:
    chat_id: str
    kind: str  # "text" | "photo"
    text: str
    message_id: str
    photo: str | None = None


@dataclass
class FakeZaloUser:
    fake: FakeZalo
    id: str
    name: str
    received: list[Sent] = field(default_factory=list)
    _seen: int = 0

    def _send(self, event: str, **content: Any) -> dict[str, Any]:
        update = {"event_name": event, "message": {
            "message_id": secrets.token_hex(10), "date": int(time.time() * 1000),
            "from": {"id": self.id, "display_name": self.name, "is_bot": False},
            "chat": {"id": self.id, "chat_type": "PRIVATE"}, **content}}
        self.fake.contacted.add(self.id)
        self.fake.enqueue(update)
        return update

    def send_text(self, text: str) -> dict[str, Any]:
        return self._send("message.text.received", text=text)

    def send_file(self) -> dict[str, Any]:
        """A PDF (or any file) sent in Zalo: the bot gets only that something unsupported came."""
        return self._send("message.unsupported.received")

    def send_image(self, url: str = "https://example.invalid/a.jpg", caption: str = "") -> dict[str, Any]:
        return self._send("message.image.received", photo_url=url, caption=caption)

    async def next_message(self, timeout: float = WAIT_GUARD_S) -> Sent:  # a hang guard, not a speed check
        """The next message the bot sent to this user (in order)."""
        def ready() -> Sent | None:
            if len(self.received) > self._seen:
                self._seen += 1
                return self.received[self._seen - 1]
            return None
        return await self.fake.wait(ready, timeout)

    def unread(self) -> list[Sent]:
        rest = self.received[self._seen:]
        self._seen = len(self.received)
        return rest


class FakeZalo:
    def __init__(self, *, token: str | None = None, http_status_errors: bool = False,
                 max_poll_s: float = 30.0) -> None:
        self.token = token or f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(24)}"
        self.http_status_errors = http_status_errors
        self.max_poll_s = max_poll_s
        self.updates: deque[dict[str, Any]] = deque()
        self.users: dict[str, FakeZaloUser] = {}
        self.contacted: set[str] = set()
        self.sent: list[Sent] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.webhook: dict[str, str] | None = None
        self._replay: dict[str, Any] | None = None
        self._replay_next = False
        self._faults: dict[str, deque[tuple[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._hang = asyncio.Event()

    # --- life ---------------------------------------------------------------------------------

    async def start(self) -> FakeZalo:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)  # the token is in every path
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        self._hang.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeZalo:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- test controls ------------------------------------------------------------------------

    def user(self, user_id: str | int, name: str) -> FakeZaloUser:
        key = str(user_id)
        if key not in self.users:
            self.users[key] = FakeZaloUser(self, key, name)
        return self.users[key]

    def enqueue(self, update: dict[str, Any]) -> None:
        self.updates.append(update)
        self._notify()

    def drained(self) -> bool:
        """Every queued update (and a pending replay) has been read by the bot."""
        return not self.updates and self._replay is None

    def replay_next(self) -> None:
        """The next update read is delivered once more afterwards (sources disagree on consumption)."""
        self._replay_next = True

    def fail_next(self, method: str, code: int, description: str, *, after: int = 0) -> None:
        """The next call of ``method`` (or the one after ``after`` calls that go through) answers this error."""
        self._faults.setdefault(method, deque()).append(("error", (code, description, after)))

    def http_error_next(self, method: str, status: int = 502) -> None:
        self._faults.setdefault(method, deque()).append(("http", status))

    def hang_next(self, method: str) -> None:
        self._faults.setdefault(method, deque()).append(("hang", None))

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    def _notify(self) -> None:
        self._changed.set()

    async def wait(self, ready, timeout: float):
        """Await a condition on the fake's state (checked after every change); no polling sleeps."""
        async with asyncio.timeout(timeout):
            while True:
                result = ready()
                if result is not None:
                    return result
                self._changed.clear()
                await self._changed.wait()

    async def deliver_webhook(self, update: dict[str, Any], *, secret: str | None = None,
                              wrapped: bool = False) -> int:
        """POST an update to the registered webhook as Zalo does; returns the HTTP status."""
        assert self.webhook is not None, "no webhook set"
        body = {"ok": True, "result": update} if wrapped else update
        headers = {} if secret == "" else {"X-Bot-Api-Secret-Token": secret or self.webhook["secret_token"]}
        async with aiohttp.ClientSession() as session:
            async with session.post(self.webhook["url"], json=body, headers=headers) as response:
                return response.status

    # --- the API --------------------------------------------------------------------------------

    def _answer(self, payload: dict[str, Any]) -> web.Response:
        status = 200
        if not payload.get("ok") and self.http_status_errors:
            status = int(payload["error_code"]) if 400 <= int(payload["error_code"]) < 600 else 400
        return web.json_response(payload, status=status)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        try:
            params = await request.json() if request.can_read_body else {}
        except json.JSONDecodeError:
            params = dict(await request.post())
        self.calls.append((method, dict(params)))
        self._notify()
        fault = self._faults.get(method)
        if fault and fault[0][0] == "error" and fault[0][1][2] > 0:  # not yet: let this call through
            code, description, after = fault[0][1]
            fault[0] = ("error", (code, description, after - 1))
            fault = None
        if fault:
            kind, value = fault.popleft()
            if kind == "error":
                return self._answer({"ok": False, "error_code": value[0], "description": value[1]})
            if kind == "http":
                return web.Response(status=value, text="<html><body>Bad Gateway</body></html>",
                                    content_type="text/html")
            await self._hang.wait()
            return web.Response(status=504)
        if request.match_info["token"] != self.token:
            return self._answer({"ok": False, "error_code": 401, "description": "Unauthorized"})
        if method not in METHODS:
            return self._answer({"ok": False, "error_code": 404, "description": "Not Found"})
        try:
            result = await getattr(self, f"_api_{method}")(params)
        except ZaloError as exc:
            return self._answer({"ok": False, "error_code": exc.code, "description": exc.description})
        finally:
            self._notify()
        return self._answer({"ok": True, "result": result})

    async def _api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"id": self.token.split(":")[0], "account_name": "bot.dondoc", "account_type": "BASIC",
                "can_join_groups": False, "display_name": "Đôn Đốc"}

    async def _api_getUpdates(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.webhook is not None:
            raise ZaloError(400, "Bad request: webhook is set, getUpdates is not allowed")
        try:
            timeout = min(float(params.get("timeout", 30)), self.max_poll_s)
        except (TypeError, ValueError):
            raise ZaloError(400, "Bad request: timeout is invalid") from None
        if self._replay is not None:
            update, self._replay = self._replay, None
            return update
        try:
            await self.wait(lambda: True if self.updates else None, timeout)
        except TimeoutError:
            raise ZaloError(408, "Request timeout") from None
        update = self.updates.popleft()
        if self._replay_next:
            self._replay_next, self._replay = False, update
        self._notify()
        return update

    def _target(self, params: dict[str, Any]) -> str:
        chat_id = str(params.get("chat_id") or "").strip()
        if not chat_id:
            raise ZaloError(400, "Bad request: The chat_id must not be empty")
        if chat_id not in self.contacted:
            raise ZaloError(403, "Forbidden: user has not interacted with the bot")
        return chat_id

    def _record(self, sent: Sent) -> dict[str, Any]:
        self.sent.append(sent)
        if sent.chat_id in self.users:
            self.users[sent.chat_id].received.append(sent)
        self._notify()
        return {"message_id": sent.message_id, "date": int(time.time() * 1000)}

    async def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._target(params)
        text = params.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= TEXT_LIMIT:
            raise ZaloError(400, "Bad request: text must be 1-2000 characters")
        return self._record(Sent(chat_id, "text", text, secrets.token_hex(10)))

    async def _api_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._target(params)
        photo = str(params.get("photo") or "")
        if not photo.startswith(("http://", "https://")):
            raise ZaloError(400, "Bad request: photo must be a public http(s) URL")
        return self._record(Sent(chat_id, "photo", str(params.get("caption") or ""), secrets.token_hex(10), photo))

    async def _api_sendSticker(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._target(params)
        return self._record(Sent(chat_id, "sticker", "", secrets.token_hex(10)))

    async def _api_sendChatAction(self, params: dict[str, Any]) -> bool:
        self._target(params)
        return True

    async def _api_setWebhook(self, params: dict[str, Any]) -> dict[str, Any]:
        url, secret = str(params.get("url") or ""), str(params.get("secret_token") or "")
        if not url.startswith("https://") and not url.startswith("http://127.0.0.1"):
            raise ZaloError(400, "Bad request: url must be https")
        if not 8 <= len(secret) <= 256:
            raise ZaloError(400, "Bad request: secret_token must be 8-256 characters")
        self.webhook = {"url": url, "secret_token": secret}
        return {"url": url, "updated_at": int(time.time() * 1000)}

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> dict[str, Any]:
        self.webhook = None
        return {"url": "", "updated_at": int(time.time() * 1000)}

    async def _api_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.webhook["url"] if self.webhook else "", "updated_at": 0}
