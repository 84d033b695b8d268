"""The outbox sender against the local fake Bot API, through the real aiogram transport.

* Rate limits: a 2,000-message drain into a fake that answers 429 like Telegram gets no 429, and every
  message arrives exactly once, in order per chat. The normal suite runs it on a time-dilated clock
  (both the fake's limits and the sender's limiter see the same clock running ``SCALE`` times faster,
  so both keep their real limits); ``DONDOC_REAL_LIMITS=1`` runs it at real speed (about 75 s).
* Failures, on a virtual clock the test moves: ``retry_after`` is waited out (and not less), server
  errors and timeouts back off with attempts counted and give up after ``MAX_ATTEMPTS``, a blocked bot
  fails the message and marks the person unreachable, a permanent 400 fails it once.
* Crash: a real sender process (``tests/sender_worker.py``) is SIGKILLed in the middle of a drain at
  a known point and restarted; nothing is lost, and the only duplicates are the messages Telegram had
  accepted whose answer the killed process never got (the at-least-once window).
* Two senders on one PostgreSQL database deliver each message once.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from sqlmodel import select

from bot.sender import Limits, OutboxSender, RateLimiter
from bot.telegram import TelegramTransport, make_bot
from handlers.chat import Reply, reply_to_payload
from storage import outbox
from storage.db import Database
from storage.models import OutboxMessage, Person
from storage.outbox import MAX_ATTEMPTS, Recipient
from tests.conftest import REPO, postgres_database
from tests.fakebot import FakeBotApi, RateLimits
from tests.fakebot.server import WAIT_GUARD_S

T0 = datetime(2024, 11, 14, 0, 30, tzinfo=timezone.utc)  # 07:30 in Hà Nội
KEY = re.compile(r"^\[(?P<key>[^\]]+)\] ")


# --------------------------------------------------------------------------- helpers


def text_for(key: str) -> str:
    return f"[{key}] Nhắc việc: hạn nộp báo cáo là 17:00 hôm nay."


def key_of(text: str | None) -> str:
    match = KEY.match(text or "")
    assert match, f"not a test message: {text!r}"
    return match["key"]


async def seed(db: Database, plan: list[tuple[str, int]], *, now: datetime = T0,
               texts: dict[str, str] | None = None) -> dict[int, int]:
    """Queue one message per ``(dedupe key, chat id)`` in this order; one person per chat.

    Returns the person id of each chat.
    """
    chats = list(dict.fromkeys(chat for _, chat in plan))
    async with db.session() as session:
        people = {chat: Person(name=f"Cán bộ {chat}", role="officer", created_at=now, updated_at=now)
                  for chat in chats}
        session.add_all(people.values())
        await session.flush()
        for key, chat in plan:
            text = (texts or {}).get(key, text_for(key))
            queued = await outbox.enqueue(session, dedupe_key=key, now=now,
                                          recipient=Recipient(people[chat].id, "telegram", str(chat)),
                                          payload=reply_to_payload(Reply(text=text)))
            assert queued
        return {chat: person.id for chat, person in people.items()}


async def rows(db: Database) -> dict[str, OutboxMessage]:
    async with db.session() as session:
        return {m.dedupe_key: m for m in (await session.exec(select(OutboxMessage))).all()}


def delivered(fake: FakeBotApi) -> Counter[str]:
    return Counter(key_of(m.text) for m in fake.sent if m.method == "sendMessage")


def order_by_chat(fake: FakeBotApi) -> dict[int, list[str]]:
    chats: dict[int, list[str]] = {}
    for m in fake.sent:
        chats.setdefault(m.chat_id, []).append(key_of(m.text))
    return chats


def planned_order(plan: list[tuple[str, int]]) -> dict[int, list[str]]:
    chats: dict[int, list[str]] = {}
    for key, chat in plan:
        chats.setdefault(chat, []).append(key)
    return chats


# --------------------------------------------------------------------------- rate limits


class Dilated:
    """Real time running ``scale`` times faster: a monotonic clock, a sleep and a wall clock that agree."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.origin = time.monotonic()

    def monotonic(self) -> float:
        return (time.monotonic() - self.origin) * self.scale

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.scale)

    def now(self) -> datetime:
        return T0 + timedelta(seconds=self.monotonic())


GROUP = -100_123


