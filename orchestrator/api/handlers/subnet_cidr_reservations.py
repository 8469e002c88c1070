"""Subnet CIDR reservations: Create/Delete/GetSubnetCidrReservations."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import respond
from orchestrator.api.registry import action
from orchestrator.domain.subnet_cidr_reservations import SUBNET_CIDR_RESERVATION
from orchestrator.services import subnet_cidr_reservations as scr
from orchestrator.services import tags as tag_service


@action("CreateSubnetCidrReservation")
def create_subnet_cidr_reservation(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), SUBNET_CIDR_RESERVATION)
    record = scr.create_tagged(ctx.backend, ctx.region, req["SubnetId"], req["Cidr"], req["ReservationType"],
                               req.get("Description"), tags)
    return {"SubnetCidrReservation": scr.describe_one(record, tags)}


@action("DeleteSubnetCidrReservation")
def delete_subnet_cidr_reservation(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    record, tags = scr.delete(ctx.backend, ctx.region, req["SubnetCidrReservationId"])
    return {"DeletedSubnetCidrReservation": scr.describe_one(record, tags)}


_FILTERS = {
    "reservationType": lambda r: r["ReservationType"], "reservation-type": lambda r: r["ReservationType"],
    "subnet-id": lambda r: r["SubnetId"], "subnetId": lambda r: r["SubnetId"],
    "owner-id": lambda r: r["OwnerId"], "ownerId": lambda r: r["OwnerId"],
    "cidr": lambda r: r["Cidr"],
    "subnet-cidr-reservation-id": lambda r: r["SubnetCidrReservationId"],
}


@action("GetSubnetCidrReservations")
def get_subnet_cidr_reservations(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = scr.describe(ctx.backend, ctx.region, req.get("SubnetId"))
    out = respond(req, items, _FILTERS, "SubnetIpv4CidrReservations", page=(5, 1000))
    out["SubnetIpv6CidrReservations"] = []  # ec2d's subnets have no IPv6 block
    return out
