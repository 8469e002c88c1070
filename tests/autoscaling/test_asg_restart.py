"""Restarting ec2d (API-only: the same data dir, a new runtime and controller) leaves a group as it
was: the same instances, no second launch of anything (an instance whose member record was never
written, as when ec2d stops between RunInstances and that write, is adopted, not launched again),
and the controller goes on replacing."""

from __future__ import annotations

from pathlib import Path

import pytest
from asg_api import INTERVAL, ZONES, ec2_state, per_zone, settled, wait_for
from loopback_api import LoopbackApi

from orchestrator.config import Config
from orchestrator.images.cache import ensure_image
from orchestrator.services import bootstrap, images


def _config(data_dir: Path) -> Config:
    config = Config(data_dir=data_dir, instances=False, autoscaling_interval=INTERVAL)
    config.regions = {"us-east-1": ["a", "b", "c"]}
    return config


def _serve(data_dir: Path) -> LoopbackApi:
    config = _config(data_dir)
    backend = bootstrap.open(config)
    ensure_image("ec2d-tiny", config.cache_dir)
    images.sync_published(backend)
    return LoopbackApi(backend, runtime=True).start()


def _stop(server: LoopbackApi) -> None:
    server.stop()
    server.backend.close()


def test_restart_resumes_without_launching_twice(tmp_path_factory: pytest.TempPathFactory) -> None:
    data_dir = tmp_path_factory.mktemp("asg-restart")
    first = _serve(data_dir)
    try:
        ec2, asg = first.client("ec2"), first.client("autoscaling")
        image = ec2.describe_images(Owners=["ec2d"], Filters=[{"Name": "name", "Values": ["ec2d-tiny-*"]}])[
            "Images"][0]["ImageId"]
        subnets = {s["AvailabilityZone"]: s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]}
        asg.create_launch_configuration(LaunchConfigurationName="lc", ImageId=image, InstanceType="t3.nano")
        asg.create_auto_scaling_group(AutoScalingGroupName="keep", LaunchConfigurationName="lc", MinSize=3,
                                      MaxSize=3, VPCZoneIdentifier=",".join(subnets[z] for z in ZONES))
        before = {i["InstanceId"] for i in settled(asg, "keep", 3)}
    finally:
        _stop(first)
    between = bootstrap.open(_config(data_dir))  # ec2d down: drop one member record, as a crash would
    assert between.store.delete(f"asg-instance:{sorted(before)[1]}")
    between.close()
    second = _serve(data_dir)
    try:
        ec2, asg = second.client("ec2"), second.client("autoscaling")
        assert {i["InstanceId"] for i in settled(asg, "keep", 3)} == before
        victim = sorted(before)[0]
        ec2.terminate_instances(InstanceIds=[victim])
        found = wait_for(lambda: victim not in {i["InstanceId"] for i in settled(asg, "keep", 3)}
                         and settled(asg, "keep", 3), "the replacement after the restart")
        assert per_zone(found) == {z: 1 for z in ZONES}
        assert {i["InstanceId"] for i in found} & before == before - {victim}
        assert all(ec2_state(ec2, i) == "running" for i in before - {victim})
        launches = [a for a in asg.describe_scaling_activities(AutoScalingGroupName="keep")["Activities"]
                    if a["Description"].startswith("Launching")]
        assert len(launches) == 4  # three, then one replacement: nothing launched twice
    finally:
        _stop(second)
