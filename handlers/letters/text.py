"""Text helpers shared by every stage: normalisation, folding (no diacritics, lower case) and tokens."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

def _clean(text: str) -> str:
    """NFC, no BOM, ``\\n`` line ends, no ``*`` bold/italic marks, no stray combining marks."""
    text = unicodedata.normalize("NFC", text.replace("\ufeff", ""))
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("*", "")
    text = text.replace("\u00a0", " ").replace("\t", " ")
    return "".join(ch for ch in text if not unicodedata.combining(ch))


@functools.lru_cache(maxsize=4096)
def _flat_char(ch: str) -> str:
    if ch in "đĐ":
        return "d"
    base = unicodedata.normalize("NFD", ch)[0].lower()
    return base if len(base) == 1 else ch


def _flat(text: str) -> str:
    """Lower case, no diacritics, one character for one: positions are those of ``text``."""
    return "".join(map(_flat_char, text))


def _words(text: str) -> str:
    """Folded words only, single spaces: for comparing short phrases."""
    return " ".join(re.findall(r"\w+", _flat(text).replace("&", " va ")))


def _squash(text: str) -> str:
    return " ".join(text.split())


# --- tokens and mentions --------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"\w+|[^\w\s]")
_DASHES = frozenset("-–—‐‑")


@dataclass(frozen=True)
class _Tok:
    word: str  # folded word; "&" is "va"; dashes are "-"; other punctuation as is
    start: int
    end: int
    is_word: bool


def _tokens(text: str) -> list[_Tok]:
    flat = _flat(text)
    out = []
    for m in _TOKEN_RE.finditer(flat):
        s = m.group()
        if s == "&":
            out.append(_Tok("va", m.start(), m.end(), True))
        elif s in _DASHES:
            out.append(_Tok("-", m.start(), m.end(), False))
        elif s[0].isalnum() or s[0] == "_":
            out.append(_Tok(s, m.start(), m.end(), True))
        else:
            out.append(_Tok(s, m.start(), m.end(), False))
    return out


def _phrase_words(phrase: str) -> tuple[str, ...]:
    return tuple(t.word for t in _tokens(phrase) if t.is_word)


def _is_blank(line: str) -> bool:
    return not line.strip()


def _starts_lower(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and stripped[0].islower()


def _ends_with(words: list[str], seq: tuple[str, ...]) -> bool:
    return len(words) >= len(seq) and tuple(words[-len(seq):]) == seq


def _starts_with(words: list[str], seq: tuple[str, ...]) -> bool:
    return tuple(words[: len(seq)]) == seq