def rate_plan(singles: int = 1500, fives: int = 95, group: int = 25, seed_: int = 4) -> list[tuple[str, int]]:
    """By default 2,000 messages: 1,500 private chats with one each, 95 with five, one group with 25.
    Shuffled, as reminders of many assignments come out interleaved; the group's all among the first
    300, so its 20-a-minute limit really binds (its last ones must wait for the minute to pass)."""
    chats = [(700_000 + i, 1) for i in range(singles)] + [(800_000 + i, 5) for i in range(fives)]
    slots = [chat for chat, n in chats for _ in range(n)]
    random.Random(seed_).shuffle(slots)
    for position in sorted(random.Random(seed_).sample(range(300), group)):
        slots.insert(position, GROUP)
    seen: Counter[int] = Counter()
    plan = []
    for chat in slots:
        seen[chat] += 1
        plan.append((f"r{chat}:{seen[chat]:02d}", chat))
    return plan


async def drain_under_limits(db: Database, scale: float, plan: list[tuple[str, int]] | None = None
                             ) -> tuple[FakeBotApi, list[tuple[str, int]], float]:
    """Drain ``plan`` (default: the 2,000 of ``rate_plan``) into a fake enforcing Telegram's limits, with
    the sender's default limits, ``OutboxSender.run`` as in production, both on a clock running
    ``scale`` times real speed. Returns the fake, the plan and the seconds it took (dilated)."""
    time_ = Dilated(scale)
    plan = plan or rate_plan()
    await seed(db, plan, now=time_.now())
    fake = FakeBotApi(rate_limits=RateLimits(global_per_s=30, per_chat_per_s=1, per_group_per_min=20),
                      clock=time_.monotonic)
    await fake.start()
    fake.group(GROUP, "UBND xã Tân Lập — Văn phòng")
    for chat in {chat for _, chat in plan if chat > 0}:  # people who wrote to the bot (registered)
        fake.user(chat, f"Cán bộ {chat}").has_written = True
    bot = make_bot(fake.token, fake.base_url)
    sender = OutboxSender(db, {"telegram": TelegramTransport(bot)}, time_,
                          limiter=RateLimiter(Limits(), monotonic=time_.monotonic), sleep=time_.sleep)
    stop = asyncio.Event()
    try:
        started = time_.monotonic()
        running = asyncio.create_task(sender.run(stop, idle_s=0.05))
        await fake.wait_for_sent(count=len(plan), timeout=400 / scale)
        elapsed = time_.monotonic() - started
        stop.set()
        await running
    finally:
        stop.set()
        await bot.session.close()
        await fake.close()
    return fake, plan, elapsed


def check_rate_drain(fake: FakeBotApi, plan: list[tuple[str, int]], state: dict[str, OutboxMessage]) -> None:
    assert fake.too_many_requests == 0
    assert delivered(fake) == Counter(key for key, _ in plan)  # every message exactly once
    assert order_by_chat(fake) == planned_order(plan)
    assert all(m.sent_at is not None and m.attempts == 1 for m in state.values())
    # The fake's limits, measured on what it received (no 429 already implies them; this names them).
    assert busiest_window([m.time for m in fake.sent], 1.0) <= 30
    assert busiest_window([m.time for m in fake.sent if m.chat_id == GROUP], 60.0) <= 20


def busiest_window(times: list[float], window: float) -> int:
    """The most sends in any window of ``window`` seconds (open at the start, as the fake counts)."""
    times = sorted(times)
    start = best = 0
    for end, at in enumerate(times):
        while times[start] <= at - window:
            start += 1
        best = max(best, end - start + 1)
    return best


# Three times real speed keeps the measured jitter (event loop, loopback HTTP, SQLite) well inside the
# limiter's margins (28/s against 30/s, 1.05 s against 1 s); the full real-time run is opt-in.
SCALE = float(os.environ.get("DONDOC_SENDER_SCALE", "3"))


async def test_2000_messages_drain_without_a_single_429(sqlite_db):
    fake, plan, elapsed = await drain_under_limits(sqlite_db, SCALE)
    assert len(plan) == 2000
    print(f"\n2,000 messages in {elapsed:.1f} s (x{SCALE:g} time): {2000 / elapsed:.1f}/s, "
          f"429s: {fake.too_many_requests}")
    check_rate_drain(fake, plan, await rows(sqlite_db))
    # 2,000 messages cannot go out faster than 30/s, whatever the machine's load.
    assert 2000 / 30 <= elapsed, elapsed
    # How close to its 28/s the sender comes depends on the CPU it gets: on a busy machine the dilated
    # clock runs on while the process waits for a core. That figure is the opt-in real-time test's.


