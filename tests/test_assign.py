"""``/assign`` in chat: a letter pasted or sent as a file becomes a draft, is fixed with buttons, and
creates tasks and assignments only when confirmed.

Most tests drive ``Conversation.handle`` on the demo roster, with a fresh ``Conversation`` for every
message (the draft lives in the database, as after a restart). One runs the real aiogram bot against
the fake Bot API. ``handlers.assign`` is wired here as the lead wires it (``Wired``): ``register`` and
``maybe_letter_file`` before evidence intake.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections import Counter
from datetime import date, datetime, timedelta

import pytest
from pypdf import PdfWriter
from sqlmodel import col, func, select

from bot.demo import UNITS as DEMO_UNITS
from bot.demo import load_demo
from handlers import assign
from handlers import messages as m
from handlers.chat import FileTooLarge, Incoming, IncomingFile, Reply, Sender
from handlers.conversation import Conversation, HandlerContext, Request
from handlers.letters import UnitRef, extract_letter
from schedules.calendar import WorkCalendar
from schedules.clock import FixedClock
from storage.models import Assignment, ConversationState, Letter, Person, Task, Unit
from storage.queries import bind_identity, set_state
from tests.conftest import SEEDS, VN, letter_reader, seed_letter, vn

NOW = vn(2024, 11, 8, 9)  # a Friday; letter 000's deadlines (15, 19 and 22/11/2024) lie ahead
COORDINATOR, OFFICER, LEADER, ADMIN = "Nguyễn Thị Hương", "Võ Thị Lan", "Lê Quang Vinh", "Quản Trị Viên"
CQCM = {"VP", "NV", "TP", "TCKH", "VHTT", "KTHT", "GDDT"}
DVSN = {"TTVH"}
XA = {"HOXA", "CUATUNG", "BENQUAN", "VINHTHAI", "VINHTU", "VINHCHAP", "TRUNGNAM", "KIMTHACH", "VINHLONG",
      "VINHKHE", "VINHHA", "VINHLAM"}
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def seed(prefix: str) -> str:
    return seed_letter(prefix)


def demo_refs() -> list[UnitRef]:
    return [UnitRef(n, code, name, kind, groups, aliases)
            for n, (code, name, kind, groups, aliases) in enumerate(DEMO_UNITS, start=1)]


def end_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=VN)


# --- the conversation, wired as the lead wires it -----------------------------------------------------


class Wired(Conversation):
    """``Conversation`` with ``/assign``: ``assign.register`` and letters before evidence intake."""

    def __init__(self, ctx: HandlerContext) -> None:
        super().__init__(ctx)
        assign.register(self)

    async def _route(self, request: Request) -> list[Reply]:
        if request.incoming.file is not None:
            replies = await assign.maybe_letter_file(request)
            if replies is not None:
                return replies
        return await super()._route(request)


class Chat:
    """One person talking to the bot; every message goes through a new ``Conversation`` (a restart)."""

    def __init__(self, db, clock: FixedClock, user_id: str) -> None:
        self.db, self.clock = db, clock
        self.sender = Sender("telegram", user_id, user_id)
        self.fetched = 0

    def conversation(self) -> Conversation:
        return Wired(HandlerContext(db=self.db, clock=self.clock, tz=VN, calendar=WorkCalendar(),
                                    letters=letter_reader()))

    async def say(self, text: str) -> Reply:
        [reply] = await self.conversation().handle(Incoming.from_text(self.sender, text))
        return reply

    async def say_all(self, text: str) -> list[Reply]:
        return await self.conversation().handle(Incoming.from_text(self.sender, text))

    async def press(self, reply: Reply, label: str) -> list[Reply]:
        return await self.choose(button(reply, label))

    async def choose(self, data: str) -> list[Reply]:
        return await self.conversation().handle(Incoming(sender=self.sender, choice=data))

    async def send_file(self, data: bytes, name: str, *, size: int | None = None) -> Reply:
        async def fetch() -> bytes:
            self.fetched += 1
            return data

        file = IncomingFile(name, len(data) if size is None else size, None, fetch, ref=f"ref-{name}")
        [reply] = await self.conversation().handle(Incoming(sender=self.sender, file=file))
        return reply


def button(reply: Reply, label: str) -> str:
    """The choice of the button whose label is ``label`` (exactly)."""
    found = [b.choice for row in reply.buttons for b in row if b.label == label]
    assert found, f"no button {label!r} in {[[b.label for b in row] for row in reply.buttons]}"
    return found[0]


def due_lines(reply: Reply) -> list[str]:
    return [line.strip()[len("Hạn: "):] for line in reply.text.splitlines() if line.strip().startswith("Hạn: ")]


async def count(db, model) -> int:
    async with db.session() as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


async def bind(db, name: str, user_id: str) -> Person:
    async with db.session() as session:
        person = (await session.exec(select(Person).where(Person.name == name))).one()
        await bind_identity(session, person, channel="telegram", external_id=user_id, chat_id=user_id,
                            username=None, now=NOW)
        return person


@pytest.fixture
async def demo(sqlite_db):
    await load_demo(sqlite_db, now=NOW, tz=VN)
    async with sqlite_db.session() as session:
        session.add(Person(name=ADMIN, role="admin", unit_id=None, created_at=NOW, updated_at=NOW))
    for user_id, name in (("1", COORDINATOR), ("2", OFFICER), ("3", LEADER), ("4", ADMIN)):
        await bind(sqlite_db, name, user_id)
    return sqlite_db


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def coordinator(demo, clock) -> Chat:
    return Chat(demo, clock, "1")


# --- the whole flow on letter 000 ---------------------------------------------------------------------

LETTER_000_DUES = [
    "«chậm nhất ngày 15/11/2024» (hết ngày thứ Sáu 15/11/2024)",
    "«chậm nhất ngày 15/11/2024» (hết ngày thứ Sáu 15/11/2024)",
    "«chậm nhất ngày 15/11/2024» (hết ngày thứ Sáu 15/11/2024)",
    "«chậm nhất ngày 22/11/2024» (hết ngày thứ Sáu 22/11/2024)",
    "«trước ngày 20/11/2024» (hết ngày thứ Ba 19/11/2024)",
    "«trước ngày 20/11/2024» (hết ngày thứ Ba 19/11/2024)",
    "«trước ngày 20/11/2024» (hết ngày thứ Ba 19/11/2024)",
]


async def test_paste_fix_and_confirm_letter_000_creates_tasks_and_assignments_once(demo, clock, coordinator):
    text = seed("000")
    demo_tasks = await count(demo, Task)

    ask = await coordinator.say("/assign")
    assert "Hãy dán (hoặc chuyển tiếp) nội dung công văn" in ask.text and ".docx, .pdf" in ask.text
    assert button(ask, "✖️ Huỷ").startswith("asgcancel:")

    draft = await coordinator.say(text)
    assert "Đề xuất 8 nhiệm vụ (7 có hạn, 1 cần xem lại):" in draft.text
    assert due_lines(draft) == LETTER_000_DUES
    assert "\n8. Đôn đốc, theo dõi" in draft.text and draft.text.count("⚠️ chưa có hạn") == 1
    assert "⛔ Chưa thể xác nhận: mục 8 chưa có hạn." in draft.text
    assert "Chưa có việc nào được giao cho đến khi bạn bấm «✅ Xác nhận giao việc»" in draft.text
    assert [[b.label for b in row] for row in draft.buttons][0] == ["❌ Bỏ 1", "📅 Hạn 1", "🏢 Đơn vị 1"]
    assert len(draft.buttons) == 9 and [b.label for b in draft.buttons[-1]] == ["✅ Xác nhận giao việc", "✖️ Huỷ"]

    # item 8 has no deadline: the draft cannot be confirmed, and says why
    [refused] = await coordinator.press(draft, "✅ Xác nhận giao việc")
    assert "⛔ Chưa thể xác nhận vì: mục 8 chưa có hạn." in refused.text and "Chưa tạo gì" in refused.text
    assert await count(demo, Task) == demo_tasks and await count(demo, Letter) == 1

    # drop item 3; a button of the older draft no longer acts (its numbers have shifted)
    [dropped] = await coordinator.press(draft, "❌ Bỏ 3")
    assert dropped.text.startswith("🗑 Đã bỏ mục 3: Báo cáo kết quả tham mưu thực hiện")
    assert "Đề xuất 7 nhiệm vụ (6 có hạn, 1 cần xem lại):" in dropped.text
    assert due_lines(dropped) == LETTER_000_DUES[:2] + LETTER_000_DUES[3:]
    stale, current = await coordinator.press(draft, "❌ Bỏ 3")
    assert "Bản nháp đã thay đổi sau tin nhắn này" in stale.text
    assert "Đề xuất 7 nhiệm vụ" in current.text and current.buttons == dropped.buttons

    # the undated item (now 7) gets a deadline; bad answers are explained and asked again
    [prompt] = await coordinator.press(dropped, "📅 Hạn 7")
    assert prompt.text.startswith("📅 Nhập hạn mới cho mục 7: Đôn đốc, theo dõi")
    assert "Hạn hiện tại: chưa có hạn" in prompt.text
    assert "Ngày 31/02 không tồn tại." in (await coordinator.say("31/02")).text
    assert "Không tìm thấy ngày hạn trong: «sớm nhất có thể»" in (await coordinator.say("sớm nhất có thể")).text
    past = await coordinator.say("01/11/2024")
    assert "Hạn «01/11/2024» (hết ngày thứ Sáu 01/11/2024) đã qua" in past.text
    dated = await coordinator.say("chậm nhất ngày 29/11/2024")
    assert dated.text.startswith("📅 Đã đổi hạn mục 7: «chậm nhất ngày 29/11/2024» (hết ngày thứ Sáu 29/11/2024)")
    assert "Đề xuất 7 nhiệm vụ (7 có hạn):" in dated.text and "⛔" not in dated.text

    # item 1 goes to Phòng Tư pháp and the communes instead of the five departments; unknown codes are named
    [prompt] = await coordinator.press(dated, "🏢 Đơn vị 1")
    assert "Hiện giao: VP, NV, TP, TCKH, VHTT" in prompt.text and "group:" in prompt.text
    unknown = await coordinator.say("NV, XYZ, group:khong")
    assert "Không có trong danh sách đơn vị: XYZ, group:khong." in unknown.text
    assert await count(demo, Task) == demo_tasks
    changed = await coordinator.say("group:xa TP")
    assert changed.text.startswith("🏢 Đã đổi đơn vị nhận mục 1: Phòng Tư pháp, Thị trấn Hồ Xá")
    assert "Giao (13 đơn vị): Phòng Tư pháp, UBND các xã, thị trấn (12 đơn vị)" in changed.text

    [done] = await coordinator.press(changed, "✅ Xác nhận giao việc")
    assert done.text.startswith("✅ Đã giao 7 nhiệm vụ theo công văn (chưa ghi số):")
    assert "Hạn: «chậm nhất ngày 29/11/2024» (hết ngày thứ Sáu 29/11/2024) · 1 đơn vị" in done.text
    assert "sẽ nhận tin báo việc mới ở lượt nhắc việc kế tiếp" in done.text

    # the database: one letter, seven tasks as fixed, one assignment per unit
    expected = list(extract_letter(text, demo_refs(), NOW.date(), VN).tasks)
    del expected[2]
    async with demo.session() as session:
        letter = (await session.exec(select(Letter).where(Letter.number == None))).one()  # noqa: E711
        tasks = (await session.exec(select(Task).where(Task.letter_id == letter.id).order_by(Task.id))).all()
        codes = {u.id: u.code for u in (await session.exec(select(Unit))).all()}
        assigned: dict[int, set[str]] = {}
        rows = await session.exec(select(Assignment).where(col(Assignment.task_id).in_([t.id for t in tasks])))
        for a in rows.all():
            assert a.status == "pending"
            assigned.setdefault(a.task_id, set()).add(codes[a.unit_id])
        coordinator_id = (await session.exec(select(Person.id).where(Person.name == COORDINATOR))).one()
    assert letter.source_text == text and letter.subject.startswith("V/v báo cáo kết quả thực hiện")
    assert [t.title for t in tasks] == [t.title for t in expected]
    assert [t.due_at for t in tasks] == [end_of(date(2024, 11, d)) for d in (15, 15, 22, 19, 19, 19, 29)]
    assert [t.deadline_phrase for t in tasks][-2:] == ["trước ngày 20/11/2024", "chậm nhất ngày 29/11/2024"]
    assert [assigned[t.id] for t in tasks] == [
        {"TP"} | XA, CQCM | DVSN | XA, CQCM | DVSN | XA, {"VP"}, {"NV"}, {"KTHT"}, {"NV"}]
    assert all(t.created_by_person_id == coordinator_id for t in tasks)
    assert tasks[0].signature_required and tasks[0].template == "Phụ lục 1, Phụ lục 2, Phụ lục 3"
    created = await count(demo, Task)
    assert created == demo_tasks + 7

    # a second confirm is a no-op; the same letter again is refused at confirm
    [again] = await coordinator.press(changed, "✅ Xác nhận giao việc")
    assert again.text == assign.NO_DRAFT
    await coordinator.say("/assign")
    redraft = await coordinator.say(text)
    [without_8] = await coordinator.press(redraft, "❌ Bỏ 8")
    stale, _ = await coordinator.press(redraft, "✅ Xác nhận giao việc")  # the older draft's button
    assert "Bản nháp đã thay đổi" in stale.text
    [duplicate] = await coordinator.press(without_8, "✅ Xác nhận giao việc")
    assert "Công văn này đã được nhập trước đây (7 nhiệm vụ); không tạo thêm." in duplicate.text
    assert await count(demo, Task) == created and await count(demo, Letter) == 2


async def test_the_draft_is_kept_in_the_database_and_survives_a_restart(demo, clock, coordinator):
    text = seed("000")
    await coordinator.say("/assign")
    async with demo.session() as session:
        [state] = (await session.exec(select(ConversationState).where(ConversationState.kind == assign.WAIT))).all()
    draft = await coordinator.say(text)  # another Conversation object than the one that asked
    async with demo.session() as session:
        [state] = (await session.exec(select(ConversationState).where(ConversationState.kind == assign.DRAFT))).all()
    assert state.data["source"] == text and state.data["origin"] == "paste"
    assert len(state.data["draft"]["tasks"]) == 8 and state.expires_at == NOW + assign.DRAFT_TTL
    clock.set(NOW + timedelta(hours=5))  # later, after a restart: the buttons still work
    [dropped] = await coordinator.press(draft, "❌ Bỏ 8")
    [done] = await coordinator.press(dropped, "✅ Xác nhận giao việc")
    assert done.text.startswith("✅ Đã giao 7 nhiệm vụ")


async def test_two_confirms_at_once_create_the_tasks_once(demo, coordinator):
    tasks = await count(demo, Task)
    draft = await coordinator.say("/assign " + seed("000"))
    [ready] = await coordinator.press(draft, "❌ Bỏ 8")
    first, second = await asyncio.gather(*(coordinator.press(ready, "✅ Xác nhận giao việc") for _ in range(2)))
    texts = sorted(reply.text for [reply] in (first, second))
    assert texts[0] == assign.NO_DRAFT and texts[1].startswith("✅ Đã giao 7 nhiệm vụ")
    assert await count(demo, Task) == tasks + 7 and await count(demo, Letter) == 2


def test_the_draft_round_trips_through_json() -> None:
    for prefix in ("000", "003"):
        draft = extract_letter(seed(prefix), demo_refs(), date(2024, 11, 8), VN)
        again = assign.draft_from_data(json.loads(json.dumps(assign.draft_to_data(draft))))
        assert again == draft
        assert list(again.unit_names) == [code for code, *_ in DEMO_UNITS]


def test_a_draft_is_confirmable_only_with_deadlines_units_and_every_name_matched() -> None:
    letter = ("Số: 3/UBND-NV\nVĩnh Linh, ngày 05 tháng 11 năm 2024\n\n"
              "1. Phòng Nội vụ báo cáo chậm nhất ngày 31/02/2025.\n\n"
              "2. Phòng Tư pháp phối hợp với Đoàn thanh niên huyện báo cáo chậm nhất ngày 20/11/2024.\n\n"
              "3. Đề nghị Phòng Tài chính - Kế hoạch báo cáo tình hình giải ngân.")
    draft = extract_letter(letter, demo_refs(), date(2024, 11, 8), VN)
    assert assign.blockers(draft) == [
        "mục 1: Ngày 31/02/2025 không tồn tại",
        "mục 2 có tên không khớp đơn vị nào (Đoàn thanh niên huyện)",
        "mục 3 chưa có hạn",
    ]
    first, second, third = draft.tasks
    fixed = assign.with_due(first, end_of(date(2025, 2, 28)), "chậm nhất ngày 28/02/2025")
    assert (fixed.problem, fixed.ready) == (None, True)
    settled = assign.with_units(second, ("TP", "NV"))
    assert (settled.units, settled.unmatched_names, settled.problem) == (("TP", "NV"), (), None)
    nobody = assign.with_units(third, ())
    assert nobody.problem == assign.NO_DEADLINE and not nobody.ready
    draft = assign.with_task(assign.with_task(assign.without(draft, 3), 1, fixed), 2, settled)
    assert assign.blockers(draft) == [] and [t.title for t in draft.tasks][1] == second.title
    assert assign.unit_spec(" NV TP; group: xa ,all ") == "NV,TP,group:xa,all"


# --- inline text, files -------------------------------------------------------------------------------

SHORT_LETTER = """ỦY BAN NHÂN DÂN
HUYỆN VĨNH LINH

