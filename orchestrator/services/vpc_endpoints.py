"""Gateway VPC endpoints for S3: Create/Describe/Modify/DeleteVpcEndpoints,
DescribeVpcEndpointServices.

A gateway endpoint puts the route ``DestinationPrefixListId=pl-(com.amazonaws.REGION.s3) ->
GatewayId=vpce-...`` (Origin ``CreateRoute``) in each of its route tables; the subnets of those
tables then reach S3's address through it (``runtime/service_access``), and S3 requests that
arrive through it are evaluated against its policy too (``services/s3_access``). Every change is
recorded, then the VPC's network follows before the call answers (the ``*_live`` actions).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import errors, ids
from orchestrator.domain import vpc_endpoints as ved
from orchestrator.domain.records import RTB
from orchestrator.domain.route_records import Route
from orchestrator.domain.vpc_endpoints import VPC_ENDPOINT, VpcEndpointData
from orchestrator.domain.vpc_endpoints import VpcEndpointState as VE
from orchestrator.services import lookup
from orchestrator.services import tags as tag_service
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

_GONE = (str(VE.DELETING), str(VE.DELETED))
ROUTING = (str(VE.PENDING), str(VE.AVAILABLE))  # states whose routes carry traffic (pending: being followed)


def _regions(backend: Backend) -> list[str]:
    return list(backend.config.regions)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def routing(backend: Backend, region: str, vpc_id: str) -> list[Record[VpcEndpointData]]:
    """The VPC's endpoints whose routes carry traffic."""
    return [e for e in backend.store.list(VPC_ENDPOINT, region) if e.data["VpcId"] == vpc_id and e.state in ROUTING]


def of_vpc(backend: Backend, region: str, vpc_id: str) -> list[Record[VpcEndpointData]]:
    """The VPC's endpoints that still exist (DeleteVpc waits for them to go)."""
    return [e for e in backend.store.list(VPC_ENDPOINT, region) if e.data["VpcId"] == vpc_id and e.state != str(VE.DELETED)]


def _tables(backend: Backend, region: str, vpc_id: str, rtb_ids: Sequence[str]) -> list[str]:
    """The named route tables, each of ``vpc_id`` (EC2's errors otherwise)."""
    out = []
    for rtb_id in dict.fromkeys(rtb_ids):
        table = lookup.route_table(backend, region, rtb_id)
        if table.data["VpcId"] != vpc_id:
            raise errors.InvalidParameterValue(f"The route table {rtb_id} does not belong to the vpc {vpc_id}")
        out.append(rtb_id)
    return out


def _add_route(backend: Backend, region: str, rtb_id: str, pl_id: str, vpce_id: str) -> None:
    table = lookup.route_table(backend, region, rtb_id)
    if any(r.get("DestinationPrefixListId") == pl_id for r in table.data["Routes"]):
        raise errors.ApiError(f"route table {rtb_id} already has a route with destination-prefix-list-id {pl_id}",
                              code="RouteAlreadyExists")
    route: Route = {"DestinationPrefixListId": pl_id, "GatewayId": vpce_id, "State": "active", "Origin": "CreateRoute"}
    table.data["Routes"].append(route)
    backend.store.update(table)


def _remove_route(backend: Backend, region: str, rtb_id: str, vpce_id: str) -> None:
    table = backend.store.get(rtb_id)
    if table is None or table.type != RTB:
        return  # the table went first
    table.data["Routes"] = [r for r in table.data["Routes"] if r.get("GatewayId") != vpce_id]
    backend.store.update(table)


def _gateway_only(subnets: Any, groups: Any) -> None:
    """EC2's refusal of an Interface endpoint's parameters for a Gateway endpoint."""
    if subnets:
        raise errors.ApiError("Subnet IDs are only supported for Interface and GatewayLoadBalancer type VPC Endpoints.",
                              code="InvalidParameter")
    if groups:
        raise errors.ApiError("Security group IDs are only supported for Interface type VPC Endpoints.",
                              code="InvalidParameter")


