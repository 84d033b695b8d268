"""The morning digest, the Monday unit summaries, their queueing through the outbox, and ``dondoc digest``.

The demo is loaded on Friday 08/11/2024 (deadlines as in the letter: 15/11, "trước ngày 20/11" = end of
19/11, and 22/11); the digest is made on Monday 18/11/2024 at 07:30, when the 15/11 tasks are overdue.
Before that, the fixture adds a weekend submission, an older one, a resubmission, a return with its
reason, extension requests and unreachable people. Every expectation is computed from the database
with queries of its own, not copied from the code under test.
"""

from __future__ import annotations

import asyncio
import io
import json
from datetime import datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlmodel import col, select

from bot.demo import PEOPLE, TASKS, load_demo
from handlers import texts as t
from handlers.chat import Button, OutFile, Reply, payload_to_reply, reply_to_payload
from handlers.digest import (
    DUE_SOON_DAYS,
    LIST_CAP,
    build_digest,
    build_unit_summary,
    default_since,
    queue_digest,
)
from handlers.export import shorten
from schedules.calendar import WorkCalendar
from storage.db import Database
from storage.evidence import EvidenceFile, record_evidence
from storage.models import (
    Assignment,
    AssignmentStatus,
    ExtensionRequest,
    OutboxMessage,
    Person,
    Role,
    Task,
    Unit,
)
from storage.queries import bind_identity, unit_by_code
from storage.status import OPEN_STATUSES, transition
from tests.conftest import VN, vn
from tests.conftest import call

S = AssignmentStatus
LOADED = vn(2024, 11, 8, 9)
NOW = vn(2024, 11, 18, 7, 30)  # Monday
TUESDAY = vn(2024, 11, 19, 7, 30)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
OFFICERS = {code: name for name, role, code in PEOPLE if role == "officer"}
COORDINATOR = next(name for name, role, _ in PEOPLE if role == "coordinator")
RETURN_REASON = "Thiếu chữ ký số trên Phụ lục 2"
EXTENSION_REASON = "Chủ tịch xã đi công tác, chưa ký được báo cáo"


@pytest.fixture(scope="module")
def calendar() -> WorkCalendar:
    return WorkCalendar()


async def _assignment(session, task_title: str, code: str) -> Assignment:
    unit = await unit_by_code(session, code)
    task = (await session.exec(select(Task).where(Task.title == task_title))).one()
    return (await session.exec(select(Assignment).where(Assignment.task_id == task.id,
                                                         Assignment.unit_id == unit.id))).one()


async def _person(session, name: str) -> Person:
    return (await session.exec(select(Person).where(Person.name == name))).one()


def _file(name: str) -> EvidenceFile:
    digest = (name * 64)[:64]
    return EvidenceFile(file_name=name, size=1234, sha256=digest, pages=2, storage_key=f"sha256/{digest}",
                        channel="telegram")


async def bind_everyone(db: Database, roles: tuple[str, ...] | None = None) -> None:
    """Give people a Telegram account (chat id = 1000 + person id) so the outbox can reach them."""
    async with db.session() as session:
        for person in (await session.exec(select(Person))).all():
            if roles is None or person.role in roles:
                await bind_identity(session, person, channel="telegram", external_id=str(person.id),
                                    chat_id=str(1000 + person.id), username=None, now=LOADED)


