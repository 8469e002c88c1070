"""A group launching from an EC2 launch template: RunInstances with ``LaunchTemplate`` (the i13-lt
branch). Skipped, with the reason, where this ec2d serves no launch templates or its RunInstances
refuses ``LaunchTemplate``; on a tree with both it runs in full."""

from __future__ import annotations

from typing import Any

import asg_api
import pytest
from asg_api import ZONES, per_zone, settled, wait_for
from botocore.exceptions import ClientError

api, ec2, asg, image, subnets = asg_api.api, asg_api.ec2, asg_api.asg, asg_api.image, asg_api.subnets


def test_group_from_a_launch_template(asg: Any, ec2: Any, image: str, subnets: list[str]) -> None:
    try:
        template = ec2.create_launch_template(LaunchTemplateName="asg-tpl", LaunchTemplateData={
            "ImageId": image, "InstanceType": "t3.nano"})["LaunchTemplate"]
    except ClientError as exc:
        pytest.skip(f"no launch templates on this tree (CreateLaunchTemplate: {exc.response['Error']['Code']})")
    asg.create_auto_scaling_group(AutoScalingGroupName="lt", MinSize=3, MaxSize=3, VPCZoneIdentifier=",".join(subnets),
                                  LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"],
                                                  "Version": "$Latest"})

    def outcome() -> str | None:
        acts = asg.describe_scaling_activities(AutoScalingGroupName="lt")["Activities"]
        if any(a["StatusCode"] == "Failed" for a in acts):
            return next(a["StatusMessage"] for a in acts if a["StatusCode"] == "Failed")
        found = asg_api.group(asg, "lt")["Instances"]
        return "ok" if len(found) == 3 and all(i["LifecycleState"] == "InService" for i in found) else None

    result = wait_for(outcome, "the group's launches")
    if result != "ok":
        pytest.skip(f"RunInstances refuses LaunchTemplate on this tree: {result}")
    found = settled(asg, "lt", 3)
    assert per_zone(found) == {z: 1 for z in ZONES}
    assert all(i["LaunchTemplate"]["LaunchTemplateId"] == template["LaunchTemplateId"] for i in found)
    tags = {t["Key"]: t["Value"] for t in ec2.describe_instances(InstanceIds=[found[0]["InstanceId"]])
            ["Reservations"][0]["Instances"][0]["Tags"]}
    assert tags["aws:autoscaling:groupName"] == "lt"
    assert tags.get("aws:ec2launchtemplate:id") == template["LaunchTemplateId"]
    asg.delete_auto_scaling_group(AutoScalingGroupName="lt", ForceDelete=True)
    asg_api.waiter(asg, "GroupNotExists").wait(AutoScalingGroupNames=["lt"], WaiterConfig=asg_api.WAIT)
