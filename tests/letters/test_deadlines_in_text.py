"""Stage ``handlers.letters.deadlines``: deadlines in a paragraph, their spans, the closing formula."""

from __future__ import annotations

from datetime import date

from handlers.letters.deadlines import _deadlines, _spans, _without_closing
from handlers.letters.items import _Para
from schedules.deadlines import VN_TZ


def test_spans_cut_after_each_deadlines_sentence() -> None:
    text = ("Phòng A báo cáo trước 14 giờ ngày 05/12/2024. Phòng B báo cáo chậm nhất 16h00 ngày 06/12/2024; "
            "Phòng C báo cáo hạn chót ngày 07/12/2024.")
    found, error = _deadlines(text, date(2024, 12, 1), VN_TZ)
    assert error is None
    assert [d.due_at.strftime("%d %H:%M") for d in found] == ["05 14:00", "06 16:00", "07 23:59"]
    assert [text[a:b].strip() for a, b in _spans(text, found)] == [
        "Phòng A báo cáo trước 14 giờ ngày 05/12/2024.", "Phòng B báo cáo chậm nhất 16h00 ngày 06/12/2024;",
        "Phòng C báo cáo hạn chót ngày 07/12/2024."]


def test_a_deadline_that_cannot_be_read_is_an_error_not_nothing() -> None:
    found, error = _deadlines("báo cáo trước 25 giờ ngày 05/12/2024", date(2024, 12, 1), VN_TZ)
    assert found == [] and error == "Giờ 25:00 không có thật."


def test_the_closing_formula_ends_the_body() -> None:
    paras = [_Para("item", "1", "Báo cáo trước ngày 05/12/2024."), _Para("plain", None, "Đề nghị thực hiện./."),
             _Para("plain", None, "Nơi nhận")]
    assert _without_closing(paras, date(2024, 12, 1), VN_TZ) == paras[:1]
