"""What each stored resource is billed for, as AWS names it: the meters of a record.

A *meter* is one billable quantity a resource accrues per second while it holds it: an instance
in ``running`` (``BoxUsage:t3.micro``, 1 instance), a volume that exists (``EBS:VolumeUsage.gp3``,
its provisioned GiB), its provisioned IOPS and throughput beyond what the type includes
(``EBS:VolumeP-IOPS.gp3``, ``EBS:VolumeP-Throughput.gp3``, io1's and io2's IOPS), a completed
snapshot (``EBS:SnapshotUsage``, the GiB its layer really keeps on the host), a public IPv4 address (``USE1-PublicIPv4:InUseAddress`` / ``IdleAddress``, 1 address).
:func:`meters` computes them from a record's type, state and data alone (and, for an Elastic IP,
the state of the instance it is associated with), so the store can diff a record's meters before
and after every write and open or close ledger intervals in the same transaction
(``store/ledger.py``): there is no other place where billing starts or stops.

Usage-type names follow AWS's Cost and Usage data: EC2 and EBS usage types carry a region prefix
except in us-east-1 (``BoxUsage:t3.micro``, ``USW2-BoxUsage:t3.micro``, ``EBS:VolumeUsage.gp3``),
public IPv4 usage types carry it everywhere (``USE1-PublicIPv4:InUseAddress``). Cost Explorer's
SERVICE dimension shows instances as "Amazon Elastic Compute Cloud - Compute", EBS as
"EC2 - Other" and public IPv4 as "Amazon Virtual Private Cloud" (its Price List service code is
``AmazonVPC``). An Elastic IP associated with a stopped instance is billed as idle, as AWS does.

The 60-second minimum applies each time a meter starts afresh (an instance entering ``running``,
a volume being created, a volume's IOPS beyond the free ones); a change of a running meter (a
volume resized by ModifyVolume, a retag) closes one interval and opens the next, which carries what
is left of the minimum.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.domain.regions import region_short_code

GIB = 1024 ** 3
HOURS_PER_MONTH = 730  # GiB-month = 730 hours (AWS's convention)
MINIMUM_SECONDS = 60.0  # per-second billing's minimum, each time a meter starts

INSTANCE_KIND, VOLUME_KIND, SNAPSHOT_KIND, IPV4_KIND = "instance", "volume", "snapshot", "public-ipv4"
IOPS_KIND, THROUGHPUT_KIND = "volume-iops", "volume-throughput"  # io2's tiers: "volume-iops.tier2" ...

SERVICE_COMPUTE = "Amazon Elastic Compute Cloud - Compute"
SERVICE_EC2_OTHER = "EC2 - Other"
SERVICE_VPC = "Amazon Virtual Private Cloud"
CODE_EC2, CODE_VPC = "AmazonEC2", "AmazonVPC"
UNIT_HOURS, UNIT_GIB_MONTH = "Hrs", "GB-Mo"
# provisioned IOPS and throughput, per month as AWS's Price List states them (throughput in GiB/s:
# the price page's $ per MiB/s-month x 1024)
UNIT_IOPS_MONTH, UNIT_GIBPS_MONTH = "IOPS-Mo", "GiBps-mo"
MONTH_UNITS = frozenset({UNIT_GIB_MONTH, UNIT_IOPS_MONTH, UNIT_GIBPS_MONTH})

# AWS's usage-type region prefixes (not derivable: eu-west-1 is "EU"); others get the short code upper-cased
REGION_PREFIX: dict[str, str] = {
    "us-east-1": "USE1", "us-east-2": "USE2", "us-west-1": "USW1", "us-west-2": "USW2",
    "ca-central-1": "CAN1", "eu-west-1": "EU", "eu-west-2": "EUW2", "eu-west-3": "EUW3",
    "eu-central-1": "EUC1", "eu-north-1": "EUN1", "ap-northeast-1": "APN1", "ap-northeast-2": "APN2",
    "ap-northeast-3": "APN3", "ap-southeast-1": "APS1", "ap-southeast-2": "APS2", "ap-south-1": "APS3",
    "sa-east-1": "SAE1",
}

# the usage-type suffix of each EBS volume type (io1 is "piops", magnetic has none)
VOLUME_USAGE = {"gp2": "EBS:VolumeUsage.gp2", "gp3": "EBS:VolumeUsage.gp3", "io1": "EBS:VolumeUsage.piops",
                "io2": "EBS:VolumeUsage.io2", "st1": "EBS:VolumeUsage.st1", "sc1": "EBS:VolumeUsage.sc1",
                "standard": "EBS:VolumeUsage"}
SNAPSHOT_USAGE = "EBS:SnapshotUsage"
# provisioned performance (AWS's "Understand codes for Amazon EBS in billing and usage reports"):
# gp3 above its free 3,000 IOPS and 125 MiB/s; io1 every IOPS; io2 every IOPS in three tiers
GP3_FREE_IOPS, GP3_FREE_MIBPS = 3000, 125
GP3_IOPS_USAGE, GP3_THROUGHPUT_USAGE = "EBS:VolumeP-IOPS.gp3", "EBS:VolumeP-Throughput.gp3"
IO1_IOPS_USAGE = "EBS:VolumeP-IOPS.piops"
IO2_IOPS_TIERS = ((32000, "EBS:VolumeP-IOPS.io2"), (64000, "EBS:VolumeP-IOPS.io2.tier2"),
                  (None, "EBS:VolumeP-IOPS.io2.tier3"))  # (up to this many IOPS, usage type)
IN_USE_ADDRESS, IDLE_ADDRESS = "PublicIPv4:InUseAddress", "PublicIPv4:IdleAddress"

BILLED_VOLUME_STATES = frozenset({"creating", "available", "in-use", "deleting"})


def region_prefix(region: str) -> str:
    return REGION_PREFIX.get(region) or region_short_code(region).upper()


def usage_type(region: str, name: str, always_prefixed: bool = False) -> str:
    """``name`` with the region's prefix as AWS writes it (none for EC2/EBS in us-east-1)."""
    if region == "us-east-1" and not always_prefixed:
        return name
    return f"{region_prefix(region)}-{name}"


