"""--host-routes / --uplink-nat filter in the root namespace (``inet {prefix}_host``): guests get only
what the option promises.

- host routes, for real in the root namespace: the host reaches an address of the public side,
  the public side cannot open a connection to any host address (a listener on 0.0.0.0), and a
  second prefix asking for the same pool is refused with a clear error.
- uplink NAT, in a sandbox: the same ruleset loaded into a throwaway "host" namespace with a fake
  uplink (a veth into a namespace standing for the internet/LAN); nothing touches the real uplink.
"""

from __future__ import annotations

import secrets
import subprocess

import pytest
from netcheck import Listener, connect, sh

from orchestrator.drivers.network import netlink, netlink_routes
from orchestrator.drivers.network.public import (
    PRIVATE_RANGES,
    PoolRouteTaken,
    PublicNetwork,
    host_table,
    render_host_filter,
)


def tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True).stdout


def root_routes_overlapping(pool: str) -> bool:
    import ipaddress

    return any(ipaddress.IPv4Network(r.dst).overlaps(ipaddress.IPv4Network(pool)) and r.dst != "0.0.0.0/0"
               for r in netlink_routes.list_routes(None))


POOL = "198.51.100.0/24"  # TEST-NET-2: a pool of its own, so a test never competes for 198.18.0.0/15


def test_host_routes_filter_in_the_root_namespace() -> None:
    if root_routes_overlapping(POOL):
        pytest.skip(f"{POOL} is routed on this host")
    prefix, other_prefix = (f"ec2dt{secrets.token_hex(2)}" for _ in range(2))
    pub, other = PublicNetwork(prefix, POOL), PublicNetwork(other_prefix, POOL)
    guest_ip = "198.51.100.9"
    try:
        pub.ensure(host_routes=True)
        assert f"inet {host_table(prefix)}" in tables()
        root_addr = str(list(pub.host_link_net().hosts())[0])
        netlink.add_address(pub.ns, "lo", f"{guest_ip}/32")  # stands for a guest's public IP
        # let the public side route anywhere through the host, so only the filter can stop it
        netlink_routes.ensure_route(pub.ns, "0.0.0.0/0", via=root_addr)
        out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True).stdout
        host_addrs = [line.split()[3].split("/")[0] for line in out.splitlines() if " lo " not in line]
        assert root_addr in host_addrs
        with Listener(None, "0.0.0.0") as host_service, Listener(pub.ns, guest_ip) as guest_service:
            # the host reaches the guest (and the replies come back through the filter)
            assert connect(None, guest_ip, guest_service.port) == root_addr
            for addr in host_addrs:  # no host address answers the public side
                assert connect(pub.ns, addr, host_service.port, src=guest_ip) is None, addr
            # the same check without the filter connects: the test can fail
            sh("nft", "delete", "table", "inet", host_table(prefix))
            assert connect(pub.ns, root_addr, host_service.port, src=guest_ip) == guest_ip
            pub.ensure(host_routes=True)
            assert connect(pub.ns, root_addr, host_service.port, src=guest_ip) is None
            assert connect(None, guest_ip, guest_service.port) == root_addr

        # one ec2d per host routes the pool: a second prefix is refused, naming the first
        with pytest.raises(PoolRouteTaken, match=f"ec2d prefix {prefix}"):
            other.ensure(host_routes=True)
        assert not netlink.link_exists(None, other.host_ifname)
        assert f"inet {host_table(other_prefix)}" not in tables()

        # restarted without the option, the first releases the pool; then the second may take it
        pub.ensure(host_routes=False)
        assert not netlink.link_exists(None, pub.host_ifname)
        assert f"inet {host_table(prefix)}" not in tables()
        assert not root_routes_overlapping(POOL)
        other.ensure(host_routes=True)
        assert netlink.link_exists(None, other.host_ifname)
    finally:
        pub.delete()
        other.delete()
    assert not root_routes_overlapping(POOL)
    assert host_table(prefix) not in tables() and host_table(other_prefix) not in tables()


