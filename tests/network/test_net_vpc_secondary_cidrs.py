"""LinuxVpcNetwork's secondary IPv4 CIDRs against the real kernel: the root namespace's fail-closed
``unreachable`` route follows the set, a subnet of the secondary block gets its bridge, DHCP lease
and name from the VPC's dnsmasq, the namespace routes between subnets of both blocks, and a peering
link routes the peer's secondary blocks."""

from __future__ import annotations

import secrets
import subprocess

import pytest

from orchestrator.drivers.network import netlink_routes, routes
from orchestrator.drivers.network.dnsmasq import Lease
from orchestrator.drivers.network.errors import InvalidArgument
from orchestrator.drivers.network.vpc import LinuxVpcNetwork
from orchestrator.drivers.network.vpc.peering import PeeringLink


def rid(kind: str) -> str:
    return f"{kind}-{secrets.token_hex(9)[:17]}"


def unreachable_from_root(ip: str) -> bool:
    out = subprocess.run(["ip", "route", "get", ip], capture_output=True, text=True)
    err = out.stderr.lower()
    return out.returncode != 0 and ("unreachable" in err or "no route to host" in err)


def test_secondary_block_routes_serves_and_goes(net_driver: LinuxVpcNetwork, make_guest) -> None:
    vpc, sub1, sub2 = rid("vpc"), rid("subnet"), rid("subnet")
    d = net_driver
    d.ensure_vpc(vpc, "10.70.0.0/16")
    try:
        d.ensure_subnet(vpc, sub1, "10.70.1.0/24")
        with pytest.raises(InvalidArgument):  # outside every block of the VPC
            d.ensure_subnet(vpc, sub2, "100.64.1.0/24")
        assert "100.64.0.0/16" not in routes.list_unreachable(prefix=d.prefix)
        d.set_secondary_cidrs(vpc, ["100.64.0.0/16"])
        d.set_secondary_cidrs(vpc, ["100.64.0.0/16"])  # idempotent
        assert {"10.70.0.0/16", "100.64.0.0/16"} <= set(routes.list_unreachable(prefix=d.prefix))
        assert unreachable_from_root("100.64.1.5")  # fail closed: nothing reaches the uplink
        d.ensure_subnet(vpc, sub2, "100.64.1.0/24")
        mac1, mac2 = "02:00:46:00:01:05", "02:00:64:00:01:05"
        d.set_leases(vpc, [Lease(mac1, "10.70.1.5", "ip-10-70-1-5"), Lease(mac2, "100.64.1.5", "ip-100-64-1-5")])
        g1, g2 = make_guest(vpc, sub1, mac1), make_guest(vpc, sub2, mac2)
        env1, env2 = g1.dhcp(), g2.dhcp()
        assert env1 is not None and env1["ip"] == "10.70.1.5"
        assert env2 is not None and env2["ip"] == "100.64.1.5" and env2["router"] == "100.64.1.1"
        assert env2["dns"].split() == ["10.70.0.2"]  # the VPC's resolver: base of the primary + 2
        assert g2.ping("10.70.1.5") and g1.ping("100.64.1.5")  # routed between the blocks
        assert g2.resolve("ip-10-70-1-5.ec2.internal", "10.70.0.2") == (0, ["10.70.1.5"])
        with pytest.raises(InvalidArgument):  # a block still holding a subnet cannot go
            d.set_secondary_cidrs(vpc, [])
        d.set_leases(vpc, [Lease(mac1, "10.70.1.5", "ip-10-70-1-5")])
        d.delete_subnet(vpc, sub2)
        d.set_secondary_cidrs(vpc, [])
        assert "100.64.0.0/16" not in routes.list_unreachable(prefix=d.prefix)
        d.set_secondary_cidrs(vpc, ["100.64.0.0/16"])
    finally:
        d.delete_vpc(vpc)
    left = set(routes.list_unreachable(prefix=d.prefix))
    assert "10.70.0.0/16" not in left and "100.64.0.0/16" not in left  # DeleteVpc takes every block's route


