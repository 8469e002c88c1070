"""Dynamic scaling policies, the API side: PutScalingPolicy, DescribePolicies, DeletePolicy,
ExecutePolicy. A target tracking policy is followed by the controller (``tracking``) on what ec2d
measures; step and simple scaling policies need a CloudWatch alarm on AWS, which ec2d has not:
they run when ExecutePolicy says so (with ``MetricValue``/``BreachThreshold`` for step scaling),
which is how AWS lets a user trigger them by hand. The decisions are ``domain.scaling``'s."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import errors, scaling
from orchestrator.domain.autoscaling_records import ASG_POLICY, AsgGroupData, AsgPolicyData, AsgStepAdjustment
from orchestrator.domain.lifecycle import AsgGroupState
from orchestrator.services.autoscaling import activities, groups
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

POLICY_TYPES = ("SimpleScaling", "StepScaling", "TargetTrackingScaling")
MEASURED = ("ASGAverageCPUUtilization", "ALBRequestCountPerTarget")  # what ec2d measures
AGGREGATIONS = ("Average", "Minimum", "Maximum")
MAX_POLICIES = 50  # AWS's quota of scaling policies per group
LABEL = re.compile(r"^app/[^/]+/[0-9a-f]+/targetgroup/([^/]+)/([0-9a-f]+)$")


def policy_id(region: str, group: str, name: str) -> str:
    return f"asg-policy:{region}:{group}:{name}"


def policy_arn(region: str, account: str, group: str, name: str) -> str:
    return (f"arn:aws:autoscaling:{region}:{account}:scalingPolicy:{uuid.uuid4()}:autoScalingGroupName/{group}"
            f":policyName/{name}")


def alarm_names(policy: AsgPolicyData) -> list[str]:
    """Target tracking's alarms, as AWS names them: ``TargetTracking-<group>-AlarmHigh-<uuid>``."""
    group = policy["AutoScalingGroupName"]
    return [f"TargetTracking-{group}-{kind}-{uid}" for kind, uid in zip(("AlarmHigh", "AlarmLow"),
                                                                         policy["alarm_ids"], strict=False)]


def alarms(backend: Backend, region: str, policy: AsgPolicyData) -> list[dict[str, str]]:
    return [{"AlarmName": n, "AlarmARN": f"arn:aws:cloudwatch:{region}:{backend.account_id}:alarm:{n}"}
            for n in alarm_names(policy)]


def of_group(backend: Backend, region: str, group: str) -> list[Record[AsgPolicyData]]:
    return [r for r in backend.store.list(ASG_POLICY, region) if r.data["AutoScalingGroupName"] == group]


def find(backend: Backend, region: str, group: str | None, name: str) -> Record[AsgPolicyData]:
    """A policy by name (in ``group``) or by ARN (the group then optional)."""
    for r in backend.store.list(ASG_POLICY, region):
        d = r.data
        if (name == d["PolicyARN"] or (name == d["PolicyName"] and group == d["AutoScalingGroupName"])) \
                and group in (None, d["AutoScalingGroupName"]):
            return r
    if group is not None and groups.get(backend, region, group) is None:
        raise errors.asg_not_found(group)
    raise errors.AsgValidationError(f"No such policy: {name}" if group is None else
                                    f"Policy {name} not found for AutoScalingGroup {group}")


# ---------------------------------------------------------------------------------------------
# PutScalingPolicy


def _forbid(req: Mapping[str, Any], keys: tuple[str, ...], policy_type: str) -> None:
    for key in keys:
        if req.get(key) is not None:
            raise errors.AsgValidationError(f"{key} is not supported for policy type {policy_type}.")


