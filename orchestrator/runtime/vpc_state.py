"""A VPC's state as pure functions of its records: DHCP leases, the metadata table, the firewall
model and the 1:1 NAT table. No I/O: :class:`VpcView` holds every record they read (built from
the store by ``runtime.vpc.read_view``), so each function can be tested on hand-made records.

Also the conversions of stored security-group rules into the firewall model, which the API's
rule check shares (an accepted rule always compiles).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.domain import address_ptr, hostnames, ids, vpc_cidrs
from orchestrator.domain.states import ACTIVE
from orchestrator.domain.vpc_endpoints import s3_address
from orchestrator.drivers.network import firewall as fw
from orchestrator.drivers.network.dnsmasq import Lease
from orchestrator.drivers.network.names import private_dns_name
from orchestrator.drivers.network.public.driver import SubnetEgress, SubnetEgress6
from orchestrator.drivers.network.vpc.driver import HostRecord, LocalAddress, SubnetRoute
from orchestrator.imds.model import IamRole, InstanceMetadata, MetadataOptions, NetworkInterface
from orchestrator.runtime import route_plan
from orchestrator.runtime.port import InstanceRoles
from orchestrator.store.sqlite import Record

HOLDS_PUBLIC_IP = ("pending", "running", "stopping")  # states whose public IP is NATed


@dataclass
class VpcView:
    """Every record the VPC's network state depends on."""

    vpc: Record
    subnets: Mapping[str, Record]
    instances: Sequence[Record]  # every state but terminated
    enis: Mapping[str, Sequence[Record]]  # instance id -> attached ENIs, primary first
    groups: Sequence[Record] = ()  # the VPC's security groups
    route_tables: Sequence[Record] = ()  # the VPC's route tables
    igw: Record | None = None  # the attached internet gateway
    public_ips: Mapping[str, str | None] = field(default_factory=dict)  # instance id -> public IP
    images: Mapping[str, Record] = field(default_factory=dict)  # AMIs of the instances (still known)
    tags: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # instance id -> tags (IMDS)
    zone_ids: Mapping[str, str] = field(default_factory=dict)  # zone name -> zone id
    nodes: Sequence[LocalNode] = ()  # load balancers' nodes in the VPC's subnets
    nat_gateways: Sequence[Record] = ()  # the VPC's NAT gateways (not deleted)
    peerings: Sequence[PeerSide] = ()  # the VPC's active peering connections
    peer_members: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # peer group -> member IPs
    prefix_lists: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # pl id -> its CIDRs (rules name them)
    ptr_records: Sequence[HostRecord] = ()  # the region's Elastic IPs with a custom reverse DNS name
    endpoints: Sequence[str] = ()  # the VPC's gateway endpoints whose routes carry traffic (ids)
    regions: Sequence[str] = ()  # the regions ec2d serves (S3 has an address in each)
    eigws: Sequence[str] = ()  # the VPC's egress-only internet gateways (ids)
    endpoint_nodes: Sequence[EndpointNode] = ()  # interface endpoints' ENIs in the VPC's subnets


@dataclass(frozen=True)
class PeerSide:
    """An active peering connection as one of its VPCs sees it."""

    pcx_id: str
    peer_vpc_id: str
    peer_cidr: str
    peer_ns: str  # the peer VPC's namespace
    requester: bool  # this VPC requested the connection
    peer_region: str
    secondary_cidrs: tuple[str, ...] = ()  # the peer VPC's secondary IPv4 blocks, as it has them now
    ipv6_blocks: tuple[str, ...] = ()  # the peer VPC's IPv6 /56s


@dataclass(frozen=True)
class EndpointNode:
    """One ENI of an interface VPC endpoint: the namespace holds its address and serves ec2d's
    HTTPS endpoint there, behind the endpoint's security groups; VPC DNS answers ``names`` with it."""

    eni_id: str
    subnet_id: str
    ip: str
    group_ids: tuple[str, ...]
    names: tuple[str, ...]


@dataclass(frozen=True)
class LocalNode:
    """One node of a load balancer: an ENI in one subnet whose address the VPC's namespace holds
    itself (the proxy runs there), its security groups, its public IPv4 (internet-facing) and the
    load balancer's DNS name."""

    eni_id: str
    subnet_id: str
    ip: str
    group_ids: tuple[str, ...]
    public_ip: str | None
    dns_name: str


