"""IPv6 between two real guests (ec2d-tiny: dhcp6c for the address, the kernel's RA handling for
the default route) in a dual-stack subnet: each guest holds exactly the IPv6 address
DescribeInstances shows, and one reaches the other over IPv6 TCP only while the server's group
allows it (the client's /128, then ::/0), blocked again as soon as the revoke answers.
Guests are shared inside the module."""

from __future__ import annotations

import ipaddress
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from ec2d_server import tiny_image
from guests import Guest, instance_netns, private_key, ssh, wait_state

WEB = "#!/bin/sh\nmkdir -p /tmp/www && echo hello6 > /tmp/www/index.html && busybox httpd -p 8080 -h /tmp/www\n"


@pytest.fixture(scope="module")
def lab(ec2d, ec2) -> Iterator[dict[str, Any]]:
    vpc = ec2.create_vpc(CidrBlock="10.66.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    block = ipaddress.IPv6Network(vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"])
    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.66.1.0/24",
                               Ipv6CidrBlock=str(next(block.subnets(new_prefix=64))))["Subnet"]["SubnetId"]
    made = ec2.create_key_pair(KeyName=f"v6-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
    key = private_key(made["KeyMaterial"])
    sgs = {n: ec2.create_security_group(GroupName=f"v6{n}-{uuid.uuid4().hex[:4]}", Description=n,
                                        VpcId=vpc["VpcId"])["GroupId"] for n in ("client", "server")}
    image = tiny_image(ec2)
    insts = {n: ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.nano",
                                  KeyName=made["KeyName"], SubnetId=subnet, SecurityGroupIds=[sgs[n]],
                                  Ipv6AddressCount=1, **({"UserData": WEB} if n == "server" else {}))["Instances"][0]
             for n in ("client", "server")}
    ids = [i["InstanceId"] for i in insts.values()]
    guests: dict[str, Guest] = {}
    try:
        ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        for n, inst in insts.items():
            guests[n] = ssh(instance_netns(ec2d, inst), inst["PrivateIpAddress"], key)
        yield {"vpc": vpc, "sgs": sgs, "insts": insts, "guests": guests}
    finally:
        for g in guests.values():
            g.close()
        ec2.terminate_instances(InstanceIds=ids)
        for iid in ids:
            wait_state(ec2, iid, "terminated", 300)
        for gid in sgs.values():
            ec2.delete_security_group(GroupId=gid)
        ec2.delete_key_pair(KeyName=made["KeyName"])
        ec2.delete_subnet(SubnetId=subnet)
        ec2.delete_vpc(VpcId=vpc["VpcId"])


def described_ipv6(ec2: Any, instance_id: str) -> list[str]:
    (r,) = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return [a["Ipv6Address"] for ni in r["Instances"][0]["NetworkInterfaces"] for a in ni["Ipv6Addresses"]]


def guest_ipv6(guest: Guest, timeout: float = 120) -> list[str]:
    """eth0's global IPv6 addresses, once dhcp6c configured one (it retries in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        out = guest.run("ip -6 -o addr show dev eth0 scope global 2>/dev/null || true")
        found = sorted(line.split()[3].split("/")[0] for line in out.splitlines() if "inet6" in line)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(1)


def fetch(guest: Guest, addr: str) -> bool:
    out = guest.run(f"timeout 4 wget -q -O - http://[{addr}]:8080/ 2>/dev/null || true", timeout=20)
    return out.strip() == "hello6"


def test_guests_hold_their_described_addresses(ec2, lab) -> None:
    for n, inst in lab["insts"].items():
        want = described_ipv6(ec2, inst["InstanceId"])
        assert len(want) == 1 and ipaddress.IPv6Address(want[0])
        assert guest_ipv6(lab["guests"][n]) == want, n


def test_default_route_from_the_router_advertisement(lab) -> None:
    out = lab["guests"]["client"].run("ip -6 route show default 2>/dev/null || true")
    deadline = time.monotonic() + 60
    while "via fe80::" not in out and time.monotonic() < deadline:
        time.sleep(1)
        out = lab["guests"]["client"].run("ip -6 route show default 2>/dev/null || true")
    assert "via fe80::" in out and "dev eth0" in out


def test_ipv6_tcp_follows_the_server_group(ec2, lab) -> None:
    client, server_sg = lab["guests"]["client"], lab["sgs"]["server"]
    client_addr = described_ipv6(ec2, lab["insts"]["client"]["InstanceId"])[0]
    server_addr = described_ipv6(ec2, lab["insts"]["server"]["InstanceId"])[0]
    assert guest_ipv6(lab["guests"]["server"]) == [server_addr]
    assert not fetch(client, server_addr)  # the server's group allows nothing in
    (rule,) = ec2.authorize_security_group_ingress(GroupId=server_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
         "Ipv6Ranges": [{"CidrIpv6": f"{client_addr}/128"}]}])["SecurityGroupRules"]
    deadline = time.monotonic() + 300
    while not fetch(client, server_addr):  # httpd may still be starting on a fresh guest
        assert time.monotonic() < deadline
        time.sleep(1)
    ec2.revoke_security_group_ingress(GroupId=server_sg, SecurityGroupRuleIds=[rule["SecurityGroupRuleId"]])
    assert not fetch(client, server_addr)  # blocked as soon as the call answered
    ec2.authorize_security_group_ingress(GroupId=server_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    assert fetch(client, server_addr)
    ec2.revoke_security_group_ingress(GroupId=server_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    assert not fetch(client, server_addr)


def imds6(guest: Guest, path: str) -> str:
    return guest.run(f"timeout 4 wget -q -O - http://[fd00:ec2::254]/latest/meta-data/{path} 2>/dev/null || true",
                     timeout=20).strip()


def test_metadata_at_fd00_ec2_254_only_when_enabled(ec2, lab) -> None:
    client, iid = lab["guests"]["client"], lab["insts"]["client"]["InstanceId"]
    assert imds6(client, "instance-id") == ""  # HttpProtocolIpv6 is disabled by default (as on EC2)
    # IMDSv1 (busybox wget cannot PUT for a token): optional tokens, whatever the AMI asks
    ec2.modify_instance_metadata_options(InstanceId=iid, HttpProtocolIpv6="enabled", HttpTokens="optional")
    try:
        deadline = time.monotonic() + 60  # the guest's default route comes from an RA: poll
        while imds6(client, "instance-id") != iid:
            assert time.monotonic() < deadline
            time.sleep(1)
        mac = imds6(client, "mac")
        assert imds6(client, f"network/interfaces/macs/{mac}/ipv6s") == described_ipv6(ec2, iid)[0]
        assert imds6(lab["guests"]["server"], "instance-id") == ""  # the server's option is still disabled
    finally:
        ec2.modify_instance_metadata_options(InstanceId=iid, HttpProtocolIpv6="disabled")
    assert imds6(client, "instance-id") == ""
