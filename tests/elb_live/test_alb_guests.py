"""An internet-facing Application Load Balancer over three ec2d-tiny instances in three zones, on
real guests and a real HAProxy in the default VPC's namespace: requests from the public network are
spread over all three targets (each answers its own instance id); a target whose server stops
answering becomes ``unhealthy`` with ELB's reason within interval x threshold and leaves rotation,
and returns ``healthy`` once it answers again; the targets' group admits only the load balancer's
group; a target that never answered is never reported ``healthy``."""

from __future__ import annotations

import collections
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ec2d_server import tiny_image
from guests import instance_netns, private_key, ssh, wait_state

from orchestrator.imds.listen import connect_in_netns

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
INTERVAL, THRESHOLD = 5, 2  # ELB's smallest interval; both thresholds 2
WWW = "mkdir -p /tmp/www && cat /run/ec2d-tiny/instance-id > /tmp/www/index.html && echo ok > /tmp/www/health"
HTTPD = "busybox httpd -p 80 -h /tmp/www"
STOP_HTTPD = "sudo kill $(ps | awk '/[h]ttpd -p 80/ {print $1}')"  # user-data's (root's); no pkill here


def http_get(netns: str, ip: str, path: str = "/", port: int = 80, timeout: float = 5) -> tuple[int, str]:
    """One HTTP/1.0 GET from inside ``netns``: (status, body); (0, error) when nothing answered."""
    try:
        with connect_in_netns(netns, ip, port, timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except OSError as exc:
        return 0, str(exc)
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1]) if head.startswith(b"HTTP/") else 0
    return status, body.decode(errors="replace").strip()


def health(elbv2: Any, tg_arn: str) -> dict[str, dict[str, str]]:
    out = elbv2.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
    return {d["Target"]["Id"]: d["TargetHealth"] for d in out}


def wait_health(elbv2: Any, tg_arn: str, target: str, state: str, backstop: float) -> tuple[dict[str, str], float]:
    """Poll until ``target`` is in ``state``: (its TargetHealth, seconds it took)."""
    start = time.monotonic()
    while True:
        got = health(elbv2, tg_arn)[target]
        if got["State"] == state:
            return got, time.monotonic() - start
        assert time.monotonic() - start < backstop, f"{target} still {got} after {backstop}s (waiting for {state})"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def alb(ec2d, ec2) -> Iterator[dict[str, Any]]:
    elbv2 = ec2d.client("elbv2")
    tag = uuid.uuid4().hex[:6]
    made = ec2.create_key_pair(KeyName=f"alb-{tag}", KeyType="ed25519")
    key = private_key(made["KeyMaterial"])
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = {s["AvailabilityZone"]: s["SubnetId"] for s in ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "default-for-az", "Values": ["true"]}])["Subnets"]}
    lb_sg = ec2.create_security_group(GroupName=f"alb-{tag}", Description="alb", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=lb_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    web_sg = ec2.create_security_group(GroupName=f"web-{tag}", Description="web", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=web_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": lb_sg}]}])
    image = tiny_image(ec2)
    instances = [ec2.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.nano", KeyName=made["KeyName"],
        SecurityGroupIds=[web_sg], SubnetId=subnets[zone],
        UserData=f"#!/bin/sh\n{WWW} && {HTTPD}\n")["Instances"][0] for zone in ZONES]
    ids = [i["InstanceId"] for i in instances]
    lb = elbv2.create_load_balancer(Name=f"alb-{tag}", Subnets=[subnets[z] for z in ZONES],
                                    SecurityGroups=[lb_sg], Scheme="internet-facing",
                                    Type="application")["LoadBalancers"][0]
    tg = elbv2.create_target_group(Name=f"web-{tag}", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance",
                                   HealthCheckPath="/health", HealthCheckIntervalSeconds=INTERVAL,
                                   HealthCheckTimeoutSeconds=2, HealthyThresholdCount=THRESHOLD,
                                   UnhealthyThresholdCount=THRESHOLD)["TargetGroups"][0]
    listener = elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])["Listeners"][0]
    ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    elbv2.get_waiter("load_balancer_available").wait(LoadBalancerArns=[lb["LoadBalancerArn"]],
                                                     WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    lb = elbv2.describe_load_balancers(LoadBalancerArns=[lb["LoadBalancerArn"]])["LoadBalancers"][0]
    running = {i["InstanceId"]: i for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
               for i in r["Instances"]}
    eni_filter = [{"Name": "description", "Values": [f"ELB app/{lb['LoadBalancerName']}/*"]}]
    nodes = ec2.describe_network_interfaces(Filters=eni_filter)["NetworkInterfaces"]
    public = [n["Association"]["PublicIp"] for n in nodes if n.get("Association")]
    yield {"elbv2": elbv2, "lb": lb, "tg": tg["TargetGroupArn"], "listener": listener, "ids": ids,
           "instances": running, "key": key, "lb_sg": lb_sg, "web_sg": web_sg, "public": public, "nodes": nodes,
           "ns": instance_netns(ec2d, instances[0]), "public_ns": f"{ec2d.config.prefix}-public",
           "run_dir": Path(f"/run/{ec2d.config.prefix}")}
    elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
    elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    elbv2.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])
    ec2.terminate_instances(InstanceIds=ids)
    for iid in ids:
        wait_state(ec2, iid, "terminated", 300)
    for gid in (web_sg, lb_sg):
        ec2.delete_security_group(GroupId=gid)


