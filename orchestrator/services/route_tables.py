"""Routes and route-table associations: CreateRoute, ReplaceRoute, DeleteRoute, Associate /
Disassociate / ReplaceRouteTableAssociation (the model side, and the ``*_live`` actions that have
the VPC's network follow before the API call answers).

A route's target is an internet gateway (``GatewayId``), a NAT gateway (``NatGatewayId``), a
peering connection, or an instance or network interface (``services/route_enis``) of the table's VPC. A target that goes away leaves the route in place, shown as ``blackhole`` (see
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
from orchestrator.services import lookup, route_enis, vpc_peering
from orchestrator.services import route_destinations as destinations
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

TARGETS = ("GatewayId", "NatGatewayId", "VpcPeeringConnectionId", *route_enis.KEYS)  # the targets ec2d serves
UNSERVED = ("TransitGatewayId",
            "LocalGatewayId", "CarrierGatewayId", "EgressOnlyInternetGatewayId", "VpcEndpointId",
            "CoreNetworkArn")


def _target(backend: Backend, region: str, table: Record[RouteTableData], req: Mapping[str, Any]) -> dict[str, str]:
    """The route's target fields, checked: exactly one target, of this region and the table's VPC."""
    named = [k for k in (*TARGETS, *UNSERVED) if req.get(k)]
    if not named:
        raise errors.ApiError("The request must contain exactly one of gatewayId, natGatewayId, instanceId, "
                              "networkInterfaceId, vpcPeeringConnectionId, transitGatewayId", code="MissingParameter")
    if len(named) > 1:
        raise errors.InvalidParameterCombination("The parameter " + " and ".join(named) + " cannot be used together")
    key, value = named[0], str(req[named[0]])
    if key in UNSERVED:
        raise errors.ApiError(f"ec2d does not serve routes to {key} targets.", code="UnsupportedOperation")
    if key == "GatewayId":
        if not value.startswith("igw-"):
            raise errors.NotFound("InvalidGatewayID.NotFound", f"The gateway ID '{value}' does not exist")
        igw = lookup.internet_gateway(backend, region, value)
        if not any(a["VpcId"] == table.data["VpcId"] for a in igw.data["Attachments"]):
            raise errors.InvalidParameterValue(f"route table {table.id} and network gateway {value} belong to "
                                               "different networks")
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
        raise errors.InvalidParameterValue(f"route table {table.id} and network gateway {value} belong to "
                                           "different networks")
    return {"NatGatewayId": value}


def _peering_target(backend: Backend, region: str, table: Record[RouteTableData], pcx_id: str) -> str:
    """A peering connection of the table's VPC that is not gone (a route to a pending one is a
    blackhole until it is accepted, as on EC2)."""
    record = vpc_peering.get(backend, region, pcx_id)
    if record.state in peering.GONE:
        raise lookup.LOOKUPS["pcx"].missing(pcx_id)
    if peering.other_side(record.data, table.data["VpcId"]) is None:
        raise errors.InvalidParameterValue(f"route table {table.id} and network gateway {pcx_id} belong to "
                                           "different networks")
    return pcx_id


def create_route(backend: Backend, region: str, rtb_id: str, destination: str | None,
                 gateway_id: str | None = None, req: Mapping[str, Any] | None = None) -> str:
    """CreateRoute; returns the id of the VPC whose network must follow. The target is
    ``gateway_id`` or one of ``req``'s target parameters."""
    dest = destinations.of(backend, region, destination, req)
    table = lookup.route_table(backend, region, rtb_id)
    target = _target(backend, region, table, dict(req or {}, GatewayId=gateway_id) if gateway_id else (req or {}))
    if any(destinations.matches(r, dest) for r in table.data["Routes"]):
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
    target = _target(backend, region, table, req)
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


def delete_route(backend: Backend, region: str, rtb_id: str, destination: str, pl_id: str | None = None) -> str:
    """DeleteRoute (of a CIDR or, with ``pl_id``, a prefix list; not a gateway endpoint's route:
    ModifyVpcEndpoint removes those); returns the id of the VPC whose network must follow."""
    table = lookup.route_table(backend, region, rtb_id)
    key, value = (destinations.LIST, pl_id) if pl_id else (destinations.CIDR, destination)
    kept = [r for r in table.data["Routes"] if r.get(key) != value or r.get("GatewayId") == "local"
            or str(r.get("GatewayId", "")).startswith("vpce-")]
    if len(kept) == len(table.data["Routes"]):
        name = "destination-prefix-list-id" if pl_id else "destination-cidr-block"
        raise errors.NotFound("InvalidRoute.NotFound", f"no route with {name} {value} in route table {rtb_id}")
    table.data["Routes"] = kept
    backend.store.update(table)
    return str(table.data["VpcId"])


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


async def delete_route_live(backend: Backend, region: str, rtb_id: str, destination: str,
                            pl_id: str | None = None) -> None:
    """DeleteRoute."""
    await _follow(backend, region, delete_route(backend, region, rtb_id, destination, pl_id))


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
