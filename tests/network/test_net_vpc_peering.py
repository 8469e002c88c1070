"""Peering links of the Linux VPC driver on the real kernel: three VPC namespaces with a stand-in
guest each (A, B, C; B peered with A and with C). The veth pair follows ``set_peerings`` (made
once, removed from both namespaces), a subnet sends over a link only what its ``allowed`` says,
and B never forwards what came over one peering to another one, even when C and A route each
other's CIDRs through B (the filter is the only thing in the way)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from orchestrator.drivers.network import netlink, netlink_routes
from orchestrator.drivers.network.vpc import LinuxVpcNetwork
from orchestrator.drivers.network.vpc.peering import PeeringLink, ifname, peer_address


def rid(kind: str) -> str:
    return f"{kind}-{secrets.token_hex(9)[:17]}"


CIDR = {"a": "10.171.0.0/16", "b": "10.172.0.0/16", "c": "10.173.0.0/16"}
AB, CB = rid("pcx"), rid("pcx")


def host(side: str) -> str:
    return CIDR[side].replace(".0.0/16", ".1.5")


def subnet_cidr(side: str) -> str:
    return CIDR[side].replace(".0.0/16", ".1.0/24")


@pytest.fixture(scope="module")
def three(net_driver: LinuxVpcNetwork, make_guest) -> Iterator[dict[str, Any]]:
    d, out = net_driver, {}
    for n, side in enumerate(CIDR):
        vpc, subnet = rid("vpc"), rid("subnet")
        d.ensure_vpc(vpc, CIDR[side])
        d.ensure_subnet(vpc, subnet, subnet_cidr(side))
        guest = make_guest(vpc, subnet, f"02:00:0a:ab:0{n}:05")
        guest.sh("ip", "addr", "add", f"{host(side)}/24", "dev", "eth0")
        guest.sh("ip", "route", "add", "default", "via", host(side).replace(".1.5", ".1.1"))
        out[side] = {"vpc": vpc, "ns": d.netns_name(vpc), "guest": guest}
    yield out
    for side in CIDR:
        d.delete_vpc(out[side]["vpc"])


def link(three: dict[str, Any], pcx: str, here: str, there: str, requester: bool,
         allowed: tuple[str, ...] | None = None) -> PeeringLink:
    dests = allowed if allowed is not None else (CIDR[there],)
    return PeeringLink(pcx, three[there]["ns"], CIDR[there], requester,
                       ((subnet_cidr(here), dests),) if dests else ())


def test_the_pair_follows_the_links_and_the_route_tables(net_driver: LinuxVpcNetwork, three) -> None:
    d, a, b = net_driver, three["a"], three["b"]
    d.set_peerings(a["vpc"], [link(three, AB, "a", "b", True, allowed=())])  # A's table: no route to B
    d.set_peerings(b["vpc"], [link(three, AB, "b", "a", False)])
    for ns in (a["ns"], b["ns"]):
        assert netlink.link_exists(ns, ifname(AB))
    assert not a["guest"].ping(host("b"))
    d.set_peerings(a["vpc"], [link(three, AB, "a", "b", True)])  # now it routes B's CIDR
    assert a["guest"].ping(host("b"))
    d.set_peerings(b["vpc"], [link(three, AB, "b", "a", False, allowed=())])  # B's replies: no route back
    assert not a["guest"].ping(host("b"))
    d.set_peerings(b["vpc"], [link(three, AB, "b", "a", False)])
    assert a["guest"].ping(host("b"))
    d.set_peerings(b["vpc"], [])  # deleted: both ends go
    assert not netlink.link_exists(a["ns"], ifname(AB)) and not netlink.link_exists(b["ns"], ifname(AB))
    d.set_peerings(a["vpc"], [])
    d.set_peerings(b["vpc"], [link(three, AB, "b", "a", False)])
    d.set_peerings(a["vpc"], [link(three, AB, "a", "b", True)])  # made again, from the other side
    assert a["guest"].ping(host("b"))


def test_nothing_transits_the_middle_vpc(net_driver: LinuxVpcNetwork, three) -> None:
    d, a, b, c = net_driver, three["a"], three["b"], three["c"]
    # A and C route each other's CIDR over their peering with B (their own filters let it go)
    d.set_peerings(a["vpc"], [link(three, AB, "a", "b", True, allowed=(CIDR["b"], CIDR["c"]))])
    d.set_peerings(c["vpc"], [link(three, CB, "c", "b", True, allowed=(CIDR["b"], CIDR["a"]))])
    d.set_peerings(b["vpc"], [link(three, AB, "b", "a", False), link(three, CB, "b", "c", False)])
    for side, pcx, other in (("a", AB, "c"), ("c", CB, "a")):
        own = netlink.link_info(three[side]["ns"], ifname(pcx)).addresses[0]  # type: ignore[union-attr]
        netlink_routes.ensure_route(three[side]["ns"], CIDR[other], via=peer_address(own))
    assert c["guest"].ping(host("b")) and a["guest"].ping(host("b"))
    assert not c["guest"].ping(host("a"))  # B drops it between its two peerings
    assert not a["guest"].ping(host("c"))
