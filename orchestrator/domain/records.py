"""What each stored resource's ``data`` holds: one ``TypedDict`` per record type, and a check.

The store keeps every resource as a row with an id, type, region, state and a JSON ``data``
document (``store/sqlite.py``). These classes name the keys of that document for each type, with
the keys the services always write as required and the ones that appear later (an attachment,
a modification, a copy's source) as ``NotRequired``. Keys in EC2's CamelCase are what the API
shows; lower-case keys (``billing``, ``boot``, ``layer_path`` ...) are ec2d's own bookkeeping.

:func:`check` compares a document with its type's class: every required key present, no key the
class does not list, and each value of the annotated kind (str, int, float, bool, None, list,
dict, a nested ``TypedDict``). The store runs it on every write when ``EC2D_CHECK_RECORDS=1``
(the test suite sets it), so the classes stay the truth about what is stored, not decoration.

(No ``from __future__ import annotations`` here: Python 3.11's ``TypedDict`` only sees
``NotRequired`` in real annotations, not in strings, and would call every key required.)
"""

import types
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict, Union, get_args, get_origin, get_type_hints, is_typeddict

from orchestrator.domain.autoscaling_records import AUTOSCALING_SCHEMAS
from orchestrator.domain.dhcp_options import DHCP_SCHEMAS
from orchestrator.domain.ebs_records import EncryptionData
from orchestrator.domain.egress_gateways import EIGW_SCHEMAS
from orchestrator.domain.elb_records import ListenerData, LoadBalancerData, RuleData, TargetGroupData
from orchestrator.domain.iam_records import (
    IamAccessKeyData,
    IamInstanceProfileData,
    IamPolicyData,
    IamRoleData,
    IamUserData,
    StsSessionData,
)
from orchestrator.domain.ipv6_pools import SubnetIpv6Association, VpcIpv6Association
from orchestrator.domain.launch_template_records import LaunchTemplateRecordData
from orchestrator.domain.prefix_lists import PL_SCHEMAS
from orchestrator.domain.route_records import NAT_GATEWAY, NatGatewayData, RouteTableData
from orchestrator.domain.status_checks import SystemCheck
from orchestrator.domain.subnet_cidr_reservations import SCR_SCHEMAS
from orchestrator.domain.vpc_endpoints import VPCE_SCHEMAS
from orchestrator.domain.vpc_peering import VPC_PEERING_SCHEMAS

# ---------------------------------------------------------------------------------------------
# shapes shared by several records


class GroupIdentifier(TypedDict):
    """A security group as an instance or an ENI lists it."""

    GroupId: str
    GroupName: str


class StateReason(TypedDict):
    Code: str
    Message: str


class AssociationState(TypedDict):
    State: str


class Permission(TypedDict, total=False):
    """One entry of a snapshot's ``CreateVolumePermissions`` or an AMI's ``LaunchPermissions``."""

    UserId: str
    Group: str


class BootData(TypedDict, total=False):
    """How to boot what a snapshot holds (carried from the AMI it came from; empty when unknown)."""

    kernel: str | None
    initrd: str | None
    cmdline: str | None
    login_user: str | None
    BootMode: str | None
    ImdsSupport: str | None
    SourceImageId: str


# ---------------------------------------------------------------------------------------------
# instance


class InstanceBlockDeviceMapping(TypedDict):
    DeviceName: str
    VolumeId: str
    DeleteOnTermination: bool


class InstanceMaintenanceOptions(TypedDict):
    AutoRecovery: str  # default | disabled (simplified automatic recovery, runtime/status_checks.py)


class MetadataOptions(TypedDict):
    State: str
    HttpTokens: str
    HttpPutResponseHopLimit: int
    HttpEndpoint: str
    HttpProtocolIpv6: str
    InstanceMetadataTags: str


class Billing(TypedDict):
    running_since: float | None  # epoch seconds of the start of the running period, None when not running
    running_seconds: float  # the running periods that ended, added up


