"""ModifySubnetAttribute: every attribute EC2 has. A value ec2d honours is stored (or is what the
subnet already has); a value it cannot honour gets EC2's error for it or a clear
``InvalidParameterValue``, never ``UnsupportedOperation``.

ec2d's subnets are outside any Outpost and name their hosts by IP (``ip-10-0-0-5...``) through the
VPC's dnsmasq, which synthesizes no IPv6 answers: so DNS64, customer-owned IPs, local network
interfaces and resource-name hostnames can only be off. ``AssignIpv6AddressOnCreation`` may be
on in a subnet with an IPv6 /64 (``services/vpc_ipv6``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.domain import errors
from orchestrator.services import lookup, vpc_ipv6
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
    for name, value in values.items():
        _check(name, value, subnet_id, has_ipv6)
    if values.get("MapPublicIpOnLaunch") is not None:
        record.data["MapPublicIpOnLaunch"] = bool(values["MapPublicIpOnLaunch"])
    if values.get("AssignIpv6AddressOnCreation") is not None:
        record.data["AssignIpv6AddressOnCreation"] = bool(values["AssignIpv6AddressOnCreation"])
    backend.store.update(record)
