"""The neutral chat boundary: what a channel adapter hands to the handlers, and what it gets back.

Handlers never see aiogram or Zalo types. An adapter turns a platform update into an ``Incoming``
and turns each ``Reply`` back into platform calls (a channel without buttons shows numbered choices).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

FILELESS_CHANNELS = frozenset({"zalo"})
"""Channels that can neither receive nor send files: they get signed web links instead (``handlers.links``)."""


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
    unsupported: bool = False
    """The person sent something the channel cannot hand over (a file on Zalo's Bot Platform)."""
    update_id: str | None = None
    """For channels without acknowledgements (Zalo): the logged update this message comes from, marked
    handled in the same transaction as its handling, so it is handled exactly once."""

    @classmethod
    def from_text(cls, sender: Sender, text: str, **extra) -> Incoming:
        """Split ``/command@bot args`` into command and args; other text stays text."""
        stripped = text.strip()
        match = re.match(r"/(\S+)\s*(.*)", stripped, re.S)
        if match:
            command = match.group(1).split("@", 1)[0].lower()
            return cls(sender=sender, text=text, command=command, args=match.group(2).strip(), **extra)
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


# Attachments travel in the outbox payload itself, base64 under "attachments" (one entry per file:
# kind "image" or "document", name, mime_type, data_b64). Size trade-off: base64 adds a third, and each
# recipient's row holds its own copy. The morning digest of the demo (7 tasks, 56 assignments) is a
# 58 KB chart and a 24 KB workbook, ~110 KB per row; a large board (40 tasks x 120 units, a 4,800-event
# log) is 260 KB + 400 KB, ~900 KB per row. Leaders and coordinators are a handful of people, so that
# is a few MB a day at worst. It buys a self-contained row: the sender needs no file store or blob
# table, a restart or a second worker sends exactly what was queued, and nothing is left to clean
# up. Anything with attachments sent to many people (every unit) should instead store the bytes once
# (a blob referenced by key) and keep the rows small.
ATTACHMENT_SLOTS = ("image", "document")


def reply_to_payload(reply: Reply) -> dict:
    """A reply as JSON for the outbox: text, buttons and any image/document (see the note above)."""
    payload: dict = {
        "text": reply.text,
        "buttons": [[{"label": b.label, "choice": b.choice} for b in row] for row in reply.buttons],
    }
    attachments = [
        {"kind": kind, "name": file.name, "mime_type": file.mime_type,
         "data_b64": base64.b64encode(file.data).decode("ascii")}
        for kind, file in ((kind, getattr(reply, kind)) for kind in ATTACHMENT_SLOTS) if file is not None
    ]
    if attachments:
        payload["attachments"] = attachments
    return payload


def payload_to_reply(payload: dict) -> Reply:
    """The reply back from an outbox payload (payloads without "attachments" are plain text and buttons)."""
    files: dict[str, OutFile] = {}
    for item in payload.get("attachments", []):
        if item.get("kind") in ATTACHMENT_SLOTS and item["kind"] not in files:
            files[item["kind"]] = OutFile(item["name"], base64.b64decode(item["data_b64"]), item["mime_type"])
    return Reply(
        text=payload["text"],
        buttons=[[Button(b["label"], b["choice"]) for b in row] for row in payload.get("buttons", [])],
        image=files.get("image"),
        document=files.get("document"),
    )


class FileTooLarge(Exception):
    """The platform refuses to hand the bot this file (Telegram: over 20 MB)."""


def split_text(text: str, limit: int) -> list[str]:
    """Cut a long text at line breaks (or hard, for a single overlong line) into parts of ``limit``."""
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current or not parts:
        parts.append(current)
    return parts
