"""--host-routes: `ssh ec2-user@<PublicIpAddress>` works from the host shell, because only the
public pool is routed into ec2d's public namespace; after a sweep nothing routes the pool into ec2d
any more. The guest cannot open connections to the host (a listener on 0.0.0.0)
while it still reaches the public side. The opt-in uplink NAT is checked as a ruleset only here
(no traffic; tests/hostscope/test_root_filter.py runs it against a fake uplink)."""

from __future__ import annotations

import secrets
import subprocess
import time
import uuid
from pathlib import Path

import paramiko
from ec2d_server import start_ec2d
from guests import Guest, private_key, wait_state
from netcheck import Listener
from test_lifecycle import tiny_image

from orchestrator.drivers.network.public import PRIVATE_RANGES, PublicNetwork, render_host_filter
from orchestrator.hostscope import sweep


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
    finally:
        server.stop()
        sweep(prefix)
    # swept: the pool no longer goes into ec2d's public namespace (another ec2d's fail-closed route,
    # or the host's own default route, may still cover it: neither is this test's business)
    assert f"dev {prefix[:12]}-h" not in route("198.18.0.9").stdout
    assert subprocess.run(["ip", "link", "show", f"{prefix[:12]}-h"], capture_output=True).returncode != 0


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
