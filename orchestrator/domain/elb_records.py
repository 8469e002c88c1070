"""The stored ``data`` of ELBv2's records (load balancers, target groups with their registrations,
listeners, rules), kept apart from ``records.py`` (which lists them in ``SCHEMAS`` and checks them).

(No ``from __future__ import annotations``: see ``records.py``.)
"""

from typing import Any, NotRequired, TypedDict

# ---------------------------------------------------------------------------------------------
# ELBv2 (the record id is the resource's ARN)


class LoadBalancerNode(TypedDict):
    """One node of a load balancer: its address in one enabled subnet (ELB has a node per zone)."""

    SubnetId: str
    ZoneName: str
    NetworkInterfaceId: str  # requester-managed ENI ("ELB app/NAME/HEX")
    PrivateIpAddress: str
    PublicIp: str | None  # internet-facing: from the public pool (as RunInstances' addresses)


class LoadBalancerData(TypedDict):
    LoadBalancerName: str
    Type: str  # application | network
    Scheme: str  # internet-facing | internal
    VpcId: str
    IpAddressType: str
    DNSName: str
    CanonicalHostedZoneId: str
    CreatedTime: float
    SecurityGroups: list[str]
    Nodes: list[LoadBalancerNode]
    Attributes: dict[str, str]
    StateReason: NotRequired[str]  # why it is failed


class HealthCheckSettings(TypedDict):
    HealthCheckProtocol: str
    HealthCheckPort: str
    HealthCheckEnabled: bool
    HealthCheckIntervalSeconds: int
    HealthCheckTimeoutSeconds: int
    HealthyThresholdCount: int
    UnhealthyThresholdCount: int
    HealthCheckPath: NotRequired[str]
    Matcher: NotRequired[dict[str, str]]  # {"HttpCode": "200"}


class TargetRegistration(TypedDict):
    Id: str  # instance id or IP address
    Port: int
    AvailabilityZone: str | None  # the instance's / the IP's subnet's zone
    RegisteredAt: float
    DrainingUntil: float | None  # deregistered: draining until then (epoch seconds), then gone


class TargetGroupData(TypedDict):
    TargetGroupName: str
    Protocol: str
    Port: int
    VpcId: str
    TargetType: str  # instance | ip
    ProtocolVersion: NotRequired[str]
    HealthCheck: HealthCheckSettings
    Attributes: dict[str, str]
    Targets: list[TargetRegistration]
    CreatedTime: float


class ElbAction(TypedDict, total=False):
    """A listener or rule action as the API shows it (forward / fixed-response / redirect)."""

    Type: str
    Order: int
    TargetGroupArn: str
    ForwardConfig: dict[str, Any]
    FixedResponseConfig: dict[str, str]
    RedirectConfig: dict[str, str]


class ListenerData(TypedDict):
    LoadBalancerArn: str
    Port: int
    Protocol: str
    DefaultActions: list[ElbAction]
    DefaultRuleArn: str  # the default rule DescribeRules lists (IsDefault, Priority "default")


class RuleData(TypedDict):
    ListenerArn: str
    LoadBalancerArn: str
    Priority: int
    Conditions: list[dict[str, Any]]  # as the API shows them (Field, Values, *Config)
    Actions: list[ElbAction]

