"""NAT gateways: CreateNatGateway, DescribeNatGateways, DeleteNatGateway (the model side, and the
``*_live`` actions that have the VPC's network follow before the API call answers).

A public NAT gateway takes an Elastic IP (associated with the gateway's network interface, as
DescribeAddresses shows) and an interface with a private address in its subnet. Subnets whose
route tables send destinations to it leave through the VPC's internet gateway translated to its
Elastic IP, when its own subnet routes those destinations to the internet gateway (see
``runtime/route_plan``); nothing from outside can open a connection through it. A private NAT
gateway has no Elastic IP, and no way to the internet.

States as on EC2: ``pending`` (returned by CreateNatGateway) -> ``available`` once the VPC's
namespace translates for it (``failed``, with EC2's ``FailureCode``, for a public gateway in a VPC
without an internet gateway); ``deleting`` -> ``deleted`` (its address and interface released,
routes to it become blackholes; the record stays visible as ``deleted``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import errors, ids
from orchestrator.domain.lifecycle import NatGatewayState
from orchestrator.domain.records import EIP
from orchestrator.domain.route_records import NAT_GATEWAY, NatGatewayAddress, NatGatewayData
from orchestrator.runtime import records as runtime_records
from orchestrator.services import lookup, network_interfaces, public_ips
from orchestrator.services import tags as tag_service
from orchestrator.services.backend import Backend
from orchestrator.services.instances import now_iso
from orchestrator.store.sqlite import Record

NG = NatGatewayState
SHOWN_DELETED = dt.timedelta(hours=1)
UNSERVED = ("SecondaryAllocationIds", "SecondaryPrivateIpAddresses", "SecondaryPrivateIpAddressCount",
            "AvailabilityZoneAddresses")  # secondary addresses, regional gateways
REQUESTER = "ec2d-nat-gateway"  # the requester of the gateways' interfaces (AWS shows an account id)


def _check_create(backend: Backend, region: str, req: Mapping[str, Any]) -> tuple[Record, Record | None, str]:
    """The subnet, the Elastic IP (public) and the connectivity type, checked as EC2 does."""
    unserved = [k for k in UNSERVED if req.get(k)]
    if unserved:
        raise errors.ApiError(f"ec2d's NAT gateways have one address each; {unserved[0]} is not supported.",
                              code="UnsupportedOperation")
    connectivity = req.get("ConnectivityType") or "public"
    if connectivity not in ("public", "private"):
        raise errors.InvalidParameterValue.for_param("connectivityType", connectivity,
                                                     "Valid values are public, private.")
    subnet_id = req.get("SubnetId")
    if not subnet_id:
        raise errors.MissingParameter("SubnetId")
    subnet = lookup.subnet(backend, region, subnet_id)
    allocation_id = req.get("AllocationId")
    if connectivity == "private":
        if allocation_id:
            raise errors.InvalidParameterCombination("AllocationId cannot be specified for a private NAT gateway")
        return subnet, None, connectivity
    if not allocation_id:
        raise errors.MissingParameter("AllocationId")
    ids.check(allocation_id, "eipalloc")
    eip = next((e for e in backend.store.list(EIP, region) if e.id == allocation_id), None)
    if eip is None:
        raise errors.NotFound("InvalidAllocationID.NotFound", f"The allocation ID '{allocation_id}' does not exist")
    if eip.data.get("AssociationId"):
        raise errors.ApiError(f"Elastic IP address [{allocation_id}] is already associated",
                              code="Resource.AlreadyAssociated")
    return subnet, eip, connectivity


def create_nat_gateway(backend: Backend, region: str, req: Mapping[str, Any],
                       tags: Mapping[str, str]) -> tuple[Record[NatGatewayData], bool]:
    """CreateNatGateway: a ``pending`` gateway with its interface (and Elastic IP, associated);
    returns it and whether it is new (False: the same ClientToken made it before)."""
    token = req.get("ClientToken")
    with backend.store.transaction():
        if token:
            same = next((n for n in backend.store.list(NAT_GATEWAY, region) if n.data.get("ClientToken") == token),
                        None)
            if same is not None:
                return same, False
        subnet, eip, connectivity = _check_create(backend, region, req)
        nat_id = ids.new_id("nat")
        eni = network_interfaces.create_requester_managed(backend, subnet, [], f"Interface for NAT Gateway {nat_id}",
                                                          REQUESTER, req.get("PrivateIpAddress"))
        eni.data["InterfaceType"] = "nat_gateway"
        backend.store.update(eni)
        address: NatGatewayAddress = {"NetworkInterfaceId": eni.id, "PrivateIp": eni.data["PrivateIpAddress"],
                                      "IsPrimary": True, "Status": "succeeded"}
        if eip is not None:
            address["AssociationId"] = ids.new_id("eipassoc")
            eip.data.update({"AssociationId": address["AssociationId"], "NetworkInterfaceId": eni.id,
                             "NetworkInterfaceOwnerId": backend.account_id,
                             "PrivateIpAddress": eni.data["PrivateIpAddress"]})
            backend.store.update(eip)
            address.update({"AllocationId": eip.id, "PublicIp": eip.data["PublicIp"]})
        data: NatGatewayData = {"SubnetId": subnet.id, "VpcId": subnet.data["VpcId"],
                                "ConnectivityType": connectivity, "CreateTime": now_iso(),
                                "NatGatewayAddresses": [address]}
        if token:
            data["ClientToken"] = token
        record = Record[NatGatewayData](id=nat_id, type=NAT_GATEWAY, region=region, state=str(NG.PENDING), data=data)
        backend.store.insert(record, dict(tags))
    return record, True


def mark_available(backend: Backend, nat: Record[NatGatewayData]) -> None:
    """``pending`` -> ``available`` (its translation is in place)."""
    current = backend.store.get(nat.id)
    if current is not None and current.state == NG.PENDING:
        backend.store.transition(nat.id, str(NG.PENDING), str(NG.AVAILABLE))


def delete_nat_gateway(backend: Backend, region: str, nat_id: str) -> Record[NatGatewayData]:
    """DeleteNatGateway: ``deleting`` (no more translation); :func:`finish_delete` releases the rest."""
    nat = lookup.nat_gateway(backend, region, nat_id)
    if nat.state in (NG.DELETING, NG.DELETED):
        raise errors.NotFound("NatGatewayNotFound", f"The Nat Gateway {nat_id} was not found")
    if nat.state == NG.FAILED:
        return backend.store.transition(nat.id, str(NG.FAILED), str(NG.DELETED))
    return backend.store.transition(nat.id, nat.state, str(NG.DELETING))


def _release(backend: Backend, nat: Record[NatGatewayData], status: str) -> Record[NatGatewayData]:
    """The gateway's Elastic IP disassociated and interface deleted (call inside a transaction)."""
    for a in nat.data["NatGatewayAddresses"]:
        eip = backend.store.get(a.get("AllocationId") or "")
        if eip is not None and eip.data.get("NetworkInterfaceId") == a["NetworkInterfaceId"]:
            runtime_records.clear_eip_association(eip)
            backend.store.update(eip)
        a["Status"] = status
        if backend.store.get(a["NetworkInterfaceId"]) is not None:
            backend.store.delete(a["NetworkInterfaceId"])
    return nat


