"""PDF inspection: the in-process core on real generated files, and the sandboxed child's limits.

No test here waits on a wall clock for work a loaded CPU slows: the child's limits are CPU time, and
tests wait for events (a pid written to a FIFO, a task finishing)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from storage.pdfcheck import (
    InspectorClosed,
    PdfCheckLimits,
    PdfInspector,
    PdfReport,
    SignatureInfo,
    inspect_pdf,
    inspect_pdf_sync,
    load_trust_roots,
)
from storage.sandbox import _READY, _read_frame, _write_frame, child_environment
from tests import pdf_factory as pf

#: CPU seconds a hanging child may burn before the kernel stops it (the tests' own limit).
HANG_CPU_S = 1.0
#: Only a guard so that a broken limit fails the run instead of hanging it; never a measurement.
HANG_GUARD_S = 300.0


@pytest.fixture(scope="module")
def signed() -> tuple[bytes, bytes]:
    return pf.make_signed_pdf(pages=2)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# The core, in process


@pytest.mark.parametrize("pages", [1, 7])
def test_unsigned_pdf_is_ok_with_its_page_count(pages: int) -> None:
    report = inspect_pdf_sync(pf.make_pdf(pages=pages))

    assert report == PdfReport(ok=True, error=None, pages=pages, signatures=())
    assert not report.signed
    assert not report.all_intact
    assert report.signer_names == ()


def test_signed_pdf_is_intact_and_trusted_when_its_ca_is_a_root(signed: tuple[bytes, bytes]) -> None:
    data, ca = signed
    before = datetime.now(timezone.utc)

    report = inspect_pdf_sync(data, [ca])

    assert report.ok and report.pages == 2
    (sig,) = report.signatures
    assert sig.field == "Signature1"
    assert sig.signer == pf.SIGNER_NAME == "Nguyễn Văn An"
    assert sig.intact and sig.trusted and sig.covers_whole_file
    assert sig.problem is None
    assert sig.signed_at is not None and sig.signed_at.tzinfo is not None
    assert sig.signed_at.utcoffset() == timedelta(0)
    assert before - timedelta(minutes=10) < sig.signed_at <= before + timedelta(seconds=5)
    assert report.signed and report.all_intact
    assert report.signer_names == ("Nguyễn Văn An",)


def test_signed_pdf_without_roots_is_intact_but_untrusted(signed: tuple[bytes, bytes]) -> None:
    (sig,) = inspect_pdf_sync(signed[0]).signatures

    assert sig.intact and sig.covers_whole_file
    assert not sig.trusted
    assert "untrusted" in sig.problem


def test_a_different_root_does_not_make_it_trusted(signed: tuple[bytes, bytes]) -> None:
    _, other_ca = pf.make_ca("CA Khác")
    other_der = other_ca.public_bytes(pf.serialization.Encoding.DER)

    (sig,) = inspect_pdf_sync(signed[0], [other_der]).signatures

    assert sig.intact and not sig.trusted


def test_tampered_signed_pdf_is_not_intact(signed: tuple[bytes, bytes]) -> None:
    data, ca = signed
    forged = pf.tamper(data)
    assert forged != data and len(forged) == len(data)

    report = inspect_pdf_sync(forged, [ca])

    assert report.ok and report.pages == 2  # still a readable PDF
    (sig,) = report.signatures
    assert not sig.intact and not sig.trusted
    assert "digest" in sig.problem
    assert report.signed and not report.all_intact


def test_page_replaced_after_signing_is_not_covered() -> None:
    data, ca = pf.make_incrementally_modified_after_signing()

    report = inspect_pdf_sync(data, [ca])

    (sig,) = report.signatures
    assert sig.intact  # the signed revision itself is untouched ...
    assert not sig.covers_whole_file  # ... but the document shown now is not the one signed
    assert "modified after signing" in sig.problem
    assert not report.all_intact


def test_second_signature_keeps_the_first_covering(signed: tuple[bytes, bytes]) -> None:
    data, ca = signed
    twice = pf.sign(data, field_name="Signature2")

    report = inspect_pdf_sync(twice, [ca])

    assert [s.field for s in report.signatures] == ["Signature1", "Signature2"]
    assert all(s.intact and s.trusted and s.covers_whole_file for s in report.signatures)
    assert report.all_intact
    assert report.signer_names == ("Nguyễn Văn An",)  # one person, listed once


def test_password_protected_pdf_is_encrypted() -> None:
    assert inspect_pdf_sync(pf.make_encrypted_pdf()) == PdfReport.failed("encrypted")


def test_pdf_encrypted_with_an_empty_user_password_is_readable() -> None:
    report = inspect_pdf_sync(pf.make_encrypted_pdf(user_password=""))

    assert report.ok and report.pages == 2 and report.empty_password


@pytest.mark.parametrize(
    "make", [pf.make_broken_pdf, pf.make_truncated_pdf, lambda: pf.make_pdf(pages=0)],
    ids=["garbage", "truncated", "no-pages"],
)
def test_unreadable_pdf_is_broken(make) -> None:
    assert inspect_pdf_sync(make()) == PdfReport.failed("broken")


def test_pages_are_counted_in_the_page_tree_not_taken_from_count() -> None:
    data = pf.make_pdf(pages=1)
    lying = data.replace(b"/Count 1", b"/Count 9")
    assert lying != data

    assert inspect_pdf_sync(lying).pages == 1


def test_unreadable_signature_is_reported_not_ignored(signed: tuple[bytes, bytes]) -> None:
    report = inspect_pdf_sync(pf.corrupt_signature_container(signed[0]), [signed[1]])

    assert report.ok and report.signed and not report.all_intact
    (sig,) = report.signatures
    assert sig.field == "Signature1"
    assert not sig.intact and not sig.trusted
    assert "unreadable" in sig.problem


@pytest.mark.parametrize(
    "data",
    [pf.make_jpeg_bytes(), b"", b"hello", b" " * 1024 + b"%PDF-1.7\n"],
    ids=["jpeg", "empty", "text", "header-too-late"],
)
def test_not_a_pdf(data: bytes) -> None:
    assert inspect_pdf_sync(data) == PdfReport.failed("not_pdf")


def test_signature_the_validator_cannot_read_is_reported_not_ignored(signed: tuple[bytes, bytes]) -> None:
    # Blank space before the header (the only thing allowed there): pypdf copes, pyHanko refuses
    # the file. Still signed, not intact.
    report = inspect_pdf_sync(b" \r\n" * 33 + signed[0], [signed[1]])

    assert report.ok and report.pages == 2
    (sig,) = report.signatures
    assert sig.field == "Signature1" and not sig.intact and not sig.trusted
    assert "signatures unreadable" in sig.problem


def test_large_pdf_pages_are_counted() -> None:
    data = pf.make_large_pdf(3 * 1024 * 1024)
    assert 3 * 1024 * 1024 <= len(data) < 3.1 * 1024 * 1024

    report = inspect_pdf_sync(data)

    assert report.ok and report.pages == 6


async def test_core_is_callable_from_async_code(signed: tuple[bytes, bytes]) -> None:
    assert inspect_pdf_sync(signed[0], [signed[1]]).all_intact


# --------------------------------------------------------------------------------------------
# Trust roots


def test_load_trust_roots_reads_der_and_pem(tmp_path: Path) -> None:
    material = pf.signing_material()
    _, second = pf.make_ca("CA Thứ hai")
    _, third = pf.make_ca("CA Thứ ba")
    der = pf.serialization.Encoding.DER
    pem = pf.serialization.Encoding.PEM
    (tmp_path / "a.cer").write_bytes(material.ca_cert_der)
    (tmp_path / "b.pem").write_bytes(second.public_bytes(pem) + third.public_bytes(pem))
    (tmp_path / "README.txt").write_text("not a certificate, ignored")

    roots = load_trust_roots(tmp_path)

    assert roots == [material.ca_cert_der, second.public_bytes(der), third.public_bytes(der)]


def test_load_trust_roots_missing_folder_is_empty(tmp_path: Path) -> None:
    assert load_trust_roots(tmp_path / "nowhere") == []
    assert load_trust_roots(None) == []


def test_load_trust_roots_names_a_bad_file(tmp_path: Path) -> None:
    (tmp_path / "bad.crt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="bad.crt"):
        load_trust_roots(tmp_path)


def test_inspector_rejects_a_bad_root_up_front() -> None:
    with pytest.raises(ValueError, match="trust root #1"):
        PdfInspector([pf.signing_material().ca_cert_der, b"garbage"])


def test_worker_must_be_importable_by_name() -> None:
    def nested(data: bytes, roots) -> PdfReport:
        return PdfReport.failed("broken")

    with pytest.raises(ValueError, match="module-level"):
        PdfInspector(worker=nested)
    with pytest.raises(ValueError, match="module-level"):
        PdfInspector(worker=lambda data, roots: PdfReport.failed("broken"))


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        PdfCheckLimits(cpu_seconds=0)


# --------------------------------------------------------------------------------------------
# The worker process


async def test_inspector_gives_the_same_report_as_the_core(signed: tuple[bytes, bytes], tmp_path: Path) -> None:
    (tmp_path / "ca.cer").write_bytes(signed[1])
    roots = load_trust_roots(tmp_path)
    files = [signed[0], pf.tamper(signed[0]), pf.make_pdf(pages=3), pf.make_encrypted_pdf(),
             pf.make_broken_pdf(), pf.make_encrypted_pdf(user_password="")]

    async with PdfInspector(roots, workers=3) as inspector:
        reports = await asyncio.gather(*(inspector.inspect(data) for data in files))

    assert reports == [inspect_pdf_sync(data, roots) for data in files]
    assert reports[0].all_intact and reports[0].signatures[0].trusted
    assert reports[0].signer_names == ("Nguyễn Văn An",)


async def test_inspect_pdf_convenience(signed: tuple[bytes, bytes]) -> None:
    report = await inspect_pdf(signed[0], trust_roots=[signed[1]])
    assert report.all_intact and report.signatures[0].trusted


async def test_five_megabyte_signed_pdf() -> None:
    data, ca = pf.make_signed_pdf(data=pf.make_large_pdf(5 * 1024 * 1024))

    report = await inspect_pdf(data, trust_roots=[ca])

    assert report.ok and report.pages == 10 and report.all_intact


@pytest.mark.parametrize(
    "data, error",
    [(pf.make_jpeg_bytes(), "not_pdf"), (pf.make_pdf(), "too_large")],
    ids=["not_pdf", "too_large"],
)
async def test_rejected_before_any_child_starts(data: bytes, error: str) -> None:
    # A missing interpreter makes starting a child raise, so a report proves none was started.
    # The JPEG is over the size limit too: the magic bytes are checked first.
    assert len(pf.make_pdf()) > 600
    inspector = PdfInspector(limits=PdfCheckLimits(max_bytes=600), python="/nonexistent/python3")
    try:
        assert await inspector.inspect(data) == PdfReport.failed(error)
        with pytest.raises(FileNotFoundError):
            await inspector.inspect(b"%PDF-1.7\n%%EOF\n")  # this one needs a child: it fails
    finally:
        await inspector.aclose()


@pytest.fixture
async def misbehaving() -> AsyncIterator[PdfInspector]:
    inspector = PdfInspector(
        [pf.signing_material().ca_cert_der],
        PdfCheckLimits(cpu_seconds=HANG_CPU_S, memory_mb=256),
        worker=pf.misbehaving_worker,
        workers=2,
    )
    yield inspector
    await inspector.aclose()


async def test_hang_runs_out_of_cpu_time_and_others_go_on(
    misbehaving: PdfInspector, signed: tuple[bytes, bytes], tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"

    hung, *others = await asyncio.wait_for(
        asyncio.gather(
            misbehaving.inspect(pf.make_trigger("hang", str(pid_file))),
            *(misbehaving.inspect(signed[0]) for _ in range(3)),
        ),
        HANG_GUARD_S,  # a guard: without it a broken CPU limit would hang the test run
    )

    assert hung == PdfReport.failed("timeout")
    assert not _pid_alive(int(pid_file.read_text()))
    assert all(report.all_intact for report in others)
    assert (await misbehaving.inspect(signed[0])).all_intact  # and afterwards


async def test_memory_blow_up_is_memory(misbehaving: PdfInspector, signed: tuple[bytes, bytes]) -> None:
    assert await misbehaving.inspect(pf.make_trigger("memory")) == PdfReport.failed("memory")
    assert (await misbehaving.inspect(signed[0])).all_intact


async def test_killed_by_the_kernel_is_memory(misbehaving: PdfInspector, signed: tuple[bytes, bytes]) -> None:
    assert await misbehaving.inspect(pf.make_trigger("sigkill")) == PdfReport.failed("memory")
    assert (await misbehaving.inspect(signed[0])).all_intact


async def test_crashed_child_is_broken(misbehaving: PdfInspector, signed: tuple[bytes, bytes]) -> None:
    assert await misbehaving.inspect(pf.make_trigger("crash")) == PdfReport.failed("broken")
    assert (await misbehaving.inspect(signed[0])).all_intact


def _read_fifo(fifo: Path) -> asyncio.Future:
    """Read ``fifo`` on a thread: completes once a child has opened it, written and closed it."""
    return asyncio.ensure_future(asyncio.to_thread(fifo.read_text))


async def _pid_of_hanging_child(fifo: Path, task: asyncio.Future, reader: asyncio.Future | None = None) -> int:
    """The pid the hanging child writes into ``fifo``; fails the test if the child never does."""
    reader = reader or _read_fifo(fifo)
    done, _ = await asyncio.wait({reader, task}, return_when=asyncio.FIRST_COMPLETED)
    if reader not in done:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # release the reading thread
        await reader
        pytest.fail(f"the child never reported its pid; inspect() gave {task.result() if task.done() else '…'}")
    return int(reader.result())


@pytest.fixture
async def patient() -> AsyncIterator[PdfInspector]:
    """A misbehaving inspector, one child at a time, whose CPU limit is beyond the test's patience."""
    inspector = PdfInspector(limits=PdfCheckLimits(cpu_seconds=600), worker=pf.misbehaving_worker, workers=1)
    yield inspector
    inspector.close()


