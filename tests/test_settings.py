"""Settings: defaults, .env, and a clear stop on wrong values."""

from __future__ import annotations

import json
import re
from datetime import time

import pytest

from bot.settings import Settings, SettingsError, load_settings
from schedules.ladder import DEFAULT_LADDER, Rung
from tests.conftest import REPO


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for key in Settings.model_fields:
        monkeypatch.delenv(key.upper(), raising=False)


def test_defaults(tmp_path):
    settings = load_settings()
    assert settings.database_url == f"sqlite+aiosqlite:///{(tmp_path / 'data' / 'dondoc.db').resolve()}"
    assert settings.timezone == "Asia/Ho_Chi_Minh" and settings.token is None
    assert settings.quiet_hours == (time(21), time(7)) and settings.digest_time == time(7, 30)
    assert settings.reminder_ladder == DEFAULT_LADDER and settings.invite_ttl_days == 14


def test_env_file_and_environment(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(
        "TELEGRAM_BOT_TOKEN=123:abc\nQUIET_HOURS=22:00-06:30\nBOT_USERNAME=@dondoc_bot\n"
        'REMINDER_LADDER=[{"name":"today","offset":0,"to":["officer","head"]}]\n', encoding="utf-8")
    monkeypatch.setenv("DIGEST_TIME", "08:15")
    settings = load_settings()
    assert settings.token == "123:abc" and settings.bot_username == "dondoc_bot"
    assert settings.quiet_hours == (time(22), time(6, 30)) and settings.digest_time == time(8, 15)
    assert settings.reminder_ladder == (Rung(name="today", offset=0, to=("officer", "head")),)


@pytest.mark.parametrize("key, value", [
    ("TIMEZONE", "Asia/Nowhere"),
    ("QUIET_HOURS", "late"),
    ("DIGEST_TIME", "25:00"),
    ("INVITE_TTL_DAYS", "0"),
    ("TELEGRAM_API_BASE", "not a url"),
    ("REMINDER_LADDER", "[{\"name\": \"x\", \"to\": [\"boss\"]}]"),
    ("REMINDER_LADDER", "{oops"),
])
def test_wrong_value_names_the_key(monkeypatch, key, value):
    monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert re.search(rf"^\s+{key}:", str(info.value), re.M), str(info.value)


def test_env_example_documents_every_key_and_its_values_are_valid(tmp_path):
    text = (REPO / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^#?\s*([A-Z_]+)=", text, re.M))
    assert {key.upper() for key in Settings.model_fields} <= documented
    ladder = re.search(r"^# REMINDER_LADDER=(.*)$", text, re.M).group(1)
    assert tuple(Rung(**rung) for rung in json.loads(ladder)) == DEFAULT_LADDER
    (tmp_path / ".env").write_text(text, encoding="utf-8")
    assert load_settings().database_url.startswith("sqlite+aiosqlite:///")
