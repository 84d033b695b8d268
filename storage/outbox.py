"""The outbox: every message to someone other than the person talking goes through here.

A message is written once under its dedupe key (a second write with the same key is ignored), in the
same transaction as the change that caused it. The sender claims due messages for a short lease,
sends them and marks them sent; a crashed sender's lease runs out and another picks the message up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.channels import mark_identity_unreachable
from storage.db import upsert_insert
from storage.models import ChannelIdentity, OutboxMessage, Person, Unit

MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Recipient:
    person_id: int
    channel: str
    chat_id: str


async def recipients(session: AsyncSession, person_ids: list[int] | None) -> list[Recipient]:
    """One chat account per active, reachable person: the one they wrote from most recently (another
    linked account takes over when the platform says this one cannot be reached). ``None``: everyone."""
    if person_ids is not None and not person_ids:
        return []
    query = (
        select(ChannelIdentity.person_id, ChannelIdentity.channel, ChannelIdentity.chat_id)  # columns: a tick reads thousands
        .join(Person, Person.id == ChannelIdentity.person_id)
        .where(Person.active == True,  # noqa: E712
               Person.unreachable_since == None,  # noqa: E711  (no account reachable: until they write again)
               ChannelIdentity.unreachable_since == None)  # noqa: E711
        .order_by(ChannelIdentity.person_id, col(ChannelIdentity.last_seen_at).desc().nulls_last(),
                  col(ChannelIdentity.id).desc())
    )
    if person_ids is not None:
        query = query.where(col(ChannelIdentity.person_id).in_(person_ids))
    chosen: dict[int, Recipient] = {}
    for person_id, channel, chat_id in (await session.exec(query)).all():
        chosen.setdefault(person_id, Recipient(person_id, channel, chat_id))
    return list(chosen.values())


async def people_without_chat(session: AsyncSession) -> list[tuple[Unit | None, list[Person]]]:
    """Active people with no linked chat account on any channel (they have not joined), by unit (units in
    code order, people by name): the bot cannot reach them, so they are shown, never skipped silently
    (``dondoc tick``, the digest's "Chưa tham gia" line, ``dondoc invite --missing``)."""
    joined = select(ChannelIdentity.id).where(ChannelIdentity.person_id == Person.id).exists()
    rows = (await session.exec(
        select(Person, Unit).join(Unit, Unit.id == Person.unit_id, isouter=True)
        .where(Person.active == True, ~joined)  # noqa: E712
        .order_by(Unit.code, Person.name, Person.id))).all()
    grouped: dict[int | None, tuple[Unit | None, list[Person]]] = {}
    for person, unit in rows:
        grouped.setdefault(unit.id if unit else None, (unit, []))[1].append(person)
    return list(grouped.values())


async def channels_by_person(session: AsyncSession) -> dict[int, list[str]]:
    """Person id → the channels they have linked (``telegram``, ``zalo``, …), in the order they joined."""
    found: dict[int, list[str]] = {}
    for person_id, channel in (await session.exec(
            select(ChannelIdentity.person_id, ChannelIdentity.channel).order_by(ChannelIdentity.id))).all():
        if channel not in found.setdefault(person_id, []):
            found[person_id].append(channel)
    return found


async def enqueue(
    session: AsyncSession,
    *,
    dedupe_key: str,
    recipient: Recipient,
    payload: dict[str, Any],
    now: datetime,
    kind: str = "notice",
    assignment_id: int | None = None,
    not_before: datetime | None = None,
) -> bool:
    """Queue a message once; returns False when the dedupe key was already queued."""
    values = dict(
        dedupe_key=dedupe_key,
        person_id=recipient.person_id,
        channel=recipient.channel,
        chat_id=recipient.chat_id,
        payload=payload,
        created_at=now,
        not_before=not_before or now,
        attempts=0,
        kind=kind,
        assignment_id=assignment_id,
    )
    statement = upsert_insert(session, OutboxMessage).values(**values).on_conflict_do_nothing(
        index_elements=["dedupe_key"])
    result = await session.exec(statement)
    return result.rowcount == 1


@dataclass(frozen=True)
class OutboxRow:
    """One message for ``enqueue_many``: its dedupe key, the chat account and the payload."""

    dedupe_key: str
    recipient: Recipient
    payload: dict[str, Any]
    assignment_id: int | None = None


ENQUEUE_CHUNK = 1000
"""Messages per batch (SQLAlchemy sends them as multi-row INSERTs within the databases' parameter limits)."""


async def enqueue_many(session: AsyncSession, messages: list[OutboxRow], *, now: datetime, kind: str) -> int:
    """Queue many messages, each once (its dedupe key), in batches of ``ENQUEUE_CHUNK``; how many were new."""
    queued = 0
    for start in range(0, len(messages), ENQUEUE_CHUNK):
        rows = [dict(dedupe_key=m.dedupe_key, person_id=m.recipient.person_id, channel=m.recipient.channel,
                     chat_id=m.recipient.chat_id, payload=m.payload, created_at=now, not_before=now, attempts=0,
                     parts_sent=0, kind=kind, assignment_id=m.assignment_id)
                for m in messages[start:start + ENQUEUE_CHUNK]]
        statement = (upsert_insert(session, OutboxMessage)  # one compiled statement, executed for many rows
                     .on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(OutboxMessage.id))
        queued += len((await session.exec(statement, params=rows)).all())
    return queued


def deliverable():
    """The hold, in one place: a message to a chat the platform said cannot be reached (blocked the bot),
    or to a person none of whose chats can be, is not tried (it stays queued) until they write again
    (``release_held``; ``storage.channels.touch_identity`` for the chat they write from)."""
    person_held = exists().where(Person.id == OutboxMessage.person_id, Person.unreachable_since != None)  # noqa: E711
    chat_held = exists().where(ChannelIdentity.channel == OutboxMessage.channel,
                               ChannelIdentity.chat_id == OutboxMessage.chat_id,
                               ChannelIdentity.unreachable_since != None)  # noqa: E711
    return and_(~person_held, ~chat_held)


async def release_held(session: AsyncSession, person: Person) -> None:
    """The person wrote to us again: they can be reached, and their held messages go out."""
    if person.unreachable_since is not None:
        person.unreachable_since = None


async def claim(session: AsyncSession, *, now: datetime, limit: int, lease: timedelta,
                channels: list[str] | None = None) -> list[OutboxMessage]:
    """Take up to ``limit`` due messages for ``lease``; other senders skip them meanwhile."""
    due = and_(
        col(OutboxMessage.channel).in_(channels) if channels is not None else True,
        OutboxMessage.sent_at == None,  # noqa: E711
        OutboxMessage.failed_at == None,  # noqa: E711
        OutboxMessage.not_before <= now,
        or_(OutboxMessage.claimed_until == None, OutboxMessage.claimed_until < now),  # noqa: E711
        deliverable(),
    )
    # Oldest first by when it was queued: a message that had to wait (a retry, a rate limit) goes
    # before newer ones once it is due, not behind the whole backlog.
    query = select(OutboxMessage).where(due).order_by(OutboxMessage.id).limit(limit)
    if session.bind and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    messages = list((await session.exec(query)).all())
    if messages:
        await session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_([m.id for m in messages]))
            .values(claimed_until=now + lease, attempts=OutboxMessage.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        for message in messages:
            message.claimed_until = now + lease
            message.attempts += 1
    return messages


async def mark_sent(session: AsyncSession, message_id: int, *, now: datetime, platform_message_id: str | None) -> None:
    await session.exec(
        update(OutboxMessage).where(OutboxMessage.id == message_id)
        .values(sent_at=now, sent_message_id=platform_message_id, claimed_until=None, last_error=None)
        .execution_options(synchronize_session=False)
    )


async def mark_parts_sent(session: AsyncSession, message_id: int, parts: int) -> None:
    """The platform accepted the first ``parts`` parts of a multi-part message: a retry starts after them."""
    await session.exec(
        update(OutboxMessage).where(OutboxMessage.id == message_id).values(parts_sent=parts)
        .execution_options(synchronize_session=False)
    )


async def mark_retry(session: AsyncSession, message: OutboxMessage, *, now: datetime, after: timedelta,
                     error: str, count_attempt: bool = True) -> None:
    """Try again later; give up after ``MAX_ATTEMPTS`` failed attempts (a rate limit does not count)."""
    attempts = message.attempts if count_attempt else max(0, message.attempts - 1)
    values: dict[str, Any] = {"not_before": now + after, "claimed_until": None, "last_error": error[:1000],
                              "attempts": attempts}
    if attempts >= MAX_ATTEMPTS:
        values["failed_at"] = now
    await session.exec(
        update(OutboxMessage).where(OutboxMessage.id == message.id).values(**values)
        .execution_options(synchronize_session=False)
    )


async def hold_chat(session: AsyncSession, *, channel: str, chat_id: str, after_id: int, until: datetime,
                    now: datetime) -> None:
    """Keep a chat's order while one of its messages waits until ``until`` (a retry, a rate limit): the
    chat's later unsent messages that no sender holds are not due before then either."""
    await session.exec(
        update(OutboxMessage)
        .where(OutboxMessage.channel == channel, OutboxMessage.chat_id == chat_id, OutboxMessage.id > after_id,
               OutboxMessage.sent_at == None, OutboxMessage.failed_at == None,  # noqa: E711
               OutboxMessage.not_before < until,
               or_(OutboxMessage.claimed_until == None, OutboxMessage.claimed_until < now))  # noqa: E711
        .values(not_before=until).execution_options(synchronize_session=False)
    )


async def mark_failed(session: AsyncSession, message_id: int, *, now: datetime, error: str) -> None:
    await session.exec(
        update(OutboxMessage).where(OutboxMessage.id == message_id)
        .values(failed_at=now, claimed_until=None, last_error=error[:1000])
        .execution_options(synchronize_session=False)
    )


async def mark_unreachable(session: AsyncSession, message: OutboxMessage, *, now: datetime) -> bool:
    """The platform says ``message``'s chat cannot be reached (blocked the bot): that account is skipped
    until the person writes again, and the message goes to the person's next linked account, once
    (its key is the original's plus that channel). Returns True when it was passed on."""
    if message.person_id is None:
        return False
    if not await mark_identity_unreachable(session, person_id=message.person_id, channel=message.channel,
                                           chat_id=message.chat_id, now=now):
        return False
    for recipient in await recipients(session, [message.person_id]):
        return await enqueue(session, dedupe_key=f"{message.dedupe_key}>{recipient.channel}", recipient=recipient,
                             payload=message.payload, now=now, kind=message.kind,
                             assignment_id=message.assignment_id)
    return False


async def message_for_reply(session: AsyncSession, *, channel: str, chat_id: str, platform_message_id: str
                            ) -> OutboxMessage | None:
    """The outbox message a user replied to (to file a PDF under the reminder's task)."""
    query = select(OutboxMessage).where(
        OutboxMessage.channel == channel, OutboxMessage.chat_id == chat_id,
        OutboxMessage.sent_message_id == platform_message_id)
    return (await session.exec(query)).first()
