"""Web links instead of files, for channels that cannot carry them (Zalo's Bot Platform).

``LinkIssuer`` is what the handlers need from the web server (``bot.web.WebLinks`` implements it):
a single-use upload link for one person and assignment, and an expiring download link for bytes that
would otherwise go out as a document or an image. ``HandlerContext.links`` is None when no web server
is configured (``PUBLIC_BASE_URL`` unset).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import messages as m
from handlers.chat import ATTACHMENT_SLOTS, Reply

EVIDENCE_MIME = "application/pdf"
"""The only PDFs the bot sends are evidence files, and those are for staff only."""


class LinkIssuer(Protocol):
    upload_max_bytes: int

    async def upload_link(self, session: AsyncSession, person_id: int, assignment_id: int, now: datetime) -> str:
        """A single-use link (60 minutes) to upload one PDF for this assignment."""

    async def download_link(self, session: AsyncSession, person_id: int, name: str, mime: str, data: bytes,
                            now: datetime) -> str:
        """An expiring link to download these bytes; a PDF (evidence) opens only for staff."""


async def reply_with_links(links: LinkIssuer, session: AsyncSession, person_id: int, reply: Reply,
                           now: datetime) -> Reply:
    """The reply with its document/image replaced by download links in the text.

    The image's link is also kept in ``image_url`` so a channel that can show a picture by URL (Zalo's
    ``sendPhoto``) still shows the chart.
    """
    if reply.document is None and reply.image is None:
        return reply
    lines = [reply.text] if reply.text else []
    image_url = None
    for kind in ATTACHMENT_SLOTS:
        file = getattr(reply, kind)
        if file is None:
            continue
        url = await links.download_link(session, person_id, file.name, file.mime_type, file.data, now)
        if kind == "image":
            image_url = url
        lines.append(m.download_line(file.name, url))
    lines.append(m.DOWNLOAD_NOTE)
    return replace(reply, text="\n".join(lines), document=None, image=None, image_url=image_url)


async def replies_with_links(links: LinkIssuer, session: AsyncSession, person_id: int, replies: list[Reply],
                             now: datetime) -> list[Reply]:
    return [await reply_with_links(links, session, person_id, reply, now) for reply in replies]


async def payload_with_links(links: LinkIssuer, session: AsyncSession, person_id: int, payload: dict,
                             now: datetime) -> dict:
    """An outbox payload (``reply_to_payload``) with its attachments turned into links, for a sender
    that delivers a queued message (a digest) to a channel without files."""
    from handlers.chat import payload_to_reply, reply_to_payload

    if not payload.get("attachments"):
        return payload
    return reply_to_payload(await reply_with_links(links, session, person_id, payload_to_reply(payload), now))
