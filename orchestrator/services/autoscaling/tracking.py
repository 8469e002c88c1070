"""Target tracking on what ec2d measures, run by the controller's pass of a group.

Every pass reads the policy's counters through the runtime port: the cumulative CPU seconds of
the group's instances (``ASGAverageCPUUtilization``, libvirt's domain CPU time) or the requests
the load balancers sent each target of the policy's target group (``ALBRequestCountPerTarget``,
HAProxy's ``stot``). Once a period (``Config.autoscaling_metric_period``, AWS's minute) has passed
since the window's last reading, the rate over it is one datapoint; ``domain.scaling.track``
decides over the latest datapoints. Only ``InService`` instances past their warm-up count.

The window lives in memory (per open store, then per policy): a restarted ec2d starts a new one,
as a new alarm would wait for new datapoints. After a scaling change every policy's datapoints are
dropped, so the next decision waits for datapoints taken after it (scale in goes one step per low
window). Several policies on one group decide together as on AWS: any of them scales out (to the
largest capacity asked), scale in waits until all of them with scale-in enabled are ready to.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field

from orchestrator.domain import instance_types, scaling
from orchestrator.domain.autoscaling_records import AsgGroupData, AsgPolicyData
from orchestrator.domain.lifecycle import AsgGroupState, AsgInstanceState
from orchestrator.services.autoscaling import activities, groups, scaling_policies
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Store


@dataclass
class Window:
    """One policy's readings: the counters at the start of the running period and the datapoints."""

    at: float
    readings: dict[str, float]
    datapoints: list[float] = field(default_factory=list)


# the open store -> policy ARN -> its window (a store opened again, as after a restart, has none)
_WINDOWS: weakref.WeakKeyDictionary[Store, dict[str, Window]] = weakref.WeakKeyDictionary()


def _windows(backend: Backend) -> dict[str, Window]:
    return _WINDOWS.setdefault(backend.store, {})


def window(backend: Backend, policy_arn: str) -> Window | None:
    """The policy's current window (tests read its datapoints)."""
    return _windows(backend).get(policy_arn)


def _counted(backend: Backend, region: str, group: AsgGroupData, policy: AsgPolicyData, now: float) -> list[str]:
    warmup = policy.get("EstimatedInstanceWarmup", group["DefaultCooldown"])
    since = {m.data["InstanceId"]: m.data["in_service_at"] for m in groups.members(backend, region,
                                                                                  group["AutoScalingGroupName"])
             if m.state == AsgInstanceState.IN_SERVICE}
    return scaling.warmed(since, warmup, now)


async def _readings(backend: Backend, region: str, group: AsgGroupData, policy: AsgPolicyData,
                    counted: list[str]) -> dict[str, float]:
    spec = policy["TargetTrackingConfiguration"]["PredefinedMetricSpecification"]
    if spec["PredefinedMetricType"] == "ASGAverageCPUUtilization":
        return await backend.runtime.instance_cpu(counted)
    arn = scaling_policies.target_group_of(spec.get("ResourceLabel") or "", group["TargetGroupARNs"])
    if arn is None:
        return {}
    served = await backend.runtime.target_requests(region, arn)
    out: dict[str, float] = {}
    for (target, _port), n in served.items():
        if target in counted:
            out[target] = out.get(target, 0.0) + n
    return out


def _vcpus(backend: Backend, instance_ids: list[str]) -> dict[str, int]:
    out = {}
    for iid in instance_ids:
        record = backend.store.get(iid, "instance")
        kind = instance_types.get(record.data["InstanceType"]) if record is not None else None
        out[iid] = kind.vcpus if kind is not None else 1
    return out


