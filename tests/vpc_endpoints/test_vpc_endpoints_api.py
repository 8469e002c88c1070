"""Gateway VPC endpoints and the AWS-managed S3 prefix list through boto3 (fake drivers, in
process): shapes, the route ``pl-... -> vpce-...`` in each chosen table, Modify/Delete and EC2's
errors, DescribeVpcEndpointServices, DescribePrefixLists / DescribeManagedPrefixLists /
GetManagedPrefixListEntries, a security-group rule naming the S3 list."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from loopback_api import LoopbackApi, api_only

from orchestrator.domain import vpc_endpoints as ved

REGION = "us-east-1"
S3 = f"com.amazonaws.{REGION}.s3"
DENY_PUT = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
    {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "*"}]}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackApi]:
    with api_only(tmp_path_factory.mktemp("vpce"), {REGION: ["a"]}) as server:
        yield server


@pytest.fixture(scope="module")
def ec2(api: LoopbackApi) -> Any:
    return api.client("ec2")


@pytest.fixture
def vpc(ec2: Any) -> Iterator[dict[str, Any]]:
    vpc_id = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
    tables = [ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"] for _ in range(2)]
    yield {"VpcId": vpc_id, "Tables": tables}
    for e in ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["VpcEndpoints"]:
        ec2.delete_vpc_endpoints(VpcEndpointIds=[e["VpcEndpointId"]])
    for t in tables:
        ec2.delete_route_table(RouteTableId=t)
    ec2.delete_vpc(VpcId=vpc_id)


def refused(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def routes(ec2: Any, rtb_id: str) -> list[dict[str, Any]]:
    return ec2.describe_route_tables(RouteTableIds=[rtb_id])["RouteTables"][0]["Routes"]


def test_the_s3_prefix_list_is_aws_managed(ec2: Any) -> None:
    pl_id = ved.s3_prefix_list_id(REGION)
    [pl] = ec2.describe_prefix_lists(PrefixListIds=[pl_id])["PrefixLists"]
    assert pl == {"PrefixListId": pl_id, "PrefixListName": S3, "Cidrs": [ved.s3_cidr(REGION)]}
    assert ec2.describe_prefix_lists(Filters=[{"Name": "prefix-list-name", "Values": [S3]}])["PrefixLists"] == [pl]
    [managed] = ec2.describe_managed_prefix_lists(PrefixListIds=[pl_id])["PrefixLists"]
    assert managed["OwnerId"] == "AWS" and managed["PrefixListName"] == S3 and managed["State"] == "create-complete"
    owned = ec2.describe_managed_prefix_lists(Filters=[{"Name": "owner-id", "Values": ["AWS"]}])["PrefixLists"]
    assert [p["PrefixListId"] for p in owned] == [pl_id]
    assert ec2.get_managed_prefix_list_entries(PrefixListId=pl_id)["Entries"] == [{"Cidr": ved.s3_cidr(REGION)}]
    assert refused(ec2.describe_prefix_lists, PrefixListIds=["pl-00000000"])[0] == "InvalidPrefixListID.NotFound"


def test_endpoint_services_list_s3_as_gateway(ec2: Any) -> None:
    out = ec2.describe_vpc_endpoint_services()
    assert S3 in out["ServiceNames"]
    [s3] = [d for d in out["ServiceDetails"] if d["ServiceName"] == S3]
    assert s3["ServiceType"] == [{"ServiceType": "Gateway"}] and s3["VpcEndpointPolicySupported"] is True
    assert refused(ec2.describe_vpc_endpoint_services, ServiceNames=["com.amazonaws.us-east-1.s4"])[0] \
        == "InvalidServiceName"


def test_create_puts_the_route_in_each_table_and_delete_removes_it(ec2: Any, vpc: dict[str, Any]) -> None:
    t1, t2 = vpc["Tables"]
    made = ec2.create_vpc_endpoint(VpcEndpointType="Gateway", VpcId=vpc["VpcId"], ServiceName=S3,
                                   RouteTableIds=[t1], ClientToken="tok-1",
                                   TagSpecifications=[{"ResourceType": "vpc-endpoint",
                                                       "Tags": [{"Key": "Name", "Value": "s3"}]}])
    e = made["VpcEndpoint"]
    assert e["VpcEndpointId"].startswith("vpce-") and e["State"] == "available" and e["RouteTableIds"] == [t1]
    assert json.loads(e["PolicyDocument"]) == ved.DEFAULT_POLICY and e["Tags"] == [{"Key": "Name", "Value": "s3"}]
    again = ec2.create_vpc_endpoint(VpcId=vpc["VpcId"], ServiceName=S3, RouteTableIds=[t1], ClientToken="tok-1")
    assert again["VpcEndpoint"]["VpcEndpointId"] == e["VpcEndpointId"]
    pl_id = ved.s3_prefix_list_id(REGION)
    assert {"DestinationPrefixListId": pl_id, "GatewayId": e["VpcEndpointId"], "State": "active",
            "Origin": "CreateRoute"} in routes(ec2, t1)
    assert not any(r.get("DestinationPrefixListId") for r in routes(ec2, t2))
    found = ec2.describe_route_tables(Filters=[{"Name": "route.destination-prefix-list-id", "Values": [pl_id]}])
    assert [t["RouteTableId"] for t in found["RouteTables"]] == [t1]

    ec2.modify_vpc_endpoint(VpcEndpointId=e["VpcEndpointId"], AddRouteTableIds=[t2], RemoveRouteTableIds=[t1],
                            PolicyDocument=json.dumps(DENY_PUT))
    [now] = ec2.describe_vpc_endpoints(VpcEndpointIds=[e["VpcEndpointId"]])["VpcEndpoints"]
    assert now["RouteTableIds"] == [t2] and json.loads(now["PolicyDocument"]) == DENY_PUT
    assert not any(r.get("DestinationPrefixListId") for r in routes(ec2, t1))
    assert any(r.get("GatewayId") == e["VpcEndpointId"] for r in routes(ec2, t2))
    ec2.modify_vpc_endpoint(VpcEndpointId=e["VpcEndpointId"], ResetPolicy=True)
    [now] = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-endpoint-state", "Values": ["available"]},
                                                {"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["VpcEndpoints"]
    assert json.loads(now["PolicyDocument"]) == ved.DEFAULT_POLICY

    out = ec2.delete_vpc_endpoints(VpcEndpointIds=[e["VpcEndpointId"], "vpce-0123456789abcdef0"])
    assert out["Unsuccessful"] == [{"Error": {"Code": "InvalidVpcEndpointId.NotFound",
                                              "Message": "The Vpc Endpoint Id 'vpce-0123456789abcdef0' does not exist"},
                                    "ResourceId": "vpce-0123456789abcdef0"}]
    assert not any(r.get("DestinationPrefixListId") for r in routes(ec2, t2))
    assert refused(ec2.describe_vpc_endpoints, VpcEndpointIds=[e["VpcEndpointId"]])[0] == \
        "InvalidVpcEndpointId.NotFound"


def test_errors(ec2: Any, vpc: dict[str, Any]) -> None:
    t1, _ = vpc["Tables"]
    assert refused(ec2.create_vpc_endpoint, VpcId=vpc["VpcId"], ServiceName="com.amazonaws.us-east-1.s4") == \
        ("InvalidServiceName", "The Vpc Endpoint Service 'com.amazonaws.us-east-1.s4' does not exist")
    assert refused(ec2.create_vpc_endpoint, VpcId="vpc-0123456789abcdef0", ServiceName=S3)[0] == \
        "InvalidVpcID.NotFound"
    assert refused(ec2.create_vpc_endpoint, VpcId=vpc["VpcId"], ServiceName=S3,
                   RouteTableIds=["rtb-0123456789abcdef0"])[0] == "InvalidRouteTableID.NotFound"
    assert refused(ec2.create_vpc_endpoint, VpcId=vpc["VpcId"], ServiceName=S3, PolicyDocument="{not json")[0] == \
        "InvalidPolicyDocument"
    assert refused(ec2.create_vpc_endpoint, VpcId=vpc["VpcId"], ServiceName=S3, SubnetIds=["subnet-0123456789abcdef0"]) \
        == ("InvalidParameter", "Subnet IDs are only supported for Interface and GatewayLoadBalancer type VPC Endpoints.")
    ec2.create_vpc_endpoint(VpcId=vpc["VpcId"], ServiceName=S3, RouteTableIds=[t1])
    code, message = refused(ec2.create_vpc_endpoint, VpcId=vpc["VpcId"], ServiceName=S3, RouteTableIds=[t1])
    assert code == "RouteAlreadyExists" and t1 in message
    assert refused(ec2.modify_vpc_endpoint, VpcEndpointId="vpce-0123456789abcdef0", ResetPolicy=True)[0] == \
        "InvalidVpcEndpointId.NotFound"
    assert refused(ec2.describe_vpc_endpoints, VpcEndpointIds=["nope"])[0] == "InvalidVpcEndpointId.Malformed"
    assert refused(ec2.delete_vpc, VpcId=vpc["VpcId"]) == \
        ("DependencyViolation", f"The vpc '{vpc['VpcId']}' has dependencies and cannot be deleted.")


def test_a_security_group_rule_names_the_s3_list(ec2: Any, vpc: dict[str, Any]) -> None:
    pl_id = ved.s3_prefix_list_id(REGION)
    sg = ec2.create_security_group(GroupName="to-s3", Description="s3 only", VpcId=vpc["VpcId"])["GroupId"]
    try:
        ec2.authorize_security_group_egress(GroupId=sg, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": pl_id}]}])
        [group] = ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"]
        assert any(p.get("PrefixListIds") == [{"PrefixListId": pl_id}] for p in group["IpPermissionsEgress"])
    finally:
        ec2.delete_security_group(GroupId=sg)


def egress_of(api: LoopbackApi, vpc_id: str) -> list[Any]:
    assert api.runtime is not None
    return api.runtime.parts.public.egress[vpc_id]  # type: ignore[union-attr]


def test_a_route_to_a_customer_prefix_list_follows_the_list(api: LoopbackApi, ec2: Any, vpc: dict[str, Any]) -> None:
    t1, _ = vpc["Tables"]
    pl = ec2.create_managed_prefix_list(PrefixListName="offices", AddressFamily="IPv4", MaxEntries=4,
                                        Entries=[{"Cidr": "203.0.113.0/24"}])["PrefixList"]["PrefixListId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc["VpcId"])
    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.61.1.0/24")["Subnet"]["SubnetId"]
    assoc = ec2.associate_route_table(RouteTableId=t1, SubnetId=subnet)["AssociationId"]
    try:
        ec2.create_route(RouteTableId=t1, DestinationPrefixListId=pl, GatewayId=igw)
        assert {"DestinationPrefixListId": pl, "GatewayId": igw, "State": "active", "Origin": "CreateRoute"} \
            in routes(ec2, t1)
        assert [e.direct for e in egress_of(api, vpc["VpcId"])] == [("203.0.113.0/24",)]
        assert refused(ec2.create_route, RouteTableId=t1, DestinationPrefixListId=pl, GatewayId=igw)[0] == \
            "RouteAlreadyExists"
        assert refused(ec2.create_route, RouteTableId=t1, DestinationPrefixListId=ved.s3_prefix_list_id(REGION),
                       GatewayId=igw)[0] == "InvalidParameterValue"
        assert {"ResourceId": t1, "ResourceOwner": api.backend.account_id} in \
            ec2.get_managed_prefix_list_associations(PrefixListId=pl)["PrefixListAssociations"]
        ec2.modify_managed_prefix_list(PrefixListId=pl, CurrentVersion=1, AddEntries=[{"Cidr": "198.51.100.0/24"}])
        assert [e.direct for e in egress_of(api, vpc["VpcId"])] == [("198.51.100.0/24", "203.0.113.0/24")]
        assert refused(ec2.delete_managed_prefix_list, PrefixListId=pl)[0] == "DependencyViolation"
        ec2.delete_route(RouteTableId=t1, DestinationPrefixListId=pl)
        assert [e.direct for e in egress_of(api, vpc["VpcId"])] == [()]
        assert refused(ec2.delete_route, RouteTableId=t1, DestinationPrefixListId=pl)[0] == "InvalidRoute.NotFound"
    finally:
        ec2.disassociate_route_table(AssociationId=assoc)
        ec2.delete_subnet(SubnetId=subnet)
        ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc["VpcId"])
        ec2.delete_internet_gateway(InternetGatewayId=igw)
        ec2.delete_managed_prefix_list(PrefixListId=pl)
