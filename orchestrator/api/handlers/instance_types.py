"""DescribeInstanceTypes over the catalogue of real EC2 types."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.filters import apply_filters, paginate
from orchestrator.api.registry import action
from orchestrator.domain import errors
from orchestrator.domain.instance_types import CATALOGUE

_FILTERS = {
    "instance-type": lambda t: t["InstanceType"],
    "current-generation": lambda t: t["CurrentGeneration"],
    "free-tier-eligible": lambda t: t["FreeTierEligible"],
    "bare-metal": lambda t: t["BareMetal"],
    "hypervisor": lambda t: t["Hypervisor"],
    "burstable-performance-supported": lambda t: t["BurstablePerformanceSupported"],
    "hibernation-supported": lambda t: t["HibernationSupported"],
    "instance-storage-supported": lambda t: t["InstanceStorageSupported"],
    "memory-info.size-in-mib": lambda t: t["MemoryInfo"]["SizeInMiB"],
    "vcpu-info.default-vcpus": lambda t: t["VCpuInfo"]["DefaultVCpus"],
    "vcpu-info.default-cores": lambda t: t["VCpuInfo"]["DefaultCores"],
    "vcpu-info.default-threads-per-core": lambda t: t["VCpuInfo"]["DefaultThreadsPerCore"],
    "processor-info.supported-architecture": lambda t: t["ProcessorInfo"]["SupportedArchitectures"],
    "network-info.maximum-network-interfaces": lambda t: t["NetworkInfo"]["MaximumNetworkInterfaces"],
    "network-info.ipv4-addresses-per-interface": lambda t: t["NetworkInfo"]["Ipv4AddressesPerInterface"],
    "network-info.network-performance": lambda t: t["NetworkInfo"]["NetworkPerformance"],
    "supported-root-device-type": lambda t: t["SupportedRootDeviceTypes"],
    "supported-usage-class": lambda t: t["SupportedUsageClasses"],
    "supported-virtualization-type": lambda t: t["SupportedVirtualizationTypes"],
    "supported-boot-mode": lambda t: t["SupportedBootModes"],
}


@action("DescribeInstanceTypes")
def describe_instance_types(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    wanted = req.get("InstanceTypes") or []
    missing = [t for t in wanted if t not in CATALOGUE]
    if missing:
        raise errors.ApiError(
            f"The following supplied instance types do not exist: [{', '.join(missing)}]",
            code="InvalidInstanceType",
        )
    infos = [t.to_api() for name, t in CATALOGUE.items() if not wanted or name in wanted]
    infos = apply_filters(infos, req.get("Filters"), _FILTERS)
    page, token = paginate(infos, req.get("MaxResults"), req.get("NextToken"), low=5, high=100)
    return {"InstanceTypes": page, "NextToken": token}
