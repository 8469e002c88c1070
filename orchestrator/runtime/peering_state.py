"""What a VPC's peering links should be, as a pure function of its :class:`~.vpc_state.VpcView`:
per active connection, the link to the peer's namespace and, per local subnet, the destinations
in the peer's CIDR its route table sends to that connection (``route_plan.peering_ranges``; the
most specific route wins, a route to another target or a blackhole sends nothing over it); the
same for IPv6 within the peer's /56s (``route_plan.peering_ranges6``)."""

from __future__ import annotations

from orchestrator.drivers.network.vpc.peering import PeeringLink
from orchestrator.runtime import route_plan, vpc_state
from orchestrator.runtime.vpc_state import VpcView


def peering_links(view: VpcView) -> list[PeeringLink]:
    igw_id = view.igw.id if view.igw is not None else None
    live = route_plan.live_targets(igw_id, view.nat_gateways, [p.pcx_id for p in view.peerings])
    local6 = vpc_state.vpc_ipv6_blocks(view)
    return [PeeringLink(p.pcx_id, p.peer_ns, p.peer_cidr, p.requester,
                        tuple(route_plan.peering_ranges(view.route_tables, view.subnets, live, p.pcx_id,
                                                        (p.peer_cidr, *p.secondary_cidrs), view.prefix_lists)),
                        p.secondary_cidrs, p.ipv6_blocks,
                        tuple(route_plan.peering_ranges6(view.route_tables, view.subnets, live, p.pcx_id,
                                                         p.ipv6_blocks, local6)))
            for p in sorted(view.peerings, key=lambda p: p.pcx_id)]
