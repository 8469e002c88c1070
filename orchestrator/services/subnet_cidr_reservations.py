"""Subnet CIDR reservations: Create/Delete/GetSubnetCidrReservations, and the blocks a subnet's
address allocation (``vpcs.allocate_address``) keeps out of automatic assignment. The rules are
:mod:`domain.subnet_cidr_reservations`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.domain import errors, ids
from orchestrator.domain.lifecycle import AVAILABLE
from orchestrator.domain.records import SubnetData
from orchestrator.domain.subnet_cidr_reservations import (
    EXPLICIT,
    SUBNET_CIDR_RESERVATION,
    SubnetCidrReservationData,
    check_new,
)
from orchestrator.services import lookup
from orchestrator.services import tags as tag_service
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record


def of_subnet(backend: Backend, subnet: Record[SubnetData]) -> list[Record[SubnetCidrReservationData]]:
    return [r for r in backend.store.list(SUBNET_CIDR_RESERVATION, subnet.region) if r.data["SubnetId"] == subnet.id]


def blocks(backend: Backend, subnet: Record[SubnetData]) -> tuple[list[str], list[str]]:
    """(every reserved block of the subnet, the ``explicit`` ones among them)."""
    found = of_subnet(backend, subnet)
    return [r.data["Cidr"] for r in found], [r.data["Cidr"] for r in found if r.data["ReservationType"] == EXPLICIT]


def create_tagged(backend: Backend, region: str, subnet_id: str, cidr: str, reservation_type: str,
                  description: str | None, tags: Mapping[str, str]) -> Record[SubnetCidrReservationData]:
    with backend.store.transaction():
        subnet = lookup.subnet(backend, region, subnet_id)
        if not subnet.data.get("CidrBlock"):  # IPv6-only
            raise errors.InvalidParameterValue(f"Subnet '{subnet_id}' is IPv6-only: it has no IPv4 CIDR to reserve in.")
        net = check_new(subnet_id, subnet.data["CidrBlock"], cidr, reservation_type,
                        [r.data["Cidr"] for r in of_subnet(backend, subnet)])
        data: SubnetCidrReservationData = {"SubnetId": subnet_id, "Cidr": str(net), "ReservationType": reservation_type,
                                           "OwnerId": backend.account_id}
        if description is not None:
            data["Description"] = description
        record = Record[SubnetCidrReservationData](id=ids.new_id("scr"), type=SUBNET_CIDR_RESERVATION, region=region,
                                                   state=AVAILABLE, data=data)
        backend.store.insert(record, tags or None)
    return record


def delete(backend: Backend, region: str, reservation_id: str) -> tuple[Record[SubnetCidrReservationData], dict[str, str]]:
    """DeleteSubnetCidrReservation; returns the reservation and its tags as they were."""
    record: Record[SubnetCidrReservationData] = lookup.get(backend, region, "scr", reservation_id)
    tags = backend.store.tags_of(record.id)
    backend.store.delete(record.id)
    return record, tags


def delete_with_subnet(backend: Backend, subnet: Record[SubnetData]) -> None:
    """A deleted subnet's reservations go with it (call inside the subnet's delete transaction)."""
    for r in of_subnet(backend, subnet):
        backend.store.delete(r.id)


def describe_one(record: Record[SubnetCidrReservationData], tags: Mapping[str, str]) -> dict[str, Any]:
    d = record.data
    out = {"SubnetCidrReservationId": record.id, "SubnetId": d["SubnetId"], "Cidr": d["Cidr"],
           "ReservationType": d["ReservationType"], "OwnerId": d["OwnerId"],
           **tag_service.tags_member(dict(tags))}
    if "Description" in d:
        out["Description"] = d["Description"]
    return out


def describe(backend: Backend, region: str, subnet_id: str | None) -> list[dict[str, Any]]:
    """GetSubnetCidrReservations' IPv4 reservations (of ``subnet_id``, when given: checked)."""
    if subnet_id is not None:
        lookup.subnet(backend, region, subnet_id)
    records = [r for r in backend.store.list(SUBNET_CIDR_RESERVATION, region)
               if subnet_id is None or r.data["SubnetId"] == subnet_id]
    return tag_service.rendered(backend, region, SUBNET_CIDR_RESERVATION, records, describe_one)
