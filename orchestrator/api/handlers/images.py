"""DescribeImages, CreateImage, RegisterImage, DeregisterImage, CopyImage,
DescribeImageAttribute, ModifyImageAttribute, ResetImageAttribute."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import respond
from orchestrator.api.filter_paths import table
from orchestrator.api.registry import action
from orchestrator.services import user_images

_FILTERS = {
    "architecture": lambda i: i["Architecture"],
    "block-device-mapping.device-name": lambda i: [b["DeviceName"] for b in i["BlockDeviceMappings"]],
    "block-device-mapping.snapshot-id": lambda i: [b.get("Ebs", {}).get("SnapshotId") for b in i["BlockDeviceMappings"]],
    "block-device-mapping.volume-size": lambda i: [b.get("Ebs", {}).get("VolumeSize") for b in i["BlockDeviceMappings"]],
    "block-device-mapping.volume-type": lambda i: [b.get("Ebs", {}).get("VolumeType") for b in i["BlockDeviceMappings"]],
    "description": lambda i: i["Description"],
    "ena-support": lambda i: i["EnaSupport"],
    "hypervisor": lambda i: i["Hypervisor"],
    "image-id": lambda i: i["ImageId"],
    "image-type": lambda i: i["ImageType"],
    "is-public": lambda i: i["Public"],
    "name": lambda i: i["Name"],
    "owner-alias": lambda i: i.get("ImageOwnerAlias"),
    "owner-id": lambda i: i["OwnerId"],
    "platform-details": lambda i: i["PlatformDetails"],
    "root-device-name": lambda i: i["RootDeviceName"],
    "root-device-type": lambda i: i["RootDeviceType"],
    "state": lambda i: i["State"],
    "virtualization-type": lambda i: i["VirtualizationType"],
    "boot-mode": lambda i: i.get("BootMode"),
    "imds-support": lambda i: i.get("ImdsSupport"),
    **table({"block-device-mapping.delete-on-termination": "BlockDeviceMappings.Ebs.DeleteOnTermination",
             "block-device-mapping.encrypted": "BlockDeviceMappings.Ebs.Encrypted",
             "creation-date": "CreationDate", "platform": "Platform", "product-code": "ProductCodes.ProductCodeId",
             "product-code.type": "ProductCodes.ProductCodeType", "sriov-net-support": "SriovNetSupport",
             "kernel-id": "KernelId", "ramdisk-id": "RamdiskId", "source-image-id": "SourceImageId",
             "source-image-region": "SourceImageRegion", "source-instance-id": "SourceInstanceId",
             "state-reason-code": "StateReason.Code", "state-reason-message": "StateReason.Message",
             "manifest-location": "ImageLocation", "free-tier-eligible": "FreeTierEligible"},
            # no image watermarks, scans, SSM parameters, allowed-images settings or type restrictions
            ("image-allowed", "public-ssm-parameter-name", "instance-type-specification.supported-instance-type",
             "instance-type-specification.unsupported-instance-type",
             *(f"image-watermark.{n}" for n in ("source-image-creation-time", "source-image-id",
                                                 "source-image-region", "watermark-creation-time", "watermark-key")),
             *(f"scan-result.{n}" for n in ("critical-fix-available-since", "finding-scan-date",
                                             "high-fix-available-since", "highest-finding-severity-label",
                                             "informational-fix-available-since", "low-fix-available-since",
                                             "medium-fix-available-since")))),
}


@action("DescribeImages")
def describe_images(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = user_images.describe_images(ctx.backend, ctx.region, ctx.account_id, req.get("ImageIds"),
                                        req.get("ExecutableUsers"), req.get("Owners"))
    return respond(req, items, _FILTERS, "Images")


@action("CreateImage")
def create_image(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return {"ImageId": user_images.create(ctx.backend, ctx.region, req)}


@action("RegisterImage")
def register_image(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return {"ImageId": user_images.register(ctx.backend, ctx.region, req)}


@action("DeregisterImage")
def deregister_image(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return user_images.deregister(ctx.backend, ctx.region, req["ImageId"],
                                  bool(req.get("DeleteAssociatedSnapshots")))


@action("CopyImage")
def copy_image(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return {"ImageId": user_images.copy(ctx.backend, ctx.region, req)}


@action("DescribeImageAttribute")
def describe_image_attribute(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return user_images.describe_attribute(ctx.backend, ctx.region, req["ImageId"], req["Attribute"])


@action("ModifyImageAttribute")
def modify_image_attribute(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    user_images.modify_attribute(ctx.backend, ctx.region, req)
    return {}


@action("ResetImageAttribute")
def reset_image_attribute(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    user_images.reset_attribute(ctx.backend, ctx.region, req["ImageId"], req["Attribute"])
    return {}
