"""Passes of one group never overlap: many API changes at once (each runs a pass) plus the
periodic passes launch exactly the missing instances, never one too many that a later pass would
have to terminate; two racing creates of one name: one group, one AlreadyExists."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asg_api
from asg_api import refused, settled

api, asg, image, subnets, launch_config = asg_api.api, asg_api.asg, asg_api.image, asg_api.subnets, asg_api.launch_config


def test_concurrent_changes_launch_exactly_what_is_missing(api: Any, launch_config: str, subnets: list[str]) -> None:
    asg = api.client("autoscaling")
    asg.create_auto_scaling_group(AutoScalingGroupName="race", LaunchConfigurationName=launch_config, MinSize=1,
                                  MaxSize=6, VPCZoneIdentifier=",".join(subnets))
    (first,) = settled(asg, "race", 1)

    def poke(n: int) -> None:
        client = api.client("autoscaling")
        client.set_desired_capacity(AutoScalingGroupName="race", DesiredCapacity=6)
        for _ in range(5):
            client.set_instance_health(InstanceId=first["InstanceId"], HealthStatus="Healthy")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(poke, range(8)))
    settled(asg, "race", 6)
    acts = asg.describe_scaling_activities(AutoScalingGroupName="race")["Activities"]
    assert len([a for a in acts if a["Description"].startswith("Launching")]) == 6
    assert not [a for a in acts if a["Description"].startswith("Terminating")]


def test_racing_creates_of_one_name(api: Any, launch_config: str, subnets: list[str]) -> None:
    def create(n: int) -> tuple[str, str] | None:
        client = api.client("autoscaling")
        try:
            client.create_auto_scaling_group(AutoScalingGroupName="twice", LaunchConfigurationName=launch_config,
                                             MinSize=0, MaxSize=1, VPCZoneIdentifier=subnets[0])
            return None
        except Exception:
            return refused(client.create_auto_scaling_group, AutoScalingGroupName="twice",
                           LaunchConfigurationName=launch_config, MinSize=0, MaxSize=1, VPCZoneIdentifier=subnets[0])

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(create, range(4)))
    assert outcomes.count(None) == 1
    assert {o[0] for o in outcomes if o} == {"AlreadyExists"}
    asg = api.client("autoscaling")
    assert len(asg.describe_auto_scaling_groups(AutoScalingGroupNames=["twice"])["AutoScalingGroups"]) == 1
