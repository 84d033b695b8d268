"""A sandbox for parsing untrusted files: a small pool of warm worker processes, limited by CPU time.

Every file that comes from outside (evidence PDFs, letters in .docx/.pdf) is parsed here, never in
the bot's own process: a parser that loops, eats memory or crashes costs one throwaway process.

How it works:

* Each of the ``workers`` slots is a *zygote*: a fresh Python interpreter (not a fork of the bot:
  it shares no threads, sockets, secrets or state with it) that imports the parsers once (pypdf,
  pyHanko, python-docx …), runs their warm-ups, and keeps one *pre-forked* child waiting. The
  child repeats the warm-ups (taking its copy-on-write faults early) unless a job is already
  waiting, reads one job from the zygote's stdin, sets its limits, runs it and exits; the zygote
  reports how it ended and forks the next. So a job pays neither the interpreter's start-up and
  imports (about 0.45 s) nor a fork, and every job starts from the same clean state.
* Limits are the kernel's, per child: ``RLIMIT_CPU`` (CPU seconds; SIGXCPU, then SIGKILL) and
  ``RLIMIT_AS`` (address space beyond the worker's own; allocations fail with MemoryError). There
  is no wall-clock timeout: a busy machine makes a job slower, never gives it another verdict.
  The workers run at a lower priority (``nice``, default 5) than the bot.
* The pool is fair: at most ``per_owner`` jobs of one owner (a sender) run at once, at most
  ``kind_caps[kind]`` of one kind (e.g. letters), and a free slot goes to the owners in turn
  (round robin), so one sender's slow files wait behind each other, not in front of everyone else.
* The bot talks to a zygote over its stdin/stdout on the sandbox's own threads (one per slot), not
  on the default executor the evidence store and others use.
* A zygote whose job is cancelled, or that dies, is killed with its child (SIGTERM: it kills and
  reaps the child, then exits) and replaced by a fresh one on the next job.

A job is a module-level function ``fn(data: bytes, params: dict) -> bytes``, named
``"module:function"``; its result travels back as bytes (callers use JSON, never pickle, so even a
subverted child cannot run code in the bot by way of its answer).

This module imports nothing of the project but ``storage``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import json
import logging
import math
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO

__all__ = ["JobLimits", "JobResult", "Sandbox", "SandboxClosed", "child_environment", "job_name"]

log = logging.getLogger(__name__)

#: Modules every zygote imports before its first job (a job may import more; the fork inherits them);
#: ``"module:function"`` also calls a warm-up function of the module once.
DEFAULT_PRELOAD = (
    "pypdf",
    "pyhanko.pdf_utils.reader",
    "pyhanko.sign.fields",
    "pyhanko.sign.validation",
    "pyhanko.sign.diff_analysis",
    "pyhanko_certvalidator",
    "docx",
    "storage.pdfcheck:warm_up",
    "storage.letterfile:warm_up",
)

_READY = b"R"
#: Scheduling priority of the workers, relative to the bot (higher is lower priority).
DEFAULT_NICE = 5
_PIPE_BYTES = 1024 * 1024
#: How long a zygote has to reap its child and exit after SIGTERM before its group is SIGKILLed
#: (a fallback for a stuck zygote; no verdict depends on it).
_KILL_GRACE_S = 10.0
_DETAIL_MAX = 500


class SandboxClosed(RuntimeError):
    """The sandbox was closed (the bot is shutting down); the job was not done."""


@dataclass(frozen=True)
class JobLimits:
    """What one job may use: CPU seconds (rounded up to whole seconds) and address space (MB
    beyond what the worker maps before the job)."""

    cpu_seconds: float
    memory_mb: int

    def __post_init__(self) -> None:
        if self.cpu_seconds <= 0 or self.memory_mb <= 0:
            raise ValueError("sandbox limits must be positive")


@dataclass(frozen=True)
class JobResult:
    """``status``: ``"ok"`` (``output`` is what the job returned), ``"cpu"`` (it used up its CPU
    time), ``"memory"`` (out of address space, or SIGKILLed below its CPU limit, as the kernel's
    OOM killer does), ``"crash"`` (anything else: a signal, an exception the job let out)."""

    status: str
    output: bytes = b""
    detail: str = ""  # English, for the log

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def job_name(fn: Callable[..., Any]) -> str:
    """``"module:function"`` for a module-level function a child can import."""
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname or "." in qualname:
        raise ValueError(f"the job must be a module-level function of an importable module, not {fn!r}")
    return f"{module}:{qualname}"


def child_environment() -> dict[str, str]:
    """A minimal environment: a worker needs no secrets (bot token, database URL), only the
    project's entries of this process's import path (not the interpreter's own), so it imports
    the same code however the bot was started."""
    prefixes = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix})
    paths = [entry or os.getcwd() for entry in sys.path]
    paths = [entry for entry in paths if not entry.startswith(prefixes)]
    env = {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)), "PYTHONNOUSERSITE": "1", "LC_ALL": "C.UTF-8"}
    if "PATH" in os.environ:
        env["PATH"] = os.environ["PATH"]
    return env


# --------------------------------------------------------------------------------------------
# Framing (both sides)


def _read_exact(stream: BinaryIO, size: int) -> bytes | None:
    """``size`` bytes, or None at end of file (also in the middle of a frame)."""
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _write_frame(stream: BinaryIO, header: dict[str, Any], body: bytes) -> None:
    raw = json.dumps(header).encode()
    stream.write(len(raw).to_bytes(4, "big") + raw + len(body).to_bytes(8, "big"))
    stream.write(body)
    stream.flush()


def _read_frame(stream: BinaryIO) -> tuple[dict[str, Any], bytes] | None:
    size = _read_exact(stream, 4)
    if size is None:
        return None
    raw = _read_exact(stream, int.from_bytes(size, "big"))
    body_size = _read_exact(stream, 8) if raw is not None else None
    if raw is None or body_size is None:
        return None
    body = _read_exact(stream, int.from_bytes(body_size, "big"))
    if body is None:
        return None
    return json.loads(raw), body


# --------------------------------------------------------------------------------------------
# The zygote (runs in the worker process)


def zygote_main() -> None:
    """The worker's entry point: preload, say ready, then keep one pre-forked child waiting.

    The waiting child reads the next job straight from the zygote's stdin, runs it under its
    limits and hands its answer to the zygote over a private pipe; the zygote reaps it, tells the
    bot how it ended, and forks the next one. So the fork, and the copy-on-write faults of a first
    run (the child repeats the warm-ups before it waits), are paid between jobs, not during one.
    """
    import importlib

    logging.disable(logging.CRITICAL)  # parser chatter about hostile files is noise
    signal.signal(signal.SIGTERM, _stop_zygote)
    with contextlib.suppress(OSError, IndexError, ValueError):
        os.nice(int(sys.argv[2]))  # parsing strangers' files yields the CPU to the bot (limits are CPU time)
    stdout = sys.stdout.buffer
    sys.stdout = sys.stderr  # stray prints must not corrupt the frames
    warm_ups: list[Callable[[], Any]] = []
    for entry in json.loads(sys.argv[1]) if len(sys.argv) > 1 else ():
        module, _, function = entry.partition(":")
        imported = importlib.import_module(module)
        if function:  # a warm-up: fills lazy imports and caches once, for every fork to inherit
            warm_ups.append(getattr(imported, function))
    _warm(warm_ups)
    gc.collect()
    gc.freeze()  # children's collections then leave the inherited objects (and their pages) alone
    stdout.write(_READY)
    stdout.flush()
    failed_spares = 0
    while True:
        ended = _next_child(warm_ups)
        if ended is None:
            return  # the bot closed our stdin
        status, detail, output = ended
        if status == "retry":
            failed_spares += 1
            if failed_spares >= 3:
                return  # something is wrong with this worker: the bot will start another
            continue
        failed_spares = 0
        _write_frame(stdout, {"status": status, "detail": detail[:_DETAIL_MAX]}, output)


def _warm(warm_ups: list[Callable[[], Any]], *, unless_readable: int | None = None) -> None:
    """Run the warm-ups; with ``unless_readable``, stop as soon as that fd has input (a job waits)."""
    import select

    for warm_up in warm_ups:
        if unless_readable is not None and select.select([unless_readable], [], [], 0)[0]:
            return
        with contextlib.suppress(Exception):
            warm_up()


_current_child = 0
_NO_JOB = 3  # a waiting child's exit code when stdin ends (the bot is gone)


def _stop_zygote(signum: int, frame: Any) -> None:
    """SIGTERM: kill the child and reap it, then exit (so no child outlives the zygote)."""
    if _current_child:
        with contextlib.suppress(OSError):
            os.kill(_current_child, signal.SIGKILL)
            os.waitpid(_current_child, 0)
    os._exit(0)


def _next_child(warm_ups: list[Callable[[], Any]]) -> tuple[str, str, bytes] | None:
    """Fork the waiting child, let it take one job, and say how it ended (None: no more jobs)."""
    global _current_child
    read_end, write_end = os.pipe()
    _widen(write_end)
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        _child(warm_ups, write_end)
    _current_child = pid
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        started = _read_frame(pipe)  # {"status": "started", "cpu_seconds": …} once it has a job
        frame = _read_frame(pipe) if started is not None else None
    _, wait_status, usage = os.wait4(pid, 0)
    _current_child = 0
    if started is None:  # it never took a job: no more jobs, or it died waiting (fork another)
        if os.WIFEXITED(wait_status) and os.WEXITSTATUS(wait_status) == _NO_JOB:
            return None
        return "retry", "", b""
    if frame is not None:
        answer, output = frame
        return str(answer.get("status", "crash")), str(answer.get("detail", "")), output
    cpu_seconds = int(started[0].get("cpu_seconds", 0)) if started is not None else 0
    # The child took a job ("started") and then died before answering.
    used = usage.ru_utime + usage.ru_stime
    if os.WIFSIGNALED(wait_status):
        sig = os.WTERMSIG(wait_status)
        if sig == getattr(signal, "SIGXCPU", None) or (sig == signal.SIGKILL and cpu_seconds and used >= cpu_seconds):
            return "cpu", f"CPU limit of {cpu_seconds} s reached", b""
        if sig == signal.SIGKILL:
            return "memory", "killed (SIGKILL) below its CPU limit", b""
        return "crash", f"killed by signal {sig}", b""
    return "crash", f"exited with code {os.WEXITSTATUS(wait_status)} and no answer", b""


def _child(warm_ups: list[Callable[[], Any]], answer_fd: int) -> None:
    """The pre-forked child: warm up, wait for one job on stdin, run it, answer, exit."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # parser chatter about hostile files stays out of the bot's log
    os.dup2(devnull, 1)  # and nothing but the zygote writes to the bot
    os.close(devnull)
    answer = os.fdopen(answer_fd, "wb")
    status, detail, output = "crash", "", b""
    try:
        # Take the copy-on-write faults now, before a job waits on them (unless one already does).
        _warm(warm_ups, unless_readable=0)
        frame = _read_frame(sys.stdin.buffer)
        if frame is None:
            os._exit(_NO_JOB)
        header, data = frame
        import importlib

        module, _, name = header["job"].partition(":")
        fn = getattr(importlib.import_module(module), name)  # before the limits: our code, not the file
        cpu_seconds = _limit(int(header["cpu_seconds"]), int(header["memory_bytes"]))
        # Tell the zygote the job started and its CPU limit, in case the kernel ends us.
        _write_frame(answer, {"status": "started", "cpu_seconds": cpu_seconds}, b"")
        output = fn(data, header["params"])
        if not isinstance(output, bytes):
            raise TypeError(f"job returned {type(output).__name__}, not bytes")
        status = "ok"
    except MemoryError:
        status, output = "memory", b""
    except BaseException as exc:  # noqa: BLE001 - whatever the job lets out is reported, never raised
        status, detail, output = "crash", f"{type(exc).__name__}: {exc}", b""
    try:
        _write_frame(answer, {"status": status, "detail": detail[:_DETAIL_MAX]}, output)
        answer.close()
    finally:
        os._exit(0)


def _widen(fd: int) -> None:
    """Give a pipe a 1 MB buffer (Linux), so a 5 MB file crosses it in a few context switches rather
    than eighty: on a busy machine each switch may wait for a CPU."""
    with contextlib.suppress(OSError, AttributeError, ImportError):
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)


