"""Hostile files, made in the tests: docx bombs, a lying zip, polyglots, PDFs with active content,
and sandbox jobs that misbehave on purpose (the old letter reader, pypdf's own exception types)."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib

from pypdf import PdfWriter
from pypdf.generic import (DictionaryObject, NameObject, NumberObject, StreamObject,
                           TextStringObject)

from tests import pdf_factory as pf

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def _docx_with_body(body: str) -> bytes:
    """A real .docx (made by python-docx) whose ``word/document.xml`` body is ``body``."""
    from docx import Document

    template = io.BytesIO()
    Document().save(template)
    document = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document {W}><w:body>{body}</w:body></w:document>'
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(template.getvalue())) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dest:
        for info in source.infolist():
            data = document.encode() if info.filename == "word/document.xml" else source.read(info)
            dest.writestr(info.filename, data)
    return out.getvalue()


LETTER_LINE = "Phòng Nội vụ báo cáo kết quả trước ngày 30/11/2026."


def _p(text: str) -> str:
    return f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"


def gridspan_bomb() -> bytes:
    """One table cell spanning 2,000,000,000 grid columns (about 1 KB zipped)."""
    cell = f'<w:tc><w:tcPr><w:gridSpan w:val="2000000000"/></w:tcPr>{_p(LETTER_LINE)}</w:tc>'
    table = f'<w:tbl><w:tblGrid><w:gridCol w:w="100"/></w:tblGrid><w:tr>{cell}</w:tr></w:tbl>'
    return _docx_with_body(_p("CÔNG VĂN") + table)


def vmerge_chain(rows: int = 3000) -> bytes:
    """A column of ``rows`` vertically merged cells (a couple of KB zipped)."""
    first = f'<w:tr><w:tc><w:tcPr><w:vMerge w:val="restart"/></w:tcPr>{_p(LETTER_LINE)}</w:tc></w:tr>'
    rest = "<w:tr><w:tc><w:tcPr><w:vMerge/></w:tcPr><w:p/></w:tc></w:tr>" * (rows - 1)
    table = f'<w:tbl><w:tblGrid><w:gridCol w:w="100"/></w:tblGrid>{first}{rest}</w:tbl>'
    return _docx_with_body(_p("CÔNG VĂN") + table)


def _deflate_zeros(size: int) -> tuple[bytes, int]:
    """``size`` zero bytes deflated (raw), made a megabyte at a time; (data, crc32)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    parts, crc = [], 0
    for _ in range(size >> 20):
        parts.append(compressor.compress(chunk))
        crc = zlib.crc32(chunk, crc)
    parts.append(compressor.flush())
    return b"".join(parts), crc


def lying_zip(real_size: int = 300 * 1024 * 1024, declared: int = 2048, *, honest: bool = False) -> bytes:
    """A .docx whose ``word/document.xml`` says ``declared`` bytes but inflates to ``real_size`` zeros
    (``honest``: it declares its real size). About 300 KB (under the 1 MB letter limit); made in
    well under a second of CPU."""
    template = _docx_with_body(_p(LETTER_LINE))
    deflated, crc = _deflate_zeros(real_size)
    size = real_size if honest else declared
    out = io.BytesIO()
    central = []
    with zipfile.ZipFile(io.BytesIO(template)) as source:
        for info in source.infolist():
            name = info.filename.encode()
            if info.filename == "word/document.xml":
                data, method, member_crc, usize = deflated, 8, crc, size
            else:
                raw = source.read(info)
                packer = zlib.compressobj(9, zlib.DEFLATED, -15)
                data, method, member_crc, usize = packer.compress(raw) + packer.flush(), 8, zlib.crc32(raw), len(raw)
            offset = out.tell()
            out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, member_crc, len(data), usize,
                                  len(name), 0) + name + data)
            central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, member_crc,
                                       len(data), usize, len(name), 0, 0, 0, 0, 0, offset) + name)
    start = out.tell()
    directory = b"".join(central)
    out.write(directory + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), len(directory),
                                      start, 0))
    return out.getvalue()


# --- polyglots -----------------------------------------------------------------------------------


def html_pdf() -> bytes:
    """An HTML page that PDF readers also open (the PDF inside an HTML comment)."""
    return b"<html><body><script>alert(1)</script><!--\n" + pf.make_pdf() + b"\n--></body></html>\n"


def zip_with_pdf_first() -> bytes:
    """A PDF with a ZIP archive appended: PDF readers see the PDF, ZIP readers (and Word) a .docx."""
    buffer = io.BytesIO(pf.make_pdf())
    buffer.seek(0, io.SEEK_END)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("payload.exe", b"MZ" + bytes(100))
    return buffer.getvalue()


def mz_pdf() -> bytes:
    """An ``MZ`` executable header with a PDF within the first kilobyte."""
    return b"MZ\x90\x00\x03\x00\x00\x00" + bytes(200) + b"This program cannot be run in DOS mode.\r\n" + pf.make_pdf()


def pdf_then_html() -> bytes:
    """A PDF followed, after its ``%%EOF``, by an HTML page."""
    return pf.make_pdf() + b"\n<!DOCTYPE html><html><script>alert(1)</script></html>\n"


