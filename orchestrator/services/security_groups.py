"""Security groups: VPC-scoped allow-lists of ingress/egress rules, kept as flat rules (one per
peer), as EC2's DescribeSecurityGroupRules shows them; IpPermissions are rendered from them.

Every change asks the runtime to re-render and atomically re-apply the VPC's firewall, so rules
take effect on running instances at once.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from orchestrator.domain import errors, prefix_lists, vpc_endpoints
from orchestrator.domain.records import SecurityGroupData
from orchestrator.domain.states import InstanceState
from orchestrator.drivers.network import firewall as fw
from orchestrator.runtime.vpc_state import ensure_rules_field, firewall_rule
from orchestrator.runtime.vpc_state import firewall_group as firewall_group  # re-exported (tests, sgfuzz)
from orchestrator.runtime.vpc_state import stored_rule as _rule
from orchestrator.services import lookup, vpc_peering, vpcs
from orchestrator.services import tags as tag_service
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

SG = vpcs.SECURITY_GROUP
RULE_TYPE = "security-group-rule"  # the ResourceType of a rule's tags
MAX_RULES_PER_DIRECTION = 60


def get(backend: Backend, region: str, group_id: str) -> Record[SecurityGroupData]:
    return lookup.security_group(backend, region, group_id)


def by_name(backend: Backend, region: str, name: str, vpc_id: str | None = None) -> Record:
    vpc_id = vpc_id or _default_vpc_id(backend, region)
    for g in backend.store.list(SG, region):
        if g.data["GroupName"] == name and g.data["VpcId"] == vpc_id:
            return g
    raise errors.NotFound("InvalidGroup.NotFound",
                          f"The security group '{name}' does not exist in default VPC '{vpc_id}'")


def _default_vpc_id(backend: Backend, region: str) -> str:
    vpc = vpcs.default_vpc(backend, region)
    if vpc is None:
        raise errors.ApiError("No default VPC for this user", code="VPCIdNotSpecified")
    return vpc.id


def resolve(backend: Backend, region: str, group_id: str | None, group_name: str | None) -> Record:
    if group_id:
        return get(backend, region, group_id)
    if group_name:
        return by_name(backend, region, group_name)
    raise errors.MissingParameter("GroupId")


def create(backend: Backend, region: str, name: str, description: str, vpc_id: str | None,
           tag_specs: Sequence[Mapping[str, Any]] | None) -> Record:
    return create_tagged(backend, region, name, description, vpc_id, tag_specs)[0]


def create_tagged(backend: Backend, region: str, name: str, description: str, vpc_id: str | None,
                  tag_specs: Sequence[Mapping[str, Any]] | None) -> tuple[Record, dict[str, str]]:
    """CreateSecurityGroup; returns the group and the tags it was created with (the answer shows them)."""
    if not name or len(name) > 255:
        raise errors.InvalidParameterValue.for_param("groupName", name, "Group names must be 1 to 255 characters.")
    if name.lower().startswith("sg-"):
        raise errors.InvalidParameterValue.for_param("groupName", name, "Group names may not start with 'sg-'.")
    if not description or len(description) > 255:
        raise errors.InvalidParameterValue.for_param("groupDescription", description,
                                                     "Descriptions must be 1 to 255 characters.")
    if vpc_id:
        lookup.vpc(backend, region, vpc_id)
    else:
        vpc_id = _default_vpc_id(backend, region)
    tags = tag_service.tags_from_specifications(tag_specs, "security-group")
    with backend.store.transaction():
        for g in backend.store.list(SG, region):
            if g.data["GroupName"] == name and g.data["VpcId"] == vpc_id:
                raise errors.Duplicate("InvalidGroup.Duplicate",
                                       f"The security group '{name}' already exists for VPC '{vpc_id}'")
        record = vpcs.new_security_group(backend, region, vpc_id, name, description)
        if tags:
            backend.store.set_tags(record.id, SG, region, tags)
    return record, tags


def rule_key(rule: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes two rules the same rule (their description and id aside)."""
    return (rule["IsEgress"], rule["IpProtocol"], rule["FromPort"], rule["ToPort"], rule["CidrIpv4"],
            rule["ReferencedGroupId"], rule.get("PrefixListId"), rule.get("CidrIpv6"))


