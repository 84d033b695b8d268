"""The board at scale: the headline, every reply within the channel's limits and paged (every page
reachable), one number per task in every view and in the CLI, and archiving."""

from __future__ import annotations

import asyncio
import io
import re
from collections import Counter
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, update
from sqlmodel import select

from handlers.board import STATUS_SECTIONS, load_view, status_text
from handlers.chat import CHANNEL_LIMITS, Button, Incoming, IncomingFile, Reply, Sender, fits, limits_for
from handlers.conversation import Conversation, HandlerContext
from handlers.digest import build_digest
from handlers.export import board_files
from handlers.paging import Block, paginate
from schedules.calendar import WorkCalendar
from schedules.clock import FixedClock
from storage import tallies
from storage.models import Assignment, AuditEvent, ExtensionRequest, StatusEvent, Task, Unit
from storage.queries import overdue_units, task_summaries
from storage.status import transition
from tests.board_factory import CHANNELS, external_id, populate_board
from tests.conftest import VN, call, vn

NOW = vn(2026, 11, 24, 9)  # a Tuesday
TASK_REF = re.compile(r"#(\d+)\b")


@pytest.fixture
async def big(sqlite_db):
    """130 tasks × 150 units (10 departments, 140 communes): 19,500 assignments; the officer's unit owes
    all 130 (more than Telegram's 100 buttons)."""
    board = await populate_board(sqlite_db, now=NOW, departments=10, communes=140, tasks=130)
    async with sqlite_db.session() as session:  # extension requests waiting, for /requests
        await session.exec(update(Assignment).where(Assignment.unit_id == board.officer_unit)
                           .values(status="pending", submitted_at=None, round=0))
        await tallies.recount(session)  # arranged behind the application's back
        rows = (await session.exec(select(Assignment).where(Assignment.status == "pending").limit(140))).all()
        for a in rows:
            session.add(ExtensionRequest(assignment_id=a.id, requested_by_person_id=board.officer, requested_at=NOW,
                                         reason="Chờ số liệu tổng hợp của các thôn " * 3,
                                         requested_due_at=NOW + timedelta(days=5), requested_phrase="29/11"))
    return sqlite_db, board


def bot(db) -> Conversation:
    return Conversation(HandlerContext(db=db, clock=FixedClock(NOW), tz=VN, calendar=WorkCalendar()))


def sender(role: str, channel: str) -> Sender:
    return Sender(channel, external_id(role, channel), external_id(role, channel))


def check(reply: Reply, channel: str) -> None:
    limits = limits_for(channel)
    buttons = [b for row in reply.buttons for b in row]
    assert fits(reply, limits), (channel, len(reply.text), len(buttons))
    assert len(buttons) <= 100
    assert all(len(b.choice.encode()) <= 64 for b in buttons)


def page_of(reply: Reply) -> tuple[int, int]:
    found = re.search(r"📄 Trang (\d+)/(\d+)", reply.text)
    return (int(found.group(1)), int(found.group(2))) if found else (1, 1)


def next_choice(reply: Reply) -> str | None:
    return next((b.choice for row in reply.buttons for b in row if b.label.endswith("▶")), None)


async def walk(conversation: Conversation, who: Sender, first: list[Reply]) -> list[Reply]:
    """Every page, from the first by its "Trang k/n ▶" choice; each reply checked against the limits.

    A command that ends a pending step says so first, in a message of its own when the list's first page
    is full (``handlers.conversation._with_notice``); the list itself is one message."""
    if len(first) == 2 and first[0].text.startswith("ℹ️ Đã huỷ bước đang chờ") and not first[0].buttons:
        check(first[0], who.channel)
        first = first[1:]
    assert len(first) == 1, "a list is one message, never a burst"
    pages = [first[0]]
    check(first[0], who.channel)
    while (choice := next_choice(pages[-1])) is not None:
        (reply,) = await conversation.handle(Incoming(sender=who, choice=choice))
        check(reply, who.channel)
        pages.append(reply)
    numbers = [page_of(p) for p in pages]
    total = numbers[0][1]
    assert numbers == [(k, total) for k in range(1, total + 1)], numbers
    return pages


