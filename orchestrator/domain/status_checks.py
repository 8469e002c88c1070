"""EC2's system status check as ec2d makes it, and simplified automatic recovery: pure rules.

On EC2 the system status check asks whether the host runs the instance (power, network,
hypervisor); when it fails, *simplified automatic recovery* (``MaintenanceOptions.AutoRecovery``
``default``) recovers the instance on the same or other hardware, keeping its IDs, addresses,
volumes and metadata. Here the host is QEMU, and two observations say it is not running the guest:

* a boot shows nothing on the serial console while QEMU has run for ``Policy.deadline`` seconds
  of CPU time: the vCPU never reached the kernel (under TCG an early-boot hang happens now and
  then, with an empty console). CPU time, not wall time: on a loaded host a healthy guest may get
  a small share of a core and stay silent for long in wall time; a reset would only start its
  boot over. A wall-clock backstop (``deadline x backstop``) still catches a guest that hangs
  without running at all. Where CPU time is unknown, the wall-clock deadline applies;
* the domain stays paused (QEMU stopped it on an I/O error, or someone suspended it) for as long.

Recovery is a hard reset of the domain (resumed if paused): the same domain, disks, NICs and
addresses, a new boot. The check then starts over (``initializing``); after ``max_recoveries``
resets in a row without a boot that got anywhere it gives up and the instance stays ``impaired``.

A check moves ``initializing`` -> ``ok`` (the boot printed, the domain runs) or ``impaired``;
``ok`` -> ``impaired`` (paused too long); ``impaired`` -> ``ok`` (the guest came back by itself) or
``initializing`` (recovered by a reset). :func:`assess` is the whole table.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NotRequired, TypedDict


class CheckStatus(enum.StrEnum):
    INITIALIZING = "initializing"
    OK = "ok"
    IMPAIRED = "impaired"


class Reason(enum.StrEnum):
    NO_BOOT = "no-boot-progress"  # the console stayed silent for the deadline after a (re)boot
    PAUSED = "paused"  # the hypervisor held the vCPUs for the deadline


class SystemCheck(TypedDict):
    """What an instance record keeps of its system status check (``InstanceData.SystemCheck``)."""

    Status: str  # CheckStatus
    BootAt: float  # epoch seconds: when the boot being checked began (a launch or a recovery reset)
    Mark: int  # console bytes written before that boot (or before the impairment)
    PausedSince: float | None  # first seen paused (None: running)
    ImpairedSince: float | None
    Reason: str | None  # Reason, while impaired
    Recoveries: int  # recovery resets since the last boot that got anywhere
    RecoveredAt: float | None  # the last recovery reset of this run of resets
    CpuMark: NotRequired[float | None]  # QEMU's CPU seconds when that boot began (None: unknown)


class Action(enum.StrEnum):
    RESET = "reset"  # reset the domain (and resume it if paused)


@dataclass(frozen=True)
class Policy:
    deadline: float  # CPU seconds a boot may run silent; wall seconds a domain may stay paused
    max_recoveries: int = 3
    backstop: float = 4.0  # a silent boot is impaired after deadline x backstop wall seconds anyway


@dataclass(frozen=True)
class Observation:
    paused: bool  # the hypervisor holds the domain's vCPUs
    console_bytes: int  # bytes the serial console has ever written (its log's size)
    cpu_seconds: float | None = None  # the domain's QEMU process's CPU time (None: unknown, paused)


def booting(now: float, console_bytes: int, recoveries: int = 0, cpu: float | None = None) -> SystemCheck:
    """The check of a boot that begins now, with the console at ``console_bytes`` and QEMU's
    CPU time at ``cpu`` (0 for a domain about to start; None: unknown)."""
    return {"Status": str(CheckStatus.INITIALIZING), "BootAt": now, "Mark": console_bytes,
            "PausedSince": None, "ImpairedSince": None, "Reason": None, "Recoveries": recoveries,
            "RecoveredAt": None, "CpuMark": cpu}


def _silent_too_long(check: SystemCheck, seen: Observation, now: float, policy: Policy) -> bool:
    """A boot that has printed nothing yet: has it had its chance?"""
    wall = now - check["BootAt"]
    mark = check.get("CpuMark")
    if seen.paused or seen.cpu_seconds is None or mark is None:
        return wall >= policy.deadline
    return seen.cpu_seconds - mark >= policy.deadline or wall >= policy.deadline * policy.backstop


def assess(check: SystemCheck, seen: Observation, now: float, policy: Policy,
           auto_recovery: bool) -> tuple[SystemCheck, Action | None]:
    """The check after looking at the domain now, and what recovery must do (if anything)."""
    status = CheckStatus(check["Status"])
    paused_since = (check["PausedSince"] or now) if seen.paused else None
    out: SystemCheck = {**check, "PausedSince": paused_since}
    if status == CheckStatus.INITIALIZING:
        if seen.console_bytes > check["Mark"] and not seen.paused:
            return _ok(out), None
        if _silent_too_long(check, seen, now, policy):
            reason = Reason.PAUSED if seen.paused else Reason.NO_BOOT
            return _impaired(out, seen, now, reason), None
        return out, None
    if status == CheckStatus.OK:
        if paused_since is not None and now - paused_since >= policy.deadline:
            return _impaired(out, seen, now, Reason.PAUSED), None
        return out, None
    # impaired: back by itself, recovered, or left so
    back = (not seen.paused) if check["Reason"] == Reason.PAUSED else (
        seen.console_bytes > check["Mark"] and not seen.paused)
    if back:
        return _ok(out), None
    if auto_recovery and check["Recoveries"] < policy.max_recoveries:
        recovered = booting(now, seen.console_bytes, check["Recoveries"] + 1, seen.cpu_seconds)
        recovered["RecoveredAt"] = now
        return recovered, Action.RESET
    return out, None


def _ok(check: SystemCheck) -> SystemCheck:
    return {**check, "Status": str(CheckStatus.OK), "ImpairedSince": None, "Reason": None, "Recoveries": 0}


def _impaired(check: SystemCheck, seen: Observation, now: float, reason: Reason) -> SystemCheck:
    return {**check, "Status": str(CheckStatus.IMPAIRED), "ImpairedSince": now, "Reason": str(reason),
            "Mark": seen.console_bytes}


def reachability(check: SystemCheck | None) -> tuple[str, str, float | None]:
    """DescribeInstanceStatus' view of a running instance's check: (summary status, the
    ``reachability`` detail's status, ImpairedSince). No check recorded (an instance from before
    checks, or the API-only mode's paper instances): reported as passed."""
    if check is None:
        return "ok", "passed", None
    status = CheckStatus(check["Status"])
    if status == CheckStatus.OK:
        return "ok", "passed", None
    if status == CheckStatus.IMPAIRED:
        return "impaired", "failed", check["ImpairedSince"]
    return "initializing", "initializing", None
