"""IPv6 over a VPC peering connection on real guests: a guest in VPC A fetches a page from a guest
in VPC B at B's IPv6 address only while both route tables send the other VPC's /56 to the
connection (``DestinationIpv6CidrBlock``); without the route on B's side (the replies' way back)
it fails, and with no routes at all nothing crosses. The guests serve every test."""

from __future__ import annotations

import ipaddress
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from ec2d_server import tiny_image
from guests import Guest, instance_netns, private_key, ssh, wait_state
from waiting import until

from orchestrator.imds.listen import run_in_netns

CIDRS = {"a": "10.154.0.0/16", "b": "10.155.0.0/16"}
PORT = 8080
WEB = "#!/bin/sh\nmkdir -p /tmp/www && echo hello6 > /tmp/www/index.html && busybox httpd -p 8080 -h /tmp/www\n"


def fetch(guest: Guest, address: str) -> bool:
    out = guest.run(f"timeout 5 wget -q -O - http://[{address}]:{PORT}/ 2>/dev/null || true", timeout=30)
    return out.strip() == "hello6"


def served(netns: str, address: str) -> bool:
    """B's page answers from B's own VPC namespace (its web server is up)."""
    def get() -> bytes:
        with socket.create_connection((address, PORT), timeout=3) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            return s.recv(4096)
    try:
        return b"hello6" in run_in_netns(netns, get)
    except OSError:
        return False


def ipv6_of(ec2: Any, instance_id: str) -> str:
    (ni,) = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["NetworkInterfaces"]
    return str(ni["Ipv6Addresses"][0]["Ipv6Address"])


@pytest.fixture(scope="module")
def pair(ec2d, ec2) -> Iterator[dict[str, Any]]:
    key = ec2.create_key_pair(KeyName=f"pcx6-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
    net: dict[str, Any] = {}
    for side, cidr in CIDRS.items():
        vpc = ec2.create_vpc(CidrBlock=cidr, AmazonProvidedIpv6CidrBlock=True)["Vpc"]
        block = vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
        subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock=cidr.replace(".0.0/16", ".1.0/24"),
                                   Ipv6CidrBlock=str(next(ipaddress.IPv6Network(block).subnets(new_prefix=64))))[
            "Subnet"]["SubnetId"]
        sg = ec2.create_security_group(GroupName=f"pcx6-{side}-{uuid.uuid4().hex[:4]}", Description=side,
                                       VpcId=vpc["VpcId"])["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": PORT, "ToPort": PORT, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
        rtb = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["RouteTables"][0][
            "RouteTableId"]
        inst = ec2.run_instances(ImageId=tiny_image(ec2), MinCount=1, MaxCount=1, InstanceType="t3.nano",
                                 KeyName=key["KeyName"], SubnetId=subnet, SecurityGroupIds=[sg], Ipv6AddressCount=1,
                                 **({"UserData": WEB} if side == "b" else {}))["Instances"][0]
        net[side] = {"vpc": vpc["VpcId"], "block": block, "subnet": subnet, "sg": sg, "rtb": rtb, "inst": inst}
    ids = [net[s]["inst"]["InstanceId"] for s in CIDRS]
    guest: Guest | None = None
    try:
        pcx = ec2.create_vpc_peering_connection(VpcId=net["a"]["vpc"], PeerVpcId=net["b"]["vpc"])[
            "VpcPeeringConnection"]["VpcPeeringConnectionId"]
        ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
        net["pcx"] = pcx
        ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        a = net["a"]["inst"]
        guest = ssh(instance_netns(ec2d, a), a["PrivateIpAddress"], private_key(key["KeyMaterial"]))
        net["guest"] = guest
        net["a_ip6"], net["b_ip6"] = ipv6_of(ec2, ids[0]), ipv6_of(ec2, ids[1])
        until("A's IPv6 address and default route", lambda: net["a_ip6"] in guest.run(
            "ip -6 addr show dev eth0 scope global 2>/dev/null || true") and "via fe80::" in guest.run(
            "ip -6 route show default 2>/dev/null || true"), timeout=180)
        until("B's web server on its IPv6 address",
              lambda: served(instance_netns(ec2d, net["b"]["inst"]), net["b_ip6"]), timeout=180)
        yield net
    finally:
        if guest is not None:
            guest.close()
        ec2.terminate_instances(InstanceIds=ids)
        for iid in ids:
            wait_state(ec2, iid, "terminated", 300)
        if "pcx" in net:
            ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=net["pcx"])
        for side in CIDRS:
            ec2.delete_security_group(GroupId=net[side]["sg"])
            ec2.delete_subnet(SubnetId=net[side]["subnet"])
            ec2.delete_vpc(VpcId=net[side]["vpc"])
        ec2.delete_key_pair(KeyName=key["KeyName"])


def test_1_no_routes_nothing_crosses(pair) -> None:
    assert not fetch(pair["guest"], pair["b_ip6"])


def test_2_both_routes_then_the_way_back_removed(ec2, pair) -> None:
    a, b = pair["a"], pair["b"]
    ec2.create_route(RouteTableId=a["rtb"], DestinationIpv6CidrBlock=b["block"], VpcPeeringConnectionId=pair["pcx"])
    assert not fetch(pair["guest"], pair["b_ip6"])  # B's table has no way back yet
    ec2.create_route(RouteTableId=b["rtb"], DestinationIpv6CidrBlock=a["block"], VpcPeeringConnectionId=pair["pcx"])
    shown = [r for r in ec2.describe_route_tables(RouteTableIds=[a["rtb"]])["RouteTables"][0]["Routes"]
             if r.get("VpcPeeringConnectionId") == pair["pcx"]]
    assert shown == [{"DestinationIpv6CidrBlock": b["block"], "VpcPeeringConnectionId": pair["pcx"],
                      "Origin": "CreateRoute", "State": "active"}]
    assert until("A fetching B's page over the peering", lambda: fetch(pair["guest"], pair["b_ip6"]), timeout=60)
    ec2.delete_route(RouteTableId=b["rtb"], DestinationIpv6CidrBlock=a["block"])
    assert not fetch(pair["guest"], pair["b_ip6"])
    ec2.delete_route(RouteTableId=a["rtb"], DestinationIpv6CidrBlock=b["block"])