Số: 15/UBND-NV
V/v báo cáo rà soát văn bản

Vĩnh Linh, ngày 05 tháng 11 năm 2024

Kính gửi: Phòng Tư pháp

1. Phòng Tư pháp báo cáo kết quả rà soát văn bản quy phạm pháp luật chậm nhất ngày 20/11/2024.
"""


async def test_text_after_the_command_is_read_at_once(demo, coordinator):
    draft = await coordinator.say("/assign " + SHORT_LETTER)
    assert draft.text.startswith("📄 Công văn số 15/UBND-NV, ngày 05/11/2024")
    assert due_lines(draft) == ["«chậm nhất ngày 20/11/2024» (hết ngày thứ Tư 20/11/2024)"]
    [done] = await coordinator.press(draft, "✅ Xác nhận giao việc")
    assert done.text.startswith("✅ Đã giao 1 nhiệm vụ theo công văn số 15/UBND-NV:")
    async with demo.session() as session:
        letter = (await session.exec(select(Letter).where(Letter.number == "15/UBND-NV"))).one()
        task = (await session.exec(select(Task).where(Task.letter_id == letter.id))).one()
        unit = (await session.exec(select(Unit).join(Assignment).where(Assignment.task_id == task.id))).one()
    assert (task.due_at, unit.code, letter.issued_on) == (end_of(date(2024, 11, 20)), "TP", date(2024, 11, 5))


def letter_000_docx() -> bytes:
    """Letter 000 as Word writes it: the header in a two-column table, then one paragraph per block."""
    from docx import Document

    blocks = [block for block in re.split(r"\n\s*\n", seed("000")) if block.strip()]
    document = Document()
    left, right = document.add_table(rows=1, cols=2).rows[0].cells
    left.text, right.text = blocks[0], blocks[1]
    for block in blocks[2:]:
        document.add_paragraph(block)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def blank_pdf() -> bytes:
    """A scan as far as text goes: one page, no text layer."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize("name, data", [
    ("cong-van-000.txt", lambda: seed("000").encode("utf-8")),
    ("cong-van-000.docx", letter_000_docx),
])
async def test_a_letter_file_gives_the_same_draft_and_creates_the_tasks(demo, coordinator, name, data):
    before = await count(demo, Task)
    await coordinator.say("/assign")
    draft = await coordinator.send_file(data(), name)
    assert "Đề xuất 8 nhiệm vụ (7 có hạn, 1 cần xem lại):" in draft.text
    assert due_lines(draft) == LETTER_000_DUES
    [dropped] = await coordinator.press(draft, "❌ Bỏ 8")
    assert "⛔" not in dropped.text
    [done] = await coordinator.press(dropped, "✅ Xác nhận giao việc")
    assert done.text.startswith("✅ Đã giao 7 nhiệm vụ")
    async with demo.session() as session:
        letter = (await session.exec(select(Letter).where(Letter.number == None))).one()  # noqa: E711
        ids = (await session.exec(select(Task.id).where(Task.letter_id == letter.id).order_by(Task.id))).all()
        counts = Counter((await session.exec(select(Assignment.task_id).where(col(Assignment.task_id).in_(ids)))).all())
    assert [counts[i] for i in ids] == [5, 20, 8, 20, 1, 1, 1]
    assert await count(demo, Task) == before + 7