def test_ruleset_is_valid_for_the_kernel() -> None:
    ns = f"ec2dt{secrets.token_hex(2)}-nftcheck"
    sh("ip", "netns", "add", ns)
    try:
        for uplink in (None, "eth9"):
            script = render_host_filter("ec2dtx", "ec2dtx-h", "198.18.0.0/15", uplink,
                                        list(PRIVATE_RANGES) + ["192.0.2.0/24"])
            check = subprocess.run(["ip", "netns", "exec", ns, "nft", "-c", "-f", "-"], input=script,
                                   capture_output=True, text=True)
            assert check.returncode == 0, check.stderr
            assert ("masquerade" in script) == bool(uplink)
    finally:
        sh("ip", "netns", "del", ns)


def test_uplink_nat_filter_with_a_fake_uplink() -> None:
    """host = a throwaway namespace playing the root one; public side; "world" behind a fake uplink
    holding an internet address, a LAN address, cloud metadata and the uplink's own network."""
    tag = f"ec2dt{secrets.token_hex(2)}"
    host, public, world = f"{tag}-fhost", f"{tag}-fpub", f"{tag}-fworld"
    host_if, uplink = f"{tag}-h", "up0"
    pool, guest = "198.18.0.0/15", "198.18.0.7"
    internet, lan, metadata = "198.51.100.80", "10.77.0.1", "169.254.169.254"
    for ns in (host, public, world):
        sh("ip", "netns", "add", ns)
    try:
        for ns in (host, public, world):
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", host, "link", "add", host_if, "type", "veth", "peer", "name", "host0", "netns", public)
        sh("ip", "-n", host, "link", "add", uplink, "type", "veth", "peer", "name", "eth0", "netns", world)
        for ns, link, addr in ((host, host_if, "100.65.0.1/30"), (public, "host0", "100.65.0.2/30"),
                               (host, uplink, "203.0.113.1/24"), (world, "eth0", "203.0.113.2/24"),
                               (public, "lo", f"{guest}/32"), (world, "lo", f"{internet}/32"),
                               (world, "lo", f"{lan}/32"), (world, "lo", f"{metadata}/32")):
            sh("ip", "-n", ns, "addr", "add", addr, "dev", link)
            sh("ip", "-n", ns, "link", "set", link, "up")
        sh("ip", "-n", public, "route", "add", "default", "via", "100.65.0.1")
        sh("ip", "-n", host, "route", "add", pool, "via", "100.65.0.2")
        sh("ip", "-n", host, "route", "add", "default", "via", "203.0.113.2")
        sh("ip", "-n", world, "route", "add", pool, "via", "203.0.113.1")  # a LAN host routing to guests
        sh("ip", "netns", "exec", host, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        script = render_host_filter(tag, host_if, pool, uplink,
                                    list(PRIVATE_RANGES) + [pool, "203.0.113.0/24"])
        with Listener(world, "0.0.0.0") as w, Listener(host, "0.0.0.0") as h, Listener(public, guest) as g:
            def from_guest(dst: str, port: int) -> str | None:
                return connect(public, dst, port, src=guest, timeout=2)

            # without the filter everything is open (the checks below can fail)
            assert from_guest(lan, w.port) == guest
            assert from_guest("100.65.0.1", h.port) == guest
            assert connect(world, guest, g.port) == "203.0.113.2"
            subprocess.run(["ip", "netns", "exec", host, "nft", "-f", "-"], input=script, text=True, check=True)
            # the internet, masqueraded behind the uplink's address
            assert from_guest(internet, w.port) == "203.0.113.1"
            # never the LAN, cloud metadata, the uplink's own network, nor the host itself
            for dst in (lan, metadata, "203.0.113.2"):
                assert from_guest(dst, w.port) is None, dst
            for dst in ("100.65.0.1", "203.0.113.1"):
                assert from_guest(dst, h.port) is None, dst
            # the host reaches the guest; the LAN does not get through the host to it
            assert connect(host, guest, g.port) == "100.65.0.1"
            assert connect(world, guest, g.port, timeout=2) is None
    finally:
        for ns in (host, public, world):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
