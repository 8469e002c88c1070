"""Zones whose launches fail.

* A subnet with no free address left (a /28 filled with instances: RunInstances refuses with
  InsufficientFreeAddressesInSubnet, a real EC2 refusal). The group launches into the other zones
  instead (a Failed activity says why); once the subnet has addresses again, AZRebalance launches
  into it and then sheds one from the fullest zone.
* A zone outage (``ec2d zone impair``): the zone's instance loses power (stopped), the group
  replaces it in the other zones (launches into the impaired zone fail with
  InsufficientInstanceCapacity); once the zone is restored the group rebalances into it. The same
  on real guests behind a real load balancer: tests/elb_live/test_asg_guests.py."""

from __future__ import annotations

from typing import Any

import asg_api
from asg_api import ZONES, ec2_state, per_zone, refused, settled, wait_for

from orchestrator.runtime import zone_states

api, ec2, asg, image, launch_config, subnets = (asg_api.api, asg_api.ec2, asg_api.asg, asg_api.image,
                                            asg_api.launch_config, asg_api.subnets)


def test_unusable_zone_is_skipped_then_rebalanced(asg: Any, ec2: Any, image: str, launch_config: str) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    cidrs = ("10.7.1.0/24", "10.7.2.0/24", "10.7.3.0/28")
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=c, AvailabilityZone=z)["Subnet"]["SubnetId"]
               for c, z in zip(cidrs, ZONES, strict=True)]
    fillers = [i["InstanceId"] for i in ec2.run_instances(ImageId=image, InstanceType="t3.nano", MinCount=1,
                                                          MaxCount=16, SubnetId=subnets[2])["Instances"]]
    assert len(fillers) == 11  # a /28 holds 16 addresses, AWS reserves 5
    asg.create_auto_scaling_group(AutoScalingGroupName="zones", LaunchConfigurationName=launch_config, MinSize=3,
                                  MaxSize=4, VPCZoneIdentifier=",".join(subnets))
    found = settled(asg, "zones", 3)
    assert per_zone(found) == {ZONES[0]: 2, ZONES[1]: 1, ZONES[2]: 0}
    failed = [a for a in asg.describe_scaling_activities(AutoScalingGroupName="zones")["Activities"]
              if a["StatusCode"] == "Failed"]
    assert failed and failed[0]["Description"].startswith("Launching a new EC2 instance.  Status Reason: There are "
                                                          f"not enough free addresses in subnet '{subnets[2]}'")
    assert failed[0]["StatusMessage"].startswith("There are not enough free addresses in subnet")

    ec2.terminate_instances(InstanceIds=fillers)
    wait_for(lambda: all(ec2_state(ec2, i) == "terminated" for i in fillers), "the fillers terminated")

    def balanced() -> list[dict[str, Any]] | None:
        now = settled(asg, "zones", 3)
        return now if per_zone(now) == {z: 1 for z in ZONES} else None

    found = wait_for(balanced, "the group rebalanced into the recovered zone")
    acts = asg.describe_scaling_activities(AutoScalingGroupName="zones")["Activities"]
    assert any("an instance was launched to aid in balancing the group's zones." in a["Cause"] for a in acts)
    assert ec2_state(ec2, found[0]["InstanceId"]) == "running"
    asg.delete_auto_scaling_group(AutoScalingGroupName="zones", ForceDelete=True)
    asg_api.waiter(asg, "GroupNotExists").wait(AutoScalingGroupNames=["zones"], WaiterConfig=asg_api.WAIT)
    assert all(ec2_state(ec2, i["InstanceId"]) in ("shutting-down", "terminated") for i in found)


def test_a_zone_outage_moves_the_group_out_and_back(api: Any, asg: Any, ec2: Any, image: str, subnets: list[str],
                                                    launch_config: str) -> None:
    asg.create_auto_scaling_group(AutoScalingGroupName="outage", LaunchConfigurationName=launch_config, MinSize=3,
                                  MaxSize=4, VPCZoneIdentifier=",".join(subnets))
    before = settled(asg, "outage", 3)
    assert per_zone(before) == {z: 1 for z in ZONES}
    lost = next(i["InstanceId"] for i in before if i["AvailabilityZone"] == ZONES[2])
    zone_states.set_state(api.backend.store, ZONES[2], zone_states.IMPAIRED)  # what ``ec2d zone impair`` does
    try:
        zones = {z["ZoneName"]: z for z in ec2.describe_availability_zones()["AvailabilityZones"]}
        assert zones[ZONES[2]]["State"] == "impaired" and zones[ZONES[2]]["Messages"]
        assert zones[ZONES[0]]["State"] == "available" and not zones[ZONES[0]]["Messages"]
        code, message = refused(ec2.run_instances, ImageId=image, InstanceType="t3.nano", MinCount=1, MaxCount=1,
                                SubnetId=subnets[2])
        assert code == "InsufficientInstanceCapacity"
        assert message == (f"We currently do not have sufficient t3.nano capacity in the Availability Zone you "
                           f"requested ({ZONES[2]}). Our system will be working on provisioning additional capacity. "
                           f"You can currently get t3.nano capacity by not specifying an Availability Zone in your "
                           f"request or choosing {ZONES[0]}, {ZONES[1]}.")

        def moved() -> list[dict[str, Any]] | None:
            now = settled(asg, "outage", 3)
            return now if per_zone(now)[ZONES[2]] == 0 and lost not in {i["InstanceId"] for i in now} else None

        during = wait_for(moved, "the group out of the impaired zone")
        assert sorted(per_zone(during).values()) == [0, 1, 2]
        assert ec2_state(ec2, lost) in ("shutting-down", "terminated")  # lost power, then replaced
        acts = asg.describe_scaling_activities(AutoScalingGroupName="outage")["Activities"]
        assert any(f"{lost}" in a["Description"] and "EC2 health check indicating it has been terminated "
                   "or stopped" in a["Cause"] for a in acts), [(a["Description"], a["Cause"]) for a in acts]
        assert any(a["StatusCode"] == "Failed" and f"capacity in the Availability Zone you requested ({ZONES[2]})"
                   in a["StatusMessage"] for a in acts)
    finally:
        zone_states.set_state(api.backend.store, ZONES[2], zone_states.AVAILABLE)

    def balanced() -> list[dict[str, Any]] | None:
        now = settled(asg, "outage", 3)
        return now if per_zone(now) == {z: 1 for z in ZONES} else None

    wait_for(balanced, "the group rebalanced into the restored zone")
    acts = asg.describe_scaling_activities(AutoScalingGroupName="outage")["Activities"]
    assert any("an instance was launched to aid in balancing the group's zones." in a["Cause"] for a in acts)
    asg.delete_auto_scaling_group(AutoScalingGroupName="outage", ForceDelete=True)
    asg_api.waiter(asg, "GroupNotExists").wait(AutoScalingGroupNames=["outage"], WaiterConfig=asg_api.WAIT)