def public_dns_name(ip: str, region: str) -> str:
    host = "ec2-" + ip.replace(".", "-")
    return f"{host}.compute-1.amazonaws.com" if region == "us-east-1" else f"{host}.{region}.compute.amazonaws.com"


def secondary_ips(eni: Record) -> list[str]:
    return list(eni.data.get("SecondaryPrivateIps") or [])


def ipv4s(eni: Record) -> tuple[str, ...]:
    """The interface's IPv4 addresses, primary first (none in an IPv6-only subnet)."""
    primary = eni.data.get("PrivateIpAddress")
    return (primary, *secondary_ips(eni)) if primary else ()


def ipv6s(eni: Record) -> list[str]:
    return list(eni.data.get("Ipv6Addresses") or [])


def metadata_key(view: VpcView, instance: Record) -> str | None:
    """The source address the metadata service knows the instance by: its private IPv4 address,
    or in an IPv6-only subnet its primary interface's first IPv6 address."""
    if instance.data.get("PrivateIpAddress"):
        return str(instance.data["PrivateIpAddress"])
    primary = next((e for e in view.enis.get(instance.id, ()) if e.id == instance.data["NetworkInterfaceId"]), None)
    return (ipv6s(primary) or [None])[0] if primary is not None else None


# ---------------------------------------------------------------------------------------------
# DHCP and NAT


def leases(view: VpcView) -> list[Lease]:
    """A static lease (MAC, address, ``ip-a-b-c-d`` name, first IPv6 address for DHCPv6) for
    every ENI of every instance; in an IPv6-only subnet DHCPv6 only, named by the instance id."""
    return [Lease(e.data["MacAddress"], ip, "ip-" + ip.replace(".", "-") if ip else r.id, (ipv6s(e) or [None])[0])
            for r in view.instances for e in view.enis.get(r.id, ())
            for ip in [e.data.get("PrivateIpAddress")] if ip or ipv6s(e)]


def subnet_ipv6_block(subnet: Record) -> str | None:
    """The subnet's IPv6 /64, None when it has none."""
    blocks = _ipv6_blocks(subnet)
    return blocks[0] if blocks else None


def subnet_is_public(view: VpcView, subnet: Record) -> bool:
    """The subnet's route table (its own, else the VPC's main one) sends some destinations to the
    VPC's attached internet gateway (its public addresses are then reachable from there)."""
    igw_id = view.igw.id if view.igw is not None else None
    live = route_plan.live_targets(igw_id, view.nat_gateways, [p.pcx_id for p in view.peerings])
    return bool(route_plan.internet_ranges(view.route_tables, subnet.id, igw_id, live, view.prefix_lists))


def egress(view: VpcView) -> list[SubnetEgress]:
    """What may leave each subnet through the internet gateway, and through which NAT gateway."""
    return route_plan.egress(view.route_tables, view.subnets, view.igw.id if view.igw is not None else None,
                             view.nat_gateways, view.prefix_lists)


def has_public_link(view: VpcView) -> bool:
    """The VPC is joined to the public network: it has an attached internet gateway or an
    egress-only internet gateway (IPv6 out only)."""
    return view.igw is not None or bool(view.eigws)


def egress6(view: VpcView) -> list[SubnetEgress6]:
    """What crosses the VPC's link to the public network over IPv6, per subnet with a /64."""
    return route_plan.egress6(view.route_tables, view.subnets, _ipv6_blocks(view.vpc),
                              view.igw.id if view.igw is not None else None, list(view.eigws))


def record_ipv6_blocks(record: Record) -> list[str]:
    """A VPC's (or subnet's) IPv6 blocks."""
    return _ipv6_blocks(record)


def vpc_ipv6_blocks(view: VpcView) -> list[str]:
    """The VPC's IPv6 /56s (the public side routes them to the VPC's link)."""
    return _ipv6_blocks(view.vpc)


ROUTING_STATES = ("pending", "running")  # an instance in these states carries its ENIs' routes


