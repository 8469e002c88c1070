"""What the ELBv2 services share: finding records by ARN (with ELB's NotFound codes), which load
balancers use a target group, pagination (``Marker``/``PageSize``), tags, and the runtime calls
that make the proxies follow the store."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from orchestrator.domain import errors
from orchestrator.domain.records import LISTENER, LISTENER_RULE, LOAD_BALANCER, TARGET_GROUP
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

T = TypeVar("T")
MAX_TAGS = 50
PAGE = (1, 400)  # PageSize bounds of the Describe* calls


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _get(backend: Backend, region: str, rtype: str, arn: str, missing: Callable[[str], errors.ApiError]) -> Record:
    record = backend.store.get(arn, rtype) if isinstance(arn, str) and arn.startswith("arn:") else None
    if record is None or record.region != region:
        raise missing(arn)
    return record


def load_balancer(backend: Backend, region: str, arn: str) -> Record:
    return _get(backend, region, LOAD_BALANCER, arn,
                lambda a: errors.LoadBalancerNotFound(f"Load balancer '{a}' not found"))


def target_group(backend: Backend, region: str, arn: str) -> Record:
    return _get(backend, region, TARGET_GROUP, arn,
                lambda a: errors.TargetGroupNotFound(f"Target groups '{a}' not found"))


def listener(backend: Backend, region: str, arn: str) -> Record:
    return _get(backend, region, LISTENER, arn, lambda a: errors.ListenerNotFound(f"Listener '{a}' not found"))


def rule(backend: Backend, region: str, arn: str) -> Record:
    return _get(backend, region, LISTENER_RULE, arn, lambda a: errors.RuleNotFound(f"Rule '{a}' not found"))


def listeners_of(backend: Backend, region: str, lb_arn: str) -> list[Record]:
    return backend.store.find_by_field(LISTENER, region, "LoadBalancerArn", lb_arn)


def rules_of(backend: Backend, region: str, listener_arn: str) -> list[Record]:
    return backend.store.find_by_field(LISTENER_RULE, region, "ListenerArn", listener_arn)


def forwarded(actions: Iterable[Mapping[str, Any]]) -> list[str]:
    """The target group ARNs ``actions`` forward to (``TargetGroupArn`` or ``ForwardConfig``)."""
    out: list[str] = []
    for action in actions:
        if action.get("Type") != "forward":
            continue
        if action.get("TargetGroupArn"):
            out.append(action["TargetGroupArn"])
        for tg in (action.get("ForwardConfig") or {}).get("TargetGroups") or []:
            out.append(tg["TargetGroupArn"])
    return list(dict.fromkeys(out))


def users_of(backend: Backend, region: str, tg_arn: str) -> tuple[list[str], bool]:
    """(the load balancers whose listeners or rules forward to ``tg_arn``, whether any rule does)."""
    lbs: list[str] = []
    by_rule = False
    for lst in backend.store.list(LISTENER, region):
        if tg_arn in forwarded(lst.data["DefaultActions"]):
            lbs.append(lst.data["LoadBalancerArn"])
    for r in backend.store.list(LISTENER_RULE, region):
        if tg_arn in forwarded(r.data["Actions"]):
            lbs.append(r.data["LoadBalancerArn"])
            by_rule = True
    return list(dict.fromkeys(lbs)), by_rule


def target_groups_of_lb(backend: Backend, region: str, lb_arn: str) -> list[str]:
    out: list[str] = []
    for lst in listeners_of(backend, region, lb_arn):
        out += forwarded(lst.data["DefaultActions"])
        for r in rules_of(backend, region, lst.id):
            out += forwarded(r.data["Actions"])
    return list(dict.fromkeys(out))


def chosen(records: Sequence[Record], arns: Sequence[str] | None, names: Sequence[str] | None, name_field: str,
           missing: Callable[[str], errors.ApiError]) -> list[Record]:
    """Describe*'s selection: the records of ``arns``, else of ``names`` (``name_field``), in the
    order asked (each once), else all; one not found raises ``missing("'[...]'")`` for them all."""
    if not arns and not names:
        return list(records)
    key, asked = (("id", arns) if arns else (name_field, names))
    by = {(r.id if key == "id" else r.data[name_field]): r for r in records}
    if absent := [a for a in asked or () if a not in by]:
        raise missing(f"'{absent}'")
    return [by[a] for a in dict.fromkeys(asked or ())]


def page(items: Sequence[T], marker: str | None, page_size: int | None) -> tuple[list[T], str | None]:
    """One page of ``items`` from ``marker`` (opaque to clients: the offset) and the next marker."""
    start = 0
    if marker:
        try:
            start = int(base64.urlsafe_b64decode(marker.encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise errors.ValidationError(f"Invalid marker '{marker}'") from None
    if page_size is not None and not PAGE[0] <= page_size <= PAGE[1]:
        raise errors.ValidationError(f"1 validation error detected: Value '{page_size}' at 'pageSize' failed to "
                                     f"satisfy constraint: Member must have value less than or equal to {PAGE[1]}")
    size = page_size or PAGE[1]
    chunk = list(items[start:start + size])
    nxt = start + size
    return chunk, (base64.urlsafe_b64encode(str(nxt).encode()).decode() if nxt < len(items) else None)


def tags_input(tags: Sequence[Mapping[str, Any]] | None) -> dict[str, str]:
    """ELB's tag checks: no key twice (``DuplicateTagKeys``), at most 50 (``TooManyTags``),
    no ``aws:`` prefix (``ValidationError``)."""
    out: dict[str, str] = {}
    for tag in tags or []:
        key = tag["Key"]
        if key in out:
            raise errors.DuplicateTagKeys(f"Tag key '{key}' specified more than once")
        if key.lower().startswith("aws:"):
            raise errors.ValidationError("Tag keys starting with 'aws:' are reserved for internal use")
        out[key] = tag.get("Value") or ""
    if len(out) > MAX_TAGS:
        raise errors.TooManyTags(f"Too many tags: the limit is {MAX_TAGS} per resource")
    return out


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


async def follow(backend: Backend, region: str, lb_arns: Iterable[str]) -> None:
    """Make the proxies of ``lb_arns`` match the store (each awaits its VPC's sync first)."""
    for arn in dict.fromkeys(lb_arns):
        record = backend.store.get(arn, LOAD_BALANCER)
        if record is not None:
            await backend.runtime.sync_load_balancer(region, arn, record.data["VpcId"])