class ProfileAssociation(TypedDict):
    AssociationId: str  # iip-assoc-...
    Arn: str  # the instance profile's ARN and id, as Instance.IamInstanceProfile shows them
    Id: str
    State: str  # lifecycle.ProfileAssociationState
    Timestamp: str


class DnsNameOptions(TypedDict):
    HostnameType: str  # ip-name | resource-name
    EnableResourceNameDnsARecord: bool
    EnableResourceNameDnsAAAARecord: bool


class InstanceData(TypedDict):
    ReservationId: str
    OwnerId: str
    ImageId: str
    InstanceType: str
    KeyName: str | None
    PublicKey: str | None  # the key pair's public key, for IMDS and cloud-init
    AmiLaunchIndex: int
    LaunchTime: str
    AvailabilityZone: str
    SubnetId: str
    VpcId: str
    NetworkInterfaceId: str  # the primary ENI
    PrivateIpAddress: NotRequired[str]  # absent in an IPv6-only subnet
    MacAddress: str
    SecurityGroups: list[GroupIdentifier]
    RootDeviceName: str
    BlockDeviceMappings: list[InstanceBlockDeviceMapping]
    UserData: str | None  # base64, as sent
    MetadataOptions: MetadataOptions
    InstanceInitiatedShutdownBehavior: str
    DisableApiTermination: bool
    ClientToken: str
    StateTransitionReason: str
    StateReason: StateReason | None
    billing: Billing
    AssociatePublicIp: bool
    AutoPublicIp: str | None  # the address from the public pool (None once an EIP replaced it)
    SecondaryEnis: NotRequired[list[str]]  # ENIs attached after launch, by id
    IamInstanceProfileAssociations: NotRequired[list[ProfileAssociation]]  # newest last
    SystemCheck: NotRequired[SystemCheck]  # the system status check of the current boot (running instances)
    MaintenanceOptions: NotRequired[InstanceMaintenanceOptions]  # absent: AutoRecovery default
    PrivateDnsNameOptions: NotRequired[DnsNameOptions]  # its subnet's at launch (absent: ip-name)


# ---------------------------------------------------------------------------------------------
# EBS: volume, snapshot, image


class VolumeAttachment(TypedDict):
    InstanceId: str
    Device: str
    State: str  # lifecycle.AttachmentState
    AttachTime: str
    DeleteOnTermination: bool


class VolumeModification(TypedDict):
    VolumeId: str
    ModificationState: str
    TargetSize: int
    TargetIops: int | None
    TargetVolumeType: str
    TargetThroughput: int | None
    TargetMultiAttachEnabled: bool
    OriginalSize: int
    OriginalIops: int | None
    OriginalVolumeType: str
    OriginalThroughput: int | None
    OriginalMultiAttachEnabled: bool
    Progress: int
    StartTime: str
    EndTime: NotRequired[str]
    StatusMessage: NotRequired[str]


class VolumeData(EncryptionData):
    Size: int
    AvailabilityZone: str
    VolumeType: str
    Iops: int | None
    Throughput: int | None
    SnapshotId: str  # "" when not made from a snapshot
    CreateTime: str
    MultiAttachEnabled: bool
    Attachments: list[VolumeAttachment]
    ClientToken: NotRequired[str]
    Modification: NotRequired[VolumeModification]  # the latest ModifyVolume
    StatusMessage: NotRequired[str]  # why creating it failed


class SnapshotData(EncryptionData):
    VolumeId: str
    VolumeSize: int
    Description: str
    OwnerId: str
    Progress: str
    StartTime: str
    StorageTier: str
    AvailabilityZone: NotRequired[str]
    OwnerAlias: NotRequired[str]
    CompletionTime: NotRequired[str]
    FullSnapshotSizeInBytes: NotRequired[int]
    StateMessage: NotRequired[str]
    SourceSnapshotId: NotRequired[str]  # CopySnapshot
    SourceRegion: NotRequired[str]
    CreateVolumePermissions: NotRequired[list[Permission]]
    boot: NotRequired[BootData]
    layer_path: NotRequired[str]  # a published image's snapshot: its layer file
    published: NotRequired[bool]  # the root snapshot of an image ec2d publishes


