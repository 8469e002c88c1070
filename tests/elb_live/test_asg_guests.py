"""Auto Scaling on real guests behind a real HAProxy: a group of three ec2d-tiny instances in three
zones (launched from a launch template, HealthCheckType ELB) behind an internet-facing ALB. An
instance terminated behind the group's back is replaced in the same zone while the load balancer
keeps serving from the public network; a zone outage (``ec2d zone impair``) moves the group into
the other zones and the restore rebalances it, again while the load balancer serves;
SetDesiredCapacity 6 then 2 keeps the zones balanced both ways, and every InService instance is a
healthy target that answers."""

from __future__ import annotations

import base64
import collections
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from ec2d_server import tiny_image
from guests import wait_state
from test_alb_guests import HTTPD, WWW, health, http_get

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
GROUP_WAIT = 600  # backstop only: every wait ends on its condition


def wait_for(what: str, check: Any, backstop: float = GROUP_WAIT) -> Any:
    deadline = time.monotonic() + backstop
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"no {what} within {backstop}s"
        time.sleep(1)


def in_service(asg: Any, name: str, count: int) -> list[dict[str, Any]] | None:
    found = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["Instances"]
    return found if len(found) == count and all(i["LifecycleState"] == "InService" for i in found) else None


def per_zone(members: list[dict[str, Any]]) -> list[int]:
    counts = collections.Counter(m["AvailabilityZone"] for m in members)
    return [counts.get(z, 0) for z in ZONES]


def all_healthy(elbv2: Any, tg: str, ids: set[str]) -> bool:
    now = health(elbv2, tg)
    return all(now.get(i, {}).get("State") == "healthy" for i in ids)


