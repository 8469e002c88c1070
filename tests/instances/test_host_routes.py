"""--host-routes: `ssh ec2-user@<PublicIpAddress>` works from the host shell, because only the
public pool is routed into ec2d's public namespace, and an internet-facing load balancer's DNS name
resolves on the host (/etc/hosts) so `curl http://NAME/` works too; after a sweep nothing routes
the pool into ec2d any more and the names are gone. The guest cannot open connections to the host (a listener on 0.0.0.0)
while it still reaches the public side. The opt-in uplink NAT is checked as a ruleset only here
(no traffic; tests/hostscope/test_root_filter.py runs it against a fake uplink)."""

from __future__ import annotations

import secrets
import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import paramiko
from ec2d_server import start_ec2d, tiny_image
from guests import Guest, private_key, wait_state
from netcheck import Listener

from orchestrator.drivers.network.public import PRIVATE_RANGES, PublicNetwork, render_host_filter
from orchestrator.hostscope import sweep

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # straight over the host route


def route(ip: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "route", "get", ip], capture_output=True, text=True)


def test_host_routes_reach_public_ips_from_the_host(tmp_path: Path) -> None:
    server = start_ec2d(tmp_path / "data", host_routes=True)
    prefix = server.config.prefix
    try:
        ec2 = server.client()
        made = ec2.create_key_pair(KeyName=f"hr-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
        ec2.authorize_security_group_ingress(GroupName="default", IpProtocol="tcp", FromPort=22, ToPort=22,
                                             CidrIp="0.0.0.0/0")
        inst = ec2.run_instances(ImageId=tiny_image(ec2), MinCount=1, MaxCount=1, InstanceType="t3.nano",
                                 KeyName=made["KeyName"])["Instances"][0]
        public = wait_state(ec2, inst["InstanceId"], "running", 300)["PublicIpAddress"]
        assert f"dev {prefix[:12]}-h" in route(public).stdout  # into ec2d's public namespace, nowhere else
        deadline = time.monotonic() + 300
        while True:  # a plain SSH client in the host's own namespace
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            try:
                client.connect(public, username="ec2-user", pkey=private_key(made["KeyMaterial"]), timeout=5,
                               banner_timeout=10, look_for_keys=False, allow_agent=False)
                break
            except (OSError, paramiko.SSHException):
                client.close()
                assert time.monotonic() < deadline
                time.sleep(1)
        guest = Guest(client)  # one command at a time, each to its exit status (guests.start_command)
        assert guest.run("cat /run/ec2d-tiny/instance-id").strip() == inst["InstanceId"]
        root_addr, pub_addr = (str(h) for h in list(PublicNetwork(prefix).host_link_net().hosts())[:2])
        with Listener(None, "0.0.0.0") as host_service, Listener(f"{prefix}-public", pub_addr) as public_side:
            def nc(addr: str, port: int) -> str:
                return guest.run(f"nc -w 5 {addr} {port} </dev/null; echo rc=$?")
            assert public in nc(pub_addr, public_side.port)  # the guest's traffic does reach the public side
            refused = nc(root_addr, host_service.port)  # but not the host behind it
            assert "rc=0" not in refused and public not in refused
        guest.close()
        ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
        wait_state(ec2, inst["InstanceId"], "terminated", 300)
        dns_name = load_balancer_from_the_host(server, ec2)
    finally:
        server.stop()
        sweep(prefix)
    assert dns_name not in Path("/etc/hosts").read_text()
    # swept: the pool no longer goes into ec2d's public namespace (another ec2d's fail-closed route,
    # or the host's own default route, may still cover it: neither is this test's business)
    assert f"dev {prefix[:12]}-h" not in route("198.18.0.9").stdout
    assert subprocess.run(["ip", "link", "show", f"{prefix[:12]}-h"], capture_output=True).returncode != 0


def load_balancer_from_the_host(server, ec2) -> str:
    """An internet-facing ALB (a fixed response, no target needed): the host resolves its name to
    its nodes' public addresses and gets its answer over the host routes; the name is gone once
    the load balancer is deleted. Returns the name."""
    elbv2 = server.client("elbv2")
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])[
        "Subnets"]][:2]
    ec2.authorize_security_group_ingress(GroupName="default", IpProtocol="tcp", FromPort=80, ToPort=80,
                                         CidrIp="0.0.0.0/0")
    lb = elbv2.create_load_balancer(Name="hr-web", Subnets=subnets)["LoadBalancers"][0]
    elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200", "MessageBody": "hello host"}}])
    elbv2.get_waiter("load_balancer_available").wait(LoadBalancerArns=[lb["LoadBalancerArn"]],
                                                      WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    nodes = sorted(e["Association"]["PublicIp"] for e in ec2.describe_network_interfaces(Filters=[
        {"Name": "description", "Values": ["ELB app/hr-web/*"]}])["NetworkInterfaces"])
    assert sorted({a[4][0] for a in socket.getaddrinfo(lb["DNSName"], 80, socket.AF_INET)}) == nodes
    deadline = time.monotonic() + 60
    while True:  # the proxy listens once provisioned; the host route is there already
        try:
            with NO_PROXY.open(f"http://{lb['DNSName']}/", timeout=5) as answer:
                assert answer.read() == b"hello host"
                break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.5)
    elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    deadline = time.monotonic() + 60
    while lb["DNSName"] in Path("/etc/hosts").read_text():
        assert time.monotonic() < deadline, "the deleted load balancer's name is still on the host"
        time.sleep(0.2)
    return str(lb["DNSName"])


def test_uplink_nat_ruleset_is_valid_and_scoped() -> None:
    script = render_host_filter("ec2dtx", "ec2dtx-h", "198.18.0.0/15", "eth9", PRIVATE_RANGES)
    assert 'oifname "eth9" ip saddr 198.18.0.0/15 masquerade' in script
    assert "table inet ec2dtx_host" in script and "169.254.0.0/16" in script
    ns = f"ec2dt{secrets.token_hex(2)}-nftcheck"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:  # validated by the kernel's nftables in a throwaway namespace; nothing is applied to the host
        check = subprocess.run(["ip", "netns", "exec", ns, "nft", "-c", "-f", "-"], input=script,
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=True)
