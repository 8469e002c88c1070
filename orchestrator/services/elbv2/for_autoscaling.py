"""ELBv2 as Auto Scaling sees it: the ``TargetGroupPort`` (services/autoscaling/target_groups.py)
on ELBv2's own services, so a group's instances are registered, drained and health-checked exactly
as RegisterTargets, DeregisterTargets and DescribeTargetHealth do it for any caller."""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.domain.records import TARGET_GROUP
from orchestrator.services.backend import Backend
from orchestrator.services.elbv2 import targets


class ElbTargetGroups:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def missing(self, region: str, tg_arns: Sequence[str]) -> list[str]:
        store = self.backend.store
        return [a for a in tg_arns if (tg := store.get(a, TARGET_GROUP)) is None or tg.region != region]

    async def register(self, region: str, tg_arn: str, instance_ids: Sequence[str]) -> None:
        await targets.register_live(self.backend, region, tg_arn, [{"Id": i} for i in instance_ids])

    async def deregister(self, region: str, tg_arn: str, instance_ids: Sequence[str]) -> None:
        await targets.deregister_live(self.backend, region, tg_arn, [{"Id": i} for i in instance_ids])

    async def health(self, region: str, tg_arn: str) -> dict[str, str]:
        found = await targets.describe_health(self.backend, region, tg_arn, None)
        return {d["Target"]["Id"]: d["TargetHealth"]["State"] for d in found}
