"""Elastic Load Balancing v2 actions (query protocol, 2015-12-01, signed as
``elasticloadbalancing``): load balancers, target groups, targets and their health, listeners,
rules, tags. Each handler makes one service call (``services/elbv2``) and shapes its answer."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.registry import action
from orchestrator.services.elbv2 import listeners, load_balancers, rules, tagging, target_groups, targets

ELBV2 = "elbv2"
Req = dict[str, Any]


def _paged(key: str, items: list[dict[str, Any]], marker: str | None) -> Req:
    out: Req = {key: items}
    if marker:
        out["NextMarker"] = marker
    return out


# -- load balancers ------------------------------------------------------------------------------


@action("CreateLoadBalancer", service=ELBV2)
async def create_load_balancer(ctx: RequestContext, req: Req) -> Req:
    record = await load_balancers.create_live(ctx.backend, ctx.region, req)
    return {"LoadBalancers": [load_balancers.describe(ctx.backend, record)]}


@action("DescribeLoadBalancers", service=ELBV2)
def describe_load_balancers(ctx: RequestContext, req: Req) -> Req:
    items, marker = load_balancers.describe_all(ctx.backend, ctx.region, req.get("LoadBalancerArns"),
                                                req.get("Names"), req.get("Marker"), req.get("PageSize"))
    return _paged("LoadBalancers", items, marker)


@action("DeleteLoadBalancer", service=ELBV2)
async def delete_load_balancer(ctx: RequestContext, req: Req) -> None:
    await load_balancers.delete_live(ctx.backend, ctx.region, req["LoadBalancerArn"])


@action("DescribeLoadBalancerAttributes", service=ELBV2)
def describe_load_balancer_attributes(ctx: RequestContext, req: Req) -> Req:
    return {"Attributes": load_balancers.attributes(ctx.backend, ctx.region, req["LoadBalancerArn"])}


@action("ModifyLoadBalancerAttributes", service=ELBV2)
async def modify_load_balancer_attributes(ctx: RequestContext, req: Req) -> Req:
    return {"Attributes": await load_balancers.modify_attributes(ctx.backend, ctx.region, req["LoadBalancerArn"],
                                                                 req["Attributes"])}


@action("SetSecurityGroups", service=ELBV2)
async def set_security_groups(ctx: RequestContext, req: Req) -> Req:
    return {"SecurityGroupIds": await load_balancers.set_security_groups(ctx.backend, ctx.region,
                                                                         req["LoadBalancerArn"], req["SecurityGroups"])}


@action("SetSubnets", service=ELBV2)
async def set_subnets(ctx: RequestContext, req: Req) -> Req:
    record = await load_balancers.set_subnets_live(ctx.backend, ctx.region, req["LoadBalancerArn"], req)
    shown = load_balancers.describe(ctx.backend, record)
    return {"AvailabilityZones": shown["AvailabilityZones"], "IpAddressType": shown["IpAddressType"]}


# -- target groups and targets -------------------------------------------------------------------


@action("CreateTargetGroup", service=ELBV2)
def create_target_group(ctx: RequestContext, req: Req) -> Req:
    record = target_groups.create(ctx.backend, ctx.region, req)
    return {"TargetGroups": [target_groups.describe(ctx.backend, record)]}


@action("DescribeTargetGroups", service=ELBV2)
def describe_target_groups(ctx: RequestContext, req: Req) -> Req:
    items, marker = target_groups.describe_all(ctx.backend, ctx.region, req)
    return _paged("TargetGroups", items, marker)


@action("ModifyTargetGroup", service=ELBV2)
async def modify_target_group(ctx: RequestContext, req: Req) -> Req:
    record = await target_groups.modify(ctx.backend, ctx.region, req)
    return {"TargetGroups": [target_groups.describe(ctx.backend, record)]}


@action("DeleteTargetGroup", service=ELBV2)
def delete_target_group(ctx: RequestContext, req: Req) -> None:
    target_groups.delete(ctx.backend, ctx.region, req["TargetGroupArn"])


@action("DescribeTargetGroupAttributes", service=ELBV2)
def describe_target_group_attributes(ctx: RequestContext, req: Req) -> Req:
    return {"Attributes": target_groups.attributes(ctx.backend, ctx.region, req["TargetGroupArn"])}


@action("ModifyTargetGroupAttributes", service=ELBV2)
def modify_target_group_attributes(ctx: RequestContext, req: Req) -> Req:
    return {"Attributes": target_groups.modify_attributes(ctx.backend, ctx.region, req["TargetGroupArn"],
                                                          req["Attributes"])}


@action("RegisterTargets", service=ELBV2)
async def register_targets(ctx: RequestContext, req: Req) -> None:
    await targets.register_live(ctx.backend, ctx.region, req["TargetGroupArn"], req["Targets"])


@action("DeregisterTargets", service=ELBV2)
async def deregister_targets(ctx: RequestContext, req: Req) -> None:
    await targets.deregister_live(ctx.backend, ctx.region, req["TargetGroupArn"], req["Targets"])


@action("DescribeTargetHealth", service=ELBV2)
async def describe_target_health(ctx: RequestContext, req: Req) -> Req:
    return {"TargetHealthDescriptions": await targets.describe_health(ctx.backend, ctx.region, req["TargetGroupArn"],
                                                                      req.get("Targets"))}


# -- listeners and rules -------------------------------------------------------------------------


@action("CreateListener", service=ELBV2)
async def create_listener(ctx: RequestContext, req: Req) -> Req:
    return {"Listeners": [listeners.describe(await listeners.create_live(ctx.backend, ctx.region, req))]}


@action("DescribeListeners", service=ELBV2)
def describe_listeners(ctx: RequestContext, req: Req) -> Req:
    items, marker = listeners.describe_all(ctx.backend, ctx.region, req)
    return _paged("Listeners", items, marker)


@action("ModifyListener", service=ELBV2)
async def modify_listener(ctx: RequestContext, req: Req) -> Req:
    return {"Listeners": [listeners.describe(await listeners.modify(ctx.backend, ctx.region, req))]}


@action("DeleteListener", service=ELBV2)
async def delete_listener(ctx: RequestContext, req: Req) -> None:
    await listeners.delete_live(ctx.backend, ctx.region, req["ListenerArn"])


@action("CreateRule", service=ELBV2)
async def create_rule(ctx: RequestContext, req: Req) -> Req:
    return {"Rules": [rules.describe(await rules.create_live(ctx.backend, ctx.region, req))]}


@action("DescribeRules", service=ELBV2)
def describe_rules(ctx: RequestContext, req: Req) -> Req:
    items, marker = rules.describe_all(ctx.backend, ctx.region, req)
    return _paged("Rules", items, marker)


@action("ModifyRule", service=ELBV2)
async def modify_rule(ctx: RequestContext, req: Req) -> Req:
    return {"Rules": [await rules.modify(ctx.backend, ctx.region, req)]}


@action("DeleteRule", service=ELBV2)
async def delete_rule(ctx: RequestContext, req: Req) -> None:
    await rules.delete_live(ctx.backend, ctx.region, req["RuleArn"])


@action("SetRulePriorities", service=ELBV2)
async def set_rule_priorities(ctx: RequestContext, req: Req) -> Req:
    return {"Rules": await rules.set_priorities(ctx.backend, ctx.region, req["RulePriorities"])}


# -- tags ----------------------------------------------------------------------------------------


@action("AddTags", service=ELBV2)
def add_tags(ctx: RequestContext, req: Req) -> None:
    tagging.add(ctx.backend, ctx.region, req["ResourceArns"], req["Tags"])


@action("RemoveTags", service=ELBV2)
def remove_tags(ctx: RequestContext, req: Req) -> None:
    tagging.remove(ctx.backend, ctx.region, req["ResourceArns"], req["TagKeys"])


@action("DescribeTags", service=ELBV2)
def describe_tags(ctx: RequestContext, req: Req) -> Req:
    return {"TagDescriptions": tagging.describe(ctx.backend, ctx.region, req["ResourceArns"])}
