"""Extension requests (gia hạn): a unit asks with a reason and a date, a leader approves or denies.

The flows run through ``Conversation.handle`` on the demo with a fixed clock; the storage rules run on
SQLite and PostgreSQL; one test drives the real aiogram bot against the fake Bot API.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.demo import load_demo
from handlers import extensions
from handlers.chat import Incoming, Reply, Sender
from handlers.conversation import Conversation, HandlerContext
from schedules.calendar import WorkCalendar
from schedules.clock import FixedClock
from storage import extensions as ext
from storage.models import (
    Assignment,
    AssignmentStatus,
    ExtensionRequest,
    OutboxMessage,
    Person,
    StatusEvent,
    Task,
    Unit,
)
from storage.queries import bind_identity, board, create_task
from storage.status import transition
from tests.conftest import VN, vn

NOW = vn(2026, 11, 23, 9, 0)  # a Monday; the demo's deadlines lie ahead
PAR_INDEX = 3  # the demo task every commune owes, due «chậm nhất ngày 04/12/2026»
OLD_DUE = vn(2026, 12, 4, 23, 59, 59)
NEW_DUE = vn(2026, 12, 11, 23, 59, 59)

AN = "Nguyễn Văn An"  # officer, Thị trấn Hồ Xá: exactly one open task (PAR_INDEX)
QUANG = "Trần Văn Quang"  # head, Thị trấn Hồ Xá
LAN = "Võ Thị Lan"  # officer, Văn phòng: five open tasks
NGOC_TP = "Ngô Thị Thu"  # officer, Phòng Tư pháp
VINH, MAI = "Lê Quang Vinh", "Hoàng Thị Mai"  # leaders
HUONG = "Nguyễn Thị Hương"  # coordinator


class Office:
    """The demo, a conversation with the extension flows registered, and everyone bound to the console."""

    def __init__(self, db, clock: FixedClock) -> None:
        self.db, self.clock = db, clock
        self.conversation = Conversation(HandlerContext(db=db, clock=clock, tz=VN, calendar=WorkCalendar()))
        extensions.register(self.conversation)
        extensions.register(self.conversation)  # idempotent: the lead may already call it
        self.ids: dict[str, int] = {}

    async def bind_everyone(self) -> None:
        async with self.db.session() as session:
            for person in (await session.exec(select(Person))).all():
                self.ids[person.name] = person.id
                await bind_identity(session, person, channel="console", external_id=str(person.id),
                                    chat_id=str(person.id), username=None, now=self.clock.now())

    def sender(self, name: str) -> Sender:
        pid = str(self.ids[name])
        return Sender("console", pid, pid, name=name)

    async def say(self, name: str, text: str) -> list[Reply]:
        return await self.conversation.handle(Incoming.from_text(self.sender(name), text))

    async def press(self, name: str, choice: str) -> list[Reply]:
        return await self.conversation.handle(Incoming(sender=self.sender(name), choice=choice))

    async def assignment(self, unit_code: str, task_index: int = PAR_INDEX) -> Assignment:
        async with self.db.session() as session:
            task = (await session.exec(select(Task).order_by(Task.id).offset(task_index).limit(1))).one()
            return (await session.exec(select(Assignment).join(Unit, Unit.id == Assignment.unit_id).where(
                Assignment.task_id == task.id, Unit.code == unit_code))).one()

    async def requests(self) -> list[ExtensionRequest]:
        async with self.db.session() as session:
            return list((await session.exec(select(ExtensionRequest).order_by(ExtensionRequest.id))).all())

    async def events(self, assignment_id: int, prefix: str = "extension") -> list[StatusEvent]:
        async with self.db.session() as session:
            return list((await session.exec(select(StatusEvent).where(
                StatusEvent.assignment_id == assignment_id, col(StatusEvent.kind).startswith(prefix))
                .order_by(StatusEvent.id))).all())

    async def outbox(self, name: str) -> list[OutboxMessage]:
        async with self.db.session() as session:
            return list((await session.exec(select(OutboxMessage).where(
                OutboxMessage.person_id == self.ids[name]).order_by(OutboxMessage.id))).all())


def text(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


def choices(replies: list[Reply]) -> list[str]:
    return [b.choice for r in replies for row in r.buttons for b in row]


def payload_choices(message: OutboxMessage) -> list[str]:
    return [b["choice"] for row in message.payload["buttons"] for b in row]


@pytest.fixture
async def office(sqlite_db) -> Office:
    await load_demo(sqlite_db, now=NOW, tz=VN)
    office = Office(sqlite_db, FixedClock(NOW))
    await office.bind_everyone()
    return office


async def ask(office: Office, name: str = AN, reason: str = "Chờ số liệu của các thôn",
              date: str = "chậm nhất ngày 11/12") -> list[Reply]:
    """The whole asking dialogue, step by step."""
    first = await office.say(name, "/extend")
    assert "lý do xin gia hạn" in text(first) and "cancel" in choices(first)
    second = await office.say(name, reason)
    assert "đến ngày nào" in text(second)
    return await office.say(name, date)


# --- the whole flow -----------------------------------------------------------------------------


async def test_request_reaches_the_leaders_and_approval_moves_the_units_due_date(office):
    assignment = await office.assignment("HOXA")
    first = await office.say(AN, "/extend")
    assert "Báo cáo kết quả thực hiện Bản cam kết số 07/CK-BCĐCCHC" in text(first)
    assert "Hạn hiện tại: hết ngày thứ Sáu 04/12/2026" in text(first)
    assert "đến ngày nào" in text(await office.say(AN, "Chờ số liệu của các thôn"))
    receipt = text(await office.say(AN, "chậm nhất ngày 11/12"))
    assert "✅ Đã gửi đề nghị gia hạn" in receipt
    assert "«chậm nhất ngày 11/12» (hết ngày thứ Sáu 11/12/2026)" in receipt
    assert "hạn vẫn là hết ngày thứ Sáu 04/12/2026" in receipt

    (request,) = await office.requests()
    assert (request.status, request.assignment_id) == ("pending", assignment.id)
    assert request.reason == "Chờ số liệu của các thôn"
    assert request.requested_due_at == NEW_DUE and request.requested_by_person_id == office.ids[AN]
    (logged,) = await office.events(assignment.id)
    assert logged.kind == "extension_requested" and logged.actor_person_id == office.ids[AN]
    assert "Chờ số liệu của các thôn" in logged.note and "11/12/2026" in logged.note and "04/12/2026" in logged.note

    for leader in (VINH, MAI):
        (card,) = await office.outbox(leader)
        assert "Thị trấn Hồ Xá" in card.payload["text"] and "Chờ số liệu của các thôn" in card.payload["text"]
        assert f"Người đề nghị: {AN}" in card.payload["text"]
        assert payload_choices(card) == [f"extapprove:{request.id}", f"extdeny:{request.id}"]
    assert await office.outbox(HUONG) == [] and await office.outbox(QUANG) == []

    office.clock.set(NOW + timedelta(hours=2))
    done = await office.press(VINH, f"extapprove:{request.id}")
    assert done[0].edit and "Đã đồng ý gia hạn" in done[0].text and "hết ngày thứ Sáu 11/12/2026" in done[0].text

    (request,) = await office.requests()
    assert request.status == "approved" and request.decided_by_person_id == office.ids[VINH]
    assert request.decided_at == NOW + timedelta(hours=2)
    moved = await office.assignment("HOXA")
    assert moved.due_at_override == NEW_DUE and moved.due_phrase_override == "chậm nhất ngày 11/12"
    assert moved.status == "pending"
    kinds = [e.kind for e in await office.events(assignment.id)]
    assert kinds == ["extension_requested", "extension_approved"]
    approved = (await office.events(assignment.id))[-1]
    assert "04/12/2026 → 11/12/2026" in approved.note and approved.actor_person_id == office.ids[VINH]

    for member in (AN, QUANG):
        (notice,) = await office.outbox(member)
        assert "đã đồng ý gia hạn" in notice.payload["text"] and "11/12/2026" in notice.payload["text"]
    (told,) = await office.outbox(HUONG)
    assert "Thị trấn Hồ Xá được gia hạn" in told.payload["text"]

    tasks = text(await office.say(AN, "/tasks"))
    assert "Hạn của đơn vị (đã gia hạn): 11/12/2026" in tasks

    # after the old due date the board counts Hồ Xá as on time, and a commune without an extension as overdue
    async with office.db.session() as session:
        (entry,) = await board(session, vn(2026, 12, 7, 9), task_id=assignment.task_id)
    states = {s.unit.code: s for s in entry.units}
    assert not states["HOXA"].overdue and states["HOXA"].due_at == NEW_DUE
    assert states["VINHTU"].overdue


async def test_a_decided_request_is_not_decided_again(office):
    await office.say(AN, "/extend 11/12 vì chờ số liệu của các thôn")
    (request,) = await office.requests()
    assert "Lý do từ chối" in text(await office.press(VINH, f"extdeny:{request.id}"))
    assert "Đã đồng ý" in text(await office.press(VINH, f"extapprove:{request.id}"))  # changed his mind
    assert "chưa hiểu tin nhắn này" in text(await office.say(VINH, "Không cần nữa"))  # no longer a deny reason
    assignment = await office.assignment("HOXA")
    before = len(await office.events(assignment.id, prefix=""))
    outbox_before = len(await office.outbox(AN))

    again = text(await office.press(MAI, f"extapprove:{request.id}"))
    assert "đã được xử lý: đã được đồng ý" in again and VINH in again
    deny = text(await office.press(MAI, f"extdeny:{request.id}"))
    assert "đã được xử lý" in deny
    assert "Không có đề nghị gia hạn nào đang chờ" in text(await office.say(MAI, "/requests"))

    assert len(await office.events(assignment.id, prefix="")) == before
    assert len(await office.outbox(AN)) == outbox_before
    (request,) = await office.requests()
    assert request.status == "approved" and request.decided_by_person_id == office.ids[VINH]
    assert "Không tìm thấy đề nghị gia hạn" in text(await office.press(VINH, "extapprove:999"))


async def test_leader_denies_with_a_reason_and_the_unit_is_told(office):
    await office.say(AN, "/extend 11/12 vì chờ số liệu của các thôn")
    (request,) = await office.requests()
    asked = await office.press(MAI, f"extdeny:{request.id}")
    assert "Lý do từ chối gia hạn" in text(asked) and "Thị trấn Hồ Xá" in text(asked)
    assert "ít nhất vài chữ" in text(await office.say(MAI, "ok"))  # too short: asked again
    done = text(await office.say(MAI, "Đã kéo dài một lần, đề nghị nộp đúng hạn"))
    assert "❌ Đã từ chối gia hạn" in done and "Đã kéo dài một lần" in done

    (request,) = await office.requests()
    assert (request.status, request.decided_by_person_id) == ("denied", office.ids[MAI])
    assert request.decision_note == "Đã kéo dài một lần, đề nghị nộp đúng hạn"
    assignment = await office.assignment("HOXA")
    assert assignment.due_at_override is None
    denied = (await office.events(assignment.id))[-1]
    assert denied.kind == "extension_denied" and "Đã kéo dài một lần" in denied.note
    for member in (AN, QUANG):
        (notice,) = await office.outbox(member)
        assert "không đồng ý gia hạn" in notice.payload["text"] and "Đã kéo dài một lần" in notice.payload["text"]
        assert "hết ngày thứ Sáu 04/12/2026" in notice.payload["text"]
    assert await office.outbox(HUONG) == []
    # the denial cleared the leader's state: plain text is no longer taken as a reason
    assert "chưa hiểu tin nhắn này" in text(await office.say(MAI, "Thêm một lý do"))

    # once denied, the unit may ask again
    receipt = text(await office.say(AN, "/extend 08/12 vì thiếu cán bộ"))
    assert "Đã gửi đề nghị gia hạn" in receipt
    assert [r.status for r in await office.requests()] == ["denied", "pending"]


# --- bad input ----------------------------------------------------------------------------------


async def test_bad_dates_are_explained_and_asked_again(office):
    await office.say(AN, "/extend")
    await office.say(AN, "Chờ số liệu của các thôn")
    unparseable = await office.say(AN, "tuần sau")
    assert "Không tìm thấy ngày hạn" in text(unparseable) and "cancel" in choices(unparseable)
    assert "Ngày 31/02/2027 không tồn tại" in text(await office.say(AN, "31/02/2027"))
    earlier = text(await office.say(AN, "01/12/2026"))
    assert "phải sau hạn hiện tại (hết ngày thứ Sáu 04/12/2026)" in earlier
    assert "phải sau hạn hiện tại" in text(await office.say(AN, "chậm nhất ngày 04/12/2026"))
    # 20/11 without a year is next year's 20/11: far beyond the due date
    assert "hơn 180 ngày" in text(await office.say(AN, "20/11"))
    assert await office.requests() == []

    assert "Đã gửi đề nghị gia hạn" in text(await office.say(AN, "ngày 25/12/2026"))
    (request,) = await office.requests()
    assert request.requested_due_at == vn(2026, 12, 25, 23, 59, 59) and request.reason == "Chờ số liệu của các thôn"


async def test_a_date_already_past_is_refused_when_overdue(office):
    office.clock.set(vn(2026, 12, 8, 9))  # four days after the due date
    replies = await office.say(AN, "/extend 06/12/2026 vì chờ số liệu")
    assert "Ngày 06/12/2026 đã qua" in text(replies) and "đến ngày nào" in text(replies)
    assert "Đã gửi đề nghị gia hạn" in text(await office.say(AN, "10/12"))


async def test_short_reason_and_cancel_leave_nothing(office):
    await office.say(AN, "/extend")
    assert "ít nhất vài chữ" in text(await office.say(AN, "a"))
    assert "Đã huỷ" in text(await office.press(AN, "cancel"))
    assert "chưa hiểu tin nhắn này" in text(await office.say(AN, "Chờ số liệu"))
    await office.say(AN, "/extend")
    await office.say(AN, "Chờ số liệu của các thôn")
    await office.press(AN, "cancel")
    assert "chưa hiểu tin nhắn này" in text(await office.say(AN, "11/12"))
    assert await office.requests() == []
    assert await office.events((await office.assignment("HOXA")).id) == []
    assert "Ngày 31/02 không tồn tại" in text(await office.say(AN, "/extend 31/02 vì chờ số liệu"))
    assert await office.requests() == []
    # a date with a reason too short to read: the reason is asked for, the date kept
    assert "lý do xin gia hạn" in text(await office.say(AN, "/extend 11/12 a"))
    assert "Đã gửi đề nghị gia hạn" in text(await office.say(AN, "Chờ số liệu của các thôn"))
    (request,) = await office.requests()
    assert request.requested_due_at == NEW_DUE


async def test_a_second_pending_request_is_refused(office):
    receipt = text(await office.say(AN, "/extend 11/12 vì chờ số liệu của các thôn"))
    assert "Đã gửi đề nghị gia hạn" in receipt
    assignment = await office.assignment("HOXA")
    waiting = "đang chờ lãnh đạo xem xét"
    assert waiting in text(await office.say(AN, "/extend 18/12 vì lý do khác"))
    assert waiting in text(await office.say(QUANG, "/extend"))  # the head of the same unit
    assert waiting in text(await office.press(QUANG, f"extend:{assignment.id}"))  # the reminder's button
    assert len(await office.requests()) == 1
    assert len(await office.outbox(VINH)) == 1


async def test_with_several_open_tasks_the_unit_picks_one_and_keeps_what_it_typed(office):
    replies = await office.say(LAN, "/extend 11/12 vì thiếu cán bộ")
    assert "cho nhiệm vụ nào" in text(replies)
    picks = [c for c in choices(replies) if c.startswith("extend:")]
    assert len(picks) == 5 and "cancel" in choices(replies)
    target = await office.assignment("VP", 4)
    assert f"extend:{target.id}" in picks
    receipt = text(await office.press(LAN, f"extend:{target.id}"))
    assert "Báo cáo kết quả xử lý kiến nghị của Người khuyết tật" in receipt and "thiếu cán bộ" in receipt
    (request,) = await office.requests()
    assert request.assignment_id == target.id and request.requested_due_at == NEW_DUE

    # with no date or reason typed, pressing a task starts the dialogue
    replies = await office.say(LAN, "/extend")
    first = await office.assignment("VP", 0)
    assert "lý do xin gia hạn" in text(await office.press(LAN, f"extend:{first.id}"))
    # "#N" names the task directly
    task_id = (await office.assignment("VP", 2)).task_id
    assert "Đã gửi đề nghị gia hạn" in text(await office.say(LAN, f"/extend #{task_id} 11/12 chờ ý kiến sở"))
    assert "Không tìm thấy nhiệm vụ" in text(await office.say(LAN, "/extend #999 11/12 chờ"))


# --- roles --------------------------------------------------------------------------------------


async def test_only_leaders_decide_and_only_the_units_people_ask(office):
    await office.say(AN, "/extend 11/12 vì chờ số liệu của các thôn")
    (request,) = await office.requests()
    for name in (AN, QUANG, HUONG):
        assert "không được dùng" in text(await office.press(name, f"extapprove:{request.id}"))
        assert "không được dùng" in text(await office.press(name, f"extdeny:{request.id}"))
    assert "không được dùng" in text(await office.say(VINH, "/extend"))
    assert "không được dùng" in text(await office.say(HUONG, "/extend"))
    assert "không được dùng" in text(await office.say(AN, "/requests"))
    hoxa = await office.assignment("HOXA")
    assert "không thuộc đơn vị bạn" in text(await office.press(LAN, f"extend:{hoxa.id}"))
    submitted = await office.assignment("TP", 0)  # the demo has Tư pháp's first report submitted
    assert "đã nộp, chờ duyệt" in text(await office.press(NGOC_TP, f"extend:{submitted.id}"))

    listed = await office.say(HUONG, "/requests")  # coordinators may look
    assert "Có 1 đề nghị gia hạn" in text(listed) and "Thị trấn Hồ Xá" in text(listed)
    assert choices(listed) == []
    listed = await office.say(VINH, "/requests")
    assert choices(listed) == [f"extapprove:{request.id}", f"extdeny:{request.id}"]

    (request,) = await office.requests()
    assert request.status == "pending"
    assert (await office.assignment("HOXA")).due_at_override is None


# --- storage rules (SQLite and PostgreSQL) -------------------------------------------------------


async def seed(db, now):
    async with db.session() as session:
        units = [Unit(code=code, name=name, kind="commune", groups=["xa"], aliases=[], created_at=now, updated_at=now)
                 for code, name in (("X1", "Xã Một"), ("X2", "Xã Hai"))]
        session.add_all(units)
        people = [Person(name="Cán bộ", role="officer", created_at=now, updated_at=now),
                  Person(name="Chủ tịch", role="leader", created_at=now, updated_at=now)]
        session.add_all(people)
        await session.flush()
        people[0].unit_id = units[0].id
        task, assignments = await create_task(session, title="Báo cáo", due_at=OLD_DUE,
                                              deadline_phrase="chậm nhất ngày 04/12/2026", units=units, now=now)
        return people[0].id, people[1].id, [a.id for a in assignments]


async def make_request(db, assignment_id, officer, due=NEW_DUE, now=NOW) -> ExtensionRequest:
    async with db.session() as session:
        assignment = await session.get(Assignment, assignment_id)
        return await ext.request_extension(session, assignment, requested_due_at=due, requested_phrase="11/12",
                                           reason="Chờ số liệu", person_id=officer, now=now, tz=VN)


async def test_storage_records_one_pending_request_per_assignment(db):
    officer, leader, (a1, a2) = await seed(db, NOW)
    first = await make_request(db, a1, officer)
    async with db.session() as session:
        with pytest.raises(ext.ExtensionRefused) as refused:
            await ext.request_extension(session, await session.get(Assignment, a1), requested_due_at=NEW_DUE,
                                        requested_phrase="11/12", reason="Lần hai", person_id=officer, now=NOW, tz=VN)
        assert refused.value.reason == "pending" and refused.value.existing.id == first.id
    second = await make_request(db, a2, officer)  # another assignment is independent
    async with db.session() as session:
        assert [r.id for r, *_ in await ext.pending_requests(session)] == [first.id, second.id]
        assert (await ext.pending_for(session, a1)).id == first.id
        events = (await session.exec(select(StatusEvent).where(StatusEvent.kind == "extension_requested"))).all()
        assert sorted(e.assignment_id for e in events) == [a1, a2]


@pytest.mark.parametrize(("due", "now", "reason"), [
    (OLD_DUE, NOW, "not_later"),
    (OLD_DUE - timedelta(days=1), NOW, "not_later"),
    (vn(2026, 12, 6, 23, 59, 59), vn(2026, 12, 7, 9), "past"),
    (OLD_DUE + ext.MAX_EXTENSION + timedelta(seconds=1), NOW, "too_far"),
])
async def test_storage_refuses_dates_that_are_not_an_extension(db, due, now, reason):
    officer, _, (a1, _) = await seed(db, NOW)
    with pytest.raises(ext.ExtensionRefused) as refused:
        await make_request(db, a1, officer, due=due, now=now)
    assert refused.value.reason == reason
    async with db.session() as session:
        assert (await session.exec(select(ExtensionRequest))).all() == []
        assert (await session.exec(select(StatusEvent).where(StatusEvent.kind != "assigned"))).all() == []


async def test_storage_refuses_a_closed_assignment(db):
    officer, _, (a1, _) = await seed(db, NOW)
    async with db.session() as session:
        await transition(session, await session.get(Assignment, a1), AssignmentStatus.submitted, now=NOW,
                         actor_person_id=officer)
    with pytest.raises(ext.ExtensionRefused) as refused:
        await make_request(db, a1, officer)
    assert refused.value.reason == "closed"


async def test_storage_approval_wins_once_even_against_a_stale_reader(db):
    officer, leader, (a1, _) = await seed(db, NOW)
    request = await make_request(db, a1, officer)
    later = NOW + timedelta(hours=1)
    async with db.session() as slow:  # a second leader's unit of work that read the request while it was pending
        stale = await slow.get(ExtensionRequest, request.id)
        assert stale.status == "pending"
        async with db.session() as fast:
            decision = await ext.approve(fast, request.id, person_id=leader, now=later, tz=VN)
            assert decision.old_due_at == OLD_DUE
        with pytest.raises(ext.AlreadyDecided) as refused:
            await ext.deny(slow, request.id, reason="Không đồng ý", person_id=leader, now=later)
        assert refused.value.request.status == "approved"
    with pytest.raises(ext.AlreadyDecided):
        async with db.session() as session:
            await ext.approve(session, request.id, person_id=leader, now=later, tz=VN)
    async with db.session() as session:
        assignment = await session.get(Assignment, a1)
        assert (assignment.due_at_override, assignment.due_phrase_override) == (NEW_DUE, "11/12")
        stored = await session.get(ExtensionRequest, request.id)
        assert (stored.status, stored.decided_by_person_id, stored.decided_at) == ("approved", leader, later)
        kinds = (await session.exec(select(StatusEvent.kind).where(
            StatusEvent.assignment_id == a1).order_by(StatusEvent.id))).all()
        assert kinds == ["assigned", "extension_requested", "extension_approved"]
        assert await ext.pending_requests(session) == []
        # the next request is measured from the new due date
        with pytest.raises(ext.ExtensionRefused) as refused:
            await ext.request_extension(session, assignment, requested_due_at=NEW_DUE, requested_phrase="11/12",
                                        reason="Lại chờ", person_id=officer, now=later, tz=VN)
        assert refused.value.reason == "not_later"


async def test_storage_denial_keeps_the_due_date(db):
    officer, leader, (a1, _) = await seed(db, NOW)
    request = await make_request(db, a1, officer)
    async with db.session() as session:
        decision = await ext.deny(session, request.id, reason="  Không đủ căn cứ  ", person_id=leader, now=NOW)
        assert decision.request.decision_note == "Không đủ căn cứ"
    async with db.session() as session:
        assert (await session.get(Assignment, a1)).due_at_override is None
        assert (await session.get(ExtensionRequest, request.id)).status == "denied"
        with pytest.raises(ext.AlreadyDecided):
            await ext.approve(session, request.id, person_id=leader, now=NOW, tz=VN)
        with pytest.raises(ext.AlreadyDecided) as missing:
            await ext.approve(session, 999, person_id=leader, now=NOW, tz=VN)
        assert missing.value.request is None


# --- end to end: the real aiogram bot -------------------------------------------------------------


async def test_extension_over_telegram(world):  # noqa: F811
    extensions.register(world.app.conversation)
    officer = await world.register(AN)
    leader = await world.register(VINH)
    officer.send_command("/extend 11/12 vì chờ số liệu của các thôn")
    receipt = await officer.next_message()
    assert "Đã gửi đề nghị gia hạn" in receipt.text

    card = await leader.next_message(lambda m: "Đề nghị gia hạn" in (m.text or ""))
    assert "Thị trấn Hồ Xá" in card.text
    approve = next(d for d in card.callback_data if d.startswith("extapprove:"))
    leader.press(card, approve)
    edited = await leader.next_message(lambda m: m.is_edit)
    assert "Đã đồng ý gia hạn" in edited.text
    notice = await officer.next_message(lambda m: "đồng ý gia hạn" in (m.text or ""))
    assert "hết ngày thứ Sáu 11/12/2026" in notice.text

    officer.send_command("/tasks")
    tasks = await officer.next_message(lambda m: "Việc của" in (m.text or ""))
    assert "Hạn của đơn vị (đã gia hạn): 11/12/2026" in tasks.text
