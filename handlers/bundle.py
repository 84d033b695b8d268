"""The evidence bundle: a zip of accepted evidence, a folder per unit, with a manifest workbook.

The province's scoring software takes the evidence unit by unit, criterion by criterion; the bundle
gives the office every accepted file at once. Layout::

    HOXA/NV12_HOXA_3f2a9c1d0b7e.pdf      task number, unit code, SHA-256 prefix
    TP/NV12_TP_…pdf
    bang-ke-minh-chung.xlsx              the manifest (one row per file)

Built streaming: the rows come from one query; each file is copied from the evidence store into the
zip in chunks (its SHA-256 checked on the way, so a damaged store shows in the manifest), and the
manifest is an openpyxl write-only workbook. ``write_bundle`` is blocking: async callers run it in a
thread (``asyncio.to_thread``), off the event loop.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Assignment, AssignmentStatus, Evidence, Task, Unit
from storage.status import effective_due_at

MANIFEST_NAME = "bang-ke-minh-chung.xlsx"
CHUNK = 1024 * 1024
TELEGRAM_UPLOAD_LIMIT = 50 * 1024 * 1024
"""Bots may upload files up to 50 MB through Telegram's cloud Bot API."""

HEADERS = ("Nhiệm vụ", "Tên nhiệm vụ", "Mã đơn vị", "Đơn vị", "Tệp trong gói", "Tên tệp gốc", "SHA-256",
           "Số trang", "Người ký", "Nguyên vẹn", "Tin cậy", "Nhận lúc", "Hạn nộp", "Đúng hạn / trễ hạn",
           "Kiểm tra tệp")


@dataclass(frozen=True)
class BundleRow:
    task_id: int
    task_title: str
    unit_code: str
    unit_name: str
    file_name: str
    sha256: str
    size: int
    pages: int
    signers: tuple[str, ...]
    signed: bool
    intact: bool
    trusted: bool
    received_at: datetime
    due_at: datetime
    storage_key: str

    @property
    def on_time(self) -> bool:
        return self.received_at <= self.due_at

    @property
    def arcname(self) -> str:
        code = safe_part(self.unit_code)
        return f"{code}/NV{self.task_id}_{code}_{self.sha256[:12]}.pdf"


@dataclass
class BundleResult:
    files: int = 0
    missing: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)
    units: int = 0
    size: int = 0


class BundleFilterError(ValueError):
    """An unknown task or unit in the filter; the message is Vietnamese."""


