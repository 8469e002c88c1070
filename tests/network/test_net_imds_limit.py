"""The per-ENI packet limit to the metadata service, on the real kernel: a VPC made by
LinuxVpcNetwork, two stand-in guests (veth "taps") on one subnet, a flood from one of them."""

from __future__ import annotations

import secrets
import socket
import threading
import time

import pytest

from orchestrator.drivers.network import imds_limit, netlink
from orchestrator.drivers.network.vpc import LinuxVpcNetwork


def rid(kind: str) -> str:
    return f"{kind}-{secrets.token_hex(9)[:17]}"


VPC, SUBNET = rid("vpc"), rid("subnet")
IMDS = "169.254.169.254"
IMDS6 = "fd00:ec2::254"


@pytest.fixture(scope="module")
def two_guests(net_driver: LinuxVpcNetwork, make_guest):
    net_driver.ensure_vpc(VPC, "10.77.0.0/16")
    net_driver.ensure_subnet(VPC, SUBNET, "10.77.1.0/24", "2001:db8:4d:1::/64")
    guests = []
    for n, mac in ((5, "02:00:0a:4d:01:05"), (6, "02:00:0a:4d:01:06")):
        g = make_guest(VPC, SUBNET, mac)
        assert g.sh("ip", "addr", "add", f"10.77.1.{n}/24", "dev", "eth0").returncode == 0
        assert g.sh("ip", "route", "add", "default", "via", "10.77.1.1").returncode == 0
        assert g.sh("ip", "-6", "addr", "add", f"2001:db8:4d:1::{n}/64", "dev", "eth0", "nodad").returncode == 0
        assert g.sh("ip", "-6", "route", "add", "default", "via", "2001:db8:4d:1::1").returncode == 0
        guests.append(g)
    yield guests
    net_driver.delete_vpc(VPC)


def test_ensure_vpc_installs_the_limit(net_driver: LinuxVpcNetwork, two_guests) -> None:
    ns = net_driver.netns_name(VPC)
    assert imds_limit.dropped(ns) is not None
    net_driver.ensure_vpc(VPC, "10.77.0.0/16")  # idempotent, table still there
    assert imds_limit.dropped(ns) is not None


def test_flood_from_one_eni_is_cut_to_the_rate_and_spares_the_other(
    net_driver: LinuxVpcNetwork, two_guests
) -> None:
    flooder, neighbour = two_guests
    ns = net_driver.netns_name(VPC)
    before = imds_limit.dropped(ns) or 0
    server = netlink.netns_socket(ns, socket.AF_INET, socket.SOCK_DGRAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    server.bind((IMDS, 0))
    server.settimeout(0.5)
    port = server.getsockname()[1]
    received: dict[str, int] = {}
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            try:
                _, peer = server.recvfrom(64)
            except TimeoutError:
                continue
            received[peer[0]] = received.get(peer[0], 0) + 1

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    flood, paced = flooder.socket(), neighbour.socket()
    sent_flood, sent_paced = 0, 0
    start = time.monotonic()
    try:
        # 30,000 packets as fast as the flooder can send them, and 100 from the neighbour
        # interleaved (well under its own 1,024/s)
        for i in range(30_000):
            flood.sendto(b"x", (IMDS, port))
            sent_flood += 1
            if i % 300 == 0:
                paced.sendto(b"y", (IMDS, port))
                sent_paced += 1
        elapsed = time.monotonic() - start
        deadline = time.monotonic() + 10
        while received.get("10.77.1.6", 0) < sent_paced and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # let the last admitted flood packets land
    finally:
        stop.set()
        reader.join(5)
        for s in (flood, paced, server):
            s.close()
    got_flood, got_paced = received.get("10.77.1.5", 0), received.get("10.77.1.6", 0)
    allowed = imds_limit.BURST_PACKETS + imds_limit.RATE_PER_SECOND * (elapsed + 0.5)
    assert sent_paced == 100 and got_paced == sent_paced, (got_paced, sent_paced)
    assert got_flood <= allowed, (got_flood, allowed, elapsed)
    assert got_flood >= min(imds_limit.BURST_PACKETS, sent_flood) // 2  # the flooder is slowed, not cut off
    assert (imds_limit.dropped(ns) or 0) - before >= 0.95 * (sent_flood - got_flood)


def test_concurrent_connections_per_source_are_capped(net_driver: LinuxVpcNetwork, two_guests) -> None:
    hog, neighbour = two_guests
    ns = net_driver.netns_name(VPC)
    before = imds_limit.refused(ns) or 0
    server = netlink.netns_socket(ns, socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((IMDS, 80))
    server.listen(512)
    held: list[socket.socket] = []
    refused = 0
    try:
        for _ in range(imds_limit.MAX_CONNECTIONS + 36):
            c = hog.socket(socket.SOCK_STREAM)
            c.settimeout(5)
            try:
                c.connect((IMDS, 80))
                held.append(c)
            except ConnectionRefusedError:
                c.close()
                refused += 1
        assert (len(held), refused) == (imds_limit.MAX_CONNECTIONS, 36)
        assert (imds_limit.refused(ns) or 0) - before == 36
        with neighbour.socket(socket.SOCK_STREAM) as other:  # another source is not affected
            other.settimeout(5)
            other.connect((IMDS, 80))
        for c in held:
            c.close()
        held.clear()
        server.settimeout(1)
        accepted = 0
        while True:  # the server side closes too (as the metadata service does on EOF)
            try:
                conn, _ = server.accept()
            except TimeoutError:
                break
            conn.close()
            accepted += 1
        assert accepted == imds_limit.MAX_CONNECTIONS + 1
        deadline = time.monotonic() + 30  # closed connections stop counting once conntrack sees the FIN
        while True:
            c = hog.socket(socket.SOCK_STREAM)
            c.settimeout(5)
            try:
                c.connect((IMDS, 80))
                held.append(c)
                break
            except ConnectionRefusedError:
                c.close()
                assert time.monotonic() < deadline, "the hog stays locked out after closing"
                time.sleep(0.2)
    finally:
        for c in held:
            c.close()
        server.close()


def test_ipv6_connections_per_source_are_capped_too(net_driver: LinuxVpcNetwork, two_guests) -> None:
    """The metadata service's IPv6 address ([fd00:ec2::254]) has the same connection cap."""
    hog, neighbour = two_guests
    ns = net_driver.netns_name(VPC)
    before = imds_limit.refused(ns) or 0
    server = netlink.netns_socket(ns, socket.AF_INET6, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((IMDS6, 80))
    server.listen(512)
    held: list[socket.socket] = []
    refused = 0
    try:
        for _ in range(imds_limit.MAX_CONNECTIONS + 5):
            c = netlink.netns_socket(hog.ns, socket.AF_INET6, socket.SOCK_STREAM)
            c.settimeout(5)
            try:
                c.connect((IMDS6, 80))
                held.append(c)
            except ConnectionRefusedError:
                c.close()
                refused += 1
        assert (len(held), refused) == (imds_limit.MAX_CONNECTIONS, 5)
        assert (imds_limit.refused(ns) or 0) - before == 5
        with netlink.netns_socket(neighbour.ns, socket.AF_INET6, socket.SOCK_STREAM) as other:
            other.settimeout(5)
            other.connect((IMDS6, 80))  # another source is not affected
    finally:
        for c in held:
            c.close()
        server.close()