def subnet_routes(view: VpcView) -> list[SubnetRoute]:
    """Per subnet, the destinations its route table sends to an ENI, as next hops (the ENI's
    address) or blackholes (the ENI's instance is not running, or it is detached or gone)."""
    hops = {e.id: (e.data["PrivateIpAddress"], e.data["SubnetId"]) for r in view.instances
            if r.state in ROUTING_STATES for e in view.enis.get(r.id, ())
            if e.data["SubnetId"] in view.subnets and e.data.get("PrivateIpAddress")}
    return [SubnetRoute(subnet_id, cidr, *(hop or (None, None)))
            for subnet_id, cidr, hop in route_plan.eni_routes(view.route_tables, view.subnets, hops, view.prefix_lists)]


def nat_table(view: VpcView) -> dict[str, str]:
    """``{public ip: private ip}`` for the VPC's reachable instances (in a public subnet)."""
    public = {subnet_id: subnet_is_public(view, subnet) for subnet_id, subnet in view.subnets.items()}
    out: dict[str, str] = {}
    for r in view.instances:
        if r.state not in HOLDS_PUBLIC_IP:
            continue
        ip = view.public_ips.get(r.id)
        if ip and public.get(r.data["SubnetId"]) and r.data.get("PrivateIpAddress"):
            out[ip] = r.data["PrivateIpAddress"]
    for n in view.nodes:
        if n.public_ip and public.get(n.subnet_id):
            out[n.public_ip] = n.ip
    return out


def local_addresses(view: VpcView) -> list[LocalAddress]:
    """The addresses the namespace holds on the subnet bridges: every load balancer node's and
    interface endpoint ENI's."""
    return [LocalAddress(n.subnet_id, n.ip) for n in (*view.nodes, *view.endpoint_nodes) if n.subnet_id in view.subnets]


def endpoint_addresses(view: VpcView) -> list[str]:
    """The interface endpoints' ENI addresses, where ec2d's HTTPS endpoint listens."""
    return sorted({n.ip for n in view.endpoint_nodes if n.subnet_id in view.subnets})


def host_records(view: VpcView) -> list[HostRecord]:
    """Each load balancer's DNS name -> its nodes' private addresses, and the Elastic IPs' reverse
    DNS names (:func:`ptr_records`). (AWS answers an
    internet-facing balancer's public addresses everywhere; inside the VPC ec2d answers the
    private ones, which reach the same nodes without a hairpin through the public network.)"""
    return [*(HostRecord(n.dns_name, n.ip) for n in view.nodes if n.subnet_id in view.subnets), *view.ptr_records,
            *(HostRecord(name, n.ip) for n in view.endpoint_nodes if n.subnet_id in view.subnets for name in n.names),
            *aaaa_records(view)]


def aaaa_records(view: VpcView) -> list[HostRecord]:
    """The resource names (``i-....ec2.internal``) of instances launched into a subnet with
    ``EnableResourceNameDnsAAAARecordOnLaunch``: AAAA records of their primary IPv6 address."""
    out = []
    for r in view.instances:
        options = r.data.get("PrivateDnsNameOptions") or {}
        primary = next((e for e in view.enis.get(r.id, ()) if e.id == r.data["NetworkInterfaceId"]), None)
        if r.state in ACTIVE and options.get("EnableResourceNameDnsAAAARecord") and primary and ipv6s(primary):
            out.append(HostRecord(hostnames.resource_name(r.id, r.region), ipv6s(primary)[0]))
    return out


def ptr_records(eips: Sequence[Record]) -> list[HostRecord]:
    """Each Elastic IP's custom reverse DNS name (``address_ptr.served``): the resolver answers the
    address's PTR query with it (and the name's A query with the address, the forward record EC2
    requires of such a name)."""
    return [HostRecord(name, e.data["PublicIp"]) for e in eips if (name := address_ptr.served(e.data, e.region))]


# ---------------------------------------------------------------------------------------------
# firewall


