"""DescribeNetworkInterfaces (instances' primary ENIs; creating and hot-plugging ENIs comes with
the networking issue)."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import respond, tags_in
from orchestrator.api.filter_paths import table
from orchestrator.api.registry import action
from orchestrator.domain import errors
from orchestrator.services import eni_attributes, eni_ipv6
from orchestrator.services import network_interfaces as enis
from orchestrator.services import tags as tag_service

_FILTERS = {
    "network-interface-id": lambda e: e["NetworkInterfaceId"],
    "subnet-id": lambda e: e["SubnetId"],
    "vpc-id": lambda e: e["VpcId"],
    "availability-zone": lambda e: e["AvailabilityZone"],
    "status": lambda e: e["Status"],
    "mac-address": lambda e: e["MacAddress"],
    "private-ip-address": lambda e: e.get("PrivateIpAddress"),
    "addresses.private-ip-address": lambda e: [a["PrivateIpAddress"] for a in e["PrivateIpAddresses"]],
    "attachment.instance-id": lambda e: (e.get("Attachment") or {}).get("InstanceId"),
    "attachment.device-index": lambda e: (e.get("Attachment") or {}).get("DeviceIndex"),
    "group-id": lambda e: [g["GroupId"] for g in e["Groups"]],
    "group-name": lambda e: [g["GroupName"] for g in e["Groups"]],
    "description": lambda e: e["Description"],
    "owner-id": lambda e: e["OwnerId"],
    "ipv6-addresses.ipv6-address": lambda e: [a["Ipv6Address"] for a in e["Ipv6Addresses"]],
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
        "operator.principal": "Operator.Principal"}),
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


@action("AssignIpv6Addresses")
async def assign_ipv6_addresses(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    if req.get("Ipv6Prefixes") or req.get("Ipv6PrefixCount"):
        raise errors.InvalidParameterValue.for_param(
            "ipv6PrefixCount", req.get("Ipv6PrefixCount") or req.get("Ipv6Prefixes"),
            "IPv6 prefix delegation to interfaces is not served by ec2d.")
    eni, new = await eni_ipv6.assign_live(ctx.backend, ctx.region, req["NetworkInterfaceId"],
                                          req.get("Ipv6Addresses") or [], int(req.get("Ipv6AddressCount") or 0))
    return {"NetworkInterfaceId": eni.id, "AssignedIpv6Addresses": new, "AssignedIpv6Prefixes": []}


@action("UnassignIpv6Addresses")
async def unassign_ipv6_addresses(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    if req.get("Ipv6Prefixes"):
        raise errors.InvalidParameterValue.for_param(
            "ipv6Prefixes", req["Ipv6Prefixes"], "IPv6 prefix delegation to interfaces is not served by ec2d.")
    eni = await eni_ipv6.unassign_live(ctx.backend, ctx.region, req["NetworkInterfaceId"],
                                       req.get("Ipv6Addresses") or [])
    return {"NetworkInterfaceId": eni.id, "UnassignedIpv6Addresses": req.get("Ipv6Addresses") or [],
            "UnassignedIpv6Prefixes": []}


@action("ModifyNetworkInterfaceAttribute")
async def modify_network_interface_attribute(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    await eni_attributes.modify_live(ctx.backend, ctx.region, req)
    return {}


@action("DescribeNetworkInterfaceAttribute")
def describe_network_interface_attribute(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    [shown] = enis.describe_enis(ctx.backend, ctx.region, [req["NetworkInterfaceId"]])
    return eni_attributes.describe(ctx.backend, ctx.region, req["NetworkInterfaceId"], req.get("Attribute"), shown)


@action("ResetNetworkInterfaceAttribute")
async def reset_network_interface_attribute(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    await eni_attributes.reset_live(ctx.backend, ctx.region, req["NetworkInterfaceId"], req.get("SourceDestCheck"))
    return {}