def _limit(cpu_seconds: int, memory_bytes: int) -> int:
    """Limit this process: ``cpu_seconds`` more CPU time, ``memory_bytes`` more address space than
    the worker itself maps (its interpreter and parsers, about 110 MB, and the file it was given).
    Returns the CPU limit as the kernel sees it (the warm-up's time included)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    total = math.ceil(usage.ru_utime + usage.ru_stime) + cpu_seconds
    try:
        with open("/proc/self/statm") as statm:
            baseline = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        baseline = 0  # not Linux: the limit is absolute
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crashing parser must not dump its memory
    resource.setrlimit(resource.RLIMIT_AS, (baseline + memory_bytes, baseline + memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (total, total + 1))
    return total


# --------------------------------------------------------------------------------------------
# The bot's side


class _Slot:
    """One zygote process; used by one job at a time, on a sandbox thread."""

    def __init__(self, sandbox: Sandbox, index: int) -> None:
        self.sandbox = sandbox
        self.index = index
        self.proc: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()  # start-up (warm-up and a job may race for it)

    def ensure(self) -> subprocess.Popen[bytes]:
        with self.lock:
            proc = self.proc
            if proc is not None and proc.poll() is None:
                return proc
            if self.sandbox.closed:
                raise SandboxClosed("the sandbox is closed")
            proc = subprocess.Popen(
                [self.sandbox.python, "-c", "from storage.sandbox import zygote_main; zygote_main()",
                 json.dumps(list(self.sandbox.preload)), str(self.sandbox.nice)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,  # stderr: the bot's, for start-up errors
                env=child_environment(), start_new_session=True, close_fds=True,
            )
            self.proc = proc
            assert proc.stdin is not None and proc.stdout is not None
            _widen(proc.stdin.fileno())
            _widen(proc.stdout.fileno())
            if self.sandbox.closed:  # closed while we started it
                self.kill()
                raise SandboxClosed("the sandbox is closed")
            assert proc.stdout is not None
            if proc.stdout.read(1) != _READY:
                self.kill()
                if self.sandbox.closed:
                    raise SandboxClosed("the sandbox was closed while a worker started")
                raise RuntimeError(f"sandbox worker did not start (exit code {proc.wait()})")
            return proc

    def run(self, header: dict[str, Any], data: bytes) -> JobResult:
        proc = self.ensure()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            _write_frame(proc.stdin, header, data)
            frame = _read_frame(proc.stdout)
        except (BrokenPipeError, ConnectionResetError, ValueError, OSError):
            frame = None
        if frame is None:  # the zygote died or was killed (cancelled, closed)
            self.kill()
            if self.sandbox.closed:
                raise SandboxClosed("the sandbox was closed during the job")
            return JobResult("crash", detail=f"worker exited ({proc.poll()})")
        answer, output = frame
        status = answer.get("status")
        if status not in {"ok", "cpu", "memory", "crash"}:
            return JobResult("crash", detail="worker sent an unknown status")
        return JobResult(status, output, str(answer.get("detail", "")))

    def kill(self) -> None:
        """Kill the zygote and its child; both are reaped when this returns. Safe from any thread.

        SIGTERM makes the zygote SIGKILL and reap its child before it exits; should it not exit
        (it never blocks on anything but its pipes), its process group is SIGKILLed."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                proc.wait(timeout=_KILL_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            proc.wait()
        for stream in (proc.stdin, proc.stdout):
            with contextlib.suppress(Exception):
                stream.close()


