"""Stage ``handlers.letters.items``: paragraphs, numbered items, sub-items, time sections."""

from __future__ import annotations

from handlers.letters.items import _is_time_section, _items, _marker, _paragraphs


def test_markers() -> None:
    assert _marker("1. Phòng Nội vụ")[:2] == ("item", "1")
    assert _marker("1.2. Nội dung")[:2] == ("sub", "1.2")
    assert _marker("II. NHIỆM VỤ")[:2] == ("roman", "II")
    assert _marker("a) Báo cáo")[:2] == ("sub", "a")
    assert _marker("– Đối với các sở: Hướng dẫn tại Phụ lục I;")[:2] == ("bullet", "–")
    assert _marker("Phòng Nội vụ")[0] == "plain"


def test_a_lower_case_line_after_a_blank_continues_the_paragraph() -> None:
    paras = _paragraphs(["1. Phòng Nội vụ báo cáo kết quả", "", "chấm điểm trước ngày 20/11.", "", "2. Khác"])
    assert [p.text for p in paras] == ["Phòng Nội vụ báo cáo kết quả chấm điểm trước ngày 20/11.", "Khác"]


def test_items_and_context_and_time_sections() -> None:
    paras = _paragraphs(["Đề nghị các đơn vị:", "", "1. Nội dung", "- Đối với xã: Phụ lục I;", "",
                         "2. Thời gian gửi báo cáo", "", "Trước ngày 20/11/2024."])
    items = _items(paras)
    assert [(i.label, i.kind, len(i.paras)) for i in items] == [(None, "context", 1), ("1", "numbered", 2),
                                                               ("2", "numbered", 2)]
    assert [_is_time_section(i) for i in items] == [False, False, True]
