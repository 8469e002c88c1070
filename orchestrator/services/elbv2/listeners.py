"""ELBv2 listeners: Create / Describe / Modify / Delete (HTTP on an Application Load Balancer, TCP
on a Network Load Balancer), and the actions listeners and rules share (``forward`` to target
groups, several weighted on an ALB; ``fixed-response``; ``redirect``), checked as ELB checks them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import elbv2, errors
from orchestrator.domain.elb_records import ElbAction, ListenerData
from orchestrator.domain.lifecycle import AVAILABLE
from orchestrator.domain.records import LISTENER
from orchestrator.services.backend import Backend
from orchestrator.services.elbv2 import common
from orchestrator.store.sqlite import Record

LISTENER_PROTOCOLS = {elbv2.APPLICATION: "HTTP", elbv2.NETWORK: "TCP"}
_STATUS = re.compile(r"^(2|4|5)\d\d$")
TERMINAL = ("forward", "fixed-response", "redirect")
MAX_WEIGHTED_GROUPS = 5
REDIRECT_DEFAULTS = {"Protocol": "#{protocol}", "Port": "#{port}", "Host": "#{host}", "Path": "/#{path}",
                     "Query": "#{query}"}


def _forward(backend: Backend, lb: Record, action: Mapping[str, Any], protocol: str) -> ElbAction:
    arns = common.forwarded([action])
    if not arns:
        raise errors.ValidationError("A target group ARN must be specified for a forward action")
    for arn in arns:
        tg = common.target_group(backend, lb.region, arn)
        if tg.data["Protocol"] != protocol:
            raise errors.IncompatibleProtocols(f"Listener protocol '{protocol}' is not supported with a target group "
                                               f"with the protocol '{tg.data['Protocol']}'")
        if tg.data["VpcId"] != lb.data["VpcId"]:
            raise errors.InvalidConfigurationRequest(
                f"The target group '{arn}' is not in the same VPC as the load balancer '{lb.id}'")
        others = [a for a in common.users_of(backend, lb.region, arn)[0] if a != lb.id]
        if others:
            raise errors.TargetGroupAssociationLimit(
                f"The following target groups cannot be associated with more than one load balancer: {arn}")
    out: ElbAction = {"Type": "forward"}
    if action.get("TargetGroupArn"):
        out["TargetGroupArn"] = action["TargetGroupArn"]
    config = dict(action.get("ForwardConfig") or {})
    groups = [{"TargetGroupArn": g["TargetGroupArn"], "Weight": g.get("Weight", 1)}
              for g in config.get("TargetGroups") or []] or [{"TargetGroupArn": arns[0], "Weight": 1}]
    if len(groups) > 1 and lb.data["Type"] != elbv2.APPLICATION:
        raise errors.InvalidLoadBalancerAction("Forwarding to several target groups is only supported by "
                                               "Application Load Balancers")
    if len(groups) > MAX_WEIGHTED_GROUPS:
        raise errors.ValidationError(f"A forward action can have at most {MAX_WEIGHTED_GROUPS} target groups")
    for g in groups:
        if not 0 <= int(g["Weight"]) <= 999:
            raise errors.ValidationError(f"Target group weight '{g['Weight']}' must be between 0 and 999")
    if len(groups) == 1 and "TargetGroupArn" not in out:
        out["TargetGroupArn"] = groups[0]["TargetGroupArn"]
    stickiness = config.get("TargetGroupStickinessConfig") or {"Enabled": False}
    out["ForwardConfig"] = {"TargetGroups": groups, "TargetGroupStickinessConfig": stickiness}
    return out


def _fixed(lb: Record, action: Mapping[str, Any]) -> ElbAction:
    if lb.data["Type"] != elbv2.APPLICATION:
        raise errors.InvalidLoadBalancerAction("Fixed-response actions are only supported by Application Load "
                                               "Balancers")
    config = action.get("FixedResponseConfig")
    if not config:
        raise errors.ValidationError("A fixed-response action requires a FixedResponseConfig")
    status = str(config.get("StatusCode") or "")
    if not _STATUS.match(status):
        raise errors.ValidationError(f"Status code '{status}' must be a 2XX, 4XX or 5XX code")
    body = config.get("MessageBody")
    if body is not None and len(body) > 1024:
        raise errors.ValidationError("The message body of a fixed-response action can be at most 1024 characters")
    out: dict[str, str] = {"StatusCode": status, "ContentType": config.get("ContentType") or "text/plain"}
    if body is not None:
        out["MessageBody"] = body
    return {"Type": "fixed-response", "FixedResponseConfig": out}


def _redirect(lb: Record, action: Mapping[str, Any]) -> ElbAction:
    """ELB's redirect: each component literal or a placeholder of the request's own; it must
    change the protocol, port, host or path (no redirect loop)."""
    if lb.data["Type"] != elbv2.APPLICATION:
        raise errors.InvalidLoadBalancerAction("Redirect actions are only supported by Application Load Balancers")
    config = action.get("RedirectConfig")
    if not config:
        raise errors.ValidationError("A redirect action requires a RedirectConfig")
    out = {k: str(config.get(k) if config.get(k) is not None else v) for k, v in REDIRECT_DEFAULTS.items()}
    status = config.get("StatusCode")
    if status not in ("HTTP_301", "HTTP_302"):
        raise errors.ValidationError(f"Status code '{status}' must be HTTP_301 or HTTP_302")
    if out["Protocol"] not in ("HTTP", "HTTPS", "#{protocol}"):
        raise errors.ValidationError(f"Protocol '{out['Protocol']}' must be HTTP, HTTPS or #{{protocol}}")
    if out["Port"] != "#{port}" and not (out["Port"].isdigit() and 1 <= int(out["Port"]) <= 65535):
        raise errors.ValidationError(f"Port '{out['Port']}' must be between 1 and 65535 or #{{port}}")
    if not 1 <= len(out["Host"]) <= 128 or not re.fullmatch(r"[A-Za-z0-9.\-#{}]+", out["Host"]):
        raise errors.ValidationError(f"Host '{out['Host']}' is not a valid redirect host")
    if not out["Path"].startswith("/") or len(out["Path"]) > 128:
        raise errors.ValidationError(f"Path '{out['Path']}' must be an absolute path of at most 128 characters")
    if out["Query"].startswith("?") or len(out["Query"]) > 128:
        raise errors.ValidationError(f"Query '{out['Query']}' must not start with '?' and be at most 128 characters")
    if all(out[k] == REDIRECT_DEFAULTS[k] for k in ("Protocol", "Port", "Host", "Path")) or (
            out["Protocol"] == "HTTP" and all(out[k] == REDIRECT_DEFAULTS[k] for k in ("Port", "Host", "Path"))):
        raise errors.InvalidLoadBalancerAction("The redirect must change the protocol, port, host or path, or it "
                                               "would redirect to itself")
    return {"Type": "redirect", "RedirectConfig": {**out, "StatusCode": str(status)}}


def check_actions(backend: Backend, lb: Record, actions: Sequence[Mapping[str, Any]] | None,
                  protocol: str) -> list[ElbAction]:
    """Actions as stored and shown (a forward with a ``TargetGroupArn`` also gets its
    ``ForwardConfig``, as ELB answers)."""
    if not actions:
        raise errors.ValidationError("At least one action must be specified")
    out: list[ElbAction] = []
    for n, action in enumerate(actions, 1):
        kind = action.get("Type")
        if kind == "forward":
            shaped = _forward(backend, lb, action, protocol)
        elif kind == "fixed-response":
            shaped = _fixed(lb, action)
        elif kind == "redirect":
            shaped = _redirect(lb, action)
        else:
            raise errors.InvalidLoadBalancerAction(f"Action type '{kind}' is not supported by ec2d")
        if action.get("Order") is not None or len(actions) > 1:
            shaped["Order"] = int(action.get("Order") or n)
        out.append(shaped)
    if sum(a["Type"] in TERMINAL for a in out) > 1:
        raise errors.InvalidLoadBalancerAction("A rule can have only one forward, fixed-response or redirect action")
    return out


def _protocol(lb: Record, protocol: str | None, port: int | None) -> tuple[str, int]:
    if protocol is None or port is None:
        raise errors.ValidationError("A listener must have a protocol and a port")
    wanted = LISTENER_PROTOCOLS[lb.data["Type"]]
    if protocol != wanted:
        raise errors.UnsupportedProtocol(f"Protocol '{protocol}' is not supported by ec2d for a load balancer of "
                                         f"type '{lb.data['Type']}' (use {wanted})")
    if not 1 <= port <= 65535:
        raise errors.ValidationError(f"Port '{port}' must be between 1 and 65535")
    return protocol, port


def create(backend: Backend, region: str, req: Mapping[str, Any]) -> Record:
    """CreateListener; idempotent as ELB (the same port and settings: the existing listener)."""
    with backend.store.transaction():
        lb = common.load_balancer(backend, region, req["LoadBalancerArn"])
        protocol, port = _protocol(lb, req.get("Protocol"), req.get("Port"))
        actions = check_actions(backend, lb, req.get("DefaultActions"), protocol)
        tags = common.tags_input(req.get("Tags"))
        for other in common.listeners_of(backend, region, lb.id):
            if other.data["Port"] == port:
                if other.data["Protocol"] == protocol and other.data["DefaultActions"] == actions:
                    return other
                raise errors.DuplicateListener(f"A listener already exists on this port for this load balancer "
                                               f"'{lb.id}'")
        arn = elbv2.listener_arn(lb.id, elbv2.new_hex())
        data: ListenerData = {"LoadBalancerArn": lb.id, "Port": port, "Protocol": protocol,
                              "DefaultActions": actions, "DefaultRuleArn": elbv2.rule_arn(arn, elbv2.new_hex())}
        return backend.store.insert(Record[ListenerData](id=arn, type=LISTENER, region=region, state=AVAILABLE,
                                                         data=data), tags)


async def create_live(backend: Backend, region: str, req: Mapping[str, Any]) -> Record:
    record = create(backend, region, req)
    await common.follow(backend, region, [record.data["LoadBalancerArn"]])
    return record


def describe(record: Record) -> dict[str, Any]:
    d = record.data
    return {"ListenerArn": record.id, "LoadBalancerArn": d["LoadBalancerArn"], "Port": d["Port"],
            "Protocol": d["Protocol"], "DefaultActions": d["DefaultActions"]}


def describe_all(backend: Backend, region: str, req: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    lb_arn, arns = req.get("LoadBalancerArn"), req.get("ListenerArns")
    if not lb_arn and not arns:
        raise errors.ValidationError("You must specify either listener ARNs or a load balancer ARN")
    if lb_arn and arns:
        raise errors.ValidationError("Listener ARNs and a load balancer ARN cannot be specified at the same time")
    if lb_arn:
        common.load_balancer(backend, region, lb_arn)
        records = sorted(common.listeners_of(backend, region, lb_arn), key=lambda r: r.data["Port"])
    else:
        records = [common.listener(backend, region, a) for a in dict.fromkeys(arns or [])]
    chunk, nxt = common.page(records, req.get("Marker"), req.get("PageSize"))
    return [describe(r) for r in chunk], nxt


async def modify(backend: Backend, region: str, req: Mapping[str, Any]) -> Record:
    """ModifyListener: port, protocol, default actions (what is not given stays)."""
    with backend.store.transaction():
        record = common.listener(backend, region, req["ListenerArn"])
        lb = common.load_balancer(backend, region, record.data["LoadBalancerArn"])
        protocol, port = _protocol(lb, req.get("Protocol") or record.data["Protocol"],
                                   req.get("Port") or record.data["Port"])
        if any(o.data["Port"] == port and o.id != record.id for o in common.listeners_of(backend, region, lb.id)):
            raise errors.DuplicateListener(f"A listener already exists on this port for this load balancer '{lb.id}'")
        if req.get("DefaultActions") is not None:
            record.data["DefaultActions"] = check_actions(backend, lb, req["DefaultActions"], protocol)
        record.data["Port"], record.data["Protocol"] = port, protocol
        record = backend.store.update(record)
    await common.follow(backend, region, [lb.id])
    return record


async def delete_live(backend: Backend, region: str, arn: str) -> None:
    """DeleteListener: the listener and its rules; the proxy stops listening."""
    with backend.store.transaction():
        record = common.listener(backend, region, arn)
        for r in common.rules_of(backend, region, arn):
            backend.store.delete(r.id)
        backend.store.delete(arn)
    await common.follow(backend, region, [record.data["LoadBalancerArn"]])