_DESCRIPTION_RE = re.compile(r"[a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]{0,255}")
_NAMED = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "icmpv6": "icmpv6", "-1": "-1", "all": "-1"}
_BY_NUMBER = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}


def _protocol(value: Any) -> str:
    """EC2's protocol: a name (tcp, udp, icmp, icmpv6), -1 for all, or a number 0-255 (tcp, udp,
    icmp and icmpv6 by number are stored by name, as EC2 shows them)."""
    text = str(value if value is not None else "").strip().lower()
    if text in _NAMED:
        return _NAMED[text]
    if re.fullmatch(r"\d{1,3}", text) and int(text) <= 255:
        number = str(int(text))
        return _BY_NUMBER.get(number, number)
    raise errors.InvalidParameterValue(f"Invalid value '{value}' for IP protocol. Unknown protocol.")


def _ports(protocol: str, from_port: Any, to_port: Any) -> tuple[int | None, int | None]:
    """FromPort/ToPort as EC2 checks them: tcp/udp 0-65535 (from <= to), icmp type/code -1..255
    (type -1 needs code -1); every other protocol ignores them."""
    for port in (from_port, to_port):
        if port is not None and (isinstance(port, bool) or not isinstance(port, int)):
            raise errors.InvalidParameterValue(f"Invalid value '{port}' for portRange.")
    if protocol in ("tcp", "udp"):
        if from_port is None or to_port is None:
            raise errors.InvalidParameterValue(
                "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange.")
        for port in (from_port, to_port):
            if not 0 <= port <= 65535:
                raise errors.Malformed("InvalidPermission.Malformed", f"TCP/UDP port ({port}) out of range")
        if from_port > to_port:
            raise errors.InvalidParameterValue(
                f"Invalid value 'The from port ({from_port}) must not be greater than the to port "
                f"({to_port}).' for portRange.")
        return from_port, to_port
    if protocol == "icmpv6" and from_port is None and to_port is None:
        return None, None  # ICMPv6 without a range: every type and code
    if protocol in ("icmp", "icmpv6"):
        if from_port is None or to_port is None:
            raise errors.InvalidParameterValue(
                "Invalid value 'Must specify both from and to ports with ICMP.' for portRange.")
        if not -1 <= from_port <= 255:
            raise errors.InvalidParameterValue(f"ICMP type ({from_port}) out of range")
        if not -1 <= to_port <= 255:
            raise errors.InvalidParameterValue(f"ICMP code ({to_port}) out of range")
        if from_port == -1 and to_port != -1:
            raise errors.InvalidParameterValue(
                f"ICMP code ({to_port}) out of range: with ICMP type -1 (all types) the code must be -1")
        return from_port, to_port
    return None, None


def _cidr4(value: Any) -> str:
    """An IPv4 CIDR as EC2 stores it (canonical network address); IPv6 or junk is malformed."""
    text = value if isinstance(value, str) else ""
    try:
        if "/" not in text:
            raise ValueError(text)
        return str(ipaddress.IPv4Network(text.strip(), strict=False))
    except ValueError:
        raise errors.InvalidParameterValue(f"CIDR block {value} is malformed") from None


def _cidr6(value: Any) -> str:
    """An IPv6 CIDR as EC2 stores it (canonical, compressed network address); junk is malformed."""
    try:
        if not isinstance(value, str) or "/" not in value:
            raise ValueError(value)
        return str(ipaddress.IPv6Network(value.strip(), strict=False))
    except ValueError:
        raise errors.InvalidParameterValue(f"CIDR block {value} is malformed") from None


