"""The autoscaling actions the API calls: each records its change (``groups``, ``members``) and
then runs the group's controller pass at once (in the background: the answer does not wait for
launches, as on AWS)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.services.autoscaling import attach, controller, groups, members, scaling_policies
from orchestrator.services.backend import Backend


def create_group(backend: Backend, region: str, req: Mapping[str, Any]) -> None:
    groups.create(backend, region, req)
    controller.wake(backend, region, req["AutoScalingGroupName"])


def update_group(backend: Backend, region: str, req: Mapping[str, Any]) -> None:
    groups.update(backend, region, req)
    controller.wake(backend, region, req["AutoScalingGroupName"])


def delete_group(backend: Backend, region: str, name: str, force: bool) -> None:
    groups.delete(backend, region, name, force)
    controller.wake(backend, region, name)


def set_desired_capacity(backend: Backend, region: str, name: str, desired: int) -> None:
    groups.set_desired(backend, region, name, desired)
    controller.wake(backend, region, name)


def set_instance_health(backend: Backend, region: str, instance_id: str, status: str, respect_grace: bool) -> None:
    controller.wake(backend, region, members.set_health(backend, region, instance_id, status, respect_grace))


def terminate_instance(backend: Backend, region: str, instance_id: str, decrement: bool) -> dict[str, Any]:
    name, activity = members.terminate(backend, region, instance_id, decrement)
    controller.wake(backend, region, name)
    return activity


def suspend_processes(backend: Backend, region: str, name: str, processes: Sequence[str] | None,
                      resume: bool) -> None:
    groups.suspend(backend, region, name, processes, resume)
    controller.wake(backend, region, name)


def attach_target_groups(backend: Backend, region: str, name: str, arns: Sequence[str]) -> None:
    groups.attach_target_groups(backend, region, name, arns)
    controller.wake(backend, region, name)


async def detach_target_groups(backend: Backend, region: str, name: str, arns: Sequence[str]) -> None:
    """Forget the target groups, and deregister the group's instances from them before answering."""
    port = backend.target_groups
    for member in groups.detach_target_groups(backend, region, name, arns):
        gone = [a for a in member.data["registered"] if a in arns]
        if port is not None:
            for arn in gone:
                await port.deregister(region, arn, [member.data["InstanceId"]])
        fresh = backend.store.get(member.id, member.type)
        if fresh is not None:
            fresh.data["registered"] = [a for a in fresh.data["registered"] if a not in arns]
            backend.store.update(fresh)


def attach_instances(backend: Backend, region: str, name: str, instance_ids: Sequence[str]) -> None:
    attach.attach(backend, region, name, instance_ids)
    controller.wake(backend, region, name)


def detach_instances(backend: Backend, region: str, name: str, instance_ids: Sequence[str],
                     decrement: bool) -> list[dict[str, Any]]:
    out = attach.detach(backend, region, name, instance_ids, decrement)
    controller.wake(backend, region, name)
    return out


def execute_policy(backend: Backend, region: str, req: Mapping[str, Any]) -> None:
    controller.wake(backend, region, scaling_policies.execute(backend, region, req))