@pytest.mark.skipif(os.environ.get("DONDOC_REAL_LIMITS") != "1",
                    reason="real-time variant (~75 s): set DONDOC_REAL_LIMITS=1")
async def test_2000_messages_drain_without_a_single_429_in_real_time(sqlite_db):
    fake, plan, elapsed = await drain_under_limits(sqlite_db, 1.0)
    check_rate_drain(fake, plan, await rows(sqlite_db))
    print(f"\n2,000 messages in {elapsed:.1f} s: {2000 / elapsed:.1f}/s, 429s: {fake.too_many_requests}")
    # The sender should not be far below its 28/s (a batch held up by its busiest chat, or a deferred
    # chat starved behind the backlog, is). Real time: run it on a quiet machine.
    assert 2000 / 30 <= elapsed < 2000 / 22, elapsed


# --------------------------------------------------------------------------- failures, on virtual time


class VirtualTime:
    """The sender's only time source in these tests: monotonic seconds and the clock's ``now`` agree,
    and move when the test says so or when the sender sleeps (a sleep returns at once, the time
    having jumped)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def monotonic(self) -> float:
        return self.seconds

    def now(self) -> datetime:
        return T0 + timedelta(seconds=self.seconds)

    async def sleep(self, seconds: float) -> None:
        self.seconds += seconds
        await asyncio.sleep(0)

    def advance_to(self, seconds: float) -> None:
        assert seconds >= self.seconds
        self.seconds = seconds


class World:
    def __init__(self, db: Database, fake: FakeBotApi, bot: Bot, time_: VirtualTime, **sender_kwargs: Any) -> None:
        self.db, self.fake, self.bot, self.time = db, fake, bot, time_
        self.sender = OutboxSender(db, {"telegram": TelegramTransport(bot)}, time_,
                                   limiter=RateLimiter(Limits(), monotonic=time_.monotonic), sleep=time_.sleep,
                                   **sender_kwargs)

    def calls(self) -> int:
        return len(self.fake.calls_of("sendMessage"))

    async def person(self, person_id: int) -> Person:
        async with self.db.session() as session:
            return await session.get(Person, person_id)


async def virtual_world(db: Database, *, request_timeout: float = 10.0, strict_chats: bool = False,
                        **sender_kwargs: Any):
    """The sender on virtual time against the fake with Telegram's rate limits on that time; chats need
    not have written first unless ``strict_chats`` (these tests are about the sender's failure paths)."""
    time_ = VirtualTime()
    fake = FakeBotApi(clock=time_.monotonic, strict_chats=strict_chats)
    await fake.start()
    bot = Bot(fake.token, session=AiohttpSession(api=fake.api_server, timeout=request_timeout))
    try:
        yield World(db, fake, bot, time_, **sender_kwargs)
    finally:
        await bot.session.close()
        await fake.close()


@pytest.fixture
async def world(db):
    async for w in virtual_world(db, batch=2):
        yield w


@pytest.fixture
async def impatient_world(db):
    """The client gives up on a request after half a second (real time)."""
    async for w in virtual_world(db, request_timeout=0.5):
        yield w


async def test_retry_after_is_waited_out_and_the_chat_keeps_its_order(world):
    await seed(world.db, [("a1", 501), ("a2", 501), ("b1", 502), ("a3", 501)])
    world.fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)

    await world.sender.drain()  # batch 1 = a1, a2 (batch=2); batch 2 = b1 (a3 waits behind a1)
    state = await rows(world.db)
    assert world.calls() == 2  # a1 (429) and b1; neither a2 nor a3 went before a1
    assert [key_of(m.text) for m in world.fake.sent] == ["b1"]
    assert world.fake.sent[0].time < 1.0  # the paused chat did not hold the other one up
    assert state["a1"].not_before == T0 + timedelta(seconds=7)
    assert state["a1"].attempts == 0  # a rate limit is not a failed attempt
    assert state["a1"].last_error == "retry_after=7"
    for key in ("a2", "a3"):
        assert state[key].not_before >= state["a1"].not_before and state[key].attempts == 0
        assert state[key].sent_at is None and state[key].claimed_until is None
    assert state["a1"].sent_at is None

    world.time.advance_to(6.99)
    assert await world.sender.drain() == 0
    assert world.calls() == 2

    world.time.advance_to(7.0)
    await world.sender.drain()
    assert order_by_chat(world.fake) == {501: ["a1", "a2", "a3"], 502: ["b1"]}
    retried = world.fake.messages_to(501)
    assert retried[0].time >= 7.0
    assert all(later.time - earlier.time >= 1.0 for earlier, later in zip(retried, retried[1:]))
    state = await rows(world.db)
    assert all(m.sent_at is not None and m.attempts == 1 for m in state.values())
    assert world.calls() == 5