async def test_cancelled_inspection_kills_the_child_and_frees_its_slot(
    patient: PdfInspector, tmp_path: Path
) -> None:
    fifo = tmp_path / "pid.fifo"
    os.mkfifo(fifo)
    task = asyncio.ensure_future(patient.inspect(pf.make_trigger("hang", str(fifo))))
    pid = await _pid_of_hanging_child(fifo, task)
    assert _pid_alive(pid)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not _pid_alive(pid)
    # The only slot is free at once (with a fresh worker), not after the child's 600 CPU seconds.
    assert (await asyncio.wait_for(patient.inspect(pf.make_pdf()), HANG_GUARD_S)).ok


async def test_files_wait_for_a_free_slot(patient: PdfInspector, tmp_path: Path) -> None:
    first_fifo, second_fifo = tmp_path / "first.fifo", tmp_path / "second.fifo"
    os.mkfifo(first_fifo)
    os.mkfifo(second_fifo)
    first = asyncio.ensure_future(patient.inspect(pf.make_trigger("hang", str(first_fifo))))
    await _pid_of_hanging_child(first_fifo, first)
    second = asyncio.ensure_future(patient.inspect(pf.make_trigger("hang", str(second_fifo))))
    second_reader = _read_fifo(second_fifo)

    done, _ = await asyncio.wait({second_reader, second}, timeout=1.0)
    assert not done  # workers=1: the second child has not even started

    first.cancel()
    second_pid = await _pid_of_hanging_child(second_fifo, second, second_reader)
    assert _pid_alive(second_pid)


