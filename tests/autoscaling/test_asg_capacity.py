"""A group of three over three zones, driven with boto3: one instance per zone, InService (the SDKs'
``GroupInService`` waiter), tagged as AWS tags them; SetDesiredCapacity 6 then 2 keeps the zones
balanced both ways; the activities say what happened, in AWS's words."""

from __future__ import annotations

from typing import Any

import asg_api
from asg_api import ZONES, ec2_state, per_zone, settled, wait_for, waiter

WAIT = asg_api.WAIT
api, ec2, asg, image, subnets, launch_config = (asg_api.api, asg_api.ec2, asg_api.asg, asg_api.image,
                                                asg_api.subnets, asg_api.launch_config)  # the fixtures


def test_group_of_three_over_three_zones(asg: Any, ec2: Any, launch_config: str, subnets: list[str]) -> None:
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web", LaunchConfigurationName=launch_config, MinSize=1, MaxSize=6, DesiredCapacity=3,
        VPCZoneIdentifier=",".join(subnets),
        Tags=[{"Key": "team", "Value": "blue", "PropagateAtLaunch": True},
              {"Key": "private", "Value": "x", "PropagateAtLaunch": False}])
    waiter(asg, "GroupExists").wait(AutoScalingGroupNames=["web"], WaiterConfig=WAIT)
    waiter(asg, "GroupInService").wait(AutoScalingGroupNames=["web"], WaiterConfig=WAIT)
    found = settled(asg, "web", 3)
    assert per_zone(found) == {z: 1 for z in ZONES}
    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]
    assert (g["MinSize"], g["MaxSize"], g["DesiredCapacity"], g["HealthCheckType"], g["HealthCheckGracePeriod"]) == (
        1, 6, 3, "EC2", 0)
    assert g["VPCZoneIdentifier"] == ",".join(subnets) and sorted(g["AvailabilityZones"]) == list(ZONES)
    assert g["AutoScalingGroupARN"].startswith("arn:aws:autoscaling:us-east-1:")
    for item in found:
        assert item["HealthStatus"] == "Healthy" and item["LaunchConfigurationName"] == "lc-web"
        assert ec2_state(ec2, item["InstanceId"]) == "running"
        tags = {t["Key"]: t["Value"] for t in ec2.describe_instances(InstanceIds=[item["InstanceId"]])
                ["Reservations"][0]["Instances"][0]["Tags"]}
        assert tags == {"aws:autoscaling:groupName": "web", "team": "blue"}  # only PropagateAtLaunch tags
    details = asg.describe_auto_scaling_instances(InstanceIds=[found[0]["InstanceId"]])["AutoScalingInstances"]
    assert details[0]["AutoScalingGroupName"] == "web" and details[0]["HealthStatus"] == "HEALTHY"
    acts = asg.describe_scaling_activities(AutoScalingGroupName="web")["Activities"]
    launches = [a for a in acts if a["Description"].startswith("Launching a new EC2 instance: i-")]
    assert len(launches) == 3 and all(a["StatusCode"] == "Successful" and a["Progress"] == 100 for a in launches)
    assert any("a user request created an AutoScalingGroup changing the desired capacity from 0 to 3." in a["Cause"]
               for a in launches)
    assert all("an instance was started in response to a difference between desired and actual capacity, "
               "increasing the capacity from 0 to 3." in a["Cause"] for a in launches)


def test_scaling_out_and_in_keeps_zones_balanced(asg: Any, ec2: Any) -> None:
    asg.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=6)
    assert per_zone(settled(asg, "web", 6)) == {z: 2 for z in ZONES}
    before = {i["InstanceId"] for i in settled(asg, "web", 6)}
    asg.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=2)
    kept = settled(asg, "web", 2)
    assert sorted(per_zone(kept).values()) == [0, 1, 1]
    gone = before - {i["InstanceId"] for i in kept}
    wait_for(lambda: all(ec2_state(ec2, i) == "terminated" for i in gone), "scaled-in instances terminated")
    acts = asg.describe_scaling_activities(AutoScalingGroupName="web")["Activities"]
    ends = [a for a in acts if a["Description"].startswith("Terminating EC2 instance: ")]
    wait_for(lambda: all(a["StatusCode"] == "Successful" for a in
                         asg.describe_scaling_activities(AutoScalingGroupName="web")["Activities"]
                         if a["Description"].startswith("Terminating")), "terminations to succeed")
    assert len(ends) == 4
    assert any("a user request explicitly set group desired capacity changing the desired capacity from 6 to 2."
               in a["Cause"] for a in ends)
    assert all("shrinking the capacity from 6 to 2." in a["Cause"] and "was selected for termination." in a["Cause"]
               for a in ends)
    asg.update_auto_scaling_group(AutoScalingGroupName="web", MinSize=1, DesiredCapacity=3)
    assert per_zone(settled(asg, "web", 3)) == {z: 1 for z in ZONES}
    acts = asg.describe_scaling_activities(AutoScalingGroupName="web")["Activities"]
    assert any("a user request update of AutoScalingGroup constraints to min: 1, max: 6, desired: 3 changing the "
               "desired capacity from 2 to 3." in a["Cause"] for a in acts)


