"""Instance attributes EC2 has that ec2d's guests can hold in one value only.

DescribeInstanceAttribute answers them as EC2 shows an instance with that value; ModifyInstanceAttribute
accepts that value (nothing changes) and refuses any other with ``InvalidParameterValue`` saying why:
ec2d's guests are QEMU machines with virtio NICs and disks (no ENA, no SR-IOV, no EBS-optimized
bandwidth), there are no Nitro enclaves, no paravirtual kernels or ramdisks, and StopInstances is never refused (no stop protection).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from orchestrator.domain import errors
from orchestrator.domain.records import InstanceData
from orchestrator.services import eni_attributes, lookup, vpcs
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

# DescribeInstanceAttribute's name -> (answer key, answer)
DESCRIBED: dict[str, tuple[str, Any]] = {
    "productCodes": ("ProductCodes", []), "sriovNetSupport": ("SriovNetSupport", {}),
    "enclaveOptions": ("EnclaveOptions", {"Enabled": False}), "disableApiStop": ("DisableApiStop", {"Value": False}),
}

# ModifyInstanceAttribute's member -> (Attribute name, the one value ec2d holds, why)
_FIXED: dict[str, tuple[str, Any, str]] = {
    "EbsOptimized": ("ebsOptimized", False, "ec2d's volumes have no dedicated EBS bandwidth"),
    "EnaSupport": ("enaSupport", False, "ec2d's guests have virtio network interfaces, not ENA"),
    "SriovNetSupport": ("sriovNetSupport", None, "ec2d's guests have no SR-IOV network interfaces"),
    "DisableApiStop": ("disableApiStop", False, "ec2d has no stop protection"),
    "Kernel": ("kernel", None, "ec2d's guests boot their image's own kernel"),
    "Ramdisk": ("ramdisk", None, "ec2d's guests boot their image's own ramdisk"),
}


def _as_bool(value: Any) -> Any:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def check_fixed(wanted: Callable[[str, str], Any]) -> int:
    """How many fixed attributes the request sets to the value ec2d holds; any other value is refused.
    ``wanted(member, attribute name)``: the requested value or None."""
    given = 0
    for member, (name, held, why) in _FIXED.items():
        value = _as_bool(wanted(member, name))
        if value is None:
            continue
        if value != held or held is None:
            raise errors.InvalidParameterValue.for_param(name, str(value).lower(), why + ".")
        given += 1
    return given


def delete_on_termination(backend: Backend, record: Record[InstanceData],
                          mappings: Sequence[Mapping[str, Any]]) -> bool:
    """ModifyInstanceAttribute's BlockDeviceMappings: each named device's DeleteOnTermination, on
    the instance (what TerminateInstances reads) and on its volume's attachment. False: none given."""
    by_device = {m["DeviceName"]: m for m in record.data["BlockDeviceMappings"]}
    for wanted in mappings:
        device = wanted.get("DeviceName")
        ebs = wanted.get("Ebs") or {}
        mapping = by_device.get(device or "")
        if mapping is None:
            raise errors.InvalidParameterValue(f"The device '{device}' is not mapped on instance {record.id}.")
        if ebs.get("DeleteOnTermination") is None:
            raise errors.MissingParameter("BlockDeviceMapping.Ebs.DeleteOnTermination")
        mapping["DeleteOnTermination"] = bool(ebs["DeleteOnTermination"])
        volume = backend.store.get(mapping["VolumeId"])
        if volume is not None:
            for attachment in volume.data.get("Attachments") or []:
                if attachment.get("InstanceId") == record.id:
                    attachment["DeleteOnTermination"] = mapping["DeleteOnTermination"]
            backend.store.update(volume)
    return bool(mappings)


RESETTABLE = ("kernel", "ramdisk", "sourceDestCheck")


def reset(backend: Backend, region: str, instance_id: str, attribute: str) -> Record[InstanceData]:
    """ResetInstanceAttribute: the image's own kernel and ramdisk are always in use (nothing
    changes); ``sourceDestCheck`` turns the primary ENI's check back on."""
    record = lookup.instance(backend, region, instance_id)
    if attribute not in RESETTABLE:
        raise errors.InvalidParameterValue.for_param(
            "attribute", attribute, "Only 'kernel', 'ramdisk' and 'sourceDestCheck' can be reset.")
    if attribute == "sourceDestCheck":
        eni_attributes.set_instance_source_dest_check(backend, record, True)
    return record


async def reset_live(backend: Backend, region: str, instance_id: str, attribute: str) -> None:
    """ResetInstanceAttribute, then the VPC's firewall follows."""
    record = reset(backend, region, instance_id, attribute)
    await vpcs.sync_network(backend, region, record.data["VpcId"])
