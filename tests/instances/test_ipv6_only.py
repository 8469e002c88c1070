"""Two real guests (ec2d-tiny) in an IPv6-only subnet (CreateSubnet Ipv6Native): no IPv4 at all
(only lo's), their address by DHCPv6 (dnsmasq serves the subnet DHCPv6 + RA only), SSH over IPv6
with the key the guest read from the metadata service at [fd00:ec2::254] (HttpProtocolIpv6
enabled at launch), its hostname the instance id (resource-name) which the VPC resolver answers
with an AAAA record (EnableResourceNameDnsAAAARecordOnLaunch; asked at [fd00:ec2::253] too), and the server's security group
deciding over IPv6 what reaches it from the other guest. Guests are shared inside the module."""

from __future__ import annotations

import ipaddress
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from ec2d_server import tiny_image
from guests import Guest, instance_netns, private_key, ssh, wait_state

WEB = "#!/bin/sh\nmkdir -p /tmp/www && echo hello6only > /tmp/www/index.html && busybox httpd -p 8080 -h /tmp/www\n"
IMDS = ". /usr/lib/ec2d-tiny/functions; imds_use_ipv6; imds_token; [ -n \"$IMDS_TOKEN\" ] && imds_get"


@pytest.fixture(scope="module")
def lab(ec2d, ec2) -> Iterator[dict[str, Any]]:
    vpc = ec2.create_vpc(CidrBlock="10.67.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    block = ipaddress.IPv6Network(vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"])
    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], Ipv6Native=True,
                               Ipv6CidrBlock=str(next(block.subnets(new_prefix=64))))["Subnet"]
    ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], EnableResourceNameDnsAAAARecordOnLaunch={"Value": True})
    made = ec2.create_key_pair(KeyName=f"v6only-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
    key = private_key(made["KeyMaterial"])
    sgs = {n: ec2.create_security_group(GroupName=f"v6o{n}-{uuid.uuid4().hex[:4]}", Description=n,
                                        VpcId=vpc["VpcId"])["GroupId"] for n in ("client", "server")}
    image = tiny_image(ec2)
    insts = {n: ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.nano",
                                  KeyName=made["KeyName"], SubnetId=subnet["SubnetId"], SecurityGroupIds=[sgs[n]],
                                  MetadataOptions={"HttpProtocolIpv6": "enabled"},
                                  **({"UserData": WEB} if n == "server" else {}))["Instances"][0]
             for n in ("client", "server")}
    ids = [i["InstanceId"] for i in insts.values()]
    guests: dict[str, Guest] = {}
    try:
        ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        for n, inst in insts.items():
            guests[n] = ssh(instance_netns(ec2d, inst), address(inst), key)
        yield {"vpc": vpc, "subnet": subnet, "sgs": sgs, "insts": insts, "guests": guests}
    finally:
        for g in guests.values():
            g.close()
        ec2.terminate_instances(InstanceIds=ids)
        for iid in ids:
            wait_state(ec2, iid, "terminated", 300)
        for gid in sgs.values():
            ec2.delete_security_group(GroupId=gid)
        ec2.delete_key_pair(KeyName=made["KeyName"])
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        ec2.delete_vpc(VpcId=vpc["VpcId"])


def address(inst: dict[str, Any]) -> str:
    (nic,) = inst["NetworkInterfaces"]
    (one,) = nic["Ipv6Addresses"]
    return str(one["Ipv6Address"])


def test_described_with_ipv6_only(ec2, lab) -> None:
    for inst in lab["insts"].values():
        (r,) = ec2.describe_instances(InstanceIds=[inst["InstanceId"]])["Reservations"]
        shown = r["Instances"][0]
        assert "PrivateIpAddress" not in shown and "PublicIpAddress" not in shown
        assert shown["Ipv6Address"] == address(inst)
        assert ipaddress.IPv6Address(address(inst)) in ipaddress.IPv6Network(
            lab["subnet"]["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"])
        assert shown["PrivateDnsName"] == f"{inst['InstanceId']}.ec2.internal"


def test_guest_has_no_ipv4_but_lo(lab) -> None:
    for n, inst in lab["insts"].items():
        guest = lab["guests"][n]
        v4 = guest.run("ip -4 -o addr show 2>/dev/null || true")
        assert [line.split()[1] for line in v4.splitlines()] == ["lo"], v4
        v6 = guest.run("ip -6 -o addr show dev eth0 scope global")
        assert [line.split()[3].split("/")[0] for line in v6.splitlines()] == [address(inst)]
        assert guest.run("hostname").strip() == inst["InstanceId"]  # its resource name, from IMDS


def test_metadata_over_ipv6(lab) -> None:
    guest, inst = lab["guests"]["client"], lab["insts"]["client"]
    assert guest.run(f"{IMDS} meta-data/instance-id", timeout=60).strip() == inst["InstanceId"]
    assert guest.run(f"{IMDS} meta-data/ipv6", timeout=60).strip() == address(inst)
    assert guest.run(f"{IMDS} meta-data/local-hostname", timeout=60).strip() == f"{inst['InstanceId']}.ec2.internal"
    assert guest.run(f"{IMDS} meta-data/local-ipv4 || echo none", timeout=60).strip() == "none"
    keys = guest.run("cat /home/ec2-user/.ssh/authorized_keys")
    assert keys.startswith("ssh-ed25519 ")  # installed at boot from the metadata service over IPv6


def fetch(guest: Guest, addr: str) -> bool:
    out = guest.run(f"timeout 4 wget -q -O - http://[{addr}]:8080/ 2>/dev/null || true", timeout=20)
    return out.strip() == "hello6only"


def test_server_group_decides_over_ipv6(ec2, lab) -> None:
    client, server_sg = lab["guests"]["client"], lab["sgs"]["server"]
    client_addr, server_addr = address(lab["insts"]["client"]), address(lab["insts"]["server"])
    assert not fetch(client, server_addr)  # the server's group allows nothing in
    perm = {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "Ipv6Ranges": [{"CidrIpv6": f"{client_addr}/128"}]}
    ec2.authorize_security_group_ingress(GroupId=server_sg, IpPermissions=[perm])
    deadline = time.monotonic() + 300
    while not fetch(client, server_addr):  # httpd may still be starting on a fresh guest
        assert time.monotonic() < deadline
        time.sleep(1)
    ec2.revoke_security_group_ingress(GroupId=server_sg, IpPermissions=[perm])
    assert not fetch(client, server_addr)  # blocked as soon as the call answered


def test_resolver_answers_the_resource_name_with_aaaa(ec2d, lab) -> None:
    inst = lab["insts"]["server"]
    out = subprocess.run(["ip", "netns", "exec", instance_netns(ec2d, inst), "busybox", "nslookup", "-type=aaaa",
                          f"{inst['InstanceId']}.ec2.internal", "10.67.0.2"], capture_output=True, text=True,
                         timeout=30).stdout
    assert f"has AAAA address {address(inst)}" in out or f"Address: {address(inst)}" in out, out
    # and the other guest, which has no IPv4, asks the resolver at its IPv6 address (as on Nitro)
    out = lab["guests"]["client"].run(f"nslookup -type=aaaa {inst['InstanceId']}.ec2.internal fd00:ec2::253 "
                                      "2>&1 || true", timeout=30)
    assert f"has AAAA address {address(inst)}" in out or f"Address: {address(inst)}" in out, out
