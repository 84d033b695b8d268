"""Vietnamese deadline phrases: find them in letters and messages, compute the due instant.

Rules (see DESIGN.md, "Deadlines, as the letters write them"):

- ``chậm nhất ngày 15/11/2024``, ``hạn 15/11``, ``hạn chót …``, ``đến ngày 15/11``,
  ``hoàn thành ngày …``: due at the end of that day (kind ``"by"``).
- ``trước ngày 20/11/2024``: due at the end of the day before (kind ``"before"``).
- ``trong tháng 11`` / ``trong tháng 11/2024`` / ``trong tháng 11 năm 2024``: due at the end of the
  last day of that month (kind ``"month"``).
- No year: the next such date (or month) on or after the reference date.
- A time of day, before or after the day, as officials write it (``14 giờ``, ``14h``, ``14h00``, ``14g30``,
  ``14 giờ 30 phút``, ``16 giờ 00``, optionally led by ``lúc``): due at that time on that day, whatever
  the keyword: ``trước 14 giờ, ngày 05/12/2017`` and ``chậm nhất 16 giờ 00 ngày 05/12/2017`` are due at
  14:00 and 16:00 on 05/12/2017; ``chậm nhất ngày 06/10/2025, 14 giờ 30 phút`` at 14:30. ``24 giờ`` is
  the end of the day. Without a time, the end of the day (``END_OF_DAY``).
- ``chậm nhất trước ngày X`` is ``trước ngày X``.

Matching runs on a "shadow" of the text: bold/italic ``*`` removed, diacritics stripped, lower case,
with an index back into the original text, so spans and phrases always refer to what was written.

What ``find_deadlines`` deliberately does NOT treat as a deadline:

- a number range or percentage (``đến 15-20%``);
- a date without a deadline keyword, so document references (``Công văn số 527/UBND-NV ngày
  20/3/2024``), meeting dates and ranges like ``(25/8/1954-25/8/2024)`` are ignored;
- ``đến`` closing a period that opens with ``từ [<time>] [ngày] <date>`` in the same clause
  (``từ ngày 01 tháng 12 … đến ngày 28 tháng 02``, a data cut-off period), and ``tính đến <date>``
  ("as of", also a cut-off);
- ``trong tháng N`` standing alone in parentheses (``thực hiện lần 1 (trong tháng 11)``): an aside
  naming a period, not a demand.

``đến [ngày] <date>`` otherwise IS a deadline of kind ``"by"``, with or without ``ngày``; this one
rule covers ``từ nay đến 14/12/2023`` (the phrase keeps ``từ nay``) and ``phấn đấu đến 31/12/2023``.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

END_OF_DAY = time(23, 59, 59)

_EXAMPLE_HINT = "Hãy viết ví dụ «chậm nhất ngày 15/11/2024» hoặc «trước ngày 20/11»."
_SNIPPET_LIMIT = 80


class DeadlineError(ValueError):
    """A deadline phrase is missing or names a day that does not exist (message in Vietnamese)."""


@dataclass(frozen=True)
class Deadline:
    """A deadline found in text: the due instant and the phrase it came from."""

    due_at: datetime
    due_date: date
    phrase: str
    kind: str
    start: int
    end: int

    @property
    def timed(self) -> bool:
        """Due at a written time of day, not at the end of the day."""
        return self.due_at.timetz().replace(tzinfo=None) != END_OF_DAY


# --- patterns (they run on the shadow text: no "*", no diacritics, lower case) -------------------


def _date_pattern(p: str) -> str:
    """A date, optionally led by "ngày": ``15/11[/2024]`` (``/ - .``) or ``15 tháng 11 [năm 2024]``."""
    numeric = (
        rf"(?<![\d/.-])(?P<{p}d>\d{{1,2}})(?P<{p}sep>[/.-])(?P<{p}m>\d{{1,2}})"
        rf"(?:(?P={p}sep)(?P<{p}y>\d{{4}})(?!\d)|(?![\d/]|[.-]\d|\s*%))"
    )
    verbal = (
        rf"(?<!\d)(?P<{p}vd>\d{{1,2}})\s+thang\s+(?P<{p}vm>\d{{1,2}})"
        rf"(?:\s*,?\s*nam\s+(?P<{p}vy>\d{{4}})(?!\d)|(?![\d/]))"
    )
    return rf"(?:ngay\s+)?(?:{numeric}|{verbal})"


def _time_pattern(p: str) -> str:
    """A time of day: ``14 giờ``, ``14h``, ``14h00``, ``14g30``, ``14 giờ 30 phút``, ``16 giờ 00`` (shadow text)."""
    return (rf"(?<![\d/.-])(?P<{p}hh>\d{{1,2}})\s*(?:gio|g|h)"
            rf"(?:\s*(?P<{p}mm>\d{{1,2}})(?:\s*phut)?)?(?![\w/])")


def _timed_date(p: str) -> str:
    """A date with an optional time of day before it (``14 giờ, ngày …``) or after it (``…, lúc 14h``)."""
    return (rf"(?:(?:luc\s+)?{_time_pattern(p + 't')}\s*,?\s*)?" + _date_pattern(p)
            + rf"(?:\s*,?\s*(?:(?:vao\s+)?luc\s+|truoc\s+)?{_time_pattern(p + 'a')})?")


_KEYWORD_DATE = (
    r"(?:(?P<before>\btruoc|\bcham\s+nhat\s+truoc)"
    r"|(?P<by>\bcham\s+nhat|\b(?:thoi\s+)?han(?:\s+(?:chot|cuoi|nop|gui))?"
    r"|\bhoan\s+thanh(?:\s+(?:vao|trong))?(?=\s+ngay\b))"
    r"|(?P<until>\b(?:tu\s+nay\s+)?den))"
    r"\b\s*:?\s*(?:(?:la|vao|trong)\s+){0,2}" + _timed_date("k")
)
_MONTH = (
    r"(?P<month>\btrong\s+thang\s+(?P<mm>\d{1,2})"
    r"(?:\s*/\s*(?P<my>\d{4})(?!\d)|\s+nam\s+(?P<mny>\d{4})(?!\d)|(?![\d/])))"
)
_PHRASE_RE = re.compile(f"{_KEYWORD_DATE}|{_MONTH}")
_BARE_DATE_RE = re.compile(r"[\s(]*(?P<date>" + _timed_date("k") + r")[\s.!?)]*")
_RANGE_OPENING_RE = re.compile(r"\btu\s+" + _timed_date("r"))
_CUT_OFF_RE = re.compile(r"\btinh\s+$")
_CLAUSE_BREAK_RE = re.compile(r"[;,\n]|\.(?:\s|$)")


# --- the shadow text -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shadow:
    text: str
    index: tuple[int, ...]  # index[i] = position in the original text of shadow character i


def _fold(ch: str) -> str:
    """One character without diacritics, lower case ("Đ" → "d", "ế" → "e")."""
    if ch in "đĐ":
        return "d"
    stripped = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
    return "".join(c for c in unicodedata.normalize("NFD", stripped.lower()) if not unicodedata.combining(c))


def _shadow(text: str) -> _Shadow:
    chars: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        if ch == "*" or unicodedata.combining(ch):
            continue
        for c in _fold(ch):
            chars.append(c)
            index.append(i)
    return _Shadow("".join(chars), tuple(index))


def _original_span(shadow: _Shadow, start: int, end: int) -> tuple[int, int]:
    """Map a shadow span back to the original text (every phrase ends with a digit)."""
    return shadow.index[start], shadow.index[end - 1] + 1


def _phrase(text: str, start: int, end: int) -> str:
    """The phrase as written: NFC, bold/italic marks removed, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFC", text[start:end].replace("*", "")).split())


