"""Shared helpers for the IMDS tests (no pytest-aiohttp: coroutines run under asyncio.run)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from orchestrator.imds.model import IamRole, InstanceMetadata, MetadataOptions
from orchestrator.imds.server import IMDSServer, Resolver, make_app
from orchestrator.imds.threaded import ThreadedIMDSServer
from orchestrator.imds.tokens import TokenStore

T = TypeVar("T")

LAUNCHED = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
EXPIRATION = datetime(2026, 11, 26, 18, 0, 0, tzinfo=UTC)
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOqAOIE1Yd1Bv2JH6m6tRkT9ulTZM4wN0uY0JrBz6e1s me@host"


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def role_credentials() -> dict[str, Any]:
    return {
        "AccessKeyId": "ASIAEC2DTESTKEY00001",
        "SecretAccessKey": "secret/key+material",
        "Token": "session-token",
        "Expiration": EXPIRATION,
        "LastUpdated": LAUNCHED,
    }


def sample(
    instance_id: str = "i-0123456789abcdef0",
    private_ip: str = "10.0.1.23",
    *,
    options: MetadataOptions | None = None,
    **changes: Any,
) -> InstanceMetadata:
    md = InstanceMetadata(
        instance_id=instance_id,
        image_id="ami-0abcdef1234567890",
        instance_type="t3.micro",
        reservation_id="r-0fedcba9876543210",
        region="us-east-1",
        availability_zone="us-east-1a",
        availability_zone_id="use1-az1",
        account_id="123456789012",
        private_ip=private_ip,
        mac="02:AB:CD:00:00:01",
        subnet_id="subnet-0123456789abcdef0",
        subnet_cidr="10.0.1.0/24",
        vpc_id="vpc-0123456789abcdef0",
        vpc_cidrs=["10.0.0.0/16"],
        interface_id="eni-0123456789abcdef0",
        launched_at=LAUNCHED,
        security_groups=["web", "default"],
        security_group_ids=["sg-0000000000000000a", "sg-0000000000000000b"],
        public_keys=[("mykey", SSH_KEY + "\n")],
        block_device_mapping={"ami": "/dev/xvda", "root": "/dev/xvda", "ebs1": "/dev/sdf"},
        options=options or MetadataOptions(),
    )
    return replace(md, **changes) if changes else md


def with_role(md: InstanceMetadata, name: str = "app-role") -> InstanceMetadata:
    return replace(md, iam_role=IamRole(name=name, credentials=role_credentials))


@asynccontextmanager
async def imds_client(
    resolver: Resolver | InstanceMetadata | None, tokens: TokenStore | None = None
) -> AsyncIterator[TestClient]:
    """aiohttp TestClient over make_app; an InstanceMetadata means 'every requester is it'."""
    if isinstance(resolver, InstanceMetadata) or resolver is None:
        md = resolver

        def resolve(_request: object) -> InstanceMetadata | None:
            return md

        resolver = resolve
    client = TestClient(TestServer(make_app(resolver, tokens=tokens)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


SERVERS = (IMDSServer, ThreadedIMDSServer)  # on the caller's loop; on a thread of its own (the daemon's)


def loopback_listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    return sock


@asynccontextmanager
async def loopback_server(
    tables: dict[str, dict[str, InstanceMetadata]], tokens: TokenStore | None = None,
    kind: type[IMDSServer] | type[ThreadedIMDSServer] = IMDSServer,
) -> AsyncIterator[tuple[IMDSServer | ThreadedIMDSServer, dict[str, str]]]:
    """An IMDSServer (or ``kind``: the daemon's, on its own thread) with one loopback listener per
    key; yields (server, {key: base_url})."""
    server = kind(tokens=tokens)
    urls: dict[str, str] = {}
    try:
        for key, table in tables.items():
            sock = loopback_listener()
            port = sock.getsockname()[1]
            await server.add_listener(key, sock)
            server.set_instances(key, table)
            urls[key] = f"http://127.0.0.1:{port}"
        yield server, urls
    finally:
        await server.close()


async def fetch(
    session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, dict[str, str], bytes]:
    async with session.request(method, url, **kwargs) as resp:
        return resp.status, dict(resp.headers), await resp.read()
