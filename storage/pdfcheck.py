"""Inspection of untrusted PDF files: is it a readable PDF, how many pages, who signed it.

Files come from strangers' phones, so ``PdfInspector`` parses each one in the sandbox
(``storage.sandbox``): a forked child of a warm worker process, limited by CPU time (RLIMIT_CPU) and
address space (RLIMIT_AS), never by wall-clock time, so the verdict does not depend on how busy the
machine is. A file that hangs the parser or eats memory costs one child process, never the bot.
``inspect_pdf_sync`` is the in-process core that the child runs.

Error codes (``PdfReport.error``):

* ``not_pdf`` — no ``%PDF-`` in the first 1024 bytes; ``too_large`` — over ``max_bytes``;
  ``polyglot`` — the bytes are something else as well (``polyglot_reason``): content other than
  blank space before ``%PDF-`` (an HTML page, an ``MZ`` executable, a ZIP that starts there), a ZIP
  archive's directory at the end (a ZIP with a PDF first), or another format's signature after the
  last ``%%EOF``. All three are decided before any child starts.
* ``encrypted`` — opening it needs a password; ``cert_encrypted`` — it is encrypted for the
  certificates of named recipients (public-key security handler), so only they can open it.
* ``too_many_pages`` — more than ``MAX_PAGES`` pages, or a page tree beyond pypdf's limits (depth,
  entries).
* ``broken`` — pypdf cannot parse it or walk its page tree, it has no pages, or the child crashed.
* ``timeout`` — the child used up its CPU time and was killed.
* ``memory`` — the child hit its memory limit (MemoryError), or the kernel killed it (SIGKILL, as
  the OOM killer does).

What the report says:

* ``ok`` — the file is a PDF that pypdf can parse, whose page tree it can walk (``pages`` > 0),
  and that opens without a password. Otherwise ``error`` is one of ``ERRORS``.
* Encryption: a file encrypted with an *empty user password* (an "owner password" that only
  restricts printing/copying; common for documents exported by office software) opens in every
  viewer without a prompt, so it counts as readable: ``ok`` is True and ``empty_password`` records
  it. A file that needs a password to open is ``"encrypted"``.
* ``signatures`` — every filled signature field (``/Sig``; document timestamps are not signers),
  read and validated by pyHanko offline, in signing order. Nothing is fetched from the network:
  trust is decided against the configured roots only, and revocation is checked only against
  revocation data embedded in the file ("soft-fail" when there is none).
* ``SignatureInfo.intact`` — the hash of the bytes the signature covers matches and the signature
  value verifies against the signer's key. ``covers_whole_file`` — nothing changed after signing:
  either the signature covers the entire file, or the only later incremental updates are those
  pyHanko's difference analysis classes as further signatures, form filling or long-term
  validation data (how a second signer's signature gets added). A page rewritten after signing
  makes it False while ``intact`` stays True (the signed revision itself is untouched);
  ``PdfReport.all_intact`` requires both.
* ``active`` — active content found anywhere in the document's objects, for the reviewer:
  ``"javascript"``, ``"launch"`` (an action that starts a program), ``"embedded_file"``. It does not
  make the file unreadable; the reviewer is told.
* ``trusted`` — the signer's chain validates, at the time of the check, against the trust roots,
  and the signer certificate allows signing (keyUsage digitalSignature or nonRepudiation).

The child sends its report back as JSON, not pickle, so even a subverted child cannot run code in
the bot by way of the result.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from storage.sandbox import JobLimits, Sandbox, SandboxClosed, job_name

__all__ = [
    "ERRORS",
    "ACTIVE_KINDS",
    "InspectorClosed",
    "PdfCheckLimits",
    "PdfInspector",
    "PdfReport",
    "SignatureInfo",
    "Worker",
    "inspect_pdf",
    "inspect_pdf_sync",
    "load_trust_roots",
    "looks_like_pdf",
    "polyglot_reason",
]

ERRORS = frozenset({"not_pdf", "polyglot", "encrypted", "cert_encrypted", "too_many_pages", "broken",
                    "too_large", "timeout", "memory"})

#: What ``PdfReport.active`` may hold.
ACTIVE_KINDS = frozenset({"javascript", "launch", "embedded_file"})

#: How far into the file the ``%PDF-`` header may start (readers tolerate leading junk).
HEADER_WINDOW = 1024

#: More pages than any evidence document has; beyond it the file is refused as ``too_many_pages``.
MAX_PAGES = 5000

#: How many objects the active-content scan looks at, at most.
ACTIVE_SCAN_OBJECTS = 200_000

_PROBLEM_MAX = 300

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class SignatureInfo:
    field: str
    signer: str | None
    signed_at: datetime | None  # aware, UTC
    intact: bool  # covered bytes hash matches and the signature value verifies
    trusted: bool  # chain validates against the configured trust roots (offline)
    covers_whole_file: bool  # no modification after signing (see the module docstring)
    problem: str | None = None  # short English reason when not intact/trusted/covering, for logs


@dataclass(frozen=True)
class PdfReport:
    ok: bool  # a readable PDF that opens without a password
    error: str | None = None  # one of ERRORS when not ok
    pages: int = 0
    signatures: tuple[SignatureInfo, ...] = ()
    empty_password: bool = False  # encrypted, but opens with the empty user password
    active: tuple[str, ...] = ()  # active content found (sorted ACTIVE_KINDS), for the reviewer

    @classmethod
    def failed(cls, error: str) -> PdfReport:
        if error not in ERRORS:
            raise ValueError(f"unknown error code {error!r}")
        return cls(ok=False, error=error)

    @property
    def signed(self) -> bool:
        return bool(self.signatures)

    @property
    def all_intact(self) -> bool:
        """Signed, and every signature is intact and covers the document as it is now."""
        return self.signed and all(s.intact and s.covers_whole_file for s in self.signatures)

    @property
    def signer_names(self) -> tuple[str, ...]:
        """Distinct signer names in signing order (unknown names left out)."""
        return tuple(dict.fromkeys(s.signer for s in self.signatures if s.signer))


@dataclass(frozen=True)
class PdfCheckLimits:
    max_bytes: int = 20 * 1024 * 1024  # Telegram bots cannot download more anyway
    cpu_seconds: float = 20.0  # CPU time of the child for one file (not wall clock)
    memory_mb: int = 512  # address space of the child (RLIMIT_AS)

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.cpu_seconds <= 0 or self.memory_mb <= 0:
            raise ValueError("PDF check limits must be positive")


#: What runs in the child: ``(data, trust_roots) -> PdfReport``, a module-level function.
Worker = Callable[[bytes, Sequence[bytes]], PdfReport]


# --------------------------------------------------------------------------------------------
# Trust roots


def load_trust_roots(folder: Path | None) -> list[bytes]:
    """DER bytes of every certificate in ``*.crt``, ``*.cer``, ``*.pem``, ``*.der`` under ``folder``.

    PEM files may hold several certificates. A missing folder (or None) gives []; a file with one
    of those suffixes that is not a certificate raises ValueError naming it (a configuration error
    should stop start-up, not silently distrust every signer).
    """
    if folder is None or not folder.is_dir():
        return []
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    roots: list[bytes] = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in {".crt", ".cer", ".pem", ".der"}:
            continue
        raw = path.read_bytes()
        try:
            if b"-----BEGIN" in raw:
                certs = x509.load_pem_x509_certificates(raw)
            else:
                certs = [x509.load_der_x509_certificate(raw)]
        except ValueError as exc:
            raise ValueError(f"{path}: not an X.509 certificate ({exc})") from exc
        roots.extend(cert.public_bytes(Encoding.DER) for cert in certs)
    return roots


def _parse_roots(trust_roots: Sequence[bytes]) -> list[Any]:
    """asn1crypto certificates from DER or PEM bytes; ValueError names the bad one."""
    from asn1crypto import pem, x509

    certs = []
    for index, raw in enumerate(trust_roots):
        try:
            der = pem.unarmor(bytes(raw))[2] if pem.detect(raw) else bytes(raw)
            cert = x509.Certificate.load(der)
            cert.native  # force a full parse now rather than deep inside validation
        except Exception as exc:
            raise ValueError(f"trust root #{index} is not an X.509 certificate ({exc})") from exc
        certs.append(cert)
    return certs


# --------------------------------------------------------------------------------------------
# The in-process core


def looks_like_pdf(data: bytes) -> bool:
    """``%PDF-`` within the first ``HEADER_WINDOW`` bytes."""
    return b"%PDF-" in data[:HEADER_WINDOW]


_BLANK = b" \t\r\n\f\x00"
#: Signatures of other formats that must not follow a PDF's last ``%%EOF`` (compared lower-cased).
_FOREIGN = (b"<html", b"<!doctype", b"<script", b"<?xml", b"<svg", b"mz", b"\x7felf", b"pk\x03\x04",
            b"rar!", b"7z\xbc\xaf", b"\x1f\x8b")
_ZIP_END = b"PK\x05\x06"


def polyglot_reason(data: bytes) -> str | None:
    """Why ``data`` (which has ``%PDF-`` near its start) is also something else, or None.

    * Only blank space may come before ``%PDF-``: what readers tolerate there is exactly what
      HTML pages, executables and archives put first to be read as themselves.
    * No ZIP end-of-directory record where ZIP readers look for it (it ends the file, after its
      comment): that is a ZIP archive whose first member happens to be a PDF.
    * After the last ``%%EOF``, blank space or anything that does not start with another format's
      signature (an HTML page, an executable, an archive).
    """
    start = data.find(b"%PDF-", 0, HEADER_WINDOW)
    if start > 0 and data[:start].strip(_BLANK):
        kind = "an executable" if data.startswith(b"MZ") else "a ZIP archive" if data.startswith(b"PK") else "content"
        return f"{kind} before %PDF- ({start} bytes)"
    tail_from = max(0, len(data) - 65_535 - 22)
    position = data.rfind(_ZIP_END, tail_from)
    while position >= 0:
        comment = int.from_bytes(data[position + 20:position + 22], "little")
        if position + 22 + comment == len(data):
            return "a ZIP archive directory at the end"
        position = data.rfind(_ZIP_END, tail_from, position)
    eof = data.rfind(b"%%EOF")
    if eof >= 0:
        trailing = data[eof + 5:].strip(_BLANK).lower()
        if trailing.startswith(_FOREIGN):
            return "another format after the last %%EOF"
    return None


def _precheck(data: bytes, max_bytes: int) -> PdfReport | None:
    """The checks that need no parser: a report when they already decide, else None."""
    if not looks_like_pdf(data):
        return PdfReport.failed("not_pdf")
    if polyglot_reason(data) is not None:
        return PdfReport.failed("polyglot")
    if len(data) > max_bytes:
        return PdfReport.failed("too_large")
    return None


class _Refused(Exception):
    """The file is refused with the error code in ``args[0]``."""


def inspect_pdf_sync(data: bytes, trust_roots: Sequence[bytes] = ()) -> PdfReport:
    """Inspect ``data`` in this process, with no limits: the worker's body.

    Only for trusted input or inside a worker: nothing bounds its time or memory. Callable from
    async code too (it then blocks the loop; validation runs on a helper thread's own loop).
    MemoryError propagates (the worker turns it into ``"memory"``).
    """
    if not looks_like_pdf(data):
        return PdfReport.failed("not_pdf")
    if polyglot_reason(data) is not None:
        return PdfReport.failed("polyglot")
    from pypdf import PasswordType, PdfReader  # imported outside the try: our ImportError is no broken file

    try:
        reader, pages, empty_password = _read_structure(data, PdfReader, PasswordType)
    except _Refused as refused:
        return PdfReport.failed(refused.args[0])
    except MemoryError:
        raise
    except Exception as exc:  # untrusted input: any parser failure means a broken file
        log.debug("unreadable PDF: %r", exc)
        return PdfReport.failed("broken")
    if pages < 1:
        return PdfReport.failed("broken")
    active = _active_content(reader)
    signatures = _read_signatures(data, trust_roots, reader)
    return PdfReport(ok=True, pages=pages, signatures=signatures, empty_password=empty_password, active=active)


def _read_structure(data: bytes, PdfReader: Any, PasswordType: Any) -> tuple[Any, int, bool]:
    """Parse with pypdf, deal with encryption and walk the page tree; (reader, pages, empty_password)."""
    from pypdf.errors import LimitReachedError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
    except NotImplementedError:  # pypdf opens only the password ("/Standard") security handler
        raise _Refused("cert_encrypted" if _foreign_security_handler(data) else "broken") from None
    empty_password = False
    if reader.is_encrypted:
        if _security_handler(reader) not in ("/Standard", None):
            raise _Refused("cert_encrypted")  # /Adobe.PubSec: for named recipients' certificates only
        try:
            opened = reader.decrypt("") != PasswordType.NOT_DECRYPTED
        except Exception:  # unsupported algorithm: we cannot open it
            opened = False
        if not opened:
            raise _Refused("encrypted")
        empty_password = True
    # Once decrypted (or unencrypted) pypdf counts the leaves of the page tree, not /Count.
    try:
        pages = len(reader.pages)
    except (LimitReachedError, RecursionError) as exc:
        log.debug("page tree beyond the limits: %r", exc)
        raise _Refused("too_many_pages") from None
    if pages > MAX_PAGES:
        raise _Refused("too_many_pages")
    return reader, pages, empty_password


def _foreign_security_handler(data: bytes) -> bool:
    """Encrypted with another handler than passwords (e.g. /Adobe.PubSec, for certificates)?
    Asked of pyHanko, which reads the encryption dictionary of such files."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        encrypt = PdfFileReader(io.BytesIO(data), strict=False).encrypt_dict
        return encrypt is not None and str(encrypt.get("/Filter")) != "/Standard"
    except MemoryError:
        raise
    except Exception:
        return False


def _security_handler(reader: Any) -> str | None:
    """The /Filter of the encryption dictionary ("/Standard" for passwords), None if unreadable."""
    try:
        return str(reader.trailer["/Encrypt"].get_object()["/Filter"])
    except Exception:
        return None


#: Names that mean active content wherever they appear, as a key or as a value.
_ACTIVE_NAMES = {
    "/JavaScript": "javascript", "/JS": "javascript",
    "/Launch": "launch",
    "/EmbeddedFile": "embedded_file", "/EmbeddedFiles": "embedded_file", "/FileAttachment": "embedded_file",
}


def _active_content(reader: Any, budget: int = ACTIVE_SCAN_OBJECTS) -> tuple[str, ...]:
    """Active content among the objects reachable from the trailer (stream data is not read)."""
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

    found: set[str] = set()
    seen: set[tuple[int, int]] = set()
    stack: list[Any] = [reader.trailer]
    while stack and budget > 0 and len(found) < len(ACTIVE_KINDS):
        obj = stack.pop()
        budget -= 1
        if isinstance(obj, IndirectObject):
            ref = (obj.idnum, obj.generation)
            if ref in seen:
                continue
            seen.add(ref)
            try:
                obj = obj.get_object()
            except MemoryError:
                raise
            except Exception:  # a dangling or unreadable reference: nothing to scan there
                continue
        if isinstance(obj, DictionaryObject):
            for key, value in dict.items(obj):
                for name in (key, value):
                    if isinstance(name, NameObject) and name in _ACTIVE_NAMES:
                        found.add(_ACTIVE_NAMES[name])
                if isinstance(value, (DictionaryObject, ArrayObject, IndirectObject)):
                    stack.append(value)
        elif isinstance(obj, ArrayObject):
            stack.extend(item for item in obj if isinstance(item, (DictionaryObject, ArrayObject, IndirectObject)))
    return tuple(sorted(found))


def _read_signatures(data: bytes, trust_roots: Sequence[bytes], pypdf_reader: Any) -> tuple[SignatureInfo, ...]:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import enumerate_sig_fields
    from pyhanko.sign.validation import EmbeddedPdfSignature

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            reader.decrypt(b"")  # pypdf already found that the empty password opens it
        fields = list(enumerate_sig_fields(reader, filled_status=True))
    except MemoryError:
        raise
    except Exception as exc:
        # pypdf could read it, pyHanko cannot: do not pretend such a file is unsigned.
        return _signature_fields_seen_by_pypdf(pypdf_reader, f"signatures unreadable: {_describe(exc)}")

    embedded: list[tuple[str, Any]] = []  # (field name, EmbeddedPdfSignature or the reason it is unreadable)
    for fq_name, _value, sig_field in fields:
        try:
            emb = EmbeddedPdfSignature(reader, sig_field, fq_name)
            if emb.sig_object_type != "/Sig":
                continue  # a document timestamp, not a signer
            embedded.append((fq_name, emb))
        except MemoryError:
            raise
        except Exception as exc:
            embedded.append((fq_name, f"signature unreadable: {_describe(exc)}"))
    if not embedded:
        return ()

    def signing_order(item: tuple[str, Any]) -> int:
        emb = item[1]
        return emb.signed_revision if not isinstance(emb, str) else 1 << 30

    embedded.sort(key=signing_order)
    return tuple(_run_coroutine(_validate_all(embedded, trust_roots)))


def _run_coroutine(coro: Any) -> Any:
    """``asyncio.run``, also when called from a thread whose event loop is running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1, thread_name_prefix="pdfcheck-sync") as thread:
        return thread.submit(asyncio.run, coro).result()


def _signature_fields_seen_by_pypdf(reader: Any, problem: str) -> tuple[SignatureInfo, ...]:
    try:
        fields = reader.get_fields() or {}
    except Exception:
        fields = {}
    return tuple(
        SignatureInfo(field=name, signer=None, signed_at=None, intact=False, trusted=False,
                      covers_whole_file=False, problem=problem)
        for name, value in fields.items()
        if value.get("/FT") == "/Sig" and value.get("/V") is not None
    )


async def _validate_all(embedded: list[tuple[str, Any]], trust_roots: Sequence[bytes]) -> list[SignatureInfo]:
    from pyhanko_certvalidator import ValidationContext

    # An explicit (possibly empty) list: None would fall back to the OS trust store.
    context = ValidationContext(trust_roots=_parse_roots(trust_roots), allow_fetching=False)
    try:
        results = []
        for name, emb in embedded:
            if isinstance(emb, str):
                results.append(SignatureInfo(field=name, signer=None, signed_at=None, intact=False,
                                             trusted=False, covers_whole_file=False, problem=emb))
            else:
                results.append(await _validate_one(name, emb, context))
        return results
    finally:
        await context.aclose()


async def _validate_one(name: str, emb: Any, context: Any) -> SignatureInfo:
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.validation import SignatureCoverageLevel, async_validate_pdf_signature
    from pyhanko.sign.validation.settings import KeyUsageConstraints

    signer = _signer_name(emb)
    try:
        status = await async_validate_pdf_signature(
            emb,
            signer_validation_context=context,
            key_usage_settings=KeyUsageConstraints(
                key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False
            ),
        )
    except MemoryError:
        raise
    except Exception as exc:
        return SignatureInfo(field=name, signer=signer, signed_at=None, intact=False, trusted=False,
                             covers_whole_file=False, problem=f"validation failed: {_describe(exc)}")

    intact = bool(status.intact and status.valid)
    level = status.modification_level
    covers = status.coverage == SignatureCoverageLevel.ENTIRE_FILE or (
        status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
        and level is not None
        and level <= ModificationLevel.FORM_FILLING
        and status.docmdp_ok is not False
    )
    problems = []
    if not status.intact:
        problems.append("signed bytes were changed (digest mismatch)")
    elif not status.valid:
        problems.append("signature value does not verify")
    if not covers:
        coverage = status.coverage.name if status.coverage is not None else "unknown"
        modified = level.name if level is not None else "unknown"
        problems.append(f"modified after signing (coverage {coverage}, modification {modified})")
    if intact and not status.trusted:
        reason = status.trust_problem_indic.name if status.trust_problem_indic else "no path to a trust root"
        problems.append(f"untrusted: {reason}")
    return SignatureInfo(
        field=name,
        signer=signer,
        signed_at=_signing_time(status),
        intact=intact,
        trusted=bool(status.trusted),
        covers_whole_file=bool(covers),
        problem="; ".join(problems)[:_PROBLEM_MAX] or None,
    )


def _signer_name(emb: Any) -> str | None:
    try:
        subject = emb.signer_cert.subject
        common_name = subject.native.get("common_name")
        if isinstance(common_name, list):
            common_name = common_name[0] if common_name else None
        return str(common_name) if common_name else subject.human_friendly or None
    except Exception:
        return None


def _signing_time(status: Any) -> datetime | None:
    """A verified timestamp token's time if there is one, else the time the signer claims."""
    stamp = getattr(status, "timestamp_validity", None)
    when = stamp.timestamp if stamp is not None and stamp.intact and stamp.valid else status.signer_reported_dt
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:_PROBLEM_MAX]


