"""Benchmark: the evidence bundle (zip + manifest, SHA-256 checked while copying) against a plain copy of
the same files into a zip without hashing or manifest, in one run; and its Python memory peak.

Run: ``./test.sh tests/bench/bench_bundle.py -s``. 200 files of 1 MB (200 MB) from the evidence store.
"""

from __future__ import annotations

import os
import time
import tracemalloc
import zipfile
from datetime import timedelta

from handlers.bundle import BundleRow, write_bundle
from storage.filestore import EvidenceStore
from tests.conftest import VN, vn

FILES = 200
SIZE = 1024 * 1024
NOW = vn(2026, 12, 1, 9)


def test_bundle_against_a_plain_zip_copy(tmp_path) -> None:
    store = EvidenceStore(tmp_path / "evidence")
    rows = []
    for index in range(FILES):
        stored = store.put(os.urandom(SIZE))
        rows.append(BundleRow(task_id=index % 7 + 1, task_title="Báo cáo", unit_code=f"U{index % 40:03d}",
                              unit_name=f"Xã {index % 40}", file_name=f"{index}.pdf", sha256=stored.sha256,
                              size=stored.size, pages=3, signers=("UBND xã",), signed=True, intact=True,
                              trusted=True, received_at=NOW, due_at=NOW + timedelta(days=1), storage_key=stored.key))

    started = time.perf_counter()
    with zipfile.ZipFile(tmp_path / "floor.zip", "w", compression=zipfile.ZIP_STORED) as archive:
        for row in rows:
            archive.write(store.path(row.storage_key), row.arcname)
    floor = time.perf_counter() - started

    started = time.perf_counter()
    result = write_bundle(rows, store, tmp_path / "bundle.zip", tz=VN, now=NOW)
    elapsed = time.perf_counter() - started

    tracemalloc.start()  # a second run, for memory only (tracing slows everything; openpyxl is imported by now)
    write_bundle(rows, store, tmp_path / "again.zip", tz=VN, now=NOW)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert result.files == FILES and not result.damaged
    total_mb = FILES * SIZE / 1e6
    print(f"\nbundle: {FILES} files, {total_mb:.0f} MB: {elapsed:.2f} s ({total_mb / elapsed:.0f} MB/s); "
          f"plain zip copy {floor:.2f} s; ratio {elapsed / floor:.2f}; Python peak {peak / 1e6:.2f} MB")
    assert elapsed / floor < 5
