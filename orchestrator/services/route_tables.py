"""Routes and route-table associations: CreateRoute, ReplaceRoute, DeleteRoute, Associate /
Disassociate / ReplaceRouteTableAssociation (the model side, and the ``*_live`` actions that have
the VPC's network follow before the API call answers).

A route's target is an internet gateway (``GatewayId``), a NAT gateway (``NatGatewayId``), a
peering connection, an instance or network interface (``services/route_enis``) or, for an IPv6
destination, an egress-only internet gateway (``EgressOnlyInternetGatewayId``) of the table's VPC. A target that goes away leaves the route in place, shown as ``blackhole`` (see
``runtime/route_plan``), and the traffic it matched is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.domain import errors, ids
from orchestrator.domain import vpc_peering as peering
from orchestrator.domain.lifecycle import NatGatewayState
from orchestrator.domain.records import RTB
from orchestrator.domain.route_records import Route, RouteTableData
from orchestrator.services import lookup, route_enis, vpc_ipv6, vpc_peering
from orchestrator.services import route_destinations as destinations
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

TARGETS = ("GatewayId", "NatGatewayId", "VpcPeeringConnectionId", "EgressOnlyInternetGatewayId",
           *route_enis.KEYS)  # the targets ec2d serves
UNSERVED = ("TransitGatewayId", "LocalGatewayId", "CarrierGatewayId", "VpcEndpointId", "CoreNetworkArn")
IPV6_TARGETS = ("GatewayId", "EgressOnlyInternetGatewayId", "VpcPeeringConnectionId")  # IPv6 routes ec2d carries
EIGW = "EgressOnlyInternetGatewayId"


def _different_networks(table: Record[RouteTableData], target: str) -> errors.ApiError:
    return errors.InvalidParameterValue(f"route table {table.id} and network gateway {target} belong to "
                                        "different networks")


def _eigw_target(backend: Backend, region: str, table: Record[RouteTableData], eigw_id: str,
                 ipv6: bool) -> dict[str, str]:
    gateway = lookup.egress_only_internet_gateway(backend, region, eigw_id)
    if gateway.data["VpcId"] != table.data["VpcId"]:
        raise _different_networks(table, eigw_id)
    if not ipv6:
        raise errors.InvalidParameterValue(f"Route target {eigw_id} is an egress-only internet gateway, which "
                                           "supports IPv6 destinations only (destinationIpv6CidrBlock).")
    return {EIGW: eigw_id}


def _target(backend: Backend, region: str, table: Record[RouteTableData], req: Mapping[str, Any],
            ipv6: bool = False) -> dict[str, str]:
    """The route's target fields, checked: exactly one target, of this region and the table's VPC
    (``ipv6``: the destination is an IPv6 CIDR)."""
    named = [k for k in (*TARGETS, *UNSERVED) if req.get(k)]
    if not named:
        raise errors.ApiError("The request must contain exactly one of gatewayId, natGatewayId, instanceId, "
                              "networkInterfaceId, vpcPeeringConnectionId, transitGatewayId", code="MissingParameter")
    if len(named) > 1:
        raise errors.InvalidParameterCombination("The parameter " + " and ".join(named) + " cannot be used together")
    key, value = named[0], str(req[named[0]])
    if key in UNSERVED:
        raise errors.ApiError(f"ec2d does not serve routes to {key} targets.", code="UnsupportedOperation")
    if ipv6 and key not in IPV6_TARGETS:
        raise errors.ApiError(f"ec2d does not serve IPv6 routes to {key} targets (only to internet gateways, "
                              "egress-only internet gateways and peering connections).", code="UnsupportedOperation")
    if key == EIGW:
        return _eigw_target(backend, region, table, value, ipv6)
    if key == "GatewayId":
        if not value.startswith("igw-"):
            raise errors.NotFound("InvalidGatewayID.NotFound", f"The gateway ID '{value}' does not exist")
        igw = lookup.internet_gateway(backend, region, value)
        if not any(a["VpcId"] == table.data["VpcId"] for a in igw.data["Attachments"]):
            raise _different_networks(table, value)
        return {"GatewayId": value}
    if key == "VpcPeeringConnectionId":
        return {"VpcPeeringConnectionId": _peering_target(backend, region, table, value)}
    if key in route_enis.KEYS:
        return route_enis.target(backend, region, table, key, value)
    try:
        nat = lookup.nat_gateway(backend, region, value)
    except errors.NotFound:
        raise errors.NotFound("InvalidNatGatewayID.NotFound", f"The natGateway ID '{value}' does not exist") from None
    if nat.state in (NatGatewayState.DELETING, NatGatewayState.DELETED, NatGatewayState.FAILED):
        raise errors.NotFound("InvalidNatGatewayID.NotFound", f"The natGateway ID '{value}' does not exist")
    if nat.data["VpcId"] != table.data["VpcId"]:
        raise _different_networks(table, value)
    return {"NatGatewayId": value}


def _peering_target(backend: Backend, region: str, table: Record[RouteTableData], pcx_id: str) -> str:
    """A peering connection of the table's VPC that is not gone (a route to a pending one is a
    blackhole until it is accepted, as on EC2)."""
    record = vpc_peering.get(backend, region, pcx_id)
    if record.state in peering.GONE:
        raise lookup.LOOKUPS["pcx"].missing(pcx_id)
    if peering.other_side(record.data, table.data["VpcId"]) is None:
        raise _different_networks(table, pcx_id)
    return pcx_id


def create_route(backend: Backend, region: str, rtb_id: str, destination: str | None,
                 gateway_id: str | None = None, req: Mapping[str, Any] | None = None) -> str:
    """CreateRoute; returns the id of the VPC whose network must follow. The target is
    ``gateway_id`` or one of ``req``'s target parameters."""
    dest = destinations.of(backend, region, destination, req)
    table = lookup.route_table(backend, region, rtb_id)
    target = _target(backend, region, table, dict(req or {}, GatewayId=gateway_id) if gateway_id else (req or {}),
                     destinations.is_ipv6(dest))
    if any(destinations.matches(r, dest) for r in table.data["Routes"]) or _is_local6(backend, table, dest):
        raise errors.ApiError(f"The route identified by {destinations.label(dest)} already exists.",
                              code="RouteAlreadyExists")
    route_enis.check_inside(backend.store.get(table.data["VpcId"]), dest, target)
    route: Route = {"State": "active", "Origin": "CreateRoute"}  # type: ignore[typeddict-item]
    route.update(dest)  # type: ignore[typeddict-item]
    route.update(target)  # type: ignore[typeddict-item]
    table.data["Routes"].append(route)
    backend.store.update(table)
    return str(table.data["VpcId"])


