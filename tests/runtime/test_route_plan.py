"""Where route tables send each subnet's traffic (pure, hand-made records): longest prefix match,
blackholes that never fall back, NAT gateways that work only from a public subnet, and the nft
table the public driver loads from that plan."""

from __future__ import annotations

from typing import Any

from orchestrator.drivers.network.public.driver import SubnetEgress
from orchestrator.drivers.network.public.rules import render_nat
from orchestrator.runtime import route_plan
from orchestrator.store.sqlite import Record

R = "us-east-1"
LOCAL = {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active", "Origin": "CreateRouteTable"}


def table(tid: str, routes: list[dict[str, Any]], subnets: tuple[str, ...] = (), main: bool = False) -> Record:
    assoc = [{"RouteTableAssociationId": f"rtbassoc-{tid}-{s}", "RouteTableId": tid, "SubnetId": s, "Main": False}
             for s in subnets]
    if main:
        assoc.append({"RouteTableAssociationId": f"rtbassoc-{tid}-main", "RouteTableId": tid, "Main": True})
    return Record(tid, "route-table", R, "available", {"VpcId": "vpc-1", "Associations": assoc,
                                                       "Routes": [LOCAL, *routes]})


def route(dest: str, **target: str) -> dict[str, Any]:
    return {"DestinationCidrBlock": dest, "State": "active", "Origin": "CreateRoute", **target}


def subnet(sid: str, cidr: str) -> Record:
    return Record(sid, "subnet", R, "available", {"VpcId": "vpc-1", "CidrBlock": cidr})


def nat(nid: str, subnet_id: str, ip: str | None = "198.18.0.9", state: str = "available") -> Record:
    address: dict[str, Any] = {"NetworkInterfaceId": "eni-n", "PrivateIp": "10.0.1.9", "IsPrimary": True,
                               "Status": "succeeded"}
    if ip:
        address.update(AllocationId="eipalloc-1", PublicIp=ip)
    return Record(nid, "natgateway", R, state, {"VpcId": "vpc-1", "SubnetId": subnet_id, "ConnectivityType": "public",
                                                 "CreateTime": "", "NatGatewayAddresses": [address]})


SUBNETS = {"subnet-pub": subnet("subnet-pub", "10.0.1.0/24"), "subnet-priv": subnet("subnet-priv", "10.0.2.0/24")}


def test_longest_prefix_wins_and_a_blackhole_never_falls_back() -> None:
    live = {"local", "igw-1"}
    decided = route_plan.decide([LOCAL, route("0.0.0.0/0", GatewayId="igw-1"),
                                 route("203.0.113.0/24", NatGatewayId="nat-gone")], live)
    assert route_plan.cidrs(route_plan.ranges_to(decided, "blackhole")) == ("203.0.113.0/24",)
    to_igw = route_plan.cidrs(route_plan.ranges_to(decided, "igw-1"))
    assert "10.0.0.0/16" not in to_igw and "203.0.113.0/24" not in to_igw
    assert "0.0.0.0/5" in to_igw and "203.0.112.0/24" in to_igw  # everything else
    assert route_plan.cidrs(route_plan.ranges_to(decided, "local")) == ("10.0.0.0/16",)
    assert route_plan.route_state(route("0.0.0.0/0", NatGatewayId="nat-gone"), live) == "blackhole"
    assert route_plan.route_state(route("0.0.0.0/0", GatewayId="igw-1"), live) == "active"


def test_private_subnet_leaves_through_the_nat_gateway_of_a_public_subnet() -> None:
    tables = [table("rtb-main", [route("0.0.0.0/0", GatewayId="igw-1")], main=True),
              table("rtb-priv", [route("0.0.0.0/0", NatGatewayId="nat-1")], ("subnet-priv",))]
    plan = {e.cidr: e for e in route_plan.egress(tables, SUBNETS, "igw-1", [nat("nat-1", "subnet-pub")])}
    assert plan["10.0.1.0/24"].direct and not plan["10.0.1.0/24"].via_nat
    priv = plan["10.0.2.0/24"]
    assert priv.direct == ()
    [(ip, dests)] = priv.via_nat
    assert ip == "198.18.0.9" and "10.0.0.0/16" not in dests and "0.0.0.0/5" in dests


def test_nat_gateway_in_a_private_subnet_or_without_igw_or_deleted_gives_no_way_out() -> None:
    tables = [table("rtb-main", [], main=True),  # no route to the IGW: nat-1's own subnet is private
              table("rtb-priv", [route("0.0.0.0/0", NatGatewayId="nat-1")], ("subnet-priv",))]
    for igw, gw in (("igw-1", nat("nat-1", "subnet-pub")), (None, nat("nat-1", "subnet-pub"))):
        plan = route_plan.egress(tables, SUBNETS, igw, [gw])
        assert all(e.direct == () and e.via_nat == () for e in plan)
    tables[0] = table("rtb-main", [route("0.0.0.0/0", GatewayId="igw-1")], main=True)
    for gw in (nat("nat-1", "subnet-pub", state="deleted"), nat("nat-1", "subnet-pub", ip=None)):
        plan = {e.cidr: e for e in route_plan.egress(tables, SUBNETS, "igw-1", [gw])}
        assert plan["10.0.2.0/24"] == SubnetEgress("10.0.2.0/24")  # blackhole / private NAT: nothing leaves


def test_only_the_destinations_both_tables_route_leave_through_the_nat() -> None:
    tables = [table("rtb-main", [route("198.18.0.0/15", GatewayId="igw-1")], main=True),
              table("rtb-priv", [route("198.0.0.0/8", NatGatewayId="nat-1")], ("subnet-priv",))]
    plan = {e.cidr: e for e in route_plan.egress(tables, SUBNETS, "igw-1", [nat("nat-1", "subnet-pub")])}
    assert plan["10.0.2.0/24"].via_nat == (("198.18.0.9", ("198.18.0.0/15",)),)


def test_nat_table_translates_then_filters_by_route() -> None:
    egress = [SubnetEgress("10.0.1.0/24", ("0.0.0.0/5",)),
              SubnetEgress("10.0.2.0/24", (), (("198.18.0.9", ("198.18.0.0/15",)),)),
              SubnetEgress("10.0.3.0/24")]
    text = render_nat({"198.18.0.5": "10.0.1.5"}, egress)
    post = text[text.index("chain post"):text.index("chain route")]
    assert post.index("snat ip to 198.18.0.9") < post.index("snat ip to ip saddr map")  # NAT gateway first
    assert 'oifname "igw0" ip saddr 10.0.2.0/24 ip daddr { 198.18.0.0/15 } snat ip to 198.18.0.9' in post
    route_chain = text[text.index("chain route"):]
    assert "hook forward" in route_chain
    assert 'iifname "igw0" ip daddr { 198.18.0.9 } drop' in route_chain  # nothing opens a connection in
    assert 'oifname "igw0" ip saddr 10.0.1.0/24 ip daddr != { 0.0.0.0/5 } drop' in route_chain
    assert 'oifname "igw0" ip saddr 10.0.3.0/24 drop' in route_chain  # no route out at all
    assert "chain route" not in render_nat({"198.18.0.5": "10.0.1.5"})  # old callers: no filter


def test_routes_to_enis_per_subnet_longest_prefix_and_blackholes() -> None:
    """A route to an ENI more specific than local takes that part of the VPC; one to 0.0.0.0/0
    takes everything but the local range and what a more specific route sends elsewhere; an ENI
    that carries no traffic (not in the hops) is a blackhole; a subnet without such routes has none."""
    tables = [table("rtb-c", [route("10.0.2.0/24", NetworkInterfaceId="eni-r"),
                              route("0.0.0.0/0", NetworkInterfaceId="eni-r"),
                              route("203.0.113.0/24", GatewayId="igw-1"),
                              route("198.51.100.0/24", NetworkInterfaceId="eni-stopped")], ("subnet-pub",)),
              table("rtb-main", [route("0.0.0.0/0", GatewayId="igw-1")], main=True)]
    hops = {"eni-r": ("10.0.3.10", "subnet-r")}
    out = route_plan.eni_routes(tables, SUBNETS, hops)
    assert {s for s, _, _ in out} == {"subnet-pub"}
    via = {c for _, c, h in out if h == hops["eni-r"]}
    assert "10.0.2.0/24" in via and "0.0.0.0/5" in via and "192.0.0.0/9" not in via  # 198.51.100/24 is out
    assert not any(c.startswith("10.0.1.") or c == "10.0.0.0/16" or c.startswith("203.0.113") for c in via)
    assert [c for _, c, h in out if h is None] == ["198.51.100.0/24"]
    assert route_plan.route_target(route("0.0.0.0/0", NetworkInterfaceId="eni-r")) == "eni-r"