@pytest.mark.parametrize("name, data, size, answer", [
    ("scan.pdf", blank_pdf, None, "Tệp PDF «scan.pdf» này không có lớp chữ (có thể là bản scan)"),
    ("trong.txt", lambda: b"", None, "Tệp «trong.txt» trống"),
    ("cu.doc", lambda: b"\xd0\xcf\x11\xe0 old word", None, "là Word cũ (.doc)"),
    ("anh.jpg", lambda: b"\xff\xd8\xff\xe0 jpeg", None, "chỉ nhận công văn dạng .docx, .pdf (có lớp chữ) hoặc .txt"),
    ("lon.pdf", lambda: b"%PDF-1.4", 1_200_000, "Văn bản quá lớn (1,2 MB); chỉ nhận công văn tối đa 1 MB"),
    ("khong-han.txt", lambda: "Đề nghị Phòng Nội vụ báo cáo tình hình sớm.".encode(), None,
     "Không tìm thấy hạn nộp nào trong tệp «khong-han.txt»"),
])
async def test_bad_letter_files_get_a_clear_answer_and_create_nothing(demo, coordinator, name, data, size, answer):
    tasks, letters = await count(demo, Task), await count(demo, Letter)
    await coordinator.say("/assign")
    reply = await coordinator.send_file(data(), name, size=size)
    assert answer in reply.text and "Hãy" in reply.text
    assert coordinator.fetched == (0 if size else 1)  # an oversize file is refused before it is fetched
    # still waiting for the letter: a good file now gives the draft
    draft = await coordinator.send_file(SHORT_LETTER.encode(), "cv.txt")
    assert "Công văn số 15/UBND-NV" in draft.text
    assert (await count(demo, Task), await count(demo, Letter)) == (tasks, letters)


