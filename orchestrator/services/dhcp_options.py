"""DHCP options sets: Create/Describe/Delete/AssociateDhcpOptions and each region's default set.

A set is immutable; a VPC names one (``DhcpOptionsId``) or ``default`` (no set: as on EC2's
Nitro instances, the guest gets only the link-local resolver 169.254.169.253). New VPCs get the
region's default set (``Default`` in the record), made when first needed and again if the user
deleted it. An association changes what the VPC's DHCP server hands out at once; guests see it
when they renew their lease (``associate_live`` syncs the VPC before answering).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import dhcp_options as dopt
from orchestrator.domain import errors, ids
from orchestrator.domain.dhcp_options import DHCP_OPTIONS, DhcpOptionsData
from orchestrator.domain.lifecycle import AVAILABLE
from orchestrator.domain.records import VPC, VpcData
from orchestrator.services import lookup
from orchestrator.services import tags as tag_service
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

NO_SET = "default"  # AssociateDhcpOptions' id for "no DHCP options"


def new_dhcp_options(backend: Backend, region: str, configurations: list[dict[str, Any]], *,
                     default: bool = False) -> Record[DhcpOptionsData]:
    """Insert a set (call inside a store transaction); ``configurations`` from ``dopt.parse``."""
    data = DhcpOptionsData(DhcpConfigurations=configurations, OwnerId=backend.account_id)  # type: ignore[typeddict-item]
    if default:
        data["Default"] = True
    record = Record[DhcpOptionsData](id=ids.new_id("dopt"), type=DHCP_OPTIONS, region=region, state=AVAILABLE,
                                     data=data)
    backend.store.insert(record)
    return record


def default_set(backend: Backend, region: str) -> Record[DhcpOptionsData]:
    """The region's default set, made if missing. The first time it is made, VPCs recorded before
    ec2d had DHCP options sets (``default``, served as this set) are moved onto it."""
    with backend.store.transaction():
        found = next((r for r in backend.store.list(DHCP_OPTIONS, region) if r.data.get("Default")), None)
        if found is not None:
            return found
        record = new_dhcp_options(backend, region, dopt.default_configurations(region), default=True)
        if not backend.store.get_setting(f"dhcp-options-made:{region}"):
            backend.store.set_setting(f"dhcp-options-made:{region}", "1")
            for vpc in backend.store.list(VPC, region):
                if vpc.data["DhcpOptionsId"] == NO_SET:
                    vpc.data["DhcpOptionsId"] = record.id
                    backend.store.update(vpc)
        return record


def ensure_default_set(backend: Backend, region: str) -> None:
    """Start-up: the region's default set, made once (and the older VPCs moved onto it)."""
    if not backend.store.get_setting(f"dhcp-options-made:{region}"):
        default_set(backend, region)


def create_tagged(backend: Backend, region: str, configurations: Sequence[Mapping[str, Any]] | None,
                  tags: Mapping[str, str]) -> Record[DhcpOptionsData]:
    """CreateDhcpOptions."""
    parsed = dopt.parse(configurations)
    with backend.store.transaction():
        record = new_dhcp_options(backend, region, parsed)
        if tags:
            backend.store.set_tags(record.id, DHCP_OPTIONS, region, dict(tags))
    return record


def describe_one(record: Record[DhcpOptionsData], tags: Mapping[str, str], *, empty_tags: bool = True
                 ) -> dict[str, Any]:
    """The API's item. DescribeDhcpOptions shows an empty ``Tags`` list; CreateDhcpOptions'
    answer has none when the set has no tags (``empty_tags=False``), as EC2's examples show."""
    out: dict[str, Any] = {"DhcpOptionsId": record.id, "OwnerId": record.data["OwnerId"],
                           "DhcpConfigurations": dopt.rendered(record.data["DhcpConfigurations"])}
    if tags or empty_tags:
        out["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
    return out


def describe(backend: Backend, region: str, dopt_ids: Sequence[str] | None) -> list[dict[str, Any]]:
    """DescribeDhcpOptions' items (the filters and pages are the handler's)."""
    records = lookup.select(backend.store.list(DHCP_OPTIONS, region), dopt_ids, "dopt")
    return tag_service.rendered(backend, region, DHCP_OPTIONS, records, describe_one)


def _users(backend: Backend, region: str, dopt_id: str) -> list[Record[VpcData]]:
    return [v for v in backend.store.list(VPC, region) if v.data["DhcpOptionsId"] == dopt_id]


def delete(backend: Backend, region: str, dopt_id: str) -> None:
    """DeleteDhcpOptions: refused while a VPC uses the set (the default set too may be deleted)."""
    with backend.store.transaction():
        record = lookup.dhcp_options(backend, region, dopt_id)
        if _users(backend, region, dopt_id):
            raise errors.DependencyViolation(f"The dhcpOptions '{dopt_id}' has dependencies and cannot be deleted.")
        backend.store.delete(record.id)  # its tags with it


def associate(backend: Backend, region: str, dopt_id: str, vpc_id: str) -> bool:
    """AssociateDhcpOptions' decision: the VPC names the set (or ``default``: none). Returns
    whether the association changed (the VPC's DHCP server then follows)."""
    with backend.store.transaction():
        if dopt_id != NO_SET:
            lookup.dhcp_options(backend, region, dopt_id)
        vpc = lookup.vpc(backend, region, vpc_id)
        if vpc.data["DhcpOptionsId"] == dopt_id:
            return False
        vpc.data["DhcpOptionsId"] = dopt_id
        backend.store.update(vpc)
        return True


async def associate_live(backend: Backend, region: str, dopt_id: str, vpc_id: str) -> None:
    """AssociateDhcpOptions: recorded, then the VPC's DHCP server hands out the new options."""
    if associate(backend, region, dopt_id, vpc_id):
        await backend.runtime.sync_vpc(region, vpc_id)
