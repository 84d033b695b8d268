"""APScheduler 3 wiring: the reminder tick every minute and the digest at the configured time.

The jobs only call the functions they are given with the clock's ``now``; the time zone is set
explicitly on the scheduler and on every trigger.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from schedules.clock import Clock

log = logging.getLogger(__name__)

Job = Callable[[datetime], Awaitable[object]]


def build_scheduler(*, clock: Clock, tz: ZoneInfo, tick: Job, digest: Job, digest_time: time,
                    tick_every: timedelta = timedelta(minutes=1)) -> AsyncIOScheduler:
    """A scheduler (not started) that runs ``tick(now)`` every minute and ``digest(now)`` daily.

    The triggers fire on APScheduler's own (wall) clock; the jobs receive ``clock.now()``. The caller runs
    the first tick itself at start-up, so nothing waits a minute after a restart.
    """
    scheduler = AsyncIOScheduler(timezone=tz)

    def call(job: Job, name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            try:
                await job(clock.now())
            except Exception:  # a failing job must not stop the scheduler; the next run tries again
                log.exception("%s failed", name)
        run.__name__ = name
        return run

    scheduler.add_job(call(tick, "tick"), IntervalTrigger(seconds=tick_every.total_seconds(), timezone=tz),
                      id="tick", max_instances=1, coalesce=True)
    scheduler.add_job(call(digest, "digest"), CronTrigger(hour=digest_time.hour, minute=digest_time.minute,
                                                          timezone=tz),
                      id="digest", max_instances=1, coalesce=True, misfire_grace_time=3 * 3600)
    return scheduler
