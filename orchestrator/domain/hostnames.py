"""EC2's private DNS names of instances: by IPv4 address (``ip-name``: ``ip-10-0-1-5.ec2.internal``)
or by instance id (``resource-name``: ``i-0123456789abcdef0.ec2.internal``, the only kind in an
IPv6-only subnet); ``REGION.compute.internal`` outside us-east-1."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

IP_NAME, RESOURCE_NAME = "ip-name", "resource-name"


def _domain(region: str) -> str:
    return "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"


def ip_name(ip: str, region: str) -> str:
    return "ip-" + ip.replace(".", "-") + "." + _domain(region)


def resource_name(instance_id: str, region: str) -> str:
    return f"{instance_id}.{_domain(region)}"


def instance_hostname(instance_id: str, region: str, data: Mapping[str, Any]) -> str:
    """An instance's private DNS name from its record's data: its id where its subnet named hosts
    by resource name at launch (``PrivateDnsNameOptions``) or it has no IPv4 address, else its
    primary IPv4 address."""
    options = data.get("PrivateDnsNameOptions") or {}
    ip = data.get("PrivateIpAddress")
    if options.get("HostnameType") == RESOURCE_NAME or not ip:
        return resource_name(instance_id, region)
    return ip_name(ip, region)
