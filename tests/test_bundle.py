"""The evidence bundle: a zip of accepted evidence, a folder per unit, and a manifest that matches the files."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
from openpyxl import load_workbook

from bot.demo import load_demo
from handlers.bundle import MANIFEST_NAME, bundle_rows, write_bundle
from storage.evidence import EvidenceFile, record_evidence
from storage.filestore import EvidenceStore
from storage.models import AssignmentStatus as S
from storage.status import transition
from tests.conftest import VN, call, vn
from tests.pdf_factory import make_pdf
from tests.test_extensions import HUONG, NOW, Office

SIG = [{"field": "Sig1", "signer": "UBND thị trấn Hồ Xá", "signed_at": None, "intact": True, "trusted": True,
        "covers_whole_file": True, "problem": None}]


async def deliver(office: Office, store: EvidenceStore, code: str, task_index: int, data: bytes, *, at, accept=True,
                  signed=False):
    stored = store.put(data)
    async with office.db.session() as session:
        assignment = await office.assignment(code, task_index)
        assignment = await session.get(type(assignment), assignment.id)
        await record_evidence(session, assignment, EvidenceFile(
            file_name=f"bao cao {code}.pdf", size=stored.size, sha256=stored.sha256, pages=2,
            storage_key=stored.key, channel="console", signed=signed, signatures_intact=signed,
            signatures=SIG if signed else []), person_id=None, now=at)
        if accept:
            await transition(session, assignment, S.accepted, now=at, actor_person_id=office.ids[HUONG])
        await session.commit()
    return stored


@pytest.fixture
async def office(db, tmp_path):
    from schedules.clock import FixedClock

    await load_demo(db, now=NOW, tz=VN)
    office = Office(db, FixedClock(NOW))
    await office.bind_everyone()
    office.store = EvidenceStore(tmp_path / "evidence")
    office.conversation.ctx.store = office.store
    return office


def manifest_rows(archive: zipfile.ZipFile) -> list[dict]:
    ws = load_workbook(io.BytesIO(archive.read(MANIFEST_NAME))).active
    values = list(ws.iter_rows(values_only=True))
    header = values[1]
    return [dict(zip(header, row)) for row in values[2:]]


async def test_the_manifest_matches_the_files(office, tmp_path) -> None:
    store = office.store
    a = await deliver(office, store, "HOXA", 3, make_pdf(2, "Ho Xa"), at=vn(2026, 11, 24, 9), signed=True)
    b = await deliver(office, store, "VINHLAM", 3, make_pdf(1, "Vinh Lam"), at=vn(2026, 12, 7, 9))  # late
    await deliver(office, store, "VINHTHAI", 3, make_pdf(1, "Vinh Thai"), at=vn(2026, 11, 24, 9), accept=False)
    async with office.db.session() as session:
        rows = await bundle_rows(session)
    out = tmp_path / "b.zip"
    result = write_bundle(rows, store, out, tz=VN, now=NOW)
    assert result.files == 2 and result.units == 2 and not result.missing and not result.damaged
    with zipfile.ZipFile(out) as archive:
        names = sorted(n for n in archive.namelist() if n != MANIFEST_NAME)
        task_id = rows[0].task_id
        assert names == [f"HOXA/NV{task_id}_HOXA_{a.sha256[:12]}.pdf",
                         f"VINHLAM/NV{task_id}_VINHLAM_{b.sha256[:12]}.pdf"]  # the unaccepted one is not there
        manifest = manifest_rows(archive)
        assert len(manifest) == 2
        for row in manifest:
            assert hashlib.sha256(archive.read(row["Tệp trong gói"])).hexdigest() == row["SHA-256"]
            assert row["Kiểm tra tệp"] == "khớp SHA-256" and row["Nhiệm vụ"] == f"#{task_id}"
        hoxa, vinhlam = manifest
        assert (hoxa["Mã đơn vị"], hoxa["Người ký"], hoxa["Nguyên vẹn"], hoxa["Tin cậy"]) == (
            "HOXA", "UBND thị trấn Hồ Xá", "có", "có")
        assert hoxa["Số trang"] == 2 and hoxa["Đúng hạn / trễ hạn"] == "đúng hạn"
        assert hoxa["Nhận lúc"] == vn(2026, 11, 24, 9).replace(tzinfo=None)
        assert (vinhlam["Người ký"], vinhlam["Nguyên vẹn"], vinhlam["Đúng hạn / trễ hạn"]) == (
            "(không ký số)", "—", "trễ hạn")


async def test_a_damaged_or_missing_store_file_shows_in_the_manifest(office, tmp_path) -> None:
    store = office.store
    a = await deliver(office, store, "HOXA", 3, make_pdf(1, "A"), at=vn(2026, 11, 24, 9))
    b = await deliver(office, store, "VINHLAM", 3, make_pdf(1, "B"), at=vn(2026, 11, 24, 9))
    store.path(a.key).write_bytes(b"changed on disk")
    store.path(b.key).unlink()
    async with office.db.session() as session:
        rows = await bundle_rows(session)
    result = write_bundle(rows, store, tmp_path / "b.zip", tz=VN, now=NOW)
    assert result.files == 1 and len(result.damaged) == 1 and len(result.missing) == 1
    with zipfile.ZipFile(tmp_path / "b.zip") as archive:
        checks = {row["Mã đơn vị"]: row["Kiểm tra tệp"] for row in manifest_rows(archive)}
    assert checks["HOXA"].startswith("SAI SHA-256") and checks["VINHLAM"] == "thiếu tệp trong kho"


async def test_export_offers_the_bundle_and_the_button_sends_the_zip(office) -> None:
    await deliver(office, office.store, "HOXA", 3, make_pdf(1, "A"), at=vn(2026, 11, 24, 9))
    replies = await office.say(HUONG, "/export")
    assert any(b.choice == "bundle" for row in replies[-1].buttons for b in row)
    sent = await office.press(HUONG, "bundle")
    document = sent[0].document
    assert document is not None and document.mime_type == "application/zip" and document.name.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(document.data)) as archive:
        assert len(manifest_rows(archive)) == 1
    assert "1 tệp của 1 đơn vị" in sent[0].text
    forbidden = await office.press("Nguyễn Văn An", "bundle")  # an officer may not
    assert forbidden[0].document is None


async def test_a_bundle_over_telegrams_limit_points_to_the_cli(office, monkeypatch) -> None:
    from handlers import workflows

    await deliver(office, office.store, "HOXA", 3, make_pdf(1, "A"), at=vn(2026, 11, 24, 9))
    monkeypatch.setattr(workflows, "TELEGRAM_UPLOAD_LIMIT", 100)
    sent = await office.press(HUONG, "bundle")
    assert sent[0].document is None and "dondoc export bundle" in sent[0].text and "50 MB" in sent[0].text


async def test_nothing_accepted_yet(office) -> None:
    sent = await office.press(HUONG, "bundle")
    assert sent[0].document is None and "Chưa có minh chứng" in sent[0].text


def test_cli_export_bundle_filters_and_bad_input(env) -> None:
    import asyncio

    from bot.settings import load_settings
    from storage.db import Database
    from storage.migrate import upgrade

    assert call("demo").exit_code == 0
    settings = load_settings()

    async def seed() -> int:
        db = Database(settings.database_url)
        try:
            await upgrade(db)
            from schedules.clock import FixedClock

            office = Office(db, FixedClock(NOW))
            await office.bind_everyone()
            store = EvidenceStore(settings.data_dir / "evidence")
            await deliver(office, store, "HOXA", 3, make_pdf(1, "A"), at=vn(2026, 11, 24, 9))
            await deliver(office, store, "VINHLAM", 3, make_pdf(1, "B"), at=vn(2026, 11, 24, 9))
            return (await office.assignment("HOXA", 3)).task_id
        finally:
            await db.dispose()

    task_id = asyncio.run(seed())
    out = env / "hoxa.zip"
    result = call("export", "bundle", "--task", f"#{task_id}", "--unit", "HOXA", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "1 tệp của 1 đơn vị" in result.output
    with zipfile.ZipFile(out) as archive:
        assert [n.split("/")[0] for n in archive.namelist() if n != MANIFEST_NAME] == ["HOXA"]
    everything = call("export", "bundle")
    assert everything.exit_code == 0 and "2 tệp của 2 đơn vị" in everything.output
    for args, message in ((["--task", "#abc"], "không hợp lệ"), (["--task", "#999"], "Không có nhiệm vụ #999"),
                          (["--unit", "KHONGCO"], "Không có đơn vị mã «KHONGCO»"),
                          (["--unit", "VINHTHAI"], "Chưa có minh chứng")):
        bad = call("export", "bundle", *args, "--out", str(env / "x.zip"))
        assert bad.exit_code == 1 and message in bad.output, bad.output
    assert not (env / "x.zip").exists()


def test_the_bundle_streams_memory_stays_near_one_chunk(tmp_path) -> None:
    """30 MB of evidence bundled with Python allocations peaking near one 1 MB chunk, not the total."""
    import os
    import tracemalloc
    from datetime import timedelta

    from handlers.bundle import CHUNK, BundleRow

    store = EvidenceStore(tmp_path / "evidence")
    rows = []
    for index in range(15):
        stored = store.put(os.urandom(2 * 1024 * 1024))
        rows.append(BundleRow(task_id=1, task_title="Báo cáo", unit_code=f"U{index}", unit_name=f"Đơn vị {index}",
                              file_name="a.pdf", sha256=stored.sha256, size=stored.size, pages=1, signers=(),
                              signed=False, intact=False, trusted=False, received_at=NOW,
                              due_at=NOW + timedelta(days=1), storage_key=stored.key))
    tracemalloc.start()
    try:
        result = write_bundle(rows, store, tmp_path / "big.zip", tz=VN, now=NOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.files == 15 and not result.damaged
    assert (tmp_path / "big.zip").stat().st_size > 30 * 1024 * 1024
    print(f"bundle: 30 MB in 15 files, Python peak {peak / 1e6:.2f} MB")
    assert peak < 4 * CHUNK, f"peak {peak / 1e6:.1f} MB while bundling 30 MB"


async def test_export_sends_the_bundle_over_telegram(world) -> None:
    """The real bot: /export offers the bundle; pressing it uploads the zip as a document."""
    from storage.models import Assignment

    coordinator = await world.register("Nguyễn Thị Hương")
    data = make_pdf(2, "Van phong")
    stored = world.app.store.put(data)
    assignment = await world.assignment("VP", 0)
    async with world.app.db.session() as session:
        row = await session.get(Assignment, assignment.id)
        await record_evidence(session, row, EvidenceFile(
            file_name="bao-cao.pdf", size=stored.size, sha256=stored.sha256, pages=2, storage_key=stored.key,
            channel="telegram", signed=True, signatures_intact=True, signatures=SIG), person_id=None,
            now=world.clock.now())
        await transition(session, row, S.accepted, now=world.clock.now(), actor_person_id=None)
    coordinator.send_command("/export")
    offer = await coordinator.next_message(lambda m: "bundle" in (m.callback_data or []))
    coordinator.press(offer, "bundle")
    sent = await coordinator.next_message(lambda m: m.document is not None and (m.filename or "").endswith(".zip"))
    with zipfile.ZipFile(io.BytesIO(sent.document)) as archive:
        (row,) = manifest_rows(archive)
        assert archive.read(row["Tệp trong gói"]) == data and row["Mã đơn vị"] == "VP"
    assert "1 tệp của 1 đơn vị" in sent.caption and sent.mime_type == "application/zip"
