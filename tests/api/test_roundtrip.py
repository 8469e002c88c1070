"""Every action ec2d implements: the handler's output, serialized to XML by ec2d and parsed back
by botocore's own EC2 parser, is exactly what the handler returned."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.parsers import create_parser

from orchestrator.api.context import RequestContext
from orchestrator.api.protocol import XmlSerializer, format_timestamp, parse_timestamp, service_model
from orchestrator.api.registry import HANDLERS, call
from orchestrator.config import Config
from orchestrator.domain.states import InstanceState
from orchestrator.images.cache import ensure_image
from orchestrator.services import bootstrap, images, instances
from orchestrator.services import network_interfaces as enis
from orchestrator.services.backend import Backend

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
SETUP = "(setup)"
S = InstanceState
State = dict[str, Any]


def first_instance(state: State) -> str:
    return state["RunInstances"]["Instances"][0]["InstanceId"]


Sample = Callable[[State], dict[str, Any]]

ED25519_PUB = b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test"

# Ordered: later samples use what earlier ones returned (state["CreateKeyPair"] ...).
SAMPLES: list[tuple[str, Sample]] = [
    ("DescribeRegions", lambda s: {}),
    ("DescribeRegions", lambda s: {"RegionNames": ["us-west-2"]}),
    ("DescribeAvailabilityZones", lambda s: {}),
    ("DescribeAccountAttributes", lambda s: {}),
    ("DescribeInstanceTypes", lambda s: {"MaxResults": 5}),
    ("CreateKeyPair", lambda s: {"KeyName": "rt-rsa", "TagSpecifications": [
        {"ResourceType": "key-pair", "Tags": [{"Key": "team", "Value": "blue"}]}]}),
    ("CreateKeyPair", lambda s: {"KeyName": "rt-ed", "KeyType": "ed25519", "KeyFormat": "ppk"}),
    ("ImportKeyPair", lambda s: {"KeyName": "rt-imported", "PublicKeyMaterial": ED25519_PUB}),
    ("DescribeKeyPairs", lambda s: {"IncludePublicKey": True}),
    ("CreateTags", lambda s: {"Resources": [s["CreateKeyPair"]["KeyPairId"]], "Tags": [{"Key": "a", "Value": "1"}]}),
    ("DescribeTags", lambda s: {"MaxResults": 5}),
    ("DeleteTags", lambda s: {"Resources": [s["CreateKeyPair"]["KeyPairId"]], "Tags": [{"Key": "a"}]}),
    ("DeleteKeyPair", lambda s: {"KeyName": "rt-imported"}),
    ("DescribeImages", lambda s: {"Owners": ["ec2d"]}),
    ("DescribeVpcs", lambda s: {}),
    ("DescribeSubnets", lambda s: {"Filters": [{"Name": "default-for-az", "Values": ["true"]}]}),
    ("RunInstances", lambda s: {
        "ImageId": s["DescribeImages"]["Images"][0]["ImageId"], "MinCount": 2, "MaxCount": 2,
        "InstanceType": "t3.micro", "KeyName": "rt-rsa", "UserData": "IyEvYmluL3NoCmVjaG8gaGkK",
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "rt"}]}]}),
    ("DescribeInstances", lambda s: {}),
    ("DescribeInstanceStatus", lambda s: {"IncludeAllInstances": True}),
    ("DescribeVolumes", lambda s: {}),
    ("DescribeNetworkInterfaces", lambda s: {}),
    (SETUP, lambda s, b: [instances.transition(b, i["InstanceId"], S.PENDING, S.RUNNING)
                          for i in s["RunInstances"]["Instances"]]),
    (SETUP, lambda s, b: s.setdefault("eni2", enis.create(b, "us-east-1", {
        "SubnetId": s["RunInstances"]["Instances"][0]["SubnetId"]}, {}).id)),
    ("AttachNetworkInterface", lambda s: {"NetworkInterfaceId": s["eni2"], "InstanceId": first_instance(s),
                                          "DeviceIndex": 1}),
    ("DetachNetworkInterface", lambda s: {"AttachmentId": s["AttachNetworkInterface"]["AttachmentId"]}),
    ("CreateVolume", lambda s: {"AvailabilityZone": "us-east-1a", "Size": 1, "VolumeType": "gp3", "TagSpecifications": [
        {"ResourceType": "volume", "Tags": [{"Key": "k", "Value": "v"}]}]}),
    ("AttachVolume", lambda s: {"VolumeId": s["CreateVolume"]["VolumeId"], "InstanceId": first_instance(s),
                                "Device": "/dev/sdf"}),
    ("ModifyVolume", lambda s: {"VolumeId": s["CreateVolume"]["VolumeId"], "Size": 2}),
    ("DescribeVolumesModifications", lambda s: {"VolumeIds": [s["CreateVolume"]["VolumeId"]]}),
    ("DescribeVolumeStatus", lambda s: {}),
    ("CreateSnapshot", lambda s: {"VolumeId": s["CreateVolume"]["VolumeId"], "Description": "rt", "TagSpecifications": [
        {"ResourceType": "snapshot", "Tags": [{"Key": "k", "Value": "v"}]}]}),
    ("CreateSnapshots", lambda s: {"InstanceSpecification": {"InstanceId": first_instance(s)},
                                   "CopyTagsFromSource": "volume"}),
    ("DescribeSnapshots", lambda s: {"OwnerIds": ["self"]}),
    ("ModifySnapshotAttribute", lambda s: {"SnapshotId": s["CreateSnapshot"]["SnapshotId"],
                                           "Attribute": "createVolumePermission", "OperationType": "add",
                                           "UserIds": ["123456789012"]}),
    ("DescribeSnapshotAttribute", lambda s: {"SnapshotId": s["CreateSnapshot"]["SnapshotId"],
                                             "Attribute": "createVolumePermission"}),
    ("CopySnapshot", lambda s: {"SourceRegion": "us-east-1", "SourceSnapshotId": s["CreateSnapshot"]["SnapshotId"]}),
    ("DetachVolume", lambda s: {"VolumeId": s["CreateVolume"]["VolumeId"]}),
    ("CreateImage", lambda s: {"InstanceId": first_instance(s), "Name": "rt-image", "NoReboot": True}),
    ("RegisterImage", lambda s: {"Name": "rt-registered", "RootDeviceName": "/dev/xvda", "BlockDeviceMappings": [
        {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": s["CreateSnapshots"]["Snapshots"][0]["SnapshotId"]}}]}),
    ("CopyImage", lambda s: {"SourceRegion": "us-east-1", "SourceImageId": s["CreateImage"]["ImageId"],
                             "Name": "rt-copy"}),
    ("ModifyImageAttribute", lambda s: {"ImageId": s["CreateImage"]["ImageId"],
                                        "LaunchPermission": {"Add": [{"UserId": "123456789012"}]}}),
    ("DescribeImageAttribute", lambda s: {"ImageId": s["CreateImage"]["ImageId"], "Attribute": "launchPermission"}),
    ("ResetImageAttribute", lambda s: {"ImageId": s["CreateImage"]["ImageId"], "Attribute": "launchPermission"}),
    ("DeregisterImage", lambda s: {"ImageId": s["RegisterImage"]["ImageId"], "DeleteAssociatedSnapshots": True}),
    ("DeleteSnapshot", lambda s: {"SnapshotId": s["CreateSnapshot"]["SnapshotId"]}),
    ("DeleteVolume", lambda s: {"VolumeId": s["CreateVolume"]["VolumeId"]}),
    ("RebootInstances", lambda s: {"InstanceIds": [first_instance(s)]}),
    ("StopInstances", lambda s: {"InstanceIds": [first_instance(s)]}),
    (SETUP, lambda s, b: instances.transition(b, first_instance(s), S.STOPPING, S.STOPPED)),
    ("ModifyInstanceAttribute", lambda s: {"InstanceId": first_instance(s), "InstanceType": {"Value": "t3.small"}}),
    ("DescribeInstanceAttribute", lambda s: {"InstanceId": first_instance(s), "Attribute": "instanceType"}),
    ("StartInstances", lambda s: {"InstanceIds": [first_instance(s)]}),
    ("ModifyInstanceMetadataOptions", lambda s: {"InstanceId": first_instance(s), "HttpTokens": "optional",
                                                 "InstanceMetadataTags": "enabled"}),
    ("GetConsoleOutput", lambda s: {"InstanceId": first_instance(s)}),
    ("TerminateInstances", lambda s: {"InstanceIds": [i["InstanceId"] for i in s["RunInstances"]["Instances"]]}),
    ("CreateVpc", lambda s: {"CidrBlock": "10.1.0.0/16"}),
    ("ModifyVpcAttribute", lambda s: {"VpcId": s["CreateVpc"]["Vpc"]["VpcId"], "EnableDnsHostnames": {"Value": True}}),
    ("DescribeVpcAttribute", lambda s: {"VpcId": s["CreateVpc"]["Vpc"]["VpcId"], "Attribute": "enableDnsSupport"}),
    ("CreateSubnet", lambda s: {"VpcId": s["CreateVpc"]["Vpc"]["VpcId"], "CidrBlock": "10.1.2.0/24"}),
    ("ModifySubnetAttribute", lambda s: {"SubnetId": s["CreateSubnet"]["Subnet"]["SubnetId"],
                                         "MapPublicIpOnLaunch": {"Value": True}}),
    ("CreateSecurityGroup", lambda s: {"GroupName": "rt", "Description": "rt", "VpcId": s["CreateVpc"]["Vpc"]["VpcId"]}),
    ("AuthorizeSecurityGroupIngress", lambda s: {"GroupId": s["CreateSecurityGroup"]["GroupId"], "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]}),
    ("AuthorizeSecurityGroupEgress", lambda s: {"GroupId": s["CreateSecurityGroup"]["GroupId"], "IpPermissions": [
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "10.1.0.2/32"}]}]}),
    ("DescribeSecurityGroups", lambda s: {}),
    ("DescribeSecurityGroupRules", lambda s: {"MaxResults": 5}),
    ("RevokeSecurityGroupIngress", lambda s: {"GroupId": s["CreateSecurityGroup"]["GroupId"], "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]}),
    ("RevokeSecurityGroupEgress", lambda s: {"GroupId": s["CreateSecurityGroup"]["GroupId"], "IpPermissions": [
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "10.1.0.2/32"}]}]}),
    ("DeleteSecurityGroup", lambda s: {"GroupId": s["CreateSecurityGroup"]["GroupId"]}),
    ("CreateInternetGateway", lambda s: {}),
    ("AttachInternetGateway", lambda s: {"InternetGatewayId": s["CreateInternetGateway"]["InternetGateway"][
        "InternetGatewayId"], "VpcId": s["CreateVpc"]["Vpc"]["VpcId"]}),
    ("CreateRouteTable", lambda s: {"VpcId": s["CreateVpc"]["Vpc"]["VpcId"]}),
    ("CreateRoute", lambda s: {"RouteTableId": s["CreateRouteTable"]["RouteTable"]["RouteTableId"],
                               "DestinationCidrBlock": "0.0.0.0/0",
                               "GatewayId": s["CreateInternetGateway"]["InternetGateway"]["InternetGatewayId"]}),
    ("AssociateRouteTable", lambda s: {"RouteTableId": s["CreateRouteTable"]["RouteTable"]["RouteTableId"],
                                       "SubnetId": s["CreateSubnet"]["Subnet"]["SubnetId"]}),
    ("DescribeRouteTables", lambda s: {}),
    ("DescribeInternetGateways", lambda s: {}),
    ("CreateNetworkInterface", lambda s: {"SubnetId": s["CreateSubnet"]["Subnet"]["SubnetId"],
                                          "SecondaryPrivateIpAddressCount": 1}),
    ("AssignPrivateIpAddresses", lambda s: {"NetworkInterfaceId": s["CreateNetworkInterface"]["NetworkInterface"][
        "NetworkInterfaceId"], "SecondaryPrivateIpAddressCount": 1}),
    ("UnassignPrivateIpAddresses", lambda s: {"NetworkInterfaceId": s["CreateNetworkInterface"]["NetworkInterface"][
        "NetworkInterfaceId"], "PrivateIpAddresses": s["AssignPrivateIpAddresses"]["AssignedPrivateIpAddresses"][0][
        "PrivateIpAddress"].split()}),
    ("AllocateAddress", lambda s: {"Domain": "vpc"}),
    ("AssociateAddress", lambda s: {"AllocationId": s["AllocateAddress"]["AllocationId"],
                                    "InstanceId": first_instance(s)}),
    ("DescribeAddresses", lambda s: {}),
    ("DisassociateAddress", lambda s: {"AssociationId": s["AssociateAddress"]["AssociationId"]}),
    ("ReleaseAddress", lambda s: {"AllocationId": s["AllocateAddress"]["AllocationId"]}),
    ("DeleteNetworkInterface", lambda s: {"NetworkInterfaceId": s["CreateNetworkInterface"]["NetworkInterface"][
        "NetworkInterfaceId"]}),
    ("DisassociateRouteTable", lambda s: {"AssociationId": s["AssociateRouteTable"]["AssociationId"]}),
    ("DeleteRoute", lambda s: {"RouteTableId": s["CreateRouteTable"]["RouteTable"]["RouteTableId"],
                               "DestinationCidrBlock": "0.0.0.0/0"}),
    ("DeleteRouteTable", lambda s: {"RouteTableId": s["CreateRouteTable"]["RouteTable"]["RouteTableId"]}),
    ("DetachInternetGateway", lambda s: {"InternetGatewayId": s["CreateInternetGateway"]["InternetGateway"][
        "InternetGatewayId"], "VpcId": s["CreateVpc"]["Vpc"]["VpcId"]}),
    ("DeleteInternetGateway", lambda s: {"InternetGatewayId": s["CreateInternetGateway"]["InternetGateway"][
        "InternetGatewayId"]}),
    ("DeleteSubnet", lambda s: {"SubnetId": s["CreateSubnet"]["Subnet"]["SubnetId"]}),
    ("DeleteVpc", lambda s: {"VpcId": s["CreateVpc"]["Vpc"]["VpcId"]}),
]


def normalize(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items() if v is not None and k != "ResponseMetadata"}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, dt.datetime):
        return format_timestamp(value)
    if isinstance(value, str) and ISO.match(value):  # handlers may keep timestamps as ISO strings
        return format_timestamp(parse_timestamp(value))
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


@pytest.fixture()
def backend(tmp_path: Path):
    b = bootstrap.open(Config(data_dir=tmp_path, instances=False))
    yield b
    b.close()


@pytest.fixture()
def published(backend: Backend) -> None:
    ensure_image("ec2d-tiny", backend.config.cache_dir)
    images.sync_published(backend)


def test_every_registered_action_has_a_sample() -> None:
    assert set(HANDLERS) <= {name for name, _ in SAMPLES}


def test_handler_output_survives_botocore_parsing(backend: Backend, published: None) -> None:
    model = service_model()
    parser = create_parser("ec2")
    state: State = {}
    for name, sample in SAMPLES:
        if name == SETUP:
            sample(state, backend)  # type: ignore[call-arg]
            continue
        op = model.operation_model(name)
        ctx = RequestContext("req-rt", name, "us-east-1", backend.account_id, "AKIA", backend)
        result = asyncio.run(call(HANDLERS[name], ctx, sample(state))) or {}
        state.setdefault(name, result)
        body = XmlSerializer().response(op, result, "req-rt")
        parsed = parser.parse({"body": body, "headers": {}, "status_code": 200}, op.output_shape)
        assert parsed["ResponseMetadata"]["RequestId"] == "req-rt"
        assert normalize(parsed) == normalize(result), name
