"""ELBv2 load balancers: Create (a node per enabled subnet: a requester-managed ENI, and for an
internet-facing one a public address from the pool RunInstances uses), Describe, Delete (with its
listeners and rules; its nodes' ENIs and addresses freed), attributes, security groups.

A new load balancer is ``provisioning`` until the runtime has its proxy up on every node
(``RuntimePort.provision_load_balancer``), then ``active`` (or ``failed``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import elbv2, errors, ids
from orchestrator.domain.elb_records import LoadBalancerData, LoadBalancerNode
from orchestrator.domain.lifecycle import LoadBalancerState
from orchestrator.domain.records import LOAD_BALANCER
from orchestrator.services import lookup, network_interfaces, public_ips, vpcs
from orchestrator.services.backend import Backend
from orchestrator.services.elbv2 import common
from orchestrator.store.sqlite import Record

TWO_ZONES = "At least two subnets in two different Availability Zones must be specified"


def _subnets(backend: Backend, region: str, req: Mapping[str, Any], lb_type: str) -> list[Record]:
    """The subnets asked for (``Subnets`` or ``SubnetMappings``), checked as ELB checks them."""
    if req.get("Subnets") and req.get("SubnetMappings"):
        raise errors.ValidationError("You can specify subnets or subnet mappings, not both")
    if any(m.get("AllocationId") or m.get("PrivateIPv4Address") or m.get("IPv6Address")
           for m in req.get("SubnetMappings") or []):
        raise errors.InvalidConfigurationRequest("ec2d load balancers take their node addresses from the subnet and "
                                                 "the public pool: AllocationId and fixed addresses are not supported")
    wanted = list(req.get("Subnets") or [m["SubnetId"] for m in req.get("SubnetMappings") or []])
    if not wanted:
        raise errors.ValidationError(TWO_ZONES if lb_type == elbv2.APPLICATION
                                     else "At least one subnet must be specified")
    found: list[Record] = []
    for sid in dict.fromkeys(wanted):
        try:
            found.append(lookup.subnet(backend, region, sid))
        except errors.ApiError:
            raise errors.SubnetNotFound(f"The subnet ID '{sid}' is not valid") from None
    if len({s.data["VpcId"] for s in found}) > 1:
        raise errors.InvalidConfigurationRequest("All subnets must belong to the same VPC")
    zones = [s.data["AvailabilityZone"] for s in found]
    if len(set(zones)) != len(zones):
        raise errors.InvalidConfigurationRequest(
            "A load balancer cannot be attached to multiple subnets in the same Availability Zone")
    if lb_type == elbv2.APPLICATION and len(zones) < 2:
        raise errors.ValidationError(TWO_ZONES)
    return found


def _groups(backend: Backend, region: str, vpc_id: str, group_ids: Sequence[str] | None,
            lb_type: str) -> list[str]:
    """The load balancer's security groups: the given ones (in its VPC), else for an ALB the
    VPC's default group (an NLB has none unless given)."""
    if not group_ids:
        if lb_type == elbv2.NETWORK:
            return []
        return [g["GroupId"] for g in vpcs.security_groups(backend, region, vpc_id, None)]
    for gid in group_ids:
        group = backend.store.get(gid, "security-group")
        if group is None or group.region != region or group.data["VpcId"] != vpc_id:
            raise errors.InvalidSecurityGroup(f"Security group '{gid}' does not exist")
    return list(dict.fromkeys(group_ids))


def _check_create(req: Mapping[str, Any]) -> tuple[str, str, str]:
    name = req["Name"]
    if (problem := elbv2.name_problem(name, "Load balancer")) is not None:
        raise errors.ValidationError(problem)
    lb_type = req.get("Type") or elbv2.APPLICATION
    if lb_type not in (elbv2.APPLICATION, elbv2.NETWORK):
        raise errors.InvalidConfigurationRequest(f"Load balancer type '{lb_type}' is not supported by ec2d")
    scheme = req.get("Scheme") or elbv2.INTERNET_FACING
    if (req.get("IpAddressType") or "ipv4") != "ipv4":
        raise errors.InvalidConfigurationRequest("ec2d load balancers only support the 'ipv4' IP address type")
    if req.get("CustomerOwnedIpv4Pool"):
        raise errors.InvalidConfigurationRequest("Customer-owned IPv4 pools are not supported")
    return name, lb_type, scheme


