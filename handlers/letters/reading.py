"""Reading a letter: a pasted text, or the bytes of a ``.txt``, ``.docx`` or text-layer ``.pdf`` file.

``.txt`` (UTF-8, BOM or not), ``.docx`` (paragraphs and table cells, in document order: letter headers
are often a two-column table), text-layer ``.pdf``. At most ``MAX_LETTER_BYTES``; an empty file, a
scanned PDF without a text layer, an encrypted, broken or hostile file each get a Vietnamese answer
(``LetterError``).

A file from a chat is untrusted: ``read_letter`` has it parsed in the sandbox (``storage.letterfile``,
with its own CPU-time and memory limits); ``letter_text`` reads in this process, for trusted input.
"""

from __future__ import annotations

from storage.letterfile import (  # noqa: F401 - re-exported for the package
    MAX_DOCX_UNPACKED_BYTES,
    MAX_LETTER_BYTES,
    MAX_PDF_PAGES,
    LetterError,
    LetterReader,
    check_size,
    read_letter_sync,
)


def paste_text(text: str) -> str:
    """A pasted letter, checked: not empty, at most ``MAX_LETTER_BYTES`` in UTF-8."""
    check_size(len(text.encode("utf-8")))
    if not text.strip():
        raise LetterError("Văn bản trống: hãy dán nội dung công văn, hoặc gửi tệp .docx, .pdf, .txt.")
    return text


def letter_text(data: bytes, file_name: str) -> str:
    """The text of a letter file (.txt, .docx, .pdf) read in this process: trusted input only.

    Untrusted files go through ``read_letter`` (the sandbox)."""
    return read_letter_sync(data, file_name)


async def read_letter(reader: LetterReader, data: bytes, file_name: str, *, owner: str = "") -> str:
    """The text of an untrusted letter file, parsed in the sandbox; ``LetterError`` with a Vietnamese answer."""
    return await reader.read(data, file_name, owner=owner)
