"""Egress-only internet gateways and IPv6 routes through boto3, on an API-only server (fake
drivers): shapes, tags, filters, EC2's error codes, DeleteVpc's dependency rule, IPv6 routes to an
internet gateway and an egress-only one (their output shape, blackhole after delete), the VPC's
IPv6 ``local`` route, and what the public side is told to carry (per subnet, both ways or out
only). The traffic itself is tested on real guests in tests/instances/test_egress_only_igw.py."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from loopback_api import LoopbackApi, api_only

from orchestrator.drivers.network.public.driver import SubnetEgress6


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackApi]:
    with api_only(tmp_path_factory.mktemp("eigw")) as server:
        yield server


@pytest.fixture(scope="module")
def net(api: LoopbackApi) -> dict[str, Any]:
    ec2 = api.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.78.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    block = vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
    sub6 = str(next(ipaddress.IPv6Network(block).subnets(new_prefix=64)))
    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.78.1.0/24", Ipv6CidrBlock=sub6)["Subnet"]["SubnetId"]
    table = ec2.create_route_table(VpcId=vpc["VpcId"])["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    return {"ec2": ec2, "vpc": vpc["VpcId"], "block": block, "sub6": sub6, "subnet": subnet, "rtb": table}


def code(info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(info.value.response["Error"]["Code"])


def routes(ec2: Any, rtb: str) -> list[dict[str, Any]]:
    return list(ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"])


def public_ipv6(api: LoopbackApi, vpc_id: str) -> tuple[list[str], list[SubnetEgress6]] | None:
    assert api.runtime is not None and api.runtime.parts.public is not None
    return api.on_loop(lambda: api.runtime.parts.public.ipv6.get(vpc_id))  # type: ignore[union-attr]


def everything_but(cidrs: tuple[str, ...], block: str) -> bool:
    """``cidrs`` are the whole IPv6 space less the VPC's own ``block`` (its ``local`` route wins)."""
    nets = [ipaddress.IPv6Network(c) for c in cidrs]
    local = ipaddress.IPv6Network(block)
    return sum(n.num_addresses for n in nets) == 2**128 - local.num_addresses and not any(
        n.overlaps(local) for n in nets)


def test_create_describe_filter_delete(net: dict[str, Any]) -> None:
    ec2 = net["ec2"]
    made = ec2.create_egress_only_internet_gateway(
        VpcId=net["vpc"], ClientToken="eigw-tok",
        TagSpecifications=[{"ResourceType": "egress-only-internet-gateway", "Tags": [{"Key": "Name", "Value": "e1"}]}])
    gw = made["EgressOnlyInternetGateway"]
    assert made["ClientToken"] == "eigw-tok" and gw["EgressOnlyInternetGatewayId"].startswith("eigw-")
    assert gw["Attachments"] == [{"State": "attached", "VpcId": net["vpc"]}]
    assert gw["Tags"] == [{"Key": "Name", "Value": "e1"}]
    again = ec2.create_egress_only_internet_gateway(VpcId=net["vpc"], ClientToken="eigw-tok")
    assert again["EgressOnlyInternetGateway"]["EgressOnlyInternetGatewayId"] == gw["EgressOnlyInternetGatewayId"]
    other = ec2.create_egress_only_internet_gateway(VpcId=net["vpc"])["EgressOnlyInternetGateway"]
    shown = ec2.describe_egress_only_internet_gateways(Filters=[{"Name": "tag:Name", "Values": ["e1"]}])
    assert [g["EgressOnlyInternetGatewayId"] for g in shown["EgressOnlyInternetGateways"]] == [
        gw["EgressOnlyInternetGatewayId"]]
    by_id = ec2.describe_egress_only_internet_gateways(EgressOnlyInternetGatewayIds=[other["EgressOnlyInternetGatewayId"]])
    assert by_id["EgressOnlyInternetGateways"][0]["Attachments"][0]["State"] == "attached"
    paged = ec2.get_paginator("describe_egress_only_internet_gateways").paginate(PaginationConfig={"PageSize": 5})
    assert {g["EgressOnlyInternetGatewayId"] for p in paged for g in p["EgressOnlyInternetGateways"]} >= {
        gw["EgressOnlyInternetGatewayId"], other["EgressOnlyInternetGatewayId"]}
    assert ec2.delete_egress_only_internet_gateway(
        EgressOnlyInternetGatewayId=other["EgressOnlyInternetGatewayId"])["ReturnCode"] is True
    assert ec2.delete_egress_only_internet_gateway(
        EgressOnlyInternetGatewayId=gw["EgressOnlyInternetGatewayId"])["ReturnCode"] is True
    assert ec2.describe_egress_only_internet_gateways(Filters=[{"Name": "tag:Name", "Values": ["e1"]}])[
        "EgressOnlyInternetGateways"] == []


