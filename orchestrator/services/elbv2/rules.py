"""ELBv2 listener rules: Create / Describe / Modify / Delete / SetRulePriorities, with
``path-pattern`` and ``host-header`` conditions (the ``Values`` form and the ``*Config`` form;
answered in both, as ELB does). Each listener's default rule is shown by DescribeRules with
``IsDefault`` and ``Priority`` ``"default"``: its actions are the listener's default actions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import elbv2, errors
from orchestrator.domain.elb_records import RuleData
from orchestrator.domain.lifecycle import AVAILABLE
from orchestrator.domain.records import LISTENER, LISTENER_RULE
from orchestrator.services.backend import Backend
from orchestrator.services.elbv2 import common, listeners
from orchestrator.store.sqlite import Record

CONFIGS = {"path-pattern": "PathPatternConfig", "host-header": "HostHeaderConfig"}
MAX_VALUES = 5  # condition values per rule
MAX_PATTERN = 128


def check_conditions(conditions: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    if not conditions:
        raise errors.ValidationError("A rule must have at least one condition")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    total = 0
    for cond in conditions:
        field = cond.get("Field")
        if field not in CONFIGS:
            raise errors.ValidationError(f"Condition field '{field}' is not supported by ec2d "
                                         "(path-pattern, host-header)")
        if field in seen:
            raise errors.ValidationError(f"A rule can only have one '{field}' condition")
        seen.add(field)
        config = cond.get(CONFIGS[field])
        if cond.get("Values") and config:
            raise errors.ValidationError(f"You cannot specify both 'Values' and '{CONFIGS[field]}' for a condition")
        values = list(cond.get("Values") or (config or {}).get("Values") or [])
        if not values:
            raise errors.ValidationError(f"A '{field}' condition must have at least one value")
        for v in values:
            if not 1 <= len(v) <= MAX_PATTERN:
                raise errors.ValidationError(f"Condition value '{v}' must be 1 to {MAX_PATTERN} characters")
        total += len(values)
        out.append({"Field": field, "Values": values, CONFIGS[field]: {"Values": values}})
    if total > MAX_VALUES:
        raise errors.ValidationError(f"A rule can have at most '{MAX_VALUES}' condition values")
    return out


def _priority(value: int) -> int:
    if not 1 <= value <= 50000:
        raise errors.ValidationError(f"Priority '{value}' must be between 1 and 50000")
    return value


def _listener_lb(backend: Backend, region: str, listener_arn: str) -> tuple[Record, Record]:
    lst = common.listener(backend, region, listener_arn)
    lb = common.load_balancer(backend, region, lst.data["LoadBalancerArn"])
    if lst.data["Protocol"] != "HTTP":
        raise errors.UnsupportedProtocol(f"Rules are not supported on listeners with protocol "
                                         f"'{lst.data['Protocol']}'")
    return lst, lb


def create(backend: Backend, region: str, req: Mapping[str, Any]) -> Record:
    with backend.store.transaction():
        lst, lb = _listener_lb(backend, region, req["ListenerArn"])
        priority = _priority(req["Priority"])
        conditions = check_conditions(req.get("Conditions"))
        actions = listeners.check_actions(backend, lb, req.get("Actions"), lst.data["Protocol"])
        tags = common.tags_input(req.get("Tags"))
        if any(r.data["Priority"] == priority for r in common.rules_of(backend, region, lst.id)):
            raise errors.PriorityInUse(f"Priority '{priority}' is currently in use")
        data: RuleData = {"ListenerArn": lst.id, "LoadBalancerArn": lb.id, "Priority": priority,
                          "Conditions": conditions, "Actions": actions}
        return backend.store.insert(Record[RuleData](id=elbv2.rule_arn(lst.id, elbv2.new_hex()), type=LISTENER_RULE,
                                                     region=region, state=AVAILABLE, data=data), tags)


async def create_live(backend: Backend, region: str, req: Mapping[str, Any]) -> Record:
    record = create(backend, region, req)
    await common.follow(backend, region, [record.data["LoadBalancerArn"]])
    return record


def describe(record: Record) -> dict[str, Any]:
    d = record.data
    return {"RuleArn": record.id, "Priority": str(d["Priority"]), "Conditions": d["Conditions"],
            "Actions": d["Actions"], "IsDefault": False}


def describe_default(listener: Record) -> dict[str, Any]:
    return {"RuleArn": listener.data["DefaultRuleArn"], "Priority": "default", "Conditions": [],
            "Actions": listener.data["DefaultActions"], "IsDefault": True}


def default_owner(backend: Backend, region: str, rule_arn: str) -> Record | None:
    """The listener whose default rule ``rule_arn`` is, if it is one."""
    found = backend.store.find_by_field(LISTENER, region, "DefaultRuleArn", rule_arn)
    return found[0] if found else None


def describe_all(backend: Backend, region: str, req: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    listener_arn, arns = req.get("ListenerArn"), req.get("RuleArns")
    if not listener_arn and not arns:
        raise errors.ValidationError("You must specify either listener rule ARNs or a listener ARN")
    if listener_arn and arns:
        raise errors.ValidationError("Listener rule ARNs and a listener ARN cannot be specified at the same time")
    if listener_arn:
        lst = common.listener(backend, region, listener_arn)
        rules = sorted(common.rules_of(backend, region, lst.id), key=lambda r: r.data["Priority"])
        shown = [describe(r) for r in rules] + [describe_default(lst)]
    else:
        shown = []
        for arn in dict.fromkeys(arns or []):
            owner = default_owner(backend, region, arn)
            shown.append(describe_default(owner) if owner is not None else describe(common.rule(backend, region, arn)))
    return common.page(shown, req.get("Marker"), req.get("PageSize"))


async def modify(backend: Backend, region: str, req: Mapping[str, Any]) -> dict[str, Any]:
    """ModifyRule: conditions and/or actions (a default rule: its actions only)."""
    arn = req["RuleArn"]
    with backend.store.transaction():
        owner = default_owner(backend, region, arn)
        if owner is not None:
            if req.get("Conditions"):
                raise errors.OperationNotPermitted(f"Conditions cannot be set on default rule '{arn}'")
            lb = common.load_balancer(backend, region, owner.data["LoadBalancerArn"])
            if req.get("Actions"):
                owner.data["DefaultActions"] = listeners.check_actions(backend, lb, req["Actions"],
                                                                       owner.data["Protocol"])
                owner = backend.store.update(owner)
            shown, lb_arn = describe_default(owner), lb.id
        else:
            record = common.rule(backend, region, arn)
            lst, lb = _listener_lb(backend, region, record.data["ListenerArn"])
            if req.get("Conditions"):
                record.data["Conditions"] = check_conditions(req["Conditions"])
            if req.get("Actions"):
                record.data["Actions"] = listeners.check_actions(backend, lb, req["Actions"], lst.data["Protocol"])
            record = backend.store.update(record)
            shown, lb_arn = describe(record), lb.id
    await common.follow(backend, region, [lb_arn])
    return shown


async def delete_live(backend: Backend, region: str, arn: str) -> None:
    if default_owner(backend, region, arn) is not None:
        raise errors.OperationNotPermitted(f"Default rule '{arn}' cannot be deleted")
    record = common.rule(backend, region, arn)
    backend.store.delete(arn)
    await common.follow(backend, region, [record.data["LoadBalancerArn"]])


async def set_priorities(backend: Backend, region: str, pairs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """SetRulePriorities: all the given rules moved at once; a clash with a rule left as it is (or
    between two given) is ``PriorityInUse``."""
    with backend.store.transaction():
        wanted: dict[str, int] = {}
        for pair in pairs:
            if default_owner(backend, region, pair["RuleArn"]) is not None:
                raise errors.OperationNotPermitted(f"Default rule '{pair['RuleArn']}' priority cannot be modified")
            common.rule(backend, region, pair["RuleArn"])
            wanted[pair["RuleArn"]] = _priority(pair["Priority"])
        touched = [common.rule(backend, region, a) for a in wanted]
        for lst_arn in {r.data["ListenerArn"] for r in touched}:
            final = {r.id: wanted.get(r.id, r.data["Priority"]) for r in common.rules_of(backend, region, lst_arn)}
            values = list(final.values())
            if clash := next((p for p in values if values.count(p) > 1), None):
                raise errors.PriorityInUse(f"Priority '{clash}' is currently in use")
        for record in touched:
            record.data["Priority"] = wanted[record.id]
            backend.store.update(record)
        touched = [common.rule(backend, region, a) for a in wanted]
    await common.follow(backend, region, [r.data["LoadBalancerArn"] for r in touched])
    return [describe(r) for r in touched]