def create(backend: Backend, region: str, req: Mapping[str, Any]) -> tuple[Record[VpcEndpointData], dict[str, str]]:
    """CreateVpcEndpoint's decision: the endpoint ``pending`` with its routes in place; the same
    ``ClientToken`` again returns the endpoint it made."""
    kind = ved.endpoint_type(req.get("VpcEndpointType"))
    if not req.get("ServiceName"):
        raise errors.MissingParameter("ServiceName")
    service_region = ved.service_region(req["ServiceName"], _regions(backend))
    if service_region != region:
        raise errors.ApiError(f"The Vpc Endpoint Service '{req['ServiceName']}' does not exist",
                              code="InvalidServiceName")
    _gateway_only(req.get("SubnetIds"), req.get("SecurityGroupIds"))
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), VPC_ENDPOINT)
    policy = ved.policy_document(req.get("PolicyDocument"))
    token = req.get("ClientToken")
    with backend.store.transaction():
        for other in backend.store.list(VPC_ENDPOINT, region) if token else []:
            if other.data.get("ClientToken") == token:
                return other, backend.store.tags_of(other.id)
        vpc = lookup.vpc(backend, region, req["VpcId"])
        tables = _tables(backend, region, vpc.id, req.get("RouteTableIds") or [])
        data = VpcEndpointData(VpcEndpointType=kind, VpcId=vpc.id, ServiceName=req["ServiceName"],
                               PolicyDocument=policy, RouteTableIds=tables, OwnerId=backend.account_id,
                               CreationTimestamp=_now())
        if token:
            data["ClientToken"] = token
        record = Record[VpcEndpointData](id=ids.new_id("vpce"), type=VPC_ENDPOINT, region=region,
                                         state=str(VE.PENDING), data=data)
        backend.store.insert(record, tags or None)
        for rtb_id in tables:
            _add_route(backend, region, rtb_id, ved.s3_prefix_list_id(region), record.id)
    return record, tags


def describe_one(record: Record[VpcEndpointData], tags: Mapping[str, str]) -> dict[str, Any]:
    d = record.data
    return {"VpcEndpointId": record.id, "VpcEndpointType": d["VpcEndpointType"], "VpcId": d["VpcId"],
            "ServiceName": d["ServiceName"], "State": record.state, "PolicyDocument": d["PolicyDocument"],
            "RouteTableIds": list(d["RouteTableIds"]), "SubnetIds": [], "Groups": [], "IpAddressType": "ipv4",
            "PrivateDnsEnabled": False, "RequesterManaged": False, "NetworkInterfaceIds": [], "DnsEntries": [],
            "CreationTimestamp": d["CreationTimestamp"], "Tags": tag_service.tag_list(tags), "OwnerId": d["OwnerId"]}


def describe(backend: Backend, region: str, vpce_ids: Sequence[str] | None) -> list[dict[str, Any]]:
    """DescribeVpcEndpoints' items (the filters and pages are the handler's)."""
    records = [r for r in backend.store.list(VPC_ENDPOINT, region) if r.state != str(VE.DELETED)]
    return tag_service.rendered(backend, region, VPC_ENDPOINT, lookup.select(records, vpce_ids, "vpce"), describe_one)


def modify(backend: Backend, region: str, req: Mapping[str, Any]) -> Record[VpcEndpointData]:
    """ModifyVpcEndpoint's decision: route tables added and removed (with their routes), the
    policy replaced or reset to full access."""
    if req.get("ResetPolicy") and req.get("PolicyDocument") is not None:
        raise errors.InvalidParameterCombination("The parameters ResetPolicy and PolicyDocument cannot be used together")
    _gateway_only(req.get("AddSubnetIds"), req.get("AddSecurityGroupIds"))
    with backend.store.transaction():
        record = lookup.vpc_endpoint(backend, region, req["VpcEndpointId"])
        if record.state in _GONE:
            raise lookup.LOOKUPS["vpce"].missing(record.id)
        data = record.data
        pl_id = ved.s3_prefix_list_id(region)
        tables = list(data["RouteTableIds"])
        for rtb_id in _tables(backend, region, data["VpcId"], req.get("RemoveRouteTableIds") or []):
            if rtb_id in tables:
                tables.remove(rtb_id)
                _remove_route(backend, region, rtb_id, record.id)
        for rtb_id in _tables(backend, region, data["VpcId"], req.get("AddRouteTableIds") or []):
            if rtb_id not in tables:
                _add_route(backend, region, rtb_id, pl_id, record.id)
                tables.append(rtb_id)
        changes: dict[str, Any] = {"RouteTableIds": tables}
        if req.get("ResetPolicy"):
            changes["PolicyDocument"] = ved.policy_document(None)
        elif req.get("PolicyDocument") is not None:
            changes["PolicyDocument"] = ved.policy_document(req["PolicyDocument"])
        record.data.update(changes)  # type: ignore[typeddict-item]
        backend.store.update(record)
    return record


