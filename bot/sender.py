"""The one sender: drains the outbox to the chat platforms within their rate limits.

Telegram allows about 30 messages a second overall, one a second per chat and 20 a minute per group.
The limiter books a slot for each message before it goes (slightly under those limits, so network
jitter cannot push a burst over them) and checks the sends actually made just before each one (so a
stalled event loop cannot release a burst either); a 429 answer pauses that chat for ``retry_after``;
other errors and timeouts back off exponentially; "blocked by the user" marks the person unreachable and
holds their messages (``storage.outbox.deliverable``) until they write again. A multi-part message is
sent part by part, each part paced, the delivered parts recorded, so a retry resumes where it stopped.
The same limiter paces the direct replies of the chat channel (``RateLimiter.acquire``).
A chat's messages go in the order they were queued: when one has to wait (a retry, or the chat cannot
be sent to within ``max_wait`` of its batch's start), the chat's later messages wait behind it in the
outbox, and the rest of the batch goes on.

Each message is marked sent in its own short transaction right after the platform accepts it. The
Bot API has no idempotency key, so delivery is at least once: a message the platform accepted whose
answer never came back (a timeout; the process killed between the answer and the commit) is sent
again — at most ``concurrency`` messages per crash, each in a window of one round trip plus a commit.
After a crash the killed sender's claimed batch goes out when its ``lease`` has run out.
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

from handlers.chat import BlobReader, Reply, payload_to_reply
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
    """A way out to one chat platform. A transport whose replies may take several platform calls (a long
    text cut at the platform's limit, files then text) also offers ``parts(reply) -> list`` and
    ``deliver_part(chat_id, part) -> message id``: the sender then drives it part by part, paced, and
    records the delivered parts, so a 429 on part k resumes at part k (Telegram; Zalo the same way)."""

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
        # What actually went out (``clear``): a send that wakes late must not crowd the ones after it.
        self._last_sent = -math.inf
        self._chat_sent: dict[str, float] = {}
        self._group_sent: dict[str, deque[float]] = defaultdict(deque)

    def pause(self, chat_id: str, seconds: float) -> None:
        self._paused_until[chat_id] = max(self._paused_until.get(chat_id, 0.0), self.monotonic() + seconds)

    def _earliest(self, chat_id: str, now: float) -> float:
        at = max(now, self._chat_next.get(chat_id, 0.0), self._paused_until.get(chat_id, 0.0))
        if chat_id.startswith("-"):
            group = self._groups[chat_id]
            while group and group[0] <= now - 60.0:
                group.popleft()
            if len(group) >= self.limits.per_group_per_min:
                at = max(at, group[-self.limits.per_group_per_min] + 60.0)
        return at

    def ready_in(self, chat_id: str) -> float:
        """How long before ``chat_id`` may be sent to (its interval, a 429 pause, its group's minute)."""
        now = self.monotonic()
        return self._earliest(chat_id, now) - now

    def reserve(self, chat_id: str) -> float:
        """Book the earliest allowed slot for ``chat_id``; return how long to wait for it."""
        now = self.monotonic()
        at = self._earliest(chat_id, now)
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

    def clear(self, chat_id: str) -> float:
        """Just before a send: 0 (and the send is counted) when it may go now, else how long to wait.

        Slots are booked ahead; a task that wakes after its slot (the event loop was held up by a
        garbage collection, a slow commit …) would go out together with the tasks whose slots came
        after, in a burst over the limit. So the sends actually made are checked too: no two closer
        than ``1 / (floor(global_per_s) + 1)`` (so at most that many in any second, as the grid),
        one per chat per ``per_chat_interval_s``, ``per_group_per_min`` per group per minute.
        """
        now = self.monotonic()
        limits = self.limits
        wait = self._last_sent + 1.0 / (math.floor(limits.global_per_s) + 1) - now
        if chat_id in self._chat_sent:
            wait = max(wait, self._chat_sent[chat_id] + limits.per_chat_interval_s - now)
        if chat_id.startswith("-"):
            group = self._group_sent[chat_id]
            while group and group[0] <= now - 60.0:
                group.popleft()
            if len(group) >= limits.per_group_per_min:
                wait = max(wait, group[-limits.per_group_per_min] + 60.0 - now)
        if wait > 0:
            return wait
        self._last_sent = now
        self._chat_sent[chat_id] = now
        if chat_id.startswith("-"):
            self._group_sent[chat_id].append(now)
        return 0.0


    async def acquire(self, chat_id: str, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Wait until a send to ``chat_id`` may go now, and count it: for a direct reply (someone is waiting
        for it) and for the later parts of a multi-part message. It goes ahead of the slots the outbox
        has booked but within the limits of the sends actually made (``clear``), which the booked ones
        also wait for; a 429 pause of the chat is honoured."""
        while True:
            paused = self._paused_until.get(chat_id, 0.0) - self.monotonic()
            if paused > 0:
                await sleep(paused)
                continue
            late = self.clear(chat_id)
            if late <= 0:
                now = self.monotonic()
                self._chat_next[chat_id] = max(self._chat_next.get(chat_id, 0.0), now + self.limits.per_chat_interval_s)
                return
            await sleep(late)


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s … up to an hour."""
    return timedelta(seconds=min(3600, 5 * 2 ** max(0, attempts - 1)))


class OutboxSender:
    def __init__(
        self, db: Database, transports: dict[str, Transport], clock: Clock, *,
        limiter: RateLimiter | None = None, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        batch: int = 200, lease: timedelta = timedelta(minutes=2), concurrency: int = 16,
        max_wait: float = 5.0, blobs: BlobReader | None = None,
    ) -> None:
        self.db = db
        self.blobs = blobs
        """Where the files an outbox payload references by key are read (``storage.blobs.BlobStore``)."""
        self.transports = transports
        self.clock = clock
        self.limiter = limiter or RateLimiter()
        self.sleep = sleep
        self.batch = batch
        self.lease = lease
        self.concurrency = concurrency
        # A chat's message that cannot go within ``max_wait`` of its batch's start (the chat's interval,
        # its group's minute, a 429 pause) goes back to the outbox instead of holding up the batch,
        # and the batch's lease, while it waits.
        self.max_wait = max_wait
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
        gate = asyncio.Semaphore(self.concurrency)  # sends in flight
        cutoff = self.limiter.monotonic() + self.max_wait

        async def one_chat(items: list[OutboxMessage]) -> None:
            # Book the chat's sends at once, in order and a chat interval apart, as far as the cutoff
            # (booking one at a time would put the chat's next send behind the whole batch).
            chat_id = items[0].chat_id
            slots: list[float] = []
            resume_at = 0.0
            for _ in items:
                now = self.limiter.monotonic()
                ready = self.limiter.ready_in(chat_id)
                if ready > 0 and now + ready > cutoff:
                    resume_at = now + ready
                    break
                slots.append(now + self.limiter.reserve(chat_id))
            for index, (item, at) in enumerate(zip(items, slots)):
                wait = at - self.limiter.monotonic()
                if wait > 0:
                    await self.sleep(wait)
                async with gate:
                    retry = await self._deliver(item)
                if retry is not None:  # the chat's later messages wait behind it
                    await self._hold_chat(item, items[index + 1:], after=retry)
                    return
            if len(slots) < len(items):  # the rest waits in the outbox, not in this batch
                after = timedelta(seconds=max(0.0, resume_at - self.limiter.monotonic()))
                await self._hold_chat(items[len(slots)], items[len(slots):], after=after)

        await asyncio.gather(*(one_chat(items) for items in by_chat.values()))
        return len(messages)

    async def drain(self) -> int:
        """Deliver everything that is due now."""
        total = 0
        while handled := await self.drain_once():
            total += handled
        return total

    async def _deliver(self, message: OutboxMessage) -> timedelta | None:
        """Send one message (its first slot is booked and due) and record the outcome; returns the delay when
        the chat is to be tried again (its later messages wait behind this one).

        A transport that knows parts (``parts`` / ``deliver_part``) is driven part by part: each part is
        paced by the limiter, and the parts the platform accepted are recorded (``parts_sent``), so a retry
        resumes at the part that failed and never sends an earlier one again."""
        transport = self.transports[message.channel]
        reply = payload_to_reply(message.payload, self.blobs)
        by_part = hasattr(transport, "parts")
        parts = transport.parts(reply) if by_part else [reply]
        send = transport.deliver_part if by_part else transport.deliver
        first = min(message.parts_sent or 0, len(parts) - 1)
        platform_id: str | None = None
        try:
            for index in range(first, len(parts)):
                if index == first:
                    while (late := self.limiter.clear(message.chat_id)) > 0:
                        await self.sleep(late)
                else:
                    await self.limiter.acquire(message.chat_id, self.sleep)
                platform_id = await send(message.chat_id, parts[index])
                if index < len(parts) - 1:
                    async with self.db.session() as session:
                        await outbox.mark_parts_sent(session, message.id, index + 1)
        except RetryLater as exc:
            self.limiter.pause(message.chat_id, exc.retry_after)
            after = timedelta(seconds=exc.retry_after)
            await self._record(outbox.mark_retry, message, after=after,
                               error=f"retry_after={exc.retry_after}", count_attempt=False)
            return after
        except Unreachable as exc:
            # Blocked: passed on to their other account, or held (not tried) until they write again.
            async with self.db.session() as session:
                passed = await outbox.mark_unreachable(session, message, now=self.clock.now())
                if passed or message.person_id is None:  # gone to the person's other account: this copy is done
                    await outbox.mark_failed(session, message.id, now=self.clock.now(), error=f"unreachable: {exc}")
                else:  # held, with the person's other messages, until they write again
                    await outbox.mark_retry(session, message, now=self.clock.now(), after=timedelta(0),
                                            error=f"unreachable: {exc}", count_attempt=False)
            if passed:
                self.wake.set()  # send the copy on the other channel in the next round
            return timedelta(0)  # the chat's later messages in this batch are not tried either
        except PermanentFailure as exc:
            async with self.db.session() as session:
                await outbox.mark_failed(session, message.id, now=self.clock.now(), error=str(exc))
        except (DeliveryError, asyncio.TimeoutError, OSError) as exc:
            log.warning("delivery of outbox message %s failed: %s", message.id, exc)
            after = backoff(message.attempts)
            await self._record(outbox.mark_retry, message, after=after, error=repr(exc))
            return after if message.attempts < outbox.MAX_ATTEMPTS else None  # else it failed for good
        else:
            async with self.db.session() as session:
                await outbox.mark_sent(session, message.id, now=self.clock.now(), platform_message_id=platform_id)
            self.sent += 1
        return None

    async def _hold_chat(self, first: OutboxMessage, claimed: list[OutboxMessage], *, after: timedelta) -> None:
        """Keep the chat's order behind ``first``, which goes again ``after`` from now: the ``claimed``
        messages go back to the outbox unsent (no attempt counted), due then, and so do the chat's
        later messages no sender holds."""
        now = self.clock.now()
        async with self.db.session() as session:
            for message in claimed:
                await outbox.mark_retry(session, message, now=now, after=after,
                                        error=f"waiting behind message {first.id}" if message is not first
                                        else f"waiting: chat rate limit ({after.total_seconds():.1f} s)",
                                        count_attempt=False)
            await outbox.hold_chat(session, channel=first.channel, chat_id=first.chat_id, after_id=first.id,
                                   until=now + after, now=now)

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
