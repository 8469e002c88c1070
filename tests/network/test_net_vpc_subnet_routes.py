"""Routes to ENIs in the VPC namespace (``vpc/subnet_routes.py``) against the real kernel, with
veth stand-in guests: a client subnet and a server subnet whose traffic the route tables send
through a router guest in a third subnet (routes more specific than local), proved by the router's
forward counter and the replies' TTL; a blackhole drops; removing the routes restores the direct
path."""

from __future__ import annotations

import re
import secrets

import pytest

from orchestrator.drivers.network import netlink
from orchestrator.drivers.network.dnsmasq import Lease
from orchestrator.drivers.network.errors import InvalidArgument
from orchestrator.drivers.network.names import bridge_name
from orchestrator.drivers.network.vpc import LinuxVpcNetwork
from orchestrator.drivers.network.vpc.driver import SubnetRoute
from orchestrator.drivers.network.vpc.subnet_routes import current


def rid(kind: str) -> str:
    return f"{kind}-{secrets.token_hex(9)[:17]}"


VPC, CLIENT, SERVER, ROUTER = rid("vpc"), rid("subnet"), rid("subnet"), rid("subnet")


@pytest.fixture(scope="module")
def vpc(net_driver: LinuxVpcNetwork, make_guest):
    d = net_driver
    d.ensure_vpc(VPC, "10.0.0.0/16")
    for sid, n in ((CLIENT, 1), (SERVER, 2), (ROUTER, 3)):
        d.ensure_subnet(VPC, sid, f"10.0.{n}.0/24")
    macs = {CLIENT: "02:00:0a:00:01:0a", SERVER: "02:00:0a:00:02:0a", ROUTER: "02:00:0a:00:03:0a"}
    d.set_leases(VPC, [Lease(m, f"10.0.{n}.10", f"ip-10-0-{n}-10") for n, m in
                       ((1, macs[CLIENT]), (2, macs[SERVER]), (3, macs[ROUTER]))])
    guests = {sid: make_guest(VPC, sid, mac) for sid, mac in macs.items()}
    for g in guests.values():
        assert g.dhcp() is not None
    netlink.sysctl(guests[ROUTER].ns, "net.ipv4.ip_forward", "1")
    netlink.sysctl(guests[ROUTER].ns, "net.ipv4.conf.all.send_redirects", "0")
    netlink.sysctl(guests[ROUTER].ns, "net.ipv4.conf.eth0.send_redirects", "0")
    yield guests
    d.delete_vpc(VPC)


def forwarded(guest) -> int:
    """The guest's IPv4 ForwDatagrams counter (/proc/net/snmp is per namespace)."""
    lines = [line.split() for line in guest.sh("cat", "/proc/net/snmp").stdout.splitlines() if line.startswith("Ip:")]
    head, values = lines[:2]
    return int(values[head.index("ForwDatagrams")])


def reply_ttl(guest, ip: str) -> int | None:
    out = guest.sh("busybox", "ping", "-c", "1", "-W", "2", ip)
    m = re.search(r"ttl=(\d+)", out.stdout)
    return int(m.group(1)) if out.returncode == 0 and m else None


def test_traffic_follows_the_routes_through_the_router(net_driver: LinuxVpcNetwork, vpc) -> None:
    client, router = vpc[CLIENT], vpc[ROUTER]
    ns = net_driver.netns_name(VPC)
    assert reply_ttl(client, "10.0.2.10") == 63  # direct: one hop (the VPC router)
    hop = ("10.0.3.10", ROUTER)
    routes = [SubnetRoute(CLIENT, "10.0.2.0/24", *hop), SubnetRoute(SERVER, "10.0.1.0/24", *hop)]
    net_driver.set_subnet_routes(VPC, routes)
    net_driver.set_subnet_routes(VPC, routes)  # idempotent
    assert current(ns) == {bridge_name(CLIENT): [("10.0.2.0/24", "10.0.3.10")],
                           bridge_name(SERVER): [("10.0.1.0/24", "10.0.3.10")]}
    before = forwarded(router)
    assert reply_ttl(client, "10.0.2.10") == 61  # VPC router, the router guest, VPC router again
    assert forwarded(router) >= before + 2  # the request and the reply went through it
    netlink.sysctl(router.ns, "net.ipv4.ip_forward", "0")
    try:
        assert reply_ttl(client, "10.0.2.10") is None  # the router does not forward: nothing passes
    finally:
        netlink.sysctl(router.ns, "net.ipv4.ip_forward", "1")
    net_driver.set_subnet_routes(VPC, [SubnetRoute(CLIENT, "10.0.2.0/24")])  # a blackhole
    assert current(ns) == {bridge_name(CLIENT): [("10.0.2.0/24", None)]}
    assert reply_ttl(client, "10.0.2.10") is None
    assert reply_ttl(client, "10.0.3.10") == 63  # other destinations are routed as before
    net_driver.set_subnet_routes(VPC, [])
    assert current(ns) == {}
    assert reply_ttl(client, "10.0.2.10") == 63


def test_next_hop_must_be_in_its_subnet(net_driver: LinuxVpcNetwork, vpc) -> None:
    with pytest.raises(InvalidArgument):
        net_driver.set_subnet_routes(VPC, [SubnetRoute(CLIENT, "10.0.2.0/24", "10.0.2.10", ROUTER)])
    with pytest.raises(InvalidArgument):
        net_driver.set_subnet_routes(VPC, [SubnetRoute(rid("subnet"), "10.0.2.0/24")])