def rule_description(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _DESCRIPTION_RE.fullmatch(value):
        raise errors.InvalidParameterValue(
            "Invalid rule description. Valid descriptions are strings less than 256 characters from the "
            "following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*")
    return value


def check_compilable(rule: Mapping[str, Any], prefix_lists: Mapping[str, Sequence[str]] | None = None) -> None:
    """Run a rule about to be stored through the firewall compiler's own check (a prefix-list rule
    with the list's current CIDRs, as the runtime will compile it)."""
    try:
        fw.check_rule(firewall_rule(rule, prefix_lists))
    except fw.InvalidArgument as exc:
        raise errors.InvalidParameterValue(f"Invalid security group rule: {exc}") from None


def permission_rules(backend: Backend, region: str, group: Record[SecurityGroupData], egress: bool,
                      permissions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Flat rules from IpPermissions, validated as EC2 does, then by the firewall compiler."""
    out: list[dict[str, Any]] = []
    lists: dict[str, tuple[str, ...]] = {}  # the named prefix lists' CIDRs
    for perm in permissions:
        protocol = _protocol(perm.get("IpProtocol"))
        from_port, to_port = _ports(protocol, perm.get("FromPort"), perm.get("ToPort"))
        peers: list[tuple[str | None, str | None, str | None, str | None]] = []
        for rng in perm.get("IpRanges") or []:
            peers.append((_cidr4(rng.get("CidrIp")), None, rule_description(rng.get("Description")), None))
        for rng in perm.get("Ipv6Ranges") or []:
            peers.append((_cidr6(rng.get("CidrIpv6")), None, rule_description(rng.get("Description")), None))
        for pl in perm.get("PrefixListIds") or []:
            pl_id = pl.get("PrefixListId")
            if not isinstance(pl_id, str) or not re.fullmatch(r"pl-[0-9a-f]{8}(?:[0-9a-f]{9})?", pl_id):
                raise errors.Malformed("InvalidPrefixListId.Malformed", f"Invalid id: \"{pl_id}\"")
            managed = vpc_endpoints.aws_prefix_list(pl_id, [region])  # com.amazonaws.REGION.s3
            lists[pl_id] = (tuple(managed[1]["Cidrs"]) if managed
                            else prefix_lists.cidrs(lookup.prefix_list(backend, region, pl_id).data))
            peers.append((None, None, rule_description(pl.get("Description")), pl_id))
        for pair in perm.get("UserIdGroupPairs") or []:
            ref_id, ref_name = pair.get("GroupId"), pair.get("GroupName")
            if not ref_id and not ref_name:
                raise errors.MissingParameter("GroupId or GroupName of UserIdGroupPairs")
            ref = get(backend, region, ref_id) if ref_id else by_name(backend, region, ref_name,
                                                                         group.data["VpcId"])
            if ref.data["VpcId"] != group.data["VpcId"] and not vpc_peering.active_peer(
                    backend, group.data["VpcId"], ref.data["VpcId"]):  # a peered VPC's group may be named
                raise errors.InvalidParameter("You have specified two resources that belong to different networks.")
            peers.append((None, ref.id, rule_description(pair.get("Description")), None))
        if not peers:
            side = "destination" if egress else "source"
            raise errors.ApiError(f"Missing {side} specification: include {side} security group or CIDR "
                                  "information", code="MissingParameter")
        for cidr, ref, desc, pl_id in peers:
            v6 = cidr is not None and ":" in cidr
            rule = _rule(group.id, egress=egress, protocol=protocol, from_port=from_port, to_port=to_port,
                         cidr=None if v6 else cidr, group=ref, description=desc, prefix_list=pl_id,
                         cidr6=cidr if v6 else None)
            check_compilable(rule, lists)
            out.append(rule)
    return out


def _legacy_permissions(req: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The old flat form (IpProtocol/FromPort/ToPort/CidrIp/SourceSecurityGroupName)."""
    if not (req.get("IpProtocol") or req.get("CidrIp") or req.get("SourceSecurityGroupName")):
        return []
    perm: dict[str, Any] = {"IpProtocol": req.get("IpProtocol") or "-1", "FromPort": req.get("FromPort"),
                            "ToPort": req.get("ToPort")}
    if req.get("CidrIp"):
        perm["IpRanges"] = [{"CidrIp": req["CidrIp"]}]
    if req.get("SourceSecurityGroupName"):
        perm["UserIdGroupPairs"] = [{"GroupName": req["SourceSecurityGroupName"]}]
    return [perm]


def _describe_rule(rule: Mapping[str, Any]) -> str:
    peer = rule["CidrIpv4"] or rule.get("CidrIpv6") or rule["ReferencedGroupId"] or rule.get("PrefixListId")
    proto = {"-1": "ALL", "tcp": "TCP", "udp": "UDP", "icmp": "ICMP", "icmpv6": "ICMPV6"}.get(
        rule["IpProtocol"], str(rule["IpProtocol"]))
    return (f'peer: {peer}, {proto}, from port: {rule["FromPort"]}, to port: {rule["ToPort"]}, ALLOW')


def authorize(backend: Backend, region: str, req: Mapping[str, Any], egress: bool) -> tuple[Record, list[dict]]:
    group = resolve(backend, region, req.get("GroupId"), req.get("GroupName"))
    permissions = list(req.get("IpPermissions") or []) + _legacy_permissions(req)
    if not permissions:
        raise errors.MissingParameter("IpPermissions")
    new = permission_rules(backend, region, group, egress, permissions)
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), RULE_TYPE)
    with backend.store.transaction():
        group = backend.store.get(group.id)  # type: ignore[assignment]
        assert group is not None
        rules = ensure_rules_field(group)
        existing = {rule_key(r) for r in rules}
        asked: set[tuple[Any, ...]] = set()
        for rule in new:
            if rule_key(rule) in asked:
                raise errors.InvalidParameterValue("The same permission must not appear multiple times")
            asked.add(rule_key(rule))
            if rule_key(rule) in existing:
                raise duplicate(rule)
        check_limit(backend, region, rules + new, egress)
        rules.extend(new)
        backend.store.update(group)
        for rule in new if tags else []:
            backend.store.set_tags(rule["SecurityGroupRuleId"], RULE_TYPE, region, tags)
    return group, new