async def test_a_file_the_platform_will_not_hand_over_gets_an_answer(demo, coordinator):
    await coordinator.say("/assign")

    async def refuse() -> bytes:
        raise FileTooLarge("file is too big")

    file = IncomingFile("cv.pdf", None, "application/pdf", refuse, ref="x")
    [reply] = await coordinator.conversation().handle(Incoming(sender=coordinator.sender, file=file))
    assert "Tệp «cv.pdf» quá lớn để tải về" in reply.text


async def test_files_outside_the_waiting_state_are_left_to_evidence_intake(demo, clock):
    ctx = HandlerContext(db=demo, clock=clock, tz=VN, calendar=WorkCalendar())

    async def fetch() -> bytes:
        raise AssertionError("a file left to intake is not fetched here")

    async def route(name: str, state: str | None) -> list[Reply] | None:
        async with demo.session() as session:
            person = (await session.exec(select(Person).where(Person.name == name))).one()
            if state is not None:
                await set_state(session, person.id, state, {}, now=NOW)
            unit = await session.get(Unit, person.unit_id)
            incoming = Incoming(sender=Sender("telegram", "x", "x"),
                                file=IncomingFile("bao-cao.pdf", 100, "application/pdf", fetch))
            return await assign.maybe_letter_file(Request(incoming, session, person, unit, ctx, NOW))

    assert await route(COORDINATOR, None) is None  # a coordinator submitting evidence for their own unit
    assert await route(COORDINATOR, assign.DRAFT) is None  # the draft waits for buttons, not for a file
    assert await route(COORDINATOR, "await_file") is None
    assert await route(OFFICER, assign.WAIT) is None  # an officer is never asked for a letter


