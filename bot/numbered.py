"""Buttons for chats that have none (Zalo, the console): numbered choices typed back as a number.

One implementation for every such channel. Each reply's buttons are shown as lines ``[1] Nộp …``
below its text, numbered on from the previous reply of the same turn; the choices are kept per chat
in the database (``storage.channels``) for 30 minutes or until one is answered, so a reminder sent
by the outbox can be answered from the chat as well as a direct reply, and a restart forgets nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from handlers.chat import CHOICE_HINT, Button, Incoming, Reply, Sender, numbered_lines
from storage.channels import recall_choice, remember_choices
from storage.db import Database


def flatten(reply: Reply) -> list[Button]:
    return [button for row in reply.buttons for button in row]


def render(replies: Sequence[Reply]) -> tuple[list[Reply], list[Button]]:
    """The replies with their buttons written into the text as numbered lines, and the numbered
    buttons in order (the same numbering across the replies of one turn)."""
    numbered: list[Button] = []
    rendered: list[Reply] = []
    for reply in replies:
        buttons = flatten(reply)
        text = reply.text
        if buttons:  # as the pager counted it (``handlers.chat.rendered_text``), numbered on across the turn
            text = "\n".join([text.rstrip(), "", *numbered_lines(reply.buttons, len(numbered) + 1), CHOICE_HINT])
        numbered.extend(buttons)
        rendered.append(replace(reply, text=text, buttons=[]))
    return rendered, numbered


def as_payload(buttons: Sequence[Button]) -> list[dict[str, str]]:
    return [{"label": b.label, "choice": b.choice} for b in buttons]


class NumberedChoices:
    """Shows and reads back numbered choices for one channel."""

    def __init__(self, db: Database, channel: str) -> None:
        self.db = db
        self.channel = channel

    async def remember(self, chat_id: str, buttons: Sequence[Button], now: datetime) -> None:
        """Keep what was just shown (an empty list is kept too: old numbers no longer mean anything)."""
        async with self.db.session() as session:
            await remember_choices(session, channel=self.channel, chat_id=chat_id, choices=as_payload(buttons),
                                   now=now)

    async def show(self, chat_id: str, replies: Sequence[Reply], now: datetime, *, turn: bool = True) -> list[Reply]:
        """Render the replies for a chat without buttons and remember their choices. The answer to a
        turn (``turn``) replaces what was remembered even when it has no choices; a message sent on
        its own (a reminder, a notice) replaces it only when it brings choices."""
        rendered, buttons = render(replies)
        if buttons or turn:
            await self.remember(chat_id, buttons, now)
        return rendered

    async def incoming(self, sender: Sender, text: str, now: datetime, **extra) -> Incoming:
        """A typed number presses the choice it names, while it is remembered; anything else is text."""
        stripped = text.strip()
        if stripped.isdigit() and len(stripped) <= 3:
            async with self.db.session() as session:
                choice = await recall_choice(session, channel=self.channel, chat_id=sender.chat_id,
                                             number=int(stripped), now=now)
            if choice is not None:
                return Incoming(sender=sender, choice=choice, **extra)
        return Incoming.from_text(sender, text, **extra)