# --- dates ----------------------------------------------------------------------------------------


def _reference_date(reference: date | datetime, tz: ZoneInfo) -> date:
    if isinstance(reference, datetime):
        if reference.utcoffset() is None:
            raise ValueError("reference datetime must be timezone-aware")
        return reference.astimezone(tz).date()
    if isinstance(reference, date):
        return reference
    raise TypeError(f"reference must be a date or an aware datetime, not {type(reference).__name__}")


def _written(day: int, month: int, year: int | None) -> str:
    return f"{day:02d}/{month:02d}" + ("" if year is None else f"/{year:04d}")


def _resolve_day(day: int, month: int, year: int | None, ref: date) -> date:
    """The written day; without a year, its next occurrence on or after ``ref``."""
    leap_days = calendar.monthrange(2000, month)[1] if 1 <= month <= 12 else 0
    if not 1 <= day <= leap_days:
        raise DeadlineError(f"Ngày {_written(day, month, year)} không tồn tại.")
    if year is None:
        year = ref.year if (month, day) >= (ref.month, ref.day) else ref.year + 1
    try:
        return date(year, month, day)
    except ValueError:
        raise DeadlineError(f"Ngày {_written(day, month, year)} không tồn tại.") from None


def _month_end(month: int, year: int | None, ref: date) -> date:
    """The last day of the month; without a year, the month on or after the month of ``ref``."""
    if not 1 <= month <= 12:
        raise DeadlineError(f"Tháng {month} không tồn tại.")
    if year is None:
        year = ref.year if month >= ref.month else ref.year + 1
    try:
        return date(year, month, 1) + relativedelta(day=31)
    except ValueError:
        raise DeadlineError(f"Tháng {month:02d}/{year:04d} không tồn tại.") from None


def _day_from_match(m: re.Match[str], p: str, ref: date) -> date:
    if m.group(f"{p}d") is not None:
        day, month, year = m.group(f"{p}d"), m.group(f"{p}m"), m.group(f"{p}y")
    else:
        day, month, year = m.group(f"{p}vd"), m.group(f"{p}vm"), m.group(f"{p}vy")
    return _resolve_day(int(day), int(month), None if year is None else int(year), ref)