class EbsBlockDevice(TypedDict, total=False):
    SnapshotId: str
    VolumeSize: int
    DeleteOnTermination: bool
    VolumeType: str
    Encrypted: bool
    KmsKeyId: str
    Iops: int
    Throughput: int


class ImageBlockDeviceMapping(TypedDict):
    DeviceName: str
    Ebs: NotRequired[EbsBlockDevice]
    NoDevice: NotRequired[str]
    VirtualName: NotRequired[str]


class ImageData(TypedDict):
    Name: str
    Description: str
    ImageLocation: str
    OwnerId: str
    Public: bool
    CreationDate: str
    Architecture: str
    VirtualizationType: str
    Hypervisor: str
    RootDeviceType: str
    RootDeviceName: str
    EnaSupport: bool
    BootMode: str
    ImdsSupport: str | None
    BlockDeviceMappings: list[ImageBlockDeviceMapping]
    kernel: str | None
    initrd: str | None
    cmdline: str | None
    login_user: str | None
    ImageOwnerAlias: NotRequired[str]
    LaunchPermissions: NotRequired[list[Permission]]
    StateReason: NotRequired[StateReason]
    SourceInstanceId: NotRequired[str]  # CreateImage
    SourceImageId: NotRequired[str]  # CopyImage
    SourceImageRegion: NotRequired[str]
    ClientToken: NotRequired[str]
    image_name: NotRequired[str]  # a published image: its artifact
    image_key: NotRequired[str]
    published: NotRequired[bool]


# ---------------------------------------------------------------------------------------------
# VPC and its parts


class CidrBlockAssociation(TypedDict):
    AssociationId: str
    CidrBlock: str
    CidrBlockState: AssociationState


class VpcData(TypedDict):
    CidrBlock: str
    IsDefault: bool
    InstanceTenancy: str
    DhcpOptionsId: str
    OwnerId: str
    CidrBlockAssociationSet: list[CidrBlockAssociation]
    EnableDnsSupport: NotRequired[bool]  # ModifyVpcAttribute
    EnableDnsHostnames: NotRequired[bool]
    EnableNetworkAddressUsageMetrics: NotRequired[bool]
    Ipv6CidrBlockAssociationSet: NotRequired[list[VpcIpv6Association]]  # Amazon-provided /56s


class SubnetData(TypedDict):
    VpcId: str
    CidrBlock: NotRequired[str]  # absent in an IPv6-only subnet (Ipv6Native)
    AvailabilityZone: str
    AvailabilityZoneId: str
    DefaultForAz: bool
    MapPublicIpOnLaunch: bool
    OwnerId: str
    Ipv6CidrBlockAssociationSet: NotRequired[list[SubnetIpv6Association]]  # its /64
    AssignIpv6AddressOnCreation: NotRequired[bool]
    Ipv6Native: NotRequired[bool]  # an IPv6-only subnet (services/ipv6_native)
    EnableDns64: NotRequired[bool]
    PrivateDnsNameOptionsOnLaunch: NotRequired[DnsNameOptions]


class SecurityGroupRule(TypedDict):
    """One rule per peer, as DescribeSecurityGroupRules shows it."""

    SecurityGroupRuleId: str
    GroupId: str
    IsEgress: bool
    IpProtocol: str
    FromPort: int | None
    ToPort: int | None
    CidrIpv4: str | None
    ReferencedGroupId: str | None
    Description: str | None
    PrefixListId: NotRequired[str]  # a rule whose peer is a managed prefix list (its CIDRs)
    CidrIpv6: NotRequired[str]  # a rule whose peer is an IPv6 CIDR (then CidrIpv4 is None)


class SecurityGroupData(TypedDict):
    GroupName: str
    Description: str
    VpcId: str
    OwnerId: str
    Rules: list[SecurityGroupRule]


