"""DHCP options sets seen in a real guest (ec2d-tiny, busybox udhcpc): a custom set's search
domain, name servers and NTP servers, then ``default`` (no set: the link-local resolver only) and
the region's default set back, each after the guest renews its lease, as on EC2. One guest."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from ec2d_server import tiny_image
from guests import Guest, instance_netns, private_key, ssh, wait_state


@pytest.fixture(scope="module")
def lab(ec2d, ec2) -> Iterator[dict[str, Any]]:
    vpc = ec2.create_vpc(CidrBlock="10.63.0.0/16")["Vpc"]
    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.63.1.0/24")["Subnet"]["SubnetId"]
    made = ec2.create_key_pair(KeyName=f"dopt-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
    custom = ec2.create_dhcp_options(DhcpConfigurations=[
        {"Key": "domain-name", "Values": ["example.internal"]},
        {"Key": "domain-name-servers", "Values": ["AmazonProvidedDNS", "10.63.1.53"]},
        {"Key": "ntp-servers", "Values": ["10.63.1.123"]}])["DhcpOptions"]["DhcpOptionsId"]
    ec2.associate_dhcp_options(DhcpOptionsId=custom, VpcId=vpc["VpcId"])
    inst = ec2.run_instances(ImageId=tiny_image(ec2), MinCount=1, MaxCount=1, InstanceType="t3.nano",
                             KeyName=made["KeyName"], SubnetId=subnet)["Instances"][0]
    guest: Guest | None = None
    try:
        ec2.get_waiter("instance_running").wait(InstanceIds=[inst["InstanceId"]],
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        guest = ssh(instance_netns(ec2d, inst), inst["PrivateIpAddress"], private_key(made["KeyMaterial"]))
        yield {"vpc": vpc, "custom": custom, "guest": guest}
    finally:
        if guest is not None:
            guest.close()
        ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
        wait_state(ec2, inst["InstanceId"], "terminated", 300)
        ec2.delete_key_pair(KeyName=made["KeyName"])
        ec2.delete_subnet(SubnetId=subnet)
        ec2.delete_vpc(VpcId=vpc["VpcId"])
        ec2.delete_dhcp_options(DhcpOptionsId=custom)


def lines(guest: Guest, path: str) -> list[str]:
    return [ln.strip() for ln in guest.run(f"cat {path} 2>/dev/null || true").splitlines() if ln.strip()]


def renewed(guest: Guest, path: str, done: Callable[[list[str]], bool], timeout: float = 60) -> list[str]:
    """Ask udhcpc to renew its lease (SIGUSR1, as ``dhclient -r``/``networkctl renew`` would) until
    ``path`` shows what ``done`` waits for; returns the file's lines."""
    deadline = time.monotonic() + timeout
    while True:
        guest.run("sudo kill -USR1 $(cat /run/udhcpc.eth0.pid)")
        seen = lines(guest, path)
        for _ in range(10):
            if done(seen) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
            seen = lines(guest, path)
        if done(seen):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} after renewals: {seen}")


def resolves_own_name(guest: Guest, server: str) -> bool:
    """The guest's resolver (its first name server from DHCP) is ``server`` and answers the
    instance's own private DNS name with its address."""
    ip = guest.run("cat /run/ec2d-tiny/ipv4").strip()
    out = guest.run(f"nslookup ip-{ip.replace('.', '-')}.ec2.internal 2>&1 || true")
    return re.search(rf"Server:\s+{re.escape(server)}\b", out) is not None and f"Address: {ip}" in out


def test_the_guest_applies_the_custom_set_at_boot(lab) -> None:
    guest = lab["guest"]
    assert lines(guest, "/etc/resolv.conf") == ["search example.internal", "nameserver 10.63.0.2",
                                                "nameserver 10.63.1.53"]
    assert lines(guest, "/etc/ntp.conf") == ["server 10.63.1.123 iburst"]
    assert resolves_own_name(guest, "10.63.0.2")  # AmazonProvidedDNS: the VPC's resolver answers


def test_no_set_then_the_default_set_after_renewals(ec2, lab) -> None:
    guest, vpc = lab["guest"], lab["vpc"]["VpcId"]
    ec2.associate_dhcp_options(DhcpOptionsId="default", VpcId=vpc)
    seen = renewed(guest, "/etc/resolv.conf", lambda s: s == ["nameserver 169.254.169.253"])
    assert seen == ["nameserver 169.254.169.253"]  # no set: no search domain, the link-local resolver
    assert lines(guest, "/etc/ntp.conf") == []
    assert resolves_own_name(guest, "169.254.169.253")
    default_set = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["DhcpOptionsId"]
    ec2.associate_dhcp_options(DhcpOptionsId=default_set, VpcId=vpc)
    seen = renewed(guest, "/etc/resolv.conf", lambda s: s and s[0] == "search ec2.internal")
    assert seen == ["search ec2.internal", "nameserver 10.63.0.2"]
    assert resolves_own_name(guest, "10.63.0.2")
