"""Stage ``handlers.letters.reading``: a paste or the bytes of a file to text (more in tests/test_letters.py)."""

from __future__ import annotations

import re

import pytest

from handlers.letters.reading import MAX_LETTER_BYTES, LetterError, check_size, letter_text, paste_text


def test_txt_in_utf8_and_utf16() -> None:
    assert letter_text("Số: 12/UBND".encode("utf-8"), "a.txt") == "Số: 12/UBND"
    assert letter_text("Số: 12/UBND".encode("utf-16"), "a.TXT") == "Số: 12/UBND"


@pytest.mark.parametrize("data, name, message", [
    (b"", "a.txt", "trống"),
    (b"   \n", "a.txt", "trống"),
    (b"\xff\xfe\x00", "a.txt", "UTF-8"),
    (b"xyz", "a.doc", "Word cũ (.doc)"),
    (b"xyz", "a.odt", "chỉ nhận công văn dạng .docx, .pdf"),
    (b"not a zip", "a.docx", "tệp hỏng"),
    (b"%PDF-1.4 broken", "a.pdf", "PDF"),
])
def test_a_file_that_cannot_be_read_gets_a_vietnamese_answer(data: bytes, name: str, message: str) -> None:
    with pytest.raises(LetterError, match=re.escape(message)):
        letter_text(data, name)


def test_size_is_checked_before_reading() -> None:
    check_size(MAX_LETTER_BYTES)
    with pytest.raises(LetterError, match="quá lớn"):
        check_size(MAX_LETTER_BYTES + 1)
    with pytest.raises(LetterError, match="Văn bản trống"):
        paste_text(" \n ")