def test_instances_terminated_behind_its_back_are_replaced_in_their_zone(asg: Any, ec2: Any) -> None:
    victim = settled(asg, "web", 3)[0]
    ec2.terminate_instances(InstanceIds=[victim["InstanceId"]])

    def replaced() -> list[dict[str, Any]] | None:
        found = settled(asg, "web", 3)
        return found if victim["InstanceId"] not in {i["InstanceId"] for i in found} else None

    found = wait_for(replaced, "the terminated instance's replacement")
    assert per_zone(found) == {z: 1 for z in ZONES}  # the replacement went to the zone that lost one
    acts = asg.describe_scaling_activities(AutoScalingGroupName="web")["Activities"]
    ended = [a for a in acts if a["Description"] == f"Terminating EC2 instance: {victim['InstanceId']}"]
    assert ended and "in response to an EC2 health check indicating it has been terminated or stopped." in \
        ended[0]["Cause"]


def test_stopped_instance_is_replaced(asg: Any, ec2: Any) -> None:
    victim = settled(asg, "web", 3)[1]
    ec2.stop_instances(InstanceIds=[victim["InstanceId"]])
    wait_for(lambda: victim["InstanceId"] not in {i["InstanceId"] for i in settled(asg, "web", 3)}, "replacement")
    wait_for(lambda: ec2_state(ec2, victim["InstanceId"]) == "terminated", "the stopped instance terminated")


def test_set_instance_health_unhealthy_is_replaced(asg: Any, ec2: Any) -> None:
    victim = settled(asg, "web", 3)[2]["InstanceId"]
    asg.set_instance_health(InstanceId=victim, HealthStatus="Unhealthy", ShouldRespectGracePeriod=False)
    found = wait_for(lambda: victim not in {i["InstanceId"] for i in settled(asg, "web", 3)} and settled(asg, "web", 3),
                     "the unhealthy instance's replacement")
    assert per_zone(found) == {z: 1 for z in ZONES}
    wait_for(lambda: ec2_state(ec2, victim) == "terminated", "the unhealthy instance terminated")
    acts = asg.describe_scaling_activities(AutoScalingGroupName="web")["Activities"]
    ended = [a for a in acts if a["Description"] == f"Terminating EC2 instance: {victim}"]
    assert "in response to a user health-check." in ended[0]["Cause"]


def test_terminate_instance_in_group_with_and_without_decrement(asg: Any, ec2: Any) -> None:
    first = settled(asg, "web", 3)[0]["InstanceId"]
    out = asg.terminate_instance_in_auto_scaling_group(InstanceId=first, ShouldDecrementDesiredCapacity=True)
    assert out["Activity"]["Description"] == f"Terminating EC2 instance: {first}"
    assert out["Activity"]["StatusCode"] == "InProgress"
    assert "shrinking the capacity from 3 to 2." in out["Activity"]["Cause"]
    kept = settled(asg, "web", 2)
    assert first not in {i["InstanceId"] for i in kept}
    second = kept[0]["InstanceId"]
    asg.terminate_instance_in_auto_scaling_group(InstanceId=second, ShouldDecrementDesiredCapacity=False)
    wait_for(lambda: second not in {i["InstanceId"] for i in settled(asg, "web", 2)}, "a replacement")
    asg.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=3)
    assert per_zone(settled(asg, "web", 3)) == {z: 1 for z in ZONES}
