"""Secondary IPv4 VPC CIDRs through boto3 (fake drivers, in process): the association's shapes and
states, DescribeVpcs' set and filters, EC2's rules and errors, subnets in the new block, a local
route per block in every route table, and the network driver following (the root namespace's
``unreachable`` route, subnets accepted) before the call answers."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from loopback_api import LoopbackApi, api_only

from orchestrator.drivers.network.vpc.fake import FakeVpcNetwork


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackApi]:
    with api_only(tmp_path_factory.mktemp("cidrs")) as server:
        yield server


@pytest.fixture(scope="module")
def ec2(api: LoopbackApi) -> Any:
    return api.client("ec2")


@pytest.fixture
def vpc(ec2: Any) -> Iterator[str]:
    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    yield vpc_id
    for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]:
        ec2.delete_subnet(SubnetId=s["SubnetId"])
    ec2.delete_vpc(VpcId=vpc_id)


def network(api: LoopbackApi) -> FakeVpcNetwork:
    assert api.runtime is not None
    net = api.runtime.parts.networks["us-east-1"]
    assert isinstance(net, FakeVpcNetwork)
    return net


def refused(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def local_routes(ec2: Any, vpc_id: str) -> set[tuple[str, str]]:
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    return {(t["RouteTableId"], r["DestinationCidrBlock"]) for t in tables for r in t["Routes"]
            if r.get("GatewayId") == "local"}


def test_associate_describe_filter_disassociate(api: LoopbackApi, ec2: Any, vpc: str) -> None:
    extra_table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    out = ec2.associate_vpc_cidr_block(VpcId=vpc, CidrBlock="10.21.0.0/16")
    assoc = out["CidrBlockAssociation"]
    assert out["VpcId"] == vpc and assoc["CidrBlock"] == "10.21.0.0/16"
    assert assoc["AssociationId"].startswith("vpc-cidr-assoc-") and assoc["CidrBlockState"]["State"] == "associating"
    shown = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]
    assert shown["CidrBlock"] == "10.20.0.0/16"
    assert [(a["CidrBlock"], a["CidrBlockState"]["State"]) for a in shown["CidrBlockAssociationSet"]] == [
        ("10.20.0.0/16", "associated"), ("10.21.0.0/16", "associated")]
    for name, value in (("cidr-block-association.cidr-block", "10.21.0.0/16"),
                        ("cidr-block-association.association-id", assoc["AssociationId"]),
                        ("cidr-block-association.state", "associated")):
        found = ec2.describe_vpcs(Filters=[{"Name": name, "Values": [value]}])["Vpcs"]
        assert vpc in [v["VpcId"] for v in found], name
    assert ec2.describe_vpcs(Filters=[{"Name": "cidr-block-association.cidr-block",
                                       "Values": ["10.99.0.0/16"]}])["Vpcs"] == []
    # the network followed before the answer; every table (the main one and the new one) routes it locally
    assert network(api).vpcs[vpc].secondary == ["10.21.0.0/16"] and "10.21.0.0/16" in network(api).unreachable
    main = {t for t, _ in local_routes(ec2, vpc)} - {extra_table}
    assert local_routes(ec2, vpc) == {(t, c) for t in (*main, extra_table) for c in ("10.20.0.0/16", "10.21.0.0/16")}
    # a table created afterwards has both local routes too
    later = ec2.create_route_table(VpcId=vpc)["RouteTable"]
    assert {r["DestinationCidrBlock"] for r in later["Routes"] if r.get("GatewayId") == "local"} == {
        "10.20.0.0/16", "10.21.0.0/16"}
    # subnets may use the block; the block cannot go while one does
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.21.3.0/24")["Subnet"]
    assert network(api).vpcs[vpc].subnets[sub["SubnetId"]] == "10.21.3.0/24"
    code, msg = refused(ec2.disassociate_vpc_cidr_block, AssociationId=assoc["AssociationId"])
    assert code == "InvalidCidrBlock.InUse" and msg == f"The vpc {vpc} currently has a subnet within CIDR block 10.21.0.0/16"
    ec2.delete_subnet(SubnetId=sub["SubnetId"])
    gone = ec2.disassociate_vpc_cidr_block(AssociationId=assoc["AssociationId"])
    assert gone["VpcId"] == vpc and gone["CidrBlockAssociation"]["CidrBlockState"]["State"] == "disassociating"
    assert [a["CidrBlock"] for a in ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["CidrBlockAssociationSet"]] == [
        "10.20.0.0/16"]
    assert network(api).vpcs[vpc].secondary == [] and "10.21.0.0/16" not in network(api).unreachable
    assert {c for _, c in local_routes(ec2, vpc)} == {"10.20.0.0/16"}
    code, _ = refused(ec2.create_subnet, VpcId=vpc, CidrBlock="10.21.3.0/24")
    assert code == "InvalidSubnet.Range"
    for table in (extra_table, later["RouteTableId"]):
        ec2.delete_route_table(RouteTableId=table)


def test_primary_and_unknown_associations_refused(ec2: Any, vpc: str) -> None:
    primary = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["CidrBlockAssociationSet"][0]["AssociationId"]
    assert refused(ec2.disassociate_vpc_cidr_block, AssociationId=primary) == (
        "OperationNotPermitted", f"The vpc CIDR block with association ID {primary} may not be disassociated. "
        "It is the primary IPv4 CIDR block of the VPC")
    missing = "vpc-cidr-assoc-0123456789abcdef0"
    assert refused(ec2.disassociate_vpc_cidr_block, AssociationId=missing) == (
        "InvalidVpcCidrBlockAssociationID.NotFound", f"The association ID '{missing}' does not exist")
    assert refused(ec2.disassociate_vpc_cidr_block, AssociationId="bogus")[0] == \
        "InvalidVpcCidrBlockAssociationID.Malformed"
    assert refused(ec2.associate_vpc_cidr_block, VpcId="vpc-0123456789abcdef0",
                   CidrBlock="10.30.0.0/16")[0] == "InvalidVpcID.NotFound"


@pytest.mark.parametrize(("cidr", "why"), [
    ("10.20.128.0/17", "conflicts with another CIDR block"),  # inside the primary
    ("10.20.0.0/16", "conflicts with another CIDR block"),  # the primary itself
    ("10.0.0.0/8", "is invalid"),  # larger than /16
    ("10.30.0.0/15", "is invalid"),  # larger than /16
    ("10.30.0.0/29", "is invalid"),  # smaller than /28
    ("bogus", "is invalid"),
    ("172.16.0.0/16", "is restricted"),  # another RFC 1918 range than the primary's
    ("192.168.0.0/16", "is restricted"),
    ("198.19.0.0/16", "is restricted"),
])
def test_ranges_refused(ec2: Any, vpc: str, cidr: str, why: str) -> None:
    code, msg = refused(ec2.associate_vpc_cidr_block, VpcId=vpc, CidrBlock=cidr)
    assert code == "InvalidVpc.Range" and why in msg and f"'{cidr}'" in msg


def test_public_and_shared_ranges_allowed_and_limit(api: LoopbackApi, ec2: Any, vpc: str) -> None:
    made = [ec2.associate_vpc_cidr_block(VpcId=vpc, CidrBlock=c)["CidrBlockAssociation"]["AssociationId"]
            for c in ("100.64.0.0/16", "10.40.0.0/16", "10.41.0.0/24", "10.42.0.0/28")]
    assert network(api).vpcs[vpc].secondary == ["100.64.0.0/16", "10.40.0.0/16", "10.41.0.0/24", "10.42.0.0/28"]
    assert refused(ec2.associate_vpc_cidr_block, VpcId=vpc, CidrBlock="10.43.0.0/16") == (
        "CidrLimitExceeded", f"This network '{vpc}' has met its maximum number of allowed CIDRs: 5")
    for assoc in made:
        ec2.disassociate_vpc_cidr_block(AssociationId=assoc)
    assert network(api).vpcs[vpc].secondary == []


def test_route_destination_limits_the_block(ec2: Any, vpc: str) -> None:
    """A block the same or larger than a route's destination is refused; a smaller one is not."""
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    try:
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="10.50.0.0/24", GatewayId=igw)
        code, msg = refused(ec2.associate_vpc_cidr_block, VpcId=vpc, CidrBlock="10.50.0.0/16")
        assert code == "InvalidVpc.Range" and table in msg
        ok = ec2.associate_vpc_cidr_block(VpcId=vpc, CidrBlock="10.50.0.0/25")["CidrBlockAssociation"]
        ec2.disassociate_vpc_cidr_block(AssociationId=ok["AssociationId"])
    finally:
        ec2.delete_route_table(RouteTableId=table)
        ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        ec2.delete_internet_gateway(InternetGatewayId=igw)