def _adjustment(req: Mapping[str, Any], data: AsgPolicyData) -> None:
    kind = req.get("AdjustmentType")
    if kind not in scaling.ADJUSTMENT_TYPES:
        raise errors.AsgValidationError(f"Invalid adjustment type {kind}." if kind else
                                        "AdjustmentType is required for policy type " + data["PolicyType"] + ".")
    data["AdjustmentType"] = kind
    magnitude = req.get("MinAdjustmentMagnitude", req.get("MinAdjustmentStep"))
    if magnitude is not None:
        if kind != "PercentChangeInCapacity":
            raise errors.AsgValidationError("MinAdjustmentMagnitude is only supported with adjustment type "
                                            "PercentChangeInCapacity.")
        if magnitude < 1:
            raise errors.AsgValidationError("MinAdjustmentMagnitude must be greater than or equal to 1.")
        data["MinAdjustmentMagnitude"] = int(magnitude)


def steps_of(data: AsgPolicyData) -> list[scaling.Step]:
    return [scaling.Step(int(s["ScalingAdjustment"]), s.get("MetricIntervalLowerBound"),
                         s.get("MetricIntervalUpperBound")) for s in data.get("StepAdjustments", [])]


def _step(req: Mapping[str, Any], data: AsgPolicyData) -> None:
    _forbid(req, ("ScalingAdjustment", "Cooldown", "TargetTrackingConfiguration"), "StepScaling")
    _adjustment(req, data)
    steps: list[AsgStepAdjustment] = []
    for s in req.get("StepAdjustments") or []:
        step: AsgStepAdjustment = {"ScalingAdjustment": int(s["ScalingAdjustment"])}
        for key in ("MetricIntervalLowerBound", "MetricIntervalUpperBound"):
            if s.get(key) is not None:
                step[key] = float(s[key])  # type: ignore[literal-required]
        steps.append(step)
    data["StepAdjustments"] = steps
    why = scaling.steps_valid(steps_of(data))
    if why:
        raise errors.AsgValidationError(why)
    aggregation = req.get("MetricAggregationType") or "Average"
    if aggregation not in AGGREGATIONS:
        raise errors.AsgValidationError(f"Invalid metric aggregation type {aggregation}.")
    data["MetricAggregationType"] = aggregation


def _simple(req: Mapping[str, Any], data: AsgPolicyData) -> None:
    _forbid(req, ("StepAdjustments", "MetricAggregationType", "EstimatedInstanceWarmup",
                  "TargetTrackingConfiguration"), "SimpleScaling")
    _adjustment(req, data)
    if req.get("ScalingAdjustment") is None:
        raise errors.AsgValidationError("ScalingAdjustment is required for policy type SimpleScaling.")
    data["ScalingAdjustment"] = int(req["ScalingAdjustment"])
    if req.get("Cooldown") is not None:
        data["Cooldown"] = int(req["Cooldown"])


def target_group_of(label: str, arns: Sequence[str]) -> str | None:
    """The target group of ``arns`` that a ``ResourceLabel`` (``app/LB/HEX/targetgroup/TG/HEX``) names."""
    found = LABEL.match(label)
    if found is None:
        return None
    return next((a for a in arns if a.endswith(f":targetgroup/{found[1]}/{found[2]}")), None)


