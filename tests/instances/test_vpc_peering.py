"""VPC peering on real guests: one guest in each of three VPCs (A, B, C; B is peered with A and
with C). A reaches B's SSH port only once the connection is active, both route tables route the
peer's CIDR to it and B's security group lets A in (by A's CIDR, or by a rule naming A's security
group across the peering); without the route on B's side (the replies' way back) it fails; C,
peered only with B, never reaches A through B (no transit), even with every route and rule in
place for it. Overlapping CIDRs end the request ``failed``. The guests serve every test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from ec2d_server import tiny_image
from guests import instance_netns, private_key, ssh, wait_state
from waiting import until

CIDRS = {"a": "10.151.0.0/16", "b": "10.152.0.0/16", "c": "10.153.0.0/16"}
SSH_ANYWHERE = [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]


def cidr_rule(cidr: str) -> list[dict[str, Any]]:
    return [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": cidr}]}]


def reaches(guest: Any, ip: str) -> bool:
    """The guest opens a TCP connection to ``ip``'s SSH port (dropbear's banner comes back)."""
    return "SSH-" in guest.run(f"nc -w 4 {ip} 22 </dev/null 2>/dev/null | head -c 8; true", check=False)

def main_table(ec2: Any, vpc: str) -> str:
    return str(ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"][0][
        "RouteTableId"])


def peer(ec2: Any, vpc: str, other: str) -> str:
    pcx = ec2.create_vpc_peering_connection(VpcId=vpc, PeerVpcId=other)["VpcPeeringConnection"]
    return str(pcx["VpcPeeringConnectionId"])


@pytest.fixture(scope="module")
def three(ec2d, ec2) -> Iterator[dict[str, Any]]:
    key = ec2.create_key_pair(KeyName=f"pcx-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
    net: dict[str, Any] = {"key": key}
    for side, cidr in CIDRS.items():
        vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr.replace(".0.0/16", ".1.0/24"),
                                   AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
        sg = ec2.create_security_group(GroupName=f"pcx-{side}", Description=side, VpcId=vpc)["GroupId"]
        if side != "b":  # B is only ever reached through the rules the tests set
            ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=SSH_ANYWHERE)
        net[side] = {"vpc": vpc, "subnet": subnet, "sg": sg, "rtb": main_table(ec2, vpc)}
    for side in CIDRS:
        net[side]["inst"] = ec2.run_instances(
            ImageId=tiny_image(ec2), MinCount=1, MaxCount=1, InstanceType="t3.nano", KeyName=key["KeyName"],
            SubnetId=net[side]["subnet"], SecurityGroupIds=[net[side]["sg"]])["Instances"][0]
    ec2.get_waiter("instance_running").wait(InstanceIds=[net[s]["inst"]["InstanceId"] for s in CIDRS],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    for side in ("a", "c"):
        inst = net[side]["inst"]
        net[side]["guest"] = ssh(instance_netns(ec2d, inst), inst["PrivateIpAddress"],
                                 private_key(key["KeyMaterial"]))
    net["b_ip"] = net["b"]["inst"]["PrivateIpAddress"]
    net["a_ip"] = net["a"]["inst"]["PrivateIpAddress"]
    yield net
    for side in ("a", "c"):
        net[side]["guest"].close()
    ec2.terminate_instances(InstanceIds=[net[s]["inst"]["InstanceId"] for s in CIDRS])
    for side in CIDRS:
        wait_state(ec2, net[side]["inst"]["InstanceId"], "terminated", 300)
    for pcx in ec2.describe_vpc_peering_connections()["VpcPeeringConnections"]:
        if pcx["Status"]["Code"] in ("active", "pending-acceptance") and pcx["RequesterVpcInfo"]["VpcId"] in {
                net[s]["vpc"] for s in CIDRS}:
            ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx["VpcPeeringConnectionId"])
    for side in ("b", "a", "c"):  # B's rules name A's group: B's group goes first
        ec2.delete_security_group(GroupId=net[side]["sg"])
    for side in CIDRS:
        ec2.delete_subnet(SubnetId=net[side]["subnet"])
        ec2.delete_vpc(VpcId=net[side]["vpc"])
    ec2.delete_key_pair(KeyName=key["KeyName"])


def test_reach_only_when_active_routed_both_ways_and_allowed(ec2d, ec2, three):
    a, b, guest, b_ip = three["a"], three["b"], three["a"]["guest"], three["b_ip"]
    ec2.authorize_security_group_ingress(GroupId=b["sg"], IpPermissions=cidr_rule(CIDRS["a"]))
    pcx = peer(ec2, a["vpc"], b["vpc"])
    three["ab"] = pcx
    # routes may point at a pending connection: blackholes until it is accepted
    ec2.create_route(RouteTableId=a["rtb"], DestinationCidrBlock=CIDRS["b"], VpcPeeringConnectionId=pcx)
    ec2.create_route(RouteTableId=b["rtb"], DestinationCidrBlock=CIDRS["a"], VpcPeeringConnectionId=pcx)
    assert not reaches(guest, b_ip)
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    until("B over the peering", lambda: reaches(guest, b_ip), timeout=120, every=1)  # a freshly booted B may still be starting dropbear

    # no route on B's side: the replies have no way back
    ec2.delete_route(RouteTableId=b["rtb"], DestinationCidrBlock=CIDRS["a"])
    assert not reaches(guest, b_ip)
    ec2.create_route(RouteTableId=b["rtb"], DestinationCidrBlock=CIDRS["a"], VpcPeeringConnectionId=pcx)
    assert reaches(guest, b_ip)
    # no route on A's side either
    ec2.delete_route(RouteTableId=a["rtb"], DestinationCidrBlock=CIDRS["b"])
    assert not reaches(guest, b_ip)
    ec2.create_route(RouteTableId=a["rtb"], DestinationCidrBlock=CIDRS["b"], VpcPeeringConnectionId=pcx)
    assert reaches(guest, b_ip)


def test_security_group_rule_naming_the_peers_group(ec2d, ec2, three):
    a, b, guest, b_ip = three["a"], three["b"], three["a"]["guest"], three["b_ip"]
    until("B over the peering", lambda: reaches(guest, b_ip), timeout=120, every=1)
    ec2.revoke_security_group_ingress(GroupId=b["sg"], IpPermissions=cidr_rule(CIDRS["a"]))
    assert not reaches(guest, b_ip)  # B's group no longer lets A in
    ec2.authorize_security_group_ingress(GroupId=b["sg"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{"GroupId": a["sg"]}]}])
    assert reaches(guest, b_ip)  # A's instance is a member of A's group, known in B's ruleset


def test_no_transit_through_a_peered_vpc(ec2d, ec2, three):
    a, b, c = three["a"], three["b"], three["c"]
    guest_c, a_ip, b_ip = c["guest"], three["a_ip"], three["b_ip"]
    cb = peer(ec2, c["vpc"], b["vpc"])
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=cb)
    ec2.create_route(RouteTableId=c["rtb"], DestinationCidrBlock=CIDRS["b"], VpcPeeringConnectionId=cb)
    ec2.create_route(RouteTableId=b["rtb"], DestinationCidrBlock=CIDRS["c"], VpcPeeringConnectionId=cb)
    ec2.authorize_security_group_ingress(GroupId=b["sg"], IpPermissions=cidr_rule(CIDRS["c"]))
    until("B from C", lambda: reaches(guest_c, b_ip), timeout=120, every=1)  # C and B are peered
    # every route C -> A would need, through B, and back (A routes C's CIDR to its peering with B)
    ec2.create_route(RouteTableId=c["rtb"], DestinationCidrBlock=CIDRS["a"], VpcPeeringConnectionId=cb)
    ec2.create_route(RouteTableId=a["rtb"], DestinationCidrBlock=CIDRS["c"], VpcPeeringConnectionId=three["ab"])
    assert reaches(a["guest"], b_ip)  # A -> B still works
    assert not reaches(guest_c, a_ip)  # but B forwards nothing from one peering to another


def test_overlapping_cidrs_fail(ec2d, ec2, three):
    overlapping = ec2.create_vpc(CidrBlock="10.151.128.0/20")["Vpc"]["VpcId"]
    try:
        pcx = peer(ec2, three["a"]["vpc"], overlapping)
        shown = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])["VpcPeeringConnections"][0]
        assert shown["Status"] == {"Code": "failed", "Message": "Overlapping CIDR range"}
    finally:
        ec2.delete_vpc(VpcId=overlapping)