# --- bad input, roles, cancel -------------------------------------------------------------------------


async def test_bad_pastes_get_a_clear_answer_and_create_nothing(demo, coordinator):
    tasks, letters = await count(demo, Task), await count(demo, Letter)
    await coordinator.say("/assign")
    no_date = await coordinator.say("Đề nghị Phòng Nội vụ báo cáo tình hình sớm.")
    assert no_date.text.startswith("Không tìm thấy hạn nộp nào trong văn bản này (ví dụ «chậm nhất ngày ")
    assert "chưa tạo gì" in no_date.text and button(no_date, "✖️ Huỷ")
    nothing = await coordinator.say("Xin chào các đồng chí.")
    assert nothing.text.startswith("Không tìm thấy hạn nộp nào")
    big = "Phòng Nội vụ báo cáo chậm nhất ngày 15/11/2024. " * 21_000
    assert len(big.encode()) > 1_000_000
    for message in (big, "/assign " + big):
        reply = await coordinator.say(message)
        assert "Văn bản quá lớn" in reply.text and "chỉ nhận công văn tối đa 1 MB" in reply.text
    assert (await count(demo, Task), await count(demo, Letter)) == (tasks, letters)
    async with demo.session() as session:  # still waiting for a letter, with nothing kept
        state = (await session.exec(select(ConversationState))).one()
    assert (state.kind, state.data) == (assign.WAIT, {})


