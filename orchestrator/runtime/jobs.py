"""How the runtime runs work: per-resource locks, background tasks, and the thread pool that
blocking driver calls run in. One execution model for instance and EBS work alike.

Locks are keyed by resource id (``i-...``, ``vol-...``) or by a job name (``ebs:garbage-collection``);
work on several resources takes their locks in one fixed order (volumes before instances), so
an attach never races a launch of the same instance.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, ParamSpec, TypeVar

log = logging.getLogger("ec2d.runtime")
P = ParamSpec("P")
T = TypeVar("T")


class Jobs:
    def __init__(self) -> None:
        self.locks: dict[str, asyncio.Lock] = {}
        self.tasks: set[asyncio.Task[Any]] = set()  # every running task, loops included
        self.loops: set[asyncio.Task[Any]] = set()  # the never-ending ones (periodic work)

    def lock(self, key: str) -> asyncio.Lock:
        """The lock of one resource (created on first use)."""
        return self.locks.setdefault(key, asyncio.Lock())

    def busy(self, key: str) -> bool:
        return self.lock(key).locked()

    @asynccontextmanager
    async def holding(self, *keys: str) -> AsyncIterator[None]:
        """Hold the locks of ``keys`` in the order given (empty keys skipped, duplicates once)."""
        async with AsyncExitStack() as stack:
            for key in dict.fromkeys(k for k in keys if k):
                await stack.enter_async_context(self.lock(key))
            yield

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in the background; an exception is logged, never lost."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def spawn_loop(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Like :meth:`spawn`, for work that runs until :meth:`close` (not waited for by :meth:`settle`)."""
        task = self.spawn(coro)
        self.loops.add(task)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        self.loops.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    def spawn_logged(self, what: str, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``factory()`` in the background, logging (not raising) what fails."""
        async def logged() -> None:
            try:
                await factory()
            except Exception:
                log.exception("%s failed", what)

        self.spawn(logged())

    async def call(self, fn: Callable[P, T], *args: P.args, **kw: P.kwargs) -> T:
        """Run a blocking (driver) call in the thread pool."""
        return await asyncio.to_thread(fn, *args, **kw)

    async def settle(self, timeout: float = 60.0) -> None:
        """Wait until no work but the loops is running (tests, shutdown of a one-shot job)."""
        async with asyncio.timeout(timeout):
            while busy := [t for t in self.tasks if t not in self.loops and not t.done()]:
                await asyncio.wait(busy)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
