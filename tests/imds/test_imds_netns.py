"""IMDS on 169.254.169.254:80 inside real network namespaces, including the PUT hop limit.

Only addresses inside the namespaces created here are contacted."""

from __future__ import annotations

import asyncio
import http.client
import socket
from collections.abc import Iterator
from dataclasses import replace

import pytest
from imds_netns import Topology, build_vpc, ip, require_root_and_ip, unique_prefix
from imds_testlib import run, sample

from orchestrator.imds.listen import connect_in_netns, open_listener_in_netns, run_in_netns
from orchestrator.imds.model import MetadataOptions
from orchestrator.imds.server import IMDSServer

IMDS = "169.254.169.254"
TTL = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN = "X-aws-ec2-metadata-token"


@pytest.fixture
def topo() -> Iterator[Topology]:
    require_root_and_ip()
    topology = Topology(unique_prefix())
    try:
        yield topology
    finally:
        topology.cleanup()


def request(
    netns: str, method: str, path: str, headers: dict[str, str] | None = None, timeout: float = 3.0
) -> tuple[int, dict[str, str], bytes]:
    """A blocking HTTP request to 169.254.169.254:80 from inside `netns` (run it in a thread)."""
    sock = connect_in_netns(netns, IMDS, 80, timeout)
    conn = http.client.HTTPConnection(IMDS, 80, timeout=timeout)
    conn.sock = sock
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


async def areq(netns: str, method: str, path: str, **kw: object) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(request, netns, method, path, **kw)  # type: ignore[arg-type]


def listening_on_imds() -> bool:
    # 169.254.169.254:80 as /proc/net/tcp writes it (little-endian address), state 0A = LISTEN
    with open("/proc/thread-self/net/tcp") as f:
        return any(line.split()[1] == "FEA9FEA9:0050" and line.split()[3] == "0A" for line in list(f)[1:])


def test_imdsv2_and_hop_limit_in_real_namespaces(topo: Topology) -> None:
    ns = build_vpc(topo, behind=True)
    near = sample("i-0aaaaaaaaaaaaaaa1", "10.99.0.5", options=MetadataOptions(http_put_response_hop_limit=1))
    far = sample("i-0aaaaaaaaaaaaaaa2", "10.99.1.2", options=MetadataOptions(http_put_response_hop_limit=1))

    async def body() -> None:
        async with IMDSServer() as server:
            sock = open_listener_in_netns(ns["vpc"])
            assert sock.getsockname() == (IMDS, 80)
            await server.add_listener("vpc-1", sock)
            server.set_instances("vpc-1", {"10.99.0.5": near, "10.99.1.2": far})
            # the socket lives in the VPC namespace, not in ours
            assert run_in_netns(ns["vpc"], listening_on_imds)
            assert not listening_on_imds()

            # IMDSv2 from the guest on the VPC's link: hop limit 1 is enough
            status, headers, token = await areq(
                ns["guest"], "PUT", "/latest/api/token", headers={TTL: "21600"}
            )
            assert status == 200
            assert headers["X-Aws-Ec2-Metadata-Token-Ttl-Seconds"] == "21600"
            assert headers["Connection"].lower() == "close"
            status, _, text = await areq(
                ns["guest"], "GET", "/latest/meta-data/instance-id", headers={TOKEN: token.decode()}
            )
            assert (status, text) == (200, b"i-0aaaaaaaaaaaaaaa1")
            status, _, _ = await areq(
                ns["guest"], "GET", "/latest/meta-data/instance-id", headers={TOKEN: "bogus"}
            )
            assert status == 401

            # One routed hop further: a GET (normal TTL) works ...
            status, _, text = await areq(ns["behind"], "GET", "/latest/meta-data/instance-id")
            assert (status, text) == (200, b"i-0aaaaaaaaaaaaaaa2")
            # ... but the PUT's answer (IP TTL 1) dies at the guest router: the request times out
            with pytest.raises((TimeoutError, socket.timeout)):
                await areq(ns["behind"], "PUT", "/latest/api/token", headers={TTL: "60"}, timeout=1.5)
            # the listener is fine afterwards (TTL was only on that connection)
            status, _, _ = await areq(ns["behind"], "GET", "/latest/meta-data/local-ipv4")
            assert status == 200

            # hop limit 2: the token reaches the host behind the guest
            far2 = replace(far, options=MetadataOptions(http_put_response_hop_limit=2))
            server.set_instances("vpc-1", {"10.99.0.5": near, "10.99.1.2": far2})
            status, _, token = await areq(ns["behind"], "PUT", "/latest/api/token", headers={TTL: "60"})
            assert status == 200
            status, _, text = await areq(
                ns["behind"],
                "GET",
                "/latest/meta-data/instance-id",
                headers={TOKEN: token.decode()},
            )
            assert (status, text) == (200, b"i-0aaaaaaaaaaaaaaa2")
            # that token belongs to the far instance, not to the guest
            status, _, _ = await areq(
                ns["guest"], "GET", "/latest/meta-data/instance-id", headers={TOKEN: token.decode()}
            )
            assert status == 401

            # a requester with no instance: the connection is closed without an answer
            server.set_instances("vpc-1", {"10.99.1.2": far2})
            with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
                await areq(ns["guest"], "GET", "/latest/meta-data/instance-id")

    run(body())


