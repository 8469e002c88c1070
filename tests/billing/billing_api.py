"""ec2d's API with the fake-driver runtime in this process, on loopback, with an injected clock:
the store's (ledger intervals open and close at its time) and the fake hypervisor's (when domains
stop). Instances move ``pending`` -> ``running`` -> ... as with real drivers, nothing is made on
the host, and time moves only when a test moves it, so billed seconds are exact."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import boto3
from aiohttp import web
from botocore.config import Config as BotoConfig
from clock import Clock
from ec2d_server import free_port

from orchestrator import server
from orchestrator.api.app import make_app
from orchestrator.drivers.compute.fake import FakeCompute
from orchestrator.runtime.core import Runtime
from orchestrator.services.backend import Backend

T = TypeVar("T")


class BillingApi:
    def __init__(self, backend: Backend, clock: Clock,
                 prepare: Callable[[Runtime], None] | None = None) -> None:
        """``prepare``: called with the runtime before it opens (before its start-up reconcile),
        e.g. to make the fake hypervisor hold what a real one would after an ec2d outage."""
        self.backend = backend
        self.clock = clock
        self.prepare = prepare
        backend.store.clock = clock
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self.runtime: Runtime | None = None
        self._ready = threading.Event()
        self._stop: Callable[[], Any] | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            runtime = server.fake_runtime(self.backend)
            compute = runtime.parts.compute
            assert isinstance(compute, FakeCompute)
            compute.clock = self.clock
            if self.prepare is not None:
                self.prepare(runtime)
            self.backend.runtime = runtime
            await server.open_runtime(runtime)
            self.runtime = runtime
            runner = web.AppRunner(make_app(self.backend))
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()

            async def stop() -> None:
                await runner.cleanup()
                await runtime.close()

            self._stop = stop
            self._ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def start(self) -> BillingApi:
        self.thread.start()
        assert self._ready.wait(120), "the API did not start"
        return self

    def stop(self) -> None:
        assert self._stop is not None
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)

    @property
    def compute(self) -> FakeCompute:
        assert self.runtime is not None and isinstance(self.runtime.parts.compute, FakeCompute)
        return self.runtime.parts.compute

    def on_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop (where the runtime's state lives) and return its result."""
        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(60)

    def client(self, service: str, creds: dict[str, str] | None = None) -> Any:
        c = self.backend.credentials
        keys = creds or {"aws_access_key_id": c.access_key_id, "aws_secret_access_key": c.secret_access_key}
        return boto3.client(service, region_name="us-east-1", endpoint_url=self.url,
                            config=BotoConfig(retries={"max_attempts": 1}), **keys)


def wait_for(check: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` wall-clock seconds."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"still waiting after {timeout:.0f}s for {what}"
        time.sleep(0.01)
    return value


def state_of(api: BillingApi, rid: str) -> str | None:
    rec = api.backend.store.get(rid)
    return rec.state if rec is not None else None


def reaches(api: BillingApi, rid: str, state: str) -> None:
    wait_for(lambda: state_of(api, rid) == state, f"{rid} to be {state}")
