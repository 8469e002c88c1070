"""The resources an EC2 request authorizes on, as IAM sees them: one ARN per resource, with the
condition keys that resource brings (its current tags, the tags a create call gives it).

Which resource types an action authorizes on comes from `domain/iam/ec2_actions` (AWS's Service
Authorization Reference); which ids the request names comes from its parameters (``InstanceIds``,
``VolumeId``, ``KeyName``, CreateTags' ``Resources`` ...). A required type the request names no id
of is the resource being created (CreateVolume's volume, RunInstances' instance and network
interface) or one EC2 picks itself (RunInstances' default subnet and security group): it is
authorized as ``TYPE/*``, as AWS shows such a resource in an authorization failure. RunInstances
also authorizes ``volume/*`` (its root volume), as AWS does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.domain.iam import ec2_actions
from orchestrator.domain.iam.ec2_actions import Ec2Action
from orchestrator.services.backend import Backend
from orchestrator.services.iam import read_cache
from orchestrator.store.sqlite import TAGS_GENERATION

# request parameter -> the resource type its ids (or names) are of
PARAM_TYPES: dict[str, str] = {
    "InstanceId": "instance", "InstanceIds": "instance",
    "VolumeId": "volume", "VolumeIds": "volume",
    "SnapshotId": "snapshot", "SourceSnapshotId": "snapshot",
    "ImageId": "image", "SourceImageId": "image",
    "SubnetId": "subnet", "VpcId": "vpc",
    "GroupId": "security-group", "SecurityGroupIds": "security-group", "Groups": "security-group",
    "NetworkInterfaceId": "network-interface",
    "KeyName": "key-pair", "KeyPairId": "key-pair",
    "AllocationId": "elastic-ip",
    "InternetGatewayId": "internet-gateway",
    "RouteTableId": "route-table",
    "DhcpOptionsId": "dhcp-options",
    "PrefixListId": "prefix-list",
}
# CreateTags' / DeleteTags' Resources: the type by the id's prefix
PREFIX_TYPES: dict[str, str] = {
    "i": "instance", "vol": "volume", "snap": "snapshot", "ami": "image", "subnet": "subnet", "vpc": "vpc",
    "sg": "security-group", "eni": "network-interface", "key": "key-pair", "eipalloc": "elastic-ip",
    "igw": "internet-gateway", "rtb": "route-table", "sgr": "security-group-rule", "lt": "launch-template",
    "dopt": "dhcp-options", "pl": "prefix-list",
}
ALSO_CREATED = {"RunInstances": ("volume",)}


@dataclass(frozen=True)
class Target:
    """One resource of a request: its ARN and the condition keys it brings."""

    type: str
    resource_id: str  # "*" for one being created
    arn: str
    context: Mapping[str, Any] = field(default_factory=dict)


def _add(out: dict[str, list[str]], type_: str, values: Any) -> None:
    for value in values if isinstance(values, list) else (values,):
        if isinstance(value, str) and value:
            have = out.get(type_)
            if have is None:
                out[type_] = [value]
            elif value not in have:
                have.append(value)


def _named(args: Mapping[str, Any]) -> dict[str, list[str]]:
    """Ids per resource type the request's parameters name (RunInstances' NetworkInterfaces too)."""
    out: dict[str, list[str]] = {}
    for name, value in args.items():
        type_ = PARAM_TYPES.get(name)
        if type_ is not None:
            _add(out, type_, value)
    for nic in args.get("NetworkInterfaces") or ():
        for name in ("SubnetId", "Groups", "NetworkInterfaceId"):
            if name in nic:
                _add(out, PARAM_TYPES[name], nic[name])
    template = args.get("LaunchTemplate")  # RunInstances' LaunchTemplate: {LaunchTemplateId | Name, Version}
    for spec in (args, template if isinstance(template, Mapping) else {}):  # a template by id or by name
        _add(out, "launch-template", spec.get("LaunchTemplateId") or spec.get("LaunchTemplateName"))
    for rid in args.get("Resources") or ():
        type_ = PREFIX_TYPES.get(str(rid).split("-", 1)[0])
        if type_ is not None:
            _add(out, type_, rid)
    return out


def tag_keys(tags: Mapping[str, str], prefix: str) -> dict[str, Any]:
    """``prefix/KEY`` per tag (``ec2:ResourceTag``, ``aws:RequestTag`` ...)."""
    return {f"{prefix}/{k}": v for k, v in tags.items()}


def request_tags(args: Mapping[str, Any], type_: str) -> dict[str, str] | None:
    """The tags a create call's TagSpecifications give a resource of ``type_`` (None: no spec for it)."""
    found: dict[str, str] | None = None
    for spec in args.get("TagSpecifications") or []:
        if spec.get("ResourceType") == type_:
            found = found or {}
            found.update({t.get("Key", ""): t.get("Value") or "" for t in spec.get("Tags") or []})
    return found


