"""Letters → draft tasks: reading files, the extraction on the seed letters, rendering, saving, the CLI.

The expectations for the seed letters are written by hand from reading them (see the comments);
letter 000 is also checked against the demo's task list (``bot.demo.TASKS``), written independently.
``test_precision_and_recall_over_the_seed_letters`` prints the figures (run with ``-s`` to see them).
"""

from __future__ import annotations

import io
import json
import textwrap
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject
from sqlmodel import select

from bot.demo import TASKS as DEMO_TASKS
from bot.demo import UNITS as DEMO_UNITS
from handlers.letters import (
    DEFAULT_GROUP_WORDS,
    MAX_LETTER_BYTES,
    NO_DEADLINE,
    GroupWord,
    LetterDraft,
    LetterError,
    UnitRef,
    extract_letter,
    letter_text,
    paste_text,
    render_draft,
    roster_refs,
    save_draft,
)
from storage.models import Assignment, Letter, Task, Unit
from tests.conftest import SEEDS, VN, call, seed_letter, vn
from tests.letters.corpus import Want, figures, ratio, score

# --- the demo roster, written out by hand (the expectations below use these sets) ------------------

CQCM = frozenset({"VP", "NV", "TP", "TCKH", "VHTT", "KTHT", "GDDT"})  # departments
DVSN = frozenset({"TTVH"})  # service units
XA = frozenset({"HOXA", "CUATUNG", "BENQUAN", "VINHTHAI", "VINHTU", "VINHCHAP", "TRUNGNAM", "KIMTHACH",
                "VINHLONG", "VINHKHE", "VINHHA", "VINHLAM"})  # communes and townships


def demo_refs(*, aliases: bool = True) -> list[UnitRef]:
    return [UnitRef(n, code, name, kind, groups, alias if aliases else ())
            for n, (code, name, kind, groups, alias) in enumerate(DEMO_UNITS, start=1)]


REFS = demo_refs()


def seed(prefix: str) -> str:
    return seed_letter(prefix)


def extract(text: str, reference: date = date(2024, 12, 1), units=REFS, **kwargs) -> LetterDraft:
    return extract_letter(text, units, reference, VN, **kwargs)


def end_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=VN)


@dataclass(frozen=True)
class Expected:
    due: date
    phrase: str
    units: frozenset[str]
    lead: str | None = None


# Letter 000 (Vĩnh Linh, 11/2024): five items, seven deadlines.
LETTER_000 = [
    # 1. the five named departments report, signed PDF, Phụ lục 1-3
    Expected(date(2024, 11, 15), "chậm nhất ngày 15/11/2024", frozenset({"VP", "NV", "TP", "TCKH", "VHTT"})),
    # 2. "Các cơ quan chuyên môn, đơn vị sự nghiệp thuộc huyện; UBND các xã, thị trấn"
    Expected(date(2024, 11, 15), "chậm nhất ngày 15/11/2024", CQCM | DVSN | XA),
    # 3a. "Các cơ quan, đơn vị" (the letter opposes them to "UBND các xã, thị trấn")
    Expected(date(2024, 11, 15), "chậm nhất ngày 15/11/2024", CQCM | DVSN),
    # 3b. "giữa Thủ trưởng các cơ quan, đơn vị; Chủ tịch UBND các xã, thị trấn" — those who signed report
    Expected(date(2024, 11, 22), "chậm nhất ngày 22/11/2024", CQCM | DVSN | XA),
    # 4. three "Giao Phòng X chủ trì … trước ngày 20/11/2024": due at the end of 19/11, each to its lead
    Expected(date(2024, 11, 19), "trước ngày 20/11/2024", frozenset({"VP"}), "VP"),
    Expected(date(2024, 11, 19), "trước ngày 20/11/2024", frozenset({"NV"}), "NV"),
    Expected(date(2024, 11, 19), "trước ngày 20/11/2024", frozenset({"KTHT"}), "KTHT"),
]

# Letter 001 (Cao Lộc, 02/2024): items 1-2 say what to report, item 3 the data cut-off, item 4
# "Thời gian gửi báo cáo" the one deadline, for everyone the letter is addressed to: the four
# departments listed after "Các Phòng:", the Office of the People's Council and Committee, the communes.
LETTER_001 = [
    Expected(date(2024, 2, 29), "trước ngày 01/3/2024", frozenset({"TP", "TCKH", "VHTT", "NV", "VP"}) | XA),
]