async def test_a_busy_chat_waits_in_the_outbox_not_in_the_batch(db):
    """30 messages to one chat (1 a second) and 10 to other chats: the batch sends the others and
    what the busy chat can send within ``max_wait``; the rest goes back to the outbox, in order,
    instead of stretching the batch (and its lease) to half a minute."""
    async for world in virtual_world(db, max_wait=5.0):
        plan = [(f"x{i:02d}", 511) for i in range(30)] + [(f"y{i}", 520 + i) for i in range(10)]
        await seed(world.db, plan)
        went: list[tuple[float, str]] = []
        clear = world.sender.limiter.clear

        def recording_clear(chat_id: str) -> float:
            wait = clear(chat_id)
            if wait == 0:
                went.append((world.time.seconds, chat_id))
            return wait

        world.sender.limiter.clear = recording_clear
        assert await world.sender.drain_once() == 40
        assert world.time.seconds < 6.0  # the whole batch
        state = await rows(world.db)
        sent = {key for key, m in state.items() if m.sent_at is not None}
        assert {f"y{i}" for i in range(10)} <= sent
        busy = [f"x{i:02d}" for i in range(30)]
        first = [key for key in busy if key in sent]
        assert first == busy[:5]  # 0, 1.05, 2.1, 3.15, 4.2 s: what fits before the 5 s cutoff
        for key in busy[len(first):]:
            m = state[key]
            assert m.claimed_until is None and m.attempts == 0 and m.not_before > T0

        while len(delivered(world.fake)) < len(plan):
            waiting = [m.not_before for m in (await rows(world.db)).values() if m.sent_at is None]
            world.time.advance_to(max(world.time.seconds, (min(waiting) - T0).total_seconds()))
            assert await world.sender.drain() > 0
        assert world.fake.too_many_requests == 0
        assert order_by_chat(world.fake)[511] == busy
        # When the sender let each go (virtual time jumps while a request is in flight, so the
        # fake's own clock says little about spacing here).
        times = [at for at, chat in went if chat == "511"]
        assert len(times) == 30
        assert all(later - earlier >= 1.05 - 1e-9 for earlier, later in zip(times, times[1:]))
        assert all(m.attempts == 1 for m in (await rows(world.db)).values())


def test_a_stalled_event_loop_does_not_release_a_burst():
    """Ten sends booked 1/28 s apart; the event loop stalls for a second before any goes. They must
    not all go at once when it resumes: ``clear`` spaces the real sends as the slots were."""
    now = [0.0]
    limiter = RateLimiter(Limits(), monotonic=lambda: now[0])
    waits = [limiter.reserve(str(600 + i)) for i in range(10)]
    assert waits == sorted(waits) and waits[-1] < 0.5
    now[0] = 1.0
    sent = []
    pending = [str(600 + i) for i in range(10)]
    while pending:
        wait = limiter.clear(pending[0])
        if wait > 0:
            now[0] += wait
        else:
            sent.append(now[0])
            pending.pop(0)
    gaps = [b - a for a, b in zip(sent, sent[1:])]
    assert min(gaps) >= 1 / 29 - 1e-9
    # And one chat's sends, booked a chat interval apart, keep the interval when the first is late.
    chat = RateLimiter(Limits(), monotonic=lambda: now[0])
    first, second = (now[0] + chat.reserve("700") for _ in range(2))
    assert second - first >= 1.05
    now[0] = first + 0.5  # the first send is half a second late
    assert chat.clear("700") == 0
    now[0] = second  # the second is on time: it waits until 1.05 s after the first really went
    assert chat.clear("700") == pytest.approx(first + 0.5 + 1.05 - second)
    assert chat.clear("700") > 0.4