def stored_rule(group_id: str, *, egress: bool, protocol: str, from_port: int | None, to_port: int | None,
                cidr: str | None, group: str | None, description: str | None,
                prefix_list: str | None = None, cidr6: str | None = None) -> dict[str, Any]:
    """A security-group rule as the store keeps it (one per peer, as DescribeSecurityGroupRules);
    a rule whose peer is a managed prefix list carries its id (``PrefixListId``), one whose peer
    is an IPv6 CIDR that CIDR (``CidrIpv6``)."""
    rule = {"SecurityGroupRuleId": ids.new_id("sgr"), "GroupId": group_id, "IsEgress": egress,
            "IpProtocol": protocol, "FromPort": from_port, "ToPort": to_port, "CidrIpv4": cidr,
            "ReferencedGroupId": group, "Description": description}
    if prefix_list:
        rule["PrefixListId"] = prefix_list
    if cidr6:
        rule["CidrIpv6"] = cidr6
    return rule


def ensure_rules_field(record: Record) -> list[dict[str, Any]]:
    """Groups made by vpcs.create_vpc_record carry IpPermissions; convert them once to flat rules."""
    if "Rules" not in record.data:
        rules = [stored_rule(record.id, egress=True, protocol="-1", from_port=None, to_port=None, cidr="0.0.0.0/0",
                             group=None, description=None)]
        if record.data.get("GroupName") == "default":  # EC2's default group: members talk to each other
            rules.append(stored_rule(record.id, egress=False, protocol="-1", from_port=None, to_port=None, cidr=None,
                                     group=record.id, description=None))
        record.data["Rules"] = rules
        record.data.pop("IpPermissions", None)
        record.data.pop("IpPermissionsEgress", None)
    rules: list[dict[str, Any]] = record.data["Rules"]
    return rules


def firewall_rule(rule: Mapping[str, Any], prefix_lists: Mapping[str, Sequence[str]] | None = None) -> fw.Rule:
    """The firewall model of one stored rule (the one conversion the API's check and the runtime
    both use). A rule naming a prefix list matches the list's current CIDRs (``prefix_lists``: pl
    id -> CIDRs; a list not there matches nothing). Never raises on odd data: the firewall's check
    does the judging."""
    cidr, ref, pl = rule.get("CidrIpv4"), rule.get("ReferencedGroupId"), rule.get("PrefixListId")
    cidrs: tuple[Any, ...] = tuple(c for c in (cidr, rule.get("CidrIpv6")) if c)
    if pl:
        found = (prefix_lists or {}).get(pl, ())
        cidrs += tuple(found) if isinstance(found, (list, tuple)) else (found,)
    return fw.Rule(rule.get("IpProtocol"), rule.get("FromPort"), rule.get("ToPort"),  # type: ignore[arg-type]
                   cidrs=cidrs, group_ids=(ref,) if ref else ())


def prefix_list_ids(groups: Sequence[Record], tables: Sequence[Record] = ()) -> set[str]:
    """The prefix lists the groups' rules and the route tables' routes name (whose CIDRs the VPC's
    firewall and route filters need)."""
    return {r["PrefixListId"] for g in groups for r in (g.data.get("Rules") or [])
            if isinstance(r, Mapping) and r.get("PrefixListId")} | {
        str(r["DestinationPrefixListId"]) for t in tables for r in t.data["Routes"] if r.get("DestinationPrefixListId")}


def firewall_group(group: Record, prefix_lists: Mapping[str, Sequence[str]] | None = None) -> fw.SecurityGroup:
    """The firewall model of a stored group (its prefix-list rules with ``prefix_lists``' CIDRs);
    the driver quarantines it if a rule fails its check."""
    ingress, egress = [], []
    rules = group.data.get("Rules")
    if rules is None:
        rules = ensure_rules_field(group)
    for r in rules if isinstance(rules, list) else [rules]:
        if not isinstance(r, Mapping):
            ingress.append(fw.Rule(repr(r)))  # fails the firewall's check: the group allows nothing
            continue
        (egress if r.get("IsEgress") else ingress).append(firewall_rule(r, prefix_lists))
    return fw.SecurityGroup(group.id, tuple(ingress), tuple(egress))


def with_peer_members(group: fw.SecurityGroup, peer_members: Mapping[str, tuple[str, ...]]) -> fw.SecurityGroup:
    """``group`` with its rules that reference a group of a peered VPC also matching that group's
    members' addresses (the firewall only knows the members of its own VPC's groups)."""
    def one(rule: fw.Rule) -> fw.Rule:
        ips = sorted({ip for gid in rule.group_ids for ip in peer_members.get(gid, ())})
        return dataclasses.replace(rule, cidrs=(*rule.cidrs, *(f"{ip}/32" for ip in ips))) if ips else rule
    if not peer_members:
        return group
    return dataclasses.replace(group, ingress=tuple(one(r) for r in group.ingress),
                               egress=tuple(one(r) for r in group.egress))


