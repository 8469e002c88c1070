"""Auto Scaling's record ids and ARNs, and the paging its Describe calls share."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from orchestrator.domain import errors

T = TypeVar("T")


def group_id(region: str, name: str) -> str:
    """The group record's id: one name per region, so a second CreateAutoScalingGroup of a name
    collides in the store's primary key even when two requests race."""
    return f"asg:{region}:{name}"


def launch_configuration_id(region: str, name: str) -> str:
    return f"asg-lc:{region}:{name}"


def member_id(instance_id: str) -> str:
    return f"asg-instance:{instance_id}"


def group_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:autoscaling:{region}:{account}:autoScalingGroup:{uuid.uuid4()}:autoScalingGroupName/{name}"


def launch_configuration_arn(region: str, account: str, name: str) -> str:
    return (f"arn:aws:autoscaling:{region}:{account}:launchConfiguration:{uuid.uuid4()}"
            f":launchConfigurationName/{name}")


def page(req: dict[str, Any], items: Sequence[T], key: str, default: int = 50, most: int = 100) -> dict[str, Any]:
    """``{key: items[...], "NextToken": ...}`` for ``MaxRecords``/``NextToken`` (an offset token)."""
    size = req.get("MaxRecords") or default
    if not 1 <= size <= most:
        raise errors.AsgValidationError(f"MaxRecords must be between 1 and {most}")
    token = req.get("NextToken")
    start = 0
    if token:
        if not token.isdigit() or int(token) > len(items):
            raise errors.AsgInvalidNextToken("The token is invalid.")
        start = int(token)
    end = start + size
    return {key: list(items[start:end]), "NextToken": str(end) if end < len(items) else None}
