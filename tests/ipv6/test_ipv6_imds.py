"""The metadata service lists an interface's IPv6 addresses and its subnet's and VPC's IPv6 blocks
(``ipv6s``, ``subnet-ipv6-cidr-blocks``, ``vpc-ipv6-cidr-blocks``, read by cloud-init's Ec2
datasource to turn DHCPv6 on) exactly where the interface, subnet or VPC has IPv6, from the
records as the runtime reads them (pure: no server)."""

from __future__ import annotations

from orchestrator.imds.tree import build_tree, resolve
from orchestrator.runtime import vpc_state
from orchestrator.runtime.vpc_state import VpcView
from orchestrator.store.sqlite import Record

REGION = "us-east-1"
MAC_A, MAC_B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
VPC_BLOCK, SUBNET_BLOCK = "2001:db8:0:100::/56", "2001:db8:0:100::/64"


def _assoc(block: str) -> dict[str, object]:
    return {"AssociationId": "x", "Ipv6CidrBlock": block, "Ipv6CidrBlockState": {"State": "associated"}}


def _view() -> VpcView:
    vpc = Record("vpc-1", "vpc", REGION, "available",
                 {"CidrBlock": "10.0.0.0/16", "Ipv6CidrBlockAssociationSet": [_assoc(VPC_BLOCK)]})
    dual = Record("subnet-a", "subnet", REGION, "available", {
        "VpcId": "vpc-1", "CidrBlock": "10.0.1.0/24", "Ipv6CidrBlockAssociationSet": [_assoc(SUBNET_BLOCK)]})
    plain = Record("subnet-b", "subnet", REGION, "available", {"VpcId": "vpc-1", "CidrBlock": "10.0.2.0/24"})

    def eni(eid: str, ip: str, mac: str, subnet: str, device: int, ipv6: list[str]) -> Record:
        return Record(eid, "network-interface", REGION, "in-use", {
            "VpcId": "vpc-1", "SubnetId": subnet, "PrivateIpAddress": ip, "MacAddress": mac, "OwnerId": "123",
            "Groups": [{"GroupId": "sg-1", "GroupName": "web"}], "Attachment": {"DeviceIndex": device},
            **({"Ipv6Addresses": ipv6} if ipv6 else {})})

    instance = Record("i-1", "instance", REGION, "running", {
        "VpcId": "vpc-1", "SubnetId": "subnet-a", "PrivateIpAddress": "10.0.1.10", "MacAddress": MAC_A,
        "NetworkInterfaceId": "eni-a", "ImageId": "ami-1", "InstanceType": "t3.micro", "ReservationId": "r-1",
        "AvailabilityZone": "us-east-1a", "OwnerId": "123", "LaunchTime": "2026-01-02T03:04:05.000Z",
        "AmiLaunchIndex": 0, "SecurityGroups": [{"GroupId": "sg-1", "GroupName": "web"}],
        "RootDeviceName": "/dev/xvda", "BlockDeviceMappings": [{"DeviceName": "/dev/xvda"}],
        "MetadataOptions": {"HttpTokens": "optional", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1}})
    return VpcView(vpc=vpc, subnets={"subnet-a": dual, "subnet-b": plain}, instances=[instance], enis={"i-1": [
        eni("eni-a", "10.0.1.10", MAC_A, "subnet-a", 0, ["2001:db8:0:100::4", "2001:db8:0:100::9"]),
        eni("eni-b", "10.0.2.20", MAC_B, "subnet-b", 1, [])]})


def _get(view: VpcView, path: str) -> tuple[int, str]:
    md = vpc_state.instance_metadata(view, view.instances[0], lambda _iid: {})
    answer = resolve(build_tree(md), path)
    return answer.status, answer.body.decode()


def test_ipv6_entries_of_a_dual_stack_interface() -> None:
    base = f"/latest/meta-data/network/interfaces/macs/{MAC_A}/"
    status, listing = _get(_view(), base)
    assert status == 200
    assert {"ipv6s", "subnet-ipv6-cidr-blocks", "vpc-ipv6-cidr-blocks"} <= set(listing.split("\n"))
    assert _get(_view(), base + "ipv6s") == (200, "2001:db8:0:100::4\n2001:db8:0:100::9")
    assert _get(_view(), base + "subnet-ipv6-cidr-blocks") == (200, SUBNET_BLOCK)
    assert _get(_view(), base + "vpc-ipv6-cidr-blocks") == (200, VPC_BLOCK)


def test_an_ipv4_only_subnet_shows_only_the_vpc_block() -> None:
    base = f"/latest/meta-data/network/interfaces/macs/{MAC_B}/"
    listing = set(_get(_view(), base)[1].split("\n"))
    assert "ipv6s" not in listing and "subnet-ipv6-cidr-blocks" not in listing
    assert _get(_view(), base + "vpc-ipv6-cidr-blocks") == (200, VPC_BLOCK)
    assert _get(_view(), base + "ipv6s")[0] == 404
