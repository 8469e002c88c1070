"""DHCP options sets: CreateDhcpOptions' configurations checked as EC2 checks them, and the
region's default set. Pure: the service stores what :func:`parse` returns; the runtime turns a
VPC's set into what its DHCP server hands out (``runtime/dhcp_state.py``).

The options (RFC 2132; limits of the EC2 API reference): ``domain-name`` (15: one value; several
space-separated domains are one value, as on EC2), ``domain-name-servers`` (6: up to four IPv4
addresses, or ``AmazonProvidedDNS``, the VPC's resolver at its base + 2), ``ntp-servers`` (42: up
to four IPv4 and four IPv6 addresses), ``netbios-name-servers`` (44: up to four IPv4 addresses),
``netbios-node-type`` (46: 1, 2, 4 or 8) and ``ipv6-address-preferred-lease-time`` (140 to
2147483647 seconds; DHCPv6, recorded).

(No ``from __future__ import annotations``: the record's ``TypedDict`` is here, see ``records.py``.)
"""

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any, NotRequired, TypedDict

from orchestrator.domain import errors


class DhcpConfigurationData(TypedDict):
    Key: str
    Values: list[str]


class DhcpOptionsData(TypedDict):
    """A ``dhcp-options`` record's data (registered in ``records.SCHEMAS``)."""

    DhcpConfigurations: list[DhcpConfigurationData]  # as :func:`parse` returns them
    OwnerId: str
    Default: NotRequired[bool]  # the region's default set (new VPCs get it; not shown by the API)


DHCP_OPTIONS = "dhcp-options"  # the record type
DHCP_SCHEMAS: dict[str, type[Any]] = {DHCP_OPTIONS: DhcpOptionsData}
AMAZON_PROVIDED_DNS = "AmazonProvidedDNS"
DOMAIN_NAME = "domain-name"
DNS_SERVERS = "domain-name-servers"
NTP_SERVERS = "ntp-servers"
NETBIOS_SERVERS = "netbios-name-servers"
NETBIOS_NODE_TYPE = "netbios-node-type"
IPV6_LEASE_TIME = "ipv6-address-preferred-lease-time"
KEYS = (DOMAIN_NAME, DNS_SERVERS, NTP_SERVERS, NETBIOS_SERVERS, NETBIOS_NODE_TYPE, IPV6_LEASE_TIME)
SERVER_KEYS = (DNS_SERVERS, NTP_SERVERS, NETBIOS_SERVERS)
MAX_SERVERS = 4
NODE_TYPES = ("1", "2", "4", "8")
IPV6_LEASE_RANGE = (140, 2147483647)
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,253}[A-Za-z0-9])?$")
_DOMAIN_NAME_MAX = 255


def default_domain(region: str) -> str:
    """The domain of the region's default set (EC2's private DNS domain)."""
    return "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"


def default_configurations(region: str) -> list[dict[str, Any]]:
    """The region's default set, as EC2 makes it: the region's domain and AmazonProvidedDNS."""
    return [{"Key": DOMAIN_NAME, "Values": [default_domain(region)]},
            {"Key": DNS_SERVERS, "Values": [AMAZON_PROVIDED_DNS]}]


def _invalid(key: str, value: object, reason: str) -> errors.InvalidParameterValue:
    return errors.InvalidParameterValue.for_param(key, value, reason)


def _check_domain(value: str) -> None:
    names = value.split(" ")
    if len(value) > _DOMAIN_NAME_MAX or not all(_DOMAIN.match(n) and ".." not in n for n in names):
        raise _invalid(DOMAIN_NAME, value, "Invalid domain name.")


def _server_version(key: str, value: str) -> int:
    """4 or 6 (``AmazonProvidedDNS``: 4); only NTP servers may be IPv6 addresses."""
    if key == DNS_SERVERS and value == AMAZON_PROVIDED_DNS:
        return 4
    try:
        version = ipaddress.ip_address(value).version
    except ValueError:
        raise _invalid(key, value, "Invalid IP address.") from None
    if version == 6 and key != NTP_SERVERS:
        raise _invalid(key, value, "Invalid IPv4 address.")
    return version


def _check_single(key: str, values: list[str]) -> None:
    if len(values) != 1:
        raise _invalid(key, ", ".join(values), "Only one value is allowed.")
    value = values[0]
    if key == DOMAIN_NAME:
        _check_domain(value)
    elif key == NETBIOS_NODE_TYPE and value not in NODE_TYPES:
        raise _invalid(key, value, "Valid values are 1, 2, 4 or 8.")
    elif key == IPV6_LEASE_TIME:
        low, high = IPV6_LEASE_RANGE
        if not value.isdigit() or not low <= int(value) <= high:
            raise _invalid(key, value, f"The value must be an integer from {low} to {high}.")


def _check_values(key: str, values: list[str]) -> None:
    if any(not v for v in values) or not values:
        raise _invalid(key, ", ".join(values), "The value cannot be empty.")
    if key not in SERVER_KEYS:
        _check_single(key, values)
        return
    if len(set(values)) != len(values):
        raise _invalid(key, ", ".join(values), "Duplicate values are not allowed.")
    versions = [_server_version(key, v) for v in values]
    for version in (4, 6):
        if versions.count(version) > MAX_SERVERS:
            raise _invalid(key, ", ".join(values), f"A maximum of {MAX_SERVERS} IPv{version} addresses is allowed.")


def parse(configurations: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """CreateDhcpOptions' ``DhcpConfigurations`` checked and stored as ``[{"Key", "Values": [str]}]``
    (sorted by key, as EC2 lists them). Raises EC2's errors."""
    out: dict[str, list[str]] = {}
    for conf in configurations or ():
        key = conf.get("Key")
        if not key:
            raise errors.MissingParameter("DhcpConfiguration.Key")
        if key not in KEYS:
            raise _invalid("key", key, "Unknown DHCP option.")
        if key in out:
            raise _invalid("key", key, "The DHCP option is given more than once.")
        values = [str(v).strip() for v in conf.get("Values") or []]
        _check_values(key, values)
        out[key] = values
    if not out:
        raise errors.MissingParameter("DhcpConfiguration")
    return [{"Key": k, "Values": v} for k, v in sorted(out.items())]


def rendered(configurations: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The stored configurations in the API's shape (``Values: [{"Value": ...}]``)."""
    return [{"Key": c["Key"], "Values": [{"Value": v} for v in c["Values"]]} for c in configurations]


def values_of(configurations: Iterable[Mapping[str, Any]], key: str) -> list[str]:
    return next((list(c["Values"]) for c in configurations if c["Key"] == key), [])
