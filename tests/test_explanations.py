"""Explanations (giải trình): an overdue unit explains; a leader accepts (excused), sets a new deadline
(an extension: the ladder re-arms) or refuses with a note; the digest lists the units that have not explained."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

import pytest
from sqlmodel import select

from bot.demo import load_demo
from handlers.chat import Incoming, IncomingFile
from handlers.explanations import ask_overdue_units, digest_lines
from schedules.calendar import WorkCalendar
from schedules.clock import FixedClock
from schedules.ladder import DEFAULT_LADDER, due_reminders
from storage import explanations as xp
from storage.filestore import EvidenceStore
from storage.models import Assignment, Explanation, ExtensionRequest, OutboxMessage, StatusEvent
from tests.conftest import VN, vn
from tests.pdf_factory import make_pdf
from tests.test_extensions import AN, NOW, VINH, HUONG, Office

BICH = "Nguyễn Thị Bích"  # officer, VINHTHAI
VAN = "Phạm Thị Vân"  # officer, BENQUAN
LATE = vn(2026, 12, 7, 9, 0)  # Monday after the PAR task's due day (Friday 04/12/2026)


@dataclass
class FakeReport:
    ok: bool = True
    pages: int = 3
    error: str | None = None


class FakeInspector:
    async def inspect(self, data: bytes) -> FakeReport:
        return FakeReport() if data.startswith(b"%PDF") else FakeReport(ok=False, pages=0, error="không phải PDF")


@pytest.fixture
async def office(db, tmp_path):
    await load_demo(db, now=NOW, tz=VN)
    office = Office(db, FixedClock(NOW))
    await office.bind_everyone()
    office.conversation.ctx.store = EvidenceStore(tmp_path / "evidence")
    office.conversation.ctx.inspector = FakeInspector()
    return office


async def outbox_to(office: Office, name: str) -> list[dict]:
    async with office.db.session() as session:
        rows = (await session.exec(select(OutboxMessage).where(OutboxMessage.person_id == office.ids[name])
                                   .order_by(OutboxMessage.id))).all()
    return [row.payload for row in rows]


async def events(office: Office, assignment_id: int) -> list[str]:
    async with office.db.session() as session:
        rows = (await session.exec(select(StatusEvent).where(StatusEvent.assignment_id == assignment_id)
                                   .order_by(StatusEvent.id))).all()
    return [row.kind if row.kind != "status" else f"status:{row.to_status}" for row in rows]


async def explanation_count(office: Office) -> int:
    async with office.db.session() as session:
        return len((await session.exec(select(Explanation))).all())


async def test_bad_input_changes_nothing(office) -> None:
    reply = await office.say(AN, "/giaitrinh Chờ số liệu")
    assert "không có nhiệm vụ nào quá hạn" in reply[0].text  # not overdue yet
    office.clock.set(LATE)
    empty = await office.say(AN, "/giaitrinh")
    assert "cần có nội dung" in empty[0].text
    task_id = (await office.assignment("HOXA")).task_id
    blank = await office.say(AN, f"/giaitrinh #{task_id}   ")
    assert "cần có nội dung" in blank[0].text
    unknown = await office.say(AN, "/giaitrinh #999 lý do")
    assert "Không có nhiệm vụ #999" in unknown[0].text
    assert await explanation_count(office) == 0


def move(office: Office, at) -> None:
    office.clock.set(at)


async def test_accepted_explanation_excuses_the_unit(office) -> None:
    move(office, LATE)
    assignment = await office.assignment("HOXA")
    receipt = await office.say(AN, "/giaitrinh Chờ số liệu của các thôn, đã báo cáo miệng")
    assert "Đã gửi giải trình số" in receipt[0].text
    again = await office.say(AN, "/giaitrinh thêm lần nữa")
    assert "đang chờ" in again[0].text and await explanation_count(office) == 1
    card = (await outbox_to(office, VINH))[-1]
    assert "Giải trình số" in card["text"] and "Thị trấn Hồ Xá" in card["text"]
    explanation_id = int(next(b["choice"] for row in card["buttons"] for b in row
                              if b["choice"].startswith("explok:")).split(":")[1])
    listed = await office.say(VINH, "/giaitrinh")
    assert "1 giải trình đang chờ" in listed[0].text and listed[1].buttons
    viewer = await office.say(HUONG, "/giaitrinh")  # a coordinator sees, without the buttons
    assert len(viewer) == 2 and not viewer[1].buttons
    forbidden = await office.press(HUONG, f"explok:{explanation_id}")  # only a leader decides
    assert "không được" in forbidden[0].text
    done = await office.press(VINH, f"explok:{explanation_id}")
    assert "Đã chấp nhận" in done[0].text
    twice = await office.press(VINH, f"explok:{explanation_id}")
    assert "đã được xử lý" in twice[0].text
    async with office.db.session() as session:
        assert (await session.get(Assignment, assignment.id)).status == "excused"
    assert await events(office, assignment.id) == ["assigned", "explanation_submitted", "status:excused"]
    assert any("chấp nhận giải trình" in p["text"] for p in await outbox_to(office, AN))


async def test_a_new_deadline_is_an_extension_and_rearms_the_ladder(office) -> None:
    move(office, LATE)
    assignment = await office.assignment("VINHTHAI")
    await office.say(BICH, "/giaitrinh Đang chờ Sở Tài chính cấp số liệu")
    async with office.db.session() as session:
        explanation = (await session.exec(select(Explanation))).one()
    ask = await office.press(VINH, f"explext:{explanation.id}")
    assert "Hạn mới" in ask[0].text
    bad = await office.say(VINH, "31/02/2027")
    assert bad[0].buttons  # a date that does not exist: asked again, nothing changed
    past = await office.say(VINH, "01/12/2026")
    assert "phải sau hôm nay" in past[0].text
    ok = await office.say(VINH, "chậm nhất ngày 15/12/2026")
    assert "hạn mới" in ok[0].text and "15/12/2026" in ok[0].text
    async with office.db.session() as session:
        row = await session.get(Assignment, assignment.id)
        assert row.due_at_override == vn(2026, 12, 15, 23, 59, 59) and row.rearmed_at == LATE
        assert row.status == "pending"
        explanation = await session.get(Explanation, explanation.id)
        request = await session.get(ExtensionRequest, explanation.extension_id)
        assert explanation.status == "extended" and request.status == "approved"
        assert request.reason.startswith(f"Giải trình số {explanation.id}")
    assert await events(office, assignment.id) == ["assigned", "explanation_submitted", "extension_requested",
                                                   "extension_approved"]
    # The ladder starts again from the new due day: "tomorrow" fires on Monday 14/12.
    from schedules.ladder import AssignmentView

    view = AssignmentView(row.id, row.task_id, row.unit_id, "pending", 0, row.due_at_override, row.created_at, LATE)
    fired = due_reminders([view], vn(2026, 12, 14, 7, 31), WorkCalendar(), DEFAULT_LADDER, VN, (time(21), time(7)))
    assert [r.rung.name for r in fired] == ["tomorrow"]


async def test_refused_with_a_note_and_listed_again_as_not_explained(office) -> None:
    move(office, LATE)
    assignment = await office.assignment("BENQUAN")
    several = await office.say(VAN, "/giaitrinh Cán bộ nghỉ ốm")
    assert "2 nhiệm vụ quá hạn; ghi rõ số nhiệm vụ" in several[0].text and await explanation_count(office) == 0
    asked = await office.say(VAN, f"/giaitrinh #{assignment.task_id} Cán bộ nghỉ ốm")
    assert "Đã gửi giải trình" in asked[0].text, asked[0].text
    async with office.db.session() as session:
        explanation = (await session.exec(select(Explanation))).one()
        missing = {row.assignment_id for row in await xp.overdue_without_explanation(session, LATE)}
        assert assignment.id not in missing
    await office.press(VINH, f"explno:{explanation.id}")
    short = await office.say(VINH, "k")
    assert "lý do" in short[0].text
    done = await office.say(VINH, "Không đủ căn cứ, đề nghị nộp ngay")
    assert "Đã không chấp nhận" in done[0].text
    async with office.db.session() as session:
        explanation = await session.get(Explanation, explanation.id)
        assert (explanation.status, explanation.decision_note) == ("refused", "Không đủ căn cứ, đề nghị nộp ngay")
        assert (await session.get(Assignment, assignment.id)).status == "pending"
        assert assignment.id in {row.assignment_id for row in await xp.overdue_without_explanation(session, LATE)}
    assert "explanation_refused" in await events(office, assignment.id)
    assert any("không chấp nhận" in p["text"] and "Không đủ căn cứ" in p["text"] for p in await outbox_to(office, VAN))


async def test_overdue_units_are_asked_once_and_the_digest_lists_them(office) -> None:
    move(office, LATE)
    async with office.db.session() as session:
        first = await ask_overdue_units(session, now=LATE, tz=VN, calendar=WorkCalendar())
    async with office.db.session() as session:
        second = await ask_overdue_units(session, now=LATE, tz=VN, calendar=WorkCalendar())
        saturday = await ask_overdue_units(session, now=vn(2026, 12, 5, 9), tz=VN, calendar=WorkCalendar())
    assert first > 0 and second == 0 and saturday == 0
    async with office.db.session() as session:  # the next working day: the scan runs again, no one twice
        await ask_overdue_units(session, now=vn(2026, 12, 8, 9), tz=VN, calendar=WorkCalendar())
    asked = [p["text"] for p in await outbox_to(office, AN)]
    assert len(asked) == 1 and "/giaitrinh #" in asked[0]
    await office.say(AN, "/giaitrinh Chờ số liệu")
    async with office.db.session() as session:
        lines = "\n".join(await digest_lines(session, now=LATE, tz=VN))
    assert "1 chờ quyết định" in lines and "chờ: Thị trấn Hồ Xá" in lines
    assert "chưa giải trình: " in lines and "chưa giải trình: Thị trấn Hồ Xá" not in lines
    from handlers.digest import build_digest

    async with office.db.session() as session:
        digest = await build_digest(session, now=LATE, tz=VN, calendar=WorkCalendar(), since=None)
    assert "📝 GIẢI TRÌNH: 1 chờ quyết định" in digest.text
    assert digest.text.index("📝 GIẢI TRÌNH") < digest.text.index("📎 Kèm biểu đồ")  # before the footer


async def test_a_unit_with_several_overdue_tasks_is_asked_in_one_message_and_a_late_joiner_then(db, tmp_path) -> None:
    """One ask per unit and day, listing its overdue tasks (one message a morning per person); a unit nobody of
    which has joined is not recorded as asked, and is asked once someone joins."""
    from handlers.explanations import EXPLAIN_RUNG
    from storage.models import ChannelIdentity, Person, ReminderSent

    await load_demo(db, now=NOW, tz=VN)
    office = Office(db, FixedClock(LATE))
    await office.bind_everyone()
    async with db.session() as session:  # Thị trấn Hồ Xá has not joined yet
        for identity in (await session.exec(select(ChannelIdentity).join(Person).where(
                Person.name.in_([AN, "Trần Văn Quang"])))).all():
            identity.person_id = office.ids[VINH]  # (moved aside: the unit's people have no chat)
            session.add(identity)
    async with db.session() as session:
        asked = await ask_overdue_units(session, now=LATE, tz=VN, calendar=WorkCalendar())
    assert asked > 0
    van = [p["text"] for p in await outbox_to(office, VAN)]
    assert len(van) == 1 and "Hồ Xá" not in van[0]
    assert "có 2 nhiệm vụ đã quá hạn mà chưa nộp" in van[0] and van[0].count("\n• #") == 2
    assert "/giaitrinh #SỐ" in van[0]
    async with db.session() as session:
        recorded = (await session.exec(select(ReminderSent).where(ReminderSent.rung == EXPLAIN_RUNG))).all()
        hoxa = (await office.assignment("HOXA")).id
    assert recorded and hoxa not in {r.assignment_id for r in recorded}
    await office.bind_everyone()  # Hồ Xá joins; the next working day it is asked, the others are not again
    async with db.session() as session:
        await ask_overdue_units(session, now=vn(2026, 12, 8, 9), tz=VN, calendar=WorkCalendar())
    assert len(await outbox_to(office, VAN)) == 1
    an = [p["text"] for p in await outbox_to(office, AN)]
    assert len(an) == 1 and "Thị trấn Hồ Xá chưa nộp" in an[0]


async def test_the_morning_reminder_carries_the_ask_so_the_unit_gets_one_message(office) -> None:
    """The day after a deadline the ladder's 07:30 reminder says how to explain; the 09:00 ask does not send a
    second message for the same task (it is recorded as asked)."""
    from handlers.reminders import queue_reminders
    from tests.test_campaign import CONFIG

    morning = vn(2026, 12, 7, 7, 30)  # Monday; the PAR task was due Friday 04/12
    await queue_reminders(office.db, morning, CONFIG)
    reminders = [p["text"] for p in await outbox_to(office, AN)]
    assert len(reminders) == 1 and "/giaitrinh" in reminders[0], reminders
    async with office.db.session() as session:
        await ask_overdue_units(session, now=LATE, tz=VN, calendar=WorkCalendar())
    assert [p["text"] for p in await outbox_to(office, AN)] == reminders  # no second message
    async with office.db.session() as session:  # asked all the same: not asked again tomorrow
        await ask_overdue_units(session, now=vn(2026, 12, 8, 9), tz=VN, calendar=WorkCalendar())
    assert [p["text"] for p in await outbox_to(office, AN)] == reminders


async def test_a_pdf_captioned_giai_trinh_is_attached(office) -> None:
    move(office, LATE)
    await office.say(AN, "/giaitrinh Chờ số liệu")
    data = make_pdf(1, "giai trinh")

    async def fetch() -> bytes:
        return data

    sender = office.sender(AN)
    reply = await office.conversation.handle(Incoming(sender=sender, text="Giải trình", file=IncomingFile(
        "giai-trinh.pdf", len(data), "application/pdf", fetch)))
    assert "Đã đính kèm giai-trinh.pdf" in reply[0].text
    async with office.db.session() as session:
        explanation = (await session.exec(select(Explanation))).one()
        assert explanation.file_name == "giai-trinh.pdf" and explanation.pages == 3
    second = await office.conversation.handle(Incoming(sender=sender, text="giải trình", file=IncomingFile(
        "khac.pdf", len(data), "application/pdf", fetch)))
    assert "đã có tệp kèm" in second[0].text
    sent = await office.press(VINH, f"explfile:{explanation.id}")
    assert sent[0].document.data == data and sent[0].document.mime_type == "application/pdf"