S3_PORT, S3_GROUP = "eni-s3", "sg-s3"  # S3's addresses as a port of the namespace, open to all


def firewall_model(view: VpcView, tap_name: Callable[[str], str]) -> tuple[list[fw.Port], dict[str, fw.SecurityGroup]]:
    """The ports (every ENI of an active instance) and groups the VPC's ruleset is compiled from.
    Raises on records the model cannot express (the caller then locks the VPC down)."""
    groups = {g.id: with_peer_members(firewall_group(g, view.prefix_lists), view.peer_members) for g in view.groups}
    ports = [fw.Port(e.id, tap_name(e.id), e.data["MacAddress"], ipv4s(e),
                     tuple(g["GroupId"] for g in e.data["Groups"] if g["GroupId"] in groups),
                     source_dest_check=e.data.get("SourceDestCheck", True), ipv6s=tuple(e.data.get("Ipv6Addresses") or ()))
             for r in view.instances if r.state in ACTIVE for e in view.enis.get(r.id, ())]
    ports += [fw.local_port(n.eni_id, (n.ip,), tuple(g for g in n.group_ids if g in groups))
              for n in (*view.nodes, *view.endpoint_nodes)]
    if view.regions:  # S3's addresses: whatever reaches them (service_access) passes the sender's egress rules
        groups[S3_GROUP] = fw.SecurityGroup(S3_GROUP, ingress=(fw.Rule("-1", cidrs=("0.0.0.0/0",)),))
        ports.append(fw.local_port(S3_PORT, tuple(sorted({s3_address(r) for r in view.regions})), (S3_GROUP,)))
    return ports, groups


# ---------------------------------------------------------------------------------------------
# metadata


def metadata_table(view: VpcView, credentials: Callable[[str], dict[str, object]],
                   roles: InstanceRoles | None = None) -> dict[str, InstanceMetadata]:
    """``{private ip: metadata}`` of the VPC's active instances (an IPv6-only one: by its first
    IPv6 address, :func:`metadata_key`); ``credentials(instance_id)`` gives the identity credentials
    (asked at request time: they rotate), ``roles`` the instance roles."""
    return {key: instance_metadata(view, r, credentials, roles)
            for r in view.instances if r.state in ACTIVE for key in [metadata_key(view, r)] if key}


def imds6_key(vpc_id: str) -> str:
    """The metadata service's listener key of the VPC's IPv6 address ([fd00:ec2::254])."""
    return f"{vpc_id}#ipv6"


def metadata_table6(view: VpcView, table: Mapping[str, InstanceMetadata]) -> dict[str, InstanceMetadata]:
    """``{IPv6 address: metadata}`` (``table``'s entries, keyed by private IP) of the instances
    whose ``HttpProtocolIpv6`` is enabled: every IPv6 address of their interfaces."""
    return {ip: table[key] for r in view.instances for key in [metadata_key(view, r)]
            if r.state in ACTIVE and key in table
            and (r.data.get("MetadataOptions") or {}).get("HttpProtocolIpv6") == "enabled"
            for e in view.enis.get(r.id, ()) for ip in ipv6s(e)}


def iam_role(roles: InstanceRoles | None, rec: Record) -> IamRole | None:
    """The instance's role for ``iam/`` (None: no profile with a role attached, no ``iam/``);
    its credentials are asked of ``roles`` at request time (they rotate)."""
    found = roles.attached(rec) if roles is not None else None
    if roles is None or found is None:
        return None
    name, arn, profile_id, since = found
    return IamRole(name=name, credentials=lambda iid=rec.id: roles.credentials(iid),
                   cached_credentials=lambda iid=rec.id: roles.peek(iid), instance_profile_arn=arn,
                   instance_profile_id=profile_id, last_updated=since)


