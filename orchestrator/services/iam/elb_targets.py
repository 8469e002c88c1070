"""The resources an ELBv2 request acts on, as IAM evaluates them (``elasticloadbalancing:`` actions):
the ARNs its parameters name (``LoadBalancerArn``, ``TargetGroupArn``, ``ListenerArn``, ``RuleArn``,
``ResourceArns``, ``RulePriorities[].RuleArn``), or for a Create* the ARN pattern of what it makes
(``loadbalancer/app/NAME/*``, ``targetgroup/NAME/*``, ``listener/app/...LB.../*``); Describe*
calls and calls naming none are evaluated on ``"*"``, as ELB documents for its Describe actions.

:func:`context` gives a resource's tags as ``elasticloadbalancing:ResourceTag/KEY`` and
``aws:ResourceTag/KEY`` (ELB keeps them under the ARN), and a create or AddTags call's tags as
``aws:RequestTag/KEY`` and ``aws:TagKeys``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.domain import elbv2
from orchestrator.services.backend import Backend

SINGLE = ("LoadBalancerArn", "TargetGroupArn", "ListenerArn", "RuleArn")


def resources(action: str, args: Mapping[str, Any], region: str, account: str) -> list[str]:
    if action.startswith("Describe"):
        return ["*"]
    if action == "CreateLoadBalancer":
        short = elbv2.TYPE_SHORT.get(args.get("Type") or elbv2.APPLICATION, "app")
        return [f"{elbv2.prefix(region, account)}:loadbalancer/{short}/{args.get('Name', '')}/*"]
    if action == "CreateTargetGroup":
        return [f"{elbv2.prefix(region, account)}:targetgroup/{args.get('Name', '')}/*"]
    if action == "CreateListener" and isinstance(args.get("LoadBalancerArn"), str):
        return [elbv2.listener_arn(args["LoadBalancerArn"], "*")] if ":loadbalancer/" in args["LoadBalancerArn"] \
            else ["*"]
    if action == "CreateRule" and isinstance(args.get("ListenerArn"), str) and ":listener/" in args["ListenerArn"]:
        return [elbv2.rule_arn(args["ListenerArn"], "*")]
    found = [args[k] for k in SINGLE if isinstance(args.get(k), str)]
    found += [a for a in args.get("ResourceArns") or [] if isinstance(a, str)]
    found += [p["RuleArn"] for p in args.get("RulePriorities") or [] if isinstance(p.get("RuleArn"), str)]
    return list(dict.fromkeys(found)) or ["*"]


def context(backend: Backend, action: str, args: Mapping[str, Any], arn: str) -> dict[str, Any]:
    """The tag condition keys of one evaluation of ``action`` on ``arn``."""
    out: dict[str, Any] = {}
    if arn != "*" and not arn.endswith("/*"):
        for k, v in backend.store.tags_of(arn).items():
            out[f"elasticloadbalancing:ResourceTag/{k}"] = v
            out[f"aws:ResourceTag/{k}"] = v
    if action.startswith("Create") or action == "AddTags":
        asked = {t.get("Key", ""): t.get("Value") or "" for t in args.get("Tags") or [] if isinstance(t, Mapping)}
        if asked:
            out.update({f"aws:RequestTag/{k}": v for k, v in asked.items()})
            out["aws:TagKeys"] = list(asked)
    return out
