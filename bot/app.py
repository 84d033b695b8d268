"""The composition root: everything is built here, from the settings, in one function."""

from __future__ import annotations

from dataclasses import dataclass

from bot.settings import Settings
from handlers.conversation import Conversation, HandlerContext
from schedules.calendar import WorkCalendar
from schedules.clock import Clock, SystemClock
from storage.db import Database


@dataclass
class App:
    settings: Settings
    db: Database
    clock: Clock
    calendar: WorkCalendar
    conversation: Conversation

    async def close(self) -> None:
        await self.db.dispose()


def build_app(settings: Settings, *, clock: Clock | None = None) -> App:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    clock = clock or SystemClock()
    calendar = WorkCalendar()
    ctx = HandlerContext(db=db, clock=clock, tz=settings.tz, calendar=calendar, bot_username=settings.bot_username)
    return App(settings=settings, db=db, clock=clock, calendar=calendar, conversation=Conversation(ctx))
