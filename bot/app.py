"""The composition root: everything is built here, from the settings, in one function."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.sender import OutboxSender, RateLimiter, Transport
from bot.settings import Settings
from bot.web import web_links
from handlers.conversation import Conversation, HandlerContext
from schedules.calendar import WorkCalendar
from schedules.clock import Clock, SystemClock
from schedules.office_calendar import OfficeCalendar, load_calendar_file
from storage.blobs import BlobStore, PlatformFiles
from storage.db import Database
from storage.filestore import EvidenceStore
from storage.letterfile import LetterReader
from storage.pdfcheck import PdfInspector, load_trust_roots
from storage.sandbox import Sandbox

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
    sandbox: Sandbox
    owns_sandbox: bool = True
    transports: dict[str, Transport] = field(default_factory=dict)
    wake_sender: Callable[[], None] | None = None
    scheduler: object | None = None
    web: object | None = None
    """``bot.web.WebServer`` while the web page is served (``start_web``)."""
    office_calendar: OfficeCalendar | None = None

    async def refresh_calendar(self) -> bool:
        """Reload the office's calendar overrides from the database (at start, on every tick, after a change)."""
        if self.office_calendar is None:
            return False
        async with self.db.session() as session:
            return await self.office_calendar.refresh(session)

    def sender(self, **kwargs) -> OutboxSender:
        return OutboxSender(self.db, self.transports, self.clock, blobs=self.ctx.blobs, **kwargs)

    async def close(self) -> None:
        await stop_web(self)
        if self.owns_sandbox:
            await self.sandbox.aclose()
        await self.db.dispose()


def make_sandbox() -> Sandbox:
    """The bot's one sandbox for every untrusted file (evidence and letters): 3 warm workers, one
    file of each sender at a time, letters on at most 2 of them, so an evidence PDF always finds a
    slot soon."""
    return Sandbox(3, per_owner=1, kind_caps={"letter": 2})


