"""Every action of every service ec2d serves: the handler's output, serialized by ec2d in the
service's protocol (EC2 XML, Query XML, JSON 1.1) and parsed back by botocore's own parser for that
protocol, is exactly what the handler returned. Errors too: each protocol's envelope parses into
the code, message and request id ec2d sent."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import inspect
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import autoscaling_samples
import pytest
from api_only import fake_runtime, opened_backend, reaches, until
from botocore.parsers import create_parser

from orchestrator.api import registry
from orchestrator.api.context import RequestContext
from orchestrator.api.protocols.ec2 import XmlSerializer, service_model
from orchestrator.api.protocols.params import parse_timestamp
from orchestrator.api.protocols.xml import format_timestamp
from orchestrator.api.registry import HANDLERS, call
from orchestrator.domain import errors
from orchestrator.images.cache import ensure_image
from orchestrator.services import images, principals
from orchestrator.services import network_interfaces as enis
from orchestrator.services import vpc_peering as vpc_peering_service
from orchestrator.services.backend import Backend
from orchestrator.services.iam import auth_messages, profiles, roles

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
SETUP = "(setup)"  # a step between samples: waits (API-only mode's runtime settles records in the background)
State = dict[str, Any]


def first_instance(state: State) -> str:
    return state["RunInstances"]["Instances"][0]["InstanceId"]


Sample = Callable[[State], dict[str, Any]]


def settled(*steps: tuple[str, str, str]) -> Callable[[State, Backend], Awaitable[None]]:
    """A setup step: wait until each ``(action, key, state)`` sample's resource is in that state
    (``key`` names the id in the action's result; ``Instances`` means every launched instance)."""
    async def wait(s: State, b: Backend) -> None:
        for action, key, state in steps:
            ids = [i["InstanceId"] for i in s[action]["Instances"]] if key == "Instances" else [s[action][key]]
            for rid in ids:
                await reaches(b, rid, state)
    return wait


def attached(s: State, b: Backend) -> Awaitable[object]:
    vid = s["CreateVolume"]["VolumeId"]
    return until(lambda: [a for a in (b.store.get(vid).data.get("Attachments") or []) if a["State"] == "attached"],
                 f"{vid} attached")


EC2_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def default_vpc(s: State) -> str:
    return str(next(v["VpcId"] for v in s["DescribeVpcs"]["Vpcs"] if v["IsDefault"]))


def peering(s: State) -> str:
    return str(s["CreateVpcPeeringConnection"]["VpcPeeringConnection"]["VpcPeeringConnectionId"])


def pending_peering(s: State, b: Backend) -> None:
    """A second request, ``pending-acceptance`` (for the Reject sample)."""
    record = vpc_peering_service.create(b, "us-east-1", {"VpcId": s["CreateVpc"]["Vpc"]["VpcId"],
                                                         "PeerVpcId": default_vpc(s)}, {})
    vpc_peering_service.settle(b, record)
    s["pcx2"] = record.id


def instance_profile(s: State, b: Backend) -> None:
    """An instance profile ``rt-profile`` holding the role ``rt-role`` (for the association samples)."""
    roles.create(b, None, {"RoleName": "rt-role", "AssumeRolePolicyDocument": EC2_TRUST})
    s["profile"] = profiles.create(b, None, "rt-profile", None, None)
    profiles.add_role(b, None, "rt-profile", "rt-role")


def association(s: State, action: str) -> str:
    return s[action]["IamInstanceProfileAssociation"]["AssociationId"]


def snapshots_completed(s: State, b: Backend) -> Awaitable[object]:
    ids = [s["CreateSnapshot"]["SnapshotId"]] + [x["SnapshotId"] for x in s["CreateSnapshots"]["Snapshots"]]
    return until(lambda: all(b.store.get(i).state == "completed" for i in ids), f"{ids} completed")

ED25519_PUB = b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test"

# Ordered: later samples use what earlier ones returned (state["CreateKeyPair"] ...).
SAMPLES: list[tuple[str, Sample]] = [
    ("DescribeRegions", lambda s: {}),
    ("DescribeRegions", lambda s: {"RegionNames": ["us-west-2"]}),
    ("DescribeAvailabilityZones", lambda s: {}),
    ("DescribeAccountAttributes", lambda s: {}),
    ("DescribeInstanceTypes", lambda s: {"MaxResults": 5}),
    ("DescribeInstanceTypeOfferings", lambda s: {"LocationType": "availability-zone", "MaxResults": 5}),
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
    (SETUP, settled(("RunInstances", "Instances", "running"))),
    (SETUP, lambda s, b: s.setdefault("eni2", enis.create(b, "us-east-1", {
        "SubnetId": s["RunInstances"]["Instances"][0]["SubnetId"]}, {}).id)),
    ("AttachNetworkInterface", lambda s: {"NetworkInterfaceId": s["eni2"], "InstanceId": first_instance(s),
                                          "DeviceIndex": 1}),
    ("DetachNetworkInterface", lambda s: {"AttachmentId": s["AttachNetworkInterface"]["AttachmentId"]}),
    ("ModifyNetworkInterfaceAttribute", lambda s: {"NetworkInterfaceId": s["eni2"], "SourceDestCheck": {"Value": False}}),
    ("DescribeNetworkInterfaceAttribute", lambda s: {"NetworkInterfaceId": s["eni2"], "Attribute": "sourceDestCheck"}),
    ("ResetNetworkInterfaceAttribute", lambda s: {"NetworkInterfaceId": s["eni2"], "SourceDestCheck": "true"}),
    ("CreateVolume", lambda s: {"AvailabilityZone": "us-east-1a", "Size": 1, "VolumeType": "gp3", "TagSpecifications": [
        {"ResourceType": "volume", "Tags": [{"Key": "k", "Value": "v"}]}]}),
    (SETUP, settled(("CreateVolume", "VolumeId", "available"))),
    ("AttachVolume", lambda s: {"VolumeId": s["CreateVolume"]["VolumeId"], "InstanceId": first_instance(s),
                                "Device": "/dev/sdf"}),
    (SETUP, attached),
    ("ModifyVolume", lambda s: {"VolumeId": s["CreateVolume"]["VolumeId"], "Size": 2}),
    ("DescribeVolumesModifications", lambda s: {"VolumeIds": [s["CreateVolume"]["VolumeId"]]}),
    ("DescribeVolumeStatus", lambda s: {}),
    ("CreateSnapshot", lambda s: {"VolumeId": s["CreateVolume"]["VolumeId"], "Description": "rt", "TagSpecifications": [
        {"ResourceType": "snapshot", "Tags": [{"Key": "k", "Value": "v"}]}]}),
    ("CreateSnapshots", lambda s: {"InstanceSpecification": {"InstanceId": first_instance(s)},
                                   "CopyTagsFromSource": "volume"}),
    (SETUP, snapshots_completed),
    ("DescribeSnapshots", lambda s: {"OwnerIds": ["self"]}),
    ("ModifySnapshotAttribute", lambda s: {"SnapshotId": s["CreateSnapshot"]["SnapshotId"],
                                           "Attribute": "createVolumePermission", "OperationType": "add",
                                           "UserIds": ["123456789012"]}),
    ("DescribeSnapshotAttribute", lambda s: {"SnapshotId": s["CreateSnapshot"]["SnapshotId"],
                                             "Attribute": "createVolumePermission"}),
    ("CopySnapshot", lambda s: {"SourceRegion": "us-east-1", "SourceSnapshotId": s["CreateSnapshot"]["SnapshotId"]}),
    ("DetachVolume", lambda s: {"VolumeId": s["CreateVolume"]["VolumeId"]}),
    (SETUP, settled(("CreateVolume", "VolumeId", "available"))),
    ("CreateImage", lambda s: {"InstanceId": first_instance(s), "Name": "rt-image", "NoReboot": True}),
    (SETUP, settled(("CreateImage", "ImageId", "available"))),
    ("RegisterImage", lambda s: {"Name": "rt-registered", "RootDeviceName": "/dev/xvda", "BlockDeviceMappings": [
        {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": s["CreateSnapshots"]["Snapshots"][0]["SnapshotId"]}}]}),
    ("CopyImage", lambda s: {"SourceRegion": "us-east-1", "SourceImageId": s["CreateImage"]["ImageId"],
                             "Name": "rt-copy"}),
    ("ModifyImageAttribute", lambda s: {"ImageId": s["CreateImage"]["ImageId"],
                                        "LaunchPermission": {"Add": [{"UserId": "123456789012"}]}}),
    ("DescribeImageAttribute", lambda s: {"ImageId": s["CreateImage"]["ImageId"], "Attribute": "launchPermission"}),
    ("ResetImageAttribute", lambda s: {"ImageId": s["CreateImage"]["ImageId"], "Attribute": "launchPermission"}),
    ("DeregisterImage", lambda s: {"ImageId": s["RegisterImage"]["ImageId"], "DeleteAssociatedSnapshots": True}),
    ("EnableEbsEncryptionByDefault", lambda s: {}),
    ("GetEbsEncryptionByDefault", lambda s: {}),
    ("ModifyEbsDefaultKmsKeyId", lambda s: {"KmsKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
    ("GetEbsDefaultKmsKeyId", lambda s: {}),
    ("ResetEbsDefaultKmsKeyId", lambda s: {}),
    ("DisableEbsEncryptionByDefault", lambda s: {}),
    ("DeleteSnapshot", lambda s: {"SnapshotId": s["CreateSnapshot"]["SnapshotId"]}),
    ("DeleteVolume", lambda s: {"VolumeId": s["CreateVolume"]["VolumeId"]}),
    ("RebootInstances", lambda s: {"InstanceIds": [first_instance(s)]}),
    ("StopInstances", lambda s: {"InstanceIds": [first_instance(s)]}),
    (SETUP, lambda s, b: reaches(b, first_instance(s), "stopped")),
    ("ModifyInstanceAttribute", lambda s: {"InstanceId": first_instance(s), "InstanceType": {"Value": "t3.small"}}),
    ("DescribeInstanceAttribute", lambda s: {"InstanceId": first_instance(s), "Attribute": "instanceType"}),
    ("ResetInstanceAttribute", lambda s: {"InstanceId": first_instance(s), "Attribute": "sourceDestCheck"}),
    ("StartInstances", lambda s: {"InstanceIds": [first_instance(s)]}),
    ("ModifyInstanceMaintenanceOptions", lambda s: {"InstanceId": first_instance(s), "AutoRecovery": "disabled"}),
    ("ModifyInstanceMetadataOptions", lambda s: {"InstanceId": first_instance(s), "HttpTokens": "optional",
                                                 "InstanceMetadataTags": "enabled"}),
    ("GetConsoleOutput", lambda s: {"InstanceId": first_instance(s)}),
    ("CreateVpc", lambda s: {"CidrBlock": "10.1.0.0/16"}),
    ("ModifyVpcAttribute", lambda s: {"VpcId": s["CreateVpc"]["Vpc"]["VpcId"], "EnableDnsHostnames": {"Value": True}}),
    ("DescribeVpcAttribute", lambda s: {"VpcId": s["CreateVpc"]["Vpc"]["VpcId"], "Attribute": "enableDnsSupport"}),
    ("AssociateVpcCidrBlock", lambda s: {"VpcId": s["CreateVpc"]["Vpc"]["VpcId"], "CidrBlock": "10.2.0.0/16"}),
    ("DisassociateVpcCidrBlock", lambda s: {
        "AssociationId": s["AssociateVpcCidrBlock"]["CidrBlockAssociation"]["AssociationId"]}),
    ("CreateSubnet", lambda s: {"VpcId": s["CreateVpc"]["Vpc"]["VpcId"], "CidrBlock": "10.1.2.0/24"}),
    ("AssociateVpcCidrBlock", lambda s: {"VpcId": s["CreateVpc"]["Vpc"]["VpcId"], "AmazonProvidedIpv6CidrBlock": True}),
    ("AssociateSubnetCidrBlock", lambda s: {"SubnetId": s["CreateSubnet"]["Subnet"]["SubnetId"], "Ipv6CidrBlock": (
        s["AssociateVpcCidrBlock:last"]["Ipv6CidrBlockAssociation"]["Ipv6CidrBlock"].replace("/56", "/64"))}),
    ("ModifySubnetAttribute", lambda s: {"SubnetId": s["CreateSubnet"]["Subnet"]["SubnetId"],
                                         "MapPublicIpOnLaunch": {"Value": True}}),
    ("CreateSubnetCidrReservation", lambda s: {
        "SubnetId": s["CreateSubnet"]["Subnet"]["SubnetId"], "Cidr": "10.1.2.64/28", "ReservationType": "explicit",
        "Description": "rt", "TagSpecifications": [{"ResourceType": "subnet-cidr-reservation",
                                                     "Tags": [{"Key": "k", "Value": "v"}]}]}),
    ("GetSubnetCidrReservations", lambda s: {"SubnetId": s["CreateSubnet"]["Subnet"]["SubnetId"]}),
    ("DeleteSubnetCidrReservation", lambda s: {
        "SubnetCidrReservationId": s["CreateSubnetCidrReservation"]["SubnetCidrReservation"][
            "SubnetCidrReservationId"]}),
    ("CreateSecurityGroup", lambda s: {"GroupName": "rt", "Description": "rt", "VpcId": s["CreateVpc"]["Vpc"]["VpcId"]}),
    ("AuthorizeSecurityGroupIngress", lambda s: {"GroupId": s["CreateSecurityGroup"]["GroupId"], "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]}),
    ("AuthorizeSecurityGroupEgress", lambda s: {"GroupId": s["CreateSecurityGroup"]["GroupId"], "IpPermissions": [
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "10.1.0.2/32"}]}]}),
    ("DescribeSecurityGroups", lambda s: {}),
    ("DescribeSecurityGroupRules", lambda s: {"MaxResults": 5}),
    ("UpdateSecurityGroupRuleDescriptionsIngress", lambda s: {
        "GroupId": s["CreateSecurityGroup"]["GroupId"], "IpPermissions": [
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "ssh"}]}]}),
    ("UpdateSecurityGroupRuleDescriptionsEgress", lambda s: {
        "GroupId": s["CreateSecurityGroup"]["GroupId"], "SecurityGroupRuleDescriptions": [{
            "SecurityGroupRuleId": s["AuthorizeSecurityGroupEgress"]["SecurityGroupRules"][0]["SecurityGroupRuleId"],
            "Description": "dns"}]}),
    ("ModifySecurityGroupRules", lambda s: {
        "GroupId": s["CreateSecurityGroup"]["GroupId"], "SecurityGroupRules": [{
            "SecurityGroupRuleId": s["AuthorizeSecurityGroupEgress"]["SecurityGroupRules"][0]["SecurityGroupRuleId"],
            "SecurityGroupRule": {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "CidrIpv4": "10.1.0.2/32"}}]}),
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
    ("ReplaceRouteTableAssociation", lambda s: {
        "AssociationId": s["AssociateRouteTable"]["AssociationId"],
        "RouteTableId": s["CreateRouteTable"]["RouteTable"]["RouteTableId"]}),
    ("DescribeRouteTables", lambda s: {}),
    ("DescribeInternetGateways", lambda s: {}),
    ("CreateEgressOnlyInternetGateway", lambda s: {"VpcId": s["CreateVpc"]["Vpc"]["VpcId"], "ClientToken": "rt-eigw",
                                                   "TagSpecifications": [{"ResourceType": "egress-only-internet-gateway",
                                                                          "Tags": [{"Key": "team", "Value": "a"}]}]}),
    ("DescribeEgressOnlyInternetGateways", lambda s: {}),
    ("CreateDhcpOptions", lambda s: {"DhcpConfigurations": [
        {"Key": "domain-name", "Values": ["example.internal"]},
        {"Key": "domain-name-servers", "Values": ["AmazonProvidedDNS", "10.1.0.53"]}],
        "TagSpecifications": [{"ResourceType": "dhcp-options", "Tags": [{"Key": "team", "Value": "a"}]}]}),
    ("AssociateDhcpOptions", lambda s: {"DhcpOptionsId": s["CreateDhcpOptions"]["DhcpOptions"]["DhcpOptionsId"],
                                        "VpcId": s["CreateVpc"]["Vpc"]["VpcId"]}),
    ("DescribeDhcpOptions", lambda s: {"Filters": [{"Name": "key", "Values": ["domain-name"]}]}),
    ("CreateManagedPrefixList", lambda s: {
        "PrefixListName": "rt-pl", "AddressFamily": "IPv4", "MaxEntries": 3, "ClientToken": "rt-pl",
        "Entries": [{"Cidr": "10.1.9.0/24", "Description": "office"}],
        "TagSpecifications": [{"ResourceType": "prefix-list", "Tags": [{"Key": "team", "Value": "a"}]}]}),
    ("DescribeManagedPrefixLists", lambda s: {"Filters": [{"Name": "prefix-list-name", "Values": ["rt-pl"]}]}),
    ("ModifyManagedPrefixList", lambda s: {
        "PrefixListId": s["CreateManagedPrefixList"]["PrefixList"]["PrefixListId"], "CurrentVersion": 1,
        "AddEntries": [{"Cidr": "10.1.8.0/24"}]}),
    ("GetManagedPrefixListEntries", lambda s: {
        "PrefixListId": s["CreateManagedPrefixList"]["PrefixList"]["PrefixListId"], "TargetVersion": 1}),
    ("GetManagedPrefixListAssociations", lambda s: {
        "PrefixListId": s["CreateManagedPrefixList"]["PrefixList"]["PrefixListId"]}),
    ("RestoreManagedPrefixListVersion", lambda s: {
        "PrefixListId": s["CreateManagedPrefixList"]["PrefixList"]["PrefixListId"], "PreviousVersion": 1,
        "CurrentVersion": 2}),
    ("DescribePrefixLists", lambda s: {}),
    ("CreateVpcEndpoint", lambda s: {
        "VpcEndpointType": "Gateway", "VpcId": s["CreateVpc"]["Vpc"]["VpcId"], "ClientToken": "rt-vpce",
        "ServiceName": "com.amazonaws.us-east-1.s3", "RouteTableIds": [s["CreateRouteTable"]["RouteTable"]["RouteTableId"]],
        "TagSpecifications": [{"ResourceType": "vpc-endpoint", "Tags": [{"Key": "team", "Value": "a"}]}]}),
    ("DescribeVpcEndpoints", lambda s: {"Filters": [{"Name": "vpc-endpoint-type", "Values": ["Gateway"]}]}),
    ("ModifyVpcEndpoint", lambda s: {"VpcEndpointId": s["CreateVpcEndpoint"]["VpcEndpoint"]["VpcEndpointId"],
                                     "ResetPolicy": True}),
    ("DescribeVpcEndpointServices", lambda s: {}),
    ("DeleteVpcEndpoints", lambda s: {"VpcEndpointIds": [s["CreateVpcEndpoint"]["VpcEndpoint"]["VpcEndpointId"],
                                                         "vpce-0123456789abcdef0"]}),
    ("DeleteManagedPrefixList", lambda s: {
        "PrefixListId": s["CreateManagedPrefixList"]["PrefixList"]["PrefixListId"]}),
    ("CreateNetworkInterface", lambda s: {"SubnetId": s["CreateSubnet"]["Subnet"]["SubnetId"],
                                          "SecondaryPrivateIpAddressCount": 1}),
    ("AssignPrivateIpAddresses", lambda s: {"NetworkInterfaceId": s["CreateNetworkInterface"]["NetworkInterface"][
        "NetworkInterfaceId"], "SecondaryPrivateIpAddressCount": 1}),
    ("UnassignPrivateIpAddresses", lambda s: {"NetworkInterfaceId": s["CreateNetworkInterface"]["NetworkInterface"][
        "NetworkInterfaceId"], "PrivateIpAddresses": s["AssignPrivateIpAddresses"]["AssignedPrivateIpAddresses"][0][
        "PrivateIpAddress"].split()}),
    ("AssignIpv6Addresses", lambda s: {"NetworkInterfaceId": s["CreateNetworkInterface"]["NetworkInterface"][
        "NetworkInterfaceId"], "Ipv6AddressCount": 1}),
    ("UnassignIpv6Addresses", lambda s: {"NetworkInterfaceId": s["CreateNetworkInterface"]["NetworkInterface"][
        "NetworkInterfaceId"], "Ipv6Addresses": s["AssignIpv6Addresses"]["AssignedIpv6Addresses"]}),
    ("DisassociateSubnetCidrBlock", lambda s: {
        "AssociationId": s["AssociateSubnetCidrBlock"]["Ipv6CidrBlockAssociation"]["AssociationId"]}),
    ("DisassociateVpcCidrBlock", lambda s: {
        "AssociationId": s["AssociateVpcCidrBlock:last"]["Ipv6CidrBlockAssociation"]["AssociationId"]}),
    (SETUP, instance_profile),
    ("AssociateIamInstanceProfile", lambda s: {"InstanceId": first_instance(s),
                                               "IamInstanceProfile": {"Name": "rt-profile"}}),
    ("DescribeIamInstanceProfileAssociations", lambda s: {"Filters": [
        {"Name": "instance-id", "Values": [first_instance(s)]}]}),
    ("ReplaceIamInstanceProfileAssociation", lambda s: {
        "AssociationId": association(s, "AssociateIamInstanceProfile"),
        "IamInstanceProfile": {"Arn": s["profile"]["Arn"]}}),
    ("DisassociateIamInstanceProfile", lambda s: {
        "AssociationId": association(s, "ReplaceIamInstanceProfileAssociation")}),
    ("AllocateAddress", lambda s: {"Domain": "vpc"}),
    ("AssociateAddress", lambda s: {"AllocationId": s["AllocateAddress"]["AllocationId"],
                                    "InstanceId": first_instance(s)}),
    ("DescribeAddresses", lambda s: {}),
    ("ModifyAddressAttribute", lambda s: {"AllocationId": s["AllocateAddress"]["AllocationId"],
                                          "DomainName": "mail.example.com"}),
    ("DescribeAddressesAttribute", lambda s: {"AllocationIds": [s["AllocateAddress"]["AllocationId"]],
                                              "Attribute": "domain-name"}),
    ("ResetAddressAttribute", lambda s: {"AllocationId": s["AllocateAddress"]["AllocationId"],
                                         "Attribute": "domain-name"}),
    ("DisassociateAddress", lambda s: {"AssociationId": s["AssociateAddress"]["AssociationId"]}),
    ("CreateNatGateway", lambda s: {"SubnetId": s["CreateSubnet"]["Subnet"]["SubnetId"],
                                    "AllocationId": s["AllocateAddress"]["AllocationId"], "ClientToken": "rt-nat",
                                    "TagSpecifications": [{"ResourceType": "natgateway",
                                                           "Tags": [{"Key": "k", "Value": "v"}]}]}),
    ("ReplaceRoute", lambda s: {"RouteTableId": s["CreateRouteTable"]["RouteTable"]["RouteTableId"],
                                "DestinationCidrBlock": "0.0.0.0/0",
                                "NatGatewayId": s["CreateNatGateway"]["NatGateway"]["NatGatewayId"]}),
    ("DescribeNatGateways", lambda s: {"Filter": [{"Name": "state", "Values": ["available"]}]}),
    ("DeleteNatGateway", lambda s: {"NatGatewayId": s["CreateNatGateway"]["NatGateway"]["NatGatewayId"]}),
    ("ReleaseAddress", lambda s: {"AllocationId": s["AllocateAddress"]["AllocationId"]}),
    ("CreateVpcPeeringConnection", lambda s: {
        "VpcId": s["CreateVpc"]["Vpc"]["VpcId"], "PeerVpcId": default_vpc(s), "TagSpecifications": [
            {"ResourceType": "vpc-peering-connection", "Tags": [{"Key": "k", "Value": "v"}]}]}),
    ("AcceptVpcPeeringConnection", lambda s: {"VpcPeeringConnectionId": peering(s)}),
    ("DescribeVpcPeeringConnections", lambda s: {"Filters": [{"Name": "status-code", "Values": ["active"]}]}),
    ("DeleteVpcPeeringConnection", lambda s: {"VpcPeeringConnectionId": peering(s)}),
    (SETUP, pending_peering),
    ("RejectVpcPeeringConnection", lambda s: {"VpcPeeringConnectionId": s["pcx2"]}),
    ("DeleteNetworkInterface", lambda s: {"NetworkInterfaceId": s["CreateNetworkInterface"]["NetworkInterface"][
        "NetworkInterfaceId"]}),
    ("DisassociateRouteTable", lambda s: {"AssociationId": s["ReplaceRouteTableAssociation"]["NewAssociationId"]}),
    ("DeleteRoute", lambda s: {"RouteTableId": s["CreateRouteTable"]["RouteTable"]["RouteTableId"],
                               "DestinationCidrBlock": "0.0.0.0/0"}),
    ("DeleteRouteTable", lambda s: {"RouteTableId": s["CreateRouteTable"]["RouteTable"]["RouteTableId"]}),
    ("DetachInternetGateway", lambda s: {"InternetGatewayId": s["CreateInternetGateway"]["InternetGateway"][
        "InternetGatewayId"], "VpcId": s["CreateVpc"]["Vpc"]["VpcId"]}),
    ("DeleteInternetGateway", lambda s: {"InternetGatewayId": s["CreateInternetGateway"]["InternetGateway"][
        "InternetGatewayId"]}),
    ("DeleteEgressOnlyInternetGateway", lambda s: {"EgressOnlyInternetGatewayId": s["CreateEgressOnlyInternetGateway"][
        "EgressOnlyInternetGateway"]["EgressOnlyInternetGatewayId"]}),
    ("DeleteSubnet", lambda s: {"SubnetId": s["CreateSubnet"]["Subnet"]["SubnetId"]}),
    ("DeleteVpc", lambda s: {"VpcId": s["CreateVpc"]["Vpc"]["VpcId"]}),
    ("DeleteDhcpOptions", lambda s: {"DhcpOptionsId": s["CreateDhcpOptions"]["DhcpOptions"]["DhcpOptionsId"]}),
    ("CreateLaunchTemplate", lambda s: {
        "LaunchTemplateName": "rt-lt", "VersionDescription": "first", "TagSpecifications": [
            {"ResourceType": "launch-template", "Tags": [{"Key": "team", "Value": "blue"}]}],
        "LaunchTemplateData": {
            "ImageId": s["DescribeImages"]["Images"][0]["ImageId"], "InstanceType": "t3.micro", "KeyName": "rt-rsa",
            "UserData": "IyEvYmluL3NoCmVjaG8gaGkK", "SecurityGroupIds": ["sg-0123456789abcdef0"],
            "IamInstanceProfile": {"Name": "rt-profile"}, "Placement": {"AvailabilityZone": "us-east-1a"},
            "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2, "HttpEndpoint": "enabled"},
            "BlockDeviceMappings": [{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 2, "VolumeType": "gp3",
                                                                       "DeleteOnTermination": True}}],
            "NetworkInterfaces": [{"DeviceIndex": 0, "AssociatePublicIpAddress": True,
                                   "Groups": ["sg-0123456789abcdef0"]}],
            "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "app", "Value": "web"}]}]}}),
    ("CreateLaunchTemplateVersion", lambda s: {
        "LaunchTemplateId": s["CreateLaunchTemplate"]["LaunchTemplate"]["LaunchTemplateId"], "SourceVersion": "1",
        "VersionDescription": "second", "LaunchTemplateData": {"InstanceType": "t3.small"}}),
    ("ModifyLaunchTemplate", lambda s: {"LaunchTemplateName": "rt-lt", "DefaultVersion": "2"}),
    ("DescribeLaunchTemplates", lambda s: {"LaunchTemplateNames": ["rt-lt"]}),
    ("DescribeLaunchTemplateVersions", lambda s: {"LaunchTemplateName": "rt-lt", "MaxResults": 1}),
    ("DeleteLaunchTemplateVersions", lambda s: {"LaunchTemplateName": "rt-lt", "Versions": ["1", "2", "9"]}),
    ("DeleteLaunchTemplate", lambda s: {"LaunchTemplateName": "rt-lt"}),
    ("GetLaunchTemplateData", lambda s: {"InstanceId": first_instance(s)}),
    # last: the instances are terminated once the runtime gets to it (AssociateAddress above needs one)
    ("TerminateInstances", lambda s: {"InstanceIds": [i["InstanceId"] for i in s["RunInstances"]["Instances"]]}),
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
    with opened_backend(tmp_path) as b:
        yield b


@pytest.fixture()
def published(backend: Backend) -> None:
    ensure_image("ec2d-tiny", backend.config.cache_dir)
    images.sync_published(backend)


_TODAY = dt.datetime.now(dt.UTC).date()
CE_DAY = {"Start": str(_TODAY - dt.timedelta(days=1)), "End": str(_TODAY)}  # Cost Explorer: a day of the past
CE_AHEAD = {"Start": str(_TODAY + dt.timedelta(days=1)), "End": str(_TODAY + dt.timedelta(days=3))}  # a forecast's
IDENTITY = principals.instance_identity("123456789012", "ASIAEXAMPLE", "i-0123456789abcdef0")

_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::%s:root"}, "Action": "sts:AssumeRole"}]})
_DOC = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]})
_S3 = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
_TAGS = [{"Key": "team", "Value": "a"}]
# IAM and STS in an order that works on a fresh backend (``%s``: the account, filled in at run time)
IAM_SAMPLES: list[tuple[str, str, dict[str, Any], principals.Caller | None]] = [("iam", a, args, None) for a, args in [
    ("CreateUser", {"UserName": "u", "Path": "/p/", "Tags": _TAGS}), ("GetUser", {"UserName": "u"}),
    ("ListUsers", {"MaxItems": 1}), ("TagUser", {"UserName": "u", "Tags": _TAGS}),
    ("ListUserTags", {"UserName": "u"}), ("UntagUser", {"UserName": "u", "TagKeys": ["team"]}),
    ("CreateAccessKey", {"UserName": "u"}), ("ListAccessKeys", {"UserName": "u"}),
    ("PutUserPolicy", {"UserName": "u", "PolicyName": "p", "PolicyDocument": _DOC}),
    ("GetUserPolicy", {"UserName": "u", "PolicyName": "p"}), ("ListUserPolicies", {"UserName": "u"}),
    ("DeleteUserPolicy", {"UserName": "u", "PolicyName": "p"}),
    ("AttachUserPolicy", {"UserName": "u", "PolicyArn": _S3}), ("ListAttachedUserPolicies", {"UserName": "u"}),
    ("DetachUserPolicy", {"UserName": "u", "PolicyArn": _S3}),
    ("CreateRole", {"RoleName": "r", "AssumeRolePolicyDocument": _TRUST, "Tags": _TAGS, "Description": "d"}),
    ("GetRole", {"RoleName": "r"}), ("ListRoles", {}), ("UpdateRole", {"RoleName": "r", "MaxSessionDuration": 7200}),
    ("UpdateAssumeRolePolicy", {"RoleName": "r", "PolicyDocument": _TRUST}), ("TagRole", {"RoleName": "r", "Tags": _TAGS}),
    ("ListRoleTags", {"RoleName": "r"}), ("UntagRole", {"RoleName": "r", "TagKeys": ["team"]}),
    ("PutRolePolicy", {"RoleName": "r", "PolicyName": "p", "PolicyDocument": _DOC}),
    ("GetRolePolicy", {"RoleName": "r", "PolicyName": "p"}), ("ListRolePolicies", {"RoleName": "r"}),
    ("DeleteRolePolicy", {"RoleName": "r", "PolicyName": "p"}),
    ("CreatePolicy", {"PolicyName": "m", "PolicyDocument": _DOC, "Description": "d"}),
    ("GetPolicy", {"PolicyArn": "arn:aws:iam::%s:policy/m"}), ("GetPolicy", {"PolicyArn": _S3}),
    ("GetPolicyVersion", {"PolicyArn": _S3, "VersionId": "v3"}), ("ListPolicies", {"MaxItems": 3}),
    ("CreatePolicyVersion", {"PolicyArn": "arn:aws:iam::%s:policy/m", "PolicyDocument": _DOC}),
    ("ListPolicyVersions", {"PolicyArn": "arn:aws:iam::%s:policy/m"}),
    ("GetPolicyVersion", {"PolicyArn": "arn:aws:iam::%s:policy/m", "VersionId": "v2"}),
    ("SetDefaultPolicyVersion", {"PolicyArn": "arn:aws:iam::%s:policy/m", "VersionId": "v2"}),
    ("DeletePolicyVersion", {"PolicyArn": "arn:aws:iam::%s:policy/m", "VersionId": "v1"}),
    ("AttachRolePolicy", {"RoleName": "r", "PolicyArn": "arn:aws:iam::%s:policy/m"}),
    ("ListAttachedRolePolicies", {"RoleName": "r"}),
    ("DetachRolePolicy", {"RoleName": "r", "PolicyArn": "arn:aws:iam::%s:policy/m"}),
    ("DeletePolicy", {"PolicyArn": "arn:aws:iam::%s:policy/m"}),
    ("CreateInstanceProfile", {"InstanceProfileName": "ip", "Tags": _TAGS}),
    ("AddRoleToInstanceProfile", {"InstanceProfileName": "ip", "RoleName": "r"}),
    ("GetInstanceProfile", {"InstanceProfileName": "ip"}), ("ListInstanceProfiles", {}),
    ("ListInstanceProfilesForRole", {"RoleName": "r"}),
    ("RemoveRoleFromInstanceProfile", {"InstanceProfileName": "ip", "RoleName": "r"}),
    ("DeleteInstanceProfile", {"InstanceProfileName": "ip"}),
]] + [("sts", "AssumeRole", {"RoleArn": "arn:aws:iam::%s:role/r", "RoleSessionName": "ss", "Policy": _DOC}, None)] + [
    ("iam", a, args, None) for a, args in [
        ("DeleteRole", {"RoleName": "r"}), ("UpdateAccessKey", {"UserName": "u", "AccessKeyId": "%key", "Status": "Inactive"}),
        ("DeleteAccessKey", {"UserName": "u", "AccessKeyId": "%key"}), ("DeleteUser", {"UserName": "u"})]]


def _filled(args: dict[str, Any], account: str, state: dict[str, Any]) -> dict[str, Any]:
    """A sample's input with the account (``%s``) and the access key made before (``%key``)."""
    out: dict[str, Any] = {}
    for k, v in args.items():
        if v == "%key":
            v = state["CreateAccessKey"]["AccessKey"]["AccessKeyId"]
        elif v == "%authmsg":  # an encoded authorization message of this backend's
            v = state["authmsg"]
        elif isinstance(v, str) and "%s" in v:
            v = v % account
        out[k] = _answered(v, state)
    return out


def _answered(value: Any, state: dict[str, Any]) -> Any:
    """``value`` with each callable in it replaced by its value on the earlier answers (ELBv2's ARNs)."""
    if callable(value):
        return value(state)
    if isinstance(value, list):
        return [_answered(v, state) for v in value]
    if isinstance(value, dict):
        return {k: _answered(v, state) for k, v in value.items()}
    return value


def _lb(s: State) -> str:
    return s["CreateLoadBalancer"]["LoadBalancers"][0]["LoadBalancerArn"]


def _tg(s: State) -> str:
    return s["CreateTargetGroup"]["TargetGroups"][0]["TargetGroupArn"]


def _listener(s: State) -> str:
    return s["CreateListener"]["Listeners"][0]["ListenerArn"]


def _rule(s: State) -> str:
    return s["CreateRule"]["Rules"][0]["RuleArn"]


_FORWARD = [{"Type": "forward", "TargetGroupArn": _tg}]
ELBV2_SAMPLES: list[tuple[str, str, dict[str, Any], principals.Caller | None]] = [("elbv2", a, args, None) for a, args in [
    ("CreateLoadBalancer", {"Name": "rt-lb", "Subnets": lambda s: s["subnets"][:2], "Tags": _TAGS}),
    ("DescribeLoadBalancers", {"PageSize": 1}),
    ("DescribeLoadBalancerAttributes", {"LoadBalancerArn": _lb}),
    ("ModifyLoadBalancerAttributes", {"LoadBalancerArn": _lb, "Attributes": [
        {"Key": "idle_timeout.timeout_seconds", "Value": "30"}]}),
    ("SetSecurityGroups", {"LoadBalancerArn": _lb, "SecurityGroups": lambda s: [s["sg"]]}),
    ("SetSubnets", {"LoadBalancerArn": _lb, "Subnets": lambda s: s["subnets"][1:3]}),
    ("CreateTargetGroup", {"Name": "rt-tg", "Protocol": "HTTP", "Port": 80, "TargetType": "ip",
                           "VpcId": lambda s: s["vpc"]}),
    ("DescribeTargetGroups", {}),
    ("ModifyTargetGroup", {"TargetGroupArn": _tg, "HealthCheckPath": "/up", "Matcher": {"HttpCode": "200-299"}}),
    ("DescribeTargetGroupAttributes", {"TargetGroupArn": _tg}),
    ("ModifyTargetGroupAttributes", {"TargetGroupArn": _tg, "Attributes": [
        {"Key": "deregistration_delay.timeout_seconds", "Value": "0"}]}),
    ("RegisterTargets", {"TargetGroupArn": _tg, "Targets": [{"Id": "172.31.0.50", "Port": 8080}]}),
    ("CreateListener", {"LoadBalancerArn": _lb, "Protocol": "HTTP", "Port": 80, "DefaultActions": _FORWARD}),
    ("DescribeListeners", {"LoadBalancerArn": _lb}),
    ("ModifyListener", {"ListenerArn": _listener, "Port": 8080}),
    ("CreateRule", {"ListenerArn": _listener, "Priority": 5, "Actions": _FORWARD, "Conditions": [
        {"Field": "host-header", "HostHeaderConfig": {"Values": ["*.example.com"]}}]}),
    ("DescribeRules", {"ListenerArn": _listener}),
    ("ModifyRule", {"RuleArn": _rule, "Conditions": [{"Field": "path-pattern", "Values": ["/a/*"]}]}),
    ("SetRulePriorities", {"RulePriorities": [{"RuleArn": _rule, "Priority": 6}]}),
    ("DescribeTargetHealth", {"TargetGroupArn": _tg}),
    ("AddTags", {"ResourceArns": [_lb, _tg], "Tags": [{"Key": "k", "Value": "v"}]}),
    ("DescribeTags", {"ResourceArns": [_lb, _tg]}),
    ("RemoveTags", {"ResourceArns": [_lb], "TagKeys": ["team"]}),
    ("DeregisterTargets", {"TargetGroupArn": _tg, "Targets": [{"Id": "172.31.0.50", "Port": 8080}]}),
    ("DeleteRule", {"RuleArn": _rule}),
    ("DeleteListener", {"ListenerArn": _listener}),
    ("DeleteLoadBalancer", {"LoadBalancerArn": _lb}),
    ("DeleteTargetGroup", {"TargetGroupArn": _tg}),
]]


# The other services: (service, action, input, caller or None for the account's root)
OTHER_SAMPLES: list[tuple[str, str, dict[str, Any], principals.Caller | None]] = [
    ("sts", "GetCallerIdentity", {}, None),
    ("sts", "GetCallerIdentity", {}, IDENTITY),
    ("sts", "DecodeAuthorizationMessage", {"EncodedMessage": "%authmsg"}, None),
    ("pricing", "DescribeServices", {}, None),
    ("pricing", "DescribeServices", {"ServiceCode": "AmazonEC2", "FormatVersion": "aws_v1", "MaxResults": 1}, None),
    ("pricing", "GetAttributeValues", {"ServiceCode": "AmazonEC2", "AttributeName": "instanceType"}, None),
    ("pricing", "GetAttributeValues", {"ServiceCode": "AmazonEC2", "AttributeName": "memory", "MaxResults": 2}, None),
    ("pricing", "GetProducts", {"ServiceCode": "AmazonEC2", "MaxResults": 3, "Filters": [
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"}]}, None),
    ("ce", "GetCostAndUsage", {"TimePeriod": CE_DAY, "Granularity": "DAILY",
                               "Metrics": ["UnblendedCost", "UsageQuantity"]}, None),
    ("ce", "GetCostAndUsage", {"TimePeriod": CE_DAY, "Granularity": "HOURLY", "Metrics": ["BlendedCost"],
                               "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "TAG", "Key": "team"}],
                               "Filter": {"Not": {"Dimensions": {"Key": "REGION", "Values": ["us-west-2"]}}}}, None),
    ("ce", "GetCostAndUsageWithResources", {"TimePeriod": CE_DAY, "Granularity": "MONTHLY",
                                            "Filter": {"Dimensions": {"Key": "SERVICE", "Values": ["EC2 - Other"]}},
                                            "GroupBy": [{"Type": "DIMENSION", "Key": "RESOURCE_ID"}]}, None),
    ("ce", "GetCostForecast", {"TimePeriod": CE_AHEAD, "Metric": "UNBLENDED_COST", "Granularity": "DAILY"}, None),
    ("ce", "GetDimensionValues", {"TimePeriod": CE_DAY, "Dimension": "LINKED_ACCOUNT"}, None),
    *IAM_SAMPLES,
    *ELBV2_SAMPLES,
]


def test_every_registered_action_has_a_sample() -> None:
    assert set(HANDLERS) <= {name for name, _ in SAMPLES}
    assert set(registry.SERVICES) >= {"ec2", "sts", "pricing", "ce"}
    for name, svc in registry.SERVICES.items():
        if name != "ec2":
            samples = {a for s, a, _, _ in OTHER_SAMPLES if s == name} | (
                {a for a, _ in autoscaling_samples.SAMPLES} if name == "autoscaling" else set())
            assert set(svc.handlers) <= samples, name


def through_the_wire(service: str, op_name: str, result: dict[str, Any] | None, request_id: str) -> dict[str, Any]:
    """``result`` serialized by ec2d for ``service`` and parsed back by botocore's parser."""
    svc = registry.get_service(service)
    op = svc.protocol.operation(op_name)
    body = svc.protocol.response(op, result, request_id)
    parser = create_parser(svc.protocol.model.metadata["protocol"])
    headers = svc.protocol.headers(request_id)
    return parser.parse({"body": body, "headers": {k.lower(): v for k, v in headers.items()},
                         "status_code": 200}, op.output_shape)


def test_other_services_output_survives_botocore_parsing(backend: Backend) -> None:
    asyncio.run(other_outputs(backend))  # on the fake runtime: ELBv2's proxies follow in the background


async def other_outputs(backend: Backend) -> None:
    vpc_id = next(v.id for v in backend.store.list("vpc", "us-east-1") if v.data["IsDefault"])
    state: dict[str, Any] = {
        "authmsg": auth_messages.encode(backend.credentials.secret_access_key, backend.account_id, {"allowed": False}),
        "vpc": vpc_id, "subnets": [s.id for s in sorted(backend.store.list("subnet", "us-east-1"),
                                                        key=lambda s: s.data["AvailabilityZone"])
                                   if s.data["VpcId"] == vpc_id],
        "sg": next(g.id for g in backend.store.list("security-group", "us-east-1")
                   if g.data["VpcId"] == vpc_id and g.data["GroupName"] == "default")}
    async with fake_runtime(backend):
        for service, name, args, caller in OTHER_SAMPLES:
            await _other_output(backend, state, service, name, args, caller)


async def _other_output(backend: Backend, state: dict[str, Any], service: str, name: str, args: dict[str, Any],
                        caller: principals.Caller | None) -> None:
    svc = registry.get_service(service)
    ctx = RequestContext("req-rt", name, "us-east-1", backend.account_id, "AKIA", backend, caller)
    result = await call(svc.handlers[name], ctx, _filled(args, backend.account_id, state), service) or {}
    state.setdefault(name, result)
    output = svc.protocol.operation(name).output_shape
    if output is None or not output.members:  # Delete*, Put*, ...: nothing to answer
        assert not result, (service, name)
        return
    assert result, (service, name)
    parsed = through_the_wire(service, name, result, "req-rt")
    assert parsed["ResponseMetadata"]["RequestId"] == "req-rt", (service, name)
    assert normalize(parsed) == normalize(result), (service, name)


@pytest.mark.parametrize("service", ["ec2", "sts", "pricing", "ce", "elbv2", "autoscaling"])
@pytest.mark.parametrize("err", [errors.InvalidParameterValue("bad <value> & \"quotes\""),
                                 errors.InternalError(), errors.AccessDenied("arn:aws:iam::1:root", "x", "Y")],
                         ids=["client", "server", "denied"])
def test_error_envelopes_survive_botocore_parsing(service: str, err: errors.ApiError) -> None:
    svc = registry.get_service(service)
    protocol = svc.protocol
    body = protocol.error(err, "req-err")
    headers = {k.lower(): v for k, v in protocol.headers("req-err").items()}
    parser = create_parser(protocol.model.metadata["protocol"])
    parsed = parser.parse({"body": body, "headers": headers, "status_code": err.status}, None)
    assert (parsed["Error"]["Code"], parsed["Error"]["Message"]) == (err.code, err.message)
    assert parsed["ResponseMetadata"]["RequestId"] == "req-err"
    if protocol.model.metadata["protocol"] == "query":
        assert parsed["Error"]["Type"] == ("Receiver" if err.status >= 500 else "Sender")


def test_autoscaling_output_survives_botocore_parsing(backend: Backend, published: None) -> None:
    """Auto Scaling's actions in order, with the runtime and its controller running."""
    async def run() -> None:
        backend.target_groups = autoscaling_samples.OneTargetGroup()
        async with fake_runtime(backend):
            state: dict[str, Any] = {"image": next(r.id for r in images.visible(backend, "us-east-1", "ec2d")
                                                   if r.data["Name"].startswith("ec2d-tiny"))}
            for name, sample in autoscaling_samples.SAMPLES:
                if name == autoscaling_samples.SETUP:
                    await sample(state, backend)
                    continue
                ctx = RequestContext("req-rt", name, "us-east-1", backend.account_id, "AKIA", backend)
                svc = registry.get_service("autoscaling")
                result = await call(svc.handlers[name], ctx, sample(state, backend), "autoscaling") or {}
                output = svc.protocol.operation(name).output_shape
                if output is None or not output.members:
                    assert not result, name
                    continue
                parsed = through_the_wire("autoscaling", name, result, "req-rt")
                assert normalize(parsed) == normalize(result), name

    asyncio.run(run())


def test_handler_output_survives_botocore_parsing(backend: Backend, published: None) -> None:
    asyncio.run(every_handler_output(backend))


async def every_handler_output(backend: Backend) -> None:
    async with fake_runtime(backend):
        await every_sample(backend)


async def every_sample(backend: Backend) -> None:
    model = service_model()
    parser = create_parser("ec2")
    state: State = {}
    for name, sample in SAMPLES:
        if name == SETUP:
            step = sample(state, backend)  # type: ignore[call-arg]
            if inspect.isawaitable(step):
                await step
            continue
        op = model.operation_model(name)
        ctx = RequestContext("req-rt", name, "us-east-1", backend.account_id, "AKIA", backend)
        result = await call(HANDLERS[name], ctx, sample(state)) or {}
        state.setdefault(name, result)  # the action's first result; "NAME:last" its latest
        state[f"{name}:last"] = result
        body = XmlSerializer().response(op, result, "req-rt")
        parsed = parser.parse({"body": body, "headers": {}, "status_code": 200}, op.output_shape)
        assert parsed["ResponseMetadata"]["RequestId"] == "req-rt"
        assert normalize(parsed) == normalize(result), name
