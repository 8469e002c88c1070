"""ec2d's API over HTTPS inside every VPC: the in-VPC service endpoint.

VPC DNS answers every ``*.amazonaws.com`` name with the endpoint's address (169.254.169.250 on the
namespace's ``lo``, see ``drivers.network.names``), so an unmodified AWS CLI or SDK in a guest
reaches ec2d at ``https://s3.amazonaws.com``, ``https://sts.us-east-1.amazonaws.com``, ...; which
service a request is for comes from its signature's credential scope (and S3's Host header), as on
ec2d's own port. The certificate is issued at each start from the host's CA
(``tls.service_ca``), which the built-in images trust.

One aiohttp site per VPC on the API's own runner, over a listening socket the runtime created in the
VPC's namespace (``imds.listen.open_listener_in_netns``). Sockets that arrive before the runner
exists (the runtime starts first) wait in :meth:`add_listener` until :meth:`serve`.
"""

from __future__ import annotations

import logging
import socket
import ssl
from asyncio.trsock import TransportSocket
from pathlib import Path

from aiohttp import web

from orchestrator.tls import certs, service_ca

log = logging.getLogger("ec2d.endpoint")

PORT = 443


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """TLS 1.2+ server context for the endpoint's certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


SO_NETNS_COOKIE = getattr(socket, "SO_NETNS_COOKIE", 71)  # Linux >= 5.14


def netns_cookie(sock: socket.socket | TransportSocket) -> int | None:
    """The kernel's cookie of the network namespace ``sock`` lives in (an accepted connection's
    is its listener's), or None where the kernel has none."""
    try:
        return int.from_bytes(sock.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8), "little")
    except OSError:
        return None


class EndpointSites:
    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self._sockets: dict[str, socket.socket] = {}
        self._tls: dict[str, bool] = {}
        self._sites: dict[str, web.SockSite] = {}
        self._vpcs: dict[int, str] = {}  # netns cookie -> VPC id (a key's part before "/")
        self._runner: web.AppRunner | None = None

    async def add_listener(self, key: str, sock: socket.socket, tls: bool = True) -> None:
        await self.remove_listener(key)
        self._sockets[key] = sock
        self._tls[key] = tls
        cookie = netns_cookie(sock)
        if cookie is not None:
            self._vpcs[cookie] = key.split("/", 1)[0]
        if self._runner is not None:
            await self._start(key)

    def vpc_of(self, request: web.BaseRequest) -> str | None:
        """The VPC whose namespace a request came in from (None: not through a VPC listener)."""
        transport = request.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        cookie = netns_cookie(sock) if isinstance(sock, (socket.socket, TransportSocket)) else None
        return self._vpcs.get(cookie) if cookie is not None else None

    async def remove_listener(self, key: str) -> None:
        site = self._sites.pop(key, None)
        sock = self._sockets.pop(key, None)
        self._tls.pop(key, None)
        if site is not None:
            await site.stop()
        if sock is not None:
            sock.close()

    async def serve(self, runner: web.AppRunner) -> None:
        """Serve ``runner``'s app on every listener, now and as VPCs come."""
        self._runner = runner
        for key in list(self._sockets):
            await self._start(key)

    async def close(self) -> None:
        for key in list(self._sockets):
            await self.remove_listener(key)
        self._runner = None

    def serving(self) -> list[str]:
        return sorted(self._sites)

    async def _start(self, key: str) -> None:
        assert self._runner is not None
        site = web.SockSite(self._runner, self._sockets[key], ssl_context=self.context if self._tls[key] else None)
        await site.start()
        self._sites[key] = site
        log.info("service endpoint for %s: https on %s", key, self._sockets[key].getsockname())


def host_context(cache_dir: Path, regions: list[str], directory: Path, *addresses: str) -> ssl.SSLContext:
    """A server context with a certificate newly issued from the host's CA for the service names of
    ``regions`` and ``addresses``, kept in ``directory`` (key 0600) for the life of the process."""
    issued = service_ca.endpoint_certificate(cache_dir, regions, ips=addresses)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert_file, key_file = directory / "endpoint.crt", directory / "endpoint.key"
    certs.write_private(key_file, issued.key_pem)
    certs.write_private(cert_file, issued.cert_pem)
    return server_context(cert_file, key_file)