def usage_name(usage: str) -> str:
    """A usage type without its region prefix (``USW2-EBS:VolumeUsage.gp3`` -> ``EBS:VolumeUsage.gp3``)."""
    head, sep, tail = usage.partition("-")
    return tail if sep and ":" not in head and head.isupper() else usage


@dataclass(frozen=True)
class Meter:
    """One billable quantity a resource accrues while it holds it (see the module docstring)."""

    kind: str
    usage_type: str
    service: str
    service_code: str
    unit: str
    quantity: float  # GiB for storage, 1 for an instance or an address
    zone: str = ""  # "" for regional resources
    instance_type: str = ""

    def same_kind(self, other: Meter) -> bool:
        return self.kind == other.kind


def instance_meters(region: str, state: str, data: Mapping[str, Any]) -> list[Meter]:
    out = []
    if state == "running" and data.get("InstanceType"):
        itype = str(data["InstanceType"])
        out.append(Meter(INSTANCE_KIND, usage_type(region, f"BoxUsage:{itype}"), SERVICE_COMPUTE, CODE_EC2,
                         UNIT_HOURS, 1.0, str(data.get("AvailabilityZone") or ""), itype))
    if data.get("AutoPublicIp") and state != "terminated":
        out.append(Meter(IPV4_KIND, usage_type(region, IN_USE_ADDRESS, True), SERVICE_VPC, CODE_VPC,
                         UNIT_HOURS, 1.0))
    return out


def volume_meters(region: str, state: str, data: Mapping[str, Any]) -> list[Meter]:
    """A volume's provisioned GiB, and the IOPS and throughput it is billed for beyond them."""
    if state not in BILLED_VOLUME_STATES or not data.get("VolumeType") or not data.get("Size"):
        return []
    vtype, zone = str(data["VolumeType"]), str(data.get("AvailabilityZone") or "")
    name = VOLUME_USAGE.get(vtype, f"EBS:VolumeUsage.{vtype}")
    storage = Meter(VOLUME_KIND, usage_type(region, name), SERVICE_EC2_OTHER, CODE_EC2, UNIT_GIB_MONTH,
                    float(data["Size"]), zone)
    return [storage] + [Meter(kind, usage_type(region, usage), SERVICE_EC2_OTHER, CODE_EC2, unit, quantity, zone)
                        for kind, usage, unit, quantity in performance(vtype, int(data.get("Iops") or 0),
                                                                       int(data.get("Throughput") or 0))]


