"""Reading the text of a letter file (công văn): .txt in place, .docx and .pdf in the sandbox.

Letters come from coordinators, but a .docx or .pdf is a container made elsewhere, so it is parsed
like evidence: in a forked sandbox child (``storage.sandbox``) with its own CPU-time and memory
limits (``LetterLimits``), never in the bot's process.

* .docx: the zip is inflated by us, member by member, in small reads, counting the bytes that
  really come out (a member's declared size is never trusted): past ``MAX_DOCX_UNPACKED_BYTES`` in
  all, or when a member inflates to other than it declares, reading stops. Only stored and deflated
  members are read (the only kinds Word writes). python-docx then reads the inflated parts, and the
  tables are walked cell element by cell element, so a cell spanning two billion grid columns or a
  chain of thousands of vertically merged cells costs what its XML costs, nothing more.
* .pdf: pypdf, at most ``MAX_PDF_PAGES`` pages and ``MAX_LETTER_BYTES`` of text.
* Every failure, including every exception a library raises (pypdf's ``DeprecationError`` and
  ``DependencyError`` are not ``PyPdfError``), is a ``LetterError`` whose message is a Vietnamese
  answer for the coordinator; a child that runs out of CPU time or memory gets one too.

``read_letter_sync`` is the in-process core (for trusted input and the sandbox child);
``LetterReader.read`` is what the bot calls.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from storage.sandbox import JobLimits, Sandbox, SandboxClosed

__all__ = [
    "LetterError",
    "LetterLimits",
    "LetterReader",
    "MAX_DOCX_UNPACKED_BYTES",
    "MAX_LETTER_BYTES",
    "MAX_PDF_PAGES",
    "check_size",
    "read_letter_sync",
]

MAX_LETTER_BYTES = 1_000_000
MAX_PDF_PAGES = 100
MAX_DOCX_UNPACKED_BYTES = 30_000_000
MAX_DOCX_MEMBERS = 2000
_CHUNK = 64 * 1024


class LetterError(ValueError):
    """A letter cannot be read or imported (the message is Vietnamese, for the user)."""


@dataclass(frozen=True)
class LetterLimits:
    """What reading one letter may use in the sandbox: CPU seconds and address space."""

    cpu_seconds: float = 8.0
    memory_mb: int = 384


def _size_text(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB".replace(".", ",")


def check_size(size: int) -> None:
    """Reject a file or paste over ``MAX_LETTER_BYTES`` before reading it."""
    if size > MAX_LETTER_BYTES:
        raise LetterError(
            f"Văn bản quá lớn ({_size_text(size)}); chỉ nhận công văn tối đa 1 MB. "
            "Hãy gửi riêng phần nội dung công văn (không kèm phụ lục, hình ảnh)."
        )


def _display_name(file_name: str) -> str:
    return PurePath(file_name or "").name or "tệp"


def _precheck(data: bytes, file_name: str) -> tuple[str, str]:
    """(display name, suffix) after the checks that need no parser."""
    check_size(len(data))
    name = _display_name(file_name)
    if not data.strip():
        raise LetterError(f"Tệp «{name}» trống, không có nội dung để đọc.")
    suffix = PurePath(name).suffix.lower()
    if suffix == ".doc":
        raise LetterError(f"Tệp «{name}» là Word cũ (.doc), chưa đọc được. Hãy lưu lại thành .docx hoặc .pdf.")
    if suffix not in (".txt", ".docx", ".pdf"):
        raise LetterError(
            f"Không đọc được tệp «{name}»: chỉ nhận công văn dạng .docx, .pdf (có lớp chữ) hoặc .txt.")
    return name, suffix


def _checked(text: str, name: str) -> str:
    if not text.strip():
        raise LetterError(f"Tệp «{name}» không có chữ nào để đọc.")
    return text


def read_letter_sync(data: bytes, file_name: str) -> str:
    """The text of a letter file (.txt, .docx, .pdf), in this process with no limits.

    Only for trusted input or inside the sandbox; ``LetterError`` with a Vietnamese answer.
    """
    name, suffix = _precheck(data, file_name)
    if suffix == ".txt":
        text = _txt(data, name)
    elif suffix == ".docx":
        text = _docx(data, name)
    else:
        text = _pdf(data, name)
    return _checked(text, name)


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


# --- .docx ------------------------------------------------------------------------------------


def _inflate(data: bytes, name: str) -> bytes:
    """The .docx re-packed with every member inflated, counting the real inflated bytes.

    Raises ``LetterError`` past ``MAX_DOCX_UNPACKED_BYTES`` (without reading further), for a
    member that inflates to other than it declares, and for anything that is not a plain zip.
    """
    broken = LetterError(f"Không đọc được tệp Word «{name}» (tệp hỏng hoặc không phải .docx).")
    too_big = LetterError(
        f"Tệp Word «{name}» giải nén ra quá lớn (hơn {MAX_DOCX_UNPACKED_BYTES // 1_000_000} MB), không đọc.")
    out = io.BytesIO()
    total = 0
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as repacked:
            members = archive.infolist()
            if len(members) > MAX_DOCX_MEMBERS:
                raise LetterError(f"Tệp Word «{name}» có quá nhiều phần ({len(members)}), không giống một công văn.")
            for info in members:
                if info.is_dir():
                    continue
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise broken  # Word writes only these; others (bzip2, lzma) inflate without a bound here
                chunks = []
                # ZipExtFile stops at the declared size and then checks the CRC: a member that
                # inflates to more than it declares fails here after one small read past it.
                with archive.open(info) as member:
                    while chunk := member.read(_CHUNK):
                        total += len(chunk)
                        if total > MAX_DOCX_UNPACKED_BYTES:
                            raise too_big
                        chunks.append(chunk)
                repacked.writestr(info.filename, b"".join(chunks))
    except LetterError:
        raise
    except zipfile.BadZipFile as exc:
        if "CRC" in str(exc):
            raise LetterError(
                f"Tệp Word «{name}» bị hỏng: có phần giải nén ra khác với kích thước ghi trong tệp "
                "(tệp hỏng hoặc bị sửa có chủ ý), không đọc.") from None
        raise broken from None
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - zipfile raises many kinds on a bad archive; all mean "broken"
        raise broken from None
    return out.getvalue()


def _docx(data: bytes, name: str) -> str:
    from docx import Document
    from docx.oxml.ns import qn
    from docx.text.paragraph import Paragraph

    inflated = _inflate(data, name)
    try:
        document = Document(io.BytesIO(inflated))
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - python-docx raises many kinds on a bad file; all mean "broken"
        raise LetterError(f"Không đọc được tệp Word «{name}» (tệp hỏng hoặc không phải .docx).") from None

    paragraph, table, row, cell = qn("w:p"), qn("w:tbl"), qn("w:tr"), qn("w:tc")
    blocks: list[str] = []
    size = 0

    def add(element: Any, parent: Any) -> None:
        nonlocal size
        if element.tag == paragraph:
            text = Paragraph(element, parent).text
            size += len(text)
            if size > MAX_LETTER_BYTES:
                raise LetterError(f"Tệp Word «{name}» chứa quá nhiều chữ (hơn 1 MB), không giống một công văn.")
            blocks.append(text)
        elif element.tag == table:
            # Each cell element once, in document order. python-docx's row.cells lays the cells out
            # on the grid (a merged cell once per grid column and row it covers), which a gridSpan
            # of two billion or a long vMerge chain turns into gigabytes or hours.
            for tr in element.iterchildren(row):
                for tc in tr.iterchildren(cell):
                    for child in tc.iterchildren():
                        add(child, parent)

    try:
        for child in document.element.body.iterchildren():
            add(child, document)
    except (LetterError, MemoryError):
        raise
    except Exception:  # noqa: BLE001
        raise LetterError(f"Không đọc được tệp Word «{name}» (tệp hỏng hoặc không phải .docx).") from None
    return "\n\n".join(block for block in blocks if block.strip())


# --- .pdf -------------------------------------------------------------------------------------


def _pdf(data: bytes, name: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, DeprecationError, LimitReachedError

    cert_encrypted = LetterError(
        f"Tệp PDF «{name}» được mã hoá bằng chứng thư số của người nhận, chỉ người đó mở được. "
        "Hãy gửi bản không mã hoá.")
    try:
        try:
            reader = PdfReader(io.BytesIO(data))
        except NotImplementedError:  # pypdf opens only the password ("/Standard") security handler
            from storage.pdfcheck import _foreign_security_handler

            if _foreign_security_handler(data):
                raise cert_encrypted from None
            raise
        if reader.is_encrypted:
            if _security_handler(reader) not in ("/Standard", None):
                raise cert_encrypted
            if not reader.decrypt(""):
                raise LetterError(f"Tệp PDF «{name}» có mật khẩu, không đọc được. Hãy gửi bản không đặt mật khẩu.")
        pages = reader.pages
        if len(pages) > MAX_PDF_PAGES:
            raise LetterError(f"Tệp PDF «{name}» có {len(pages)} trang, quá dài cho một công văn.")
        texts: list[str] = []
        for page in pages:  # stop early on a file that unpacks to more text than a letter has
            texts.append(page.extract_text() or "")
            if sum(map(len, texts)) > MAX_LETTER_BYTES:
                raise LetterError(f"Tệp PDF «{name}» chứa quá nhiều chữ (hơn 1 MB), không giống một công văn.")
    except (LetterError, MemoryError):
        raise
    except LimitReachedError:
        raise LetterError(
            f"Tệp PDF «{name}» có cấu trúc vượt giới hạn đọc (quá nhiều trang hoặc cây trang quá sâu), "
            "không giống một công văn.") from None
    except DependencyError:
        raise LetterError(
            f"Tệp PDF «{name}» dùng cách nén hoặc mã hoá mà máy chủ chưa hỗ trợ, nên không đọc được chữ. "
            "Hãy xuất lại PDF từ Word, hoặc gửi tệp .docx.") from None
    except DeprecationError:
        raise LetterError(
            f"Tệp PDF «{name}» dùng tính năng cũ mà bộ đọc PDF không còn hỗ trợ, nên không đọc được. "
            "Hãy xuất lại PDF từ Word, hoặc gửi tệp .docx.") from None
    except RecursionError:
        raise LetterError(f"Tệp PDF «{name}» có cấu trúc lồng nhau quá sâu, không đọc được.") from None
    except Exception:  # noqa: BLE001 - untrusted input: whatever else pypdf raises means a broken file
        raise LetterError(f"Không đọc được tệp PDF «{name}» (tệp hỏng hoặc không phải PDF).") from None
    text = "\n".join(texts)
    if not text.strip():
        raise LetterError(
            f"Tệp PDF «{name}» này không có lớp chữ (có thể là bản scan), nên không đọc được nội dung. "
            "Hãy gửi tệp .docx hoặc PDF xuất từ Word, hoặc dán nội dung công văn."
        )
    return text


def _security_handler(reader: Any) -> str | None:
    try:
        return str(reader.trailer["/Encrypt"].get_object()["/Filter"])
    except Exception:  # noqa: BLE001
        return None


_warm_docx: bytes | None = None


def warm_up() -> None:
    """Read a small .docx made here (once), so the sandbox's worker has python-docx warm before it
    forks; its waiting children read it again to take their copy-on-write faults early."""
    global _warm_docx
    if _warm_docx is None:
        from docx import Document

        out = io.BytesIO()
        document = Document()
        document.add_paragraph("Công văn")
        document.add_table(1, 1).cell(0, 0).text = "Phòng Nội vụ"
        document.save(out)
        _warm_docx = out.getvalue()
    read_letter_sync(_warm_docx, "warm.docx")


# --- the sandbox --------------------------------------------------------------------------------


def letter_job(data: bytes, params: dict[str, Any]) -> bytes:
    """The sandbox job: ``{"text": …}`` or ``{"error": <Vietnamese answer>}`` as JSON."""
    try:
        return json.dumps({"text": read_letter_sync(data, params["file_name"])}).encode()
    except LetterError as exc:
        return json.dumps({"error": str(exc)}).encode()


class LetterReader:
    """Reads letter files in the bot's sandbox, under ``limits``."""

    def __init__(self, sandbox: Sandbox, limits: LetterLimits = LetterLimits(), *,
                 job: Any = letter_job) -> None:
        self.sandbox = sandbox
        self.limits = limits
        self._job = job

    async def read(self, data: bytes, file_name: str, *, owner: str = "") -> str:
        """The letter's text; ``LetterError`` (Vietnamese) when it cannot be read."""
        name, suffix = _precheck(data, file_name)
        if suffix == ".txt":  # decoding is no parsing: done here
            return _checked(_txt(data, name), name)
        if self.sandbox.closed:
            raise SandboxClosed("the sandbox is closed")
        result = await self.sandbox.run(
            self._job, data, {"file_name": name}, owner=owner, kind="letter",
            limits=JobLimits(cpu_seconds=self.limits.cpu_seconds, memory_mb=self.limits.memory_mb))
        if result.status == "cpu":
            raise LetterError(
                f"Tệp «{name}» quá phức tạp để đọc tự động (vượt giới hạn thời gian xử lý), đã dừng đọc. "
                "Hãy lưu lại tệp ở dạng đơn giản hơn (ví dụ xuất PDF từ Word) hoặc dán nội dung công văn.")
        if result.status == "memory":
            raise LetterError(
                f"Tệp «{name}» cần quá nhiều bộ nhớ để đọc (có thể là tệp hỏng hoặc cố ý gây quá tải), "
                "đã dừng đọc. Hãy lưu lại tệp hoặc dán nội dung công văn.")
        answer = _answer(result.output) if result.ok else None
        if answer is None:
            raise LetterError(f"Không đọc được tệp «{name}» (lỗi khi đọc tệp). Hãy lưu lại tệp và gửi lại.")
        if "error" in answer:
            raise LetterError(answer["error"])
        return answer["text"]


def _answer(raw: bytes) -> dict[str, str] | None:
    """The child's answer, its types checked (the child saw hostile input); None if malformed."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(doc, dict) or len(doc) != 1:
        return None
    key, value = next(iter(doc.items()))
    if key not in ("text", "error") or not isinstance(value, str):
        return None
    return doc
