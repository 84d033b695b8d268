"""Benchmark: the outbox sender's achieved rate against Telegram's 30 messages/s, in real time.

Run: ``python -m pytest tests/bench/bench_sender.py -s`` (files named bench_* are not collected by the
normal test run). 1,000 messages (765 private chats with one each, 45 with five, a group with 10
among the first 300: under its 20/min, so the group's minute does not set the pace) drain through ``OutboxSender.run`` + ``TelegramTransport`` (real aiogram, HTTP on
loopback) into the fake Bot API enforcing 30/s overall, 1/s per chat and 20/min per group, answering
429 beyond them. Printed: seconds, messages/s, the ratio to 30/s (the limit) and to 28/s (the
sender's configured rate), and the 429 count. The assertions only guard against nonsense.
"""

from __future__ import annotations

from collections import Counter

from bot.sender import Limits
from tests.test_sender import busiest_window, delivered, drain_under_limits, rate_plan, rows

MESSAGES = 1000


async def test_sender_rate_against_the_telegram_limit(sqlite_db):
    plan = rate_plan(singles=765, fives=45, group=10)
    assert len(plan) == MESSAGES
    fake, plan, elapsed = await drain_under_limits(sqlite_db, 1.0, plan)
    rate = MESSAGES / elapsed
    configured = Limits().global_per_s
    sends = sorted(m.time for m in fake.sent)
    steady = (len(sends) - 1) / (sends[-1] - sends[0])  # first send to last, without start-up
    print(f"\nsender: {MESSAGES} messages in {elapsed:.1f} s = {rate:.1f}/s; "
          f"{rate / 30:.2f} of the 30/s limit, {rate / configured:.2f} of the configured {configured:g}/s; "
          f"first to last send {steady:.1f}/s ({steady / 30:.2f} of 30/s); "
          f"busiest second {busiest_window(sends, 1.0)}; "
          f"429s: {fake.too_many_requests}")
    assert delivered(fake) == Counter(key for key, _ in plan)
    assert all(m.sent_at is not None for m in (await rows(sqlite_db)).values())
    assert fake.too_many_requests == 0
    assert 0.5 < rate / 30 <= 1.0 and busiest_window(sends, 1.0) <= 30
