"""Paging: every list a person asks for fits in one message of their channel, with "Trang 2/5" choices.

A view hands over its text as ``Block``s (a few lines, and the buttons that belong to them) plus a
header and a footer; ``paginate`` packs the blocks greedily into pages that fit the channel's limits
(``handlers.chat.CHANNEL_LIMITS``: characters, buttons, and on a channel without buttons the numbered
"[1] label" lines they become) and returns the asked-for page with "◀ Trang 1/5" / "Trang 3/5 ▶"
choices. Packing is deterministic, so a page choice re-reads the data and packs again: nothing is kept
between pages. A block that alone is too long for a page is cut, never sent over the limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from handlers.chat import CHOICE_HINT, Button, ChannelLimits, Reply, fits

NAV_RESERVE = 64
"""Characters kept for the "Trang k/n" line and, without buttons, the two numbered page choices."""
NAV_BUTTONS = 2
ELLIPSIS = "…"


@dataclass
class Block:
    text: str
    buttons: list[list[Button]] = field(default_factory=list)

    @property
    def button_count(self) -> int:
        return sum(len(row) for row in self.buttons)


def page_label(page: int, pages: int) -> str:
    return f"Trang {page}/{pages}"


def _button_chars(block: Block, limits: ChannelLimits) -> int:
    """Characters the block's buttons take on a channel that shows them as numbered lines."""
    if limits.inline_buttons:
        return 0
    return sum(len(button.label) + 7 for row in block.buttons for button in row)  # "\n[100] "


def _cost(block: Block, limits: ChannelLimits) -> int:
    return len(block.text) + 1 + _button_chars(block, limits)


def _cut(block: Block, room: int, limits: ChannelLimits) -> Block:
    """The block shortened (by lines, then characters) so that it costs at most ``room``."""
    room -= _button_chars(block, limits) + 1
    if room <= len(ELLIPSIS):
        return Block(ELLIPSIS, [])
    text = block.text
    if len(text) <= room:
        return block
    lines, kept = text.split("\n"), []
    for line in lines:
        if len("\n".join(kept + [line])) + 2 > room:
            break
        kept.append(line)
    text = "\n".join(kept) if kept else text[: room - len(ELLIPSIS)]
    return Block(text.rstrip() + ELLIPSIS, block.buttons)


def pack(blocks: list[Block], limits: ChannelLimits, *, fixed_chars: int, fixed_buttons: int) -> list[list[Block]]:
    """Blocks into pages: each page's text (plus ``fixed_chars``) and buttons (plus ``fixed_buttons``) fit."""
    text_room = limits.text - fixed_chars - NAV_RESERVE
    button_room = limits.buttons - fixed_buttons - NAV_BUTTONS
    pages: list[list[Block]] = []
    current: list[Block] = []
    used = buttons = 0
    for block in blocks:
        if block.button_count > button_room:
            block = Block(block.text, [])
        if _cost(block, limits) > text_room:
            block = _cut(block, text_room, limits)
        cost = _cost(block, limits)
        if current and (used + cost > text_room or buttons + block.button_count > button_room):
            pages.append(current)
            current, used, buttons = [], 0, 0
        current.append(block)
        used += cost
        buttons += block.button_count
    if current or not pages:
        pages.append(current)
    return pages


def paginate(
    blocks: list[Block], *, limits: ChannelLimits, header: str, page: int = 1,
    nav: Callable[[int], str], footer: str = "", extra_buttons: list[list[Button]] | None = None,
    empty: str = "", edit: bool = False,
) -> Reply:
    """Page ``page`` (1-based, clamped) of ``blocks`` under ``header`` as one reply that fits ``limits``.

    ``nav(n)`` is the choice that shows page ``n`` (at most 64 bytes); ``extra_buttons`` come after the
    page's own buttons on every page (e.g. "Huỷ").
    """
    extra = list(extra_buttons or [])
    extra_block = Block("", extra)
    fixed_chars = len(header) + 2 + (len(footer) + 2 if footer else 0) + _button_chars(extra_block, limits)
    if not limits.inline_buttons:
        fixed_chars += 2 + len(CHOICE_HINT) + 1  # the blank line before the choices and the hint under them
    fixed_buttons = extra_block.button_count
    pages = pack(blocks, limits, fixed_chars=fixed_chars, fixed_buttons=fixed_buttons)
    count = len(pages)
    page = min(max(page, 1), count)
    body = [block.text for block in pages[page - 1]]
    if body:
        body[0] = body[0].lstrip("\n")
    parts = [header]
    if body:
        parts.append("\n".join(body))
    elif empty:
        parts.append(empty)
    if count > 1:
        parts.append(f"📄 {page_label(page, count)}")
    if footer:
        parts.append(footer)
    buttons = [row for block in pages[page - 1] for row in block.buttons]
    if count > 1:
        row = []
        if page > 1:
            row.append(Button(f"◀ {page_label(page - 1, count)}", nav(page - 1)))
        if page < count:
            row.append(Button(f"{page_label(page + 1, count)} ▶", nav(page + 1)))
        buttons.append(row)
    reply = Reply("\n\n".join(part for part in parts if part), buttons=buttons + extra, edit=edit)
    return fit(reply, limits)


def fit(reply: Reply, limits: ChannelLimits) -> Reply:
    """The last guard: a reply that still does not fit loses buttons past the limit and the text's tail."""
    if fits(reply, limits):
        return reply
    buttons, count = [], 0
    for row in reply.buttons:
        if count + len(row) > limits.buttons:
            break
        buttons.append(row)
        count += len(row)
    reply = Reply(reply.text, buttons=buttons, document=reply.document, image=reply.image, edit=reply.edit)
    while not fits(reply, limits):
        overflow = len(reply.text) - (limits.text - 1)
        if not limits.inline_buttons and reply.buttons:
            overflow = max(overflow, 1) + sum(len(b.label) + 7 for row in reply.buttons for b in row)
        keep = max(0, len(reply.text) - max(overflow, 1) - 1)
        if keep == 0 and reply.buttons:
            reply.buttons = reply.buttons[:-1]
            continue
        reply.text = reply.text[:keep].rstrip() + ELLIPSIS
    return reply