def replace_route(backend: Backend, region: str, rtb_id: str, destination: str | None,
                  req: Mapping[str, Any]) -> str:
    """ReplaceRoute: the route to ``destination`` gets the request's target; returns the VPC."""
    dest = destinations.of(backend, region, destination, req)
    table = lookup.route_table(backend, region, rtb_id)
    target = _target(backend, region, table, req, destinations.is_ipv6(dest))
    if _is_local6(backend, table, dest):
        raise errors.InvalidParameterValue(f"The local route for {destinations.label(dest)} cannot be replaced")
    for n, r in enumerate(table.data["Routes"]):
        if destinations.matches(r, dest):
            if r.get("GatewayId") == "local":
                raise errors.InvalidParameterValue(f"The local route for {destinations.label(dest)} cannot be replaced")
            route_enis.check_inside(backend.store.get(table.data["VpcId"]), dest, target)
            route: Route = {"State": "active", "Origin": "CreateRoute"}  # type: ignore[typeddict-item]
            route.update(dest)  # type: ignore[typeddict-item]
            route.update(target)  # type: ignore[typeddict-item]
            table.data["Routes"][n] = route
            backend.store.update(table)
            return str(table.data["VpcId"])
    raise errors.InvalidParameterValue(f"There is no route defined for '{destinations.label(dest)}' in the route "
                                       "table. Use CreateRoute instead.")