@pytest.mark.parametrize("user_id", ["2", "3"])  # an officer, a leader
async def test_only_coordinators_and_admins_may_assign(demo, clock, user_id):
    chat = Chat(demo, clock, user_id)
    assert (await chat.say("/assign")).text == m.FORBIDDEN
    assert (await chat.say("/assign " + SHORT_LETTER)).text == m.FORBIDDEN
    for forged in ("asgok:1", "asgdrop:1:1", "asgcancel:0"):
        [reply] = await chat.choose(forged)
        assert reply.text == m.FORBIDDEN
    async with demo.session() as session:  # a state left from a role change does not help either
        name = OFFICER if user_id == "2" else LEADER
        person = (await session.exec(select(Person).where(Person.name == name))).one()
        await set_state(session, person.id, assign.WAIT, {}, now=NOW)
    assert (await chat.say(SHORT_LETTER)).text == m.FORBIDDEN
    assert await count(demo, Letter) == 1
    admin = Chat(demo, clock, "4")
    assert (await admin.say("/assign")).text == assign.ASK_LETTER
    help_text = (await Chat(demo, clock, "1").say("/help")).text
    assert "/assign — giao việc theo công văn" in help_text
    assert "/assign" not in (await chat.say("/help")).text


async def test_cancel_and_a_new_assign_drop_the_draft_and_create_nothing(demo, coordinator):
    tasks = await count(demo, Task)
    draft = await coordinator.say("/assign " + SHORT_LETTER)
    restarted = await coordinator.say_all("/assign")
    assert [r.text for r in restarted] == [assign.OLD_DRAFT_DROPPED, assign.ASK_LETTER]
    [gone] = await coordinator.press(draft, "✅ Xác nhận giao việc")
    assert gone.text == assign.NO_DRAFT
    draft = await coordinator.say(SHORT_LETTER)
    [cancelled] = await coordinator.press(draft, "✖️ Huỷ")
    assert cancelled.text == assign.CANCELLED
    [after] = await coordinator.press(draft, "✅ Xác nhận giao việc")
    assert after.text == assign.NO_DRAFT
    assert (await coordinator.say(SHORT_LETTER)).text == m.PLAIN_TEXT_HINT  # no longer waiting for a letter
    [nothing] = await coordinator.choose("asgcancel:0")
    assert nothing.text == assign.NOTHING_TO_CANCEL
    assert await count(demo, Task) == tasks


# --- long letters: split pastes, many tasks; names that match no unit ----------------------------------


