"""Elastic network interfaces: created in a subnet (zone-scoped), attached to an instance of the
same zone (hot-plugged into a running one), detached, deleted; secondary private addresses.

An instance's primary ENI is made by RunInstances; the ones attached later are listed, in device
order, in the instance's ``SecondaryEnis``. Every attached ENI gets its own tap, DHCP lease (for
its primary address), firewall port and metadata entry under network/interfaces/macs/.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import errors, ids, instance_types
from orchestrator.domain.lifecycle import AttachmentState, EniState
from orchestrator.domain.records import GroupIdentifier, NetworkInterfaceData
from orchestrator.domain.states import InstanceState
from orchestrator.runtime import records, vpc_state
from orchestrator.services import eni_ipv6, instances, ipv6_native, lookup, vpcs
from orchestrator.services import tags as tag_service
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

ENI = vpcs.ENI


def get(backend: Backend, region: str, eni_id: str) -> Record[NetworkInterfaceData]:
    return lookup.network_interface(backend, region, eni_id)


def create(backend: Backend, region: str, req: Mapping[str, Any], tags: Mapping[str, str]) -> Record[NetworkInterfaceData]:
    subnet = vpcs.get_subnet(backend, region, req["SubnetId"])
    groups = vpcs.security_groups(backend, region, subnet.data["VpcId"], req.get("Groups"))
    ipv6_native.check_launch(subnet, req.get("PrivateIpAddress"), False, req)
    with backend.store.transaction():
        eni = vpcs.create_eni(backend, subnet, groups, req.get("Description") or "", req.get("PrivateIpAddress"))
        eni.data["SecondaryPrivateIps"] = []
        backend.store.update(eni)
        eni = eni_ipv6.give(backend, eni, subnet, req)
        count = int(req.get("SecondaryPrivateIpAddressCount") or 0)
        if count:
            assign(backend, region, eni.id, [], count)
        if tags:
            backend.store.set_tags(eni.id, ENI, region, dict(tags))
    return backend.store.get(eni.id)  # type: ignore[return-value]


def create_requester_managed(backend: Backend, subnet: Record, groups: list[GroupIdentifier], description: str,
                             requester_id: str, private_ip: str | None = None) -> Record[NetworkInterfaceData]:
    """An ENI another service manages for the account (a load balancer's node: ``amazon-elb``),
    ``in-use`` from the start, with no instance attachment; call inside a store transaction. Not in
    an IPv6-only subnet (load balancer nodes and NAT gateways need an IPv4 address)."""
    ipv6_native.check_secondary_ipv4(subnet)
    eni = vpcs.create_eni(backend, subnet, groups, description, private_ip)
    eni.data["RequesterId"] = requester_id
    eni.data["RequesterManaged"] = True
    backend.store.update(eni)
    return backend.store.transition(eni.id, str(EniState.AVAILABLE), str(EniState.IN_USE))


def secondary_ips(eni: Record[NetworkInterfaceData]) -> list[str]:
    return vpc_state.secondary_ips(eni)


def assign(backend: Backend, region: str, eni_id: str, addresses: Sequence[str],
           count: int) -> tuple[Record, list[str]]:
    """AssignPrivateIpAddresses: given addresses and/or ``count`` more from the subnet; returns the
    interface and the addresses it got."""
    with backend.store.transaction():
        eni = get(backend, region, eni_id)
        subnet = backend.store.get(eni.data["SubnetId"])
        assert subnet is not None
        ipv6_native.check_secondary_ipv4(subnet)
        taken = vpcs.used_addresses(backend, subnet) | {ip for e in backend.store.list(ENI, region)
                                                         if e.data["SubnetId"] == subnet.id
                                                         for ip in secondary_ips(e)}
        new: list[str] = []
        for ip in addresses:
            if ip in taken:
                raise errors.ApiError(f"Address {ip} is in use.", code="InvalidIPAddress.InUse")
            new.append(vpcs.allocate_address(backend, subnet, ip))
            taken.add(ip)
        net = ipaddress.ip_network(subnet.data["CidrBlock"])
        skip = vpcs.not_automatic(backend, subnet)
        for host in net.hosts():
            if len(new) >= len(addresses) + count:
                break
            if host not in skip and str(host) not in taken:
                new.append(str(host))
                taken.add(str(host))
        if len(new) < len(addresses) + count:
            raise errors.ApiError("There are not enough free addresses in the subnet.",
                                  code="InsufficientFreeAddressesInSubnet")
        eni.data["SecondaryPrivateIps"] = secondary_ips(eni) + new
        backend.store.update(eni)
    return eni, new


def unassign(backend: Backend, region: str, eni_id: str, addresses: Sequence[str]) -> Record:
    eni = get(backend, region, eni_id)
    current = secondary_ips(eni)
    for ip in addresses:
        if ip not in current:
            raise errors.InvalidParameterValue(f"Some of the specified addresses are not assigned to interface {eni_id}")
    eni.data["SecondaryPrivateIps"] = [ip for ip in current if ip not in addresses]
    return backend.store.update(eni)


def attach(backend: Backend, region: str, eni_id: str, instance_id: str, device_index: int) -> tuple[Record, Record]:
    with backend.store.transaction():
        eni = get(backend, region, eni_id)
        instance = instances.get(backend, region, instance_id)
        if eni.state != EniState.AVAILABLE:
            raise errors.ApiError(f"Interface: [{eni_id}] in use.", code="InvalidNetworkInterface.InUse")
        if instance.state not in (InstanceState.RUNNING, InstanceState.STOPPED):
            raise errors.IncorrectInstanceState(f"The instance '{instance_id}' is not in a valid state for this "
                                                "operation.")
        if eni.data["AvailabilityZone"] != instance.data["AvailabilityZone"]:
            raise errors.InvalidParameterCombination(
                "You may not attach a network interface to an instance if they are not in the same availability "
                "zone")
        if eni.data["VpcId"] != instance.data["VpcId"]:
            raise errors.InvalidParameterValue("The network interface and the instance are in different VPCs")
        used = {0} | {backend.store.get(e).data["Attachment"]["DeviceIndex"]  # type: ignore[union-attr]
                      for e in instance.data.get("SecondaryEnis") or []}
        if device_index in used:
            raise errors.InvalidParameterValue(
                f"Instance '{instance_id}' already has an interface attached at device index '{device_index}'.")
        itype = instance_types.get(instance.data["InstanceType"])
        if itype is not None and len(used) >= itype.max_enis:
            raise errors.ApiError(f"Interface count {len(used) + 1} exceeds the limit for {itype.name}",
                                  code="AttachmentLimitExceeded")
        attachment_id = ids.new_id("attach").replace("attach-", "eni-attach-")
        eni = backend.store.transition(eni.id, str(EniState.AVAILABLE), str(EniState.IN_USE), {"Attachment": {
            "AttachmentId": attachment_id, "InstanceId": instance_id, "DeviceIndex": device_index,
            "Status": str(AttachmentState.ATTACHED), "AttachTime": instances.now_iso(), "DeleteOnTermination": False,
            "NetworkCardIndex": 0}})
        instance.data["SecondaryEnis"] = sorted(
            [*(instance.data.get("SecondaryEnis") or []), eni.id],
            key=lambda e: backend.store.get(e).data["Attachment"]["DeviceIndex"])  # type: ignore[union-attr]
        backend.store.update(instance)
    return eni, instance


def find_attachment(backend: Backend, region: str, attachment_id: str) -> Record:
    for e in backend.store.list(ENI, region):
        if (e.data.get("Attachment") or {}).get("AttachmentId") == attachment_id:
            return e
    raise errors.NotFound("InvalidAttachmentID.NotFound", f"The attachment ID '{attachment_id}' does not exist")


def detach(backend: Backend, region: str, attachment_id: str) -> tuple[Record, Record]:
    with backend.store.transaction():
        eni = find_attachment(backend, region, attachment_id)
        if eni.data["Attachment"]["DeviceIndex"] == 0:
            raise errors.ApiError("The network interface at device index 0 cannot be detached.",
                                  code="OperationNotPermitted")
        instance = backend.store.get(eni.data["Attachment"]["InstanceId"])
        assert instance is not None
        instance.data["SecondaryEnis"] = [e for e in instance.data.get("SecondaryEnis") or [] if e != eni.id]
        backend.store.update(instance)
        eni.data["Attachment"] = None
        backend.store.update(eni)
        eni = backend.store.transition(eni.id, str(EniState.IN_USE), str(EniState.AVAILABLE))
    return eni, instance


def delete(backend: Backend, region: str, eni_id: str) -> None:
    eni = get(backend, region, eni_id)
    if eni.state == EniState.IN_USE:
        raise errors.ApiError(f"The network interface '{eni_id}' is currently in use.",
                              code="InvalidNetworkInterface.InUse")
    backend.store.delete(eni.id)


def attached_enis(backend: Backend, instance: Record) -> list[Record]:
    """Primary first, then the attached ones in device order."""
    return records.attached_enis(backend.store, instance)


async def attach_live(backend: Backend, region: str, eni_id: str, instance_id: str, device_index: int) -> Record:
    """AttachNetworkInterface: recorded, then hot-plugged into a running instance."""
    eni, instance = attach(backend, region, eni_id, instance_id, device_index)
    await backend.runtime.hotplug_eni(instance, eni)
    return eni


async def detach_live(backend: Backend, region: str, attachment_id: str) -> None:
    """DetachNetworkInterface: recorded, then hot-unplugged from a running instance."""
    before = find_attachment(backend, region, attachment_id)
    _, instance = detach(backend, region, attachment_id)
    await backend.runtime.hotunplug_eni(instance, before)


async def assign_live(backend: Backend, region: str, eni_id: str, addresses: Sequence[str],
                      count: int) -> tuple[Record, list[str]]:
    """AssignPrivateIpAddresses: recorded, then the VPC's leases and firewall follow; returns the
    interface and the addresses it got."""
    eni, new = assign(backend, region, eni_id, addresses, count)
    await vpcs.sync_network(backend, region, eni.data["VpcId"])
    return eni, new


async def unassign_live(backend: Backend, region: str, eni_id: str, addresses: Sequence[str]) -> Record:
    """UnassignPrivateIpAddresses: recorded, then the VPC's network follows."""
    eni = unassign(backend, region, eni_id, addresses)
    await vpcs.sync_network(backend, region, eni.data["VpcId"])
    return eni


def describe_eni(record: Record, tags: Mapping[str, str]) -> dict[str, Any]:
    d = record.data
    ip = d.get("PrivateIpAddress")  # none in an IPv6-only subnet
    dns = vpcs.private_dns_name(ip, record.region) if ip else None
    out = {
        "NetworkInterfaceId": record.id, "SubnetId": d["SubnetId"], "VpcId": d["VpcId"],
        "AvailabilityZone": d["AvailabilityZone"], "Description": d["Description"], "OwnerId": d["OwnerId"],
        "Status": record.state, "MacAddress": d["MacAddress"], "PrivateIpAddress": ip,
        "PrivateDnsName": dns, "SourceDestCheck": d["SourceDestCheck"], "Groups": d["Groups"],
        "InterfaceType": d["InterfaceType"], "RequesterManaged": d.get("RequesterManaged", False),
        "PrivateIpAddresses": ([{"Primary": True, "PrivateIpAddress": ip, "PrivateDnsName": dns}] if ip else [])
        + [{"Primary": False, "PrivateIpAddress": ip,
            "PrivateDnsName": vpcs.private_dns_name(ip, record.region)} for ip in d.get("SecondaryPrivateIps") or []],
        "Ipv6Addresses": eni_ipv6.describe_part(d),
        "TagSet": tag_service.tag_list(tags),
    }
    if d.get("RequesterId"):
        out["RequesterId"] = d["RequesterId"]
    if d.get("PublicIp"):
        out["Association"] = {"PublicIp": d["PublicIp"], "IpOwnerId": "amazon",
                              "PublicDnsName": vpc_state.public_dns_name(d["PublicIp"], record.region)}
    if d.get("Attachment"):
        out["Attachment"] = {k: v for k, v in d["Attachment"].items()}
        out["Attachment"].setdefault("InstanceOwnerId", d["OwnerId"])
    return out


def describe_enis(backend: Backend, region: str, eni_ids: Sequence[str] | None) -> list[dict[str, Any]]:
    records = lookup.select(backend.store.list(ENI, region), eni_ids, "eni")
    return tag_service.rendered(backend, region, ENI, records, describe_eni)