async def test_server_errors_and_timeouts_back_off_with_attempts_counted(impatient_world):
    world = impatient_world
    await seed(world.db, [("c1", 601)])
    world.fake.fail_next("sendMessage", 500, "Internal Server Error")
    await world.sender.drain()
    [c1] = (await rows(world.db)).values()
    assert (c1.attempts, c1.not_before, c1.sent_at, c1.failed_at) == (1, T0 + timedelta(seconds=5), None, None)
    assert "Internal Server Error" in c1.last_error

    world.time.advance_to(4.99)
    assert await world.sender.drain() == 0 and world.calls() == 1

    world.time.advance_to(5.0)
    world.fake.delay_next("sendMessage", 60)  # held before it is performed; the client gives up at 0.5 s
    await world.sender.drain()
    [c1] = (await rows(world.db)).values()
    assert world.calls() == 2 and world.fake.sent == []
    assert (c1.attempts, c1.not_before, c1.sent_at) == (2, T0 + timedelta(seconds=15), None)
    assert "timeout" in c1.last_error.lower()

    world.time.advance_to(14.99)
    assert await world.sender.drain() == 0 and world.calls() == 2
    world.time.advance_to(15.0)
    await world.sender.drain()
    [c1] = (await rows(world.db)).values()
    assert delivered(world.fake) == Counter({"c1": 1})
    assert (c1.attempts, c1.last_error, c1.failed_at) == (3, None, None) and c1.sent_at is not None


async def test_transient_failures_give_up_after_max_attempts(world):
    await seed(world.db, [("g1", 611)])
    world.fake.fail_next("sendMessage", 502, "Bad Gateway", count=MAX_ATTEMPTS + 5)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        await world.sender.drain()
        [g1] = (await rows(world.db)).values()
        assert g1.attempts == attempt and world.calls() == attempt
        world.time.advance_to(world.time.seconds + 3600)
    assert g1.failed_at is not None and g1.sent_at is None
    world.time.advance_to(world.time.seconds + 86_400)
    assert await world.sender.drain() == 0 and world.calls() == MAX_ATTEMPTS


async def test_a_timeout_after_telegram_accepted_the_message_sends_it_twice(impatient_world):
    """The at-least-once window without any crash: Telegram performed the send but the answer came
    too late; the sender cannot tell this from a send that never happened, so it sends again."""
    world = impatient_world
    await seed(world.db, [("h1", 621)])
    world.fake.delay_next("sendMessage", 60, after_processing=True)
    await world.sender.drain()
    assert delivered(world.fake) == Counter({"h1": 1})
    [h1] = (await rows(world.db)).values()
    assert h1.sent_at is None and h1.attempts == 1
    world.time.advance_to(5.0)
    await world.sender.drain()
    assert delivered(world.fake) == Counter({"h1": 2})
    [h1] = (await rows(world.db)).values()
    assert h1.sent_at is not None


async def test_a_blocked_persons_queue_is_held_and_released_when_they_write_again(world):
    people = await seed(world.db, [("d1", 701), ("d2", 701), ("d3", 701), ("e1", 702)])
    world.fake.user(701, "Bình").block_bot(notify=False)
    await world.sender.drain()
    state = await rows(world.db)
    assert len(world.fake.calls_of("sendMessage")) == 2  # d1 (403) and e1: d2, d3 were not tried
    assert state["d1"].last_error.startswith("unreachable: ") and "blocked" in state["d1"].last_error
    for key in ("d1", "d2", "d3"):  # held, not failed: nothing is lost
        assert state[key].failed_at is None and state[key].sent_at is None and state[key].attempts == 0
    assert state["e1"].sent_at is not None
    assert (await world.person(people[701])).unreachable_since is not None
    assert (await world.person(people[702])).unreachable_since is None

    calls = world.calls()
    world.time.advance_to(86_400)
    assert await world.sender.drain() == 0 and world.calls() == calls  # held: not tried a day later either

    world.fake.user(701, "Bình").unblock_bot()
    async with world.db.session() as session:  # they write again (``Conversation.handle`` calls this)
        await outbox.release_held(session, await session.get(Person, people[701]))
    await world.sender.drain()
    assert order_by_chat(world.fake)[701] == ["d1", "d2", "d3"]
    assert all(m.sent_at is not None for m in (await rows(world.db)).values())


