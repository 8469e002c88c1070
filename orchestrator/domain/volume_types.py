"""EBS volume types as EC2 documents them: size bounds, provisioned IOPS and throughput, and the
checks (with EC2's messages) CreateVolume, ModifyVolume and RunInstances' mappings share."""

from __future__ import annotations

from orchestrator.domain import errors

# (min GiB, max GiB) per volume type, as botocore's EC2 model documents them (CreateVolume Size,
# ModifyVolume Size, EbsBlockDevice VolumeSize; gp3 grew to 64 TiB in 2025)
SIZE_LIMITS: dict[str, tuple[int, int]] = {
    "gp2": (1, 16384), "gp3": (1, 65536), "io1": (4, 16384), "io2": (4, 65536),
    "st1": (125, 16384), "sc1": (125, 16384), "standard": (1, 1024),
}
# (min, max, max per GiB) provisioned IOPS for the types that take them (botocore CreateVolume Iops)
IOPS_LIMITS: dict[str, tuple[int, int, int]] = {
    "gp3": (3000, 80000, 500), "io1": (100, 64000, 50), "io2": (100, 256000, 1000),
}
GP3_THROUGHPUT = (125, 2000)  # MiB/s


def check_size(vtype: str, size: int) -> None:
    """EC2's bounds and messages for a volume size (CreateVolume, ModifyVolume, RunInstances)."""
    low, high = SIZE_LIMITS[vtype]
    if size > high:
        raise errors.InvalidParameterValue(
            f"Volume of {size}GiB is too large for volume type {vtype}; maximum is {high}GiB")
    if size < low:
        raise errors.InvalidParameterValue(
            f"The volume size is invalid for {vtype} volumes: {size} GiB. {vtype} volumes must be at least "
            f"{low} GiB in size. Please specify a volume size above the minimum limit.")


def performance(vtype: str, size: int, iops: int | None, throughput: int | None) -> tuple[int | None, int | None]:
    """(Iops, Throughput) the volume gets; raises EC2's errors for values the type does not take."""
    if vtype not in SIZE_LIMITS:
        raise errors.InvalidParameterValue(
            f"Value ({vtype}) for parameter volumeType is invalid. Valid values: "
            f"{', '.join(sorted(SIZE_LIMITS))}")
    if iops is not None and vtype not in IOPS_LIMITS:
        raise errors.InvalidParameterCombination(f"The parameter iops is not supported for {vtype} volumes.")
    if throughput is not None and vtype != "gp3":
        raise errors.InvalidParameterCombination(
            f"The parameter throughput is not supported for {vtype} volumes.")
    if vtype in ("io1", "io2") and iops is None:
        raise errors.MissingParameter("iops")
    if vtype in IOPS_LIMITS:
        low, high, per_gib = IOPS_LIMITS[vtype]
        value = 3000 if iops is None else int(iops)
        if not low <= value <= high:
            raise errors.InvalidParameterValue(
                f"Volume iops of {value} is out of range for volume type {vtype}: [{low}, {high}]")
        if vtype != "gp3" and value > per_gib * size:
            raise errors.InvalidParameterValue(
                f"Iops to volume size ratio of {value / size:.1f} is too high; maximum is {per_gib}")
        tp = None
        if vtype == "gp3":
            tp = GP3_THROUGHPUT[0] if throughput is None else int(throughput)
            if not GP3_THROUGHPUT[0] <= tp <= GP3_THROUGHPUT[1]:
                raise errors.InvalidParameterValue(
                    f"Throughput of {tp}MiB/s is out of range for volume type gp3: "
                    f"[{GP3_THROUGHPUT[0]}, {GP3_THROUGHPUT[1]}]")
        return value, tp
    if vtype == "gp2":
        return max(100, min(16000, 3 * size)), None
    return None, None


def check_type_and_size(vtype: str, size: int) -> None:
    """EC2's error for an unknown volume type, else for a size out of the type's bounds."""
    if vtype not in SIZE_LIMITS:
        performance(vtype, size, None, None)  # raises the type error
    check_size(vtype, size)
