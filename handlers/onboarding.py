"""``/start CODE``: bind a chat account to the invite's person, unit and role."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import messages as m
from handlers.chat import Incoming, Reply
from storage.models import Person, Unit
from storage.queries import InviteProblem, redeem_invite


async def start(incoming: Incoming, session: AsyncSession, person: Person | None, now) -> list[Reply] | None:
    """Handle ``/start`` with or without a code; None means "show the help" (already registered)."""
    code = incoming.args.strip()
    if not code:
        return None if person is not None else [Reply(m.START_WITHOUT_CODE)]
    if person is not None:
        return [Reply(m.already_registered(person.name))]
    sender = incoming.sender
    try:
        person = await redeem_invite(
            session, code, channel=sender.channel, external_id=sender.user_id, chat_id=sender.chat_id,
            display_name=sender.name, username=sender.username, now=now)
    except InviteProblem as problem:
        return [Reply(m.INVITE_PROBLEMS[problem.reason])]
    unit = await session.get(Unit, person.unit_id) if person.unit_id else None
    return [Reply(m.welcome(person, unit))]
