"""End to end: the real aiogram bot, over HTTP, against the local fake Bot API server.

Test users register with invites, list tasks, send signed / tampered / unsigned / broken / fake / oversize
files; coordinators accept and return; a leader reads /status and opens the /export workbook.
"""

from __future__ import annotations

import io
from datetime import timedelta

from openpyxl import load_workbook
from sqlmodel import select

from storage.models import Assignment, Evidence, Role, StatusEvent
from tests import pdf_factory
from tests.conftest import vn
from tests.harness import forge_press


async def test_onboarding_answers_and_unregistered_users_get_nothing(world):
    stranger = world.fake.user(1, "Lạ")
    stranger.send_command("/status")
    assert "chưa được đăng ký" in (await stranger.next_message()).text
    stranger.send_command("/start")
    assert "cần một mã mời" in (await stranger.next_message()).text
    stranger.send_command("/start KHONGCOMA")
    assert "Mã mời không đúng" in (await stranger.next_message()).text
    expired = await world.invite(unit="HOXA", ttl=timedelta(seconds=-1))
    stranger.send_command(f"/start {expired}")
    assert "đã hết hạn" in (await stranger.next_message()).text

    code = await world.invite(unit="HOXA", role=Role.officer)
    stranger.send_command(f"/start {code}")
    assert "Đăng ký thành công" in (await stranger.next_message()).text
    other = world.fake.user(2, "Khác")
    other.send_command(f"/start {code}")
    assert "đã được dùng" in (await other.next_message()).text
    other.send_command("/tasks")
    assert "chưa được đăng ký" in (await other.next_message()).text
    stranger.send_command("/tasks")
    tasks = await stranger.next_message()
    assert "Việc của Thị trấn Hồ Xá" in tasks.text


async def test_menu_is_set_in_vietnamese_and_larger_for_staff(world):
    default = world.fake.commands()
    assert [c["command"] for c in default] == ["tasks", "status", "log", "extend", "tiendo", "giaitrinh", "help"]
    leader = await world.register("Lê Quang Vinh")
    await world.fake.wait_for_call("setMyCommands", lambda p: str(leader.id) in str(p.get("scope")))
    staff = world.fake.commands({"type": "chat", "chat_id": leader.id})
    assert {"late", "export", "status"} <= {c["command"] for c in staff}
    assert any("tình hình" in c["description"] for c in staff)


async def test_officer_submits_a_signed_pdf_and_the_coordinator_accepts(world):
    officer = await world.register("Võ Thị Lan")  # Văn phòng: five open tasks
    coordinator = await world.register("Nguyễn Thị Hương")
    officer.send_command("/tasks")
    tasks = await officer.next_message()
    assert "«chậm nhất ngày 27/11/2026» (hết ngày thứ Sáu 27/11/2026)" in tasks.text
    assert "còn 3 ngày làm việc" in tasks.text  # Tue, Wed (24/11 is a holiday from 2026: Thu, Fri)
    first = next(d for d in tasks.callback_data if d.startswith("submit:"))
    officer.press(tasks, first)
    prompt = await officer.next_message()
    assert "yêu cầu tệp PDF có ký số" in prompt.text

    signed, _ = pdf_factory.make_signed_pdf(pages=2)
    officer.send_document(signed, "bao-cao-cchc.pdf")
    receipt = await officer.next_message()
    assert "✅ Đã nhận tài liệu" in receipt.text
    assert "2 trang" in receipt.text and pdf_factory.SIGNER_NAME in receipt.text
    assert "còn nguyên vẹn, chứng thư tin cậy" in receipt.text
    assert "Nộp đúng hạn" in receipt.text and "Lần nộp: 1" in receipt.text

    notice = await coordinator.next_message(lambda m: "đã nộp tài liệu" in (m.text or ""))
    assert "Văn phòng HĐND và UBND huyện" in notice.text and pdf_factory.SIGNER_NAME in notice.text
    accept = next(d for d in notice.callback_data if d.startswith("accept:"))
    file_button = next(d for d in notice.callback_data if d.startswith("file:"))
    coordinator.press(notice, file_button)
    document = await coordinator.next_message(lambda m: m.document is not None)
    assert document.document == signed and document.filename == "bao-cao-cchc.pdf"

    forge_press(world.fake, officer, tasks, file_button)  # an officer may not fetch stored files
    assert "không được dùng" in (await officer.next_message()).text

    coordinator.press(notice, accept)
    edited = await coordinator.next_message(lambda m: m.is_edit)
    assert "Đã chấp nhận" in edited.text
    accepted = await officer.next_message(lambda m: "được chấp nhận" in (m.text or ""))
    assert "Cảm ơn" in accepted.text

    officer.send_document(signed, "bao-cao-cchc.pdf", caption="#1")
    again = await officer.next_message()
    assert "đã ở trạng thái «đã duyệt», không nhận thêm" in again.text
    async with world.app.db.session() as session:
        evidence = (await session.exec(select(Evidence))).all()
        assert len(evidence) == 1 and evidence[0].signed and evidence[0].signatures_intact
        assert world.app.store.read(evidence[0].storage_key) == signed