@pytest.fixture
async def demo(sqlite_db):
    db = sqlite_db
    await load_demo(db, now=LOADED, tz=VN)
    await bind_everyone(db)
    async with db.session() as session:
        coordinator = await _person(session, COORDINATOR)
        # a weekend submission (after Friday's digest), with one file
        vinhtu = await _assignment(session, TASKS[3].title, "VINHTU")
        officer = await _person(session, OFFICERS["VINHTU"])
        await record_evidence(session, vinhtu, _file("a"), person_id=officer.id, now=vn(2024, 11, 17, 20, 15))
        # a submission before Friday's digest: waiting for review, but not new
        vinhchap = await _assignment(session, TASKS[3].title, "VINHCHAP")
        await transition(session, vinhchap, S.submitted, now=vn(2024, 11, 14, 10),
                         actor_person_id=(await _person(session, OFFICERS["VINHCHAP"])).id)
        # a resubmission (round 2) on Friday after the digest
        nv = await _assignment(session, TASKS[5].title, "NV")
        await transition(session, nv, S.returned, now=vn(2024, 11, 14, 9), actor_person_id=coordinator.id,
                         note="Sai biểu mẫu")
        await transition(session, nv, S.submitted, now=vn(2024, 11, 15, 10),
                         actor_person_id=(await _person(session, OFFICERS["NV"])).id)
        # a return: Phòng Tư pháp owes task 1 again, now overdue
        tp = await _assignment(session, TASKS[0].title, "TP")
        await transition(session, tp, S.returned, now=vn(2024, 11, 15, 9), actor_person_id=coordinator.id,
                         note=RETURN_REASON)
        # Xã Vĩnh Hà delivers everything it owes: nothing left for its head on Monday
        vinhha = await unit_by_code(session, "VINHHA")
        for assignment in (await session.exec(select(Assignment).where(Assignment.unit_id == vinhha.id))).all():
            await transition(session, assignment, S.submitted, now=vn(2024, 11, 12, 15), actor_person_id=None)
        # extension requests: one waiting, one decided
        vinhlong = await _assignment(session, TASKS[3].title, "VINHLONG")
        session.add(ExtensionRequest(
            assignment_id=vinhlong.id, requested_by_person_id=(await _person(session, OFFICERS["VINHLONG"])).id,
            requested_at=vn(2024, 11, 16, 9), reason=EXTENSION_REASON, requested_due_at=vn(2024, 11, 29, 23, 59, 59),
            requested_phrase="hạn 29/11/2024"))
        kimthach = await _assignment(session, TASKS[3].title, "KIMTHACH")
        session.add(ExtensionRequest(
            assignment_id=kimthach.id, requested_at=vn(2024, 11, 15, 9), reason="Đã quyết", status="approved",
            requested_due_at=vn(2024, 11, 27, 23, 59, 59), requested_phrase="hạn 27/11/2024",
            decided_at=vn(2024, 11, 15, 14)))
        # unreachable: an active officer (listed) and a deactivated one (not listed)
        blocked = await _person(session, OFFICERS["BENQUAN"])
        blocked.unreachable_since = vn(2024, 11, 16, 8)  # no chat account reachable
        gone = await _person(session, OFFICERS["VINHKHE"])
        gone.unreachable_since = vn(2024, 11, 16, 8)
        gone.active = False
    return db


async def _rows(session):
    """Every assignment with its task, unit and own due instant, straight from the tables."""
    rows = (await session.exec(select(Assignment, Task, Unit).join(Task, Task.id == Assignment.task_id)
                               .join(Unit, Unit.id == Assignment.unit_id))).all()
    return [(a, task, unit, a.due_at_override or task.due_at) for a, task, unit in rows]


def _local_day(at: datetime):
    return at.astimezone(VN).date()


# --- the digest -------------------------------------------------------------------------------


async def test_default_since_is_the_previous_working_day_at_the_same_time(calendar):
    assert default_since(NOW, VN, calendar) == vn(2024, 11, 15, 7, 30)  # Monday → Friday
    assert default_since(TUESDAY, VN, calendar) == TUESDAY - timedelta(hours=24)
    # after the National Day break (Mon 01/09 and Tue 02/09/2025 off), Wednesday looks back to Friday
    assert default_since(vn(2025, 9, 3, 7, 30), VN, calendar) == vn(2025, 8, 29, 7, 30)