async def test_close_kills_running_children_and_refuses_more(patient: PdfInspector, tmp_path: Path) -> None:
    fifo = tmp_path / "pid.fifo"
    os.mkfifo(fifo)
    task = asyncio.ensure_future(patient.inspect(pf.make_trigger("hang", str(fifo))))
    pid = await _pid_of_hanging_child(fifo, task)

    patient.close()

    with pytest.raises(InspectorClosed):
        await task
    await patient.aclose()
    assert not _pid_alive(pid)
    with pytest.raises(InspectorClosed):
        await patient.inspect(pf.make_pdf())


def test_a_spinning_child_stops_by_itself_when_nobody_kills_it() -> None:
    """The CPU limit is the kernel's: a hung child ends without the bot doing anything."""
    zygote = subprocess.Popen(
        [sys.executable, "-c", "from storage.sandbox import zygote_main; zygote_main()", "[]"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=child_environment())
    try:
        assert zygote.stdout.read(1) == _READY
        _write_frame(zygote.stdin, {"job": "storage.pdfcheck:pdf_job", "cpu_seconds": 1,
                                    "memory_bytes": 512 * 1024 * 1024,
                                    "params": {"worker": "tests.pdf_factory:misbehaving_worker", "trust_roots": []}},
                     pf.make_trigger("hang"))
        answer, output = _read_frame(zygote.stdout)
    finally:
        zygote.kill()
        zygote.wait()
    assert answer["status"] == "cpu" and output == b""


def test_child_gets_no_secrets_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:secret")
    monkeypatch.setenv("DATABASE_URL", "postgresql://user:password@db/dondoc")

    env = child_environment()

    assert "TELEGRAM_BOT_TOKEN" not in env and "DATABASE_URL" not in env
    assert str(Path(__file__).resolve().parents[1]) in env["PYTHONPATH"].split(os.pathsep)


def test_report_properties() -> None:
    def sig(name: str | None, intact: bool = True, covers: bool = True) -> SignatureInfo:
        return SignatureInfo(field="f", signer=name, signed_at=None, intact=intact, trusted=False,
                             covers_whole_file=covers, problem=None)

    assert PdfReport(ok=True, pages=1, signatures=(sig("A"), sig(None), sig("B"), sig("A"))).signer_names == ("A", "B")
    assert PdfReport(ok=True, pages=1, signatures=(sig("A"), sig("B"))).all_intact
    assert not PdfReport(ok=True, pages=1, signatures=(sig("A"), sig("B", intact=False))).all_intact
    assert not PdfReport(ok=True, pages=1, signatures=(sig("A"), sig("B", covers=False))).all_intact
    with pytest.raises(ValueError):
        PdfReport.failed("exploded")
