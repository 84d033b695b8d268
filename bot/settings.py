"""Settings from the environment and ``.env`` (pydantic-settings).

Every key is documented in ``.env.example``. A wrong value stops start-up with a message that names
the key (``load_settings`` raises ``SettingsError``).
"""

from __future__ import annotations

import hashlib
import re
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator, model_validator
from typing import Annotated

from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from schedules.ladder import DEFAULT_LADDER, Rung


class SettingsError(ValueError):
    """A configuration value is wrong; the message names the key."""


def _parse_hhmm(value: str) -> time:
    hours, _, minutes = value.strip().partition(":")
    return time(int(hours), int(minutes or 0))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str | None = None
    timezone: str = "Asia/Ho_Chi_Minh"
    telegram_bot_token: SecretStr | None = None
    telegram_api_base: AnyHttpUrl | None = None
    bot_username: str | None = None
    digest_time: time = time(7, 30)
    quiet_hours: Annotated[tuple[time, time], NoDecode] = (time(21, 0), time(7, 0))
    reminder_ladder: tuple[Rung, ...] = DEFAULT_LADDER
    invite_ttl_days: int = Field(default=14, ge=1, le=365)
    trust_roots_dir: Path | None = None
    calendar_file: Path | None = None
    webhook_url: AnyHttpUrl | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "127.0.0.1:8080"
    zalo_bot_token: SecretStr | None = None
    zalo_api_base: AnyHttpUrl | None = None
    zalo_webhook_url: AnyHttpUrl | None = None
    zalo_webhook_secret: SecretStr | None = None
    zalo_webhook_listen: str = "127.0.0.1:8081"
    zalo_monthly_quota: int | None = Field(default=None, ge=1)
    public_base_url: AnyHttpUrl | None = None
    web_listen: str = "127.0.0.1:8082"
    web_secret: SecretStr | None = None
    upload_max_mb: int = Field(default=50, ge=1, le=2000)
    download_link_hours: int = Field(default=24, ge=1, le=24 * 30)
    log_level: str = "INFO"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("telegram_bot_token", "database_url", "bot_username", "zalo_bot_token", "zalo_monthly_quota",
                     mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("telegram_api_base", "trust_roots_dir", "webhook_url", "webhook_secret", "zalo_api_base",
                     "zalo_webhook_url", "zalo_webhook_secret", "public_base_url", "web_secret", "calendar_file",
                     mode="before")
    @classmethod
    def _blank_path_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("quiet_hours", mode="before")
    @classmethod
    def _parse_quiet_hours(cls, value: object) -> object:
        if isinstance(value, str):
            start, sep, end = value.partition("-")
            if not sep:
                raise ValueError("expected HH:MM-HH:MM, e.g. 21:00-07:00")
            return (_parse_hhmm(start), _parse_hhmm(end))
        return value

    @field_validator("digest_time", mode="before")
    @classmethod
    def _parse_digest_time(cls, value: object) -> object:
        return _parse_hhmm(value) if isinstance(value, str) else value

    @field_validator("webhook_secret")
    @classmethod
    def _telegram_secret_charset(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError("1-256 characters: letters, digits, _ and - (Telegram's rule)")
        return value

    @field_validator("zalo_webhook_secret")
    @classmethod
    def _zalo_secret_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not 8 <= len(value.get_secret_value()) <= 256:
            raise ValueError("8-256 characters (Zalo's rule)")
        return value

    @field_validator("zalo_bot_token")
    @classmethod
    def _zalo_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and ":" not in value.get_secret_value():
            raise ValueError("expected BOT_ID:SECRET, as the Zalo Bot Manager shows it")
        return value

    @field_validator("webhook_listen", "zalo_webhook_listen", "web_listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:  # 0: any free port
            raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:8080")
        return value

    @field_validator("bot_username")
    @classmethod
    def _strip_at(cls, value: str | None) -> str | None:
        return value.lstrip("@") if value else value

    @field_validator("calendar_file")
    @classmethod
    def _readable_calendar(cls, value: Path | None) -> Path | None:
        if value is not None:
            from schedules.office_calendar import load_calendar_file

            load_calendar_file(value)  # CalendarFileError is a ValueError: reported under CALENDAR_FILE
        return value

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if self.database_url is None:
            self.database_url = f"sqlite+aiosqlite:///{(self.data_dir / 'dondoc.db').resolve()}"
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def token(self) -> str | None:
        return self.telegram_bot_token.get_secret_value() if self.telegram_bot_token else None

    @property
    def zalo_token(self) -> str | None:
        return self.zalo_bot_token.get_secret_value() if self.zalo_bot_token else None

    @property
    def zalo_secret_token(self) -> str:
        """Zalo's webhook secret header: ZALO_WEBHOOK_SECRET, or one derived from the Zalo token."""
        if self.zalo_webhook_secret is not None:
            return self.zalo_webhook_secret.get_secret_value()
        return hashlib.sha256(f"dondoc-zalo-webhook:{self.zalo_token}".encode()).hexdigest()[:48]

    @property
    def secret_token(self) -> str:
        """The webhook's secret header: WEBHOOK_SECRET, or one derived from the bot token."""
        if self.webhook_secret is not None:
            return self.webhook_secret.get_secret_value()
        return hashlib.sha256(f"dondoc-webhook:{self.token}".encode()).hexdigest()[:48]

    @property
    def web_key(self) -> bytes:
        """The key that signs web links: WEB_SECRET, or one derived from the bot tokens and the database."""
        if self.web_secret is not None:
            return hashlib.sha256(f"dondoc-web:{self.web_secret.get_secret_value()}".encode()).digest()
        parts = ["dondoc-web", self.token or "", self.zalo_token or "", str(self.database_url)]
        return hashlib.sha256("\0".join(parts).encode()).digest()

    @property
    def public_base(self) -> str | None:
        """PUBLIC_BASE_URL without a trailing slash."""
        return str(self.public_base_url).rstrip("/") if self.public_base_url else None


def load_settings(**overrides: object) -> Settings:
    """Read the settings; a wrong value becomes a ``SettingsError`` naming the key."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            key = str(error["loc"][0]).upper() if error["loc"] else "?"
            lines.append(f"{key}: {error['msg']}")
        raise SettingsError("Cấu hình sai / invalid configuration:\n  " + "\n  ".join(lines)) from exc
    except SourceError as exc:  # a value that is not even valid JSON, e.g. REMINDER_LADDER
        match = re.search(r'field "(\w+)"', str(exc))
        key = match.group(1).upper() if match else "?"
        raise SettingsError(f"Cấu hình sai / invalid configuration:\n  {key}: {exc.__cause__ or exc}") from exc