def _same(record: Record, lb_type: str, scheme: str, subnets: list[Record], groups: list[str]) -> bool:
    d = record.data
    return (d["Type"] == lb_type and d["Scheme"] == scheme and sorted(groups) == sorted(d["SecurityGroups"])
            and sorted(s.id for s in subnets) == sorted(n["SubnetId"] for n in d["Nodes"]))


def by_name(backend: Backend, region: str, name: str) -> Record | None:
    found = backend.store.find_by_field(LOAD_BALANCER, region, "LoadBalancerName", name)
    return found[0] if found else None


def create(backend: Backend, region: str, req: Mapping[str, Any]) -> tuple[Record, bool]:
    """CreateLoadBalancer's decision: (the load balancer, whether it is new). Idempotent as ELB:
    the same name with the same settings answers the existing one."""
    name, lb_type, scheme = _check_create(req)
    tags = common.tags_input(req.get("Tags"))
    subnets = _subnets(backend, region, req, lb_type)
    vpc_id = subnets[0].data["VpcId"]
    groups = _groups(backend, region, vpc_id, req.get("SecurityGroups"), lb_type)
    if scheme == elbv2.INTERNET_FACING and public_ips.attached_igw(backend, region, vpc_id) is None:
        raise errors.InvalidSubnet(f"VPC {vpc_id} has no internet gateway")
    with backend.store.transaction():
        existing = by_name(backend, region, name)
        if existing is not None:
            if _same(existing, lb_type, scheme, subnets, groups):
                return existing, False
            raise errors.DuplicateLoadBalancerName(
                f"A load balancer with the same name '{name}' exists, but with different settings")
        hexid = elbv2.new_hex()
        arn = elbv2.load_balancer_arn(region, backend.account_id, lb_type, name, hexid)
        data: LoadBalancerData = {
            "LoadBalancerName": name, "Type": lb_type, "Scheme": scheme, "VpcId": vpc_id, "IpAddressType": "ipv4",
            "DNSName": elbv2.dns_name(name, region, scheme, elbv2.new_dns_number()),
            "CanonicalHostedZoneId": elbv2.hosted_zone(region, lb_type), "CreatedTime": backend.store.now(),
            "SecurityGroups": groups, "Nodes": [],
            "Attributes": dict(elbv2.NLB_LOAD_BALANCER_ATTRIBUTES if lb_type == elbv2.NETWORK
                               else elbv2.LOAD_BALANCER_ATTRIBUTES),
        }
        record = backend.store.insert(Record[LoadBalancerData](
            id=arn, type=LOAD_BALANCER, region=region, state=str(LoadBalancerState.PROVISIONING), data=data), tags)
        for subnet in subnets:
            record.data["Nodes"].append(_node(backend, record, subnet, groups))
            record = backend.store.update(record)
    return record, True


def _node(backend: Backend, lb: Record, subnet: Record, groups: list[str]) -> LoadBalancerNode:
    """One node: its ENI (requester-managed, in use) and, internet-facing, a public address."""
    named = [{"GroupId": g, "GroupName": backend.store.get(g).data["GroupName"]}  # type: ignore[union-attr]
             for g in groups]
    eni = network_interfaces.create_requester_managed(
        backend, subnet, named, f"ELB {elbv2.lb_resource(lb.id)}", elbv2.REQUESTER_ID)
    public = public_ips.allocate_public_ip(backend) if lb.data["Scheme"] == elbv2.INTERNET_FACING else None
    if public is not None:  # DescribeNetworkInterfaces shows it as the ENI's Association
        eni.data["PublicIp"] = public
        backend.store.update(eni)
    return {"SubnetId": subnet.id, "ZoneName": subnet.data["AvailabilityZone"], "NetworkInterfaceId": eni.id,
            "PrivateIpAddress": eni.data["PrivateIpAddress"], "PublicIp": public}


