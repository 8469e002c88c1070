"""The Auto Scaling controller: one pass per group keeps it healthy, at its desired capacity and
balanced over its zones, as AWS documents it. A pass runs after every API change of the group
(:func:`wake`) and for every group each ``Config.autoscaling_interval`` seconds
(:func:`run_periodically`, started with the runtime); one pass per group at a time (the runtime's
lock of the group). Everything a pass knows is in the store, so a restarted ec2d picks up where it
stopped; a pass repeated changes nothing more.

A pass, in order:

1. follows EC2 (adopting an instance tagged with the group that it has no record of: ec2d stopped
   between its RunInstances and the record); a ``Pending`` instance that runs is registered with the group's target groups,
   then ``InService``; one stopped, terminated or gone is ``Unhealthy`` (the EC2 health check); a
   ``Terminating`` one whose EC2 instance is terminated is ``Terminated`` (and forgotten);
2. with ``HealthCheckType`` ELB, an ``InService`` instance past the grace period that a target
   group reports ``unhealthy`` is ``Unhealthy``;
3. ``Unhealthy`` instances are replaced: taken out of service (``Terminating``: deregistered from
   the target groups, then terminated); their replacements come from step 4;
4. below the desired capacity it launches, each instance into the zone with the fewest
   (``domain.autoscaling.launch_zones``); a zone whose launch fails (no free address in its subnet,
   no capacity) is skipped for the others, and for a while (three intervals) after; above it, it
   takes instances out of service by the termination policies (zones balanced first);
5. target tracking policies sample their metric and may change the desired capacity (``tracking``)
   before step 4 compares against it;
6. at the desired capacity with nothing pending, ``AZRebalance``: launch into the least populated
   zone first (``rebalance_move``); once that instance is ``InService`` step 4 sheds one from the
   most populated zone.

Suspended processes (``Launch``, ``Terminate``, ``HealthCheck``, ``ReplaceUnhealthy``,
``AZRebalance``, ``AddToLoadBalancer``) skip their step.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence

from orchestrator.domain import errors
from orchestrator.domain.autoscaling import Member, launch_zones, rebalance_move, zone_counts
from orchestrator.domain.autoscaling_records import ASG_GROUP, ASG_INSTANCE, AsgGroupData
from orchestrator.domain.lifecycle import AsgGroupState, AsgInstanceState
from orchestrator.domain.states import InstanceState
from orchestrator.services.autoscaling import (
    activities,
    attach,
    groups,
    launching,
    members,
    names,
    policies,
    tracking,
)
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

log = logging.getLogger("ec2d.autoscaling")
S = AsgInstanceState
GONE = (InstanceState.SHUTTING_DOWN, InstanceState.TERMINATED, InstanceState.STOPPING, InstanceState.STOPPED)


def wake(backend: Backend, region: str, name: str) -> None:
    """Run the group's pass now, in the background (after an API change)."""
    backend.runtime.background(f"autoscaling group {name}", lambda: reconcile(backend, region, name))


async def reconcile(backend: Backend, region: str, name: str) -> None:
    """One pass over the group, under its lock."""
    async with backend.runtime.exclusive(names.group_id(region, name)):
        await _pass(backend, region, name)


async def reconcile_all(backend: Backend) -> None:
    for region in backend.config.regions:
        for record in backend.store.list(ASG_GROUP, region):
            try:
                await reconcile(backend, region, record.data["AutoScalingGroupName"])
            except Exception:
                log.exception("autoscaling pass over %s failed", record.data["AutoScalingGroupName"])


async def run_periodically(backend: Backend) -> None:
    """Every group's pass at start (a restart resumes), then each interval, until cancelled."""
    while True:
        try:
            await reconcile_all(backend)
        except Exception:  # e.g. the store briefly unavailable: the next interval tries again
            log.exception("autoscaling passes failed")
        await asyncio.sleep(backend.config.autoscaling_interval)


def _now(backend: Backend) -> float:
    return backend.store.now()


def _member_view(record: Record, group: AsgGroupData) -> Member:
    d = record.data
    if group["LaunchConfigurationName"]:  # a launch configuration other than the group's is "outdated"
        source = f"lc:{d['LaunchConfigurationName']}"
        version = None
    else:
        source = (d["LaunchTemplate"] or {}).get("LaunchTemplateId") or (d["LaunchTemplate"] or {}).get("LaunchTemplateName")
        version = None
    return Member(d["InstanceId"], d["AvailabilityZone"], dt.datetime.fromtimestamp(d["launched_at"], dt.UTC),
                  source, version, d["ProtectedFromScaleIn"])