async def test_overdue_and_due_soon_sections_follow_the_data(demo, calendar):
    async with demo.session() as session:
        digest = await build_digest(session, now=NOW, tz=VN, calendar=calendar, since=None)
        rows = await _rows(session)
    assert digest.title == "☀️ Bản tin sáng thứ Hai 18/11/2024"
    assert digest.text.startswith(digest.title)

    expected_overdue = {(task.id, unit.name): (_local_day(NOW) - _local_day(due)).days
                        for a, task, unit, due in rows if S(a.status) in OPEN_STATUSES and due < NOW}
    got_overdue = {(item.task.id, u.unit.name): u.days for item in digest.overdue for u in item.units}
    assert got_overdue == expected_overdue and len(got_overdue) > LIST_CAP
    returned = {(item.task.id, u.unit.name) for item in digest.overdue for u in item.units if u.returned}
    assert returned == {(task.id, unit.name) for a, task, unit, _ in rows if a.status == S.returned and unit.code == "TP"}
    assert all(item.number == item.task.id for item in digest.overdue)  # one number per task: its id
    assert all(f"#{item.task.id} " in digest.text for item in digest.overdue)
    assert "Phòng Tư pháp (bị trả lại)" in digest.text

    horizon = _local_day(NOW) + timedelta(days=DUE_SOON_DAYS)
    expected_soon: dict[int, int] = {}
    for a, task, _, due in rows:
        if S(a.status) in OPEN_STATUSES and due >= NOW and _local_day(due) <= horizon:
            expected_soon[task.id] = expected_soon.get(task.id, 0) + 1
    assert {s.task.id: len(s.outstanding) for s in digest.due_soon} == expected_soon
    assert [s.due_at for s in digest.due_soon] == sorted(s.due_at for s in digest.due_soon)

    # visits (task × unit) and the distinct units they are: "28 lượt (17 đơn vị)"
    overdue_visits = len(expected_overdue)
    overdue_units = len({unit for _, unit in expected_overdue})
    overdue_tasks = len({task_id for task_id, _ in expected_overdue})
    assert overdue_units < overdue_visits
    assert f"⚠️ Quá hạn: {overdue_visits} lượt ({overdue_units} đơn vị) ở {overdue_tasks} nhiệm vụ" in digest.text
    soon_units = len({unit.name for a, task, unit, due in rows if S(a.status) in OPEN_STATUSES and due >= NOW
                      and _local_day(due) <= horizon})
    assert (f"⏰ Đến hạn trong {DUE_SOON_DAYS} ngày: {sum(expected_soon.values())} lượt ({soon_units} đơn vị)"
            f" chưa nộp ở {len(expected_soon)} nhiệm vụ") in digest.text
    # a long list is capped, the rest counted
    biggest = max(digest.overdue, key=lambda item: len(item.units))
    assert f"… và {len(biggest.units) - LIST_CAP} đơn vị khác" in digest.text
    assert all(len(line) < 700 for line in digest.text.splitlines())


async def test_submissions_reviews_extensions_and_unreachable(demo, calendar):
    async with demo.session() as session:
        digest = await build_digest(session, now=NOW, tz=VN, calendar=calendar, since=None)
        wider = await build_digest(session, now=NOW, tz=VN, calendar=calendar, since=vn(2024, 11, 12))
        submitted = (await session.exec(select(Assignment, Unit).join(Unit, Unit.id == Assignment.unit_id)
                                        .where(Assignment.status == S.submitted.value))).all()

    new = {(s.unit.code, s.task.title, s.round, s.files) for s in digest.submissions}
    assert new == {("VINHTU", TASKS[3].title, 1, 1), ("NV", TASKS[5].title, 2, 0)}
    assert {s.unit.code for s in wider.submissions} == {"VINHTU", "NV", "VINHCHAP", "VINHHA"}
    assert "📥 Mới nộp từ 07:30 15/11/2024: 2" in digest.text
    assert "nộp lại lần 2" in digest.text

    assert {(r.unit.id, r.task.id) for r in digest.reviews} == {(a.unit_id, a.task_id) for a, _ in submitted}
    waited = [r.submitted_at for r in digest.reviews]
    assert waited == sorted(waited)
    assert f"🔎 Chờ duyệt: {len(submitted)}" in digest.text

    (extension,) = digest.extensions
    assert (extension.unit.code, extension.requested_by, extension.request.reason) == (
        "VINHLONG", OFFICERS["VINHLONG"], EXTENSION_REASON)
    assert "xin đến 29/11/2024" in digest.text and EXTENSION_REASON in digest.text

    assert [u.person.name for u in digest.unreachable] == [OFFICERS["BENQUAN"]]
    assert "📵 Bot không liên lạc được: 1 người" in digest.text
    assert OFFICERS["BENQUAN"] in digest.text and OFFICERS["VINHKHE"] not in digest.text