def delete(backend: Backend, region: str, vpce_ids: Sequence[str]) -> tuple[list[dict[str, Any]], set[str]]:
    """DeleteVpcEndpoints' decision: each endpoint's routes removed and the endpoint ``deleted``;
    returns the ``Unsuccessful`` items (an unknown or malformed id) and the VPCs that follow."""
    unsuccessful: list[dict[str, Any]] = []
    vpcs: set[str] = set()
    for vpce_id in vpce_ids:
        try:
            with backend.store.transaction():
                record = lookup.vpc_endpoint(backend, region, vpce_id)
                if record.state in _GONE:
                    raise lookup.LOOKUPS["vpce"].missing(record.id)
                for rtb_id in record.data["RouteTableIds"]:
                    _remove_route(backend, region, rtb_id, record.id)
                record = backend.store.transition(record.id, record.state, str(VE.DELETING), {"RouteTableIds": []})
                backend.store.transition(record.id, str(VE.DELETING), str(VE.DELETED))
                backend.store.delete(record.id)  # its tags with it
                vpcs.add(record.data["VpcId"])
        except errors.ApiError as exc:
            unsuccessful.append({"Error": {"Code": exc.code, "Message": exc.message}, "ResourceId": vpce_id})
    return unsuccessful, vpcs


def remove_table(backend: Backend, region: str, rtb_id: str) -> None:
    """A deleted route table leaves the endpoints that named it (as on EC2)."""
    for e in backend.store.list(VPC_ENDPOINT, region):
        if rtb_id in e.data["RouteTableIds"]:
            e.data["RouteTableIds"] = [t for t in e.data["RouteTableIds"] if t != rtb_id]
            backend.store.update(e)


def services(backend: Backend, region: str, names: Sequence[str] | None) -> list[dict[str, Any]]:
    """DescribeVpcEndpointServices' ``ServiceDetails``: S3 (Gateway) in this region."""
    zones = [z.name for z in backend.regions.get(region).zones] if backend.regions.get(region) else []
    details = [{"ServiceName": ved.s3_service(region), "ServiceId": "vpce-svc-" + ved.s3_prefix_list_id(region)[3:],
                "ServiceType": [{"ServiceType": "Gateway"}], "ServiceRegion": region,
                "AvailabilityZones": zones, "Owner": "amazon",
                "BaseEndpointDnsNames": [f"s3.{region}.amazonaws.com"], "VpcEndpointPolicySupported": True,
                "AcceptanceRequired": False, "ManagesVpcEndpoints": False, "Tags": [],
                "SupportedIpAddressTypes": ["ipv4"]}]
    for name in names or []:
        if not any(d["ServiceName"] == name for d in details):
            raise errors.ApiError(f"The Vpc Endpoint Service '{name}' does not exist", code="InvalidServiceName")
    return [d for d in details if not names or d["ServiceName"] in names]


# ---------------------------------------------------------------------------------------------
# the actions: the decision above, then the VPC's network follows before the API call answers


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
    unsuccessful, vpcs = delete(backend, region, vpce_ids)
    for vpc_id in sorted(vpcs):
        await backend.runtime.sync_vpc(region, vpc_id)
    return unsuccessful
