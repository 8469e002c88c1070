"""Who may call ELBv2, and clients beyond boto3: an IAM user with AmazonEC2ReadOnlyAccess (which
allows ``elasticloadbalancing:Describe*``) describes but may not create; a policy on one load
balancer's ARN allows acting on that one only; root does everything; ``aws elbv2`` works through
the AWS CLI. Plus the runtime side: a proxy that cannot start leaves the load balancer ``failed``,
and a restart re-creates every proxy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from elb_api import default_subnets, elb_api, fake_driver
from loopback_api import LoopbackApi

AWS = str(Path(sys.executable).parent / "aws")
READ_ONLY = "arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackApi]:
    with elb_api(tmp_path_factory.mktemp("elb-access")) as running:
        yield running


def user(api: LoopbackApi, name: str, managed: tuple[str, ...] = (), inline: dict[str, Any] | None = None) -> Any:
    iam = api.client("iam")
    iam.create_user(UserName=name)
    for arn in managed:
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    if inline is not None:
        iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=json.dumps(inline))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return api.client("elbv2", {"aws_access_key_id": key["AccessKeyId"],
                                "aws_secret_access_key": key["SecretAccessKey"]})


def wait_for(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except StopIteration:
            if time.monotonic() > deadline:
                raise AssertionError(f"still waiting after {timeout:.0f}s for {what}") from None
            time.sleep(0.02)


def denied(call: Any) -> tuple[int, str]:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["ResponseMetadata"]["HTTPStatusCode"], info.value.response["Error"]["Code"]


def test_read_only_user_describes_but_may_not_create(api: LoopbackApi) -> None:
    subnets = [s["SubnetId"] for s in default_subnets(api.client("ec2"))]
    reader = user(api, "reader", managed=(READ_ONLY,))
    assert reader.describe_load_balancers()["LoadBalancers"] == []
    assert denied(lambda: reader.create_load_balancer(Name="r", Subnets=subnets)) == (403, "AccessDenied")
    root = api.client("elbv2")
    lb = root.create_load_balancer(Name="owned", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    other = root.create_load_balancer(Name="other", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    assert [x["LoadBalancerArn"] for x in reader.describe_load_balancers()["LoadBalancers"]] == [lb, other]
    # a policy on one load balancer's ARN: that one only
    one = user(api, "one", inline={"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "elasticloadbalancing:ModifyLoadBalancerAttributes", "Resource": lb}]})
    attrs = [{"Key": "idle_timeout.timeout_seconds", "Value": "30"}]
    one.modify_load_balancer_attributes(LoadBalancerArn=lb, Attributes=attrs)
    assert denied(lambda: one.modify_load_balancer_attributes(LoadBalancerArn=other, Attributes=attrs)) == \
        (403, "AccessDenied")
    for arn in (lb, other):
        root.delete_load_balancer(LoadBalancerArn=arn)


def test_tag_conditions_on_load_balancers_and_auto_scaling_groups(api: LoopbackApi) -> None:
    """``elasticloadbalancing:ResourceTag/K`` (and ``aws:ResourceTag/K``) on a load balancer's
    tags, ``aws:RequestTag/K`` on a create's, ``autoscaling:ResourceTag/K`` on a group's."""
    subnets = [s["SubnetId"] for s in default_subnets(api.client("ec2"))]
    root = api.client("elbv2")
    ours = root.create_load_balancer(Name="team-a", Subnets=subnets,
                                     Tags=[{"Key": "team", "Value": "a"}])["LoadBalancers"][0]["LoadBalancerArn"]
    theirs = root.create_load_balancer(Name="team-b", Subnets=subnets,
                                       Tags=[{"Key": "team", "Value": "b"}])["LoadBalancers"][0]["LoadBalancerArn"]
    team = user(api, "team-a", inline={"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "elasticloadbalancing:ModifyLoadBalancerAttributes", "Resource": "*",
         "Condition": {"StringEquals": {"elasticloadbalancing:ResourceTag/team": "a"}}},
        {"Effect": "Allow", "Action": "elasticloadbalancing:AddTags", "Resource": "*",
         "Condition": {"StringEquals": {"aws:ResourceTag/team": "a"}}},
        {"Effect": "Allow", "Action": "elasticloadbalancing:CreateLoadBalancer", "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestTag/team": "a"}}},
        {"Effect": "Allow", "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:CreateAutoScalingGroup"],
         "Resource": "*", "Condition": {"StringEquals": {"autoscaling:ResourceTag/team": "a"}}}]})
    attrs = [{"Key": "idle_timeout.timeout_seconds", "Value": "30"}]
    team.modify_load_balancer_attributes(LoadBalancerArn=ours, Attributes=attrs)
    assert denied(lambda: team.modify_load_balancer_attributes(LoadBalancerArn=theirs, Attributes=attrs)) == \
        (403, "AccessDenied")
    team.add_tags(ResourceArns=[ours], Tags=[{"Key": "env", "Value": "dev"}])
    assert denied(lambda: team.add_tags(ResourceArns=[theirs], Tags=[{"Key": "env", "Value": "dev"}]))[1] == \
        "AccessDenied"
    made = team.create_load_balancer(Name="team-a2", Subnets=subnets, Tags=[{"Key": "team", "Value": "a"}])
    assert denied(lambda: team.create_load_balancer(Name="team-b2", Subnets=subnets,
                                                    Tags=[{"Key": "team", "Value": "b"}]))[1] == "AccessDenied"

    ec2, asg = api.client("ec2"), api.client("autoscaling")
    image = ec2.describe_images(Owners=["ec2d"])["Images"][0]["ImageId"]
    asg.create_launch_configuration(LaunchConfigurationName="tags-lc", ImageId=image, InstanceType="t3.nano")
    for name, value in (("asg-a", "a"), ("asg-b", "b")):
        asg.create_auto_scaling_group(AutoScalingGroupName=name, LaunchConfigurationName="tags-lc", MinSize=0,
                                      MaxSize=1, DesiredCapacity=0, VPCZoneIdentifier=subnets[0],
                                      Tags=[{"Key": "team", "Value": value, "PropagateAtLaunch": False}])
    key = api.client("iam").create_access_key(UserName="team-a")["AccessKey"]
    team_asg = api.client("autoscaling", {"aws_access_key_id": key["AccessKeyId"],
                                          "aws_secret_access_key": key["SecretAccessKey"]})
    team_asg.set_desired_capacity(AutoScalingGroupName="asg-a", DesiredCapacity=0)
    with pytest.raises(ClientError) as info:
        team_asg.set_desired_capacity(AutoScalingGroupName="asg-b", DesiredCapacity=0)
    assert info.value.response["Error"]["Code"] == "AccessDenied"
    for name in ("asg-a", "asg-b"):
        asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    for arn in (ours, theirs, made["LoadBalancers"][0]["LoadBalancerArn"]):
        root.delete_load_balancer(LoadBalancerArn=arn)


def test_aws_cli_describe_load_balancers(api: LoopbackApi, tmp_path: Path) -> None:
    subnets = [s["SubnetId"] for s in default_subnets(api.client("ec2"))]
    arn = api.client("elbv2").create_load_balancer(Name="cli", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_CONFIG_FILE": str(tmp_path / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "creds"),
                "AWS_ACCESS_KEY_ID": api.root["aws_access_key_id"],
                "AWS_SECRET_ACCESS_KEY": api.root["aws_secret_access_key"], "AWS_DEFAULT_REGION": "us-east-1"})
    out = subprocess.run([AWS, "--endpoint-url", api.url, "--output", "json", "elbv2", "describe-load-balancers",
                          "--names", "cli"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    (shown,) = json.loads(out.stdout)["LoadBalancers"]
    assert (shown["LoadBalancerArn"], shown["LoadBalancerName"], shown["Type"]) == (arn, "cli", "application")
    missing = subprocess.run([AWS, "--endpoint-url", api.url, "elbv2", "describe-load-balancers", "--names", "nope"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode != 0 and "(LoadBalancerNotFound)" in missing.stderr
    api.client("elbv2").delete_load_balancer(LoadBalancerArn=arn)


def test_a_proxy_that_cannot_start_fails_the_load_balancer(api: LoopbackApi) -> None:
    elb = api.client("elbv2")
    subnets = [s["SubnetId"] for s in default_subnets(api.client("ec2"))]
    fake_driver(api).fail_apply = "haproxy: cannot bind"
    try:
        arn = elb.create_load_balancer(Name="broken", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
        state = wait_for(lambda: next(s for s in [elb.describe_load_balancers(LoadBalancerArns=[arn])[
            "LoadBalancers"][0]["State"]] if s["Code"] != "provisioning" or None), "the load balancer to settle")
        assert state == {"Code": "failed", "Reason": "haproxy: cannot bind"}
        # the waiter has no acceptor for failed: it gives up (as against AWS)
        with pytest.raises(Exception, match="Max attempts exceeded"):
            elb.get_waiter("load_balancer_available").wait(LoadBalancerArns=[arn],
                                                           WaiterConfig={"Delay": 0.01, "MaxAttempts": 3})
    finally:
        fake_driver(api).fail_apply = None
    elb.delete_load_balancer(LoadBalancerArn=arn)


def test_a_restart_recreates_every_proxy(tmp_path: Path) -> None:
    with elb_api(tmp_path) as first:
        elb = first.client("elbv2")
        subnets = [s["SubnetId"] for s in default_subnets(first.client("ec2"))]
        arn = elb.create_load_balancer(Name="kept", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
        elb.get_waiter("load_balancer_available").wait(LoadBalancerArns=[arn], WaiterConfig={"Delay": 0.1})
    with elb_api(tmp_path) as second:  # the same data dir: a new runtime on a new (empty) driver
        name = "lb-" + arn.rsplit("/", 1)[1]
        wait_for(lambda: next(n for n in [name] if n in fake_driver(second).balancers), "the proxy re-created")
        state = second.client("elbv2").describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]["State"]
        assert state == {"Code": "active"}


def test_a_dead_proxy_is_started_again(tmp_path: Path) -> None:
    """The supervision loop: a proxy gone behind ec2d's back (killed, crashed) runs again within a
    few supervision intervals, with no API call; a failed load balancer is left alone."""
    with elb_api(tmp_path) as api:
        elb = api.client("elbv2")
        subnets = [s["SubnetId"] for s in default_subnets(api.client("ec2"))]
        arn = elb.create_load_balancer(Name="watched", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
        elb.get_waiter("load_balancer_available").wait(LoadBalancerArns=[arn], WaiterConfig={"Delay": 0.1})
        name = "lb-" + arn.rsplit("/", 1)[1]
        driver = fake_driver(api)
        driver.remove(name)  # as if the process died
        assert name not in driver.running()
        wait_for(lambda: name in driver.running() or None, "the supervisor to start it again")
