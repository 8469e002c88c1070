"""VPC peering decisions (pure, hand-made records): which subnets may send what over a peering
(longest prefix, blackholes, only inside the peer's CIDR), the namespace's filter built from that
(no transit), the link addresses, the peer groups' members in security-group rules, and the
connection's state moves."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from test_route_plan import R, route, subnet, table

from orchestrator.config import Config
from orchestrator.domain import lifecycle
from orchestrator.domain import vpc_peering as peering
from orchestrator.drivers.network import firewall as fw
from orchestrator.drivers.network.vpc import peering as links
from orchestrator.runtime import peering_state, route_plan, vpc_state
from orchestrator.services import bootstrap
from orchestrator.services import vpc_peering as service
from orchestrator.store.sqlite import Record

SUBNETS = {"subnet-a": subnet("subnet-a", "10.0.1.0/24"), "subnet-b": subnet("subnet-b", "10.0.2.0/24")}
PEER = "10.9.0.0/16"


def test_only_subnets_routing_the_peer_cidr_to_the_connection_may_send_over_it() -> None:
    tables = [table("rtb-main", [route(PEER, VpcPeeringConnectionId="pcx-1")], main=True),
              table("rtb-b", [route("10.9.5.0/24", VpcPeeringConnectionId="pcx-1"),
                              route("0.0.0.0/0", VpcPeeringConnectionId="pcx-1")], subnets=("subnet-b",))]
    live = route_plan.live_targets(None, [], ["pcx-1"])
    got = dict(route_plan.peering_ranges(tables, SUBNETS, live, "pcx-1", (PEER,)))
    assert got == {"10.0.1.0/24": (PEER,), "10.0.2.0/24": (PEER,)}  # a wider route is cut to the peer's CIDR
    # the connection not active: its routes are blackholes, nothing goes over it
    dead = route_plan.live_targets(None, [], [])
    assert route_plan.peering_ranges(tables, SUBNETS, dead, "pcx-1", (PEER,)) == []
    assert route_plan.route_state(route(PEER, VpcPeeringConnectionId="pcx-1"), dead) == "blackhole"
    # a more specific route elsewhere wins; another connection's routes are not this one's
    narrowed = [table("rtb-main", [route(PEER, VpcPeeringConnectionId="pcx-1"),
                                   route("10.9.7.0/24", VpcPeeringConnectionId="pcx-2")], main=True)]
    got = dict(route_plan.peering_ranges(narrowed, SUBNETS, live | {"pcx-2"}, "pcx-1", (PEER,)))
    assert "10.9.7.0/24" not in got["10.0.1.0/24"] and "10.9.6.0/24" in got["10.0.1.0/24"]


def test_peering_links_of_a_view() -> None:
    vpc = Record("vpc-1", "vpc", R, "available", {"CidrBlock": "10.0.0.0/16"})
    view = vpc_state.VpcView(
        vpc=vpc, subnets=SUBNETS, instances=[], enis={},
        route_tables=[table("rtb-main", [], main=True),
                      table("rtb-a", [route(PEER, VpcPeeringConnectionId="pcx-1")], subnets=("subnet-a",))],
        peerings=[vpc_state.PeerSide("pcx-1", "vpc-2", PEER, "ns-2", True, R)])
    [link] = peering_state.peering_links(view)
    assert link == links.PeeringLink("pcx-1", "ns-2", PEER, True, (("10.0.1.0/24", (PEER,)),))


def test_filter_drops_transit_and_unrouted_sources() -> None:
    text = links.render([links.PeeringLink("pcx-0123456789abcdef0", "ns", PEER, True,
                                           (("10.0.1.0/24", (PEER,)),))])
    name = links.ifname("pcx-0123456789abcdef0")
    assert name == "px456789abcdef0" and len(name) <= 15
    assert 'iifname "px*" oifname "px*" drop' in text  # never from one peering to another
    assert 'iifname "px*" oifname "igw0" drop' in text  # nor out to the IGW / a NAT gateway
    allow = text.index(f'oifname "{name}" ip saddr 10.0.1.0/24 ip daddr {{ {PEER} }} accept')
    assert allow < text.index(f'oifname "{name}" drop')  # every other source is dropped
    assert "hook input" in text and 'iifname "px*" drop' in text


def test_link_network_is_a_free_slash_30_and_the_peer_is_the_other_host() -> None:
    net = links.link_net("pcx-1", set())
    assert net.prefixlen == 30 and net.subnet_of(links.LINK_BLOCK)
    assert links.link_net("pcx-1", {net}) != net
    first, second = (str(h) for h in list(net.hosts())[:2])
    assert links.peer_address(f"{first}/30") == second and links.peer_address(f"{second}/30") == first
    assert ipaddress.IPv4Network(net).overlaps(ipaddress.IPv4Network("100.66.0.0/16"))


def test_rules_naming_a_peer_group_match_its_members() -> None:
    group = fw.SecurityGroup("sg-b", ingress=(fw.Rule("tcp", 22, 22, group_ids=("sg-a",)),
                                              fw.Rule("tcp", 80, 80, cidrs=("10.0.0.0/8",))))
    got = vpc_state.with_peer_members(group, {"sg-a": ("10.9.1.5", "10.9.1.6")})
    assert got.ingress[0].cidrs == ("10.9.1.5/32", "10.9.1.6/32") and got.ingress[0].group_ids == ("sg-a",)
    assert got.ingress[1] == group.ingress[1]
    assert vpc_state.with_peer_members(group, {}) is group
    fw.compile_ruleset("vpc-1", [], {"sg-b": got})  # compiles


def test_state_moves_and_messages() -> None:
    s = peering.VpcPeeringState
    assert peering.accept_move(str(s.PENDING_ACCEPTANCE)) == "active"
    assert peering.accept_move(str(s.ACTIVE)) is None and peering.reject_move(str(s.ACTIVE)) is None
    assert peering.delete_move(str(s.ACTIVE)) == "deleted" and peering.delete_move(str(s.REJECTED)) is None
    assert peering.overlap("10.0.0.0/16", "10.0.128.0/20") and not peering.overlap("10.0.0.0/16", "10.1.0.0/16")
    assert peering.status_message("pending-acceptance", "123") == "Pending Acceptance by 123"
    lifecycle.check_move("vpc-peering-connection", "pending-acceptance", "active")
    lifecycle.check_initial("vpc-peering-connection", "initiating-request")


def test_an_interrupted_request_settles_at_start_up(tmp_path: Path) -> None:
    backend = bootstrap.open(Config(data_dir=tmp_path, instances=False, regions={"us-east-1": ["a"]}))
    try:
        vpcs = [service.lookup.vpc(backend, R, v.id) for v in backend.store.list("vpc", R)]
        default = vpcs[0]
        other = Record("vpc-0123456789abcdef0", "vpc", R, "available", dict(default.data, CidrBlock="10.44.0.0/16", CidrBlockAssociationSet=[
            {"AssociationId": "vpc-cidr-assoc-0123456789abcdef0", "CidrBlock": "10.44.0.0/16",
             "CidrBlockState": {"State": "associated"}}]))
        backend.store.insert(other, {})
        made = service.create(backend, R, {"VpcId": default.id, "PeerVpcId": other.id}, {})
        assert made.state == "initiating-request"
        service.settle_interrupted(backend)
        assert backend.store.get(made.id).state == "pending-acceptance"  # type: ignore[union-attr]
    finally:
        backend.close()