@pytest.mark.parametrize("channel", CHANNELS)
async def test_every_list_fits_the_channel_and_every_page_is_reachable(big, channel):
    db, board = big
    conversation = bot(db)
    leader, coordinator = sender("leader", channel), sender("coordinator", channel)
    async with db.session() as session:
        active = [s.task.id for s in await task_summaries(session, NOW)]
        everything = [s.task.id for s in await task_summaries(session, NOW, include_archived=True)]
    for who, command in ((leader, "/status"), (leader, "/status tất cả"), (leader, "/tasks"), (leader, "/late"),
                         (leader, "/log"), (coordinator, "/review"), (leader, "/requests"),
                         (leader, f"/status #{active[0]}"), (leader, "/status XA0001")):
        pages = await walk(conversation, who, await conversation.handle(Incoming.from_text(who, command)))
        if command in ("/status", "/tasks"):
            shown = [int(n) for p in pages for n in re.findall(r"^#(\d+) · ", p.text, re.M)]
            assert shown == active  # every active task once, in board order
            assert len(pages) > 1
        if command == "/status tất cả":
            shown = [int(n) for p in pages for n in re.findall(r"^#(\d+) · ", p.text, re.M)]
            assert shown == everything
        if command == "/late":
            assert len(pages) > 1
    # the ranking, by its choice
    (status,) = await conversation.handle(Incoming.from_text(leader, "/status"))
    rank = next(b.choice for row in status.buttons for b in row if b.choice.startswith("rank:"))
    ranking = await walk(conversation, leader, await conversation.handle(Incoming(sender=leader, choice=rank)))
    assert "thấp nhất trước" in ranking[0].text


@pytest.mark.parametrize("channel", CHANNELS)
async def test_which_task_and_extend_choices_are_paged_for_an_officer_with_many_tasks(big, channel):
    db, board = big
    conversation = bot(db)
    officer = sender("officer", channel)

    async def fetch() -> bytes:
        return b"%PDF-1.4"

    file = IncomingFile("baocao.pdf", 1000, "application/pdf", fetch, "ref-1")
    pages = await walk(conversation, officer, await conversation.handle(Incoming(sender=officer, file=file)))
    offered = [b.choice for p in pages for row in p.buttons for b in row if b.choice.startswith("pick:")]
    async with db.session() as session:
        takes_files = (await session.exec(select(func.count()).select_from(Assignment).where(
            Assignment.unit_id == board.officer_unit,
            Assignment.status.in_(["pending", "returned", "submitted"])))).one()
    assert len(offered) == len(set(offered)) == takes_files > 100
    assert all(any(b.choice == "cancel" for row in p.buttons for b in row) for p in pages)
    pages = await walk(conversation, officer, await conversation.handle(Incoming.from_text(officer, "/extend")))
    assert len([b for p in pages for row in p.buttons for b in row if b.choice.startswith("extend:")]) == 130


