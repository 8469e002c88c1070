"""Tags, generic over every resource type: validation, TagSpecifications, Describe/Create/DeleteTags."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from orchestrator.domain import errors, ids
from orchestrator.runtime.vpc_state import ensure_rules_field
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

MAX_TAGS = 50
FEW = 500  # up to this many records' tags are read by id (:func:`rendered`)


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def tags_member(tags: Mapping[str, str]) -> dict[str, list[dict[str, str]]]:
    """``{"Tags": [...]}``, or nothing for an untagged resource: EC2 omits the empty ``tagSet`` of
    VPCs, subnets, instances, volumes, snapshots and images."""
    return {"Tags": tag_list(tags)} if tags else {}


def validate(tags: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag in tags:
        key = tag.get("Key")
        if key is None:
            raise errors.MissingParameter("Tag.Key")
        value = tag.get("Value") or ""
        if not 1 <= len(key) <= 128:
            raise errors.InvalidParameterValue.for_param("tag:key", key, "Tag keys must be 1 to 128 characters.")
        if len(value) > 256:
            raise errors.InvalidParameterValue.for_param("tag:value", value[:32] + "...", "Tag values must be at most 256 characters.")
        if key.lower().startswith("aws:"):
            raise errors.InvalidParameterValue("Tag keys starting with 'aws:' are reserved for internal use")
        out[key] = value
    return out


def tags_from_specifications(specs: Sequence[Mapping[str, Any]] | None, resource_type: str) -> dict[str, str]:
    """The tags a ``TagSpecifications`` list gives a resource of ``resource_type``."""
    out: dict[str, str] = {}
    for spec in specs or []:
        rtype = spec.get("ResourceType")
        if rtype is None:
            raise errors.MissingParameter("TagSpecification.ResourceType")
        if rtype != resource_type:
            raise errors.InvalidParameterValue(
                f"'{rtype}' is not a valid taggable resource type for this operation."
            )
        out.update(validate(spec.get("Tags") or []))
    if len(out) > MAX_TAGS:
        raise errors.TagLimitExceeded(f"The maximum number of tags ({MAX_TAGS}) per resource has been exceeded.")
    return out


def _resolve(backend: Backend, region: str, resource_id: str) -> ids.Kind:
    kind = ids.kind_of(resource_id)
    if kind is None:
        raise errors.ApiError(f"The ID '{resource_id}' is not valid", code="InvalidID")
    if kind.prefix == "sgr":  # a rule lives inside its group's record
        if not any(r["SecurityGroupRuleId"] == resource_id for g in backend.store.list("security-group", region)
                   for r in ensure_rules_field(g)):
            raise kind.not_found_error(resource_id)
        return kind
    record = backend.store.get(resource_id)
    if record is None or record.region not in (region, "*"):
        raise kind.not_found_error(resource_id)
    return kind


def create_tags(backend: Backend, region: str, resource_ids: Sequence[str], tags: Sequence[Mapping[str, Any]]) -> None:
    wanted = validate(tags)
    kinds = {rid: _resolve(backend, region, rid) for rid in resource_ids}
    with backend.store.transaction():
        for rid, kind in kinds.items():
            current = backend.store.tags_of(rid)
            if len(set(current) | set(wanted)) > MAX_TAGS:
                raise errors.TagLimitExceeded(
                    f"The maximum number of tags ({MAX_TAGS}) per resource has been exceeded: {rid}"
                )
            backend.store.set_tags(rid, kind.resource_type, region, wanted)


def delete_tags(
    backend: Backend, region: str, resource_ids: Sequence[str], tags: Sequence[Mapping[str, Any]] | None
) -> None:
    for rid in resource_ids:
        _resolve(backend, region, rid)
    selector: dict[str, str | None] | None = None
    if tags:
        selector = {}
        for tag in tags:
            key = tag.get("Key")
            if key is None:
                raise errors.MissingParameter("Tag.Key")
            selector[key] = tag.get("Value")
    with backend.store.transaction():
        for rid in resource_ids:
            backend.store.delete_tags(rid, selector)


def describe_tags(backend: Backend, region: str, resource_ids: Sequence[str] | None = None,
                  keys: Sequence[str] | None = None) -> list[dict[str, str]]:
    """The region's tags (only those of ``resource_ids``, with one of ``keys``, when given)."""
    return [
        {"ResourceId": rid, "ResourceType": rtype, "Key": key, "Value": value}
        for rid, rtype, key, value in backend.store.all_tags(region, resource_ids, keys)
        if not rtype.startswith("elbv2-")  # ELBv2's tags are its own (its DescribeTags)
    ]


def of(backend: Backend, resource_id: str) -> dict[str, str]:
    """The tags of one resource (for an answer that shows them)."""
    return backend.store.tags_of(resource_id)


def rendered(backend: Backend, region: str, resource_type: str, records: Iterable[Record],
             render: Callable[[Record, dict[str, str]], dict[str, Any]]) -> list[dict[str, Any]]:
    """``render(record, its tags)`` for each record: the items a Describe answers with (the tags
    of a few records read by their ids, of many the type's whole table in one read)."""
    records = list(records)
    few = [r.id for r in records] if len(records) <= FEW else None
    tags = backend.store.tags_by_resource(resource_type, region, few)
    return [render(r, tags.get(r.id, {})) for r in records]