# ---------------------------------------------------------------------------------------------
# the pass


async def _pass(backend: Backend, region: str, name: str) -> None:
    if groups.get(backend, region, name) is None:
        return
    await _follow_instances(backend, region, name)
    await _health_checks(backend, region, name)
    await _terminations(backend, region, name)
    await tracking.follow(backend, region, name)
    _capacity(backend, region, name)
    await _terminations(backend, region, name)
    _rebalance(backend, region, name)
    record = groups.get(backend, region, name)
    if record is not None and record.state == AsgGroupState.DELETING and not groups.members(backend, region, name):
        backend.store.delete(record.id)


async def _follow_instances(backend: Backend, region: str, name: str) -> None:
    port = backend.target_groups
    record = groups.require(backend, region, name)
    if record.state != AsgGroupState.DELETING:
        launching.adopt(backend, region, record.data)
    for m in groups.members(backend, region, name):
        group = groups.require(backend, region, name).data
        instance = backend.store.get(m.data["InstanceId"], "instance")
        if m.state == S.DETACHING:
            await attach.finish_detaching(backend, m)
            continue
        if m.state == S.TERMINATING:
            if instance is None or instance.state == InstanceState.TERMINATED:
                activities.finish(backend, m.data["activity"])
                backend.store.transition(m.id, str(S.TERMINATING), str(S.TERMINATED))
                backend.store.delete(m.id)
            continue
        if instance is None or instance.state in GONE:
            if not groups.suspended(group, "HealthCheck"):
                members.mark_unhealthy(backend, m, f"At {activities.stamp(_now(backend))} an instance was taken out "
                                       "of service in response to an EC2 health check indicating it has been "
                                       "terminated or stopped.")
            continue
        if instance.state != InstanceState.RUNNING:
            continue
        wanted = [] if port is None or groups.suspended(group, "AddToLoadBalancer") else group["TargetGroupARNs"]
        missing = [arn for arn in wanted if arn not in m.data["registered"]]
        for arn in missing:
            await port.register(region, arn, [m.data["InstanceId"]])  # type: ignore[union-attr]
        registered = list(dict.fromkeys(m.data["registered"] + missing))
        fresh = backend.store.get(m.id, ASG_INSTANCE)
        if fresh is None:
            continue
        if fresh.state == S.PENDING:
            backend.store.transition(m.id, str(S.PENDING), str(S.IN_SERVICE),
                                     {"in_service_at": _now(backend), "registered": registered})
            activities.finish(backend, fresh.data["activity"])
        elif missing:
            fresh.data["registered"] = registered
            backend.store.update(fresh)


async def _health_checks(backend: Backend, region: str, name: str) -> None:
    """ELB health (after the grace period), then every Unhealthy instance taken out of service."""
    group = groups.require(backend, region, name).data
    port = backend.target_groups
    if (group["HealthCheckType"] == "ELB" and port is not None and group["TargetGroupARNs"]
            and not groups.suspended(group, "HealthCheck")):
        unhealthy: set[str] = set()
        for arn in group["TargetGroupARNs"]:
            unhealthy |= {iid for iid, state in (await port.health(region, arn)).items() if state == "unhealthy"}
        now = _now(backend)  # read after the awaits
        live = [m for m in groups.members(backend, region, name) if m.state in groups.LIVE]
        for m in live:
            since = m.data["in_service_at"]
            if m.state == S.IN_SERVICE and since is not None and now >= since + group["HealthCheckGracePeriod"] \
                    and m.data["InstanceId"] in unhealthy:
                members.mark_unhealthy(backend, m, f"At {activities.stamp(now)} an instance was taken out of service "
                                       "in response to an ELB system health check failure.")
    if groups.suspended(group, "ReplaceUnhealthy"):
        return
    for m in groups.members(backend, region, name):
        if m.state in groups.LIVE and m.data["HealthStatus"] == members.UNHEALTHY:
            members.begin_termination(backend, m, m.data["unhealthy_cause"] or "")


async def _terminations(backend: Backend, region: str, name: str) -> None:
    """Terminating instances: deregistered from the target groups first, then terminated."""
    for m in groups.members(backend, region, name):
        if m.state == S.TERMINATING:
            await launching.deregister(backend, m)
            launching.terminate_ec2(backend, region, m.data["InstanceId"])


def _usable_zones(backend: Backend, group: AsgGroupData) -> list[str]:
    backoff = 3 * backend.config.autoscaling_interval
    now = _now(backend)
    return [z for z in group["AvailabilityZones"] if now - group["failed_zones"].get(z, -backoff - 1) > backoff]