def performance(vtype: str, iops: int, mibps: int) -> list[tuple[str, str, str, float]]:
    """(kind, usage type, unit, quantity) of the provisioned performance a volume is billed for."""
    out: list[tuple[str, str, str, float]] = []
    if vtype == "gp3":
        if iops > GP3_FREE_IOPS:
            out.append((IOPS_KIND, GP3_IOPS_USAGE, UNIT_IOPS_MONTH, float(iops - GP3_FREE_IOPS)))
        if mibps > GP3_FREE_MIBPS:
            out.append((THROUGHPUT_KIND, GP3_THROUGHPUT_USAGE, UNIT_GIBPS_MONTH, (mibps - GP3_FREE_MIBPS) / 1024))
    elif vtype == "io1" and iops:
        out.append((IOPS_KIND, IO1_IOPS_USAGE, UNIT_IOPS_MONTH, float(iops)))
    elif vtype == "io2":
        below = 0
        for tier, (upto, usage) in enumerate(IO2_IOPS_TIERS, start=1):
            part = (min(iops, upto) if upto is not None else iops) - below
            if part > 0:
                out.append((IOPS_KIND if tier == 1 else f"{IOPS_KIND}.tier{tier}", usage, UNIT_IOPS_MONTH, float(part)))
            below = upto or below
    return out


def snapshot_meters(region: str, state: str, data: Mapping[str, Any]) -> list[Meter]:
    """A completed snapshot, by the bytes its layer occupies on the host; ec2d's own published
    image snapshots are ec2d's, not the account's, and cost nothing."""
    stored = data.get("FullSnapshotSizeInBytes")
    if state != "completed" or data.get("published") or not stored:
        return []
    return [Meter(SNAPSHOT_KIND, usage_type(region, SNAPSHOT_USAGE), SERVICE_EC2_OTHER, CODE_EC2,
                  UNIT_GIB_MONTH, float(stored) / GIB)]


def address_meters(region: str, data: Mapping[str, Any], instance_state: str | None) -> list[Meter]:
    """An Elastic IP: in use while associated with a pending or running instance or an ENI
    without an instance; idle while unassociated or on a stopped instance."""
    associated = bool(data.get("AssociationId"))
    if associated and data.get("InstanceId"):
        associated = instance_state in ("pending", "running")
    name = IN_USE_ADDRESS if associated else IDLE_ADDRESS
    return [Meter(IPV4_KIND, usage_type(region, name, True), SERVICE_VPC, CODE_VPC, UNIT_HOURS, 1.0)]


def meters(rtype: str, region: str, state: str, data: Mapping[str, Any],
           instance_state: str | None = None) -> list[Meter]:
    """The meters a record of ``rtype`` accrues in ``state`` with ``data`` (none for other types,
    nor for data without the keys a meter reads). ``instance_state``: for an Elastic IP, the state
    of the instance it is associated with."""
    if rtype == "instance":
        return instance_meters(region, state, data)
    if rtype == "volume":
        return volume_meters(region, state, data)
    if rtype == "snapshot":
        return snapshot_meters(region, state, data)
    if rtype == "elastic-ip":
        return address_meters(region, data, instance_state)
    return []


METERED_TYPES = frozenset({"instance", "volume", "snapshot", "elastic-ip"})


def starts_with_minimum(kind: str) -> bool:
    """Whether a meter of ``kind`` bills at least :data:`MINIMUM_SECONDS` each time it starts
    afresh: an instance's run and everything a volume is billed for."""
    return kind in (INSTANCE_KIND, VOLUME_KIND, THROUGHPUT_KIND) or kind.startswith(IOPS_KIND)


def billed_seconds(start: float, end: float, minimum: float) -> float:
    """Seconds billed for an interval: its length, at least its minimum."""
    return max(end - start, minimum)