async def test_headline_counts_agree_with_a_count_of_the_rows(big):
    db, board = big
    conversation = bot(db)
    (reply,) = await conversation.handle(Incoming.from_text(sender("leader", "telegram"), "/status"))
    async with db.session() as session:
        rows = (await session.exec(select(Assignment, Task).join(Task, Task.id == Assignment.task_id))).all()
        units = {u.id: u.name for u in (await session.exec(select(Unit))).all()}
    by_task: dict[int, Counter] = {}
    for a, task in rows:
        by_task.setdefault(task.id, Counter())[a.status] += 1
    active = {tid for tid, c in by_task.items() if set(c) - {"accepted", "excused"}}
    overdue = Counter(a.unit_id for a, task in rows if task.id in active and a.status in ("pending", "returned")
                      and (a.due_at_override or task.due_at) < NOW)
    handed = [(a, task) for a, task in rows if task.id in active and a.status in ("submitted", "accepted")]
    on_time = sum(a.submitted_at <= task.due_at for a, task in handed)
    total = sum(sum(by_task[t].values()) for t in active)
    delivered = sum(by_task[t]["submitted"] + by_task[t]["accepted"] + by_task[t]["excused"] for t in active)
    assert f"Đang theo dõi {len(active)} nhiệm vụ · đã nộp {delivered}/{total} lượt" in reply.text
    assert f"⚠️ Quá hạn: {sum(overdue.values())} lượt ở {len(overdue)} đơn vị" in reply.text
    worst = sorted(overdue.items(), key=lambda item: (-item[1], units[item[0]]))[:5]
    assert "nặng nhất: " + ", ".join(f"{units[u]} ({n})" for u, n in worst) in reply.text
    measured = len(handed) + sum(overdue.values())
    assert f"⏱️ Đúng hạn: {round(100 * on_time / measured)}% ({on_time}/{measured} lượt" in reply.text
    async with db.session() as session:
        events = (await session.exec(select(StatusEvent).where(StatusEvent.kind == "status",
                                                               StatusEvent.to_status == "submitted"))).all()
    recent = sum(1 for e in events if e.task_id in active and vn(2026, 11, 23, 9) < e.at <= NOW)
    assert recent
    assert f"📥 Mới nộp từ 09:00 23/11/2026: {recent} lượt" in reply.text
    # the headline is on the first page and is the first thing after the title
    assert reply.text.split("\n\n")[1].startswith("Đang theo dõi")
    assert len(STATUS_SECTIONS) >= 2


async def test_one_number_per_task_in_every_view_the_digest_the_workbook_and_the_cli(big, env, monkeypatch):
    db, board = big
    conversation = bot(db)
    leader, officer = sender("leader", "telegram"), sender("officer", "telegram")
    async with db.session() as session:
        summaries = await task_summaries(session, NOW)
        target = summaries[3].task  # its id is not its position
        units = await overdue_units(session, NOW)
    assert target.id != 4
    title = target.title

    def lines_naming(replies: list[Reply]) -> set[int]:
        return {int(n) for r in replies for line in r.text.splitlines() if title[:40] in line
                for n in TASK_REF.findall(line)}

    status = await walk(conversation, leader, await conversation.handle(Incoming.from_text(leader, "/status")))
    tasks = await walk(conversation, leader, await conversation.handle(Incoming.from_text(leader, "/tasks")))
    own = await walk(conversation, officer, await conversation.handle(Incoming.from_text(officer, "/tasks")))
    log = await conversation.handle(Incoming.from_text(leader, f"/log #{target.id}"))
    drill = await conversation.handle(Incoming.from_text(leader, f"/status #{target.id}"))
    assert lines_naming(status) == lines_naming(tasks) == lines_naming(own) == {target.id}
    assert f"📌 #{target.id} · {title}" in drill[0].text
    assert all(f"#{target.id} " in line for line in log[0].text.splitlines()[2:] if line.startswith(("0", "1", "2")))
    extend = await walk(conversation, officer, await conversation.handle(Incoming.from_text(officer, "/extend")))
    assert any(b.label.startswith(f"🕒 #{target.id} ") for p in extend for row in p.buttons for b in row)
    async with db.session() as session:
        digest = await build_digest(session, now=NOW, tz=VN, calendar=WorkCalendar(), since=None)
    assert all(f"#{item.task.id} " in digest.text for item in digest.overdue[:3])
    files = await board_files(db.url, now=NOW, tz=VN)
    book = load_workbook(io.BytesIO(files.workbook), read_only=True)
    assert f"#{target.id}" in book.sheetnames
    assert book[f"#{target.id}"]["A1"].value == title
    # the CLI, on the same database
    monkeypatch.setenv("DATABASE_URL", db.url)
    listing = await asyncio.to_thread(call, "task", "list")
    assert f"#{target.id} {title}" in listing.output
    cli_status = await asyncio.to_thread(call, "status")
    assert re.search(rf"^#{target.id} · {re.escape(title[:40])}", cli_status.output, re.M), cli_status.output[:500]
    assert units
    async with db.session() as session:
        view = await load_view(session, NOW, VN, WorkCalendar())
    assert f"\n#{target.id} · " in status_text(view)


