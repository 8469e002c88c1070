"""AssociateVpcCidrBlock / DisassociateVpcCidrBlock: the IPv4 ``CidrBlock`` (secondary VPC CIDRs)."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.registry import action
from orchestrator.domain import errors
from orchestrator.services import vpc_cidrs


@action("AssociateVpcCidrBlock")
async def associate_vpc_cidr_block(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    if not req.get("CidrBlock"):
        raise errors.MissingParameter("CidrBlock")
    assoc = await vpc_cidrs.associate_live(ctx.backend, ctx.region, req["VpcId"], req["CidrBlock"])
    return {"VpcId": req["VpcId"], "CidrBlockAssociation": assoc}


@action("DisassociateVpcCidrBlock")
async def disassociate_vpc_cidr_block(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    vpc_id, assoc = await vpc_cidrs.disassociate_live(ctx.backend, ctx.region, req["AssociationId"])
    return {"VpcId": vpc_id, "CidrBlockAssociation": assoc}
