"""ec2d's API app served on 127.0.0.1 from a thread's event loop, in this process, over a backend
the test holds (so it can move the store's clock or look at records): API-only, no guest and no
host object. With ``runtime=True`` it also runs the fake-driver runtime (instances move pending ->
running -> stopped as with real drivers); ``prepare(runtime)`` runs before that runtime opens."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self, TypeVar

import boto3
from aiohttp import web
from botocore.config import Config as BotoConfig
from ec2d_server import free_port

from orchestrator import server
from orchestrator.api.app import make_app
from orchestrator.config import Config
from orchestrator.runtime.core import Runtime
from orchestrator.services import bootstrap
from orchestrator.services.backend import Backend

T = TypeVar("T")


class LoopbackApi:
    def __init__(self, backend: Backend, runtime: bool = False,
                 prepare: Callable[[Runtime], None] | None = None) -> None:
        self.backend = backend
        self.with_runtime = runtime
        self.prepare = prepare
        self.runtime: Runtime | None = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: Callable[[], Coroutine[Any, Any, None]] | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    async def _open(self) -> None:
        runtime: Runtime | None = None
        if self.with_runtime:
            runtime = server.fake_runtime(self.backend)
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
            if runtime is not None:
                await runtime.close()

        self._stop = stop
        self._ready.set()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._open())
        self.loop.run_forever()

    def start(self) -> Self:
        self.thread.start()
        assert self._ready.wait(120), "the API did not start"
        return self

    def stop(self) -> None:
        assert self._stop is not None
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)

    def on_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop (where the runtime's state lives) and return its result."""
        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(60)

    @property
    def root(self) -> dict[str, str]:
        c = self.backend.credentials
        return {"aws_access_key_id": c.access_key_id, "aws_secret_access_key": c.secret_access_key}

    def client(self, service: str, creds: dict[str, str] | None = None, region: str = "us-east-1",
               **config: Any) -> Any:
        return boto3.client(service, region_name=region, endpoint_url=self.url,
                            config=BotoConfig(retries={"max_attempts": 1}, **config), **(creds or self.root))


@contextmanager
def api_only(data_dir: Path, regions: dict[str, list[str]] | None = None) -> Iterator[LoopbackApi]:
    """An API-only ec2d on loopback (fake drivers; the runtime settles records as with real ones)
    over a fresh store in ``data_dir``: one zone ``a`` of us-east-1 unless ``regions`` says."""
    backend = bootstrap.open(Config(data_dir=data_dir, instances=False, regions=regions or {"us-east-1": ["a"]}))
    api = LoopbackApi(backend, runtime=True).start()
    try:
        yield api
    finally:
        api.stop()
        backend.close()
