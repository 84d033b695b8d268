"""PDF fixtures for tests: plain, large, signed, tampered, encrypted and broken files, built in memory,
and a worker that misbehaves on purpose for ``PdfInspector(worker=...)``.

Signing uses a throwaway CA and a signer certificate made with ``cryptography`` once per process
(``signing_material()``); everything else is deterministic apart from keys and signing times.
"""

from __future__ import annotations

import asyncio
import functools
import io
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pypdf import PdfWriter
from pypdf.generic import (
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    StreamObject,
)

SIGNER_NAME = "Nguyễn Văn An"
CA_NAME = "CA Thử nghiệm Đôn Đốc"
DEFAULT_TEXT = "Bao cao ket qua thuc hien nhiem vu"
#: Marker put in every page's content stream; ``tamper`` rewrites it.
TAMPER_MARKER = b"(EVIDENCE-ORIGINAL)"


# --------------------------------------------------------------------------------------------
# Plain PDFs


def _pdf_literal(text: str) -> bytes:
    """A PDF literal string for the standard Helvetica font (Latin-1; other characters → '?')."""
    raw = text.encode("latin-1", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _font(writer: PdfWriter):
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    return writer._add_object(font)


def _add_text_page(writer: PdfWriter, font_ref, text: str, number: int, xobjects=None) -> None:
    page = writer.add_blank_page(width=595, height=842)  # A4 in points
    resources = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font_ref})})
    draw_images = b""
    if xobjects:
        resources[NameObject("/XObject")] = DictionaryObject(
            {NameObject(f"/Im{i}"): ref for i, ref in enumerate(xobjects)}
        )
        draw_images = b"".join(b"q 400 0 0 300 97 400 cm /Im%d Do Q\n" % i for i in range(len(xobjects)))
    page[NameObject("/Resources")] = resources
    content = DecodedStreamObject()
    content.set_data(
        draw_images
        + b"BT /F1 14 Tf 72 770 Td "
        + _pdf_literal(text)
        + b" Tj 0 -20 Td "
        + _pdf_literal(f"Trang {number}")
        + b" Tj 0 -20 Td "
        + TAMPER_MARKER
        + b" Tj ET\n"
    )
    page[NameObject("/Contents")] = writer._add_object(content)