async def test_bad_files_get_clear_answers_and_nothing_is_stored(world):
    officer = await world.register("Võ Thị Lan")
    assignment = await world.assignment("VP", 0)  # needs a signed PDF
    officer.send_command("/tasks")
    tasks = await officer.next_message()

    async def send(data: bytes, name: str, **kwargs) -> str:
        officer.press(tasks, f"submit:{assignment.id}")
        await officer.next_message()
        officer.send_document(data, name, **kwargs)
        return (await officer.next_message()).text

    signed, _ = pdf_factory.make_signed_pdf()
    assert "không còn nguyên vẹn" in await send(pdf_factory.tamper(signed), "da-sua.pdf")
    assert "chưa được ký số" in await send(pdf_factory.make_pdf(), "chua-ky.pdf")
    assert "bị hỏng" in await send(pdf_factory.make_broken_pdf(), "hong.pdf")
    assert "không phải tệp PDF" in await send(pdf_factory.make_jpeg_bytes(), "anh.pdf", mime_type="image/jpeg")
    assert "đang đặt mật khẩu" in await send(pdf_factory.make_encrypted_pdf(), "mat-khau.pdf")
    big = await send(b"%PDF-1.7\n" + b"0" * 64, "qua-lon.pdf", file_size=21 * 1024 * 1024)
    assert "quá lớn" in big and "20 MB" in big
    assert not any(call.get("file_id", "").endswith("qua-lon") for call in world.fake.calls_of("getFile"))

    async with world.app.db.session() as session:
        assert (await session.exec(select(Evidence))).all() == []
        row = await session.get(Assignment, assignment.id)
        assert row.status == "pending" and row.round == 0
    evidence_dir = world.app.settings.data_dir / "evidence"
    assert not evidence_dir.exists() or not any(p.is_file() for p in evidence_dir.rglob("*"))

    # an unsigned file is fine for a task that does not require a signature, matched by the caption
    officer.send_document(pdf_factory.make_pdf(), "nguoi-khuyet-tat.pdf", caption="kiến nghị Người khuyết tật")
    receipt = await officer.next_message()
    assert "Báo cáo kết quả xử lý kiến nghị của Người khuyết tật" in receipt.text
    assert "tệp chưa được ký số" in receipt.text


