"""Signed, expiring web links handed to one person in their private chat.

A link is a row (``IssuedLink``) and a token ``<id>.<mac>``: ``id`` is 128 random bits that name the row,
``mac`` an HMAC-SHA256 of the kind and id under the web secret, checked in constant time before the
database is asked. Holding the token is the binding to the person: it was sent only to their chat.

- ``upload``: for one assignment, valid ``UPLOAD_TTL`` (60 minutes), single-use: ``claim_upload`` sets
  ``used_at`` with a conditional UPDATE in the same unit of work that records the accepted upload, so two
  uploads racing on one link record one file.
- ``download``: a file in the blob store under a clean name and type, until it expires (a setting);
  opening it again is allowed (a phone may fetch twice), the first fetch is noted in ``used_at``.

Outgoing files live in a content-addressed blob store (``DATA_DIR/blobs``), the same atomic store as the
evidence (``storage.filestore.EvidenceStore``): a file sent to many people is stored once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import update
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import filestore
from storage.filestore import EvidenceStore
from storage.models import IssuedLink

UPLOAD_TTL = timedelta(minutes=60)
DOWNLOAD_TTL = timedelta(hours=24)
_TOKEN = re.compile(r"([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{22})")

BlobStore = EvidenceStore
"""Outgoing files: the same content-addressed, atomic store, rooted at ``DATA_DIR/blobs``."""


class LinkKind(StrEnum):
    upload = "upload"
    download = "download"


class LinkProblem(StrEnum):
    """Why a link cannot be used; the web page explains each one in Vietnamese."""

    invalid = "invalid"      # malformed, forged (bad MAC), unknown, or of the other kind
    expired = "expired"
    used = "used"            # an upload link that already took a file


def _mac(secret: bytes, kind: str, token_id: str) -> str:
    digest = hmac.new(secret, f"{kind}:{token_id}".encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def make_token(secret: bytes, kind: str, token_id: str) -> str:
    return f"{token_id}.{_mac(secret, kind, token_id)}"


def token_id_of(secret: bytes, kind: str, token: str) -> str | None:
    """The row id a genuine token names, or None (the MAC is compared in constant time)."""
    match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        return None
    if not hmac.compare_digest(match.group(2), _mac(secret, kind, match.group(1))):
        return None
    return match.group(1)


async def issue_upload(session: AsyncSession, secret: bytes, *, person_id: int, assignment_id: int,
                       now: datetime, ttl: timedelta = UPLOAD_TTL) -> str:
    """A single-use upload link for one person and one of their unit's assignments; returns the token."""
    token_id = secrets.token_urlsafe(16)
    session.add(IssuedLink(token_id=token_id, kind=LinkKind.upload, person_id=person_id, assignment_id=assignment_id,
                           expires_at=now + ttl, created_at=now))
    await session.flush()
    return make_token(secret, LinkKind.upload, token_id)


async def issue_download(session: AsyncSession, secret: bytes, *, person_id: int, blob_key: str, file_name: str,
                         mime_type: str, now: datetime, ttl: timedelta = DOWNLOAD_TTL,
                         staff_only: bool = False) -> str:
    """An expiring download link for a stored blob, for one person; returns the token."""
    token_id = secrets.token_urlsafe(16)
    session.add(IssuedLink(token_id=token_id, kind=LinkKind.download, person_id=person_id, blob_key=blob_key,
                           file_name=clean_file_name(file_name, mime_type)[:255], mime_type=mime_type,
                           staff_only=staff_only, expires_at=now + ttl, created_at=now))
    await session.flush()
    return make_token(secret, LinkKind.download, token_id)


async def find_link(session: AsyncSession, secret: bytes, kind: LinkKind, token: str, now: datetime
                    ) -> tuple[IssuedLink | None, LinkProblem | None]:
    """The link a token names and whether it can be used now."""
    token_id = token_id_of(secret, kind, token)
    if token_id is None:
        return None, LinkProblem.invalid
    link = (await session.exec(select(IssuedLink).where(IssuedLink.token_id == token_id))).first()
    if link is None or link.kind != kind:
        return None, LinkProblem.invalid
    if kind is LinkKind.upload and link.used_at is not None:
        return link, LinkProblem.used
    if link.expires_at <= now:
        return link, LinkProblem.expired
    return link, None


async def claim_upload(session: AsyncSession, link_id: int, now: datetime) -> bool:
    """Mark an upload link used, once: False when it was used (or expired) meanwhile."""
    result = await session.exec(
        update(IssuedLink)
        .where(IssuedLink.id == link_id, IssuedLink.kind == LinkKind.upload.value,
               IssuedLink.used_at == None, IssuedLink.expires_at > now)  # noqa: E711
        .values(used_at=now).execution_options(synchronize_session=False))
    return result.rowcount == 1


async def note_download(session: AsyncSession, link_id: int, now: datetime) -> None:
    """Remember when a download link was first opened."""
    await session.exec(
        update(IssuedLink).where(IssuedLink.id == link_id, IssuedLink.used_at == None)  # noqa: E711
        .values(used_at=now).execution_options(synchronize_session=False))


_EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
}


def clean_file_name(name: str, mime_type: str) -> str:
    """A safe name to show in ``Content-Disposition``: the one cleaner of sender-given names
    (``storage.filestore.clean_file_name``: no folders, no control, bidi or zero-width characters),
    with the suffix of ``mime_type`` as its only extension when there is one."""
    suffix = _EXTENSIONS.get(mime_type)
    if suffix is None:
        return filestore.clean_file_name(name, default="tep")
    return filestore.clean_name_with_suffix(name, suffix, default_stem="tep")