# Letter 003 (Vĩnh Linh, 11/2023): items headed by the unit they give tasks to.
LETTER_003 = [
    # 1. "Đề nghị Thủ trưởng các phòng, ban, đơn vị và Chủ tịch UBND các xã, thị trấn"
    Expected(date(2023, 11, 24), "chậm nhất ngày 24/11/2023", CQCM | DVSN | XA),
    # 2. Phòng Nội vụ ("Phối hợp với Đoàn thanh niên huyện": not a roster unit, shown as unmatched)
    Expected(date(2023, 12, 9), "trước ngày 10/12/2023", frozenset({"NV"})),
    Expected(date(2023, 11, 24), "trước ngày 25/11/2023", frozenset({"NV"})),
    # 4. Phòng Kinh tế và Hạ tầng
    Expected(date(2023, 12, 9), "trước ngày 10/12/2023", frozenset({"KTHT"})),
    # 5. Phòng Tài chính – Kế hoạch và các Chủ đầu tư: "phần đấu đến 31/12/2023"
    Expected(date(2023, 12, 31), "đến 31/12/2023", frozenset({"TCKH"})),
    # 6. Phòng Văn hóa và Thông tin
    Expected(date(2023, 12, 9), "trước ngày 10/12/2023", frozenset({"VHTT"})),
    # 7. Phòng Giáo dục và Đào tạo
    Expected(date(2023, 11, 23), "trước ngày 24/11/2023", frozenset({"GDDT"})),
    Expected(date(2023, 12, 13), "trước ngày 14/12/2023", frozenset({"GDDT"})),
    # 8. Chủ tịch UBND các xã, thị trấn
    Expected(date(2023, 12, 14), "từ nay đến 14/12/2023", XA),
    Expected(date(2023, 11, 23), "trước ngày 24/11/2023", XA),
    Expected(date(2023, 12, 13), "trước ngày 14/12/2023", XA),
]

EXPECTED = {"000": LETTER_000, "001": LETTER_001, "003": LETTER_003}


def dated(draft: LetterDraft):
    return [task for task in draft.tasks if task.due_at is not None]


def as_expected(draft: LetterDraft) -> list[Expected]:
    return [Expected(t.due_at.date(), t.phrase, frozenset(t.units), t.lead) for t in dated(draft)]


# --- the seed letters --------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["000", "001", "003"])
def test_seed_letter_tasks_are_exactly_the_expected_ones(prefix: str) -> None:
    draft = extract(seed(prefix))
    assert as_expected(draft) == EXPECTED[prefix]
    for task, expected in zip(dated(draft), EXPECTED[prefix]):
        assert task.due_at == end_of(expected.due)
        assert task.problem is None
        assert list(task.units) == sorted(task.units, key=[code for code, *_ in DEMO_UNITS].index)


def test_seed_000_header_and_details() -> None:
    draft = extract(seed("000"))
    assert draft.number is None and draft.number_hint == "/UBND-NV"
    assert draft.date is None and draft.date_hint == "tháng 11/2024" and draft.reference == date(2024, 11, 1)
    assert draft.place == "Vĩnh Linh"
    assert draft.subject == "V/v báo cáo kết quả thực hiện các nhiệm vụ cải cách hành chính năm 2024"
    assert draft.recipients == ("Các cơ quan chuyên môn, đơn vị sự nghiệp thuộc huyện", "UBND các xã, thị trấn")
    assert set(draft.recipient_units) == CQCM | DVSN | XA
    first, second, third, fourth, *leads, item5 = draft.tasks
    assert first.signed and first.templates == ("Phụ lục 1", "Phụ lục 2", "Phụ lục 3")
    assert first.title.startswith("Báo cáo kết quả triển khai, mức độ hoàn thành nhiệm vụ CCHC năm 2024")
    assert second.templates == ("Phụ lục 4",) and third.templates == ("Phụ lục 5",) and fourth.templates == ()
    assert not any(task.signed for task in draft.tasks[1:])
    assert [t.title.split(" của ")[0] for t in leads] == ["Báo cáo kết quả xử lý các kiến nghị, đề xuất"] * 3
    # "phối hợp các cơ quan, đơn vị có liên quan" names nobody
    assert all(task.coordinating == () for task in leads)
    # item 5: "Giao Phòng Nội vụ chủ trì, đôn đốc …. Phối hợp với Văn phòng HĐND&UBND huyện …": no deadline
    assert (item5.item, item5.due_at, item5.problem) == ("5", None, NO_DEADLINE)
    assert (item5.units, item5.lead, item5.coordinating) == (("NV",), "NV", ("VP",))
    assert item5.title == "Đôn đốc, theo dõi các cơ quan, đơn vị thực hiện các nội dung tại Công văn này"
    assert all(len(task.title) <= 121 for task in draft.tasks)


def test_seed_000_agrees_with_the_demo_tasks() -> None:
    """The demo's tasks were written by hand from letter 000: same deadlines, units and leads."""
    groups = {code: set(g) for code, _name, _kind, g, _aliases in DEMO_UNITS}

    def units(spec: str) -> frozenset[str]:
        out = set()
        for part in spec.split(","):
            if part.startswith("group:"):
                out |= {code for code, g in groups.items() if part[6:] in g}
            else:
                out.add(part)
        return frozenset(out)

    demo = [(t.day - timedelta(days=1) if t.keyword == "trước ngày" else t.day, units(t.units), t.lead, t.signed)
            for t in DEMO_TASKS]
    got = [(t.due_at.date(), frozenset(t.units), t.lead, t.signed) for t in dated(extract(seed("000")))]
    def order(task: tuple) -> tuple:
        return task[0], sorted(task[1]), task[2] or "", task[3]

    assert sorted(got, key=order) == sorted(demo, key=order)