def instance_metadata(view: VpcView, rec: Record, credentials: Callable[[str], dict[str, object]],
                      roles: InstanceRoles | None = None) -> InstanceMetadata:
    d = rec.data
    subnet = view.subnets[d["SubnetId"]]
    image = view.images.get(d["ImageId"])
    bdm = {"ami": d["RootDeviceName"], "root": d["RootDeviceName"]}
    for n, m in enumerate(d["BlockDeviceMappings"][1:], start=1):
        bdm[f"ebs{n}"] = m["DeviceName"]
    opts = d["MetadataOptions"]
    tags = dict(view.tags.get(rec.id) or {}) if opts.get("InstanceMetadataTags") == "enabled" else {}
    return InstanceMetadata(
        instance_id=rec.id, image_id=d["ImageId"], instance_type=d["InstanceType"],
        reservation_id=d["ReservationId"], region=rec.region, availability_zone=d["AvailabilityZone"],
        availability_zone_id=view.zone_ids.get(d["AvailabilityZone"], d["AvailabilityZone"]),
        account_id=d["OwnerId"], private_ip=d.get("PrivateIpAddress"), mac=d["MacAddress"],
        hostname=hostnames.instance_hostname(rec.id, rec.region, d),
        subnet_id=d["SubnetId"], subnet_cidr=subnet.data.get("CidrBlock"),
        vpc_id=d["VpcId"], vpc_cidrs=vpc_cidrs.network_cidrs(view.vpc.data), interface_id=d["NetworkInterfaceId"],
        launched_at=dt.datetime.fromisoformat(d["LaunchTime"].replace("Z", "+00:00")),
        ami_launch_index=d["AmiLaunchIndex"],
        security_groups=[g["GroupName"] for g in d["SecurityGroups"]],
        security_group_ids=[g["GroupId"] for g in d["SecurityGroups"]],
        public_keys=[(d["KeyName"], d["PublicKey"])] if d.get("PublicKey") else [],
        user_data=base64.b64decode(d["UserData"]) if d.get("UserData") else None,
        block_device_mapping=bdm,
        tags=tags,
        options=MetadataOptions(
            http_tokens=opts["HttpTokens"], http_endpoint=opts["HttpEndpoint"],
            http_put_response_hop_limit=int(opts["HttpPutResponseHopLimit"]),
            instance_metadata_tags=opts.get("InstanceMetadataTags", "disabled")),
        ami_manifest_path=(image.data.get("ImageLocation") if image else None) or "(unknown)",
        identity_credentials=lambda iid=rec.id: credentials(iid),
        iam_role=iam_role(roles, rec),
        network_interfaces=interfaces_metadata(view, rec),
        public_ip=view.public_ips.get(rec.id),
    )


def interfaces_metadata(view: VpcView, rec: Record) -> list[NetworkInterface]:
    out = []
    public = view.public_ips.get(rec.id)
    vpc = view.vpc
    for n, eni in enumerate(view.enis.get(rec.id, ())):
        subnet = view.subnets[eni.data["SubnetId"]]
        pub = public if n == 0 else None
        out.append(NetworkInterface(
            mac=eni.data["MacAddress"], interface_id=eni.id,
            device_number=(eni.data.get("Attachment") or {}).get("DeviceIndex", n),
            private_ips=list(ipv4s(eni)),
            local_hostname=private_dns_name(ipv4s(eni)[0], rec.region) if ipv4s(eni)
            else hostnames.resource_name(rec.id, rec.region),
            owner_id=eni.data["OwnerId"], subnet_id=subnet.id, subnet_cidr=subnet.data.get("CidrBlock"),
            vpc_id=vpc.id, vpc_cidrs=vpc_cidrs.network_cidrs(vpc.data),
            security_groups=[g["GroupName"] for g in eni.data["Groups"]],
            security_group_ids=[g["GroupId"] for g in eni.data["Groups"]],
            public_ip=pub, public_hostname=public_dns_name(pub, rec.region) if pub else None,
            ipv6s=list(eni.data.get("Ipv6Addresses") or []),
            subnet_ipv6_cidrs=_ipv6_blocks(subnet), vpc_ipv6_cidrs=_ipv6_blocks(vpc)))
    return out


def _ipv6_blocks(record: Record) -> list[str]:
    """A subnet's or VPC's IPv6 blocks (``Ipv6CidrBlockAssociationSet``)."""
    return [a["Ipv6CidrBlock"] for a in record.data.get("Ipv6CidrBlockAssociationSet") or []]
