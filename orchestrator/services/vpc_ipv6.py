"""IPv6 blocks of VPCs and subnets: the Amazon-provided /56 of a VPC (CreateVpc's
``AmazonProvidedIpv6CidrBlock``, Associate/DisassociateVpcCidrBlock), a subnet's /64 (CreateSubnet's
``Ipv6CidrBlock``, Associate/DisassociateSubnetCidrBlock) and what DescribeVpcs/DescribeSubnets
show of them. The pool and the address arithmetic: ``domain/ipv6_pools``."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from orchestrator.domain import errors, ids
from orchestrator.domain import ipv6_pools as pools
from orchestrator.domain.ipv6_pools import SubnetIpv6Association, VpcIpv6Association
from orchestrator.domain.records import SubnetData, VpcData
from orchestrator.runtime.vpc_state import ensure_rules_field, stored_rule
from orchestrator.services import lookup
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

VPC, SUBNET, ENI = "vpc", "subnet", "network-interface"
ASSOCIATED = "associated"
# parameters that name an IPv6 source other than Amazon's pool (BYOIP pools, IPAM)
_OTHER_SOURCES = ("Ipv6Pool", "Ipv6CidrBlock", "Ipv6IpamPoolId", "Ipv6NetmaskLength")


# ---------------------------------------------------------------------------------------------
# what a record holds


def vpc_blocks(vpc: Record[VpcData]) -> list[str]:
    return [a["Ipv6CidrBlock"] for a in vpc.data.get("Ipv6CidrBlockAssociationSet") or []]


def subnet_block(subnet: Record[SubnetData]) -> str | None:
    """The subnet's /64, or None."""
    assocs = subnet.data.get("Ipv6CidrBlockAssociationSet") or []
    return assocs[0]["Ipv6CidrBlock"] if assocs else None


def wants_amazon_block(req: Mapping[str, Any]) -> bool:
    """CreateVpc/AssociateVpcCidrBlock asks for an IPv6 block (Amazon's, or another source ec2d
    refuses in :func:`check_source`)."""
    return bool(req.get("AmazonProvidedIpv6CidrBlock")) or any(req.get(k) for k in _OTHER_SOURCES)


def check_source(req: Mapping[str, Any]) -> None:
    """Only Amazon's pool: BYOIP pools and IPAM pools do not exist in ec2d."""
    if req.get("Ipv6IpamPoolId"):
        raise errors.NotFound("InvalidIpamPoolId.NotFound",
                              f"The ipam pool ID '{req['Ipv6IpamPoolId']}' does not exist")
    if req.get("Ipv6Pool"):
        raise errors.NotFound("InvalidPublicIpv6PoolID.NotFound",
                              f"The public IPv6 pool ID '{req['Ipv6Pool']}' does not exist")
    if req.get("Ipv6CidrBlock") or req.get("Ipv6NetmaskLength"):
        raise errors.MissingParameter("The request must contain the parameter ipv6Pool")
    if req.get("CidrBlock") and req.get("AmazonProvidedIpv6CidrBlock"):
        raise errors.InvalidParameterCombination(
            "The parameter 'cidrBlock' cannot be used with the parameter 'amazonProvidedIpv6CidrBlock'")


# ---------------------------------------------------------------------------------------------
# the VPC's /56


def _taken_blocks(backend: Backend) -> set[str]:
    """Every /56 some VPC of any region holds (the pool is the host's, not a region's)."""
    return {b for v in backend.store.list(VPC) for b in vpc_blocks(v)}


def add_vpc_block(backend: Backend, vpc: Record[VpcData]) -> VpcIpv6Association:
    """Give ``vpc`` the lowest free /56 of the pool; call inside a store transaction."""
    held = vpc.data.get("Ipv6CidrBlockAssociationSet") or []
    if len(held) >= pools.MAX_VPC_IPV6_BLOCKS:
        raise errors.ApiError(f"This network '{vpc.id}' has met its maximum number of allowed CIDRs: "
                              f"{pools.MAX_VPC_IPV6_BLOCKS}", code="CidrLimitExceeded")
    try:
        block = pools.allocate_vpc_block(_taken_blocks(backend))
    except pools.PoolExhausted:
        raise errors.ApiError("There are no more IPv6 CIDR blocks available in ec2d's Amazon pool.",
                              code="InsufficientCidrBlocks") from None
    assoc: VpcIpv6Association = {
        "AssociationId": ids.new_id("vpc-cidr-assoc"), "Ipv6CidrBlock": block,
        "Ipv6CidrBlockState": {"State": ASSOCIATED}, "NetworkBorderGroup": vpc.region,
        "Ipv6Pool": "Amazon", "Ipv6AddressAttribute": "public", "IpSource": "amazon"}
    vpc.data["Ipv6CidrBlockAssociationSet"] = [*held, assoc]
    backend.store.update(vpc)
    _open_default_group(backend, vpc)
    return assoc


