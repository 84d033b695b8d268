"""Turn an official letter (công văn) into draft tasks: read the file, find its parts, propose tasks.

Everything here except ``roster_refs`` and ``save_draft`` is pure: no database, no network, no clock.

Reading (``letter_text``): ``.txt`` (UTF-8, BOM or not), ``.docx`` (paragraphs and table cells, in
document order: letter headers are often a two-column table), text-layer ``.pdf``. At most
``MAX_LETTER_BYTES``; an empty file, a scanned PDF without a text layer, an encrypted or broken file
each get a Vietnamese answer (``LetterError``).

The letter's parts (``extract_letter``):

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
- the body runs from after the header to ``Nơi nhận``; a closing formula (a paragraph ending in
  ``./.`` with no deadline, e.g. "UBND huyện yêu cầu … nghiêm túc thực hiện./.") ends it.

Tasks:

- The body is cut into paragraphs (a line starting with lower case after a blank line continues the
  previous paragraph: page breaks in the seed letters) and items: ``1.`` ``2.`` … start an item;
  ``-`` ``+`` ``•`` bullets and ``a)`` ``1.1.`` are its sub-items; ``I.`` ``II.`` are section headings,
  which like the text before the first item are context only.
- Every deadline phrase (``schedules.deadlines.find_deadlines``) anywhere in the body is one task, and
  one per lead unit when a span names several leads. A deadline's span runs from the end of the
  sentence holding the previous deadline of its paragraph (or the paragraph's start) to the end of its
  own sentence, the last one to the end of the paragraph; the task's units, lead, templates, signature
  and title come from that span.
- Units, in order of preference: the units named in the span in the place of a subject ("Phòng A,
  Phòng B báo cáo …", "Giao Phòng A chủ trì", "Đề nghị …", "giữa Thủ trưởng các cơ quan, đơn vị …");
  then those named before the span in its paragraph; then the sub-heading (``a)``) and the item's
  heading ("4. Phòng Kinh tế và Hạ tầng"); then the letter's recipients. Units named after "qua",
  "về", "gửi", "của", "tham mưu", "theo dõi" … are not assignees ("gửi về UBND huyện (qua phòng Nội
  vụ)"), and the issuing body (units of kind ``office``: "UBND huyện") never is.
- Lead: "Giao <unit> chủ trì" / "<unit> chủ trì"; a span that starts with "Chủ trì" under a heading
  naming one unit makes that unit the lead. With a lead the task goes to the lead alone (the lead
  reports). Units after "phối hợp (với)" are coordinating, except "các cơ quan, đơn vị có liên quan",
  which names no one.
- Group words map to roster groups through ``DEFAULT_GROUP_WORDS`` (pass ``group_words`` for a roster
  with other group names): "UBND các xã, thị trấn" → ``xa``; "các cơ quan chuyên môn", "các phòng,
  ban" → ``cqcm``; "đơn vị sự nghiệp" → ``dvsn``; the generic "các cơ quan, đơn vị" with nothing
  after it → ``cqcm`` + ``dvsn`` (letter 000 opposes it to "UBND các xã, thị trấn").
- A letter-wide deadline section: an item headed by a time word ("4. Thời gian gửi báo cáo", "Thời
  hạn …") whose deadline names no unit, or only the generic "các cơ quan, đơn vị", sets the date of
  every report the letter asks for: its task goes to all the recipients and takes the subject as
  title (letter 001: the departments it addresses and the communes). The other items of such a letter
  describe what to report and give no tasks of their own.
- Without a deadline: a numbered item with no deadline (or a sub-item with no deadline whose item's
  lead-in has none either) that names who must act (in itself or its heading) is kept as a task with
  ``due_at=None`` and a ``problem`` ("chưa có hạn"), so nothing assigned is silently dropped.
- Unit names are matched without diacritics or case, on names and aliases, with ``&`` read as "và",
  dashes of any kind ignored, a trailing "huyện" optional, and abbreviations made from the names
  ("Phòng TC-KH", "Phòng VH&TT", "VP HĐND&UBND"); a list "Các Phòng: Tư pháp, Nội vụ" names each.
  A unit-like name in an assignee place that matches no roster unit ("Đoàn thanh niên huyện", "các
  Chủ đầu tư") is listed in ``unmatched_names``: shown, never silently dropped.
- templates: "Phụ lục 1", "theo mẫu Phụ lục 3", "biểu mẫu Phụ lục 4"; signed: "ký số" near "pdf" or
  "định dạng".
"""

from __future__ import annotations

import functools
import io
import itertools
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import PurePath
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from schedules.deadlines import Deadline, DeadlineError, find_deadlines

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from storage.models import Letter, Person, Task, Unit

MAX_LETTER_BYTES = 1_000_000
MAX_PDF_PAGES = 100
MAX_DOCX_UNPACKED_BYTES = 30_000_000
TITLE_LIMIT = 120
DELIVERABLE_LIMIT = 2000
PREFIX_LIMIT = 1000

NO_DEADLINE = "chưa có hạn — bổ sung hạn trước khi giao, hoặc bỏ qua"
NO_UNITS = "chưa xác định được đơn vị nhận"


class LetterError(ValueError):
    """A letter cannot be read or imported (the message is Vietnamese, for the user)."""


# --- reading files ----------------------------------------------------------------------------------


