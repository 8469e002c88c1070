"""AttachInstances / DetachInstances: a running instance joins a group (tagged, registered with its
target groups, InService, the desired capacity raised) and leaves it again (deregistered, untagged,
still running; with ShouldDecrementDesiredCapacity false the group launches a replacement)."""

from __future__ import annotations

from typing import Any

import asg_api
from asg_api import MemoryTargetGroups, ec2_state, refused, settled, wait_for

api, ec2, asg, image, subnets, tgs, launch_config = (asg_api.api, asg_api.ec2, asg_api.asg, asg_api.image,
                                                     asg_api.subnets, asg_api.tgs, asg_api.launch_config)


def _tags(ec2: Any, iid: str) -> dict[str, str]:
    found = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    return {t["Key"]: t["Value"] for t in found.get("Tags") or []}


def test_attach_then_detach(asg: Any, ec2: Any, image: str, tgs: MemoryTargetGroups, launch_config: str,
                            subnets: list[str]) -> None:
    arn = tgs.add("attach-tg")
    asg.create_auto_scaling_group(AutoScalingGroupName="att", LaunchConfigurationName=launch_config, MinSize=1,
                                  MaxSize=3, VPCZoneIdentifier=",".join(subnets), TargetGroupARNs=[arn])
    settled(asg, "att", 1)
    iid = ec2.run_instances(ImageId=image, InstanceType="t3.nano", MinCount=1, MaxCount=1,
                            SubnetId=subnets[1])["Instances"][0]["InstanceId"]
    wait_for(lambda: ec2_state(ec2, iid) == "running", "the instance running")
    asg.attach_instances(AutoScalingGroupName="att", InstanceIds=[iid])
    assert asg_api.group(asg, "att")["DesiredCapacity"] == 2
    found = settled(asg, "att", 2)
    assert iid in {i["InstanceId"] for i in found} and iid in tgs.targets[arn]
    assert _tags(ec2, iid)["aws:autoscaling:groupName"] == "att"
    assert refused(asg.attach_instances, AutoScalingGroupName="att", InstanceIds=[iid]) == (
        "ValidationError", f"The instance {iid} is already part of an Auto Scaling group.")
    assert refused(asg.attach_instances, AutoScalingGroupName="att", InstanceIds=["i-0123456789abcdef0"]) == (
        "ValidationError", "Instance [i-0123456789abcdef0] is invalid.")

    out = asg.detach_instances(AutoScalingGroupName="att", InstanceIds=[iid], ShouldDecrementDesiredCapacity=True)
    assert out["Activities"][0]["Description"] == f"Detaching EC2 instance: {iid}"
    assert "shrinking the capacity from 2 to 1." in out["Activities"][0]["Cause"]
    (left,) = settled(asg, "att", 1)
    assert left["InstanceId"] != iid and iid not in tgs.targets[arn]
    assert ("deregister", arn, iid) in tgs.calls
    assert ec2_state(ec2, iid) == "running" and "aws:autoscaling:groupName" not in _tags(ec2, iid)
    assert refused(asg.detach_instances, AutoScalingGroupName="att", InstanceIds=[iid],
                   ShouldDecrementDesiredCapacity=True) == (
        "ValidationError", f"The instance {iid} is not part of Auto Scaling group att.")
    assert refused(asg.detach_instances, AutoScalingGroupName="att", InstanceIds=[left["InstanceId"]],
                   ShouldDecrementDesiredCapacity=True) == (
        "ValidationError", "Desired capacity:0 must be between the specified min size:1 and max size:3")
    asg.detach_instances(AutoScalingGroupName="att", InstanceIds=[left["InstanceId"]],
                         ShouldDecrementDesiredCapacity=False)
    wait_for(lambda: left["InstanceId"] not in {i["InstanceId"] for i in settled(asg, "att", 1)}, "a replacement")
    assert ec2_state(ec2, left["InstanceId"]) == "running"
