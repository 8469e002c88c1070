"""VPC peering connections: Create/Accept/Reject/Delete/DescribeVpcPeeringConnections (the model
side, and the ``*_live`` actions that have both VPCs' networks follow before the API call answers).

As on EC2: CreateVpcPeeringConnection answers ``initiating-request``; the request then waits in
``pending-acceptance`` (or ends ``failed`` when the two VPCs' CIDRs overlap); the accepter's
owner accepts (``active``: the VPCs' namespaces are linked, see ``runtime/vpc_state.peering_links``)
or rejects it; either side deletes it. Both VPCs belong to the caller's account (ec2d serves one);
the accepter VPC may be in another region ec2d serves (``PeerRegion``): the connection is stored
in the requester's region and seen from both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import errors, ids, vpc_cidrs
from orchestrator.domain import vpc_peering as peering
from orchestrator.domain.vpc_peering import VPC_PEERING, PeeringVpcInfo, VpcPeeringData, VpcPeeringState
from orchestrator.services import lookup
from orchestrator.services import tags as tag_service
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

PX = VpcPeeringState
PENDING_FOR = dt.timedelta(days=7)  # a request expires after seven days (ec2d never expires one)


def _info(backend: Backend, vpc: Record) -> PeeringVpcInfo:
    return {"VpcId": vpc.id, "OwnerId": backend.account_id, "Region": vpc.region, "CidrBlock": vpc.data["CidrBlock"]}


def _cidrs(backend: Backend, info: PeeringVpcInfo) -> list[str]:
    """The side's IPv4 blocks as its VPC has them now (primary and secondary)."""
    vpc = backend.store.get(info["VpcId"])
    return vpc_cidrs.network_cidrs(vpc.data) if vpc is not None else [info["CidrBlock"]]


def _peer_vpc(backend: Backend, region: str, req: Mapping[str, Any]) -> Record:
    owner = req.get("PeerOwnerId")
    if owner and owner != backend.account_id:
        raise errors.ApiError(f"ec2d serves one account ({backend.account_id}); VPCs of account {owner} "
                              "cannot be peered.", code="UnsupportedOperation")
    peer_region = req.get("PeerRegion") or region
    if peer_region not in backend.config.regions:
        raise errors.InvalidParameterValue(f"Value ({peer_region}) for parameter peerRegion is invalid. "
                                           "This region is not supported.")
    peer_id = req.get("PeerVpcId")
    if not peer_id:
        raise errors.MissingParameter("peerVpcId")
    return lookup.vpc(backend, peer_region, peer_id)


def create(backend: Backend, region: str, req: Mapping[str, Any], tags: Mapping[str, str]) -> Record[VpcPeeringData]:
    """CreateVpcPeeringConnection: the ``initiating-request`` record (what the answer shows); it
    moves on at once (:func:`settle`)."""
    with backend.store.transaction():
        vpc = lookup.vpc(backend, region, req["VpcId"])
        peer = _peer_vpc(backend, region, req)
        if peer.id == vpc.id:
            raise errors.InvalidParameterValue("The requester VPC and accepter VPC cannot be the same.")
        data: VpcPeeringData = {"RequesterVpcInfo": _info(backend, vpc), "AccepterVpcInfo": _info(backend, peer),
                                "StatusMessage": peering.status_message(str(PX.INITIATING_REQUEST),
                                                                        backend.account_id)}
        record = Record[VpcPeeringData](id=ids.new_id("pcx"), type=VPC_PEERING, region=region,
                                        state=str(PX.INITIATING_REQUEST), data=data)
        backend.store.insert(record, dict(tags))
    return record


