"""Every refusal of the autoscaling API with AWS's code and message; launch configurations,
tags, processes, scale-in protection, paging, DeleteAutoScalingGroup without and with ForceDelete,
and IAM enforcement (``autoscaling:*`` actions through the caller's policies)."""

from __future__ import annotations

import json
from typing import Any

import asg_api
from asg_api import ZONES, ec2_state, per_zone, refused, settled, wait_for

api, ec2, asg, image, subnets, launch_config = (asg_api.api, asg_api.ec2, asg_api.asg, asg_api.image,
                                                asg_api.subnets, asg_api.launch_config)
V = "ValidationError"


def test_launch_configurations(asg: Any, image: str, launch_config: str) -> None:
    asg.create_launch_configuration(LaunchConfigurationName="lc-full", ImageId=image, InstanceType="t3.micro",
                                    SecurityGroups=["default"], UserData="#!/bin/sh\necho hi\n",
                                    AssociatePublicIpAddress=True, IamInstanceProfile="none",
                                    BlockDeviceMappings=[{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 2}}])
    (lc,) = asg.describe_launch_configurations(LaunchConfigurationNames=["lc-full"])["LaunchConfigurations"]
    assert (lc["ImageId"], lc["InstanceType"], lc["SecurityGroups"], lc["AssociatePublicIpAddress"]) == (
        image, "t3.micro", ["default"], True)
    assert lc["UserData"] == "IyEvYmluL3NoCmVjaG8gaGkK"  # base64, as the SDK sent it
    assert lc["BlockDeviceMappings"] == [{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 2}}]
    assert lc["LaunchConfigurationARN"].startswith("arn:aws:autoscaling:us-east-1:")
    assert refused(asg.create_launch_configuration, LaunchConfigurationName="lc-full", ImageId=image,
                   InstanceType="t3.micro") == (
        "AlreadyExists", "Launch Configuration by this name already exists - A launch configuration already exists "
                         "with the name lc-full")
    assert refused(asg.create_launch_configuration, LaunchConfigurationName="x", InstanceType="t3.micro") == (
        V, "Valid requests must contain either the InstanceID parameter or both the ImageId and InstanceType "
           "parameters.")
    assert refused(asg.create_launch_configuration, LaunchConfigurationName="x", ImageId="ami-0123456789abcdef0",
                   InstanceType="t3.micro") == (
        V, "AMI ami-0123456789abcdef0 is invalid: The image id '[ami-0123456789abcdef0]' does not exist")
    assert refused(asg.delete_launch_configuration, LaunchConfigurationName="nope") == (
        V, "Launch configuration name not found - Launch configuration nope not found")
    pages = asg.describe_launch_configurations(MaxRecords=1)
    assert len(pages["LaunchConfigurations"]) == 1 and pages["NextToken"]
    asg.delete_launch_configuration(LaunchConfigurationName="lc-full")
    assert asg.describe_launch_configurations(LaunchConfigurationNames=["lc-full"])["LaunchConfigurations"] == []


def test_create_group_refusals(api: Any, asg: Any, launch_config: str, subnets: list[str]) -> None:
    base = {"AutoScalingGroupName": "bad", "LaunchConfigurationName": launch_config, "MinSize": 1, "MaxSize": 3,
            "VPCZoneIdentifier": ",".join(subnets)}
    cases = [
        ({"DesiredCapacity": 9}, "Desired capacity:9 must be between the specified min size:1 and max size:3"),
        ({"MinSize": 4}, "Max bound, 3, must be greater than or equal to min bound, 4"),
        ({"LaunchConfigurationName": None}, "Valid requests must contain either LaunchTemplate, "
         "LaunchConfigurationName, InstanceId or MixedInstancesPolicy parameter."),
        ({"LaunchTemplate": {"LaunchTemplateName": "tpl"}}, "Valid requests must contain either LaunchTemplate, "
         "LaunchConfigurationName, InstanceId or MixedInstancesPolicy parameter."),
        ({"LaunchConfigurationName": "nope"}, "Launch configuration name not found - Launch configuration nope not found"),
        ({"VPCZoneIdentifier": None}, "At least one Availability Zone or VPC Subnet is required."),
        ({"VPCZoneIdentifier": "subnet-0123456789abcdef0"}, "The subnet ID 'subnet-0123456789abcdef0' does not exist"),
        ({"HealthCheckType": "HTTP"}, "Health check type HTTP is not valid. Valid values are EC2 and ELB."),
        ({"TargetGroupARNs": ["arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/x/1"]},
         "Provided Target Groups may not be valid. Please ensure they exist and try again."),
        ({"Tags": [{"Key": "aws:x", "Value": "1"}]}, "Tag keys starting with 'aws:' are reserved for internal use"),
        ({"TerminationPolicies": ["Cheapest"]}, "Termination policy Cheapest is not valid."),
        ({"AvailabilityZones": ["us-east-1a"]},
         "The availability zones of the specified subnets and the Auto Scaling group do not match"),
        ({"LaunchConfigurationName": None, "LaunchTemplate": {"LaunchTemplateId": "lt-1", "LaunchTemplateName": "tpl"}},
         "Valid requests must contain either launchTemplateId or LaunchTemplateName"),
    ]
    for change, message in cases:
        req = {k: v for k, v in {**base, **change}.items() if v is not None}
        assert refused(asg.create_auto_scaling_group, **req) == (V, message), change
    assert asg.describe_auto_scaling_groups(AutoScalingGroupNames=["bad"])["AutoScalingGroups"] == []
    raw = api.client("autoscaling", parameter_validation=False)  # what the model requires, checked by ec2d
    assert refused(raw.create_auto_scaling_group, AutoScalingGroupName="bad", MaxSize=1) == (
        V, "The request must contain the parameter MinSize")