async def test_archive_takes_a_task_off_the_active_board_and_is_logged(big):
    db, board = big
    conversation = bot(db)
    leader, coordinator, officer = sender("leader", "telegram"), sender("coordinator", "telegram"), \
        sender("officer", "telegram")
    async with db.session() as session:
        target = (await task_summaries(session, NOW))[0].task
    assert "không được dùng" in (await conversation.handle(Incoming.from_text(officer, f"/archive #{target.id}")))[0].text
    assert "không được dùng" in (await conversation.handle(Incoming.from_text(leader, f"/archive #{target.id}")))[0].text
    (done,) = await conversation.handle(Incoming.from_text(coordinator, f"/archive #{target.id}"))
    assert f"Đã lưu trữ nhiệm vụ #{target.id}" in done.text
    (again,) = await conversation.handle(Incoming.from_text(coordinator, f"/archive #{target.id}"))
    assert "đã được lưu trữ từ trước" in again.text
    (bad,) = await conversation.handle(Incoming.from_text(coordinator, "/archive 999999"))
    assert "Không có nhiệm vụ #999999" in bad.text
    (usage,) = await conversation.handle(Incoming.from_text(coordinator, "/archive"))
    assert "/archive #SỐ_NHIỆM_VỤ" in usage.text
    async with db.session() as session:
        (audit,) = (await session.exec(select(AuditEvent).where(AuditEvent.action == "task.archived"))).all()
        stored = await session.get(Task, target.id)
        active = [s.task.id for s in await task_summaries(session, NOW)]
        everything = {s.task.id: s for s in await task_summaries(session, NOW, include_archived=True)}
    assert (audit.entity_id, audit.actor) == (target.id, f"person:{board.coordinator}")
    assert stored.archived_at == NOW and stored.archived_by_person_id == board.coordinator
    assert target.id not in active and everything[target.id].archived
    status = await walk(conversation, leader, await conversation.handle(Incoming.from_text(leader, "/status")))
    every = await walk(conversation, leader, await conversation.handle(Incoming.from_text(leader, "/status tất cả")))
    assert not any(re.search(rf"^#{target.id} · ", p.text, re.M) for p in status)
    assert any(re.search(rf"^#{target.id} · .*🗄️ đã lưu trữ", p.text, re.M) for p in every)
    files = await board_files(db.url, now=NOW, tz=VN)
    book = load_workbook(io.BytesIO(files.workbook), read_only=True)
    assert f"#{target.id}" in book.sheetnames


async def test_a_task_whose_every_unit_is_accepted_or_excused_leaves_the_active_board(sqlite_db):
    board = await populate_board(sqlite_db, now=NOW, departments=2, communes=3, tasks=3, events=False)
    async with sqlite_db.session() as session:
        target = (await task_summaries(session, NOW))[0].task
        for a in (await session.exec(select(Assignment).where(Assignment.task_id == target.id))).all():
            if a.status in ("pending", "returned"):
                await transition(session, a, "excused", now=NOW, actor_person_id=board.leader)
            elif a.status == "submitted":
                await transition(session, a, "accepted", now=NOW, actor_person_id=board.coordinator)
    async with sqlite_db.session() as session:
        active = [s.task.id for s in await task_summaries(session, NOW)]
        everything = {s.task.id: s for s in await task_summaries(session, NOW, include_archived=True)}
    assert target.id not in active and everything[target.id].finished and not everything[target.id].archived
    (reply,) = await bot(sqlite_db).handle(Incoming.from_text(sender("leader", "zalo"), "/status tất cả"))
    assert re.search(rf"^#{target.id} · .*✅ đã xong", reply.text, re.M)


