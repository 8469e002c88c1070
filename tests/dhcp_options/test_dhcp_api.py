"""DHCP options sets through boto3 on the fake drivers (API-only, in this process): the shapes,
EC2's errors, the region's default set, and what the VPC's DHCP server is told to hand out."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api_only import opened_backend
from botocore.exceptions import ClientError
from loopback_api import LoopbackApi

from orchestrator.drivers.network.dnsmasq import DhcpOptions
from orchestrator.drivers.network.vpc.fake import FakeVpcNetwork


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackApi]:
    with opened_backend(Path(tmp_path_factory.mktemp("dhcp"))) as backend:
        loop = LoopbackApi(backend, runtime=True).start()
        try:
            yield loop
        finally:
            loop.stop()


@pytest.fixture(scope="module")
def ec2(api: LoopbackApi) -> Any:
    return api.client("ec2")


def refused(call: Callable[..., Any], **kwargs: Any) -> tuple[str, str]:
    try:
        call(**kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    raise AssertionError("the call succeeded")


def served(api: LoopbackApi, vpc_id: str, region: str = "us-east-1") -> DhcpOptions | None:
    assert api.runtime is not None
    net = api.runtime.networks[region]
    assert isinstance(net, FakeVpcNetwork)
    return net.vpcs[vpc_id].options


def conf(key: str, *values: str) -> dict[str, Any]:
    return {"Key": key, "Values": list(values)}


def test_default_set_per_region(ec2: Any, api: LoopbackApi) -> None:
    for region, domain in (("us-east-1", "ec2.internal"), ("us-west-2", "us-west-2.compute.internal")):
        client = api.client("ec2", region=region)
        vpc = client.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
        assert vpc["DhcpOptionsId"].startswith("dopt-")
        found = client.describe_dhcp_options(DhcpOptionsIds=[vpc["DhcpOptionsId"]])["DhcpOptions"][0]
        assert found["DhcpConfigurations"] == [
            {"Key": "domain-name", "Values": [{"Value": domain}]},
            {"Key": "domain-name-servers", "Values": [{"Value": "AmazonProvidedDNS"}]}]
        assert found["OwnerId"] == vpc["OwnerId"] and found["Tags"] == []  # EC2 shows an empty tag set
    new = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    assert new["DhcpOptionsId"] == default_vpc["DhcpOptionsId"]  # one default set per region
    assert served(api, new["VpcId"]) == DhcpOptions("ec2.internal", ("10.61.0.2",))
    ec2.delete_vpc(VpcId=new["VpcId"])


def test_create_describe_associate_delete(ec2: Any, api: LoopbackApi) -> None:
    made = ec2.create_dhcp_options(
        DhcpConfigurations=[conf("ntp-servers", "10.0.0.123"), conf("domain-name", "example.internal"),
                            conf("domain-name-servers", "AmazonProvidedDNS", "10.9.9.9"),
                            conf("netbios-name-servers", "10.0.0.44"), conf("netbios-node-type", "2")],
        TagSpecifications=[{"ResourceType": "dhcp-options", "Tags": [{"Key": "Name", "Value": "lab"}]}],
    )["DhcpOptions"]
    dopt = made["DhcpOptionsId"]
    assert [c["Key"] for c in made["DhcpConfigurations"]] == [
        "domain-name", "domain-name-servers", "netbios-name-servers", "netbios-node-type", "ntp-servers"]
    assert made["Tags"] == [{"Key": "Name", "Value": "lab"}]
    vpc = ec2.create_vpc(CidrBlock="10.62.0.0/16")["Vpc"]["VpcId"]
    default_set = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["DhcpOptionsId"]
    ec2.associate_dhcp_options(DhcpOptionsId=dopt, VpcId=vpc)
    assert ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["DhcpOptionsId"] == dopt
    assert ec2.describe_vpcs(Filters=[{"Name": "dhcp-options-id", "Values": [dopt]}])["Vpcs"][0]["VpcId"] == vpc
    assert served(api, vpc) == DhcpOptions("example.internal", ("10.62.0.2", "10.9.9.9"), ("10.0.0.123",),
                                           ("10.0.0.44",), 2)
    assert refused(ec2.delete_dhcp_options, DhcpOptionsId=dopt) == (
        "DependencyViolation", f"The dhcpOptions '{dopt}' has dependencies and cannot be deleted.")
    # filters
    by = ec2.describe_dhcp_options
    assert [d["DhcpOptionsId"] for d in by(Filters=[{"Name": "tag:Name", "Values": ["lab"]}])["DhcpOptions"]] == [dopt]
    assert dopt in [d["DhcpOptionsId"] for d in by(Filters=[{"Name": "key", "Values": ["ntp-servers"]}])["DhcpOptions"]]
    assert [d["DhcpOptionsId"] for d in by(Filters=[{"Name": "value", "Values": ["10.9.9.9"]}])["DhcpOptions"]] == [dopt]
    assert by(Filters=[{"Name": "dhcp-options-id", "Values": ["dopt-00000000"]}])["DhcpOptions"] == []
    assert refused(by, Filters=[{"Name": "nope", "Values": ["x"]}])[0] == "InvalidParameterValue"
    # "default": no set; the guest gets only the link-local resolver (EC2 on Nitro)
    ec2.associate_dhcp_options(DhcpOptionsId="default", VpcId=vpc)
    assert ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["DhcpOptionsId"] == "default"
    assert served(api, vpc) == DhcpOptions(None, ("169.254.169.253",))
    ec2.associate_dhcp_options(DhcpOptionsId=default_set, VpcId=vpc)
    assert served(api, vpc) == DhcpOptions("ec2.internal", ("10.62.0.2",))
    ec2.delete_dhcp_options(DhcpOptionsId=dopt)
    assert refused(by, DhcpOptionsIds=[dopt]) == ("InvalidDhcpOptionID.NotFound",
                                                 f"The dhcpOption ID '{dopt}' does not exist")
    ec2.delete_vpc(VpcId=vpc)


def test_paging(ec2: Any) -> None:
    made = [ec2.create_dhcp_options(DhcpConfigurations=[conf("domain-name", f"p{i}.internal")])["DhcpOptions"]
            ["DhcpOptionsId"] for i in range(6)]
    seen, token = [], None
    while True:
        page = ec2.describe_dhcp_options(MaxResults=5, **({"NextToken": token} if token else {}))
        assert len(page["DhcpOptions"]) <= 5
        seen += [d["DhcpOptionsId"] for d in page["DhcpOptions"]]
        token = page.get("NextToken")
        if not token:
            break
    assert set(made) <= set(seen) and len(seen) == len(set(seen))
    for d in made:
        ec2.delete_dhcp_options(DhcpOptionsId=d)


@pytest.mark.parametrize(("configurations", "message"), [
    ([conf("domain-nam", "x.internal")], "Value (domain-nam) for parameter key is invalid. Unknown DHCP option."),
    ([conf("domain-name-servers", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5")],
     "Value (10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4, 10.0.0.5) for parameter domain-name-servers is invalid. "
     "A maximum of 4 IPv4 addresses is allowed."),
    ([conf("netbios-name-servers", "fd00::44")],
     "Value (fd00::44) for parameter netbios-name-servers is invalid. Invalid IPv4 address."),
    ([conf("ntp-servers", *(f"fd00::{i}" for i in range(1, 6)))],
     "Value (fd00::1, fd00::2, fd00::3, fd00::4, fd00::5) for parameter ntp-servers is invalid. "
     "A maximum of 4 IPv6 addresses is allowed."),
    ([conf("domain-name-servers", "dns.example")],
     "Value (dns.example) for parameter domain-name-servers is invalid. Invalid IP address."),
    ([conf("ntp-servers", "AmazonProvidedDNS")],
     "Value (AmazonProvidedDNS) for parameter ntp-servers is invalid. Invalid IP address."),
    ([conf("netbios-node-type", "3")], "Value (3) for parameter netbios-node-type is invalid. "
                                       "Valid values are 1, 2, 4 or 8."),
    ([conf("domain-name", "a.internal", "b.internal")],
     "Value (a.internal, b.internal) for parameter domain-name is invalid. Only one value is allowed."),
    ([conf("domain-name", "bad_name!")], "Value (bad_name!) for parameter domain-name is invalid. Invalid domain name."),
    ([conf("ipv6-address-preferred-lease-time", "100")],
     "Value (100) for parameter ipv6-address-preferred-lease-time is invalid. "
     "The value must be an integer from 140 to 2147483647."),
    ([conf("domain-name", "a.internal"), conf("domain-name", "b.internal")],
     "Value (domain-name) for parameter key is invalid. The DHCP option is given more than once."),
])
def test_create_refuses_bad_configurations(ec2: Any, configurations: list[dict[str, Any]], message: str) -> None:
    before = len(ec2.describe_dhcp_options()["DhcpOptions"])
    assert refused(ec2.create_dhcp_options, DhcpConfigurations=configurations) == ("InvalidParameterValue", message)
    assert len(ec2.describe_dhcp_options()["DhcpOptions"]) == before


def test_accepted_configurations(ec2: Any) -> None:
    made = ec2.create_dhcp_options(DhcpConfigurations=[
        conf("domain-name", "a.example b.example"), conf("ipv6-address-preferred-lease-time", "140"),
        conf("ntp-servers", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "fd00:ec2::123")])["DhcpOptions"]
    assert "Tags" not in made  # CreateDhcpOptions' answer has no empty tag set
    assert made["DhcpConfigurations"][0] == {"Key": "domain-name", "Values": [{"Value": "a.example b.example"}]}
    ec2.delete_dhcp_options(DhcpOptionsId=made["DhcpOptionsId"])


def test_unknown_and_malformed_ids(ec2: Any) -> None:
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    assert refused(ec2.associate_dhcp_options, DhcpOptionsId="dopt-0123456789abcdef0", VpcId=vpc) == (
        "InvalidDhcpOptionID.NotFound", "The dhcpOption ID 'dopt-0123456789abcdef0' does not exist")
    assert refused(ec2.delete_dhcp_options, DhcpOptionsId="dopt-0123456789abcdef0")[0] == "InvalidDhcpOptionID.NotFound"
    assert refused(ec2.delete_dhcp_options, DhcpOptionsId="nope")[0] == "InvalidDhcpOptionsId.Malformed"
    assert refused(ec2.associate_dhcp_options, DhcpOptionsId="default", VpcId="vpc-0123456789abcdef0")[0] == (
        "InvalidVpcID.NotFound")
    assert refused(ec2.create_dhcp_options, DhcpConfigurations=[])[0] == "MissingParameter"
    assert refused(ec2.create_dhcp_options, DhcpConfigurations=[conf("domain-name", "x.internal")],
                   TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "a", "Value": "b"}]}])[0] == (
        "InvalidParameterValue")


def test_tags_through_create_tags(ec2: Any) -> None:
    dopt = ec2.create_dhcp_options(DhcpConfigurations=[conf("domain-name", "t.internal")])["DhcpOptions"]["DhcpOptionsId"]
    ec2.create_tags(Resources=[dopt], Tags=[{"Key": "team", "Value": "net"}])
    assert ec2.describe_dhcp_options(DhcpOptionsIds=[dopt])["DhcpOptions"][0]["Tags"] == [{"Key": "team", "Value": "net"}]
    ec2.delete_dhcp_options(DhcpOptionsId=dopt)
    assert not ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [dopt]}])["Tags"]


def test_iam_user_is_checked_on_the_set_and_the_vpc(api: LoopbackApi, ec2: Any) -> None:
    iam = api.client("iam")
    iam.create_user(UserName="dopt-user")
    iam.put_user_policy(UserName="dopt-user", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["ec2:AssociateDhcpOptions", "ec2:DescribeDhcpOptions"], "Resource": "*"},
            {"Effect": "Deny", "Action": "ec2:AssociateDhcpOptions",
             "Resource": "arn:aws:ec2:*:*:dhcp-options/*", "Condition": {"StringEquals": {"aws:ResourceTag/lock": "yes"}}},
        ]}))
    key = iam.create_access_key(UserName="dopt-user")["AccessKey"]
    user = api.client("ec2", {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]})
    vpc = ec2.create_vpc(CidrBlock="10.64.0.0/16")["Vpc"]["VpcId"]
    locked = ec2.create_dhcp_options(DhcpConfigurations=[conf("domain-name", "l.internal")], TagSpecifications=[
        {"ResourceType": "dhcp-options", "Tags": [{"Key": "lock", "Value": "yes"}]}])["DhcpOptions"]["DhcpOptionsId"]
    assert refused(user.create_dhcp_options, DhcpConfigurations=[conf("domain-name", "u.internal")])[0] == (
        "UnauthorizedOperation")
    assert refused(user.associate_dhcp_options, DhcpOptionsId=locked, VpcId=vpc)[0] == "UnauthorizedOperation"
    user.associate_dhcp_options(DhcpOptionsId="default", VpcId=vpc)
    assert ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["DhcpOptionsId"] == "default"
    assert locked in [d["DhcpOptionsId"] for d in user.describe_dhcp_options()["DhcpOptions"]]
    ec2.delete_vpc(VpcId=vpc)
    ec2.delete_dhcp_options(DhcpOptionsId=locked)
