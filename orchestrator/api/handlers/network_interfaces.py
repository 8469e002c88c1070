"""DescribeNetworkInterfaces (instances' primary ENIs; creating and hot-plugging ENIs comes with
the networking issue)."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import respond, tags_in
from orchestrator.api.filter_paths import table
from orchestrator.api.registry import action
from orchestrator.services import network_interfaces as enis
from orchestrator.services import tags as tag_service

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
    **table({
        "private-dns-name": "PrivateDnsName", "requester-id": "RequesterId", "requester-managed": "RequesterManaged",
        "source-dest-check": "SourceDestCheck", "interface-type": "InterfaceType",
        "availability-zone-id": "AvailabilityZoneId", "addresses.primary": "PrivateIpAddresses.Primary",
        "addresses.association.public-ip": "PrivateIpAddresses.Association.PublicIp",
        "addresses.association.owner-id": "PrivateIpAddresses.Association.IpOwnerId",
        "association.public-ip": "Association.PublicIp", "association.public-dns-name": "Association.PublicDnsName",
        "association.ip-owner-id": "Association.IpOwnerId", "association.allocation-id": "Association.AllocationId",
        "association.association-id": "Association.AssociationId",
        "attachment.attachment-id": "Attachment.AttachmentId", "attachment.attach-time": "Attachment.AttachTime",
        "attachment.delete-on-termination": "Attachment.DeleteOnTermination", "attachment.status": "Attachment.Status",
        "attachment.instance-owner-id": "Attachment.InstanceOwnerId", "operator.managed": "Operator.Managed",
        "operator.principal": "Operator.Principal"},
        ("ipv6-addresses.ipv6-address",)),  # no IPv6 in ec2d's VPCs
}


@action("DescribeNetworkInterfaces")
def describe_network_interfaces(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = enis.describe_enis(ctx.backend, ctx.region, req.get("NetworkInterfaceIds"))
    return respond(req, items, _FILTERS, "NetworkInterfaces", tags_of=tags_in("TagSet"))


@action("CreateNetworkInterface")
def create_network_interface(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), "network-interface")
    record = enis.create(ctx.backend, ctx.region, req, tags)
    return {"NetworkInterface": enis.describe_eni(record, tags)}


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
    eni, new = await enis.assign_live(ctx.backend, ctx.region, req["NetworkInterfaceId"],
                                      req.get("PrivateIpAddresses") or [],
                                      int(req.get("SecondaryPrivateIpAddressCount") or 0))
    return {"NetworkInterfaceId": eni.id, "AssignedPrivateIpAddresses": [{"PrivateIpAddress": ip} for ip in new]}


@action("UnassignPrivateIpAddresses")
async def unassign_private_ip_addresses(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    await enis.unassign_live(ctx.backend, ctx.region, req["NetworkInterfaceId"], req.get("PrivateIpAddresses") or [])
    return {}
