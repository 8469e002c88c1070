"""CreateLaunchTemplate, CreateLaunchTemplateVersion, DescribeLaunchTemplates,
DescribeLaunchTemplateVersions, ModifyLaunchTemplate, DeleteLaunchTemplate,
DeleteLaunchTemplateVersions, GetLaunchTemplateData (RunInstances' ``LaunchTemplate``:
``services/instances.run``)."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import respond
from orchestrator.api.registry import action
from orchestrator.services import launch_template_data, launch_templates, principals

_FILTERS = {
    "create-time": lambda t: t["CreateTime"],
    "launch-template-name": lambda t: t["LaunchTemplateName"],
}


def _data(key: str, *path: str) -> Any:
    """A getter of ``LaunchTemplateData[key][path...]`` (None where absent)."""
    def get(item: dict[str, Any]) -> Any:
        value = item["LaunchTemplateData"].get(key)
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        return value
    return get


_VERSION_FILTERS = {
    "create-time": lambda v: v["CreateTime"],
    "is-default-version": lambda v: v["DefaultVersion"],
    "ebs-optimized": _data("EbsOptimized"),
    "http-endpoint": _data("MetadataOptions", "HttpEndpoint"),
    "http-protocol-ipv6": _data("MetadataOptions", "HttpProtocolIpv6"),
    "http-tokens": _data("MetadataOptions", "HttpTokens"),
    "iam-instance-profile": lambda v: [x for x in (_data("IamInstanceProfile", "Arn")(v),
                                                    _data("IamInstanceProfile", "Name")(v)) if x],
    "image-id": _data("ImageId"),
    "instance-type": _data("InstanceType"),
    "kernel-id": _data("KernelId"),
    "ram-disk-id": _data("RamDiskId"),
    "host-resource-group-arn": _data("Placement", "HostResourceGroupArn"),
    "license-configuration-arn": lambda v: [lic.get("LicenseConfigurationArn") for lic in
                                            v["LaunchTemplateData"].get("LicenseSpecifications") or []],
    "network-card-index": lambda v: [n.get("NetworkCardIndex") for n in
                                     v["LaunchTemplateData"].get("NetworkInterfaces") or []],
}


def _caller_arn(ctx: RequestContext) -> str:
    return (ctx.caller or principals.root(ctx.account_id, ctx.access_key_id)).arn


@action("CreateLaunchTemplate")
def create_launch_template(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    record, tags = launch_templates.create(ctx.backend, ctx.region, req, _caller_arn(ctx))
    return {"LaunchTemplate": launch_templates.render(record, tags)}


@action("CreateLaunchTemplateVersion")
def create_launch_template_version(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    record, entry = launch_templates.create_version(ctx.backend, ctx.region, req, _caller_arn(ctx))
    return {"LaunchTemplateVersion": launch_templates.render_version(record, entry)}


@action("DescribeLaunchTemplates")
def describe_launch_templates(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = launch_templates.describe(ctx.backend, ctx.region, req.get("LaunchTemplateIds"),
                                      req.get("LaunchTemplateNames"))
    return respond(req, items, _FILTERS, "LaunchTemplates", page=(1, 200))


@action("DescribeLaunchTemplateVersions")
def describe_launch_template_versions(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = launch_templates.describe_versions(ctx.backend, ctx.region, req)
    return respond(req, items, _VERSION_FILTERS, "LaunchTemplateVersions", tags_of=None, page=(1, 200))


@action("ModifyLaunchTemplate")
def modify_launch_template(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    record, tags = launch_templates.modify(ctx.backend, ctx.region, req)
    return {"LaunchTemplate": launch_templates.render(record, tags)}


@action("DeleteLaunchTemplate")
def delete_launch_template(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    record = launch_templates.delete(ctx.backend, ctx.region, req.get("LaunchTemplateId"),
                                     req.get("LaunchTemplateName"))
    return {"LaunchTemplate": launch_templates.render(record, {})}


@action("DeleteLaunchTemplateVersions")
def delete_launch_template_versions(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    deleted, failed = launch_templates.delete_versions(ctx.backend, ctx.region, req.get("LaunchTemplateId"),
                                                       req.get("LaunchTemplateName"), req["Versions"])
    return {"SuccessfullyDeletedLaunchTemplateVersions": deleted,
            "UnsuccessfullyDeletedLaunchTemplateVersions": failed}


@action("GetLaunchTemplateData")
def get_launch_template_data(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return {"LaunchTemplateData": launch_template_data.of_instance(ctx.backend, ctx.region, req["InstanceId"])}
