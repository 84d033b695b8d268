"""Reading a letter: a pasted text, or the bytes of a ``.txt``, ``.docx`` or text-layer ``.pdf`` file.

``.txt`` (UTF-8, BOM or not), ``.docx`` (paragraphs and table cells, in document order: letter headers
are often a two-column table), text-layer ``.pdf``. At most ``MAX_LETTER_BYTES``; an empty file, a
scanned PDF without a text layer, an encrypted or broken file each get a Vietnamese answer
(``LetterError``).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePath
from typing import Any

MAX_LETTER_BYTES = 1_000_000
MAX_PDF_PAGES = 100
MAX_DOCX_UNPACKED_BYTES = 30_000_000


class LetterError(ValueError):
    """A letter cannot be read or imported (the message is Vietnamese, for the user)."""


# --- reading files ----------------------------------------------------------------------------------


def _size_text(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB".replace(".", ",")


def check_size(size: int) -> None:
    """Reject a file or paste over ``MAX_LETTER_BYTES`` before reading it."""
    if size > MAX_LETTER_BYTES:
        raise LetterError(
            f"Văn bản quá lớn ({_size_text(size)}); chỉ nhận công văn tối đa 1 MB. "
            "Hãy gửi riêng phần nội dung công văn (không kèm phụ lục, hình ảnh)."
        )


def paste_text(text: str) -> str:
    """A pasted letter, checked: not empty, at most ``MAX_LETTER_BYTES`` in UTF-8."""
    check_size(len(text.encode("utf-8")))
    if not text.strip():
        raise LetterError("Văn bản trống: hãy dán nội dung công văn, hoặc gửi tệp .docx, .pdf, .txt.")
    return text


def letter_text(data: bytes, file_name: str) -> str:
    """The text of a letter file (.txt, .docx, .pdf); ``LetterError`` with a Vietnamese answer."""
    check_size(len(data))
    name = PurePath(file_name or "").name or "tệp"
    if not data.strip():
        raise LetterError(f"Tệp «{name}» trống, không có nội dung để đọc.")
    suffix = PurePath(name).suffix.lower()
    if suffix == ".txt":
        text = _txt(data, name)
    elif suffix == ".docx":
        text = _docx(data, name)
    elif suffix == ".pdf":
        text = _pdf(data, name)
    elif suffix == ".doc":
        raise LetterError(f"Tệp «{name}» là Word cũ (.doc), chưa đọc được. Hãy lưu lại thành .docx hoặc .pdf.")
    else:
        raise LetterError(f"Không đọc được tệp «{name}»: chỉ nhận công văn dạng .docx, .pdf (có lớp chữ) hoặc .txt.")
    if not text.strip():
        raise LetterError(f"Tệp «{name}» không có chữ nào để đọc.")
    return text


def _txt(data: bytes, name: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LetterError(f"Tệp «{name}» không phải chữ UTF-8. Hãy lưu lại với bảng mã UTF-8.") from None


def _docx(data: bytes, name: str) -> str:
    from docx import Document
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    broken = LetterError(f"Không đọc được tệp Word «{name}» (tệp hỏng hoặc không phải .docx).")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_DOCX_UNPACKED_BYTES:
                raise LetterError(f"Tệp Word «{name}» giải nén ra quá lớn, không đọc.")
        document = Document(io.BytesIO(data))
    except LetterError:
        raise
    except Exception:  # noqa: BLE001 - python-docx raises many kinds on a bad file; all mean "broken"
        raise broken from None

    blocks: list[str] = []

    def table_text(table: Any) -> None:
        seen: set[int] = set()
        for row in table.rows:
            for cell in row.cells:
                if id(cell._tc) in seen:  # a merged cell appears once per grid column it spans
                    continue
                seen.add(id(cell._tc))
                for child in cell._tc.iterchildren():
                    add(child, cell)

    def add(element: Any, parent: Any) -> None:
        tag = element.tag.rsplit("}", 1)[-1]
        if tag == "p":
            blocks.append(Paragraph(element, parent).text)
        elif tag == "tbl":
            table_text(Table(element, parent))

    for child in document.element.body.iterchildren():
        add(child, document)
    return "\n\n".join(block for block in blocks if block.strip())


def _pdf(data: bytes, name: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LetterError(f"Tệp PDF «{name}» có mật khẩu, không đọc được. Hãy gửi bản không đặt mật khẩu.")
        pages = reader.pages
        if len(pages) > MAX_PDF_PAGES:
            raise LetterError(f"Tệp PDF «{name}» có {len(pages)} trang, quá dài cho một công văn.")
        texts: list[str] = []
        for page in pages:  # stop early on a file that unpacks to more text than a letter has
            texts.append(page.extract_text() or "")
            if sum(map(len, texts)) > MAX_LETTER_BYTES:
                raise LetterError(f"Tệp PDF «{name}» chứa quá nhiều chữ (hơn 1 MB), không giống một công văn.")
    except LetterError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError,
            NotImplementedError, OSError, AssertionError):
        raise LetterError(f"Không đọc được tệp PDF «{name}» (tệp hỏng hoặc không phải PDF).") from None
    text = "\n".join(texts)
    if not text.strip():
        raise LetterError(
            f"Tệp PDF «{name}» này không có lớp chữ (có thể là bản scan), nên không đọc được nội dung. "
            "Hãy gửi tệp .docx hoặc PDF xuất từ Word, hoặc dán nội dung công văn."
        )
    return text