def warm_up() -> None:
    """Run one check on a small PDF made here, so the sandbox's worker has every lazy import and
    cache of pypdf and pyHanko filled before it forks children (they inherit it all)."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(100, 100)
    out = io.BytesIO()
    writer.write(out)
    inspect_pdf_sync(out.getvalue())
    _run_coroutine(_warm_validation())


async def _warm_validation() -> None:
    from pyhanko_certvalidator import ValidationContext

    await ValidationContext(trust_roots=[], allow_fetching=False).aclose()


# --------------------------------------------------------------------------------------------
# The job in the sandbox and its wire format


WIRE_FIELDS = ("ok", "error", "pages", "empty_password", "active", "signatures")


def _report_to_wire(report: PdfReport) -> bytes:
    return json.dumps(
        {
            "ok": report.ok,
            "error": report.error,
            "pages": report.pages,
            "empty_password": report.empty_password,
            "active": list(report.active),
            "signatures": [
                {
                    "field": s.field, "signer": s.signer,
                    "signed_at": s.signed_at.isoformat() if s.signed_at else None,
                    "intact": s.intact, "trusted": s.trusted,
                    "covers_whole_file": s.covers_whole_file, "problem": s.problem,
                }
                for s in report.signatures
            ],
        }
    ).encode()


def _report_from_wire(raw: bytes) -> PdfReport:
    """Rebuild a report from the child's JSON, checking every type (the child saw hostile input)."""
    doc = json.loads(raw)

    def opt_str(value: Any) -> str | None:
        if value is not None and not isinstance(value, str):
            raise ValueError("bad report")
        return value

    def flag(value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError("bad report")
        return value

    error = opt_str(doc["error"])
    ok = flag(doc["ok"])
    if (error is not None and error not in ERRORS) or ok != (error is None):
        raise ValueError("bad report")
    pages = doc["pages"]
    if not isinstance(pages, int) or isinstance(pages, bool) or pages < 0:
        raise ValueError("bad report")
    active = doc["active"]
    if not isinstance(active, list) or not set(active) <= ACTIVE_KINDS:
        raise ValueError("bad report")
    signatures = []
    for item in doc["signatures"]:
        signed_at = opt_str(item["signed_at"])
        when = datetime.fromisoformat(signed_at).astimezone(timezone.utc) if signed_at else None
        signatures.append(SignatureInfo(
            field=opt_str(item["field"]) or "", signer=opt_str(item["signer"]), signed_at=when,
            intact=flag(item["intact"]), trusted=flag(item["trusted"]),
            covers_whole_file=flag(item["covers_whole_file"]), problem=opt_str(item["problem"]),
        ))
    return PdfReport(ok=ok, error=error, pages=pages, signatures=tuple(signatures),
                     empty_password=flag(doc["empty_password"]), active=tuple(sorted(set(active))))


def pdf_job(data: bytes, params: dict[str, Any]) -> bytes:
    """The sandbox job: run the worker named in ``params`` on ``data``; the report as JSON."""
    import importlib

    module, _, name = params["worker"].partition(":")
    worker = getattr(importlib.import_module(module), name)
    trust_roots = [base64.b64decode(root) for root in params["trust_roots"]]
    try:
        report = worker(data, trust_roots)
    except MemoryError:
        report = PdfReport.failed("memory")
    except RecursionError:
        report = PdfReport.failed("broken")
    return _report_to_wire(report)


# --------------------------------------------------------------------------------------------
# The inspector


InspectorClosed = SandboxClosed  # the inspector's sandbox was closed; the file was not judged

_FAILURES = {"cpu": "timeout", "memory": "memory", "crash": "broken"}


class PdfInspector:
    """Inspects untrusted PDFs in the sandbox (``storage.sandbox.Sandbox``) under ``limits``.

    ``sandbox``: the bot's shared sandbox (evidence and letters); without one the inspector makes
    its own with ``workers`` slots and closes it with itself. ``owner`` (``inspect``) is who sent
    the file: the sandbox runs at most a few files of one owner at once, so one sender's slow files
    do not hold everyone else's.

    ``worker`` replaces the function the child runs (tests use it to simulate hangs and memory
    blow-ups): a module-level function that the child can import by name.
    """

    def __init__(
        self,
        trust_roots: Sequence[bytes] = (),
        limits: PdfCheckLimits = PdfCheckLimits(),
        *,
        worker: Worker | None = None,
        sandbox: Sandbox | None = None,
        workers: int = 3,
        python: str | None = None,
    ) -> None:
        # Parsed here so a bad root fails at start-up, not as a "broken" verdict on every file.
        self.trust_roots: tuple[bytes, ...] = tuple(cert.dump() for cert in _parse_roots(trust_roots))
        self.limits = limits
        self._worker = job_name(worker or inspect_pdf_sync)
        self._owns_sandbox = sandbox is None
        self.sandbox = sandbox if sandbox is not None else Sandbox(workers, python=python)
        self._params = {"worker": self._worker,
                        "trust_roots": [base64.b64encode(root).decode() for root in self.trust_roots]}

    async def inspect(self, data: bytes, *, owner: str = "") -> PdfReport:
        """The report for ``data``; failures of the file are reports, never exceptions."""
        if self.sandbox.closed:
            raise InspectorClosed("the inspector is closed")
        early = _precheck(data, self.limits.max_bytes)
        if early is not None:
            return early
        result = await self.sandbox.run(
            pdf_job, data, self._params, owner=owner, kind="pdf",
            limits=JobLimits(cpu_seconds=self.limits.cpu_seconds, memory_mb=self.limits.memory_mb))
        if not result.ok:
            if result.status == "crash":
                log.warning("PDF check child failed: %s", result.detail)
            return PdfReport.failed(_FAILURES[result.status])
        try:
            return _report_from_wire(result.output)
        except (ValueError, KeyError, TypeError):
            log.warning("PDF check child sent an unreadable report")
            return PdfReport.failed("broken")

    def close(self) -> None:
        """Refuse further files and kill running checks (only when the sandbox is the inspector's own)."""
        if self._owns_sandbox:
            self.sandbox.close()

    async def aclose(self) -> None:
        if self._owns_sandbox:
            await self.sandbox.aclose()

    async def __aenter__(self) -> PdfInspector:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


async def inspect_pdf(
    data: bytes, *, trust_roots: Sequence[bytes] = (), limits: PdfCheckLimits = PdfCheckLimits()
) -> PdfReport:
    """Inspect one file with a throwaway ``PdfInspector`` (the bot keeps one for its lifetime)."""
    inspector = PdfInspector(trust_roots, limits, workers=1)
    try:
        return await inspector.inspect(data)
    finally:
        await inspector.aclose()
