"""Interface VPC endpoints for the services ec2d serves: their service names, DNS names and the
checks EC2 makes of their parameters. Pure.

An interface endpoint puts one requester-managed ENI (``InterfaceType`` ``vpc_endpoint``) in each
chosen subnet, at most one per zone; the VPC's namespace holds the ENI's address and serves ec2d's
HTTPS endpoint there (the same front as 169.254.169.250), filtered by the endpoint's security
groups. VPC DNS always answers the endpoint's own names (:func:`dns_names`: the regional
``vpce-ID-SUFFIX.SERVICE.REGION.vpce.amazonaws.com`` and one zonal name per zone) and, with private
DNS, the service's regional name (``SERVICE.REGION.amazonaws.com``) with the ENI addresses.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import errors

SERVICES = ("autoscaling", "ec2", "elasticloadbalancing", "sts")  # served as Interface endpoints
VPCE_DOMAIN = "vpce.amazonaws.com"
REQUESTER = "amazon-aws"  # RequesterId of an endpoint's network interfaces
INTERFACE_TYPE = "vpc_endpoint"
SUFFIX_LEN = 8


def service_name(region: str, service: str) -> str:
    return f"com.amazonaws.{region}.{service}"


def parse(name: Any, regions: Sequence[str]) -> tuple[str, str] | None:
    """(region, service) of a served interface service name, else None."""
    for region in regions:
        for service in SERVICES:
            if name == service_name(region, service):
                return region, service
    return None


def private_dns_name(region: str, service: str) -> str:
    """The name private DNS answers with the endpoint's addresses (the service's regional name)."""
    return f"{service}.{region}.amazonaws.com"


def base_dns_name(region: str, service: str) -> str:
    return f"{service}.{region}.{VPCE_DOMAIN}"


def new_suffix() -> str:
    """The random part of an endpoint's DNS names (``vpce-ID-SUFFIX....``)."""
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(SUFFIX_LEN))


def _zone_id(name: str) -> str:
    """A stable Route 53-style hosted zone id for ``name``."""
    return "Z" + hashlib.sha256(name.encode()).hexdigest()[:12].upper()


def regional_name(vpce_id: str, suffix: str, region: str, service: str) -> str:
    return f"{vpce_id}-{suffix}.{base_dns_name(region, service)}"


def zonal_name(vpce_id: str, suffix: str, zone: str, region: str, service: str) -> str:
    return f"{vpce_id}-{suffix}-{zone}.{base_dns_name(region, service)}"


def dns_names(vpce_id: str, suffix: str, region: str, service: str, zone_ips: Mapping[str, str],
              private_dns: bool) -> list[tuple[str, str]]:
    """``(name, address)`` for VPC DNS: the regional name and the private DNS name (when enabled)
    to every ENI address, each zonal name to its zone's; ``zone_ips``: zone -> ENI address."""
    out: list[tuple[str, str]] = []
    regional = [regional_name(vpce_id, suffix, region, service)]
    if private_dns:
        regional.append(private_dns_name(region, service))
    for zone, ip in sorted(zone_ips.items()):
        out += [(name, ip) for name in regional]
        out.append((zonal_name(vpce_id, suffix, zone, region, service), ip))
    return out


def dns_entries(vpce_id: str, suffix: str, region: str, service: str, zones: Sequence[str],
                private_dns: bool) -> list[dict[str, str]]:
    """The endpoint's ``DnsEntries`` as EC2 shows them: regional, zonal, then the private name."""
    base = base_dns_name(region, service)
    names = [regional_name(vpce_id, suffix, region, service)]
    names += [zonal_name(vpce_id, suffix, z, region, service) for z in sorted(zones)]
    out = [{"DnsName": n, "HostedZoneId": _zone_id(base)} for n in names]
    if private_dns:
        name = private_dns_name(region, service)
        out.append({"DnsName": name, "HostedZoneId": _zone_id(f"private:{name}")})
    return out


def service_detail(region: str, service: str, zones: Sequence[str]) -> dict[str, Any]:
    """DescribeVpcEndpointServices' ``ServiceDetails`` item of an interface service."""
    name = service_name(region, service)
    private = private_dns_name(region, service)
    return {"ServiceName": name, "ServiceId": "vpce-svc-" + hashlib.sha256(name.encode()).hexdigest()[:17],
            "ServiceType": [{"ServiceType": "Interface"}], "ServiceRegion": region, "AvailabilityZones": list(zones),
            "Owner": "amazon", "BaseEndpointDnsNames": [base_dns_name(region, service)],
            "PrivateDnsName": private, "PrivateDnsNames": [{"PrivateDnsName": private}],
            "VpcEndpointPolicySupported": True, "AcceptanceRequired": False, "ManagesVpcEndpoints": False,
            "PrivateDnsNameVerificationState": "verified", "Tags": [], "SupportedIpAddressTypes": ["ipv4"]}


def check_zones(subnet_zones: Sequence[tuple[str, str]]) -> None:
    """At most one subnet per zone (``(subnet id, zone)`` in order), else EC2's
    DuplicateSubnetsInSameZone naming the second subnet of a zone."""
    seen: set[str] = set()
    for subnet_id, zone in subnet_zones:
        if zone in seen:
            raise errors.ApiError(f"Found another VPC endpoint subnet in the availability zone of {subnet_id}. "
                                  "VPC endpoint subnets should be in different availability zones supported by "
                                  "the VPC endpoint service.", code="DuplicateSubnetsInSameZone")
        seen.add(zone)


def ipv4_only(ip_address_type: Any, dns_options: Any) -> None:
    """ec2d's interface endpoints have IPv4 addresses and records only."""
    record_type = dns_options.get("DnsRecordIpType") if isinstance(dns_options, Mapping) else None
    for name, value in (("IpAddressType", ip_address_type), ("DnsRecordIpType", record_type)):
        if value not in (None, "ipv4"):
            raise errors.ApiError(f"ec2d's interface endpoints are IPv4 only ({name} {value}).",
                                  code="UnsupportedOperation")


def interface_only(route_table_ids: Any) -> None:
    """EC2's refusal of a Gateway endpoint's parameter for an Interface endpoint."""
    if route_table_ids:
        raise errors.ApiError("Route table IDs are only supported for Gateway type VPC Endpoint.",
                              code="InvalidParameter")


def type_mismatch(kind: str, available: str) -> errors.ApiError:
    """EC2's answer to an endpoint type the named service does not offer."""
    return errors.ApiError(f"Endpoint type ({kind}) does not match available service types ([{available}]).",
                           code="InvalidParameter")
