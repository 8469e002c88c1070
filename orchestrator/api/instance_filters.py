"""DescribeInstances' filters: every name EC2 documents (botocore's model lists them)."""

from __future__ import annotations

from typing import Any

from orchestrator.api.filter_paths import table

_NI = "NetworkInterfaces"
_PATHS = {
    "instance-id": "InstanceId", "instance-state-name": "State.Name", "instance-state-code": "State.Code",
    "instance-type": "InstanceType", "image-id": "ImageId", "availability-zone": "Placement.AvailabilityZone",
    "vpc-id": "VpcId", "subnet-id": "SubnetId", "private-ip-address": "PrivateIpAddress",
    "private-dns-name": "PrivateDnsName", "ip-address": "PublicIpAddress", "dns-name": "PublicDnsName",
    "key-name": "KeyName", "launch-index": "AmiLaunchIndex", "launch-time": "LaunchTime",
    "client-token": "ClientToken", "architecture": "Architecture", "root-device-type": "RootDeviceType",
    "root-device-name": "RootDeviceName", "hypervisor": "Hypervisor", "virtualization-type": "VirtualizationType",
    "ebs-optimized": "EbsOptimized", "ena-support": "EnaSupport", "source-dest-check": "SourceDestCheck",
    "tenancy": "Placement.Tenancy", "placement-group-name": "Placement.GroupName",
    "monitoring-state": "Monitoring.State", "platform-details": "PlatformDetails", "usage-operation": "UsageOperation",
    "boot-mode": "BootMode", "current-instance-boot-mode": "CurrentInstanceBootMode",
    "reason": "StateTransitionReason", "state-reason-code": "StateReason.Code",
    "state-reason-message": "StateReason.Message", "product-code": "ProductCodes.ProductCodeId",
    "product-code.type": "ProductCodes.ProductCodeType",
    "instance.group-id": "SecurityGroups.GroupId", "instance.group-name": "SecurityGroups.GroupName",
    "iam-instance-profile.arn": "IamInstanceProfile.Arn", "iam-instance-profile.id": "IamInstanceProfile.Id",
    "block-device-mapping.attach-time": "BlockDeviceMappings.Ebs.AttachTime",
    "block-device-mapping.delete-on-termination": "BlockDeviceMappings.Ebs.DeleteOnTermination",
    "block-device-mapping.device-name": "BlockDeviceMappings.DeviceName",
    "block-device-mapping.status": "BlockDeviceMappings.Ebs.Status",
    "block-device-mapping.volume-id": "BlockDeviceMappings.Ebs.VolumeId",
    "maintenance-options.auto-recovery": "MaintenanceOptions.AutoRecovery",
    "private-dns-name-options.hostname-type": "PrivateDnsNameOptions.HostnameType",
    "private-dns-name-options.enable-resource-name-dns-a-record": "PrivateDnsNameOptions.EnableResourceNameDnsARecord",
    "private-dns-name-options.enable-resource-name-dns-aaaa-record":
        "PrivateDnsNameOptions.EnableResourceNameDnsAAAARecord",
    **{f"metadata-options.{name}": f"MetadataOptions.{key}" for name, key in (
        ("http-endpoint", "HttpEndpoint"), ("http-protocol-ipv4", "HttpProtocolIpv4"),
        ("http-protocol-ipv6", "HttpProtocolIpv6"), ("http-put-response-hop-limit", "HttpPutResponseHopLimit"),
        ("http-tokens", "HttpTokens"), ("instance-metadata-tags", "InstanceMetadataTags"), ("state", "State"))},
    **{f"network-interface.{name}": f"{_NI}.{key}" for name, key in (
        ("network-interface-id", "NetworkInterfaceId"), ("mac-address", "MacAddress"),
        ("description", "Description"), ("owner-id", "OwnerId"), ("status", "Status"),
        ("source-dest-check", "SourceDestCheck"), ("subnet-id", "SubnetId"), ("vpc-id", "VpcId"),
        ("private-dns-name", "PrivateDnsName"), ("private-ip-address", "PrivateIpAddress"),
        ("public-dns-name", "Association.PublicDnsName"), ("requester-id", "RequesterId"),
        ("requester-managed", "RequesterManaged"), ("group-id", "Groups.GroupId"),
        ("group-name", "Groups.GroupName"), ("availability-zone", "AvailabilityZone"),
        ("addresses.primary", "PrivateIpAddresses.Primary"),
        ("addresses.private-ip-address", "PrivateIpAddresses.PrivateIpAddress"),
        ("addresses.private-dns-name", "PrivateIpAddresses.PrivateDnsName"),
        ("addresses.association.public-ip", "PrivateIpAddresses.Association.PublicIp"),
        ("addresses.association.public-dns-name", "PrivateIpAddresses.Association.PublicDnsName"),
        ("addresses.association.ip-owner-id", "PrivateIpAddresses.Association.IpOwnerId"),
        ("addresses.association.allocation-id", "PrivateIpAddresses.Association.AllocationId"),
        ("addresses.association.association-id", "PrivateIpAddresses.Association.AssociationId"),
        ("association.public-ip", "Association.PublicIp"), ("association.ip-owner-id", "Association.IpOwnerId"),
        ("association.public-dns-name", "Association.PublicDnsName"),
        ("association.allocation-id", "Association.AllocationId"),
        ("association.association-id", "Association.AssociationId"),
        ("attachment.attachment-id", "Attachment.AttachmentId"), ("attachment.attach-time", "Attachment.AttachTime"),
        ("attachment.delete-on-termination", "Attachment.DeleteOnTermination"),
        ("attachment.device-index", "Attachment.DeviceIndex"), ("attachment.status", "Attachment.Status"),
        ("attachment.network-card-index", "Attachment.NetworkCardIndex"), ("attachment.instance-id", "-"),
        ("attachment.instance-owner-id", "-"), ("ipv6-native", "Ipv6Native"),
        ("ipv6-address", "Ipv6Addresses.Ipv6Address"), ("ipv6-addresses.ipv6-address", "Ipv6Addresses.Ipv6Address"),
        ("ipv6-addresses.is-primary-ipv6", "Ipv6Addresses.IsPrimaryIpv6"))},
    "ipv6-address": f"{_NI}.Ipv6Addresses.Ipv6Address",
}
# ec2d's instances have none of these (no Outposts, Spot, hosts, capacity reservations, IPv6...)
_ABSENT = (
    "affinity", "availability-zone-id", "capacity-reservation-id",
    "capacity-reservation-specification.capacity-reservation-preference",
    "capacity-reservation-specification.capacity-reservation-target.capacity-reservation-id",
    "capacity-reservation-specification.capacity-reservation-target.capacity-reservation-resource-group-arn",
    "enclave-options.enabled", "hibernation-options.configured", "host-id", "instance-lifecycle",
    "kernel-id", "ramdisk-id", "network-interface.addresses.association.carrier-ip",
    "network-interface.addresses.association.customer-owned-ip", "network-interface.association.carrier-ip",
    "network-interface.association.customer-owned-ip", "network-interface.deny-all-igw-traffic",
    "network-interface.ipv4-prefixes.ipv4-prefix", "network-interface.ipv6-prefixes.ipv6-prefix", "network-interface.operator.managed",
    "network-interface.operator.principal", "network-interface.outpost-arn", "network-interface.tag-key",
    "network-interface.tag-value", "network-performance-options.bandwidth-weighting", "operator.managed",
    "operator.principal", "outpost-arn", "placement-partition-number", "platform", "requester-id",
    "spot-instance-request-id", "tpm-support", "usage-operation-update-time",
)


def _instance_of_eni(i: dict[str, Any]) -> list[str]:
    return [i["InstanceId"]] if i.get("NetworkInterfaces") else []


def _owner_of_eni(i: dict[str, Any]) -> list[str]:
    return [i["_owner"]] if i.get("NetworkInterfaces") else []


FILTERS = {
    **table({k: v for k, v in _PATHS.items() if v != "-"}, _ABSENT),
    "network-interface.attachment.instance-id": _instance_of_eni,
    "network-interface.attachment.instance-owner-id": _owner_of_eni,
    "reservation-id": lambda i: i["_reservation"], "owner-id": lambda i: i["_owner"],
}
