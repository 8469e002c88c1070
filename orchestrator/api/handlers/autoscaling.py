"""EC2 Auto Scaling (botocore ``autoscaling``, query protocol): launch configurations, groups and
their instances, scaling activities, tags, processes, target groups."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.registry import action
from orchestrator.services.autoscaling import (
    activities,
    groups,
    launch_configs,
    live,
    members,
    names,
    scaling_policies,
    views,
)

SVC = "autoscaling"


@action("CreateLaunchConfiguration", service=SVC)
def create_launch_configuration(ctx: RequestContext, req: dict[str, Any]) -> None:
    launch_configs.create(ctx.backend, ctx.region, req)


@action("DescribeLaunchConfigurations", service=SVC)
def describe_launch_configurations(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = launch_configs.describe(ctx.backend, ctx.region, req.get("LaunchConfigurationNames"))
    return names.page(req, items, "LaunchConfigurations")


@action("DeleteLaunchConfiguration", service=SVC)
def delete_launch_configuration(ctx: RequestContext, req: dict[str, Any]) -> None:
    launch_configs.delete(ctx.backend, ctx.region, req["LaunchConfigurationName"])


@action("CreateAutoScalingGroup", service=SVC)
def create_auto_scaling_group(ctx: RequestContext, req: dict[str, Any]) -> None:
    live.create_group(ctx.backend, ctx.region, req)


@action("UpdateAutoScalingGroup", service=SVC)
def update_auto_scaling_group(ctx: RequestContext, req: dict[str, Any]) -> None:
    live.update_group(ctx.backend, ctx.region, req)


@action("DeleteAutoScalingGroup", service=SVC)
def delete_auto_scaling_group(ctx: RequestContext, req: dict[str, Any]) -> None:
    live.delete_group(ctx.backend, ctx.region, req["AutoScalingGroupName"], bool(req.get("ForceDelete")))


@action("DescribeAutoScalingGroups", service=SVC)
def describe_auto_scaling_groups(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return names.page(req, views.groups_of(ctx.backend, ctx.region, req), "AutoScalingGroups")


@action("SetDesiredCapacity", service=SVC)
def set_desired_capacity(ctx: RequestContext, req: dict[str, Any]) -> None:
    live.set_desired_capacity(ctx.backend, ctx.region, req["AutoScalingGroupName"], req["DesiredCapacity"])


@action("DescribeAutoScalingInstances", service=SVC)
def describe_auto_scaling_instances(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return names.page(req, views.instances_of(ctx.backend, ctx.region, req.get("InstanceIds")),
                      "AutoScalingInstances")


@action("SetInstanceHealth", service=SVC)
def set_instance_health(ctx: RequestContext, req: dict[str, Any]) -> None:
    live.set_instance_health(ctx.backend, ctx.region, req["InstanceId"], req["HealthStatus"],
                             bool(req.get("ShouldRespectGracePeriod", True)))


@action("SetInstanceProtection", service=SVC)
def set_instance_protection(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    members.set_protection(ctx.backend, ctx.region, req["AutoScalingGroupName"], req["InstanceIds"],
                                bool(req["ProtectedFromScaleIn"]))
    return {}


@action("TerminateInstanceInAutoScalingGroup", service=SVC)
def terminate_instance_in_auto_scaling_group(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return {"Activity": live.terminate_instance(ctx.backend, ctx.region, req["InstanceId"],
                                                bool(req["ShouldDecrementDesiredCapacity"]))}


@action("DescribeScalingActivities", service=SVC)
def describe_scaling_activities(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = activities.describe(ctx.backend, ctx.region, req.get("AutoScalingGroupName"), req.get("ActivityIds"),
                                groups.names_in(ctx.backend, ctx.region))
    return names.page(req, items, "Activities", default=100)


@action("CreateOrUpdateTags", service=SVC)
def create_or_update_tags(ctx: RequestContext, req: dict[str, Any]) -> None:
    groups.put_tags(ctx.backend, ctx.region, req["Tags"])


@action("DeleteTags", service=SVC)
def delete_tags(ctx: RequestContext, req: dict[str, Any]) -> None:
    groups.delete_tags(ctx.backend, ctx.region, req["Tags"])


@action("DescribeTags", service=SVC)
def describe_tags(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return names.page(req, views.tags_of(ctx.backend, ctx.region, req.get("Filters") or []), "Tags")


@action("SuspendProcesses", service=SVC)
def suspend_processes(ctx: RequestContext, req: dict[str, Any]) -> None:
    live.suspend_processes(ctx.backend, ctx.region, req["AutoScalingGroupName"], req.get("ScalingProcesses"), False)


@action("ResumeProcesses", service=SVC)
def resume_processes(ctx: RequestContext, req: dict[str, Any]) -> None:
    live.suspend_processes(ctx.backend, ctx.region, req["AutoScalingGroupName"], req.get("ScalingProcesses"), True)


@action("DescribeScalingProcessTypes", service=SVC)
def describe_scaling_process_types(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return {"Processes": [{"ProcessName": p} for p in groups.PROCESSES]}


@action("DescribeTerminationPolicyTypes", service=SVC)
def describe_termination_policy_types(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return {"TerminationPolicyTypes": list(groups.TERMINATION_POLICIES)}


@action("AttachLoadBalancerTargetGroups", service=SVC)
def attach_load_balancer_target_groups(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    live.attach_target_groups(ctx.backend, ctx.region, req["AutoScalingGroupName"], req["TargetGroupARNs"])
    return {}


@action("DetachLoadBalancerTargetGroups", service=SVC)
async def detach_load_balancer_target_groups(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    await live.detach_target_groups(ctx.backend, ctx.region, req["AutoScalingGroupName"], req["TargetGroupARNs"])
    return {}


@action("DescribeLoadBalancerTargetGroups", service=SVC)
def describe_load_balancer_target_groups(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = groups.describe_target_groups(ctx.backend, ctx.region, req["AutoScalingGroupName"])
    return names.page(req, items, "LoadBalancerTargetGroups", default=100)


@action("AttachInstances", service=SVC)
def attach_instances(ctx: RequestContext, req: dict[str, Any]) -> None:
    live.attach_instances(ctx.backend, ctx.region, req["AutoScalingGroupName"], req.get("InstanceIds") or [])


@action("DetachInstances", service=SVC)
def detach_instances(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return {"Activities": live.detach_instances(ctx.backend, ctx.region, req["AutoScalingGroupName"],
                                                req.get("InstanceIds") or [],
                                                bool(req["ShouldDecrementDesiredCapacity"]))}


@action("DescribeTrafficSources", service=SVC)
def describe_traffic_sources(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = groups.traffic_sources(ctx.backend, ctx.region, req["AutoScalingGroupName"], req.get("TrafficSourceType"))
    return names.page(req, items, "TrafficSources", default=50)


@action("DescribeLoadBalancers", service=SVC)
def describe_load_balancers(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    groups.require(ctx.backend, ctx.region, req["AutoScalingGroupName"])
    return {"LoadBalancers": []}  # Classic Load Balancers: ec2d serves none


@action("DescribeLifecycleHooks", service=SVC)
def describe_lifecycle_hooks(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    groups.require(ctx.backend, ctx.region, req["AutoScalingGroupName"])
    return {"LifecycleHooks": []}  # ec2d has no lifecycle hooks (PutLifecycleHook is not served)


@action("DescribeAccountLimits", service=SVC)
def describe_account_limits(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return groups.account_limits(ctx.backend, ctx.region)


@action("PutScalingPolicy", service=SVC)
def put_scaling_policy(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return scaling_policies.put(ctx.backend, ctx.region, req)


@action("DescribePolicies", service=SVC)
def describe_policies(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return names.page(req, scaling_policies.describe(ctx.backend, ctx.region, req), "ScalingPolicies")


@action("DeletePolicy", service=SVC)
def delete_policy(ctx: RequestContext, req: dict[str, Any]) -> None:
    scaling_policies.delete(ctx.backend, ctx.region, req.get("AutoScalingGroupName"), req["PolicyName"])


@action("ExecutePolicy", service=SVC)
def execute_policy(ctx: RequestContext, req: dict[str, Any]) -> None:
    live.execute_policy(ctx.backend, ctx.region, req)