def test_errors(net: dict[str, Any]) -> None:
    ec2 = net["ec2"]
    with pytest.raises(ClientError) as e:
        ec2.create_egress_only_internet_gateway(VpcId="vpc-0123456789abcdef0")
    assert code(e) == "InvalidVpcID.NotFound"
    with pytest.raises(ClientError) as e:
        ec2.delete_egress_only_internet_gateway(EgressOnlyInternetGatewayId="eigw-0123456789abcdef0")
    assert code(e) == "InvalidEgressOnlyInternetGatewayId.NotFound"
    assert "eigw-0123456789abcdef0" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        ec2.describe_egress_only_internet_gateways(EgressOnlyInternetGatewayIds=["igw-0123456789abcdef0"])
    assert code(e) == "InvalidEgressOnlyInternetGatewayId.Malformed"
    with pytest.raises(ClientError) as e:
        ec2.delete_egress_only_internet_gateway(EgressOnlyInternetGatewayId="eigw-0123456789abcdef0", DryRun=True)
    assert code(e) == "DryRunOperation"


def test_delete_vpc_refused_while_it_has_one(net: dict[str, Any]) -> None:
    ec2 = net["ec2"]
    vpc = ec2.create_vpc(CidrBlock="10.79.0.0/16")["Vpc"]["VpcId"]
    gw = ec2.create_egress_only_internet_gateway(VpcId=vpc)["EgressOnlyInternetGateway"]["EgressOnlyInternetGatewayId"]
    with pytest.raises(ClientError) as e:
        ec2.delete_vpc(VpcId=vpc)
    assert code(e) == "DependencyViolation"
    ec2.delete_egress_only_internet_gateway(EgressOnlyInternetGatewayId=gw)
    ec2.delete_vpc(VpcId=vpc)


