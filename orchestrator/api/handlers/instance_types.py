"""DescribeInstanceTypes and DescribeInstanceTypeOfferings over the catalogue of real EC2 types."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import respond
from orchestrator.api.filters import apply_filters, paginate
from orchestrator.api.registry import action
from orchestrator.domain import errors
from orchestrator.domain.instance_types import CATALOGUE
from orchestrator.services import zones

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
    "auto-recovery-supported": lambda t: t["AutoRecoverySupported"],
    "dedicated-hosts-supported": lambda t: t["DedicatedHostsSupported"],
    "ebs-info.ebs-optimized-support": lambda t: t["EbsInfo"]["EbsOptimizedSupport"],
    "ebs-info.encryption-support": lambda t: t["EbsInfo"]["EncryptionSupport"],
    "ebs-info.nvme-support": lambda t: t["EbsInfo"]["NvmeSupport"],
    "network-info.efa-supported": lambda t: t["NetworkInfo"]["EfaSupported"],
    "network-info.ena-support": lambda t: t["NetworkInfo"]["EnaSupport"],
    "network-info.encryption-in-transit-supported": lambda t: t["NetworkInfo"]["EncryptionInTransitSupported"],
    "network-info.ipv6-addresses-per-interface": lambda t: t["NetworkInfo"]["Ipv6AddressesPerInterface"],
    "network-info.ipv6-supported": lambda t: t["NetworkInfo"]["Ipv6Supported"],
    "network-info.maximum-network-cards": lambda t: t["NetworkInfo"]["MaximumNetworkCards"],
    "placement-group-info.supported-strategies": lambda t: t["PlacementGroupInfo"]["SupportedStrategies"],
    "processor-info.manufacturer": lambda t: t["ProcessorInfo"]["Manufacturer"],
    "processor-info.sustained-clock-speed-in-ghz": lambda t: t["ProcessorInfo"]["SustainedClockSpeedInGhz"],
    "vcpu-info.valid-cores": lambda t: t["VCpuInfo"]["ValidCores"],
    "vcpu-info.valid-threads-per-core": lambda t: t["VCpuInfo"]["ValidThreadsPerCore"],
    "nitro-enclaves-support": lambda t: t["NitroEnclavesSupport"],
    "nitro-tpm-support": lambda t: t["NitroTpmSupport"],
    "reboot-migration-support": lambda t: t["RebootMigrationSupport"],
}


def _at(*path: str) -> Any:
    """A getter of a nested member the catalogue may not show (then the filter matches nothing, as
    EC2's does for a type without that member: instance storage, EFA, ...)."""
    def get(item: dict[str, Any]) -> Any:
        value: Any = item
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value
    return get


# the filters EC2 documents whose members ec2d's types do not show: accepted, matching nothing
for _name, _path in {
    "ebs-info.attachment-limit-type": ("EbsInfo", "AttachmentLimitType"),
    "ebs-info.maximum-ebs-attachments": ("EbsInfo", "MaximumEbsAttachments"),
    **{f"ebs-info.ebs-optimized-info.{k}": ("EbsInfo", "EbsOptimizedInfo", m) for k, m in (
        ("baseline-bandwidth-in-mbps", "BaselineBandwidthInMbps"), ("baseline-iops", "BaselineIops"),
        ("baseline-throughput-in-mbps", "BaselineThroughputInMBps"),
        ("maximum-bandwidth-in-mbps", "MaximumBandwidthInMbps"), ("maximum-iops", "MaximumIops"),
        ("maximum-throughput-in-mbps", "MaximumThroughputInMBps"))},
    "instance-storage-info.disk.count": ("InstanceStorageInfo", "Disks", "Count"),
    "instance-storage-info.disk.size-in-gb": ("InstanceStorageInfo", "Disks", "SizeInGB"),
    "instance-storage-info.disk.type": ("InstanceStorageInfo", "Disks", "Type"),
    "instance-storage-info.encryption-support": ("InstanceStorageInfo", "EncryptionSupport"),
    "instance-storage-info.nvme-support": ("InstanceStorageInfo", "NvmeSupport"),
    "instance-storage-info.total-size-in-gb": ("InstanceStorageInfo", "TotalSizeInGB"),
    "network-info.bandwidth-weightings": ("NetworkInfo", "BandwidthWeightings"),
    "network-info.efa-info.maximum-efa-interfaces": ("NetworkInfo", "EfaInfo", "MaximumEfaInterfaces"),
    "network-info.flexible-ena-queues-support": ("NetworkInfo", "FlexibleEnaQueuesSupport"),
    "nitro-tpm-info.supported-versions": ("NitroTpmInfo", "SupportedVersions"),
    "processor-info.supported-features": ("ProcessorInfo", "SupportedFeatures"),
}.items():
    _FILTERS[_name] = _at(*_path)


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


_OFFERING_FILTERS = {"instance-type": lambda o: o["InstanceType"], "location": lambda o: o["Location"]}


@action("DescribeInstanceTypeOfferings")
def describe_instance_type_offerings(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    offerings = zones.type_offerings(ctx.backend, ctx.region, req.get("LocationType"))
    return respond(req, offerings, _OFFERING_FILTERS, "InstanceTypeOfferings", tags_of=None, page=(5, 1000))
