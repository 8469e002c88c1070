"""Internet gateways, route tables, public IPs and Elastic IPs (the model side).

An instance is reachable at a public address when it has one (auto-assigned at launch in a
subnet that maps public IPs, or an Elastic IP) and its subnet's route table sends 0.0.0.0/0 to an
internet gateway attached to the VPC. The runtime turns that into 1:1 NAT in the VPC namespace
and routes in the public namespace. Auto-assigned addresses are released when the instance
stops or terminates (a start gets a new one), as on EC2; Elastic IPs stay until released.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from orchestrator.domain import errors, ids, vpc_cidrs
from orchestrator.domain.egress_gateways import EGRESS_ONLY_IGW
from orchestrator.domain.lifecycle import AVAILABLE
from orchestrator.domain.records import (
    LOAD_BALANCER,
    NAT_GATEWAY,
    ElasticIpData,
    InstanceData,
    InternetGatewayData,
    RouteTableData,
    SubnetData,
    VpcData,
)
from orchestrator.domain.route_records import RouteTableAssociation
from orchestrator.domain.states import InstanceState
from orchestrator.domain.vpc_endpoints import S3_BLOCK
from orchestrator.runtime import records, route_plan, vpc_state
from orchestrator.services import lookup, route_enis, vpc_endpoints, vpc_ipv6, vpc_peering
from orchestrator.services import tags as tag_service
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

IGW = "internet-gateway"
RTB = "route-table"
EIP = "elastic-ip"
HOLDS_PUBLIC_IP = vpc_state.HOLDS_PUBLIC_IP


# ---------------------------------------------------------------------------------------------
# internet gateways and route tables


def create_igw(backend: Backend, region: str) -> Record[InternetGatewayData]:
    record = Record[InternetGatewayData](id=ids.new_id("igw"), type=IGW, region=region, state=AVAILABLE,
                    data={"Attachments": [], "OwnerId": backend.account_id})
    backend.store.insert(record)
    return record


def create_internet_gateway(backend: Backend, region: str, tags: Mapping[str, str]) -> Record:
    with backend.store.transaction():
        record = create_igw(backend, region)
        if tags:
            backend.store.set_tags(record.id, IGW, region, dict(tags))
    return record


def describe_igw(record: Record[InternetGatewayData], tags: Mapping[str, str]) -> dict[str, Any]:
    return {"InternetGatewayId": record.id, "OwnerId": record.data["OwnerId"],
            "Attachments": record.data["Attachments"], "Tags": tag_service.tag_list(tags)}


def describe_igws(backend: Backend, region: str, igw_ids: Sequence[str] | None) -> list[dict[str, Any]]:
    records = ([get_igw(backend, region, i) for i in igw_ids] if igw_ids
               else backend.store.list(IGW, region))
    return tag_service.rendered(backend, region, IGW, records, describe_igw)


def get_igw(backend: Backend, region: str, igw_id: str) -> Record[InternetGatewayData]:
    return lookup.internet_gateway(backend, region, igw_id)


def attached_igw(backend: Backend, region: str, vpc_id: str) -> Record[InternetGatewayData] | None:
    return records.attached_igw(backend.store, region, vpc_id)


def attach_igw(backend: Backend, region: str, igw_id: str, vpc_id: str) -> Record:
    igw = get_igw(backend, region, igw_id)
    lookup.vpc(backend, region, vpc_id)
    if igw.data["Attachments"]:
        raise errors.ApiError(f"resource {igw_id} is already attached to network "
                              f"{igw.data['Attachments'][0]['VpcId']}", code="Resource.AlreadyAssociated")
    if attached_igw(backend, region, vpc_id) is not None:
        raise errors.ApiError(f"Network {vpc_id} already has an internet gateway attached",
                              code="Resource.AlreadyAssociated")
    igw.data["Attachments"] = [{"VpcId": vpc_id, "State": "available"}]
    backend.store.update(igw)
    return igw


def detach_igw(backend: Backend, region: str, igw_id: str, vpc_id: str) -> Record:
    igw = get_igw(backend, region, igw_id)
    if not any(a["VpcId"] == vpc_id for a in igw.data["Attachments"]):
        raise errors.ApiError(f"resource {igw_id} is not attached to network {vpc_id}",
                              code="Gateway.NotAttached")
    mapped = [r for r in backend.store.list("instance", region)
              if r.data["VpcId"] == vpc_id and r.state in HOLDS_PUBLIC_IP and public_ip_of(backend, r)]
    mapped += [lb for lb in backend.store.list(LOAD_BALANCER, region)  # internet-facing ELBv2 nodes' addresses
               if lb.data["VpcId"] == vpc_id and any(n["PublicIp"] for n in lb.data["Nodes"])]
    mapped += [n for n in backend.store.list(NAT_GATEWAY, region)  # public NAT gateways' Elastic IPs
               if n.data["VpcId"] == vpc_id and n.state != "deleted"
               and any(a.get("PublicIp") for a in n.data["NatGatewayAddresses"])]
    if mapped:
        raise errors.DependencyViolation(
            f"Network {vpc_id} has some mapped public address(es). Please unmap those public address(es) "
            "before detaching the gateway.")
    igw.data["Attachments"] = []
    backend.store.update(igw)
    return igw


def delete_igw(backend: Backend, region: str, igw_id: str) -> None:
    igw = get_igw(backend, region, igw_id)
    if igw.data["Attachments"]:
        raise errors.DependencyViolation(f"The internetGateway '{igw_id}' has dependencies and cannot be deleted.")
    backend.store.delete(igw.id)


def create_route_table(backend: Backend, region: str, vpc_id: str, main: bool = False) -> Record[RouteTableData]:
    vpc = lookup.vpc(backend, region, vpc_id)
    rtb_id = ids.new_id("rtb")
    assoc: list[RouteTableAssociation] = ([{"RouteTableAssociationId": ids.new_id("rtbassoc"), "RouteTableId": rtb_id, "Main": True,
               "AssociationState": {"State": "associated"}}] if main else [])
    record = Record[RouteTableData](id=rtb_id, type=RTB, region=region, state=AVAILABLE, data={
        "VpcId": vpc_id, "OwnerId": backend.account_id, "Associations": assoc,
        "Routes": [{"DestinationCidrBlock": cidr, "GatewayId": "local", "State": "active",
                    "Origin": "CreateRouteTable"} for cidr in vpc_cidrs.network_cidrs(vpc.data)],
    })
    backend.store.insert(record)
    return record


def create_route_table_tagged(backend: Backend, region: str, vpc_id: str, tags: Mapping[str, str]) -> Record:
    """CreateRouteTable: a (non-main) table of the VPC with its tags."""
    with backend.store.transaction():
        record = create_route_table(backend, region, vpc_id)
        if tags:
            backend.store.set_tags(record.id, RTB, region, dict(tags))
    return record


def describe_route_table(record: Record[RouteTableData], tags: Mapping[str, str],
                         live: set[str] | None = None, ipv6_blocks: Sequence[str] = ()) -> dict[str, Any]:
    """The table as EC2 shows it; with ``live`` (the VPC's working targets) a route whose target
    is gone shows ``blackhole``; the VPC's IPv6 /56s (``ipv6_blocks``) have their ``local`` route
    after the IPv4 ones, as on EC2 (kept by the VPC, not stored in the table)."""
    routes = [dict(r, State=route_plan.route_state(r, live)) if live is not None else dict(r)
              for r in record.data["Routes"]]
    at = sum(1 for r in routes if r.get("GatewayId") == "local")
    routes[at:at] = [{"DestinationIpv6CidrBlock": b, "GatewayId": "local", "Origin": "CreateRouteTable",
                      "State": "active"} for b in ipv6_blocks]
    return {"RouteTableId": record.id, "VpcId": record.data["VpcId"], "OwnerId": record.data["OwnerId"],
            "Routes": routes, "Associations": record.data["Associations"],
            "PropagatingVgws": [], "Tags": tag_service.tag_list(tags)}


def describe_route_tables(backend: Backend, region: str, rtb_ids: Sequence[str] | None) -> list[dict[str, Any]]:
    records = ([get_route_table(backend, region, i) for i in rtb_ids] if rtb_ids
               else backend.store.list(RTB, region))
    live = {vpc_id: live_targets(backend, region, vpc_id) for vpc_id in {r.data["VpcId"] for r in records}}
    blocks = {vpc_id: ipv6_blocks_of(backend, vpc_id) for vpc_id in live}
    items = tag_service.rendered(backend, region, RTB, records, lambda r, tags: describe_route_table(
        r, tags, live[r.data["VpcId"]], blocks[r.data["VpcId"]]))
    for item in items:
        route_enis.annotate(backend, item["Routes"])
    return items


def ipv6_blocks_of(backend: Backend, vpc_id: str) -> list[str]:
    """The VPC's IPv6 /56s (their ``local`` routes are in every table of the VPC)."""
    vpc = backend.store.get(vpc_id)
    return vpc_ipv6.vpc_blocks(vpc) if vpc is not None else []  # type: ignore[arg-type]


def get_route_table(backend: Backend, region: str, rtb_id: str) -> Record[RouteTableData]:
    return lookup.route_table(backend, region, rtb_id)


def main_route_table(backend: Backend, region: str, vpc_id: str) -> Record[RouteTableData] | None:
    return next((t for t in backend.store.list(RTB, region) if t.data["VpcId"] == vpc_id
                 and any(a.get("Main") for a in t.data["Associations"])), None)


def route_table_of_subnet(backend: Backend, subnet: Record[SubnetData]) -> Record[RouteTableData] | None:
    for t in backend.store.list(RTB, subnet.region):
        if any(a.get("SubnetId") == subnet.id for a in t.data["Associations"]):
            return t
    return main_route_table(backend, subnet.region, subnet.data["VpcId"])


def delete_route_table(backend: Backend, region: str, rtb_id: str) -> Record:
    table = get_route_table(backend, region, rtb_id)
    if table.data["Associations"]:
        raise errors.DependencyViolation(f"The routeTable '{rtb_id}' has dependencies and cannot be deleted.")
    vpc_endpoints.remove_table(backend, region, rtb_id)
    backend.store.delete(table.id)
    return table


def live_targets(backend: Backend, region: str, vpc_id: str) -> set[str]:
    """The route targets of the VPC that carry traffic (a route to any other is a blackhole)."""
    igw = attached_igw(backend, region, vpc_id)
    nats = [n for n in backend.store.list(NAT_GATEWAY, region) if n.data["VpcId"] == vpc_id]
    return route_plan.live_targets(igw.id if igw is not None else None, nats,
                                    [r.id for r in vpc_peering.active_of(backend, vpc_id)],
                                    [e.id for e in vpc_endpoints.routing(backend, region, vpc_id)],
                                    [g.id for g in backend.store.list(EGRESS_ONLY_IGW, region)
                                     if g.data["VpcId"] == vpc_id]) | route_enis.live_enis(backend, region, vpc_id)


def subnet_is_public(backend: Backend, subnet: Record[SubnetData]) -> bool:
    """The subnet's route table sends some destinations to the VPC's attached internet gateway."""
    igw = attached_igw(backend, subnet.region, subnet.data["VpcId"])
    if igw is None:
        return False
    tables = [t for t in backend.store.list(RTB, subnet.region) if t.data["VpcId"] == subnet.data["VpcId"]]
    live = live_targets(backend, subnet.region, subnet.data["VpcId"])
    return bool(route_plan.internet_ranges(tables, subnet.id, igw.id, live))


def ensure_default_vpc_gateway(backend: Backend, vpc: Record[VpcData]) -> None:
    """EC2's default VPC comes with an attached IGW and a main route table sending 0.0.0.0/0 to it."""
    if main_route_table(backend, vpc.region, vpc.id) is None:
        table = create_route_table(backend, vpc.region, vpc.id, main=True)
        if vpc.data.get("IsDefault"):
            igw = create_igw(backend, vpc.region)
            igw.data["Attachments"] = [{"VpcId": vpc.id, "State": "available"}]
            backend.store.update(igw)
            table.data["Routes"].append({"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw.id,
                                         "State": "active", "Origin": "CreateRouteTable"})
            backend.store.update(table)


# ---------------------------------------------------------------------------------------------
# public addresses


def used_public_ips(backend: Backend) -> set[str]:
    used = set()
    for region in backend.config.regions:
        used |= {e.data["PublicIp"] for e in backend.store.list(EIP, region)}
        used |= {ip for ip in backend.store.field_values("instance", "AutoPublicIp", region) if ip}
        used |= {n["PublicIp"] for r in backend.store.list(LOAD_BALANCER, region)  # ELBv2 nodes' addresses
                 for n in r.data["Nodes"] if n["PublicIp"]}
    return used


def allocate_public_ip(backend: Backend) -> str:
    """The lowest free address of the public pool (call inside a store transaction)."""
    return public_ip_allocator(backend)()


def public_ip_allocator(backend: Backend) -> Callable[[], str]:
    """:func:`allocate_public_ip` for several addresses in one transaction (RunInstances of 100):
    the addresses in use are read once, and each next one is searched from the last one given."""
    pool = ipaddress.ip_network(backend.config.public_pool)
    used = {int.from_bytes(socket.inet_aton(ip), "big") for ip in used_public_ips(backend)}  # (ipaddress: 8x slower)
    s3_low, s3_high = int(S3_BLOCK.network_address), int(S3_BLOCK.broadcast_address)
    start = [int(pool.network_address) + 1]

    def allocate() -> str:
        for n in range(start[0], int(pool.broadcast_address)):  # pool.hosts(), as integers
            if n & 0xFF in (0, 255) or n in used or s3_low <= n <= s3_high:
                continue  # S3's own addresses are never handed out
            used.add(n)
            start[0] = n + 1
            return str(ipaddress.IPv4Address(n))
        raise errors.ApiError("The maximum number of addresses has been reached.", code="AddressLimitExceeded")
    return allocate


def public_ip_of(backend: Backend, instance: Record[InstanceData]) -> str | None:
    return records.public_ip_of(backend.store, instance)


def eip_of_instance(backend: Backend, instance: Record[InstanceData]) -> Record[ElasticIpData] | None:
    return records.eip_of_instance(backend.store, instance)


public_dns_name = vpc_state.public_dns_name


def allocate_address(backend: Backend, region: str, tags: Mapping[str, str]) -> Record[ElasticIpData]:
    with backend.store.transaction():
        record = Record[ElasticIpData](id=ids.new_id("eipalloc"), type=EIP, region=region, state=AVAILABLE, data={
            "PublicIp": allocate_public_ip(backend), "Domain": "vpc", "PublicIpv4Pool": "amazon",
            "NetworkBorderGroup": region})
        backend.store.insert(record, tags)
    return record


def get_eip(backend: Backend, region: str, allocation_id: str | None, public_ip: str | None) -> Record[ElasticIpData]:
    for e in backend.store.list(EIP, region):
        if e.id == allocation_id or (public_ip and e.data["PublicIp"] == public_ip):
            return e
    if allocation_id:
        ids.check(allocation_id, "eipalloc")
        raise errors.NotFound("InvalidAllocationID.NotFound", f"The allocation ID '{allocation_id}' does not exist")
    raise errors.NotFound("InvalidAddress.NotFound", f"Address '{public_ip}' not found.")


def associate_address(backend: Backend, region: str, req: Mapping[str, Any]) -> tuple[Record, list[str]]:
    """AssociateAddress; returns the address and the VPCs whose networks must follow: where the
    address is now, and where it was (when that is another VPC)."""
    eip = get_eip(backend, region, req.get("AllocationId"), req.get("PublicIp"))
    previous = backend.store.get(eip.data.get("InstanceId") or "")
    eip, instance = _associate(backend, region, eip, req)
    vpc_ids = [instance.data["VpcId"]]
    if previous is not None and previous.data["VpcId"] != instance.data["VpcId"]:
        vpc_ids.append(previous.data["VpcId"])
    return eip, vpc_ids


def _associate(backend: Backend, region: str, eip: Record, req: Mapping[str, Any]) -> tuple[Record, Record]:
    with backend.store.transaction():
        if req.get("InstanceId"):
            instance = lookup.instance(backend, region, req["InstanceId"])
        elif req.get("NetworkInterfaceId"):
            eni = lookup.network_interface(backend, region, req["NetworkInterfaceId"])  # not another region's
            if not eni.data.get("Attachment"):
                raise errors.InvalidParameterValue("The network interface is not attached to an instance")
            instance = backend.store.get(eni.data["Attachment"]["InstanceId"])  # type: ignore[assignment,index]
            assert instance is not None
        else:
            raise errors.MissingParameter("InstanceId")
        if instance.state == InstanceState.TERMINATED:
            raise errors.IncorrectInstanceState(f"The instance '{instance.id}' is not in a valid state for this "
                                                "operation.")
        if not instance.data.get("PrivateIpAddress"):  # in an IPv6-only subnet
            raise errors.InvalidParameterValue(f"The instance '{instance.id}' has no private IPv4 address to "
                                               "associate an Elastic IP address with.")
        if eip.data.get("AssociationId") and not eip.data.get("InstanceId"):  # a NAT gateway's
            raise errors.ApiError(f"resource {eip.id} is already associated with associate-id "
                                  f"{eip.data['AssociationId']}", code="Resource.AlreadyAssociated")
        if eip.data.get("AssociationId") and not req.get("AllowReassociation", True):
            raise errors.ApiError(f"resource {eip.id} is already associated with associate-id "
                                  f"{eip.data['AssociationId']}", code="Resource.AlreadyAssociated")
        current = eip_of_instance(backend, instance)
        if current is not None and current.id != eip.id:
            _clear(current)
            backend.store.update(current)
        eip = backend.store.get(eip.id)  # type: ignore[assignment]
        assert eip is not None
        eip.data.update({"AssociationId": ids.new_id("eipassoc"), "InstanceId": instance.id,
                         "NetworkInterfaceId": instance.data["NetworkInterfaceId"],
                         "NetworkInterfaceOwnerId": backend.account_id,
                         "PrivateIpAddress": instance.data["PrivateIpAddress"]})
        backend.store.update(eip)
        if instance.data.get("AutoPublicIp"):  # EC2 releases the auto-assigned address
            instance.data["AutoPublicIp"] = None
            backend.store.update(instance)
    return eip, instance


def _clear(eip: Record[ElasticIpData]) -> None:
    records.clear_eip_association(eip)


def disassociate_address(backend: Backend, region: str, association_id: str | None,
                         public_ip: str | None) -> tuple[Record, str | None]:
    """DisassociateAddress; returns the address and the VPC whose network must follow (the one of
    the instance it was associated with, if any)."""
    for e in backend.store.list(EIP, region):
        if (association_id and e.data.get("AssociationId") == association_id) or (
                public_ip and e.data["PublicIp"] == public_ip):
            if e.data.get("AssociationId") and not e.data.get("InstanceId"):  # a NAT gateway's
                raise errors.ApiError(f"You do not have permission to access the specified resource "
                                      f"{e.data['AssociationId']}.", code="AuthFailure")
            instance = backend.store.get(e.data.get("InstanceId") or "")
            _clear(e)
            backend.store.update(e)
            return e, instance.data["VpcId"] if instance is not None else None
    raise errors.NotFound("InvalidAssociationID.NotFound", f"The association ID '{association_id}' does not exist")


def release_address(backend: Backend, region: str, allocation_id: str | None, public_ip: str | None) -> None:
    eip = get_eip(backend, region, allocation_id, public_ip)
    if eip.data.get("AssociationId"):
        raise errors.ApiError(f"The address with allocation id [{eip.id}] is in use.",
                              code="InvalidIPAddress.InUse")
    backend.store.delete(eip.id)


def describe_addresses(backend: Backend, region: str, allocation_ids: Sequence[str] | None,
                       public_ips: Sequence[str] | None) -> list[dict[str, Any]]:
    records = backend.store.list(EIP, region)
    if allocation_ids:
        records = [get_eip(backend, region, a, None) for a in allocation_ids]
    if public_ips:
        records = [get_eip(backend, region, None, ip) for ip in public_ips]
    return tag_service.rendered(backend, region, EIP, records, describe_address)


def describe_address(eip: Record[ElasticIpData], tags: Mapping[str, str]) -> dict[str, Any]:
    out = {k: v for k, v in eip.data.items() if not k.startswith("_")}
    out["AllocationId"] = eip.id
    out["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
    return out


# ---------------------------------------------------------------------------------------------
# the actions: each records its change through the decision function above, then has the VPCs
# that function names follow (firewall, NAT, routes, metadata through the runtime port) before
# the API call answers


async def _follow(backend: Backend, region: str, vpc_ids: Sequence[str | None]) -> None:
    """Re-apply each named VPC's network from the store, in the order given."""
    for vpc_id in vpc_ids:
        if vpc_id:
            await backend.runtime.sync_vpc(region, vpc_id)


async def attach_igw_live(backend: Backend, region: str, igw_id: str, vpc_id: str) -> Record:
    """AttachInternetGateway."""
    igw = attach_igw(backend, region, igw_id, vpc_id)
    await _follow(backend, region, [vpc_id])
    return igw


async def detach_igw_live(backend: Backend, region: str, igw_id: str, vpc_id: str) -> Record:
    """DetachInternetGateway."""
    igw = detach_igw(backend, region, igw_id, vpc_id)
    await _follow(backend, region, [vpc_id])
    return igw


async def associate_address_live(backend: Backend, region: str, req: Mapping[str, Any]) -> Record:
    """AssociateAddress: the VPC where the address is now follows, then the one it left."""
    eip, vpc_ids = associate_address(backend, region, req)
    await _follow(backend, region, vpc_ids)
    return eip


async def disassociate_address_live(backend: Backend, region: str, association_id: str | None,
                                    public_ip: str | None) -> Record:
    """DisassociateAddress: the VPC of the instance the address left follows."""
    eip, vpc_id = disassociate_address(backend, region, association_id, public_ip)
    await _follow(backend, region, [vpc_id])
    return eip
