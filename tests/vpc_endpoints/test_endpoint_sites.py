"""The in-VPC listeners tell which VPC a connection came from: an accepted socket carries its
listener's network namespace cookie (``EndpointSites.vpc_of``), also through asyncio's transport
wrapper; a connection to a socket no listener registered is from no VPC."""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

from orchestrator.api.endpoint_sites import EndpointSites, netns_cookie


class _Request:
    def __init__(self, transport: Any) -> None:
        self.transport = transport


def test_vpc_of_a_connection_is_its_listeners_vpc() -> None:
    async def go() -> tuple[str | None, str | None]:
        sites = EndpointSites(ssl.create_default_context(ssl.Purpose.CLIENT_AUTH))
        listener = socket.create_server(("127.0.0.1", 0))
        await sites.add_listener("vpc-0123456789abcdef0/s3-http", listener, tls=False)
        seen: dict[str, Any] = {}

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen["transport"] = writer.transport
            writer.close()

        server = await asyncio.start_server(handle, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname())
        while "transport" not in seen:
            await asyncio.sleep(0.01)
        found = sites.vpc_of(_Request(seen["transport"]))  # type: ignore[arg-type]
        writer.close()
        server.close()
        await sites.close()
        return found, sites.vpc_of(_Request(None))  # type: ignore[arg-type]

    assert netns_cookie(socket.socket()) is not None  # the kernel has SO_NETNS_COOKIE
    assert asyncio.run(go()) == ("vpc-0123456789abcdef0", None)
