"""Hostile files (made here, see ``tests/hostile.py``): each gets a clear answer within its limit,
while an ordinary PDF from someone else still gets checked at once.

Nothing here waits on a wall clock for work a loaded CPU slows: limits are CPU time, memory is
measured with tracemalloc, and "at once" is an order of events (the ordinary file's report arrives
while the hostile files are still being worked on). The time it took is printed, not asserted tight.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc

import pytest
from sqlmodel import select

from bot.app import make_sandbox
from handlers import messages as m
from storage.evidence import evidence_of
from storage.filestore import clean_file_name, clean_pdf_name
from storage.letterfile import LetterError, LetterLimits, LetterReader, read_letter_sync
from storage.models import Evidence
from storage.pdfcheck import PdfCheckLimits, PdfInspector, PdfReport, inspect_pdf_sync
from storage.sandbox import JobLimits, Sandbox
from tests import hostile as h
from tests import pdf_factory as pf
from tests.conftest import letter_reader, shared_sandbox

# --------------------------------------------------------------------------------------------
# Letters


@pytest.mark.parametrize("make", [h.gridspan_bomb, h.vmerge_chain], ids=["gridspan-2e9", "vmerge-3000"])
async def test_docx_bombs_are_read_cell_by_cell_in_the_sandbox(make) -> None:
    text = await letter_reader().read(make(), "bom.docx", owner="coordinator")
    assert text.startswith("CÔNG VĂN") and h.LETTER_LINE in text


@pytest.mark.parametrize("make", [h.gridspan_bomb, h.vmerge_chain], ids=["gridspan-2e9", "vmerge-3000"])
async def test_a_parser_that_falls_for_a_bomb_is_stopped_by_the_sandbox_limits(make) -> None:
    """The old reader (python-docx's cell grid) on the same files: 3.7 GB or minutes in the bot's
    process before; in the sandbox it hits its memory or CPU limit and the answer is still clear."""
    reader = LetterReader(shared_sandbox(), LetterLimits(cpu_seconds=1, memory_mb=384), job=h.old_docx_reader_job)
    with pytest.raises(LetterError, match=r"Tệp «bom.docx» (quá phức tạp để đọc tự động|cần quá nhiều bộ nhớ)"):
        await reader.read(make(), "bom.docx", owner="coordinator")


def _peak_mb(work) -> tuple[object, float]:
    tracemalloc.start()
    try:
        try:
            result = work()
        except LetterError as exc:
            result = exc
        return result, tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def test_a_lying_zip_is_refused_after_inflating_little_more_than_it_declares() -> None:
    data = h.lying_zip()  # word/document.xml declares 2 KB and inflates to 300 MB
    assert len(data) < 1_000_000

    error, peak = _peak_mb(lambda: read_letter_sync(data, "cv.docx"))

    assert isinstance(error, LetterError)
    assert "giải nén ra khác với kích thước ghi trong tệp" in str(error)
    assert peak < 5  # MB: stopped a read past the declared 2 KB, never near the 300 MB


def test_a_zip_that_honestly_inflates_too_far_is_stopped_at_the_bound() -> None:
    error, peak = _peak_mb(lambda: read_letter_sync(h.lying_zip(honest=True), "cv.docx"))

    assert isinstance(error, LetterError) and "giải nén ra quá lớn (hơn 30 MB)" in str(error)
    assert peak < 80  # MB: the 30 MB bound plus one read, not 300 MB


async def test_lying_zip_through_the_sandbox() -> None:
    with pytest.raises(LetterError, match="giải nén ra khác với kích thước"):
        await letter_reader().read(h.lying_zip(), "cv.docx")


async def test_pypdf_dependency_error_is_a_clear_answer() -> None:
    with pytest.raises(LetterError, match=r"Tệp PDF «b.pdf» dùng cách nén hoặc mã hoá mà máy chủ chưa hỗ trợ"):
        await letter_reader().read(h.brotli_text_pdf(), "b.pdf")


async def test_pypdf_deprecation_error_is_a_clear_answer() -> None:
    reader = LetterReader(shared_sandbox(), job=h.deprecation_error_job)
    with pytest.raises(LetterError, match=r"Tệp PDF «cu.pdf» dùng tính năng cũ mà bộ đọc PDF không còn hỗ trợ"):
        await reader.read(pf.make_pdf(), "cu.pdf")


async def test_certificate_encrypted_letter_names_the_cause() -> None:
    with pytest.raises(LetterError, match="mã hoá bằng chứng thư số của người nhận"):
        await letter_reader().read(h.certificate_encrypted_pdf(), "mat.pdf")


# --------------------------------------------------------------------------------------------
# Evidence


@pytest.mark.parametrize("make", [h.html_pdf, h.zip_with_pdf_first, h.mz_pdf, h.pdf_then_html],
                         ids=["html+pdf", "pdf+zip", "mz+pdf", "pdf+html"])
async def test_polyglots_are_refused_before_any_child(make) -> None:
    data = make()
    inspector = PdfInspector(python="/nonexistent/python3")  # starting a child would raise
    try:
        assert await inspector.inspect(data) == PdfReport.failed("polyglot")
    finally:
        await inspector.aclose()
    assert inspect_pdf_sync(data) == PdfReport.failed("polyglot")
    assert "không chỉ là một tệp PDF" in m.pdf_problem("x.pdf", "polyglot")


def test_blank_space_before_the_header_and_after_eof_is_no_polyglot() -> None:
    assert inspect_pdf_sync(b"\r\n  " + pf.make_pdf() + b"\n\n\x00").ok
    assert inspect_pdf_sync(pf.make_pdf() + b"\r\nscanner junk: mz <html>\n").ok  # no signature at its start


@pytest.mark.parametrize("kind", ["javascript", "launch", "embedded_file"])
def test_active_content_is_found(kind: str) -> None:
    report = inspect_pdf_sync(h.pdf_with_active_content(kind))
    assert report.ok and report.active == (kind,)
    assert m.active_content_lines(report) and m.ACTIVE_CONTENT[kind] in m.active_content_lines(report)[0]


def test_ordinary_pdf_has_no_active_content() -> None:
    assert inspect_pdf_sync(pf.make_pdf()).active == ()
    assert inspect_pdf_sync(pf.make_signed_pdf()[0]).active == ()


def test_reasons_name_the_real_cause() -> None:
    assert inspect_pdf_sync(h.certificate_encrypted_pdf()) == PdfReport.failed("cert_encrypted")
    assert inspect_pdf_sync(h.pdf_with_pages(6000)) == PdfReport.failed("too_many_pages")
    assert inspect_pdf_sync(h.pdf_with_pages(50)).pages == 50
    assert "chứng thư số" in m.pdf_problem("x.pdf", "cert_encrypted")
    assert "quá nhiều trang" in m.pdf_problem("x.pdf", "too_many_pages")


@pytest.mark.parametrize("name, clean", [
    ("dong1\ndong2\r\n\tcuoi.pdf", "dong1 dong2 cuoi.pdf"),
    ("baocao.html", "baocao.pdf"),
    ("setup.exe", "setup.pdf"),
    ("../../etc/passwd", "passwd.pdf"),
    ("C:\\Users\\a\\Báo cáo.pdf", "Báo cáo.pdf"),
    ("hoa\u202edpf.exe", "hoadpf.pdf"),  # a right-to-left override
    ("Báo\u200b cáo\ufeff.PDF", "Báo cáo.pdf"),  # zero-width space, BOM
    ("", "tai-lieu.pdf"),
    ("Báo cáo v1.2", "Báo cáo v1.2.pdf"),
    ("bao.cao.tar.gz", "bao.cao.tar.pdf"),
])
def test_evidence_is_handed_out_under_a_clean_pdf_name(name: str, clean: str) -> None:
    assert clean_pdf_name(name) == clean


def test_long_names_keep_their_extension() -> None:
    assert clean_file_name("x" * 300 + ".pdf").endswith("x.pdf") and len(clean_file_name("x" * 300 + ".pdf")) == 80


# --------------------------------------------------------------------------------------------
# Fairness: hostile files in flight, an ordinary PDF from someone else


async def test_an_ordinary_pdf_is_checked_while_hostile_files_are_in_flight() -> None:
    """A coordinator's six bomb letters (read by a parser that falls for them) and another sender's
    PDFs that spin until their CPU limit: an officer's ordinary signed PDF is checked while they are
    still in flight, not after them."""
    sandbox = make_sandbox()
    await sandbox.start()
    signed, ca = pf.make_signed_pdf()
    letters = LetterReader(sandbox, LetterLimits(cpu_seconds=1, memory_mb=384), job=h.old_docx_reader_job)
    spinning = PdfInspector([ca], PdfCheckLimits(cpu_seconds=1), worker=pf.misbehaving_worker, sandbox=sandbox)
    inspector = PdfInspector([ca], sandbox=sandbox)
    try:
        bombs = [asyncio.ensure_future(letters.read(make(), f"bom{i}.docx", owner="person:coordinator"))
                 for i, make in enumerate([h.vmerge_chain, h.gridspan_bomb] * 3)]
        hangs = [asyncio.ensure_future(spinning.inspect(pf.make_trigger("hang"), owner="person:attacker"))
                 for _ in range(3)]
        hostile = bombs + hangs
        await asyncio.sleep(0)  # every hostile job is queued before the ordinary file
        started = time.perf_counter()
        report = await inspector.inspect(signed, owner="person:officer")
        waited = time.perf_counter() - started
        still_running = sum(not task.done() for task in hostile)

        assert report.ok and report.all_intact and report.signatures[0].trusted
        assert still_running >= 4, "the ordinary file waited for the hostile ones"
        print(f"\nordinary signed PDF checked in {waited:.2f} s with {still_running} of "
              f"{len(hostile)} hostile files still in flight")
        assert waited <= 5 * 6  # the ≤ 5 s goal, asserted generously for a loaded 2-core machine

        results = await asyncio.gather(*hostile, return_exceptions=True)
        assert all(isinstance(r, LetterError) for r in results[:6])
        assert all(r == PdfReport.failed("timeout") for r in results[6:])
    finally:
        await sandbox.aclose()


async def test_one_owner_never_holds_every_slot() -> None:
    sandbox = Sandbox(2, per_owner=1)
    try:
        limits = JobLimits(cpu_seconds=1, memory_mb=256)
        mine = [asyncio.ensure_future(sandbox.run(h.spin_job, b"", limits=limits, owner="a")) for _ in range(3)]
        other = await sandbox.run(h.echo_job, b"abc", {"n": 1}, limits=limits, owner="b")
        assert other.ok and b'"size": 3' in other.output
        assert sum(not task.done() for task in mine) >= 2  # b went past a's queue
        assert (await mine[0]).status == "cpu"
        for task in mine[1:]:
            task.cancel()  # kills the worker running it; the slot gets a fresh one
        await asyncio.gather(*mine[1:], return_exceptions=True)
        assert (await sandbox.run(h.echo_job, b"", limits=limits, owner="a")).ok
    finally:
        await sandbox.aclose()


async def test_kind_cap_keeps_a_slot_for_evidence() -> None:
    sandbox = Sandbox(2, per_owner=2, kind_caps={"letter": 1})
    try:
        limits = JobLimits(cpu_seconds=1, memory_mb=256)
        letters = [asyncio.ensure_future(sandbox.run(h.spin_job, b"", limits=limits, owner=f"c{i}", kind="letter"))
                   for i in range(3)]
        evidence = await sandbox.run(h.echo_job, b"", limits=limits, owner="o", kind="pdf")
        assert evidence.ok and sum(not task.done() for task in letters) >= 2
        for task in letters:
            task.cancel()
        await asyncio.gather(*letters, return_exceptions=True)
    finally:
        await sandbox.aclose()


async def test_workers_stay_warm_between_jobs() -> None:
    sandbox = Sandbox(1)
    try:
        limits = JobLimits(cpu_seconds=5, memory_mb=256)
        first = await sandbox.run(h.echo_job, b"", limits=limits)
        zygotes = sandbox.running()
        second = await sandbox.run(h.echo_job, b"", limits=limits)
        assert sandbox.running() == zygotes  # the same warm worker
        assert first.output != second.output  # …forking a fresh child per job (another pid)
    finally:
        await sandbox.aclose()


# --------------------------------------------------------------------------------------------
# End to end: the running bot


async def test_polyglots_control_characters_and_active_content_end_to_end(world):
    officer = await world.register("Võ Thị Lan")
    coordinator = await world.register("Nguyễn Thị Hương")
    assignment = await world.assignment("VP", 1)  # a task that takes unsigned files
    officer.send_command("/tasks")
    tasks = await officer.next_message()

    async def send(data: bytes, name: str) -> str:
        officer.press(tasks, f"submit:{assignment.id}")
        await officer.next_message()
        officer.send_document(data, name)
        return (await officer.next_message()).text

    for data, name in [(h.html_pdf(), "baocao.html"), (h.zip_with_pdf_first(), "baocao.docx"),
                       (h.mz_pdf(), "setup.exe")]:
        answer = await send(data, name)
        assert f"tệp «{name}» không chỉ là một tệp PDF" in answer

    receipt = await send(h.pdf_with_active_content("javascript"), "dong1\ndong2\r\n\tcuoi.pdf")
    assert "✅ Đã nhận tài liệu" in receipt and "Tệp: dong1 dong2 cuoi.pdf" in receipt
    assert "nội dung chủ động: mã JavaScript" in receipt
    notice = await coordinator.next_message(lambda msg: "đã nộp tài liệu" in (msg.text or ""))
    assert "nội dung chủ động: mã JavaScript" in notice.text
    coordinator.press(notice, next(d for d in notice.callback_data if d.startswith("file:")))
    document = await coordinator.next_message(lambda msg: msg.document is not None)
    assert document.filename == "dong1 dong2 cuoi.pdf"

    async with world.app.db.session() as session:
        stored = await evidence_of(session, assignment.id)
        assert [e.file_name for e in stored] == ["dong1 dong2 cuoi.pdf"]
        assert len((await session.exec(select(Evidence))).all()) == 1  # the polyglots left nothing


async def test_an_officer_gets_a_receipt_while_hostile_files_are_in_flight_end_to_end(world):
    """The running bot: the coordinator sends bomb letters to /assign (read by a parser that falls
    for them, so each runs to its limit), another officer sends PDFs that spin until their CPU limit;
    an officer's ordinary signed PDF still gets its receipt while those are in flight.

    On SQLite this needs the conversation to write (update claim, last use) only after the work:
    the first write takes the database's one write lock until the commit."""
    app = world.app
    _, ca = pf.make_signed_pdf()
    app.ctx.letters = LetterReader(app.sandbox, LetterLimits(cpu_seconds=1, memory_mb=384), job=h.old_docx_reader_job)
    app.ctx.inspector = PdfInspector([ca], PdfCheckLimits(cpu_seconds=1), worker=pf.misbehaving_worker,
                                     sandbox=app.sandbox)
    coordinator = await world.register("Nguyễn Thị Hương")
    attacker = await world.register("Nguyễn Văn An")
    officer = await world.register("Võ Thị Lan")
    assignment = await world.assignment("VP", 0)
    officer.send_command("/tasks")
    tasks = await officer.next_message()
    officer.press(tasks, f"submit:{assignment.id}")
    await officer.next_message()
    coordinator.send_command("/assign")
    await coordinator.next_message()

    for i in range(3):
        coordinator.send_document(h.vmerge_chain(), f"bom-{i}.docx", mime_type="application/octet-stream")
        attacker.send_document(pf.make_trigger("hang"), f"treo-{i}.pdf")
    signed, _ = pf.make_signed_pdf(pages=2)
    started = time.perf_counter()
    officer.send_document(signed, "bao-cao.pdf")
    receipt = await officer.next_message(timeout=120)
    waited = time.perf_counter() - started

    assert "✅ Đã nhận tài liệu" in receipt.text
    hostile_answers = sum(any(f"{name}-{i}." in (msg.text or "") for name in ("bom", "treo") for i in range(3))
                          for msg in coordinator.received + attacker.received)
    print(f"\nreceipt after {waited:.2f} s; {hostile_answers} of 6 hostile files answered by then")
    assert hostile_answers < 6  # the receipt did not wait for the hostile files
    assert waited <= 5 * 6  # the ≤ 5 s goal, asserted generously for a loaded 2-core machine
    for i in range(3):
        letter = await coordinator.next_message(lambda msg: "bom-" in (msg.text or ""), timeout=300)
        assert "quá phức tạp để đọc tự động" in letter.text and f"bom-{i}.docx" in letter.text
        spun = await attacker.next_message(timeout=300)
        assert f"«treo-{i}.pdf» quá phức tạp để kiểm tra tự động" in spun.text
