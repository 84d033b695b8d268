"""The roster as the extraction sees it, and finding units in text.

- Unit names are matched without diacritics or case, on names and aliases, with ``&`` read as "và",
  dashes of any kind ignored, a trailing "huyện" optional, and abbreviations made from the names
  ("Phòng TC-KH", "Phòng VH&TT", "VP HĐND&UBND"); a list "Các Phòng: Tư pháp, Nội vụ" names each.
- Group words map to roster groups through ``DEFAULT_GROUP_WORDS`` (pass ``group_words`` for a roster
  with other group names): "UBND các xã, thị trấn" → ``xa``; "các cơ quan chuyên môn", "các phòng,
  ban" → ``cqcm``; "đơn vị sự nghiệp" → ``dvsn``; the generic "các cơ quan, đơn vị" with nothing
  after it → ``cqcm`` + ``dvsn`` (letter 000 opposes it to "UBND các xã, thị trấn").
- Roles: a unit in the place of a subject ("Phòng A, Phòng B báo cáo …", "Giao Phòng A chủ trì",
  "Đề nghị …", "giữa Thủ trưởng các cơ quan, đơn vị …") is an assignee; after "phối hợp (với)" it is
  coordinating, except "các cơ quan, đơn vị có liên quan", which names no one; after "gửi về", "nộp
  về", "về", "gửi" (or "gửi về:") it is the collector; after "qua", "của", "tham mưu", "theo dõi" … it
  is neither; followed by "đề nghị", "yêu cầu", "trân trọng", "giao" it is the one asking. The issuing
  body (units of kind ``office``: "UBND huyện") never is an assignee.
- "Cấp xã", "UBND cấp xã", "các xã, phường, thị trấn" are the communes (group ``xa``).
- A unit-like name in an assignee place that matches no roster unit ("Đoàn thanh niên huyện", "các
  Chủ đầu tư") is listed as unmatched: shown, never silently dropped. It is read whole ("Sở Tài nguyên
  và Môi trường", "HĐND cấp xã"), never with a piece of the sentence ("Sở Nội vụ trân", "UBND tỉnh ban
  hành Công").
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from handlers.letters.text import _ends_with, _phrase_words, _squash, _starts_with, _Tok, _tokens

if TYPE_CHECKING:
    from storage.models import Unit

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
    GroupWord("UBND các xã, phường, thị trấn", ("xa",)),
    GroupWord("các xã, phường, thị trấn", ("xa",)),
    GroupWord("xã, phường, thị trấn", ("xa",)),
    GroupWord("cấp xã", ("xa",)),
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
    role: str = "other"  # "assignee" | "coordinating" | "collector" (gửi về …) | "other"
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
    ("rieng",),
)
# Words after a unit that make it the one asking ("Phòng Văn hóa và Thông tin đề nghị UBND các xã …").
_REQUESTS: tuple[tuple[str, ...], ...] = (("de", "nghi"), ("yeu", "cau"), ("tran", "trong"), ("giao",))
# Words before a unit that make it the place a report goes to ("gửi về Phòng Nội vụ", "nộp về …"):
# the collecting office. "qua" (a mailbox: "gửi về UBND huyện (qua phòng Nội vụ)") is not among them.
_COLLECTOR_WORDS: tuple[tuple[str, ...], ...] = (("ve",), ("gui",), ("nop",), ("gui", "den"), ("nop", "den"))
# Word pairs that end an unknown name: verbs following the subject of a sentence.
_NAME_STOP_PAIRS = frozenset({("ban", "hanh"), ("tran", "trong"), ("thong", "bao"), ("huong", "dan")})
# Heads that start a new name: a capitalised one ends the name before it ("Ủy ban MTTQ … và HĐND cấp xã").
_STRONG_HEADS = frozenset({"phong", "so", "ubnd", "hdnd", "ubmttq", "uy", "ban", "doan", "hoi", "trung", "van",
                           "chi", "cong", "kho", "benh", "huyen", "mat", "truong"})
_LEVELS = frozenset({"xa", "huyen", "tinh"})
# Second syllables of words in names that would otherwise stop the name ("Kế hoạch và Đầu tư").
_NAME_PAIRS = frozenset({("dau", "tu"), ("xa", "hoi"), ("ke", "hoach"), ("tai", "chinh"), ("tu", "phap")})
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
        """A capitalised organisation name that is not in the roster, whole: "Sở Tài nguyên và Môi
        trường", "HĐND cấp xã", "Đoàn thanh niên huyện"; never a piece of the sentence after it."""
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
            while end < len(tokens) and end - k < 8 and tokens[end].is_word and not tokens[end].word.isdigit():
                word = tokens[end].word
                capital = text[tokens[end].start].isupper()
                nxt = tokens[end + 1] if end + 1 < len(tokens) else None
                if nxt is not None and nxt.is_word and (word, nxt.word) in _NAME_STOP_PAIRS:
                    break
                if word == "cap" and nxt is not None and nxt.is_word and nxt.word in _LEVELS:
                    end += 2  # "HĐND cấp xã"
                    break
                if word == "va" and nxt is not None and nxt.is_word and text[nxt.start].isupper() \
                        and nxt.word not in _STRONG_HEADS:
                    end += 1  # "Tài nguyên và Môi trường"
                    continue
                if capital and end > k and word in _STRONG_HEADS:
                    break  # the next name starts
                if end > k and (tokens[end - 1].word, word) in _NAME_PAIRS:
                    end += 1  # "Đầu tư"
                    continue
                if not capital and (word in _NAME_STOPS or word in self.lexicon.entries):
                    break
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
                elif any(_ends_with(clause, words) for words in _COLLECTOR_WORDS) or self._collector_label(gap, cut):
                    mention.role = "collector"
                elif not clause or any(_ends_with(clause, opener) for opener in _OPENERS):
                    mention.role = "assignee"
                else:
                    mention.role = "other"
            if mention.role == "assignee":
                after = [t.word for t in tokens[mention.end:mention.end + 4] if t.is_word]
                while after and after[0] in ("huyen", "thuoc"):
                    after.pop(0)
                mention.lead = _starts_with(after, ("chu", "tri"))
                if any(_starts_with(after, words) for words in _REQUESTS):
                    mention.role = "other"  # "Phòng A đề nghị …": who asks, not who acts
            previous, previous_end = mention, mention.end

    @staticmethod
    def _collector_label(gap: list[_Tok], cut: int) -> bool:
        """"Hồ sơ gửi về: Phòng A" — a label ending in "gửi về" then a colon."""
        if cut < 0 or gap[cut].word != ":":
            return False
        before = max((n for n, t in enumerate(gap[:cut]) if not t.is_word and t.word in _CLAUSE_BREAKS), default=-1)
        words = [t.word for t in gap[before + 1:cut] if t.is_word]
        return any(_ends_with(words, seq) for seq in _COLLECTOR_WORDS)

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
    def collectors(self) -> list[str]:
        """Units a report is sent to ("gửi về Phòng Nội vụ"): they collect, they do not deliver."""
        return self._codes(m for m in self.mentions if m.role == "collector" and m.kind in ("unit", "list"))

    @property
    def named_units(self) -> list[str]:
        """Roster units named by name (not through a group) as assignees."""
        return self._codes(m for m in self._named("assignee") if m.kind in ("unit", "list"))

    @property
    def single_named(self) -> str | None:
        """The one roster unit named as the assignee, by its name (not a group), or None."""
        named = [m for m in self._named("assignee") if not self._issuer(m)]
        # the subject of a sentence: a verb in lower case follows ("Phòng A báo cáo …"), not a heading
        # run into the next line ("4. Phòng A Hoàn thành …" in a text layer without blank lines)
        after = self.tokens[named[0].end] if len(named) == 1 and named[0].end < len(self.tokens) else None
        if after is not None and after.is_word and self.text[after.start].islower() \
                and named[0].kind in ("unit", "list") and not named[0].unmatched:
            codes = self._codes(named)
            return codes[0] if len(codes) == 1 else None
        return None

    @property
    def only_generic(self) -> bool:
        """Names no assignee, or only "các cơ quan, đơn vị" (the issuing body aside: "UBND tỉnh yêu cầu …")."""
        return all(m.generic for m in self._named("assignee") if not self._issuer(m))

    def _issuer(self, mention: _Mention) -> bool:
        units = [self.lexicon.by_code.get(code) for code in mention.codes]
        return bool(units) and all(u is not None and u.kind in ISSUER_KINDS for u in units)

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
