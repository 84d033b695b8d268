"""Webhook mode: Telegram's secret-token header is checked; a request without it is refused."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from bot.app import build_app, run_telegram
from bot.demo import load_demo
from bot.settings import load_settings
from schedules.clock import FixedClock
from storage.migrate import upgrade
from tests.conftest import VN, vn
from tests.fakebot import FakeBotApi


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
async def webhook_bot(tmp_path, monkeypatch):
    fake = FakeBotApi()
    await fake.start()
    monkeypatch.chdir(tmp_path)
    port = free_port()
    settings = load_settings(data_dir=tmp_path / "data", telegram_bot_token="123:TEST",
                             telegram_api_base=fake.base_url, webhook_url="https://dondoc.example.vn/tg/hook",
                             webhook_secret="bi-mat_123", webhook_listen=f"127.0.0.1:{port}")
    app = build_app(settings, clock=FixedClock(vn(2026, 11, 23, 9)))
    await upgrade(app.db)
    await load_demo(app.db, now=vn(2026, 11, 23, 9), tz=VN)
    stop = asyncio.Event()
    runner = asyncio.create_task(run_telegram(app, stop=stop, with_scheduler=False))
    await fake.wait_for_call("setWebhook")
    try:
        yield fake, f"http://127.0.0.1:{port}/tg/hook"
    finally:
        stop.set()
        await asyncio.wait_for(runner, 30)
        await app.close()
        await fake.close()


def update(update_id: int, user_id: int, text: str) -> dict:
    user = {"id": user_id, "is_bot": False, "first_name": "Lan"}
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1_790_000_000, "chat": {"id": user_id, "type": "private", "first_name": "Lan"},
        "from": user, "text": text, "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}}


async def test_webhook_refuses_requests_without_the_secret_and_handles_the_right_one(webhook_bot):
    fake, url = webhook_bot
    (hook,) = fake.calls_of("setWebhook")
    assert hook["url"] == "https://dondoc.example.vn/tg/hook" and hook["secret_token"] == "bi-mat_123"
    fake.user(4242, "Lan")
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=update(1, 4242, "/start")) as response:
            assert response.status == 401
        async with http.post(url, json=update(2, 4242, "/start"),
                             headers={"X-Telegram-Bot-Api-Secret-Token": "doan-sai"}) as response:
            assert response.status == 401
        async with http.post(url, json=update(3, 4242, "/start"),
                             headers={"X-Telegram-Bot-Api-Secret-Token": "bi-mat_123"}) as response:
            assert response.status == 200
    (answer,) = await fake.wait_for_sent(chat_id=4242)
    assert "cần một mã mời" in answer.text
    assert len(fake.messages_to(4242)) == 1  # the refused requests were not handled
