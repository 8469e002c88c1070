"""Egress-only internet gateways: CreateEgressOnlyInternetGateway, Describe..., Delete... (the
model side, and the ``*_live`` actions that have the VPC's network follow before the answer).

The gateway belongs to its VPC from its creation (one attachment, ``attached``). While a VPC has
one, its namespace is joined to the public network (the same link an internet gateway uses); IPv6
routes to the gateway let the subnets they serve open connections out, and only the replies come
back (``runtime/route_plan.egress6``). A deleted gateway leaves its routes in place as
``blackhole`` routes, as on EC2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import ids
from orchestrator.domain.egress_gateways import ATTACHED, EGRESS_ONLY_IGW, EgressOnlyInternetGatewayData
from orchestrator.domain.lifecycle import AVAILABLE
from orchestrator.services import lookup
from orchestrator.services import tags as tag_service
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record


def create(backend: Backend, region: str, vpc_id: str, tags: Mapping[str, str],
           token: str | None = None) -> Record[EgressOnlyInternetGatewayData]:
    """CreateEgressOnlyInternetGateway (the same ``token`` again: the gateway it made)."""
    with backend.store.transaction():
        if token:
            same = next((g for g in backend.store.list(EGRESS_ONLY_IGW, region) if g.data.get("ClientToken") == token),
                        None)
            if same is not None:
                return same
        lookup.vpc(backend, region, vpc_id)
        data: EgressOnlyInternetGatewayData = {"VpcId": vpc_id, "OwnerId": backend.account_id,
                                               "Attachments": [{"VpcId": vpc_id, "State": ATTACHED}]}
        if token:
            data["ClientToken"] = token
        record = Record[EgressOnlyInternetGatewayData](id=ids.new_id("eigw"), type=EGRESS_ONLY_IGW, region=region,
                                                       state=AVAILABLE, data=data)
        backend.store.insert(record, dict(tags))
    return record


def describe_one(record: Record[EgressOnlyInternetGatewayData], tags: Mapping[str, str]) -> dict[str, Any]:
    return {"EgressOnlyInternetGatewayId": record.id, "Attachments": [dict(a) for a in record.data["Attachments"]],
            "Tags": tag_service.tag_list(tags)}


def describe(backend: Backend, region: str, eigw_ids: Sequence[str] | None) -> list[dict[str, Any]]:
    records = lookup.select(backend.store.list(EGRESS_ONLY_IGW, region), eigw_ids, "eigw")
    return tag_service.rendered(backend, region, EGRESS_ONLY_IGW, records, describe_one)


def of_vpc(backend: Backend, region: str, vpc_id: str) -> list[Record[EgressOnlyInternetGatewayData]]:
    """The VPC's egress-only internet gateways (DeleteVpc refuses while it has one)."""
    return [g for g in backend.store.list(EGRESS_ONLY_IGW, region) if g.data["VpcId"] == vpc_id]


def delete(backend: Backend, region: str, eigw_id: str) -> str:
    """DeleteEgressOnlyInternetGateway; returns the VPC whose network must follow (its routes to
    the gateway turn ``blackhole``)."""
    record = lookup.egress_only_internet_gateway(backend, region, eigw_id)
    backend.store.delete(record.id)
    return record.data["VpcId"]


async def create_live(backend: Backend, region: str, vpc_id: str, tags: Mapping[str, str],
                      token: str | None = None) -> dict[str, Any]:
    """CreateEgressOnlyInternetGateway; returns the gateway as EC2 shows it."""
    record = create(backend, region, vpc_id, tags, token)
    await backend.runtime.sync_vpc(region, vpc_id)
    return describe_one(record, backend.store.tags_of(record.id))


async def delete_live(backend: Backend, region: str, eigw_id: str) -> None:
    await backend.runtime.sync_vpc(region, delete(backend, region, eigw_id))