async def test_chart_is_a_png_and_the_workbook_opens(demo, calendar):
    async with demo.session() as session:
        digest = await build_digest(session, now=NOW, tz=VN, calendar=calendar, since=None)
    assert digest.chart_png.startswith(PNG_SIGNATURE) and digest.chart_png[12:16] == b"IHDR"
    workbook = load_workbook(io.BytesIO(digest.workbook))
    assert workbook.sheetnames[:2] == ["Tổng hợp", "Theo đơn vị"]
    assert [f"#{entry.task.id}" for entry in digest.entries] == workbook.sheetnames[2:-1]
    assert workbook["Tổng hợp"]["A3"].value == "Xuất lúc 07:30 18/11/2024"


async def test_an_empty_database_gives_a_short_digest(sqlite_db, calendar):
    async with sqlite_db.session() as session:
        digest = await build_digest(session, now=NOW, tz=VN, calendar=calendar, since=None)
    assert "Chưa có nhiệm vụ nào." in digest.text and "⚠️ Quá hạn: 0 lượt (0 đơn vị)" in digest.text
    assert digest.chart_png.startswith(PNG_SIGNATURE)
    assert not (digest.overdue or digest.due_soon or digest.submissions or digest.reviews)


# --- the unit head's summary ------------------------------------------------------------------


async def test_unit_summary_lists_open_tasks_and_the_returned_one_with_its_reason(demo, calendar):
    async with demo.session() as session:
        tp = await unit_by_code(session, "TP")
        text = await build_unit_summary(session, tp.id, now=NOW, tz=VN, calendar=calendar)
        rows = [r for r in await _rows(session) if r[2].id == tp.id]
        vinhha = await unit_by_code(session, "VINHHA")
        done = await build_unit_summary(session, vinhha.id, now=NOW, tz=VN, calendar=calendar)
    open_rows = [r for r in rows if S(r[0].status) in OPEN_STATUSES]
    assert open_rows and any(a.status == S.returned for a, *_ in open_rows)
    assert text.startswith(f"📅 Việc của {tp.name} — thứ Hai 18/11/2024")
    assert f"Còn {len(open_rows)} việc phải nộp" in text
    for _, task, _, due in open_rows:
        assert shorten(task.title, 70) in text
        assert f"{t.day_with_weekday(_local_day(due))} — {t.remaining(due, NOW, VN, calendar)}" in text
    assert f"Lý do: {RETURN_REASON}" in text
    for _, task, _, _ in (r for r in rows if r not in open_rows):
        assert shorten(task.title, 70) not in text
    assert "không còn việc nào phải nộp" in done


# --- queueing ---------------------------------------------------------------------------------


async def _outbox(db: Database, prefix: str) -> list[OutboxMessage]:
    async with db.session() as session:
        query = select(OutboxMessage).where(col(OutboxMessage.dedupe_key).startswith(prefix)).order_by(OutboxMessage.id)
        return list((await session.exec(query)).all())


async def _people(db: Database, *roles: Role) -> set[int]:
    async with db.session() as session:
        query = select(Person.id).where(col(Person.role).in_([r.value for r in roles]), Person.active == True)  # noqa: E712
        return set((await session.exec(query)).all())


async def test_digest_is_queued_once_a_day_to_each_leader_and_coordinator(demo, calendar):
    async with demo.session() as session:
        first = await queue_digest(session, now=NOW, tz=VN, calendar=calendar, since=None)
    async with demo.session() as session:  # a second worker, later the same morning
        again = await queue_digest(session, now=NOW + timedelta(hours=2), tz=VN, calendar=calendar, since=None)
    messages = await _outbox(demo, "digest:2024-11-18:")
    staff = await _people(demo, Role.leader, Role.coordinator)
    assert sorted(m.person_id for m in messages) == sorted(staff) and len(staff) == 3
    summaries = await _outbox(demo, "unitsummary:2024-11-18:")
    assert first == len(messages) + len(summaries) and again == 0
    assert {m.kind for m in messages} == {"digest"}

    reply = payload_to_reply(json.loads(json.dumps(messages[0].payload)))
    assert reply.text.startswith("☀️ Bản tin sáng thứ Hai 18/11/2024")
    assert reply.image is not None and reply.image.data.startswith(PNG_SIGNATURE)
    assert reply.image.mime_type == "image/png"
    assert reply.document is not None and reply.document.name.endswith(".xlsx")
    assert "Tổng hợp" in load_workbook(io.BytesIO(reply.document.data)).sheetnames


