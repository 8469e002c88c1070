"""DescribeNetworkInterfaces (instances' primary ENIs; creating and hot-plugging ENIs comes with
the networking issue)."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import item_tags, select
from orchestrator.api.filters import apply_filters, paginate
from orchestrator.api.registry import action
from orchestrator.services import network_interfaces as enis
from orchestrator.services import tags as tag_service
from orchestrator.services import vpcs

_FILTERS = {
    "network-interface-id": lambda e: e["NetworkInterfaceId"],
    "subnet-id": lambda e: e["SubnetId"],
    "vpc-id": lambda e: e["VpcId"],
    "availability-zone": lambda e: e["AvailabilityZone"],
    "status": lambda e: e["Status"],
    "mac-address": lambda e: e["MacAddress"],
    "private-ip-address": lambda e: e["PrivateIpAddress"],
    "addresses.private-ip-address": lambda e: [a["PrivateIpAddress"] for a in e["PrivateIpAddresses"]],
    "attachment.instance-id": lambda e: (e.get("Attachment") or {}).get("InstanceId"),
    "attachment.device-index": lambda e: (e.get("Attachment") or {}).get("DeviceIndex"),
    "group-id": lambda e: [g["GroupId"] for g in e["Groups"]],
    "group-name": lambda e: [g["GroupName"] for g in e["Groups"]],
    "description": lambda e: e["Description"],
    "owner-id": lambda e: e["OwnerId"],
}


def describe_eni(record: Any, tags: dict[str, str]) -> dict[str, Any]:
    d = record.data
    dns = vpcs.private_dns_name(d["PrivateIpAddress"], record.region)
    out = {
        "NetworkInterfaceId": record.id, "SubnetId": d["SubnetId"], "VpcId": d["VpcId"],
        "AvailabilityZone": d["AvailabilityZone"], "Description": d["Description"], "OwnerId": d["OwnerId"],
        "Status": record.state, "MacAddress": d["MacAddress"], "PrivateIpAddress": d["PrivateIpAddress"],
        "PrivateDnsName": dns, "SourceDestCheck": d["SourceDestCheck"], "Groups": d["Groups"],
        "InterfaceType": d["InterfaceType"], "RequesterManaged": False,
        "PrivateIpAddresses": [{"Primary": True, "PrivateIpAddress": d["PrivateIpAddress"], "PrivateDnsName": dns}]
        + [{"Primary": False, "PrivateIpAddress": ip,
            "PrivateDnsName": vpcs.private_dns_name(ip, record.region)} for ip in d.get("SecondaryPrivateIps") or []],
        "TagSet": tag_service.tag_list(tags),
    }
    if d.get("Attachment"):
        out["Attachment"] = {k: v for k, v in d["Attachment"].items()}
        out["Attachment"].setdefault("InstanceOwnerId", d["OwnerId"])
    return out


@action("DescribeNetworkInterfaces")
def describe_network_interfaces(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    records = select(ctx.backend.store.list(vpcs.ENI, ctx.region), req.get("NetworkInterfaceIds"), "eni")
    tags = ctx.backend.store.tags_by_resource("network-interface", ctx.region)
    items = [describe_eni(r, tags.get(r.id, {})) for r in records]
    items = apply_filters(items, req.get("Filters"), _FILTERS, tags_of=lambda e: item_tags(e, "TagSet"))
    page, token = paginate(items, req.get("MaxResults"), req.get("NextToken"), low=5, high=1000)
    return {"NetworkInterfaces": page, "NextToken": token}


async def _sync(ctx: RequestContext, vpc_id: str) -> None:
    await vpcs.sync_network(ctx.backend, ctx.region, vpc_id)


@action("CreateNetworkInterface")
def create_network_interface(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), "network-interface")
    record = enis.create(ctx.backend, ctx.region, req, tags)
    return {"NetworkInterface": describe_eni(record, tags)}


@action("AttachNetworkInterface")
async def attach_network_interface(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    eni = await enis.attach_live(ctx.backend, ctx.region, req["NetworkInterfaceId"], req["InstanceId"],
                                 req["DeviceIndex"])
    return {"AttachmentId": eni.data["Attachment"]["AttachmentId"], "NetworkCardIndex": 0}


@action("DetachNetworkInterface")
async def detach_network_interface(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    await enis.detach_live(ctx.backend, ctx.region, req["AttachmentId"])
    return {}


@action("DeleteNetworkInterface")
def delete_network_interface(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    enis.delete(ctx.backend, ctx.region, req["NetworkInterfaceId"])
    return {}


@action("AssignPrivateIpAddresses")
async def assign_private_ip_addresses(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    new = enis.assign(ctx.backend, ctx.region, req["NetworkInterfaceId"], req.get("PrivateIpAddresses") or [],
                      int(req.get("SecondaryPrivateIpAddressCount") or 0))
    eni = enis.get(ctx.backend, ctx.region, req["NetworkInterfaceId"])
    await _sync(ctx, eni.data["VpcId"])
    return {"NetworkInterfaceId": eni.id, "AssignedPrivateIpAddresses": [{"PrivateIpAddress": ip} for ip in new]}


@action("UnassignPrivateIpAddresses")
async def unassign_private_ip_addresses(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    enis.unassign(ctx.backend, ctx.region, req["NetworkInterfaceId"], req.get("PrivateIpAddresses") or [])
    eni = enis.get(ctx.backend, ctx.region, req["NetworkInterfaceId"])
    await _sync(ctx, eni.data["VpcId"])
    return {}