def finish_delete(backend: Backend, nat: Record[NatGatewayData]) -> None:
    """``deleting`` -> ``deleted``: the Elastic IP is disassociated and the interface deleted."""
    with backend.store.transaction():
        current = backend.store.get(nat.id)
        if current is None or current.state != NG.DELETING:
            return
        _release(backend, current, "succeeded").data["DeleteTime"] = now_iso()
        backend.store.update(current)
        backend.store.transition(nat.id, str(NG.DELETING), str(NG.DELETED))


def failure(backend: Backend, nat: Record[NatGatewayData]) -> tuple[str, str] | None:
    """Why a new gateway cannot work, as EC2 reports it in ``FailureCode``/``FailureMessage``:
    a public gateway in a VPC without an attached internet gateway."""
    vpc_id = nat.data["VpcId"]
    if nat.data["ConnectivityType"] == "public" and public_ips.attached_igw(backend, nat.region, vpc_id) is None:
        return "Gateway.NotAttached", f"Network {vpc_id} has no Internet gateway attached"
    return None


def fail(backend: Backend, nat: Record[NatGatewayData], code: str, message: str) -> None:
    """``pending`` -> ``failed``, its address and interface released (EC2 keeps the record)."""
    with backend.store.transaction():
        current = backend.store.get(nat.id)
        if current is None or current.state != NG.PENDING:
            return
        _release(backend, current, "failed").data.update({"FailureCode": code, "FailureMessage": message})
        backend.store.update(current)
        backend.store.transition(nat.id, str(NG.PENDING), str(NG.FAILED))


