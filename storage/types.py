"""Column types shared by the tables."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware instant stored in UTC.

    PostgreSQL keeps it as ``timestamptz``; SQLite has no time zones, so the value is stored as naive
    UTC and made aware again on the way out. Naive datetimes are refused on the way in: every instant
    in this project is aware.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware instant")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def read_instant(value: datetime | str | None) -> datetime | None:
    """An instant computed in SQL (``max()``, a ``CASE``) as the column would hand it back: SQLite returns such
    values as text or naive datetimes, PostgreSQL as aware ones; the result is aware UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return UTCDateTime().process_result_value(value, None)
