"""AssociateIamInstanceProfile, DescribeIamInstanceProfileAssociations,
ReplaceIamInstanceProfileAssociation, DisassociateIamInstanceProfile."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import respond
from orchestrator.api.registry import action
from orchestrator.services import instance_profiles

_FILTERS = {
    "instance-id": lambda a: a["InstanceId"],
    "state": lambda a: a["State"],
}


@action("AssociateIamInstanceProfile")
def associate_iam_instance_profile(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return instance_profiles.associate(ctx.backend, ctx.region, req, ctx.caller)


@action("DescribeIamInstanceProfileAssociations")
def describe_iam_instance_profile_associations(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = instance_profiles.describe(ctx.backend, ctx.region, req.get("AssociationIds"))
    return respond(req, items, _FILTERS, "IamInstanceProfileAssociations", page=(5, 1000))


@action("ReplaceIamInstanceProfileAssociation")
def replace_iam_instance_profile_association(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return instance_profiles.replace(ctx.backend, ctx.region, req, ctx.caller)


@action("DisassociateIamInstanceProfile")
def disassociate_iam_instance_profile(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return instance_profiles.disassociate(ctx.backend, ctx.region, req["AssociationId"])
