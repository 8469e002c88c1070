"""ModifySubnetAttribute: every attribute EC2 has. A value ec2d honours is stored (or is what the
subnet already has); a value it cannot honour gets EC2's error for it or a clear
``InvalidParameterValue``, never ``UnsupportedOperation``.

ec2d's subnets are outside any Outpost, so customer-owned IPs and local network interfaces can only
be off. Subnets with IPv4 name their hosts by IP (``ip-10-0-0-5...``) through the VPC's dnsmasq;
IPv6-only subnets (``services/ipv6_native``) by instance id (``resource-name``, the only kind EC2
allows there), with AAAA records for those names when ``EnableResourceNameDnsAAAARecordOnLaunch``
is on. ``EnableDns64`` is recorded in IPv6-only subnets but has no effect: ec2d has no NAT64 for
synthesized addresses to reach (so its resolver synthesizes none). ``AssignIpv6AddressOnCreation``
may be on in a subnet with an IPv6 /64 (``services/vpc_ipv6``) and is always on in an IPv6-only one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.domain import errors
from orchestrator.domain.hostnames import RESOURCE_NAME
from orchestrator.services import ipv6_native, lookup, vpc_ipv6
from orchestrator.services.backend import Backend

# ModifySubnetAttribute's members (botocore's model) besides SubnetId
ATTRIBUTES = ("AssignIpv6AddressOnCreation", "MapPublicIpOnLaunch", "MapCustomerOwnedIpOnLaunch",
              "CustomerOwnedIpv4Pool", "EnableDns64", "PrivateDnsHostnameTypeOnLaunch",
              "EnableResourceNameDnsARecordOnLaunch", "EnableResourceNameDnsAAAARecordOnLaunch",
              "EnableLniAtDeviceIndex", "DisableLniAtDeviceIndex")

# what DescribeSubnets shows of the attributes that can only be off in ec2d (as EC2 shows a new subnet)
FIXED: dict[str, Any] = {
    "AssignIpv6AddressOnCreation": False, "EnableDns64": False, "Ipv6Native": False,
    "MapCustomerOwnedIpOnLaunch": False, "Ipv6CidrBlockAssociationSet": [],
    "PrivateDnsNameOptionsOnLaunch": {"HostnameType": "ip-name", "EnableResourceNameDnsARecord": False,
                                      "EnableResourceNameDnsAAAARecord": False},
}


def _off_only(name: str, value: Any, subnet_id: str, why: str) -> None:
    if value:
        wire = name[0].lower() + name[1:]
        raise errors.InvalidParameterValue(
            f"Invalid value '{str(value).lower()}' for {wire}. Cannot set {wire} to true in subnet "
            f"({subnet_id}): {why}.")


def _check_native(name: str, value: Any, subnet_id: str) -> bool:
    """An attribute of an IPv6-only subnet; False: checked as in any subnet."""
    if name == "AssignIpv6AddressOnCreation" and not value:
        raise errors.InvalidParameterValue(
            f"Invalid value 'false' for assignIpv6AddressOnCreation. Subnet ({subnet_id}) is IPv6-only: its "
            "interfaces always get an IPv6 address.")
    if name in ("MapPublicIpOnLaunch", "EnableResourceNameDnsARecordOnLaunch"):
        _off_only(name, value, subnet_id, "the subnet is IPv6-only and has no IPv4 addresses")
    elif name == "PrivateDnsHostnameTypeOnLaunch" and value != RESOURCE_NAME:
        raise errors.InvalidParameterValue.for_param(
            "privateDnsHostnameTypeOnLaunch", value, "An IPv6-only subnet names instances by resource name only.")
    return name in ("AssignIpv6AddressOnCreation", "MapPublicIpOnLaunch", "EnableResourceNameDnsARecordOnLaunch",
                    "PrivateDnsHostnameTypeOnLaunch", "EnableResourceNameDnsAAAARecordOnLaunch", "EnableDns64")


def _check(name: str, value: Any, subnet_id: str, has_ipv6: bool) -> None:
    if name == "AssignIpv6AddressOnCreation" and not has_ipv6:
        _off_only(name, value, subnet_id, "the subnet has no IPv6 CIDR block associated with it")
    elif name == "EnableResourceNameDnsAAAARecordOnLaunch":
        _off_only(name, value, subnet_id, "ec2d's resolver names instances by IP only (ip-name)"
                  if has_ipv6 else "the subnet has no IPv6 CIDR block associated with it")
    elif name == "EnableDns64":
        _off_only(name, value, subnet_id, "ec2d's resolver does not synthesize IPv6 answers (DNS64)")
    elif name == "EnableResourceNameDnsARecordOnLaunch":
        _off_only(name, value, subnet_id, "ec2d's resolver names instances by IP only (ip-name)")
    elif name == "MapCustomerOwnedIpOnLaunch":
        _off_only(name, value, subnet_id, "customer-owned IP pools exist only in Outpost subnets")
    elif name == "CustomerOwnedIpv4Pool":
        raise errors.InvalidParameterValue.for_param(
            "customerOwnedIpv4Pool", value, "Customer-owned IP pools exist only in Outpost subnets.")
    elif name == "PrivateDnsHostnameTypeOnLaunch" and value != "ip-name":
        raise errors.InvalidParameterValue.for_param(
            "privateDnsHostnameTypeOnLaunch", value, "ec2d names instances by their IP only (ip-name).")
    elif name == "EnableLniAtDeviceIndex":
        raise errors.InvalidParameterValue.for_param(
            "enableLniAtDeviceIndex", value, "Local network interfaces exist only in Outpost subnets.")


def modify_subnet_attribute(backend: Backend, region: str, subnet_id: str, request: Mapping[str, Any]) -> None:
    """``request``: ModifySubnetAttribute's input (``{"MapPublicIpOnLaunch": {"Value": True}}``...)."""
    record = lookup.subnet(backend, region, subnet_id)
    given = {name: request[name] for name in ATTRIBUTES if request.get(name) is not None}
    if not given:
        raise errors.MissingParameter("MapPublicIpOnLaunch, AssignIpv6AddressOnCreation or another attribute")
    values = {name: v.get("Value") if isinstance(v, Mapping) else v for name, v in given.items()}
    has_ipv6 = vpc_ipv6.subnet_block(record) is not None
    native = ipv6_native.is_native(record)
    for name, value in values.items():
        if not (native and _check_native(name, value, subnet_id)):
            _check(name, value, subnet_id, has_ipv6)
    if native:
        _set_native(record, values)
    if values.get("MapPublicIpOnLaunch") is not None:
        record.data["MapPublicIpOnLaunch"] = bool(values["MapPublicIpOnLaunch"])
    if values.get("AssignIpv6AddressOnCreation") is not None:
        record.data["AssignIpv6AddressOnCreation"] = bool(values["AssignIpv6AddressOnCreation"])
    backend.store.update(record)


def _set_native(record: Any, values: dict[str, Any]) -> None:
    """The attributes only an IPv6-only subnet records (checked by :func:`_check_native`)."""
    options = dict(ipv6_native.subnet_dns_options(record))
    if values.get("EnableResourceNameDnsAAAARecordOnLaunch") is not None:
        options["EnableResourceNameDnsAAAARecord"] = bool(values["EnableResourceNameDnsAAAARecordOnLaunch"])
    record.data["PrivateDnsNameOptionsOnLaunch"] = options
    if values.get("EnableDns64") is not None:
        record.data["EnableDns64"] = bool(values["EnableDns64"])