def safe_part(text: str) -> str:
    """A unit code as a file-name part: letters, digits, - and _ only."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "DONVI"


async def bundle_rows(session: AsyncSession, *, task_id: int | None = None,
                      unit_code: str | None = None) -> list[BundleRow]:
    """The accepted evidence (the files of each accepted round), by unit then task."""
    query = (
        select(Evidence, Assignment, Task, Unit)
        .join(Assignment, Evidence.assignment_id == Assignment.id)
        .join(Task, Assignment.task_id == Task.id)
        .join(Unit, Assignment.unit_id == Unit.id)
        .where(Assignment.status == AssignmentStatus.accepted.value, Evidence.round == Assignment.round)
    )
    if task_id is not None:
        if await session.get(Task, task_id) is None:
            raise BundleFilterError(f"Không có nhiệm vụ #{task_id}.")
        query = query.where(Task.id == task_id)
    if unit_code is not None:
        unit = (await session.exec(select(Unit).where(Unit.code == unit_code.strip()))).first()
        if unit is None:
            raise BundleFilterError(f"Không có đơn vị mã «{unit_code}».")
        query = query.where(Unit.id == unit.id)
    query = query.order_by(Unit.code, Task.id, Evidence.id)
    rows: list[BundleRow] = []
    for evidence, assignment, task, unit in (await session.exec(query)).all():
        sigs = evidence.signature_summary or []
        rows.append(BundleRow(
            task_id=task.id, task_title=task.title, unit_code=unit.code, unit_name=unit.name,
            file_name=evidence.file_name, sha256=evidence.sha256, size=evidence.size, pages=evidence.pages,
            signers=tuple(dict.fromkeys(s.get("signer") for s in sigs if s.get("signer"))),
            signed=evidence.signed, intact=evidence.signed and evidence.signatures_intact,
            trusted=bool(sigs) and all(s.get("trusted") for s in sigs),
            received_at=evidence.received_at, due_at=effective_due_at(assignment, task.due_at),
            storage_key=evidence.storage_key))
    return rows


def _copy_checked(source: BinaryIO, target: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        target.write(chunk)
    return digest.hexdigest()


def _cell(ws: Any, value: Any) -> Any:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"  # never a formula
    if isinstance(value, datetime):
        cell.number_format = "dd/mm/yyyy hh:mm"
    return cell


def write_bundle(rows: list[BundleRow], store: Any, out: Path | BinaryIO, *, tz: ZoneInfo,
                 now: datetime) -> BundleResult:
    """Write the zip to ``out`` (a path or a binary file); blocking, memory bounded by one chunk."""
    from openpyxl import Workbook

    result = BundleResult()
    workbook = Workbook(write_only=True)
    ws = workbook.create_sheet("Bảng kê")
    ws.append([_cell(ws, f"Bảng kê minh chứng đã duyệt — xuất lúc {now.astimezone(tz):%H:%M %d/%m/%Y}")])
    ws.append([_cell(ws, h) for h in HEADERS])
    units: set[str] = set()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for row in rows:
            check = "khớp SHA-256"
            try:
                source = store.open(row.storage_key)
            except (FileNotFoundError, ValueError):
                result.missing.append(row.arcname)
                check = "thiếu tệp trong kho"
                arcname = ""
            else:
                arcname = row.arcname
                with source, archive.open(arcname, "w", force_zip64=True) as target:
                    actual = _copy_checked(source, target)
                if actual != row.sha256:
                    result.damaged.append(arcname)
                    check = f"SAI SHA-256 (tệp trong kho: {actual})"
                result.files += 1
                units.add(row.unit_code)
            ws.append([_cell(ws, v) for v in (
                f"#{row.task_id}", row.task_title, row.unit_code, row.unit_name, arcname, row.file_name,
                row.sha256, row.pages, ", ".join(row.signers) if row.signers else "(không ký số)",
                ("có" if row.intact else "không") if row.signed else "—",
                ("có" if row.trusted else "không") if row.signed else "—",
                row.received_at.astimezone(tz).replace(tzinfo=None),
                row.due_at.astimezone(tz).replace(tzinfo=None),
                "đúng hạn" if row.on_time else "trễ hạn", check)])
        with tempfile.TemporaryFile() as manifest:
            workbook.save(manifest)
            manifest.seek(0)
            with archive.open(MANIFEST_NAME, "w") as target:
                _copy_checked(manifest, target)
    result.units = len(units)
    return result


def bundle_name(now: datetime, tz: ZoneInfo, *, task_id: int | None = None, unit_code: str | None = None) -> str:
    parts = ["minh-chung"]
    if task_id is not None:
        parts.append(f"NV{task_id}")
    if unit_code:
        parts.append(safe_part(unit_code))
    parts.append(f"{now.astimezone(tz):%Y%m%d-%H%M}")
    return "-".join(parts) + ".zip"


def summary(result: BundleResult) -> str:
    text = f"Gói minh chứng: {result.files} tệp của {result.units} đơn vị, kèm bảng kê {MANIFEST_NAME}."
    if result.missing:
        text += f"\n⚠️ {len(result.missing)} tệp không còn trong kho (ghi trong bảng kê)."
    if result.damaged:
        text += f"\n⚠️ {len(result.damaged)} tệp có SHA-256 không khớp (ghi trong bảng kê)."
    return text
