"""Web links instead of files, for channels that cannot carry them (Zalo's Bot Platform).

``LinkIssuer`` is what the handlers and channels need from the web server (``bot.web.WebLinks``
implements it): a single-use upload link for one person and assignment (intake answers with it), and an
expiring download link for bytes that would otherwise go out as a document or an image (the Zalo
channel turns a reply's files into such links when it sends them). ``HandlerContext.links`` is None when
no web server is configured (``PUBLIC_BASE_URL`` unset).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

EVIDENCE_MIME = "application/pdf"
"""The only PDFs the bot sends are evidence files: their download links open for staff only."""


class LinkIssuer(Protocol):
    upload_max_bytes: int

    async def upload_link(self, session: AsyncSession, person_id: int, assignment_id: int, now: datetime) -> str:
        """A single-use link (60 minutes) to upload one PDF for this assignment."""

    async def download_link(self, session: AsyncSession, person_id: int, name: str, mime: str, data: bytes,
                            now: datetime) -> str:
        """An expiring link to download these bytes; a PDF (evidence) opens only for staff."""