def duplicate(rule: Mapping[str, Any]) -> errors.ApiError:
    return errors.Duplicate("InvalidPermission.Duplicate", f'the specified rule "{_describe_rule(rule)}" already exists')


def rule_weight(backend: Backend, region: str, rule: Mapping[str, Any]) -> int:
    """How many rules of the quota a rule counts for: a rule naming a prefix list counts as the
    list's MaxEntries (as on EC2), any other one as one."""
    pl_id = rule.get("PrefixListId")
    if not pl_id:
        return 1
    found = backend.store.get(pl_id)
    return int(found.data["MaxEntries"]) if found is not None and found.region == region else 1


def check_limit(backend: Backend, region: str, rules: Sequence[Mapping[str, Any]], egress: bool,
                resized: Mapping[str, int] | None = None) -> None:
    """EC2's default quota: 60 inbound and 60 outbound rules per group (one per peer; a prefix
    list's MaxEntries for a rule naming one, ``resized`` overriding a list's size being changed)."""
    def weight(r: Mapping[str, Any]) -> int:
        pl_id = r.get("PrefixListId")
        return resized[pl_id] if resized and pl_id in resized else rule_weight(backend, region, r)
    if sum(weight(r) for r in rules if r["IsEgress"] == egress) > MAX_RULES_PER_DIRECTION:
        raise errors.ApiError("The maximum number of rules per security group has been reached.",
                              code="RulesPerSecurityGroupLimitExceeded")