class PartTwoLimited(FakeBotApi):
    """Answers the second sendMessage with a 429 (retry after 5 s)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arrived = 0

    def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        result = super()._api_sendMessage(params)
        self.arrived += 1
        if self.arrived == 1:
            self.fail_next("sendMessage", 429, "Too Many Requests: retry after 5", retry_after=5)
        return result


async def test_a_429_on_part_2_of_3_sends_parts_2_and_3_once_each(db):
    time_ = VirtualTime()
    fake = PartTwoLimited(clock=time_.monotonic)
    await fake.start()
    bot = Bot(fake.token, session=AiohttpSession(api=fake.api_server))
    try:
        world = World(db, fake, bot, time_)
        fake.user(801, "Chi").has_written = True
        long = "\n".join(f"[p{part}] " + "x" * 4000 for part in (1, 2, 3))  # three Telegram-sized parts
        await seed(db, [("long", 801)], texts={"long": long})
        await world.sender.drain()
        (message,) = (await rows(db)).values()
        assert message.parts_sent == 1 and message.sent_at is None and message.attempts == 0
        limited_at = fake.messages_to(801)[0].time + 1.0  # part 2 went a chat interval after part 1
        assert message.not_before >= T0 + timedelta(seconds=limited_at + 5)
        assert [m.text[:4] for m in fake.messages_to(801)] == ["[p1]"]
        resume = (message.not_before - T0).total_seconds()
        time_.advance_to(resume)
        await world.sender.drain()
        sent = fake.messages_to(801)
        assert [m.text[:4] for m in sent] == ["[p1]", "[p2]", "[p3]"]  # part 1 not again; 2 and 3 once each
        assert sent[1].time >= resume and sent[2].time - sent[1].time >= 1.0  # paced: one a second per chat
        (message,) = (await rows(db)).values()
        assert message.sent_at is not None and message.parts_sent == 2
        assert len(fake.calls_of("sendMessage")) == 4  # p1, the refused p2, p2, p3
    finally:
        await bot.session.close()
        await fake.close()


@pytest.fixture
async def strict_world(db):
    async for w in virtual_world(db, strict_chats=True):
        yield w


async def test_a_permanent_400_fails_the_message_once(strict_world):
    world = strict_world
    world.fake.user(801, "Chi").has_written = True  # 802 never wrote to the bot
    people = await seed(world.db, [("p1", 801), ("p2", 801), ("q1", 802)], texts={"p1": "   "})
    await world.sender.drain()
    state = await rows(world.db)
    assert state["p1"].failed_at is not None and state["p1"].attempts == 1
    assert "message text is empty" in state["p1"].last_error
    assert state["p2"].sent_at is not None  # the next message of the chat is not held back by it
    assert (await world.person(people[801])).unreachable_since is None
    # "chat not found" is a 400 too, but says the person cannot be reached: held until they write again
    assert state["q1"].failed_at is None and state["q1"].sent_at is None and "chat not found" in state["q1"].last_error
    assert (await world.person(people[802])).unreachable_since is not None

    world.time.advance_to(86_400)
    assert await world.sender.drain() == 0 and world.calls() == 3


# --------------------------------------------------------------------------- crash and restart


class HoldingFake(FakeBotApi):
    """From the ``hold_from``-th sendMessage on, every sendMessage is held open (never answered while
    the client lives): before it is performed, or after (Telegram accepted it; the answer is lost)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hold_from: int | None = None
        self.after_processing = False
        self.arrived = 0
        self.held: list[str] = []

    async def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        self.arrived += 1
        if self.hold_from is None or self.arrived < self.hold_from:
            return super()._api_sendMessage(params)
        result = super()._api_sendMessage(params) if self.after_processing else None
        self.held.append(key_of(params.get("text")))
        self._notify()
        await self._closed.wait()  # a client that disconnects cancels this first
        if result is None:
            raise RuntimeError("held call released without being performed")
        return result

    async def wait_for_held(self, count: int, timeout: float) -> None:
        await self._wait_until(lambda: True if len(self.held) >= count else None, timeout, f"{count} held sends")