# --- PDFs with active content --------------------------------------------------------------------


def pdf_with_active_content(*kinds: str) -> bytes:
    """A readable one-page PDF with ``kinds`` of "javascript", "launch", "embedded_file"."""
    writer = PdfWriter()
    writer.append(io.BytesIO(pf.make_pdf()))
    if "javascript" in kinds:
        script = DictionaryObject({NameObject("/S"): NameObject("/JavaScript"),
                                   NameObject("/JS"): TextStringObject("app.alert('xin chao');")})
        page = writer.pages[0]
        page[NameObject("/AA")] = DictionaryObject({NameObject("/O"): writer._add_object(script)})
    if "launch" in kinds:
        action = DictionaryObject({NameObject("/S"): NameObject("/Launch"),
                                   NameObject("/F"): TextStringObject("cmd.exe")})
        writer._root_object[NameObject("/OpenAction")] = writer._add_object(action)
    if "embedded_file" in kinds:
        writer.add_attachment("setup.exe", b"MZ" + bytes(64))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def brotli_text_pdf() -> bytes:
    """A text PDF whose page content is /BrotliDecode-compressed: pypdf raises DependencyError
    (not a PyPdfError) when extracting its text without the optional brotli package."""
    writer = PdfWriter()
    page = writer.add_blank_page(595, 842)
    font = writer._add_object(DictionaryObject({NameObject("/Type"): NameObject("/Font"),
                                                NameObject("/Subtype"): NameObject("/Type1"),
                                                NameObject("/BaseFont"): NameObject("/Helvetica")}))
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    content = StreamObject()
    content._data = b"\x0b\x02\x80BT /F1 12 Tf 72 770 Td (Cong van) Tj ET\x03"  # not real brotli: never decoded
    content[NameObject("/Filter")] = NameObject("/BrotliDecode")
    content[NameObject("/Length")] = NumberObject(len(content._data))
    page[NameObject("/Contents")] = writer._add_object(content)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --- jobs that run in the sandbox ------------------------------------------------------------------


def old_docx_reader_job(data: bytes, params: dict) -> bytes:
    """The letter reader as it was: python-docx's ``row.cells`` grid, no bound on inflating.

    Shows what the sandbox's limits do with a parser that falls for a bomb."""
    from docx import Document

    document = Document(io.BytesIO(data))
    texts = []
    for table in document.tables:
        seen = set()
        for row in table.rows:
            for cell in row.cells:
                if id(cell._tc) not in seen:
                    seen.add(id(cell._tc))
                    texts.append(cell.text)
    return json.dumps({"text": "\n".join(texts)}).encode()


def deprecation_error_job(data: bytes, params: dict) -> bytes:
    """The real letter job, with pypdf raising its ``DeprecationError`` (which is no PyPdfError)."""
    import pypdf
    from pypdf.errors import DeprecationError

    from storage import letterfile

    class Deprecated(pypdf.PdfReader):
        def __init__(self, *args, **kwargs):
            raise DeprecationError("PdfFileReader is deprecated and was removed in pypdf 3.0.0.")

    pypdf.PdfReader = Deprecated  # only in this throwaway child
    return letterfile.letter_job(data, params)


def spin_job(data: bytes, params: dict) -> bytes:
    """Burns CPU until the sandbox's CPU limit stops it."""
    while True:
        pass


def echo_job(data: bytes, params: dict) -> bytes:
    return json.dumps({"pid": __import__("os").getpid(), "size": len(data), **params}).encode()



def certificate_encrypted_pdf() -> bytes:
    """A PDF encrypted for one recipient's certificate (public-key security handler, /Adobe.PubSec)."""
    from asn1crypto import x509
    from pyhanko.pdf_utils.crypt import PubKeySecurityHandler
    from pyhanko.pdf_utils.crypt.pubkey import RecipientEncryptionPolicy
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.pdf_utils.writer import copy_into_new_writer

    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(pf.make_pdf())))
    recipient = x509.Certificate.load(pf.signing_material().ca_cert_der)
    writer._assign_security_handler(PubKeySecurityHandler.build_from_certs(
        [recipient], policy=RecipientEncryptionPolicy(ignore_key_usage=True)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_with_pages(count: int) -> bytes:
    """A PDF whose page tree lists one page ``count`` times (a few bytes per page)."""
    from pypdf.generic import ArrayObject

    writer = PdfWriter()
    writer.append(io.BytesIO(pf.make_pdf()))
    pages = writer._root_object["/Pages"]
    pages[NameObject("/Kids")] = ArrayObject([pages["/Kids"][0]] * count)
    pages[NameObject("/Count")] = NumberObject(count)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def raise_job(data: bytes, params: dict) -> bytes:
    raise ValueError("a bug in a job")


def hog_job(data: bytes, params: dict) -> bytes:
    """Allocates until the address-space limit stops it."""
    hog = []
    for _ in range(64):
        hog.append(bytes(64 * 1024 * 1024))
    return b"not stopped"


def abort_job(data: bytes, params: dict) -> bytes:
    __import__("os").abort()
