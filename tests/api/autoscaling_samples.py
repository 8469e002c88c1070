"""Round-trip samples of every autoscaling action (``test_roundtrip``): run in order on a backend
with the fake-driver runtime and the Auto Scaling controller, each output serialized by ec2d's
Query protocol and parsed back by botocore. ``(SETUP, step)`` entries wait for the controller."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from api_only import until

from orchestrator.domain.autoscaling_records import ASG_INSTANCE
from orchestrator.domain.lifecycle import AsgInstanceState
from orchestrator.services import vpcs
from orchestrator.services.backend import Backend

SETUP = "(setup)"
TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/rt/0123456789abcdef"
State = dict[str, Any]


class OneTargetGroup:
    """A ``TargetGroupPort`` that knows one target group and reports every target healthy."""

    def __init__(self) -> None:
        self.targets: set[str] = set()

    def missing(self, region: str, tg_arns: Sequence[str]) -> list[str]:
        return [a for a in tg_arns if a != TG]

    async def register(self, region: str, tg_arn: str, instance_ids: Sequence[str]) -> None:
        self.targets.update(instance_ids)

    async def deregister(self, region: str, tg_arn: str, instance_ids: Sequence[str]) -> None:
        self.targets.difference_update(instance_ids)

    async def health(self, region: str, tg_arn: str) -> dict[str, str]:
        return {i: "healthy" for i in self.targets}


def _in_service(s: State, b: Backend) -> Any:
    def found() -> list[str] | None:
        ids = [m.data["InstanceId"] for m in b.store.list(ASG_INSTANCE, "us-east-1")
               if m.state == AsgInstanceState.IN_SERVICE]
        if ids:
            s["instance"] = ids[0]
        return ids or None

    return until(found, "an InService instance of rt-group")


def _detached(s: State, b: Backend) -> Any:
    return until(lambda: b.store.get(f"asg-instance:{s['instance']}") is None, "the instance detached")


def _emptied(s: State, b: Backend) -> Any:
    return until(lambda: not b.store.list(ASG_INSTANCE, "us-east-1"), "rt-group emptied")


def _subnets(b: Backend) -> str:
    return ",".join(s.id for s in vpcs.subnets(b, "us-east-1") if s.data.get("DefaultForAz"))


def _tag(key: str, value: str = "v") -> dict[str, Any]:
    return {"ResourceId": "rt-group", "ResourceType": "auto-scaling-group", "Key": key, "Value": value,
            "PropagateAtLaunch": True}


Sample = Callable[[State, Backend], dict[str, Any]]
SAMPLES: list[tuple[str, Any]] = [
    ("CreateLaunchConfiguration", lambda s, b: {"LaunchConfigurationName": "rt-lc", "ImageId": s["image"],
                                                "InstanceType": "t3.nano", "UserData": "IyEvYmluL3NoCg==",
                                                "SecurityGroups": ["default"], "AssociatePublicIpAddress": False}),
    ("DescribeLaunchConfigurations", lambda s, b: {}),
    ("CreateAutoScalingGroup", lambda s, b: {"AutoScalingGroupName": "rt-group", "LaunchConfigurationName": "rt-lc",
                                             "MinSize": 1, "MaxSize": 2, "VPCZoneIdentifier": _subnets(b),
                                             "TargetGroupARNs": [TG], "Tags": [_tag("team")]}),
    ("DescribeAutoScalingGroups", lambda s, b: {"AutoScalingGroupNames": ["rt-group"]}),
    (SETUP, _in_service),
    ("DescribeAutoScalingGroups", lambda s, b: {}),
    ("DescribeAutoScalingInstances", lambda s, b: {"InstanceIds": [s["instance"]]}),
    ("DescribeLoadBalancerTargetGroups", lambda s, b: {"AutoScalingGroupName": "rt-group"}),
    ("DescribeTrafficSources", lambda s, b: {"AutoScalingGroupName": "rt-group"}),
    ("DescribeLoadBalancers", lambda s, b: {"AutoScalingGroupName": "rt-group"}),
    ("DescribeLifecycleHooks", lambda s, b: {"AutoScalingGroupName": "rt-group"}),
    ("DescribeAccountLimits", lambda s, b: {}),
    ("DetachLoadBalancerTargetGroups", lambda s, b: {"AutoScalingGroupName": "rt-group", "TargetGroupARNs": [TG]}),
    ("AttachLoadBalancerTargetGroups", lambda s, b: {"AutoScalingGroupName": "rt-group", "TargetGroupARNs": [TG]}),
    ("SetInstanceProtection", lambda s, b: {"AutoScalingGroupName": "rt-group", "InstanceIds": [s["instance"]],
                                            "ProtectedFromScaleIn": False}),
    ("SetInstanceHealth", lambda s, b: {"InstanceId": s["instance"], "HealthStatus": "Healthy"}),
    ("CreateOrUpdateTags", lambda s, b: {"Tags": [_tag("env", "prod")]}),
    ("DescribeTags", lambda s, b: {"Filters": [{"Name": "auto-scaling-group", "Values": ["rt-group"]}]}),
    ("DeleteTags", lambda s, b: {"Tags": [_tag("env")]}),
    ("SuspendProcesses", lambda s, b: {"AutoScalingGroupName": "rt-group", "ScalingProcesses": ["AZRebalance"]}),
    ("ResumeProcesses", lambda s, b: {"AutoScalingGroupName": "rt-group"}),
    ("DescribeScalingProcessTypes", lambda s, b: {}),
    ("DescribeTerminationPolicyTypes", lambda s, b: {}),
    ("UpdateAutoScalingGroup", lambda s, b: {"AutoScalingGroupName": "rt-group", "MaxSize": 3,
                                             "HealthCheckType": "ELB", "HealthCheckGracePeriod": 30}),
    ("SetDesiredCapacity", lambda s, b: {"AutoScalingGroupName": "rt-group", "DesiredCapacity": 2}),
    ("DetachInstances", lambda s, b: {"AutoScalingGroupName": "rt-group", "InstanceIds": [s["instance"]],
                                      "ShouldDecrementDesiredCapacity": True}),
    (SETUP, _detached),
    ("AttachInstances", lambda s, b: {"AutoScalingGroupName": "rt-group", "InstanceIds": [s["instance"]]}),
    (SETUP, _in_service),
    ("TerminateInstanceInAutoScalingGroup", lambda s, b: {"InstanceId": s["instance"],
                                                          "ShouldDecrementDesiredCapacity": True}),
    ("DescribeScalingActivities", lambda s, b: {"AutoScalingGroupName": "rt-group"}),
    ("DescribeScalingActivities", lambda s, b: {"MaxRecords": 1}),
    ("PutScalingPolicy", lambda s, b: {"AutoScalingGroupName": "rt-group", "PolicyName": "rt-requests",
                                       "PolicyType": "TargetTrackingScaling", "EstimatedInstanceWarmup": 60,
                                       "TargetTrackingConfiguration": {"TargetValue": 100.0, "PredefinedMetricSpecification": {
                                           "PredefinedMetricType": "ALBRequestCountPerTarget",
                                           "ResourceLabel": "app/rt-lb/0123456789abcdef/targetgroup/rt/0123456789abcdef"}}}),
    ("PutScalingPolicy", lambda s, b: {"AutoScalingGroupName": "rt-group", "PolicyName": "rt-steps",
                                       "PolicyType": "StepScaling", "AdjustmentType": "PercentChangeInCapacity",
                                       "MinAdjustmentMagnitude": 1, "StepAdjustments": [
                                           {"MetricIntervalUpperBound": 10.0, "ScalingAdjustment": 0},
                                           {"MetricIntervalLowerBound": 10.0, "ScalingAdjustment": 50}]}),
    ("PutScalingPolicy", lambda s, b: {"AutoScalingGroupName": "rt-group", "PolicyName": "rt-simple",
                                       "AdjustmentType": "ChangeInCapacity", "ScalingAdjustment": -1, "Cooldown": 60}),
    ("DescribePolicies", lambda s, b: {"AutoScalingGroupName": "rt-group"}),
    ("DescribePolicies", lambda s, b: {"PolicyTypes": ["StepScaling"], "MaxRecords": 1}),
    ("ExecutePolicy", lambda s, b: {"AutoScalingGroupName": "rt-group", "PolicyName": "rt-steps",
                                    "MetricValue": 5.0, "BreachThreshold": 0.0}),
    ("DeletePolicy", lambda s, b: {"AutoScalingGroupName": "rt-group", "PolicyName": "rt-simple"}),
    ("DeleteAutoScalingGroup", lambda s, b: {"AutoScalingGroupName": "rt-group", "ForceDelete": True}),
    (SETUP, _emptied),
    ("DeleteLaunchConfiguration", lambda s, b: {"LaunchConfigurationName": "rt-lc"}),
]