class EniAttachment(TypedDict):
    InstanceId: str
    DeviceIndex: int
    Status: str
    AttachmentId: str
    AttachTime: str
    DeleteOnTermination: bool
    NetworkCardIndex: NotRequired[int]  # AttachNetworkInterface's (the primary ENI's has none)


class NetworkInterfaceData(TypedDict):
    SubnetId: str
    VpcId: str
    AvailabilityZone: str
    MacAddress: str
    PrivateIpAddress: NotRequired[str]  # absent in an IPv6-only subnet
    Groups: list[GroupIdentifier]
    Description: str
    OwnerId: str
    SourceDestCheck: bool
    InterfaceType: str
    Attachment: NotRequired[EniAttachment | None]
    SecondaryPrivateIps: NotRequired[list[str]]
    RequesterId: NotRequired[str]  # a requester-managed ENI (a load balancer's node: "amazon-elb")
    RequesterManaged: NotRequired[bool]
    PublicIp: NotRequired[str]  # a requester-managed ENI's own public IPv4 (a load balancer node's)
    Ipv6Addresses: NotRequired[list[str]]  # of its subnet's /64, in the order assigned


class InternetGatewayAttachment(TypedDict):
    VpcId: str
    State: str


class InternetGatewayData(TypedDict):
    Attachments: list[InternetGatewayAttachment]
    OwnerId: str


class PtrRecordUpdate(TypedDict):
    Value: str
    Status: str  # address_ptr.PENDING


class ElasticIpData(TypedDict):
    PublicIp: str
    Domain: str
    PublicIpv4Pool: str
    NetworkBorderGroup: str
    AssociationId: NotRequired[str]  # the association's keys are there while it is associated
    InstanceId: NotRequired[str]
    NetworkInterfaceId: NotRequired[str]
    NetworkInterfaceOwnerId: NotRequired[str]
    PrivateIpAddress: NotRequired[str]
    _PtrRecord: NotRequired[str]  # a custom reverse DNS name (domain/address_ptr.py); not in DescribeAddresses
    _PtrRecordUpdate: NotRequired[PtrRecordUpdate]


class KeyPairData(TypedDict):
    KeyName: str
    KeyType: str
    KeyFingerprint: str
    PublicKey: str


# ---------------------------------------------------------------------------------------------
# record type -> payload

INSTANCE, VOLUME, SNAPSHOT, IMAGE = "instance", "volume", "snapshot", "image"
VPC, SUBNET, SECURITY_GROUP, ENI = "vpc", "subnet", "security-group", "network-interface"
IGW, RTB, EIP, KEY_PAIR = "internet-gateway", "route-table", "elastic-ip", "key-pair"
IAM_USER, IAM_ACCESS_KEY, IAM_ROLE = "iam-user", "iam-access-key", "iam-role"
IAM_POLICY, IAM_INSTANCE_PROFILE, STS_SESSION = "iam-policy", "iam-instance-profile", "sts-session"
LAUNCH_TEMPLATE = "launch-template"
LOAD_BALANCER, TARGET_GROUP = "elbv2-load-balancer", "elbv2-target-group"
LISTENER, LISTENER_RULE = "elbv2-listener", "elbv2-rule"
IAM_REGION = "aws-global"  # the region column of IAM's and STS's records: they belong to no region

SCHEMAS: dict[str, type[Any]] = {
    INSTANCE: InstanceData,
    VOLUME: VolumeData,
    SNAPSHOT: SnapshotData,
    IMAGE: ImageData,
    VPC: VpcData,
    SUBNET: SubnetData,
    SECURITY_GROUP: SecurityGroupData,
    ENI: NetworkInterfaceData,
    IGW: InternetGatewayData,
    RTB: RouteTableData,
    EIP: ElasticIpData,
    NAT_GATEWAY: NatGatewayData,
    KEY_PAIR: KeyPairData,
    IAM_USER: IamUserData,
    IAM_ACCESS_KEY: IamAccessKeyData,
    IAM_ROLE: IamRoleData,
    IAM_POLICY: IamPolicyData,
    IAM_INSTANCE_PROFILE: IamInstanceProfileData,
    STS_SESSION: StsSessionData,
    LAUNCH_TEMPLATE: LaunchTemplateRecordData,
    LOAD_BALANCER: LoadBalancerData,
    TARGET_GROUP: TargetGroupData,
    LISTENER: ListenerData,
    LISTENER_RULE: RuleData,
}
SCHEMAS.update(AUTOSCALING_SCHEMAS | DHCP_SCHEMAS | VPC_PEERING_SCHEMAS | PL_SCHEMAS  # Auto Scaling, DHCP options,
               | SCR_SCHEMAS | VPCE_SCHEMAS)  # peering, prefix lists, subnet CIDR reservations, VPC endpoints
