"""Secondary IPv4 CIDR blocks of a VPC: AssociateVpcCidrBlock / DisassociateVpcCidrBlock with a
``CidrBlock`` (the IPv6 parameters are another module's).

An association is recorded ``associating`` with a ``local`` route for its block in every route
table of the VPC, the network follows (the root namespace's ``unreachable`` route, subnets and
leases may use the block), and it becomes ``associated``; the answer shows it ``associating``, as
EC2's does. Disassociation is the same backwards: ``disassociating``, the local routes go, the
network drops the block, and the entry leaves the set. The rules are :mod:`domain.vpc_cidrs`.
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from orchestrator.domain import errors, ids
from orchestrator.domain import vpc_cidrs as rules
from orchestrator.domain import vpc_peering as peering
from orchestrator.domain.records import RTB, CidrBlockAssociation, VpcData
from orchestrator.domain.route_records import Route
from orchestrator.domain.vpc_cidrs import CidrBlockState
from orchestrator.domain.vpc_peering import VPC_PEERING, VpcPeeringState
from orchestrator.services import lookup, vpcs
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record


def _tables(backend: Backend, region: str, vpc_id: str) -> list[Record]:
    return [t for t in backend.store.list(RTB, region) if t.data["VpcId"] == vpc_id]


def associate(backend: Backend, region: str, vpc_id: str, cidr: str) -> CidrBlockAssociation:
    """Record the new block ``associating`` and its local routes; returns the association."""
    with backend.store.transaction():
        vpc = lookup.vpc(backend, region, vpc_id)
        tables = _tables(backend, region, vpc_id)
        routes = [(t.id, str(r["DestinationCidrBlock"])) for t in tables for r in t.data["Routes"]
                  if r.get("GatewayId") != "local"]
        net = rules.check_new(vpc_id, vpc.data, cidr, routes)
        _check_peers(backend, vpc_id, net)
        entry: CidrBlockAssociation = {"AssociationId": ids.new_id("vpc-cidr-assoc"), "CidrBlock": str(net),
                                       "CidrBlockState": {"State": str(CidrBlockState.ASSOCIATING)}}
        vpc.data["CidrBlockAssociationSet"].append(entry)
        backend.store.update(vpc)
        for table in tables:
            local: Route = {"DestinationCidrBlock": str(net), "GatewayId": "local", "State": "active",
                            "Origin": "CreateRouteTable"}
            table.data["Routes"].append(local)
            backend.store.update(table)
    return copy.deepcopy(entry)


def _check_peers(backend: Backend, vpc_id: str, net: ipaddress.IPv4Network) -> None:
    """A block overlapping a CIDR of a VPC it is peered with would make both routes ambiguous."""
    for pcx_id, (_region, peer_id) in _active_peers(backend, vpc_id).items():
        peer = backend.store.get(peer_id)
        for other in rules.network_cidrs(peer.data) if peer is not None else []:
            if net.overlaps(ipaddress.IPv4Network(other)):
                raise errors.ApiError(f"The CIDR '{net}' overlaps the CIDR {other} of VPC {peer_id}, which is "
                                      f"peered with this VPC by {pcx_id}.", code="InvalidVpc.Range")


def _settle(backend: Backend, region: str, vpc_id: str, association_id: str) -> Record[VpcData]:
    """The association out of its transient state (a disassociated one leaves the set)."""
    with backend.store.transaction():
        vpc = lookup.vpc(backend, region, vpc_id)
        kept = []
        for a in vpc.data["CidrBlockAssociationSet"]:
            state = a["CidrBlockState"]["State"]
            if a["AssociationId"] == association_id and state == str(CidrBlockState.ASSOCIATING):
                rules.move(a, CidrBlockState.ASSOCIATED)  # type: ignore[arg-type]
            elif a["AssociationId"] == association_id and state == str(CidrBlockState.DISASSOCIATING):
                continue  # disassociated: EC2 stops listing it
            kept.append(a)
        vpc.data["CidrBlockAssociationSet"] = kept
        backend.store.update(vpc)
    return vpc


def find(backend: Backend, region: str, association_id: str) -> tuple[Record[VpcData], CidrBlockAssociation]:
    """The VPC of the region holding the IPv4 association ``association_id``, and the association."""
    ids.check(association_id, "vpc-cidr-assoc")
    for vpc in backend.store.list(vpcs.VPC, region):
        for a in vpc.data["CidrBlockAssociationSet"]:
            if a["AssociationId"] == association_id:
                return vpc, a
    raise ids.KINDS["vpc-cidr-assoc"].not_found_error(association_id)


def disassociate(backend: Backend, region: str, association_id: str) -> tuple[str, CidrBlockAssociation]:
    """Mark the block ``disassociating`` and drop its local routes; returns (VPC id, association)."""
    with backend.store.transaction():
        vpc, entry = find(backend, region, association_id)
        if entry["CidrBlock"] == vpc.data["CidrBlock"]:
            raise errors.ApiError(f"The vpc CIDR block with association ID {association_id} may not be "
                                  "disassociated. It is the primary IPv4 CIDR block of the VPC",
                                  code="OperationNotPermitted")
        net = ipaddress.IPv4Network(entry["CidrBlock"])
        if any(ipaddress.IPv4Network(s.data["CidrBlock"]).subnet_of(net)
               for s in vpcs.subnets(backend, region, vpc.id)):
            raise errors.ApiError(f"The vpc {vpc.id} currently has a subnet within CIDR block {entry['CidrBlock']}",
                                  code="InvalidCidrBlock.InUse")
        rules.move(entry, CidrBlockState.DISASSOCIATING)  # type: ignore[arg-type]
        backend.store.update(vpc)
        for table in _tables(backend, region, vpc.id):
            table.data["Routes"] = [r for r in table.data["Routes"] if not (
                r.get("GatewayId") == "local" and r["DestinationCidrBlock"] == entry["CidrBlock"])]
            backend.store.update(table)
    return vpc.id, copy.deepcopy(entry)


# ---------------------------------------------------------------------------------------------
# the network follows before the call answers


def _active_peers(backend: Backend, vpc_id: str) -> dict[str, tuple[str, str]]:
    """pcx id -> (region, VPC id) of the VPC's active peers (their routes over the peering follow
    its blocks)."""
    out = {}
    for region in backend.config.regions:
        for r in backend.store.list(VPC_PEERING, region):
            peer = peering.other_side(r.data, vpc_id)
            if r.state == str(VpcPeeringState.ACTIVE) and peer is not None:
                out[r.id] = (peer["Region"], peer["VpcId"])
    return out


async def _follow(backend: Backend, region: str, vpc_id: str) -> None:
    await backend.runtime.ensure_vpc_network(lookup.vpc(backend, region, vpc_id))
    for peer_region, peer_vpc in _active_peers(backend, vpc_id).values():
        if backend.store.get(peer_vpc) is not None:
            await backend.runtime.sync_vpc(peer_region, peer_vpc)


async def associate_live(backend: Backend, region: str, vpc_id: str, cidr: str) -> dict[str, Any]:
    """AssociateVpcCidrBlock (IPv4): checked against the host's routes as CreateVpc's CIDR is,
    recorded, the network brought in line, settled; answers the ``associating`` association."""
    net = rules.check_new(vpc_id, lookup.vpc(backend, region, vpc_id).data, cidr)  # EC2's rules first
    await vpcs.check_host_routes(backend, region, str(net))
    entry = associate(backend, region, vpc_id, cidr)
    await _follow(backend, region, vpc_id)
    _settle(backend, region, vpc_id, entry["AssociationId"])
    return dict(entry)


async def disassociate_live(backend: Backend, region: str, association_id: str) -> tuple[str, dict[str, Any]]:
    """DisassociateVpcCidrBlock (IPv4); answers (VPC id, the ``disassociating`` association)."""
    vpc_id, entry = disassociate(backend, region, association_id)
    await _follow(backend, region, vpc_id)
    _settle(backend, region, vpc_id, association_id)
    return vpc_id, dict(entry)
