"""IPv6 addresses of network interfaces: given at creation (RunInstances' and
CreateNetworkInterface's ``Ipv6AddressCount``/``Ipv6Addresses``, or one when the subnet has
``AssignIpv6AddressOnCreation``), Assign/UnassignIpv6Addresses, and how Describe* show them.
Addresses come from the subnet's /64, lowest free first (``domain/ipv6_pools.lowest_free``),
and are free again as soon as no interface holds them."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import errors, instance_types
from orchestrator.domain import ipv6_pools as pools
from orchestrator.domain.records import NetworkInterfaceData, SubnetData
from orchestrator.services import lookup, vpc_ipv6
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

ENI = "network-interface"


def addresses(eni: Record[NetworkInterfaceData]) -> list[str]:
    return list(eni.data.get("Ipv6Addresses") or [])


def taken(backend: Backend, subnet: Record[SubnetData]) -> set[str]:
    return {a for e in backend.store.list(ENI, subnet.region) if e.data["SubnetId"] == subnet.id
            for a in addresses(e)}


def _block(subnet: Record[SubnetData]) -> ipaddress.IPv6Network:
    block = vpc_ipv6.subnet_block(subnet)
    if block is None:
        raise errors.InvalidParameterValue(
            f"The subnet '{subnet.id}' has no IPv6 CIDR block: IPv6 addresses cannot be assigned in it.")
    return ipaddress.IPv6Network(block)


def allocate(backend: Backend, subnet: Record[SubnetData], wanted: Sequence[str], count: int) -> list[str]:
    """``wanted`` (checked: in the subnet's /64, not reserved, free) and ``count`` more, lowest
    free first; call inside a store transaction."""
    net = _block(subnet)
    used = taken(backend, subnet)
    out: list[str] = []
    for text in wanted:
        addr = pools.parse_address(text)
        if addr is None:
            raise errors.InvalidParameterValue.for_param("ipv6Addresses", text, "Expected an IPv6 address.")
        if not pools.usable(net, addr):
            raise errors.InvalidParameterValue(f"Address {text} does not fall within the subnet's address range")
        if str(addr) in used or str(addr) in out:
            raise errors.ApiError(f"Address {addr} is in use.", code="InvalidIPAddress.InUse")
        out.append(str(addr))
    more = pools.lowest_free(net, used | set(out), count)
    if len(more) < count:
        raise errors.ApiError("There are not enough free addresses in the subnet.",
                              code="InsufficientFreeAddressesInSubnet")
    return out + more


def launch_request(subnet: Record[SubnetData], req: Mapping[str, Any]) -> tuple[list[str], int]:
    """(addresses, count) a new interface asks for: ``Ipv6Addresses`` (``[{"Ipv6Address"}]``) or
    ``Ipv6AddressCount``, else one when the subnet assigns IPv6 on creation."""
    given = [a["Ipv6Address"] if isinstance(a, Mapping) else a for a in req.get("Ipv6Addresses") or []]
    count = req.get("Ipv6AddressCount")
    if given and count:
        raise errors.InvalidParameterCombination(
            "The parameter 'ipv6AddressCount' may not be used in combination with 'ipv6Addresses'")
    if count is not None and int(count) < 0:
        raise errors.InvalidParameterValue.for_param("ipv6AddressCount", count, "It must be 0 or more.")
    if not given and count is None and subnet.data.get("AssignIpv6AddressOnCreation"):
        count = 1
    if (given or count) and vpc_ipv6.subnet_block(subnet) is None:
        _block(subnet)  # raises: the subnet has no /64
    return given, int(count or 0)


def check_launch(subnet: Record[SubnetData], req: Mapping[str, Any], max_count: int) -> None:
    """RunInstances: refuse what the IPv6 parameters can never get, before any record is made."""
    given, _ = launch_request(subnet, req)
    if given and max_count > 1:
        raise errors.InvalidParameterCombination("Cannot specify IPv6 addresses when launching more than one instance")


def give(backend: Backend, eni: Record[NetworkInterfaceData], subnet: Record[SubnetData],
         req: Mapping[str, Any]) -> Record[NetworkInterfaceData]:
    """A new interface's IPv6 addresses (none asked and the subnet not assigning: unchanged);
    call inside a store transaction."""
    given, count = launch_request(subnet, req)
    if not given and not count:
        return eni
    eni.data["Ipv6Addresses"] = allocate(backend, subnet, given, count)
    return backend.store.update(eni)


def _limit(backend: Backend, eni: Record[NetworkInterfaceData]) -> int | None:
    instance_id = (eni.data.get("Attachment") or {}).get("InstanceId")
    instance = backend.store.get(instance_id) if instance_id else None
    itype = instance_types.get(instance.data["InstanceType"]) if instance is not None else None
    return itype.ipv4_per_eni if itype is not None else None


def assign(backend: Backend, region: str, eni_id: str, wanted: Sequence[str],
           count: int) -> tuple[Record[NetworkInterfaceData], list[str]]:
    """AssignIpv6Addresses: returns the interface and the addresses it got."""
    if not wanted and not count:
        raise errors.MissingParameter("The request must contain the parameter ipv6AddressCount or ipv6Addresses")
    with backend.store.transaction():
        eni = lookup.network_interface(backend, region, eni_id)
        subnet = lookup.subnet(backend, region, eni.data["SubnetId"])
        current = addresses(eni)
        new = allocate(backend, subnet, [a for a in wanted if a not in current],
                       count)
        limit = _limit(backend, eni)
        if limit is not None and len(current) + len(new) > limit:
            raise errors.ApiError(f"The number of IPv6 addresses on interface {eni_id} would exceed the limit "
                                  f"of {limit} for its instance type.", code="AddressLimitExceeded")
        eni.data["Ipv6Addresses"] = current + new
        backend.store.update(eni)
    return eni, new


def unassign(backend: Backend, region: str, eni_id: str, gone: Sequence[str]) -> Record[NetworkInterfaceData]:
    """UnassignIpv6Addresses."""
    with backend.store.transaction():
        eni = lookup.network_interface(backend, region, eni_id)
        current = addresses(eni)
        wanted = [str(pools.parse_address(a) or a) for a in gone]
        if not wanted or any(a not in current for a in wanted):
            raise errors.InvalidParameterValue(
                f"Some of the specified addresses are not assigned to interface {eni_id}")
        eni.data["Ipv6Addresses"] = [a for a in current if a not in wanted]
        backend.store.update(eni)
    return eni


def describe_part(eni_data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``Ipv6Addresses`` as DescribeNetworkInterfaces and DescribeInstances show them."""
    return [{"Ipv6Address": a, "IsPrimaryIpv6": False} for a in eni_data.get("Ipv6Addresses") or []]


async def assign_live(backend: Backend, region: str, eni_id: str, wanted: Sequence[str],
                      count: int) -> tuple[Record[NetworkInterfaceData], list[str]]:
    """AssignIpv6Addresses: recorded, then the VPC's leases and firewall follow."""
    eni, new = assign(backend, region, eni_id, wanted, count)
    await backend.runtime.sync_vpc(region, eni.data["VpcId"])
    return eni, new


async def unassign_live(backend: Backend, region: str, eni_id: str,
                        gone: Sequence[str]) -> Record[NetworkInterfaceData]:
    eni = unassign(backend, region, eni_id, gone)
    await backend.runtime.sync_vpc(region, eni.data["VpcId"])
    return eni
