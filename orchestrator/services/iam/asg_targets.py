"""The resources an Auto Scaling request acts on, as IAM evaluates them (``autoscaling:`` actions):
the group a request names (``AutoScalingGroupName``; each group of CreateOrUpdateTags/DeleteTags),
by its ARN with its tags as ``autoscaling:ResourceTag/KEY`` and ``aws:ResourceTag/KEY``; a
CreateAutoScalingGroup on the ARN pattern of what it makes with its tags as ``aws:RequestTag/KEY``
and ``aws:TagKeys``. Describe* calls and calls naming no group are evaluated on ``"*"``, as the
Service Authorization Reference lists them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.services.autoscaling import groups
from orchestrator.services.backend import Backend


def _tags(items: Any) -> dict[str, str]:
    return {t.get("Key", ""): t.get("Value") or "" for t in items or [] if isinstance(t, Mapping)}


def resources(backend: Backend, action: str, args: Mapping[str, Any], region: str,
              account: str) -> list[tuple[str, dict[str, Any]]]:
    """(resource ARN, condition keys) pairs the request is evaluated on."""
    if action.startswith("Describe"):
        return [("*", {})]
    if action in ("CreateOrUpdateTags", "DeleteTags"):
        names = [t.get("ResourceId") for t in args.get("Tags") or [] if isinstance(t, Mapping)]
    else:
        names = [args.get("AutoScalingGroupName")]
    out: list[tuple[str, dict[str, Any]]] = []
    for name in dict.fromkeys(n for n in names if isinstance(n, str) and n):
        record = groups.get(backend, region, name)
        if record is None:
            arn = f"arn:aws:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/{name}"
            out.append((arn, {}))
            continue
        ctx: dict[str, Any] = {}
        for k, v in _tags(record.data["Tags"]).items():
            ctx[f"autoscaling:ResourceTag/{k}"] = v
            ctx[f"aws:ResourceTag/{k}"] = v
        out.append((record.data["AutoScalingGroupARN"], ctx))
    out = out or [("*", {})]
    asked = _tags(args.get("Tags")) if action in ("CreateAutoScalingGroup", "CreateOrUpdateTags") else {}
    if asked:
        requested = {**{f"aws:RequestTag/{k}": v for k, v in asked.items()}, "aws:TagKeys": list(asked)}
        out = [(arn, {**ctx, **requested}) for arn, ctx in out]
    return out
