"""Inspection of untrusted PDF files: is it a readable PDF, how many pages, who signed it.

Files come from strangers' phones, so ``PdfInspector`` parses each one in a fresh Python process
with a wall-clock timeout, an address-space limit (RLIMIT_AS) and, as a backstop should the bot
itself die, a CPU-time limit; a file that hangs the parser or eats memory costs one child process,
never the bot. ``inspect_pdf_sync`` is the in-process core that the child runs.

Error codes (``PdfReport.error``):

* ``not_pdf`` — no ``%PDF-`` in the first 1024 bytes; ``too_large`` — over ``max_bytes``.
  Both are decided before any child starts.
* ``encrypted`` — opening it needs a password.
* ``broken`` — pypdf cannot parse it or walk its page tree, it has no pages, or the child crashed.
* ``timeout`` — the child ran out of time and was killed.
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
* ``trusted`` — the signer's chain validates, at the time of the check, against the trust roots,
  and the signer certificate allows signing (keyUsage digitalSignature or nonRepudiation).

The child sends its report back as JSON, not pickle, so even a subverted child cannot run code in
the bot by way of the result.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import logging
import math
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = [
    "ERRORS",
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
]

ERRORS = frozenset({"not_pdf", "encrypted", "broken", "too_large", "timeout", "memory"})

#: How far into the file the ``%PDF-`` header may start (readers tolerate leading junk).
HEADER_WINDOW = 1024

#: Modules the child imports before it limits its memory.
_PRELOAD = [
    "pypdf",
    "pyhanko.pdf_utils.reader",
    "pyhanko.sign.fields",
    "pyhanko.sign.validation",
    "pyhanko.sign.diff_analysis",
    "pyhanko_certvalidator",
]

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
    timeout_s: float = 20.0  # wall clock for one file, child start-up included
    memory_mb: int = 512  # address space of the child (RLIMIT_AS)

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.timeout_s <= 0 or self.memory_mb <= 0:
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


def _precheck(data: bytes, max_bytes: int) -> PdfReport | None:
    """The checks that need no parser: a report when they already decide, else None."""
    if not looks_like_pdf(data):
        return PdfReport.failed("not_pdf")
    if len(data) > max_bytes:
        return PdfReport.failed("too_large")
    return None


class _Encrypted(Exception):
    pass


def inspect_pdf_sync(data: bytes, trust_roots: Sequence[bytes] = ()) -> PdfReport:
    """Inspect ``data`` in this process, with no limits: the worker's body.

    Only for trusted input or inside a worker: nothing bounds its time or memory. Callable from
    async code too (it then blocks the loop; validation runs on a helper thread's own loop).
    MemoryError propagates (the worker turns it into ``"memory"``).
    """
    if not looks_like_pdf(data):
        return PdfReport.failed("not_pdf")
    from pypdf import PasswordType, PdfReader  # imported outside the try: our ImportError is no broken file

    try:
        reader, pages, empty_password = _read_structure(data, PdfReader, PasswordType)
    except _Encrypted:
        return PdfReport.failed("encrypted")
    except MemoryError:
        raise
    except Exception as exc:  # untrusted input: any parser failure means a broken file
        log.debug("unreadable PDF: %r", exc)
        return PdfReport.failed("broken")
    if pages < 1:
        return PdfReport.failed("broken")
    signatures = _read_signatures(data, trust_roots, reader)
    return PdfReport(ok=True, pages=pages, signatures=signatures, empty_password=empty_password)


def _read_structure(data: bytes, PdfReader: Any, PasswordType: Any) -> tuple[Any, int, bool]:
    """Parse with pypdf, deal with encryption and walk the page tree; (reader, pages, empty_password)."""
    reader = PdfReader(io.BytesIO(data), strict=False)
    empty_password = False
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("") != PasswordType.NOT_DECRYPTED
        except Exception:  # unsupported security handler or algorithm: we cannot open it
            opened = False
        if not opened:
            raise _Encrypted
        empty_password = True
    # Once decrypted (or unencrypted) pypdf counts the leaves of the page tree, not /Count.
    pages = len(reader.pages)
    return reader, pages, empty_password


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


# --------------------------------------------------------------------------------------------
# The child process and its wire format


def _report_to_wire(report: PdfReport) -> bytes:
    return json.dumps(
        {
            "ok": report.ok,
            "error": report.error,
            "pages": report.pages,
            "empty_password": report.empty_password,
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
                     empty_password=flag(doc["empty_password"]))


def _limit_child(memory_bytes: int, cpu_seconds: int) -> None:
    try:
        import resource
    except ImportError:  # not POSIX: only the parent's timeout protects us
        return
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crashing parser must not dump 512 MB
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    # A backstop for when the parent is gone (crashed, killed) and cannot enforce its timeout:
    # the kernel stops a child that spins longer than that.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))


def _worker_name(worker: Worker) -> str:
    module, qualname = getattr(worker, "__module__", None), getattr(worker, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname or "." in qualname:
        raise ValueError(f"the worker must be a module-level function of an importable module, not {worker!r}")
    return f"{module}:{qualname}"


def _encode_job(worker: str, trust_roots: Sequence[bytes], limits: PdfCheckLimits, data: bytes) -> bytes:
    header = json.dumps({
        "worker": worker,
        "memory_bytes": limits.memory_mb * 1024 * 1024,
        "cpu_seconds": math.ceil(limits.timeout_s) + 1,
        "trust_roots": [base64.b64encode(root).decode() for root in trust_roots],
    }).encode()
    return len(header).to_bytes(4, "big") + header + data


def child_main() -> None:
    """The child's entry point: a job on stdin (``_encode_job``), the report as JSON on stdout."""
    import importlib

    logging.disable(logging.CRITICAL)  # parser chatter about hostile files is noise in the bot's log
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stray prints must not corrupt the report
    header = json.loads(stdin.read(int.from_bytes(stdin.read(4), "big")))
    module, _, name = header["worker"].partition(":")
    worker = getattr(importlib.import_module(module), name)
    trust_roots = [base64.b64decode(root) for root in header["trust_roots"]]
    for preload in _PRELOAD:  # import before the limit: the limit is for the file, not our code
        importlib.import_module(preload)
    try:
        _limit_child(header["memory_bytes"], header["cpu_seconds"])
        report = worker(stdin.read(), trust_roots)
    except MemoryError:
        report = PdfReport.failed("memory")
    except RecursionError:
        report = PdfReport.failed("broken")
    stdout.write(_report_to_wire(report))
    stdout.flush()


# --------------------------------------------------------------------------------------------
# The inspector


class InspectorClosed(RuntimeError):
    """The inspector was closed (the bot is shutting down); the file was not judged."""


class PdfInspector:
    """Inspects untrusted PDFs, each in a fresh Python process under ``limits``.

    A fresh interpreter (not a fork of the bot, and not multiprocessing, which would re-import the
    bot's main module in every child) shares nothing with the bot: no threads, no open sockets, no
    pickled objects. Killing one on timeout leaves nothing to repair; the next file simply gets
    a new child. Start-up costs about 0.4 s (importing pypdf and pyHanko). At most
    ``max_concurrent`` children run at once; further files wait their turn, and the wait does not
    count against their timeout.

    ``worker`` replaces the function the child runs (tests use it to simulate hangs and memory
    blow-ups): a module-level function that the child can import by name. ``python`` is the
    interpreter to run (default: this one).
    """

    def __init__(
        self,
        trust_roots: Sequence[bytes] = (),
        limits: PdfCheckLimits = PdfCheckLimits(),
        *,
        worker: Worker | None = None,
        max_concurrent: int = 2,
        python: str | None = None,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        # Parsed here so a bad root fails at start-up, not as a "broken" verdict on every file.
        self.trust_roots: tuple[bytes, ...] = tuple(cert.dump() for cert in _parse_roots(trust_roots))
        self.limits = limits
        self._worker = _worker_name(worker or inspect_pdf_sync)
        self._max_concurrent = max_concurrent
        self._python = python or sys.executable
        self._slots: asyncio.Semaphore | None = None
        self._slots_loop: asyncio.AbstractEventLoop | None = None
        self._children: set[asyncio.subprocess.Process] = set()
        self._closed = False

    async def inspect(self, data: bytes) -> PdfReport:
        """The report for ``data``; failures of the file are reports, never exceptions."""
        self._check_open()
        early = _precheck(data, self.limits.max_bytes)
        if early is not None:
            return early
        async with self._semaphore():
            self._check_open()
            return await self._run_child(data)

    def close(self) -> None:
        """Kill running children and refuse further files; does not wait. Idempotent.

        Inspections in progress raise ``InspectorClosed``.
        """
        self._closed = True
        for proc in list(self._children):
            _kill(proc)

    async def aclose(self) -> None:
        """``close()``, then wait until every child has exited."""
        self.close()
        for proc in list(self._children):
            await proc.wait()

    async def __aenter__(self) -> PdfInspector:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- internals --------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise InspectorClosed("PdfInspector is closed")

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots_loop is not loop:
            self._slots, self._slots_loop = asyncio.Semaphore(self._max_concurrent), loop
        return self._slots

    async def _run_child(self, data: bytes) -> PdfReport:
        job = _encode_job(self._worker, self.trust_roots, self.limits, data)
        proc = await asyncio.create_subprocess_exec(
            self._python, "-c", "from storage.pdfcheck import child_main; child_main()",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_child_environment(),
        )
        self._children.add(proc)
        try:
            try:
                out, err = await asyncio.wait_for(proc.communicate(job), self.limits.timeout_s)
            except TimeoutError:  # the finally below kills the child
                if self._closed:
                    raise InspectorClosed("PdfInspector closed during the inspection") from None
                return PdfReport.failed("timeout")
            if self._closed and proc.returncode == -signal.SIGKILL:
                raise InspectorClosed("PdfInspector closed during the inspection")
            if out:
                try:
                    return _report_from_wire(out)
                except (ValueError, KeyError, TypeError):
                    log.warning("PDF check child sent an unreadable report")
                    return PdfReport.failed("broken")
            if proc.returncode == -signal.SIGKILL:
                return PdfReport.failed("memory")  # the kernel's OOM killer, not us
            if hasattr(signal, "SIGXCPU") and proc.returncode == -signal.SIGXCPU:
                return PdfReport.failed("timeout")  # its CPU limit struck before our clock
            log.warning("PDF check child died (exit code %s): %s", proc.returncode,
                        err[-2000:].decode(errors="replace").strip())
            return PdfReport.failed("broken")
        finally:
            _kill(proc)  # no-op unless we are being cancelled or failed
            try:
                await asyncio.shield(proc.wait())
            finally:
                self._children.discard(proc)


def _child_environment() -> dict[str, str]:
    """A minimal environment: the child needs no secrets (bot token, database URL), only the
    project's entries of this process's import path (not the interpreter's own), so it imports
    the same code however the bot was started."""
    prefixes = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix})
    paths = [entry or os.getcwd() for entry in sys.path]
    paths = [entry for entry in paths if not entry.startswith(prefixes)]
    env = {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)), "PYTHONNOUSERSITE": "1", "LC_ALL": "C.UTF-8"}
    if "PATH" in os.environ:
        env["PATH"] = os.environ["PATH"]
    return env


def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


async def inspect_pdf(
    data: bytes, *, trust_roots: Sequence[bytes] = (), limits: PdfCheckLimits = PdfCheckLimits()
) -> PdfReport:
    """Inspect one file with a throwaway ``PdfInspector`` (the bot keeps one for its lifetime)."""
    inspector = PdfInspector(trust_roots, limits)
    try:
        return await inspector.inspect(data)
    finally:
        await inspector.aclose()
