"""Shared fixtures: a fixed clock, and a migrated database on SQLite and (when reachable) PostgreSQL.

PostgreSQL comes from ``TEST_DATABASE_URL`` (``.ci/run`` sets it). Where it is unset or unreachable
the PostgreSQL variants are skipped, except in CI (``CI=true``), where an unreachable server fails.
Each PostgreSQL test gets a fresh database created from a migrated template, so tests never see each
other's rows.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from schedules.clock import FixedClock
from storage.db import Database, normalise_url
from storage.migrate import upgrade

VN = ZoneInfo("Asia/Ho_Chi_Minh")
REPO = Path(__file__).resolve().parents[1]
SEEDS = Path(os.environ.get("SEEDS_DIR") or REPO.parent / "shared" / "seeds")
"""The shared seed letters (``../shared/seeds`` beside the repository; ``SEEDS_DIR`` elsewhere)."""


def seed_letter(prefix: str) -> str:
    """The text of seed letter ``prefix`` (``000_…txt``). Missing: skipped on a developer's machine, but a
    failure in CI (``CI`` set), where a test that silently skips proves nothing."""
    found = sorted(SEEDS.glob(f"{prefix}_*.txt")) if SEEDS.is_dir() else []
    if not found:
        message = f"seed letter {prefix} not found in {SEEDS} (set SEEDS_DIR)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    [path] = found
    return path.read_text(encoding="utf-8")


def vn(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """An aware instant in Vietnam's time zone."""
    return datetime(year, month, day, hour, minute, second, tzinfo=VN)


_SANDBOX = None


def shared_sandbox():
    """One file sandbox (``storage.sandbox.Sandbox``) for the whole test run, closed at exit.

    The sandbox is not tied to an event loop, so tests on different loops share its warm workers."""
    global _SANDBOX
    if _SANDBOX is None or _SANDBOX.closed:
        import atexit

        from bot.app import make_sandbox

        _SANDBOX = make_sandbox()
        atexit.register(_SANDBOX.close)
    return _SANDBOX


def letter_reader():
    """A ``LetterReader`` on the shared sandbox, for contexts that read letter files."""
    from storage.letterfile import LetterReader

    return LetterReader(shared_sandbox())


@pytest.fixture
def env(tmp_path, monkeypatch) -> Path:
    """A clean working folder for the ``dondoc`` command line: no stray settings, data under it."""
    monkeypatch.chdir(tmp_path)
    for key in ("DATABASE_URL", "TELEGRAM_BOT_TOKEN", "BOT_USERNAME", "TIMEZONE", "QUIET_HOURS",
                "TELEGRAM_API_BASE", "WEBHOOK_URL", "REMINDER_LADDER", "DIGEST_TIME"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def call(*args: str):
    """Run the ``dondoc`` command line in-process."""
    from typer.testing import CliRunner

    from bot.cli import cli

    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(vn(2024, 11, 1, 8, 0))


_pg_state: dict[str, object] = {}


def _postgres_admin_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    return normalise_url(url) if url else None


async def _admin(admin_url: str, statement: str) -> None:
    """Run one statement outside a transaction (CREATE / DROP DATABASE) on the server."""
    admin = Database(admin_url)
    try:
        async with admin.engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
            await conn.execute(text(statement))
    finally:
        await admin.dispose()


def _database_url(admin_url: str, name: str) -> str:
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def _postgres_template(admin_url: str) -> str:
    """Create (once per run) a migrated template database; return its name."""
    if "template" in _pg_state:
        return _pg_state["template"]  # type: ignore[return-value]
    name = f"dondoc_tpl_{uuid.uuid4().hex[:10]}"
    await _admin(admin_url, f'CREATE DATABASE "{name}"')
    db = Database(_database_url(admin_url, name))
    try:
        await upgrade(db)
    finally:
        await db.dispose()
    _pg_state["template"] = name
    return name


async def _drop_database(admin_url: str, name: str) -> None:
    await _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def postgres_database() -> AsyncIterator[Database]:
    admin_url = _postgres_admin_url()
    if admin_url is None:
        pytest.skip("PostgreSQL: TEST_DATABASE_URL is not set")
    try:
        template = await asyncio.wait_for(_postgres_template(admin_url), 120)  # a guard: an unanswering server
    except (OSError, asyncio.TimeoutError, Exception) as exc:  # unreachable server, refused login …
        if os.environ.get("CI", "").lower() == "true":
            raise
        pytest.skip(f"PostgreSQL unreachable at TEST_DATABASE_URL: {exc!r}")
    name = f"dondoc_t_{uuid.uuid4().hex[:10]}"
    await _admin(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    db = Database(_database_url(admin_url, name))
    try:
        yield db
    finally:
        await db.dispose()
        await _drop_database(admin_url, name)


async def sqlite_database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
    await upgrade(db)
    try:
        yield db
    finally:
        await db.dispose()


@asynccontextmanager
async def database_at(folder: Path, revision: str, statements: tuple[str, ...] = (), *,
                      outbox_keys: tuple[str, ...] = (), outbox_kind: str = "reminder",
                      outbox_at: str = "2026-12-04 00:30:00") -> AsyncIterator[Database]:
    """A SQLite database migrated only up to ``revision`` and holding the rows ``statements`` insert (and
    outbox rows with ``outbox_keys``): what an older version left, for testing an upgrade of it."""
    db = Database(f"sqlite+aiosqlite:///{folder / f'old-{revision}.db'}")
    try:
        await upgrade(db, revision)
        async with db.session() as session:
            for statement in statements:
                await session.exec(text(statement))
            for key in outbox_keys:
                await session.exec(text(
                    "INSERT INTO outboxmessage (dedupe_key, person_id, channel, chat_id, payload, created_at, "
                    "not_before, attempts, kind) VALUES (:key, 1, 'telegram', '1', '{}', :at, :at, 0, :kind)"),
                    params={"key": key, "at": outbox_at, "kind": outbox_kind})
        yield db
    finally:
        await db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def db(request, tmp_path) -> AsyncIterator[Database]:
    """A migrated, empty database: SQLite, and PostgreSQL where reachable."""
    source = sqlite_database(tmp_path) if request.param == "sqlite" else postgres_database()
    async for database in source:
        yield database


@pytest.fixture
async def sqlite_db(tmp_path) -> AsyncIterator[Database]:
    """SQLite only, for tests of logic above the storage layer."""
    async for database in sqlite_database(tmp_path):
        yield database


def pytest_sessionfinish(session, exitstatus) -> None:
    template = _pg_state.pop("template", None)
    admin_url = _postgres_admin_url()
    if template and admin_url:
        asyncio.run(_drop_database(admin_url, template))  # type: ignore[arg-type]


@pytest.fixture
async def world(tmp_path, monkeypatch):
    """The real bot on the demo at NOW, against the fake Bot API, with the test CA as a trust root."""
    from tests import pdf_factory
    from tests.harness import NOW, World, running_bot

    _, ca_der = pdf_factory.make_signed_pdf()
    roots = tmp_path / "roots"
    roots.mkdir()
    (roots / "ca.cer").write_bytes(ca_der)
    monkeypatch.chdir(tmp_path)
    clock = FixedClock(NOW)
    async with running_bot(tmp_path, clock=clock, demo_at=NOW, trust_roots_dir=roots) as (fake, app):
        yield World(fake, app, clock)