@pytest.mark.parametrize("day_off", [vn(2024, 11, 23, 7, 30), vn(2025, 9, 2, 7, 30), vn(2026, 11, 24, 7, 30)],
                         ids=["saturday", "national-day", "culture-day"])
async def test_nothing_is_queued_on_a_day_off(demo, calendar, day_off):
    async with demo.session() as session:
        assert await queue_digest(session, now=day_off, tz=VN, calendar=calendar, since=None) == 0
    assert await _outbox(demo, "digest:") == [] and await _outbox(demo, "unitsummary:") == []


async def test_unit_heads_get_their_summary_on_monday_not_on_tuesday(demo, calendar):
    async with demo.session() as session:
        await queue_digest(session, now=NOW, tz=VN, calendar=calendar, since=None)
        rows = await _rows(session)
        heads = (await session.exec(select(Person).where(Person.role == Role.head.value))).all()
        tp = await unit_by_code(session, "TP")
    owing = {unit.id for a, _, unit, _ in rows if S(a.status) in OPEN_STATUSES}
    head_units = {p.unit_id for p in heads}
    summaries = await _outbox(demo, "unitsummary:2024-11-18:")
    assert {m.dedupe_key.split(":")[2] for m in summaries} == {f"u{uid}" for uid in head_units & owing}
    assert head_units - owing  # Xã Vĩnh Hà owes nothing and is skipped
    assert {m.person_id for m in summaries} == {p.id for p in heads if p.unit_id in owing}
    (tp_message,) = [m for m in summaries if m.dedupe_key.startswith(f"unitsummary:2024-11-18:u{tp.id}:")]
    assert RETURN_REASON in tp_message.payload["text"] and "attachments" not in tp_message.payload

    async with demo.session() as session:
        tuesday = await queue_digest(session, now=TUESDAY, tz=VN, calendar=calendar, since=None)
    assert tuesday == len(await _outbox(demo, "digest:2024-11-19:")) == 3
    assert await _outbox(demo, "unitsummary:2024-11-19:") == []


# --- attachments in the outbox payload ---------------------------------------------------------


def test_payload_attachments_round_trip_and_old_payloads_still_work():
    image = OutFile("chart.png", PNG_SIGNATURE + bytes(range(256)) * 3, "image/png")
    document = OutFile("bang.xlsx", b"PK\x03\x04" + b"\x00\xff" * 500, "application/vnd.ms-excel")
    reply = Reply("Bản tin", buttons=[[Button("Xem", "status")]], image=image, document=document)
    payload = json.loads(json.dumps(reply_to_payload(reply)))
    assert [a["kind"] for a in payload["attachments"]] == ["image", "document"]
    back = payload_to_reply(payload)
    assert (back.text, back.buttons, back.image, back.document) == (reply.text, reply.buttons, image, document)

    only_document = payload_to_reply(reply_to_payload(Reply("x", document=document)))
    assert only_document.image is None and only_document.document == document
    plain = reply_to_payload(Reply("Nhắc việc", buttons=[[Button("Nộp", "submit:1")]]))
    assert set(plain) == {"text", "buttons"}
    old = payload_to_reply({"text": "cũ", "buttons": [[{"label": "A", "choice": "a"}]]})
    assert (old.text, old.buttons, old.image, old.document) == ("cũ", [[Button("A", "a")]], None, None)


# --- the CLI ----------------------------------------------------------------------------------


def _database(env_dir) -> Database:
    return Database(f"sqlite+aiosqlite:///{(env_dir / 'data' / 'dondoc.db').resolve()}")


def _prepare(env_dir, roles: tuple[str, ...]) -> None:
    async def work() -> None:
        db = _database(env_dir)
        try:
            await load_demo(db, now=LOADED, tz=VN)
            await bind_everyone(db, roles)
        finally:
            await db.dispose()

    asyncio.run(work())


