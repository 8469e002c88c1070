"""Security-group rules by their ``sgr-`` ids: DescribeSecurityGroupRules (with the rules' tags),
UpdateSecurityGroupRuleDescriptionsIngress/Egress and ModifySecurityGroupRules.

A rule lives inside its group's record (``security_groups``); its tags are ordinary tags on its id
(resource type ``security-group-rule``), removed with the rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import errors, ids
from orchestrator.runtime.vpc_state import ensure_rules_field
from orchestrator.services import security_groups as sgs
from orchestrator.services import vpcs
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

_NOT_FOUND = "The specified rule does not exist in this security group."


def describe_rules(backend: Backend, region: str, rule_ids: Sequence[str] | None) -> list[dict[str, Any]]:
    """DescribeSecurityGroupRules' items: every rule of the region's groups (or the named ones), with tags."""
    tags = backend.store.tags_by_resource(sgs.RULE_TYPE, region)
    rules = [sgs.describe_rule(r, g.data["OwnerId"], tags.get(r["SecurityGroupRuleId"]))
             for g in backend.store.list(sgs.SG, region) for r in ensure_rules_field(g)]
    if not rule_ids:
        return rules
    for rid in rule_ids:
        ids.check(rid, "sgr")
    known = {r["SecurityGroupRuleId"] for r in rules}
    for rid in rule_ids:
        if rid not in known:
            raise ids.KINDS["sgr"].not_found_error(rid)
    return [r for r in rules if r["SecurityGroupRuleId"] in rule_ids]


def _described(rule: Mapping[str, Any], description: str | None) -> dict[str, Any]:
    return {**rule, "Description": description}


def update_descriptions(backend: Backend, region: str, req: Mapping[str, Any], egress: bool) -> Record:
    """UpdateSecurityGroupRuleDescriptionsIngress/Egress: new descriptions for existing rules, named
    by ``IpPermissions`` (the rule with that protocol, ports and peer; a peer without a description
    loses its description) or by ``SecurityGroupRuleDescriptions`` (rule ids). All or nothing."""
    group = sgs.resolve(backend, region, req.get("GroupId"), req.get("GroupName"))
    by_id = req.get("SecurityGroupRuleDescriptions") or []
    permissions = req.get("IpPermissions") or []
    if not by_id and not permissions:
        raise errors.MissingParameter("IpPermissions")
    wanted = sgs.permission_rules(backend, region, group, egress, permissions) if permissions else []
    with backend.store.transaction():
        group = backend.store.get(group.id)  # type: ignore[assignment]
        assert group is not None
        rules = ensure_rules_field(group)
        index = {sgs.rule_key(r): i for i, r in enumerate(rules)}
        for rule in wanted:
            at = index.get(sgs.rule_key(rule))
            if at is None:
                raise errors.NotFound("InvalidPermission.NotFound", _NOT_FOUND)
            rules[at] = _described(rules[at], rule["Description"])
        for item in by_id:
            rid = item.get("SecurityGroupRuleId")
            if not rid:
                raise errors.MissingParameter("SecurityGroupRuleDescription.SecurityGroupRuleId")
            at = _rule_index(rules, rid, egress)
            rules[at] = _described(rules[at], sgs.rule_description(item.get("Description")))
        backend.store.update(group)
    return group


def _rule_index(rules: Sequence[Mapping[str, Any]], rule_id: str, egress: bool | None) -> int:
    ids.check(rule_id, "sgr")
    for i, r in enumerate(rules):
        if r["SecurityGroupRuleId"] == rule_id and (egress is None or r["IsEgress"] == egress):
            return i
    raise ids.KINDS["sgr"].not_found_error(rule_id)


def _permission_of(request: Mapping[str, Any]) -> dict[str, Any]:
    """A ``SecurityGroupRuleRequest`` as the one-peer IpPermission it describes."""
    peers = [k for k in ("CidrIpv4", "CidrIpv6", "PrefixListId", "ReferencedGroupId") if request.get(k)]
    if len(peers) != 1:
        raise errors.InvalidParameterValue(
            "Invalid value for SecurityGroupRule: specify exactly one of CidrIpv4, CidrIpv6, PrefixListId "
            "and ReferencedGroupId.")
    desc = {"Description": request["Description"]} if request.get("Description") is not None else {}
    perm: dict[str, Any] = {"IpProtocol": request.get("IpProtocol"), "FromPort": request.get("FromPort"),
                            "ToPort": request.get("ToPort")}
    peer = peers[0]
    if peer == "CidrIpv4":
        perm["IpRanges"] = [{"CidrIp": request[peer], **desc}]
    elif peer == "CidrIpv6":
        perm["Ipv6Ranges"] = [{"CidrIpv6": request[peer], **desc}]
    elif peer == "PrefixListId":
        perm["PrefixListIds"] = [{"PrefixListId": request[peer], **desc}]
    else:
        perm["UserIdGroupPairs"] = [{"GroupId": request[peer], **desc}]
    return perm


def modify_rules(backend: Backend, region: str, group_id: str, updates: Sequence[Mapping[str, Any]]) -> Record:
    """ModifySecurityGroupRules: each named rule (of ``group_id``) replaced by its new definition,
    keeping its id, direction and tags; validated as AuthorizeSecurityGroup* validates. All or nothing."""
    group = sgs.get(backend, region, group_id)
    rules = ensure_rules_field(group)
    replacements: dict[str, dict[str, Any]] = {}
    for update in updates:
        rid = update.get("SecurityGroupRuleId") or ""
        old = rules[_rule_index(rules, rid, None)]
        if not update.get("SecurityGroupRule"):
            raise errors.MissingParameter("SecurityGroupRule")
        perm = _permission_of(update["SecurityGroupRule"])
        [new] = sgs.permission_rules(backend, region, group, old["IsEgress"], [perm])
        replacements[rid] = {**new, "SecurityGroupRuleId": rid}
    with backend.store.transaction():
        group = backend.store.get(group.id)  # type: ignore[assignment]
        assert group is not None
        current = ensure_rules_field(group)
        for rid in replacements:  # a rule revoked since it was read above
            _rule_index(current, rid, None)
        updated = [replacements.get(r["SecurityGroupRuleId"], r) for r in current]
        seen: set[tuple[Any, ...]] = set()
        for rule in updated:
            if sgs.rule_key(rule) in seen:
                raise sgs.duplicate(rule)
            seen.add(sgs.rule_key(rule))
        for egress in (False, True):
            sgs.check_limit(backend, region, updated, egress)
        group.data["Rules"] = updated  # type: ignore[typeddict-item]
        backend.store.update(group)
    return group


async def modify_rules_live(backend: Backend, region: str, group_id: str,
                            updates: Sequence[Mapping[str, Any]]) -> Record:
    """ModifySecurityGroupRules; the firewall follows before the call answers."""
    group = modify_rules(backend, region, group_id, updates)
    await vpcs.sync_network(backend, region, group.data["VpcId"])
    return group