def _resource_tag_keys(tags: Mapping[str, str]) -> dict[str, Any]:
    """``ec2:ResourceTag/KEY`` per tag, then ``aws:ResourceTag/KEY`` per tag (in that order)."""
    out = {f"ec2:ResourceTag/{k}": v for k, v in tags.items()}
    for k, v in tags.items():
        out[f"aws:ResourceTag/{k}"] = v
    return out


# a resource's tags, kept until any resource's tags change (`read_cache`, the "tags" generation)
_TAGS: read_cache.StampCache[dict[str, str]] = read_cache.StampCache(family=TAGS_GENERATION)


def _existing(backend: Backend, type_: str, rid: str, region: str, tags: bool = True,
              instance_type: bool = True, tags_stamp: int | None = None) -> tuple[str, dict[str, Any]]:
    """(the id the ARN names, condition keys) of a resource the request names; ``tags`` and
    ``instance_type``: whether to read them (the caller's policies look at them); ``tags_stamp``:
    the tags generation read earlier in this request (`read_cache`)."""
    store = backend.store
    if type_ == "key-pair":  # key pair ARNs name the key; KeyPairId and CreateTags name its id
        if rid.startswith("key-"):
            record = store.get(rid, "key-pair")
            name = record.data["KeyName"] if record is not None else rid
        elif tags:
            found = store.find_by_field("key-pair", region, "KeyName", rid)
            record, name = (found[0] if found else None), rid
        else:
            record, name = None, rid
        found_tags = store.tags_of(record.id) if record is not None and tags else {}
        return name, _resource_tag_keys(found_tags)
    if type_ == "launch-template" and not rid.startswith("lt-"):  # named: its ARN names its id
        found = store.find_by_field("launch-template", region, "LaunchTemplateName", rid)
        rid = found[0].id if found else rid
    found_tags = _TAGS.get(store, rid, lambda: store.tags_of(rid), stamp=tags_stamp) if tags else None
    ctx: dict[str, Any] = _resource_tag_keys(found_tags) if found_tags else {}
    if type_ == "instance" and instance_type:
        record = store.get(rid, "instance")
        if record is not None:
            ctx["ec2:InstanceType"] = record.data["InstanceType"]
    return rid, ctx


def _created(args: Mapping[str, Any], action: str, type_: str) -> dict[str, Any]:
    tags = request_tags(args, type_)
    ctx: dict[str, Any] = {}
    if tags is not None:
        ctx.update(tag_keys(tags, "aws:RequestTag"))
        ctx["aws:TagKeys"] = list(tags)
    if action == "RunInstances" and type_ == "instance":
        ctx["ec2:InstanceType"] = args.get("InstanceType") or "m1.small"
    return ctx


def _tagging(args: Mapping[str, Any]) -> dict[str, Any]:
    """CreateTags' / DeleteTags' own keys: the tags asked for."""
    tags = {t.get("Key", ""): t.get("Value") or "" for t in args.get("Tags") or []}
    return {**tag_keys(tags, "aws:RequestTag"), "aws:TagKeys": list(tags)} if tags else {}


def targets(backend: Backend, entry: Ec2Action, args: Mapping[str, Any], region: str, *, tags: bool = True,
            instance_type: bool = True, tags_stamp: int | None = None) -> list[Target]:
    """Every resource ``entry``'s request authorizes on; ``[]`` for an action on ``"*"``. ``tags``,
    ``instance_type``: read the named resources' tags / instance type (else left out); ``tags_stamp``:
    see `_existing`."""
    if entry.on_star:
        return []
    named = _named(args)
    if entry.name == "CreateLaunchTemplate":  # its name is the new template's: launch-template/*
        named.pop("launch-template", None)
    extra = _tagging(args) if entry.name in ("CreateTags", "DeleteTags") else {}
    account = backend.account_id
    out: list[Target] = []
    for use in entry.resources:
        rids = named.get(use.type)
        if rids:
            for rid in rids:
                shown, ctx = _existing(backend, use.type, rid, region, tags, instance_type, tags_stamp)
                arn = ec2_actions.arn(use.type, shown, region=region, account=account)
                out.append(Target(use.type, rid, arn, {**ctx, **extra} if extra else ctx))
        elif use.required or use.type in ALSO_CREATED.get(entry.name, ()):
            arn = ec2_actions.arn(use.type, "*", region=region, account=account)
            out.append(Target(use.type, "*", arn, _created(args, entry.name, use.type)))
    # instances first: a refusal names the instance as AWS's does (RunInstances: instance/*)
    if len(out) > 1:
        out.sort(key=lambda t: t.type != "instance")
    return out


def created_with_tags(targets_: Iterable[Target], args: Mapping[str, Any]) -> list[Target]:
    """The created resources a create call tags (its TagSpecifications): EC2 also authorizes
    ``ec2:CreateTags`` on each, with ``ec2:CreateAction`` naming the create call."""
    return [t for t in targets_ if t.resource_id == "*" and request_tags(args, t.type) is not None]