async def run_worker(db: Database, fake: FakeBotApi, log: Path, *extra: str) -> asyncio.subprocess.Process:
    with log.open("ab") as output:  # a file, not a pipe: nobody reads the killed one's output
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.sender_worker", db.url, fake.base_url, fake.token, *extra,
            cwd=REPO, stdout=output, stderr=output)


CRASH_MESSAGES = 400
HOLD_FROM = 120  # well inside the first batch of 200, as the sends in flight are
CONCURRENCY = 16


def crash_plan() -> list[tuple[str, int]]:
    slots = [900_000 + i for i in range(CRASH_MESSAGES // 4) for _ in range(4)]
    random.Random(7).shuffle(slots)
    seen: Counter[int] = Counter()
    plan = []
    for chat in slots:
        seen[chat] += 1
        plan.append((f"k{len(plan):04d}-{chat}-{seen[chat]}", chat))
    return plan


@pytest.mark.parametrize("after_processing", [False, True], ids=["held-before-sending", "held-after-sending"])
async def test_killed_mid_drain_and_restarted(db, after_processing, tmp_path):
    """SIGKILL a sender process while the fake holds sends #120 onwards, restart it, let it finish.

    The kill lands at a known point: the worker has ``CONCURRENCY`` sends in flight, all held by the
    fake, so every other message is either marked sent (its permit was released after the commit)
    or not yet tried. Held before sending: nothing is lost or duplicated. Held after sending: those
    ``CONCURRENCY`` messages reached the chat but were never confirmed, and the restart sends them
    again (at least once; nothing else is duplicated, nothing is lost).
    """
    plan = crash_plan()
    await seed(db, plan, now=datetime.now(timezone.utc) - timedelta(minutes=1))
    fake = HoldingFake(rate_limits=None, strict_chats=False)  # the worker's limiter is opened up, see there
    fake.hold_from, fake.after_processing = HOLD_FROM, after_processing
    await fake.start()
    log = tmp_path / "worker.log"
    worker = await run_worker(db, fake, log, "--concurrency", str(CONCURRENCY))
    try:
        await fake.wait_for_held(CONCURRENCY, timeout=WAIT_GUARD_S)
        assert worker.returncode is None
        worker.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(worker.wait(), WAIT_GUARD_S) == -signal.SIGKILL
        before_kill = delivered(fake)
        held = set(fake.held)
        assert len(held) == CONCURRENCY
        state = await rows(db)
        marked = {key for key, m in state.items() if m.sent_at is not None}
        # What the killed process confirmed is exactly what the fake delivered outside the held calls.
        assert marked == set(before_kill) - held
        assert len(marked) == HOLD_FROM - 1
        if after_processing:
            assert held <= set(before_kill)  # in the chats, not confirmed
        else:
            assert held.isdisjoint(before_kill)

        fake.hold_from = None
        # The restart comes after the killed process's lease (2 min) ran out: its clock is 10 min ahead.
        worker = await run_worker(db, fake, log, "--concurrency", str(CONCURRENCY), "--skew-s", "600")
        assert await asyncio.wait_for(worker.wait(), 120) == 0, log.read_text()
        assert f"sent {CRASH_MESSAGES - (HOLD_FROM - 1)}" in log.read_text()  # the killed batch and the rest
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
        await fake.close()

    counts = delivered(fake)
    assert set(counts) == {key for key, _ in plan}  # nothing lost
    duplicated = {key for key, n in counts.items() if n > 1}
    assert max(counts.values()) <= 2
    assert duplicated == (held if after_processing else set())
    assert all(m.sent_at is not None for m in (await rows(db)).values())
    if not after_processing:
        assert order_by_chat(fake) == planned_order(plan)


# --------------------------------------------------------------------------- two senders, one database


@pytest.fixture
async def pg_url():
    async for database in postgres_database():
        url = database.url
        yield url


async def test_two_claims_at_once_take_different_messages_without_waiting(pg_url):
    one, two = Database(pg_url), Database(pg_url)
    try:
        await seed(one, [(f"s{i}", 950_000 + i) for i in range(10)])
        async with one.session() as first_session:
            first = await outbox.claim(first_session, now=T0, limit=5, lease=timedelta(minutes=2))
            async with two.session() as second_session:  # the first transaction is still open
                second = await asyncio.wait_for(
                    outbox.claim(second_session, now=T0, limit=5, lease=timedelta(minutes=2)), WAIT_GUARD_S)
        assert len(first) == len(second) == 5
        assert {m.id for m in first}.isdisjoint({m.id for m in second})
        async with one.session() as session:
            assert await outbox.claim(session, now=T0, limit=5, lease=timedelta(minutes=2)) == []
    finally:
        await one.dispose()
        await two.dispose()


async def test_two_senders_on_one_postgresql_deliver_each_message_once(pg_url):
    one, two = Database(pg_url), Database(pg_url)
    plan = [(f"t{i:04d}", 960_000 + i % 300) for i in range(1000)]
    fake = FakeBotApi(rate_limits=None, strict_chats=False)  # the senders' limiter is opened up below
    await fake.start()
    bots = [make_bot(fake.token, fake.base_url) for _ in range(2)]
    fast = Limits(global_per_s=5000, per_chat_interval_s=0.0, per_group_per_min=10_000)
    try:
        await seed(one, plan, now=datetime.now(timezone.utc) - timedelta(minutes=1))
        senders = [OutboxSender(database, {"telegram": TelegramTransport(bot)}, _SystemClock(),
                                limiter=RateLimiter(fast), batch=20, concurrency=8)
                   for database, bot in zip((one, two), bots)]
        await asyncio.wait_for(asyncio.gather(*(sender.drain() for sender in senders)), 120)
        assert delivered(fake) == Counter(key for key, _ in plan)
        assert sum(sender.sent for sender in senders) == len(plan)
        assert all(sender.sent > 100 for sender in senders)  # both really worked
        assert all(m.sent_at is not None and m.attempts == 1 for m in (await rows(one)).values())
    finally:
        for bot in bots:
            await bot.session.close()
        await fake.close()
        await one.dispose()
        await two.dispose()


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


async def test_an_unreachable_person_gets_nothing_queued_until_they_write_again(sqlite_db):
    from bot.demo import load_demo
    from handlers.chat import Incoming, Sender
    from handlers.notify import notify
    from schedules.clock import FixedClock as Clock
    from storage.queries import bind_identity
    from tests.conftest import VN, vn
    from tests.test_console import conversation

    await load_demo(sqlite_db, now=vn(2026, 11, 21, 9), tz=VN)
    async with sqlite_db.session() as session:
        person = (await session.exec(select(Person).where(Person.name == "Nguyễn Văn An"))).one()
        await bind_identity(session, person, channel="telegram", external_id="55", chat_id="55", username=None,
                            now=vn(2026, 11, 21, 9))
        person.unreachable_since = vn(2026, 11, 21, 10)
    async with sqlite_db.session() as session:
        assert await notify(session, [person.id], Reply("x"), key="k1", now=vn(2026, 11, 21, 11)) == 0
    await conversation(sqlite_db, Clock(vn(2026, 11, 21, 12))).handle(
        Incoming.from_text(Sender("telegram", "55", "55"), "/tasks"))
    async with sqlite_db.session() as session:
        assert (await session.get(Person, person.id)).unreachable_since is None
        assert await notify(session, [person.id], Reply("x"), key="k2", now=vn(2026, 11, 21, 13)) == 1


async def test_a_direct_reply_that_hits_a_429_is_retried_and_a_long_one_is_paced(db):
    from bot.telegram import send_reply

    time_ = VirtualTime()
    fake = PartTwoLimited(clock=time_.monotonic)
    await fake.start()
    bot = Bot(fake.token, session=AiohttpSession(api=fake.api_server))
    try:
        fake.user(901, "An").has_written = True
        limiter = RateLimiter(Limits(), monotonic=time_.monotonic)  # the one the outbox sender shares
        long = "\n".join(f"[p{part}] " + "x" * 4000 for part in (1, 2, 3))
        await send_reply(bot, 901, Reply(long), limiter=limiter, sleep=time_.sleep)
        sent = fake.messages_to(901)
        assert [m.text[:4] for m in sent] == ["[p1]", "[p2]", "[p3]"]  # nothing dropped, nothing twice
        assert sent[1].time - sent[0].time >= 5.0  # the 429's retry_after was waited out
        assert sent[2].time - sent[1].time >= 1.0  # paced: one a second per chat
        assert len(fake.calls_of("sendMessage")) == 4
    finally:
        await bot.session.close()
        await fake.close()