def settle_interrupted(backend: Backend) -> None:
    """At start-up: gateways an interrupted call left ``pending`` or ``deleting`` move on (the
    runtime applies every VPC from the store when it brings it up)."""
    for region in backend.config.regions:
        for nat in backend.store.list(NAT_GATEWAY, region):
            why = failure(backend, nat) if nat.state == NG.PENDING else None
            if why is not None:
                fail(backend, nat, *why)
            elif nat.state == NG.PENDING:
                mark_available(backend, nat)
            elif nat.state == NG.DELETING:
                finish_delete(backend, nat)


def describe_nat_gateway(record: Record[NatGatewayData], tags: Mapping[str, str]) -> dict[str, Any]:
    d = record.data
    out: dict[str, Any] = {"NatGatewayId": record.id, "SubnetId": d["SubnetId"], "VpcId": d["VpcId"],
                           "State": record.state, "ConnectivityType": d["ConnectivityType"],
                           "CreateTime": d["CreateTime"],
                           "NatGatewayAddresses": [dict(a) for a in d["NatGatewayAddresses"]]}
    for key in ("DeleteTime", "FailureCode", "FailureMessage"):
        if d.get(key):
            out[key] = d[key]
    if tags:
        out["Tags"] = tag_service.tag_list(tags)
    return out


def forgotten(record: Record[NatGatewayData], now: dt.datetime) -> bool:
    """EC2 shows a deleted gateway for about an hour, then no more."""
    deleted = record.data.get("DeleteTime")
    return bool(deleted) and now - dt.datetime.fromisoformat(str(deleted).replace("Z", "+00:00")) > SHOWN_DELETED


def describe_nat_gateways(backend: Backend, region: str, nat_ids: Sequence[str] | None) -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC)
    shown = [n for n in backend.store.list(NAT_GATEWAY, region) if not forgotten(n, now)]
    known = {n.id for n in shown}
    for nat_id in nat_ids or ():
        ids.check(nat_id, "nat")
        if nat_id not in known:
            raise lookup.LOOKUPS["nat"].missing(nat_id)  # EC2's own sentence for this kind
    records = lookup.select(shown, nat_ids, "nat")
    return tag_service.rendered(backend, region, NAT_GATEWAY, records, describe_nat_gateway)


# ---------------------------------------------------------------------------------------------
# the actions


async def create_nat_gateway_live(backend: Backend, region: str, req: Mapping[str, Any],
                                  tags: Mapping[str, str]) -> Record[NatGatewayData]:
    """CreateNatGateway: answers the ``pending`` gateway once the VPC's namespace translates for
    it (it is ``available`` from the next Describe on)."""
    nat, new = create_nat_gateway(backend, region, req, tags)
    why = failure(backend, nat) if new else None
    if why is not None:
        fail(backend, nat, *why)
    elif new:
        mark_available(backend, nat)
        await backend.runtime.sync_vpc(region, nat.data["VpcId"])
    return nat


async def delete_nat_gateway_live(backend: Backend, region: str, nat_id: str) -> Record[NatGatewayData]:
    """DeleteNatGateway: the translation stops (routes to it become blackholes) before the answer."""
    nat = delete_nat_gateway(backend, region, nat_id)
    await backend.runtime.sync_vpc(region, nat.data["VpcId"])
    finish_delete(backend, nat)
    return nat

