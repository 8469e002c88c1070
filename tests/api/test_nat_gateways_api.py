"""NAT gateways and the completed route tables through boto3, on an API-only server (fake
drivers): shapes, states, EC2's error codes, blackhole routes, association replacement. The
traffic itself is tested on real guests in tests/instances/test_nat_gateway.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from ec2d_server import RunningEc2d, start_ec2d


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEc2d]:
    server = start_ec2d(tmp_path_factory.mktemp("nat-api") / "data", instances=False, build_images=False,
                        regions={"us-east-1": ["a", "b"]})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def net(api: RunningEc2d) -> dict[str, Any]:
    ec2 = api.client()
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    pub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    priv = ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.2.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                              {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]
    ec2.create_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    return {"ec2": ec2, "vpc": vpc, "pub": pub, "priv": priv, "igw": igw, "main": main}


def code(info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(info.value.response["Error"]["Code"])


def test_create_describe_delete_and_the_addresses(net: dict[str, Any]) -> None:
    ec2 = net["ec2"]
    eip = ec2.allocate_address(Domain="vpc")
    made = ec2.create_nat_gateway(SubnetId=net["pub"], AllocationId=eip["AllocationId"], ClientToken="tok-1",
                                  TagSpecifications=[{"ResourceType": "natgateway",
                                                      "Tags": [{"Key": "Name", "Value": "n1"}]}])
    gw = made["NatGateway"]
    assert made["ClientToken"] == "tok-1" and gw["State"] == "pending" and gw["ConnectivityType"] == "public"
    assert gw["NatGatewayId"].startswith("nat-") and gw["VpcId"] == net["vpc"] and gw["SubnetId"] == net["pub"]
    [addr] = gw["NatGatewayAddresses"]
    assert addr["AllocationId"] == eip["AllocationId"] and addr["PublicIp"] == eip["PublicIp"] and addr["IsPrimary"]
    assert addr["PrivateIp"].startswith("10.77.1.") and addr["NetworkInterfaceId"].startswith("eni-")
    again = ec2.create_nat_gateway(SubnetId=net["pub"], AllocationId=eip["AllocationId"], ClientToken="tok-1")
    assert again["NatGateway"]["NatGatewayId"] == gw["NatGatewayId"]  # idempotent by ClientToken
    ec2.get_waiter("nat_gateway_available").wait(NatGatewayIds=[gw["NatGatewayId"]],
                                                 WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    shown = ec2.describe_nat_gateways(Filter=[{"Name": "tag:Name", "Values": ["n1"]}])["NatGateways"]
    assert [g["NatGatewayId"] for g in shown] == [gw["NatGatewayId"]] and shown[0]["State"] == "available"
    assert shown[0]["Tags"] == [{"Key": "Name", "Value": "n1"}]
    ec2.create_tags(Resources=[gw["NatGatewayId"]], Tags=[{"Key": "team", "Value": "net"}])
    tagged = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [gw["NatGatewayId"]]}])["Tags"]
    assert {(t["Key"], t["ResourceType"]) for t in tagged} == {("Name", "natgateway"), ("team", "natgateway")}
    for name, value in (("subnet-id", net["pub"]), ("vpc-id", net["vpc"]), ("state", "available"),
                        ("nat-gateway-id", gw["NatGatewayId"])):
        assert ec2.describe_nat_gateways(Filter=[{"Name": name, "Values": [value]}])["NatGateways"]
    assert not ec2.describe_nat_gateways(Filter=[{"Name": "subnet-id", "Values": [net["priv"]]}])["NatGateways"]
    eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[addr["NetworkInterfaceId"]])["NetworkInterfaces"][0]
    assert eni["InterfaceType"] == "nat_gateway" and eni["RequesterManaged"] and eni["Status"] == "in-use"
    shown_eip = ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"][0]
    assert shown_eip["NetworkInterfaceId"] == addr["NetworkInterfaceId"] and shown_eip["AssociationId"]
    assert shown_eip["PrivateIpAddress"] == addr["PrivateIp"]
    with pytest.raises(ClientError) as info:
        ec2.release_address(AllocationId=eip["AllocationId"])
    assert code(info) == "InvalidIPAddress.InUse"
    with pytest.raises(ClientError) as info:
        ec2.create_nat_gateway(SubnetId=net["priv"], AllocationId=eip["AllocationId"])
    assert code(info) == "Resource.AlreadyAssociated"
    with pytest.raises(ClientError) as info:
        ec2.detach_internet_gateway(InternetGatewayId=net["igw"], VpcId=net["vpc"])
    assert code(info) == "DependencyViolation"  # the gateway's address is mapped

    ec2.delete_nat_gateway(NatGatewayId=gw["NatGatewayId"])
    ec2.get_waiter("nat_gateway_deleted").wait(NatGatewayIds=[gw["NatGatewayId"]],
                                               WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    gone = ec2.describe_nat_gateways(NatGatewayIds=[gw["NatGatewayId"]])["NatGateways"][0]
    assert gone["State"] == "deleted" and "DeleteTime" in gone
    assert "AssociationId" not in ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"][0]
    assert not ec2.describe_network_interfaces(
        Filters=[{"Name": "network-interface-id", "Values": [addr["NetworkInterfaceId"]]}])["NetworkInterfaces"]
    with pytest.raises(ClientError) as info:
        ec2.delete_nat_gateway(NatGatewayId=gw["NatGatewayId"])
    assert code(info) == "NatGatewayNotFound"
    ec2.release_address(AllocationId=eip["AllocationId"])


def test_create_errors(net: dict[str, Any]) -> None:
    ec2 = net["ec2"]
    eip = ec2.allocate_address(Domain="vpc")
    cases = [
        ({"SubnetId": "subnet-0123456789abcdef0", "AllocationId": eip["AllocationId"]}, "InvalidSubnetID.NotFound"),
        ({"SubnetId": net["pub"], "AllocationId": "eipalloc-0123456789abcdef0"}, "InvalidAllocationID.NotFound"),
        ({"SubnetId": net["pub"]}, "MissingParameter"),
        ({"SubnetId": net["pub"], "AllocationId": eip["AllocationId"], "ConnectivityType": "private"},
         "InvalidParameterCombination"),
        ({"SubnetId": net["pub"], "AllocationId": eip["AllocationId"], "SecondaryPrivateIpAddressCount": 2},
         "UnsupportedOperation"),  # said plainly, never ignored
    ]
    for kwargs, expected in cases:
        with pytest.raises(ClientError) as info:
            ec2.create_nat_gateway(**kwargs)
        assert code(info) == expected, kwargs
    for call in (lambda: ec2.describe_nat_gateways(NatGatewayIds=["nat-0123456789abcdef0"]),
                 lambda: ec2.delete_nat_gateway(NatGatewayId="nat-0123456789abcdef0")):
        with pytest.raises(ClientError) as info:
            call()
        assert code(info) == "NatGatewayNotFound"
    with pytest.raises(ClientError) as info:
        ec2.delete_nat_gateway(NatGatewayId="nat-xyz")
    assert code(info) == "NatGatewayMalformed"
    private = ec2.create_nat_gateway(SubnetId=net["priv"], ConnectivityType="private")["NatGateway"]
    assert private["ConnectivityType"] == "private" and "PublicIp" not in private["NatGatewayAddresses"][0]
    ec2.delete_nat_gateway(NatGatewayId=private["NatGatewayId"])
    ec2.release_address(AllocationId=eip["AllocationId"])


def test_routes_to_nat_gateways_replace_and_blackhole(net: dict[str, Any]) -> None:
    ec2 = net["ec2"]
    eip = ec2.allocate_address(Domain="vpc")
    gw = ec2.create_nat_gateway(SubnetId=net["pub"], AllocationId=eip["AllocationId"])["NatGateway"]["NatGatewayId"]
    rtb = ec2.create_route_table(VpcId=net["vpc"])["RouteTable"]["RouteTableId"]
    with pytest.raises(ClientError) as info:
        ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", NatGatewayId="nat-0123456789abcdef0")
    assert code(info) == "InvalidNatGatewayID.NotFound"
    with pytest.raises(ClientError) as info:
        ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=gw)
    assert code(info) == "InvalidGatewayID.NotFound"  # a NAT gateway goes in NatGatewayId
    with pytest.raises(ClientError) as info:
        ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=gw)
    assert code(info) == "InvalidParameterValue"  # no route to replace: CreateRoute first
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=net["igw"])
    ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=gw)
    routes = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]
    default = next(r for r in routes if r["DestinationCidrBlock"] == "0.0.0.0/0")
    assert default["NatGatewayId"] == gw and "GatewayId" not in default and default["State"] == "active"
    found = ec2.describe_route_tables(Filters=[{"Name": "route.nat-gateway-id", "Values": [gw]}])["RouteTables"]
    assert [t["RouteTableId"] for t in found] == [rtb]
    ec2.delete_nat_gateway(NatGatewayId=gw)
    routes = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]
    assert next(r for r in routes if r["DestinationCidrBlock"] == "0.0.0.0/0")["State"] == "blackhole"
    found = ec2.describe_route_tables(Filters=[{"Name": "route.state", "Values": ["blackhole"]}])["RouteTables"]
    assert rtb in [t["RouteTableId"] for t in found]
    ec2.delete_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0")
    ec2.delete_route_table(RouteTableId=rtb)
    ec2.release_address(AllocationId=eip["AllocationId"])


def test_replace_route_table_association_including_the_main_one(net: dict[str, Any]) -> None:
    ec2 = net["ec2"]
    a = ec2.create_route_table(VpcId=net["vpc"])["RouteTable"]["RouteTableId"]
    b = ec2.create_route_table(VpcId=net["vpc"])["RouteTable"]["RouteTableId"]
    assoc = ec2.associate_route_table(RouteTableId=a, SubnetId=net["priv"])["AssociationId"]
    new = ec2.replace_route_table_association(AssociationId=assoc, RouteTableId=b)
    assert new["NewAssociationId"] != assoc and new["AssociationState"]["State"] == "associated"
    tables = {t["RouteTableId"]: t for t in ec2.describe_route_tables(RouteTableIds=[a, b])["RouteTables"]}
    assert tables[a]["Associations"] == []
    assert [(x["SubnetId"], x["RouteTableAssociationId"]) for x in tables[b]["Associations"]] == [
        (net["priv"], new["NewAssociationId"])]
    with pytest.raises(ClientError) as info:
        ec2.replace_route_table_association(AssociationId=assoc, RouteTableId=a)
    assert code(info) == "InvalidAssociationID.NotFound"  # the old association is gone
    main_assoc = next(x for x in net["main"]["Associations"] if x["Main"])["RouteTableAssociationId"]
    moved = ec2.replace_route_table_association(AssociationId=main_assoc, RouteTableId=a)["NewAssociationId"]
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [net["vpc"]]},
                                              {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    assert [t["RouteTableId"] for t in main] == [a]
    back = ec2.replace_route_table_association(AssociationId=moved, RouteTableId=net["main"]["RouteTableId"])
    assert back["NewAssociationId"]
    ec2.disassociate_route_table(AssociationId=new["NewAssociationId"])
    for t in (a, b):
        ec2.delete_route_table(RouteTableId=t)


def test_detached_internet_gateway_leaves_a_blackhole_and_targets_are_checked(net: dict[str, Any]) -> None:
    ec2 = net["ec2"]
    vpc = ec2.create_vpc(CidrBlock="10.78.0.0/16")["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    with pytest.raises(ClientError) as info:
        ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    assert code(info) == "InvalidParameterValue"  # not attached to this VPC
    with pytest.raises(ClientError) as info:
        ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=net["igw"])
    assert code(info) == "InvalidParameterValue"  # another VPC's gateway
    with pytest.raises(ClientError) as info:
        ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0")
    assert code(info) == "MissingParameter"
    with pytest.raises(ClientError) as info:
        ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/33", GatewayId=igw)
    assert code(info) == "InvalidParameterValue"
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="203.0.113.0/24", GatewayId=igw)
    with pytest.raises(ClientError) as info:
        ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="203.0.113.0/24", GatewayId=igw)
    assert code(info) == "RouteAlreadyExists"
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    routes = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]
    assert {r["DestinationCidrBlock"]: r["State"] for r in routes} == {
        "10.78.0.0/16": "active", "0.0.0.0/0": "blackhole", "203.0.113.0/24": "blackhole"}
    ec2.delete_route_table(RouteTableId=rtb)
    ec2.delete_internet_gateway(InternetGatewayId=igw)
    ec2.delete_vpc(VpcId=vpc)


def test_public_gateway_without_internet_gateway_fails_as_on_ec2(net: dict[str, Any]) -> None:
    ec2 = net["ec2"]
    vpc = ec2.create_vpc(CidrBlock="10.79.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.79.1.0/24")["Subnet"]["SubnetId"]
    eip = ec2.allocate_address(Domain="vpc")
    gw = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip["AllocationId"])["NatGateway"]
    assert gw["State"] == "pending"
    with pytest.raises(Exception) as waited:
        ec2.get_waiter("nat_gateway_available").wait(NatGatewayIds=[gw["NatGatewayId"]],
                                                     WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    assert "failure state" in str(waited.value)  # the waiter's failure acceptor: State failed
    failed = ec2.describe_nat_gateways(NatGatewayIds=[gw["NatGatewayId"]])["NatGateways"][0]
    assert failed["State"] == "failed" and failed["FailureCode"] == "Gateway.NotAttached"
    assert failed["FailureMessage"] == f"Network {vpc} has no Internet gateway attached"
    assert "AssociationId" not in ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"][0]
    rtb = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"][0]["RouteTableId"]
    with pytest.raises(ClientError) as info:
        ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=gw["NatGatewayId"])
    assert code(info) == "InvalidNatGatewayID.NotFound"
    ec2.delete_nat_gateway(NatGatewayId=gw["NatGatewayId"])
    assert ec2.describe_nat_gateways(NatGatewayIds=[gw["NatGatewayId"]])["NatGateways"][0]["State"] == "deleted"
    ec2.release_address(AllocationId=eip["AllocationId"])
    ec2.delete_subnet(SubnetId=subnet)  # the interface went with the failure
    ec2.delete_vpc(VpcId=vpc)


def test_describe_pages(net: dict[str, Any]) -> None:
    ec2 = net["ec2"]
    made = [ec2.create_nat_gateway(SubnetId=net["priv"], ConnectivityType="private")["NatGateway"]["NatGatewayId"]
            for _ in range(6)]
    first = ec2.describe_nat_gateways(MaxResults=5)
    assert len(first["NatGateways"]) == 5 and first["NextToken"]
    pages = ec2.get_paginator("describe_nat_gateways").paginate(PaginationConfig={"PageSize": 5})
    paged = [g["NatGatewayId"] for page in pages for g in page["NatGateways"]]
    assert sorted(paged) == sorted(g["NatGatewayId"] for g in ec2.describe_nat_gateways()["NatGateways"])
    assert set(made) <= set(paged)
    with pytest.raises(ClientError) as info:
        ec2.describe_nat_gateways(MaxResults=5, NextToken="not-a-token")
    assert code(info) == "InvalidPaginationToken"
    for gw in made:
        ec2.delete_nat_gateway(NatGatewayId=gw)
