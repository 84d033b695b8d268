"""The letter's header: number, date, place, subject, recipients; where the body starts.

- number: ``Số: 2146/UBND-NV``. A number left blank for the clerk (``Số: /UBND-NV``) gives
  ``number=None`` and keeps the written suffix as ``number_hint`` ("/UBND-NV"): a blank number is not
  a number, and two blank letters must not be taken for the same letter.
- date: ``Vĩnh Linh, ngày 20 tháng 11 năm 2024`` (or ``ngày 20/11/2024``). A blank day
  (``ngày tháng 11 năm 2024``) gives ``date=None`` and ``date_hint`` "tháng 11/2024"; the first day of
  that month is then the reference for deadlines written without a year. No date at all: the caller's
  reference (today).
- subject: ``V/v …`` over one or more lines, until a blank line, the place/date line, ``Kính gửi`` …;
  a titled document (``THÔNG BÁO``, ``KẾ HOẠCH`` …) gives "Thông báo: <the line(s) under the title>".
- recipients: the ``Kính gửi:`` line and the bullet lines under it.
- Without a dated header, number and date come from a title line ("Công văn số 972/SNV-CCHC ngày
  18/7/2018 V/v …", a portal's list of documents), else from the sentence of the body that issues
  the letter ("Ngày 23/11/2017, Sở Nội vụ ban hành Công văn số 1500/SNV-CCHC …", a portal's
  announcement). That date, like a header's, is the reference for deadlines written without a year.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from handlers.letters.items import _marker
from handlers.letters.text import _flat, _is_blank, _squash, _starts_lower

_NUMBER_RE = re.compile(r"^\s*so\s*:\s*(?P<value>.*)$")
_DATE_RE = re.compile(
    r"^\s*(?P<place>[^,\d]{2,60}),\s*ngay\s*(?:(?P<d>\d{1,2})\s*(?:thang\s*(?P<m>\d{1,2})?\s*nam\s*(?P<y>\d{4})"
    r"|[/.-]\s*(?P<m2>\d{1,2})\s*[/.-]\s*(?P<y2>\d{4}))"
    r"|thang\s*(?P<m3>\d{1,2})?\s*nam\s*(?P<y3>\d{4}))\s*\.?\s*$"
)
_DOC_TYPES = frozenset({
    "thong bao", "ke hoach", "bao cao", "quyet dinh", "chi thi", "giay moi", "cong van", "to trinh",
    "ket luan", "huong dan", "chuong trinh", "phuong an",
})
_HEADER_LINES = 60

_DOC_WORDS = (r"(?:cong\s+van|van\s+ban|ke\s+hoach|thong\s+bao|quyet\s+dinh|chi\s+thi|huong\s+dan|bao\s+cao"
              r"|to\s+trinh|giay\s+moi|chuong\s+trinh)")
_WRITTEN_DATE = (r"(?:(?P<d>\d{1,2})\s*[/.-]\s*(?P<m>\d{1,2})\s*[/.-]\s*(?P<y>\d{4})"
                 r"|(?P<vd>\d{1,2})\s+thang\s+(?P<vm>\d{1,2})\s*,?\s+nam\s+(?P<vy>\d{4}))(?!\d)")
_NUMBER = r"(?P<num>\d+(?:\s*/\s*[\w.\-]*\w)+)"
# "Công văn số 972/SNV-CCHC ngày 18/7/2018 V/v …" on a line of its own (a title line)
_TITLE_LINE_RE = re.compile(rf"^\s*{_DOC_WORDS}\s+so\s*:?\s*{_NUMBER}\s*,?\s*ngay\s+{_WRITTEN_DATE}")
# "Ngày 23/11/2017, Sở Nội vụ ban hành Công văn số 1500/SNV-CCHC …" (the sentence issuing the letter)
_ISSUING_RE = re.compile(rf"\bngay\s+{_WRITTEN_DATE}\s*,\s*[^.;:]{{0,150}}?\bban\s+hanh\s+{_DOC_WORDS}"
                         rf"(?:\s+so\s*:?\s*{_NUMBER})?")
_ISSUING_LINES = 12  # non-blank lines of the body searched for the issuing sentence


@dataclass
class _Header:
    number: str | None = None
    number_hint: str | None = None
    date: date | None = None
    date_hint: str | None = None
    month_year: tuple[int | None, int] | None = None
    place: str | None = None
    subject: str | None = None
    recipients: list[str] = field(default_factory=list)
    body_start: int = 0
    notes: list[str] = field(default_factory=list)


def _header(lines: list[str]) -> _Header:
    head = _Header()
    last = -1
    limit = min(len(lines), _HEADER_LINES)
    flats = [_squash(_flat(line)) for line in lines]
    for n in range(limit):
        flat = flats[n]
        if head.number is None and head.number_hint is None:
            m = _NUMBER_RE.match(flat)
            if m:
                raw = lines[n].split(":", 1)[1].strip()
                value = re.sub(r"\s*/\s*", "/", raw).split(" ")[0] if raw else ""
                if re.match(r"^\d+[\w/.\-]*$", value):
                    head.number = value
                else:
                    head.number_hint = value.lstrip(".…_ ") or None
                last = max(last, n)
                continue
        if head.date is None and head.month_year is None:
            m = _DATE_RE.match(flat)
            if m:
                _read_date(head, m, lines[n])
                last = max(last, n)
                continue
        if head.subject is None and (flat.startswith("v/v") or flat.startswith("ve viec:")):
            text, end = _collect(lines, n, flats)
            head.subject = text
            last = max(last, end)
            continue
        if head.subject is None and flat in _DOC_TYPES and lines[n].strip().isupper():
            nxt = next((k for k in range(n + 1, len(lines)) if not _is_blank(lines[k])), None)
            if nxt is not None:
                text, end = _collect(lines, nxt, flats)
                head.subject = f"{lines[n].strip().capitalize()}: {text}"
                last = max(last, end)
            continue
        if flat.startswith("kinh gui"):
            end = _recipients(lines, n, head)
            last = max(last, end)
            break
    head.body_start = last + 1
    if head.date is None and head.month_year is None:
        _date_from_text(lines, head)
    return head


def _date_from_text(lines: list[str], head: _Header) -> None:
    """Number and date from a title line, else from the body's sentence issuing the letter."""
    for n, line in enumerate(lines[:_HEADER_LINES]):
        m = _TITLE_LINE_RE.match(_flat(line))
        if m and _take(head, m, line):
            if head.subject is None:
                rest = line[m.end():].strip(" ,.:-")
                head.subject = _squash(rest) or None
            return
    body = [line for line in lines[head.body_start:] if not _is_blank(line)][:_ISSUING_LINES]
    for line in body:
        m = _ISSUING_RE.search(_flat(line))
        if m and _take(head, m, line):
            return


