"""What route tables' and NAT gateways' stored records hold (``domain/records.py`` registers them
in its ``SCHEMAS``); a NAT gateway's state is the record's state (``lifecycle.NAT_GATEWAY``).

(No ``from __future__ import annotations``: see ``records.py``.)
"""

from typing import NotRequired, TypedDict

NAT_GATEWAY = "natgateway"  # the record type (and TagSpecification resource type)


class RouteAssociationState(TypedDict):
    State: str  # associated (ec2d's associations settle at once)


class RouteTableAssociation(TypedDict):
    RouteTableAssociationId: str
    RouteTableId: str
    Main: bool
    AssociationState: RouteAssociationState
    SubnetId: NotRequired[str]


class Route(TypedDict):  # Describe shows State "blackhole" while the target is gone
    DestinationCidrBlock: NotRequired[str]  # or, for a gateway endpoint's route, the list:
    DestinationPrefixListId: NotRequired[str]
    DestinationIpv6CidrBlock: NotRequired[str]  # an IPv6 route (the VPC's own /56s' local routes are not stored)
    State: str
    Origin: str
    GatewayId: NotRequired[str]  # "local", an internet gateway or a gateway endpoint (vpce-)
    NatGatewayId: NotRequired[str]
    VpcPeeringConnectionId: NotRequired[str]
    EgressOnlyInternetGatewayId: NotRequired[str]  # IPv6 routes only
    NetworkInterfaceId: NotRequired[str]  # an ENI (CreateRoute's InstanceId names the instance's only ENI)


class RouteTableData(TypedDict):
    VpcId: str
    OwnerId: str
    Associations: list[RouteTableAssociation]
    Routes: list[Route]
class NatGatewayAddress(TypedDict):
    AllocationId: NotRequired[str]  # a public NAT gateway's Elastic IP
    PublicIp: NotRequired[str]
    AssociationId: NotRequired[str]
    NetworkInterfaceId: str
    PrivateIp: str
    IsPrimary: bool
    Status: str  # associating / succeeded / disassociating


class NatGatewayData(TypedDict):
    SubnetId: str
    VpcId: str
    ConnectivityType: str  # public / private
    CreateTime: str
    NatGatewayAddresses: list[NatGatewayAddress]
    ClientToken: NotRequired[str]
    DeleteTime: NotRequired[str]
    FailureCode: NotRequired[str]
    FailureMessage: NotRequired[str]


__all__ = ["NAT_GATEWAY", "NatGatewayAddress", "NatGatewayData", "Route", "RouteTableAssociation", "RouteTableData"]
