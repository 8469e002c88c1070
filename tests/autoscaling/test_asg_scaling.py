"""Dynamic scaling through the API (boto3), without guests: target tracking on the CPU the
hypervisor reports (the fake compute's cumulative CPU seconds, set by the test) and on the
requests the load balancer sends each target (the fake proxy's ``stot`` counters behind a real
ELBv2 target group); step and simple scaling run by ExecutePolicy; the errors' codes.

Time is the store's clock, moved by the test one metric period at a time (``tick``), so warm-up,
the alarms' periods and cooldowns are exact; every wait is on a condition with a deadline."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asg_api import INTERVAL, ZONES, group, refused, settled, wait_for
from loopback_api import LoopbackApi

from orchestrator.config import Config
from orchestrator.domain import elbv2 as elb_names
from orchestrator.domain.scaling import LOW_PERIODS
from orchestrator.images.cache import ensure_image
from orchestrator.services import bootstrap, images
from orchestrator.services.autoscaling import tracking

PERIOD = 1.0  # seconds of the store's clock per datapoint
VCPUS = 2  # t3.nano


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackApi]:
    config = Config(data_dir=tmp_path_factory.mktemp("asg-scaling"), instances=False,
                    autoscaling_interval=INTERVAL, autoscaling_metric_period=PERIOD)
    config.regions = {"us-east-1": ["a", "b", "c"]}
    backend = bootstrap.open(config)
    backend.store.clock = Clock()
    ensure_image("ec2d-tiny", config.cache_dir)
    images.sync_published(backend)
    server = LoopbackApi(backend, runtime=True).start()
    yield server
    server.stop()
    backend.close()


@pytest.fixture(scope="module")
def asg(api: LoopbackApi) -> Any:
    return api.client("autoscaling")


@pytest.fixture(scope="module")
def lc(api: LoopbackApi) -> str:
    ec2 = api.client("ec2")
    image = ec2.describe_images(Owners=["ec2d"], Filters=[{"Name": "name", "Values": ["ec2d-tiny-*"]}])["Images"][0]
    api.client("autoscaling").create_launch_configuration(LaunchConfigurationName="lc", ImageId=image["ImageId"],
                                                          InstanceType="t3.nano")
    return "lc"


@pytest.fixture(scope="module")
def subnets(api: LoopbackApi) -> str:
    found = api.client("ec2").describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    by_zone = {s["AvailabilityZone"]: s["SubnetId"] for s in found}
    return ",".join(by_zone[z] for z in ZONES)


def clock(api: LoopbackApi) -> Clock:
    c = api.backend.store.clock
    assert isinstance(c, Clock)
    return c


def desired(asg: Any, name: str) -> int:
    return int(group(asg, name)["DesiredCapacity"])


def window_of(api: LoopbackApi, arn: str) -> tracking.Window:
    return wait_for(lambda: tracking.window(api.backend, arn), "the policy's first reading")


def tick(api: LoopbackApi, arn: str, feed: Callable[[str], None]) -> None:
    """One metric period: ``feed(instance id)`` moves each InService instance's counters, then the
    clock moves one period; returns once the controller took the datapoint."""
    asg = api.client("autoscaling")
    name = next(p["AutoScalingGroupName"] for p in asg.describe_policies()["ScalingPolicies"] if p["PolicyARN"] == arn)
    for i in group(asg, name)["Instances"]:
        if i["LifecycleState"] == "InService":
            feed(i["InstanceId"])
    c = clock(api)
    c.now += PERIOD
    wait_for(lambda: window_of(api, arn).at >= c.now or None, "the controller's datapoint")


def cpu(api: LoopbackApi, percent: Callable[[str], float]) -> Callable[[str], None]:
    fake = api.runtime.compute  # type: ignore[union-attr]

    def feed(iid: str) -> None:
        dom = api.runtime.domain_name(iid)  # type: ignore[union-attr]
        fake.cpu[dom] = fake.cpu.get(dom, 0.0) + percent(iid) / 100 * PERIOD * VCPUS

    return feed


def test_cpu_target_tracking_out_fast_with_warmup_in_slowly(api: LoopbackApi, asg: Any, lc: str,
                                                            subnets: str) -> None:
    asg.create_auto_scaling_group(AutoScalingGroupName="cpu", LaunchConfigurationName=lc, MinSize=1, MaxSize=3,
                                  DesiredCapacity=1, VPCZoneIdentifier=subnets)
    (first,) = [i["InstanceId"] for i in settled(asg, "cpu", 1)]
    out = asg.put_scaling_policy(
        AutoScalingGroupName="cpu", PolicyName="cpu50", PolicyType="TargetTrackingScaling",
        EstimatedInstanceWarmup=5, TargetTrackingConfiguration={
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"}, "TargetValue": 50.0})
    arn = out["PolicyARN"]
    assert [a["AlarmName"].rsplit("-", 5)[0] for a in out["Alarms"]] == ["TargetTracking-cpu-AlarmHigh",
                                                                         "TargetTracking-cpu-AlarmLow"]
    window_of(api, arn)
    busy = cpu(api, lambda iid: 90.0 if iid == first else 0.0)
    # 5 periods of warm-up, one to take a first reading, then 3 datapoints above the target
    for n in range(1, 8):
        tick(api, arn, busy)
        assert desired(asg, "cpu") == 1, f"scaled out after {n} periods"
    tick(api, arn, busy)
    assert desired(asg, "cpu") == 2  # ceil(1 * 90 / 50)
    acts = asg.describe_scaling_activities(AutoScalingGroupName="cpu")["Activities"]
    high = out["Alarms"][0]["AlarmName"]
    assert any(f"a monitor alarm {high} in state ALARM triggered policy cpu50 changing the desired capacity "
               "from 1 to 2." in a["Cause"] for a in acts)
    settled(asg, "cpu", 2)
    # the new instance idles, but it is warming up: it does not pull the average down
    for _ in range(3):
        tick(api, arn, busy)
    assert desired(asg, "cpu") == 3  # ceil(2 * 90 / 50) = 4, clamped at MaxSize
    settled(asg, "cpu", 3)

    idle = cpu(api, lambda iid: 10.0)
    for n in range(LOW_PERIODS - 1):
        tick(api, arn, idle)
        assert desired(asg, "cpu") == 3, f"scaled in after {n + 1} low periods"
    wait_for(lambda: desired(asg, "cpu") == 2 or (tick(api, arn, idle) and None), "a scale-in", timeout=30)
    settled(asg, "cpu", 2)  # one instance at a time, although ceil(3 * 10 / 50) = 1
    low = out["Alarms"][1]["AlarmName"]
    acts = asg.describe_scaling_activities(AutoScalingGroupName="cpu")["Activities"]
    assert any(f"a monitor alarm {low} in state ALARM triggered policy cpu50 changing the desired capacity "
               "from 3 to 2." in a["Cause"] for a in acts)

    # DisableScaleIn: low for as long as it takes, the capacity stays
    asg.put_scaling_policy(AutoScalingGroupName="cpu", PolicyName="cpu50", PolicyType="TargetTrackingScaling",
                           EstimatedInstanceWarmup=0, TargetTrackingConfiguration={
                               "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
                               "TargetValue": 50.0, "DisableScaleIn": True})
    for _ in range(LOW_PERIODS + 2):
        tick(api, arn, idle)
    assert len(window_of(api, arn).datapoints) == LOW_PERIODS  # it did evaluate
    assert desired(asg, "cpu") == 2
    policy = asg.describe_policies(AutoScalingGroupName="cpu")["ScalingPolicies"][0]
    assert policy["PolicyARN"] == arn and policy["TargetTrackingConfiguration"]["DisableScaleIn"] is True
    asg.delete_policy(AutoScalingGroupName="cpu", PolicyName="cpu50")
    assert asg.describe_policies(AutoScalingGroupName="cpu")["ScalingPolicies"] == []
    wait_for(lambda: tracking.window(api.backend, arn) is None, "the deleted policy's window dropped")


def test_two_tracking_policies_scale_in_only_when_both_are_ready(api: LoopbackApi, asg: Any, lc: str,
                                                                  subnets: str) -> None:
    """CPU at 10 %: below 90 % of one policy's target (50) but not of the other's (10.5, and not
    above it either): no scale in, for as long as that holds; once the second policy is deleted
    the first alone scales in."""
    asg.create_auto_scaling_group(AutoScalingGroupName="two", LaunchConfigurationName=lc, MinSize=1, MaxSize=3,
                                  DesiredCapacity=2, VPCZoneIdentifier=subnets)
    settled(asg, "two", 2)
    arns = [asg.put_scaling_policy(AutoScalingGroupName="two", PolicyName=f"cpu{int(target)}",
                                   PolicyType="TargetTrackingScaling", EstimatedInstanceWarmup=0,
                                   TargetTrackingConfiguration={
                                       "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
                                       "TargetValue": target})["PolicyARN"] for target in (50.0, 10.5)]
    for arn in arns:
        window_of(api, arn)
    idle = cpu(api, lambda iid: 10.0)
    for _ in range(LOW_PERIODS + 2):
        tick(api, arns[0], idle)
    assert len(window_of(api, arns[0]).datapoints) == LOW_PERIODS  # the first is ready to scale in
    assert desired(asg, "two") == 2
    asg.delete_policy(AutoScalingGroupName="two", PolicyName="cpu10")
    wait_for(lambda: desired(asg, "two") == 1 or (tick(api, arns[0], idle) and None), "a scale-in", timeout=30)
    asg.delete_auto_scaling_group(AutoScalingGroupName="two", ForceDelete=True)
    wait_for(lambda: not asg.describe_auto_scaling_groups(AutoScalingGroupNames=["two"])["AutoScalingGroups"],
             "the group gone")


def test_request_count_per_target_tracking(api: LoopbackApi, asg: Any, lc: str, subnets: str) -> None:
    ec2, elb = api.client("ec2"), api.client("elbv2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    lb = elb.create_load_balancer(Name="web", Subnets=subnets.split(","))["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elb.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]["TargetGroupArn"]
    elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    asg.create_auto_scaling_group(AutoScalingGroupName="req", LaunchConfigurationName=lc, MinSize=1, MaxSize=4,
                                  DesiredCapacity=1, VPCZoneIdentifier=subnets, TargetGroupARNs=[tg])
    (first,) = [i["InstanceId"] for i in settled(asg, "req", 1)]
    label = f"{lb.split(':loadbalancer/')[1]}/{tg.split(':')[-1]}"  # app/web/HEX/targetgroup/web/HEX
    spec = {"PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": label}
    code, message = refused(asg.put_scaling_policy, AutoScalingGroupName="cpu", PolicyName="r",
                            PolicyType="TargetTrackingScaling",
                            TargetTrackingConfiguration={"PredefinedMetricSpecification": spec, "TargetValue": 100.0})
    assert code == "ValidationError" and "not attached" in message  # group cpu has no target group
    arn = asg.put_scaling_policy(AutoScalingGroupName="req", PolicyName="r100", PolicyType="TargetTrackingScaling",
                                 EstimatedInstanceWarmup=0, TargetTrackingConfiguration={
                                     "PredefinedMetricSpecification": spec, "TargetValue": 100.0})["PolicyARN"]
    driver = api.runtime.load_balancers.driver  # type: ignore[union-attr]
    wait_for(lambda: any(s.name == elb_names.server_name(first, 80) for b in driver.balancers.values()
                         for be in b.backends for s in be.servers) or None, "the target in the proxy")
    window_of(api, arn)

    def serve(iid: str) -> None:
        key = (elb_names.backend_name(tg), elb_names.server_name(iid, 80))
        driver.served[key] = driver.served.get(key, 0) + 250

    for _ in range(3):
        assert desired(asg, "req") == 1
        tick(api, arn, serve)
    wait_for(lambda: desired(asg, "req") == 3 or (tick(api, arn, serve) and None), "a scale-out", timeout=30)
    acts = asg.describe_scaling_activities(AutoScalingGroupName="req")["Activities"]
    assert any("triggered policy r100 changing the desired capacity from 1 to 3." in a["Cause"] for a in acts)
    settled(asg, "req", 3)
    asg.delete_auto_scaling_group(AutoScalingGroupName="req", ForceDelete=True)
    wait_for(lambda: not asg.describe_policies(AutoScalingGroupName="req")["ScalingPolicies"], "policies gone")


def test_step_scaling_by_execute_policy(asg: Any, lc: str, subnets: str) -> None:
    asg.create_auto_scaling_group(AutoScalingGroupName="steps", LaunchConfigurationName=lc, MinSize=1, MaxSize=10,
                                  DesiredCapacity=2, VPCZoneIdentifier=subnets)
    asg.put_scaling_policy(AutoScalingGroupName="steps", PolicyName="up", PolicyType="StepScaling",
                           AdjustmentType="ChangeInCapacity", StepAdjustments=[
                               {"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 10.0, "ScalingAdjustment": 1},
                               {"MetricIntervalLowerBound": 10.0, "ScalingAdjustment": 3}])
    asg.execute_policy(AutoScalingGroupName="steps", PolicyName="up", MetricValue=55.0, BreachThreshold=50.0)
    assert desired(asg, "steps") == 3
    asg.execute_policy(AutoScalingGroupName="steps", PolicyName="up", MetricValue=60.0, BreachThreshold=50.0)
    assert desired(asg, "steps") == 6  # 10 above: the second step (lower bound inclusive)
    acts = asg.describe_scaling_activities(AutoScalingGroupName="steps")["Activities"]
    wait_for(lambda: any("a user request executed policy up changing the desired capacity from 3 to 6." in a["Cause"]
                         for a in asg.describe_scaling_activities(AutoScalingGroupName="steps")["Activities"]) or None,
             "the launch citing the policy")
    assert acts
    asg.put_scaling_policy(AutoScalingGroupName="steps", PolicyName="down", PolicyType="StepScaling",
                           AdjustmentType="PercentChangeInCapacity", MinAdjustmentMagnitude=2, StepAdjustments=[
                               {"MetricIntervalUpperBound": 0.0, "ScalingAdjustment": -10}])
    asg.execute_policy(AutoScalingGroupName="steps", PolicyName="down", MetricValue=20.0, BreachThreshold=30.0)
    assert desired(asg, "steps") == 4  # 10 % of 6 is 0.6: -1, at least 2
    assert refused(asg.execute_policy, AutoScalingGroupName="steps", PolicyName="up")[0] == "ValidationError"
    code, message = refused(asg.execute_policy, AutoScalingGroupName="steps", PolicyName="up", MetricValue=40.0,
                            BreachThreshold=50.0)
    assert code == "ValidationError" and "step adjustment" in message  # no step below the threshold
    kinds = asg.describe_policies(AutoScalingGroupName="steps", PolicyTypes=["StepScaling"], MaxRecords=1)
    assert len(kinds["ScalingPolicies"]) == 1 and kinds["NextToken"]
    rest = asg.describe_policies(AutoScalingGroupName="steps", NextToken=kinds["NextToken"])["ScalingPolicies"]
    assert [p["PolicyName"] for p in kinds["ScalingPolicies"] + rest] == ["down", "up"]
    assert rest[0]["StepAdjustments"][1] == {"MetricIntervalLowerBound": 10.0, "ScalingAdjustment": 3}


def test_simple_scaling_honours_cooldown(api: LoopbackApi, asg: Any, lc: str, subnets: str) -> None:
    asg.create_auto_scaling_group(AutoScalingGroupName="simple", LaunchConfigurationName=lc, MinSize=1, MaxSize=5,
                                  DesiredCapacity=1, VPCZoneIdentifier=subnets)
    arn = asg.put_scaling_policy(AutoScalingGroupName="simple", PolicyName="plus1", AdjustmentType="ChangeInCapacity",
                                 ScalingAdjustment=1, Cooldown=60)["PolicyARN"]
    asg.execute_policy(AutoScalingGroupName="simple", PolicyName="plus1", HonorCooldown=True)
    assert desired(asg, "simple") == 2
    code, _ = refused(asg.execute_policy, AutoScalingGroupName="simple", PolicyName="plus1", HonorCooldown=True)
    assert code == "ScalingActivityInProgress"
    asg.execute_policy(PolicyName=arn)  # by ARN, without HonorCooldown: runs at once
    assert desired(asg, "simple") == 3
    clock(api).now += 61
    asg.execute_policy(AutoScalingGroupName="simple", PolicyName="plus1", HonorCooldown=True)
    assert desired(asg, "simple") == 4
    clock(api).now += 61
    asg.execute_policy(AutoScalingGroupName="simple", PolicyName="plus1", HonorCooldown=True)
    asg.execute_policy(AutoScalingGroupName="simple", PolicyName="plus1")
    assert desired(asg, "simple") == 5  # clamped at MaxSize


def test_policy_errors(asg: Any) -> None:
    cpu_spec = {"PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
                "TargetValue": 50.0}
    code, message = refused(asg.put_scaling_policy, AutoScalingGroupName="nope", PolicyName="p",
                            PolicyType="TargetTrackingScaling", TargetTrackingConfiguration=cpu_spec)
    assert (code, message) == ("ValidationError", "AutoScalingGroup name not found - AutoScalingGroup 'nope' not found")
    for config in ({"PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageNetworkIn"}, "TargetValue": 1.0},
                   {"CustomizedMetricSpecification": {"MetricName": "m", "Namespace": "n", "Statistic": "Average"},
                    "TargetValue": 1.0},
                   {**cpu_spec, "TargetValue": 0.0}):
        assert refused(asg.put_scaling_policy, AutoScalingGroupName="simple", PolicyName="p",
                       PolicyType="TargetTrackingScaling", TargetTrackingConfiguration=config)[0] == "ValidationError"
    assert refused(asg.put_scaling_policy, AutoScalingGroupName="simple", PolicyName="p",
                   AdjustmentType="ChangeInCapacity")[0] == "ValidationError"  # no ScalingAdjustment
    assert refused(asg.put_scaling_policy, AutoScalingGroupName="simple", PolicyName="p", ScalingAdjustment=1,
                   AdjustmentType="ChangeInCapacity", MinAdjustmentMagnitude=1)[0] == "ValidationError"
    assert refused(asg.put_scaling_policy, AutoScalingGroupName="simple", PolicyName="p", PolicyType="StepScaling",
                   AdjustmentType="ChangeInCapacity", StepAdjustments=[
                       {"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 5.0, "ScalingAdjustment": 1},
                       {"MetricIntervalLowerBound": 8.0, "ScalingAdjustment": 2}])[0] == "ValidationError"  # a gap
    asg.put_scaling_policy(AutoScalingGroupName="simple", PolicyName="tt", PolicyType="TargetTrackingScaling",
                           TargetTrackingConfiguration=cpu_spec)
    assert refused(asg.execute_policy, AutoScalingGroupName="simple", PolicyName="tt")[0] == "ValidationError"
    assert refused(asg.put_scaling_policy, AutoScalingGroupName="simple", PolicyName="tt",
                   AdjustmentType="ChangeInCapacity", ScalingAdjustment=1)[0] == "ValidationError"  # type change
    assert refused(asg.execute_policy, AutoScalingGroupName="simple", PolicyName="ghost")[0] == "ValidationError"
    assert refused(asg.delete_policy, AutoScalingGroupName="simple", PolicyName="ghost")[0] == "ValidationError"
    assert refused(asg.describe_policies, NextToken="zzz")[0] == "InvalidNextToken"


def test_iam_holds_policies_to_the_caller(api: LoopbackApi) -> None:
    iam = api.client("iam")
    iam.create_user(UserName="watcher")
    iam.put_user_policy(UserName="watcher", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "autoscaling:Describe*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="watcher")["AccessKey"]
    watcher = api.client("autoscaling", {"aws_access_key_id": key["AccessKeyId"],
                                         "aws_secret_access_key": key["SecretAccessKey"]})
    found = wait_for(lambda: _policies(watcher), "the new key to work")
    assert {p["PolicyName"] for p in found} >= {"plus1", "up", "down"}
    for call, args in ((watcher.execute_policy, {"AutoScalingGroupName": "simple", "PolicyName": "plus1"}),
                       (watcher.put_scaling_policy, {"AutoScalingGroupName": "simple", "PolicyName": "x",
                                                     "AdjustmentType": "ChangeInCapacity", "ScalingAdjustment": 1}),
                       (watcher.delete_policy, {"AutoScalingGroupName": "simple", "PolicyName": "plus1"})):
        code, message = refused(call, **args)
        assert code == "AccessDenied" and "is not authorized to perform: autoscaling:" in message


def _policies(client: Any) -> list[dict[str, Any]] | None:
    try:
        return list(client.describe_policies()["ScalingPolicies"])
    except Exception:
        return None
