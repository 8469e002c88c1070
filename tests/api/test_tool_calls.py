"""What tools such as Ansible's amazon.aws collection send (API-only server, fake drivers): every
filter name EC2 documents for the Describe actions they call (botocore's model lists them, with
the aliases EC2 still honours), every ModifySubnetAttribute attribute, EC2's MissingParameter for
requests that name nothing to act on, and no empty ``Tags`` where EC2 omits it."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore
import pytest
from botocore.exceptions import ClientError
from ec2d_server import RunningEc2d, start_ec2d, tiny_image

MODEL = Path(botocore.__file__).parent / "data/ec2/2016-11-15/service-2.json.gz"
DESCRIBES = {"DescribeVpcs": "describe_vpcs", "DescribeSubnets": "describe_subnets",
             "DescribeInternetGateways": "describe_internet_gateways",
             "DescribeRouteTables": "describe_route_tables", "DescribeInstances": "describe_instances",
             "DescribeVolumes": "describe_volumes", "DescribeSnapshots": "describe_snapshots",
             "DescribeKeyPairs": "describe_key_pairs", "DescribeImages": "describe_images",
             "DescribeAddresses": "describe_addresses", "DescribeNetworkInterfaces": "describe_network_interfaces",
             "DescribeInstanceStatus": "describe_instance_status", "DescribeVolumeStatus": "describe_volume_status",
             "DescribeAvailabilityZones": "describe_availability_zones", "DescribeRegions": "describe_regions",
             "DescribeTags": "describe_tags", "DescribeLaunchTemplates": "describe_launch_templates"}


def documented_filters(operation: str) -> list[str]:
    """The filter names (and 'You can also use X' aliases) the model's documentation lists."""
    model = json.load(gzip.open(MODEL))
    shape = model["shapes"][model["operations"][operation]["input"]["shape"]]
    doc = shape["members"]["Filters"]["documentation"]
    names = re.findall(r"<li>\s*<p>\s*<code>([a-z0-9.:-]+)</code>\s*-", doc)
    aliases = re.findall(r"also use <code>(\w+)</code>(?: or <code>(\w+)</code>)?", doc)
    names += [a for pair in aliases for a in pair if a]
    # a nested list of DescribeImages' doc names the values of scan-result.highest-finding-severity-label
    values = {"informational", "low", "medium", "high", "critical"}
    return [n for n in names if n not in ("tag", "tag-key", *values) and not n.startswith("tag:")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEc2d]:
    s = start_ec2d(tmp_path_factory.mktemp("tool-calls"), instances=False)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def ec2(server: RunningEc2d) -> Any:
    return server.client()


@pytest.fixture(scope="module")
def subnet(ec2: Any) -> Iterator[dict[str, Any]]:
    vpc = ec2.create_vpc(CidrBlock="10.91.0.0/16")["Vpc"]
    made = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.91.1.0/24")["Subnet"]
    yield made
    ec2.delete_subnet(SubnetId=made["SubnetId"])
    ec2.delete_vpc(VpcId=vpc["VpcId"])


