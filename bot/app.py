"""The composition root: everything is built here, from the settings, in one function."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.sender import OutboxSender, Transport
from bot.settings import Settings
from handlers.conversation import Conversation, HandlerContext
from schedules.calendar import WorkCalendar
from schedules.clock import Clock, SystemClock
from storage.db import Database
from storage.filestore import EvidenceStore
from storage.pdfcheck import PdfInspector, load_trust_roots

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    db: Database
    clock: Clock
    calendar: WorkCalendar
    ctx: HandlerContext
    conversation: Conversation
    inspector: PdfInspector
    store: EvidenceStore
    transports: dict[str, Transport] = field(default_factory=dict)
    wake_sender: Callable[[], None] | None = None
    scheduler: object | None = None

    def sender(self, **kwargs) -> OutboxSender:
        return OutboxSender(self.db, self.transports, self.clock, **kwargs)

    async def close(self) -> None:
        await self.inspector.aclose()
        await self.db.dispose()


def build_app(settings: Settings, *, clock: Clock | None = None) -> App:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    clock = clock or SystemClock()
    calendar = WorkCalendar()
    inspector = PdfInspector(trust_roots=load_trust_roots(settings.trust_roots_dir))
    store = EvidenceStore(settings.data_dir / "evidence")
    ctx = HandlerContext(db=db, clock=clock, tz=settings.tz, calendar=calendar, bot_username=settings.bot_username,
                         inspector=inspector, store=store)
    return App(settings=settings, db=db, clock=clock, calendar=calendar, ctx=ctx, conversation=Conversation(ctx),
               inspector=inspector, store=store)


async def run_telegram(app: App, *, stop: asyncio.Event | None = None, with_scheduler: bool = True) -> None:
    """Serve Telegram (polling, or webhook when WEBHOOK_URL is set) and drain the outbox until stopped."""
    from bot.telegram import TelegramChannel, TelegramTransport, make_bot

    settings = app.settings
    api_base = str(settings.telegram_api_base) if settings.telegram_api_base else None
    bot = make_bot(settings.token, api_base)
    stop = stop or asyncio.Event()
    app.transports["telegram"] = TelegramTransport(bot)
    sender = app.sender()
    app.wake_sender = sender.wake.set
    channel = TelegramChannel(bot, app.conversation, app.db, on_outbox=sender.wake.set)
    app.ctx.fetch_file = channel.fetch_ref
    me = await bot.get_me()
    if settings.bot_username is None:
        app.ctx.bot_username = me.username
    await channel.set_default_commands()
    await channel.refresh_commands()
    sender_task = asyncio.create_task(sender.run(stop), name="outbox-sender")
    scheduler = app.scheduler = scheduler_for(app) if with_scheduler else None
    if scheduler is not None:
        from bot import jobs

        scheduler.start()
        await jobs.tick(app, app.clock.now())  # catch up at once after a restart
    try:
        if settings.webhook_url:
            await serve_webhook(app, channel, stop)
        else:
            await bot.delete_webhook(drop_pending_updates=False)
            polling = asyncio.create_task(channel.dispatcher.start_polling(bot, handle_signals=False,
                                                                           close_bot_session=False))
            await stop.wait()
            await channel.dispatcher.stop_polling()
            await polling
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        stop.set()
        await sender_task
        await bot.session.close()


def scheduler_for(app: App):
    from bot import jobs
    from schedules.scheduler import build_scheduler

    async def tick(now):
        return await jobs.tick(app, now)

    async def digest(now):
        return await jobs.digest(app, now)

    return build_scheduler(clock=app.clock, tz=app.settings.tz, tick=tick, digest=digest,
                           digest_time=app.settings.digest_time)


async def serve_webhook(app: App, channel, stop: asyncio.Event) -> None:
    from aiohttp import web
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application

    settings = app.settings
    url = str(settings.webhook_url)
    path = settings.webhook_url.path or "/"
    web_app = web.Application()
    SimpleRequestHandler(dispatcher=channel.dispatcher, bot=channel.bot,
                         secret_token=settings.secret_token).register(web_app, path=path)
    setup_application(web_app, channel.dispatcher, bot=channel.bot)
    runner = web.AppRunner(web_app)
    await runner.setup()
    host, _, port = settings.webhook_listen.rpartition(":")
    site = web.TCPSite(runner, host, int(port))
    await site.start()
    await channel.bot.set_webhook(url, secret_token=settings.secret_token,
                                  allowed_updates=channel.dispatcher.resolve_used_update_types())
    log.info("webhook listening on %s, path %s", settings.webhook_listen, path)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
