"""EvidenceStore: content addressing, idempotence, atomic writes, key validation."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from storage.filestore import EvidenceStore, StoredFile

PDF = b"%PDF-1.7\n% evidence\n%%EOF\n"


@pytest.fixture
def store(tmp_path: Path) -> EvidenceStore:
    return EvidenceStore(tmp_path / "evidence")


def _all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_put_stores_under_the_sha256_key(store: EvidenceStore) -> None:
    digest = hashlib.sha256(PDF).hexdigest()

    stored = store.put(PDF)

    assert stored == StoredFile(
        key=f"sha256/{digest[:2]}/{digest[2:4]}/{digest}", sha256=digest, size=len(PDF), created=True
    )
    assert store.path(stored.key) == store.root / "sha256" / digest[:2] / digest[2:4] / digest
    assert store.read(stored.key) == PDF
    with store.open(stored.key) as handle:
        assert handle.read() == PDF
    assert store.exists(stored.key)
    assert _all_files(store.root) == [store.path(stored.key)]  # no temp files, no sender's name


def test_same_bytes_twice_same_key_not_created_again(store: EvidenceStore) -> None:
    first = store.put(PDF)
    mtime = store.path(first.key).stat().st_mtime_ns

    second = store.put(bytes(PDF))

    assert second.key == first.key
    assert (first.created, second.created) == (True, False)
    assert store.path(first.key).stat().st_mtime_ns == mtime
    assert len(_all_files(store.root)) == 1


def test_different_bytes_different_keys(store: EvidenceStore) -> None:
    a = store.put(PDF)
    b = store.put(PDF + b"\n")

    assert a.key != b.key
    assert store.read(a.key) == PDF
    assert store.read(b.key) == PDF + b"\n"


def test_empty_content_is_storable(store: EvidenceStore) -> None:
    stored = store.put(b"")
    assert stored.size == 0
    assert store.read(stored.key) == b""


def test_file_mode_is_0640(store: EvidenceStore) -> None:
    stored = store.put(PDF)
    assert stat.S_IMODE(store.path(stored.key).stat().st_mode) == 0o640


def test_a_damaged_copy_on_disk_is_rewritten(store: EvidenceStore) -> None:
    stored = store.put(PDF)
    store.path(stored.key).write_bytes(PDF[:5])  # truncated behind the store's back

    again = store.put(PDF)

    assert again.created is True
    assert store.read(stored.key) == PDF


def test_failed_rename_leaves_nothing_behind(store: EvidenceStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_replace(src: str, dst: str) -> None:
        assert Path(src).read_bytes() == PDF  # the temp file was fully written before the rename
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", failing_replace)

    with pytest.raises(OSError, match="disk on fire"):
        store.put(PDF)

    assert _all_files(store.root) == []
    key = EvidenceStore.key_for(hashlib.sha256(PDF).hexdigest())
    assert not store.exists(key)

    monkeypatch.undo()
    assert store.put(PDF).created is True  # and the store still works
    assert store.read(key) == PDF


def test_failed_write_leaves_nothing_behind(store: EvidenceStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_fsync(fd: int) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)

    with pytest.raises(OSError, match="no space"):
        store.put(PDF)

    assert _all_files(store.root) == []


@pytest.mark.parametrize(
    "key",
    [
        "../secrets",
        "sha256/../../etc/passwd",
        "/etc/passwd",
        "sha256/ab/cd/" + "ab" * 32 + "/../x",
        "sha256/ab/cd/" + "0" * 64,  # prefixes do not match the digest
        "sha256\\ab\\cd\\" + "ab" * 32,
        "SHA256/ab/cd/" + "ab" * 32,
        "sha256/ab/cd/" + "AB" * 32,
        "report.pdf",
        "",
    ],
)
def test_keys_that_are_not_ours_are_rejected(store: EvidenceStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.path(key)
    with pytest.raises(ValueError):
        store.read(key)
    with pytest.raises(ValueError):
        store.open(key)
    with pytest.raises(ValueError):
        store.exists(key)


def test_missing_key_reads_as_absent(store: EvidenceStore) -> None:
    key = EvidenceStore.key_for("ab" * 32)
    assert not store.exists(key)
    with pytest.raises(FileNotFoundError):
        store.read(key)