async def test_return_with_reason_then_resubmission_is_a_new_round(world):
    officer = await world.register("Võ Thị Lan")
    coordinator = await world.register("Nguyễn Thị Hương")
    first = pdf_factory.make_pdf(text="Ban dau")
    officer.send_document(first, "lan-1.pdf")  # five open tasks: the bot asks which one
    question = await officer.next_message()
    assert "dùng cho nhiệm vụ nào" in question.text
    target = await world.assignment("VP", 4)
    officer.press(question, f"pick:{target.id}")
    assert "Lần nộp: 1" in (await officer.next_message()).text
    officer.send_document(first, "lan-1-gui-lai.pdf", caption="kiến nghị của Người khuyết tật")
    assert "đã được nhận cho nhiệm vụ «Báo cáo kết quả xử lý kiến nghị của Người khuyết tật» rồi" in (
        await officer.next_message()).text
    officer.send_document(pdf_factory.make_pdf(text="Phu luc"), "phu-luc.pdf", caption="kiến nghị của Người khuyết tật")
    assert "Đã bổ sung vào lần nộp 1" in (await officer.next_message()).text

    notice = await coordinator.next_message(lambda m: "đã nộp tài liệu" in (m.text or ""))
    coordinator.press(notice, next(d for d in notice.callback_data if d.startswith("return:")))
    await coordinator.next_message(lambda m: "Lý do trả lại" in (m.text or ""))
    coordinator.send_text("Thiếu số liệu quý III")
    done = await coordinator.next_message(lambda m: "trả lại hồ sơ" in (m.text or "").lower())
    assert "Đã trả lại" in done.text and "Thiếu số liệu quý III" in done.text
    returned = await officer.next_message(lambda m: "bị trả lại" in (m.text or ""))
    assert "Thiếu số liệu quý III" in returned.text

    officer.send_document(first, "lan-1.pdf", reply_to=returned.message_id)
    assert "đã bị trả lại" in (await officer.next_message()).text  # the same file again
    officer.send_document(pdf_factory.make_pdf(text="Da sua"), "lan-2.pdf", reply_to=returned.message_id)
    assert "Lần nộp: 2" in (await officer.next_message()).text
    async with world.app.db.session() as session:
        row = await session.get(Assignment, target.id)
        assert (row.status, row.round) == ("submitted", 2)
        changes = (await session.exec(select(StatusEvent.to_status, StatusEvent.note).where(
            StatusEvent.assignment_id == target.id, StatusEvent.kind == "status").order_by(StatusEvent.id))).all()
        assert [c[0] for c in changes] == ["submitted", "returned", "submitted"]
        assert changes[1][1] == "Thiếu số liệu quý III"

    coordinator.send_command("/review")
    heading = await coordinator.next_message(lambda m: "hồ sơ đang chờ" in (m.text or ""))
    assert "Có 6 hồ sơ đang chờ xem xét" in heading.text  # with the five the demo has waiting
    # one message, each submission numbered with its buttons (paged when longer than a message)
    item = next(block for block in heading.text.split("\n\n") if "Văn phòng" in block)
    assert "lần 2" in item and "#5 «" in item
    assert any(c.startswith("accept:") and c.endswith(":2") for c in heading.callback_data)  # round 2


async def test_leader_reads_status_late_log_and_the_export_workbook(world):
    leader = await world.register("Lê Quang Vinh")
    officer = await world.register("Nguyễn Văn An")
    leader.send_command("/status")
    status = await leader.next_message()
    assert "📊 Tình hình thực hiện" in status.text and "Đang theo dõi 7 nhiệm vụ" in status.text
    assert "\n#1 · Báo cáo kết quả thực hiện Kế hoạch CCHC năm 2024" in status.text and "2/5 đã nộp" in status.text
    assert status.callback_data[0] == "task:1" and "rank:1" in status.callback_data
    leader.press(status, status.callback_data[0])
    detail = await leader.next_message()
    assert "✅ Đã duyệt (1):\nPhòng Nội vụ" in detail.text and "📥 Đã nộp, chờ duyệt (1):\nPhòng Tư pháp" in detail.text
    leader.press(status, "rank:1")
    ranking = await leader.next_message()
    assert "Xếp hạng đơn vị theo tỉ lệ đúng hạn" in ranking.text and ranking.callback_data[0].startswith("unit:")

    officer.send_command("/status")
    own = await officer.next_message()
    assert "Thị trấn Hồ Xá" in own.text and "Xã Vĩnh Thái" not in own.text
    officer.send_command("/export")
    assert "không được dùng" in (await officer.next_message()).text

    world.clock.set(vn(2026, 11, 30, 9))
    leader.send_command("/late")
    late = await leader.next_message()
    assert "Đơn vị quá hạn" in late.text and "Phòng Tài chính - Kế hoạch (quá hạn 3 ngày)" in late.text
    assert "• #1 · " in late.text
    leader.send_command("/log NV")
    log = await leader.next_message()
    assert "duyệt" in log.text and "Phòng Nội vụ" in log.text and "#1 " in log.text

    leader.send_command("/export")
    exported = await leader.next_message(lambda m: m.document is not None)
    assert exported.filename.endswith(".xlsx")
    book = load_workbook(io.BytesIO(exported.document))
    assert book.sheetnames[:2] == ["Tổng hợp", "Theo đơn vị"] and "Nhật ký" in book.sheetnames
    summary = book["Tổng hợp"]
    rows = [[cell.value for cell in row] for row in summary.iter_rows(min_row=5, max_row=11)]
    first = rows[0]
    assert "Báo cáo kết quả thực hiện Kế hoạch CCHC năm 2024" in str(first)
    assert 5 in first and 3 in first  # five units, three overdue on 30/11
