"""Routes to an instance on real guests: a client and a server in two subnets whose route tables
send each other's subnet (routes more specific than local) to a router instance in a third subnet
with ``ip_forward`` on. The traffic passes through the router only once its source/destination
check is off (its forward counter grows, the replies' TTL drops by the router's hop and the VPC
router's second one); with the check on (the default) the router's ENI gets nothing addressed to
others (its forward counter stays);
when the router stops the routes turn ``blackhole`` and nothing passes, when it starts again they
are ``active`` and traffic flows through it again; without the routes the subnets talk directly.
The guests serve the module's one test, in that order."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from ec2d_server import tiny_image
from guests import Guest, instance_netns, private_key, ssh, wait_state
from waiting import until

from orchestrator.drivers.network.names import bridge_name
from orchestrator.drivers.network.vpc.subnet_routes import current

CIDR = "10.163.0.0/16"
SUBNETS = {"client": "10.163.1.0/24", "server": "10.163.2.0/24", "router": "10.163.3.0/24"}


def reply_ttl(guest: Guest, ip: str) -> int | None:
    """The TTL of the echo reply (None: no reply)."""
    out = guest.run(f"sudo ping -c 1 -W 3 {ip} 2>&1; true", check=False)
    m = re.search(r"ttl=(\d+)", out)
    return int(m.group(1)) if m else None


def forwarded(router: Guest) -> int:
    """The router guest's IPv4 ForwDatagrams counter."""
    head, values = [line.split() for line in router.run("cat /proc/net/snmp").splitlines()
                    if line.startswith("Ip:")][:2]
    return int(values[head.index("ForwDatagrams")])


def forward_on(router: Guest) -> None:
    router.run("sudo sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'")


def route_states(ec2: Any, tables: dict[str, str]) -> set[str]:
    shown = ec2.describe_route_tables(RouteTableIds=list(tables.values()))["RouteTables"]
    return {r["State"] for t in shown for r in t["Routes"] if r.get("NetworkInterfaceId")}


@pytest.fixture(scope="module")
def net(ec2d, ec2) -> Iterator[dict[str, Any]]:
    key = ec2.create_key_pair(KeyName=f"rtr-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
    vpc = ec2.create_vpc(CidrBlock=CIDR)["Vpc"]["VpcId"]
    subnets = {name: ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
               for name, cidr in SUBNETS.items()}
    sg = ec2.create_security_group(GroupName="rtr-vpc", Description="all from the VPC", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": CIDR}]}])
    insts = {name: ec2.run_instances(ImageId=tiny_image(ec2), MinCount=1, MaxCount=1, InstanceType="t3.nano",
                                     KeyName=key["KeyName"], SubnetId=subnet, SecurityGroupIds=[sg])["Instances"][0]
             for name, subnet in subnets.items()}
    ec2.get_waiter("instance_running").wait(InstanceIds=[i["InstanceId"] for i in insts.values()],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    tables = {}
    for name in ("client", "server"):
        tables[name] = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=tables[name], SubnetId=subnets[name])
    pkey = private_key(key["KeyMaterial"])
    ns = instance_netns(ec2d, insts["client"])
    guests = {name: ssh(ns, insts[name]["PrivateIpAddress"], pkey) for name in ("client", "router")}
    yield {"vpc": vpc, "subnets": subnets, "insts": insts, "tables": tables, "guests": guests, "ns": ns,
           "key": pkey}
    for g in guests.values():
        g.close()
    ids = [i["InstanceId"] for i in insts.values()]
    ec2.terminate_instances(InstanceIds=ids)
    for iid in ids:
        wait_state(ec2, iid, "terminated", 300)
    for rtb in tables.values():
        for a in ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Associations"]:
            ec2.disassociate_route_table(AssociationId=a["RouteTableAssociationId"])
        ec2.delete_route_table(RouteTableId=rtb)
    ec2.delete_security_group(GroupId=sg)
    for subnet in subnets.values():
        ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc)
    ec2.delete_key_pair(KeyName=key["KeyName"])


def test_traffic_through_a_router_instance(ec2, net: dict[str, Any]) -> None:
    client, router = net["guests"]["client"], net["guests"]["router"]
    insts, tables = net["insts"], net["tables"]
    server_ip, router_id = insts["server"]["PrivateIpAddress"], insts["router"]["InstanceId"]
    router_eni = insts["router"]["NetworkInterfaces"][0]["NetworkInterfaceId"]
    # directly: the VPC router is the one hop (waiting for the server guest to have booted)
    until("the server answers", lambda: reply_ttl(client, server_ip) == 63, timeout=600, every=2)
    forward_on(router)
    ec2.create_route(RouteTableId=tables["client"], DestinationCidrBlock=SUBNETS["server"], InstanceId=router_id)
    ec2.create_route(RouteTableId=tables["server"], DestinationCidrBlock=SUBNETS["client"],
                     NetworkInterfaceId=router_eni)
    assert route_states(ec2, tables) == {"active"}

    # the check on (the default): the router's ENI receives nothing addressed to others
    before = forwarded(router)
    assert reply_ttl(client, server_ip) is None
    assert forwarded(router) == before

    ec2.modify_instance_attribute(InstanceId=router_id, SourceDestCheck={"Value": False})
    before = forwarded(router)
    assert reply_ttl(client, server_ip) == 61  # VPC router, the router instance, VPC router again
    assert forwarded(router) >= before + 2  # the request and the reply
    assert "SSH-" in client.run(f"nc -w 4 {server_ip} 22 </dev/null 2>/dev/null | head -c 8; true", check=False)

    ec2.stop_instances(InstanceIds=[router_id])
    router.close()
    wait_state(ec2, router_id, "stopped", 300)
    assert route_states(ec2, tables) == {"blackhole"}
    # the VPC's sync follows the state change that the waiter saw: wait for it, not for a time
    until("the kernel route turns blackhole", lambda: current(net["ns"])[bridge_name(net["subnets"]["client"])]
          == [(SUBNETS["server"], None)], timeout=60, every=0.5)
    assert reply_ttl(client, server_ip) is None

    ec2.start_instances(InstanceIds=[router_id])
    wait_state(ec2, router_id, "running", 300)
    assert route_states(ec2, tables) == {"active"}
    router = net["guests"]["router"] = ssh(net["ns"], insts["router"]["PrivateIpAddress"], net["key"])
    forward_on(router)  # a fresh boot: forwarding is off again (the check stays off: it is the ENI's)
    until("traffic through the restarted router", lambda: reply_ttl(client, server_ip) == 61, timeout=60, every=1)

    for name, other in (("client", "server"), ("server", "client")):
        ec2.delete_route(RouteTableId=tables[name], DestinationCidrBlock=SUBNETS[other])
    assert reply_ttl(client, server_ip) == 63
