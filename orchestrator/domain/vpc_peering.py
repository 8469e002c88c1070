"""VPC peering connections: what their stored records hold, their states, and the pure decisions
about them (overlap, status messages, who may accept).

A connection's state is the record's state (``lifecycle.VPC_PEERING``), shown as
``Status.Code``; ``Status.Message`` is EC2's sentence for it (:func:`status_message`).

(No ``from __future__ import annotations``: see ``records.py``.)
"""

import ipaddress
from enum import StrEnum
from typing import Any, NotRequired, TypedDict

VPC_PEERING = "vpc-peering-connection"  # the record type (and TagSpecification resource type)


class VpcPeeringState(StrEnum):
    """A peering connection's ``Status.Code``, as EC2's (``expired``: never, requests wait)."""

    INITIATING_REQUEST = "initiating-request"
    PENDING_ACCEPTANCE = "pending-acceptance"
    ACTIVE = "active"
    REJECTED = "rejected"
    DELETED = "deleted"
    FAILED = "failed"


class PeeringVpcInfo(TypedDict):
    VpcId: str
    OwnerId: str
    Region: str
    CidrBlock: str


class VpcPeeringData(TypedDict):
    RequesterVpcInfo: PeeringVpcInfo
    AccepterVpcInfo: PeeringVpcInfo
    StatusMessage: str
    ExpirationTime: NotRequired[str]  # a pending request's: seven days after it was made


VPC_PEERING_SCHEMAS: dict[str, type[Any]] = {VPC_PEERING: VpcPeeringData}

S = VpcPeeringState
GONE = (str(S.REJECTED), str(S.DELETED), str(S.FAILED))  # states no route or link follows


def overlap(cidr_a: str, cidr_b: str) -> bool:
    """The two VPC CIDRs share an address (EC2 then fails the request)."""
    return ipaddress.IPv4Network(cidr_a).overlaps(ipaddress.IPv4Network(cidr_b))


def status_message(state: str, account: str) -> str:
    """EC2's ``Status.Message`` for a connection moving into ``state`` by ``account``'s hand."""
    return {
        S.INITIATING_REQUEST: f"Initiating Request to {account}",
        S.PENDING_ACCEPTANCE: f"Pending Acceptance by {account}",
        S.ACTIVE: "Active",
        S.REJECTED: f"Rejected by {account}",
        S.DELETED: f"Deleted by {account}",
        S.FAILED: "Overlapping CIDR range",
    }[S(state)]


def accept_move(state: str) -> str | None:
    """The state AcceptVpcPeeringConnection moves to from ``state``; None: EC2 refuses it."""
    return str(S.ACTIVE) if state == S.PENDING_ACCEPTANCE else None


def reject_move(state: str) -> str | None:
    return str(S.REJECTED) if state == S.PENDING_ACCEPTANCE else None


def delete_move(state: str) -> str | None:
    """DeleteVpcPeeringConnection: a pending or active connection (either side) is deleted; one
    already rejected, failed or deleted cannot be."""
    return str(S.DELETED) if state in (S.PENDING_ACCEPTANCE, S.ACTIVE, S.INITIATING_REQUEST) else None


def other_side(data: VpcPeeringData, vpc_id: str) -> PeeringVpcInfo | None:
    """The peer of ``vpc_id`` in the connection (None: the VPC is not a side of it)."""
    if data["RequesterVpcInfo"]["VpcId"] == vpc_id:
        return data["AccepterVpcInfo"]
    if data["AccepterVpcInfo"]["VpcId"] == vpc_id:
        return data["RequesterVpcInfo"]
    return None


__all__ = ["GONE", "VPC_PEERING", "VPC_PEERING_SCHEMAS", "PeeringVpcInfo", "VpcPeeringData", "VpcPeeringState",
           "accept_move", "delete_move", "other_side", "overlap", "reject_move", "status_message"]