def test_group_lifecycle_and_refusals(asg: Any, ec2: Any, launch_config: str, subnets: list[str]) -> None:
    asg.create_auto_scaling_group(AutoScalingGroupName="api", LaunchConfigurationName=launch_config, MinSize=1,
                                  MaxSize=3, VPCZoneIdentifier=",".join(subnets))
    assert refused(asg.create_auto_scaling_group, AutoScalingGroupName="api", LaunchConfigurationName=launch_config,
                   MinSize=1, MaxSize=3, VPCZoneIdentifier=",".join(subnets)) == (
        "AlreadyExists", "AutoScalingGroup by this name already exists - A group with the name api already exists")
    assert refused(asg.delete_launch_configuration, LaunchConfigurationName=launch_config) == (
        "ResourceInUse", f"Cannot delete launch configuration {launch_config} because it is attached to "
                         "AutoScalingGroup api")
    (only,) = settled(asg, "api", 1)
    assert refused(asg.set_desired_capacity, AutoScalingGroupName="api", DesiredCapacity=4) == (
        V, "New SetDesiredCapacity value 4 is above max value 3 for the AutoScalingGroup.")
    assert refused(asg.set_desired_capacity, AutoScalingGroupName="api", DesiredCapacity=0) == (
        V, "New SetDesiredCapacity value 0 is below min value 1 for the AutoScalingGroup.")
    assert refused(asg.set_desired_capacity, AutoScalingGroupName="nope", DesiredCapacity=1) == (
        V, "AutoScalingGroup name not found - AutoScalingGroup 'nope' not found")
    assert refused(asg.update_auto_scaling_group, AutoScalingGroupName="nope", MinSize=1) == (
        V, "AutoScalingGroup name not found - null")
    assert refused(asg.update_auto_scaling_group, AutoScalingGroupName="api", DesiredCapacity=5) == (
        V, "Desired capacity:5 must be between the specified min size:1 and max size:3")
    missing = "i-0123456789abcdef0"
    assert refused(asg.set_instance_health, InstanceId=missing, HealthStatus="Unhealthy") == (
        V, f"Instance Id not found - No managed instance found for instance ID: {missing}")
    assert refused(asg.set_instance_health, InstanceId=only["InstanceId"], HealthStatus="Sick") == (
        V, "Valid values for HealthStatus are Healthy and Unhealthy. Provided value: Sick")
    assert refused(asg.terminate_instance_in_auto_scaling_group, InstanceId=missing,
                   ShouldDecrementDesiredCapacity=False) == (
        V, f"Instance Id not found - No managed instance found for instance ID: {missing}")
    assert refused(asg.terminate_instance_in_auto_scaling_group, InstanceId=only["InstanceId"],
                   ShouldDecrementDesiredCapacity=True) == (
        V, "Currently, desiredSize equals minSize (1). Terminating instance without replacement will violate "
           "group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's "
           "min size.")
    assert refused(asg.set_instance_protection, AutoScalingGroupName="api", InstanceIds=[missing],
                   ProtectedFromScaleIn=True) == (V, f"The instance {missing} is not part of Auto Scaling group api.")
    assert refused(asg.suspend_processes, AutoScalingGroupName="api", ScalingProcesses=["Dance"]) == (
        V, "Process names not recognized: Dance")
    assert refused(asg.describe_scaling_activities, AutoScalingGroupName="nope") == (
        V, "AutoScalingGroup name not found - AutoScalingGroup 'nope' not found")
    assert refused(asg.describe_auto_scaling_groups, NextToken="zzz")[0] == "InvalidNextToken"
    assert refused(asg.delete_auto_scaling_group, AutoScalingGroupName="api") == (
        "ResourceInUse", "You cannot delete an AutoScalingGroup while there are instances or pending Spot instance "
                         "request(s) still in the group.")
    asg.terminate_instance_in_auto_scaling_group(InstanceId=only["InstanceId"], ShouldDecrementDesiredCapacity=False)
    assert refused(asg.delete_auto_scaling_group, AutoScalingGroupName="api") == (  # Terminating: still in progress
        "ScalingActivityInProgress",
        "You cannot delete an AutoScalingGroup while there are scaling activities in progress for that group.")
    assert refused(asg.delete_auto_scaling_group, AutoScalingGroupName="nope") == (
        V, "AutoScalingGroup name not found - AutoScalingGroup 'nope' not found")
    asg.update_auto_scaling_group(AutoScalingGroupName="api", MinSize=0, DesiredCapacity=0)
    wait_for(lambda: asg_api.group(asg, "api")["Instances"] == [], "the group emptied")
    asg.delete_auto_scaling_group(AutoScalingGroupName="api")
    assert asg.describe_auto_scaling_groups(AutoScalingGroupNames=["api"])["AutoScalingGroups"] == []