def revoke(backend: Backend, region: str, req: Mapping[str, Any], egress: bool) -> tuple[Record, list[dict]]:
    group = resolve(backend, region, req.get("GroupId"), req.get("GroupName"))
    with backend.store.transaction():
        group = backend.store.get(group.id)  # type: ignore[assignment]
        assert group is not None
        rules = ensure_rules_field(group)
        removed: list[dict] = []
        if req.get("SecurityGroupRuleIds"):
            wanted = set(req["SecurityGroupRuleIds"])
            removed = [r for r in rules if r["SecurityGroupRuleId"] in wanted and r["IsEgress"] == egress]
            missing = wanted - {r["SecurityGroupRuleId"] for r in removed}
            if missing:
                raise errors.NotFound("InvalidSecurityGroupRuleId.NotFound",
                                      f"The security group rule ID '{sorted(missing)[0]}' does not exist")
        else:
            permissions = list(req.get("IpPermissions") or []) + _legacy_permissions(req)
            if not permissions:
                raise errors.MissingParameter("IpPermissions")
            by_key = {rule_key(r): r for r in rules}
            for rule in permission_rules(backend, region, group, egress, permissions):
                match = by_key.get(rule_key(rule))
                if match is None:
                    raise errors.NotFound(
                        "InvalidPermission.NotFound",
                        "The specified rule does not exist in this security group.")
                removed.append(match)
        gone = {r["SecurityGroupRuleId"] for r in removed}
        group.data["Rules"] = [r for r in rules if r["SecurityGroupRuleId"] not in gone]
        backend.store.update(group)
        for rule_id in sorted(gone):
            backend.store.delete_tags(rule_id)
    return group, removed


def users(backend: Backend, region: str, group_id: str) -> list[str]:
    """Instances (not terminated) and ENIs using the group."""
    found = [r.id for r in backend.store.list("instance", region)
             if r.state != InstanceState.TERMINATED and any(g["GroupId"] == group_id for g in r.data["SecurityGroups"])]
    found += [e.id for e in backend.store.list(vpcs.ENI, region) if any(g["GroupId"] == group_id for g in e.data["Groups"])]
    return found


def delete(backend: Backend, region: str, group_id: str | None, group_name: str | None) -> Record:
    """DeleteSecurityGroup (by id, or by name in the default VPC); returns the deleted group."""
    group = resolve(backend, region, group_id, group_name)
    if group.data["GroupName"] == "default":
        raise errors.ApiError(f'the specified group: "{group.id}" name: "default" cannot be deleted by a user',
                              code="CannotDelete")
    if users(backend, region, group.id):
        raise errors.DependencyViolation(f"resource {group.id} has a dependent object")
    for other in backend.store.list(SG, region):
        if other.id != group.id and any(r.get("ReferencedGroupId") == group.id for r in ensure_rules_field(other)):
            raise errors.DependencyViolation(f"resource {group.id} has a dependent object")
    with backend.store.transaction():
        backend.store.delete(group.id)
        for rule in ensure_rules_field(group):
            backend.store.delete_tags(rule["SecurityGroupRuleId"])
    return group


# the actions that change rules or groups: recorded, then the VPC's firewall is re-applied before
# the API call answers (rules take effect when the call returns)


async def authorize_live(backend: Backend, region: str, req: Mapping[str, Any],
                         egress: bool) -> tuple[Record, list[dict]]:
    """AuthorizeSecurityGroupIngress/Egress; returns the group and its new rules."""
    group, new = authorize(backend, region, req, egress)
    await vpcs.sync_network(backend, region, group.data["VpcId"])
    return group, new


async def revoke_live(backend: Backend, region: str, req: Mapping[str, Any], egress: bool) -> tuple[Record, list[dict]]:
    """RevokeSecurityGroupIngress/Egress; returns the group and the rules it lost."""
    group, removed = revoke(backend, region, req, egress)
    await vpcs.sync_network(backend, region, group.data["VpcId"])
    return group, removed


async def delete_live(backend: Backend, region: str, group_id: str | None, group_name: str | None) -> Record:
    """DeleteSecurityGroup; returns the deleted group."""
    group = delete(backend, region, group_id, group_name)
    await vpcs.sync_network(backend, region, group.data["VpcId"])
    return group