@pytest.fixture(scope="module")
def group(ec2d, ec2) -> Iterator[dict[str, Any]]:
    elbv2, asg = ec2d.client("elbv2"), ec2d.client("autoscaling")
    tag = uuid.uuid4().hex[:6]
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = {s["AvailabilityZone"]: s["SubnetId"] for s in ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "default-for-az", "Values": ["true"]}])["Subnets"]}
    lb_sg = ec2.create_security_group(GroupName=f"asg-lb-{tag}", Description="lb", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=lb_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    web_sg = ec2.create_security_group(GroupName=f"asg-web-{tag}", Description="web", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=web_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": lb_sg}]}])
    lb = elbv2.create_load_balancer(Name=f"asg-{tag}", Subnets=[subnets[z] for z in ZONES],
                                    SecurityGroups=[lb_sg])["LoadBalancers"][0]
    tg = elbv2.create_target_group(Name=f"asg-{tag}", Protocol="HTTP", Port=80, VpcId=vpc, HealthCheckPath="/health",
                                   HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2,
                                   HealthyThresholdCount=2, UnhealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
    listener = elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                                     DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]
    lt = ec2.create_launch_template(LaunchTemplateName=f"asg-{tag}", LaunchTemplateData={
        "ImageId": tiny_image(ec2), "InstanceType": "t3.nano", "SecurityGroupIds": [web_sg],
        "UserData": base64.b64encode(f"#!/bin/sh\n{WWW} && {HTTPD}\n".encode()).decode()})["LaunchTemplate"]
    name = f"asg-{tag}"
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=1, MaxSize=6, DesiredCapacity=3, HealthCheckType="ELB",
        HealthCheckGracePeriod=120, LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Latest"},
        VPCZoneIdentifier=",".join(subnets[z] for z in ZONES), TargetGroupARNs=[tg])
    enis = ec2.describe_network_interfaces(Filters=[
        {"Name": "description", "Values": [f"ELB app/{lb['LoadBalancerName']}/*"]}])["NetworkInterfaces"]
    yield {"asg": asg, "elbv2": elbv2, "ec2": ec2, "name": name, "tg": tg, "lb": lb["LoadBalancerArn"],
           "public": [e["Association"]["PublicIp"] for e in enis],
           "public_ns": f"{ec2d.config.prefix}-public"}
    members = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["Instances"]
    asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    for m in members:
        wait_state(ec2, m["InstanceId"], "terminated", 300)
    wait_for("group gone", lambda: not asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"])
    elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
    elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    elbv2.delete_target_group(TargetGroupArn=tg)
    ec2.delete_launch_template(LaunchTemplateId=lt["LaunchTemplateId"])
    wait_for("instances gone", lambda: not [i for r in ec2.describe_instances(Filters=[
        {"Name": "instance-state-name", "Values": ["pending", "running", "shutting-down", "stopping"]},
        {"Name": "tag:aws:autoscaling:groupName", "Values": [name]}])["Reservations"] for i in r["Instances"]])
    for gid in (web_sg, lb_sg):
        ec2.delete_security_group(GroupId=gid)


class Load:
    """Four clients requesting through the load balancer's public addresses until the block ends."""

    def __init__(self, group: dict[str, Any]) -> None:
        self.group = group
        self.results: list[tuple[float, bool]] = []
        self.stop = threading.Event()
        self.loaders = [threading.Thread(target=self.client, daemon=True) for _ in range(4)]

    def client(self) -> None:
        n, public = 0, self.group["public"]
        while not self.stop.is_set():
            status, _ = http_get(self.group["public_ns"], public[n % len(public)], timeout=3)
            self.results.append((time.monotonic(), status == 200))
            n += 1
            time.sleep(0.1)

    def __enter__(self) -> Load:
        for loader in self.loaders:
            loader.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for loader in self.loaders:
            loader.join(10)

    def check_served(self, what: str) -> None:
        """The service never went down: every 5 s had answers (requests a lost target held until
        the checks took it out may fail, as on ELB; the other zones kept serving)."""
        results = sorted(self.results)
        failed = sum(1 for _, ok in results if not ok)
        print(f"\nrequests during {what}: {len(results)}, failed: {failed}")
        start, end = results[0][0], results[-1][0]
        served = {int((t - start) // 5) for t, ok in results if ok}
        assert served >= set(range(int((end - start) // 5))), (failed, len(results))


def ec2d_zone(ec2d: Any, *args: str) -> str:
    """``ec2d zone ...`` as an operator runs it, beside the running daemon."""
    done = subprocess.run([sys.executable, "-m", "orchestrator.cli.main", "--data-dir", str(ec2d.config.data_dir),
                           "zone", *args], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def test_a_terminated_instance_is_replaced_in_its_zone_while_the_load_balancer_serves(group) -> None:
    asg, elbv2, ec2, name, tg = group["asg"], group["elbv2"], group["ec2"], group["name"], group["tg"]
    members = wait_for("3 InService", lambda: in_service(asg, name, 3))
    assert per_zone(members) == [1, 1, 1]
    ids = {m["InstanceId"] for m in members}
    wait_for("3 healthy targets", lambda: all_healthy(elbv2, tg, ids))

    with Load(group) as load:
        victim = sorted(members, key=lambda m: m["AvailabilityZone"])[1]
        ec2.terminate_instances(InstanceIds=[victim["InstanceId"]])  # behind the group's back
        replaced = wait_for("a replacement InService", lambda: (found := in_service(asg, name, 3)) and
                            victim["InstanceId"] not in {m["InstanceId"] for m in found} and found)
        new = {m["InstanceId"] for m in replaced} - ids
        (new_id,) = new
        assert next(m for m in replaced if m["InstanceId"] == new_id)["AvailabilityZone"] == victim["AvailabilityZone"]
        wait_for("the replacement healthy", lambda: all_healthy(elbv2, tg, {m["InstanceId"] for m in replaced}))
    load.check_served("the replacement")
    answers = {http_get(group["public_ns"], group["public"][n % 3])[1] for n in range(9)}
    assert answers == {m["InstanceId"] for m in replaced}


def test_a_zone_outage_moves_the_group_out_and_the_restore_rebalances_it(ec2d, group) -> None:
    asg, elbv2, ec2, name, tg = group["asg"], group["elbv2"], group["ec2"], group["name"], group["tg"]
    members = wait_for("3 InService", lambda: in_service(asg, name, 3))
    assert per_zone(members) == [1, 1, 1]
    wait_for("3 healthy targets", lambda: all_healthy(elbv2, tg, {m["InstanceId"] for m in members}))
    down = ZONES[2]
    lost = next(m["InstanceId"] for m in members if m["AvailabilityZone"] == down)
    with Load(group) as load:
        try:
            assert ec2d_zone(ec2d, "impair", down).split() == [down, "impaired"]
            zone = ec2.describe_availability_zones(ZoneNames=[down])["AvailabilityZones"][0]
            assert zone["State"] == "impaired" and zone["Messages"]
            with pytest.raises(ClientError) as refused:
                ec2.run_instances(ImageId=tiny_image(ec2), InstanceType="t3.nano", MinCount=1, MaxCount=1,
                                  Placement={"AvailabilityZone": down})
            assert refused.value.response["Error"]["Code"] == "InsufficientInstanceCapacity"
            moved = wait_for("the group out of the impaired zone", lambda: (found := in_service(asg, name, 3))
                             and lost not in {m["InstanceId"] for m in found} and per_zone(found)[2] == 0 and found)
            assert sorted(per_zone(moved)) == [0, 1, 2]
            wait_for("the replacement healthy", lambda: all_healthy(elbv2, tg, {m["InstanceId"] for m in moved}))
            answers = {http_get(group["public_ns"], group["public"][n % 3])[1] for n in range(9)}
            assert answers == {m["InstanceId"] for m in moved}
        finally:
            assert ec2d_zone(ec2d, "restore", down).split() == [down, "available"]
        balanced = wait_for("the group rebalanced into the restored zone", lambda: (found := in_service(asg, name, 3))
                            and per_zone(found) == [1, 1, 1] and found)
        wait_for("the rebalanced group healthy", lambda: all_healthy(elbv2, tg, {m["InstanceId"] for m in balanced}))
    load.check_served("the zone outage and the rebalance")
    causes = [a["Cause"] for a in asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]]
    assert any("an instance was launched to aid in balancing the group's zones." in c for c in causes)


def test_desired_capacity_up_and_down_keeps_zones_balanced(group) -> None:
    asg, elbv2, name, tg = group["asg"], group["elbv2"], group["name"], group["tg"]
    wait_for("3 InService", lambda: in_service(asg, name, 3))
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=6)
    six = wait_for("6 InService", lambda: in_service(asg, name, 6))
    assert per_zone(six) == [2, 2, 2]
    wait_for("6 healthy targets", lambda: all_healthy(elbv2, tg, {m["InstanceId"] for m in six}))
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=2)
    two = wait_for("2 InService", lambda: in_service(asg, name, 2))
    assert sorted(per_zone(two)) == [0, 1, 1]
    left = {m["InstanceId"] for m in two}
    answers = {http_get(group["public_ns"], group["public"][n % 3])[1] for n in range(8)}
    assert answers == left


def test_target_tracking_on_requests_per_target_scales_out(group) -> None:
    """A target-tracking policy on ALBRequestCountPerTarget (HAProxy's own request counters): load
    from the public network above the target makes the group grow, with AWS's activity cause."""
    asg, elbv2, name, tg = group["asg"], group["elbv2"], group["name"], group["tg"]
    asg.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=1, MaxSize=3, DesiredCapacity=2)
    two = wait_for("2 InService", lambda: in_service(asg, name, 2))
    wait_for("2 healthy targets", lambda: all_healthy(elbv2, tg, {m["InstanceId"] for m in two}))
    label = group["lb"].split(":loadbalancer/")[1] + "/" + tg.split(":")[-1]  # app/LB/HEX/targetgroup/TG/HEX
    asg.put_scaling_policy(AutoScalingGroupName=name, PolicyName="requests", PolicyType="TargetTrackingScaling",
                           EstimatedInstanceWarmup=30, TargetTrackingConfiguration={
                               "PredefinedMetricSpecification": {"PredefinedMetricType": "ALBRequestCountPerTarget",
                                                                 "ResourceLabel": label},
                               "TargetValue": 5.0, "DisableScaleIn": True})
    stop = threading.Event()

    def client(k: int) -> None:
        while not stop.is_set():
            http_get(group["public_ns"], group["public"][k % len(group["public"])], timeout=3)

    loaders = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(3)]
    for loader in loaders:
        loader.start()
    try:
        three = wait_for("the policy to add an instance", lambda: in_service(asg, name, 3))
    finally:
        stop.set()
        for loader in loaders:
            loader.join(10)
    assert {m["InstanceId"] for m in two} < {m["InstanceId"] for m in three}
    causes = [a["Cause"] for a in asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]]
    assert any("triggered policy requests" in c and "from 2 to 3" in c for c in causes), causes
    asg.delete_policy(AutoScalingGroupName=name, PolicyName="requests")
