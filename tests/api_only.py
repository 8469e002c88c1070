"""API-only mode in unit tests: the backend's runtime is the real one on the fake drivers, built
as ``ec2d serve`` builds it without instances (``server.fake_runtime``). Service and handler calls
then move records the way a client sees them (``pending`` -> ``running``, ``creating`` ->
``available``); :func:`until` waits for such a move with a deadline, never a fixed sleep.

The runtime's background work needs a running event loop: a test body runs in :func:`in_loop`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TypeVar

from orchestrator import server
from orchestrator.config import Config
from orchestrator.images.cache import ensure_image
from orchestrator.runtime.core import Runtime
from orchestrator.services import bootstrap, images
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

T = TypeVar("T")


@contextmanager
def opened_backend(data_dir: Path, image: bool = False) -> Iterator[Backend]:
    """A backend without instances on ``data_dir`` (store, credentials, each region's default VPC),
    closed at the exit; with ``image``, ec2d-tiny is cached and published as an AMI."""
    backend = bootstrap.open(Config(data_dir=data_dir, instances=False))
    try:
        if image:
            ensure_image("ec2d-tiny", backend.config.cache_dir)
            images.sync_published(backend)
        yield backend
    finally:
        backend.close()


@asynccontextmanager
async def fake_runtime(backend: Backend) -> AsyncIterator[Runtime]:
    """``backend.runtime`` is the fake-driver runtime, opened (images imported) until the exit."""
    runtime = server.fake_runtime(backend)
    backend.runtime = runtime
    await server.open_runtime(runtime)
    try:
        yield runtime
    finally:
        await runtime.close()


def in_loop(backend: Backend, body: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run ``body(runtime)`` on a fresh event loop with the backend's fake runtime open."""
    async def go() -> T:
        async with fake_runtime(backend) as runtime:
            return await body(runtime)

    return asyncio.run(go())


async def until(check: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """Poll ``check`` until it returns something truthy (returned); fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := check()):
        if loop.time() > deadline:
            raise AssertionError(f"still waiting after {timeout:.0f}s for {what}")
        await asyncio.sleep(0.01)
    return value


async def reaches(backend: Backend, rid: str, state: str, timeout: float = 30.0) -> Record:
    """The record ``rid`` once it is in ``state``."""
    def check() -> Record | None:
        record = backend.store.get(rid)
        return record if record is not None and record.state == state else None

    return await until(check, f"{rid} to be {state}", timeout)
