"""AssociateVpcCidrBlock / DisassociateVpcCidrBlock: a VPC's further blocks, IPv4 (``CidrBlock``:
services.vpc_cidrs) or IPv6 (``AmazonProvidedIpv6CidrBlock``: services.vpc_ipv6)."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.registry import action
from orchestrator.domain import errors, ids
from orchestrator.services import vpc_cidrs, vpc_ipv6


@action("AssociateVpcCidrBlock")
async def associate_vpc_cidr_block(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    if vpc_ipv6.wants_amazon_block(req):
        vpc, v6 = await vpc_ipv6.associate_vpc_block_live(ctx.backend, ctx.region, req["VpcId"], req)
        return {"VpcId": vpc.id, "Ipv6CidrBlockAssociation": v6}
    for ipam in ("Ipv4IpamPoolId", "Ipv4NetmaskLength"):
        if req.get(ipam) is not None:
            raise errors.ApiError(f"ec2d does not serve the parameter {ipam}: it has no IPAM.",
                                  code="UnsupportedOperation")
    if not req.get("CidrBlock"):
        raise errors.MissingParameter("CidrBlock")  # or AmazonProvidedIpv6CidrBlock
    assoc = await vpc_cidrs.associate_live(ctx.backend, ctx.region, req["VpcId"], req["CidrBlock"])
    return {"VpcId": req["VpcId"], "CidrBlockAssociation": assoc}


@action("DisassociateVpcCidrBlock")
async def disassociate_vpc_cidr_block(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    ids.check(req["AssociationId"], "vpc-cidr-assoc")
    v6 = await vpc_ipv6.disassociate_vpc_block_live(ctx.backend, ctx.region, req["AssociationId"])
    if v6 is not None:
        return {"VpcId": v6[0].id, "Ipv6CidrBlockAssociation": v6[1]}
    vpc_id, assoc = await vpc_cidrs.disassociate_live(ctx.backend, ctx.region, req["AssociationId"])
    return {"VpcId": vpc_id, "CidrBlockAssociation": assoc}
