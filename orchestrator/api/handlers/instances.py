"""RunInstances, DescribeInstances, DescribeInstanceStatus, ModifyInstanceMaintenanceOptions,
Start/Stop/Reboot/TerminateInstances, Modify/Describe/ResetInstanceAttribute, GetConsoleOutput."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import respond
from orchestrator.api.filter_paths import table
from orchestrator.api.instance_filters import FILTERS
from orchestrator.api.registry import action
from orchestrator.domain import narrowing
from orchestrator.domain.states import Request
from orchestrator.services import instance_attributes, instance_status, instances

# filters the store answers before rendering (the item shows the record's state and InstanceType as is)
_NARROWING = {"instance-state-name": narrowing.STATE, "instance-type": "InstanceType"}


@action("RunInstances")
def run_instances(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return instances.run(ctx.backend, ctx.region, req, ctx.caller)


@action("DescribeInstances")
def describe_instances(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    narrow = narrowing.from_filters(req.get("Filters"), _NARROWING)
    items = instances.describe_instances(ctx.backend, ctx.region, req.get("InstanceIds"), narrow)
    out = respond(req, items, FILTERS, "Reservations")
    reservations = []
    for (rid, owner), group in groupby(out["Reservations"], key=lambda i: (i["_reservation"], i["_owner"])):
        members = list(group)
        for m in members:
            del m["_reservation"], m["_owner"]
        reservations.append({"ReservationId": rid, "OwnerId": owner, "Groups": [], "Instances": members})
    return {"Reservations": reservations, "NextToken": out["NextToken"]}


_STATUS_FILTERS = {
    "availability-zone": lambda s: s["AvailabilityZone"],
    "instance-state-name": lambda s: s["InstanceState"]["Name"],
    "instance-state-code": lambda s: s["InstanceState"]["Code"],
    "instance-status.status": lambda s: s["InstanceStatus"]["Status"],
    "system-status.status": lambda s: s["SystemStatus"]["Status"],
    "instance-status.reachability": lambda s: [d["Status"] for d in s["InstanceStatus"]["Details"]
                                               if d["Name"] == "reachability"],
    "system-status.reachability": lambda s: [d["Status"] for d in s["SystemStatus"]["Details"]
                                             if d["Name"] == "reachability"],
    **table({"availability-zone-id": "AvailabilityZoneId", "event.code": "Events.Code",
             "event.description": "Events.Description", "event.instance-event-id": "Events.InstanceEventId",
             "event.not-after": "Events.NotAfter", "event.not-before": "Events.NotBefore",
             "event.not-before-deadline": "Events.NotBeforeDeadline", "operator.managed": "Operator.Managed",
             "operator.principal": "Operator.Principal", "attached-ebs-status.status": "AttachedEbsStatus.Status"},
            ("application-status.status",)),  # no application health reports in ec2d
}


@action("DescribeInstanceStatus")
def describe_instance_status(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = instance_status.statuses(ctx.backend, ctx.region, req.get("InstanceIds"), bool(req.get("IncludeAllInstances")))
    return respond(req, items, _STATUS_FILTERS, "InstanceStatuses", tags_of=None)


@action("ModifyInstanceMaintenanceOptions")
def modify_instance_maintenance_options(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return instance_status.modify_maintenance_options(ctx.backend, ctx.region, req)


@action("StartInstances")
def start_instances(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return {"StartingInstances": instances.request(ctx.backend, ctx.region, req["InstanceIds"], Request.START)}


@action("StopInstances")
def stop_instances(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return {"StoppingInstances": instances.request(ctx.backend, ctx.region, req["InstanceIds"], Request.STOP,
                                                   force=bool(req.get("Force")))}


@action("RebootInstances")
def reboot_instances(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    instances.request(ctx.backend, ctx.region, req["InstanceIds"], Request.REBOOT)
    return {}


@action("TerminateInstances")
def terminate_instances(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return {"TerminatingInstances": instances.request(ctx.backend, ctx.region, req["InstanceIds"],
                                                      Request.TERMINATE)}


@action("DescribeInstanceAttribute")
def describe_instance_attribute(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return instances.describe_attribute(ctx.backend, ctx.region, req["InstanceId"], req["Attribute"])


@action("ModifyInstanceAttribute")
async def modify_instance_attribute(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    await instances.modify_attribute_live(ctx.backend, ctx.region, req)
    return {}


@action("ResetInstanceAttribute")
async def reset_instance_attribute(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    await instance_attributes.reset_live(ctx.backend, ctx.region, req["InstanceId"], req["Attribute"])
    return {}


@action("GetConsoleOutput")
def get_console_output(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return instances.console_output(ctx.backend, ctx.region, req["InstanceId"])


@action("ModifyInstanceMetadataOptions")
async def modify_instance_metadata_options(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    record = await instances.modify_metadata_options_live(ctx.backend, ctx.region, req)
    return {"InstanceId": record.id, "InstanceMetadataOptions": record.data["MetadataOptions"]}