def test_delete_vpc_refused_while_an_internet_gateway_is_attached(net: dict[str, Any]) -> None:
    """As on EC2 (the console detaches it for you; the API does not)."""
    ec2 = net["ec2"]
    vpc = ec2.create_vpc(CidrBlock="10.78.0.0/16")["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    with pytest.raises(ClientError) as e:
        ec2.delete_vpc(VpcId=vpc)
    assert (code(e), e.value.response["Error"]["Message"]) == (
        "DependencyViolation", f"The vpc '{vpc}' has dependencies and cannot be deleted.")
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2.delete_vpc(VpcId=vpc)
    ec2.delete_internet_gateway(InternetGatewayId=igw)


def test_local_ipv6_route_and_routes_to_the_gateways(api: LoopbackApi, net: dict[str, Any]) -> None:
    ec2, rtb = net["ec2"], net["rtb"]
    local6 = [r for r in routes(ec2, rtb) if r.get("DestinationIpv6CidrBlock")]
    assert local6 == [{"DestinationIpv6CidrBlock": net["block"], "GatewayId": "local", "Origin": "CreateRouteTable",
                       "State": "active"}]
    assert public_ipv6(api, net["vpc"]) is None  # no gateway: the VPC has no link to the public side
    gw = ec2.create_egress_only_internet_gateway(VpcId=net["vpc"])["EgressOnlyInternetGateway"][
        "EgressOnlyInternetGatewayId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=net["vpc"])
    try:
        assert public_ipv6(api, net["vpc"]) == ([net["block"]], [SubnetEgress6(net["sub6"])])  # linked, nothing routed
        assert ec2.create_route(RouteTableId=rtb, DestinationIpv6CidrBlock="::/0", GatewayId=igw)["Return"]
        assert {"DestinationIpv6CidrBlock": "::/0", "GatewayId": igw, "Origin": "CreateRoute",
                "State": "active"} in routes(ec2, rtb)
        (e6,) = public_ipv6(api, net["vpc"])[1]  # type: ignore[index]
        assert e6.cidr == net["sub6"] and everything_but(e6.internet, net["block"]) and not e6.outbound_only
        ec2.replace_route(RouteTableId=rtb, DestinationIpv6CidrBlock="::/0", EgressOnlyInternetGatewayId=gw)
        assert {"DestinationIpv6CidrBlock": "::/0", "EgressOnlyInternetGatewayId": gw, "Origin": "CreateRoute",
                "State": "active"} in routes(ec2, rtb)
        (e6,) = public_ipv6(api, net["vpc"])[1]  # type: ignore[index]
        assert everything_but(e6.outbound_only, net["block"]) and not e6.internet
        ec2.create_route(RouteTableId=rtb, DestinationIpv6CidrBlock="2600:1f00::/24", GatewayId=igw)
        found = ec2.describe_route_tables(Filters=[
            {"Name": "route.egress-only-internet-gateway-id", "Values": [gw]},
            {"Name": "route.destination-ipv6-cidr-block", "Values": ["2600:1f00::/24"]}])["RouteTables"]
        assert [t["RouteTableId"] for t in found] == [rtb]
        (e6,) = public_ipv6(api, net["vpc"])[1]  # type: ignore[index]
        assert e6.internet == ("2600:1f00::/24",) and everything_but((*e6.internet, *e6.outbound_only), net["block"])
        ec2.delete_route(RouteTableId=rtb, DestinationIpv6CidrBlock="2600:1f00::/24")
        ec2.delete_egress_only_internet_gateway(EgressOnlyInternetGatewayId=gw)
        shown = [r for r in routes(ec2, rtb) if r.get("EgressOnlyInternetGatewayId") == gw]
        assert [r["State"] for r in shown] == ["blackhole"]  # the route stays, its traffic is dropped
        assert public_ipv6(api, net["vpc"])[1] == [SubnetEgress6(net["sub6"])]  # type: ignore[index]
        ec2.delete_route(RouteTableId=rtb, DestinationIpv6CidrBlock="::/0")
        assert not [r for r in routes(ec2, rtb) if r.get("DestinationIpv6CidrBlock") == "::/0"]
    finally:
        ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=net["vpc"])
        ec2.delete_internet_gateway(InternetGatewayId=igw)
    assert public_ipv6(api, net["vpc"]) is None  # the link went with the last gateway


def test_ipv6_route_errors(net: dict[str, Any]) -> None:
    ec2, rtb = net["ec2"], net["rtb"]
    gw = ec2.create_egress_only_internet_gateway(VpcId=net["vpc"])["EgressOnlyInternetGateway"][
        "EgressOnlyInternetGatewayId"]
    other_vpc = ec2.create_vpc(CidrBlock="10.80.0.0/16")["Vpc"]["VpcId"]
    foreign = ec2.create_egress_only_internet_gateway(VpcId=other_vpc)["EgressOnlyInternetGateway"][
        "EgressOnlyInternetGatewayId"]
    try:
        cases = [
            ({"DestinationIpv6CidrBlock": "not-a-cidr", "EgressOnlyInternetGatewayId": gw}, "InvalidParameterValue"),
            ({"DestinationIpv6CidrBlock": "10.0.0.0/8", "EgressOnlyInternetGatewayId": gw}, "InvalidParameterValue"),
            ({"DestinationCidrBlock": "0.0.0.0/0", "EgressOnlyInternetGatewayId": gw}, "InvalidParameterValue"),
            ({"DestinationCidrBlock": "0.0.0.0/0", "DestinationIpv6CidrBlock": "::/0", "EgressOnlyInternetGatewayId": gw},
             "InvalidParameterCombination"),
            ({"EgressOnlyInternetGatewayId": gw}, "MissingParameter"),
            ({"DestinationIpv6CidrBlock": "::/0", "EgressOnlyInternetGatewayId": "eigw-0123456789abcdef0"},
             "InvalidEgressOnlyInternetGatewayId.NotFound"),
            ({"DestinationIpv6CidrBlock": "::/0", "EgressOnlyInternetGatewayId": foreign}, "InvalidParameterValue"),
            ({"DestinationIpv6CidrBlock": net["block"], "EgressOnlyInternetGatewayId": gw}, "RouteAlreadyExists"),
            ({"DestinationIpv6CidrBlock": "::/0", "NatGatewayId": "nat-0123456789abcdef0"}, "UnsupportedOperation"),
            ({"DestinationIpv6CidrBlock": "::/0", "VpcPeeringConnectionId": "pcx-0123456789abcdef0"},
             "InvalidVpcPeeringConnectionID.NotFound"),
        ]
        for params, want in cases:
            with pytest.raises(ClientError) as e:
                ec2.create_route(RouteTableId=rtb, **params)
            assert code(e) == want, params
        ec2.create_route(RouteTableId=rtb, DestinationIpv6CidrBlock="::/0", EgressOnlyInternetGatewayId=gw)
        with pytest.raises(ClientError) as e:
            ec2.create_route(RouteTableId=rtb, DestinationIpv6CidrBlock="::/0", EgressOnlyInternetGatewayId=gw)
        assert code(e) == "RouteAlreadyExists"
        with pytest.raises(ClientError) as e:
            ec2.replace_route(RouteTableId=rtb, DestinationIpv6CidrBlock="2600::/16", EgressOnlyInternetGatewayId=gw)
        assert code(e) == "InvalidParameterValue"
        with pytest.raises(ClientError) as e:
            ec2.replace_route(RouteTableId=rtb, DestinationIpv6CidrBlock=net["block"], EgressOnlyInternetGatewayId=gw)
        assert code(e) == "InvalidParameterValue"
        with pytest.raises(ClientError) as e:
            ec2.delete_route(RouteTableId=rtb, DestinationIpv6CidrBlock=net["block"])
        assert code(e) == "InvalidParameterValue"
        with pytest.raises(ClientError) as e:
            ec2.delete_route(RouteTableId=rtb, DestinationIpv6CidrBlock="2600::/16")
        assert code(e) == "InvalidRoute.NotFound"
        ec2.delete_route(RouteTableId=rtb, DestinationIpv6CidrBlock="::/0")
    finally:
        ec2.delete_egress_only_internet_gateway(EgressOnlyInternetGatewayId=gw)
        ec2.delete_egress_only_internet_gateway(EgressOnlyInternetGatewayId=foreign)
        ec2.delete_vpc(VpcId=other_vpc)