def _take(head: _Header, m: re.Match[str], line: str) -> bool:
    day, month, year = (m.group("d"), m.group("m"), m.group("y")) if m.group("d") else \
        (m.group("vd"), m.group("vm"), m.group("vy"))
    try:
        head.date = date(int(year), int(month), int(day))
    except ValueError:
        return False
    if m.group("num") and head.number is None and head.number_hint is None:
        head.number = re.sub(r"\s*/\s*", "/", line[m.start("num"):m.end("num")])
    return True


def _read_date(head: _Header, m: re.Match[str], line: str) -> None:
    head.place = line.split(",", 1)[0].strip() or None
    day = m.group("d")
    month = m.group("m") or m.group("m2") or m.group("m3")
    year = int(m.group("y") or m.group("y2") or m.group("y3"))
    if day and month:
        try:
            head.date = date(year, int(month), int(day))
            return
        except ValueError:
            head.notes.append(f"Ngày ban hành «{_squash(line)}» không có thật; hạn không ghi năm được tính từ hôm nay.")
            return
    head.month_year = (int(month) if month and 1 <= int(month) <= 12 else None, year)
    head.date_hint = f"tháng {int(month):02d}/{year}" if head.month_year[0] else f"năm {year}"


def _collect(lines: list[str], n: int, flats: list[str]) -> tuple[str, int]:
    """A header field over several lines: until a blank line (unless lower case follows) or another field."""
    parts = [lines[n].strip()]
    end = n
    k = n + 1
    while k < len(lines):
        if _is_blank(lines[k]):
            nxt = next((j for j in range(k, len(lines)) if not _is_blank(lines[j])), None)
            if nxt is None or not _starts_lower(lines[nxt]):
                break
            k = nxt
        flat = flats[k]
        if _DATE_RE.match(flat) or flat.startswith(("kinh gui", "so:", "v/v")) \
                or _marker(lines[k].strip())[0] != "plain":
            break
        parts.append(lines[k].strip())
        end = k
        k += 1
    return _squash(" ".join(parts)), end


def _recipients(lines: list[str], n: int, head: _Header) -> int:
    first = lines[n].split(":", 1)[1].strip() if ":" in lines[n] else ""
    entries: list[str] = []
    if first:
        entries.append(first.lstrip("-+• ").strip())
    end = n
    k = n + 1
    while k < len(lines):
        stripped = lines[k].strip()
        if not stripped:
            k += 1
            continue
        kind, _label, rest = _marker(stripped)
        if kind == "bullet":
            entries.append(rest)
        elif entries and _starts_lower(stripped) and not entries[-1].rstrip().endswith((";", ".")):
            entries[-1] += " " + stripped  # a wrapped line
        elif not entries and kind == "plain" and len(stripped) < 120 and not stripped.endswith(":"):
            entries.append(stripped)  # "Kính gửi:" then the one addressee on the next line
        else:
            break
        end = k
        k += 1
    head.recipients = [_squash(e).rstrip(";.,").strip() for e in entries if e.strip(" ;.,")]
    return end
