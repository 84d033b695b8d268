"""Running the real bot against the fake Bot API, and acting as people of the demo roster."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlmodel import select

from bot.app import build_app, run_bot
from bot.demo import load_demo
from bot.settings import load_settings
from schedules.clock import FixedClock
from storage.migrate import upgrade
from tests.conftest import shared_sandbox
from storage.models import Assignment, Person, Role, Task, Unit
from storage.queries import create_invite
from tests.conftest import VN, vn
from tests.fakebot import FakeBotApi
from tests.fakezalo import FakeZalo
from tests.fakebot.server import WAIT_GUARD_S

NOW = vn(2026, 11, 23, 9, 0)  # a Monday; the demo's deadlines lie ahead


STARTUP_BOUND_S = 120
"""How long the bot may take to start (migrate, load the demo, first poll) on a busy machine: an upper
bound, not a pause; the wait ends at the first poll."""


class World:
    """The running bot, the fake Telegram, and helpers to act as people of the demo roster."""

    def __init__(self, fake: FakeBotApi, app, clock: FixedClock) -> None:
        self.fake, self.app, self.clock = fake, app, clock
        self.next_user = 1000

    async def person(self, name: str) -> Person:
        async with self.app.db.session() as session:
            return (await session.exec(select(Person).where(Person.name == name))).one()

    async def invite(self, *, name: str | None = None, unit: str | None = None, role: Role = Role.officer,
                     ttl: timedelta = timedelta(days=14)) -> str:
        async with self.app.db.session() as session:
            person = (await session.exec(select(Person).where(Person.name == name))).one() if name else None
            unit_row = (await session.exec(select(Unit).where(Unit.code == unit))).one() if unit else None
            if unit_row is None and person is not None:
                unit_row = await session.get(Unit, person.unit_id)
            invite = await create_invite(session, unit=unit_row, role=Role(person.role) if person else role,
                                         now=self.clock.now(), ttl=ttl, person=person)
            return invite.code

    async def register(self, name: str):
        self.next_user += 1
        user = self.fake.user(self.next_user, name.split()[-1])
        user.send_command(f"/start {await self.invite(name=name)}")
        reply = await user.next_message()
        assert "Đăng ký thành công" in reply.text, reply.text
        return user

    async def assignment(self, unit_code: str, task_index: int) -> Assignment:
        async with self.app.db.session() as session:
            task = (await session.exec(select(Task).order_by(Task.id).offset(task_index).limit(1))).one()
            unit = (await session.exec(select(Unit).where(Unit.code == unit_code))).one()
            return (await session.exec(select(Assignment).where(
                Assignment.task_id == task.id, Assignment.unit_id == unit.id))).one()


@asynccontextmanager
async def running_channels(tmp_path, *, clock: FixedClock, demo_at, telegram: bool = True, zalo: bool = False,
                           scheduler: bool = False, **settings):
    """The real bot (``run_bot``) on the demo against fresh fakes of Telegram's Bot API and/or the Zalo
    Bot Platform; yields ``(fake_telegram, fake_zalo, app)`` (None for a platform not served)."""
    fake = FakeBotApi() if telegram else None
    # End-to-end tests meet Telegram's refusals: rate limits with 429, "chat not found", keyboard limits.
    assert fake is None or (fake.rate_limits is not None and fake.strict_chats)
    zfake = FakeZalo(max_poll_s=settings.pop("zalo_max_poll_s", 30.0)) if zalo else None
    if fake is not None:
        await fake.start()
        settings.update(telegram_bot_token=fake.token, telegram_api_base=fake.base_url)
    if zfake is not None:
        await zfake.start()
        settings.update(zalo_bot_token=zfake.token, zalo_api_base=zfake.base_url)
    app = build_app(load_settings(data_dir=tmp_path / "data", **settings), clock=clock,
                    sandbox=shared_sandbox())  # warm workers shared by every test
    await upgrade(app.db)
    await load_demo(app.db, now=demo_at, tz=VN)
    stop, ready = asyncio.Event(), asyncio.Event()
    runner = asyncio.create_task(run_bot(app, stop=stop, with_scheduler=scheduler, ready=ready))
    try:
        await ready.wait()
        if fake is not None:
            await fake.wait_for_call("setWebhook" if settings.get("webhook_url") else "getUpdates",
                                     timeout=STARTUP_BOUND_S)
        yield fake, zfake, app
    finally:
        stop.set()
        await asyncio.wait_for(runner, WAIT_GUARD_S)  # a guard against a hung shutdown only
        await app.close()
        for server in (fake, zfake):
            if server is not None:
                await server.close()


@asynccontextmanager
async def running_bot(tmp_path, *, clock: FixedClock, demo_at, scheduler: bool = False, **settings):
    """The real bot on the demo, against a fresh fake Bot API; stopped cleanly after."""
    async with running_channels(tmp_path, clock=clock, demo_at=demo_at, scheduler=scheduler, **settings) as (
            fake, _, app):
        yield fake, app


def forge_press(fake: FakeBotApi, user, message, data: str) -> None:
    """A callback with data the message never offered (a crafted client): the bot must still check roles."""
    fake.enqueue_update({"callback_query": {"id": f"forged-{data}", "from": user.as_user(), "chat_instance": "1",
                                            "data": data, "message": message.message}})
