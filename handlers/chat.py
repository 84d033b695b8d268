"""The neutral chat boundary: what a channel adapter hands to the handlers, and what it gets back.

Handlers never see aiogram or Zalo types. An adapter turns a platform update into an ``Incoming``
and turns each ``Reply`` back into platform calls (a channel without buttons shows numbered choices).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sender:
    """Who is talking: a chat account on one channel."""

    channel: str
    user_id: str
    chat_id: str
    name: str | None = None
    username: str | None = None


@dataclass(frozen=True)
class IncomingFile:
    """An attached file; the bytes are fetched only when a handler asks for them."""

    file_name: str
    size: int | None
    mime_type: str | None
    fetch: Callable[[], Awaitable[bytes]]
    ref: str | None = None
    """The platform's own id for the file, so it can be fetched again later (``HandlerContext.fetch_file``)."""


@dataclass(frozen=True)
class Incoming:
    sender: Sender
    text: str = ""
    command: str | None = None
    args: str = ""
    choice: str | None = None
    file: IncomingFile | None = None
    reply_to: str | None = None
    message_id: str | None = None

    @classmethod
    def from_text(cls, sender: Sender, text: str, **extra) -> Incoming:
        """Split ``/command@bot args`` into command and args; other text stays text."""
        stripped = text.strip()
        if stripped.startswith("/") and len(stripped) > 1:
            head, _, args = stripped[1:].partition(" ")
            command = head.split("@", 1)[0].lower()
            return cls(sender=sender, text=text, command=command, args=args.strip(), **extra)
        return cls(sender=sender, text=text, **extra)


@dataclass(frozen=True)
class Button:
    label: str
    choice: str


@dataclass(frozen=True)
class OutFile:
    name: str
    data: bytes
    mime_type: str


@dataclass
class Reply:
    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    document: OutFile | None = None
    image: OutFile | None = None
    edit: bool = False
    """Replace the message whose button was pressed, where the channel can."""


def reply_to_payload(reply: Reply) -> dict:
    """A reply as JSON for the outbox (documents and images are not queued, only text and buttons)."""
    return {
        "text": reply.text,
        "buttons": [[{"label": b.label, "choice": b.choice} for b in row] for row in reply.buttons],
    }


def payload_to_reply(payload: dict) -> Reply:
    return Reply(
        text=payload["text"],
        buttons=[[Button(b["label"], b["choice"]) for b in row] for row in payload.get("buttons", [])],
    )


class FileTooLarge(Exception):
    """The platform refuses to hand the bot this file (Telegram: over 20 MB)."""
