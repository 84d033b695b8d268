"""Stage ``handlers.letters.drafting``: who gets a task, its lead, and which bullets are not tasks."""

from __future__ import annotations

from datetime import date, datetime

from handlers.letters.drafting import NO_DEADLINE, _is_description
from tests.test_letters import CQCM, REFS, XA, extract

HEADER = """Số: 12/UBND-NV
Vĩnh Linh, ngày 02 tháng 12 năm 2024
V/v báo cáo

Kính gửi:
{recipients}

"""


def letter(body: str, recipients: str = "- Phòng Nội vụ;\n- Phòng Tư pháp.") -> str:
    return HEADER.format(recipients=recipients) + body + "\n\nNơi nhận:\n- Như trên."


def test_generic_words_mean_the_recipients() -> None:
    [task] = extract(letter("1. Các cơ quan, đơn vị báo cáo trước ngày 10/12/2024.")).tasks
    assert task.units == ("NV", "TP")


def test_recipients_outside_the_roster_are_listed_and_nobody_is_assigned() -> None:
    draft = extract(letter("1. Các sở, ban, ngành báo cáo trước ngày 10/12/2024.",
                           "- Sở Tài chính;\n- Sở Tài nguyên và Môi trường."))
    [task] = draft.tasks
    assert task.units == () and not task.ready
    assert task.unmatched_names == ("Sở Tài chính", "Sở Tài nguyên và Môi trường")
    assert draft.unmatched_names == ("Sở Tài chính", "Sở Tài nguyên và Môi trường")


def test_the_collecting_office_is_not_an_assignee() -> None:
    [task] = extract(letter("1. Các cơ quan chuyên môn báo cáo, gửi về Phòng Nội vụ trước 14 giờ ngày 10/12/2024.")).tasks
    assert set(task.units) == CQCM - {"NV"}
    assert task.due_at == datetime(2024, 12, 10, 14, 0, tzinfo=task.due_at.tzinfo)
    [task] = extract(letter("1. Lập hồ sơ gửi về Phòng Nội vụ trước ngày 10/12/2024.",
                            "UBND các xã, thị trấn.")).tasks
    assert set(task.units) == XA


def test_a_single_named_unit_is_the_lead() -> None:
    tasks = extract(letter("1. Giao Phòng Tài chính - Kế hoạch báo cáo dự toán trước ngày 10/12/2024.\n\n"
                           "2. Phòng Văn hóa và Thông tin hướng dẫn các xã; báo cáo kết quả hạn chót ngày "
                           "20/12/2024.")).tasks
    assert [(t.units, t.lead) for t in tasks] == [(("TCKH",), "TCKH"), (("VHTT",), "VHTT")]


def test_description_bullets_are_not_tasks() -> None:
    assert _is_description("Đối với các sở, ban, ngành: Hướng dẫn tại Phụ lục I;")
    assert _is_description("Đối với UBND các huyện, thị xã, thành phố: theo mẫu tại Phụ lục II.")
    assert not _is_description("Đối với các xã: tổ chức kiểm tra, báo cáo theo Phụ lục I trước ngày 10/12.")
    draft = extract(letter("1. Nội dung báo cáo:\n\n– Đối với các cơ quan chuyên môn: Hướng dẫn tại Phụ lục I;\n\n"
                           "– Đối với UBND các xã, thị trấn: Hướng dẫn tại Phụ lục II.\n\n"
                           "2. Thời gian: Các cơ quan, đơn vị gửi báo cáo chậm nhất ngày 15/12/2024."))
    assert [(t.item, t.problem) for t in draft.tasks] == [("2", None)]


def test_items_under_a_lead_in_that_names_who_must_act() -> None:
    draft = extract(letter("UBND huyện đề nghị Phòng Nội vụ, Phòng Tư pháp:\n\n1. Rà soát thủ tục hành chính.\n\n"
                           "2. Báo cáo kết quả trước ngày 20/12/2024."))
    assert [(t.item, t.units, t.problem) for t in draft.tasks] == [
        ("1", ("NV", "TP"), NO_DEADLINE), ("2", ("NV", "TP"), None)]


def test_the_year_of_the_issuing_sentence_for_deadlines_without_one() -> None:
    text = ("Ngày 23/11/2017, Sở Nội vụ ban hành Công văn số 1500/SNV-CCHC về việc báo cáo. Theo đó, Phòng Nội vụ "
            "báo cáo chậm nhất trước ngày 31 tháng 12 hàng năm.")
    draft = extract(text, reference=date(2026, 11, 30), units=REFS)
    assert draft.reference == date(2017, 11, 23)
    assert draft.tasks[0].due_date == date(2017, 12, 30)