def test_cli_digest_preview_prints_the_text_and_writes_the_chart(env):
    assert call("init").exit_code == 0
    _prepare(env, ())
    out = env / "out"
    result = call("digest", "--at", "2024-11-18 07:30", "--preview", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "☀️ Bản tin sáng thứ Hai 18/11/2024" in result.output and "QUÁ HẠN" in result.output
    assert (out / "ban-tin-20241118.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "Tổng hợp" in load_workbook(out / "dondoc-20241118.xlsx").sheetnames
    assert str(out / "ban-tin-20241118.png") in result.output
    default = call("digest", "--at", "2024-11-19 07:30", "--preview")
    assert default.exit_code == 0 and (env / "data" / "digest" / "ban-tin-20241119.png").exists()
    bad = call("digest", "--at", "18/11/2024", "--preview")
    assert bad.exit_code == 1 and "YYYY-MM-DD HH:MM" in bad.output


def test_cli_digest_queues_once_and_not_on_a_day_off(env):
    assert call("init").exit_code == 0
    _prepare(env, ("leader", "coordinator"))
    first = call("digest", "--at", "2024-11-19 07:30")
    assert first.exit_code == 0 and "Đã xếp 3 tin vào hàng đợi" in first.output, first.output
    second = call("digest", "--at", "2024-11-19 09:00")
    assert second.exit_code == 0 and "Không có tin mới" in second.output
    weekend = call("digest", "--at", "2024-11-23 07:30")
    assert weekend.exit_code == 0 and "ngày nghỉ" in weekend.output


async def test_the_digest_shows_the_zalo_messages_sent_this_month(demo, calendar):
    from storage.channels import count_sent

    async with demo.session() as session:
        quiet = await build_digest(session, now=NOW, tz=VN, calendar=calendar, since=None)
        assert "Tin Zalo" not in quiet.text  # no Zalo, no line
        await count_sent(session, channel="zalo", month=NOW.astimezone(VN).strftime("%Y-%m"), messages=2450)
        await count_sent(session, channel="zalo", month="1999-01", messages=7)  # another month does not count
    async with demo.session() as session:
        digest = await build_digest(session, now=NOW, tz=VN, calendar=calendar, since=None, zalo_quota=3000)
    assert "📨 Tin Zalo đã gửi tháng này: 2.450/3.000 (81% hạn mức)" in digest.text


async def test_a_leader_on_zalo_gets_a_digest_that_fits_one_zalo_message(sqlite_db, calendar):
    """The same digest in two texts: up to 4,096 characters on Telegram, up to 2,000 on Zalo (shorter lists, not
    the long text in parts); one outbox row per person, on the channel they use."""
    from storage.models import ChannelIdentity
    from tests.board_factory import populate_board

    board = await populate_board(sqlite_db, now=NOW, departments=10, communes=140, tasks=30)
    async with sqlite_db.session() as session:
        for person_id, channel in ((board.leader, "zalo"), (board.coordinator, "telegram")):
            identity = (await session.exec(select(ChannelIdentity).where(
                ChannelIdentity.person_id == person_id, ChannelIdentity.channel == channel))).one()
            identity.last_seen_at = NOW  # the account they wrote from last
            session.add(identity)
    async with sqlite_db.session() as session:
        await queue_digest(session, now=NOW, tz=VN, calendar=calendar, since=None)
    rows = {m.person_id: m for m in await _outbox(sqlite_db, "digest:2024-11-18:")}
    zalo, telegram = rows[board.leader], rows[board.coordinator]
    assert (zalo.channel, telegram.channel) == ("zalo", "telegram")
    short, long = zalo.payload["text"], telegram.payload["text"]
    assert len(long) > 2000 >= len(short) and len(long) <= 4096
    assert short.splitlines()[0] == long.splitlines()[0] == "☀️ Bản tin sáng thứ Hai 18/11/2024"
    assert "\n\n📝 GIẢI TRÌNH" in short and "\n\n📝 GIẢI TRÌNH" in long  # the workflow sections, shorter on Zalo
    assert short.rstrip().endswith("Gõ /status để xem đầy đủ.") and "còn nữa" not in short  # whole, footer kept
