"""What the chat channels keep in the database: when each account was last used and whether it can be
reached, the log of inbound updates (for platforms without acknowledgements), the numbered choices shown
in chats without buttons, and how many messages went out per month (for quotas)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import upsert_insert
from storage.models import ChannelIdentity, ChannelUsage, ChatChoices, InboundUpdate, Person

CHOICES_TTL = timedelta(minutes=30)


# --- accounts ---------------------------------------------------------------------------------


async def touch_identity(session: AsyncSession, *, channel: str, external_id: str, now: datetime) -> None:
    """The person wrote on this account: it is their most recent channel, and it can be reached again."""
    await session.exec(
        update(ChannelIdentity)
        .where(ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id)
        .values(last_seen_at=now, unreachable_since=None)
        .execution_options(synchronize_session=False))


async def mark_identity_unreachable(session: AsyncSession, *, person_id: int, channel: str, chat_id: str,
                                    now: datetime) -> bool:
    """The platform says this account cannot be reached; returns True when the person has another
    account that still can be (the message goes there instead)."""
    await session.exec(
        update(ChannelIdentity)
        .where(ChannelIdentity.person_id == person_id, ChannelIdentity.channel == channel,
               ChannelIdentity.chat_id == chat_id, ChannelIdentity.unreachable_since == None)  # noqa: E711
        .values(unreachable_since=now).execution_options(synchronize_session=False))
    others = await session.exec(
        select(ChannelIdentity.id).where(ChannelIdentity.person_id == person_id,
                                         ChannelIdentity.unreachable_since == None))  # noqa: E711
    if others.first() is not None:
        return True
    await session.exec(
        update(Person).where(Person.id == person_id, Person.unreachable_since == None)  # noqa: E711
        .values(unreachable_since=now).execution_options(synchronize_session=False))
    return False


# --- inbound updates --------------------------------------------------------------------------


async def record_update(session: AsyncSession, *, channel: str, update_id: str, payload: dict[str, Any],
                        now: datetime) -> bool:
    """Write a received update once; False when it was received before (a replay)."""
    statement = upsert_insert(session, InboundUpdate).values(
        channel=channel, update_id=update_id, payload=payload, received_at=now, handled_at=None,
    ).on_conflict_do_nothing(index_elements=["channel", "update_id"])
    return (await session.exec(statement)).rowcount == 1


async def update_handled(session: AsyncSession, *, channel: str, update_id: str) -> bool:
    """Was this update handled already? A read: takes no lock (see ``claim_update`` for the claim)."""
    query = (select(InboundUpdate.id)
             .where(InboundUpdate.channel == channel, InboundUpdate.update_id == update_id,
                    InboundUpdate.handled_at != None)  # noqa: E711
             .limit(1))
    return (await session.exec(query)).first() is not None


async def claim_update(session: AsyncSession, *, channel: str, update_id: str, now: datetime) -> bool:
    """Mark an update handled, in the transaction that handles it; False when it already was."""
    result = await session.exec(
        update(InboundUpdate)
        .where(InboundUpdate.channel == channel, InboundUpdate.update_id == update_id,
               InboundUpdate.handled_at == None)  # noqa: E711
        .values(handled_at=now).execution_options(synchronize_session=False))
    return result.rowcount == 1


async def unhandled_updates(session: AsyncSession, channel: str, limit: int = 1000) -> list[InboundUpdate]:
    """Updates received but not handled (the process stopped in between), oldest first."""
    query = (select(InboundUpdate)
             .where(InboundUpdate.channel == channel, InboundUpdate.handled_at == None)  # noqa: E711
             .order_by(InboundUpdate.id).limit(limit))
    return list((await session.exec(query)).all())


# --- numbered choices -------------------------------------------------------------------------


async def remember_choices(session: AsyncSession, *, channel: str, chat_id: str, choices: list[dict[str, str]],
                           now: datetime, ttl: timedelta = CHOICES_TTL) -> None:
    """Keep the choices just shown in this chat (``[{"label", "choice"}]``, numbered from 1)."""
    statement = upsert_insert(session, ChatChoices).values(
        channel=channel, chat_id=chat_id, choices=choices, expires_at=now + ttl, updated_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=["channel", "chat_id"],
        set_={"choices": statement.excluded.choices, "expires_at": statement.excluded.expires_at,
              "updated_at": statement.excluded.updated_at})
    await session.exec(statement)


async def recall_choice(session: AsyncSession, *, channel: str, chat_id: str, number: int,
                        now: datetime) -> str | None:
    """The choice numbered ``number`` shown in this chat within the last 30 minutes; it is used up."""
    row = (await session.exec(select(ChatChoices).where(ChatChoices.channel == channel,
                                                        ChatChoices.chat_id == chat_id))).first()
    if row is None or row.expires_at <= now or not 1 <= number <= len(row.choices):
        return None
    choice = row.choices[number - 1]["choice"]
    row.choices, row.updated_at = [], now
    session.add(row)
    return choice


# --- usage ------------------------------------------------------------------------------------


async def count_sent(session: AsyncSession, *, channel: str, month: str, messages: int = 1) -> int:
    """Add to this month's count of messages sent on ``channel``; returns the new total."""
    statement = upsert_insert(session, ChannelUsage).values(channel=channel, month=month, sent=messages)
    statement = statement.on_conflict_do_update(
        index_elements=["channel", "month"], set_={"sent": ChannelUsage.sent + messages})
    await session.exec(statement)
    row = (await session.exec(select(ChannelUsage).where(ChannelUsage.channel == channel,
                                                         ChannelUsage.month == month))).one()
    return row.sent


async def claim_quota_warning(session: AsyncSession, *, channel: str, month: str, now: datetime) -> bool:
    """True once per channel and month: the quota warning goes out a single time."""
    result = await session.exec(
        update(ChannelUsage)
        .where(ChannelUsage.channel == channel, ChannelUsage.month == month,
               ChannelUsage.warned_at == None)  # noqa: E711
        .values(warned_at=now).execution_options(synchronize_session=False))
    return result.rowcount == 1


async def sent_this_month(session: AsyncSession, *, channel: str, month: str) -> int:
    row = (await session.exec(select(ChannelUsage).where(ChannelUsage.channel == channel,
                                                         ChannelUsage.month == month))).first()
    return row.sent if row else 0