def _tracking(backend: Backend, region: str, req: Mapping[str, Any], group: AsgGroupData,
              data: AsgPolicyData) -> None:
    _forbid(req, ("AdjustmentType", "ScalingAdjustment", "Cooldown", "StepAdjustments", "MetricAggregationType",
                  "MinAdjustmentMagnitude"), "TargetTrackingScaling")
    config = dict(req.get("TargetTrackingConfiguration") or {})
    if not config:
        raise errors.AsgValidationError("TargetTrackingConfiguration is required for policy type "
                                        "TargetTrackingScaling.")
    if config.get("CustomizedMetricSpecification") is not None:
        raise errors.AsgValidationError("CustomizedMetricSpecification is not supported: ec2d has no CloudWatch; "
                                        f"use a PredefinedMetricSpecification of {', '.join(MEASURED)}.")
    spec = dict(config.get("PredefinedMetricSpecification") or {})
    if not spec:
        raise errors.AsgValidationError("Either PredefinedMetricSpecification or CustomizedMetricSpecification "
                                        "must be specified.")
    metric = spec.get("PredefinedMetricType")
    if metric not in MEASURED:
        raise errors.AsgValidationError(f"Predefined metric type {metric} is not supported by ec2d "
                                        f"(supported: {', '.join(MEASURED)}).")
    label = spec.get("ResourceLabel")
    if metric == "ALBRequestCountPerTarget":
        if LABEL.match(label or "") is None:
            raise errors.AsgValidationError(f"Invalid ResourceLabel {label!r}: expected "
                                            "app/<load-balancer-name>/<id>/targetgroup/<target-group-name>/<id>.")
        if target_group_of(label, group["TargetGroupARNs"]) is None:
            raise errors.AsgValidationError(f"The target group of ResourceLabel {label} is not attached to the "
                                            f"Auto Scaling group {group['AutoScalingGroupName']}.")
    elif label:
        raise errors.AsgValidationError(f"ResourceLabel is not supported for predefined metric type {metric}.")
    target = float(config["TargetValue"])
    if not math.isfinite(target) or target <= 0:
        raise errors.AsgValidationError("TargetValue must be greater than 0.")
    data["TargetTrackingConfiguration"] = {"PredefinedMetricSpecification": spec, "TargetValue": target,
                                           "DisableScaleIn": bool(config.get("DisableScaleIn"))}
    data["alarm_ids"] = data["alarm_ids"] or [str(uuid.uuid4()), str(uuid.uuid4())]


def put(backend: Backend, region: str, req: Mapping[str, Any]) -> dict[str, Any]:
    """Create or replace the policy; the answer's ``PolicyARN`` (and target tracking's ``Alarms``)."""
    name, group_name = req["PolicyName"], req["AutoScalingGroupName"]
    record = groups.require(backend, region, group_name)
    if record.state == AsgGroupState.DELETING:
        raise errors.AsgScalingActivityInProgress(f"AutoScalingGroup {group_name} is pending delete.")
    kind = req.get("PolicyType") or "SimpleScaling"
    if kind not in POLICY_TYPES:
        raise errors.AsgValidationError(f"Policy type {kind} is not supported." if kind != "PredictiveScaling" else
                                        "PredictiveScaling is not supported by ec2d (no forecasts).")
    rid = policy_id(region, group_name, name)
    old = backend.store.get(rid, ASG_POLICY)
    if old is not None and old.data["PolicyType"] != kind:
        raise errors.AsgValidationError(f"Cannot change the policy type of {name} from {old.data['PolicyType']} "
                                        f"to {kind}.")
    data: AsgPolicyData = {"AutoScalingGroupName": group_name, "PolicyName": name, "PolicyType": kind,
                           "PolicyARN": old.data["PolicyARN"] if old else
                           policy_arn(region, backend.account_id, group_name, name),
                           "Enabled": req.get("Enabled") is not False,
                           "alarm_ids": old.data["alarm_ids"] if old else []}
    if kind == "SimpleScaling":
        _simple(req, data)
    elif kind == "StepScaling":
        _step(req, data)
    else:
        _tracking(backend, region, req, record.data, data)
    if req.get("EstimatedInstanceWarmup") is not None and kind != "SimpleScaling":
        data["EstimatedInstanceWarmup"] = int(req["EstimatedInstanceWarmup"])
    if old is not None:
        old.data = data
        backend.store.update(old)
    else:
        if len(of_group(backend, region, group_name)) >= MAX_POLICIES:
            raise errors.AsgLimitExceeded(f"The quota of {MAX_POLICIES} scaling policies per Auto Scaling group "
                                          "has been exceeded.")
        backend.store.insert(Record[AsgPolicyData](id=rid, type=ASG_POLICY, region=region, state="available",
                                                   data=data))
    return {"PolicyARN": data["PolicyARN"], "Alarms": alarms(backend, region, data)}


# ---------------------------------------------------------------------------------------------
# DescribePolicies, DeletePolicy


