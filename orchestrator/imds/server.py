"""The metadata service over HTTP (imds.md §1): one aiohttp application for every VPC.

Design
------
* `make_app(resolver)` builds the aiohttp application. `resolver(request)` returns the
  `InstanceMetadata` of the guest that sent the request, or None.
* `IMDSServer` runs that one application on any number of listening sockets, one per VPC network
  namespace (made with `listen.open_listener_in_netns`). Every listener is registered under a
  *listener key* (e.g. the VPC id). All listeners share the address 169.254.169.254:80, so the
  local address cannot tell them apart; instead each listener's `SockSite` is started inside a
  `contextvars` context in which the key is set. asyncio copies that context into the accept
  callback, every connection's tasks and so every request handler, so `current_listener_key()`
  returns the key of the listener the request arrived on, at no per-request cost.
* Guests are identified by (listener key, peer IP). The default resolver looks them up in tables
  the daemon replaces atomically with `IMDSServer.set_instances(key, {ip: InstanceMetadata})`;
  the daemon may pass its own resolver instead (it can call `current_listener_key()` and
  `peer_ip(request)`).
* Unknown requester (no instance for that listener/IP): the connection is closed without an
  answer. An HTTP error would be final for cloud-init (any 4xx on the token PUT aborts its EC2
  datasource), a dropped connection is retried, which covers a guest that talks to IMDS a moment
  before the daemon has registered it. Clients see an immediate connection error, not a timeout.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from .model import InstanceMetadata
from .tokens import MAX_TTL, MIN_TTL, TokenStore
from .tree import ALL_VERSIONS, TEXT, Lazy, TreeCache, locate, peek, produce, split_path

log = logging.getLogger("ec2d.imds")

TOKEN_HEADER = "X-aws-ec2-metadata-token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TTL_RESPONSE_HEADER = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
SERVER_HEADER = "EC2ws"

Resolver = Callable[[web.BaseRequest], InstanceMetadata | None]

TOKENS_KEY = web.AppKey("ec2d_imds_tokens", TokenStore)
TREES_KEY = web.AppKey("ec2d_imds_trees", TreeCache)

_LISTENER: contextvars.ContextVar[str | None] = contextvars.ContextVar("ec2d_imds_listener", default=None)
_TTL_RE = re.compile(r"[0-9]{1,9}")

_XHTML = """<?xml version="1.0" encoding="iso-8859-1"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <head>
  <title>{title}</title>
 </head>
 <body>
  <h1>{title}</h1>
 </body>
</html>"""
_REASONS = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed"}
_ERROR_BODIES = {
    status: _XHTML.format(title=f"{status} - {reason}").encode() for status, reason in _REASONS.items()
}


def current_listener_key() -> str | None:
    """The key of the listener the current request arrived on (None outside IMDSServer)."""
    return _LISTENER.get()


def peer_ip(request: web.BaseRequest) -> str | None:
    """The requester's IP address as seen on the socket (never from headers)."""
    transport = request.transport
    if transport is None:
        return None
    peer = transport.get_extra_info("peername")
    if not peer:
        return None
    ip = str(peer[0])
    if ip.startswith("::ffff:") and "." in ip:
        ip = ip[7:]
    return ip


class StaticResolver:
    """Resolver over a table {(listener_key, peer_ip): InstanceMetadata}.

    With make_app + aiohttp's TestServer the listener key is None."""

    def __init__(self, table: Mapping[tuple[str | None, str], InstanceMetadata] | None = None) -> None:
        self._tables: dict[str | None, dict[str, InstanceMetadata]] = {}
        self._lock = threading.Lock()  # writers (the daemon's loop, the server's); readers take none
        for (key, ip), md in (table or {}).items():
            self._tables.setdefault(key, {})[ip] = md

    def __call__(self, request: web.BaseRequest) -> InstanceMetadata | None:
        table = self._tables.get(_LISTENER.get())
        if table is None:
            return None
        ip = peer_ip(request)
        return table.get(ip) if ip is not None else None

    def lookup(self, key: str | None, ip: str) -> InstanceMetadata | None:
        return self._tables.get(key, {}).get(ip)

    def set_instances(self, key: str | None, instances: Mapping[str, InstanceMetadata]) -> None:
        """Replace the whole table of one listener (one atomic swap: a request sees the old table
        or the new one)."""
        table = dict(instances)
        with self._lock:
            if table:
                self._tables[key] = table
            else:
                self._tables.pop(key, None)

    def instance_ids(self) -> set[str]:
        with self._lock:
            tables = list(self._tables.values())
        return {md.instance_id for table in tables for md in table.values()}