def test_seed_001_quarterly_report_goes_to_the_recipients() -> None:
    draft = extract(seed("001"))
    [task] = draft.tasks  # items 1-3 describe the report and the cut-off: no tasks of their own
    assert task.due_at == datetime(2024, 2, 29, 23, 59, 59, tzinfo=VN)
    assert task.title == "Báo cáo công tác cải cách hành chính quý I năm 2024"
    assert draft.recipients[0] == "Các Phòng: Tư pháp, Tài chính - Kế hoạch, Văn hóa và Thông tin, Nội vụ"
    assert set(draft.recipient_units) == set(task.units)
    assert draft.date_hint == "tháng 02/2024"


def test_seed_003_items_without_deadline_and_unmatched_names() -> None:
    draft = extract(seed("003"))
    assert draft.subject.startswith("Thông báo: Kết luận của Chủ tịch UBND huyện Thái Văn Thành")
    assert draft.number_hint == "/TB-UBND"
    undated = [(t.item, t.units if len(t.units) < 3 else len(t.units), t.lead) for t in draft.tasks if t.due_at is None]
    assert undated == [("1 (ý 1)", 20, None), ("1 (ý 3)", 8, None), ("2 (ý 1)", ("NV",), "NV"),
                       ("2 (ý 4)", ("NV",), None), ("3 (ý 1)", ("VP",), None), ("3 (ý 2)", ("VP",), None)]
    by_item = {t.item: t for t in dated(draft)}
    assert by_item["2 (ý 2)"].unmatched_names == ("Đoàn thanh niên huyện",)
    assert by_item["2 (ý 2)"].title.startswith("Báo cáo kết quả việc xử lý các đề xuất, kiến nghị của thanh niên")
    assert by_item["5"].unmatched_names == ("Chủ đầu tư",)
    assert by_item["5"].title == "Đẩy mạnh giải ngân vốn đầu tư công"
    assert not by_item["6"].signed  # "áp dụng chữ ký số" is not "send a signed PDF"
    # the letters' tasks come in the letter's order
    assert [t.item for t in draft.tasks][:4] == ["1 (ý 1)", "1 (ý 2)", "1 (ý 3)", "2 (ý 1)"]


@pytest.mark.parametrize("prefix", ["000", "003"])
def test_a_pdf_text_layer_layout_reads_the_same(prefix: str) -> None:
    """Text from a PDF has wrapped lines and no blank lines between paragraphs."""
    text = seed(prefix)
    wrapped = "\n".join(textwrap.fill(p.replace("\n", " "), 78) for p in text.split("\n\n") if p.strip())
    original, rewrapped = extract(text), extract(wrapped)
    assert as_expected(rewrapped) == as_expected(original) == EXPECTED[prefix]
    assert [t.problem for t in rewrapped.tasks] == [t.problem for t in original.tasks]


@pytest.mark.parametrize("aliases", [True, False], ids=["demo-roster", "roster-without-aliases"])
def test_precision_and_recall_over_the_seed_letters(aliases: bool) -> None:
    """Deadlines and units against the expectations above; units are counted per (task, unit) pair,
    a proposed task being paired with the expected task of the same phrase and due instant, in order.
    The second run uses a roster without aliases: names must match through the derived spellings."""
    totals = Counter()
    lines = [f"roster: {'demo (names and aliases)' if aliases else 'names only'}"]
    for prefix, expected in EXPECTED.items():
        draft = extract(seed(prefix), units=demo_refs(aliases=aliases))
        counts = score(draft, [Want(end_of(e.due), e.units, e.lead) for e in expected],
                       phrases=[e.phrase for e in expected])
        totals += counts
        lines.append(figures(f"letter {prefix}", counts))
    lines.append(figures("all three", totals))
    print("\n" + "\n".join(lines))
    assert ratio(totals, "deadline") == (1.0, 1.0)  # every deadline exact
    precision, recall = ratio(totals, "unit")
    assert precision >= 0.95 and recall >= 0.95
    assert totals["lead_ok"] == totals["tasks"]


@pytest.mark.parametrize("prefix", ["002", "004"])
def test_letters_without_deadlines_propose_no_dated_task(prefix: str) -> None:
    draft = extract(seed(prefix))
    assert dated(draft) == []
    assert any("Không tìm thấy ngày hạn" in note for note in draft.notes)
    assert all(task.problem == NO_DEADLINE and (task.units or task.unmatched_names) for task in draft.tasks)


