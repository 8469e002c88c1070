"""IPv6 routes (pure, hand-made records): per subnet with a /64, what its route table sends to the
internet gateway (both ways) and to an egress-only internet gateway (out only), the VPC's own /56
always ``local``, dead targets blackholes that never fall back; and the ``ip6`` nft table the public
driver loads from that plan (checked by ``nft --check`` when nft can run)."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from typing import Any

import pytest

from orchestrator.drivers.network.public.driver import LINK_BLOCK, SubnetEgress6, link6
from orchestrator.drivers.network.public.rules import render_route6
from orchestrator.drivers.network.vpc import peering as links
from orchestrator.runtime import route_plan
from orchestrator.store.sqlite import Record

R = "us-east-1"
BLOCK = "2001:db8:0:100::/56"
V4LOCAL = {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active", "Origin": "CreateRouteTable"}


def table(tid: str, routes: list[dict[str, Any]], subnets: tuple[str, ...] = (), main: bool = False) -> Record:
    assoc = [{"RouteTableAssociationId": f"rtbassoc-{tid}-{s}", "RouteTableId": tid, "SubnetId": s, "Main": False}
             for s in subnets]
    if main:
        assoc.append({"RouteTableAssociationId": f"rtbassoc-{tid}-main", "RouteTableId": tid, "Main": True})
    return Record(tid, "route-table", R, "available", {"VpcId": "vpc-1", "Associations": assoc,
                                                       "Routes": [V4LOCAL, *routes]})


def route6(dest: str, **target: str) -> dict[str, Any]:
    return {"DestinationIpv6CidrBlock": dest, "State": "active", "Origin": "CreateRoute", **target}


def subnet(sid: str, cidr: str, cidr6: str | None) -> Record:
    data: dict[str, Any] = {"VpcId": "vpc-1", "CidrBlock": cidr}
    if cidr6:
        data["Ipv6CidrBlockAssociationSet"] = [{"Ipv6CidrBlock": cidr6}]
    return Record(sid, "subnet", R, "available", data)


SUBNETS = {"subnet-a": subnet("subnet-a", "10.0.1.0/24", "2001:db8:0:101::/64"),
           "subnet-b": subnet("subnet-b", "10.0.2.0/24", "2001:db8:0:102::/64"),
           "subnet-4": subnet("subnet-4", "10.0.3.0/24", None)}


def space(cidrs: tuple[str, ...]) -> int:
    return sum(ipaddress.IPv6Network(c).num_addresses for c in cidrs)


def test_igw_both_ways_eigw_out_only_local_block_excluded() -> None:
    tables = [table("rtb-main", [route6("::/0", GatewayId="igw-1")], main=True),
              table("rtb-b", [route6("::/0", EgressOnlyInternetGatewayId="eigw-1"),
                              route6("2600::/16", GatewayId="igw-1")], ("subnet-b",))]
    a, b = route_plan.egress6(tables, SUBNETS, [BLOCK], "igw-1", ["eigw-1"])
    assert (a.cidr, b.cidr) == ("2001:db8:0:101::/64", "2001:db8:0:102::/64")  # no entry for the IPv4-only subnet
    local = ipaddress.IPv6Network(BLOCK)
    assert a.outbound_only == () and space(a.internet) == 2**128 - local.num_addresses
    assert not any(ipaddress.IPv6Network(c).overlaps(local) for c in a.internet)
    assert b.internet == ("2600::/16",)
    assert space(b.outbound_only) == 2**128 - local.num_addresses - 2**112


def test_dead_targets_are_blackholes_that_never_fall_back() -> None:
    tables = [table("rtb-main", [route6("::/0", GatewayId="igw-1"),
                                 route6("2600::/16", EgressOnlyInternetGatewayId="eigw-gone")], main=True)]
    (a, b) = route_plan.egress6(tables, SUBNETS, [BLOCK], "igw-1", [])
    assert "2600::/16" not in a.internet and space(a.internet) == 2**128 - 2**72 - 2**112
    assert route_plan.egress6(tables, SUBNETS, [BLOCK], None, []) == [
        SubnetEgress6("2001:db8:0:101::/64"), SubnetEgress6("2001:db8:0:102::/64")]  # IGW detached


def test_no_route_nothing_crosses() -> None:
    tables = [table("rtb-main", [], main=True)]
    assert route_plan.egress6(tables, SUBNETS, [BLOCK], "igw-1", ["eigw-1"]) == [
        SubnetEgress6("2001:db8:0:101::/64"), SubnetEgress6("2001:db8:0:102::/64")]


def test_decide6_more_specific_wins() -> None:
    decided = route_plan.decide6([route6("::/0", GatewayId="igw-1"), route6("2600::/16", GatewayId="eigw-1")],
                                 {"local", "igw-1", "eigw-1"}, [BLOCK])
    targets = {route_plan.cidrs([r], 6)[0]: t for r, t in decided if len(route_plan.cidrs([r], 6)) == 1}
    assert targets["2600::/16"] == "eigw-1" and targets[BLOCK] == "local"


def test_link6_addresses_stay_beside_the_ipv4_ones() -> None:
    net = next(LINK_BLOCK.subnets(new_prefix=30))
    pub, vpc = (link6(h) for h in list(net.hosts())[:2])
    assert ipaddress.IPv6Network(f"{pub}/126", strict=False) == ipaddress.IPv6Network(f"{vpc}/126", strict=False)
    assert pub.is_private and pub != vpc


def test_route6_table_rules() -> None:
    script = render_route6([SubnetEgress6("2001:db8:0:101::/64", ("2600::/16",), ("::/3",)),
                            SubnetEgress6("2001:db8:0:102::/64")])
    assert "table ip6 ec2d_route6" in script and "hook forward" in script
    assert 'oifname "igw0" ip6 saddr 2001:db8:0:101::/64 ip6 daddr { 2600::/16, ::/3 } accept' in script
    assert 'iifname "igw0" ip6 daddr 2001:db8:0:101::/64 ip6 saddr { 2600::/16 } accept' in script
    assert ('iifname "igw0" ip6 daddr 2001:db8:0:101::/64 ip6 saddr { ::/3 } ct state established,related accept'
            in script)
    assert "2001:db8:0:102::/64" not in script  # a subnet with no route: only the final drops apply to it
    rules = [line.strip() for line in script.splitlines()]
    assert rules[-4:-2] == ['oifname "igw0" counter drop', 'iifname "igw0" counter drop']  # last: the rest


@pytest.mark.skipif(shutil.which("nft") is None, reason="nft not installed")
def test_route6_table_is_valid_nft() -> None:
    script = render_route6([SubnetEgress6("2001:db8:0:101::/64", ("2600::/16",), ("::/3",))])
    done = subprocess.run(["nft", "--check", "-f", "-"], input=script,
                          capture_output=True, text=True)
    if done.returncode != 0 and "Operation not permitted" in done.stderr:
        pytest.skip("nft needs root")
    assert done.returncode == 0, done.stderr


def test_peering_ranges6_cut_to_the_peer_blocks_and_link_filter() -> None:
    peer = "2001:db8:0:200::/56"
    tables = [table("rtb-main", [route6("::/0", VpcPeeringConnectionId="pcx-1")], main=True),
              table("rtb-b", [route6(peer, EgressOnlyInternetGatewayId="eigw-1")], ("subnet-b",))]
    live = route_plan.live_targets(None, [], ["pcx-1"], eigws=["eigw-1"])
    got = route_plan.peering_ranges6(tables, SUBNETS, live, "pcx-1", [peer], [BLOCK])
    assert got == [("2001:db8:0:101::/64", (peer,))]  # a wider route is cut to the peer's /56; B sends it elsewhere
    assert route_plan.peering_ranges6(tables, SUBNETS, {"local"}, "pcx-1", [peer], [BLOCK]) == []  # not active
    link = links.PeeringLink("pcx-0123456789abcdef0", "ns", "10.9.0.0/16", True, (), (), (peer,), tuple(got))
    text = links.render6([link])
    name = links.ifname(link.pcx_id)
    assert "table ip6 ec2d_pcx6" in text and 'iifname "px*" oifname "px*" drop' in text
    assert 'iifname "px*" oifname "igw0" drop' in text
    allow = text.index(f'oifname "{name}" ip6 saddr 2001:db8:0:101::/64 ip6 daddr {{ {peer} }} accept')
    assert allow < text.index(f'oifname "{name}" drop')
    assert 'iifname "px*" icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept' in text
    assert links.address6("100.66.0.1/30") != links.address6("100.66.0.2") and links.address6(
        "100.66.0.1").startswith("fd00:ec2:66::")