def settle(backend: Backend, record: Record[VpcPeeringData]) -> None:
    """``initiating-request`` -> ``pending-acceptance``, or ``failed`` for overlapping CIDRs."""
    with backend.store.transaction():
        current = backend.store.get(record.id)
        if current is None or current.state != PX.INITIATING_REQUEST:
            return
        d = current.data
        failed = any(peering.overlap(a, b) for a in _cidrs(backend, d["RequesterVpcInfo"])
                     for b in _cidrs(backend, d["AccepterVpcInfo"]))
        target = str(PX.FAILED if failed else PX.PENDING_ACCEPTANCE)
        d["StatusMessage"] = peering.status_message(target, backend.account_id)
        if not failed:
            expires = dt.datetime.now(dt.UTC) + PENDING_FOR
            d["ExpirationTime"] = expires.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        backend.store.update(current)
        backend.store.transition(current.id, str(PX.INITIATING_REQUEST), target)


def settle_interrupted(backend: Backend) -> None:
    """At start-up: a request an interrupted call left ``initiating-request`` moves on."""
    for region in backend.config.regions:
        for r in backend.store.list(VPC_PEERING, region):
            if r.state == PX.INITIATING_REQUEST:
                settle(backend, r)


def get(backend: Backend, region: str, pcx_id: str) -> Record[VpcPeeringData]:
    """The connection, seen from the requester's region or the accepter's."""
    ids.check(pcx_id, "pcx")
    record = backend.store.get(pcx_id, VPC_PEERING)
    if record is None or region not in (record.region, record.data["AccepterVpcInfo"]["Region"]):
        raise lookup.LOOKUPS["pcx"].missing(pcx_id)
    return record


def _move(backend: Backend, region: str, pcx_id: str, target: str | None, record: Record[VpcPeeringData],
          wanted: str) -> Record[VpcPeeringData]:
    if target is None:
        raise errors.ApiError(f"Invalid state transition for {pcx_id}, attempted to transition from "
                              f"{record.state} to {wanted}", code="InvalidStateTransition")
    record.data["StatusMessage"] = peering.status_message(target, backend.account_id)
    record.data.pop("ExpirationTime", None)
    backend.store.update(record)
    return backend.store.transition(pcx_id, record.state, target)


def _accepter_side(region: str, record: Record[VpcPeeringData], action: str) -> None:
    accepter_region = record.data["AccepterVpcInfo"]["Region"]
    if region != accepter_region:
        raise errors.ApiError(f"The VPC peering connection {record.id} must be {action} in the accepter's "
                              f"region ({accepter_region}).", code="OperationNotPermitted")


def accept(backend: Backend, region: str, pcx_id: str) -> Record[VpcPeeringData]:
    with backend.store.transaction():
        record = get(backend, region, pcx_id)
        _accepter_side(region, record, "accepted")
        return _move(backend, region, pcx_id, peering.accept_move(record.state), record, str(PX.ACTIVE))


def reject(backend: Backend, region: str, pcx_id: str) -> Record[VpcPeeringData]:
    with backend.store.transaction():
        record = get(backend, region, pcx_id)
        _accepter_side(region, record, "rejected")
        return _move(backend, region, pcx_id, peering.reject_move(record.state), record, str(PX.REJECTED))


def delete(backend: Backend, region: str, pcx_id: str) -> Record[VpcPeeringData]:
    with backend.store.transaction():
        record = get(backend, region, pcx_id)
        return _move(backend, region, pcx_id, peering.delete_move(record.state), record, str(PX.DELETED))


def _vpc_info(info: PeeringVpcInfo, active: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"CidrBlock": info["CidrBlock"], "CidrBlockSet": [{"CidrBlock": info["CidrBlock"]}],
                           "OwnerId": info["OwnerId"], "VpcId": info["VpcId"], "Region": info["Region"]}
    if active:
        out["PeeringOptions"] = {"AllowDnsResolutionFromRemoteVpc": False,
                                 "AllowEgressFromLocalClassicLinkToRemoteVpc": False,
                                 "AllowEgressFromLocalVpcToRemoteClassicLink": False}
    return out


def describe_one(record: Record[VpcPeeringData], tags: Mapping[str, str]) -> dict[str, Any]:
    d = record.data
    active = record.state == PX.ACTIVE
    out: dict[str, Any] = {"VpcPeeringConnectionId": record.id,
                           "RequesterVpcInfo": _vpc_info(d["RequesterVpcInfo"], active),
                           "AccepterVpcInfo": _vpc_info(d["AccepterVpcInfo"], active),
                           "Status": {"Code": record.state, "Message": d["StatusMessage"]},
                           "Tags": tag_service.tag_list(tags)}
    if d.get("ExpirationTime"):
        out["ExpirationTime"] = d["ExpirationTime"]
    return out