def _capacity(backend: Backend, region: str, name: str) -> None:
    record = groups.require(backend, region, name)
    group = record.data
    live = [m for m in groups.members(backend, region, name) if m.state in groups.LIVE]
    waiting = [m for m in live if m.data["rebalance"] and m.state == S.PENDING]  # launched first, to rebalance
    desired = group["DesiredCapacity"]
    now = _now(backend)
    if len(live) < desired and not groups.suspended(group, "Launch") and record.state != AsgGroupState.DELETING:
        _launch(backend, region, record, live, desired - len(live))
    elif len(live) - len(waiting) > desired and (not groups.suspended(group, "Terminate")
                                                 or record.state == AsgGroupState.DELETING):
        count = len(live) - len(waiting) - desired
        candidates = [m for m in live if m not in waiting]
        if record.state == AsgGroupState.DELETING:
            chosen = [m.data["InstanceId"] for m in candidates]
        else:
            chosen = policies.victims([_member_view(m, group) for m in candidates], group["AvailabilityZones"],
                                      count, dt.datetime.fromtimestamp(now, dt.UTC), group["TerminationPolicies"],
                                      f"lc:{group['LaunchConfigurationName']}" if group["LaunchConfigurationName"]
                                      else None)
        prefix = _consume_cause(backend, record)
        have = len(live) - len(waiting)
        for iid in chosen:
            member = next(m for m in candidates if m.data["InstanceId"] == iid)
            members.begin_termination(backend, member, (
                f"{prefix}At {activities.stamp(now)} an instance was taken out of service in response to a "
                f"difference between desired and actual capacity, shrinking the capacity from {have} to {desired}.  "
                f"At {activities.stamp(now)} instance {iid} was selected for termination."))


def _consume_cause(backend: Backend, record: Record[AsgGroupData]) -> str:
    """The group's pending "a user request ..." sentence, cited once by the activities it caused."""
    cause = record.data["cause"]
    if cause:
        groups.mutate(backend, record.id, cause="")
        return cause + "  "
    return ""


def _launch(backend: Backend, region: str, record: Record[AsgGroupData], live: Sequence[Record], count: int) -> None:
    group = record.data
    now = _now(backend)
    counts = zone_counts([_member_view(m, group) for m in live], group["AvailabilityZones"])
    usable = _usable_zones(backend, group)
    prefix = _consume_cause(backend, record)
    have = len(live)
    launched = 0
    while launched < count and usable:
        zone = launch_zones(counts, usable, 1)[0]
        cause = (f"{prefix}At {activities.stamp(now)} an instance was started in response to a difference between "
                 f"desired and actual capacity, increasing the capacity from {have} to {group['DesiredCapacity']}.")
        if _launch_into(backend, region, record, zone, cause):
            counts[zone] += 1
            launched += 1
        else:
            usable.remove(zone)


def _launch_into(backend: Backend, region: str, record: Record[AsgGroupData], zone: str, cause: str,
                 rebalance: bool = False) -> bool:
    """One launch into ``zone``; False (and the zone marked failed) when EC2 refused it."""
    try:
        launching.launch(backend, region, groups.require(backend, region, record.data["AutoScalingGroupName"]).data,
                         zone, cause, rebalance)
        return True
    except errors.ApiError as exc:
        log.info("%s: launch into %s failed: %s", record.data["AutoScalingGroupName"], zone, exc.message)
        fresh = groups.require(backend, region, record.data["AutoScalingGroupName"]).data
        groups.mutate(backend, record.id, failed_zones={**fresh["failed_zones"], zone: _now(backend)})
        return False


def _rebalance(backend: Backend, region: str, name: str) -> None:
    record = groups.get(backend, region, name)
    if record is None or record.state == AsgGroupState.DELETING or groups.suspended(record.data, "AZRebalance"):
        return
    all_members = groups.members(backend, region, name)
    if any(m.state in (S.PENDING, S.TERMINATING, S.DETACHING) for m in all_members):
        return
    live = [m for m in all_members if m.state == S.IN_SERVICE]
    if len(live) != record.data["DesiredCapacity"]:
        return
    usable = _usable_zones(backend, record.data)
    move = rebalance_move(zone_counts([_member_view(m, record.data) for m in live], usable), usable)
    if move is None:
        return
    cause = f"At {activities.stamp(_now(backend))} an instance was launched to aid in balancing the group's zones."
    _launch_into(backend, region, record, move[0], cause, rebalance=True)
