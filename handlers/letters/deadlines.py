"""Deadlines in a letter's text: which phrases, and the span of text each one governs.

Every deadline phrase (``schedules.deadlines.find_deadlines``) anywhere in the body is one task. A
deadline's span runs from the end of the sentence holding the previous deadline of its paragraph (or the
paragraph's start) to the end of its own sentence, the last one to the end of the paragraph. A closing
formula (a paragraph ending in ``./.`` with no deadline) ends the body.
"""

from __future__ import annotations

import re
from datetime import date
from zoneinfo import ZoneInfo

from handlers.letters.items import _Item, _Para
from schedules.deadlines import Deadline, DeadlineError, find_deadlines

_SENTENCE_END_RE = re.compile(r"\./\.|[.!?](?=\s|$)|;")


def _sentence_end(text: str, pos: int, limit: int | None = None) -> int:
    """The end of the sentence or clause (``.`` ``;``) running at ``pos``; ``limit`` if it runs past it."""
    limit = len(text) if limit is None else limit
    m = _SENTENCE_END_RE.search(text, pos, limit)
    return m.end() if m else limit


def _spans(text: str, deadlines: list[Deadline]) -> list[tuple[int, int]]:
    spans = []
    start = 0
    for k, deadline in enumerate(deadlines):
        if k + 1 < len(deadlines):
            end = _sentence_end(text, deadline.end, deadlines[k + 1].start + 1)
            if end > deadlines[k + 1].start:  # two deadlines in one sentence: cut after the first
                end = deadline.end
        else:
            end = len(text)
        spans.append((start, end))
        start = end
    return spans


_SENTENCE_STOP = re.compile(r"[.!?](?=\s|$)")


def _deadline_sentence(text: str, deadline: Deadline | None, lower: int = 0,
                       upper: int | None = None) -> tuple[int, int] | None:
    """The sentence ("." "!" "?" then a space) holding the deadline, within ``text[lower:upper]``."""
    if deadline is None:
        return None
    upper = len(text) if upper is None else upper
    start = deadline.start
    while start > lower and not (text[start - 1].isspace() and text[start - 2:start - 1] in (".", "!", "?")):
        start -= 1
    stop = _SENTENCE_STOP.search(text, deadline.end, upper)
    end = stop.start() if stop else upper
    while start < end and text[start].isspace():
        start += 1
    return start, end


def _deadlines(text: str, ref: date, tz: ZoneInfo) -> tuple[list[Deadline], str | None]:
    try:
        return find_deadlines(text, ref, tz), None
    except DeadlineError as exc:
        return [], str(exc)


def _has_deadline(item: _Item, ref: date, tz: ZoneInfo) -> bool:
    return any(_deadlines(p.text, ref, tz)[0] for p in item.paras)


def _without_closing(paras: list[_Para], ref: date, tz: ZoneInfo) -> list[_Para]:
    """Drop the closing formula ("… nghiêm túc thực hiện./.") and what follows it."""
    for n, para in enumerate(paras):
        if para.text.rstrip().endswith("/.") and not _deadlines(para.text, ref, tz)[0] and para.kind == "plain":
            return paras[:n]
    return paras
