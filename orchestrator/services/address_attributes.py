"""Describe/Modify/ResetAddressAttribute: the reverse DNS (PTR record) of an Elastic IP.

A change is recorded ``PENDING`` (``PtrRecordUpdate``), every VPC of the region then re-applies its
resolver's records (each VPC's dnsmasq answers the address's reverse lookup with the name), and the
change is done: the name becomes the address's ``PtrRecord``. The answer shows the change pending,
as EC2's does. EC2 also checks that the name's forward record points at the address; ec2d has no
DNS of the outside world to ask, so it does not (and the VPC resolvers answer that forward record
too). The rules are :mod:`domain.address_ptr`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.domain import address_ptr
from orchestrator.services import public_ips, vpcs
from orchestrator.services.backend import Backend


def describe(backend: Backend, region: str, allocation_ids: Sequence[str] | None) -> list[dict[str, Any]]:
    records = ([public_ips.get_eip(backend, region, a, None) for a in allocation_ids] if allocation_ids
               else backend.store.list(public_ips.EIP, region))
    return [address_ptr.attribute(r.id, r.data, region) for r in records]


def _record(backend: Backend, region: str, allocation_id: str, name: str) -> dict[str, Any]:
    """The change recorded PENDING; returns the attribute as it is now."""
    with backend.store.transaction():
        eip = public_ips.get_eip(backend, region, allocation_id, None)
        eip.data["_PtrRecordUpdate"] = {"Value": name, "Status": address_ptr.PENDING}
        backend.store.update(eip)
    return address_ptr.attribute(eip.id, eip.data, region)


def _settle(backend: Backend, region: str, allocation_id: str, name: str) -> None:
    """The change done (unless another one replaced it meanwhile, or the address is gone)."""
    with backend.store.transaction():
        eip = backend.store.get(allocation_id)
        if eip is None or (eip.data.get("_PtrRecordUpdate") or {}).get("Value") != name:
            return
        del eip.data["_PtrRecordUpdate"]
        if name == address_ptr.default_name(eip.data["PublicIp"], region):
            eip.data.pop("_PtrRecord", None)
        else:
            eip.data["_PtrRecord"] = name
        backend.store.update(eip)


async def _change(backend: Backend, region: str, allocation_id: str, name: str) -> dict[str, Any]:
    shown = _record(backend, region, allocation_id, name)
    for vpc in backend.store.list(vpcs.VPC, region):  # every VPC resolver of the region answers it
        await backend.runtime.sync_vpc(region, vpc.id)
    _settle(backend, region, allocation_id, name)
    return shown


async def modify_live(backend: Backend, region: str, allocation_id: str, domain_name: str) -> dict[str, Any]:
    """ModifyAddressAttribute (DomainName)."""
    name = address_ptr.check_domain(domain_name)
    return await _change(backend, region, allocation_id, name)


async def reset_live(backend: Backend, region: str, allocation_id: str) -> dict[str, Any]:
    """ResetAddressAttribute (domain-name): back to Amazon's name."""
    eip = public_ips.get_eip(backend, region, allocation_id, None)
    return await _change(backend, region, allocation_id, address_ptr.default_name(eip.data["PublicIp"], region))
