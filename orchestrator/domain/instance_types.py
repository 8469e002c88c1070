"""The instance-type catalogue: real EC2 vCPU and memory figures, mapped to libvirt vcpus/memory.

Figures are those EC2 publishes for each type (vCPUs, MiB of memory, network performance, ENI
and per-ENI IPv4 limits). ``to_api`` renders the ``InstanceTypeInfo`` output shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_mib: int
    cores: int
    threads_per_core: int
    network: str
    max_enis: int
    ipv4_per_eni: int
    clock_ghz: float
    burstable: bool = False
    free_tier: bool = False

    @property
    def family(self) -> str:
        return self.name.split(".")[0]

    @property
    def nitro(self) -> bool:
        """Built on the Nitro System (EC2's t2 is Xen), e.g. what EBS Multi-Attach needs."""
        return self.family != "t2"

    def to_api(self) -> dict[str, Any]:
        return {
            "InstanceType": self.name,
            "CurrentGeneration": True,
            "FreeTierEligible": self.free_tier,
            "SupportedUsageClasses": ["on-demand"],
            "SupportedRootDeviceTypes": ["ebs"],
            "SupportedVirtualizationTypes": ["hvm"],
            "BareMetal": False,
            "Hypervisor": "nitro" if self.nitro else "xen",
            "ProcessorInfo": {
                "SupportedArchitectures": ["x86_64"],
                "SustainedClockSpeedInGhz": self.clock_ghz,
                "Manufacturer": "Intel",
            },
            "VCpuInfo": {
                "DefaultVCpus": self.vcpus,
                "DefaultCores": self.cores,
                "DefaultThreadsPerCore": self.threads_per_core,
                "ValidCores": list(range(1, self.cores + 1)),
                "ValidThreadsPerCore": sorted({1, self.threads_per_core}),
            },
            "MemoryInfo": {"SizeInMiB": self.memory_mib},
            "InstanceStorageSupported": False,
            "EbsInfo": {
                "EbsOptimizedSupport": "default" if self.family != "t2" else "unsupported",
                "EncryptionSupport": "supported",
                "NvmeSupport": "required" if self.family != "t2" else "unsupported",
            },
            "NetworkInfo": {
                "NetworkPerformance": self.network,
                "MaximumNetworkInterfaces": self.max_enis,
                "MaximumNetworkCards": 1,
                "DefaultNetworkCardIndex": 0,
                "NetworkCards": [
                    {
                        "NetworkCardIndex": 0,
                        "NetworkPerformance": self.network,
                        "MaximumNetworkInterfaces": self.max_enis,
                    }
                ],
                "Ipv4AddressesPerInterface": self.ipv4_per_eni,
                "Ipv6AddressesPerInterface": self.ipv4_per_eni,
                "Ipv6Supported": True,
                "EnaSupport": "required" if self.family != "t2" else "unsupported",
                "EfaSupported": False,
                "EncryptionInTransitSupported": False,
            },
            "PlacementGroupInfo": {"SupportedStrategies": ["partition", "spread"]},
            "HibernationSupported": True,
            "BurstablePerformanceSupported": self.burstable,
            "DedicatedHostsSupported": not self.burstable,
            "AutoRecoverySupported": True,
            "NitroEnclavesSupport": "unsupported",  # ec2d's guests have no enclaves, no vTPM,
            "NitroTpmSupport": "unsupported",  # and are not migrated on a reboot
            "RebootMigrationSupport": "unsupported",
            "SupportedBootModes": ["legacy-bios", "uefi"] if self.family != "t2" else ["legacy-bios"],
        }


def _t(name: str, vcpus: int, gib: float, cores: int, tpc: int, net: str, enis: int, ips: int, ghz: float,
       burst: bool = False, free: bool = False) -> InstanceType:
    return InstanceType(name, vcpus, int(gib * 1024), cores, tpc, net, enis, ips, ghz, burst, free)


_T3 = "Up to 5 Gigabit"
_UP10 = "Up to 10 Gigabit"
CATALOGUE: dict[str, InstanceType] = {
    t.name: t
    for t in [
        _t("t2.nano", 1, 0.5, 1, 1, "Low to Moderate", 2, 2, 2.4, True),
        _t("t2.micro", 1, 1, 1, 1, "Low to Moderate", 2, 2, 2.5, True, True),
        _t("t2.small", 1, 2, 1, 1, "Low to Moderate", 3, 4, 2.5, True),
        _t("t2.medium", 2, 4, 2, 1, "Low to Moderate", 3, 6, 2.3, True),
        _t("t2.large", 2, 8, 2, 1, "Low to Moderate", 3, 12, 2.3, True),
        _t("t3.nano", 2, 0.5, 1, 2, _T3, 2, 2, 2.5, True),
        _t("t3.micro", 2, 1, 1, 2, _T3, 2, 2, 2.5, True, True),
        _t("t3.small", 2, 2, 1, 2, _T3, 3, 4, 2.5, True),
        _t("t3.medium", 2, 4, 1, 2, _T3, 3, 6, 2.5, True),
        _t("t3.large", 2, 8, 1, 2, _T3, 3, 12, 2.5, True),
        _t("t3.xlarge", 4, 16, 2, 2, _T3, 4, 15, 2.5, True),
        _t("t3.2xlarge", 8, 32, 4, 2, _T3, 4, 15, 2.5, True),
        _t("t3a.nano", 2, 0.5, 1, 2, _T3, 2, 2, 2.2, True),
        _t("t3a.micro", 2, 1, 1, 2, _T3, 2, 2, 2.2, True),
        _t("t3a.small", 2, 2, 1, 2, _T3, 2, 4, 2.2, True),
        _t("t3a.medium", 2, 4, 1, 2, _T3, 3, 6, 2.2, True),
        _t("t3a.large", 2, 8, 1, 2, _T3, 3, 12, 2.2, True),
        _t("m5.large", 2, 8, 1, 2, _UP10, 3, 10, 3.1),
        _t("m5.xlarge", 4, 16, 2, 2, _UP10, 4, 15, 3.1),
        _t("m5.2xlarge", 8, 32, 4, 2, _UP10, 4, 15, 3.1),
        _t("m5.4xlarge", 16, 64, 8, 2, _UP10, 8, 30, 3.1),
        _t("c5.large", 2, 4, 1, 2, _UP10, 3, 10, 3.4),
        _t("c5.xlarge", 4, 8, 2, 2, _UP10, 4, 15, 3.4),
        _t("c5.2xlarge", 8, 16, 4, 2, _UP10, 4, 15, 3.4),
        _t("c5.4xlarge", 16, 32, 8, 2, _UP10, 8, 30, 3.4),
        _t("r5.large", 2, 16, 1, 2, _UP10, 3, 10, 3.1),
        _t("r5.xlarge", 4, 32, 2, 2, _UP10, 4, 15, 3.1),
        _t("r5.2xlarge", 8, 64, 4, 2, _UP10, 4, 15, 3.1),
    ]
}


def get(name: str) -> InstanceType | None:
    return CATALOGUE.get(name)
