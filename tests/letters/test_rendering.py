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


def test_deadline_texts_with_and_without_a_time_of_day() -> None:
    from datetime import datetime

    from handlers.messages import timeliness
    from handlers.texts import deadline, due

    at_two = datetime(2017, 12, 5, 14, 0, tzinfo=VN)
    end = datetime(2017, 12, 5, 23, 59, 59, tzinfo=VN)
    assert deadline(at_two, VN) == "14h00 thứ Ba 05/12/2017"
    assert deadline(end, VN) == "hết ngày thứ Ba 05/12/2017"
    assert due("trước 14 giờ ngày 05/12/2017", at_two, VN) == "«trước 14 giờ ngày 05/12/2017» (14h00 thứ Ba 05/12/2017)"
    # a report at 15:00 on the day of a 14:00 deadline is late, though not by a whole day
    assert timeliness(datetime(2017, 12, 5, 15, 0, tzinfo=VN), at_two, VN) == "Nộp muộn (hạn 14h00 ngày 05/12/2017)."
    assert timeliness(datetime(2017, 12, 5, 13, 0, tzinfo=VN), at_two, VN) == "Nộp đúng hạn (hạn 14h00 ngày 05/12/2017)."
    assert timeliness(datetime(2017, 12, 7, 9, 0, tzinfo=VN), end, VN) == "Nộp muộn 2 ngày (hạn hết ngày 05/12/2017)."


def test_time_left_on_the_day_of_a_deadline_with_a_time() -> None:
    from datetime import datetime

    from handlers.texts import remaining
    from schedules.calendar import WorkCalendar

    calendar = WorkCalendar()
    at_two = datetime(2017, 12, 5, 14, 0, tzinfo=VN)
    assert remaining(at_two, datetime(2017, 12, 5, 9, 0, tzinfo=VN), VN, calendar) == "hạn cuối 14h00 hôm nay"
    assert remaining(at_two, datetime(2017, 12, 5, 15, 0, tzinfo=VN), VN, calendar) == "đã quá hạn"
    end = datetime(2017, 12, 5, 23, 59, 59, tzinfo=VN)
    assert remaining(end, datetime(2017, 12, 5, 9, 0, tzinfo=VN), VN, calendar) == "hạn cuối là hôm nay"
