"""Resource identifiers in AWS formats, and what each prefix means.

EC2 ids are ``prefix-`` + 17 lowercase hex digits (older resources have 8; both are accepted).
A malformed id gets the resource's ``*.Malformed`` code, a well-formed unknown one ``*.NotFound``.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from orchestrator.domain import errors


@dataclass(frozen=True)
class Kind:
    prefix: str
    resource_type: str  # as in TagSpecification.ResourceType / DescribeTags resource-type
    not_found: str  # error code for an unknown id
    malformed: str  # error code for a badly formed id
    label: str  # noun used in messages

    def not_found_error(self, resource_id: str) -> errors.NotFound:
        return errors.NotFound(self.not_found, f"The {self.label} ID '{resource_id}' does not exist")

    def malformed_error(self, resource_id: str) -> errors.Malformed:
        return errors.Malformed(self.malformed, f'Invalid id: "{resource_id}" (expecting "{self.prefix}-...")')


KINDS: dict[str, Kind] = {
    k.prefix: k
    for k in [
        Kind("i", "instance", "InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed", "instance"),
        Kind("r", "reservation", "InvalidReservationID.NotFound", "InvalidReservationID.Malformed", "reservation"),
        Kind("vol", "volume", "InvalidVolume.NotFound", "InvalidVolumeID.Malformed", "volume"),
        Kind("snap", "snapshot", "InvalidSnapshot.NotFound", "InvalidSnapshotID.Malformed", "snapshot"),
        Kind("ami", "image", "InvalidAMIID.NotFound", "InvalidAMIID.Malformed", "image"),
        Kind("vpc", "vpc", "InvalidVpcID.NotFound", "InvalidVpcID.Malformed", "vpc"),
        Kind("subnet", "subnet", "InvalidSubnetID.NotFound", "InvalidSubnetID.Malformed", "subnet"),
        Kind("sg", "security-group", "InvalidGroup.NotFound", "InvalidGroupId.Malformed", "security group"),
        Kind("sgr", "security-group-rule", "InvalidSecurityGroupRuleId.NotFound",
             "InvalidSecurityGroupRuleId.Malformed", "security group rule"),
        Kind("eni", "network-interface", "InvalidNetworkInterfaceID.NotFound",
             "InvalidNetworkInterfaceID.Malformed", "network interface"),
        Kind("igw", "internet-gateway", "InvalidInternetGatewayID.NotFound",
             "InvalidInternetGatewayID.Malformed", "internet gateway"),
        Kind("eigw", "egress-only-internet-gateway", "InvalidEgressOnlyInternetGatewayId.NotFound",
             "InvalidEgressOnlyInternetGatewayId.Malformed", "egress-only internet gateway"),
        Kind("rtb", "route-table", "InvalidRouteTableID.NotFound", "InvalidRouteTableID.Malformed",
             "route table"),
        Kind("rtbassoc", "route-table-association", "InvalidAssociationID.NotFound",
             "InvalidAssociationID.Malformed", "association"),
        Kind("eipalloc", "elastic-ip", "InvalidAllocationID.NotFound", "InvalidAllocationID.Malformed",
             "allocation"),
        Kind("eipassoc", "elastic-ip-association", "InvalidAssociationID.NotFound",
             "InvalidAssociationID.Malformed", "association"),
        Kind("nat", "natgateway", "NatGatewayNotFound", "NatGatewayMalformed", "NAT gateway"),
        Kind("pcx", "vpc-peering-connection", "InvalidVpcPeeringConnectionID.NotFound",
             "InvalidVpcPeeringConnectionId.Malformed", "vpcPeeringConnection"),
        Kind("key", "key-pair", "InvalidKeyPair.NotFound", "InvalidKeyPair.Malformed", "key pair"),
        Kind("dopt", "dhcp-options", "InvalidDhcpOptionID.NotFound", "InvalidDhcpOptionsId.Malformed",
             "dhcpOption"),  # EC2: "The dhcpOption ID 'dopt-...' does not exist"
        Kind("acl", "network-acl", "InvalidNetworkAclID.NotFound", "InvalidNetworkAclID.Malformed",
             "network ACL"),
        Kind("vpc-cidr-assoc", "vpc-cidr-block-association", "InvalidVpcCidrBlockAssociationID.NotFound",
             "InvalidVpcCidrBlockAssociationID.Malformed", "association"),
        Kind("subnet-cidr-assoc", "subnet-cidr-block-association",
             "InvalidSubnetCidrBlockAssociationID.NotFound",
             "InvalidSubnetCidrBlockAssociationID.Malformed", "association"),
        Kind("scr", "subnet-cidr-reservation", "InvalidSubnetCidrReservationID.NotFound",
             "InvalidSubnetCidrReservationID.Malformed", "subnet CIDR reservation"),
        Kind("attach", "network-interface-attachment", "InvalidAttachmentID.NotFound",
             "InvalidAttachmentID.Malformed", "attachment"),
        Kind("vol-mod", "volume-modification", "InvalidVolumeModification.NotFound",
             "InvalidVolumeModification.Malformed", "volume modification"),
        Kind("vpce", "vpc-endpoint", "InvalidVpcEndpointId.NotFound", "InvalidVpcEndpointId.Malformed",
             "VpcEndpoint"),
        Kind("pl", "prefix-list", "InvalidPrefixListID.NotFound", "InvalidPrefixListId.Malformed", "prefix list"),
        Kind("lt", "launch-template", "InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateId.Malformed",
             "launch template"),
    ]
}

ID_RE = re.compile(r"^(?P<prefix>[a-z]+(?:-[a-z]+)*)-(?P<hex>[0-9a-f]{8}|[0-9a-f]{17})$")


def new_id(prefix: str) -> str:
    if prefix not in KINDS:
        raise KeyError(prefix)
    return f"{prefix}-{secrets.token_hex(9)[:17]}"


def kind_of(resource_id: str) -> Kind | None:
    """The kind a well-formed id belongs to, or None."""
    m = ID_RE.match(resource_id)
    if not m:
        return None
    return KINDS.get(m.group("prefix"))


def is_valid(resource_id: str, prefix: str) -> bool:
    m = ID_RE.match(resource_id)
    return bool(m) and m.group("prefix") == prefix


def check(resource_id: str, prefix: str) -> str:
    """Return the id if well formed for ``prefix``; raise the kind's ``*.Malformed`` otherwise."""
    if not is_valid(resource_id, prefix):
        raise KINDS[prefix].malformed_error(resource_id)
    return resource_id


# IAM's unique ids: a four-letter prefix that says what the entity is and 17 characters of base32
# (``AIDA`` users, ``AROA`` roles, ``ANPA`` managed policies, ``AIPA`` instance profiles, ``AKIA``
# access keys, ``ASIA`` temporary access keys of an STS session).
IAM_PREFIXES = {"user": "AIDA", "role": "AROA", "policy": "ANPA", "instance-profile": "AIPA",
                "access-key": "AKIA", "session-key": "ASIA"}
_IAM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def new_iam_id(kind: str) -> str:
    """A fresh IAM unique id of ``kind`` (a key of :data:`IAM_PREFIXES`), 21 characters."""
    return IAM_PREFIXES[kind] + "".join(secrets.choice(_IAM_ALPHABET) for _ in range(16 if kind in (
        "access-key", "session-key") else 17))
