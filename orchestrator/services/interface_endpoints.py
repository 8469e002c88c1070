"""Interface VPC endpoints (ec2, sts, elasticloadbalancing, autoscaling): the decisions of
Create/Modify/DeleteVpcEndpoints for ``VpcEndpointType=Interface`` (``services/vpc_endpoints``
dispatches here) and what the VPC's network serves for them (:func:`nodes`).

Each chosen subnet (at most one per zone) gets a requester-managed ENI (``vpc_endpoint``) with an
address of the subnet and the endpoint's security groups (the VPC's default group when none is
named); the VPC follows (``runtime/vpc``): the namespace holds the address, serves ec2d's HTTPS
endpoint on it, filters it with those groups, and VPC DNS answers the endpoint's names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import errors, ids
from orchestrator.domain import interface_endpoints as ife
from orchestrator.domain.records import GroupIdentifier, SubnetData
from orchestrator.domain.vpc_endpoints import VPC_ENDPOINT, VpcEndpointData
from orchestrator.domain.vpc_endpoints import VpcEndpointState as VE
from orchestrator.services import lookup, network_interfaces, vpc_endpoints, vpcs
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

LIVE = (str(VE.PENDING), str(VE.AVAILABLE))


def _subnets(backend: Backend, region: str, vpc_id: str, subnet_ids: Sequence[str]) -> list[Record[SubnetData]]:
    """The named subnets of ``vpc_id``, at most one per zone (EC2's errors otherwise)."""
    out = []
    for subnet_id in dict.fromkeys(subnet_ids):
        subnet = lookup.subnet(backend, region, subnet_id)
        if subnet.data["VpcId"] != vpc_id:
            raise errors.InvalidParameter(f"The subnet ID '{subnet_id}' does not belong to the vpc '{vpc_id}'.")
        out.append(subnet)
    ife.check_zones([(s.id, s.data["AvailabilityZone"]) for s in out])
    return out


def _groups(backend: Backend, region: str, vpc_id: str, group_ids: Sequence[str] | None) -> list[GroupIdentifier]:
    return vpcs.security_groups(backend, region, vpc_id, list(dict.fromkeys(group_ids or [])) or None)


def _check_private_dns(backend: Backend, region: str, vpc: Record, service: str, own_id: str | None) -> None:
    """EC2's rules for PrivateDnsEnabled: the VPC resolves and names hosts, and no other endpoint
    of the VPC already answers the service's name."""
    support = vpcs.vpc_attribute(backend, region, vpc.id, "enableDnsSupport")[1]
    hostnames = vpcs.vpc_attribute(backend, region, vpc.id, "enableDnsHostnames")[1]
    if not (support and hostnames):
        raise errors.InvalidParameter("Enabling private DNS requires both enableDnsSupport and enableDnsHostnames "
                                      f"VPC attributes set to true for {vpc.id}")
    name = ife.private_dns_name(region, service)
    for other in backend.store.list(VPC_ENDPOINT, region):
        d = other.data
        if (other.id != own_id and other.state in LIVE and d["VpcId"] == vpc.id and d.get("PrivateDnsEnabled")
                and d["ServiceName"] == ife.service_name(region, service)):
            raise errors.InvalidParameter(f"private-dns-enabled cannot be set because there is already a "
                                          f"conflicting DNS domain for {name} in the VPC {vpc.id}")


def _add_eni(backend: Backend, subnet: Record[SubnetData], groups: list[GroupIdentifier], vpce_id: str) -> str:
    eni = network_interfaces.create_requester_managed(backend, subnet, groups, f"VPC Endpoint Interface {vpce_id}",
                                                      ife.REQUESTER)
    eni.data["InterfaceType"] = ife.INTERFACE_TYPE
    backend.store.update(eni)
    return eni.id


def _drop_eni(backend: Backend, eni_id: str) -> None:
    eni = backend.store.get(eni_id, vpcs.ENI)
    if eni is not None:
        backend.store.delete(eni.id)


def create(backend: Backend, region: str, req: Mapping[str, Any], service: str, tags: Mapping[str, str],
           policy: str) -> Record[VpcEndpointData]:
    """CreateVpcEndpoint for an Interface endpoint (inside the caller's transaction): the endpoint
    ``pending`` with one ENI per subnet."""
    ife.interface_only(req.get("RouteTableIds"))
    ife.ipv4_only(req.get("IpAddressType"), req.get("DnsOptions"))
    vpc = lookup.vpc(backend, region, req["VpcId"])
    subnets = _subnets(backend, region, vpc.id, req.get("SubnetIds") or [])
    groups = _groups(backend, region, vpc.id, req.get("SecurityGroupIds"))
    private_dns = req.get("PrivateDnsEnabled")
    private_dns = True if private_dns is None else bool(private_dns)
    if private_dns:
        _check_private_dns(backend, region, vpc, service, None)
    vpce_id = ids.new_id("vpce")
    data = VpcEndpointData(VpcEndpointType="Interface", VpcId=vpc.id, ServiceName=req["ServiceName"],
                           PolicyDocument=policy, RouteTableIds=[], OwnerId=backend.account_id,
                           CreationTimestamp=vpc_endpoints.now(), SubnetIds=[s.id for s in subnets],
                           NetworkInterfaceIds=[], GroupIds=[g["GroupId"] for g in groups],
                           PrivateDnsEnabled=private_dns, DnsSuffix=ife.new_suffix())
    if req.get("ClientToken"):
        data["ClientToken"] = req["ClientToken"]
    record = Record[VpcEndpointData](id=vpce_id, type=VPC_ENDPOINT, region=region, state=str(VE.PENDING), data=data)
    backend.store.insert(record, dict(tags) or None)
    record.data["NetworkInterfaceIds"] = [_add_eni(backend, s, groups, vpce_id) for s in subnets]
    return backend.store.update(record)


def modify(backend: Backend, region: str, record: Record[VpcEndpointData], req: Mapping[str, Any]) -> None:
    """ModifyVpcEndpoint of an Interface endpoint (inside the caller's transaction): subnets and
    groups added and removed (the ENIs follow), private DNS switched."""
    ife.interface_only(req.get("AddRouteTableIds") or req.get("RemoveRouteTableIds"))
    ife.ipv4_only(req.get("IpAddressType"), req.get("DnsOptions"))
    d = record.data
    pairs = dict(zip(d.get("SubnetIds") or [], d.get("NetworkInterfaceIds") or [], strict=True))
    for subnet_id in dict.fromkeys(req.get("RemoveSubnetIds") or []):
        lookup.subnet(backend, region, subnet_id)
        if subnet_id in pairs:
            _drop_eni(backend, pairs.pop(subnet_id))
    group_ids = list(d.get("GroupIds") or [])
    removed = set(req.get("RemoveSecurityGroupIds") or [])
    if removed or req.get("AddSecurityGroupIds"):
        for gid in removed:
            lookup.security_group(backend, region, gid)
        group_ids = [g for g in group_ids if g not in removed]
        group_ids += [g for g in req.get("AddSecurityGroupIds") or [] if g not in group_ids]
        if not group_ids:
            raise errors.InvalidParameter("VPC endpoint must have at least one security group.")
    groups = _groups(backend, region, d["VpcId"], group_ids)
    added = [s for s in _subnets(backend, region, d["VpcId"], req.get("AddSubnetIds") or []) if s.id not in pairs]
    kept = [lookup.subnet(backend, region, s) for s in pairs]
    ife.check_zones([(s.id, s.data["AvailabilityZone"]) for s in kept + added])
    for subnet in added:
        pairs[subnet.id] = _add_eni(backend, subnet, groups, record.id)
    for eni_id in pairs.values():
        eni = backend.store.get(eni_id, vpcs.ENI)
        if eni is not None and eni.data["Groups"] != groups:
            eni.data["Groups"] = groups
            backend.store.update(eni)
    private_dns = d.get("PrivateDnsEnabled", False)
    if req.get("PrivateDnsEnabled") is not None:
        private_dns = bool(req["PrivateDnsEnabled"])
        if private_dns and not d.get("PrivateDnsEnabled"):
            _, service = _service_of(record)
            _check_private_dns(backend, region, lookup.vpc(backend, region, d["VpcId"]), service, record.id)
    d.update({"SubnetIds": list(pairs), "NetworkInterfaceIds": list(pairs.values()),
              "GroupIds": [g["GroupId"] for g in groups], "PrivateDnsEnabled": private_dns})


def _service_of(record: Record[VpcEndpointData]) -> tuple[str, str]:
    found = ife.parse(record.data["ServiceName"], [record.region])
    assert found is not None, record.data["ServiceName"]
    return found


def describe_part(backend: Backend, record: Record[VpcEndpointData]) -> dict[str, Any]:
    """The members of DescribeVpcEndpoints' item an Interface endpoint fills."""
    d = record.data
    region, service = _service_of(record)
    groups = []
    for gid in d.get("GroupIds") or []:
        group = backend.store.get(gid)
        groups.append({"GroupId": gid, "GroupName": group.data["GroupName"] if group is not None else ""})
    zones = [s.data["AvailabilityZone"] for sid in d.get("SubnetIds") or [] if (s := backend.store.get(sid))]
    private = bool(d.get("PrivateDnsEnabled"))
    return {"SubnetIds": list(d.get("SubnetIds") or []), "Groups": groups, "PrivateDnsEnabled": private,
            "RequesterManaged": False, "NetworkInterfaceIds": list(d.get("NetworkInterfaceIds") or []),
            "DnsEntries": ife.dns_entries(record.id, d.get("DnsSuffix", ""), region, service, zones, private),
            "DnsOptions": {"DnsRecordIpType": "ipv4", "PrivateDnsOnlyForInboundResolverEndpoint": False}}
