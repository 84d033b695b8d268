"""Stage ``handlers.letters.header``: number, date, subject, recipients; a title line; the issuing sentence."""

from __future__ import annotations

from datetime import date

import pytest

from handlers.letters.header import _header
from handlers.letters.text import _flat


def header(text: str):
    return _header(text.split("\n"))


def test_a_header_with_number_date_subject_and_recipients() -> None:
    head = header("Số: 2146/UBND-NV\nVĩnh Linh, ngày 20 tháng 11 năm 2024\nV/v báo cáo\nkết quả\n\n"
                  "Kính gửi:\n- Phòng Nội vụ;\n- UBND các xã, thị trấn.\n\n1. Nội dung")
    assert (head.number, head.date, head.place) == ("2146/UBND-NV", date(2024, 11, 20), "Vĩnh Linh")
    assert head.subject == "V/v báo cáo kết quả"
    assert head.recipients == ["Phòng Nội vụ", "UBND các xã, thị trấn"]
    assert head.body_start == 8


def test_a_blank_number_and_day_keep_their_hints() -> None:
    head = header("Số: /UBND-NV\nVĩnh Linh, ngày   tháng 11 năm 2024")
    assert (head.number, head.number_hint, head.date, head.date_hint) == (None, "/UBND-NV", None, "tháng 11/2024")


@pytest.mark.parametrize("line, number, day, subject", [
    ("Công văn số 972/SNV-CCHC ngày 18/7/2018 V/v báo cáo kết quả thực hiện Đề án 30",
     "972/SNV-CCHC", date(2018, 7, 18), "V/v báo cáo kết quả thực hiện Đề án 30"),
    ("Kế hoạch số 45/KH-UBND, ngày 03 tháng 02 năm 2025 về cải cách hành chính",
     "45/KH-UBND", date(2025, 2, 3), "về cải cách hành chính"),
])
def test_number_and_date_from_a_title_line(line: str, number: str, day: date, subject: str) -> None:
    head = header(f"{line}\n\nKính gửi: UBND các huyện.\n\nNội dung.")
    assert (head.number, head.date, head.subject) == (number, day, subject)


def test_number_and_date_from_the_sentence_issuing_the_letter() -> None:
    head = header("Sở Nội vụ hướng dẫn báo cáo\n\nNgày 23/11/2017, Sở Nội vụ ban hành Công văn số 1500/SNV-CCHC "
                  "về việc hướng dẫn báo cáo công tác cải cách hành chính năm 2017.")
    assert (head.number, head.date) == ("1500/SNV-CCHC", date(2017, 11, 23))


def test_a_header_date_wins_over_a_sentence_about_another_letter() -> None:
    head = header("Số: 1620/SNV-CCHC\nQuảng Trị, ngày 04 tháng 12 năm 2017\n\nKính gửi: Sở Tài chính.\n\n"
                  "Ngày 20/11/2017, UBND tỉnh ban hành Công văn số 4512/UBND-NC về việc …")
    assert (head.number, head.date) == ("1620/SNV-CCHC", date(2017, 12, 4))


def test_a_reference_to_another_letter_is_not_the_letters_date() -> None:
    head = header("Thực hiện Công văn số 527/UBND-NV ngày 20/3/2024 của UBND huyện, đề nghị các đơn vị báo cáo.")
    assert (head.number, head.date) == (None, None)


def test_a_day_that_does_not_exist_in_the_issuing_sentence_is_ignored() -> None:
    assert header("Ngày 31/02/2017, Sở Nội vụ ban hành Công văn số 15/SNV.").date is None
    assert _flat("Ngày") == "ngay"
