"""AssociateVpcCidrBlock / DisassociateVpcCidrBlock: the IPv4 ``CidrBlock`` (secondary VPC CIDRs)."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.registry import action
from orchestrator.domain import errors
from orchestrator.services import vpc_cidrs

_NOT_IPV4 = ("AmazonProvidedIpv6CidrBlock", "Ipv6Pool", "Ipv6CidrBlock", "Ipv6IpamPoolId", "Ipv6NetmaskLength",
             "Ipv6CidrBlockNetworkBorderGroup", "Ipv4IpamPoolId", "Ipv4NetmaskLength")


@action("AssociateVpcCidrBlock")
async def associate_vpc_cidr_block(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    given = [p for p in _NOT_IPV4 if req.get(p) not in (None, False)]
    if given:
        raise errors.ApiError(f"ec2d does not serve the parameter {given[0]}: its VPCs are IPv4 only and it has "
                              "no IPAM.", code="UnsupportedOperation")
    if not req.get("CidrBlock"):
        raise errors.MissingParameter("CidrBlock")
    assoc = await vpc_cidrs.associate_live(ctx.backend, ctx.region, req["VpcId"], req["CidrBlock"])
    return {"VpcId": req["VpcId"], "CidrBlockAssociation": assoc}


@action("DisassociateVpcCidrBlock")
async def disassociate_vpc_cidr_block(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    vpc_id, assoc = await vpc_cidrs.disassociate_live(ctx.backend, ctx.region, req["AssociationId"])
    return {"VpcId": vpc_id, "CidrBlockAssociation": assoc}