def _time_from_match(m: re.Match[str], p: str) -> time | None:
    """The time of day written before or after the date, or None; 24 giờ is the end of the day."""
    for side in ("t", "a"):
        hour = m.group(f"{p}{side}hh")
        if hour is None:
            continue
        minute = int(m.group(f"{p}{side}mm") or 0)
        if int(hour) == 24 and minute == 0:
            return END_OF_DAY
        if int(hour) > 23 or minute > 59:
            raise DeadlineError(f"Giờ {int(hour)}:{minute:02d} không có thật.")
        return time(int(hour), minute)
    return None


def _day_before(day: date) -> date:
    try:
        return day - timedelta(days=1)
    except OverflowError:
        raise DeadlineError(f"Không có ngày nào trước ngày {day:%d/%m/%Y}.") from None


# --- which matches are deadlines ------------------------------------------------------------------


def _clause_before(shadow: str, pos: int) -> str:
    """The shadow text from the last clause break (``; , . newline``) up to ``pos``."""
    head = shadow[:pos]
    breaks = list(_CLAUSE_BREAK_RE.finditer(head))
    return head[breaks[-1].end():] if breaks else head


def _is_period_end(shadow: str, m: re.Match[str]) -> bool:
    """``đến`` closing ``từ [ngày] <date> … đến``, or ``tính đến`` (as of): a cut-off, not a deadline."""
    if m.group("until") is None or m.group("until").startswith("tu"):
        return False
    pos = m.start("until")
    return bool(_CUT_OFF_RE.search(shadow[:pos]) or _RANGE_OPENING_RE.search(_clause_before(shadow, pos)))


def _is_parenthesised_aside(text: str, start: int, end: int) -> bool:
    """True when the phrase is the whole content of a pair of parentheses: ``(trong tháng 11)``."""
    before = text[:start].rstrip().rstrip("*").rstrip()
    after = text[end:].lstrip().lstrip("*").lstrip()
    return before.endswith("(") and after.startswith(")")


def _build(text: str, shadow: _Shadow, m: re.Match[str], ref: date, tz: ZoneInfo) -> Deadline | None:
    start, end = _original_span(shadow, m.start(), m.end())
    if m.group("month") is not None:
        if _is_parenthesised_aside(text, start, end):
            return None
        year = m.group("my") or m.group("mny")
        due, kind = _month_end(int(m.group("mm")), None if year is None else int(year), ref), "month"
    elif _is_period_end(shadow.text, m):
        return None
    else:
        at = _time_from_match(m, "k")
        day = _day_from_match(m, "k", ref)
        kind = "before" if m.group("before") is not None else "by"
        if kind == "before" and at is None:
            day = _day_before(day)
        return _deadline(text, start, end, day, kind, tz, at)
    return _deadline(text, start, end, due, kind, tz)


def _deadline(text: str, start: int, end: int, due: date, kind: str, tz: ZoneInfo,
              at: time | None = None) -> Deadline:
    return Deadline(
        due_at=datetime.combine(due, at or END_OF_DAY, tzinfo=tz),
        due_date=due,
        phrase=_phrase(text, start, end),
        kind=kind,
        start=start,
        end=end,
    )


def _not_found(text: str) -> DeadlineError:
    snippet = " ".join(text.split())
    if len(snippet) > _SNIPPET_LIMIT:
        snippet = snippet[: _SNIPPET_LIMIT - 1].rstrip() + "…"
    return DeadlineError(f"Không tìm thấy ngày hạn trong: «{snippet}». {_EXAMPLE_HINT}")


# --- public API -----------------------------------------------------------------------------------


def find_deadlines(text: str, reference: date | datetime, tz: ZoneInfo = VN_TZ) -> list[Deadline]:
    """Every keyword deadline phrase in ``text``, in order; raises DeadlineError on a day that does not exist."""
    ref = _reference_date(reference, tz)
    shadow = _shadow(text)
    found = (_build(text, shadow, m, ref, tz) for m in _PHRASE_RE.finditer(shadow.text))
    return [d for d in found if d is not None]


def parse_deadline(text: str, reference: date | datetime, tz: ZoneInfo = VN_TZ) -> Deadline:
    """The first deadline phrase in ``text``, or the text itself when it is just a date (kind "by")."""
    found = find_deadlines(text, reference, tz)
    if found:
        return found[0]
    shadow = _shadow(text)
    bare = _BARE_DATE_RE.fullmatch(shadow.text)
    if bare is None:
        raise _not_found(text)
    start, end = _original_span(shadow, bare.start("date"), bare.end("date"))
    day = _day_from_match(bare, "k", _reference_date(reference, tz))
    return _deadline(text, start, end, day, "by", tz, _time_from_match(bare, "k"))
