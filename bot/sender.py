"""The one sender: drains the outbox to the chat platforms within their rate limits.

Telegram allows about 30 messages a second overall, one a second per chat and 20 a minute per group.
The limiter books a slot for each message before it goes (slightly under those limits, so network
jitter cannot push a burst over them); a 429 answer pauses that chat for ``retry_after``; other errors
and timeouts back off exponentially; "blocked by the user" marks the person unreachable. Each message
is marked sent in its own short transaction right after the platform accepts it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from handlers.chat import Reply, payload_to_reply
from schedules.clock import Clock
from storage import outbox
from storage.db import Database
from storage.models import OutboxMessage

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A transient failure (network, timeout, server error): try again later."""


class RetryLater(DeliveryError):
    def __init__(self, retry_after: float, message: str = "rate limited") -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unreachable(DeliveryError):
    """The platform says this person cannot be reached (blocked the bot, account gone)."""


class PermanentFailure(DeliveryError):
    """The platform refuses this message for good (e.g. malformed); retrying will not help."""


class Transport(Protocol):
    channel: str

    async def deliver(self, chat_id: str, reply: Reply) -> str | None:
        """Send; return the platform's message id. Raise a ``DeliveryError`` on failure."""


@dataclass(frozen=True)
class Limits:
    global_per_s: float = 28.0
    per_chat_interval_s: float = 1.05
    per_group_per_min: int = 19


class RateLimiter:
    """Books send slots so that no window exceeds the limits (one event loop, so no locks).

    Overall sends go on a grid of slots ``1 / global_per_s`` apart, one message a slot, so any
    one-second window holds at most ``global_per_s + 1`` sends whatever the order of booking; a chat's
    next send is at least ``per_chat_interval_s`` after its previous one; a group (negative chat id)
    gets at most ``per_group_per_min`` in any minute.
    """

    def __init__(self, limits: Limits = Limits(), *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.monotonic = monotonic
        self._spacing = 1.0 / limits.global_per_s
        self._slots: set[int] = set()
        self._chat_next: dict[str, float] = {}
        self._groups: dict[str, deque[float]] = defaultdict(deque)
        self._paused_until: dict[str, float] = {}

    def pause(self, chat_id: str, seconds: float) -> None:
        self._paused_until[chat_id] = max(self._paused_until.get(chat_id, 0.0), self.monotonic() + seconds)

    def reserve(self, chat_id: str) -> float:
        """Book the earliest allowed slot for ``chat_id``; return how long to wait for it."""
        now = self.monotonic()
        at = max(now, self._chat_next.get(chat_id, 0.0), self._paused_until.get(chat_id, 0.0))
        if chat_id.startswith("-"):
            group = self._groups[chat_id]
            while group and group[0] <= now - 60.0:
                group.popleft()
            if len(group) >= self.limits.per_group_per_min:
                at = max(at, group[-self.limits.per_group_per_min] + 60.0)
        slot = math.ceil(at / self._spacing)
        while slot in self._slots:
            slot += 1
        self._slots.add(slot)
        if len(self._slots) > 4096:
            floor = math.floor(now / self._spacing)
            self._slots = {kept for kept in self._slots if kept >= floor}
        at = slot * self._spacing
        if chat_id.startswith("-"):
            self._groups[chat_id].append(at)
        self._chat_next[chat_id] = at + self.limits.per_chat_interval_s
        return max(0.0, at - now)


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s … up to an hour."""
    return timedelta(seconds=min(3600, 5 * 2 ** max(0, attempts - 1)))


class OutboxSender:
    def __init__(
        self, db: Database, transports: dict[str, Transport], clock: Clock, *,
        limiter: RateLimiter | None = None, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        batch: int = 200, lease: timedelta = timedelta(minutes=2), concurrency: int = 16,
    ) -> None:
        self.db = db
        self.transports = transports
        self.clock = clock
        self.limiter = limiter or RateLimiter()
        self.sleep = sleep
        self.batch = batch
        self.lease = lease
        self.concurrency = concurrency
        self.wake = asyncio.Event()
        self.sent = 0

    async def drain_once(self) -> int:
        """Claim one batch of due messages and deliver it; returns how many were handled."""
        async with self.db.session() as session:
            messages = await outbox.claim(session, now=self.clock.now(), limit=self.batch, lease=self.lease,
                                          channels=list(self.transports))
        if not messages:
            return 0
        by_chat: dict[tuple[str, str], list[OutboxMessage]] = defaultdict(list)
        for message in messages:
            by_chat[(message.channel, message.chat_id)].append(message)
        gate = asyncio.Semaphore(self.concurrency)

        async def one_chat(items: list[OutboxMessage]) -> None:
            for item in items:
                async with gate:
                    await self._deliver(item)

        await asyncio.gather(*(one_chat(items) for items in by_chat.values()))
        return len(messages)

    async def drain(self) -> int:
        """Deliver everything that is due now."""
        total = 0
        while handled := await self.drain_once():
            total += handled
        return total

    async def _deliver(self, message: OutboxMessage) -> None:
        transport = self.transports[message.channel]
        wait = self.limiter.reserve(message.chat_id)
        if wait > 0:
            await self.sleep(wait)
        try:
            platform_id = await transport.deliver(message.chat_id, payload_to_reply(message.payload))
        except RetryLater as exc:
            self.limiter.pause(message.chat_id, exc.retry_after)
            await self._record(outbox.mark_retry, message, after=timedelta(seconds=exc.retry_after),
                               error=f"retry_after={exc.retry_after}", count_attempt=False)
        except Unreachable as exc:
            async with self.db.session() as session:
                await outbox.mark_failed(session, message.id, now=self.clock.now(), error=f"unreachable: {exc}")
                if message.person_id is not None:
                    await outbox.mark_unreachable(session, message.person_id, now=self.clock.now())
        except PermanentFailure as exc:
            async with self.db.session() as session:
                await outbox.mark_failed(session, message.id, now=self.clock.now(), error=str(exc))
        except (DeliveryError, asyncio.TimeoutError, OSError) as exc:
            log.warning("delivery of outbox message %s failed: %s", message.id, exc)
            await self._record(outbox.mark_retry, message, after=backoff(message.attempts), error=repr(exc))
        else:
            async with self.db.session() as session:
                await outbox.mark_sent(session, message.id, now=self.clock.now(), platform_message_id=platform_id)
            self.sent += 1

    async def _record(self, mark, message: OutboxMessage, **kwargs) -> None:
        async with self.db.session() as session:
            await mark(session, message, now=self.clock.now(), **kwargs)

    async def run(self, stop: asyncio.Event, *, idle_s: float = 2.0) -> None:
        """Drain until ``stop`` is set; wakes early when ``wake`` is set (a new message was queued)."""
        while not stop.is_set():
            try:
                await self.drain()
            except Exception:  # never let one bad batch stop the sender
                log.exception("outbox drain failed")
            self.wake.clear()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())]
            await asyncio.wait(waiters, timeout=idle_s, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
