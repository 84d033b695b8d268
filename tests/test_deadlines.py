"""Tests for schedules.deadlines: Vietnamese deadline phrases → due instants."""

from __future__ import annotations

import dataclasses
import unicodedata
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from schedules.deadlines import VN_TZ, Deadline, DeadlineError, find_deadlines, parse_deadline

from tests.conftest import seed_letter
REF = date(2024, 11, 1)


def end_of(day: date, tz: ZoneInfo = VN_TZ) -> datetime:
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=tz)


def clean(fragment: str) -> str:
    """What a phrase should be: the slice without bold marks, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFC", fragment.replace("*", "")).split())


# --- every written form ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "due", "kind", "phrase"),
    [
        ("chậm nhất ngày 15/11/2024", date(2024, 11, 15), "by", "chậm nhất ngày 15/11/2024"),
        ("chậm nhất là ngày 15/11/2024", date(2024, 11, 15), "by", "chậm nhất là ngày 15/11/2024"),
        ("chậm nhất vào ngày 15/11", date(2024, 11, 15), "by", "chậm nhất vào ngày 15/11"),
        ("hạn 15/11", date(2024, 11, 15), "by", "hạn 15/11"),
        ("Hạn: 15/11/2024", date(2024, 11, 15), "by", "Hạn: 15/11/2024"),
        ("hạn chót ngày 15/11/2024", date(2024, 11, 15), "by", "hạn chót ngày 15/11/2024"),
        ("thời hạn nộp 15/11/2024", date(2024, 11, 15), "by", "thời hạn nộp 15/11/2024"),
        ("đến ngày 15/11", date(2024, 11, 15), "by", "đến ngày 15/11"),
        ("hoàn thành ngày 15/11/2024", date(2024, 11, 15), "by", "hoàn thành ngày 15/11/2024"),
        ("hoàn thành trong ngày 15/11", date(2024, 11, 15), "by", "hoàn thành trong ngày 15/11"),
        ("trước ngày 20/11/2024", date(2024, 11, 19), "before", "trước ngày 20/11/2024"),
        ("trước 20/11", date(2024, 11, 19), "before", "trước 20/11"),
        ("trước ngày 01/3/2024", date(2024, 2, 29), "before", "trước ngày 01/3/2024"),
        ("trước ngày 01/3/2023", date(2023, 2, 28), "before", "trước ngày 01/3/2023"),
        ("trước ngày 01/01/2025", date(2024, 12, 31), "before", "trước ngày 01/01/2025"),
        ("hạn 15-11-2024", date(2024, 11, 15), "by", "hạn 15-11-2024"),
        ("hạn 15.11.2024", date(2024, 11, 15), "by", "hạn 15.11.2024"),
        ("hạn 5/1/2025", date(2025, 1, 5), "by", "hạn 5/1/2025"),
        ("chậm nhất ngày 15 tháng 11 năm 2024", date(2024, 11, 15), "by", "chậm nhất ngày 15 tháng 11 năm 2024"),
        ("chậm nhất ngày 15 tháng 11", date(2024, 11, 15), "by", "chậm nhất ngày 15 tháng 11"),
        ("trước ngày 01 tháng 3 năm 2024", date(2024, 2, 29), "before", "trước ngày 01 tháng 3 năm 2024"),
        ("trong tháng 11", date(2024, 11, 30), "month", "trong tháng 11"),
        ("trong tháng 2/2024", date(2024, 2, 29), "month", "trong tháng 2/2024"),
        ("trong tháng 02 năm 2025", date(2025, 2, 28), "month", "trong tháng 02 năm 2025"),
        ("hoàn thành trong tháng 12", date(2024, 12, 31), "month", "trong tháng 12"),
    ],
)
def test_written_forms(text: str, due: date, kind: str, phrase: str) -> None:
    deadline = parse_deadline(text, REF)
    assert (deadline.due_date, deadline.kind, deadline.phrase) == (due, kind, phrase)
    assert deadline.due_at == end_of(due)


def test_before_first_of_march_in_a_leap_year_is_end_of_29_february_vietnam_time() -> None:
    deadline = parse_deadline("trước ngày 01/3/2024", REF)
    assert deadline.due_at == datetime(2024, 2, 29, 23, 59, 59, tzinfo=VN_TZ)
    assert deadline.due_at.utcoffset() == timedelta(hours=7)
    assert deadline.due_at.astimezone(timezone.utc) == datetime(2024, 2, 29, 16, 59, 59, tzinfo=timezone.utc)


def test_other_timezone_is_honoured() -> None:
    utc = ZoneInfo("UTC")
    deadline = parse_deadline("hạn 15/11/2024", REF, tz=utc)
    assert deadline.due_at == datetime(2024, 11, 15, 23, 59, 59, tzinfo=utc)


def test_deadline_is_frozen() -> None:
    deadline = parse_deadline("hạn 15/11/2024", REF)
    with pytest.raises(dataclasses.FrozenInstanceError):
        deadline.kind = "before"  # type: ignore[misc]


# --- no year: the next such date on or after the reference ----------------------------------------


@pytest.mark.parametrize(
    ("text", "reference", "due"),
    [
        ("hạn 15/11", date(2024, 11, 14), date(2024, 11, 15)),
        ("hạn 15/11", date(2024, 11, 15), date(2024, 11, 15)),
        ("hạn 15/11", date(2024, 11, 16), date(2025, 11, 15)),
        ("hạn 05/01", date(2024, 12, 20), date(2025, 1, 5)),
        ("trước ngày 20/11", date(2024, 11, 20), date(2024, 11, 19)),
        ("trước ngày 20/11", date(2024, 11, 21), date(2025, 11, 19)),
        ("trước ngày 01/3", date(2024, 1, 10), date(2024, 2, 29)),
        ("trước ngày 01/3", date(2025, 1, 10), date(2025, 2, 28)),
        ("hạn 29/02", date(2024, 2, 1), date(2024, 2, 29)),
        ("trong tháng 11", date(2024, 11, 30), date(2024, 11, 30)),
        ("trong tháng 11", date(2024, 12, 1), date(2025, 11, 30)),
        ("trong tháng 2", date(2023, 12, 5), date(2024, 2, 29)),
    ],
)
def test_year_less_dates_resolve_against_reference(text: str, reference: date, due: date) -> None:
    assert parse_deadline(text, reference).due_date == due


def test_aware_datetime_reference_is_converted_to_the_timezone_first() -> None:
    # 18:00 UTC on 15/11 is already 01:00 on 16/11 in Vietnam, so "15/11" means next year.
    late_utc = datetime(2024, 11, 15, 18, 0, tzinfo=timezone.utc)
    assert parse_deadline("hạn 15/11", late_utc).due_date == date(2025, 11, 15)
    early_utc = datetime(2024, 11, 15, 10, 0, tzinfo=timezone.utc)
    assert parse_deadline("hạn 15/11", early_utc).due_date == date(2024, 11, 15)


def test_naive_datetime_reference_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_deadline("hạn 15/11", datetime(2024, 11, 1, 8, 0))


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("chậm nhất ngày 31/02/2024", "Ngày 31/02/2024 không tồn tại."),
        ("hạn 30/2/2024", "Ngày 30/02/2024 không tồn tại."),
        ("trước ngày 15/13/2024", "Ngày 15/13/2024 không tồn tại."),
        ("hạn 00/11/2024", "Ngày 00/11/2024 không tồn tại."),
        ("hạn 31/04", "Ngày 31/04 không tồn tại."),
        ("chậm nhất ngày 29/02/2023", "Ngày 29/02/2023 không tồn tại."),
        ("chậm nhất ngày 31 tháng 6 năm 2024", "Ngày 31/06/2024 không tồn tại."),
        ("trong tháng 13", "Tháng 13 không tồn tại."),
        ("31/02/2024", "Ngày 31/02/2024 không tồn tại."),
    ],
)
def test_invalid_dates(text: str, message: str) -> None:
    with pytest.raises(DeadlineError) as caught:
        parse_deadline(text, REF)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


def test_year_less_29_february_in_a_common_year_is_an_error() -> None:
    with pytest.raises(DeadlineError, match=r"^Ngày 29/02/2025 không tồn tại\.$"):
        parse_deadline("hạn 29/02", date(2025, 1, 10))


def test_invalid_date_in_a_letter_is_reported_not_skipped() -> None:
    with pytest.raises(DeadlineError, match="31/02/2024"):
        find_deadlines("Gửi báo cáo chậm nhất ngày 31/02/2024 để tổng hợp.", REF)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Các đơn vị gửi báo cáo sớm.",
        "Công văn số 527/UBND-NV ngày 20/3/2024 của UBND huyện",
        "tôi sẽ gửi vào 25/11 nhé",
        "hạn chót sắp tới",
    ],
)
def test_no_deadline_is_a_clear_vietnamese_error(text: str) -> None:
    with pytest.raises(DeadlineError) as caught:
        parse_deadline(text, REF)
    assert str(caught.value) == (
        f"Không tìm thấy ngày hạn trong: «{text}». "
        "Hãy viết ví dụ «chậm nhất ngày 15/11/2024» hoặc «trước ngày 20/11»."
    )


def test_no_deadline_message_quotes_long_text_shortened() -> None:
    text = "Các đơn vị   gửi\nbáo cáo " + "rất " * 50
    message = str(pytest.raises(DeadlineError, parse_deadline, text, REF).value)
    quoted = message.split("«", 1)[1].split("»", 1)[0]
    assert quoted.startswith("Các đơn vị gửi báo cáo rất")
    assert quoted.endswith("…") and len(quoted) <= 80


# --- bare dates (a user asking for an extension) ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "due", "phrase"),
    [
        ("25/11", date(2024, 11, 25), "25/11"),
        ("  ngày 25/11/2024. ", date(2024, 11, 25), "ngày 25/11/2024"),
        ("**25/11**", date(2024, 11, 25), "25/11"),
        ("Ngày 25 tháng 11", date(2024, 11, 25), "Ngày 25 tháng 11"),
        ("(25-11-2024)", date(2024, 11, 25), "25-11-2024"),
    ],
)
def test_bare_date_is_kind_by(text: str, due: date, phrase: str) -> None:
    deadline = parse_deadline(text, REF)
    assert (deadline.due_date, deadline.kind, deadline.phrase) == (due, "by", phrase)
    assert text[deadline.start : deadline.end].replace("*", "") == phrase


def test_parse_deadline_returns_the_first_phrase() -> None:
    text = "Công văn số 12/UBND ngày 01/11/2024: gửi trước ngày 20/11/2024, bổ sung chậm nhất ngày 25/11/2024."
    deadline = parse_deadline(text, REF)
    assert (deadline.kind, deadline.due_date) == ("before", date(2024, 11, 19))


# --- bold, italics, case, missing diacritics --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "due", "phrase"),
    [
        ("gửi về chậm nhất ngày **15/11/2024** để tổng hợp", date(2024, 11, 15), "chậm nhất ngày 15/11/2024"),
        ("gửi về **chậm nhất ngày 15/11/2024** để tổng hợp", date(2024, 11, 15), "chậm nhất ngày 15/11/2024"),
        ("Hoàn thành **trước ngày 10/12/2023**.", date(2023, 12, 9), "trước ngày 10/12/2023"),
        ("gửi báo cáo **trước ngày 01/3/2024.**", date(2024, 2, 29), "trước ngày 01/3/2024"),
        ("**chậm nhất** ngày 15/11/2024", date(2024, 11, 15), "chậm nhất ngày 15/11/2024"),
        ("chậm nhất ngày *15/11/2024*", date(2024, 11, 15), "chậm nhất ngày 15/11/2024"),
        ("*trước ngày 20/11/2024*", date(2024, 11, 19), "trước ngày 20/11/2024"),
        ("hạn **15**/**11**/2024", date(2024, 11, 15), "hạn 15/11/2024"),
        ("chậm nhất ngày **15 tháng 11 năm 2024**", date(2024, 11, 15), "chậm nhất ngày 15 tháng 11 năm 2024"),
    ],
)
def test_bold_and_italic_marks(text: str, due: date, phrase: str) -> None:
    deadline = parse_deadline(text, REF)
    assert (deadline.due_date, deadline.phrase) == (due, phrase)
    assert clean(text[deadline.start : deadline.end]) == phrase
    assert not text[deadline.start].isspace() and text[deadline.end - 1].isdigit()


@pytest.mark.parametrize(
    ("text", "due", "kind"),
    [
        ("Chậm nhất ngày 15/11/2024", date(2024, 11, 15), "by"),
        ("CHẬM NHẤT NGÀY 15/11/2024", date(2024, 11, 15), "by"),
        ("TRƯỚC NGÀY 20/11/2024", date(2024, 11, 19), "before"),
        ("cham nhat ngay 15/11/2024", date(2024, 11, 15), "by"),
        ("chậm nhat ngay 15/11", date(2024, 11, 15), "by"),
        ("truoc ngay 20/11", date(2024, 11, 19), "before"),
        ("Truoc Ngay 20/11", date(2024, 11, 19), "before"),
        ("han 15/11", date(2024, 11, 15), "by"),
        ("HAN CHOT 15/11", date(2024, 11, 15), "by"),
        ("den ngay 15/11", date(2024, 11, 15), "by"),
        ("hoan thanh ngay 15/11", date(2024, 11, 15), "by"),
        ("trong thang 11 nam 2024", date(2024, 11, 30), "month"),
        ("cham nhat ngay 15 thang 11 nam 2024", date(2024, 11, 15), "by"),
    ],
)
def test_case_and_missing_diacritics(text: str, due: date, kind: str) -> None:
    deadline = parse_deadline(text, REF)
    assert (deadline.due_date, deadline.kind, deadline.phrase) == (due, kind, text)


def test_decomposed_unicode_maps_back_to_the_original_text() -> None:
    text = unicodedata.normalize("NFD", "Các đơn vị gửi trước ngày 20/11/2024 để tổng hợp.")
    deadline = parse_deadline(text, REF)
    assert deadline.due_date == date(2024, 11, 19)
    assert deadline.phrase == "trước ngày 20/11/2024"
    assert unicodedata.normalize("NFC", text[deadline.start : deadline.end]) == "trước ngày 20/11/2024"


def test_spans_slice_the_original_paragraph() -> None:
    text = (
        "Đề nghị gửi về UBND huyện (qua phòng Nội vụ) chậm nhất ngày **15/11/2024** để tổng hợp; "
        "riêng Phòng Tư pháp hoàn thành **trước ngày 20/11/2024**; phần còn lại trong tháng 12/2024."
    )
    found = find_deadlines(text, REF)
    assert [d.phrase for d in found] == [
        "chậm nhất ngày 15/11/2024",
        "trước ngày 20/11/2024",
        "trong tháng 12/2024",
    ]
    for deadline in found:
        assert clean(text[deadline.start : deadline.end]) == deadline.phrase
    assert [d.due_date for d in found] == [date(2024, 11, 15), date(2024, 11, 19), date(2024, 12, 31)]


# --- what is not a deadline --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Kế hoạch số 11/KH-UBND ngày 15/01/2024 của UBND huyện",
        "theo yêu cầu Công văn số 527/UBND-NV ngày 20/3/2024 của UBND huyện",
        "Ngày 22/11/2023, UBND huyện tổ chức phiên họp",
        "kỷ niệm 70 năm truyền thống Vĩnh Linh (25/8/1954-25/8/2024)",
        "Thời gian chốt số liệu tính từ ngày 01 tháng 12 của năm trước kỳ báo cáo đến ngày 28 tháng 02 thuộc kỳ báo cáo.",
        "số liệu từ 01/12/2023 đến 28/02/2024",
        "số liệu tính đến ngày 31/10/2024",
        "thực hiện lần 1 (trong tháng 11), bổ sung lần 2 (tháng 12)",
        "thực hiện lần 1 (**trong tháng 11**)",
        "phấn đấu tăng đến 15-20% so với cùng kỳ",
        "khắc phục tồn tại, hạn chế năm 2023",
        "Số: 2146/UBND-NV",
    ],
)
def test_not_deadlines(text: str) -> None:
    assert find_deadlines(text, REF) == []


def test_range_closing_needs_the_opening_in_the_same_clause() -> None:
    text = "Số liệu tính từ ngày 01/10/2024; gửi báo cáo đến ngày 15/11/2024."
    [deadline] = find_deadlines(text, REF)
    assert (deadline.phrase, deadline.due_date) == ("đến ngày 15/11/2024", date(2024, 11, 15))


def test_month_outside_parentheses_is_a_deadline() -> None:
    [deadline] = find_deadlines("Các xã hoàn thành trong tháng 11 năm 2024 (bản ký số).", REF)
    assert (deadline.kind, deadline.due_date, deadline.phrase) == ("month", date(2024, 11, 30), "trong tháng 11 năm 2024")


# Rule: "đến [ngày] <date>" is a deadline of kind "by" unless it closes a "từ … <date>" period or
# follows "tính" (as of). So "từ nay đến 14/12/2023" (from now until) and the target
# "phấn đấu đến 31/12/2023" both count; "từ nay" stays in the phrase.
def test_tu_nay_den_and_phan_dau_den_are_by_deadlines() -> None:
    text = (
        "phần đấu nâng cao chỉ số từ nay đến 14/12/2023. "
        "Đẩy mạnh giải ngân vốn đầu tư công phấn đấu đến 31/12/2023 đạt 100%."
    )
    found = find_deadlines(text, date(2023, 11, 22))
    assert [(d.kind, d.phrase, d.due_date) for d in found] == [
        ("by", "từ nay đến 14/12/2023", date(2023, 12, 14)),
        ("by", "đến 31/12/2023", date(2023, 12, 31)),
    ]


# --- the seed letters ---------------------------------------------------------------------------------


def seed(prefix: str) -> str:
    return seed_letter(prefix)


def summary(deadlines: list[Deadline]) -> list[tuple[str, date]]:
    return [(d.kind, d.due_date) for d in deadlines]


def test_seed_000_vinh_linh_2024() -> None:
    text = seed("000")
    found = find_deadlines(text, date(2024, 11, 1))
    assert summary(found) == [
        ("by", date(2024, 11, 15)),
        ("by", date(2024, 11, 15)),
        ("by", date(2024, 11, 15)),
        ("by", date(2024, 11, 22)),
        ("before", date(2024, 11, 19)),
        ("before", date(2024, 11, 19)),
        ("before", date(2024, 11, 19)),
    ]
    assert found[0].phrase == "chậm nhất ngày 15/11/2024"
    assert found[4].phrase == "trước ngày 20/11/2024"
    for deadline in found:
        assert clean(text[deadline.start : deadline.end]) == deadline.phrase


def test_seed_001_cao_loc_quarterly_report() -> None:
    text = seed("001")
    [deadline] = find_deadlines(text, date(2024, 2, 1))
    assert (deadline.kind, deadline.phrase) == ("before", "trước ngày 01/3/2024")
    assert deadline.due_at == datetime(2024, 2, 29, 23, 59, 59, tzinfo=VN_TZ)
    assert text[deadline.start : deadline.end] == "trước ngày 01/3/2024"


def test_seed_003_chairman_conclusions() -> None:
    text = seed("003")
    found = find_deadlines(text, date(2023, 11, 22))
    assert summary(found) == [
        ("by", date(2023, 11, 24)),
        ("before", date(2023, 12, 9)),
        ("before", date(2023, 11, 24)),
        ("before", date(2023, 12, 9)),
        ("by", date(2023, 12, 31)),  # "phần đấu đến 31/12/2023" (see the rule above)
        ("before", date(2023, 12, 9)),
        ("before", date(2023, 11, 23)),
        ("before", date(2023, 12, 13)),
        ("by", date(2023, 12, 14)),  # "từ nay đến 14/12/2023"
        ("before", date(2023, 11, 23)),
        ("before", date(2023, 12, 13)),
    ]
    assert [d.phrase for d in found if d.kind == "by"] == [
        "chậm nhất ngày 24/11/2023",
        "đến 31/12/2023",
        "từ nay đến 14/12/2023",
    ]


@pytest.mark.parametrize("prefix", ["002", "004"])
def test_seed_letters_without_deadlines(prefix: str) -> None:
    assert find_deadlines(seed(prefix), date(2024, 1, 1)) == []


# --- properties -------------------------------------------------------------------------------------

# (keyword as typed, kind, whether "ngày" must follow)
KEYWORDS = [
    ("chậm nhất", "by", False),
    ("Chậm nhất là", "by", False),
    ("CHẬM NHẤT", "by", False),
    ("cham nhat", "by", False),
    ("hạn", "by", False),
    ("Hạn chót", "by", False),
    ("han", "by", False),
    ("đến", "by", False),
    ("Đến", "by", False),
    ("hoàn thành", "by", True),
    ("hoan thanh", "by", True),
    ("trước", "before", False),
    ("TRƯỚC", "before", False),
    ("truoc", "before", False),
]

DATED_FORMS = [
    lambda d: f"{d.day}/{d.month}/{d.year}",
    lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}",
    lambda d: f"{d.day}-{d.month}-{d.year}",
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    lambda d: f"{d.day} tháng {d.month} năm {d.year}",
    lambda d: f"{d.day:02d} tháng {d.month:02d} năm {d.year}",
]
YEARLESS_FORMS = [
    lambda d: f"{d.day}/{d.month}",
    lambda d: f"{d.day:02d}/{d.month:02d}",
    lambda d: f"{d.day}-{d.month}",
    lambda d: f"{d.day}.{d.month}",
    lambda d: f"{d.day} tháng {d.month}",
]
BOLD = [
    lambda kw, dt: f"{kw} {dt}",
    lambda kw, dt: f"{kw} **{dt}**",
    lambda kw, dt: f"**{kw} {dt}**",
    lambda kw, dt: f"**{kw} {dt}.**",
    lambda kw, dt: f"**{kw}** {dt}",
    lambda kw, dt: f"*{kw} {dt}*",
    lambda kw, dt: f"{kw} *{dt}*",
]
CONTEXTS = [
    ("", ""),
    ("Gửi báo cáo về UBND huyện (qua phòng Nội vụ) ", " để tổng hợp."),
    ("Hoàn thành\n", ";"),
]


@st.composite
def phrases(draw: st.DrawFn, day: date, forms: list) -> tuple[str, str]:
    """(whole text, keyword kind) for one rendering of ``day``."""
    keyword, kind, needs_ngay = draw(st.sampled_from(KEYWORDS))
    date_text = draw(st.sampled_from(forms))(day)
    if needs_ngay or draw(st.booleans()):
        date_text = draw(st.sampled_from(["ngày", "Ngày", "ngay"])) + " " + date_text
    body = draw(st.sampled_from(BOLD))(keyword, date_text)
    before, after = draw(st.sampled_from(CONTEXTS))
    return before + body + after, kind


def expected_due(day: date, kind: str) -> date:
    return day - timedelta(days=1) if kind == "before" else day


def assert_phrase_maps_back(text: str, deadline: Deadline) -> None:
    assert clean(text[deadline.start : deadline.end]) == deadline.phrase
    assert text[deadline.end - 1].isdigit()


@given(data=st.data(), day=st.dates(min_value=date(1950, 1, 2), max_value=date(2100, 12, 31)))
def test_property_any_dated_rendering(data: st.DataObject, day: date) -> None:
    text, kind = data.draw(phrases(day, DATED_FORMS))
    deadline = parse_deadline(text, date(2000, 1, 1))
    assert deadline.kind == kind
    assert deadline.due_at == end_of(expected_due(day, kind))
    assert_phrase_maps_back(text, deadline)
    assert find_deadlines(text, date(2000, 1, 1)) == [deadline]


@given(
    data=st.data(),
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)),
    reference=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
)
def test_property_year_less_rendering_is_first_match_on_or_after_reference(
    data: st.DataObject, day: date, reference: date
) -> None:
    assume((day.month, day.day) != (2, 29))
    text, kind = data.draw(phrases(day, YEARLESS_FORMS))
    deadline = parse_deadline(text, reference)
    assert deadline.kind == kind
    written = deadline.due_date + timedelta(days=1) if kind == "before" else deadline.due_date
    assert (written.month, written.day) == (day.month, day.day)
    assert reference <= written < reference + timedelta(days=366)
    assert all(
        date(y, day.month, day.day) < reference for y in range(reference.year, written.year)
    )
    assert deadline.due_at == end_of(deadline.due_date)
    assert_phrase_maps_back(text, deadline)


@given(day=st.dates(min_value=date(1950, 1, 1), max_value=date(2100, 12, 31)), form=st.sampled_from(DATED_FORMS))
def test_property_document_references_are_not_deadlines(day: date, form) -> None:
    text = f"Thực hiện Công văn số 527/UBND-NV ngày {form(day)} của UBND huyện về việc báo cáo."
    assert find_deadlines(text, date(2000, 1, 1)) == []


@given(
    month=st.integers(min_value=1, max_value=12),
    year=st.one_of(st.none(), st.integers(min_value=1950, max_value=2100)),
    reference=st.dates(min_value=date(1950, 1, 1), max_value=date(2099, 12, 31)),
    style=st.sampled_from(["{m}/{y}", "{m} năm {y}", "{m:02d}/{y}"]),
)
def test_property_month_is_last_day_of_that_month(month: int, year: int | None, reference: date, style: str) -> None:
    written = f"trong tháng {month}" if year is None else "trong tháng " + style.format(m=month, y=year)
    deadline = parse_deadline(written, reference)
    due = deadline.due_date
    assert deadline.kind == "month" and due.month == month
    assert (due + timedelta(days=1)).day == 1
    if year is None:
        assert date(reference.year, reference.month, 1) <= due < date(reference.year + 1, reference.month, 1)
    else:
        assert due.year == year


# --- a time of day ---------------------------------------------------------------------------------


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=VN_TZ)


@pytest.mark.parametrize(
    "text, due_at, kind, phrase",
    [
        # the three letters: "trước 14 giờ ngày X" is 14:00 ON X, not the day before
        ("gửi về Văn phòng UBND tỉnh trước 14 giờ, ngày 05/12/2017 để tổng hợp", at(2017, 12, 5, 14), "before",
         "trước 14 giờ, ngày 05/12/2017"),
        ("trước 17h00 ngày 05/12/2017", at(2017, 12, 5, 17), "before", "trước 17h00 ngày 05/12/2017"),
        ("chậm nhất 16 giờ 00 ngày 05/12/2017", at(2017, 12, 5, 16), "by", "chậm nhất 16 giờ 00 ngày 05/12/2017"),
        ("trước 14h ngày 06/12/2024", at(2024, 12, 6, 14), "before", "trước 14h ngày 06/12/2024"),
        ("hạn chót 10h30 ngày 30/9/2025.", at(2025, 9, 30, 10, 30), "by", "hạn chót 10h30 ngày 30/9/2025"),
        ("trước 14g30 ngày 30/9/2025", at(2025, 9, 30, 14, 30), "before", "trước 14g30 ngày 30/9/2025"),
        ("Hạn: 14 giờ 30 phút ngày 20/11/2024", at(2024, 11, 20, 14, 30), "by", "Hạn: 14 giờ 30 phút ngày 20/11/2024"),
        ("chậm nhất lúc 8 giờ ngày 20 tháng 11 năm 2024", at(2024, 11, 20, 8), "by",
         "chậm nhất lúc 8 giờ ngày 20 tháng 11 năm 2024"),
        # after the day
        ("chậm nhất ngày 06/10/2025, 14 giờ 30 phút.", at(2025, 10, 6, 14, 30), "by",
         "chậm nhất ngày 06/10/2025, 14 giờ 30 phút"),
        ("trước ngày 20/11/2024 lúc 9 giờ", at(2024, 11, 20, 9), "before", "trước ngày 20/11/2024 lúc 9 giờ"),
        ("hạn 20/11 vào lúc 16h00", at(2024, 11, 20, 16), "by", "hạn 20/11 vào lúc 16h00"),
        # no year: still the next such day on or after the reference
        ("trước 17 giờ ngày 10/12", at(2024, 12, 10, 17), "before", "trước 17 giờ ngày 10/12"),
        # "24 giờ" is the end of that day; "chậm nhất trước ngày" is "trước ngày"
        ("hạn 24 giờ ngày 05/12/2024", datetime(2024, 12, 5, 23, 59, 59, tzinfo=VN_TZ), "by", "hạn 24 giờ ngày 05/12/2024"),
        ("chậm nhất trước ngày 31 tháng 12 hàng năm", datetime(2024, 12, 30, 23, 59, 59, tzinfo=VN_TZ), "before",
         "chậm nhất trước ngày 31 tháng 12"),
    ],
)
def test_a_time_of_day(text: str, due_at: datetime, kind: str, phrase: str) -> None:
    [deadline] = find_deadlines(text, date(2024, 11, 1))
    assert (deadline.due_at, deadline.kind, deadline.phrase) == (due_at, kind, phrase)
    assert deadline.timed == (due_at.time() != datetime.max.time().replace(microsecond=0))
    assert text[deadline.start:deadline.end].replace("*", "") == phrase


@pytest.mark.parametrize("text", [
    "chậm nhất ngày 15/11/2024, 3 đơn vị chưa nộp",  # a count after the day is not a time
    "đến 14 học sinh",
    "đến 15 gói hồ sơ",
    "Hội nghị lúc 14 giờ ngày 05/12/2024 tại hội trường",  # a meeting time without a deadline keyword
])
def test_times_that_are_not_part_of_a_deadline(text: str) -> None:
    found = find_deadlines(text, date(2024, 11, 1))
    assert all(not d.timed for d in found)


def test_a_time_that_does_not_exist_is_reported() -> None:
    with pytest.raises(DeadlineError, match=r"^Giờ 25:00 không có thật\.$"):
        find_deadlines("trước 25 giờ ngày 05/12/2017", REF)
    with pytest.raises(DeadlineError, match=r"^Giờ 14:75 không có thật\.$"):
        parse_deadline("14h75 ngày 05/12/2017", REF)


def test_a_bare_day_with_a_time_is_a_deadline() -> None:
    deadline = parse_deadline("14 giờ ngày 05/12/2017", REF)
    assert (deadline.due_at, deadline.kind, deadline.timed) == (at(2017, 12, 5, 14), "by", True)


@given(
    day=st.dates(min_value=date(1950, 1, 2), max_value=date(2100, 12, 31)),
    hour=st.integers(min_value=0, max_value=23),
    minute=st.integers(min_value=0, max_value=59),
    keyword=st.sampled_from(["trước", "chậm nhất", "hạn chót", "Chậm nhất là"]),
    form=st.sampled_from(["{h} giờ {m:02d} phút, ngày {d}", "{h}h{m:02d} ngày {d}", "{h} giờ {m:02d} ngày {d}",
                          "ngày {d}, {h} giờ {m:02d} phút", "ngày {d} lúc {h}h{m:02d}"]),
)
def test_property_a_written_time_is_the_due_instant(day: date, hour: int, minute: int, keyword: str, form: str) -> None:
    text = f"{keyword} " + form.format(h=hour, m=minute, d=f"{day.day}/{day.month}/{day.year}")
    deadline = parse_deadline(text, date(2000, 1, 1))
    assert deadline.due_at == at(day.year, day.month, day.day, hour, minute)
    assert deadline.phrase == text


def test_a_period_with_times_of_day_is_not_a_deadline() -> None:
    text = "Thẩm định từ 8 giờ ngày 15/12/2024 đến 17h ngày 19/12/2024 tại Phòng Nội vụ."
    assert find_deadlines(text, REF) == []
    [deadline] = find_deadlines("Gửi hồ sơ đến 17h ngày 19/12/2024.", REF)
    assert deadline.due_at == at(2024, 12, 19, 17)