def test_host_route_conflict_refused(api: LoopbackApi, ec2: Any, vpc: str) -> None:
    """As CreateVpc's: a block whose unreachable route would shadow ec2d's public pool is refused."""
    pool = api.backend.config.public_pool
    block = str(next(ipaddress.ip_network(pool).subnets(new_prefix=16)))  # publicly routable: EC2 allows it
    code, msg = refused(ec2.associate_vpc_cidr_block, VpcId=vpc, CidrBlock=block)
    assert code == "InvalidVpc.Range" and "public address pool" in msg


def test_ipam_parameters_refused_and_a_block_is_required(ec2: Any, vpc: str) -> None:
    """(IPv6's AmazonProvidedIpv6CidrBlock is served: tests/ipv6.)"""
    code, _ = refused(ec2.associate_vpc_cidr_block, VpcId=vpc, Ipv4IpamPoolId="ipam-pool-0123456789abcdef0")
    assert code == "UnsupportedOperation"
    assert refused(ec2.associate_vpc_cidr_block, VpcId=vpc) == ("MissingParameter",
                                                                 "The request must contain the parameter CidrBlock")


def test_peering_follows_the_blocks(api: LoopbackApi, ec2: Any, vpc: str) -> None:
    """The peer's link routes a block the VPC adds (and its table may send it there) and drops it when
    the block goes; a new peering with a VPC whose secondary block overlaps fails."""
    peer = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    clash = ec2.create_vpc(CidrBlock="10.62.0.0/16")["Vpc"]["VpcId"]
    pcx = ec2.create_vpc_peering_connection(VpcId=vpc, PeerVpcId=peer)["VpcPeeringConnection"][
        "VpcPeeringConnectionId"]
    try:
        ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
        table = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [peer]}])["RouteTables"][0]
        ec2.create_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="10.21.0.0/16",
                         VpcPeeringConnectionId=pcx)
        sub = ec2.create_subnet(VpcId=peer, CidrBlock="10.60.1.0/24")["Subnet"]["SubnetId"]
        code, msg = refused(ec2.associate_vpc_cidr_block, VpcId=vpc, CidrBlock="10.60.0.0/17")
        assert code == "InvalidVpc.Range" and pcx in msg  # the peer's block
        assoc = ec2.associate_vpc_cidr_block(VpcId=vpc, CidrBlock="10.21.0.0/16")["CidrBlockAssociation"]
        [link] = network(api).vpcs[peer].peerings
        assert link.secondary_cidrs == ("10.21.0.0/16",)
        assert ("10.60.1.0/24", ("10.21.0.0/16",)) in link.allowed  # the peer's table sends it over
        ec2.disassociate_vpc_cidr_block(AssociationId=assoc["AssociationId"])
        [link] = network(api).vpcs[peer].peerings
        assert link.secondary_cidrs == () and not link.allowed
        ec2.delete_subnet(SubnetId=sub)
        extra = ec2.associate_vpc_cidr_block(VpcId=clash, CidrBlock="10.60.128.0/17")["CidrBlockAssociation"]
        failed = ec2.create_vpc_peering_connection(VpcId=clash, PeerVpcId=peer)["VpcPeeringConnection"]
        status = ec2.describe_vpc_peering_connections(
            VpcPeeringConnectionIds=[failed["VpcPeeringConnectionId"]])["VpcPeeringConnections"][0]["Status"]
        assert status["Code"] == "failed"
        ec2.disassociate_vpc_cidr_block(AssociationId=extra["AssociationId"])
    finally:
        ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx)
        ec2.delete_vpc(VpcId=peer)
        ec2.delete_vpc(VpcId=clash)
