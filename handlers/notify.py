"""Messages to people other than the one talking: written to the outbox, in the same unit of work."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.chat import Reply, reply_to_payload
from storage.models import Role
from storage.outbox import OutboxRow, enqueue_many, recipients
from storage.queries import people_with_roles


async def notify(
    session: AsyncSession, person_ids: list[int], reply: Reply, *, key: str, now: datetime,
    kind: str = "notice", assignment_id: int | None = None,
) -> int:
    """Queue ``reply`` once for each person, to the chat they use most; ``key`` makes it idempotent (per
    person, not per account: a person who moves to another channel does not get it twice)."""
    payload = reply_to_payload(reply)
    return await enqueue_many(session, [OutboxRow(f"{key}:p{r.person_id}", r, payload, assignment_id)
                                        for r in await recipients(session, person_ids)], now=now, kind=kind)


async def notify_roles(session: AsyncSession, roles: list[Role], reply: Reply, *, key: str, now: datetime,
                       unit_id: int | None = None, exclude: int | None = None, **extra) -> int:
    people = [p.id for p in await people_with_roles(session, roles, unit_id=unit_id) if p.id != exclude]
    return await notify(session, people, reply, key=key, now=now, **extra)
