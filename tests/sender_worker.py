"""A sender process for the crash test (``tests/test_sender.py``): drains the outbox, then exits.

    python -m tests.sender_worker DATABASE_URL API_BASE TOKEN [--skew-s S] [--concurrency N] [--batch N]

It is the production path (``OutboxSender`` + ``TelegramTransport`` + ``make_bot``) against the test's
fake Bot API on loopback, with the rate limiter opened up (the fake enforces no limits here) so the
test runs in a second or two. ``--skew-s`` moves the sender's clock ahead, as if it restarted after the
lease of the killed process had run out (without it a restart would wait ``lease`` of real time).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime, timedelta

from bot.sender import Limits, OutboxSender, RateLimiter
from bot.telegram import TelegramTransport, make_bot
from schedules.clock import SystemClock
from storage.db import Database


class SkewedClock:
    def __init__(self, skew: timedelta) -> None:
        self.skew = skew
        self.system = SystemClock()

    def now(self) -> datetime:
        return self.system.now() + self.skew


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url")
    parser.add_argument("api_base")
    parser.add_argument("token")
    parser.add_argument("--skew-s", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args(argv)

    db = Database(args.database_url)
    bot = make_bot(args.token, args.api_base)
    try:
        sender = OutboxSender(
            db, {"telegram": TelegramTransport(bot)}, SkewedClock(timedelta(seconds=args.skew_s)),
            limiter=RateLimiter(Limits(global_per_s=5000, per_chat_interval_s=0.0, per_group_per_min=10_000)),
            batch=args.batch, concurrency=args.concurrency,
        )
        print("draining", flush=True)
        total = await sender.drain()
        print(f"drained {total} sent {sender.sent}", flush=True)
    finally:
        await bot.session.close()
        await db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
