"""ELBv2 target groups: Create (health-check settings with ELB's defaults and ranges), Describe,
Modify (health checks), Delete (refused while a listener or rule forwards to it), attributes."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import elbv2, errors
from orchestrator.domain.elb_records import HealthCheckSettings, TargetGroupData
from orchestrator.domain.lifecycle import AVAILABLE
from orchestrator.domain.records import TARGET_GROUP
from orchestrator.services.backend import Backend
from orchestrator.services.elbv2 import common
from orchestrator.store.sqlite import Record

PROTOCOLS = ("HTTP", "TCP")
HEALTH_KEYS = ("HealthCheckProtocol", "HealthCheckPort", "HealthCheckEnabled", "HealthCheckIntervalSeconds",
               "HealthCheckTimeoutSeconds", "HealthyThresholdCount", "UnhealthyThresholdCount", "HealthCheckPath")
_HTTP_CODE = re.compile(r"^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$")


def _range(name: str, value: int, bounds: elbv2.Range) -> None:
    if not bounds.low <= value <= bounds.high:
        raise errors.ValidationError(f"{name} must be between {bounds.low} and {bounds.high}; '{value}' is not")


def health_settings(protocol: str, req: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> HealthCheckSettings:
    """The target group's health check: ``base`` (or the protocol's defaults) with ``req``'s
    settings over it, checked against ELB's ranges. Instance and ip targets' checks cannot be
    disabled (botocore's documentation of ``HealthCheckEnabled``)."""
    if req.get("HealthCheckEnabled") is False:
        raise errors.InvalidConfigurationRequest("Health checks cannot be disabled for target groups with target "
                                                 "type 'instance' or 'ip'")
    out: dict[str, Any] = dict(base or elbv2.health_defaults(protocol))
    for key in HEALTH_KEYS:
        if req.get(key) is not None:
            out[key] = req[key]
    if req.get("Matcher"):
        out["Matcher"] = {"HttpCode": req["Matcher"].get("HttpCode") or "200"}
    hc_protocol = out["HealthCheckProtocol"]
    if hc_protocol not in ("HTTP", "TCP"):
        raise errors.InvalidConfigurationRequest(f"Health check protocol '{hc_protocol}' is not supported by ec2d")
    if protocol == "HTTP" and hc_protocol == "TCP":
        raise errors.InvalidConfigurationRequest("Health check protocol 'TCP' is not valid for a target group "
                                                 "with protocol 'HTTP'")
    _range("Health check interval", out["HealthCheckIntervalSeconds"], elbv2.INTERVAL)
    _range("Health check timeout", out["HealthCheckTimeoutSeconds"], elbv2.TIMEOUT)
    _range("Healthy threshold count", out["HealthyThresholdCount"], elbv2.THRESHOLD)
    _range("Unhealthy threshold count", out["UnhealthyThresholdCount"], elbv2.THRESHOLD)
    if out["HealthCheckTimeoutSeconds"] >= out["HealthCheckIntervalSeconds"]:
        raise errors.ValidationError(f"Health check timeout '{out['HealthCheckTimeoutSeconds']}' must be smaller "
                                     f"than the interval '{out['HealthCheckIntervalSeconds']}'")
    port = out["HealthCheckPort"]
    if port != "traffic-port" and (not str(port).isdigit() or not 1 <= int(port) <= 65535):
        raise errors.ValidationError(f"Health check port '{port}' must be 'traffic-port' or a number from 1 to 65535")
    if hc_protocol == "HTTP":
        out.setdefault("HealthCheckPath", "/")
        out.setdefault("Matcher", {"HttpCode": "200"})
        if not str(out["HealthCheckPath"]).startswith("/"):
            raise errors.ValidationError("Health check path must begin with '/'")
        code = out["Matcher"]["HttpCode"]
        high = 499 if protocol == "HTTP" else 599  # an HTTP check of a TCP group: 200-599
        if not _HTTP_CODE.match(code) or any(not 200 <= int(c) <= high for c in re.findall(r"\d{3}", code)):
            raise errors.InvalidConfigurationRequest(f"Health check matcher HTTP code '{code}' must be within "
                                                     f"'200-{high}' code range")
    else:
        out.pop("HealthCheckPath", None)
        out.pop("Matcher", None)
    return out  # type: ignore[return-value]


def by_name(backend: Backend, region: str, name: str) -> Record | None:
    found = backend.store.find_by_field(TARGET_GROUP, region, "TargetGroupName", name)
    return found[0] if found else None


def _check(req: Mapping[str, Any]) -> tuple[str, str, str]:
    name = req["Name"]
    if (problem := elbv2.name_problem(name, "Target group")) is not None:
        raise errors.ValidationError(problem)
    target_type = req.get("TargetType") or "instance"
    if target_type not in ("instance", "ip"):
        raise errors.InvalidConfigurationRequest(f"Target type '{target_type}' is not supported by ec2d")
    protocol = req.get("Protocol")
    if protocol is None or req.get("Port") is None or not req.get("VpcId"):
        raise errors.ValidationError("A protocol, a port and a VPC ID must be specified for a target group "
                                     f"with target type '{target_type}'")
    if protocol not in PROTOCOLS:
        raise errors.InvalidConfigurationRequest(f"Protocol '{protocol}' is not supported by ec2d target groups")
    if not 1 <= req["Port"] <= 65535:
        raise errors.ValidationError("Port must be between 1 and 65535")
    return name, target_type, protocol


def create(backend: Backend, region: str, req: Mapping[str, Any]) -> Record:
    """CreateTargetGroup; idempotent as ELB (same name and settings: the existing group)."""
    name, target_type, protocol = _check(req)
    tags = common.tags_input(req.get("Tags"))
    vpc = backend.store.get(req["VpcId"], "vpc")
    if vpc is None or vpc.region != region:
        raise errors.ValidationError(f"The VPC ID '{req['VpcId']}' is not found")
    health = health_settings(protocol, req)
    with backend.store.transaction():
        existing = by_name(backend, region, name)
        if existing is not None:
            d = existing.data
            if (d["Protocol"], d["Port"], d["VpcId"], d["TargetType"], d["HealthCheck"]) == (
                    protocol, req["Port"], vpc.id, target_type, health):
                return existing
            raise errors.DuplicateTargetGroupName(
                f"A target group with the same name '{name}' exists, but with different settings")
        arn = elbv2.target_group_arn(region, backend.account_id, name, elbv2.new_hex())
        data: TargetGroupData = {
            "TargetGroupName": name, "Protocol": protocol, "Port": req["Port"], "VpcId": vpc.id,
            "TargetType": target_type, "HealthCheck": health,
            "Attributes": dict(elbv2.NLB_TARGET_GROUP_ATTRIBUTES if protocol == "TCP"
                               else elbv2.TARGET_GROUP_ATTRIBUTES),
            "Targets": [], "CreatedTime": backend.store.now(),
        }
        if protocol == "HTTP":
            data["ProtocolVersion"] = req.get("ProtocolVersion") or "HTTP1"
        return backend.store.insert(Record[TargetGroupData](id=arn, type=TARGET_GROUP, region=region,
                                                            state=AVAILABLE, data=data), tags)


def describe(backend: Backend, record: Record) -> dict[str, Any]:
    d = record.data
    out: dict[str, Any] = {"TargetGroupArn": record.id, "TargetGroupName": d["TargetGroupName"],
                           "Protocol": d["Protocol"], "Port": d["Port"], "VpcId": d["VpcId"],
                           "TargetType": d["TargetType"], "IpAddressType": "ipv4", **d["HealthCheck"],
                           "LoadBalancerArns": common.users_of(backend, record.region, record.id)[0]}
    if d.get("ProtocolVersion"):
        out["ProtocolVersion"] = d["ProtocolVersion"]
    return out


def describe_all(backend: Backend, region: str, req: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    arns, names, lb_arn = req.get("TargetGroupArns"), req.get("Names"), req.get("LoadBalancerArn")
    if sum(bool(x) for x in (arns, names, lb_arn)) > 1:
        raise errors.ValidationError("Target group names, target group ARNs, and a load balancer ARN cannot be "
                                     "specified at the same time")
    records = common.chosen(backend.store.list(TARGET_GROUP, region), arns, names, "TargetGroupName",
                            lambda which: errors.TargetGroupNotFound(f"Target groups {which} not found"))
    if lb_arn:
        common.load_balancer(backend, region, lb_arn)
        used = common.target_groups_of_lb(backend, region, lb_arn)
        records = [r for r in records if r.id in used]
    chunk, nxt = common.page(records, req.get("Marker"), req.get("PageSize"))
    return [describe(backend, r) for r in chunk], nxt


async def modify(backend: Backend, region: str, req: Mapping[str, Any]) -> Record:
    """ModifyTargetGroup: its health check; the proxies using it follow."""
    record = common.target_group(backend, region, req["TargetGroupArn"])
    record.data["HealthCheck"] = health_settings(record.data["Protocol"], req, record.data["HealthCheck"])
    record = backend.store.update(record)
    await common.follow(backend, region, common.users_of(backend, region, record.id)[0])
    return record


def delete(backend: Backend, region: str, arn: str) -> None:
    """DeleteTargetGroup: refused while a listener or rule forwards to it; an unknown ARN is a
    success (as ELB answers)."""
    try:
        record = common.target_group(backend, region, arn)
    except errors.TargetGroupNotFound:
        if elbv2.is_arn(arn, "targetgroup"):
            return
        raise errors.ValidationError(f"'{arn}' is not a valid target group ARN") from None
    if common.users_of(backend, region, arn)[0]:
        raise errors.ResourceInUse(f"Target group '{arn}' is currently in use by a listener or a rule")
    backend.store.delete(record.id)


def attributes(backend: Backend, region: str, arn: str) -> list[dict[str, str]]:
    record = common.target_group(backend, region, arn)
    return [{"Key": k, "Value": v} for k, v in record.data["Attributes"].items()]


def modify_attributes(backend: Backend, region: str, arn: str,
                      attrs: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    record = common.target_group(backend, region, arn)
    current = record.data["Attributes"]
    for attr in attrs:
        key, value = attr.get("Key") or "", attr.get("Value") or ""
        if (problem := elbv2.attribute_problem(key, value, current)) is not None:
            raise errors.InvalidConfigurationRequest(problem)
        current[key] = value
    backend.store.update(record)
    return [{"Key": k, "Value": v} for k, v in current.items()]

