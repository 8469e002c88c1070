"""VPC networks: bring them up and down, and bring their firewall, DHCP leases, metadata table and
NAT in line with the store (``sync``). What each of those holds is computed by the pure functions
of :mod:`vpc_state`; this module reads the records and applies the results through the drivers."""

from __future__ import annotations

import logging

from orchestrator.domain import prefix_lists, vpc_cidrs, vpc_endpoints, vpc_peering
from orchestrator.domain.egress_gateways import EGRESS_ONLY_IGW
from orchestrator.domain.lifecycle import NatGatewayState
from orchestrator.domain.prefix_lists import PREFIX_LIST, PrefixListState
from orchestrator.domain.records import LOAD_BALANCER, NAT_GATEWAY
from orchestrator.domain.states import ACTIVE
from orchestrator.domain.vpc_peering import VPC_PEERING, VpcPeeringState
from orchestrator.drivers.network import firewall as fw
from orchestrator.drivers.network import routes
from orchestrator.runtime import dhcp_state, endpoint_listeners, peering_state, service_access, vpc_state
from orchestrator.runtime import records as rec
from orchestrator.runtime.parts import Parts
from orchestrator.runtime.vpc_state import VpcView
from orchestrator.store.sqlite import Record, Store

log = logging.getLogger("ec2d.runtime")
ENDPOINT_ROUTES = (str(vpc_endpoints.VpcEndpointState.PENDING), str(vpc_endpoints.VpcEndpointState.AVAILABLE))


def read_view(parts: Parts, region: str, vpc: Record) -> VpcView:
    """Every record the VPC's state depends on, read from the store once."""
    store = parts.model.store
    instances = rec.vpc_instances(store, region, vpc.id)
    tagged = [r.id for r in instances if r.data["MetadataOptions"].get("InstanceMetadataTags") == "enabled"]
    image_ids = {r.data["ImageId"] for r in instances}
    zones = {z: parts.model.regions.zone(z) for z in {r.data["AvailabilityZone"] for r in instances}}
    groups = [g for g in store.list(rec.SECURITY_GROUP, region) if g.data.get("VpcId") == vpc.id]
    tables = [t for t in store.list(rec.RTB, region) if t.data["VpcId"] == vpc.id]
    return VpcView(
        vpc=vpc,
        subnets={s.id: s for s in rec.subnets(store, region, vpc.id)},
        instances=instances,
        enis=rec.attached_enis_of(store, instances),
        groups=groups,
        route_tables=tables,
        igw=rec.attached_igw(store, region, vpc.id),
        public_ips=rec.public_ips_of(store, region, instances),
        images={i: image for i in image_ids if (image := store.get(i)) is not None},
        tags={i: store.tags_of(i) for i in tagged},
        zone_ids={name: z.zone_id for name, z in zones.items() if z is not None},
        nodes=load_balancer_nodes(store, region, vpc.id),
        nat_gateways=[n for n in store.list(NAT_GATEWAY, region)
                      if n.data["VpcId"] == vpc.id and n.state != str(NatGatewayState.DELETED)],
        peerings=(peerings := peer_sides(parts, vpc.id)),
        peer_members=peer_members(parts, region, peerings),
        prefix_lists=prefix_list_cidrs(store, vpc_state.prefix_list_ids(groups, tables), list(parts.networks)),
        endpoints=[e.id for e in store.list(vpc_endpoints.VPC_ENDPOINT, region)
                   if e.data["VpcId"] == vpc.id and e.state in ENDPOINT_ROUTES],
        regions=list(parts.networks),
        endpoint_nodes=endpoint_listeners.endpoint_nodes(store, region, vpc.id),
        ptr_records=vpc_state.ptr_records(store.list(rec.EIP, region)),
        eigws=[g.id for g in store.list(EGRESS_ONLY_IGW, region) if g.data["VpcId"] == vpc.id],
    )


def peer_sides(parts: Parts, vpc_id: str) -> list[vpc_state.PeerSide]:
    """The VPC's active peering connections (stored in the requester's region)."""
    out = []
    for region in parts.networks:
        for r in parts.model.store.list(VPC_PEERING, region):
            peer = vpc_peering.other_side(r.data, vpc_id)
            if r.state != str(VpcPeeringState.ACTIVE) or peer is None or peer["Region"] not in parts.networks:
                continue
            peer_vpc = parts.model.store.get(peer["VpcId"])
            out.append(vpc_state.PeerSide(r.id, peer["VpcId"], peer["CidrBlock"],
                                          parts.networks[peer["Region"]].netns_name(peer["VpcId"]),
                                          r.data["RequesterVpcInfo"]["VpcId"] == vpc_id, peer["Region"],
                                          tuple(vpc_cidrs.secondary_cidrs(peer_vpc.data)) if peer_vpc else (),
                                          tuple(vpc_state.record_ipv6_blocks(peer_vpc)) if peer_vpc else ()))
    return out


