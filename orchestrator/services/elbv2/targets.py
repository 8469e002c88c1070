"""ELBv2 targets: Register / Deregister (with the deregistration delay: ``draining`` until it ends,
then gone) and DescribeTargetHealth (ELB's states and reasons from what the proxies observed,
``domain.target_health``).

A registration lives in its target group's record (``Targets``); a deregistered one keeps
``DrainingUntil`` and is dropped once that time has passed (reads skip it, writes prune it; the
runtime re-syncs the proxies then)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import errors, ids, target_health
from orchestrator.domain.elb_records import TargetRegistration
from orchestrator.domain.records import TARGET_GROUP
from orchestrator.services.backend import Backend
from orchestrator.services.elbv2 import common
from orchestrator.store.sqlite import Record

MAX_TARGETS = 1000
REGISTRABLE = frozenset({"running"})  # "it must be in the running state when you register it" (API reference)


def live(record: Record, now: float) -> list[TargetRegistration]:
    """The registrations still there at ``now`` (draining ones until their delay ends)."""
    return [t for t in record.data["Targets"] if t["DrainingUntil"] is None or t["DrainingUntil"] > now]


def _zone_of_ip(backend: Backend, region: str, vpc_id: str, ip: str) -> str | None:
    for subnet in backend.store.list("subnet", region):
        cidr = subnet.data.get("CidrBlock")  # none in an IPv6-only subnet
        if subnet.data["VpcId"] == vpc_id and cidr and ipaddress.ip_address(ip) in ipaddress.ip_network(cidr):
            return str(subnet.data["AvailabilityZone"])
    return None


def _check_target(backend: Backend, tg: Record, target: Mapping[str, Any]) -> str | None:
    """The target's zone, after ELB's checks (``InvalidTarget``)."""
    tid, vpc_id = target["Id"], tg.data["VpcId"]
    if tg.data["TargetType"] == "ip":
        try:
            address = ipaddress.ip_address(tid)
        except ValueError:
            raise errors.InvalidTarget(f"The IP address '{tid}' is not a valid IPv4 address") from None
        vpc = backend.store.get(vpc_id, "vpc")
        cidrs = [a["CidrBlock"] for a in vpc.data["CidrBlockAssociationSet"]] if vpc is not None else []
        if not any(address in ipaddress.ip_network(c) for c in cidrs):
            raise errors.InvalidTarget(f"The IP address '{tid}' is not within the VPC CIDR of the target group")
        return _zone_of_ip(backend, tg.region, vpc_id, tid)
    instance = backend.store.get(tid, "instance") if ids.is_valid(tid, "i") else None
    if instance is None or instance.region != tg.region or instance.state == "terminated":
        raise errors.InvalidTarget(f"The following targets are not valid instances: '{tid}'")
    if instance.data["VpcId"] != vpc_id:
        raise errors.InvalidTarget(f"The following targets are not in the target group VPC '{vpc_id}': '{tid}'")
    if instance.state not in REGISTRABLE:
        raise errors.InvalidTarget(f"The following targets are not in a running state and can't be registered: "
                                   f"'{tid}'")
    return str(instance.data["AvailabilityZone"])


def _port(tg: Record, target: Mapping[str, Any]) -> int:
    port = target.get("Port")
    if port is None:
        return int(tg.data["Port"])
    if not 1 <= port <= 65535:
        raise errors.ValidationError(f"Port '{port}' must be between 1 and 65535")
    return int(port)


def register(backend: Backend, region: str, tg_arn: str, targets: Sequence[Mapping[str, Any]]) -> Record:
    with backend.store.transaction():
        tg = common.target_group(backend, region, tg_arn)
        now = backend.store.now()
        current = live(tg, now)
        for target in targets:
            zone = _check_target(backend, tg, target)
            port = _port(tg, target)
            current = [t for t in current if (t["Id"], t["Port"]) != (target["Id"], port)]
            current.append({"Id": target["Id"], "Port": port, "AvailabilityZone": zone, "RegisteredAt": now,
                            "DrainingUntil": None})
        if len(current) > MAX_TARGETS:
            raise errors.TooManyTargets(f"You cannot register more than {MAX_TARGETS} targets with a target group")
        # one already registered (not draining) keeps its registration time: its checks go on
        before = {(t["Id"], t["Port"]): t for t in live(tg, now) if t["DrainingUntil"] is None}
        tg.data["Targets"] = [before.get((t["Id"], t["Port"]), t) for t in current]
        return backend.store.update(tg)


def deregister(backend: Backend, region: str, tg_arn: str, targets: Sequence[Mapping[str, Any]]) -> Record:
    """Each target ``draining`` for the group's ``deregistration_delay.timeout_seconds`` (gone at
    once with 0); a target that is not registered is ``InvalidTarget``."""
    with backend.store.transaction():
        tg = common.target_group(backend, region, tg_arn)
        now = backend.store.now()
        delay = int(tg.data["Attributes"].get("deregistration_delay.timeout_seconds", "300"))
        current = live(tg, now)
        for target in targets:
            port = target.get("Port")
            hits = [t for t in current if t["Id"] == target["Id"] and (port is None or t["Port"] == port)
                    and t["DrainingUntil"] is None]
            if not hits and not [t for t in current if t["Id"] == target["Id"]]:
                raise errors.InvalidTarget(
                    f"The following targets are not registered in target group '{tg_arn}': '{target['Id']}'")
            for t in hits:
                t["DrainingUntil"] = now + delay
        tg.data["Targets"] = [t for t in current if delay or t["DrainingUntil"] is None]
        return backend.store.update(tg)


def deregister_terminated(backend: Backend, region: str, instance_id: str) -> None:
    """A terminated instance leaves every target group it is registered with, as on ELB: draining
    for each group's deregistration delay, then gone; the proxies follow in the background."""
    now = backend.store.now()
    changed: list[str] = []
    for tg in backend.store.list(TARGET_GROUP, region):
        if tg.data["TargetType"] == "instance" and any(
                t["Id"] == instance_id and t["DrainingUntil"] is None for t in live(tg, now)):
            deregister(backend, region, tg.id, [{"Id": instance_id}])
            changed.append(tg.id)
    if changed:
        lbs = [arn for tg_arn in changed for arn in common.users_of(backend, region, tg_arn)[0]]
        backend.runtime.background(f"deregistering {instance_id}", lambda: common.follow(backend, region, lbs))