FRAGMENTS = [
    "1. ", "2. ", "- ", "a) ", "I. ", "1.1. ", "Kính gửi:", "Số: ", "Số: 12/UBND", "V/v ", "THÔNG BÁO", "Nơi nhận:",
    "\n", "\n\n", "Phòng Nội vụ", "UBND các xã, thị trấn", "Các Phòng: ", "Tư pháp, ", "Giao ", " chủ trì, ",
    "phối hợp với ", "các cơ quan, đơn vị có liên quan", "chậm nhất ngày 15/11/2024", "trước ngày 01/3",
    "đến 31/02/2024", "hạn 15/11", "./.", ";", ",", ".", ":", "(", ")", " báo cáo ", "Phụ lục 2", "pdf, ký số",
    "Vĩnh Linh, ngày 20 tháng 11 năm 2024", "ngày tháng năm 2024", "Thời gian gửi báo cáo", "Đoàn thanh niên",
    "&", "–", "Phòng TC-KH", "VP HĐND&UBND", "Chủ tịch UBND", "**", "\ufeff", "\r\n",
    # issue 12: times of day, title lines, issuing sentences, communes, collectors, unknown names, bullets
    "trước 14 giờ, ngày 05/12/2017", "chậm nhất 16 giờ 00 ngày 05/12", "14h00", " lúc 25 giờ", "Cấp xã ",
    "Công văn số 972/SNV-CCHC ngày 18/7/2018 V/v ", "Ngày 23/11/2017, Sở Nội vụ ban hành Công văn số 1500/SNV ",
    "gửi về ", "gửi về: ", "(qua ", "Sở Tài nguyên và Môi trường", "HĐND cấp xã", "Riêng ", " đề nghị ",
    "– Đối với các sở, ban, ngành: Hướng dẫn tại Phụ lục I;", "các cơ quan, đơn vị",
]
ALL_CODES = {code for code, *_ in DEMO_UNITS}


@given(st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), max_size=60))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_text_gives_a_draft_or_a_clear_answer(parts: list[str]) -> None:
    text = "".join(parts)
    try:
        draft = extract(text)
    except LetterError as exc:
        assert not text.strip() and "Văn bản trống" in str(exc)
        return
    for task in draft.tasks:
        assert task.due_at is None or task.due_at.utcoffset() is not None
        assert (task.due_at is None) == (task.phrase is None)
        assert set(task.units) <= ALL_CODES and set(task.coordinating) <= ALL_CODES
        assert task.lead is None or task.units == (task.lead,)
        assert task.title and len(task.title) <= 121
        assert task.problem or (task.due_at and task.units)
    assert render_draft(draft, VN)


@given(st.binary(max_size=2000), st.sampled_from(["a.txt", "a.pdf", "a.docx", "a.doc", "a"]))
@settings(max_examples=200, deadline=None)
def test_any_bytes_give_text_or_a_clear_answer(data: bytes, name: str) -> None:
    try:
        assert isinstance(letter_text(data, name), str)
    except LetterError as exc:
        assert str(exc)


# --- header, units, groups ---------------------------------------------------------------------------

LETTER = """ỦY BAN NHÂN DÂN
HUYỆN VĨNH LINH
Số: 2146/UBND-NV
V/v báo cáo kết quả chấm điểm
chỉ số CCHC năm 2024

Vĩnh Linh, ngày 20 tháng 11 năm 2024

Kính gửi:
- {recipient};
- UBND các xã, thị trấn.

1. {body}

Nơi nhận:
- Như trên;
- Lưu: VT, NV.
"""


def letter(body: str, recipient: str = "Phòng Nội vụ") -> str:
    return LETTER.format(body=body, recipient=recipient)


def test_a_numbered_dated_letter_and_a_deadline_without_year() -> None:
    draft = extract(letter("Phòng Tư pháp báo cáo kết quả chấm điểm trước ngày 01/12 (theo mẫu Phụ lục 3)."),
                    reference=date(2025, 6, 1))
    assert (draft.number, draft.number_hint, draft.date) == ("2146/UBND-NV", None, date(2024, 11, 20))
    assert draft.subject == "V/v báo cáo kết quả chấm điểm chỉ số CCHC năm 2024"
    assert draft.recipients == ("Phòng Nội vụ", "UBND các xã, thị trấn")
    [task] = draft.tasks
    # no year: the next 01/12 on or after the letter's date (not today's 2025)
    assert (task.due_at, task.units, task.templates) == (end_of(date(2024, 11, 30)), ("TP",), ("Phụ lục 3",))
    assert task.title == "Báo cáo kết quả chấm điểm"
    assert draft.notes == ()


