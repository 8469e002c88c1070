"""Auto Scaling with ELBv2's own target groups (``services/elbv2/for_autoscaling``, wired by
``bootstrap.open``), API-only: a group launched from a launch template registers its instances with
an ALB's target group, DescribeTargetHealth follows them, scale-in drains an instance before it is
terminated, and with HealthCheckType ELB a target the proxy reports failing is replaced. The proxy
is the in-memory driver (its observations set by the test); tests/elb_live has the real HAProxy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from asg_api import INTERVAL, ZONES, settled, wait_for
from loopback_api import LoopbackApi

from orchestrator.config import Config
from orchestrator.domain import elbv2 as elb_names
from orchestrator.drivers.loadbalancer.driver import ServerHealth
from orchestrator.images.cache import ensure_image
from orchestrator.services import bootstrap, images
from orchestrator.services.elbv2.for_autoscaling import ElbTargetGroups


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackApi]:
    config = Config(data_dir=tmp_path_factory.mktemp("asg-elb"), instances=False, autoscaling_interval=INTERVAL)
    config.regions = {"us-east-1": ["a", "b", "c"]}
    backend = bootstrap.open(config)
    assert isinstance(backend.target_groups, ElbTargetGroups)
    ensure_image("ec2d-tiny", config.cache_dir)
    images.sync_published(backend)
    server = LoopbackApi(backend, runtime=True).start()
    yield server
    server.stop()
    backend.close()


def health(elb: Any, tg: str) -> dict[str, str]:
    return {d["Target"]["Id"]: d["TargetHealth"]["State"]
            for d in elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]}


def test_group_instances_behind_a_load_balancer(api: LoopbackApi) -> None:
    ec2, elb, asg = api.client("ec2"), api.client("elbv2"), api.client("autoscaling")
    image = ec2.describe_images(Owners=["ec2d"], Filters=[{"Name": "name", "Values": ["ec2d-tiny-*"]}])["Images"][0]
    subnets = {s["AvailabilityZone"]: s["SubnetId"] for s in ec2.describe_subnets(
        Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]}
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    lb = elb.create_load_balancer(Name="web", Subnets=[subnets[z] for z in ZONES])["LoadBalancers"][0]
    tg = elb.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]["TargetGroupArn"]
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    lt = ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={
        "ImageId": image["ImageId"], "InstanceType": "t3.nano"})["LaunchTemplate"]["LaunchTemplateId"]
    with pytest.raises(Exception) as err:
        asg.create_auto_scaling_group(AutoScalingGroupName="bad", MinSize=1, MaxSize=1, LaunchTemplate={
            "LaunchTemplateId": lt}, VPCZoneIdentifier=subnets[ZONES[0]], TargetGroupARNs=[tg + "0"])
    assert "ValidationError" in str(err.value)
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web", MinSize=1, MaxSize=4, DesiredCapacity=3, HealthCheckType="ELB",
        HealthCheckGracePeriod=0, LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Latest"},
        VPCZoneIdentifier=",".join(subnets[z] for z in ZONES), TargetGroupARNs=[tg])
    members = settled(asg, "web", 3)
    ids = {m["InstanceId"] for m in members}
    wait_for(lambda: health(elb, tg) == {i: "healthy" for i in ids} or None, "the targets to be healthy")

    # scale in: the leaving instance is drained (deregistered) before it goes
    asg.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=2)
    left = {m["InstanceId"] for m in settled(asg, "web", 2)}
    (gone,) = ids - left
    states = health(elb, tg)
    assert states.get(gone) in (None, "draining"), states
    assert all(states[i] == "healthy" for i in left), states

    # the proxy sees one target fail: with HealthCheckType ELB the group replaces it
    victim = sorted(left)[0]
    driver = api.runtime.load_balancers.driver  # type: ignore[union-attr]
    driver.set_health(elb_names.backend_name(tg), elb_names.server_name(victim, 80),
                      ServerHealth("DOWN", "L4CON"))
    wait_for(lambda: health(elb, tg).get(victim) in (None, "draining") or None, "the failing target to leave")
    now = {m["InstanceId"] for m in settled(asg, "web", 2)}
    assert victim not in now and len(now - left) == 1
    wait_for(lambda: all(health(elb, tg).get(i) == "healthy" for i in now) or None, "the replacement healthy")
    asg.delete_auto_scaling_group(AutoScalingGroupName="web", ForceDelete=True)
