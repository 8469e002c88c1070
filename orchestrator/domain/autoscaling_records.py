"""What Auto Scaling's stored records hold (``domain/records.py`` registers them in its ``SCHEMAS``):
a launch configuration, a group, one record per instance of a group (its lifecycle state is the
record's state, see ``lifecycle.ASG_INSTANCE``) and a scaling activity (its ``StatusCode`` is the
record's state). CamelCase keys are what the API shows; lower-case ones are ec2d's bookkeeping.

(No ``from __future__ import annotations``: see ``records.py``.)
"""

from typing import Any, NotRequired, TypedDict


class AsgTag(TypedDict):
    Key: str
    Value: str
    PropagateAtLaunch: bool


class AsgSuspendedProcess(TypedDict):
    ProcessName: str
    SuspensionReason: str


class AsgLaunchTemplate(TypedDict, total=False):
    LaunchTemplateId: str
    LaunchTemplateName: str
    Version: str


class AsgLaunchConfigurationData(TypedDict):
    LaunchConfigurationName: str
    LaunchConfigurationARN: str
    ImageId: str
    InstanceType: str
    KeyName: str
    SecurityGroups: list[str]
    UserData: str  # base64, as sent
    BlockDeviceMappings: list[dict[str, Any]]
    IamInstanceProfile: str | None
    AssociatePublicIpAddress: bool | None
    MetadataOptions: dict[str, Any] | None
    CreatedTime: str


class AsgGroupData(TypedDict):
    AutoScalingGroupName: str
    AutoScalingGroupARN: str
    LaunchConfigurationName: str | None
    LaunchTemplate: AsgLaunchTemplate | None
    MinSize: int
    MaxSize: int
    DesiredCapacity: int
    DefaultCooldown: int
    AvailabilityZones: list[str]
    Subnets: list[str]  # VPCZoneIdentifier's subnets, in its order ([] for AvailabilityZones only)
    HealthCheckType: str
    HealthCheckGracePeriod: int
    TargetGroupARNs: list[str]
    TerminationPolicies: list[str]
    NewInstancesProtectedFromScaleIn: bool
    CreatedTime: str
    Tags: list[AsgTag]
    SuspendedProcesses: list[AsgSuspendedProcess]
    cause: str  # the latest change of the desired capacity, as activities cite it ("At ... a user request ...")
    failed_zones: dict[str, float]  # zone -> when a launch into it last failed (skipped for a while)
    simple_scaled_at: NotRequired[float]  # the last simple scaling change (its cooldown starts there)


class AsgInstanceData(TypedDict):
    AutoScalingGroupName: str
    InstanceId: str
    InstanceType: str
    AvailabilityZone: str
    HealthStatus: str  # Healthy | Unhealthy
    ProtectedFromScaleIn: bool
    LaunchConfigurationName: str | None
    LaunchTemplate: AsgLaunchTemplate | None
    launched_at: float
    in_service_at: float | None
    registered: list[str]  # the target groups (ARNs) it is registered with
    rebalance: bool  # launched to rebalance zones: the group sheds one instance once it is InService
    unhealthy_cause: str | None  # why it is Unhealthy (the termination activity's cause)
    terminate_cause: str | None  # why it is Terminating (its activity's cause)
    activity: str | None  # the ActivityId of its termination


class AsgActivityData(TypedDict):
    AutoScalingGroupName: str
    AutoScalingGroupARN: str
    Description: str
    Cause: str
    StartTime: str
    EndTime: NotRequired[str]
    Progress: int
    StatusMessage: NotRequired[str]
    Details: str
    InstanceId: NotRequired[str]


class AsgStepAdjustment(TypedDict, total=False):
    MetricIntervalLowerBound: float
    MetricIntervalUpperBound: float
    ScalingAdjustment: int


class AsgPolicyData(TypedDict):
    """A scaling policy (PutScalingPolicy), as DescribePolicies shows it but its ``Alarms``, which
    are made from ``alarm_ids`` (target tracking's two synthesized alarms, named as AWS names them)."""

    AutoScalingGroupName: str
    PolicyName: str
    PolicyARN: str
    PolicyType: str  # SimpleScaling | StepScaling | TargetTrackingScaling
    AdjustmentType: NotRequired[str]
    ScalingAdjustment: NotRequired[int]
    MinAdjustmentMagnitude: NotRequired[int]
    Cooldown: NotRequired[int]
    StepAdjustments: NotRequired[list[AsgStepAdjustment]]
    MetricAggregationType: NotRequired[str]
    EstimatedInstanceWarmup: NotRequired[int]
    TargetTrackingConfiguration: NotRequired[dict[str, Any]]
    Enabled: bool
    alarm_ids: list[str]  # uuids of AlarmHigh and AlarmLow (target tracking), [] otherwise


ASG_LAUNCH_CONFIGURATION = "autoscaling-launch-configuration"
ASG_GROUP = "autoscaling-group"
ASG_INSTANCE = "autoscaling-instance"
ASG_ACTIVITY = "autoscaling-activity"
ASG_POLICY = "autoscaling-policy"

AUTOSCALING_SCHEMAS: dict[str, type[Any]] = {
    ASG_LAUNCH_CONFIGURATION: AsgLaunchConfigurationData,
    ASG_GROUP: AsgGroupData,
    ASG_INSTANCE: AsgInstanceData,
    ASG_ACTIVITY: AsgActivityData,
    ASG_POLICY: AsgPolicyData,
}