async def create_live(backend: Backend, region: str, req: Mapping[str, Any]) -> Record:
    """CreateLoadBalancer: recorded ``provisioning``; the runtime brings the proxy up in the
    background and moves it ``active``."""
    record, new = create(backend, region, req)
    if new:
        backend.runtime.provision_load_balancer(region, record.id)
    return record


def describe(backend: Backend, record: Record) -> dict[str, Any]:
    d = record.data
    zones = []
    for node in d["Nodes"]:
        entry: dict[str, Any] = {"ZoneName": node["ZoneName"], "SubnetId": node["SubnetId"],
                                 "LoadBalancerAddresses": []}
        if d["Type"] == elbv2.NETWORK:
            address = {"IpAddress": node["PublicIp"]} if node["PublicIp"] else {}
            entry["LoadBalancerAddresses"] = [{**address, "PrivateIPv4Address": node["PrivateIpAddress"]}]
        zones.append(entry)
    state: dict[str, str] = {"Code": record.state}
    if d.get("StateReason"):
        state["Reason"] = d["StateReason"]
    out: dict[str, Any] = {
        "LoadBalancerArn": record.id, "DNSName": d["DNSName"], "CanonicalHostedZoneId": d["CanonicalHostedZoneId"],
        "CreatedTime": common.iso(d["CreatedTime"]), "LoadBalancerName": d["LoadBalancerName"], "Scheme": d["Scheme"],
        "VpcId": d["VpcId"], "State": state, "Type": d["Type"], "AvailabilityZones": zones,
        "IpAddressType": d["IpAddressType"],
    }
    if d["SecurityGroups"] or d["Type"] == elbv2.APPLICATION:
        out["SecurityGroups"] = list(d["SecurityGroups"])
    return out


def describe_all(backend: Backend, region: str, arns: Sequence[str] | None, names: Sequence[str] | None,
                 marker: str | None, page_size: int | None) -> tuple[list[dict[str, Any]], str | None]:
    if arns and names:
        raise errors.ValidationError("Load balancer names and load balancer ARNs cannot be specified at the same time")
    records = common.chosen(backend.store.list(LOAD_BALANCER, region), arns, names, "LoadBalancerName",
                            lambda which: errors.LoadBalancerNotFound(f"Load balancers {which} not found"))
    chunk, nxt = common.page(records, marker, page_size)
    return [describe(backend, r) for r in chunk], nxt


def delete(backend: Backend, region: str, arn: str) -> Record | None:
    """DeleteLoadBalancer's decision: the record that was deleted (None: there was none, and ELB
    answers success). Its listeners and rules go with it; its nodes' ENIs and addresses are freed."""
    try:
        record = common.load_balancer(backend, region, arn)
    except errors.LoadBalancerNotFound:
        if elbv2.is_arn(arn, "loadbalancer"):
            return None
        raise errors.ValidationError(f"'{arn}' is not a valid load balancer ARN") from None
    if record.data["Attributes"].get("deletion_protection.enabled") == "true":
        raise errors.OperationNotPermitted(
            f"Load balancer '{arn}' cannot be deleted because deletion protection is enabled")
    with backend.store.transaction():
        for lst in common.listeners_of(backend, region, arn):
            for r in common.rules_of(backend, region, lst.id):
                backend.store.delete(r.id)
            backend.store.delete(lst.id)
        for node in record.data["Nodes"]:
            backend.store.delete(node["NetworkInterfaceId"])
        backend.store.delete(arn)
    return record