SCHEMAS.update(EIGW_SCHEMAS)  # egress-only internet gateways


# ---------------------------------------------------------------------------------------------
# the check


class RecordSchemaError(ValueError):
    """A record's data does not match its type's ``TypedDict`` (a programming error, never user input)."""


_HINTS: dict[type[Any], dict[str, Any]] = {}  # resolved once per TypedDict


def _hints(typed_dict: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(typed_dict)
    if hints is None:
        hints = _HINTS[typed_dict] = get_type_hints(typed_dict)
    return hints


def _kind(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation)


def _check_value(where: str, annotation: Any, value: Any) -> None:
    if annotation is Any:
        return
    if annotation is None or annotation is type(None):
        if value is not None:
            raise RecordSchemaError(f"{where}: expected None, found {type(value).__name__} {value!r}")
        return
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        problems = []
        for option in get_args(annotation):
            try:
                _check_value(where, option, value)
                return
            except RecordSchemaError as exc:
                problems.append(exc)
        if value is not None and len(problems) == 2 and type(None) in get_args(annotation):
            raise next(p for p in problems if "expected None" not in str(p))  # X | None: what is wrong in X
        kinds = " | ".join(_kind(a) for a in get_args(annotation))
        raise RecordSchemaError(f"{where}: expected {kinds}, found {type(value).__name__} {value!r}")
    if is_typeddict(annotation):
        _check_document(where, annotation, value)
        return
    if origin is list:
        if not isinstance(value, list):
            raise RecordSchemaError(f"{where}: expected a list, found {type(value).__name__} {value!r}")
        (item,) = get_args(annotation) or (Any,)
        for n, element in enumerate(value):
            _check_value(f"{where}[{n}]", item, element)
        return
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise RecordSchemaError(f"{where}: expected a dict, found {type(value).__name__} {value!r}")
        return
    expected: tuple[type, ...] = (int, float) if annotation is float else (annotation,)
    # bool is an int to Python, never to a record: True is not a size
    if isinstance(value, bool) and annotation is not bool or not isinstance(value, expected):
        raise RecordSchemaError(f"{where}: expected {_kind(annotation)}, found {type(value).__name__} {value!r}")


def _check_document(where: str, typed_dict: type[Any], value: Any) -> None:
    if not isinstance(value, Mapping):
        raise RecordSchemaError(f"{where}: expected {typed_dict.__name__} (a dict), found {type(value).__name__}")
    hints = _hints(typed_dict)
    missing = sorted(typed_dict.__required_keys__ - value.keys())
    if missing:
        raise RecordSchemaError(f"{where}: missing required key(s) {', '.join(map(repr, missing))} "
                                f"of {typed_dict.__name__}")
    unknown = sorted(k for k in value if k not in hints)
    if unknown:
        raise RecordSchemaError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))} "
                                f"(not in {typed_dict.__name__})")
    for key, item in value.items():
        _check_value(f"{where}.{key}", hints[key], item)


def check(record_type: str, data: Mapping[str, Any]) -> None:
    """Raise ``RecordSchemaError`` naming the record type and the key when ``data`` does not match
    the ``TypedDict`` of ``record_type`` (an unknown record type is an error as well)."""
    schema = SCHEMAS.get(record_type)
    if schema is None:
        raise RecordSchemaError(f"{record_type!r} records have no schema in domain/records.py")
    _check_document(f"{record_type} record data", schema, data)
