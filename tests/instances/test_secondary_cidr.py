"""A secondary IPv4 VPC CIDR on real guests: guest A in a subnet of the primary block, guest B in a
subnet of the block AssociateVpcCidrBlock added. B gets its address by DHCP in the new block and
sees both blocks in its metadata; A and B reach each other's SSH port through the VPC namespace's
routing only once their security groups let the other block in; the root namespace holds the
fail-closed ``unreachable`` route of the block until it is disassociated."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from ec2d_server import tiny_image
from guests import instance_netns, private_key, ssh, wait_state
from test_metadata import GET_WITH, TOKEN
from test_vpc_peering import cidr_rule, reaches
from waiting import until

from orchestrator.drivers.network import routes

PRIMARY, SECONDARY = "10.161.0.0/16", "10.162.0.0/16"
SUBNETS = {"a": "10.161.1.0/24", "b": "10.162.1.0/24"}


def gateway(cidr: str) -> str:
    return cidr.replace(".0/24", ".1/32")  # the subnet's gateway: where the test's SSH comes from


@pytest.fixture(scope="module")
def pair(ec2d: Any, ec2: Any) -> Iterator[dict[str, Any]]:
    key = ec2.create_key_pair(KeyName=f"cidr-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
    vpc = ec2.create_vpc(CidrBlock=PRIMARY)["Vpc"]["VpcId"]
    assoc = ec2.associate_vpc_cidr_block(VpcId=vpc, CidrBlock=SECONDARY)["CidrBlockAssociation"]
    net: dict[str, Any] = {"vpc": vpc, "assoc": assoc["AssociationId"]}
    for side, cidr in SUBNETS.items():
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
        sg = ec2.create_security_group(GroupName=f"cidr-{side}", Description=side, VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=cidr_rule(gateway(cidr)))
        net[side] = {"subnet": subnet, "sg": sg}
    for side in SUBNETS:
        net[side]["inst"] = ec2.run_instances(
            ImageId=tiny_image(ec2), MinCount=1, MaxCount=1, InstanceType="t3.nano", KeyName=key["KeyName"],
            SubnetId=net[side]["subnet"], SecurityGroupIds=[net[side]["sg"]])["Instances"][0]
    ec2.get_waiter("instance_running").wait(InstanceIds=[net[s]["inst"]["InstanceId"] for s in SUBNETS],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    for side in SUBNETS:
        inst = net[side]["inst"]
        net[side]["ip"] = inst["PrivateIpAddress"]
        net[side]["guest"] = ssh(instance_netns(ec2d, inst), inst["PrivateIpAddress"],
                                 private_key(key["KeyMaterial"]))
    yield net
    for side in SUBNETS:
        net[side]["guest"].close()
    ec2.terminate_instances(InstanceIds=[net[s]["inst"]["InstanceId"] for s in SUBNETS])
    for side in SUBNETS:
        wait_state(ec2, net[side]["inst"]["InstanceId"], "terminated", 300)
    for side in SUBNETS:
        ec2.delete_security_group(GroupId=net[side]["sg"])
        ec2.delete_subnet(SubnetId=net[side]["subnet"])
    if net.get("assoc"):
        ec2.disassociate_vpc_cidr_block(AssociationId=net["assoc"])
    ec2.delete_vpc(VpcId=vpc)
    ec2.delete_key_pair(KeyName=key["KeyName"])


def test_guest_in_the_secondary_block_is_served(ec2d: Any, ec2: Any, pair: dict[str, Any]) -> None:
    b = pair["b"]
    assert b["ip"].startswith("10.162.1.")
    assert f"inet {b['ip']}/24" in b["guest"].run("ip -4 addr show eth0")  # leased by the VPC's dnsmasq
    mac = b["inst"]["NetworkInterfaces"][0]["MacAddress"]
    token = b["guest"].run(TOKEN)
    blocks = b["guest"].run(GET_WITH.format(token=token, path=f"meta-data/network/interfaces/macs/{mac}/"
                                                              "vpc-ipv4-cidr-blocks"))
    assert blocks.split() == [PRIMARY, SECONDARY, "rc=0"]
    assert SECONDARY in routes.list_unreachable(prefix=ec2d.config.prefix)
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [pair["vpc"]]}])["RouteTables"]
    assert {r["DestinationCidrBlock"] for r in tables[0]["Routes"] if r.get("GatewayId") == "local"} == {
        PRIMARY, SECONDARY}


def test_blocks_reach_each_other_only_where_groups_allow(ec2: Any, pair: dict[str, Any]) -> None:
    a, b = pair["a"], pair["b"]
    assert not reaches(a["guest"], b["ip"]) and not reaches(b["guest"], a["ip"])
    ec2.authorize_security_group_ingress(GroupId=b["sg"], IpPermissions=cidr_rule(PRIMARY))
    until("a to reach b", lambda: reaches(a["guest"], b["ip"]), timeout=120, every=1)  # primary -> secondary, routed by the VPC namespace
    assert not reaches(b["guest"], a["ip"])  # A's group still lets nothing in from the new block
    ec2.authorize_security_group_ingress(GroupId=a["sg"], IpPermissions=cidr_rule(SECONDARY))
    until("b to reach a", lambda: reaches(b["guest"], a["ip"]), timeout=120, every=1)  # and back


def test_disassociate_refused_while_used_then_route_goes(ec2d: Any, ec2: Any, pair: dict[str, Any]) -> None:
    with pytest.raises(ec2.exceptions.ClientError) as info:
        ec2.disassociate_vpc_cidr_block(AssociationId=pair["assoc"])
    assert info.value.response["Error"]["Code"] == "InvalidCidrBlock.InUse"
    other = ec2.describe_vpcs(VpcIds=[pair["vpc"]])["Vpcs"][0]
    assert [a["CidrBlockState"]["State"] for a in other["CidrBlockAssociationSet"]] == ["associated", "associated"]
    # a second block with nothing in it goes at once, with its root route
    extra = ec2.associate_vpc_cidr_block(VpcId=pair["vpc"], CidrBlock="10.163.0.0/24")["CidrBlockAssociation"]
    assert "10.163.0.0/24" in routes.list_unreachable(prefix=ec2d.config.prefix)
    ec2.disassociate_vpc_cidr_block(AssociationId=extra["AssociationId"])
    assert "10.163.0.0/24" not in routes.list_unreachable(prefix=ec2d.config.prefix)
