"""The reverse DNS (PTR record) of an Elastic IP: ModifyAddressAttribute's domain name checked, the
update's states, and the name the VPC resolvers answer for the address.

An address's stored data keeps its custom name in ``_PtrRecord`` (absent: Amazon's default name)
and a change in progress in ``_PtrRecordUpdate`` (``{Value, Status: PENDING}``), moved to done
(the update dropped, the name in ``_PtrRecord``) once every VPC resolver of the region serves it.
"""

import re
from collections.abc import Mapping
from typing import Any

from orchestrator.domain import errors

PENDING = "PENDING"  # PtrRecordUpdate.Status while the resolvers follow
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def default_name(public_ip: str, region: str) -> str:
    """Amazon's PTR of a public address (its public DNS name, fully qualified)."""
    host = "ec2-" + public_ip.replace(".", "-")
    return (f"{host}.compute-1.amazonaws.com." if region == "us-east-1"
            else f"{host}.{region}.compute.amazonaws.com.")


def check_domain(name: str) -> str:
    """The fully qualified form (trailing dot) of a valid domain name, else EC2's error."""
    fqdn = name.lower().rstrip(".") if name else ""
    labels = fqdn.split(".")
    if not fqdn or len(fqdn) > 253 or len(labels) < 2 or not all(_LABEL.match(lb) for lb in labels):
        raise errors.InvalidParameterValue.for_param("DomainName", name, "The domain name is not valid.")
    return fqdn + "."


def served(data: Mapping[str, Any], region: str) -> str | None:
    """The custom name the VPC resolvers answer for the address (without the trailing dot), or
    None (Amazon's default name, which only Amazon's public DNS serves)."""
    update = data.get("_PtrRecordUpdate")
    name = update["Value"] if update else data.get("_PtrRecord")
    if not name or name == default_name(data["PublicIp"], region):
        return None
    return str(name).rstrip(".")


def attribute(allocation_id: str, data: Mapping[str, Any], region: str) -> dict[str, Any]:
    """The address's ``AddressAttribute`` (DescribeAddressesAttribute, Modify/ResetAddressAttribute)."""
    out: dict[str, Any] = {"PublicIp": data["PublicIp"], "AllocationId": allocation_id,
                           "PtrRecord": data.get("_PtrRecord") or default_name(data["PublicIp"], region)}
    if data.get("_PtrRecordUpdate"):
        out["PtrRecordUpdate"] = dict(data["_PtrRecordUpdate"])
    return out