async def delete_live(backend: Backend, region: str, arn: str) -> None:
    """DeleteLoadBalancer: recorded, then its proxy removed and its VPC's network re-synced."""
    record = delete(backend, region, arn)
    if record is not None:
        await backend.runtime.sync_load_balancer(region, arn, record.data["VpcId"])


def attributes(backend: Backend, region: str, arn: str) -> list[dict[str, str]]:
    record = common.load_balancer(backend, region, arn)
    return [{"Key": k, "Value": v} for k, v in record.data["Attributes"].items()]


async def modify_attributes(backend: Backend, region: str, arn: str,
                            attrs: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    record = common.load_balancer(backend, region, arn)
    current = record.data["Attributes"]
    for attr in attrs:
        key, value = attr.get("Key") or "", attr.get("Value") or ""
        if (problem := elbv2.attribute_problem(key, value, current)) is not None:
            raise errors.InvalidConfigurationRequest(problem)
        current[key] = value
    backend.store.update(record)
    await common.follow(backend, region, [arn])  # idle timeout
    return [{"Key": k, "Value": v} for k, v in current.items()]


async def set_security_groups(backend: Backend, region: str, arn: str, group_ids: Sequence[str]) -> list[str]:
    """SetSecurityGroups: the load balancer's groups (and its nodes' ENIs') replaced; the VPC's
    firewall follows."""
    record = common.load_balancer(backend, region, arn)
    if record.data["Type"] == elbv2.NETWORK and not record.data["SecurityGroups"]:
        raise errors.InvalidConfigurationRequest(
            "You cannot set security groups on a Network Load Balancer which was created without any")
    for gid in group_ids:
        if not ids.is_valid(gid, "sg"):
            raise errors.InvalidSecurityGroup(f"Security group '{gid}' does not exist")
    groups = _groups(backend, region, record.data["VpcId"], group_ids, record.data["Type"]) if group_ids else []
    with backend.store.transaction():
        record.data["SecurityGroups"] = groups
        backend.store.update(record)
        named = [{"GroupId": g, "GroupName": backend.store.get(g).data["GroupName"]}  # type: ignore[union-attr]
                 for g in groups]
        for node in record.data["Nodes"]:
            eni = backend.store.get(node["NetworkInterfaceId"])
            if eni is not None:
                eni.data["Groups"] = named
                backend.store.update(eni)
    await common.follow(backend, region, [arn])
    return groups


def set_subnets(backend: Backend, region: str, arn: str, req: Mapping[str, Any]) -> Record:
    """SetSubnets' decision: the given subnets replace the enabled ones (same checks as at
    creation, same VPC); nodes of dropped subnets go (ENI and address), new subnets get one."""
    record = common.load_balancer(backend, region, arn)
    subnets = _subnets(backend, region, req, record.data["Type"])
    if subnets[0].data["VpcId"] != record.data["VpcId"]:
        raise errors.InvalidConfigurationRequest(f"The subnets must belong to the load balancer's VPC "
                                                 f"'{record.data['VpcId']}'")
    wanted = {s.id: s for s in subnets}
    with backend.store.transaction():
        kept = [n for n in record.data["Nodes"] if n["SubnetId"] in wanted]
        for node in record.data["Nodes"]:
            if node["SubnetId"] not in wanted:
                backend.store.delete(node["NetworkInterfaceId"])
        record.data["Nodes"] = kept
        record = backend.store.update(record)
        have = {n["SubnetId"] for n in kept}
        for subnet in subnets:
            if subnet.id not in have:
                record.data["Nodes"].append(_node(backend, record, subnet, record.data["SecurityGroups"]))
                record = backend.store.update(record)
    return record


async def set_subnets_live(backend: Backend, region: str, arn: str, req: Mapping[str, Any]) -> Record:
    """SetSubnets: recorded, then the proxy and the VPC follow (new node addresses)."""
    record = set_subnets(backend, region, arn, req)
    await common.follow(backend, region, [arn])
    return record