def delete_route(backend: Backend, region: str, rtb_id: str, req: Mapping[str, Any] | str) -> str:
    """DeleteRoute of ``req``'s destination (a CIDR, an IPv6 CIDR or a prefix list; not a local
    route, nor a gateway endpoint's route: ModifyVpcEndpoint removes those); returns the id of the
    VPC whose network must follow. (``req`` a string: an IPv4 destination.)"""
    dest = _delete_destination({destinations.CIDR: req} if isinstance(req, str) else req)  # EC2 checks it first
    table = lookup.route_table(backend, region, rtb_id)
    if _is_local6(backend, table, dest):
        raise errors.InvalidParameterValue(f"cannot remove local route {destinations.label(dest)} in route table "
                                           f"{rtb_id}")
    kept = [r for r in table.data["Routes"] if not destinations.matches(r, dest) or r.get("GatewayId") == "local"
            or str(r.get("GatewayId", "")).startswith("vpce-")]
    if len(kept) == len(table.data["Routes"]):
        raise errors.NotFound("InvalidRoute.NotFound", f"no route with {destinations.filter_name(dest)} "
                              f"{destinations.label(dest)} in route table {rtb_id}")
    table.data["Routes"] = kept
    backend.store.update(table)
    return str(table.data["VpcId"])


def _delete_destination(req: Mapping[str, Any]) -> dict[str, str]:
    """DeleteRoute's destination as stored (the IPv6 one normalised: EC2 stores it so)."""
    for key in (destinations.CIDR, destinations.CIDR6, destinations.LIST):
        if req.get(key):
            value = str(req[key])
            if key == destinations.CIDR6:
                value = destinations.cidr6(value)
            return {key: value}
    raise errors.MissingParameter("DestinationCidrBlock, DestinationIpv6CidrBlock or DestinationPrefixListId")


def _is_local6(backend: Backend, table: Record[RouteTableData], dest: Mapping[str, str]) -> bool:
    """``dest`` is one of the VPC's IPv6 blocks (its ``local`` route, kept by the VPC)."""
    if not destinations.is_ipv6(dest):
        return False
    vpc = backend.store.get(table.data["VpcId"])
    return vpc is not None and dest[destinations.CIDR6] in vpc_ipv6.vpc_blocks(vpc)  # type: ignore[arg-type]


def associate_route_table(backend: Backend, region: str, rtb_id: str, subnet_id: str) -> tuple[str, str]:
    """AssociateRouteTable; returns the association id and the VPC whose network must follow."""
    table = lookup.route_table(backend, region, rtb_id)
    subnet = lookup.subnet(backend, region, subnet_id)
    if subnet.data["VpcId"] != table.data["VpcId"]:
        raise errors.InvalidParameterValue(f"Route table {rtb_id} and subnet {subnet_id} belong to different networks")
    for other in backend.store.list(RTB, region):
        if any(a.get("SubnetId") == subnet_id for a in other.data["Associations"]):
            raise errors.ApiError(f"the specified association for route table {other.id} conflicts with an "
                                  "existing association", code="Resource.AlreadyAssociated")
    assoc_id = ids.new_id("rtbassoc")
    table.data["Associations"].append({"RouteTableAssociationId": assoc_id, "RouteTableId": rtb_id,
                                       "SubnetId": subnet_id, "Main": False,
                                       "AssociationState": {"State": "associated"}})
    backend.store.update(table)
    return assoc_id, str(table.data["VpcId"])


