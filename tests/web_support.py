"""The running bot (Telegram and Zalo, against their fakes) with its web page (``PUBLIC_BASE_URL`` set, a
real server on 127.0.0.1, any free port), and a person who talks to it from Zalo, for the web-page tests."""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from itertools import count

from schedules.clock import FixedClock
from handlers.chat import Incoming, Reply, Sender
from storage.queries import bind_identity
from tests import pdf_factory
from tests.harness import NOW, World, running_channels

UPLOAD_URL = re.compile(r"https?://\S+/u/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
DOWNLOAD_URL = re.compile(r"https?://\S+/d/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_zalo_ids = count(7_000)


@asynccontextmanager
async def web_world(tmp_path, monkeypatch, **settings):
    _, ca_der = pdf_factory.make_signed_pdf()
    roots = tmp_path / "roots"
    roots.mkdir()
    (roots / "ca.cer").write_bytes(ca_der)
    monkeypatch.chdir(tmp_path)
    clock = FixedClock(NOW)
    async with running_channels(tmp_path, clock=clock, demo_at=NOW, telegram=True, zalo=True, zalo_max_poll_s=0.2,
                                trust_roots_dir=roots, **web_settings(), **settings) as (fake, zfake, app):
        serve_links_here(app)
        world = World(fake, app, clock)
        world.zfake = zfake
        yield world


def web_settings() -> dict:
    return dict(public_base_url="https://dondoc.example.vn", web_listen="127.0.0.1:0",
                web_secret="test-secret-for-links")


def serve_links_here(app) -> None:
    """Links point at this test's real server (the proxy's public address stands in front in production)."""
    app.ctx.links.base_url = app.web.base_url


class FilelessPerson:
    """A person of the demo roster on Zalo: ``say`` talks through the neutral boundary (the replies come
    back as values), ``chat`` is their chat in the fake Zalo (where outbox messages arrive)."""

    def __init__(self, world: World, person) -> None:
        self.world, self.person = world, person
        self.user_id = str(next(_zalo_ids))
        self.sender = Sender(channel="zalo", user_id=self.user_id, chat_id=self.user_id, name=person.name)
        self.chat = world.zfake.user(self.user_id, person.name)
        world.zfake.contacted.add(self.user_id)  # they wrote to the bot, so it may write to them

    async def say(self, **fields) -> list[Reply]:
        return await self.world.app.conversation.handle(Incoming(sender=self.sender, **fields))


async def fileless(world: World, name: str) -> FilelessPerson:
    person = await world.person(name)
    zalo = FilelessPerson(world, person)
    async with world.app.db.session() as session:
        await bind_identity(session, person, channel="zalo", external_id=zalo.user_id, chat_id=zalo.user_id,
                            username=None, now=world.clock.now())
    return zalo


def upload_urls(replies: list[Reply]) -> list[str]:
    return [url for reply in replies for url in UPLOAD_URL.findall(reply.text)]
