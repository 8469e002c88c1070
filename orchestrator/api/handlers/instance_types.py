"""DescribeInstanceTypes and DescribeInstanceTypeOfferings over the catalogue of real EC2 types."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import respond
from orchestrator.api.filter_paths import table
from orchestrator.api.filters import apply_filters, paginate
from orchestrator.api.registry import action
from orchestrator.domain import errors
from orchestrator.domain.instance_types import CATALOGUE
from orchestrator.services import zones

# filter name -> the member it reads (filter_paths.at: through lists; a member the catalogue does
# not show for a type, such as instance storage or EFA, matches nothing, as EC2's filters do)
_FILTERS = table({
    "instance-type": "InstanceType",
    "current-generation": "CurrentGeneration",
    "free-tier-eligible": "FreeTierEligible",
    "bare-metal": "BareMetal",
    "hypervisor": "Hypervisor",
    "burstable-performance-supported": "BurstablePerformanceSupported",
    "hibernation-supported": "HibernationSupported",
    "instance-storage-supported": "InstanceStorageSupported",
    "memory-info.size-in-mib": "MemoryInfo.SizeInMiB",
    "vcpu-info.default-vcpus": "VCpuInfo.DefaultVCpus",
    "vcpu-info.default-cores": "VCpuInfo.DefaultCores",
    "vcpu-info.default-threads-per-core": "VCpuInfo.DefaultThreadsPerCore",
    "vcpu-info.valid-cores": "VCpuInfo.ValidCores",
    "vcpu-info.valid-threads-per-core": "VCpuInfo.ValidThreadsPerCore",
    "processor-info.supported-architecture": "ProcessorInfo.SupportedArchitectures",
    "processor-info.manufacturer": "ProcessorInfo.Manufacturer",
    "processor-info.sustained-clock-speed-in-ghz": "ProcessorInfo.SustainedClockSpeedInGhz",
    "processor-info.supported-features": "ProcessorInfo.SupportedFeatures",
    "network-info.maximum-network-interfaces": "NetworkInfo.MaximumNetworkInterfaces",
    "network-info.ipv4-addresses-per-interface": "NetworkInfo.Ipv4AddressesPerInterface",
    "network-info.network-performance": "NetworkInfo.NetworkPerformance",
    "network-info.efa-supported": "NetworkInfo.EfaSupported",
    "network-info.ena-support": "NetworkInfo.EnaSupport",
    "network-info.encryption-in-transit-supported": "NetworkInfo.EncryptionInTransitSupported",
    "network-info.ipv6-addresses-per-interface": "NetworkInfo.Ipv6AddressesPerInterface",
    "network-info.ipv6-supported": "NetworkInfo.Ipv6Supported",
    "network-info.maximum-network-cards": "NetworkInfo.MaximumNetworkCards",
    "network-info.bandwidth-weightings": "NetworkInfo.BandwidthWeightings",
    "network-info.efa-info.maximum-efa-interfaces": "NetworkInfo.EfaInfo.MaximumEfaInterfaces",
    "network-info.flexible-ena-queues-support": "NetworkInfo.FlexibleEnaQueuesSupport",
    "supported-root-device-type": "SupportedRootDeviceTypes",
    "supported-usage-class": "SupportedUsageClasses",
    "supported-virtualization-type": "SupportedVirtualizationTypes",
    "supported-boot-mode": "SupportedBootModes",
    "auto-recovery-supported": "AutoRecoverySupported",
    "dedicated-hosts-supported": "DedicatedHostsSupported",
    "ebs-info.ebs-optimized-support": "EbsInfo.EbsOptimizedSupport",
    "ebs-info.encryption-support": "EbsInfo.EncryptionSupport",
    "ebs-info.nvme-support": "EbsInfo.NvmeSupport",
    "ebs-info.attachment-limit-type": "EbsInfo.AttachmentLimitType",
    "ebs-info.maximum-ebs-attachments": "EbsInfo.MaximumEbsAttachments",
    **{f"ebs-info.ebs-optimized-info.{name}": f"EbsInfo.EbsOptimizedInfo.{member}" for name, member in (
        ("baseline-bandwidth-in-mbps", "BaselineBandwidthInMbps"), ("baseline-iops", "BaselineIops"),
        ("baseline-throughput-in-mbps", "BaselineThroughputInMBps"),
        ("maximum-bandwidth-in-mbps", "MaximumBandwidthInMbps"), ("maximum-iops", "MaximumIops"),
        ("maximum-throughput-in-mbps", "MaximumThroughputInMBps"))},
    "instance-storage-info.disk.count": "InstanceStorageInfo.Disks.Count",
    "instance-storage-info.disk.size-in-gb": "InstanceStorageInfo.Disks.SizeInGB",
    "instance-storage-info.disk.type": "InstanceStorageInfo.Disks.Type",
    "instance-storage-info.encryption-support": "InstanceStorageInfo.EncryptionSupport",
    "instance-storage-info.nvme-support": "InstanceStorageInfo.NvmeSupport",
    "instance-storage-info.total-size-in-gb": "InstanceStorageInfo.TotalSizeInGB",
    "placement-group-info.supported-strategies": "PlacementGroupInfo.SupportedStrategies",
    "nitro-enclaves-support": "NitroEnclavesSupport",
    "nitro-tpm-support": "NitroTpmSupport",
    "nitro-tpm-info.supported-versions": "NitroTpmInfo.SupportedVersions",
    "reboot-migration-support": "RebootMigrationSupport",
})


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


_OFFERING_FILTERS = table({"instance-type": "InstanceType", "location": "Location"})


@action("DescribeInstanceTypeOfferings")
def describe_instance_type_offerings(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    offerings = zones.type_offerings(ctx.backend, ctx.region, req.get("LocationType"))
    return respond(req, offerings, _OFFERING_FILTERS, "InstanceTypeOfferings", tags_of=None, page=(5, 1000))
