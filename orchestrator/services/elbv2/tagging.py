"""ELBv2 AddTags / RemoveTags / DescribeTags on load balancers, target groups, listeners and rules
(kept in the store's tags table under the resource's ARN)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import errors
from orchestrator.services.backend import Backend
from orchestrator.services.elbv2 import common
from orchestrator.store.sqlite import Record

MAX_RESOURCES = 20


def resource(backend: Backend, region: str, arn: str) -> Record:
    """The taggable record an ARN names, with the NotFound code of its kind."""
    if ":listener-rule/" in arn:
        return common.rule(backend, region, arn)
    if ":listener/" in arn:
        return common.listener(backend, region, arn)
    if ":targetgroup/" in arn:
        return common.target_group(backend, region, arn)
    return common.load_balancer(backend, region, arn)


def _resources(backend: Backend, region: str, arns: Sequence[str]) -> list[Record]:
    if len(arns) > MAX_RESOURCES:
        raise errors.ValidationError(f"You can specify at most {MAX_RESOURCES} resource ARNs")
    return [resource(backend, region, a) for a in arns]


def add(backend: Backend, region: str, arns: Sequence[str], tags: Sequence[Mapping[str, Any]]) -> None:
    wanted = common.tags_input(tags)
    with backend.store.transaction():
        for record in _resources(backend, region, arns):
            if len({**backend.store.tags_of(record.id), **wanted}) > common.MAX_TAGS:
                raise errors.TooManyTags(f"Too many tags on '{record.id}': the limit is {common.MAX_TAGS}")
            backend.store.set_tags(record.id, record.type, region, wanted)


def remove(backend: Backend, region: str, arns: Sequence[str], keys: Sequence[str]) -> None:
    with backend.store.transaction():
        for record in _resources(backend, region, arns):
            backend.store.delete_tags(record.id, dict.fromkeys(keys))


def describe(backend: Backend, region: str, arns: Sequence[str]) -> list[dict[str, Any]]:
    return [{"ResourceArn": r.id, "Tags": common.tag_list(backend.store.tags_of(r.id))}
            for r in _resources(backend, region, arns)]