class _Waiter:
    def __init__(self, owner: str, kind: str, future: asyncio.Future[_Slot]) -> None:
        self.owner, self.kind, self.future = owner, kind, future


class Sandbox:
    """A bounded, fair pool of warm worker processes (see the module docstring).

    ``workers``: how many jobs run at once (default 3). ``per_owner``: how many of one owner's jobs
    may run at once (default: all slots but one, at least 1). ``kind_caps``: the same per kind of
    job (e.g. ``{"letter": 1}``). ``preload``: modules the zygotes import up front. ``python``: the
    interpreter (default: this one). ``nice``: how much lower the workers' priority is than the
    bot's (default 5: on a busy machine the bot answers first; limits are CPU time, so no verdict
    changes).
    """

    def __init__(
        self,
        workers: int = 3,
        *,
        per_owner: int | None = None,
        kind_caps: Mapping[str, int] | None = None,
        preload: Iterable[str] = DEFAULT_PRELOAD,
        python: str | None = None,
        nice: int = DEFAULT_NICE,
    ) -> None:
        if workers < 1:
            raise ValueError("a sandbox needs at least one worker")
        self.workers = workers
        self.per_owner = per_owner if per_owner is not None else max(1, workers - 1)
        if self.per_owner < 1 or any(cap < 1 for cap in (kind_caps or {}).values()):
            raise ValueError("sandbox caps must be at least 1")
        self.kind_caps = dict(kind_caps or {})
        self.preload = tuple(preload)
        self.python = python or sys.executable
        self.nice = nice
        self.closed = False
        self._slots = [_Slot(self, i) for i in range(workers)]
        self._free: list[_Slot] = list(self._slots)
        self._busy: set[_Slot] = set()
        self._threads = ThreadPoolExecutor(workers, thread_name_prefix="sandbox")
        # One at a time: three interpreters importing pyHanko at once would stall the bot's start-up.
        self._warming = ThreadPoolExecutor(1, thread_name_prefix="sandbox-warm")
        self._queues: collections.OrderedDict[str, collections.deque[_Waiter]] = collections.OrderedDict()
        self._running_owner: collections.Counter[str] = collections.Counter()
        self._running_kind: collections.Counter[str] = collections.Counter()

    # -- public -------------------------------------------------------------------------------

    def warm(self) -> None:
        """Start every zygote now, in the background (so the first files do not wait for them)."""
        if not self.closed:
            for slot in self._slots:
                self._warming.submit(self._warm_one, slot)

    async def start(self) -> None:
        """Start every zygote and wait until all are ready."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._warming, slot.ensure) for slot in self._slots))

    async def run(self, job: str | Callable[..., bytes], data: bytes, params: Mapping[str, Any] | None = None,
                  *, limits: JobLimits, owner: str = "", kind: str = "") -> JobResult:
        """Run ``job(data, params)`` in a worker under ``limits``; waits for a fair turn first.

        Cancelling the call kills the worker (and its child); the slot gets a fresh one.
        """
        self._check_open()
        header = {
            "job": job if isinstance(job, str) else job_name(job),
            "params": dict(params or {}),
            "cpu_seconds": max(1, math.ceil(limits.cpu_seconds)),
            "memory_bytes": limits.memory_mb * 1024 * 1024,
        }
        slot = await self._acquire(owner, kind)
        try:
            self._check_open()
            future = asyncio.get_running_loop().run_in_executor(self._threads, slot.run, header, data)
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError:
                slot.kill()  # the thread then sees the end of the pipe and returns
                with contextlib.suppress(BaseException):
                    await future
                raise
        finally:
            self._release(slot, owner, kind)

    def close(self) -> None:
        """Kill every worker and refuse further jobs; jobs in progress raise ``SandboxClosed``."""
        self.closed = True
        for slot in self._slots:
            slot.kill()
        for queue in self._queues.values():
            for waiter in queue:
                if not waiter.future.done():
                    waiter.future.set_exception(SandboxClosed("the sandbox is closed"))
        self._queues.clear()
        self._threads.shutdown(wait=False)
        self._warming.shutdown(wait=False)

    async def aclose(self) -> None:
        self.close()
        await asyncio.get_running_loop().run_in_executor(None, self._wait_closed)

    def _wait_closed(self) -> None:
        self._warming.shutdown(wait=True)
        self._threads.shutdown(wait=True)
        for slot in self._slots:
            slot.kill()  # a zygote started by a warm-up racing with close

    def running(self) -> list[int]:
        """The pids of the zygotes alive now (for tests and diagnostics)."""
        return [slot.proc.pid for slot in self._slots if slot.proc is not None and slot.proc.poll() is None]

    async def __aenter__(self) -> Sandbox:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- scheduling -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise SandboxClosed("the sandbox is closed")

    def _warm_one(self, slot: _Slot) -> None:
        try:
            slot.ensure()
        except Exception as exc:  # noqa: BLE001 - a job will retry and report it
            if not self.closed:
                log.warning("sandbox worker %d did not start: %s", slot.index, exc)

    def _eligible(self, waiter: _Waiter) -> bool:
        cap = self.kind_caps.get(waiter.kind)
        return self._running_owner[waiter.owner] < self.per_owner and (
            cap is None or self._running_kind[waiter.kind] < cap)

    def _dispatch(self) -> None:
        """Give free slots to waiting jobs: owners in turn, each owner's jobs in order."""
        while self._free:
            for owner, queue in self._queues.items():
                while queue and queue[0].future.done():  # cancelled while waiting
                    queue.popleft()
                if queue and self._eligible(queue[0]):
                    break
            else:
                break
            waiter = queue.popleft()
            self._queues.move_to_end(owner)  # the next free slot goes to someone else first
            if not queue:
                del self._queues[owner]
            slot = self._free.pop()
            try:
                waiter.future.set_result(slot)
            except RuntimeError:  # its event loop is gone (a test's loop closed): the slot stays free
                self._free.append(slot)
                continue
            self._take(slot, waiter.owner, waiter.kind)
        for owner in [owner for owner, queue in self._queues.items() if not queue]:
            del self._queues[owner]

    def _take(self, slot: _Slot, owner: str, kind: str) -> None:
        self._busy.add(slot)
        self._running_owner[owner] += 1
        self._running_kind[kind] += 1

    async def _acquire(self, owner: str, kind: str) -> _Slot:
        future: asyncio.Future[_Slot] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(owner, kind, future)
        self._queues.setdefault(owner, collections.deque()).append(waiter)
        self._dispatch()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.exception() is None:
                self._release(future.result(), owner, kind)  # given a slot just as we were cancelled
            raise

    def _release(self, slot: _Slot, owner: str, kind: str) -> None:
        self._busy.discard(slot)
        self._running_owner[owner] -= 1
        self._running_kind[kind] -= 1
        self._free.append(slot)
        if not self.closed:
            self._dispatch()
