"""Stage ``handlers.letters.units``: names, groups and roles of the units a text mentions."""

from __future__ import annotations

import pytest

from handlers.letters.units import DEFAULT_GROUP_WORDS, _Lexicon
from tests.test_letters import REFS, XA

LEXICON = _Lexicon(REFS, DEFAULT_GROUP_WORDS)


def mentions(text: str) -> list[tuple[str, str, str]]:
    return [(m.text, m.kind, m.role) for m in LEXICON.zone(text).mentions]


@pytest.mark.parametrize("text", [
    "Cấp xã hoàn thành và báo cáo kết quả",
    "UBND cấp xã báo cáo kết quả",
    "Các xã, phường, thị trấn báo cáo kết quả",
    "UBND các xã, thị trấn báo cáo kết quả",
])
def test_words_for_the_communes(text: str) -> None:
    assert set(LEXICON.zone(text).assignees) == XA


@pytest.mark.parametrize("text, role", [
    ("lập hồ sơ gửi về Phòng Văn hóa và Thông tin trước ngày 15/4/2025", "collector"),
    ("Hồ sơ gửi về: Phòng Văn hóa và Thông tin", "collector"),
    ("nộp về Phòng Nội vụ", "collector"),
    ("gửi về UBND huyện (qua Phòng Nội vụ)", "other"),  # a mailbox, not the collector
    ("Phòng Văn hóa và Thông tin đề nghị UBND các xã", "other"),  # who asks
    ("Riêng Phòng Nội vụ báo cáo", "assignee"),
])
def test_the_role_of_a_named_unit(text: str, role: str) -> None:
    assert [r for t, _k, r in mentions(text) if "Phòng" in t] == [role]


@pytest.mark.parametrize("text, name", [
    ("Sở Tài nguyên và Môi trường rà soát thủ tục", "Sở Tài nguyên và Môi trường"),
    ("Sở Kế hoạch và Đầu tư thẩm định", "Sở Kế hoạch và Đầu tư"),
    ("Sở Nội vụ trân trọng đề nghị", "Sở Nội vụ"),
    ("UBND tỉnh ban hành Công văn số 15", "UBND tỉnh"),
    ("phối hợp với Ủy ban MTTQ Việt Nam huyện và HĐND cấp xã tổ chức", "HĐND cấp xã"),
    ("Đoàn thanh niên huyện báo cáo", "Đoàn thanh niên huyện"),
])
def test_unknown_names_are_whole_names(text: str, name: str) -> None:
    assert name in [m.text for m in LEXICON.zone(text).mentions if m.kind == "unknown"]


def test_a_single_named_subject_and_a_heading_run_into_text() -> None:
    assert LEXICON.zone("Giao Phòng Tài chính - Kế hoạch báo cáo dự toán").single_named == "TCKH"
    assert LEXICON.zone("Phòng Văn hóa và Thông tin hướng dẫn các xã").single_named == "VHTT"
    assert LEXICON.zone("Phòng Kinh tế và Hạ tầng Hoàn thành báo cáo").single_named is None
    assert LEXICON.zone("Phòng Nội vụ, Phòng Tư pháp báo cáo").single_named is None
    assert LEXICON.zone("Các cơ quan chuyên môn báo cáo").single_named is None


def test_the_issuing_body_does_not_hide_generic_words() -> None:
    zone = LEXICON.zone("UBND huyện yêu cầu các cơ quan, đơn vị báo cáo")
    assert zone.only_generic and zone.assignees
