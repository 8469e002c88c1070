"""``LinuxVpcNetwork``: VPCs as network namespaces, bridges, dnsmasq and root unreachable routes
(links, addresses, routes and sysctls through :mod:`..netlink`; commands through :mod:`..rootops`)."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from orchestrator.domain.interface_endpoints import VPCE_DOMAIN
from orchestrator.domain.vpc_endpoints import s3_address, s3_host_names

from .. import imds_limit, netlink, rootops, routes
from ..dnsmasq import (
    DhcpOptions,
    DhcpSubnet,
    Dnsmasq,
    DnsmasqSpec,
    Lease,
    conf_file_of,
    dnsmasq_pids,
    terminate,
)
from ..errors import (
    AlreadyExists,
    InvalidArgument,
    LinkNotFound,
    NamespaceNotFound,
    SubnetNotFound,
    VpcNotFound,
)
from ..names import (
    LINK_LOCAL_DNS_IP,
    LINK_LOCAL_DNS_IPV6,
    METADATA_IP,
    METADATA_IPV6,
    SERVICE_DOMAIN,
    SERVICE_ENDPOINT_IP,
    SERVICE_IF,
    bridge_mac,
    bridge_name,
    check_prefix,
    dns_domain,
    is_tap_name,
    netns_prefix,
    prefix_of_netns,
    subnet_gateway,
    vpc_dns_ip,
)
from . import peering, service_access, subnet_routes
from .driver import (
    HostRecord,
    LocalAddress,
    SweepReport,
    VpcNetworkDriver,
    check_secondary_cidrs,
    check_subnet_cidrs,
    check_subnet_in_vpc,
)
from .peering import PeeringLink
from .subnet_routes import SubnetRoute

__all__ = ["LinuxVpcNetwork"]


@dataclass
class _VpcState:
    vpc_id: str
    cidr: str
    subnets: dict[str, str] = field(default_factory=dict)  # subnet id -> cidr
    secondary: list[str] = field(default_factory=list)  # secondary IPv4 CIDRs
    subnets6: dict[str, str] = field(default_factory=dict)  # subnet id -> its IPv6 /64 (when it has one)
    # (an IPv6-only subnet is in subnets6 only)
    leases: list[Lease] = field(default_factory=list)
    local: list[LocalAddress] = field(default_factory=list)  # the namespace's own addresses on bridges
    records: list[HostRecord] = field(default_factory=list)  # extra DNS records
    options: DhcpOptions | None = None  # the VPC's DHCP options set (None: the region's default)

    @property
    def cidrs(self) -> list[str]:
        """Every IPv4 CIDR of the VPC, the primary first."""
        return [self.cidr, *self.secondary]

    def subnet_ids(self) -> list[str]:
        """Every subnet, IPv6-only ones too."""
        return sorted(set(self.subnets) | set(self.subnets6))

    def to_json(self) -> str:
        return json.dumps(
            {
                "vpc_id": self.vpc_id,
                "cidr": self.cidr,
                "subnets": self.subnets,
                "secondary": self.secondary,
                "subnets6": self.subnets6,
                "leases": [[ls.mac, ls.ip, ls.hostname, ls.ipv6] for ls in self.leases],
                "local": [[a.subnet_id, a.ip] for a in self.local],
                "records": [[r.name, r.ip] for r in self.records],
                "options": None if self.options is None else _options_json(self.options),
            },
            indent=1,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> _VpcState:
        d = json.loads(text)
        return cls(
            vpc_id=d["vpc_id"],
            cidr=d["cidr"],
            subnets=dict(d.get("subnets", {})),
            secondary=list(d.get("secondary", [])),
            subnets6=dict(d.get("subnets6", {})),
            leases=[Lease(*x) for x in d.get("leases", [])],
            local=[LocalAddress(*x) for x in d.get("local", [])],
            records=[HostRecord(*x) for x in d.get("records", [])],
            options=None if d.get("options") is None else _options_of(d["options"]),
        )


def _options_json(o: DhcpOptions) -> dict[str, object]:
    return {"domain_name": o.domain_name, "dns_servers": list(o.dns_servers), "ntp_servers": list(o.ntp_servers),
            "netbios_name_servers": list(o.netbios_name_servers), "netbios_node_type": o.netbios_node_type}


def _options_of(d: dict[str, object]) -> DhcpOptions:
    return DhcpOptions(d.get("domain_name"), tuple(d.get("dns_servers") or ()),  # type: ignore[arg-type]
                       tuple(d.get("ntp_servers") or ()), tuple(d.get("netbios_name_servers") or ()),  # type: ignore[arg-type]
                       d.get("netbios_node_type"))  # type: ignore[arg-type]


_HAS_IPV6 = os.path.exists("/proc/net/if_inet6")  # False on a kernel booted with ipv6.disable=1


class LinuxVpcNetwork(VpcNetworkDriver):
    """The real thing: namespaces, bridges, dnsmasq, root unreachable routes.

    ``run_dir`` holds one directory per VPC namespace (dnsmasq files + ``vpc.json``); it and its
    parents must be world-searchable because dnsmasq drops privileges.
    """

    STATE_FILE = "vpc.json"

    def __init__(self, prefix: str, run_dir: str, region: str = "us-east-1",
                 service_regions: Sequence[str] = ()) -> None:
        self.prefix = check_prefix(prefix)
        self.run_dir = os.path.abspath(run_dir)
        self.region = region
        # S3 has an address in every region ec2d serves, each served in every VPC namespace
        self.service_regions = list(service_regions) or [region]
        self.s3_addresses = sorted({s3_address(r) for r in self.service_regions})
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._dnsmasqs: dict[str, Dnsmasq] = {}  # one per VPC: it knows which dnsmasq it has reloaded

    # ------------------------------------------------------------------ helpers

    def _lock(self, vpc_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(vpc_id, threading.Lock())

    def _dir(self, vpc_id: str) -> str:
        return os.path.join(self.run_dir, self.netns_name(vpc_id))

    def _load(self, vpc_id: str) -> _VpcState | None:
        try:
            with open(os.path.join(self._dir(vpc_id), self.STATE_FILE)) as fh:
                return _VpcState.from_json(fh.read())
        except FileNotFoundError:
            return None

    def _require(self, vpc_id: str) -> _VpcState:
        state = self._load(vpc_id)
        if state is None or not netlink.netns_exists(self.netns_name(vpc_id)):
            raise VpcNotFound(f"VPC {vpc_id} has no network (namespace {self.netns_name(vpc_id)})")
        return state

    def _save(self, state: _VpcState) -> None:
        d = self._dir(state.vpc_id)
        os.makedirs(d, mode=0o755, exist_ok=True)
        tmp = os.path.join(d, self.STATE_FILE + ".tmp")
        with open(tmp, "w") as fh:
            fh.write(state.to_json())
        os.replace(tmp, os.path.join(d, self.STATE_FILE))

    def _dnsmasq(self, vpc_id: str) -> Dnsmasq:
        with self._locks_guard:
            found = self._dnsmasqs.get(vpc_id)
            if found is None:
                found = self._dnsmasqs[vpc_id] = Dnsmasq(self.netns_name(vpc_id), self._dir(vpc_id))
            return found

    def _sync_dnsmasq(self, state: _VpcState) -> str:
        spec = DnsmasqSpec(
            domain=dns_domain(self.region),
            dns_ip=vpc_dns_ip(state.cidr),
            listen_addresses=(vpc_dns_ip(state.cidr), LINK_LOCAL_DNS_IP, *((LINK_LOCAL_DNS_IPV6,) if _HAS_IPV6 else ())),
            dns_ipv6=LINK_LOCAL_DNS_IPV6 if _HAS_IPV6 else None,
            subnets=tuple(DhcpSubnet(bridge_name(sid), state.subnets.get(sid), state.subnets6.get(sid))
                          for sid in state.subnet_ids()),
            addresses=((SERVICE_DOMAIN, SERVICE_ENDPOINT_IP), *s3_host_names(self.service_regions)),
            local_domains=(VPCE_DOMAIN,),  # interface endpoints' names: only the records answer there
            options=state.options,
        )
        return self._dnsmasq(state.vpc_id).apply(spec, state.leases, [(r.name, r.ip) for r in state.records])

    @staticmethod
    def _ensure_bridge(ns: str, subnet_id: str, cidr: str | None, local: Sequence[str] = (),
                       ipv6_cidr: str | None = None) -> None:
        """The subnet's bridge with its gateway first (the primary address: the source of what
        the namespace sends on it) and the namespace's ``local`` addresses in the subnet; with an
        IPv6 /64, its router address ``::1`` (as EC2 uses), without one no global IPv6 address.
        An IPv6-only subnet (``cidr`` None) has no IPv4 address on its bridge."""
        net = ipaddress.IPv4Network(cidr) if cidr is not None else None
        v4 = [f"{subnet_gateway(str(net))}/{net.prefixlen}", *(f"{ip}/{net.prefixlen}" for ip in local)] if net else []
        netlink.ensure_bridge(ns, bridge_name(subnet_id), v4, mac=bridge_mac(subnet_id))
        net6 = ipaddress.IPv6Network(ipv6_cidr) if ipv6_cidr else None
        if net6 is not None or _HAS_IPV6:  # a kernel without IPv6 has no addresses to remove
            netlink.set_addresses6(ns, bridge_name(subnet_id), [f"{net6[1]}/{net6.prefixlen}"] if net6 else [])

    @staticmethod
    def _local_on(state: _VpcState, subnet_id: str) -> list[str]:
        return [a.ip for a in state.local if a.subnet_id == subnet_id]

    def _other_vpc_cidrs(self, vpc_id: str) -> set[str]:
        out: set[str] = set()
        try:
            entries = os.listdir(self.run_dir)
        except FileNotFoundError:
            return out
        own = self.netns_name(vpc_id)
        for entry in entries:
            if entry == own or not entry.startswith(netns_prefix(self.prefix)):
                continue
            try:
                with open(os.path.join(self.run_dir, entry, self.STATE_FILE)) as fh:
                    d = json.load(fh)
                out.update(str(ipaddress.IPv4Network(c)) for c in (d["cidr"], *d.get("secondary", [])))
            except (OSError, ValueError, KeyError):
                continue
        return out

    # ------------------------------------------------------------------ VPCs

    def ensure_vpc(self, vpc_id: str, cidr: str) -> None:
        """Namespace + service addresses + dnsmasq (DNS only until subnets exist) + root route."""
        net = ipaddress.IPv4Network(cidr)
        if not 16 <= net.prefixlen <= 28:
            raise InvalidArgument(f"VPC CIDR {cidr} must be between /16 and /28")
        ns = self.netns_name(vpc_id)
        with self._lock(vpc_id):
            state = self._load(vpc_id)
            if state is not None and ipaddress.IPv4Network(state.cidr) != net:
                raise AlreadyExists(f"VPC {vpc_id} exists with CIDR {state.cidr}, not {cidr}")
            routes.ensure_unreachable(str(net), prefix=self.prefix)  # fail closed first
            netlink.ensure_netns(ns)
            # IPv6 on, routing between the subnets' /64s, never configuring itself from what a
            # guest advertises (forwarding=1 ignores RAs; autoconf off as well)
            for key, value in (("net.ipv6.conf.all.accept_ra", "0"), ("net.ipv6.conf.default.accept_ra", "0"),
                               ("net.ipv6.conf.all.autoconf", "0"), ("net.ipv6.conf.default.autoconf", "0"),
                               ("net.ipv6.conf.all.disable_ipv6", "0"), ("net.ipv6.conf.default.disable_ipv6", "0"),
                               ("net.ipv6.conf.all.forwarding", "1")):
                try:
                    netlink.sysctl(ns, key, value)
                except LinkNotFound:  # kernel without IPv6: nothing to set
                    pass
            netlink.sysctl(ns, "net.ipv4.ip_forward", "1")
            for key in ("net.ipv4.conf.all.send_redirects", "net.ipv4.conf.default.send_redirects"):
                netlink.sysctl(ns, key, "0")  # a VPC router never redirects (routes to ENIs in a subnet)
            service_access.apply(ns, dict.fromkeys(self.s3_addresses, ()))  # fail closed until the sync
            for addr in (METADATA_IP, LINK_LOCAL_DNS_IP, SERVICE_ENDPOINT_IP, vpc_dns_ip(str(net)), *self.s3_addresses):
                netlink.add_address(ns, SERVICE_IF, f"{addr}/32")
            if _HAS_IPV6:
                netlink.add_address6(ns, SERVICE_IF, f"{METADATA_IPV6}/128")  # IMDS over IPv6 (HttpProtocolIpv6)
                netlink.add_address6(ns, SERVICE_IF, f"{LINK_LOCAL_DNS_IPV6}/128")  # the resolver over IPv6
            imds_limit.ensure(ns)  # EC2's 1,024 packets/s per ENI to the metadata service
            if state is None:
                state = _VpcState(vpc_id=vpc_id, cidr=str(net))
                self._save(state)
            for extra in state.secondary:  # the secondary CIDRs' routes too (e.g. after a reboot)
                routes.ensure_unreachable(extra, prefix=self.prefix)
            for sid in state.subnet_ids():  # rebuild known subnets (e.g. after a reboot)
                self._ensure_bridge(ns, sid, state.subnets.get(sid), self._local_on(state, sid),
                                    state.subnets6.get(sid))
            self._sync_dnsmasq(state)

    def delete_vpc(self, vpc_id: str) -> None:
        """Stop dnsmasq, delete the namespace (bridges and plugged taps go with it), drop the
        root unreachable route unless another VPC of this prefix uses the same CIDR."""
        ns = self.netns_name(vpc_id)
        with self._lock(vpc_id):
            state = self._load(vpc_id)
            self._dnsmasq(vpc_id).stop()
            with self._locks_guard:
                self._dnsmasqs.pop(vpc_id, None)
            _kill_dnsmasq(lambda pid: _pid_in_netns(pid, ns))
            netlink.delete_netns(ns)
            others = self._other_vpc_cidrs(vpc_id)
            for cidr in state.cidrs if state is not None else []:
                if cidr not in others:
                    routes.delete_unreachable(cidr, prefix=self.prefix)
            shutil.rmtree(self._dir(vpc_id), ignore_errors=True)

    def set_secondary_cidrs(self, vpc_id: str, cidrs: Sequence[str]) -> None:
        """Root ``unreachable`` routes for the new CIDRs first (fail closed), then the state; the
        routes of removed CIDRs go unless another VPC of the prefix has the same CIDR."""
        with self._lock(vpc_id):
            state = self._require(vpc_id)
            wanted = check_secondary_cidrs(state.cidr, cidrs, state.subnets)
            for cidr in wanted:
                routes.ensure_unreachable(cidr, prefix=self.prefix)
            removed = [c for c in state.secondary if c not in wanted]
            if wanted != state.secondary:
                state.secondary = wanted
                self._save(state)
            others = self._other_vpc_cidrs(vpc_id)
            for cidr in removed:
                if cidr not in others:
                    routes.delete_unreachable(cidr, prefix=self.prefix)

    # ------------------------------------------------------------------ subnets

    def ensure_subnet(self, vpc_id: str, subnet_id: str, cidr: str | None, ipv6_cidr: str | None = None) -> None:
        """Bridge with the gateway address (and ``::1`` of ``ipv6_cidr``); dnsmasq restarted to
        serve DHCP (and DHCPv6 + router advertisements) on it. ``cidr`` None: IPv6-only."""
        net = check_subnet_cidrs(cidr, ipv6_cidr)
        ns = self.netns_name(vpc_id)
        with self._lock(vpc_id):
            state = self._require(vpc_id)
            known = state.subnets.get(subnet_id)
            if (known is not None or subnet_id in state.subnets6) and (
                    None if known is None else ipaddress.IPv4Network(known)) != net:
                raise AlreadyExists(f"subnet {subnet_id} exists with CIDR {known}, not {cidr}")
            if net is not None:
                check_subnet_in_vpc(state.cidrs, str(net), state.subnets, subnet_id)
            self._ensure_bridge(ns, subnet_id, str(net) if net else None, self._local_on(state, subnet_id), ipv6_cidr)
            if state.subnets.get(subnet_id) != (str(net) if net else None) or state.subnets6.get(subnet_id) != ipv6_cidr:
                if net is not None:
                    state.subnets[subnet_id] = str(net)
                if ipv6_cidr:
                    state.subnets6[subnet_id] = str(ipaddress.IPv6Network(ipv6_cidr))
                else:
                    state.subnets6.pop(subnet_id, None)
                self._save(state)
            self._sync_dnsmasq(state)

    def delete_subnet(self, vpc_id: str, subnet_id: str) -> None:
        ns = self.netns_name(vpc_id)
        with self._lock(vpc_id):
            state = self._load(vpc_id)
            if state is None or not netlink.netns_exists(ns):
                return
            netlink.delete_link(ns, bridge_name(subnet_id))
            if (state.subnets6.pop(subnet_id, None), state.subnets.pop(subnet_id, None)) != (None, None):
                self._save(state)
            self._sync_dnsmasq(state)

    # ------------------------------------------------------------------ ports

    def plug_port(self, vpc_id: str, subnet_id: str, tap_name: str) -> None:
        """Move ``tap_name`` from the root namespace into the VPC, master the subnet bridge, up.

        No lock and no state file read: three netlink requests, so the port is up before the
        guest's first DHCP request (moving the device between namespaces is most of the cost).
        """
        ns = self.netns_name(vpc_id)
        bridge = bridge_name(subnet_id)
        try:
            netlink.plug_link(tap_name, ns, bridge)
        except NamespaceNotFound as exc:
            raise VpcNotFound(f"VPC {vpc_id} has no network namespace {ns}") from exc
        except LinkNotFound:
            if netlink.netns_exists(ns) and not netlink.link_exists(ns, bridge):
                raise SubnetNotFound(f"subnet {subnet_id} has no bridge in {ns}") from None
            raise

    def unplug_port(self, vpc_id: str, subnet_id: str, tap_name: str) -> None:
        """Release the port from its bridge and set it down (libvirt deletes the tap itself)."""
        ns = self.netns_name(vpc_id)
        if not netlink.netns_exists(ns) or not netlink.link_exists(ns, tap_name):
            return
        try:
            netlink.set_master(ns, tap_name, None)
            netlink.set_down(ns, tap_name)
        except LinkNotFound:
            return

    def set_leases(self, vpc_id: str, leases: Sequence[Lease]) -> None:
        """Replace the VPC's static leases/DNS records; dnsmasq gets SIGHUP (or is started)."""
        with self._lock(vpc_id):
            state = self._require(vpc_id)
            vpc_nets = [ipaddress.IPv4Network(c) for c in state.cidrs]
            for lease in leases:
                if lease.ip is not None and not any(ipaddress.IPv4Address(lease.ip) in n for n in vpc_nets):
                    raise InvalidArgument(f"lease {lease.ip} is outside VPC {vpc_id} ({', '.join(state.cidrs)})")
            removed = set(state.leases) - set(leases)
            state.leases = sorted(set(leases), key=lambda x: (x.mac, x.ip or ""))
            self._save(state)
            self._sync_dnsmasq(state)
            for lease in removed:
                self._release(state, lease)

    def set_dhcp_options(self, vpc_id: str, options: DhcpOptions | None) -> None:
        """What dnsmasq hands out from now on (SIGHUP: leases kept; guests see it on renewal)."""
        with self._lock(vpc_id):
            state = self._require(vpc_id)
            if state.options != options:
                state.options = options
                self._save(state)
                self._sync_dnsmasq(state)

    def set_local_addresses(self, vpc_id: str, addresses: Sequence[LocalAddress],
                            records: Sequence[HostRecord] = ()) -> None:
        """Replace the namespace's own addresses on the subnet bridges and the extra DNS records."""
        ns = self.netns_name(vpc_id)
        with self._lock(vpc_id):
            state = self._require(vpc_id)
            wanted = sorted(set(addresses), key=lambda a: (a.subnet_id, a.ip))
            for a in wanted:
                cidr = state.subnets.get(a.subnet_id)
                if cidr is None:
                    raise SubnetNotFound(f"subnet {a.subnet_id} has no bridge in {ns}")
                net = ipaddress.IPv4Network(cidr)
                if ipaddress.IPv4Address(a.ip) not in net or a.ip == subnet_gateway(cidr):
                    raise InvalidArgument(f"{a.ip} is not a host address of subnet {a.subnet_id} ({cidr})")
            for a in set(state.local) - set(wanted):
                cidr = state.subnets.get(a.subnet_id)
                if cidr is not None:
                    netlink.delete_address(ns, bridge_name(a.subnet_id), f"{a.ip}/{ipaddress.IPv4Network(cidr).prefixlen}")
            for a in wanted:
                netlink.add_address(ns, bridge_name(a.subnet_id),
                                    f"{a.ip}/{ipaddress.IPv4Network(state.subnets[a.subnet_id]).prefixlen}")
            new_records = sorted(set(records), key=lambda r: (r.name, r.ip))
            if wanted != state.local or new_records != state.records:
                state.local, state.records = wanted, new_records
                self._save(state)
                self._sync_dnsmasq(state)

    def _release(self, state: _VpcState, lease: Lease) -> None:
        """Drop dnsmasq's dynamic lease of a removed host (as Neutron does with dhcp_release), so
        the address can go to a new MAC at once instead of after the lease time."""
        if lease.ip is None:
            return
        addr = ipaddress.IPv4Address(lease.ip)
        for sid, cidr in state.subnets.items():
            if addr in ipaddress.IPv4Network(cidr):
                ns = self.netns_name(state.vpc_id)
                rootops.dhcp_release(ns, bridge_name(sid), lease.ip, lease.mac)
                # and forget the old MAC, so the address's next owner is reachable at once
                rootops.neigh_flush(ns, lease.ip)
                return

    # ------------------------------------------------------------------ public pool, sweep

    def set_service_access(self, vpc_id: str, access: Mapping[str, Sequence[str]]) -> None:
        with self._lock(vpc_id):
            self._require(vpc_id)
            service_access.apply(self.netns_name(vpc_id), access)

    def set_peerings(self, vpc_id: str, links: Sequence[PeeringLink]) -> None:
        ns = self.netns_name(vpc_id)
        with self._lock(vpc_id):
            self._require(vpc_id)
            peering.apply(ns, links)

    def set_subnet_routes(self, vpc_id: str, routes: Sequence[SubnetRoute]) -> None:
        with self._lock(vpc_id):
            state = self._require(vpc_id)
            subnet_routes.check(routes, state.subnets)
            subnet_routes.apply(self.netns_name(vpc_id), routes)

    def ensure_unreachable(self, cidr: str) -> None:
        routes.ensure_unreachable(cidr, prefix=self.prefix)

    def delete_unreachable(self, cidr: str) -> None:
        routes.delete_unreachable(cidr, prefix=self.prefix)

    def host_conflicts(self, cidr: str) -> list[str]:
        return routes.host_conflicts(cidr)

    def sweep(self, prefix: str | None = None) -> SweepReport:
        """Remove namespaces ``{prefix}-*``, dnsmasq processes in them (or using state dirs of
        those names), taps of the prefix left in the root namespace, its unreachable routes, and
        its state directories under this driver's run_dir."""
        prefix = check_prefix(prefix or self.prefix)
        nsp = netns_prefix(prefix)
        report = SweepReport()
        namespaces = netlink.list_netns(nsp)
        inodes = {i for i in (netlink.netns_inode(ns) for ns in namespaces) if i is not None}

        def ours(pid: int) -> bool:
            conf = conf_file_of(pid) or ""
            if os.path.basename(os.path.dirname(conf)).startswith(nsp):
                return True
            return _pid_netns_inode(pid) in inodes

        report.dnsmasq_pids = _kill_dnsmasq(ours)
        for ns in namespaces:
            netlink.delete_netns(ns)
            report.namespaces.append(ns)
        for name in netlink.list_links(None):
            if is_tap_name(prefix, name):
                netlink.delete_link(None, name)
                report.taps.append(name)
        report.routes = routes.sweep_unreachable(prefix)
        try:
            entries = os.listdir(self.run_dir)
        except FileNotFoundError:
            entries = []
        for entry in entries:
            if entry.startswith(nsp):
                shutil.rmtree(os.path.join(self.run_dir, entry), ignore_errors=True)
                report.state_dirs.append(entry)
        return report

    def sweep_orphans(self, vpc_ids: set[str], cidrs: set[str]) -> SweepReport:
        nsp = netns_prefix(self.prefix)
        report = SweepReport()
        try:
            entries = set(os.listdir(self.run_dir))
        except FileNotFoundError:
            entries = set()
        found = {n[len(nsp):] for n in set(netlink.list_netns(nsp)) | entries
                 if n.startswith(nsp + "vpc-") and prefix_of_netns(n) == self.prefix}
        for vpc_id in sorted(found - set(vpc_ids)):
            ns = self.netns_name(vpc_id)
            state_dir = self._dir(vpc_id)
            pids = _kill_dnsmasq(lambda pid, ns=ns, d=state_dir: _pid_in_netns(pid, ns)
                                 or os.path.dirname(conf_file_of(pid) or "") == d)
            self.delete_vpc(vpc_id)
            report.namespaces.append(ns)
            report.dnsmasq_pids += pids
            report.state_dirs.append(ns)
        keep = {str(ipaddress.ip_network(c)) for c in cidrs}
        for cidr in routes.list_unreachable(prefix=self.prefix):
            if cidr not in keep:
                routes.delete_unreachable(cidr, prefix=self.prefix)
                report.routes.append(cidr)
        return report


def _pid_netns_inode(pid: int) -> tuple[int, int] | None:
    try:
        st = os.stat(f"/proc/{pid}/ns/net")
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _pid_in_netns(pid: int, ns: str) -> bool:
    inode = netlink.netns_inode(ns)
    return inode is not None and _pid_netns_inode(pid) == inode


def _kill_dnsmasq(match: Callable[[int], bool]) -> list[int]:
    killed = []
    for pid in dnsmasq_pids():
        if match(pid):
            terminate(pid)
            killed.append(pid)
    return killed