def _error(status: int, **headers: str) -> web.Response:
    body = _ERROR_BODIES.get(status, b"")
    return web.Response(
        status=status,
        body=body,
        content_type="text/html" if body else TEXT,
        headers={"Server": SERVER_HEADER, **headers},
    )


def _set_hop_limit(request: web.BaseRequest, hops: int) -> None:
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, hops)
    else:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, hops)


def _drop_connection(request: web.BaseRequest) -> web.Response:
    # Closing the transport makes aiohttp skip writing the response (it treats it as a client
    # disconnection); the peer sees the connection closed without an answer.
    request.protocol.force_close()
    return web.Response(status=444)


def _token_put(request: web.BaseRequest, md: InstanceMetadata, tokens: TokenStore) -> web.Response:
    """PUT /latest/api/token after the endpoint check: X-Forwarded-For, TTL, then a token."""
    if "X-Forwarded-For" in request.headers:
        return _error(403)
    raw = request.headers.get(TTL_HEADER)
    if raw is None or not _TTL_RE.fullmatch(raw.strip()):
        return _error(400)
    ttl = int(raw.strip())
    if not MIN_TTL <= ttl <= MAX_TTL:
        return _error(400)
    token = tokens.issue(md.instance_id, ttl)
    return web.Response(
        body=token.encode(),
        content_type=TEXT,
        headers={"Server": SERVER_HEADER, TTL_RESPONSE_HEADER: str(ttl)},
    )


def make_app(resolver: Resolver, *, tokens: TokenStore | None = None) -> web.Application:
    """The IMDS aiohttp application. `resolver(request)` identifies the requesting instance."""
    app = web.Application()
    store = tokens if tokens is not None else TokenStore()
    trees = TreeCache()
    app[TOKENS_KEY] = store
    app[TREES_KEY] = trees

    async def handle(request: web.Request) -> web.StreamResponse:
        md = resolver(request)
        if md is None:
            log.debug(
                "IMDS request from unknown %s on listener %r: closing",
                peer_ip(request),
                current_listener_key(),
            )
            return _drop_connection(request)
        options = md.options
        method = request.method
        parts = split_path(request.path)
        is_token_path = (
            parts is not None
            and len(parts) == 3
            and parts[1] == "api"
            and parts[2] == "token"
            and parts[0] in ALL_VERSIONS
        )
        if method == "PUT" and is_token_path:
            # The hop limit applies to every answer to a token PUT; close afterwards so the low
            # TTL never reaches later requests on this connection.
            _set_hop_limit(request, options.http_put_response_hop_limit)
            if options.http_endpoint == "disabled":
                resp = _error(403)
            elif parts is not None and parts[0] != "latest":
                resp = _error(403)  # dated token path
            else:
                resp = _token_put(request, md, store)
            resp.force_close()
            return resp
        if options.http_endpoint == "disabled":
            return _error(403)
        if is_token_path and parts is not None and parts[0] == "latest":
            if method == "OPTIONS":
                return web.Response(headers={"Server": SERVER_HEADER, "Allow": "OPTIONS, PUT"})
            return _error(405, Allow="OPTIONS, PUT")
        if method not in ("GET", "HEAD"):
            return _error(405, Allow="GET, HEAD")
        token = request.headers.get(TOKEN_HEADER)
        if token is not None:
            if not store.validate(token.strip(), md.instance_id):
                return _error(401)
        elif options.http_tokens == "required":
            return _error(401)
        found = locate(lambda: trees.get(md), request.path)
        # a produced leaf (credentials) may mint and so write to the store: never on the loop,
        # unless its text is at hand (the set already served, known to be still bound)
        answer = (peek(found) or await asyncio.to_thread(produce, found)) if isinstance(found, Lazy) else found
        if answer.status != 200:
            return _error(answer.status)
        return web.Response(
            body=answer.body,
            content_type=answer.content_type,
            headers={"Server": SERVER_HEADER},
        )

    app.router.add_route("*", "/{path:.*}", handle)
    return app


