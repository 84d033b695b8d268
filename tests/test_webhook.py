"""Webhook mode: Telegram's secret-token header is checked; a request without it is refused."""

from __future__ import annotations

import socket

import aiohttp
import pytest

from schedules.clock import FixedClock
from tests.conftest import vn
from tests.harness import running_bot


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
async def webhook_bot(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    port = free_port()
    async with running_bot(tmp_path, clock=FixedClock(vn(2026, 11, 23, 9)), demo_at=vn(2026, 11, 23, 9),
                           webhook_url="https://dondoc.example.vn/tg/hook", webhook_secret="bi-mat_123",
                           webhook_listen=f"127.0.0.1:{port}") as (fake, _):
        yield fake, f"http://127.0.0.1:{port}/tg/hook"


def update(update_id: int, user_id: int, text: str) -> dict:
    user = {"id": user_id, "is_bot": False, "first_name": "Lan"}
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1_790_000_000, "chat": {"id": user_id, "type": "private", "first_name": "Lan"},
        "from": user, "text": text, "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}}


async def test_webhook_refuses_requests_without_the_secret_and_handles_the_right_one(webhook_bot):
    fake, url = webhook_bot
    (hook,) = fake.calls_of("setWebhook")
    assert hook["url"] == "https://dondoc.example.vn/tg/hook" and hook["secret_token"] == "bi-mat_123"
    # The updates go straight to the webhook (as Telegram posts them after Lan wrote): the fake only
    # needs to know Lan wrote, or replies to her chat answer "chat not found".
    fake.user(4242, "Lan").has_written = True
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