def test_block_shared_with_another_vpc_keeps_its_route(net_driver: LinuxVpcNetwork) -> None:
    a, b = rid("vpc"), rid("vpc")
    net_driver.ensure_vpc(a, "10.71.0.0/16")
    net_driver.ensure_vpc(b, "10.72.0.0/16")
    try:
        net_driver.set_secondary_cidrs(a, ["10.73.0.0/16"])
        net_driver.set_secondary_cidrs(b, ["10.73.0.0/16"])
        net_driver.set_secondary_cidrs(a, [])
        assert "10.73.0.0/16" in routes.list_unreachable(prefix=net_driver.prefix)  # B still has it
        with pytest.raises(InvalidArgument):
            net_driver.set_secondary_cidrs(a, ["10.71.128.0/17"])  # overlaps the primary
    finally:
        net_driver.delete_vpc(a)
        net_driver.delete_vpc(b)
    assert "10.73.0.0/16" not in routes.list_unreachable(prefix=net_driver.prefix)


def test_peering_routes_the_peers_secondary_block(net_driver: LinuxVpcNetwork, make_guest) -> None:
    """A peering link carries the peer's secondary blocks too: A's guest reaches B's guest in B's
    secondary block once A's link lists it (its route appears), and not after (the route goes)."""
    d = net_driver
    vpc_a, vpc_b, sub_a, sub_b, pcx = rid("vpc"), rid("vpc"), rid("subnet"), rid("subnet"), rid("pcx")
    d.ensure_vpc(vpc_a, "10.74.0.0/16")
    d.ensure_vpc(vpc_b, "10.75.0.0/16")
    try:
        d.set_secondary_cidrs(vpc_b, ["10.76.0.0/16"])
        d.ensure_subnet(vpc_a, sub_a, "10.74.1.0/24")
        d.ensure_subnet(vpc_b, sub_b, "10.76.1.0/24")
        mac_a, mac_b = "02:00:4a:00:01:05", "02:00:4c:00:01:05"
        d.set_leases(vpc_a, [Lease(mac_a, "10.74.1.5", "ip-10-74-1-5")])
        d.set_leases(vpc_b, [Lease(mac_b, "10.76.1.5", "ip-10-76-1-5")])
        ga, gb = make_guest(vpc_a, sub_a, mac_a), make_guest(vpc_b, sub_b, mac_b)
        assert ga.dhcp() is not None and gb.dhcp() is not None
        ns_a = d.netns_name(vpc_a)

        def a_side(secondary: tuple[str, ...]) -> PeeringLink:
            return PeeringLink(pcx, d.netns_name(vpc_b), "10.75.0.0/16", True,
                               (("10.74.1.0/24", ("10.75.0.0/16", *secondary)),), secondary)

        d.set_peerings(vpc_b, [PeeringLink(pcx, ns_a, "10.74.0.0/16", False, (("10.76.1.0/24", ("10.74.0.0/16",)),))])
        d.set_peerings(vpc_a, [a_side(())])
        assert "10.76.0.0/16" not in {r.dst for r in netlink_routes.list_routes(ns_a)}
        assert not ga.ping("10.76.1.5")
        d.set_peerings(vpc_a, [a_side(("10.76.0.0/16",))])
        assert "10.76.0.0/16" in {r.dst for r in netlink_routes.list_routes(ns_a)}
        assert ga.ping("10.76.1.5")
        d.set_peerings(vpc_a, [a_side(())])  # B gave the block up: the route goes
        assert "10.76.0.0/16" not in {r.dst for r in netlink_routes.list_routes(ns_a)}
        assert "10.75.0.0/16" in {r.dst for r in netlink_routes.list_routes(ns_a)}
        assert not ga.ping("10.76.1.5")
    finally:
        d.delete_vpc(vpc_a)
        d.delete_vpc(vpc_b)