@pytest.mark.parametrize("written, code", [
    ("VP HĐND&UBND", "VP"),
    ("Văn phòng HĐND&UBND huyện", "VP"),
    ("Văn phòng HĐND và UBND huyện", "VP"),
    ("Phòng TC-KH", "TCKH"),
    ("Phòng Tài chính – Kế hoạch", "TCKH"),
    ("Phòng Tài chính-Kế hoạch huyện", "TCKH"),
    ("Phòng VH&TT", "VHTT"),
    ("Phòng Văn hóa và Thông tin huyện", "VHTT"),
    ("Phòng Kinh tế và Hạ tầng huyện", "KTHT"),
    ("PHÒNG GIÁO DỤC VÀ ĐÀO TẠO", "GDDT"),
    ("phong tu phap", "TP"),
    ("Trung tâm VH-TT&TT", "TTVH"),
    ("Thị trấn Hồ Xá", "HOXA"),
    ("UBND xã Vĩnh Tú", "VINHTU"),
])
@pytest.mark.parametrize("aliases", [True, False], ids=["aliases", "names-only"])
def test_unit_names_match_whatever_the_spelling(written: str, code: str, aliases: bool) -> None:
    units = demo_refs(aliases=aliases)
    [task] = extract(f"Giao {written} chủ trì, phối hợp với Phòng Nội vụ báo cáo chậm nhất ngày 15/11/2024.",
                     units=units).tasks
    assert (task.units, task.lead) == ((code,), code)
    assert task.coordinating == (() if code == "NV" else ("NV",))
    assert task.unmatched_names == ()


def test_a_list_after_cac_phong_and_an_unknown_unit() -> None:
    draft = extract(letter("Các Phòng: Tư pháp, Tài chính - Kế hoạch, Văn hóa và Thông tin, Y tế báo cáo kết quả "
                           "chậm nhất ngày 25/11/2024."))
    [task] = draft.tasks
    assert task.units == ("TP", "TCKH", "VHTT")
    assert task.unmatched_names == ("Phòng Y tế",)
    assert "⚠️ không khớp đơn vị: Phòng Y tế" in render_draft(draft, VN)


def test_units_after_qua_ve_cua_are_not_assignees() -> None:
    [task] = extract(letter("Phòng Tư pháp gửi báo cáo về UBND huyện (qua Phòng Nội vụ) theo Kế hoạch của "
                            "Văn phòng HĐND&UBND huyện chậm nhất ngày 25/11/2024.")).tasks
    assert task.units == ("TP",)


def test_the_heading_then_the_recipients_when_a_paragraph_names_no_one() -> None:
    draft = extract(letter("Phòng Kinh tế và Hạ tầng\n\n- Hoàn thành báo cáo quý. Hoàn thành trước ngày 10/12/2024."))
    assert draft.tasks[0].units == ("KTHT",)
    draft = extract(letter("Báo cáo kết quả chấm điểm chậm nhất ngày 25/11/2024.", recipient="Phòng Tư pháp"))
    assert set(draft.tasks[0].units) == {"TP"} | XA


def test_several_deadlines_in_one_paragraph_each_with_its_units() -> None:
    [first, second] = extract(letter(
        "Phòng Nội vụ báo cáo kết quả chấm điểm chậm nhất ngày 25/11/2024; UBND các xã, thị trấn báo cáo "
        "tự đánh giá trước ngày 01/12/2024 (theo Phụ lục 2).")).tasks
    assert (first.units, first.due_at, first.templates) == (("NV",), end_of(date(2024, 11, 25)), ())
    assert (set(second.units), second.due_at, second.templates) == (XA, end_of(date(2024, 11, 30)), ("Phụ lục 2",))


def test_group_words_and_generic_units() -> None:
    body = "Các cơ quan, đơn vị báo cáo chậm nhất ngày 25/11/2024."
    assert set(extract(body).tasks[0].units) == CQCM | DVSN  # no "Kính gửi": the group
    # the letter is addressed to Phòng Nội vụ and the communes: the generic words mean the addressed
    # units of that group (issue 12)
    assert extract(letter(body)).tasks[0].units == ("NV",)
    body = "Các phòng, ban và Chủ tịch UBND các xã, thị trấn báo cáo chậm nhất ngày 25/11/2024."
    assert set(extract(letter(body)).tasks[0].units) == CQCM | XA


def test_group_words_are_configurable_for_another_roster() -> None:
    units = [UnitRef(1, "NV", "Phòng Nội vụ", "department", ("phong",)),
             UnitRef(2, "X1", "Xã Một", "commune", ("capxa",)),
             UnitRef(3, "X2", "Xã Hai", "commune", ("capxa",))]
    body = "UBND các xã, thị trấn báo cáo chậm nhất ngày 25/11/2024."
    default = extract(letter(body), units=units)
    assert default.tasks[0].units == () and default.tasks[0].unmatched_names == ("UBND các xã, thị trấn",)
    words = [GroupWord(w.phrase, ("capxa",) if w.groups == ("xa",) else w.groups, w.generic)
             for w in DEFAULT_GROUP_WORDS]
    assert extract(letter(body), units=units, group_words=words).tasks[0].units == ("X1", "X2")


def test_a_day_that_does_not_exist_is_kept_with_the_reason() -> None:
    [task] = extract(letter("Phòng Nội vụ báo cáo chậm nhất ngày 31/02/2025.")).tasks
    assert (task.due_at, task.units, task.problem) == (None, ("NV",), "Ngày 31/02/2025 không tồn tại.")


# --- pastes and files --------------------------------------------------------------------------------


