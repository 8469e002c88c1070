"""What Auto Scaling needs of Elastic Load Balancing: a port, wired by the composition root.

The controller registers a group's new instances with the group's target groups before they are
``InService``, deregisters them before it terminates them (draining is the load balancer's
business), and with ``HealthCheckType`` ELB reads their health. ``Backend.target_groups`` holds
the implementation (ELBv2's services); None means no load balancer is served, and then a group
naming target groups is refused (``ValidationError``) as AWS refuses unknown ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class TargetGroupPort(Protocol):
    def missing(self, region: str, tg_arns: Sequence[str]) -> list[str]:
        """The ARNs of ``tg_arns`` that name no target group of the region."""

    async def register(self, region: str, tg_arn: str, instance_ids: Sequence[str]) -> None:
        """RegisterTargets of the instances (on the target group's port)."""

    async def deregister(self, region: str, tg_arn: str, instance_ids: Sequence[str]) -> None:
        """DeregisterTargets of the instances (the load balancer drains them)."""

    async def health(self, region: str, tg_arn: str) -> dict[str, str]:
        """Instance id -> ``TargetHealth.State`` (``initial``, ``healthy``, ``unhealthy``, ``unused``,
        ``draining``, ``unavailable``) of the registered instance targets."""
