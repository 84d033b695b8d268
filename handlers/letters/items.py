"""The body cut into paragraphs and items.

A line starting with lower case after a blank line continues the previous paragraph (page breaks in
the seed letters). ``1.`` ``2.`` … start an item; ``-`` ``+`` ``•`` bullets and ``a)`` ``1.1.`` are its
sub-items; ``I.`` ``II.`` are section headings, which like the text before the first item are context
only. An item headed by a time word ("4. Thời gian gửi báo cáo", "Thời hạn …") is a time section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from handlers.letters.text import _squash, _starts_lower, _starts_with, _tokens

_ITEM_RE = re.compile(r"^(?P<num>\d{1,2})\s*[.)](?!\d)\s*(?=\S)")
_SUBNUM_RE = re.compile(r"^(?P<num>\d{1,2}\.\d{1,2})\.?(?!\d)\s*(?=\S)")
_ROMAN_RE = re.compile(r"^(?P<num>(?:I{1,3}|IV|VI{0,3}|IX|XI{0,2}))\s*[.)]\s+(?=\S)")
_LETTER_RE = re.compile(r"^(?P<num>[a-zđ])\s*\)\s*(?=\S)")
_BULLET_RE = re.compile(r"^(?P<num>[-+•–—])\s*(?=\S)")


def _marker(line: str) -> tuple[str, str | None, str]:
    """(kind, label, text without the marker) of a paragraph's first line."""
    for kind, pattern in (("sub", _SUBNUM_RE), ("item", _ITEM_RE), ("roman", _ROMAN_RE),
                          ("sub", _LETTER_RE), ("bullet", _BULLET_RE)):
        m = pattern.match(line)
        if m:
            return kind, m.group("num"), line[m.end():]
    return "plain", None, line


@dataclass
class _Para:
    kind: str  # "item" | "roman" | "sub" | "bullet" | "plain"
    label: str | None
    text: str


def _paragraphs(lines: list[str]) -> list[_Para]:
    """Lines → paragraphs. A line continues the paragraph above unless it starts with a marker or
    follows a blank line; after a blank line, a line starting with lower case still continues it."""
    out: list[_Para] = []
    blank = True
    for line in lines:
        stripped = line.strip()
        if not stripped:
            blank = True
            continue
        kind, label, rest = _marker(stripped)
        if out and kind == "plain" and (not blank or _starts_lower(stripped)):
            out[-1].text += " " + stripped
        elif out and kind != "plain" and not blank and kind == "item" and not out[-1].text.rstrip().endswith(
                (".", ":", ";")) and re.match(r"^\d{1,2}\s*[.)]\s*\d", stripped):
            out[-1].text += " " + stripped
        else:
            out.append(_Para(kind, label, rest))
        blank = False
    for para in out:
        para.text = _squash(para.text)
    return [p for p in out if p.text]


@dataclass
class _Item:
    label: str | None  # "4"; None for the text before the first item
    kind: str  # "numbered" | "context"
    paras: list[_Para] = field(default_factory=list)

    @property
    def heading(self) -> _Para | None:
        return self.paras[0] if self.kind == "numbered" and self.paras else None

    def sub_number(self, para: _Para) -> int:
        """1 for the item's first sub-item, 2 for the second …"""
        if not hasattr(self, "_numbers"):
            subs = [p for p in self.paras if p.kind in ("sub", "bullet")]
            self._numbers = {id(p): n for n, p in enumerate(subs, start=1)}
        return self._numbers[id(para)]


def _items(paras: list[_Para]) -> list[_Item]:
    """Numbered items; the text before the first one and under ``I.`` headings is context. A body
    without numbered items (a pasted paragraph) is one item."""
    if not any(para.kind == "item" for para in paras):
        return [_Item(None, "numbered", list(paras))] if paras else []
    items = [_Item(None, "context")]
    for para in paras:
        if para.kind == "item":
            items.append(_Item(para.label, "numbered", [para]))
        elif para.kind == "roman":
            items.append(_Item(para.label, "context", [para]))
        else:
            items[-1].paras.append(para)
    return [item for item in items if item.paras]


_TIME_HEADINGS: tuple[tuple[str, ...], ...] = (
    ("thoi", "gian"), ("thoi", "han"), ("han", "nop"), ("han", "gui"), ("han", "bao", "cao"),
)


def _heading_words(para: _Para) -> list[str]:
    return [t.word for t in _tokens(para.text[:80].split(":", 1)[0]) if t.is_word]


def _is_time_section(item: _Item) -> bool:
    if item.heading is None:
        return False
    words = _heading_words(item.heading)
    return any(_starts_with(words, w) for w in _TIME_HEADINGS)


def _segments(item: _Item) -> tuple[list[_Para], list[list[_Para]]]:
    """An item's lead-in (before its first sub-item) and its sub-items, each with the plain
    paragraphs that follow it."""
    lead_in: list[_Para] = []
    subs: list[list[_Para]] = []
    for para in item.paras:
        if para.kind in ("sub", "bullet"):
            subs.append([para])
        elif subs:
            subs[-1].append(para)
        else:
            lead_in.append(para)
    return lead_in, subs


def _label(item: _Item, para: _Para) -> str | None:
    """Where a task comes from: "4", "2 (ý 3)" (the third sub-item of item 2), "1 a)"."""
    if item.label is None:
        return None
    if para.kind == "sub" and para.label:
        return f"{item.label} {para.label})" if para.label.isalpha() else para.label
    if para.kind == "bullet":
        return f"{item.label} (ý {item.sub_number(para)})"
    return item.label
