"""IPv6 to and from "the internet" (the public namespace, where an address of 3fff::/20, the IPv6
documentation prefix outside ec2d's VPC pool, stands for an internet host) on a real guest in a
dual-stack subnet, only along its route table: no IPv6 route, neither way; ``::/0`` to the
internet gateway, both ways (the guest's own global address, no NAT; its security group still
decides what comes in); ``::/0`` to an egress-only internet gateway, out only (the replies come
back, nothing from outside gets in); the gateway deleted, its route a blackhole. The root
namespace keeps its ``unreachable`` route for the whole IPv6 pool throughout."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from ec2d_server import tiny_image
from guests import Guest, instance_netns, private_key, ssh, wait_state
from waiting import until

from orchestrator.domain.ipv6_pools import VPC_POOL
from orchestrator.imds.listen import open_listener_in_netns, run_in_netns

INTERNET6 = "3fff:ec2d::10"  # an internet host's address, held by the public namespace for these tests
PORT = 8080
WEB = "#!/bin/sh\nmkdir -p /tmp/www && echo hello6 > /tmp/www/index.html && busybox httpd -p 8080 -h /tmp/www\n"


class Listener:
    """An HTTP server at [INTERNET6]:8080 answering each request with the client's address."""

    def __init__(self, netns: str) -> None:
        self.sock = open_listener_in_netns(netns, INTERNET6, PORT)
        self.sock.settimeout(0.5)
        self.stopped = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stopped:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(4096)
                    body = peer[0]
                    conn.sendall(f"HTTP/1.0 200 OK\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode())
                except OSError:
                    pass

    def close(self) -> None:
        self.stopped = True
        self.thread.join(5)
        self.sock.close()


def out_from(guest: Guest) -> str | None:
    """The address the internet host saw the guest's request come from (None: no way there)."""
    out, rc = guest.run(f"timeout 5 wget -q -O - http://[{INTERNET6}]:{PORT}/ 2>/dev/null; echo \" rc=$?\"",
                        check=False, timeout=30).rsplit(" rc=", 1)
    return out.strip() if rc.strip() == "0" else None


def in_to(public_ns: str, address: str, source: str | None = INTERNET6) -> bool:
    """The internet host (its own address as the source) fetches the guest's page."""
    def fetch() -> bytes:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.settimeout(4)
            if source:
                s.bind((source, 0))
            s.connect((address, PORT))
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
            return data
    try:
        return b"hello6" in run_in_netns(public_ns, fetch)
    except OSError:
        return False


def pool_unreachable() -> bool:
    out = subprocess.run(["ip", "-6", "route", "show", "type", "unreachable", VPC_POOL], capture_output=True,
                         text=True, check=True).stdout
    return VPC_POOL.split("/")[0] in out


@pytest.fixture(scope="module")
def lab(ec2d, ec2) -> Iterator[dict[str, Any]]:
    public_ns = f"{ec2d.config.prefix}-public"
    vpc = ec2.create_vpc(CidrBlock="10.67.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    vpc_id = vpc["VpcId"]
    block = ipaddress.IPv6Network(vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"])
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.67.1.0/24",
                               Ipv6CidrBlock=str(next(block.subnets(new_prefix=64))))["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    eigw = ec2.create_egress_only_internet_gateway(VpcId=vpc_id)["EgressOnlyInternetGateway"][
        "EgressOnlyInternetGatewayId"]
    rtb = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                             {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0][
        "RouteTableId"]
    made = ec2.create_key_pair(KeyName=f"eigw-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
    sg = ec2.create_security_group(GroupName=f"eigw-{uuid.uuid4().hex[:4]}", Description="web", VpcId=vpc_id)["GroupId"]
    web = {"IpProtocol": "tcp", "FromPort": PORT, "ToPort": PORT, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[web])
    subprocess.run(["ip", "-n", public_ns, "addr", "add", f"{INTERNET6}/128", "dev", "lo", "nodad"], check=True)
    listener = Listener(public_ns)
    inst = ec2.run_instances(ImageId=tiny_image(ec2), MinCount=1, MaxCount=1, InstanceType="t3.nano",
                             KeyName=made["KeyName"], SubnetId=subnet, SecurityGroupIds=[sg], Ipv6AddressCount=1,
                             UserData=WEB)["Instances"][0]
    guest: Guest | None = None
    try:
        ec2.get_waiter("instance_running").wait(InstanceIds=[inst["InstanceId"]],
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        guest = ssh(instance_netns(ec2d, inst), inst["PrivateIpAddress"], private_key(made["KeyMaterial"]))
        (ni,) = ec2.describe_instances(InstanceIds=[inst["InstanceId"]])["Reservations"][0]["Instances"][0][
            "NetworkInterfaces"]
        address = ni["Ipv6Addresses"][0]["Ipv6Address"]
        until("the guest's IPv6 address and default route (DHCPv6, RA)", lambda: address in guest.run(
            "ip -6 addr show dev eth0 scope global 2>/dev/null || true") and "via fe80::" in guest.run(
            "ip -6 route show default 2>/dev/null || true"), timeout=180)
        vpc_ns = instance_netns(ec2d, inst)
        until("the guest's web server", lambda: in_to(vpc_ns, address, source=None), timeout=180)
        yield {"ec2": ec2, "vpc": vpc_id, "rtb": rtb, "igw": igw, "eigw": eigw, "sg": sg, "web": web,
               "guest": guest, "address": address, "public_ns": public_ns}
    finally:
        if guest is not None:
            guest.close()
        ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
        wait_state(ec2, inst["InstanceId"], "terminated", 300)
        listener.close()
        subprocess.run(["ip", "-n", public_ns, "addr", "del", f"{INTERNET6}/128", "dev", "lo"], check=False)
        for r in ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]:
            if r.get("DestinationIpv6CidrBlock") == "::/0":
                ec2.delete_route(RouteTableId=rtb, DestinationIpv6CidrBlock="::/0")
        if ec2.describe_egress_only_internet_gateways(Filters=[
                {"Name": "attachment.vpc-id", "Values": [vpc_id]}])["EgressOnlyInternetGateways"]:
            ec2.delete_egress_only_internet_gateway(EgressOnlyInternetGatewayId=eigw)
        ec2.delete_security_group(GroupId=sg)
        ec2.delete_key_pair(KeyName=made["KeyName"])
        ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
        ec2.delete_internet_gateway(InternetGatewayId=igw)
        ec2.delete_subnet(SubnetId=subnet)
        ec2.delete_vpc(VpcId=vpc_id)


def test_1_no_ipv6_route_neither_way(lab) -> None:
    assert out_from(lab["guest"]) is None
    assert not in_to(lab["public_ns"], lab["address"])
    assert pool_unreachable()


def test_2_internet_gateway_both_ways_security_group_applies(lab) -> None:
    ec2 = lab["ec2"]
    ec2.create_route(RouteTableId=lab["rtb"], DestinationIpv6CidrBlock="::/0", GatewayId=lab["igw"])
    assert until("the guest reaching the internet host", lambda: out_from(lab["guest"]), timeout=60) == lab["address"]
    assert in_to(lab["public_ns"], lab["address"])  # its global address, no NAT
    ec2.revoke_security_group_ingress(GroupId=lab["sg"], IpPermissions=[lab["web"]])
    try:
        assert not in_to(lab["public_ns"], lab["address"])  # the group decides what comes in
        assert out_from(lab["guest"]) == lab["address"]
    finally:
        ec2.authorize_security_group_ingress(GroupId=lab["sg"], IpPermissions=[lab["web"]])
    assert in_to(lab["public_ns"], lab["address"])
    assert pool_unreachable()


def test_3_egress_only_gateway_out_only(lab) -> None:
    ec2 = lab["ec2"]
    ec2.replace_route(RouteTableId=lab["rtb"], DestinationIpv6CidrBlock="::/0",
                      EgressOnlyInternetGatewayId=lab["eigw"])
    assert out_from(lab["guest"]) == lab["address"]  # out, and the replies back
    assert not in_to(lab["public_ns"], lab["address"])  # nothing from outside gets in (the group would allow it)
    started = time.monotonic()
    assert out_from(lab["guest"]) == lab["address"]
    assert time.monotonic() - started < 5
    assert pool_unreachable()


def test_4_deleted_egress_only_gateway_leaves_a_blackhole(lab) -> None:
    ec2 = lab["ec2"]
    ec2.delete_egress_only_internet_gateway(EgressOnlyInternetGatewayId=lab["eigw"])
    (route,) = [r for r in ec2.describe_route_tables(RouteTableIds=[lab["rtb"]])["RouteTables"][0]["Routes"]
                if r.get("DestinationIpv6CidrBlock") == "::/0"]
    assert route["State"] == "blackhole" and route["EgressOnlyInternetGatewayId"] == lab["eigw"]
    assert out_from(lab["guest"]) is None
    assert not in_to(lab["public_ns"], lab["address"])
    ec2.delete_route(RouteTableId=lab["rtb"], DestinationIpv6CidrBlock="::/0")
    assert out_from(lab["guest"]) is None
