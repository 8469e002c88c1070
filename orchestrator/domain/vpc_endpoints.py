"""VPC endpoints and the AWS-managed prefix lists: S3's addresses, service names, the record, the
checks EC2 makes. Pure (the service ``services/vpc_endpoints.py`` stores what these return).

S3 has its own "public" address per region, in a block ec2d owns (the top /24 of the default public
pool, which ec2d never hands out as a public IP; the root namespace has an ``unreachable`` route
for it): :func:`s3_address`. VPC DNS answers ``s3.amazonaws.com``, ``s3.REGION.amazonaws.com`` and
the bucket names under them with it, and every VPC namespace serves S3 there (the other services
stay at 169.254.169.250, a convenience ec2d keeps: on AWS they are reached through the internet or
an interface endpoint). The AWS-managed prefix list ``com.amazonaws.REGION.s3`` holds that address;
a subnet reaches it only as on AWS: its route table's most specific route for the address goes to
a gateway endpoint (the route ``pl-... -> vpce-...``), an internet gateway (the instance has a
public IP) or a working NAT gateway (``runtime/service_access``).

(No ``from __future__ import annotations``: the record's ``TypedDict`` is here, see ``records.py``.)
"""

import hashlib
import ipaddress
import json
from enum import StrEnum
from typing import Any, NotRequired, TypedDict

from orchestrator.domain import errors
from orchestrator.domain.iam import policy

VPC_ENDPOINT = "vpc-endpoint"  # the record type (and TagSpecification's ResourceType)
S3_BLOCK = ipaddress.IPv4Network("198.19.255.0/24")  # S3's addresses, one per region
AWS_OWNER = "AWS"
DEFAULT_POLICY = {"Version": "2008-10-17", "Statement": [
    {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}


class VpcEndpointState(StrEnum):
    """A VPC endpoint's ``State`` (EC2 shows them in lower case)."""

    PENDING = "pending"
    AVAILABLE = "available"
    DELETING = "deleting"
    DELETED = "deleted"
    FAILED = "failed"


class VpcEndpointData(TypedDict):
    """A ``vpc-endpoint`` record's data (registered in ``records.SCHEMAS``)."""

    VpcEndpointType: str  # Gateway | Interface
    VpcId: str
    ServiceName: str
    PolicyDocument: str
    RouteTableIds: list[str]
    OwnerId: str
    CreationTimestamp: str
    ClientToken: NotRequired[str]
    # Interface endpoints (domain/interface_endpoints.py): one ENI per subnet, in the same order
    SubnetIds: NotRequired[list[str]]
    NetworkInterfaceIds: NotRequired[list[str]]
    GroupIds: NotRequired[list[str]]
    PrivateDnsEnabled: NotRequired[bool]
    DnsSuffix: NotRequired[str]  # the random part of its DNS names


VPCE_SCHEMAS: dict[str, type[Any]] = {VPC_ENDPOINT: VpcEndpointData}


def s3_address(region: str) -> str:
    """S3's address for ``region``: a fixed function of the name, inside :data:`S3_BLOCK`."""
    index = int.from_bytes(hashlib.sha256(region.encode()).digest()[:4], "big") % 250
    return str(S3_BLOCK.network_address + 2 + index)


def s3_cidr(region: str) -> str:
    return f"{s3_address(region)}/32"


def s3_service(region: str) -> str:
    return f"com.amazonaws.{region}.s3"


def s3_prefix_list_id(region: str) -> str:
    """The stable id of ``com.amazonaws.REGION.s3`` (AWS's are 8 hex digits too)."""
    return "pl-" + hashlib.sha256(s3_service(region).encode()).hexdigest()[:8]


def aws_prefix_lists(region: str) -> list[dict[str, Any]]:
    """The region's AWS-managed lists: id, name and CIDRs."""
    return [{"PrefixListId": s3_prefix_list_id(region), "PrefixListName": s3_service(region),
             "Cidrs": [s3_cidr(region)]}]


def aws_prefix_list(pl_id: str, regions: list[str]) -> tuple[str, dict[str, Any]] | None:
    """(region, list) of an AWS-managed list id among ``regions``' lists, else None."""
    for region in regions:
        for pl in aws_prefix_lists(region):
            if pl["PrefixListId"] == pl_id:
                return region, pl
    return None


def s3_host_names(regions: list[str]) -> list[tuple[str, str]]:
    """(DNS name, address) for VPC DNS: S3's names of every served region (their subdomains,
    bucket names, with them); ``s3.amazonaws.com`` is us-east-1's."""
    out = [("s3.amazonaws.com", s3_address("us-east-1")), ("s3-external-1.amazonaws.com", s3_address("us-east-1"))]
    for region in regions:
        for name in (f"s3.{region}.amazonaws.com", f"s3.dualstack.{region}.amazonaws.com",
                     f"s3-{region}.amazonaws.com"):
            out.append((name, s3_address(region)))
    return out


def service_region(service_name: Any, regions: list[str]) -> str:
    """The region of a served endpoint service name, else EC2's InvalidServiceName."""
    for region in regions:
        if service_name == s3_service(region):
            return region
    raise errors.ApiError(f"The Vpc Endpoint Service '{service_name}' does not exist",
                          code="InvalidServiceName")


def endpoint_type(value: Any) -> str:
    if value in (None, "Gateway"):
        return "Gateway"
    if value == "Interface":
        return "Interface"
    if value in ("GatewayLoadBalancer", "Resource", "ServiceNetwork"):
        raise errors.ApiError(f"ec2d does not serve {value} endpoints (only Gateway and Interface endpoints).",
                              code="UnsupportedOperation")
    raise errors.InvalidParameterValue(f"Value ({value}) for parameter VpcEndpointType is invalid.")


def policy_document(value: Any) -> str:
    """An endpoint policy as stored (the default full-access one when none is given); a document
    that is not a policy is EC2's InvalidPolicyDocument."""
    if value is None:
        return json.dumps(DEFAULT_POLICY)
    try:
        policy.parse(value, "resource")
    except (policy.MalformedPolicy, ValueError, TypeError) as exc:
        raise errors.ApiError(f"The Policy Document is not valid. {exc}", code="InvalidPolicyDocument") from None
    return str(value)