def test_a_paste_with_no_date_gets_a_clear_answer() -> None:
    draft = extract("Đề nghị Phòng Nội vụ báo cáo tình hình sớm.", reference=date(2024, 12, 1))
    [task] = draft.tasks
    assert (task.due_at, task.units, task.problem) == (None, ("NV",), NO_DEADLINE)
    text = render_draft(draft, VN)
    assert "Không thấy ngày ban hành; hạn không ghi năm được tính từ hôm nay (01/12/2024)" in text
    assert "Không tìm thấy ngày hạn nào trong văn bản" in text and "⚠️ chưa có hạn" in text
    nothing = render_draft(extract("Xin chào các đồng chí."), VN)
    assert "Không tìm thấy nhiệm vụ nào để giao trong văn bản này." in nothing


def test_a_paste_with_a_deadline_but_no_letter_date_reads_it_from_today() -> None:
    [task] = extract("Đề nghị Phòng TC-KH báo cáo trước ngày 05/01.", reference=date(2024, 12, 1)).tasks
    assert (task.due_at, task.units) == (end_of(date(2025, 1, 4)), ("TCKH",))


def test_pastes_over_one_megabyte_and_empty_pastes_are_refused() -> None:
    big = "Phòng Nội vụ báo cáo. " * (MAX_LETTER_BYTES // 20)
    for attempt in (lambda: paste_text(big), lambda: extract(big)):
        with pytest.raises(LetterError, match="quá lớn .*tối đa 1 MB"):
            attempt()
    with pytest.raises(LetterError, match="Văn bản trống"):
        paste_text(" \n\t ")
    assert paste_text("Phòng Nội vụ") == "Phòng Nội vụ"


def test_txt_files_with_or_without_bom() -> None:
    text = "Phòng Nội vụ báo cáo chậm nhất ngày 15/11/2024."
    assert letter_text(text.encode("utf-8"), "cv.txt") == text
    assert extract(letter_text(b"\xef\xbb\xbf" + text.encode("utf-8"), "cv.TXT")).tasks[0].units == ("NV",)
    with pytest.raises(LetterError, match="không phải chữ UTF-8"):
        letter_text(text.encode("cp1258", errors="replace") + b"\xff\xfe\xfa", "cv.txt")


@pytest.mark.parametrize("data, name, message", [
    (b"", "cv.txt", "Tệp «cv.txt» trống"),
    (b"  \n ", "cv.pdf", "trống"),
    (b"x" * (MAX_LETTER_BYTES + 1), "cv.txt", "quá lớn"),
    (b"abc", "cv.doc", "Word cũ"),
    (b"abc", "cv.odt", "chỉ nhận công văn dạng .docx, .pdf"),
    (b"not a zip", "cv.docx", "Không đọc được tệp Word"),
    (b"%PDF-1.4 broken", "cv.pdf", "Không đọc được tệp PDF"),
])
def test_bad_files_get_a_clear_answer(data: bytes, name: str, message: str) -> None:
    with pytest.raises(LetterError, match=message):
        letter_text(data, name)


def blank_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def text_pdf(lines: list[str], *, password: str | None = None) -> bytes:
    """A one-page PDF with a text layer (Helvetica: Latin-1 only, so the text has no diacritics)."""
    writer = PdfWriter()
    page = writer.add_blank_page(width=595, height=842)
    font = writer._add_object(DictionaryObject({NameObject("/Type"): NameObject("/Font"),
                                                NameObject("/Subtype"): NameObject("/Type1"),
                                                NameObject("/BaseFont"): NameObject("/Helvetica")}))
    fonts = DictionaryObject({NameObject("/F1"): font})
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
    body = " ".join(f"({line}) Tj T*" for line in lines)
    content = DecodedStreamObject()
    content.set_data(f"BT /F1 11 Tf 14 TL 50 800 Td {body} ET".encode("latin-1"))
    page[NameObject("/Contents")] = writer._add_object(content)
    if password:
        writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_scanned_pdf_without_text_gets_a_clear_answer() -> None:
    with pytest.raises(LetterError, match=r"Tệp PDF «scan.pdf» này không có lớp chữ \(có thể là bản scan\)"):
        letter_text(blank_pdf(), "scan.pdf")


def test_a_pdf_with_a_text_layer() -> None:
    data = text_pdf(["So: 15/UBND-NV", "Vinh Linh, ngay 20 thang 11 nam 2024", "",
                     "1. Phong Tai chinh - Ke hoach bao cao giai ngan", "cham nhat ngay 25/11."])
    draft = extract(letter_text(data, "cv.pdf"))
    assert (draft.number, draft.date) == ("15/UBND-NV", date(2024, 11, 20))
    [task] = draft.tasks
    assert (task.units, task.due_at) == (("TCKH",), end_of(date(2024, 11, 25)))
    with pytest.raises(LetterError, match="có mật khẩu"):
        letter_text(text_pdf(["x"], password="bi-mat"), "khoa.pdf")


def make_docx() -> bytes:
    from docx import Document

    document = Document()
    header = document.add_table(rows=1, cols=2)
    left, right = header.rows[0].cells
    left.text = "ỦY BAN NHÂN DÂN\nHUYỆN VĨNH LINH"
    left.add_paragraph("Số: 2146/UBND-NV")
    left.add_paragraph("V/v báo cáo kết quả CCHC")
    right.text = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
    right.add_paragraph("Vĩnh Linh, ngày 20 tháng 11 năm 2024")
    for text in ("Kính gửi:", "- Phòng Nội vụ;", "- Phòng Tư pháp.",
                 "1. Phòng Nội vụ báo cáo kết quả chấm điểm chậm nhất ngày 25/11.",
                 "2. Phòng Tư pháp báo cáo kết quả rà soát văn bản trước ngày 01/12 (theo mẫu Phụ lục 2).",
                 "Nơi nhận:", "- Như trên;"):
        document.add_paragraph(text)
    table = document.add_table(rows=1, cols=1)
    table.rows[0].cells[0].text = "Lưu: VT, NV."
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_a_docx_with_its_header_in_a_table() -> None:
    draft = extract(letter_text(make_docx(), "cong-van.docx"), reference=date(2025, 3, 1))
    assert (draft.number, draft.date, draft.subject) == ("2146/UBND-NV", date(2024, 11, 20), "V/v báo cáo kết quả CCHC")
    assert draft.recipients == ("Phòng Nội vụ", "Phòng Tư pháp")
    assert [(t.units, t.due_at, t.templates) for t in draft.tasks] == [
        (("NV",), end_of(date(2024, 11, 25)), ()),
        (("TP",), end_of(date(2024, 11, 30)), ("Phụ lục 2",)),
    ]


# --- rendering ---------------------------------------------------------------------------------------


def test_render_draft_shows_what_the_coordinator_must_check() -> None:
    text = render_draft(extract(seed("000")), VN)
    assert text.startswith("📄 Công văn chưa ghi số (…/UBND-NV), chưa ghi ngày (tháng 11/2024)\n"
                           "V/v báo cáo kết quả thực hiện các nhiệm vụ cải cách hành chính năm 2024")
    assert "Đề xuất 8 nhiệm vụ (7 có hạn, 1 cần xem lại):" in text
    assert "\n1. Báo cáo kết quả triển khai" in text and "\n8. Đôn đốc, theo dõi" in text
    assert "Hạn: «trước ngày 20/11/2024» (hết ngày thứ Ba 19/11/2024)" in text
    assert ("Giao (20 đơn vị): Các cơ quan chuyên môn (7 đơn vị), Trung tâm Văn hóa - Thông tin và Thể thao huyện, "
            "UBND các xã, thị trấn (12 đơn vị)") in text
    assert "Chủ trì: Phòng Kinh tế và Hạ tầng" in text and "Phối hợp: Văn phòng HĐND và UBND huyện" in text
    assert "Nộp: tệp PDF có ký số" in text and "Biểu mẫu: Phụ lục 1, Phụ lục 2, Phụ lục 3" in text
    assert text.count("⚠️ chưa có hạn") == 1
    assert "⚠️ không khớp đơn vị: Đoàn thanh niên huyện" in render_draft(extract(seed("003")), VN)


# --- saving ------------------------------------------------------------------------------------------


async def add_demo_units(db) -> dict[str, Unit]:
    now = vn(2024, 11, 1, 8)
    async with db.session() as session:
        units = {code: Unit(code=code, name=name, kind=kind, groups=list(groups), aliases=list(aliases),
                            created_at=now, updated_at=now)
                 for code, name, kind, groups, aliases in DEMO_UNITS}
        session.add_all(units.values())
    return units


async def test_save_draft_creates_the_ready_tasks_once(db) -> None:
    await add_demo_units(db)
    text, now = seed("000"), vn(2024, 11, 8, 9)
    async with db.session() as session:
        refs = await roster_refs(session)
        assert [r.code for r in refs] == [code for code, *_ in DEMO_UNITS]
        draft = extract_letter(text, refs, now.date(), VN)
        saved = await save_draft(session, draft, now=now, source_text=text)
    assert len(saved.created) == 7
    assert [(task.item, reason) for task, reason in saved.skipped] == [("5", "chưa có hạn")]
    async with db.session() as session:
        tasks = (await session.exec(select(Task).order_by(Task.id))).all()
        counts = Counter(a.task_id for a in (await session.exec(select(Assignment))).all())
        letter = (await session.exec(select(Letter))).one()
        units = {u.id: u.code for u in (await session.exec(select(Unit))).all()}
    assert [counts[t.id] for t in tasks] == [5, 20, 8, 20, 1, 1, 1]
    assert [units.get(t.lead_unit_id) for t in tasks] == [None, None, None, None, "VP", "NV", "KTHT"]
    assert tasks[0].signature_required and tasks[0].template == "Phụ lục 1, Phụ lục 2, Phụ lục 3"
    assert tasks[4].due_at == vn(2024, 11, 19, 23, 59, 59) and tasks[4].deadline_phrase == "trước ngày 20/11/2024"
    assert (letter.number, letter.subject, letter.source_text) == (None, draft.subject, text)
    assert all(t.letter_id == letter.id for t in tasks)
    async with db.session() as session:
        with pytest.raises(LetterError, match="đã được nhập trước đây \\(7 nhiệm vụ\\)"):
            await save_draft(session, draft, now=now, source_text=text)
    async with db.session() as session:
        assert len((await session.exec(select(Task))).all()) == 7


# --- the command line --------------------------------------------------------------------------------


def seed_file(prefix: str):
    seed(prefix)
    [path] = SEEDS.glob(f"{prefix}_*.txt")
    return str(path)


def task_count() -> int:
    listing = call("task", "list")
    assert listing.exit_code == 0, listing.output
    return sum(1 for line in listing.output.splitlines() if line.startswith("#"))


def test_cli_dry_run_json_writes_nothing(env) -> None:
    assert call("demo").exit_code == 0
    before = call("task", "list").output
    result = call("letter", "import", seed_file("000"), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert {"number", "date", "subject", "tasks"} <= payload.keys()
    assert (payload["number"], payload["date"], payload["dry_run"], payload["created"]) == (None, None, True, [])
    assert len(payload["tasks"]) == 8
    for task in payload["tasks"]:
        assert {"title", "due_at", "phrase", "units", "lead", "signed"} <= task.keys()
    first, fifth = payload["tasks"][0], payload["tasks"][4]
    assert first["due_at"] == "2024-11-15T23:59:59+07:00" and first["units"] == ["VP", "NV", "TP", "TCKH", "VHTT"]
    assert first["signed"] is True and first["templates"] == ["Phụ lục 1", "Phụ lục 2", "Phụ lục 3"]
    assert (fifth["phrase"], fifth["lead"], fifth["units"]) == ("trước ngày 20/11/2024", "VP", ["VP"])
    assert payload["tasks"][7]["due_at"] is None and payload["skipped"][0]["reason"] == "chưa có hạn"
    assert call("task", "list").output == before


def test_cli_import_creates_the_tasks_and_refuses_a_second_time(env) -> None:
    assert call("demo").exit_code == 0
    before = task_count()
    result = call("letter", "import", seed_file("003"))
    assert result.exit_code == 0, result.output
    assert "Đề xuất 17 nhiệm vụ (11 có hạn, 6 cần xem lại)" in result.output
    assert result.output.count("✅ Đã tạo nhiệm vụ #") == 11
    assert "Bỏ qua 6 nhiệm vụ" in result.output and ": chưa có hạn" in result.output
    assert task_count() == before + 11
    assert "Đẩy mạnh giải ngân vốn đầu tư công" in call("task", "list").output
    again = call("letter", "import", seed_file("003"))
    assert again.exit_code == 1 and "đã được nhập trước đây (11 nhiệm vụ)" in again.output
    assert task_count() == before + 11


def test_cli_dry_run_text_and_json_import(env) -> None:
    assert call("demo").exit_code == 0
    dry = call("letter", "import", seed_file("001"), "--dry-run")
    assert dry.exit_code == 0 and "Chạy thử: chưa ghi gì. Bỏ --dry-run để tạo 1 nhiệm vụ" in dry.output
    assert "Hạn: «trước ngày 01/3/2024» (hết ngày thứ Năm 29/02/2024)" in dry.output
    real = call("letter", "import", seed_file("001"), "--json")
    assert real.exit_code == 0, real.output
    payload = json.loads(real.output)
    assert payload["dry_run"] is False and len(payload["created"]) == 1 and payload["skipped"] == []
    assert "Báo cáo công tác cải cách hành chính quý I năm 2024" in call("task", "list").output


@pytest.mark.parametrize("name, data, message", [
    ("trong.txt", b"", "Tệp «trong.txt» trống"),
    ("scan.pdf", None, "không có lớp chữ (có thể là bản scan)"),
    ("cu.doc", b"\xd0\xcf\x11\xe0", "Word cũ (.doc)"),
    ("to.txt", b"a" * (MAX_LETTER_BYTES + 1), "quá lớn"),
    ("khong-han.txt", "Kính gửi các đồng chí, xin chào.".encode(), "Không tạo được nhiệm vụ nào"),
])
def test_cli_bad_files_exit_1_and_create_nothing(env, name: str, data: bytes | None, message: str) -> None:
    assert call("demo").exit_code == 0
    before = call("task", "list").output
    path = env / name
    path.write_bytes(blank_pdf() if data is None else data)
    result = call("letter", "import", str(path))
    assert result.exit_code == 1
    assert message in result.output
    assert call("task", "list").output == before


def test_cli_without_a_roster_says_so(env) -> None:
    result = call("letter", "import", seed_file("000"))
    assert result.exit_code == 1 and "Chưa có danh sách đơn vị" in result.output