class IMDSServer:
    """One IMDS application served on one listening socket per VPC namespace.

    Usage (daemon)::

        server = IMDSServer()
        sock = open_listener_in_netns("ec2d-vpc-123")          # from orchestrator.imds.listen
        await server.add_listener("vpc-123", sock)
        server.set_instances("vpc-123", {"10.0.1.23": metadata})  # replace the table atomically
        ...
        await server.remove_listener("vpc-123")
        await server.close()
    """

    def __init__(
        self,
        resolver: Resolver | None = None,
        *,
        tokens: TokenStore | None = None,
        keepalive_timeout: float = 75.0,
        shutdown_timeout: float = 5.0,
    ) -> None:
        self._table = StaticResolver()
        self._swapping = threading.Lock()
        self.tokens = tokens if tokens is not None else TokenStore()
        self.app = make_app(resolver if resolver is not None else self._table, tokens=self.tokens)
        self._runner = web.AppRunner(
            self.app,
            handle_signals=False,
            access_log=None,
            keepalive_timeout=keepalive_timeout,
            shutdown_timeout=shutdown_timeout,
        )
        self._setup_done = False
        self._sites: dict[str, web.SockSite] = {}
        self._addresses: dict[str, Any] = {}

    @property
    def listeners(self) -> list[str]:
        return sorted(self._sites)

    def listener_address(self, key: str) -> Any:
        """The bound address of a listener (its socket's getsockname())."""
        return self._addresses[key]

    async def start(self) -> None:
        if not self._setup_done:
            await self._runner.setup()
            self._setup_done = True

    async def add_listener(self, key: str, sock: socket.socket) -> None:
        """Serve on a listening socket (non-blocking, already bound/listening) under `key`.

        The server takes ownership of the socket (it is closed by remove_listener/close)."""
        if key in self._sites:
            raise ValueError(f"listener {key!r} already exists")
        await self.start()
        sock.setblocking(False)
        site = web.SockSite(self._runner, sock)
        context = contextvars.copy_context()
        context.run(_LISTENER.set, key)
        # Everything asyncio later runs for this listening socket (accepts, connections,
        # request handlers) inherits this context, hence the key.
        await asyncio.get_running_loop().create_task(site.start(), context=context)
        self._sites[key] = site
        self._addresses[key] = sock.getsockname()

    async def remove_listener(self, key: str) -> None:
        """Stop accepting on that listener and forget its instances. Connections still open on
        it get their next request dropped (unknown requester)."""
        site = self._sites.pop(key, None)
        self._addresses.pop(key, None)
        if site is not None:
            await site.stop()
        self.set_instances(key, {})

    def set_instances(self, key: str, instances: Mapping[str, InstanceMetadata]) -> None:
        """Replace the instances reachable through listener `key`: {private IP: metadata}.
        Tokens of instances that disappear from every listener are forgotten."""
        with self._swapping:  # callers on two threads (``threaded.py``): one swap at a time
            before = self._table.instance_ids()
            self._table.set_instances(key, instances)
            for gone in before - self._table.instance_ids():
                self.tokens.forget_instance(gone)

    def lookup(self, key: str, ip: str) -> InstanceMetadata | None:
        return self._table.lookup(key, ip)

    async def close(self) -> None:
        for key in list(self._sites):
            await self.remove_listener(key)
        if self._setup_done:
            await self._runner.cleanup()
            self._setup_done = False

    async def __aenter__(self) -> IMDSServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