def test_two_vpcs_same_addresses_different_instances(topo: Topology) -> None:
    """Both VPCs use 169.254.169.254:80 and the guest IP 10.99.0.5: the listener tells them apart."""
    a = build_vpc(topo, "a")
    b = build_vpc(topo, "b")
    md_a = sample("i-0aaaaaaaaaaaaaaaa", "10.99.0.5")
    md_b = sample("i-0bbbbbbbbbbbbbbbb", "10.99.0.5", options=MetadataOptions(http_tokens="required"))

    async def body() -> None:
        async with IMDSServer() as server:
            for key, names, md in (("vpc-a", a, md_a), ("vpc-b", b, md_b)):
                await server.add_listener(key, open_listener_in_netns(names["vpc"]))
                server.set_instances(key, {"10.99.0.5": md})
            status, _, text = await areq(a["guest"], "GET", "/latest/meta-data/instance-id")
            assert (status, text) == (200, b"i-0aaaaaaaaaaaaaaaa")
            status, _, _ = await areq(b["guest"], "GET", "/latest/meta-data/instance-id")
            assert status == 401  # vpc-b's instance requires tokens
            _, _, token_a = await areq(a["guest"], "PUT", "/latest/api/token", headers={TTL: "60"})
            status, _, _ = await areq(
                b["guest"], "GET", "/latest/meta-data/instance-id", headers={TOKEN: token_a.decode()}
            )
            assert status == 401
            _, _, token_b = await areq(b["guest"], "PUT", "/latest/api/token", headers={TTL: "60"})
            status, _, text = await areq(
                b["guest"], "GET", "/latest/meta-data/instance-id", headers={TOKEN: token_b.decode()}
            )
            assert (status, text) == (200, b"i-0bbbbbbbbbbbbbbbb")
            await server.remove_listener("vpc-a")
            with pytest.raises(OSError):
                await asyncio.to_thread(connect_in_netns, a["guest"], IMDS, 80, 1.0)

    run(body())


def test_listen_errors() -> None:
    with pytest.raises(ValueError):
        open_listener_in_netns("../etc")
    with pytest.raises(FileNotFoundError):
        open_listener_in_netns("ec2dt-no-such-namespace-xyz")


def test_ipv6_listener_in_namespace(topo: Topology) -> None:
    """[fd00:ec2::254]:80 works the same way (hop limit via IPV6_UNICAST_HOPS)."""
    ns = topo.add_netns(topo.prefix + "-v6")
    ip(ns, "addr", "add", "fd00:ec2::254/128", "dev", "lo", "nodad")
    ip(ns, "addr", "add", "fd00:ec2::5/128", "dev", "lo", "nodad")
    md = sample("i-0666666666666666a", "10.99.0.5")

    def v6_request(method: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        sock = connect_in_netns(ns, "fd00:ec2::254", 80, 3.0)
        conn = http.client.HTTPConnection("fd00:ec2::254", 80, timeout=3.0)
        conn.sock = sock
        try:
            conn.request(method, path, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    async def body() -> None:
        async with IMDSServer() as server:
            await server.add_listener("v6", open_listener_in_netns(ns, "fd00:ec2::254"))
            # the client's source address is the listener's own (same namespace, lo)
            server.set_instances("v6", {"fd00:ec2::254": md})
            status, token = await asyncio.to_thread(v6_request, "PUT", "/latest/api/token", {TTL: "60"})
            assert status == 200
            status, text = await asyncio.to_thread(
                v6_request, "GET", "/latest/meta-data/instance-id", {TOKEN: token.decode()}
            )
            assert (status, text) == (200, b"i-0666666666666666a")

    run(body())
