"""Gateway VPC endpoints for S3 and what every endpoint shares (the record's queries, the request's
checks, DescribeVpcEndpointServices, DeleteVpcEndpoints); the actions, which also dispatch to
Interface endpoints (``interface_endpoints``), are ``endpoint_actions``.

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
from orchestrator.domain import interface_endpoints as ife
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


def now() -> str:
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


def _service(backend: Backend, region: str, name: Any, kind: str) -> str | None:
    """The interface service (``ec2``, ``sts`` ...) a request names, None for S3 (Gateway); EC2's
    errors for a name not served in ``region`` or a type the service does not offer."""
    interface = ife.parse(name, _regions(backend))
    if interface is None:
        if ved.service_region(name, _regions(backend)) != region:
            raise errors.ApiError(f"The Vpc Endpoint Service '{name}' does not exist", code="InvalidServiceName")
        if kind == "Interface":
            raise errors.ApiError("ec2d serves S3 through Gateway endpoints only.", code="UnsupportedOperation")
        return None
    if interface[0] != region:
        raise errors.ApiError(f"The Vpc Endpoint Service '{name}' does not exist", code="InvalidServiceName")
    if kind != "Interface":
        raise ife.type_mismatch(kind, "Interface")
    return interface[1]


def check_create(backend: Backend, region: str, req: Mapping[str, Any]) -> tuple[str, str | None, dict[str, str], str]:
    """CreateVpcEndpoint's checks of its request: (type, interface service or None for S3, tags,
    policy document)."""
    kind = ved.endpoint_type(req.get("VpcEndpointType"))
    if not req.get("ServiceName"):
        raise errors.MissingParameter("ServiceName")
    service = _service(backend, region, req["ServiceName"], kind)
    if service is None:
        _gateway_only(req.get("SubnetIds"), req.get("SecurityGroupIds"))
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), VPC_ENDPOINT)
    return kind, service, tags, ved.policy_document(req.get("PolicyDocument"))


def made_with(backend: Backend, region: str, token: str | None) -> Record[VpcEndpointData] | None:
    """The endpoint an earlier CreateVpcEndpoint with ``token`` made, if any."""
    for other in backend.store.list(VPC_ENDPOINT, region) if token else []:
        if other.data.get("ClientToken") == token:
            return other
    return None


def create_gateway(backend: Backend, region: str, req: Mapping[str, Any], tags: Mapping[str, str],
                   policy: str) -> Record[VpcEndpointData]:
    """A Gateway endpoint ``pending`` with its routes in place (inside the caller's transaction)."""
    vpc = lookup.vpc(backend, region, req["VpcId"])
    tables = _tables(backend, region, vpc.id, req.get("RouteTableIds") or [])
    data = VpcEndpointData(VpcEndpointType="Gateway", VpcId=vpc.id, ServiceName=req["ServiceName"],
                           PolicyDocument=policy, RouteTableIds=tables, OwnerId=backend.account_id,
                           CreationTimestamp=now())
    if req.get("ClientToken"):
        data["ClientToken"] = req["ClientToken"]
    record = Record[VpcEndpointData](id=ids.new_id("vpce"), type=VPC_ENDPOINT, region=region,
                                     state=str(VE.PENDING), data=data)
    backend.store.insert(record, dict(tags) or None)
    for rtb_id in tables:
        _add_route(backend, region, rtb_id, ved.s3_prefix_list_id(region), record.id)
    return record


def describe_one(record: Record[VpcEndpointData], tags: Mapping[str, str],
                 interface: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An endpoint as DescribeVpcEndpoints shows it (``interface``: an Interface endpoint's part,
    ``interface_endpoints.describe_part``)."""
    d = record.data
    out = {"VpcEndpointId": record.id, "VpcEndpointType": d["VpcEndpointType"], "VpcId": d["VpcId"],
           "ServiceName": d["ServiceName"], "State": record.state, "PolicyDocument": d["PolicyDocument"],
           "RouteTableIds": list(d["RouteTableIds"]), "SubnetIds": [], "Groups": [], "IpAddressType": "ipv4",
           "PrivateDnsEnabled": False, "RequesterManaged": False, "NetworkInterfaceIds": [], "DnsEntries": [],
           "CreationTimestamp": d["CreationTimestamp"], "Tags": tag_service.tag_list(tags), "OwnerId": d["OwnerId"]}
    return {**out, **(interface or {})}


def check_modify(req: Mapping[str, Any]) -> None:
    if req.get("ResetPolicy") and req.get("PolicyDocument") is not None:
        raise errors.InvalidParameterCombination("The parameters ResetPolicy and PolicyDocument cannot be used together")


def live(backend: Backend, region: str, vpce_id: str) -> Record[VpcEndpointData]:
    """The endpoint ``vpce_id`` unless it is going (EC2's NotFound then)."""
    record = lookup.vpc_endpoint(backend, region, vpce_id)
    if record.state in _GONE:
        raise lookup.LOOKUPS["vpce"].missing(record.id)
    return record


def modify_gateway(backend: Backend, region: str, record: Record[VpcEndpointData], req: Mapping[str, Any]) -> None:
    """ModifyVpcEndpoint of a Gateway endpoint (inside the caller's transaction): route tables
    added and removed, with their routes."""
    _gateway_only(req.get("AddSubnetIds"), req.get("AddSecurityGroupIds"))
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
    data["RouteTableIds"] = tables


def modify_policy(record: Record[VpcEndpointData], req: Mapping[str, Any]) -> None:
    """The policy replaced or reset to full access."""
    if req.get("ResetPolicy"):
        record.data["PolicyDocument"] = ved.policy_document(None)
    elif req.get("PolicyDocument") is not None:
        record.data["PolicyDocument"] = ved.policy_document(req["PolicyDocument"])


def delete(backend: Backend, region: str, vpce_ids: Sequence[str]) -> tuple[list[dict[str, Any]], set[str]]:
    """DeleteVpcEndpoints' decision: each endpoint's routes removed and the endpoint ``deleted``;
    returns the ``Unsuccessful`` items (an unknown or malformed id) and the VPCs that follow."""
    unsuccessful: list[dict[str, Any]] = []
    vpcs: set[str] = set()
    for vpce_id in vpce_ids:
        try:
            with backend.store.transaction():
                record = live(backend, region, vpce_id)
                for rtb_id in record.data["RouteTableIds"]:
                    _remove_route(backend, region, rtb_id, record.id)
                for eni_id in record.data.get("NetworkInterfaceIds") or []:  # an Interface endpoint's ENIs
                    if backend.store.get(eni_id) is not None:
                        backend.store.delete(eni_id)
                record = backend.store.transition(record.id, record.state, str(VE.DELETING),
                                                  {"RouteTableIds": [], "NetworkInterfaceIds": [], "SubnetIds": []})
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
    """DescribeVpcEndpointServices' ``ServiceDetails``: S3 (Gateway) and the interface services
    (``interface_endpoints.SERVICES``) in this region."""
    zones = [z.name for z in backend.regions.get(region).zones] if backend.regions.get(region) else []
    details = [{"ServiceName": ved.s3_service(region), "ServiceId": "vpce-svc-" + ved.s3_prefix_list_id(region)[3:],
                "ServiceType": [{"ServiceType": "Gateway"}], "ServiceRegion": region,
                "AvailabilityZones": zones, "Owner": "amazon",
                "BaseEndpointDnsNames": [f"s3.{region}.amazonaws.com"], "VpcEndpointPolicySupported": True,
                "AcceptanceRequired": False, "ManagesVpcEndpoints": False, "Tags": [],
                "SupportedIpAddressTypes": ["ipv4"]}]
    details += [ife.service_detail(region, service, zones) for service in ife.SERVICES]
    details.sort(key=lambda d: d["ServiceName"])
    for name in names or []:
        if not any(d["ServiceName"] == name for d in details):
            raise errors.ApiError(f"The Vpc Endpoint Service '{name}' does not exist", code="InvalidServiceName")
    return [d for d in details if not names or d["ServiceName"] in names]


# ---------------------------------------------------------------------------------------------
# the actions: the decision above, then the VPC's network follows before the API call answers


async def delete_live(backend: Backend, region: str, vpce_ids: Sequence[str]) -> list[dict[str, Any]]:
    unsuccessful, vpcs = delete(backend, region, vpce_ids)
    for vpc_id in sorted(vpcs):
        await backend.runtime.sync_vpc(region, vpc_id)
    return unsuccessful