def view(backend: Backend, region: str, d: AsgPolicyData) -> dict[str, Any]:
    out = {k: v for k, v in d.items() if k[0].isupper()}
    out["Alarms"] = alarms(backend, region, d)
    return out


def describe(backend: Backend, region: str, req: Mapping[str, Any]) -> list[dict[str, Any]]:
    group, wanted, kinds = req.get("AutoScalingGroupName"), req.get("PolicyNames"), req.get("PolicyTypes")
    out = []
    for r in backend.store.list(ASG_POLICY, region):
        d = r.data
        if group and d["AutoScalingGroupName"] != group:
            continue
        if wanted and d["PolicyName"] not in wanted and d["PolicyARN"] not in wanted:
            continue
        if kinds and d["PolicyType"] not in kinds:
            continue
        out.append(view(backend, region, d))
    out.sort(key=lambda p: (p["AutoScalingGroupName"], p["PolicyName"]))
    return out


def delete(backend: Backend, region: str, group: str | None, name: str) -> None:
    backend.store.delete(find(backend, region, group, name).id)


def forget_group(backend: Backend, region: str, group: str) -> None:
    """A deleted group's policies go with it."""
    for r in of_group(backend, region, group):
        backend.store.delete(r.id)


# ---------------------------------------------------------------------------------------------
# ExecutePolicy


def _new_capacity(policy: AsgPolicyData, group: AsgGroupData, req: Mapping[str, Any]) -> int:
    current, low, high = group["DesiredCapacity"], group["MinSize"], group["MaxSize"]
    magnitude = policy.get("MinAdjustmentMagnitude")
    if policy["PolicyType"] == "SimpleScaling":
        _forbid(req, ("MetricValue", "BreachThreshold"), "SimpleScaling")
        return scaling.adjusted(current, policy["AdjustmentType"], policy["ScalingAdjustment"], low, high, magnitude)
    if req.get("MetricValue") is None or req.get("BreachThreshold") is None:
        raise errors.AsgValidationError("MetricValue and BreachThreshold are required for policy type StepScaling.")
    step = scaling.step_for(steps_of(policy), float(req["MetricValue"]), float(req["BreachThreshold"]))
    if step is None:
        raise errors.AsgValidationError(f"The metric value {req['MetricValue']} is not within any step adjustment's "
                                        f"interval for breach threshold {req['BreachThreshold']}.")
    return scaling.adjusted(current, policy["AdjustmentType"], step.adjustment, low, high, magnitude)


def execute(backend: Backend, region: str, req: Mapping[str, Any]) -> str:
    """Run a simple or step scaling policy now; the group's name (its pass runs next)."""
    record = find(backend, region, req.get("AutoScalingGroupName"), req["PolicyName"])
    policy = record.data
    if policy["PolicyType"] == "TargetTrackingScaling":
        raise errors.AsgValidationError("ExecutePolicy is not supported for policy type TargetTrackingScaling.")
    if not policy["Enabled"]:
        raise errors.AsgValidationError(f"Policy {policy['PolicyName']} is disabled.")
    name = policy["AutoScalingGroupName"]
    group = groups.require(backend, region, name)
    g = group.data
    now = backend.store.now()
    if policy["PolicyType"] == "SimpleScaling" and req.get("HonorCooldown") and scaling.in_cooldown(
            g.get("simple_scaled_at"), policy.get("Cooldown", g["DefaultCooldown"]), now):
        raise errors.AsgScalingActivityInProgress(
            f"Scaling activity is in progress and blocks this action: AutoScalingGroup {name} is in cooldown.")
    new = _new_capacity(policy, g, req)
    if new == g["DesiredCapacity"]:
        return name
    changes: dict[str, Any] = {"DesiredCapacity": new, "cause": (
        f"At {activities.stamp(now)} a user request executed policy {policy['PolicyName']} changing the desired "
        f"capacity from {g['DesiredCapacity']} to {new}.")}
    if policy["PolicyType"] == "SimpleScaling":
        changes["simple_scaled_at"] = now
    groups.mutate(backend, group.id, **changes)
    return name