def shown(backend: Backend, record: Record[VpcPeeringData]) -> dict[str, Any]:
    """The connection as Describe shows it, with its tags."""
    return describe_one(record, backend.store.tags_of(record.id))


def visible(backend: Backend, region: str) -> list[Record[VpcPeeringData]]:
    """The connections one of whose sides is in ``region``."""
    return [r for reg in backend.config.regions for r in backend.store.list(VPC_PEERING, reg)
            if region in (r.region, r.data["AccepterVpcInfo"]["Region"])]


def describe(backend: Backend, region: str, pcx_ids: Sequence[str] | None) -> list[dict[str, Any]]:
    records = lookup.select(visible(backend, region), pcx_ids, "pcx")
    return [shown(backend, r) for r in records]


def sides(record: Record[VpcPeeringData]) -> list[tuple[str, str]]:
    """(region, VPC id) of both sides: the networks that follow a change of the connection."""
    d = record.data
    return [(d["RequesterVpcInfo"]["Region"], d["RequesterVpcInfo"]["VpcId"]),
            (d["AccepterVpcInfo"]["Region"], d["AccepterVpcInfo"]["VpcId"])]


def active_of(backend: Backend, vpc_id: str) -> list[Record[VpcPeeringData]]:
    """The active connections of which ``vpc_id`` is a side."""
    return [r for region in backend.config.regions for r in backend.store.list(VPC_PEERING, region)
            if r.state == PX.ACTIVE and peering.other_side(r.data, vpc_id) is not None]


def active_peer(backend: Backend, vpc_id: str, peer_vpc_id: str) -> bool:
    """An active connection joins the two VPCs (a rule may then reference the peer's groups)."""
    return any(peering.other_side(r.data, vpc_id)["VpcId"] == peer_vpc_id  # type: ignore[index]
               for r in active_of(backend, vpc_id))


def end_with_vpc(backend: Backend, vpc_id: str) -> list[tuple[str, str]]:
    """DeleteVpc: the VPC's connections that are not over yet are deleted with it (as EC2 does);
    returns the (region, VPC id) of the peers, whose networks follow."""
    peers = []
    with backend.store.transaction():
        for region in backend.config.regions:
            for r in backend.store.list(VPC_PEERING, region):
                other = peering.other_side(r.data, vpc_id)
                if other is None or peering.delete_move(r.state) is None:
                    continue
                _move(backend, region, r.id, str(PX.DELETED), r, str(PX.DELETED))
                peers.append((other["Region"], other["VpcId"]))
    return peers


# ---------------------------------------------------------------------------------------------
# the actions


async def _follow(backend: Backend, record: Record[VpcPeeringData]) -> None:
    for region, vpc_id in sides(record):
        if backend.store.get(vpc_id) is not None:
            await backend.runtime.sync_vpc(region, vpc_id)


async def create_live(backend: Backend, region: str, req: Mapping[str, Any],
                      tags: Mapping[str, str]) -> Record[VpcPeeringData]:
    record = create(backend, region, req, tags)
    settle(backend, record)
    return record


async def accept_live(backend: Backend, region: str, pcx_id: str) -> Record[VpcPeeringData]:
    """AcceptVpcPeeringConnection: both namespaces are linked before the answer."""
    record = accept(backend, region, pcx_id)
    await _follow(backend, record)
    return record


async def reject_live(backend: Backend, region: str, pcx_id: str) -> Record[VpcPeeringData]:
    return reject(backend, region, pcx_id)


async def delete_live(backend: Backend, region: str, pcx_id: str) -> Record[VpcPeeringData]:
    """DeleteVpcPeeringConnection: the link is gone (routes to it are blackholes) before the answer."""
    record = delete(backend, region, pcx_id)
    await _follow(backend, record)
    return record