def all_ipv6_egress(group_id: str) -> dict[str, Any]:
    """The outbound ``-1 ::/0`` rule EC2 gives the groups of a VPC with IPv6."""
    return stored_rule(group_id, egress=True, protocol="-1", from_port=None, to_port=None, cidr=None,
                       group=None, description=None, cidr6="::/0")


def _open_default_group(backend: Backend, vpc: Record[VpcData]) -> None:
    """As EC2 does when a VPC gets an IPv6 block: its default group allows all IPv6 out (once;
    a rule the user revoked since comes back only with a new association, as on EC2)."""
    for group in backend.store.list("security-group", vpc.region):
        if group.data["VpcId"] != vpc.id or group.data["GroupName"] != "default":
            continue
        rules = ensure_rules_field(group)
        if not any(r["IsEgress"] and r["IpProtocol"] == "-1" and r.get("CidrIpv6") == "::/0" for r in rules):
            rules.append(all_ipv6_egress(group.id))
            backend.store.update(group)


def associate_vpc_block(backend: Backend, region: str, vpc_id: str,
                        req: Mapping[str, Any]) -> tuple[Record[VpcData], VpcIpv6Association]:
    """AssociateVpcCidrBlock with ``AmazonProvidedIpv6CidrBlock``."""
    check_source(req)
    with backend.store.transaction():
        vpc = lookup.vpc(backend, region, vpc_id)
        assoc = add_vpc_block(backend, vpc)
    return vpc, assoc


def find_vpc_association(backend: Backend, region: str, association_id: str) -> Record[VpcData] | None:
    """The VPC one of whose IPv6 associations is ``association_id`` (None: not an IPv6 one)."""
    for vpc in backend.store.list(VPC, region):
        if any(a["AssociationId"] == association_id for a in vpc.data.get("Ipv6CidrBlockAssociationSet") or []):
            return vpc
    return None


def disassociate_vpc_block(backend: Backend, region: str,
                           association_id: str) -> tuple[Record[VpcData], VpcIpv6Association] | None:
    """DisassociateVpcCidrBlock of an IPv6 association; None when the id is no IPv6 association of
    the region (the caller then looks at the IPv4 ones). Refused while a subnet has a /64 of it."""
    with backend.store.transaction():
        vpc = find_vpc_association(backend, region, association_id)
        if vpc is None:
            return None
        held = vpc.data.get("Ipv6CidrBlockAssociationSet") or []
        assoc = next(a for a in held if a["AssociationId"] == association_id)
        block = ipaddress.IPv6Network(assoc["Ipv6CidrBlock"])
        for subnet in backend.store.list(SUBNET, region):
            mine = subnet_block(subnet)
            if subnet.data["VpcId"] == vpc.id and mine and ipaddress.IPv6Network(mine).subnet_of(block):
                raise errors.ApiError(
                    f"The vpc CIDR block {assoc['Ipv6CidrBlock']} with association ID {association_id} cannot "
                    f"be disassociated because it is in use by subnet {subnet.id}.",
                    code="InvalidCidrBlock.InUse")
        vpc.data["Ipv6CidrBlockAssociationSet"] = [a for a in held if a["AssociationId"] != association_id]
        backend.store.update(vpc)
    return vpc, {**assoc, "Ipv6CidrBlockState": {"State": "disassociating"}}


# ---------------------------------------------------------------------------------------------
# the subnet's /64


def _subnet_network(cidr: str, vpc: Record[VpcData]) -> ipaddress.IPv6Network:
    net = pools.parse_network(cidr)
    if net is None or not pools.subnet_block_fits(net, vpc_blocks(vpc)):
        raise errors.ApiError(f"The IPv6 CIDR '{cidr}' is invalid.", code="InvalidSubnet.Range")
    return net


def set_subnet_block(backend: Backend, subnet: Record[SubnetData], cidr: str) -> SubnetIpv6Association:
    """Give ``subnet`` the /64 ``cidr`` of its VPC's blocks; call inside a store transaction."""
    vpc = lookup.vpc(backend, subnet.region, subnet.data["VpcId"])
    net = _subnet_network(cidr, vpc)
    if subnet_block(subnet):
        raise errors.ApiError(f"The subnet '{subnet.id}' already has an IPv6 CIDR block associated with it.",
                              code="InvalidSubnet.Conflict")
    for other in backend.store.list(SUBNET, subnet.region):
        theirs = subnet_block(other)
        if other.id != subnet.id and theirs and ipaddress.IPv6Network(theirs).overlaps(net):
            raise errors.ApiError(f"The CIDR '{cidr}' conflicts with another subnet", code="InvalidSubnet.Conflict")
    assoc: SubnetIpv6Association = {
        "AssociationId": ids.new_id("subnet-cidr-assoc"), "Ipv6CidrBlock": str(net),
        "Ipv6CidrBlockState": {"State": ASSOCIATED}, "Ipv6AddressAttribute": "public", "IpSource": "amazon"}
    subnet.data["Ipv6CidrBlockAssociationSet"] = [assoc]
    backend.store.update(subnet)
    return assoc


