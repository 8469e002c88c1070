"""One valid ``data`` document per record type (``orchestrator/domain/records.py``), for tests that
put records into a store by hand: the suite runs with ``EC2D_CHECK_RECORDS=1``, so every record a
test writes must be one the services could have written (``sample("volume", Size=3)``)."""

from __future__ import annotations

import copy
from typing import Any

OWNER = "123456789012"

SAMPLES: dict[str, dict[str, Any]] = {
    "instance": {
        "ReservationId": "r-0123456789abcdef0", "OwnerId": OWNER, "ImageId": "ami-0123456789abcdef0",
        "InstanceType": "t3.nano", "KeyName": None, "PublicKey": None, "AmiLaunchIndex": 0,
        "LaunchTime": "2026-01-01T00:00:00.000Z", "AvailabilityZone": "us-east-1a",
        "SubnetId": "subnet-0123456789abcdef0", "VpcId": "vpc-0123456789abcdef0",
        "NetworkInterfaceId": "eni-0123456789abcdef0", "PrivateIpAddress": "172.31.0.4",
        "MacAddress": "0e:00:00:00:00:01", "SecurityGroups": [{"GroupId": "sg-0123456789abcdef0", "GroupName": "default"}],
        "RootDeviceName": "/dev/xvda",
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "VolumeId": "vol-0123456789abcdef0",
                                 "DeleteOnTermination": True}],
        "UserData": None,
        "MetadataOptions": {"State": "applied", "HttpTokens": "optional", "HttpPutResponseHopLimit": 1,
                            "HttpEndpoint": "enabled", "HttpProtocolIpv6": "disabled",
                            "InstanceMetadataTags": "disabled"},
        "InstanceInitiatedShutdownBehavior": "stop", "DisableApiTermination": False, "ClientToken": "",
        "StateTransitionReason": "", "StateReason": {"Code": "pending", "Message": "pending"},
        "billing": {"running_since": None, "running_seconds": 0.0}, "AssociatePublicIp": False,
        "AutoPublicIp": None,
    },
    "volume": {
        "Size": 1, "AvailabilityZone": "us-east-1a", "VolumeType": "gp2", "Iops": 100, "Throughput": None,
        "SnapshotId": "", "CreateTime": "2026-01-01T00:00:00.000Z", "Encrypted": False,
        "MultiAttachEnabled": False, "Attachments": [],
    },
    "snapshot": {
        "VolumeId": "vol-0123456789abcdef0", "VolumeSize": 1, "Description": "", "OwnerId": OWNER,
        "Progress": "0%", "StartTime": "2026-01-01T00:00:00.000Z", "Encrypted": False, "StorageTier": "standard",
    },
    "image": {
        "Name": "sample", "Description": "", "ImageLocation": f"{OWNER}/sample", "OwnerId": OWNER, "Public": False,
        "CreationDate": "2026-01-01T00:00:00.000Z", "Architecture": "x86_64", "VirtualizationType": "hvm",
        "Hypervisor": "xen", "RootDeviceType": "ebs", "RootDeviceName": "/dev/xvda", "EnaSupport": True,
        "BootMode": "legacy-bios", "ImdsSupport": None,
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-0123456789abcdef0",
                                                                    "VolumeSize": 1}}],
        "kernel": None, "initrd": None, "cmdline": None, "login_user": None,
    },
    "vpc": {
        "CidrBlock": "10.0.0.0/16", "IsDefault": False, "InstanceTenancy": "default", "DhcpOptionsId": "default",
        "OwnerId": OWNER, "CidrBlockAssociationSet": [{"AssociationId": "vpc-cidr-assoc-0123456789abcdef0",
                                                       "CidrBlock": "10.0.0.0/16",
                                                       "CidrBlockState": {"State": "associated"}}],
    },
    "subnet": {
        "VpcId": "vpc-0123456789abcdef0", "CidrBlock": "10.0.0.0/24", "AvailabilityZone": "us-east-1a",
        "AvailabilityZoneId": "use1-az1", "DefaultForAz": False, "MapPublicIpOnLaunch": False, "OwnerId": OWNER,
    },
    "security-group": {
        "GroupName": "sample", "Description": "sample", "VpcId": "vpc-0123456789abcdef0", "OwnerId": OWNER,
        "Rules": [{"SecurityGroupRuleId": "sgr-0123456789abcdef0", "GroupId": "sg-0123456789abcdef0",
                   "IsEgress": True, "IpProtocol": "-1", "FromPort": None, "ToPort": None, "CidrIpv4": "0.0.0.0/0",
                   "ReferencedGroupId": None, "Description": None}],
    },
    "network-interface": {
        "SubnetId": "subnet-0123456789abcdef0", "VpcId": "vpc-0123456789abcdef0", "AvailabilityZone": "us-east-1a",
        "MacAddress": "0e:00:00:00:00:01", "PrivateIpAddress": "10.0.0.4", "Groups": [], "Description": "",
        "OwnerId": OWNER, "SourceDestCheck": True, "InterfaceType": "interface",
    },
    "internet-gateway": {"Attachments": [], "OwnerId": OWNER},
    "prefix-list": {"PrefixListName": "office", "AddressFamily": "IPv4", "MaxEntries": 2, "Version": 1,
                    "OwnerId": OWNER, "Entries": [{"Cidr": "10.0.0.0/8"}], "Versions": {"1": [{"Cidr": "10.0.0.0/8"}]}},
    "vpc-peering-connection": {
        "RequesterVpcInfo": {"VpcId": "vpc-0123456789abcdef0", "OwnerId": OWNER, "Region": "us-east-1",
                             "CidrBlock": "10.0.0.0/16"},
        "AccepterVpcInfo": {"VpcId": "vpc-0123456789abcdef1", "OwnerId": OWNER, "Region": "us-east-1",
                            "CidrBlock": "10.1.0.0/16"},
        "StatusMessage": "Pending Acceptance by " + OWNER},
    "subnet-cidr-reservation": {"SubnetId": "subnet-0123456789abcdef0", "Cidr": "10.0.0.16/28",
                                "ReservationType": "explicit", "OwnerId": OWNER},
    "vpc-endpoint": {"VpcEndpointType": "Gateway", "VpcId": "vpc-0123456789abcdef0",
                     "ServiceName": "com.amazonaws.us-east-1.s3", "PolicyDocument": "{}",
                     "RouteTableIds": ["rtb-0123456789abcdef0"], "OwnerId": OWNER,
                     "CreationTimestamp": "2026-01-01T00:00:00.000Z"},
    "dhcp-options": {"DhcpConfigurations": [{"Key": "domain-name-servers", "Values": ["AmazonProvidedDNS"]}],
                     "OwnerId": OWNER},
    "route-table": {
        "VpcId": "vpc-0123456789abcdef0", "OwnerId": OWNER, "Associations": [],
        "Routes": [{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active",
                    "Origin": "CreateRouteTable"}],
    },
    "egress-only-internet-gateway": {"VpcId": "vpc-0123456789abcdef0", "OwnerId": OWNER,
                                     "Attachments": [{"VpcId": "vpc-0123456789abcdef0", "State": "attached"}]},
    "natgateway": {
        "SubnetId": "subnet-0123456789abcdef0", "VpcId": "vpc-0123456789abcdef0", "ConnectivityType": "public",
        "CreateTime": "2026-01-01T00:00:00.000Z",
        "NatGatewayAddresses": [{"AllocationId": "eipalloc-0123456789abcdef0", "PublicIp": "198.18.0.1",
                                 "NetworkInterfaceId": "eni-0123456789abcdef0", "PrivateIp": "10.0.0.5",
                                 "IsPrimary": True, "Status": "succeeded"}],
    },
    "elastic-ip": {"PublicIp": "198.18.0.1", "Domain": "vpc", "PublicIpv4Pool": "amazon",
                   "NetworkBorderGroup": "us-east-1"},
    "key-pair": {"KeyName": "sample", "KeyType": "ed25519", "KeyFingerprint": "sample",
                 "PublicKey": "ssh-ed25519 AAAA sample"},
    "iam-user": {"UserName": "u", "Path": "/", "Arn": f"arn:aws:iam::{OWNER}:user/u", "CreateDate": 0.0,
                 "Tags": [], "InlinePolicies": {}, "AttachedPolicies": []},
    "iam-access-key": {"UserId": "AIDAAAAAAAAAAAAAAAAAA", "UserName": "u", "Status": "Active", "CreateDate": 0.0,
                       "SealedSecret": "sealed"},
    "iam-role": {"RoleName": "r", "Path": "/", "Arn": f"arn:aws:iam::{OWNER}:role/r", "CreateDate": 0.0,
                 "AssumeRolePolicyDocument": "{}", "Description": "", "MaxSessionDuration": 3600, "Tags": [],
                 "InlinePolicies": {}, "AttachedPolicies": []},
    "iam-policy": {"PolicyName": "p", "Path": "/", "Arn": f"arn:aws:iam::{OWNER}:policy/p", "Description": "",
                   "CreateDate": 0.0, "UpdateDate": 0.0, "DefaultVersionId": "v1", "NextVersion": 2,
                   "Versions": [{"VersionId": "v1", "Document": "{}", "CreateDate": 0.0}], "Tags": []},
    "iam-instance-profile": {"InstanceProfileName": "p", "Path": "/", "CreateDate": 0.0,
                             "Arn": f"arn:aws:iam::{OWNER}:instance-profile/p", "RoleIds": [], "Tags": []},
    "sts-session": {"RoleId": "AROAAAAAAAAAAAAAAAAAA", "RoleArn": f"arn:aws:iam::{OWNER}:role/r", "RoleName": "r",
                    "SessionName": "s", "SealedSecret": "sealed", "TokenHash": "0" * 64, "Issued": 0.0,
                    "Expiration": 0.0, "SourceArn": f"arn:aws:iam::{OWNER}:root", "Policy": None, "PolicyArns": []},
    "launch-template": {"LaunchTemplateName": "lt", "CreateTime": "2026-01-01T00:00:00.000Z",
                        "CreatedBy": f"arn:aws:iam::{OWNER}:root", "DefaultVersionNumber": 1, "NextVersion": 2,
                        "Versions": [{"VersionNumber": 1, "CreateTime": "2026-01-01T00:00:00.000Z",
                                      "CreatedBy": f"arn:aws:iam::{OWNER}:root",
                                      "LaunchTemplateData": {"ImageId": "ami-1", "InstanceType": "t3.micro"},
                                      "VersionDescription": "v1"}]},
    "elbv2-load-balancer": {
        "LoadBalancerName": "web", "Type": "application", "Scheme": "internet-facing", "VpcId": "vpc-0123456789abcdef0",
        "IpAddressType": "ipv4", "DNSName": "web-1234567890.us-east-1.elb.amazonaws.com",
        "CanonicalHostedZoneId": "Z35SXDOTRQ7X7K", "CreatedTime": 0.0, "SecurityGroups": ["sg-0123456789abcdef0"],
        "Nodes": [{"SubnetId": "subnet-0123456789abcdef0", "ZoneName": "us-east-1a",
                   "NetworkInterfaceId": "eni-0123456789abcdef0", "PrivateIpAddress": "172.31.0.5",
                   "PublicIp": "198.18.0.9"}],
        "Attributes": {"idle_timeout.timeout_seconds": "60"}},
    "elbv2-target-group": {
        "TargetGroupName": "web", "Protocol": "HTTP", "Port": 80, "VpcId": "vpc-0123456789abcdef0",
        "TargetType": "instance", "HealthCheck": {
            "HealthCheckProtocol": "HTTP", "HealthCheckPort": "traffic-port", "HealthCheckEnabled": True,
            "HealthCheckIntervalSeconds": 30, "HealthCheckTimeoutSeconds": 5, "HealthyThresholdCount": 5,
            "UnhealthyThresholdCount": 2, "HealthCheckPath": "/", "Matcher": {"HttpCode": "200"}},
        "Attributes": {"deregistration_delay.timeout_seconds": "300"},
        "Targets": [{"Id": "i-0123456789abcdef0", "Port": 80, "AvailabilityZone": "us-east-1a", "RegisteredAt": 0.0,
                     "DrainingUntil": None}], "CreatedTime": 0.0},
    "elbv2-listener": {
        "LoadBalancerArn": f"arn:aws:elasticloadbalancing:us-east-1:{OWNER}:loadbalancer/app/web/0123456789abcdef",
        "Port": 80, "Protocol": "HTTP", "DefaultActions": [{"Type": "fixed-response", "FixedResponseConfig": {
            "StatusCode": "503", "ContentType": "text/plain"}}],
        "DefaultRuleArn": f"arn:aws:elasticloadbalancing:us-east-1:{OWNER}:listener-rule/app/web/0123456789abcdef/"
                          "0123456789abcdef/0123456789abcdef"},
    "elbv2-rule": {
        "ListenerArn": f"arn:aws:elasticloadbalancing:us-east-1:{OWNER}:listener/app/web/0123456789abcdef/"
                       "0123456789abcdef",
        "LoadBalancerArn": f"arn:aws:elasticloadbalancing:us-east-1:{OWNER}:loadbalancer/app/web/0123456789abcdef",
        "Priority": 1, "Conditions": [{"Field": "path-pattern", "Values": ["/a/*"]}],
        "Actions": [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}]},
    # Auto Scaling (domain/autoscaling_records.py)
    "autoscaling-launch-configuration": {
        "LaunchConfigurationName": "lc", "LaunchConfigurationARN": f"arn:aws:autoscaling:us-east-1:{OWNER}:"
        "launchConfiguration:0:launchConfigurationName/lc", "ImageId": "ami-0123456789abcdef0",
        "InstanceType": "t3.nano", "KeyName": "", "SecurityGroups": [], "UserData": "", "BlockDeviceMappings": [],
        "IamInstanceProfile": None, "AssociatePublicIpAddress": None, "MetadataOptions": None,
        "CreatedTime": "2026-01-01T00:00:00.000Z"},
    "autoscaling-group": {
        "AutoScalingGroupName": "g", "AutoScalingGroupARN": f"arn:aws:autoscaling:us-east-1:{OWNER}:"
        "autoScalingGroup:0:autoScalingGroupName/g", "LaunchConfigurationName": "lc", "LaunchTemplate": None,
        "MinSize": 0, "MaxSize": 1, "DesiredCapacity": 0, "DefaultCooldown": 300, "AvailabilityZones": ["us-east-1a"],
        "Subnets": [], "HealthCheckType": "EC2", "HealthCheckGracePeriod": 0, "TargetGroupARNs": [],
        "TerminationPolicies": ["Default"], "NewInstancesProtectedFromScaleIn": False,
        "CreatedTime": "2026-01-01T00:00:00.000Z", "Tags": [], "SuspendedProcesses": [], "cause": "",
        "failed_zones": {}},
    "autoscaling-instance": {
        "AutoScalingGroupName": "g", "InstanceId": "i-0123456789abcdef0", "InstanceType": "t3.nano",
        "AvailabilityZone": "us-east-1a", "HealthStatus": "Healthy", "ProtectedFromScaleIn": False,
        "LaunchConfigurationName": "lc", "LaunchTemplate": None, "launched_at": 0.0, "in_service_at": None,
        "registered": [], "rebalance": False, "unhealthy_cause": None, "terminate_cause": None, "activity": None},
    "autoscaling-activity": {
        "AutoScalingGroupName": "g", "AutoScalingGroupARN": f"arn:aws:autoscaling:us-east-1:{OWNER}:"
        "autoScalingGroup:0:autoScalingGroupName/g", "Description": "Launching a new EC2 instance: i-0123456789abcdef0",
        "Cause": "At 2026-01-01T00:00:00Z ...", "StartTime": "2026-01-01T00:00:00.000Z", "Progress": 0,
        "Details": "{}"},
    "autoscaling-policy": {
        "AutoScalingGroupName": "g", "PolicyName": "p", "PolicyARN": f"arn:aws:autoscaling:us-east-1:{OWNER}:"
        "scalingPolicy:0:autoScalingGroupName/g:policyName/p", "PolicyType": "SimpleScaling",
        "AdjustmentType": "ChangeInCapacity", "ScalingAdjustment": 1, "Enabled": True, "alarm_ids": []},
}


def sample(record_type: str, **changes: Any) -> dict[str, Any]:
    """A fresh copy of the record type's sample document with ``changes`` applied."""
    return {**copy.deepcopy(SAMPLES[record_type]), **changes}
