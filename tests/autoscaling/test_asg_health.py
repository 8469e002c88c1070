"""HealthCheckType ELB: instances are registered with the group's target groups before they are
InService; one the target group reports ``unhealthy`` is replaced once the grace period is over,
not before, and deregistered before it is terminated. Attach/Detach/DescribeLoadBalancerTargetGroups."""

from __future__ import annotations

import time
from typing import Any

import asg_api
from asg_api import ZONES, MemoryTargetGroups, ec2_state, per_zone, refused, settled, wait_for

api, ec2, asg, image, subnets, tgs, launch_config = (asg_api.api, asg_api.ec2, asg_api.asg, asg_api.image,
                                                     asg_api.subnets, asg_api.tgs, asg_api.launch_config)

GRACE = 2


def test_unhealthy_target_replaced_after_the_grace_period(asg: Any, ec2: Any, tgs: MemoryTargetGroups,
                                                          launch_config: str, subnets: list[str]) -> None:
    arn = tgs.add("web-tg")
    asg.create_auto_scaling_group(
        AutoScalingGroupName="elb", LaunchConfigurationName=launch_config, MinSize=3, MaxSize=3,
        VPCZoneIdentifier=",".join(subnets), TargetGroupARNs=[arn], HealthCheckType="ELB",
        HealthCheckGracePeriod=GRACE)
    found = settled(asg, "elb", 3)
    ids = {i["InstanceId"] for i in found}
    assert tgs.targets[arn] == ids  # registered before InService
    victim = found[0]["InstanceId"]
    tgs.states[victim] = "unhealthy"
    marked = time.monotonic()
    # within the grace period (counted from InService, which was before `marked`), passes run every
    # 0.1 s and leave it alone
    while time.monotonic() < marked + GRACE / 2:
        item = next(i for i in asg_api.group(asg, "elb")["Instances"] if i["InstanceId"] == victim)
        assert (item["LifecycleState"], item["HealthStatus"]) == ("InService", "Healthy")
        time.sleep(0.05)
    wait_for(lambda: victim not in {i["InstanceId"] for i in settled(asg, "elb", 3)}, "the unhealthy target replaced")
    assert time.monotonic() - marked >= GRACE / 2
    found = settled(asg, "elb", 3)
    assert per_zone(found) == {z: 1 for z in ZONES}
    wait_for(lambda: ec2_state(ec2, victim) == "terminated", "the unhealthy instance terminated")
    assert ("deregister", arn, victim) in tgs.calls
    assert tgs.targets[arn] == {i["InstanceId"] for i in found}  # the replacement is registered
    acts = asg.describe_scaling_activities(AutoScalingGroupName="elb")["Activities"]
    ended = [a for a in acts if a["Description"] == f"Terminating EC2 instance: {victim}"]
    assert "in response to an ELB system health check failure." in ended[0]["Cause"]


def test_target_groups_attach_detach_describe(asg: Any, tgs: MemoryTargetGroups) -> None:
    first = next(iter(tgs.arns))
    second = tgs.add("other-tg")
    asg.attach_load_balancer_target_groups(AutoScalingGroupName="elb", TargetGroupARNs=[second])
    ids = {i["InstanceId"] for i in settled(asg, "elb", 3)}
    wait_for(lambda: tgs.targets[second] == ids, "the instances registered with the attached target group")
    states = asg.describe_load_balancer_target_groups(AutoScalingGroupName="elb")["LoadBalancerTargetGroups"]
    assert {s["LoadBalancerTargetGroupARN"]: s["State"] for s in states} == {first: "InService", second: "InService"}
    sources = asg.describe_traffic_sources(AutoScalingGroupName="elb")["TrafficSources"]
    assert {(t["Identifier"], t["Type"], t["State"]) for t in sources} == {(first, "elbv2", "InService"),
                                                                           (second, "elbv2", "InService")}
    assert asg.describe_load_balancers(AutoScalingGroupName="elb")["LoadBalancers"] == []
    asg.detach_load_balancer_target_groups(AutoScalingGroupName="elb", TargetGroupARNs=[second])
    assert tgs.targets[second] == set()  # deregistered before the call answered
    assert asg_api.group(asg, "elb")["TargetGroupARNs"] == [first]
    bad = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/none/0000000000000000"
    assert refused(asg.attach_load_balancer_target_groups, AutoScalingGroupName="elb", TargetGroupARNs=[bad]) == (
        "ValidationError", "Provided Target Groups may not be valid. Please ensure they exist and try again.")


def test_suspended_replace_unhealthy_keeps_the_instance(asg: Any, tgs: MemoryTargetGroups) -> None:
    asg.suspend_processes(AutoScalingGroupName="elb", ScalingProcesses=["ReplaceUnhealthy"])
    g = asg_api.group(asg, "elb")
    assert [p["ProcessName"] for p in g["SuspendedProcesses"]] == ["ReplaceUnhealthy"]
    assert g["SuspendedProcesses"][0]["SuspensionReason"].startswith("User suspended at ")
    victim = settled(asg, "elb", 3)[1]["InstanceId"]
    tgs.states[victim] = "unhealthy"
    wait_for(lambda: next(i for i in asg_api.group(asg, "elb")["Instances"] if i["InstanceId"] == victim)
             ["HealthStatus"] == "Unhealthy", "the instance marked Unhealthy")
    assert victim in {i["InstanceId"] for i in asg_api.group(asg, "elb")["Instances"]}
    asg.resume_processes(AutoScalingGroupName="elb", ScalingProcesses=["ReplaceUnhealthy"])
    wait_for(lambda: victim not in {i["InstanceId"] for i in settled(asg, "elb", 3)}, "replaced once resumed")
