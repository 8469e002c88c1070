"""The whole ELBv2 flow through boto3 against an API-only ec2d: load balancer -> target group ->
targets -> listener -> rules -> health (healthy only once the fake proxy reports UP) -> waiters ->
deregistration (draining, then gone) -> deletion, with the nodes' ENIs and addresses freed."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from elb_api import REGION, default_subnets, elb_api, fake_driver, place_instance

from orchestrator.drivers.loadbalancer.driver import ServerHealth

FAST = {"Delay": 0.1, "MaxAttempts": 200}


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"still waiting after {timeout:.0f}s for {what}"
        time.sleep(0.02)


def test_the_whole_flow(tmp_path: Path) -> None:
    with elb_api(tmp_path) as api:
        ec2, elb = api.client("ec2"), api.client("elbv2")
        subnets = default_subnets(ec2)
        vpc_id = subnets[0]["VpcId"]
        lb = elb.create_load_balancer(Name="web", Subnets=[s["SubnetId"] for s in subnets[:2]],
                                      Tags=[{"Key": "team", "Value": "a"}])["LoadBalancers"][0]
        arn = lb["LoadBalancerArn"]
        assert re.fullmatch(rf"arn:aws:elasticloadbalancing:{REGION}:\d{{12}}:loadbalancer/app/web/[0-9a-f]{{16}}", arn)
        assert re.fullmatch(rf"web-\d+\.{REGION}\.elb\.amazonaws\.com", lb["DNSName"])
        assert lb["CanonicalHostedZoneId"] == "Z35SXDOTRQ7X7K"
        assert lb["State"]["Code"] == "provisioning" and lb["Scheme"] == "internet-facing"
        assert lb["Type"] == "application" and lb["VpcId"] == vpc_id
        default_sg = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                           {"Name": "group-name", "Values": ["default"]}])
        assert lb["SecurityGroups"] == [default_sg["SecurityGroups"][0]["GroupId"]]
        assert sorted(z["ZoneName"] for z in lb["AvailabilityZones"]) == [s["AvailabilityZone"] for s in subnets[:2]]
        elb.get_waiter("load_balancer_available").wait(LoadBalancerArns=[arn], WaiterConfig=FAST)
        assert elb.describe_load_balancers(Names=["web"])["LoadBalancers"][0]["State"] == {"Code": "active"}

        # the nodes: requester-managed ENIs, and public addresses from the pool
        enis = ec2.describe_network_interfaces()["NetworkInterfaces"]
        nodes = [e for e in enis if e["Description"] == "ELB " + arn.split(":loadbalancer/")[1]]
        assert len(nodes) == 2
        assert all(e["RequesterManaged"] and e["RequesterId"] == "amazon-elb" and e["Status"] == "in-use"
                   and e["InterfaceType"] == "interface" for e in nodes)
        record = api.backend.store.get(arn)
        assert all(n["PublicIp"] for n in record.data["Nodes"])
        assert sorted(e["Association"]["PublicIp"] for e in nodes) == sorted(n["PublicIp"] for n in record.data["Nodes"])
        by_filter = ec2.describe_network_interfaces(Filters=[
            {"Name": "description", "Values": ["ELB app/web/*"]}])["NetworkInterfaces"]
        assert {e["NetworkInterfaceId"] for e in by_filter} == {e["NetworkInterfaceId"] for e in nodes}

        tg = elb.create_target_group(Name="web-tg", Protocol="HTTP", Port=80, VpcId=vpc_id,
                                     HealthCheckIntervalSeconds=10)["TargetGroups"][0]
        tg_arn = tg["TargetGroupArn"]
        assert (tg["HealthCheckTimeoutSeconds"], tg["HealthyThresholdCount"], tg["UnhealthyThresholdCount"],
                tg["HealthCheckPath"], tg["Matcher"], tg["HealthCheckIntervalSeconds"]) == (
                    6, 5, 2, "/", {"HttpCode": "200"}, 10)
        place_instance(api, "i-0000000000000000a", subnets[0], subnets[0]["CidrBlock"].rsplit(".", 2)[0] + ".0.10")
        place_instance(api, "i-0000000000000000b", subnets[1], subnets[1]["CidrBlock"].rsplit(".", 2)[0] + ".0.10")
        targets = [{"Id": "i-0000000000000000a"}, {"Id": "i-0000000000000000b", "Port": 8080}]
        elb.register_targets(TargetGroupArn=tg_arn, Targets=targets)
        health = elb.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
        assert {h["TargetHealth"]["Reason"] for h in health} == {"Target.NotInUse"}

        listener = elb.create_listener(LoadBalancerArn=arn, Protocol="HTTP", Port=80, DefaultActions=[
            {"Type": "forward", "TargetGroupArn": tg_arn}])["Listeners"][0]
        rule = elb.create_rule(ListenerArn=listener["ListenerArn"], Priority=10, Conditions=[
            {"Field": "path-pattern", "Values": ["/api/*"]}], Actions=[
            {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404", "MessageBody": "no"}}])["Rules"][0]
        assert rule["Conditions"][0]["PathPatternConfig"] == {"Values": ["/api/*"]}
        rules = elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
        assert [(r["Priority"], r["IsDefault"]) for r in rules] == [("10", False), ("default", True)]

        elb.get_waiter("target_in_service").wait(TargetGroupArn=tg_arn, WaiterConfig=FAST)
        health = elb.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
        assert sorted((h["Target"]["Id"], h["Target"]["Port"], h["TargetHealth"]["State"]) for h in health) == [
            ("i-0000000000000000a", 80, "healthy"), ("i-0000000000000000b", 8080, "healthy")]

        # what the proxy got: node addresses, the listener, the rule, both servers at their addresses
        balancer = fake_driver(api).balancers["lb-" + arn.rsplit("/", 1)[1]]
        assert balancer.addresses == tuple(n["PrivateIpAddress"] for n in record.data["Nodes"])
        assert balancer.netns.endswith(vpc_id)
        (lst,) = balancer.listeners
        assert (lst.port, lst.default.backend, lst.rules[0].path_patterns, lst.rules[0].action.fixed.status) == (
            80, "tg-" + tg_arn.rsplit("/", 1)[1], ("/api/*",), 404)
        assert sorted((s.name, s.port) for s in balancer.backends[0].servers) == [
            ("i-0000000000000000a_80", 80), ("i-0000000000000000b_8080", 8080)]

        # a failing server is unhealthy with ELB's reason
        fake_driver(api).set_health(balancer.backends[0].name, "i-0000000000000000a_80",
                                    ServerHealth("DOWN", "L7STS", 500))
        bad = elb.describe_target_health(TargetGroupArn=tg_arn, Targets=[{"Id": "i-0000000000000000a"}])
        assert bad["TargetHealthDescriptions"][0]["TargetHealth"] == {
            "State": "unhealthy", "Reason": "Target.ResponseCodeMismatch",
            "Description": "Health checks failed with these codes: [500]"}

        # deregistration: draining for the delay, then gone
        elb.modify_target_group_attributes(TargetGroupArn=tg_arn, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "1"}])
        elb.deregister_targets(TargetGroupArn=tg_arn, Targets=[{"Id": "i-0000000000000000b", "Port": 8080}])
        gone = [{"Id": "i-0000000000000000b", "Port": 8080}]
        draining = elb.describe_target_health(TargetGroupArn=tg_arn, Targets=gone)["TargetHealthDescriptions"][0]
        assert draining["TargetHealth"]["State"] == "draining"
        assert draining["TargetHealth"]["Reason"] == "Target.DeregistrationInProgress"
        servers = {s.name: s for s in fake_driver(api).balancers[balancer.name].backends[0].servers}
        assert servers["i-0000000000000000b_8080"].draining and not servers["i-0000000000000000a_80"].draining
        elb.get_waiter("target_deregistered").wait(TargetGroupArn=tg_arn, Targets=gone, WaiterConfig=FAST)
        # the runtime drops the server from the proxy once the delay is over
        wait_for(lambda: [s.name for s in fake_driver(api).balancers[balancer.name].backends[0].servers] == [
            "i-0000000000000000a_80"], "the drained server to leave the proxy")
        after = elb.describe_target_health(TargetGroupArn=tg_arn, Targets=gone)["TargetHealthDescriptions"][0]
        assert after["TargetHealth"]["Reason"] == "Target.NotRegistered"

        elb.delete_load_balancer(LoadBalancerArn=arn)
        assert elb.describe_load_balancers()["LoadBalancers"] == []
        assert elb.describe_target_groups()["TargetGroups"][0]["LoadBalancerArns"] == []
        assert "lb-" + arn.rsplit("/", 1)[1] not in fake_driver(api).balancers
        left = {e["NetworkInterfaceId"] for e in ec2.describe_network_interfaces()["NetworkInterfaces"]}
        assert not left & {e["NetworkInterfaceId"] for e in nodes}
        elb.delete_load_balancer(LoadBalancerArn=arn)  # gone already: ELB answers success
        elb.delete_target_group(TargetGroupArn=tg_arn)
        assert elb.describe_target_groups()["TargetGroups"] == []


def test_a_terminated_instance_is_deregistered(tmp_path: Path) -> None:
    """As on ELB, terminating a registered instance deregisters it from its target groups: it
    drains for the group's delay, then it is gone from the proxy and from DescribeTargetHealth."""
    with elb_api(tmp_path) as api:
        ec2, elb = api.client("ec2"), api.client("elbv2")
        subnets = default_subnets(ec2)
        vpc_id = subnets[0]["VpcId"]
        lb = elb.create_load_balancer(Name="gone", Subnets=[s["SubnetId"] for s in subnets[:2]])["LoadBalancers"][0]
        tg_arn = elb.create_target_group(Name="gone-tg", Protocol="HTTP", Port=80,
                                         VpcId=vpc_id)["TargetGroups"][0]["TargetGroupArn"]
        elb.modify_target_group_attributes(TargetGroupArn=tg_arn, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "1"}])
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}])
        place_instance(api, "i-0000000000000000c", subnets[0], "172.31.0.30")
        place_instance(api, "i-0000000000000000d", subnets[1], "172.31.16.30")
        elb.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": "i-0000000000000000c"},
                                                            {"Id": "i-0000000000000000d"}])
        ec2.terminate_instances(InstanceIds=["i-0000000000000000c"])
        health = {d["Target"]["Id"]: d["TargetHealth"] for d in
                  elb.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]}
        assert health["i-0000000000000000c"]["State"] == "draining"
        assert health["i-0000000000000000d"]["State"] != "draining"
        elb.get_waiter("target_deregistered").wait(TargetGroupArn=tg_arn, Targets=[{"Id": "i-0000000000000000c"}],
                                                  WaiterConfig=FAST)
        name = "lb-" + lb["LoadBalancerArn"].rsplit("/", 1)[1]
        wait_for(lambda: [s.name for s in fake_driver(api).balancers[name].backends[0].servers] == [
            "i-0000000000000000d_80"], "the terminated instance's server to leave the proxy")
        left = [d["Target"]["Id"] for d in elb.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]]
        assert left == ["i-0000000000000000d"]