def test_a_target_that_never_answered_is_not_healthy(alb) -> None:
    """Registered before its guest has booted: ``initial`` (never ``healthy``) until it answers."""
    elbv2, tg = alb["elbv2"], alb["tg"]
    elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": i} for i in alb["ids"]])
    seen: dict[str, list[str]] = collections.defaultdict(list)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        now = health(elbv2, tg)
        for iid, h in now.items():
            if not seen[iid] or seen[iid][-1] != h["State"]:
                seen[iid].append(h["State"])
            if h["State"] == "healthy":  # then it really answers
                ip = alb["instances"][iid]["PrivateIpAddress"]
                assert http_get(alb["ns"], ip, "/health")[0] == 200, (iid, h)
        if all(h["State"] == "healthy" for h in now.values()):
            break
        time.sleep(0.5)
    for iid, states in seen.items():
        assert states[0] == "initial", (iid, states)
        assert states[-1] == "healthy", (iid, states)
    elbv2.get_waiter("target_in_service").wait(TargetGroupArn=tg, Targets=[{"Id": i} for i in alb["ids"]],
                                               WaiterConfig={"Delay": 1, "MaxAttempts": 30})


def test_requests_from_the_public_network_spread_over_three_zones(alb) -> None:
    assert len(alb["public"]) == 3 and len(alb["nodes"]) == 3
    answers = collections.Counter()
    for n in range(30):
        status, body = http_get(alb["public_ns"], alb["public"][n % 3])
        assert status == 200, (status, body)
        answers[body] += 1
    assert set(answers) == set(alb["ids"]), answers  # every target, through every node
    assert min(answers.values()) >= 5, answers  # round robin, not one favourite


def test_the_targets_admit_only_the_load_balancer(alb) -> None:
    """The targets' group allows port 80 from the load balancer's group only: a neighbour in the
    VPC without that group gets nothing, the load balancer gets through."""
    a = alb["instances"][alb["ids"][0]]
    b_ip = alb["instances"][alb["ids"][1]]["PrivateIpAddress"]
    guest = ssh(alb["ns"], a["PrivateIpAddress"], alb["key"])
    try:
        out = guest.run(f"timeout 3 wget -q -O - http://{b_ip}/ 2>&1; echo rc=$?", check=False)
        assert "rc=0" not in out, out
    finally:
        guest.close()


def test_a_failing_target_leaves_rotation_and_returns(alb) -> None:
    elbv2, tg = alb["elbv2"], alb["tg"]
    victim = alb["ids"][1]
    ip = alb["instances"][victim]["PrivateIpAddress"]
    guest = ssh(alb["ns"], ip, alb["key"])
    try:
        guest.run(STOP_HTTPD)
        # (how long it takes against interval x threshold is bench/elb.py's figure, not a test's)
        got, _ = wait_health(elbv2, tg, victim, "unhealthy", backstop=120)
        assert got["Reason"] == "Target.FailedHealthChecks", got
        answers = collections.Counter(http_get(alb["public_ns"], alb["public"][n % 3])[1] for n in range(12))
        assert victim not in answers and len(answers) == 2, answers
        # answering with the wrong code: ResponseCodeMismatch
        guest.run(f"sudo rm /tmp/www/health && sudo {HTTPD}")
        got, _ = wait_health(elbv2, tg, victim, "unhealthy", backstop=60)
        deadline = time.monotonic() + 60
        while got.get("Reason") != "Target.ResponseCodeMismatch":
            assert time.monotonic() < deadline, got
            time.sleep(0.5)
            got = health(elbv2, tg)[victim]
        assert "404" in got["Description"], got
        guest.run("echo ok | sudo tee /tmp/www/health")
        wait_health(elbv2, tg, victim, "healthy", backstop=120)
        answers = collections.Counter(http_get(alb["public_ns"], alb["public"][n % 3])[1] for n in range(12))
        assert set(answers) == set(alb["ids"]), answers
    finally:
        guest.close()


def test_the_dns_name_resolves_inside_the_vpc_to_the_nodes(alb) -> None:
    guest = ssh(alb["ns"], alb["instances"][alb["ids"][0]]["PrivateIpAddress"], alb["key"])
    try:
        out = guest.run(f"nslookup {alb['lb']['DNSName']}", check=False)
    finally:
        guest.close()
    for node in alb["nodes"]:
        assert node["PrivateIpAddress"] in out, out


def test_a_killed_proxy_is_started_again(alb) -> None:
    """kill -9 of the load balancer's HAProxy: ec2d's supervisor starts it again from the store and
    the load balancer serves every target again, with no API call."""
    pid_file = alb["run_dir"] / "lb" / ("lb-" + alb["lb"]["LoadBalancerArn"].rsplit("/", 1)[1]) / "haproxy.pid"
    old = int(pid_file.read_text().split()[0])
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 120  # a backstop: the supervisor looks every 2 s
    while http_get(alb["public_ns"], alb["public"][0], timeout=2)[0] != 200:
        assert time.monotonic() < deadline, "the load balancer did not come back"
        time.sleep(0.5)
    assert int(pid_file.read_text().split()[0]) != old
    answers = collections.Counter(http_get(alb["public_ns"], alb["public"][n % 3])[1] for n in range(12))
    assert set(answers) == set(alb["ids"]), answers