def code(info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(info.value.response["Error"]["Code"])


@pytest.mark.parametrize("operation", sorted(DESCRIBES))
def test_every_documented_filter_is_accepted(ec2: Any, operation: str) -> None:
    names = documented_filters(operation)
    assert len(names) >= 2, names  # the documentation was read
    call = getattr(ec2, DESCRIBES[operation])
    for name in names:
        call(Filters=[{"Name": name, "Values": ["no-such-value-anywhere"]}])  # no InvalidParameterValue
    with pytest.raises(ClientError) as e:
        call(Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    assert code(e) == "InvalidParameterValue"
    assert e.value.response["Error"]["Message"] == "The filter 'no-such-filter' is invalid"


def test_vpc_and_subnet_filters_and_aliases_match(ec2: Any, subnet: dict[str, Any]) -> None:
    vpc_id = subnet["VpcId"]
    for name, value in (("cidr-block", "10.91.0.0/16"), ("cidr", "10.91.0.0/16"), ("cidrBlock", "10.91.0.0/16"),
                        ("cidr-block-association.cidr-block", "10.91.0.0/16"), ("vpc-id", vpc_id),
                        ("cidr-block-association.state", "associated"), ("isDefault", "false")):
        found = ec2.describe_vpcs(Filters=[{"Name": name, "Values": [value]},
                                           {"Name": "cidr", "Values": ["10.91.0.0/16"]}])["Vpcs"]
        assert [v["VpcId"] for v in found] == [vpc_id], name
    assert ec2.describe_vpcs(Filters=[{"Name": "cidr-block", "Values": ["10.92.0.0/16"]}])["Vpcs"] == []
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                      {"Name": "isDefault", "Values": ["true"]}])["Vpcs"] == []
    for name, value in (("cidr", "10.91.1.0/24"), ("cidrBlock", "10.91.1.0/24"), ("vpcId", vpc_id),
                        ("defaultForAz", "false"), ("enable-dns64", "false"), ("ipv6-native", "false"),
                        ("subnet-arn", subnet["SubnetArn"]),
                        ("private-dns-name-options-on-launch.hostname-type", "ip-name")):
        found = ec2.describe_subnets(Filters=[{"Name": name, "Values": [value]},
                                              {"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
        assert [s["SubnetId"] for s in found] == [subnet["SubnetId"]], name
    assert ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                         {"Name": "outpost-arn", "Values": ["*"]}])["Subnets"] == []


def test_subnet_attributes_ec2d_can_honour(ec2: Any, subnet: dict[str, Any]) -> None:
    sid = subnet["SubnetId"]
    for attr in ({"AssignIpv6AddressOnCreation": {"Value": False}}, {"EnableDns64": {"Value": False}},
                 {"PrivateDnsHostnameTypeOnLaunch": "ip-name"},
                 {"EnableResourceNameDnsARecordOnLaunch": {"Value": False}},
                 {"EnableResourceNameDnsAAAARecordOnLaunch": {"Value": False}},
                 {"MapCustomerOwnedIpOnLaunch": {"Value": False}}, {"DisableLniAtDeviceIndex": {"Value": True}},
                 {"MapPublicIpOnLaunch": {"Value": True}}):
        ec2.modify_subnet_attribute(SubnetId=sid, **attr)
    shown = ec2.describe_subnets(SubnetIds=[sid])["Subnets"][0]
    assert shown["MapPublicIpOnLaunch"] is True
    assert (shown["AssignIpv6AddressOnCreation"], shown["EnableDns64"], shown["Ipv6Native"],
            shown["MapCustomerOwnedIpOnLaunch"], shown["Ipv6CidrBlockAssociationSet"]) == (False, False, False, False, [])
    assert shown["PrivateDnsNameOptionsOnLaunch"] == {
        "HostnameType": "ip-name", "EnableResourceNameDnsARecord": False, "EnableResourceNameDnsAAAARecord": False}
    ec2.modify_subnet_attribute(SubnetId=sid, MapPublicIpOnLaunch={"Value": False})
    assert ec2.describe_subnets(SubnetIds=[sid])["Subnets"][0]["MapPublicIpOnLaunch"] is False


def test_subnet_attributes_ec2d_cannot_honour(ec2: Any, subnet: dict[str, Any]) -> None:
    sid = subnet["SubnetId"]
    for attr, words in (({"AssignIpv6AddressOnCreation": {"Value": True}}, "no IPv6 CIDR block"),
                        ({"EnableDns64": {"Value": True}}, "DNS64"),
                        ({"PrivateDnsHostnameTypeOnLaunch": "resource-name"}, "ip-name"),
                        ({"EnableResourceNameDnsARecordOnLaunch": {"Value": True}}, "ip-name"),
                        ({"EnableResourceNameDnsAAAARecordOnLaunch": {"Value": True}}, "no IPv6 CIDR block"),
                        ({"MapCustomerOwnedIpOnLaunch": {"Value": True}}, "Outpost"),
                        ({"CustomerOwnedIpv4Pool": "ipv4pool-coip-0123456789abcdef0"}, "Outpost"),
                        ({"EnableLniAtDeviceIndex": 1}, "Outpost")):
        with pytest.raises(ClientError) as e:
            ec2.modify_subnet_attribute(SubnetId=sid, **attr)
        assert code(e) == "InvalidParameterValue", attr
        assert words in e.value.response["Error"]["Message"], attr
    with pytest.raises(ClientError) as e:
        ec2.modify_subnet_attribute(SubnetId=sid)
    assert code(e) == "MissingParameter"
    with pytest.raises(ClientError) as e:
        ec2.modify_subnet_attribute(SubnetId="subnet-0123456789abcdef0", MapPublicIpOnLaunch={"Value": True})
    assert code(e) == "InvalidSubnetID.NotFound"


@pytest.mark.parametrize(("method", "kwargs", "names"), [
    ("release_address", {}, "AllocationId"),
    ("disassociate_address", {}, "AssociationId"),
    ("associate_address", {"InstanceId": "i-0123456789abcdef0"}, "AllocationId"),
    ("run_instances", {"MinCount": 1, "MaxCount": 1}, "ImageId"),
    ("create_subnet", {"VpcId": "vpc-0123456789abcdef0"}, "CidrBlock"),
    ("delete_route", {"RouteTableId": "rtb-0123456789abcdef0"}, "DestinationCidrBlock"),
])
def test_missing_parameter(ec2: Any, method: str, kwargs: dict[str, Any], names: str) -> None:
    with pytest.raises(ClientError) as e:
        getattr(ec2, method)(**kwargs)
    assert code(e) == "MissingParameter"
    assert e.value.response["Error"]["Message"].startswith("The request must contain the parameter " + names)


def test_untagged_resources_have_no_tags_member(ec2: Any, subnet: dict[str, Any]) -> None:
    vpc = ec2.describe_vpcs(VpcIds=[subnet["VpcId"]])["Vpcs"][0]
    shown = ec2.describe_subnets(SubnetIds=[subnet["SubnetId"]])["Subnets"][0]
    assert "Tags" not in vpc and "Tags" not in shown and "Tags" not in subnet
    ec2.create_tags(Resources=[subnet["SubnetId"]], Tags=[{"Key": "Name", "Value": "tagged"}])
    try:
        shown = ec2.describe_subnets(SubnetIds=[subnet["SubnetId"]])["Subnets"][0]
        assert shown["Tags"] == [{"Key": "Name", "Value": "tagged"}]
    finally:
        ec2.delete_tags(Resources=[subnet["SubnetId"]])
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)
    try:
        assert "Tags" not in volume
        assert "Tags" not in ec2.describe_volumes(VolumeIds=[volume["VolumeId"]])["Volumes"][0]
    finally:
        ec2.get_waiter("volume_available").wait(VolumeIds=[volume["VolumeId"]], WaiterConfig={"Delay": 0.2})
        ec2.delete_volume(VolumeId=volume["VolumeId"])


