"""CreateSecurityGroup, DeleteSecurityGroup, DescribeSecurityGroups, DescribeSecurityGroupRules,
Authorize/RevokeSecurityGroupIngress/Egress, UpdateSecurityGroupRuleDescriptionsIngress/Egress,
ModifySecurityGroupRules."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import respond
from orchestrator.api.registry import action
from orchestrator.services import security_group_rules as sg_rules
from orchestrator.services import security_groups as sgs
from orchestrator.services import tags as tag_service


def _perm_values(group: dict[str, Any], key: str, field: str, names: dict[str, str] | None = None) -> list[Any]:
    out: list[Any] = []
    for perm in group[key]:
        if field in ("cidr", "ip-range.cidr"):
            out += [r["CidrIp"] for r in perm["IpRanges"]]
        elif field == "ipv6-cidr":
            out += [r["CidrIpv6"] for r in perm["Ipv6Ranges"]]
        elif field == "prefix-list-id":
            out += [p["PrefixListId"] for p in perm["PrefixListIds"]]
        elif field == "group-id":
            out += [p["GroupId"] for p in perm["UserIdGroupPairs"]]
        elif field == "group-name":
            out += [(names or {}).get(p["GroupId"]) for p in perm["UserIdGroupPairs"]]
        elif field == "user-id":
            out += [p.get("UserId") for p in perm["UserIdGroupPairs"]]
        elif field == "protocol":
            out.append(perm["IpProtocol"])
        elif field == "from-port":
            out.append(perm.get("FromPort"))
        elif field == "to-port":
            out.append(perm.get("ToPort"))
    return out


_FILTERS: dict[str, Any] = {
    "group-id": lambda g: g["GroupId"],
    "group-name": lambda g: g["GroupName"],
    "description": lambda g: g["Description"],
    "vpc-id": lambda g: g["VpcId"],
    "owner-id": lambda g: g["OwnerId"],
}
for _field in ("cidr", "ip-range.cidr", "ipv6-cidr", "prefix-list-id", "group-id", "user-id", "protocol",
               "from-port", "to-port"):
    _FILTERS[f"ip-permission.{_field}"] = lambda g, f=_field: _perm_values(g, "IpPermissions", f)
    _FILTERS[f"egress.ip-permission.{_field}"] = lambda g, f=_field: _perm_values(g, "IpPermissionsEgress", f)


@action("CreateSecurityGroup")
def create_security_group(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    record, tags = sgs.create_tagged(ctx.backend, ctx.region, req["GroupName"], req["Description"],
                                     req.get("VpcId"), req.get("TagSpecifications"))
    shown = sgs.describe(record, tags)
    return {"GroupId": record.id, "SecurityGroupArn": shown["SecurityGroupArn"], "Tags": shown["Tags"]}


@action("DeleteSecurityGroup")
async def delete_security_group(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    group = await sgs.delete_live(ctx.backend, ctx.region, req.get("GroupId"), req.get("GroupName"))
    return {"Return": True, "GroupId": group.id}


@action("DescribeSecurityGroups")
def describe_security_groups(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = sgs.describe_groups(ctx.backend, ctx.region, req.get("GroupIds"), req.get("GroupNames"))
    names = sgs.group_names(ctx.backend, ctx.region)  # the referenced groups' (rules show their ids)
    by_name = {f"{side}ip-permission.group-name": lambda g, k=key: _perm_values(g, k, "group-name", names)
               for side, key in (("", "IpPermissions"), ("egress.", "IpPermissionsEgress"))}
    return respond(req, items, {**_FILTERS, **by_name}, "SecurityGroups")


_RULE_FILTERS = {"group-id": lambda r: r["GroupId"], "security-group-rule-id": lambda r: r["SecurityGroupRuleId"]}


@action("DescribeSecurityGroupRules")
def describe_security_group_rules(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    rules = sg_rules.describe_rules(ctx.backend, ctx.region, req.get("SecurityGroupRuleIds"))
    return respond(req, rules, _RULE_FILTERS, "SecurityGroupRules")


async def _authorize(ctx: RequestContext, req: dict[str, Any], egress: bool) -> dict[str, Any]:
    group, new = await sgs.authorize_live(ctx.backend, ctx.region, req, egress)
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), sgs.RULE_TYPE)
    return {"Return": True, "SecurityGroupRules": [sgs.describe_rule(r, group.data["OwnerId"], tags) for r in new]}


async def _revoke(ctx: RequestContext, req: dict[str, Any], egress: bool) -> dict[str, Any]:
    await sgs.revoke_live(ctx.backend, ctx.region, req, egress)
    return {"Return": True}


@action("AuthorizeSecurityGroupIngress")
async def authorize_ingress(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return await _authorize(ctx, req, egress=False)


@action("AuthorizeSecurityGroupEgress")
async def authorize_egress(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return await _authorize(ctx, req, egress=True)


@action("RevokeSecurityGroupIngress")
async def revoke_ingress(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return await _revoke(ctx, req, egress=False)


@action("RevokeSecurityGroupEgress")
async def revoke_egress(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return await _revoke(ctx, req, egress=True)


@action("UpdateSecurityGroupRuleDescriptionsIngress")
def update_descriptions_ingress(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    sg_rules.update_descriptions(ctx.backend, ctx.region, req, egress=False)  # the firewall ignores descriptions
    return {"Return": True}


@action("UpdateSecurityGroupRuleDescriptionsEgress")
def update_descriptions_egress(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    sg_rules.update_descriptions(ctx.backend, ctx.region, req, egress=True)  # the firewall ignores descriptions
    return {"Return": True}


@action("ModifySecurityGroupRules")
async def modify_security_group_rules(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    await sg_rules.modify_rules_live(ctx.backend, ctx.region, req["GroupId"], req["SecurityGroupRules"])
    return {"Return": True}
