"""The neutral chat boundary: what a channel adapter hands to the handlers, and what it gets back.

Handlers never see aiogram or Zalo types. An adapter turns a platform update into an ``Incoming``
and turns each ``Reply`` back into platform calls (a channel without buttons shows numbered choices).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

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
    key: str | None = None
    """The blob key when the bytes are stored once (``storage.blobs``): the outbox row carries the key,
    and a platform that keeps uploads (Telegram's ``file_id``) re-sends the same file without the bytes."""


# --- what each channel can carry -----------------------------------------------------------------


@dataclass(frozen=True)
class ChannelLimits:
    """How much one message may carry on a channel."""

    text: int
    """Characters (code points) of text in one message."""
    buttons: int
    """At most this many choices in one message."""
    inline_buttons: bool
    """True: buttons are drawn by the platform; False: they become numbered lines "[1] label" appended to
    the text (``numbered_lines``), so the text budget includes them."""


CHANNEL_LIMITS: dict[str, ChannelLimits] = {
    "telegram": ChannelLimits(text=4096, buttons=100, inline_buttons=True),
    "console": ChannelLimits(text=4096, buttons=100, inline_buttons=True),
    "zalo": ChannelLimits(text=2000, buttons=100, inline_buttons=False),
}
DEFAULT_LIMITS = ChannelLimits(text=2000, buttons=100, inline_buttons=False)
"""An unknown channel gets the strictest limits."""


def limits_for(channel: str | None) -> ChannelLimits:
    return CHANNEL_LIMITS.get(channel or "", DEFAULT_LIMITS)


CHOICE_HINT = "(Gõ số để chọn.)"
"""The line under numbered choices."""


def numbered_lines(buttons: list[list[Button]], start: int = 1) -> list[str]:
    """Buttons as a channel without buttons shows them: "[1] label", numbered across the rows."""
    flat = [button for row in buttons for button in row]
    return [f"[{index}] {button.label}" for index, button in enumerate(flat, start=start)]


def rendered_text(reply: Reply, limits: ChannelLimits) -> str:
    """The text the person reads on this channel (with the numbered choices where there are no buttons)."""
    if limits.inline_buttons or not reply.buttons:
        return reply.text
    return "\n".join([reply.text.rstrip(), "", *numbered_lines(reply.buttons), CHOICE_HINT])


def fits(reply: Reply, limits: ChannelLimits) -> bool:
    """Whether ``reply`` goes out as one message on a channel with these limits."""
    count = sum(len(row) for row in reply.buttons)
    return count <= limits.buttons and len(rendered_text(reply, limits).strip()) <= limits.text


@dataclass
class Reply:
    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    document: OutFile | None = None
    image: OutFile | None = None
    edit: bool = False
    """Replace the message whose button was pressed, where the channel can."""


# Attachments in an outbox payload, under "attachments" (one entry per file: kind "image" or
# "document", name, mime_type, and either "blob" or "data_b64"). A file with a blob key (``OutFile.key``,
# stored once in ``storage.blobs.BlobStore``) travels as that key only: the morning digest's chart and
# workbook at national scale are megabytes, and every leader's row would otherwise hold its own base64
# copy. The sender resolves the key (``payload_to_reply(payload, blobs)``). A file without a key (a small
# one-off) still travels inline as base64, so such a row needs no store.
ATTACHMENT_SLOTS = ("image", "document")


class BlobReader(Protocol):
    def read(self, key: str) -> bytes: ...


def reply_to_payload(reply: Reply) -> dict:
    """A reply as JSON for the outbox: text, buttons and any image/document (see the note above)."""
    payload: dict = {
        "text": reply.text,
        "buttons": [[{"label": b.label, "choice": b.choice} for b in row] for row in reply.buttons],
    }
    attachments = []
    for kind in ATTACHMENT_SLOTS:
        file = getattr(reply, kind)
        if file is None:
            continue
        item = {"kind": kind, "name": file.name, "mime_type": file.mime_type}
        if file.key:
            item["blob"] = file.key
        else:
            item["data_b64"] = base64.b64encode(file.data).decode("ascii")
        attachments.append(item)
    if attachments:
        payload["attachments"] = attachments
    return payload


def payload_to_reply(payload: dict, blobs: BlobReader | None = None) -> Reply:
    """The reply back from an outbox payload (payloads without "attachments" are plain text and buttons);
    ``blobs`` reads the files referenced by key."""
    files: dict[str, OutFile] = {}
    for item in payload.get("attachments", []):
        if item.get("kind") in ATTACHMENT_SLOTS and item["kind"] not in files:
            if "blob" in item:
                if blobs is None:
                    raise LookupError(f"payload references blob {item['blob']} but no blob store was given")
                data = blobs.read(item["blob"])
            else:
                data = base64.b64decode(item["data_b64"])
            files[item["kind"]] = OutFile(item["name"], data, item["mime_type"], item.get("blob"))
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