def peer_members(parts: Parts, region: str, peerings: list[vpc_state.PeerSide]) -> dict[str, tuple[str, ...]]:
    """Security group id -> addresses of its members, for the groups of the peered VPCs of the
    same region (rules may reference them, as on EC2)."""
    store = parts.model.store
    members: dict[str, set[str]] = {}
    for p in peerings:
        if p.peer_region != region:
            continue
        for inst in rec.vpc_instances(store, region, p.peer_vpc_id):
            if inst.state not in ACTIVE:
                continue
            for eni in rec.attached_enis(store, inst):
                for g in eni.data["Groups"]:
                    members.setdefault(g["GroupId"], set()).update(
                        vpc_state.ipv4s(eni))
    return {gid: tuple(sorted(ips)) for gid, ips in members.items()}


def prefix_list_cidrs(store: Store, pl_ids: set[str], regions: list[str] | None = None) -> dict[str, tuple[str, ...]]:
    """The current CIDRs of each named prefix list, AWS-managed ones of ``regions`` included (a
    missing one: none, its rules match nothing)."""
    out: dict[str, tuple[str, ...]] = {}
    for pl_id in pl_ids:
        if (managed := vpc_endpoints.aws_prefix_list(pl_id, regions or [])) is not None:
            out[pl_id] = tuple(managed[1]["Cidrs"])
            continue
        found = store.get(pl_id)
        out[pl_id] = prefix_lists.cidrs(found.data) if found is not None and found.type == PREFIX_LIST else ()
    return out


_IN_PROGRESS = {str(PrefixListState.MODIFY_IN_PROGRESS): str(PrefixListState.MODIFY_COMPLETE),
                str(PrefixListState.RESTORE_IN_PROGRESS): str(PrefixListState.RESTORE_COMPLETE)}


def settle_prefix_lists(store: Store, region: str) -> None:
    """Start-up, once every VPC's firewall was applied from the store: a list left
    ``modify-in-progress`` (ec2d stopped before the VPCs naming it followed) has been followed now."""
    for pl in store.list(PREFIX_LIST, region):
        if pl.state in _IN_PROGRESS:
            store.transition(pl.id, pl.state, _IN_PROGRESS[pl.state])


def load_balancer_nodes(store: Store, region: str, vpc_id: str) -> list[vpc_state.LocalNode]:
    """The nodes of the VPC's load balancers (every state: a provisioning one is being brought up)."""
    return [vpc_state.LocalNode(n["NetworkInterfaceId"], n["SubnetId"], n["PrivateIpAddress"],
                                tuple(lb.data["SecurityGroups"]), n.get("PublicIp"), lb.data["DNSName"])
            for lb in store.list(LOAD_BALANCER, region) if lb.data["VpcId"] == vpc_id for n in lb.data["Nodes"]]