def datapoint(metric: str, before: Mapping[str, float], after: Mapping[str, float], seconds: float,
              period: float, vcpus: Mapping[str, int]) -> float | None:
    """One period's value: the average CPU % of the instances read at both ends, or the requests
    per target per period (a counter that went back, the proxy restarted: counted from 0)."""
    if metric == "ASGAverageCPUUtilization":
        cpu = scaling.cpu_percent(before, after, seconds, vcpus)
        return sum(cpu.values()) / len(cpu) if cpu else None
    common = [t for t in after if t in before]  # a target counted since the last reading waits one period
    if not common or seconds <= 0:
        return None
    total = sum(after[t] - before[t] if after[t] >= before[t] else after[t] for t in common)
    return total / len(common) * period / seconds


async def follow(backend: Backend, region: str, name: str) -> None:
    """Sample each enabled target tracking policy of the group, then let them decide together
    (``domain.scaling.combine``: any may scale out, scale in needs them all; under the group's lock)."""
    record = groups.get(backend, region, name)
    if record is None:
        return
    if record.state == AsgGroupState.DELETING:
        scaling_policies.forget_group(backend, region, name)
        return
    policies = [p for p in scaling_policies.of_group(backend, region, name)
                if p.data["PolicyType"] == "TargetTrackingScaling" and p.data["Enabled"]]
    followed = {p.data["PolicyARN"] for p in policies}
    windows = _windows(backend)
    for arn in [a for a in windows if f":autoScalingGroupName/{name}:" in a and a not in followed]:
        del windows[arn]  # deleted or disabled: a new window when it is followed again
    now = backend.store.now()  # before the readings: a reading is never older than its stamp
    for policy in policies:
        await _sample(backend, region, name, policy.data, now)
    group = groups.require(backend, region, name)
    if not policies or groups.suspended(group.data, "AlarmNotification"):
        return
    g = group.data
    verdicts = []
    for policy in policies:
        win = windows.get(policy.data["PolicyARN"])
        config = policy.data["TargetTrackingConfiguration"]
        verdict = scaling.track(win.datapoints if win else [], config["TargetValue"], g["DesiredCapacity"],
                                g["MinSize"], g["MaxSize"], config["DisableScaleIn"])
        verdicts.append((verdict, not config["DisableScaleIn"]))
    chosen = scaling.combine(verdicts, g["DesiredCapacity"])
    if chosen is None:
        return
    p, decision = policies[chosen].data, verdicts[chosen][0]
    alarm = next(a for a in scaling_policies.alarm_names(p) if f"-{decision.alarm}-" in a)
    groups.mutate(backend, group.id, DesiredCapacity=decision.desired, cause=(
        f"At {activities.stamp(now)} a monitor alarm {alarm} in state ALARM triggered policy {p['PolicyName']} "
        f"changing the desired capacity from {g['DesiredCapacity']} to {decision.desired}."))
    for policy in policies:  # every alarm waits for datapoints taken after the change
        win = windows.get(policy.data["PolicyARN"])
        if win is not None:
            win.datapoints.clear()


async def _sample(backend: Backend, region: str, name: str, p: AsgPolicyData, now: float) -> None:
    """Read the policy's counters; once a period has passed, one more datapoint in its window."""
    group = groups.require(backend, region, name).data
    counted = _counted(backend, region, group, p, now)
    readings = await _readings(backend, region, group, p, counted)
    windows = _windows(backend)
    win = windows.get(p["PolicyARN"])
    period = backend.config.autoscaling_metric_period
    if win is None:
        windows[p["PolicyARN"]] = Window(now, readings)
        return
    if now - win.at < period:
        return
    metric = p["TargetTrackingConfiguration"]["PredefinedMetricSpecification"]["PredefinedMetricType"]
    value = datapoint(metric, win.readings, readings, now - win.at, period, _vcpus(backend, list(readings)))
    win.at, win.readings = now, readings
    if value is None:  # no instance counted: insufficient data, the alarms' evaluation starts over
        win.datapoints.clear()
        return
    win.datapoints = (win.datapoints + [value])[-scaling.LOW_PERIODS:]