async def register_live(backend: Backend, region: str, tg_arn: str, targets: Sequence[Mapping[str, Any]]) -> None:
    """RegisterTargets: recorded, then the proxies of the load balancers using the group follow."""
    register(backend, region, tg_arn, targets)
    await common.follow(backend, region, common.users_of(backend, region, tg_arn)[0])


async def deregister_live(backend: Backend, region: str, tg_arn: str, targets: Sequence[Mapping[str, Any]]) -> None:
    """DeregisterTargets: recorded (draining), then the proxies stop sending new requests to them."""
    deregister(backend, region, tg_arn, targets)
    await common.follow(backend, region, common.users_of(backend, region, tg_arn)[0])


def _instance_state(backend: Backend, tg: Record, target_id: str) -> str | None:
    if tg.data["TargetType"] != "instance":
        return None
    instance = backend.store.get(target_id, "instance")
    return instance.state if instance is not None else "terminated"


def _description(tg: Record, target: Mapping[str, Any], health: target_health.Health) -> dict[str, Any]:
    hc_port = tg.data["HealthCheck"]["HealthCheckPort"]
    shown: dict[str, Any] = {"Id": target["Id"], "Port": target["Port"]}
    if target.get("AvailabilityZone"):
        shown["AvailabilityZone"] = target["AvailabilityZone"]
    return {"Target": shown, "HealthCheckPort": str(target["Port"]) if hc_port == "traffic-port" else hc_port,
            "TargetHealth": health.as_api()}


async def describe_health(backend: Backend, region: str, tg_arn: str,
                          asked: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """DescribeTargetHealth: every registered target, or the ones ``asked`` for (a target that is
    not registered: ``unused``/``Target.NotRegistered``; one that does not exist: ``InvalidTarget``)."""
    tg = common.target_group(backend, region, tg_arn)
    now = backend.store.now()
    registered = live(tg, now)
    in_use = bool(common.users_of(backend, region, tg_arn)[0])
    observed = await backend.runtime.target_health(region, tg_arn) if in_use else {}
    enabled = bool(tg.data["HealthCheck"]["HealthCheckEnabled"])
    out: list[dict[str, Any]] = []
    for target in registered if not asked else _asked(backend, tg, registered, asked):
        is_registered = "RegisteredAt" in target
        health = target_health.target_health(
            registered=is_registered, draining=is_registered and target["DrainingUntil"] is not None,
            instance_state=_instance_state(backend, tg, target["Id"]), in_use=in_use, checks_enabled=enabled,
            observed=observed.get((target["Id"], target["Port"])))
        out.append(_description(tg, target, health))
    return out


def _asked(backend: Backend, tg: Record, registered: list[TargetRegistration],
           asked: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    found: list[Mapping[str, Any]] = []
    for target in asked:
        port = target.get("Port")
        hits = [t for t in registered if t["Id"] == target["Id"] and (port is None or t["Port"] == port)]
        if hits:
            found += hits
            continue
        if tg.data["TargetType"] == "instance":
            instance = backend.store.get(target["Id"], "instance") if ids.is_valid(target["Id"], "i") else None
            if instance is None or instance.region != tg.region:
                raise errors.InvalidTarget(f"The following targets are not valid instances: '{target['Id']}'")
        found.append({"Id": target["Id"], "Port": port if port is not None else tg.data["Port"]})
    return found