def split_like_telegram(text: str, limit: int = 4096) -> list[str]:
    """Cut at the last line break before ``limit``, as chat apps split a long paste."""
    parts = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        parts.append(text[:cut])
        text = text[cut + 1:]
    return parts + [text]


async def test_a_long_paste_split_into_two_messages_is_read_as_one_letter(demo, clock, coordinator):
    first, second = split_like_telegram(seed("000"))
    assert len(first) >= assign.JOIN_MIN_PART
    await coordinator.say("/assign")
    partial = await coordinator.say(first)
    assert "Đề xuất 8 nhiệm vụ" not in partial.text
    clock.set(NOW + timedelta(seconds=2))
    joined = await coordinator.say(second)
    assert joined.text.startswith("🧩 Đã ghép phần tiếp theo vào công văn (2 phần) và đọc lại toàn bộ.")
    assert "Đề xuất 8 nhiệm vụ (7 có hạn, 1 cần xem lại):" in joined.text and due_lines(joined) == LETTER_000_DUES
    # later text is not more of the letter: a hint, and the draft is unchanged
    clock.set(NOW + assign.JOIN_WINDOW + timedelta(minutes=1))
    hint = await coordinator.say("ok")
    assert hint.text == assign.DRAFT_HINT
    [again] = await coordinator.press(hint, "📄 Xem lại bản nháp")
    assert again.text == joined.text.split("\n\n", 1)[1] and again.buttons == joined.buttons
    [done] = await coordinator.press(again, "❌ Bỏ 8")
    [done] = await coordinator.press(done, "✅ Xác nhận giao việc")
    async with demo.session() as session:
        letter = (await session.exec(select(Letter).where(Letter.number == None))).one()  # noqa: E711
    assert letter.source_text == first + "\n" + second == seed("000")


async def test_a_first_part_without_deadlines_waits_for_the_rest(demo, clock, coordinator):
    head = SHORT_LETTER.split("1. ")[0]
    preamble = "Căn cứ Kế hoạch số 11/KH-UBND của UBND huyện về cải cách hành chính năm 2024. " * 45
    await coordinator.say("/assign")
    first = await coordinator.say(head + preamble)
    assert first.text.startswith("Không tìm thấy hạn nộp nào trong văn bản này")
    assert "hãy gửi tiếp phần còn lại" in first.text
    clock.set(NOW + timedelta(seconds=3))
    draft = await coordinator.say("1. Phòng Tư pháp báo cáo kết quả rà soát chậm nhất ngày 20/11/2024.")
    assert "(2 phần)" in draft.text and "📄 Công văn số 15/UBND-NV, ngày 05/11/2024" in draft.text
    # a short paste is never joined to what follows
    assert (await coordinator.say_all("/assign"))[0].text == assign.OLD_DRAFT_DROPPED
    assert "gửi tiếp" not in (await coordinator.say("Đề nghị Phòng Nội vụ báo cáo sớm.")).text
    draft = await coordinator.say("1. Phòng Tư pháp báo cáo kết quả rà soát chậm nhất ngày 20/11/2024.")
    assert "phần)" not in draft.text and "Công văn chưa ghi số" in draft.text


DEPARTMENTS = ["Phòng Nội vụ", "Phòng Tư pháp", "Phòng Tài chính - Kế hoạch", "Phòng Văn hóa và Thông tin",
               "Phòng Kinh tế và Hạ tầng", "Phòng Giáo dục và Đào tạo"]


def many_tasks_letter(count: int) -> str:
    items = "\n\n".join(f"{n}. {DEPARTMENTS[n % 6]} báo cáo nội dung thứ {n} chậm nhất ngày {n % 28 + 1:02d}/12/2024."
                         for n in range(1, count + 1))
    return f"Số: 77/UBND-NV\nVĩnh Linh, ngày 05 tháng 11 năm 2024\n\n{items}"


async def test_a_letter_with_many_tasks_gets_one_edit_button_per_task(demo, coordinator):
    draft = await coordinator.say("/assign " + many_tasks_letter(20))
    assert "Đề xuất 20 nhiệm vụ (20 có hạn):" in draft.text and "Bấm «✏️ số»" in draft.text
    labels = [[b.label for b in row] for row in draft.buttons]
    assert labels[0] == ["✏️ 1", "✏️ 2", "✏️ 3", "✏️ 4", "✏️ 5"] and len(labels) == 5
    assert sum(len(row) for row in draft.buttons) <= 100  # Telegram's limit for one keyboard
    [menu] = await coordinator.press(draft, "✏️ 17")
    assert menu.text.startswith("Mục 17: Báo cáo nội dung thứ 17") and "Giao: Phòng Giáo dục và Đào tạo" in menu.text
    assert [b.label for b in menu.buttons[0]] == ["❌ Bỏ 17", "📅 Hạn 17", "🏢 Đơn vị 17"]
    [dropped] = await coordinator.press(menu, "❌ Bỏ 17")
    assert "Đề xuất 19 nhiệm vụ" in dropped.text and "nội dung thứ 17 " not in dropped.text
    tasks = await count(demo, Task)
    dropped_old, refused = await coordinator.say_all("/assign " + many_tasks_letter(assign.MAX_DRAFT_TASKS + 1))
    assert dropped_old.text == assign.OLD_DRAFT_DROPPED
    assert f"Công văn này cho {assign.MAX_DRAFT_TASKS + 1} nhiệm vụ, quá nhiều" in refused.text
    assert await count(demo, Task) == tasks


