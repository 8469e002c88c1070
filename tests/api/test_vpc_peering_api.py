"""VPC peering connections through boto3, on an API-only server (fake drivers): shapes, states,
EC2's error codes, routes to peering connections, security-group rules naming a peer's group,
cross-region requests. The traffic itself is tested on real guests in
tests/instances/test_vpc_peering.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from ec2d_server import RunningEc2d, start_ec2d


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEc2d]:
    server = start_ec2d(tmp_path_factory.mktemp("pcx-api") / "data", instances=False, build_images=False,
                        regions={"us-east-1": ["a"], "eu-west-1": ["a"]})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def net(api: RunningEc2d) -> dict[str, Any]:
    ec2 = api.client()
    vpcs = [ec2.create_vpc(CidrBlock=c)["Vpc"]["VpcId"] for c in ("10.81.0.0/16", "10.82.0.0/16", "10.81.128.0/20")]
    return {"ec2": ec2, "a": vpcs[0], "b": vpcs[1], "overlap": vpcs[2], "api": api}


def code(info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(info.value.response["Error"]["Code"])


def status(ec2: Any, pcx: str) -> str:
    return str(ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])
               ["VpcPeeringConnections"][0]["Status"]["Code"])


def test_request_accept_delete_and_the_shapes(net: dict[str, Any]) -> None:
    ec2 = net["ec2"]
    made = ec2.create_vpc_peering_connection(
        VpcId=net["a"], PeerVpcId=net["b"],
        TagSpecifications=[{"ResourceType": "vpc-peering-connection", "Tags": [{"Key": "Name", "Value": "ab"}]}],
    )["VpcPeeringConnection"]
    pcx = made["VpcPeeringConnectionId"]
    assert pcx.startswith("pcx-") and made["Status"]["Code"] == "initiating-request"
    assert made["RequesterVpcInfo"]["VpcId"] == net["a"] and made["RequesterVpcInfo"]["CidrBlock"] == "10.81.0.0/16"
    assert made["AccepterVpcInfo"]["VpcId"] == net["b"] and made["AccepterVpcInfo"]["Region"] == "us-east-1"
    assert made["Tags"] == [{"Key": "Name", "Value": "ab"}]
    shown = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])["VpcPeeringConnections"][0]
    assert shown["Status"]["Code"] == "pending-acceptance" and shown["Status"]["Message"].startswith(
        "Pending Acceptance by ") and "ExpirationTime" in shown
    ec2.get_waiter("vpc_peering_connection_exists").wait(VpcPeeringConnectionIds=[pcx],
                                                         WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    accepted = ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)["VpcPeeringConnection"]
    assert accepted["Status"] == {"Code": "active", "Message": "Active"}
    assert "PeeringOptions" in accepted["AccepterVpcInfo"]
    with pytest.raises(ClientError) as again:
        ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    assert code(again) == "InvalidStateTransition"
    with pytest.raises(ClientError) as reject_active:
        ec2.reject_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    assert code(reject_active) == "InvalidStateTransition"
    for name, value in (("vpc-peering-connection-id", pcx), ("status-code", "active"),
                        ("accepter-vpc-info.vpc-id", net["b"]), ("requester-vpc-info.vpc-id", net["a"]),
                        ("accepter-vpc-info.cidr-block", "10.82.0.0/16"),
                        ("requester-vpc-info.cidr-block", "10.81.0.0/16"), ("tag:Name", "ab")):
        found = ec2.describe_vpc_peering_connections(Filters=[{"Name": name, "Values": [value]}])
        assert [p["VpcPeeringConnectionId"] for p in found["VpcPeeringConnections"]] == [pcx], name
    assert not ec2.describe_vpc_peering_connections(
        Filters=[{"Name": "requester-vpc-info.vpc-id", "Values": [net["b"]]}])["VpcPeeringConnections"]
    assert ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx)["Return"] is True
    assert status(ec2, pcx) == "deleted"
    with pytest.raises(ClientError) as twice:
        ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    assert code(twice) == "InvalidStateTransition"


def test_reject_and_overlap_and_errors(net: dict[str, Any]) -> None:
    ec2 = net["ec2"]
    pcx = ec2.create_vpc_peering_connection(VpcId=net["a"], PeerVpcId=net["b"])["VpcPeeringConnection"]
    assert ec2.reject_vpc_peering_connection(VpcPeeringConnectionId=pcx["VpcPeeringConnectionId"])["Return"]
    assert status(ec2, pcx["VpcPeeringConnectionId"]) == "rejected"
    with pytest.raises(ClientError) as late:
        ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx["VpcPeeringConnectionId"])
    assert code(late) == "InvalidStateTransition"
    failed = ec2.create_vpc_peering_connection(VpcId=net["a"], PeerVpcId=net["overlap"])["VpcPeeringConnection"]
    shown = ec2.describe_vpc_peering_connections(
        VpcPeeringConnectionIds=[failed["VpcPeeringConnectionId"]])["VpcPeeringConnections"][0]
    assert shown["Status"] == {"Code": "failed", "Message": "Overlapping CIDR range"}
    with pytest.raises(ClientError) as on_failed:
        ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=failed["VpcPeeringConnectionId"])
    assert code(on_failed) == "InvalidStateTransition"
    cases = [
        (lambda: ec2.accept_vpc_peering_connection(VpcPeeringConnectionId="pcx-0123456789abcdef0"),
         "InvalidVpcPeeringConnectionID.NotFound"),
        (lambda: ec2.delete_vpc_peering_connection(VpcPeeringConnectionId="pcx-nothex"),
         "InvalidVpcPeeringConnectionId.Malformed"),
        (lambda: ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=["pcx-0123456789abcdef0"]),
         "InvalidVpcPeeringConnectionID.NotFound"),
        (lambda: ec2.create_vpc_peering_connection(VpcId=net["a"], PeerVpcId="vpc-0123456789abcdef0"),
         "InvalidVpcID.NotFound"),
        (lambda: ec2.create_vpc_peering_connection(VpcId=net["a"], PeerVpcId=net["a"]), "InvalidParameterValue"),
        (lambda: ec2.create_vpc_peering_connection(VpcId=net["a"], PeerVpcId=net["b"], PeerRegion="mars-1"),
         "InvalidParameterValue"),
        (lambda: ec2.create_vpc_peering_connection(VpcId=net["a"]), "MissingParameter"),
    ]
    for call, expected in cases:
        with pytest.raises(ClientError) as info:
            call()
        assert code(info) == expected
    page = ec2.describe_vpc_peering_connections(MaxResults=5)
    assert len(page["VpcPeeringConnections"]) <= 5


def test_routes_and_peer_group_rules(net: dict[str, Any]) -> None:
    ec2 = net["ec2"]
    pcx = ec2.create_vpc_peering_connection(VpcId=net["a"], PeerVpcId=net["b"])["VpcPeeringConnection"]
    pcx_id = pcx["VpcPeeringConnectionId"]
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [net["a"]]},
                                              {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]
    rtb = main["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="10.82.0.0/16", VpcPeeringConnectionId=pcx_id)

    def route_state() -> str:
        table = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]
        return next(r["State"] for r in table["Routes"] if r.get("VpcPeeringConnectionId") == pcx_id)

    assert route_state() == "blackhole"  # not accepted yet
    group_a = ec2.create_security_group(GroupName="pa", Description="a", VpcId=net["a"])["GroupId"]
    group_b = ec2.create_security_group(GroupName="pb", Description="b", VpcId=net["b"])["GroupId"]
    pair = [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{"GroupId": group_b}]}]
    with pytest.raises(ClientError) as unpeered:
        ec2.authorize_security_group_ingress(GroupId=group_a, IpPermissions=pair)
    assert code(unpeered) == "InvalidParameter"
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)
    assert route_state() == "active"
    ec2.authorize_security_group_ingress(GroupId=group_a, IpPermissions=pair)
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_a]}])
    assert any(r.get("ReferencedGroupInfo", {}).get("GroupId") == group_b for r in rules["SecurityGroupRules"])
    other = ec2.create_vpc(CidrBlock="10.83.0.0/16")["Vpc"]["VpcId"]
    other_pcx = ec2.create_vpc_peering_connection(VpcId=other, PeerVpcId=net["b"])["VpcPeeringConnection"]
    with pytest.raises(ClientError) as foreign:
        ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="10.83.0.0/16",
                         VpcPeeringConnectionId=other_pcx["VpcPeeringConnectionId"])
    assert code(foreign) == "InvalidParameterValue"
    with pytest.raises(ClientError) as missing:
        ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="10.84.0.0/16",
                         VpcPeeringConnectionId="pcx-0123456789abcdef0")
    assert code(missing) == "InvalidVpcPeeringConnectionID.NotFound"
    ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)
    assert route_state() == "blackhole"
    with pytest.raises(ClientError) as gone:
        ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock="10.82.0.0/16", VpcPeeringConnectionId=pcx_id)
    assert code(gone) == "InvalidVpcPeeringConnectionID.NotFound"


def test_cross_region_request_is_accepted_in_the_peer_region(net: dict[str, Any]) -> None:
    ec2, eu = net["ec2"], net["api"].client(region="eu-west-1")
    far = eu.create_vpc(CidrBlock="10.90.0.0/16")["Vpc"]["VpcId"]
    made = ec2.create_vpc_peering_connection(VpcId=net["a"], PeerVpcId=far, PeerRegion="eu-west-1")
    pcx = made["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    assert made["VpcPeeringConnection"]["AccepterVpcInfo"]["Region"] == "eu-west-1"
    with pytest.raises(ClientError) as wrong_side:
        ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    assert code(wrong_side) == "OperationNotPermitted"
    assert eu.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)["VpcPeeringConnection"]["Status"][
        "Code"] == "active"
    assert status(ec2, pcx) == "active"
    assert ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx)["Return"]


def test_deleting_a_vpc_deletes_its_connections(net: dict[str, Any]) -> None:
    ec2 = net["ec2"]
    gone = ec2.create_vpc(CidrBlock="10.85.0.0/16")["Vpc"]["VpcId"]
    pcx = ec2.create_vpc_peering_connection(VpcId=gone, PeerVpcId=net["b"])["VpcPeeringConnection"]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx["VpcPeeringConnectionId"])
    ec2.delete_vpc(VpcId=gone)
    assert status(ec2, pcx["VpcPeeringConnectionId"]) == "deleted"
