"""The metadata service on an event loop of its own, in a thread of its own.

The daemon's event loop also runs the API, the runtime's loops (status checks every few seconds,
reconciliation, VPC syncs) and every store write, whose SQLite COMMIT fsyncs on that loop. A guest's
metadata request queued behind that work waited for all of it: with 50 guests booting, p99 was tens
of milliseconds and the worst requests hundreds (``bench/imds_load.py``, docs/bench-imds-load.md).
Here :class:`IMDSServer` runs on a loop that does nothing else, so a request waits at most for the
GIL (which a thread blocked in fsync or in a socket call does not hold), never for the daemon's loop.
That loop is uvloop's (libuv: accepts, reads and writes are made in C, so each connection and
request takes the GIL fewer times; ``bench/imds_load.py`` with the API busy, p99 over six runs in
turns on a quiet host: asyncio's loop 4.29-5.80 ms, median 5.07; uvloop's 4.38-4.74 ms, median 4.60;
ec2d's CPU per request 554-591 -> 487-539 µs).

What crosses threads, and why it is safe:

* ``set_instances`` (called from the daemon's loop) swaps one listener's table under the resolver's
  lock; the request handler reads the tables with a plain ``dict.get`` (atomic under the GIL) and
  always sees a whole table;
* the token store has its own lock (tokens are issued and checked on this loop, forgotten from the
  caller of ``set_instances``);
* leaves produced per request (role and identity credentials) call providers that lock what they
  share (``SessionCredentialStore``, ``InstanceRoleCredentials``, the SQLite store's lock), in a
  worker thread; a role's set already served and still bound is answered on this loop from memory
  (``InstanceRoleCredentials.peek``: no store, no lock, no thread hop);
* listeners are added and removed on this loop (``add_listener`` / ``remove_listener`` wait for it).

The GIL: a thread that wants it waits until the holder drops it, at the latest after the
interpreter's switch interval (5 ms by default). One request needs it several times (read, handle,
write), so while the API thread is busy (a large DescribeInstances) every metadata request took
tens of ms. While the server runs the process's switch interval is :data:`SWITCH_INTERVAL`
(``bench/imds_load.py`` with the API busy, p99 over runs on a quiet host: 0.5 ms 5.3-5.4 ms, 0.2 ms
4.5-5.0 ms, 0.1 ms 4.6-5.5 ms; the API's DescribeInstances rate moved no more than its own noise).
"""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

import uvloop

from .model import InstanceMetadata
from .server import IMDSServer, Resolver
from .tokens import TokenStore

T = TypeVar("T")

SWITCH_INTERVAL = 0.0002  # seconds; the longest a metadata request waits for the GIL at each step


class ThreadedIMDSServer:
    """:class:`IMDSServer`'s interface; the server itself runs on a dedicated thread's loop."""

    def __init__(self, resolver: Resolver | None = None, *, tokens: TokenStore | None = None,
                 keepalive_timeout: float = 75.0, shutdown_timeout: float = 5.0) -> None:
        self._loop = uvloop.new_event_loop()
        self._thread: threading.Thread | None = None
        self._switch_interval = sys.getswitchinterval()
        # built here (no loop needed); started, served and closed on the thread's loop
        self.server = IMDSServer(resolver, tokens=tokens, keepalive_timeout=keepalive_timeout,
                                 shutdown_timeout=shutdown_timeout)
        self.tokens = self.server.tokens
        self.app = self.server.app

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    async def _on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the server's loop; the caller's loop keeps running meanwhile."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def start(self) -> None:
        if self._thread is None:
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(self._switch_interval, SWITCH_INTERVAL))
            self._thread = threading.Thread(target=self._run, name="ec2d-imds", daemon=True)
            self._thread.start()
        await self._on_loop(self.server.start())

    @property
    def listeners(self) -> list[str]:
        return self.server.listeners

    def listener_address(self, key: str) -> Any:
        return self.server.listener_address(key)

    async def add_listener(self, key: str, sock: socket.socket) -> None:
        await self.start()
        await self._on_loop(self.server.add_listener(key, sock))

    async def remove_listener(self, key: str) -> None:
        if self._thread is not None:
            await self._on_loop(self.server.remove_listener(key))

    def set_instances(self, key: str, instances: Mapping[str, InstanceMetadata]) -> None:
        self.server.set_instances(key, instances)

    def lookup(self, key: str, ip: str) -> InstanceMetadata | None:
        return self.server.lookup(key, ip)

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        try:
            await self._on_loop(self.server.close())
        finally:
            sys.setswitchinterval(self._switch_interval)
            self._loop.call_soon_threadsafe(self._loop.stop)
            await asyncio.to_thread(thread.join, 30)
            if not thread.is_alive():
                self._loop.close()
                self._loop = uvloop.new_event_loop()  # start() may be called again

    async def __aenter__(self) -> ThreadedIMDSServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