def associate_subnet_block(backend: Backend, region: str, subnet_id: str,
                           req: Mapping[str, Any]) -> tuple[Record[SubnetData], SubnetIpv6Association]:
    """AssociateSubnetCidrBlock."""
    if req.get("Ipv6IpamPoolId"):
        raise errors.NotFound("InvalidIpamPoolId.NotFound", f"The ipam pool ID '{req['Ipv6IpamPoolId']}' does not exist")
    if not req.get("Ipv6CidrBlock"):
        raise errors.MissingParameter("The request must contain the parameter ipv6CidrBlock")
    with backend.store.transaction():
        subnet = lookup.subnet(backend, region, subnet_id)
        assoc = set_subnet_block(backend, subnet, req["Ipv6CidrBlock"])
    return subnet, assoc


def disassociate_subnet_block(backend: Backend, region: str,
                              association_id: str) -> tuple[Record[SubnetData], SubnetIpv6Association]:
    """DisassociateSubnetCidrBlock: refused while an interface of the subnet has an IPv6 address."""
    ids.check(association_id, "subnet-cidr-assoc")
    with backend.store.transaction():
        subnet = next((s for s in backend.store.list(SUBNET, region)
                       if any(a["AssociationId"] == association_id
                              for a in s.data.get("Ipv6CidrBlockAssociationSet") or [])), None)
        if subnet is None:
            raise ids.KINDS["subnet-cidr-assoc"].not_found_error(association_id)
        if subnet.data.get("Ipv6Native"):
            raise errors.ApiError(f"The subnet CIDR block with association ID {association_id} cannot be "
                                  f"disassociated because subnet {subnet.id} is IPv6-only.",
                                  code="InvalidCidrBlock.InUse")
        users = [e.id for e in backend.store.list(ENI, region)
                 if e.data["SubnetId"] == subnet.id and e.data.get("Ipv6Addresses")]
        if users:
            raise errors.ApiError(
                f"The subnet CIDR block with association ID {association_id} cannot be disassociated because "
                f"network interface {users[0]} has IPv6 addresses from it.", code="InvalidCidrBlock.InUse")
        assoc = subnet.data["Ipv6CidrBlockAssociationSet"][0]  # type: ignore[typeddict-item]
        subnet.data["Ipv6CidrBlockAssociationSet"] = []
        subnet.data["AssignIpv6AddressOnCreation"] = False
        backend.store.update(subnet)
    return subnet, {**assoc, "Ipv6CidrBlockState": {"State": "disassociating"}}


# ---------------------------------------------------------------------------------------------
# Describe


def describe_vpc_part(vpc: Record[VpcData]) -> dict[str, Any]:
    """DescribeVpcs' IPv6 members (absent when the VPC has no IPv6 block, as EC2 omits them)."""
    assocs = vpc.data.get("Ipv6CidrBlockAssociationSet") or []
    return {"Ipv6CidrBlockAssociationSet": [dict(a) for a in assocs]} if assocs else {}


def describe_subnet_part(subnet: Record[SubnetData]) -> dict[str, Any]:
    """DescribeSubnets' IPv6 members."""
    d = subnet.data
    return {"Ipv6CidrBlockAssociationSet": [dict(a) for a in d.get("Ipv6CidrBlockAssociationSet") or []],
            "AssignIpv6AddressOnCreation": bool(d.get("AssignIpv6AddressOnCreation"))}


# ---------------------------------------------------------------------------------------------
# the network follows before the call answers


async def associate_vpc_block_live(backend: Backend, region: str, vpc_id: str,
                                   req: Mapping[str, Any]) -> tuple[Record[VpcData], VpcIpv6Association]:
    vpc, assoc = associate_vpc_block(backend, region, vpc_id, req)
    await backend.runtime.sync_vpc(region, vpc.id)
    return vpc, assoc


async def disassociate_vpc_block_live(backend: Backend, region: str, association_id: str
                                      ) -> tuple[Record[VpcData], VpcIpv6Association] | None:
    """None when ``association_id`` is no IPv6 association (the IPv4 ones: services.vpc_cidrs)."""
    found = disassociate_vpc_block(backend, region, association_id)
    if found is not None:
        await backend.runtime.sync_vpc(region, found[0].id)
    return found


async def associate_subnet_block_live(backend: Backend, region: str, subnet_id: str,
                                      req: Mapping[str, Any]) -> tuple[Record[SubnetData], SubnetIpv6Association]:
    subnet, assoc = associate_subnet_block(backend, region, subnet_id, req)
    await backend.runtime.ensure_subnet_network(subnet)  # the bridge's ::1, DHCPv6 and RAs
    await backend.runtime.sync_vpc(region, subnet.data["VpcId"])
    return subnet, assoc


async def disassociate_subnet_block_live(backend: Backend, region: str,
                                         association_id: str) -> tuple[Record[SubnetData], SubnetIpv6Association]:
    subnet, assoc = disassociate_subnet_block(backend, region, association_id)
    await backend.runtime.ensure_subnet_network(subnet)  # the bridge's ::1, DHCPv6 and RAs
    await backend.runtime.sync_vpc(region, subnet.data["VpcId"])
    return subnet, assoc
