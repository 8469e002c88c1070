"""VPCs, subnets, default security groups and private addresses (the model side).

Each region has a default VPC 172.31.0.0/16 with one default /20 subnet per zone, as EC2 creates
them. On a subnet the first four addresses and the last are reserved; instances get the lowest
free address. The network itself (namespace, bridges, dnsmasq) is the runtime's job.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import secrets
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from orchestrator.domain import errors, hostnames, ids, vpc_cidrs
from orchestrator.domain.lifecycle import AVAILABLE, EniState
from orchestrator.domain.records import (
    GroupIdentifier,
    NetworkInterfaceData,
    SecurityGroupData,
    SubnetData,
    VpcData,
)
from orchestrator.domain.subnet_cidr_reservations import addresses as reservation_addresses
from orchestrator.domain.vpc_endpoints import S3_BLOCK
from orchestrator.runtime.vpc_state import stored_rule
from orchestrator.services import (
    dhcp_options,
    egress_gateways,
    ipv6_native,
    lookup,
    public_ips,
    subnet_attributes,
    vpc_endpoints,
    vpc_ipv6,
    vpc_peering,
)
from orchestrator.services import subnet_cidr_reservations as scr
from orchestrator.services import tags as tag_service
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

VPC = "vpc"
SUBNET = "subnet"
SECURITY_GROUP = "security-group"
ENI = "network-interface"
DEFAULT_VPC_CIDR = "172.31.0.0/16"


def default_vpc(backend: Backend, region: str) -> Record[VpcData] | None:
    return next((r for r in backend.store.list(VPC, region) if r.data.get("IsDefault")), None)


def ensure_default_vpc(backend: Backend, region: str) -> Record[VpcData] | None:
    """The region's default VPC, its per-zone default subnets and its default group, made once per
    region (a user may delete it afterwards, as on EC2)."""
    with backend.store.transaction():
        existing = default_vpc(backend, region)
        if existing is not None or backend.store.get_setting(f"default-vpc-made:{region}"):
            return existing
        backend.store.set_setting(f"default-vpc-made:{region}", "1")
        vpc = create_vpc_record(backend, region, DEFAULT_VPC_CIDR, is_default=True)
        zones = backend.regions.get(region).zones  # type: ignore[union-attr]
        blocks = ipaddress.ip_network(DEFAULT_VPC_CIDR).subnets(new_prefix=20)
        for zone, block in zip(zones, blocks, strict=False):
            create_subnet_record(backend, vpc, str(block), zone.name, default_for_az=True)
        public_ips.ensure_default_vpc_gateway(backend, vpc)
        return vpc


def create_vpc_record(backend: Backend, region: str, cidr: str, is_default: bool = False) -> Record[VpcData]:
    vpc_id = ids.new_id("vpc")
    record = Record[VpcData](id=vpc_id, type=VPC, region=region, state=AVAILABLE, data={
        "CidrBlock": cidr,
        "IsDefault": is_default,
        "InstanceTenancy": "default",
        "DhcpOptionsId": dhcp_options.default_set(backend, region).id,
        "OwnerId": backend.account_id,
        "CidrBlockAssociationSet": [{"AssociationId": ids.new_id("vpc-cidr-assoc"), "CidrBlock": cidr,
                                     "CidrBlockState": {"State": "associated"}}],
    })
    backend.store.insert(record)
    new_security_group(backend, region, vpc_id, "default", "default VPC security group", default=True)
    return record


def new_security_group(backend: Backend, region: str, vpc_id: str, name: str, description: str, *,
                       default: bool = False) -> Record[SecurityGroupData]:
    """Insert a security group record as EC2 creates one: all egress allowed, and for a VPC's
    ``default`` group ingress from members of the group itself. The one place a group is born
    (CreateVpc's default group and CreateSecurityGroup; call inside a store transaction)."""
    sg_id = ids.new_id("sg")
    rules = [stored_rule(sg_id, egress=True, protocol="-1", from_port=None, to_port=None, cidr="0.0.0.0/0",
                         group=None, description=None)]
    vpc = backend.store.get(vpc_id)
    if vpc is not None and vpc.data.get("Ipv6CidrBlockAssociationSet"):  # EC2: IPv6 out too
        rules.append(vpc_ipv6.all_ipv6_egress(sg_id))
    if default:
        rules.append(stored_rule(sg_id, egress=False, protocol="-1", from_port=None, to_port=None, cidr=None,
                                 group=sg_id, description=None))
    record = Record[SecurityGroupData](id=sg_id, type=SECURITY_GROUP, region=region, state=AVAILABLE, data={
        "GroupName": name, "Description": description, "VpcId": vpc_id, "OwnerId": backend.account_id,
        "Rules": rules,
    })
    backend.store.insert(record)
    return record


def create_subnet_record(backend: Backend, vpc: Record[VpcData], cidr: str | None, zone_name: str,
                         default_for_az: bool = False) -> Record[SubnetData]:
    """A subnet record (``cidr`` None: an IPv6-only one, whose /64 the caller sets)."""
    zone = backend.regions.zone(zone_name)
    assert zone is not None
    record = Record[SubnetData](id=ids.new_id("subnet"), type=SUBNET, region=vpc.region, state=AVAILABLE, data={
        "VpcId": vpc.id,
        "CidrBlock": cidr,
        "AvailabilityZone": zone.name,
        "AvailabilityZoneId": zone.zone_id,
        "DefaultForAz": default_for_az,
        "MapPublicIpOnLaunch": default_for_az,
        "OwnerId": backend.account_id,
    })
    if cidr is None:
        ipv6_native.native_fields(record)
    backend.store.insert(record)
    return record


def subnets(backend: Backend, region: str, vpc_id: str | None = None) -> list[Record]:
    return [s for s in backend.store.list(SUBNET, region) if vpc_id is None or s.data["VpcId"] == vpc_id]


def get_subnet(backend: Backend, region: str, subnet_id: str) -> Record[SubnetData]:
    return lookup.subnet(backend, region, subnet_id)


def default_subnet(backend: Backend, region: str, zone_name: str) -> Record[SubnetData]:
    for s in subnets(backend, region):
        if s.data.get("DefaultForAz") and s.data["AvailabilityZone"] == zone_name:
            return s
    raise errors.ApiError(f"No default subnet for availability zone: '{zone_name}'.",
                          code="VPCIdNotSpecified" if default_vpc(backend, region) is None else "MissingInput")


def security_groups(backend: Backend, region: str, vpc_id: str, group_ids: list[str] | None) -> list[GroupIdentifier]:
    """``[{"GroupId", "GroupName"}]`` for a launch: the given groups (same VPC) or the VPC's default."""
    groups = [g for g in backend.store.list(SECURITY_GROUP, region) if g.data["VpcId"] == vpc_id]
    if not group_ids:
        chosen = [g for g in groups if g.data["GroupName"] == "default"]
    else:
        by_id = {g.id: g for g in groups}
        chosen = []
        for gid in group_ids:
            ids.check(gid, "sg")
            if gid not in by_id:
                other = backend.store.get(gid, SECURITY_GROUP)
                if other is not None and other.region == region:
                    raise errors.InvalidParameter(
                        f"Security group {gid} and subnet belong to different networks.")
                raise lookup.not_found("sg", gid)
            chosen.append(by_id[gid])
    return [{"GroupId": g.id, "GroupName": g.data["GroupName"]} for g in chosen]


def reserved(cidr: str) -> set[ipaddress.IPv4Address]:
    net = ipaddress.ip_network(cidr)
    base = int(net.network_address)
    return {ipaddress.IPv4Address(base + i) for i in range(4)} | {net.broadcast_address}


def used_addresses(backend: Backend, subnet: Record[SubnetData]) -> set[str]:
    """The subnet's addresses held by its ENIs (an index read of the subnet's ENIs' two fields)."""
    used = set()
    for _, _, primary, secondary in backend.store.fields(ENI, ("PrivateIpAddress", "SecondaryPrivateIps"),
                                                         subnet.region, where=("SubnetId", subnet.id)):
        if primary:  # none in an IPv6-only subnet
            used.add(primary)
        used.update(json.loads(secondary) if secondary else ())
    return used


def not_automatic(backend: Backend, subnet: Record[SubnetData]) -> set[ipaddress.IPv4Address]:
    """The addresses never assigned automatically: EC2's five of the subnet and every address of
    its CIDR reservations."""
    held, _ = scr.blocks(backend, subnet)
    return reserved(subnet.data["CidrBlock"]) | {ipaddress.IPv4Address(a) for a in reservation_addresses(held)}


def free_address_count(backend: Backend, subnet: Record[SubnetData]) -> int:
    """The IPv4 addresses an instance could still get automatically (none in an IPv6-only subnet)."""
    if ipv6_native.is_native(subnet):
        return 0
    net = ipaddress.ip_network(subnet.data["CidrBlock"])
    taken = {ipaddress.IPv4Address(a) for a in used_addresses(backend, subnet)}
    return net.num_addresses - len(not_automatic(backend, subnet) | taken)


def allocate_address(backend: Backend, subnet: Record[SubnetData], wanted: str | None = None) -> str:
    """The lowest free address of the subnet outside its CIDR reservations (or ``wanted``, which
    may lie in an ``explicit`` reservation, not a ``prefix`` one); call inside a store transaction."""
    ipv6_native.check_secondary_ipv4(subnet)
    net = ipaddress.ip_network(subnet.data["CidrBlock"])
    taken = used_addresses(backend, subnet)
    skip = not_automatic(backend, subnet)
    if wanted is not None:
        try:
            addr = ipaddress.ip_address(wanted)
        except ValueError:
            raise errors.InvalidParameterValue.for_param(
                "privateIpAddress", wanted, "Expected an IPv4 address.") from None
        held, explicit = scr.blocks(backend, subnet)
        if addr not in net or addr in reserved(subnet.data["CidrBlock"]):
            raise errors.InvalidParameterValue(f"Address {wanted} does not fall within the subnet's address range")
        if wanted in reservation_addresses(held) - reservation_addresses(explicit):
            raise errors.InvalidParameterValue(
                f"Address {wanted} is in a prefix CIDR reservation of subnet '{subnet.id}'.")
        if wanted in taken:
            raise errors.ApiError(f"Address {wanted} is in use.", code="InvalidIPAddress.InUse")
        return wanted
    return FreeAddresses(subnet, taken, skip)()


class FreeAddresses:
    """The subnet's addresses free for automatic assignment: ``count`` of them (the subnet's
    ``AvailableIpAddressCount``); each call gives the lowest one neither taken, kept back nor given
    by an earlier call (one pass over the range for all calls together)."""

    def __init__(self, subnet: Record[SubnetData], taken: set[str], skip: set[ipaddress.IPv4Address]) -> None:
        net = ipaddress.ip_network(subnet.data["CidrBlock"])
        held = {int(a) for a in skip} | {int.from_bytes(socket.inet_aton(a), "big") for a in taken}
        self.subnet_id = subnet.id
        self.count = net.num_addresses - len(held)
        self._candidates = (n for n in range(int(net.network_address) + 1, int(net.broadcast_address))
                            if n not in held)  # net.hosts(), as integers

    def __call__(self) -> str:
        free = next(self._candidates, None)
        if free is not None:
            return str(ipaddress.IPv4Address(free))
        raise errors.ApiError(
            f"There are not enough free addresses in subnet '{self.subnet_id}' to satisfy the requested number of"
            " instances.", code="InsufficientFreeAddressesInSubnet")


def address_allocator(backend: Backend, subnet: Record[SubnetData]) -> FreeAddresses:
    """:func:`allocate_address` without a wanted address, for many ENIs of one request, and how many
    there are (:func:`free_address_count`): the subnet's used addresses and reservations are read
    once, each call gives the next lowest free one (the same addresses as calling
    :func:`allocate_address` before each insert); call inside the store transaction the ENIs are
    inserted in."""
    ipv6_native.check_secondary_ipv4(subnet)
    return FreeAddresses(subnet, used_addresses(backend, subnet), not_automatic(backend, subnet))


def new_mac() -> str:
    return "0e:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(5))


def create_eni(backend: Backend, subnet: Record[SubnetData], groups: list[GroupIdentifier], description: str = "",
               private_ip: str | None = None, addresses: Callable[[], str] | None = None) -> Record[NetworkInterfaceData]:
    """An ENI with an address of the subnet (none in an IPv6-only subnet: its caller gives it its
    IPv6 addresses; ``addresses``: the request's :func:`address_allocator`); call inside a store
    transaction."""
    if addresses is not None and private_ip is None:
        ip: str | None = addresses()
    elif ipv6_native.is_native(subnet) and private_ip is None:
        ip = None
    else:
        ip = allocate_address(backend, subnet, private_ip)
    record = Record[NetworkInterfaceData](id=ids.new_id("eni"), type=ENI, region=subnet.region, state=str(EniState.AVAILABLE), data={
        "SubnetId": subnet.id,
        "VpcId": subnet.data["VpcId"],
        "AvailabilityZone": subnet.data["AvailabilityZone"],
        "MacAddress": new_mac(),
        "PrivateIpAddress": ip,
        "Groups": groups,
        "Description": description,
        "OwnerId": backend.account_id,
        "SourceDestCheck": True,
        "InterfaceType": "interface",
    })
    if ip is None:
        del record.data["PrivateIpAddress"]
    backend.store.insert(record)
    return record


def private_dns_name(ip: str, region: str) -> str:
    return hostnames.ip_name(ip, region)


def describe_vpc(record: Record[VpcData], tags: dict[str, str]) -> dict[str, Any]:
    d = record.data
    return {"VpcId": record.id, "State": record.state, "CidrBlock": d["CidrBlock"], "IsDefault": d["IsDefault"],
            "InstanceTenancy": d["InstanceTenancy"], "DhcpOptionsId": d["DhcpOptionsId"], "OwnerId": d["OwnerId"],
            "CidrBlockAssociationSet": d["CidrBlockAssociationSet"], **vpc_ipv6.describe_vpc_part(record),
            **tag_service.tags_member(tags)}


def describe_subnet(backend: Backend, record: Record[SubnetData], tags: dict[str, str]) -> dict[str, Any]:
    d = record.data
    return {"SubnetId": record.id, "State": record.state, "VpcId": d["VpcId"], "CidrBlock": d.get("CidrBlock"),
            "AvailabilityZone": d["AvailabilityZone"], "AvailabilityZoneId": d["AvailabilityZoneId"],
            "AvailableIpAddressCount": free_address_count(backend, record), "DefaultForAz": d["DefaultForAz"],
            "MapPublicIpOnLaunch": d["MapPublicIpOnLaunch"], "OwnerId": d["OwnerId"],
            "SubnetArn": f"arn:aws:ec2:{record.region}:{d['OwnerId']}:subnet/{record.id}",
            **copy.deepcopy(subnet_attributes.FIXED), **vpc_ipv6.describe_subnet_part(record),
            **ipv6_native.describe_subnet_part(record),
            **tag_service.tags_member(tags)}


# ---------------------------------------------------------------------------------------------
# CreateVpc / DeleteVpc / CreateSubnet / DeleteSubnet


def _network(cidr: str, what: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(cidr)
    except ValueError:
        raise errors.ApiError(f"The CIDR '{cidr}' is invalid.", code=f"Invalid{what}.Range") from None
    if not isinstance(net, ipaddress.IPv4Network) or not 16 <= net.prefixlen <= 28:
        raise errors.ApiError(f"The CIDR '{cidr}' is invalid.", code=f"Invalid{what}.Range")
    return net


async def check_host_routes(backend: Backend, region: str, cidr: str) -> None:
    """Refuse a VPC CIDR whose fail-closed ``unreachable`` route in the host's root namespace would
    shadow something of the host: a route or address it already has (the admin's networks), its
    gateways or name servers, link-local/loopback/multicast space, or ec2d's public pool. Checked
    against the real routing table through the network driver (EC2 has no such rule; the error
    is EC2's for a CIDR it refuses, with the reason)."""
    net = _network(cidr, "Vpc")
    found = []
    pool = backend.config.public_pool
    if pool and net.overlaps(ipaddress.ip_network(pool)):
        found.append(f"ec2d's public address pool {pool}")
    elif net.overlaps(S3_BLOCK):
        found.append(f"ec2d's S3 addresses {S3_BLOCK}")
    found += await backend.runtime.host_conflicts(region, str(net))
    if found:
        raise errors.ApiError(
            f"The CIDR '{cidr}' is invalid. It overlaps {', '.join(found[:3])} on this host.",
            code="InvalidVpc.Range",
        )


def get_vpc(backend: Backend, region: str, vpc_id: str) -> Record[VpcData]:
    return lookup.vpc(backend, region, vpc_id)


def create_vpc(backend: Backend, region: str, cidr: str, tags: dict[str, str],
               amazon_ipv6: bool = False) -> Record[VpcData]:
    net = _network(cidr, "Vpc")
    with backend.store.transaction():
        record = create_vpc_record(backend, region, str(net))
        if amazon_ipv6:
            vpc_ipv6.add_vpc_block(backend, record)
        public_ips.ensure_default_vpc_gateway(backend, record)  # the main route table
        if tags:
            backend.store.set_tags(record.id, VPC, region, tags)
    return record


def delete_vpc(backend: Backend, region: str, vpc_id: str) -> Record:
    vpc = get_vpc(backend, region, vpc_id)
    groups = [g for g in backend.store.list(SECURITY_GROUP, region) if g.data["VpcId"] == vpc_id]
    igws = backend.store.list("internet-gateway", region)
    if subnets(backend, region, vpc_id) or any(g.data["GroupName"] != "default" for g in groups) \
            or any(a["VpcId"] == vpc_id for r in igws for a in r.data["Attachments"]) \
            or vpc_endpoints.of_vpc(backend, region, vpc_id) or egress_gateways.of_vpc(backend, region, vpc_id):
        raise errors.DependencyViolation(f"The vpc '{vpc_id}' has dependencies and cannot be deleted.")
    tables = [t for t in backend.store.list("route-table", region) if t.data["VpcId"] == vpc_id]
    if any(not any(a.get("Main") for a in t.data["Associations"]) for t in tables):
        raise errors.DependencyViolation(f"The vpc '{vpc_id}' has dependencies and cannot be deleted.")
    with backend.store.transaction():
        for g in groups:
            backend.store.delete(g.id)
        for t in tables:
            backend.store.delete(t.id)
        backend.store.delete(vpc.id)
    return vpc


def create_subnet(backend: Backend, region: str, vpc_id: str, cidr: str | None, zone_name: str | None,
                  zone_id: str | None, tags: dict[str, str], ipv6_cidr: str | None = None) -> Record:
    """CreateSubnet; ``cidr`` None: an IPv6-only subnet (``ipv6_cidr`` given)."""
    vpc = get_vpc(backend, region, vpc_id)
    net = _network(cidr, "Subnet") if cidr is not None else None
    if net is not None and not any(net.subnet_of(ipaddress.IPv4Network(c)) for c in vpc_cidrs.network_cidrs(vpc.data)):
        raise errors.ApiError(f"The CIDR '{cidr}' is invalid.", code="InvalidSubnet.Range")
    region_info = backend.regions.get(region)
    assert region_info is not None
    if zone_id and not zone_name:
        zone_name = next((z.name for z in region_info.zones if z.zone_id == zone_id), None)
        if zone_name is None:
            raise errors.InvalidParameterValue(f"Value ({zone_id}) for parameter availabilityZoneId is invalid. "
                                               "Subnets can currently only be created in the following availability "
                                               f"zones: {', '.join(z.zone_id for z in region_info.zones)}.")
    zone_name = zone_name or region_info.zones[0].name
    if region_info.zone(zone_name) is None:
        raise errors.InvalidParameterValue(
            f"Value ({zone_name}) for parameter availabilityZone is invalid. Subnets can currently only be created "
            f"in the following availability zones: {', '.join(z.name for z in region_info.zones)}.")
    with backend.store.transaction():
        for other in subnets(backend, region, vpc_id):
            theirs = other.data.get("CidrBlock")
            if net is not None and theirs and ipaddress.ip_network(theirs).overlaps(net):
                raise errors.ApiError(f"The CIDR '{cidr}' conflicts with another subnet",
                                      code="InvalidSubnet.Conflict")
        record = create_subnet_record(backend, vpc, str(net) if net is not None else None, zone_name)
        record.data["MapPublicIpOnLaunch"] = False
        backend.store.update(record)
        if ipv6_cidr:
            vpc_ipv6.set_subnet_block(backend, record, ipv6_cidr)
        if tags:
            backend.store.set_tags(record.id, SUBNET, region, tags)
    return record


def delete_subnet(backend: Backend, region: str, subnet_id: str) -> Record:
    subnet = get_subnet(backend, region, subnet_id)
    if any(e.data["SubnetId"] == subnet_id for e in backend.store.list(ENI, region)):
        raise errors.DependencyViolation(f"The subnet '{subnet_id}' has dependencies and cannot be deleted.")
    with backend.store.transaction():
        scr.delete_with_subnet(backend, subnet)
        backend.store.delete(subnet.id)
    return subnet


# ---------------------------------------------------------------------------------------------
# Describe / attributes


def describe_vpcs(backend: Backend, region: str, vpc_ids: Sequence[str] | None) -> list[dict[str, Any]]:
    records = lookup.select(backend.store.list(VPC, region), vpc_ids, "vpc")
    return tag_service.rendered(backend, region, VPC, records, describe_vpc)


def describe_subnets(backend: Backend, region: str, subnet_ids: Sequence[str] | None) -> list[dict[str, Any]]:
    records = lookup.select(backend.store.list(SUBNET, region), subnet_ids, "subnet")
    return tag_service.rendered(backend, region, SUBNET, records,
                                lambda r, tags: describe_subnet(backend, r, tags))


# attribute name -> (record key, default; None: on for default VPCs, off for others, as EC2 has it)
VPC_ATTRIBUTES: dict[str, tuple[str, bool | None]] = {
    "enableDnsSupport": ("EnableDnsSupport", True), "enableDnsHostnames": ("EnableDnsHostnames", None),
    "enableNetworkAddressUsageMetrics": ("EnableNetworkAddressUsageMetrics", False)}


def modify_vpc_attribute(backend: Backend, region: str, vpc_id: str, changes: Mapping[str, Any]) -> None:
    """``changes``: record key (``EnableDnsSupport`` ...) -> the requested value."""
    record = get_vpc(backend, region, vpc_id)
    if not changes:
        raise errors.MissingParameter("EnableDnsSupport or EnableDnsHostnames")
    for key, value in changes.items():
        record.data[key] = bool(value)  # type: ignore[literal-required]  # a key of VPC_ATTRIBUTES
    backend.store.update(record)


def vpc_attribute(backend: Backend, region: str, vpc_id: str, attribute: str) -> tuple[str, bool]:
    """(response key, value) of DescribeVpcAttribute's ``attribute``."""
    record = get_vpc(backend, region, vpc_id)
    key, default = VPC_ATTRIBUTES[attribute]
    if default is None:
        default = bool(record.data.get("IsDefault"))
    return key, record.data.get(key, default)
# the network follows the model (through the runtime port), before the API call answers


async def open_vpc(backend: Backend, region: str, cidr: str, tags: dict[str, str], amazon_ipv6: bool = False) -> Record:
    """CreateVpc: checked against the host's routes, recorded, its network brought up."""
    await check_host_routes(backend, region, cidr)
    record = create_vpc(backend, region, cidr, tags, amazon_ipv6)
    await backend.runtime.ensure_vpc_network(record)
    return record


async def close_vpc(backend: Backend, region: str, vpc_id: str) -> None:
    """DeleteVpc: the record, then its network (the peerings end with it: the peers follow)."""
    await backend.runtime.delete_vpc_network(delete_vpc(backend, region, vpc_id))
    for peer_region, peer_vpc in vpc_peering.end_with_vpc(backend, vpc_id):
        if backend.store.get(peer_vpc) is not None:
            await backend.runtime.sync_vpc(peer_region, peer_vpc)


async def open_subnet(backend: Backend, region: str, vpc_id: str, cidr: str | None, zone_name: str | None,
                      zone_id: str | None, tags: dict[str, str], ipv6_cidr: str | None = None) -> Record:
    record = create_subnet(backend, region, vpc_id, cidr, zone_name, zone_id, tags, ipv6_cidr)
    await backend.runtime.ensure_subnet_network(record)
    return record


async def close_subnet(backend: Backend, region: str, subnet_id: str) -> None:
    await backend.runtime.delete_subnet_network(delete_subnet(backend, region, subnet_id))


async def sync_network(backend: Backend, region: str, vpc_id: str | None) -> None:
    """Firewall, leases, metadata and NAT of the VPC re-applied from the store (after a change of
    security groups, addresses, gateways, routes or instance attributes)."""
    if vpc_id:
        await backend.runtime.sync_vpc(region, vpc_id)
