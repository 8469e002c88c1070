"""Scaling policies across a restart of ec2d (API-only: the same data dir, a new runtime and
controller): the policies are records (same ARN, same alarms), target tracking's window is memory
and starts over, as a new alarm would wait for new datapoints."""

from __future__ import annotations

from pathlib import Path

import pytest
from asg_api import INTERVAL, ZONES, settled, wait_for
from loopback_api import LoopbackApi

from orchestrator.config import Config
from orchestrator.images.cache import ensure_image
from orchestrator.services import bootstrap, images
from orchestrator.services.autoscaling import tracking

CPU = {"PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"}, "TargetValue": 40.0}


def _serve(data_dir: Path) -> LoopbackApi:
    config = Config(data_dir=data_dir, instances=False, autoscaling_interval=INTERVAL)
    config.regions = {"us-east-1": ["a", "b", "c"]}
    backend = bootstrap.open(config)
    ensure_image("ec2d-tiny", config.cache_dir)
    images.sync_published(backend)
    return LoopbackApi(backend, runtime=True).start()


def _stop(server: LoopbackApi) -> None:
    server.stop()
    server.backend.close()


def test_policies_survive_a_restart_and_tracking_starts_a_new_window(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    data_dir = tmp_path_factory.mktemp("asg-scaling-restart")
    first = _serve(data_dir)
    try:
        ec2, asg = first.client("ec2"), first.client("autoscaling")
        image = ec2.describe_images(Owners=["ec2d"], Filters=[{"Name": "name", "Values": ["ec2d-tiny-*"]}])[
            "Images"][0]["ImageId"]
        subnets = {s["AvailabilityZone"]: s["SubnetId"] for s in ec2.describe_subnets(
            Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]}
        asg.create_launch_configuration(LaunchConfigurationName="lc", ImageId=image, InstanceType="t3.nano")
        asg.create_auto_scaling_group(AutoScalingGroupName="g", LaunchConfigurationName="lc", MinSize=1, MaxSize=4,
                                      DesiredCapacity=1, VPCZoneIdentifier=",".join(subnets[z] for z in ZONES))
        settled(asg, "g", 1)
        made = asg.put_scaling_policy(AutoScalingGroupName="g", PolicyName="cpu", PolicyType="TargetTrackingScaling",
                                      TargetTrackingConfiguration=CPU)
        asg.put_scaling_policy(AutoScalingGroupName="g", PolicyName="add", AdjustmentType="ExactCapacity",
                               ScalingAdjustment=2)
        old = wait_for(lambda: tracking.window(first.backend, made["PolicyARN"]), "the first window")
        before = asg.describe_policies(AutoScalingGroupName="g")["ScalingPolicies"]
    finally:
        _stop(first)
    second = _serve(data_dir)
    try:
        asg = second.client("autoscaling")
        assert asg.describe_policies(AutoScalingGroupName="g")["ScalingPolicies"] == before
        cpu = next(p for p in before if p["PolicyName"] == "cpu")
        assert cpu["PolicyARN"] == made["PolicyARN"] and cpu["Alarms"] == made["Alarms"]
        new = wait_for(lambda: tracking.window(second.backend, made["PolicyARN"]), "a window after the restart")
        assert new is not old and new.datapoints == []
        asg.execute_policy(AutoScalingGroupName="g", PolicyName="add")
        settled(asg, "g", 2)
    finally:
        _stop(second)