def build_app(settings: Settings, *, clock: Clock | None = None, sandbox: Sandbox | None = None) -> App:
    """``sandbox``: a file sandbox to share (tests); the app then leaves it open when it closes."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    clock = clock or SystemClock()
    calendar = WorkCalendar()
    office_calendar = OfficeCalendar(
        calendar, load_calendar_file(settings.calendar_file) if settings.calendar_file else ())
    office_calendar.apply()  # the default corrections and the file; the database's part at start
    owns_sandbox = sandbox is None
    sandbox = sandbox or make_sandbox()
    inspector = PdfInspector(trust_roots=load_trust_roots(settings.trust_roots_dir), sandbox=sandbox)
    store = EvidenceStore(settings.data_dir / "evidence")
    ctx = HandlerContext(db=db, clock=clock, tz=settings.tz, calendar=calendar, bot_username=settings.bot_username,
                         inspector=inspector, store=store, links=web_links(settings, settings.data_dir),
                         letters=LetterReader(sandbox),
                         blobs=BlobStore(settings.data_dir / "blobs"))
    return App(settings=settings, db=db, clock=clock, calendar=calendar, ctx=ctx, conversation=Conversation(ctx),
               inspector=inspector, store=store, office_calendar=office_calendar,
               sandbox=sandbox, owns_sandbox=owns_sandbox)


async def start_web(app: App, web_app=None):
    """Serve the web page (upload and download links) on WEB_LISTEN when PUBLIC_BASE_URL is set, or
    ``web_app`` (from ``bot.web.build_web_app``, with more routes added, e.g. a webhook) in any case."""
    from bot.web import WebServer, build_web_app

    if app.web is not None or (web_app is None and app.ctx.links is None):
        return app.web
    server = WebServer(web_app or build_web_app(app), app.settings.web_listen)
    await server.start()
    app.web = server
    return server


async def stop_web(app: App) -> None:
    if app.web is not None:
        await app.web.stop()
        app.web = None


async def run_bot(app: App, *, stop: asyncio.Event | None = None, with_scheduler: bool = True,
                  ready: asyncio.Event | None = None, with_sender: bool = True) -> None:
    """Serve every chat platform that has a token (Telegram, Zalo or both) and drain the outbox until
    stopped; run the reminder tick and the digest (APScheduler) unless ``with_scheduler`` is False.

    ``with_scheduler=False``: the tick and the digest run in ``dondoc worker``; ``with_sender=False``: so does
    the outbox sender (its limiter is then that process's; the direct replies here keep their own)."""
    settings = app.settings
    stop = stop or asyncio.Event()
    await app.refresh_calendar()  # the office's own days, from the database
    limiter = RateLimiter()  # one for everything that goes to a Telegram chat: the outbox and direct replies
    served: list = []
    if settings.token:
        served.append(await _start_telegram(app, limiter))
    if settings.zalo_token:
        served.append(await _start_zalo(app))
    sender = app.sender(limiter=limiter)
    app.wake_sender = sender.wake.set
    for started in served:
        started.channel.on_outbox = sender.wake.set
    app.sandbox.warm()  # start the file-check workers now, not on the first file
    sender_task = asyncio.create_task(sender.run(stop), name="outbox-sender") if with_sender else None
    await start_web(app)
    scheduler = app.scheduler = scheduler_for(app) if with_scheduler else None
    if scheduler is not None:
        from bot import jobs

        scheduler.start()
        await jobs.workflows(app, app.clock.now())
        await jobs.tick(app, app.clock.now())  # catch up at once after a restart
    servers = [asyncio.create_task(started.serve(stop), name=f"serve-{started.name}") for started in served]
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        stop.set()
        for server in servers:
            try:
                await server
            except Exception:
                log.exception("a channel stopped with an error")
        if sender_task is not None:
            await sender_task
        await stop_web(app)
        for started in served:
            await started.close()


run_telegram = run_bot  # the name the Telegram-only callers know


@dataclass
class _Served:
    """A started channel: ``serve(stop)`` until stopped, then ``close()``."""

    name: str
    serve: Callable[[asyncio.Event], Awaitable[None]]
    close: Callable[[], Awaitable[None]]
    channel: Any


def _telegram_out(app: App):
    """The Telegram bot and the sender's transport to it (files re-sent by ``file_id``)."""
    from bot.telegram import TelegramTransport, make_bot

    settings = app.settings
    bot = make_bot(settings.token, str(settings.telegram_api_base) if settings.telegram_api_base else None)
    app.transports["telegram"] = TelegramTransport(bot, PlatformFiles(app.db, "telegram", app.clock))
    return bot


def _zalo_out(app: App):
    """The Zalo client and what sends to it (files as download links, the monthly count)."""
    from bot.zalo import ZaloClient, ZaloOut, ZaloTransport

    settings = app.settings
    client = ZaloClient(settings.zalo_token, str(settings.zalo_api_base) if settings.zalo_api_base else None)
    out = ZaloOut(client, app.db, app.clock, settings.tz, links=lambda: app.ctx.links,
                  monthly_quota=settings.zalo_monthly_quota)
    app.transports["zalo"] = ZaloTransport(out)
    return client, out


async def _start_telegram(app: App, limiter: RateLimiter | None = None) -> _Served:
    from bot.telegram import TelegramChannel

    settings = app.settings
    bot = _telegram_out(app)
    channel = TelegramChannel(bot, app.conversation, app.db, limiter=limiter)
    app.ctx.fetch_file = channel.fetch_ref
    me = await bot.get_me()
    if settings.bot_username is None:
        app.ctx.bot_username = me.username
    await channel.set_default_commands()
    await channel.refresh_commands()

    async def serve(stop: asyncio.Event) -> None:
        if settings.webhook_url:
            await serve_webhook(app, channel, stop)
            return
        await bot.delete_webhook(drop_pending_updates=False)
        polling = asyncio.create_task(channel.dispatcher.start_polling(bot, handle_signals=False,
                                                                       close_bot_session=False))
        await stop.wait()
        await channel.dispatcher.stop_polling()
        await polling

    return _Served("telegram", serve, bot.session.close, channel)


async def _start_zalo(app: App) -> _Served:
    from bot.zalo import ZaloChannel

    settings = app.settings
    client, out = _zalo_out(app)
    channel = ZaloChannel(client, app.conversation, app.db, app.clock, out)
    await client.get_me()  # a wrong token stops start-up here, with the platform's answer

    async def serve(stop: asyncio.Event) -> None:
        if settings.zalo_webhook_url:
            await channel.catch_up()
            await serve_zalo_webhook(app, channel, stop)
            return
        await client.delete_webhook()
        await channel.poll(stop)

    return _Served("zalo", serve, client.close, channel)


async def serve_zalo_webhook(app: App, channel, stop: asyncio.Event) -> None:
    from aiohttp import web

    settings = app.settings
    path = settings.zalo_webhook_url.path or "/"
    web_app = web.Application()
    web_app.router.add_post(path, channel.webhook_handler(settings.zalo_secret_token))
    runner = web.AppRunner(web_app)
    await runner.setup()
    host, _, port = settings.zalo_webhook_listen.rpartition(":")
    await web.TCPSite(runner, host, int(port)).start()
    await channel.client.set_webhook(str(settings.zalo_webhook_url), settings.zalo_secret_token)
    log.info("Zalo webhook listening on %s, path %s", settings.zalo_webhook_listen, path)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await channel.idle()


async def run_worker(app: App, *, stop: asyncio.Event, with_sender: bool = False) -> None:
    """The scheduled jobs (the reminder tick every minute, the morning digest) in a process of their own, so
    a busy morning never holds up the chat (``dondoc worker``); with ``with_sender`` the outbox sender too
    (then run the chat with ``dondoc run --no-jobs --no-sender``). Several workers may run on PostgreSQL:
    one tick at a time (an advisory lock), the digest and every rung queued once (dedupe keys), the outbox
    claimed with SKIP LOCKED. On SQLite run one worker."""
    from bot import jobs

    closers = []
    sender_task = None
    if with_sender:
        if not (app.settings.token or app.settings.zalo_token):
            raise RuntimeError("the sender needs TELEGRAM_BOT_TOKEN or ZALO_BOT_TOKEN")
        if app.settings.token:
            closers.append(_telegram_out(app).session.close)
        if app.settings.zalo_token:
            closers.append(_zalo_out(app)[0].close)
        sender = app.sender()
        app.wake_sender = sender.wake.set
        sender_task = asyncio.create_task(sender.run(stop), name="outbox-sender")
    await app.refresh_calendar()  # the office's own days, from the database
    scheduler = app.scheduler = scheduler_for(app)
    scheduler.start()
    try:
        await jobs.workflows(app, app.clock.now())
        await jobs.tick(app, app.clock.now())  # catch up at once after a restart
        await stop.wait()
    finally:
        scheduler.shutdown(wait=False)
        stop.set()
        if sender_task is not None:
            await sender_task
        for close in closers:
            await close()


def scheduler_for(app: App):
    from bot import jobs
    from schedules.scheduler import build_scheduler

    async def tick(now):
        await app.refresh_calendar()  # the office may have changed its calendar from the command line
        await jobs.workflows(app, now)  # recurring tasks whose period opened (before their reminders)
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