def _size_text(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB".replace(".", ",")


def check_size(size: int) -> None:
    """Reject a file or paste over ``MAX_LETTER_BYTES`` before reading it."""
    if size > MAX_LETTER_BYTES:
        raise LetterError(
            f"Văn bản quá lớn ({_size_text(size)}); chỉ nhận công văn tối đa 1 MB. "
            "Hãy gửi riêng phần nội dung công văn (không kèm phụ lục, hình ảnh)."
        )


def paste_text(text: str) -> str:
    """A pasted letter, checked: not empty, at most ``MAX_LETTER_BYTES`` in UTF-8."""
    check_size(len(text.encode("utf-8")))
    if not text.strip():
        raise LetterError("Văn bản trống: hãy dán nội dung công văn, hoặc gửi tệp .docx, .pdf, .txt.")
    return text


def letter_text(data: bytes, file_name: str) -> str:
    """The text of a letter file (.txt, .docx, .pdf); ``LetterError`` with a Vietnamese answer."""
    check_size(len(data))
    name = PurePath(file_name or "").name or "tệp"
    if not data.strip():
        raise LetterError(f"Tệp «{name}» trống, không có nội dung để đọc.")
    suffix = PurePath(name).suffix.lower()
    if suffix == ".txt":
        text = _txt(data, name)
    elif suffix == ".docx":
        text = _docx(data, name)
    elif suffix == ".pdf":
        text = _pdf(data, name)
    elif suffix == ".doc":
        raise LetterError(f"Tệp «{name}» là Word cũ (.doc), chưa đọc được. Hãy lưu lại thành .docx hoặc .pdf.")
    else:
        raise LetterError(f"Không đọc được tệp «{name}»: chỉ nhận công văn dạng .docx, .pdf (có lớp chữ) hoặc .txt.")
    if not text.strip():
        raise LetterError(f"Tệp «{name}» không có chữ nào để đọc.")
    return text


def _txt(data: bytes, name: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LetterError(f"Tệp «{name}» không phải chữ UTF-8. Hãy lưu lại với bảng mã UTF-8.") from None


def _docx(data: bytes, name: str) -> str:
    from docx import Document
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    broken = LetterError(f"Không đọc được tệp Word «{name}» (tệp hỏng hoặc không phải .docx).")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_DOCX_UNPACKED_BYTES:
                raise LetterError(f"Tệp Word «{name}» giải nén ra quá lớn, không đọc.")
        document = Document(io.BytesIO(data))
    except LetterError:
        raise
    except Exception:  # noqa: BLE001 - python-docx raises many kinds on a bad file; all mean "broken"
        raise broken from None

    blocks: list[str] = []

    def table_text(table: Any) -> None:
        seen: set[int] = set()
        for row in table.rows:
            for cell in row.cells:
                if id(cell._tc) in seen:  # a merged cell appears once per grid column it spans
                    continue
                seen.add(id(cell._tc))
                for child in cell._tc.iterchildren():
                    add(child, cell)

    def add(element: Any, parent: Any) -> None:
        tag = element.tag.rsplit("}", 1)[-1]
        if tag == "p":
            blocks.append(Paragraph(element, parent).text)
        elif tag == "tbl":
            table_text(Table(element, parent))

    for child in document.element.body.iterchildren():
        add(child, document)
    return "\n\n".join(block for block in blocks if block.strip())


def _pdf(data: bytes, name: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LetterError(f"Tệp PDF «{name}» có mật khẩu, không đọc được. Hãy gửi bản không đặt mật khẩu.")
        pages = reader.pages
        if len(pages) > MAX_PDF_PAGES:
            raise LetterError(f"Tệp PDF «{name}» có {len(pages)} trang, quá dài cho một công văn.")
        texts: list[str] = []
        for page in pages:  # stop early on a file that unpacks to more text than a letter has
            texts.append(page.extract_text() or "")
            if sum(map(len, texts)) > MAX_LETTER_BYTES:
                raise LetterError(f"Tệp PDF «{name}» chứa quá nhiều chữ (hơn 1 MB), không giống một công văn.")
    except LetterError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError,
            NotImplementedError, OSError, AssertionError):
        raise LetterError(f"Không đọc được tệp PDF «{name}» (tệp hỏng hoặc không phải PDF).") from None
    text = "\n".join(texts)
    if not text.strip():
        raise LetterError(
            f"Tệp PDF «{name}» này không có lớp chữ (có thể là bản scan), nên không đọc được nội dung. "
            "Hãy gửi tệp .docx hoặc PDF xuất từ Word, hoặc dán nội dung công văn."
        )
    return text


# --- the roster, as extraction sees it ------------------------------------------------------------


@dataclass(frozen=True)
class UnitRef:
    """A roster unit, as the extraction needs it (no database)."""

    id: int | None
    code: str
    name: str
    kind: str
    groups: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    @classmethod
    def from_unit(cls, unit: Unit) -> UnitRef:
        return cls(id=unit.id, code=unit.code, name=unit.name, kind=str(unit.kind),
                   groups=tuple(unit.groups or ()), aliases=tuple(unit.aliases or ()))


@dataclass(frozen=True)
class GroupWord:
    """Words of a letter that name a group of units: ``phrase`` → the roster ``groups``."""

    phrase: str
    groups: tuple[str, ...]
    generic: bool = False  # "các cơ quan, đơn vị": names nobody in particular


# Group keywords → roster group names (the demo roster: xa, cqcm, dvsn). The first phrase naming
# exactly one group is that group's label in ``render_draft``.
DEFAULT_GROUP_WORDS: tuple[GroupWord, ...] = (
    GroupWord("UBND các xã, thị trấn", ("xa",)),
    GroupWord("Ủy ban nhân dân các xã, thị trấn", ("xa",)),
    GroupWord("UBND cấp xã", ("xa",)),
    GroupWord("các xã, thị trấn", ("xa",)),
    GroupWord("các xã", ("xa",)),
    GroupWord("các cơ quan chuyên môn", ("cqcm",)),
    GroupWord("cơ quan chuyên môn", ("cqcm",)),
    GroupWord("các phòng, cơ quan chuyên môn", ("cqcm",)),
    GroupWord("các phòng, ban chuyên môn", ("cqcm",)),
    GroupWord("các phòng chuyên môn", ("cqcm",)),
    GroupWord("các phòng, ban, ngành", ("cqcm",)),
    GroupWord("các phòng, ban", ("cqcm",)),
    GroupWord("các đơn vị sự nghiệp", ("dvsn",)),
    GroupWord("đơn vị sự nghiệp", ("dvsn",)),
    GroupWord("các phòng, ban, đơn vị", ("cqcm", "dvsn")),
    GroupWord("các phòng, ban, đơn vị, địa phương", ("cqcm", "dvsn", "xa")),
    GroupWord("các cơ quan, đơn vị, địa phương", ("cqcm", "dvsn", "xa"), generic=True),
    GroupWord("các cơ quan, đơn vị", ("cqcm", "dvsn"), generic=True),
)

# Units of these kinds issue letters and receive reports; they are never assignees.
ISSUER_KINDS = frozenset({"office"})


# --- the draft ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DraftTask:
    title: str
    deliverable: str
    due_at: datetime | None
    phrase: str | None
    units: tuple[str, ...]
    lead: str | None = None
    coordinating: tuple[str, ...] = ()
    templates: tuple[str, ...] = ()
    signed: bool = False
    unmatched_names: tuple[str, ...] = ()
    problem: str | None = None
    item: str | None = None  # where it comes from: "4", "2 (ý 3)" (item 2, third sub-item), "1 a)"

    @property
    def due_date(self) -> date | None:
        return None if self.due_at is None else self.due_at.date()

    @property
    def ready(self) -> bool:
        """Can be created as it stands: it has a deadline and at least one unit."""
        return self.due_at is not None and bool(self.units)


@dataclass(frozen=True)
class LetterDraft:
    number: str | None
    date: date | None
    subject: str | None
    recipients: tuple[str, ...]
    tasks: tuple[DraftTask, ...]
    reference: date  # what deadlines without a year were read against
    number_hint: str | None = None
    date_hint: str | None = None
    place: str | None = None
    recipient_units: tuple[str, ...] = ()
    unmatched_names: tuple[str, ...] = ()  # named recipients that match no roster unit
    notes: tuple[str, ...] = ()
    unit_names: Mapping[str, str] = field(default_factory=dict)  # code → name, in roster order
    group_members: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    group_labels: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "number_hint": self.number_hint,
            "date": self.date.isoformat() if self.date else None,
            "subject": self.subject,
            "recipients": list(self.recipients),
            "recipient_units": list(self.recipient_units),
            "notes": list(self.notes),
            "tasks": [
                {
                    "title": task.title,
                    "due_at": task.due_at.isoformat() if task.due_at else None,
                    "phrase": task.phrase,
                    "units": list(task.units),
                    "lead": task.lead,
                    "signed": task.signed,
                    "coordinating": list(task.coordinating),
                    "templates": list(task.templates),
                    "unmatched": list(task.unmatched_names),
                    "problem": task.problem,
                    "item": task.item,
                    "deliverable": task.deliverable,
                }
                for task in self.tasks
            ],
        }


# --- text normalisation ---------------------------------------------------------------------------


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


@dataclass(frozen=True)
class _Entry:
    words: tuple[str, ...]
    codes: tuple[str, ...]
    kind: str  # "unit" | "group"
    rank: int  # 0 a name, 1 an alias, 2 derived
    generic: bool = False


_PREFIXES: tuple[tuple[tuple[str, ...], tuple[tuple[str, ...], ...]], ...] = (
    (("van", "phong"), (("van", "phong"), ("vp",))),
    (("trung", "tam"), (("trung", "tam"),)),
    (("phong",), (("phong",),)),
)
_LIST_HEADS: tuple[tuple[str, ...], ...] = (("phong",), ("thi", "tran"), ("xa",), ("trung", "tam"))


def _strip_district(words: tuple[str, ...]) -> tuple[str, ...]:
    """"… huyện" without "huyện", when enough is left to be a name."""
    if len(words) >= 3 and words[-1] == "huyen":
        return words[:-1]
    return words


def _abbreviations(phrase: str) -> list[tuple[str, ...]]:
    """"Phòng Tài chính - Kế hoạch" → "phong tc kh", "phong tc va kh", "phong tckh" (and so on)."""
    tokens = _tokens(phrase)
    original = [phrase[t.start:t.end] for t in tokens]
    words = [t.word for t in tokens if t.is_word]
    if words and words[-1] == "huyen":
        cut = max(i for i, t in enumerate(tokens) if t.is_word and t.word == "huyen")
        tokens, original = tokens[:cut], original[:cut]
    for prefix, spellings in _PREFIXES:
        if tuple(t.word for t in tokens[: len(prefix)]) == prefix:
            break
    else:
        return []
    parts: list[list[str]] = [[]]
    for tok, raw in zip(tokens[len(prefix):], original[len(prefix):]):
        if not tok.is_word or tok.word == "va":
            if parts[-1]:
                parts.append([])
            continue
        parts[-1].append(tok.word if (len(raw) >= 2 and raw.isupper()) else tok.word[0])
        if len(raw) >= 2 and raw.isupper():  # an abbreviation already ("HĐND"): its own part
            parts.append([])
    parts = [p for p in parts if p]
    if not parts or (len(parts) == 1 and len(parts[0]) < 2):
        return []
    initials = ["".join(p) for p in parts]
    variants: list[tuple[str, ...]] = []
    for spelling in spellings:
        variants.append(spelling + ("".join(initials),))
        for seps in itertools.product(("", "va"), repeat=len(initials) - 1):
            body = [initials[0]]
            for sep, part in zip(seps, initials[1:]):
                body += ([sep] if sep else []) + [part]
            variants.append(spelling + tuple(body))
    return variants


class _Lexicon:
    """The roster's names, aliases and group words as token sequences, for longest-match scanning."""

    def __init__(self, units: Sequence[UnitRef], group_words: Sequence[GroupWord]) -> None:
        self.units = list(units)
        self._zones: dict[str, _Zone] = {}
        self.by_code = {u.code: u for u in self.units}
        self.order = {u.code: i for i, u in enumerate(self.units)}
        chosen: dict[tuple[str, ...], _Entry] = {}
        clashes: set[tuple[str, ...]] = set()

        def put(words: tuple[str, ...], entry: _Entry) -> None:
            if not words:
                return
            old = chosen.get(words)
            if old is None or entry.rank < old.rank:
                chosen[words] = entry
                clashes.discard(words)
            elif entry.rank == old.rank and old.codes != entry.codes and old.kind == "unit":
                clashes.add(words)

        for unit in self.units:
            spellings = [(unit.name, 0)] + [(alias, 1) for alias in unit.aliases if alias.strip()]
            for spelling, rank in spellings:
                words = _phrase_words(spelling)
                put(words, _Entry(words, (unit.code,), "unit", rank))
                short = _strip_district(words)
                if short != words:
                    put(short, _Entry(short, (unit.code,), "unit", 2))
            if unit.kind not in ("commune",) and unit.kind not in ISSUER_KINDS:
                for words in _abbreviations(unit.name):
                    put(words, _Entry(words, (unit.code,), "unit", 2))
        for words in clashes:
            chosen.pop(words, None)
        for word in group_words:
            words = _phrase_words(word.phrase)
            members = tuple(u.code for u in self.units
                            if u.kind not in ISSUER_KINDS and set(u.groups) & set(word.groups))
            if words not in chosen:
                chosen[words] = _Entry(words, members, "group", 0, word.generic)
        self.entries: dict[str, list[_Entry]] = {}
        for entry in sorted(chosen.values(), key=lambda e: (-len(e.words), e.rank)):
            self.entries.setdefault(entry.words[0], []).append(entry)
        # "Các Phòng: Tư pháp, Nội vụ": the name without its head word, per head word
        self.cores: dict[tuple[str, ...], dict[tuple[str, ...], str]] = {}
        for unit in self.units:
            for spelling in (unit.name, *unit.aliases):
                words = _strip_district(_phrase_words(spelling))
                for head in _LIST_HEADS:
                    if words[: len(head)] == head and len(words) > len(head):
                        self.cores.setdefault(head, {}).setdefault(words[len(head):], unit.code)

    def zone(self, text: str) -> _Zone:
        """The zone of ``text``, read once per extraction (spans are read for units, lead and title)."""
        zone = self._zones.get(text)
        if zone is None:
            zone = self._zones[text] = _Zone(text, self)
        return zone

    def sort(self, codes: Iterable[str]) -> tuple[str, ...]:
        unique = {c for c in codes if c in self.order}
        return tuple(sorted(unique, key=self.order.__getitem__))


@dataclass
class _Mention:
    start: int  # token indexes [start, end)
    end: int
    codes: tuple[str, ...]
    text: str  # as written
    kind: str  # "unit" | "group" | "list" | "unknown"
    generic: bool = False
    related: bool = False  # "… có liên quan": not a list of units
    unmatched: tuple[str, ...] = ()
    role: str = "other"  # "assignee" | "coordinating" | "other"
    lead: bool = False


_SKIP_UNIT = frozenset({"-"})
_SKIP_GROUP = frozenset({"-", ","})

# A capitalised word that starts the name of an organisation ("Đoàn thanh niên huyện").
_ORG_HEADS: tuple[tuple[str, ...], ...] = (
    ("van", "phong"), ("trung", "tam"), ("chi", "cuc"), ("cong", "an"), ("benh", "vien"), ("kho", "bac"),
    ("ban", "quan", "ly"), ("uy", "ban"), ("thi", "tran"), ("chu", "dau", "tu"), ("bo", "phan"),
    ("chi", "nhanh"), ("cong", "ty"), ("phong",), ("ban",), ("so",), ("doan",), ("hoi",), ("ubnd",), ("xa",),
    ("hdnd",), ("huyen", "doan"), ("mat", "tran"), ("ubmttq",),
)
# Words that end such a name: verbs and prepositions that follow the subject of a sentence.
_NAME_STOPS = frozenset({
    "hoan", "bao", "thuc", "gui", "chu", "phoi", "tham", "de", "ve", "tai", "theo", "va", "cua", "voi",
    "truoc", "cham", "den", "nop", "trien", "xay", "to", "huong", "kiem", "cap", "tiep", "day", "tang",
    "chi", "don", "ra", "cung", "tong", "nghiem", "co", "duoc", "la", "trong", "thuoc", "can", "dam",
    "dong", "lap", "phan", "tu", "khan", "quan", "xu", "giai", "dieu", "cho", "ngay", "so", "nam", "thang",
    "nhu", "sau", "tren", "duoi", "khi", "neu", "mot", "cac", "nhung", "vao", "thi", "se", "da",
})
# Words between an opener and a unit that leave the unit the assignee: "Chủ tịch UBND xã Vĩnh Tú".
_TITLES: tuple[tuple[str, ...], ...] = (
    ("pho", "chu", "tich"), ("chu", "tich"), ("thu", "truong"), ("lanh", "dao"), ("nguoi", "dung", "dau"),
    ("truong",), ("cac",), ("toan", "the"), ("tat", "ca"), ("dong", "chi"), ("ubnd",), ("uy", "ban", "nhan", "dan"),
)
_OPENERS: tuple[tuple[str, ...], ...] = (
    ("giao", "cho"), ("giao",), ("de", "nghi"), ("yeu", "cau"), ("giua",), ("doi", "voi"), ("kinh", "gui"),
)
_SEPARATORS = frozenset({",", "-", "va", "cung", "huyen", "thuoc"})
_HARD_BREAKS = frozenset({".", ";", ":", "(", ")", "!", "?"})
_CLAUSE_BREAKS = _HARD_BREAKS | {","}


def _match(tokens: list[_Tok], i: int, words: tuple[str, ...], skip: frozenset[str]) -> int | None:
    j = i
    for k, word in enumerate(words):
        if k:
            while j < len(tokens) and not tokens[j].is_word and tokens[j].word in skip:
                j += 1
        if j >= len(tokens) or not tokens[j].is_word or tokens[j].word != word:
            return None
        j += 1
    return j


def _coordinating(clause: list[str]) -> bool:
    """"phối hợp", "phối hợp với", "phối hợp chặt chẽ với": what follows works with the assignee."""
    if _ends_with(clause, ("phoi", "hop")):
        return True
    if clause and clause[-1] in ("voi", "cung"):
        joined = " ".join(clause[-6:])
        return "phoi hop" in joined
    return False


def _ends_with(words: list[str], seq: tuple[str, ...]) -> bool:
    return len(words) >= len(seq) and tuple(words[-len(seq):]) == seq


def _starts_with(words: list[str], seq: tuple[str, ...]) -> bool:
    return tuple(words[: len(seq)]) == seq


class _Zone:
    """One piece of text (a span, a heading, a recipient line) with its unit mentions and their roles."""

    def __init__(self, text: str, lexicon: _Lexicon) -> None:
        self.text = text
        self.lexicon = lexicon
        self.tokens = _tokens(text)
        self.mentions = self._scan()
        self._roles()

    # scanning
    def _scan(self) -> list[_Mention]:
        tokens, lex = self.tokens, self.lexicon
        found: list[_Mention] = []
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if not tok.is_word:
                i += 1
                continue
            listed = self._list_at(i)
            if listed is not None:
                found.append(listed)
                i = listed.end
                continue
            best: tuple[int, _Entry] | None = None
            for entry in lex.entries.get(tok.word, ()):
                end = _match(tokens, i, entry.words, _SKIP_GROUP if entry.kind == "group" else _SKIP_UNIT)
                if end is not None and (best is None or end > best[0]):
                    best = (end, entry)
            if best is not None:
                end, entry = best
                mention = _Mention(i, end, entry.codes, self._raw(i, end), entry.kind, entry.generic)
                if entry.kind == "group" and not entry.codes:
                    mention.unmatched = (mention.text,)
                after = [t.word for t in tokens[end:end + 3] if t.is_word]
                mention.related = _starts_with(after, ("co", "lien", "quan")) or _starts_with(after, ("lien", "quan"))
                found.append(mention)
                i = end
                continue
            unknown = self._unknown_at(i)
            if unknown is not None:
                found.append(unknown)
                i = unknown.end
                continue
            i += 1
        return found

    def _raw(self, i: int, end: int) -> str:
        return _squash(self.text[self.tokens[i].start:self.tokens[end - 1].end])

    def _list_at(self, i: int) -> _Mention | None:
        """"Các Phòng: Tư pháp, Tài chính - Kế hoạch, Nội vụ" — each element against the roster's names."""
        tokens = self.tokens
        j = i + 1 if tokens[i].word == "cac" else i
        for head, cores in self.lexicon.cores.items():
            k = _match(tokens, j, head, _SKIP_UNIT)
            if k is None or k >= len(tokens) or tokens[k].word != ":":
                continue
            k += 1
            codes: list[str] = []
            unmatched: list[str] = []
            head_text = self.text[tokens[j].start:tokens[k - 2].end]
            end = k
            while k < len(tokens) and tokens[k].is_word:
                best = max(((_match(tokens, k, core, _SKIP_UNIT), code) for core, code in cores.items()),
                           key=lambda pair: pair[0] or 0)
                if best[0] is not None:
                    stop = best[0]
                    if stop < len(tokens) and tokens[stop].word == "huyen":
                        stop += 1
                    codes.append(best[1])
                else:
                    stop = k
                    while stop < len(tokens) and tokens[stop].is_word and tokens[stop].word not in _NAME_STOPS \
                            and stop - k < 6:
                        stop += 1
                    if stop == k:
                        break
                    unmatched.append(f"{head_text[:1].upper()}{head_text[1:].lower()} {self._raw(k, stop)}")
                end = stop
                if stop < len(tokens) and tokens[stop].word == "," and stop + 1 < len(tokens) \
                        and "\n" not in self.text[tokens[stop].end:tokens[stop + 1].start]:
                    k = stop + 1
                    continue
                break
            if not codes and not unmatched:
                continue
            return _Mention(i, end, tuple(codes), self._raw(i, end), "list", unmatched=tuple(unmatched))
        return None

    def _unknown_at(self, i: int) -> _Mention | None:
        """A capitalised organisation name that is not in the roster."""
        tokens, text = self.tokens, self.text
        for head in _ORG_HEADS:
            k = _match(tokens, i, head, _SKIP_UNIT)
            if k is None:
                continue
            # "Đoàn thanh niên", or "phòng Cải cách hành chính": a capital on the head or the next word
            if not text[tokens[i].start].isupper() and not (
                    k < len(tokens) and tokens[k].is_word and text[tokens[k].start].isupper()):
                return None
            end = k
            while end < len(tokens) and end - k < 6 and tokens[end].is_word and tokens[end].word not in _NAME_STOPS \
                    and not tokens[end].word.isdigit() and tokens[end].word not in self.lexicon.entries:
                end += 1
            if end < len(tokens) and tokens[end].is_word and tokens[end].word == "huyen":
                end += 1
            if end == k and len(head) == 1:
                return None  # a lone "Ban", "Sở": not a name
            raw = self._raw(i, end)
            return _Mention(i, end, (), raw, "unknown", unmatched=(raw,))
        return None

    # roles
    def _roles(self) -> None:
        tokens = self.tokens
        previous: _Mention | None = None
        previous_end = 0
        for mention in self.mentions:
            gap = tokens[previous_end:mention.start]
            in_list = all(t.word in _SEPARATORS or self._title_word(gap, n) for n, t in enumerate(gap))
            if previous is not None and in_list:  # "Phòng A, Phòng B và Chủ tịch UBND các xã": same role
                mention.role = previous.role
            else:
                cut = max((n for n, t in enumerate(gap) if not t.is_word and t.word in _CLAUSE_BREAKS), default=-1)
                clause = self._strip_titles([t.word for t in gap[cut + 1:] if t.is_word])
                if _coordinating(clause):
                    mention.role = "coordinating"
                elif not clause or any(_ends_with(clause, opener) for opener in _OPENERS):
                    mention.role = "assignee"
                else:
                    mention.role = "other"
            if mention.role == "assignee":
                after = [t.word for t in tokens[mention.end:mention.end + 4] if t.is_word]
                while after and after[0] in ("huyen", "thuoc"):
                    after.pop(0)
                mention.lead = _starts_with(after, ("chu", "tri"))
            previous, previous_end = mention, mention.end

    @staticmethod
    def _title_word(gap: list[_Tok], n: int) -> bool:
        words = [t.word for t in gap]
        return any(tuple(words[max(0, n - k):n - k + len(title)]) == title
                   for title in _TITLES for k in range(len(title)))

    @staticmethod
    def _strip_titles(words: list[str]) -> list[str]:
        changed = True
        while changed and words:
            changed = False
            for title in _TITLES:
                if _ends_with(words, title):
                    words = words[: -len(title)]
                    changed = True
                    break
        return words

    # results
    def _codes(self, mentions: Iterable[_Mention]) -> list[str]:
        out: list[str] = []
        for mention in mentions:
            for code in mention.codes:
                unit = self.lexicon.by_code.get(code)
                if unit is not None and unit.kind not in ISSUER_KINDS:
                    out.append(code)
        return out

    def _named(self, role: str) -> list[_Mention]:
        return [m for m in self.mentions if m.role == role and not m.related]

    @property
    def assignees(self) -> list[str]:
        return self._codes(self._named("assignee"))

    @property
    def only_generic(self) -> bool:
        """Names no assignee, or only "các cơ quan, đơn vị"."""
        return all(m.generic for m in self._named("assignee"))

    @property
    def leads(self) -> list[str]:
        return self._codes(m for m in self._named("assignee") if m.lead)

    @property
    def coordinating(self) -> list[str]:
        return self._codes(self._named("coordinating"))

    @property
    def unmatched(self) -> list[str]:
        out: list[str] = []
        for mention in self.mentions:
            if mention.role in ("assignee", "coordinating") and not mention.related:
                out += [_tidy_name(name) for name in mention.unmatched]
        return out

    @property
    def assignee_unmatched(self) -> list[str]:
        return [_tidy_name(name) for m in self._named("assignee") for name in m.unmatched]

    @property
    def starts_with_lead_verb(self) -> bool:
        words = [t.word for t in self.tokens if t.is_word]
        return _starts_with(words, ("chu", "tri"))

    @property
    def names_someone(self) -> bool:
        """Names an assignee, in the roster or not."""
        return bool(self.assignees or self.assignee_unmatched)

    def all_codes(self) -> list[str]:
        """Every roster unit named, whatever its role (recipient lines)."""
        return self._codes(m for m in self.mentions if not m.related and m.kind != "unknown")

    def all_unmatched(self) -> list[str]:
        return [_tidy_name(name) for m in self.mentions if not m.related for name in m.unmatched]


def _tidy_name(name: str) -> str:
    name = _squash(name).strip(" ,;:.-")
    for prefix in ("các ", "Các "):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name[:1].upper() + name[1:]


# --- the header -----------------------------------------------------------------------------------

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


def _is_blank(line: str) -> bool:
    return not line.strip()


def _starts_lower(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and stripped[0].islower()


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
    return head


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


# --- the body: paragraphs and items ---------------------------------------------------------------

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


# --- spans, titles, templates, signatures ---------------------------------------------------------

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


_TEMPLATE_RE = re.compile(
    r"\bphu\s+luc\s*(?:so\s*)?(?P<first>\d{1,2}|[ivx]{1,4})\b(?P<more>(?:\s*(?:,|va|-|–)\s*(?:\d{1,2}|[ivx]{1,4})\b)*)"
)
_SIGNED_RE = re.compile(r"(?:pdf|dinh\s+dang).{0,80}?\bky\s+so\b|\bky\s+so\b.{0,80}?(?:pdf|dinh\s+dang)", re.S)


def _templates(text: str) -> tuple[str, ...]:
    found: list[str] = []
    for m in _TEMPLATE_RE.finditer(_flat(text)):
        numbers = [m.group("first")] + re.findall(r"\d{1,2}|[ivx]{1,4}", m.group("more") or "")
        for number in numbers:
            label = f"Phụ lục {number.upper()}"
            if label not in found:
                found.append(label)
    return tuple(found)


def _signed(text: str) -> bool:
    return bool(_SIGNED_RE.search(_flat(text)))


_TITLE_CUTS = re.compile(r"\s\(|\s+gui\s+ve\b|\s+gui\s+(?:ubnd|phong|van\s+phong)\b|\s+de\s+tong\s+hop\b|;|:\s")
_TRAILING_LINKS = re.compile(r"(?:[\s,]+(?:hoan\s+thanh|phan\s+dau|tu\s+nay|den|va|truoc|cham\s+nhat|gui|ve|trong|"
                             r"vao|han|thoi\s+han))+[\s,]*$")
_PURE_DEADLINE = re.compile(r"^(?:hoan\s+thanh|thoi\s+han|han(?:\s+chot)?|cham\s+nhat|truoc)\b")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+")


def _sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence ("." "!" "?" followed by a space)."""
    out, start = [], 0
    for m in _SENTENCE_SPLIT.finditer(text):
        out.append((start, m.start()))
        start = m.end()
    out.append((start, len(text)))
    return [(a, b) for a, b in out if text[a:b].strip()]


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


def _is_pure_deadline(sentence: str) -> bool:
    """"Hoàn thành trước ngày 10/12/2023." says when, not what."""
    return bool(_PURE_DEADLINE.match(_flat(sentence).strip()))


def _title(span: str, deadline: Deadline | None, lexicon: _Lexicon) -> str:
    """A short title: the deadline's sentence (or the span's first when that one only says when),
    from "báo cáo …" where it has one, without who it is for and without the deadline."""
    where = _deadline_sentence(span, deadline)
    if where is not None and not _is_pure_deadline(span[where[0]:where[1]]):
        text = span[where[0]:where[1]]
    else:
        firsts = [span[a:b] for a, b in _sentences(span) if len(span[a:b].split()) >= 3]
        text = firsts[0] if firsts else span
    flat = _flat(text)
    m = re.search(r"\bbao\s+cao\b", flat)
    if m and not re.search(r"tong\s+hop\s+$", flat[:m.start()]):
        text = text[m.start():]
    else:
        text = _after_subject(text, lexicon)
    if deadline is not None and deadline.phrase in text:
        before = text[: text.index(deadline.phrase)]
        trailing = _TRAILING_LINKS.search(_flat(before))
        if trailing:
            before = before[: trailing.start()]
        if len(before.split()) >= 3:
            text = before
    cut = _TITLE_CUTS.search(_flat(text))
    if cut and cut.start() >= 20:
        text = text[: cut.start()]
    text = _squash(text).strip(" ,;:.-")
    if len(text) > TITLE_LIMIT:
        text = text[:TITLE_LIMIT].rsplit(" ", 1)[0].rstrip(" ,;:.-") + "…"
    return text[:1].upper() + text[1:] if text else "Nhiệm vụ theo công văn"


_ADDRESS_WORDS: tuple[tuple[str, ...], ...] = (
    ("thuoc", "huyen"), ("huyen",), ("chu", "tri"), ("phoi", "hop", "voi"), ("phoi", "hop"), ("co", "lien", "quan"),
    ("lien", "quan"), ("va", "tuong", "duong"), ("tuong", "duong"),
)


def _after_subject(text: str, lexicon: _Lexicon) -> str:
    """The sentence without who it is addressed to: "Giao Phòng Nội vụ chủ trì, đôn đốc …" → "đôn đốc …"."""
    zone = lexicon.zone(text)
    leading = [m for m in zone.mentions if m.role in ("assignee", "coordinating")]
    if not leading:
        return text
    position = zone.tokens[leading[0].start].start
    if _words(text[:position]) not in ("", "giao", "giao cho", "de nghi", "yeu cau"):
        return text
    last = leading[0]
    for mention in leading[1:]:
        gap = zone.tokens[last.end:mention.start]
        if any(t.is_word and t.word not in _SEPARATORS | {"phoi", "hop", "voi", "chu", "tri", "cac"} for t in gap):
            break
        last = mention
    rest = zone.tokens[last.end:]
    k = 0
    while k < len(rest):
        if not rest[k].is_word:
            k += 1
            continue
        words = [t.word for t in rest[k:k + 3]]
        skip = next((len(seq) for seq in _ADDRESS_WORDS if _starts_with(words, seq)), 0)
        if not skip:
            break
        k += skip
    if k >= len(rest):
        return text
    return text[rest[k].start:]


# --- extraction -----------------------------------------------------------------------------------


@dataclass
class _Context:
    lexicon: _Lexicon
    reference: date
    tz: ZoneInfo
    subject: str | None
    recipient_units: list[str]
    recipient_unmatched: list[str]
    tasks: list[DraftTask] = field(default_factory=list)


def extract_letter(
    text: str,
    units: Sequence[UnitRef],
    reference: date,
    tz: ZoneInfo,
    *,
    group_words: Sequence[GroupWord] = DEFAULT_GROUP_WORDS,
) -> LetterDraft:
    """Read a letter into a draft: its number, date, subject, recipients and proposed tasks."""
    paste_text(text)
    lexicon = _Lexicon(units, group_words)
    cleaned = _clean(text)
    lines = cleaned.split("\n")
    head = _header(lines)
    notes = list(head.notes)
    if head.date is not None:
        ref = head.date
    elif head.month_year is not None:
        month, year = head.month_year
        ref = date(year, month or 1, 1)
        notes.append(f"Công văn chưa ghi ngày ban hành; hạn không ghi năm được tính từ {ref:%d/%m/%Y}.")
    else:
        ref = reference
        if not any(n.startswith("Ngày ban hành") for n in notes):
            notes.append(f"Không thấy ngày ban hành; hạn không ghi năm được tính từ hôm nay ({ref:%d/%m/%Y}).")

    recipient_codes: list[str] = []
    recipient_unmatched: list[str] = []
    for line in head.recipients:
        zone = lexicon.zone(line)
        recipient_codes += zone.all_codes()
        recipient_unmatched += zone.all_unmatched()

    body_lines = lines[head.body_start:]
    end = next((n for n, line in enumerate(body_lines) if _squash(_flat(line)).startswith("noi nhan")), len(body_lines))
    paras = _paragraphs(body_lines[:end])
    paras = _without_closing(paras, ref, tz)
    ctx = _Context(lexicon, ref, tz, head.subject, list(lexicon.sort(recipient_codes)), recipient_unmatched)
    items = _items(paras)
    letter_wide = any(_is_time_section(item) and _has_deadline(item, ref, tz) for item in items)
    for item in items:
        _item_tasks(item, ctx, letter_wide)

    if not any(task.due_at for task in ctx.tasks):
        notes.append("Không tìm thấy ngày hạn nào trong văn bản (ví dụ «chậm nhất ngày 15/11/2024», "
                      "«trước ngày 20/11»).")
    groups: dict[str, list[str]] = {}
    for unit in units:
        if unit.kind in ISSUER_KINDS:
            continue
        for group in unit.groups:
            groups.setdefault(group, []).append(unit.code)
    labels: dict[str, str] = {}
    for word in group_words:
        if len(word.groups) == 1 and not word.generic:
            labels.setdefault(word.groups[0], word.phrase)
    return LetterDraft(
        number=head.number,
        number_hint=head.number_hint,
        date=head.date,
        date_hint=head.date_hint,
        place=head.place,
        subject=head.subject,
        recipients=tuple(head.recipients),
        recipient_units=tuple(ctx.recipient_units),
        unmatched_names=tuple(dict.fromkeys(recipient_unmatched)),
        tasks=tuple(ctx.tasks),
        reference=ref,
        notes=tuple(notes),
        unit_names={u.code: u.name for u in units},
        group_members={g: tuple(codes) for g, codes in groups.items()},
        group_labels=labels,
    )


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


def _item_tasks(item: _Item, ctx: _Context, letter_wide: bool) -> None:
    lead_in, subs = _segments(item)
    heading = ctx.lexicon.zone(item.heading.text.split(":", 1)[0] if ":" in item.heading.text[:200]
                               else item.heading.text) if item.heading else None
    time_section = _is_time_section(item)
    subheading: _Zone | None = None
    found: list[tuple[int, DraftTask]] = []  # (paragraph index, task): kept in the letter's order
    dated: set[int] = set()
    for index, para in enumerate(item.paras):
        if para.kind == "sub":
            subheading = ctx.lexicon.zone(para.text.split(":", 1)[0])
        deadlines, error = _deadlines(para.text, ctx.reference, ctx.tz)
        label = _label(item, para)
        if error:
            task = _problem_task([para], heading if para is not item.heading else None,
                                 subheading if para.kind != "sub" else None, ctx, label, problem=error)
            found += [(index, task)] if task else []
            dated.add(index)
            continue
        if deadlines:
            dated.add(index)
        for deadline, (start, end) in zip(deadlines, _spans(para.text, deadlines)):
            found += [(index, task) for task in _span_tasks(
                para.text, start, end, deadline, heading if para is not item.heading else None,
                subheading if para.kind != "sub" else None, ctx, label, letter_wide=time_section)]
    if item.kind == "numbered" and not time_section and not (letter_wide and not dated):
        position = {id(para): index for index, para in enumerate(item.paras)}
        if not dated and not subs:
            task = _problem_task(item.paras, heading, None, ctx, _label(item, item.paras[0]))
            found += [(0, task)] if task else []
        elif not any(position[id(para)] in dated for para in lead_in):  # else the sub-items say what to report
            for segment in subs:
                if not any(position[id(para)] in dated for para in segment):
                    task = _problem_task(segment, heading, None, ctx, _label(item, segment[0]))
                    found += [(position[id(segment[0])], task)] if task else []
    found.sort(key=lambda pair: pair[0])
    ctx.tasks += [task for _, task in found]


def _label(item: _Item, para: _Para) -> str | None:
    """Where a task comes from: "4", "2 (ý 3)" (the third sub-item of item 2), "1 a)"."""
    if item.label is None:
        return None
    if para.kind == "sub" and para.label:
        return f"{item.label} {para.label})" if para.label.isalpha() else para.label
    if para.kind == "bullet":
        return f"{item.label} (ý {item.sub_number(para)})"
    return item.label


def _deliverable(text: str) -> str:
    text = _squash(text)
    return text if len(text) <= DELIVERABLE_LIMIT else text[: DELIVERABLE_LIMIT - 1].rsplit(" ", 1)[0] + "…"


def _resolve(span: _Zone, fallbacks: list[str], heading: _Zone | None, subheading: _Zone | None,
             ctx: _Context) -> tuple[list[str], list[str], bool]:
    """Assignee codes, unmatched names, and whether they came from a fallback."""
    if span.names_someone:
        return span.assignees, span.assignee_unmatched, False
    for text in fallbacks:
        zone = ctx.lexicon.zone(text)
        if zone.names_someone:
            return zone.assignees, zone.assignee_unmatched, True
    for zone in (subheading, heading):
        if zone is not None and zone.names_someone:
            return zone.assignees, zone.assignee_unmatched, True
    return list(ctx.recipient_units), [], True


def _span_tasks(para: str, start: int, end: int, deadline: Deadline, heading: _Zone | None,
                subheading: _Zone | None, ctx: _Context, label: str | None, *, letter_wide: bool) -> list[DraftTask]:
    """The task(s) of one deadline: ``para[start:end]`` is its span."""
    lex = ctx.lexicon
    span_text = para[start:end]
    local = Deadline(deadline.due_at, deadline.due_date, deadline.phrase, deadline.kind,
                     deadline.start - start, deadline.end - start)
    # who: the deadline's own sentence first, then the span up to it, then what came before
    upto = _sentence_end(para, deadline.end, end)
    where = _deadline_sentence(para, deadline, lower=start, upper=end)
    zones = [lex.zone(para[where[0]:min(where[1], upto)])] if where else []
    zones.append(lex.zone(para[start:max(upto, deadline.end)]))
    span = next((zone for zone in zones if zone.names_someone or zone.leads), zones[-1])
    title = _title(span_text, local, lex)
    if letter_wide and span.only_generic and ctx.recipient_units:
        assignees, unmatched = list(ctx.recipient_units), list(ctx.recipient_unmatched)
        if ctx.subject:
            title = _subject_title(ctx.subject)
        leads: list[str] = []
    else:
        before = para[:min(start, PREFIX_LIMIT)]  # who the paragraph opens with ("Phòng A báo cáo …; …")
        assignees, unmatched, _ = _resolve(span, [before] if before.strip() else [], heading, subheading, ctx)
        leads = span.leads
        if not leads and span.starts_with_lead_verb and len(set(assignees)) == 1:
            leads = [assignees[0]]
    coordinating = span.coordinating
    common = dict(
        title=title,
        deliverable=_deliverable(span_text),
        due_at=deadline.due_at,
        phrase=deadline.phrase,
        templates=_templates(span_text),
        signed=_signed(span_text),
        unmatched_names=tuple(dict.fromkeys(unmatched + span.unmatched)),
        item=label,
    )
    if leads:
        return [
            DraftTask(units=(lead,), lead=lead,
                      coordinating=tuple(c for c in lex.sort(coordinating) if c != lead), **common)
            for lead in lex.sort(leads)
        ]
    units = lex.sort(assignees)
    return [DraftTask(units=units, lead=None, coordinating=tuple(c for c in lex.sort(coordinating) if c not in units),
                      problem=None if units else NO_UNITS, **common)]


def _subject_title(subject: str) -> str:
    text = re.sub(r"^\s*(?:V/v|v/v|Về việc:?)\s*", "", subject)
    text = text[:1].upper() + text[1:]
    if len(text) > TITLE_LIMIT:
        text = text[:TITLE_LIMIT].rsplit(" ", 1)[0] + "…"
    return text


def _problem_task(segment: list[_Para], heading: _Zone | None, subheading: _Zone | None, ctx: _Context,
                  label: str | None, problem: str = NO_DEADLINE) -> DraftTask | None:
    """A segment without a (valid) deadline. Without a deadline it is kept when it says who must act;
    with a deadline that cannot be read (``problem`` given) it is always kept."""
    text = " ".join(p.text for p in segment)
    first = segment[0].text
    zone = ctx.lexicon.zone(text)
    own = zone.names_someone
    if problem == NO_DEADLINE and not own and not any(z is not None and z.names_someone for z in (heading, subheading)):
        return None
    if heading is not None and segment[0].kind == "item" and ":" not in first[:200]:
        heading = None  # the item is its own heading
    assignees, unmatched, _ = _resolve(zone, [], heading, subheading, ctx)
    leads = zone.leads
    if not leads and zone.starts_with_lead_verb and len(set(assignees)) == 1:
        leads = [assignees[0]]
    lead = ctx.lexicon.sort(leads)[0] if leads else None
    units = (lead,) if lead else ctx.lexicon.sort(assignees)
    return DraftTask(
        title=_title(first, None, ctx.lexicon),
        deliverable=_deliverable(text),
        due_at=None,
        phrase=None,
        units=units,
        lead=lead,
        coordinating=tuple(c for c in ctx.lexicon.sort(zone.coordinating) if c not in units),
        templates=_templates(text),
        signed=_signed(text),
        unmatched_names=tuple(dict.fromkeys(unmatched + zone.unmatched)),
        problem=problem,
        item=label,
    )


# --- rendering ------------------------------------------------------------------------------------


def _unit_list(codes: Sequence[str], draft: LetterDraft) -> str:
    """Names in roster order, a whole group said in a word: "UBND các xã, thị trấn (12 đơn vị)"."""
    chosen = set(codes)
    whole = {group: members for group, members in draft.group_members.items()
             if len(members) >= 2 and chosen.issuperset(members)}
    covered: dict[str, str] = {}
    for group, members in sorted(whole.items(), key=lambda kv: -len(kv[1])):
        for code in members:
            covered.setdefault(code, group)
    parts: list[str] = []
    said: set[str] = set()
    for code in codes:
        group = covered.get(code)
        if group is None:
            parts.append(draft.unit_names.get(code, code))
        elif group not in said:
            said.add(group)
            label = draft.group_labels.get(group, f"nhóm «{group}»")
            parts.append(f"{label} ({len(draft.group_members[group])} đơn vị)")
    text = ", ".join(parts)
    return text[:1].upper() + text[1:]


def render_draft(draft: LetterDraft, tz: ZoneInfo) -> str:
    """The draft in Vietnamese, for the coordinator to check before the tasks are created."""
    from handlers.texts import day, due

    if draft.number:
        head = f"📄 Công văn số {draft.number}"
    elif draft.number_hint:
        head = f"📄 Công văn chưa ghi số (…{draft.number_hint})"
    else:
        head = "📄 Công văn chưa ghi số"
    if draft.date:
        head += f", ngày {day(draft.date)}"
    elif draft.date_hint:
        head += f", chưa ghi ngày ({draft.date_hint})"
    lines = [head]
    if draft.subject:
        lines.append(draft.subject)
    if draft.recipients:
        lines.append("Kính gửi: " + "; ".join(draft.recipients))
    if draft.unmatched_names:
        lines.append("⚠️ không khớp đơn vị: " + ", ".join(draft.unmatched_names))
    lines += [f"ℹ️ {note}" for note in draft.notes]
    dated = sum(1 for task in draft.tasks if task.due_at is not None)
    lines.append("")
    if not draft.tasks:
        lines.append("Không tìm thấy nhiệm vụ nào để giao trong văn bản này.")
        return "\n".join(lines)
    review = sum(1 for task in draft.tasks if not task.ready)
    summary = f"Đề xuất {len(draft.tasks)} nhiệm vụ ({dated} có hạn"
    summary += f", {review} cần xem lại):" if review else "):"
    lines.append(summary)
    for number, task in enumerate(draft.tasks, start=1):
        lines.append("")
        lines.append(f"{number}. {task.title}" + (f"  [mục {task.item}]" if task.item else ""))
        if task.due_at is not None and task.phrase:
            lines.append(f"   Hạn: {due(task.phrase, task.due_at, tz)}")
        else:
            lines.append("   ⚠️ chưa có hạn")
        if task.units:
            lines.append(f"   Giao ({len(task.units)} đơn vị): {_unit_list(task.units, draft)}")
        if task.lead:
            lines.append(f"   Chủ trì: {draft.unit_names.get(task.lead, task.lead)}")
        if task.coordinating:
            lines.append(f"   Phối hợp: {_unit_list(task.coordinating, draft)}")
        if task.signed:
            lines.append("   Nộp: tệp PDF có ký số")
        if task.templates:
            lines.append("   Biểu mẫu: " + ", ".join(task.templates))
        if task.unmatched_names:
            lines.append("   ⚠️ không khớp đơn vị: " + ", ".join(task.unmatched_names))
        if task.problem and task.problem != NO_DEADLINE:
            lines.append(f"   ⚠️ {task.problem}")
    return "\n".join(lines)


def draft_json(draft: LetterDraft) -> dict[str, Any]:
    return draft.to_json()


# --- saving ---------------------------------------------------------------------------------------


async def roster_refs(session: AsyncSession) -> list[UnitRef]:
    """The active roster in roster order (the order it was imported in), for ``extract_letter``."""
    from storage.queries import list_units

    units = sorted(await list_units(session), key=lambda unit: unit.id or 0)
    return [UnitRef.from_unit(unit) for unit in units]


@dataclass
class SavedLetter:
    letter: Letter | None
    created: list[tuple[DraftTask, Task]]
    skipped: list[tuple[DraftTask, str]]


def skip_reason(task: DraftTask) -> str | None:
    """Why a draft task cannot be created as it stands (Vietnamese), or None."""
    if task.due_at is None:
        return task.problem if task.problem and task.problem != NO_DEADLINE else "chưa có hạn"
    if not task.units:
        return NO_UNITS
    return None


async def save_draft(
    session: AsyncSession, draft: LetterDraft, *, now: datetime, source_text: str,
    created_by: Person | None = None, actor: str = "letter import",
) -> SavedLetter:
    """Create the letter and its ready tasks in the caller's unit of work (it does not commit).

    Tasks without a deadline or without units are skipped and returned with the reason. A letter
    already imported (same number, or for a letter without number the same text) is refused."""
    from sqlmodel import select

    from storage.models import AuditEvent, Letter, Task
    from storage.queries import create_task, find_or_create_letter, list_units

    if draft.number:
        existing = (await session.exec(select(Letter).where(Letter.number == draft.number))).first()
    else:
        existing = (await session.exec(select(Letter).where(Letter.number == None,  # noqa: E711
                                                            Letter.source_text == source_text))).first()
    if existing is not None:
        count = len((await session.exec(select(Task.id).where(Task.letter_id == existing.id))).all())
        if count:
            which = f"số {draft.number}" if draft.number else "này"
            raise LetterError(f"Công văn {which} đã được nhập trước đây ({count} nhiệm vụ); không tạo thêm.")
    units = {unit.code: unit for unit in await list_units(session)}
    ready = [task for task in draft.tasks if skip_reason(task) is None]
    skipped = [(task, skip_reason(task) or "") for task in draft.tasks if skip_reason(task) is not None]
    if not ready:
        return SavedLetter(None, [], skipped)
    subject = draft.subject
    if draft.number:
        letter = await find_or_create_letter(session, number=draft.number, now=now, subject=subject,
                                             source_text=source_text, issued_on=draft.date)
    else:
        letter = existing or Letter(number=None, subject=subject, source_text=source_text, issued_on=draft.date,
                                    created_at=now)
        session.add(letter)
        await session.flush()
    created: list[tuple[DraftTask, Task]] = []
    for task in ready:
        assignees = [units[code] for code in task.units if code in units]
        if not assignees:
            skipped.append((task, "đơn vị không còn trong danh sách"))
            continue
        row, _ = await create_task(
            session, title=task.title, due_at=task.due_at, deadline_phrase=task.phrase or "", units=assignees,
            now=now, lead=units.get(task.lead) if task.lead else None,
            coordinating=[units[c] for c in task.coordinating if c in units],
            signature_required=task.signed, deliverable=task.deliverable,
            template=", ".join(task.templates)[:255] or None, letter=letter, created_by=created_by)
        created.append((task, row))
    session.add(AuditEvent(at=now, actor=actor, action="letter.imported", entity="letter",
                           entity_id=letter.id if letter else None,
                           details={"number": draft.number, "tasks": [row.id for _, row in created],
                                    "skipped": len(skipped)}))
    await session.flush()
    return SavedLetter(letter, created, skipped)
