"""IPv6-only subnets (CreateSubnet ``Ipv6Native``) and what lives in them.

An IPv6-only subnet has a /64 and no IPv4 CIDR: its interfaces have IPv6 addresses only (one at
least: the subnet assigns one on creation, always), no private or public IPv4 address, and its
instances are named by their id (``resource-name`` hostnames: ``i-0123456789abcdef0.ec2.internal``),
as EC2 requires there. The network side: the subnet's bridge carries only ``::1`` of the /64, the
VPC's dnsmasq serves it DHCPv6 and router advertisements only, and the metadata service answers
its instances at ``[fd00:ec2::254]`` (when their ``HttpProtocolIpv6`` is enabled, as on EC2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.domain import errors, hostnames
from orchestrator.domain.hostnames import IP_NAME, RESOURCE_NAME
from orchestrator.domain.records import DnsNameOptions, InstanceData, NetworkInterfaceData, SubnetData
from orchestrator.store.sqlite import Record


def is_native(subnet: Record[SubnetData]) -> bool:
    return bool(subnet.data.get("Ipv6Native"))


def check_create(req: Mapping[str, Any]) -> None:
    """CreateSubnet's address parameters: an IPv4 CIDR, or ``Ipv6Native`` with only an IPv6 one."""
    if req.get("Ipv6Native"):
        if not req.get("Ipv6CidrBlock"):
            raise errors.MissingParameter("ipv6CidrBlock")
        if req.get("CidrBlock"):
            raise errors.InvalidParameterCombination(
                "The parameter 'cidrBlock' cannot be used with the parameter 'ipv6Native'")
    elif not req.get("CidrBlock"):
        raise errors.MissingParameter("cidrBlock" if req.get("Ipv6CidrBlock") else "CidrBlock or Ipv6CidrBlock")


def dns_options(host: str) -> DnsNameOptions:
    return {"HostnameType": host, "EnableResourceNameDnsARecord": False, "EnableResourceNameDnsAAAARecord": False}


def native_fields(subnet: Record[SubnetData]) -> None:
    """What an IPv6-only subnet holds from its creation (EC2's defaults there)."""
    subnet.data.pop("CidrBlock", None)
    subnet.data.update({"Ipv6Native": True, "AssignIpv6AddressOnCreation": True, "MapPublicIpOnLaunch": False,
                        "EnableDns64": False, "PrivateDnsNameOptionsOnLaunch": dns_options(RESOURCE_NAME)})


def subnet_dns_options(subnet: Record[SubnetData]) -> DnsNameOptions:
    return subnet.data.get("PrivateDnsNameOptionsOnLaunch") or dns_options(IP_NAME)


def describe_subnet_part(subnet: Record[SubnetData]) -> dict[str, Any]:
    """DescribeSubnets' members that differ in an IPv6-only subnet (or were modified)."""
    d = subnet.data
    out: dict[str, Any] = {"Ipv6Native": is_native(subnet), "EnableDns64": bool(d.get("EnableDns64")),
                           "PrivateDnsNameOptionsOnLaunch": dict(subnet_dns_options(subnet))}
    if is_native(subnet):
        out["AvailableIpAddressCount"] = 0  # IPv4 addresses, as EC2 counts them
    return out


# ---------------------------------------------------------------------------------------------
# interfaces and instances


def check_launch(subnet: Record[SubnetData], private_ip: str | None, wants_public: bool,
                 ipv6: Mapping[str, Any]) -> None:
    """RunInstances/CreateNetworkInterface into an IPv6-only subnet: no IPv4 of any kind, and at
    least one IPv6 address."""
    if not is_native(subnet):
        return
    if private_ip:
        raise errors.InvalidParameterValue(
            f"Invalid private IPv4 address {private_ip}: subnet '{subnet.id}' is IPv6-only and has no IPv4 "
            "addresses.")
    if wants_public:
        raise errors.InvalidParameterCombination(
            f"A public IPv4 address cannot be associated with an interface in IPv6-only subnet '{subnet.id}'.")
    count = ipv6.get("Ipv6AddressCount")
    if count is not None and int(count) == 0 and not ipv6.get("Ipv6Addresses"):
        raise errors.InvalidParameterValue(
            f"Invalid value '0' for ipv6AddressCount. An interface in IPv6-only subnet '{subnet.id}' needs at "
            "least one IPv6 address.")


def check_secondary_ipv4(subnet: Record[SubnetData]) -> None:
    if is_native(subnet):
        raise errors.InvalidParameterValue(
            f"Subnet '{subnet.id}' is IPv6-only: its interfaces cannot have private IPv4 addresses.")


def eni_addresses(eni: Mapping[str, Any]) -> list[str]:
    """An interface's IPv4 addresses, primary first (none in an IPv6-only subnet)."""
    data: NetworkInterfaceData = eni  # type: ignore[assignment]
    primary = data.get("PrivateIpAddress")
    return [primary, *(data.get("SecondaryPrivateIps") or [])] if primary else []


def launch_addressing(instance: Record[InstanceData], eni: Record[NetworkInterfaceData],
                      subnet: Record[SubnetData]) -> None:
    """A new instance's primary IPv4 address (none in an IPv6-only subnet) and its subnet's
    hostname type at launch."""
    ip = eni.data.get("PrivateIpAddress")
    if ip:
        instance.data["PrivateIpAddress"] = ip
    if is_native(subnet):
        instance.data["PrivateDnsNameOptions"] = dict(subnet_dns_options(subnet))  # type: ignore[typeddict-item]


def describe_instance_part(instance: Record[InstanceData], eni: Mapping[str, Any],
                           gone: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """DescribeInstances' addressing members: the instance's, and its primary interface's."""
    d = instance.data
    ip = d.get("PrivateIpAddress")
    name = hostnames.instance_hostname(instance.id, instance.region, d)
    top: dict[str, Any] = {"PrivateDnsName": "" if gone else name, "PrivateIpAddress": None if gone else ip,
                           "PrivateDnsNameOptions": dict(d.get("PrivateDnsNameOptions") or dns_options(IP_NAME))}
    v6 = list(eni.get("Ipv6Addresses") or [])
    if v6 and not ip and not gone:
        top["Ipv6Address"] = v6[0]
    nic = {"PrivateIpAddress": ip, "PrivateDnsName": name,
           "PrivateIpAddresses": [{"Primary": True, "PrivateIpAddress": ip, "PrivateDnsName": name}] if ip else []}
    return top, nic
