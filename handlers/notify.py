"""Messages to people other than the one talking: written to the outbox, in the same unit of work."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.chat import Reply, reply_to_payload
from storage.models import Role
from storage.outbox import enqueue, recipients
from storage.queries import people_with_roles


async def notify(
    session: AsyncSession, person_ids: list[int], reply: Reply, *, key: str, now: datetime,
    kind: str = "notice", assignment_id: int | None = None,
) -> int:
    """Queue ``reply`` once for each person, to the chat they use most; ``key`` makes it idempotent (per
    person, not per account: a person who moves to another channel does not get it twice)."""
    queued = 0
    for recipient in await recipients(session, person_ids):
        queued += await enqueue(
            session, dedupe_key=f"{key}:p{recipient.person_id}",
            recipient=recipient, payload=reply_to_payload(reply), now=now, kind=kind, assignment_id=assignment_id)
    return queued


async def notify_roles(session: AsyncSession, roles: list[Role], reply: Reply, *, key: str, now: datetime,
                       unit_id: int | None = None, exclude: int | None = None, **extra) -> int:
    people = [p.id for p in await people_with_roles(session, roles, unit_id=unit_id) if p.id != exclude]
    return await notify(session, people, reply, key=key, now=now, **extra)