def test_paging_counts_the_numbered_lines_on_a_channel_without_buttons():
    blocks = [Block(f"Dòng {i:03d} " + "x" * 30, [[Button(f"Chọn mục số {i:03d} " + "y" * 20, f"pick:{i}")]])
              for i in range(300)]
    for channel, limits in CHANNEL_LIMITS.items():
        pages, page, seen = None, 1, []
        while True:
            reply = paginate(blocks, limits=limits, header="Tiêu đề", page=page, nav=lambda n: f"pg:{n}",
                             extra_buttons=[[Button("Huỷ", "cancel")]])
            assert fits(reply, limits)
            seen += [b.choice for row in reply.buttons for b in row if b.choice.startswith("pick:")]
            current, pages = page_of(reply)
            if current == pages:
                break
            page += 1
        assert seen == [f"pick:{i}" for i in range(300)], channel
    # an overlong block is cut, not sent over the limit
    huge = paginate([Block("a" * 10_000)], limits=CHANNEL_LIMITS["zalo"], header="H", nav=lambda n: f"pg:{n}")
    assert fits(huge, CHANNEL_LIMITS["zalo"]) and huge.text.endswith("…")


async def test_a_large_board_gets_one_detail_sheet_listing_each_units_tasks_by_number(big, monkeypatch):
    db, board = big
    monkeypatch.setattr("handlers.export.LARGE_BOARD", 1000)
    files = await board_files(db.url, now=NOW, tz=VN)
    book = load_workbook(io.BytesIO(files.workbook), read_only=True)
    assert book.sheetnames == ["Tổng hợp", "Theo đơn vị", "Chi tiết", "Nhật ký"]
    rows = list(book["Chi tiết"].iter_rows(min_row=5, values_only=True))
    async with db.session() as session:
        unit = await session.get(Unit, board.officer_unit)
        owed = (await session.exec(select(Assignment.task_id).where(Assignment.unit_id == unit.id))).all()
    (row,) = [r for r in rows if r[1] == unit.code]
    listed = {int(n) for cell in row[3:] if cell for n in TASK_REF.findall(cell)}
    assert listed == set(owed)  # every task of the unit, each under its state, by its number


async def test_grouped_counts_match_the_rows_on_sqlite_and_postgresql(db):
    board = await populate_board(db, now=NOW, departments=4, communes=30, tasks=12)
    async with db.session() as session:
        first = (await session.exec(select(Assignment).where(Assignment.status == "pending").limit(1))).one()
        first.due_at_override = NOW + timedelta(days=30)  # an extension: not overdue, whatever the task's due
        session.add(first)
    async with db.session() as session:
        summaries = await task_summaries(session, NOW, since=NOW - timedelta(days=3), include_archived=True)
        rows = (await session.exec(select(Assignment, Task).join(Task, Task.id == Assignment.task_id))).all()
        ranked = await overdue_units(session, NOW)
        events = (await session.exec(select(StatusEvent).where(StatusEvent.kind == "status",
                                                               StatusEvent.to_status == "submitted"))).all()
    assert len(summaries) == board.tasks
    for summary in summaries:
        mine = [(a, task) for a, task in rows if task.id == summary.task.id]
        due = {a.id: a.due_at_override or task.due_at for a, task in mine}
        assert summary.counts == Counter(a.status for a, _ in mine)
        assert summary.overdue == sum(a.status in ("pending", "returned") and due[a.id] < NOW for a, _ in mine)
        assert summary.late == sum(a.status in ("submitted", "accepted") and a.submitted_at > due[a.id]
                                   for a, _ in mine)
        assert summary.recent == sum(e.task_id == summary.task.id and NOW - timedelta(days=3) < e.at <= NOW
                                     for e in events)
    expected = Counter(a.unit_id for a, task in rows if a.status in ("pending", "returned")
                       and (a.due_at_override or task.due_at) < NOW)
    assert {u.unit_id: u.overdue for u in ranked} == dict(expected)
    assert sum(s.late for s in summaries) > 0 and sum(s.overdue for s in summaries) > 0
    assert sum(s.recent for s in summaries) > 0
