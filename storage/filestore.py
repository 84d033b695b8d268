"""Content-addressed store for evidence files.

A file lives under its SHA-256: ``sha256/ab/cd/abcd…`` below the store's root, never under the
name the sender gave it. Writes are atomic (temporary file in the same directory, fsync, rename),
so a reader sees either nothing or the whole file, and storing the same bytes twice is a no-op.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["EvidenceStore", "StoredFile", "clean_file_name", "clean_name_with_suffix", "clean_pdf_name"]

FILE_MODE = 0o640
DIR_MODE = 0o750

_KEY = re.compile(r"sha256/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})")

log = logging.getLogger(__name__)

#: Longest name handed out, in characters (file systems allow 255 bytes; Vietnamese is 1–3 per char).
NAME_CHARS = 80
_SEPARATORS = re.compile(r"[/\\]+")
_WINDOWS_RESERVED = re.compile(r'[<>:"|?*]')


def clean_file_name(name: str | None, default: str = "tai-lieu") -> str:
    """A sender's file name made safe to show and to hand out again.

    NFC; control characters, line and paragraph separators, format characters (bidi overrides
    such as U+202E, zero-width spaces and joiners, the BOM) and unassigned or private-use code
    points removed; only the last path component kept (``/`` and ``\\`` are separators wherever
    the name came from); characters Windows forbids (``<>:"|?*``) removed; blank space collapsed;
    leading and trailing dots and spaces stripped; at most ``NAME_CHARS`` characters, the
    extension kept. An empty result gives ``default``.
    """
    text = unicodedata.normalize("NFC", name or "")
    text = "".join(" " if ch.isspace() else ch for ch in text
                   if ch.isspace() or unicodedata.category(ch) not in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
    text = _SEPARATORS.split(text)[-1] if _SEPARATORS.search(text.rstrip("/\\")) else text.strip("/\\")
    text = " ".join(_WINDOWS_RESERVED.sub("", text).split()).strip(" .")
    if len(text) > NAME_CHARS:
        stem, dot, suffix = text.rpartition(".")
        if dot and 0 < len(suffix) <= 10:
            text = stem[:NAME_CHARS - len(suffix) - 1].rstrip(" .") + "." + suffix
        else:
            text = text[:NAME_CHARS].rstrip(" .")
    return text or default


def clean_name_with_suffix(name: str | None, suffix: str, default_stem: str = "tai-lieu") -> str:
    """The clean name (``clean_file_name``) with ``suffix`` as its only extension: the sender's own
    extension, if any, is replaced (``baocao.html`` → ``baocao.pdf``; a numeric one such as the
    ".2" of "v1.2" is part of the name and stays)."""
    text = clean_file_name(name, default="")
    stem, dot, extension = text.rpartition(".")
    if dot and stem and 0 < len(extension) <= 10 and extension.isalnum() and not extension.isdigit():
        text = stem.rstrip(" .")
    return clean_file_name((text or default_stem)[:NAME_CHARS - len(suffix)] + suffix)


def clean_pdf_name(name: str | None) -> str:
    """What stored evidence is called when handed out: the clean name with ``.pdf`` as its only
    extension, whatever the sender called it (``setup.exe`` → ``setup.pdf``): the bytes were
    checked to be a PDF and nothing else."""
    return clean_name_with_suffix(name, ".pdf")


@dataclass(frozen=True)
class StoredFile:
    key: str  # "sha256/ab/cd/<hex>", relative to the store's root
    sha256: str  # hex digest of the content
    size: int  # bytes
    created: bool  # False when the same content was already stored


class EvidenceStore:
    """Evidence files on the local file system, addressed by content. Creates directories lazily."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @staticmethod
    def key_for(digest: str) -> str:
        return f"sha256/{digest[:2]}/{digest[2:4]}/{digest}"

    def put(self, data: bytes) -> StoredFile:
        """Store ``data`` and return where it lives; idempotent for the same bytes.

        Two concurrent puts of the same new bytes may both report ``created``; the file is still
        written whole, once per rename.
        """
        digest = hashlib.sha256(data).hexdigest()
        key = self.key_for(digest)
        final = self.path(key)
        size = len(data)
        try:
            existing = final.stat().st_size
        except FileNotFoundError:
            existing = None
        if existing == size:
            return StoredFile(key=key, sha256=digest, size=size, created=False)
        if existing is not None:
            log.warning("evidence %s has %d bytes on disk, expected %d; rewriting it", key, existing, size)

        directory = final.parent
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=".incoming-", suffix=".tmp", dir=directory)
        temp: str | None = temp_name
        try:
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), FILE_MODE)
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp_name, final)
            temp = None
            _fsync_directory(directory)
        finally:
            if temp is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
        return StoredFile(key=key, sha256=digest, size=size, created=True)

    def path(self, key: str) -> Path:
        """The file's path; ValueError for anything that is not a key this store makes.

        Only ``sha256/ab/cd/<64 lowercase hex>`` with matching prefixes is accepted, so ``..``,
        absolute paths, backslashes and the like never reach the file system.
        """
        match = _KEY.fullmatch(key) if isinstance(key, str) else None
        if match is None or not match.group(3).startswith(match.group(1) + match.group(2)):
            raise ValueError(f"not an evidence key: {key!r}")
        return self.root.joinpath(*key.split("/"))

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def open(self, key: str) -> BinaryIO:
        """The stored file opened for binary reading; FileNotFoundError when absent."""
        return self.path(key).open("rb")

    def read(self, key: str) -> bytes:
        return self.path(key).read_bytes()


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable. Best effort: not every platform lets a directory be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
