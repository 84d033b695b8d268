"""The web page for files: upload links for channels without files (Zalo) and for Telegram files over
20 MB, download links for outgoing files. A real aiohttp server on 127.0.0.1 (any free port) inside the
running bot (``run_telegram`` against the fake Bot API), driven over HTTP with aiohttp's client."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from urllib.parse import quote

import aiohttp
import pytest
from sqlmodel import select

from bot.web import content_disposition
from storage.links import LinkKind, claim_upload, clean_file_name, issue_upload, make_token, token_id_of
from storage.models import Assignment, Evidence, IssuedLink, OutboxMessage, Person, StatusEvent, Task, Unit
from tests import pdf_factory
from handlers.chat import OutFile, Reply
from tests.web_support import DOWNLOAD_URL, UPLOAD_URL, fileless, upload_urls, web_world

XHR = {"X-Requested-With": "XMLHttpRequest"}


@pytest.fixture
async def world(tmp_path, monkeypatch):
    async with web_world(tmp_path, monkeypatch) as world:
        yield world


def form(*files: tuple[str, bytes, str], fields: dict[str, str] | None = None) -> aiohttp.FormData:
    data = aiohttp.FormData(quote_fields=False)  # as browsers send it: the UTF-8 name as it is
    for key, value in (fields or {}).items():
        data.add_field(key, value)
    for name, content, field in files:
        data.add_field(field, content, filename=name, content_type="application/pdf")
    return data


async def post(url: str, data, *, headers=XHR) -> tuple[int, dict | str]:
    async with aiohttp.ClientSession() as http, http.post(url, data=data, headers=headers) as response:
        body = await response.json() if response.content_type == "application/json" else await response.text()
        return response.status, body


async def get(url: str) -> tuple[int, str, aiohttp.ClientResponse, bytes]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        raw = await response.read()
        return response.status, raw.decode("utf-8", "replace"), response, raw


async def nothing_stored(world, assignment_id: int) -> None:
    async with world.app.db.session() as session:
        assert (await session.exec(select(Evidence))).all() == []
        row = await session.get(Assignment, assignment_id)
        assert row.status == "pending" and row.round == 0
    evidence_dir = world.app.settings.data_dir / "evidence"
    assert not evidence_dir.exists() or not any(p.is_file() for p in evidence_dir.rglob("*"))


async def open_rows(world, unit_code: str) -> list[tuple[Assignment, Task]]:
    async with world.app.db.session() as session:
        unit = (await session.exec(select(Unit).where(Unit.code == unit_code))).one()
        return list((await session.exec(select(Assignment, Task).join(Task, Task.id == Assignment.task_id)
                                        .where(Assignment.unit_id == unit.id).order_by(Task.due_at, Task.id))).all())


async def test_zalo_submit_link_page_upload_records_evidence_and_queues_the_receipt(world):
    await world.register("Võ Thị Lan")  # the same person is on Telegram too; Zalo is the one used last
    officer = await fileless(world, "Võ Thị Lan")
    coordinator = await world.register("Nguyễn Thị Hương")
    assignment, task = (await open_rows(world, "VP"))[0]  # needs a signed PDF

    replies = await officer.say(choice=f"submit:{assignment.id}")
    [url] = upload_urls(replies)
    assert f"#{task.id}" in replies[0].text and "60 phút" in replies[0].text and "50 MB" in replies[0].text
    assert "Hãy gửi tệp PDF cho nhiệm vụ «" in replies[0].text and "ký số" in replies[0].text

    status, page, response, _ = await get(url)
    assert status == 200 and response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert f"Nhiệm vụ #{task.id}" in page and task.title in page and "hết ngày" in page
    assert "tối đa 50 MB" in page and 'accept="application/pdf,.pdf"' in page
    assert "<link" not in page and "src=" not in page  # no external assets
    assert len(page.encode()) < 12_000
    assert (await get(world.app.web.base_url + "/healthz"))[:2] == (200, "ok")

    signed, _ = pdf_factory.make_signed_pdf(pages=2)
    status, body = await post(url, form(("bao-cao ký.pdf", signed, "file")))
    assert status == 200 and body["ok"], body
    assert "Đã nhận tài liệu" in body["text"] and "2 trang" in body["text"]

    async with world.app.db.session() as session:
        [evidence] = (await session.exec(select(Evidence))).all()
        assert evidence.channel == "web" and evidence.file_name == "bao-cao ký.pdf" and evidence.signed
        assert world.app.store.read(evidence.storage_key) == signed
        events = (await session.exec(select(StatusEvent).where(StatusEvent.assignment_id == assignment.id))).all()
        assert [(e.from_status, e.to_status, e.actor_person_id) for e in events if e.from_status] == [
            ("pending", "submitted", officer.person.id)]
        [receipt_row] = (await session.exec(select(OutboxMessage).where(OutboxMessage.kind == "receipt"))).all()
        assert (receipt_row.channel, receipt_row.chat_id) == ("zalo", officer.user_id)
        assert "Đã nhận tài liệu" in receipt_row.payload["text"]
        link = (await session.exec(select(IssuedLink))).one()
        assert link.used_at is not None

    receipt = await officer.chat.next_message()  # the receipt arrived in the person's Zalo chat
    assert "Đã nhận tài liệu" in receipt.text and "2 trang" in receipt.text
    notice = await coordinator.next_message(lambda m: "đã nộp tài liệu" in (m.text or ""))
    assert "Văn phòng HĐND và UBND huyện" in notice.text

    # the link is single-use: a second upload (another file) is refused and stores nothing
    status, body = await post(url, form(("lan-2.pdf", pdf_factory.make_signed_pdf()[0], "file")))
    assert status == 410 and not body["ok"] and "đã được dùng" in body["title"]
    status, page, _, _ = await get(url)
    assert status == 410 and "đã được dùng" in page
    async with world.app.db.session() as session:
        assert len((await session.exec(select(Evidence))).all()) == 1


async def test_a_file_zalo_cannot_deliver_gets_one_link_per_open_task(world):
    officer = await fileless(world, "Võ Thị Lan")
    rows = await open_rows(world, "VP")
    assert len(rows) > 1
    officer.chat.send_file()  # through the real Zalo channel: message.unsupported.received
    answer = await officer.chat.next_message()
    text = answer.text
    assert "Zalo không chuyển tệp" in text and "PDF" in text
    assert len(UPLOAD_URL.findall(text)) == len(rows)
    for _, task in rows:
        assert f"#{task.id} «" in text
    assert text.count("hạn «") == len(rows)
    async with world.app.db.session() as session:
        links = (await session.exec(select(IssuedLink))).all()
        assert sorted(link.assignment_id for link in links) == sorted(a.id for a, _ in rows)
        assert {link.person_id for link in links} == {officer.person.id}
        assert all(link.expires_at == world.clock.now() + timedelta(minutes=60) for link in links)

    # once "Nộp" was chosen for one task, a file Zalo cannot deliver gets that task's link only
    await officer.say(choice=f"submit:{rows[1][0].id}")
    replies = await officer.say(unsupported=True)
    assert len(upload_urls(replies)) == 1 and f"#{rows[1][1].id}" in replies[0].text


async def test_bad_links_get_a_clear_page_and_nothing_is_stored(world):
    officer = await fileless(world, "Võ Thị Lan")
    assignment, _ = (await open_rows(world, "VP"))[1]  # no signature needed
    [url] = upload_urls(await officer.say(choice=f"submit:{assignment.id}"))
    pdf = pdf_factory.make_pdf()

    token = url.rsplit("/", 1)[1]
    forged = url.rsplit("/", 1)[0] + "/" + token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    status, page, _, _ = await get(forged)
    assert status == 404 and "Liên kết không hợp lệ" in page
    status, body = await post(forged, form(("a.pdf", pdf, "file")))
    assert status == 404 and "không hợp lệ" in body["title"]
    status, page, _, _ = await get(url.rsplit("/", 1)[0] + "/khong-phai-ma")
    assert status == 404 and "Liên kết không hợp lệ" in page

    # a link for another unit's assignment (issued by mistake or crafted with the key): refused
    other, _ = (await open_rows(world, "NV"))[0]
    async with world.app.db.session() as session:
        token = await issue_upload(session, world.app.ctx.links.secret, person_id=officer.person.id,
                                   assignment_id=other.id, now=world.clock.now())
    status, body = await post(world.app.ctx.links.upload_url(token), form(("a.pdf", pdf, "file")))
    assert status == 403 and "không thuộc đơn vị của bạn" in body["text"]
    status, page, _, _ = await get(world.app.ctx.links.upload_url(token))
    assert status == 403 and "không thuộc đơn vị của bạn" in page

    # expired after 60 minutes
    world.clock.set(world.clock.now() + timedelta(minutes=61))
    status, page, _, _ = await get(url)
    assert status == 410 and "hết hạn" in page
    status, body = await post(url, form(("a.pdf", pdf, "file")))
    assert status == 410 and "hết hạn" in body["title"]
    await nothing_stored(world, assignment.id)


async def test_bad_uploads_get_a_clear_answer_store_nothing_and_leave_the_link_usable(world):
    officer = await fileless(world, "Võ Thị Lan")
    assignment, _ = (await open_rows(world, "VP"))[1]
    [url] = upload_urls(await officer.say(choice=f"submit:{assignment.id}"))
    pdf = pdf_factory.make_pdf()

    status, body = await post(url, form(("anh.pdf", pdf_factory.make_jpeg_bytes(), "file")))
    assert status == 415 and "không phải tệp PDF" in body["text"]
    status, body = await post(url, form(fields={"ghi_chu": "không có tệp"}))
    assert status == 400 and "Chưa có tệp" in body["text"]
    status, body = await post(url, b"", headers={**XHR, "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400 and "Chưa có tệp" in body["text"]
    cut = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n%PDF-1.7 cut off'
    status, body = await post(url, cut, headers={**XHR, "Content-Type": "multipart/form-data; boundary=b"})
    assert status == 400 and "bị gián đoạn" in body["text"], body
    status, body = await post(url, form(("rong.pdf", b"", "file")))
    assert status == 400 and "Chưa có tệp" in body["text"]
    status, body = await post(url, form(("a.pdf", pdf, "file"), ("b.pdf", pdf, "file2")))
    assert status == 400 and "một tệp PDF" in body["text"]
    status, body = await post(url, form(("hong.pdf", pdf_factory.make_broken_pdf(), "file")))
    assert status == 422 and "bị hỏng" in body["text"]
    status, body = await post(url, form(("mk.pdf", pdf_factory.make_encrypted_pdf(), "file")))
    assert status == 422 and "mật khẩu" in body["text"]
    # without the script (a plain form post) the answer is a page
    status, page = await post(url, form(("anh.pdf", pdf_factory.make_jpeg_bytes(), "file")), headers={})
    assert status == 415 and "<!doctype html>" in page and "không phải tệp PDF" in page
    await nothing_stored(world, assignment.id)

    status, body = await post(url, form(("dung.pdf", pdf, "file")))
    assert status == 200 and body["ok"], body  # the link still works after refused files


async def test_an_upload_over_the_limit_is_refused_while_it_streams(world):
    officer = await fileless(world, "Võ Thị Lan")
    assignment, _ = (await open_rows(world, "VP"))[1]
    world.app.ctx.links.upload_max_bytes = 1024 * 1024
    [url] = upload_urls(await officer.say(choice=f"submit:{assignment.id}"))
    assert "tối đa 1 MB" in (await get(url))[1]

    # declared too large: refused before the body is read
    big = b"%PDF-1.7\n" + b"0" * (3 * 1024 * 1024)
    status, body = await post(url, form(("lon.pdf", big, "file")))
    assert status == 413 and "vượt quá 1 MB" in body["text"]

    # no length declared (chunked): refused once past the limit, long before the sender is done
    sent = 0
    total = 200 * 1024 * 1024
    boundary = "dondoc-bien"

    async def body_stream():
        nonlocal sent
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"lon.pdf\"\r\n"
               "Content-Type: application/pdf\r\n\r\n%PDF-1.7\n").encode()
        chunk = b"0" * (64 * 1024)
        while sent < total:
            sent += len(chunk)
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {**XHR, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    try:
        status, body = await post(url, body_stream(), headers=headers)
        assert status == 413 and "vượt quá 1 MB" in body["text"]
    except aiohttp.ClientError:
        pass  # the server may close the connection on a sender that keeps going; nothing was taken either way
    assert sent < total / 4, sent
    await nothing_stored(world, assignment.id)
    async with world.app.db.session() as session:
        assert (await session.exec(select(IssuedLink))).one().used_at is None


async def test_telegram_file_over_20_mb_gets_the_upload_link(world):
    officer = await world.register("Võ Thị Lan")
    assignment, task = (await open_rows(world, "VP"))[1]
    officer.send_command("/tasks")
    tasks = await officer.next_message()
    officer.press(tasks, f"submit:{assignment.id}")
    await officer.next_message()
    officer.send_document(b"%PDF-1.7\n" + b"0" * 64, "lon-25mb.pdf", file_size=25 * 1024 * 1024)
    answer = await officer.next_message()
    assert "vượt giới hạn 20 MB" in answer.text and f"#{task.id}" in answer.text
    [url] = re.findall(r"http://127\.0\.0\.1:\d+/u/\S+", answer.text)
    assert not world.fake.calls_of("getFile")  # never downloaded
    status, body = await post(url, form(("lon.pdf", pdf_factory.make_pdf(), "file")))
    assert status == 200 and body["ok"]
    receipt = await officer.next_message(lambda m: "Đã nhận tài liệu" in (m.text or ""))
    assert task.title in receipt.text

    officer.send_document(b"%PDF-1.7\n", "qua-lon.pdf", file_size=60 * 1024 * 1024)
    refused = await officer.next_message()
    assert "quá lớn" in refused.text and "50 MB" in refused.text and "/u/" not in refused.text


async def test_outgoing_files_become_download_links_bound_to_the_person(world):
    leader = await fileless(world, "Lê Quang Vinh")
    leader.chat.send_text("/export")  # through the real Zalo channel: no documents there
    shown = await leader.chat.next_message()
    [url] = DOWNLOAD_URL.findall(shown.text)
    status, _, response, raw = await get(url)
    assert status == 200 and raw[:2] == b"PK"
    assert response.headers["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="dondoc-') and "filename*=UTF-8''dondoc-" in disposition
    status, _, _, again = await get(url)  # a phone may open it twice
    assert status == 200 and again == raw
    async with world.app.db.session() as session:
        link = (await session.exec(select(IssuedLink))).one()
        assert link.kind == "download" and link.person_id == leader.person.id and not link.staff_only
    world.clock.set(world.clock.now() + timedelta(hours=25))
    status, page, _, _ = await get(url)
    assert status == 410 and "hết hạn" in page


async def test_evidence_download_links_are_for_staff_only_and_always_pdf(world):
    officer = await fileless(world, "Võ Thị Lan")
    coordinator = await fileless(world, "Nguyễn Thị Hương")
    zalo = world.app.transports["zalo"]
    pdf = pdf_factory.make_pdf()
    evidence = OutFile('Báo cáo "quý" 4.PDF', pdf, "application/pdf")

    await zalo.deliver(coordinator.user_id, Reply("Hồ sơ", document=evidence))
    [url] = DOWNLOAD_URL.findall((await coordinator.chat.next_message()).text)
    status, _, response, raw = await get(url)
    assert status == 200 and raw == pdf and response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == content_disposition("Báo cáo quý 4.pdf")
    assert "sandbox" in response.headers["Content-Security-Policy"]

    await zalo.deliver(officer.user_id, Reply("Hồ sơ", document=evidence))  # sent to a non-staff person by mistake
    [officer_url] = DOWNLOAD_URL.findall((await officer.chat.next_message()).text)
    status, page, _, _ = await get(officer_url)
    assert status == 403 and "chỉ dành cho Phòng Nội vụ" in page

    async with world.app.db.session() as session:  # no longer staff: the link she got no longer opens
        person = await session.get(Person, coordinator.person.id)
        person.role = "officer"
    status, page, _, _ = await get(url)
    assert status == 403 and "chỉ dành cho Phòng Nội vụ" in page


async def test_the_digest_chart_goes_to_zalo_as_a_photo_by_url(world):
    leader = await fileless(world, "Lê Quang Vinh")
    chart = OutFile("bieu-do.png", b"\x89PNG-chart", "image/png")
    await world.app.transports["zalo"].deliver(leader.user_id, Reply("Bản tin sáng", image=chart))
    [photo] = [sent for sent in world.zfake.calls_of("sendPhoto")]
    status, _, response, raw = await get(photo["photo"])
    assert status == 200 and raw == b"\x89PNG-chart" and response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Disposition"].startswith("inline;")


async def test_an_upload_link_is_used_once_even_when_two_uploads_race(db, clock):
    from bot.demo import load_demo
    from tests.conftest import VN

    await load_demo(db, now=clock.now(), tz=VN)
    async with db.session() as session:
        person = (await session.exec(select(Person))).first()
        assignment = (await session.exec(select(Assignment))).first()
        token = await issue_upload(session, b"k" * 32, person_id=person.id, assignment_id=assignment.id,
                                   now=clock.now())
        link_id = (await session.exec(select(IssuedLink))).one().id

    async def claim() -> bool:
        async with db.session() as session:
            return await claim_upload(session, link_id, clock.now())

    assert sorted(await asyncio.gather(claim(), claim())) == [False, True]
    assert token_id_of(b"k" * 32, LinkKind.upload, token) is not None
    assert token_id_of(b"x" * 32, LinkKind.upload, token) is None  # another key
    assert token_id_of(b"k" * 32, LinkKind.download, token) is None  # the other kind
    assert make_token(b"k" * 32, "upload", token.split(".")[0]) == token


def test_clean_names_and_content_disposition():
    assert clean_file_name("../../etc/passwd", "application/pdf") == "passwd.pdf"
    assert clean_file_name("C:\\Users\\x\\Báo cáo.PDF", "application/pdf") == "Báo cáo.pdf"
    assert clean_file_name("a\x00b\r\n\"c\".pdf", "application/pdf") == "ab c.pdf"  # line breaks are spaces
    assert clean_file_name("", "application/pdf") == "tep.pdf"
    header = content_disposition("Báo cáo quý 4.pdf")
    assert header == f"attachment; filename=\"Bo co qu 4.pdf\"; filename*=UTF-8''{quote('Báo cáo quý 4.pdf', safe='')}"
    assert content_disposition("Báo.png", inline=True).startswith('inline; filename="Bo.png"')


async def test_a_reply_to_a_reminder_in_zalo_gets_that_tasks_link_and_no_web_page_is_said_plainly(world):
    from storage.outbox import Recipient, enqueue, mark_sent

    officer = await fileless(world, "Võ Thị Lan")
    rows = await open_rows(world, "VP")
    assignment, task = rows[2]
    async with world.app.db.session() as session:
        await enqueue(session, dedupe_key="reminder-test", payload={"text": "Nhắc việc", "buttons": []},
                      recipient=Recipient(officer.person.id, "zalo", officer.sender.chat_id), now=world.clock.now(),
                      kind="reminder", assignment_id=assignment.id)
        message = (await session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == "reminder-test"))).one()
        await mark_sent(session, message.id, now=world.clock.now(), platform_message_id="zalo-msg-1")

    replies = await officer.say(text="Gửi báo cáo", reply_to="zalo-msg-1")
    assert len(upload_urls(replies)) == 1 and f"#{task.id}" in replies[0].text
    plain = await officer.say(text="Xin chào")  # not a reply: the usual hint
    assert not upload_urls(plain) and "chưa hiểu" in plain[0].text

    world.app.ctx.links = None  # no PUBLIC_BASE_URL: a channel without files is told so, not sent a dead end
    replies = await officer.say(choice=f"submit:{assignment.id}")
    assert "chưa bật trang nộp tệp" in replies[0].text


def test_the_link_key_comes_from_web_secret_or_is_derived_and_stable(tmp_path):
    from bot.settings import load_settings

    base = dict(data_dir=tmp_path, telegram_bot_token="123:abc", public_base_url="https://dondoc.example.vn/")
    derived = load_settings(**base).web_key
    assert derived == load_settings(**base).web_key and len(derived) == 32
    assert load_settings(**{**base, "telegram_bot_token": "123:other"}).web_key != derived
    assert load_settings(**base, web_secret="s" * 40).web_key not in (derived, b"s" * 40)
    assert load_settings(**base).public_base == "https://dondoc.example.vn"
    assert load_settings(data_dir=tmp_path, public_base_url="").public_base is None
