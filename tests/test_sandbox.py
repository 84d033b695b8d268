"""The sandbox itself: how a job ends, closing, and the scheduler's bookkeeping."""

from __future__ import annotations

import asyncio

import pytest

from storage.sandbox import JobLimits, Sandbox, SandboxClosed, job_name
from tests import hostile as h

LIMITS = JobLimits(cpu_seconds=1, memory_mb=256)


@pytest.fixture
async def sandbox():
    box = Sandbox(2, per_owner=1)
    yield box
    await box.aclose()


async def test_how_a_job_ends(sandbox: Sandbox) -> None:
    ok, spun, hog, raised, aborted = await asyncio.gather(*(
        sandbox.run(job, b"xyz", {"a": 1}, limits=LIMITS, owner=str(i))
        for i, job in enumerate([h.echo_job, h.spin_job, h.hog_job, h.raise_job, h.abort_job])))
    assert ok.ok and b'"size": 3' in ok.output and b'"a": 1' in ok.output
    assert spun.status == "cpu"
    assert hog.status == "memory"
    assert raised.status == "crash" and "ValueError: a bug in a job" in raised.detail
    assert aborted.status == "crash" and "signal 6" in aborted.detail
    assert (await sandbox.run(h.echo_job, b"", limits=LIMITS)).ok  # and it goes on


async def test_close_ends_running_and_queued_jobs_and_refuses_more() -> None:
    sandbox = Sandbox(1)
    running = asyncio.ensure_future(sandbox.run(h.spin_job, b"", limits=JobLimits(600, 256), owner="a"))
    queued = asyncio.ensure_future(sandbox.run(h.echo_job, b"", limits=LIMITS, owner="b"))
    while not sandbox.running():  # the worker is up and has the spinning job
        await asyncio.sleep(0.01)
    pids = sandbox.running()

    await sandbox.aclose()

    for task in (running, queued):
        with pytest.raises(SandboxClosed):
            await task
    with pytest.raises(SandboxClosed):
        await sandbox.run(h.echo_job, b"", limits=LIMITS)
    assert sandbox.running() == [] and pids


def test_jobs_are_named_module_level_functions() -> None:
    assert job_name(h.echo_job) == "tests.hostile:echo_job"
    with pytest.raises(ValueError):
        job_name(lambda data, params: b"")
    with pytest.raises(ValueError):
        JobLimits(cpu_seconds=0, memory_mb=1)
    with pytest.raises(ValueError):
        Sandbox(0)
