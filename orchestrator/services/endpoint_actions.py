"""The VPC endpoint actions: CreateVpcEndpoint, DescribeVpcEndpoints, ModifyVpcEndpoint and
DeleteVpcEndpoints for both kinds, Gateway (``vpc_endpoints``: S3, routes in route tables) and
Interface (``interface_endpoints``: ENIs in subnets). Every change is recorded, then the VPC's
network follows before the call answers (the ``*_live`` actions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain.vpc_endpoints import VPC_ENDPOINT, VpcEndpointData
from orchestrator.domain.vpc_endpoints import VpcEndpointState as VE
from orchestrator.services import interface_endpoints, lookup, vpc_endpoints
from orchestrator.services import tags as tag_service
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record


def create(backend: Backend, region: str, req: Mapping[str, Any]) -> tuple[Record[VpcEndpointData], dict[str, str]]:
    """CreateVpcEndpoint's decision: the endpoint ``pending`` with its routes (Gateway) or its
    network interfaces (Interface) in place; the same ``ClientToken`` again returns the endpoint
    it made."""
    _, service, tags, policy = vpc_endpoints.check_create(backend, region, req)
    with backend.store.transaction():
        same = vpc_endpoints.made_with(backend, region, req.get("ClientToken"))
        if same is not None:
            return same, backend.store.tags_of(same.id)
        if service is not None:
            return interface_endpoints.create(backend, region, req, service, tags, policy), tags
        return vpc_endpoints.create_gateway(backend, region, req, tags, policy), tags


def rendered(backend: Backend, record: Record[VpcEndpointData], tags: Mapping[str, str]) -> dict[str, Any]:
    """An endpoint as DescribeVpcEndpoints shows it (an Interface endpoint's part read from the store)."""
    interface = record.data["VpcEndpointType"] == "Interface"
    return vpc_endpoints.describe_one(record, tags, interface_endpoints.describe_part(backend, record)
                                      if interface else None)


def describe(backend: Backend, region: str, vpce_ids: Sequence[str] | None) -> list[dict[str, Any]]:
    """DescribeVpcEndpoints' items (the filters and pages are the handler's)."""
    records = [r for r in backend.store.list(VPC_ENDPOINT, region) if r.state != str(VE.DELETED)]
    return tag_service.rendered(backend, region, VPC_ENDPOINT, lookup.select(records, vpce_ids, "vpce"),
                                lambda r, tags: rendered(backend, r, tags))


def modify(backend: Backend, region: str, req: Mapping[str, Any]) -> Record[VpcEndpointData]:
    """ModifyVpcEndpoint's decision: route tables (Gateway) or subnets, security groups and private
    DNS (Interface) added and removed, the policy replaced or reset to full access."""
    vpc_endpoints.check_modify(req)
    with backend.store.transaction():
        record = vpc_endpoints.live(backend, region, req["VpcEndpointId"])
        if record.data["VpcEndpointType"] == "Interface":
            interface_endpoints.modify(backend, region, record, req)
        else:
            vpc_endpoints.modify_gateway(backend, region, record, req)
        vpc_endpoints.modify_policy(record, req)
        backend.store.update(record)
    return record


async def create_live(backend: Backend, region: str, req: Mapping[str, Any]) -> tuple[Record[VpcEndpointData], dict[str, str]]:
    """CreateVpcEndpoint: recorded, the VPC follows, then ``available``."""
    record, tags = create(backend, region, req)
    if record.state == str(VE.PENDING):
        try:
            await backend.runtime.sync_vpc(region, record.data["VpcId"])
        except BaseException:
            backend.store.transition(record.id, str(VE.PENDING), str(VE.FAILED))
            raise
        record = backend.store.transition(record.id, str(VE.PENDING), str(VE.AVAILABLE))
    return record, tags


async def modify_live(backend: Backend, region: str, req: Mapping[str, Any]) -> Record[VpcEndpointData]:
    record = modify(backend, region, req)
    await backend.runtime.sync_vpc(region, record.data["VpcId"])
    return record


async def delete_live(backend: Backend, region: str, vpce_ids: Sequence[str]) -> list[dict[str, Any]]:
    """DeleteVpcEndpoints: routes and ENIs go with the endpoints, then their VPCs follow."""
    return await vpc_endpoints.delete_live(backend, region, vpce_ids)