def _association(backend: Backend, region: str, assoc_id: str) -> tuple[Record[RouteTableData], dict[str, Any]]:
    ids.check(assoc_id, "rtbassoc")
    for table in backend.store.list(RTB, region):
        for a in table.data["Associations"]:
            if a["RouteTableAssociationId"] == assoc_id:
                return table, a  # type: ignore[return-value]
    raise errors.NotFound("InvalidAssociationID.NotFound", f"The association ID '{assoc_id}' does not exist")


def disassociate_route_table(backend: Backend, region: str, assoc_id: str) -> Record:
    table, a = _association(backend, region, assoc_id)
    if a.get("Main"):
        raise errors.InvalidParameterValue("cannot disassociate the main route table association")
    table.data["Associations"].remove(a)  # type: ignore[arg-type]
    backend.store.update(table)
    return table


def replace_route_table_association(backend: Backend, region: str, assoc_id: str, rtb_id: str) -> tuple[str, str]:
    """ReplaceRouteTableAssociation: the subnet (or the VPC's main association) moves to table
    ``rtb_id`` under a new association id; returns it and the VPC whose network must follow."""
    with backend.store.transaction():
        old, a = _association(backend, region, assoc_id)
        table = lookup.route_table(backend, region, rtb_id)
        if table.data["VpcId"] != old.data["VpcId"]:
            raise errors.InvalidParameterValue(f"Route table {rtb_id} and association {assoc_id} belong to "
                                               "different networks")
        new = dict(a, RouteTableAssociationId=ids.new_id("rtbassoc"), RouteTableId=rtb_id)
        old.data["Associations"].remove(a)  # type: ignore[arg-type]
        backend.store.update(old)
        table = lookup.route_table(backend, region, rtb_id)  # ``old`` itself when replaced by the same table
        table.data["Associations"].append(new)  # type: ignore[arg-type]
        backend.store.update(table)
    return str(new["RouteTableAssociationId"]), str(table.data["VpcId"])


# ---------------------------------------------------------------------------------------------
# the actions: the decision above, then the VPC's network follows before the API call answers


async def _follow(backend: Backend, region: str, vpc_id: str) -> None:
    await backend.runtime.sync_vpc(region, vpc_id)


async def create_route_live(backend: Backend, region: str, rtb_id: str, destination: str | None,
                            gateway_id: str | None = None, req: Mapping[str, Any] | None = None) -> None:
    """CreateRoute (``destination`` is required; EC2 checks it before the table)."""
    await _follow(backend, region, create_route(backend, region, rtb_id, destination, gateway_id, req))


async def replace_route_live(backend: Backend, region: str, rtb_id: str, destination: str | None,
                             req: Mapping[str, Any]) -> None:
    """ReplaceRoute."""
    await _follow(backend, region, replace_route(backend, region, rtb_id, destination, req))


async def delete_route_live(backend: Backend, region: str, rtb_id: str, req: Mapping[str, Any] | str) -> None:
    """DeleteRoute."""
    await _follow(backend, region, delete_route(backend, region, rtb_id, req))


async def associate_route_table_live(backend: Backend, region: str, rtb_id: str, subnet_id: str | None) -> str:
    """AssociateRouteTable; returns the association id."""
    if not subnet_id:
        raise errors.MissingParameter("SubnetId")
    assoc_id, vpc_id = associate_route_table(backend, region, rtb_id, subnet_id)
    await _follow(backend, region, vpc_id)
    return assoc_id


async def disassociate_route_table_live(backend: Backend, region: str, assoc_id: str) -> Record:
    """DisassociateRouteTable; returns the table the subnet left."""
    table = disassociate_route_table(backend, region, assoc_id)
    await _follow(backend, region, table.data["VpcId"])
    return table


async def replace_route_table_association_live(backend: Backend, region: str, assoc_id: str, rtb_id: str) -> str:
    """ReplaceRouteTableAssociation; returns the new association id."""
    new_id, vpc_id = replace_route_table_association(backend, region, assoc_id, rtb_id)
    await _follow(backend, region, vpc_id)
    return new_id
