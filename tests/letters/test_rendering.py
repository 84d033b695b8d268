"""Stage ``handlers.letters.rendering``: the draft as the coordinator reads it, deadlines with their time."""

from __future__ import annotations

from handlers.letters.rendering import render_draft
from tests.conftest import VN
from tests.test_letters import extract

LETTER = """Số: 5123/UBND-NC
Quảng Trị, ngày 28 tháng 11 năm 2017
V/v báo cáo

Kính gửi:
- Sở Tài chính;
- Phòng Nội vụ.

1. Các cơ quan, đơn vị báo cáo, gửi về Văn phòng UBND tỉnh trước 14 giờ, ngày 05/12/2017.

2. Phòng Nội vụ tổng hợp, báo cáo chậm nhất ngày 08/12/2017.
"""


def test_a_deadline_with_a_time_of_day_is_shown_with_it() -> None:
    text = render_draft(extract(LETTER), VN)
    assert "Hạn: «trước 14 giờ, ngày 05/12/2017» (14h00 thứ Ba 05/12/2017)" in text
    assert "Hạn: «chậm nhất ngày 08/12/2017» (hết ngày thứ Sáu 08/12/2017)" in text


def test_recipients_outside_the_roster_are_shown_for_the_coordinator() -> None:
    text = render_draft(extract(LETTER), VN)
    assert "⚠️ không khớp đơn vị: Sở Tài chính" in text
    assert "Chủ trì: Phòng Nội vụ" in text
