"""The test letters under ``tests/letters/``: their rosters, their hand-written expectations, and the
precision/recall count used for them and for the seed letters.

Each ``NN_name.txt`` letter has a ``NN_name.json`` written by hand from reading the letter, before the
extractor was run on it: the roster it is read against, the "today" it is read on, its number and date,
the dated tasks in the letter's order (``due`` is ``YYYY-MM-DD`` for the end of that day or
``YYYY-MM-DD HH:MM``; ``units`` lists codes, ``@group`` for a roster group, ``!CODE`` to take one out),
how many tasks without a deadline it should give, names that must be listed as unmatched, and
sentence fragments that must never be listed as a unit name. ``known_miss`` (rare) says why the
extractor knowingly disagrees with that letter; the expectation itself is left as it was written.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

from bot.demo import UNITS as DEMO_UNITS
from handlers.letters import DEFAULT_GROUP_WORDS, GroupWord, LetterDraft, UnitRef
from schedules.deadlines import END_OF_DAY, VN_TZ

HERE = Path(__file__).resolve().parent

PROVINCE_UNITS = (
    ("UBTINH", "UBND tỉnh Quảng Trị", "office", (), ("UBND tỉnh", "Ủy ban nhân dân tỉnh")),
    ("VPUB", "Văn phòng UBND tỉnh", "office", (), ()),
    ("SNV", "Sở Nội vụ", "department", ("so",), ()),
    ("STC", "Sở Tài chính", "department", ("so",), ()),
    ("SKHDT", "Sở Kế hoạch và Đầu tư", "department", ("so",), ("Sở KH&ĐT",)),
    ("STP", "Sở Tư pháp", "department", ("so",), ()),
    ("SGDDT", "Sở Giáo dục và Đào tạo", "department", ("so",), ("Sở GD&ĐT",)),
    ("SVHTTDL", "Sở Văn hóa, Thể thao và Du lịch", "department", ("so",), ()),
    ("HVL", "UBND huyện Vĩnh Linh", "district", ("huyen",), ()),
    ("HGL", "UBND huyện Gio Linh", "district", ("huyen",), ()),
    ("HCL", "UBND huyện Cam Lộ", "district", ("huyen",), ()),
    ("TPDH", "UBND thành phố Đông Hà", "district", ("huyen",), ()),
    ("TXQT", "UBND thị xã Quảng Trị", "district", ("huyen",), ()),
)
PROVINCE_WORDS = (
    GroupWord("UBND các huyện, thị xã, thành phố", ("huyen",)),
    GroupWord("Ủy ban nhân dân các huyện, thị xã, thành phố", ("huyen",)),
    GroupWord("các huyện, thị xã, thành phố", ("huyen",)),
    GroupWord("các sở, ban, ngành cấp tỉnh", ("so",)),
    GroupWord("các sở, ban, ngành", ("so",), generic=True),
    GroupWord("các cơ quan, đơn vị", ("so", "huyen"), generic=True),
)

SCHOOL_UNITS = (
    ("PGD", "Phòng Giáo dục và Đào tạo huyện Vĩnh Linh", "office", (), ("Phòng GD&ĐT", "Phòng Giáo dục và Đào tạo")),
    ("MNHX", "Trường Mầm non Hồ Xá", "school", ("mn",), ()),
    ("MNVT", "Trường Mầm non Vĩnh Tú", "school", ("mn",), ()),
    ("THHX", "Trường Tiểu học Hồ Xá", "school", ("th",), ()),
    ("THVT", "Trường Tiểu học Vĩnh Tú", "school", ("th",), ()),
    ("THCSHX", "Trường THCS Hồ Xá", "school", ("thcs",), ()),
    ("THCSVT", "Trường THCS Vĩnh Tú", "school", ("thcs",), ()),
)
SCHOOL_WORDS = (
    GroupWord("các trường mầm non, tiểu học, THCS", ("mn", "th", "thcs")),
    GroupWord("các trường tiểu học, THCS", ("th", "thcs")),
    GroupWord("các trường mầm non", ("mn",)),
    GroupWord("các trường tiểu học", ("th",)),
    GroupWord("các trường THCS", ("thcs",)),
    GroupWord("các trường", ("mn", "th", "thcs"), generic=True),
    GroupWord("các đơn vị", ("mn", "th", "thcs"), generic=True),
)


def refs(rows) -> list[UnitRef]:
    return [UnitRef(n, code, name, kind, groups, aliases) for n, (code, name, kind, groups, aliases)
            in enumerate(rows, start=1)]


ROSTERS = {
    "district": (refs(DEMO_UNITS), DEFAULT_GROUP_WORDS),
    "province": (refs(PROVINCE_UNITS), PROVINCE_WORDS),
    "schools": (refs(SCHOOL_UNITS), SCHOOL_WORDS),
}


@dataclass(frozen=True)
class Want:
    due_at: datetime
    units: frozenset[str]
    lead: str | None = None


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    roster: str
    reference: date
    number: str | None
    date: date | None
    tasks: tuple[Want, ...]
    undated: int
    unmatched: tuple[str, ...]
    fragments: tuple[str, ...]
    known_miss: str | None = None
    blind: bool = False  # written after the extractor was tuned for issue 12 (and not run before it was committed)  # why the extractor is known to disagree with this letter's expectation


def _units(spec: list[str], units: list[UnitRef]) -> frozenset[str]:
    out: set[str] = set()
    for part in spec:
        if part.startswith("@"):
            out |= {u.code for u in units if part[1:] in u.groups}
    for part in spec:
        if part.startswith("!"):
            out.discard(part[1:])
        elif not part.startswith("@"):
            out.add(part)
    return frozenset(out)


def _due(text: str) -> datetime:
    if " " in text:
        day, hour = text.split(" ")
        return datetime.combine(date.fromisoformat(day), time.fromisoformat(hour), tzinfo=VN_TZ)
    return datetime.combine(date.fromisoformat(text), END_OF_DAY, tzinfo=VN_TZ)


def cases() -> list[Case]:
    out = []
    for path in sorted(HERE.glob("*.txt")):
        spec = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        units = ROSTERS[spec["roster"]][0]
        out.append(Case(
            name=path.stem, text=path.read_text(encoding="utf-8"), roster=spec["roster"],
            reference=date.fromisoformat(spec["reference"]), number=spec["number"],
            date=date.fromisoformat(spec["date"]) if spec["date"] else None,
            tasks=tuple(Want(_due(t["due"]), _units(t["units"], units), t.get("lead")) for t in spec["tasks"]),
            undated=spec["undated"], unmatched=tuple(spec["unmatched"]), fragments=tuple(spec["fragments"]),
            known_miss=spec.get("known_miss"), blind=spec.get("blind", False),
        ))
    return out


def score(draft: LetterDraft, wanted: list[Want] | tuple[Want, ...], *, phrases: list[str] | None = None) -> Counter:
    """Deadlines and (task, unit) pairs: a proposed dated task is paired with the first unused expected
    task of the same due instant (and phrase, when given), in order."""
    counts: Counter = Counter()
    unused = [t for t in draft.tasks if t.due_at is not None]
    for n, want in enumerate(wanted):
        match = next((t for t in unused if t.due_at == want.due_at
                      and (phrases is None or t.phrase == phrases[n])), None)
        if match is None:
            counts["deadline_fn"] += 1
            counts["unit_fn"] += len(want.units)
            continue
        unused.remove(match)
        counts["deadline_tp"] += 1
        counts["unit_tp"] += len(want.units & set(match.units))
        counts["unit_fn"] += len(want.units - set(match.units))
        counts["unit_fp"] += len(set(match.units) - want.units)
        counts["lead_ok"] += match.lead == want.lead
    counts["deadline_fp"] += len(unused)
    counts["unit_fp"] += sum(len(t.units) for t in unused)
    counts["tasks"] += len(wanted)
    return counts


def ratio(counts: Counter, key: str) -> tuple[float, float]:
    tp, fp, fn = counts[f"{key}_tp"], counts[f"{key}_fp"], counts[f"{key}_fn"]
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)


def figures(name: str, counts: Counter) -> str:
    dp, dr = ratio(counts, "deadline")
    up, ur = ratio(counts, "unit")
    return (f"{name}: deadlines P={dp:.3f} R={dr:.3f} ({counts['deadline_tp']} right, {counts['deadline_fp']} extra, "
            f"{counts['deadline_fn']} missed); units P={up:.3f} R={ur:.3f} ({counts['unit_tp']} right, "
            f"{counts['unit_fp']} extra, {counts['unit_fn']} missed); leads {counts['lead_ok']}/{counts['tasks']}")