def _write(writer: PdfWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_pdf(pages: int = 1, text: str = DEFAULT_TEXT) -> bytes:
    """An unsigned PDF with ``pages`` A4 pages of uncompressed text."""
    writer = PdfWriter()
    font_ref = _font(writer)
    for number in range(1, pages + 1):
        _add_text_page(writer, font_ref, text, number)
    return _write(writer)


def make_large_pdf(size_bytes: int, *, chunk_bytes: int = 512 * 1024) -> bytes:
    """A PDF of at least ``size_bytes`` (under 0.1 % more from 100 KB up): a "scanned" page per chunk.

    Each page carries an incompressible raw RGB image XObject of about ``chunk_bytes``, as a
    scanned document would.
    """
    rng = random.Random(20240601)
    writer = PdfWriter()
    font_ref = _font(writer)
    width = 256
    remaining = size_bytes - 1024  # header, catalog, page tree and cross-reference table
    number = 0
    while remaining > 0 or number == 0:
        number += 1
        chunk = min(chunk_bytes, max(remaining, 0))
        height = max(1, -(-chunk // (width * 3)))  # rounded up
        image = StreamObject()
        image._data = rng.randbytes(width * height * 3)
        image.update(
            {
                NameObject("/Type"): NameObject("/XObject"),
                NameObject("/Subtype"): NameObject("/Image"),
                NameObject("/Width"): NumberObject(width),
                NameObject("/Height"): NumberObject(height),
                NameObject("/ColorSpace"): NameObject("/DeviceRGB"),
                NameObject("/BitsPerComponent"): NumberObject(8),
            }
        )
        _add_text_page(writer, font_ref, f"Ban scan {number}", number, [writer._add_object(image)])
        remaining -= width * height * 3 + 400  # the image and its page's objects (underestimated)
    return _write(writer)


def make_encrypted_pdf(user_password: str = "mat-khau", owner_password: str = "chu-so-huu") -> bytes:
    """An AES-256 encrypted PDF. ``user_password=""`` gives a file any viewer opens without asking."""
    writer = PdfWriter(clone_from=io.BytesIO(make_pdf(pages=2)))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="AES-256")
    return _write(writer)


def make_broken_pdf() -> bytes:
    """A PDF header followed by garbage: no objects, no cross-reference table, no trailer."""
    rng = random.Random(7)
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(rng.randrange(256) for _ in range(2000)).replace(b"obj", b"xxx")


def make_truncated_pdf() -> bytes:
    """A real PDF cut off before its page tree: the header and font object survive, nothing else."""
    data = make_pdf(pages=3)
    return data[: data.index(b"2 0 obj")]


def make_jpeg_bytes() -> bytes:
    """A small, real JPEG image (what a phone camera would send instead of a PDF)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# Certificates and signing


@dataclass(frozen=True)
class SigningMaterial:
    ca_key: rsa.RSAPrivateKey
    ca_cert: x509.Certificate
    signer_key: rsa.RSAPrivateKey
    signer_cert: x509.Certificate

    @property
    def ca_cert_der(self) -> bytes:
        return self.ca_cert.public_bytes(serialization.Encoding.DER)

    @property
    def ca_cert_pem(self) -> bytes:
        return self.ca_cert.public_bytes(serialization.Encoding.PEM)

    def pyhanko_signer(self) -> signers.SimpleSigner:
        der = serialization.Encoding.DER
        signing_key = asn1_keys.PrivateKeyInfo.load(
            self.signer_key.private_bytes(der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        return signers.SimpleSigner(
            signing_cert=asn1_x509.Certificate.load(self.signer_cert.public_bytes(der)),
            signing_key=signing_key,
            cert_registry=SimpleCertificateStore.from_certs(
                [asn1_x509.Certificate.load(self.ca_cert.public_bytes(der))]
            ),
        )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "UBND xã Thử Nghiệm"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(common_name: str = CA_NAME) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A self-signed root CA certificate and its key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=30))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_signer_cert(
    ca_key: rsa.RSAPrivateKey, ca_cert: x509.Certificate, common_name: str = SIGNER_NAME
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A document-signing certificate (digitalSignature + nonRepudiation) issued by ``ca_cert``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


@functools.cache
def signing_material() -> SigningMaterial:
    """The process-wide throwaway CA and signer (generated once; RSA key generation is slow)."""
    ca_key, ca_cert = make_ca()
    signer_key, signer_cert = make_signer_cert(ca_key, ca_cert)
    return SigningMaterial(ca_key=ca_key, ca_cert=ca_cert, signer_key=signer_key, signer_cert=signer_cert)


def sign(
    data: bytes, *, field_name: str = "Signature1", material: SigningMaterial | None = None
) -> bytes:
    """Add a PAdES signature in a new field of ``data`` (an incremental update)."""
    material = material or signing_material()
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name, md_algorithm="sha256", subfilter=SigSeedSubFilter.PADES,
        reason="Xác nhận báo cáo", location="Việt Nam",
    )
    out = _run(signers.async_sign_pdf(writer, meta, signer=material.pyhanko_signer()))
    return out.getvalue()


def _run(coro):
    """Run a coroutine to completion, also from inside a running event loop (async tests)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coro).result()


def make_signed_pdf(
    pages: int = 1, text: str = DEFAULT_TEXT, *, data: bytes | None = None,
    material: SigningMaterial | None = None,
) -> tuple[bytes, bytes]:
    """A signed PDF (a new one, or ``data`` signed) and the DER of the CA that issued the signer."""
    material = material or signing_material()
    signed = sign(data if data is not None else make_pdf(pages=pages, text=text), material=material)
    return signed, material.ca_cert_der


def tamper(signed: bytes) -> bytes:
    """Change page text inside the signed byte range, same length, so the file still parses."""
    index = signed.index(TAMPER_MARKER)
    replacement = b"(EVIDENCE-FORGED!!)"
    assert len(replacement) == len(TAMPER_MARKER)
    return signed[:index] + replacement + signed[index + len(TAMPER_MARKER):]


def corrupt_signature_container(signed: bytes) -> bytes:
    """Zero the signature's CMS blob (same length): the field is there, its content unreadable."""
    start = signed.index(b"/Contents <") + len(b"/Contents <")
    end = signed.index(b">", start)
    return signed[:start] + b"0" * (end - start) + signed[end:]


def make_incrementally_modified_after_signing(pages: int = 1) -> tuple[bytes, bytes]:
    """A signed PDF to which an incremental update later replaced the first page's content.

    The signature's own hash still matches (it covers its revision), but the document that viewers
    show is no longer the one that was signed.
    """
    signed, ca_der = make_signed_pdf(pages=pages)
    writer = IncrementalPdfFileWriter(io.BytesIO(signed), strict=False)
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    forged = generic.StreamObject(stream_data=b"BT /F1 14 Tf 72 770 Td (So lieu da bi sua) Tj ET\n")
    page["/Contents"] = writer.add_object(forged)
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), ca_der


# --------------------------------------------------------------------------------------------
# Workers that misbehave on purpose, for PdfInspector(worker=misbehaving_worker)
#
# A file made by ``make_trigger`` makes the worker hang, eat memory, crash or get SIGKILLed; any
# other file is inspected for real, so one inspector can show that it recovers afterwards.

_TRIGGER = b"%PDF-1.7\n%TEST-TRIGGER "


def make_trigger(action: str, report_to: str | None = None) -> bytes:
    """A file the misbehaving worker acts on: "hang", "memory", "crash" or "sigkill".

    With ``report_to`` (a path, e.g. a FIFO), the child first writes its pid there.
    """
    assert action in {"hang", "memory", "crash", "sigkill"}
    return _TRIGGER + action.encode() + b" " + (report_to or "-").encode() + b"\n%%EOF\n"


def misbehaving_worker(data: bytes, trust_roots):
    import os
    import signal

    from storage.pdfcheck import PdfReport, inspect_pdf_sync

    if not data.startswith(_TRIGGER):
        return inspect_pdf_sync(data, trust_roots)
    action, report_to = data[len(_TRIGGER):].split(b"\n", 1)[0].decode().split(" ")
    if report_to != "-":
        with open(report_to, "w") as out:
            out.write(str(os.getpid()))
    if action == "hang":
        while True:  # a parser stuck in a loop, burning CPU
            pass
    if action == "memory":
        hog = []
        for _ in range(64):  # up to 16 GiB of address space; the limit must stop it long before
            hog.append(bytes(256 * 1024 * 1024))
        return PdfReport.failed("broken")  # no MemoryError: the memory limit did not work
    if action == "crash":
        os.abort()
    if action == "sigkill":  # what the kernel's OOM killer does
        os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError(action)