async def test_names_matching_no_unit_block_the_confirm_until_the_units_are_set(demo, coordinator):
    letter = SHORT_LETTER.replace(
        "1. Phòng Tư pháp báo cáo kết quả rà soát văn bản quy phạm pháp luật",
        "1. Phòng Tư pháp phối hợp với Đoàn thanh niên huyện báo cáo kết quả hoạt động")
    draft = await coordinator.say("/assign " + letter)
    assert "⚠️ không khớp đơn vị: Đoàn thanh niên huyện" in draft.text
    assert "⛔ Chưa thể xác nhận: mục 1 có tên không khớp đơn vị nào (Đoàn thanh niên huyện)." in draft.text
    [refused] = await coordinator.press(draft, "✅ Xác nhận giao việc")
    assert "mục 1 có tên không khớp đơn vị nào (Đoàn thanh niên huyện)" in refused.text
    [prompt] = await coordinator.press(draft, "🏢 Đơn vị 1")
    assert "Hiện giao: TP (không khớp: Đoàn thanh niên huyện)" in prompt.text
    [back] = await coordinator.press(prompt, "↩️ Quay lại bản nháp")
    assert back.buttons == draft.buttons
    assert (await coordinator.say("TP")).text == assign.DRAFT_HINT  # back at the draft: no longer asked
    await coordinator.press(back, "🏢 Đơn vị 1")
    everyone = await coordinator.say("all")
    assert "⛔" not in everyone.text and "Giao (20 đơn vị)" in everyone.text
    [done] = await coordinator.press(everyone, "✅ Xác nhận giao việc")
    assert done.text.startswith("✅ Đã giao 1 nhiệm vụ") and "20 đơn vị" in done.text
    async with demo.session() as session:
        letter_row = (await session.exec(select(Letter).where(Letter.number == "15/UBND-NV"))).one()
        codes = set((await session.exec(select(Unit.code).join(Assignment).join(Task)
                                        .where(Task.letter_id == letter_row.id))).all())
    assert codes == CQCM | DVSN | XA  # "all" leaves out the issuing body (UBND huyện)


# --- Telegram, end to end -----------------------------------------------------------------------------


async def test_telegram_coordinator_sends_a_word_letter_and_confirms(world, monkeypatch):
    """The real aiogram bot over HTTP: /assign, a .docx document, the draft's inline buttons, confirm."""
    assign.register(world.app.conversation)
    route = Conversation._route

    async def letters_first(self, request):  # the lead's wiring, in case it is not there yet
        if request.incoming.file is not None:
            replies = await assign.maybe_letter_file(request)
            if replies is not None:
                return replies
        return await route(self, request)

    monkeypatch.setattr(Conversation, "_route", letters_first)
    async with world.app.db.session() as session:
        before = (await session.exec(select(func.count()).select_from(Task))).one()
    coordinator = await world.register(COORDINATOR)
    coordinator.send_command("/assign")
    assert "Hãy dán (hoặc chuyển tiếp) nội dung công văn" in (await coordinator.next_message()).text
    coordinator.send_document(letter_000_docx(), "cong-van-000.docx", mime_type=DOCX_MIME)
    draft = await coordinator.next_message()
    assert "Đề xuất 8 nhiệm vụ (7 có hạn, 1 cần xem lại):" in draft.text
    # the demo's clock is in 2026: the letter's deadlines have passed, and the draft says so
    assert "⚠️ Hạn đã qua so với hôm nay: mục 1, 2, 3, 4, 5, 6, 7" in draft.text
    coordinator.press(draft, draft.button("❌ Bỏ 8")["callback_data"])
    dropped = await coordinator.next_message()
    assert "🗑 Đã bỏ mục 8" in dropped.text
    coordinator.press(dropped, dropped.button("✅ Xác nhận giao việc")["callback_data"])
    done = await coordinator.next_message()
    assert done.text.startswith("✅ Đã giao 7 nhiệm vụ")
    async with world.app.db.session() as session:
        assert (await session.exec(select(func.count()).select_from(Task))).one() == before + 7