def test_instance_attributes(ec2: Any, subnet: dict[str, Any]) -> None:
    made = ec2.run_instances(ImageId=tiny_image(ec2), InstanceType="t3.nano", MinCount=1, MaxCount=1,
                             SubnetId=subnet["SubnetId"])["Instances"][0]
    iid = made["InstanceId"]
    try:
        assert "Tags" not in made
        assert "Tags" not in ec2.describe_images(ImageIds=[made["ImageId"]])["Images"][0]
        shown = {a: ec2.describe_instance_attribute(InstanceId=iid, Attribute=a) for a in
                 ("productCodes", "sriovNetSupport", "enclaveOptions", "disableApiStop")}
        assert shown["productCodes"]["ProductCodes"] == []
        assert shown["enclaveOptions"]["EnclaveOptions"] == {"Enabled": False}
        assert shown["disableApiStop"]["DisableApiStop"] == {"Value": False}
        for held in ({"SourceDestCheck": {"Value": True}}, {"EbsOptimized": {"Value": False}},
                     {"EnaSupport": {"Value": False}}, {"DisableApiStop": {"Value": False}},
                     {"Attribute": "sourceDestCheck", "Value": "true"}):
            ec2.modify_instance_attribute(InstanceId=iid, **held)
        for refused, words in (({"EnaSupport": {"Value": True}}, "ENA"),
                               ({"DisableApiStop": {"Value": True}}, "stop protection"),
                               ({"Kernel": {"Value": "aki-12345678"}}, "kernel")):
            with pytest.raises(ClientError) as e:
                ec2.modify_instance_attribute(InstanceId=iid, **refused)
            assert code(e) == "InvalidParameterValue" and words in e.value.response["Error"]["Message"]
        with pytest.raises(ClientError) as e:
            ec2.modify_instance_attribute(InstanceId=iid)
        assert code(e) == "MissingParameter"
        for attribute in ("sourceDestCheck", "kernel", "ramdisk"):
            ec2.reset_instance_attribute(InstanceId=iid, Attribute=attribute)
        with pytest.raises(ClientError) as e:
            ec2.reset_instance_attribute(InstanceId=iid, Attribute="instanceType")
        assert code(e) == "InvalidParameterValue"
        root = made["RootDeviceName"]
        ec2.modify_instance_attribute(InstanceId=iid, BlockDeviceMappings=[
            {"DeviceName": root, "Ebs": {"DeleteOnTermination": False}}])
        mapping = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["BlockDeviceMappings"][0]
        assert mapping["DeviceName"] == root and mapping["Ebs"]["DeleteOnTermination"] is False
        volume = ec2.describe_volumes(VolumeIds=[mapping["Ebs"]["VolumeId"]])["Volumes"][0]
        assert volume["Attachments"][0]["DeleteOnTermination"] is False
        with pytest.raises(ClientError) as e:
            ec2.modify_instance_attribute(InstanceId=iid, BlockDeviceMappings=[
                {"DeviceName": "/dev/sdz", "Ebs": {"DeleteOnTermination": True}}])
        assert code(e) == "InvalidParameterValue"
    finally:
        ec2.terminate_instances(InstanceIds=[iid])
        ec2.get_waiter("instance_terminated").wait(InstanceIds=[iid], WaiterConfig={"Delay": 0.5})
    kept = ec2.describe_volumes(VolumeIds=[mapping["Ebs"]["VolumeId"]])["Volumes"][0]
    assert kept["State"] == "available"  # DeleteOnTermination false: the root volume outlives the instance
    ec2.delete_volume(VolumeId=kept["VolumeId"])
