"""Outgoing files stored once: content-addressed blobs under ``DATA_DIR/blobs``, referenced by key.

The morning digest's chart and workbook go to every leader and coordinator; the outbox rows carry the
blob's key, not the bytes (``handlers.chat.reply_to_payload``), and the sender reads the blob when it
sends. A platform that keeps uploads (Telegram's ``file_id``) is told the file once: ``PlatformFiles``
remembers the platform's id per (channel, key), so later recipients get the same file by id.
Blobs are never deleted by the bot (like evidence); an operator may prune old ones.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from sqlmodel import select

from storage.db import Database, upsert_insert
from storage.models import PlatformFile


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"not a blob key: {key!r}")
        return self.root / key[:2] / key

    def put(self, data: bytes) -> str:
        """Store ``data`` (once: the same bytes give the same key) and return its key (SHA-256, hex)."""
        key = hashlib.sha256(data).hexdigest()
        path = self._path(key)
        if path.exists():
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def read(self, key: str) -> bytes:
        return self._path(key).read_bytes()


class PlatformFiles:
    """The platform's own id of an uploaded blob (one per channel and key), kept in the database."""

    def __init__(self, db: Database, channel: str, clock) -> None:
        self.db = db
        self.channel = channel
        self.clock = clock

    async def get(self, key: str) -> str | None:
        async with self.db.session() as session:
            row = (await session.exec(select(PlatformFile).where(
                PlatformFile.channel == self.channel, PlatformFile.blob_key == key))).first()
        return row.file_id if row else None

    async def put(self, key: str, file_id: str) -> None:
        async with self.db.session() as session:
            await session.exec(upsert_insert(session, PlatformFile).values(
                channel=self.channel, blob_key=key, file_id=file_id, created_at=self.clock.now(),
            ).on_conflict_do_nothing(index_elements=["channel", "blob_key"]))