def rules_of(groups: Iterable[Record]) -> list[dict[str, Any]]:
    return [r for g in groups for r in ensure_rules_field(g)]


def describe_rule(rule: Mapping[str, Any], owner: str, tags: Mapping[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "SecurityGroupRuleId": rule["SecurityGroupRuleId"], "GroupId": rule["GroupId"], "GroupOwnerId": owner,
        "IsEgress": rule["IsEgress"], "IpProtocol": rule["IpProtocol"],
        "FromPort": -1 if rule["FromPort"] is None else rule["FromPort"],
        "ToPort": -1 if rule["ToPort"] is None else rule["ToPort"],
        "Description": rule.get("Description"), "Tags": tag_service.tag_list(tags or {}),
    }
    if rule["CidrIpv4"]:
        out["CidrIpv4"] = rule["CidrIpv4"]
    if rule.get("CidrIpv6"):
        out["CidrIpv6"] = rule["CidrIpv6"]
    if rule["ReferencedGroupId"]:
        out["ReferencedGroupInfo"] = {"GroupId": rule["ReferencedGroupId"], "UserId": owner}
    if rule.get("PrefixListId"):
        out["PrefixListId"] = rule["PrefixListId"]
    return out


def _permission(rule: Mapping[str, Any], owner: str) -> dict[str, Any]:
    perm: dict[str, Any] = {"IpProtocol": rule["IpProtocol"], "IpRanges": [], "Ipv6Ranges": [],
                            "PrefixListIds": [], "UserIdGroupPairs": []}
    if rule["FromPort"] is not None:
        perm["FromPort"], perm["ToPort"] = rule["FromPort"], rule["ToPort"]
    if rule["CidrIpv4"]:
        perm["IpRanges"].append({k: v for k, v in (("CidrIp", rule["CidrIpv4"]),
                                                   ("Description", rule.get("Description"))) if v is not None})
    if rule.get("CidrIpv6"):
        perm["Ipv6Ranges"].append({k: v for k, v in (("CidrIpv6", rule["CidrIpv6"]),
                                                     ("Description", rule.get("Description"))) if v is not None})
    if rule["ReferencedGroupId"]:
        perm["UserIdGroupPairs"].append({k: v for k, v in (("Description", rule.get("Description")),
                                                            ("GroupId", rule["ReferencedGroupId"]),
                                                            ("UserId", owner)) if v is not None})
    if rule.get("PrefixListId"):
        perm["PrefixListIds"].append({k: v for k, v in (("Description", rule.get("Description")),
                                                         ("PrefixListId", rule["PrefixListId"])) if v is not None})
    return perm


def describe(group: Record[SecurityGroupData], tags: Mapping[str, str]) -> dict[str, Any]:
    rules = ensure_rules_field(group)
    owner = group.data["OwnerId"]
    return {
        "GroupId": group.id, "GroupName": group.data["GroupName"], "Description": group.data["Description"],
        "VpcId": group.data["VpcId"], "OwnerId": owner,
        "IpPermissions": [_permission(r, owner) for r in rules if not r["IsEgress"]],
        "IpPermissionsEgress": [_permission(r, owner) for r in rules if r["IsEgress"]],
        "SecurityGroupArn": f"arn:aws:ec2:{group.region}:{owner}:security-group/{group.id}",
        "Tags": tag_service.tag_list(tags),
    }


def group_names(backend: Backend, region: str) -> dict[str, str]:
    """Every group's name by id (the ``ip-permission.group-name`` filters)."""
    return {g.id: g.data["GroupName"] for g in backend.store.list(SG, region)}


def describe_groups(backend: Backend, region: str, group_ids: Sequence[str] | None,
                    group_names: Sequence[str] | None) -> list[dict[str, Any]]:
    records = backend.store.list(SG, region)
    if group_ids:
        records = [get(backend, region, gid) for gid in group_ids]
    if group_names:
        records = [by_name(backend, region, name) for name in group_names]
    return tag_service.rendered(backend, region, SG, records, describe)