class VpcNetworks:
    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.jobs = parts.jobs
        # per VPC: syncs asked so far, and the count of asks the last completed sync had seen when
        # it read the store (``sync``: the asks it covered)
        self.sync_asked: dict[str, int] = {}
        self.sync_covered: dict[str, int] = {}

    async def ensure_vpc(self, vpc: Record) -> None:
        p = self.parts
        net = p.networks[vpc.region]
        await self.jobs.call(net.ensure_vpc, vpc.id, vpc.data["CidrBlock"])
        await self.jobs.call(net.set_secondary_cidrs, vpc.id, vpc_cidrs.secondary_cidrs(vpc.data))
        for subnet in rec.subnets(p.model.store, vpc.region, vpc.id):
            await self.jobs.call(net.ensure_subnet, vpc.id, subnet.id, subnet.data.get("CidrBlock"),
                                 vpc_state.subnet_ipv6_block(subnet))
        if vpc.id not in p.listening and p.open_listener is not None:
            sock = await self.jobs.call(p.open_listener, net.netns_name(vpc.id))
            await p.imds.add_listener(vpc.id, sock)
            if p.open_listener6 is not None:
                await p.imds.add_listener(vpc_state.imds6_key(vpc.id),
                                          await self.jobs.call(p.open_listener6, net.netns_name(vpc.id)))
            p.listening.add(vpc.id)
        if vpc.id not in p.endpoint_listening and p.endpoint is not None:
            for key, opener, tls in p.endpoint.listeners(vpc.id):
                sock = await self.jobs.call(opener, net.netns_name(vpc.id))
                await p.endpoint.server.add_listener(key, sock, tls)
            p.endpoint_listening.add(vpc.id)
        await self.sync(vpc.region, vpc.id)

    async def ensure_subnet(self, subnet: Record) -> None:
        await self.jobs.call(self.parts.networks[subnet.region].ensure_subnet, subnet.data["VpcId"], subnet.id,
                             subnet.data.get("CidrBlock"), vpc_state.subnet_ipv6_block(subnet))

    async def delete_subnet(self, subnet: Record) -> None:
        await self.jobs.call(self.parts.networks[subnet.region].delete_subnet, subnet.data["VpcId"], subnet.id)

    async def delete_vpc(self, vpc: Record) -> None:
        p = self.parts
        if vpc.id in p.listening:
            await p.imds.remove_listener(vpc.id)
            if p.open_listener6 is not None:
                await p.imds.remove_listener(vpc_state.imds6_key(vpc.id))
            p.listening.discard(vpc.id)
        if p.endpoint is not None and vpc.id in p.endpoint_listening:
            for key, _, _ in p.endpoint.listeners(vpc.id):
                await p.endpoint.server.remove_listener(key)
            p.endpoint_listening.discard(vpc.id)
        await endpoint_listeners.close_listeners(p, vpc.id)
        await self.jobs.call(p.networks[vpc.region].delete_vpc, vpc.id)

    async def host_conflicts(self, region: str, cidr: str) -> list[str]:
        net = self.parts.networks.get(region)
        if net is None:
            return routes.conflicts(cidr, [], [])  # the special ranges at least
        return await self.jobs.call(net.host_conflicts, cidr)

    async def sync(self, region: str, vpc_id: str) -> None:
        """Regenerate the VPC's firewall, DHCP leases, metadata table and NAT from the store.
        The firewall goes first: a DHCP or metadata failure never keeps a change of rules (or a
        new port's anti-spoofing) out of the kernel.

        Syncs of one VPC run one at a time, each reading the store only once it holds the VPC's
        lock: two syncs racing (say, after two terminations) could otherwise apply their snapshots
        in the wrong order and leave the older one in force.

        Syncs asked while another waits share its work: a sync whose store read came after this
        one was asked (so after the caller's writes) and that completed covers it, and it returns
        without reading again (100 instances launched together cost a few syncs of their VPC, not
        100, each reading every instance of it)."""
        asked = self.sync_asked[vpc_id] = self.sync_asked.get(vpc_id, 0) + 1
        async with self.jobs.lock(f"vpc-sync:{vpc_id}"):
            if self.sync_covered.get(vpc_id, 0) >= asked:
                return  # (its peers were synced by the sync that covered this one)
            covers = self.sync_asked[vpc_id]  # every ask so far: _sync reads the store before any await
            peers = await self._sync(region, vpc_id)
            self.sync_covered[vpc_id] = covers
        for peer in peers:  # their rules may reference this VPC's groups, whose members may have changed
            await self.sync_firewall(peer.peer_region, None, peer.peer_vpc_id)

    def refresh(self, region: str, vpc_id: str) -> None:
        """:meth:`sync` in the background."""
        self.jobs.spawn(self.sync(region, vpc_id))

    async def _sync(self, region: str, vpc_id: str) -> list[vpc_state.PeerSide]:
        """One sync; returns the VPC's active peerings."""
        p = self.parts
        vpc = p.model.store.get(vpc_id)
        if vpc is None:
            return []  # the VPC is gone (its namespace with it)
        net = p.networks[region]
        try:  # (in a worker thread, as the tables below that grow with the VPC: with 10,000
            # instances each takes a good part of a second that the event loop keeps serving)
            view = await self.jobs.call(read_view, p, region, vpc)
        except Exception as exc:  # the store holds something the model cannot express: fail closed
            await self._lockdown(region, vpc_id, exc)
            raise
        await self.sync_firewall(region, view)
        await self.jobs.call(lambda: net.set_service_access(vpc_id, service_access.s3_access(view)))
        options_set = p.model.store.get(vpc.data["DhcpOptionsId"]) if vpc.data["DhcpOptionsId"] != "default" else None
        await self.jobs.call(net.set_dhcp_options, vpc_id, dhcp_state.vpc_dhcp_options(vpc, options_set))
        await self.jobs.call(lambda: net.set_leases(vpc_id, vpc_state.leases(view)))
        await self.jobs.call(p.networks[region].set_local_addresses, vpc_id, vpc_state.local_addresses(view),
                             vpc_state.host_records(view))
        await endpoint_listeners.sync_listeners(p, self.jobs, p.networks[region].netns_name(vpc_id), vpc_id,
                                                vpc_state.endpoint_addresses(view))
        if vpc_id in p.listening:
            sessions = p.model.sessions
            table = vpc_state.metadata_table(view, lambda i: sessions.for_owner(i).as_imds(), p.model.roles)
            p.imds.set_instances(vpc_id, table)
            if p.open_listener6 is not None:
                p.imds.set_instances(vpc_state.imds6_key(vpc_id), vpc_state.metadata_table6(view, table))
        await self.sync_public(region, view)
        await self.jobs.call(p.networks[region].set_peerings, vpc_id, peering_state.peering_links(view))
        await self.jobs.call(p.networks[region].set_subnet_routes, vpc_id, vpc_state.subnet_routes(view))
        return list(view.peerings)

    async def sync_firewall(self, region: str, view: VpcView | None, vpc_id: str | None = None) -> None:
        """Security groups of the VPC, rendered and applied atomically in its namespace.

        Never raises: the driver fails closed (a group it cannot compile allows nothing, a ruleset
        it cannot compile or apply becomes a lockdown that forwards nothing) and logs why; only when
        not even that could be applied is the error logged here, as critical. ``view`` None: the VPC
        ``vpc_id`` is read from the store."""
        p = self.parts
        vpc_id = view.vpc.id if view is not None else vpc_id
        assert vpc_id is not None
        if p.firewall is None or p.model.store.get(vpc_id) is None:
            return
        net = p.networks[region]
        def model() -> tuple[list[fw.Port], dict[str, fw.SecurityGroup]]:  # (a worker thread: grows with the VPC)
            nonlocal view
            if view is None:
                vpc = p.model.store.get(vpc_id)
                assert vpc is not None
                view = read_view(p, region, vpc)
            return vpc_state.firewall_model(view, net.tap_name)
        try:
            ports, groups = await self.jobs.call(model)
        except Exception as exc:  # the store holds something the model cannot express: fail closed
            await self._lockdown(region, vpc_id, exc)
            return
        try:
            await self.jobs.call(p.firewall.sync, net.netns_name(vpc_id), vpc_id, ports, groups)
        except Exception:
            log.critical("%s: security groups could not be applied, not even as a lockdown", vpc_id,
                         exc_info=True)

    async def lockdown(self, region: str, vpc_id: str, reason: str) -> None:
        """Forward nothing in the VPC (its network could not be brought up)."""
        p = self.parts
        if p.firewall is None or p.model.store.get(vpc_id) is None:
            return
        try:
            await self.jobs.call(p.firewall.lockdown, p.networks[region].netns_name(vpc_id), vpc_id, reason)
        except Exception:
            log.critical("%s: LOCKDOWN could not be applied either", vpc_id, exc_info=True)

    async def _lockdown(self, region: str, vpc_id: str, exc: Exception) -> None:
        log.exception("%s: security-group model unreadable, locking the VPC down", vpc_id)
        await self.lockdown(region, vpc_id, f"model unreadable: {exc}")

    async def sync_public(self, region: str, view: VpcView) -> None:
        """Internet gateway link (also an egress-only internet gateway's), 1:1 NAT, NAT gateways and
        the route-table filters (IPv4 and IPv6) of the VPC."""
        p = self.parts
        if p.public is None:
            return
        vpc_id = view.vpc.id
        ns = p.networks[region].netns_name(vpc_id)
        if not vpc_state.has_public_link(view):
            await self.jobs.call(p.public.detach_vpc, vpc_id, ns)
            return
        await self.jobs.call(p.public.attach_vpc, vpc_id, ns)
        await self.jobs.call(p.public.set_public_ips, vpc_id, ns, vpc_state.nat_table(view), vpc_state.egress(view))
        await self.jobs.call(p.public.set_ipv6, vpc_id, ns, vpc_state.vpc_ipv6_blocks(view), vpc_state.egress6(view))
