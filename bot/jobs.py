"""The scheduled jobs, composed: the reminder tick and the morning digest, each one unit of work."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import select

from bot.app import App
from handlers.reminders import LadderConfig, TickResult, plan_reminders, queue_reminders
from storage.models import OutboxMessage


def ladder_config(app: App) -> LadderConfig:
    settings = app.settings
    return LadderConfig(ladder=settings.reminder_ladder, calendar=app.calendar, tz=settings.tz,
                        quiet=settings.quiet_hours)


async def tick(app: App, now: datetime, *, dry_run: bool = False) -> TickResult:
    """Queue the reminders due at ``now`` (or, with ``dry_run``, only say what would be queued)."""
    if dry_run:
        return await plan_reminders(app.db, now, ladder_config(app))
    queued = await queue_reminders(app.db, now, ladder_config(app))
    if queued.messages and app.wake_sender is not None:
        app.wake_sender()
    if len(queued.messages) > 1000:
        release_memory()
    return queued


def release_memory() -> None:
    """After a heavy tick: hand the freed heap back to the system (glibc keeps it otherwise, and a bot that
    ran one heavy morning would hold it all day)."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        libc = None
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


async def last_digest_at(app: App) -> datetime | None:
    async with app.db.session() as session:
        return (await session.exec(select(func.max(OutboxMessage.created_at)).where(
            OutboxMessage.kind == "digest"))).one()


async def digest(app: App, now: datetime) -> int:
    """Queue the morning digest (working days) for leaders and coordinators, and Monday unit summaries."""
    from handlers.digest import queue_digest

    since = await last_digest_at(app)
    async with app.db.session() as session:
        count = await queue_digest(session, now=now, tz=app.settings.tz, calendar=app.calendar, since=since,
                                   blobs=app.ctx.blobs, zalo_quota=app.settings.zalo_monthly_quota)
    if count and app.wake_sender is not None:
        app.wake_sender()
    return count


async def workflows(app: App, now: datetime) -> int:
    """Open the periods of recurring tasks that have begun, and ask overdue units for an explanation
    (one unit of work); the number of tasks made."""
    from handlers.explanations import ask_overdue_units
    from handlers.recurring import open_due_periods

    async with app.db.session() as session:
        opened = await open_due_periods(session, now=now, tz=app.settings.tz)
        asked = await ask_overdue_units(session, now=now, tz=app.settings.tz, calendar=app.calendar)
    if asked and app.wake_sender is not None:
        app.wake_sender()
    return len(opened)