def test_tags_and_filters(asg: Any, launch_config: str, subnets: list[str]) -> None:
    asg.create_auto_scaling_group(AutoScalingGroupName="tagged", LaunchConfigurationName=launch_config, MinSize=0,
                                  MaxSize=1, VPCZoneIdentifier=subnets[0],
                                  Tags=[{"Key": "env", "Value": "dev", "PropagateAtLaunch": True}])
    asg.create_or_update_tags(Tags=[
        {"ResourceId": "tagged", "ResourceType": "auto-scaling-group", "Key": "env", "Value": "prod",
         "PropagateAtLaunch": False},
        {"ResourceId": "tagged", "ResourceType": "auto-scaling-group", "Key": "team", "Value": "a",
         "PropagateAtLaunch": True}])
    tags = asg.describe_tags(Filters=[{"Name": "auto-scaling-group", "Values": ["tagged"]}])["Tags"]
    assert {(t["Key"], t["Value"], t["PropagateAtLaunch"]) for t in tags} == {("env", "prod", False), ("team", "a", True)}
    assert [t["Key"] for t in asg.describe_tags(Filters=[{"Name": "key", "Values": ["team"]}])["Tags"]] == ["team"]
    found = asg.describe_auto_scaling_groups(Filters=[{"Name": "tag:env", "Values": ["prod"]}])["AutoScalingGroups"]
    assert [g["AutoScalingGroupName"] for g in found] == ["tagged"]
    asg.delete_tags(Tags=[{"ResourceId": "tagged", "ResourceType": "auto-scaling-group", "Key": "env"}])
    assert [t["Key"] for t in asg_api.group(asg, "tagged")["Tags"]] == ["team"]
    assert refused(asg.create_or_update_tags, Tags=[{"ResourceId": "nope", "ResourceType": "auto-scaling-group",
                                                     "Key": "k", "Value": "v", "PropagateAtLaunch": False}]) == (
        V, "AutoScalingGroup name not found - AutoScalingGroup nope not found")
    asg.delete_auto_scaling_group(AutoScalingGroupName="tagged")


def test_protected_instances_survive_scale_in(asg: Any, ec2: Any, launch_config: str, subnets: list[str]) -> None:
    asg.create_auto_scaling_group(AutoScalingGroupName="prot", LaunchConfigurationName=launch_config, MinSize=0,
                                  MaxSize=3, DesiredCapacity=3, VPCZoneIdentifier=",".join(subnets),
                                  TerminationPolicies=["NewestInstance"])
    found = settled(asg, "prot", 3)
    assert per_zone(found) == {z: 1 for z in ZONES}
    keep = found[0]["InstanceId"]
    asg.set_instance_protection(AutoScalingGroupName="prot", InstanceIds=[keep], ProtectedFromScaleIn=True)
    asg.set_desired_capacity(AutoScalingGroupName="prot", DesiredCapacity=1)
    (left,) = settled(asg, "prot", 1)
    assert (left["InstanceId"], left["ProtectedFromScaleIn"]) == (keep, True)
    asg.delete_auto_scaling_group(AutoScalingGroupName="prot", ForceDelete=True)
    assert asg_api.group(asg, "prot")["Status"] == "Delete in progress"
    asg_api.waiter(asg, "GroupNotExists").wait(AutoScalingGroupNames=["prot"], WaiterConfig=asg_api.WAIT)
    wait_for(lambda: ec2_state(ec2, keep) == "terminated", "ForceDelete terminates protected instances too")


def test_iam_user_held_to_autoscaling_policies(api: Any, asg: Any) -> None:
    iam = api.client("iam")
    iam.create_user(UserName="reader")
    iam.put_user_policy(UserName="reader", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "autoscaling:Describe*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    reader = api.client("autoscaling", {"aws_access_key_id": key["AccessKeyId"],
                                        "aws_secret_access_key": key["SecretAccessKey"]})
    wait_for(lambda: _describes(reader), "the new key to work")
    code, message = refused(reader.set_desired_capacity, AutoScalingGroupName="web", DesiredCapacity=1)
    assert code == "AccessDenied"
    assert "is not authorized to perform: autoscaling:SetDesiredCapacity" in message


def _describes(client: Any) -> bool:
    try:
        client.describe_auto_scaling_groups()
        return True
    except Exception:
        return False
