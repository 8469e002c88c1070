"""The runtime's execution model (no drivers): per-resource locks held in order, background work
that is waited for by ``settle`` but loops that are not, failures logged instead of lost."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from orchestrator.runtime.jobs import Jobs


def test_holding_serialises_work_on_one_resource_and_skips_empty_keys() -> None:
    jobs = Jobs()
    order: list[str] = []

    async def work(name: str, *keys: str) -> None:
        async with jobs.holding(*keys):
            order.append(f"{name}+")
            await asyncio.sleep(0.01)
            order.append(f"{name}-")

    async def go() -> None:
        jobs.spawn(work("a", "vol-1", "i-1"))
        jobs.spawn(work("b", "", "i-1", "i-1"))  # empty and repeated keys: one lock, taken once
        await jobs.settle(timeout=10)
        assert not jobs.busy("i-1") and not jobs.busy("vol-1")

    asyncio.run(go())
    assert order == ["a+", "a-", "b+", "b-"]


def test_settle_waits_for_work_not_for_loops_and_close_cancels_loops() -> None:
    jobs = Jobs()
    done: list[str] = []

    async def loop() -> None:
        while True:
            await asyncio.sleep(0.01)

    async def work() -> None:
        await asyncio.sleep(0.02)
        done.append("work")

    async def go() -> None:
        forever = jobs.spawn_loop(loop())
        jobs.spawn(work())
        await jobs.settle(timeout=10)
        assert done == ["work"] and not forever.done()
        await jobs.close()
        assert forever.cancelled() and not jobs.tasks

    asyncio.run(go())


def test_failures_are_logged_and_calls_run_in_threads(caplog: pytest.LogCaptureFixture) -> None:
    jobs = Jobs()

    async def broken() -> None:
        raise RuntimeError("disk on fire")

    async def go() -> str:
        jobs.spawn_logged("creating vol-1", broken)
        await jobs.settle(timeout=10)
        return await jobs.call(lambda: threading.current_thread().name)

    with caplog.at_level(logging.ERROR):
        thread = asyncio.run(go())
    assert thread != threading.main_thread().name
    assert any(r.getMessage() == "creating vol-1 failed" and r.exc_info for r in caplog.records)
