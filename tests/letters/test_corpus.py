"""Precision and recall of deadlines and units on the new test letters and, separately, on the seed
letters (run with ``-s`` to see the figures). The seed letters must stay exact."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest

from handlers.letters import extract_letter
from schedules.deadlines import END_OF_DAY, VN_TZ
from tests.letters.corpus import ROSTERS, Case, Want, cases, figures, ratio, score
from tests.test_letters import EXPECTED, REFS, extract, seed

CASES = cases()


def read(case: Case):
    units, words = ROSTERS[case.roster]
    return extract_letter(case.text, units, case.reference, VN_TZ, group_words=words)


def test_there_are_at_least_twelve_letters_in_every_style() -> None:
    assert len(CASES) >= 12
    assert {case.roster for case in CASES} == {"district", "province", "schools"}


@pytest.mark.parametrize("case", [
    pytest.param(c, id=c.name, marks=[pytest.mark.xfail(strict=True, reason=c.known_miss)] if c.known_miss else [])
    for c in CASES
])
def test_letter(case: Case) -> None:
    draft = read(case)
    assert (draft.number, draft.date) == (case.number, case.date)
    got = [Want(t.due_at, frozenset(t.units), t.lead) for t in draft.tasks if t.due_at is not None]
    assert got == list(case.tasks)
    assert sum(1 for t in draft.tasks if t.due_at is None) == case.undated
    names = set(draft.unmatched_names) | {n for t in draft.tasks for n in t.unmatched_names}
    assert set(case.unmatched) <= names
    assert not names & set(case.fragments)


def test_precision_and_recall_on_the_new_letters_and_the_seed_letters() -> None:
    new, blind = Counter(), Counter()
    lines = []
    for case in CASES:
        counts = score(read(case), case.tasks)
        lines.append(figures(f"  {case.name}", counts))
        new += counts
        blind += counts if case.blind else Counter()
    seeds = Counter()
    for prefix, expected in EXPECTED.items():
        wanted = [Want(datetime.combine(e.due, END_OF_DAY, tzinfo=VN_TZ), e.units, e.lead) for e in expected]
        seeds += score(extract(seed(prefix), units=REFS), wanted, phrases=[e.phrase for e in expected])
    print("\n" + "\n".join([figures(f"new letters ({len(CASES)})", new), *lines,
                            figures(f"  of which blind ({sum(c.blind for c in CASES)})", blind),
                            figures(f"seed letters ({len(EXPECTED)} with deadlines)", seeds)]))
    assert ratio(seeds, "deadline") == (1.0, 1.0) and ratio(seeds, "unit") == (1.0, 1.0)
    assert seeds["lead_ok"] == seeds["tasks"]
    assert min(ratio(new, "deadline") + ratio(new, "unit")) >= 0.95
