"""VPC networking on the host: the driver interface, the Linux implementation and a fake.

Mapping ("topology 2" of docs/host-notes.md):

* a VPC is one network namespace ``{prefix}-{vpc_id}`` holding everything of the VPC, with
  ``net.ipv4.ip_forward=1`` inside it only (routing between its subnets) and IPv6 disabled;
* the namespace's ``lo`` carries 169.254.169.254/32 (instance metadata), 169.254.169.253/32 and
  the VPC base+2 /32 (AmazonProvidedDNS); this kernel has no ``dummy`` driver, and ``lo`` exists in
  every namespace anyway. Guests reach those addresses
  through their default route (the subnet gateway routes to a local address) and also on-link,
  because the namespace answers ARP for any of its local addresses on every bridge (arp_ignore=0);
  no DHCP classless-route option is needed;
* a subnet is a bridge ``br<13 hex>`` in the namespace with the gateway (base+1/prefixlen) and a
  fixed MAC;
* an ENI is a tap created by libvirt in the root namespace; :meth:`plug_port` moves it into the
  namespace, enslaves it to the subnet bridge and sets it up (right after the domain starts);
* dnsmasq in the namespace hands out static leases (MAC -> IP) and answers DNS for
  ``ip-a-b-c-d.ec2.internal`` / ``ip-a-b-c-d.<region>.compute.internal`` on the VPC base+2 (and the
  gateways and 169.254.169.253), never forwarding anything;
* every VPC CIDR gets an ``unreachable`` route in the root namespace (fail closed, nothing leaks out
  of the uplink).

Drivers never read the store. All methods are idempotent where named ``ensure_*``; deletes tolerate
absence. The Linux driver is blocking (milliseconds); call it via ``asyncio.to_thread``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from . import imds_limit, netlink, routes
from .dnsmasq import DhcpSubnet, Dnsmasq, DnsmasqSpec, Lease, conf_file_of, dnsmasq_pids, terminate
from .errors import (
    AlreadyExists,
    InvalidArgument,
    LinkNotFound,
    NamespaceNotFound,
    SubnetNotFound,
    VpcNotFound,
)
from .names import (
    LINK_LOCAL_DNS_IP,
    METADATA_IP,
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
from .names import netns_name as _netns_name
from .names import tap_name as _tap_name

__all__ = [
    "FakeVpcNetwork",
    "Lease",
    "LinuxVpcNetwork",
    "SweepReport",
    "VpcNetworkDriver",
]


@dataclass
class SweepReport:
    namespaces: list[str] = field(default_factory=list)
    taps: list[str] = field(default_factory=list)
    dnsmasq_pids: list[int] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)
    state_dirs: list[str] = field(default_factory=list)


def _check_subnet_in_vpc(vpc_cidr: str, cidr: str, others: dict[str, str], subnet_id: str) -> None:
    vpc = ipaddress.IPv4Network(vpc_cidr)
    net = ipaddress.IPv4Network(cidr)
    if not net.subnet_of(vpc):
        raise InvalidArgument(f"subnet {cidr} is not inside VPC {vpc_cidr}")
    if net.prefixlen > 28:
        raise InvalidArgument(f"subnet {cidr} is smaller than /28")
    for other_id, other in others.items():
        if other_id != subnet_id and net.overlaps(ipaddress.IPv4Network(other)):
            raise InvalidArgument(f"subnet {cidr} overlaps {other_id} ({other})")


class VpcNetworkDriver(ABC):
    """What services need from the host network. Contracts:

    * ``ensure_*`` create what is missing and leave what is there; calling twice is a no-op.
    * ``delete_*`` / ``unplug_port`` tolerate that the object is already gone.
    * ``plug_port`` is on the boot path (it races the guest's DHCP): it must be quick, and it
      accepts a tap that was already moved into the VPC.
    * ``set_leases`` replaces the whole lease set of a VPC (the model is the truth).
    * Errors are :mod:`.errors` classes (``VpcNotFound``, ``SubnetNotFound``, ``LinkNotFound``,
      ``InvalidArgument``, ...), never raw OS errors.
    """

    prefix: str

    def netns_name(self, vpc_id: str) -> str:
        """Namespace that holds VPC ``vpc_id`` (the metadata server binds its socket there)."""
        return _netns_name(self.prefix, vpc_id)

    def tap_name(self, eni_id: str) -> str:
        """Tap name the compute driver puts in ``<interface type='ethernet'><target dev=.../>``."""
        return _tap_name(self.prefix, eni_id)

    @abstractmethod
    def ensure_vpc(self, vpc_id: str, cidr: str) -> None: ...

    @abstractmethod
    def delete_vpc(self, vpc_id: str) -> None: ...

    @abstractmethod
    def ensure_subnet(self, vpc_id: str, subnet_id: str, cidr: str) -> None: ...

    @abstractmethod
    def delete_subnet(self, vpc_id: str, subnet_id: str) -> None: ...

    @abstractmethod
    def plug_port(self, vpc_id: str, subnet_id: str, tap_name: str) -> None: ...

    @abstractmethod
    def unplug_port(self, vpc_id: str, subnet_id: str, tap_name: str) -> None: ...

    @abstractmethod
    def set_leases(self, vpc_id: str, leases: Sequence[Lease]) -> None: ...

    @abstractmethod
    def ensure_unreachable(self, cidr: str) -> None:
        """Fail-closed route in the root namespace for a non-VPC range (e.g. the public pool)."""

    @abstractmethod
    def delete_unreachable(self, cidr: str) -> None: ...

    @abstractmethod
    def host_conflicts(self, cidr: str) -> list[str]:
        """What an unreachable route for ``cidr`` in the root namespace would shadow (host routes,
        addresses, gateways, name servers, special ranges); empty when a VPC may use it."""

    @abstractmethod
    def sweep(self, prefix: str | None = None) -> SweepReport:
        """Remove every host object carrying ``prefix`` (default: the driver's own)."""

    @abstractmethod
    def sweep_orphans(self, vpc_ids: set[str], cidrs: set[str]) -> SweepReport:
        """Remove the VPC networks of this driver's prefix whose VPC is not in ``vpc_ids`` (e.g.
        left by a crash after DeleteVpc's database delete) and its unreachable routes for CIDRs
        not in ``cidrs``. Objects of other prefixes are never touched."""


# =========================================================================== Linux


@dataclass
class _VpcState:
    vpc_id: str
    cidr: str
    subnets: dict[str, str] = field(default_factory=dict)  # subnet id -> cidr
    leases: list[Lease] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {
                "vpc_id": self.vpc_id,
                "cidr": self.cidr,
                "subnets": self.subnets,
                "leases": [[ls.mac, ls.ip, ls.hostname] for ls in self.leases],
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
            leases=[Lease(*x) for x in d.get("leases", [])],
        )


class LinuxVpcNetwork(VpcNetworkDriver):
    """The real thing: namespaces, bridges, dnsmasq, root unreachable routes.

    ``run_dir`` holds one directory per VPC namespace (dnsmasq files + ``vpc.json``); it and its
    parents must be world-searchable because dnsmasq drops privileges.
    """

    STATE_FILE = "vpc.json"

    def __init__(self, prefix: str, run_dir: str, region: str = "us-east-1") -> None:
        self.prefix = check_prefix(prefix)
        self.run_dir = os.path.abspath(run_dir)
        self.region = region
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
            listen_addresses=(vpc_dns_ip(state.cidr), LINK_LOCAL_DNS_IP),
            subnets=tuple(DhcpSubnet(bridge_name(sid), cidr) for sid, cidr in sorted(state.subnets.items())),
        )
        return self._dnsmasq(state.vpc_id).apply(spec, state.leases)

    @staticmethod
    def _ensure_bridge(ns: str, subnet_id: str, cidr: str) -> None:
        net = ipaddress.IPv4Network(cidr)
        gateway = f"{subnet_gateway(str(net))}/{net.prefixlen}"
        netlink.ensure_bridge(ns, bridge_name(subnet_id), [gateway], mac=bridge_mac(subnet_id))

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
                    out.add(str(ipaddress.IPv4Network(json.load(fh)["cidr"])))
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
            for key in ("net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"):
                try:
                    netlink.sysctl(ns, key, "1")
                except LinkNotFound:  # kernel without IPv6: nothing to disable
                    pass
            netlink.sysctl(ns, "net.ipv4.ip_forward", "1")
            for addr in (METADATA_IP, LINK_LOCAL_DNS_IP, vpc_dns_ip(str(net))):
                netlink.add_address(ns, SERVICE_IF, f"{addr}/32")
            imds_limit.ensure(ns)  # EC2's 1,024 packets/s per ENI to the metadata service
            if state is None:
                state = _VpcState(vpc_id=vpc_id, cidr=str(net))
                self._save(state)
            for sid, scidr in state.subnets.items():  # rebuild known subnets (e.g. after a reboot)
                self._ensure_bridge(ns, sid, scidr)
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
            if state is not None and state.cidr not in self._other_vpc_cidrs(vpc_id):
                routes.delete_unreachable(state.cidr, prefix=self.prefix)
            shutil.rmtree(self._dir(vpc_id), ignore_errors=True)

    # ------------------------------------------------------------------ subnets

    def ensure_subnet(self, vpc_id: str, subnet_id: str, cidr: str) -> None:
        """Bridge with the gateway address; dnsmasq restarted to serve DHCP on it."""
        net = ipaddress.IPv4Network(cidr)
        ns = self.netns_name(vpc_id)
        with self._lock(vpc_id):
            state = self._require(vpc_id)
            known = state.subnets.get(subnet_id)
            if known is not None and ipaddress.IPv4Network(known) != net:
                raise AlreadyExists(f"subnet {subnet_id} exists with CIDR {known}, not {cidr}")
            _check_subnet_in_vpc(state.cidr, str(net), state.subnets, subnet_id)
            self._ensure_bridge(ns, subnet_id, str(net))
            if state.subnets.get(subnet_id) != str(net):
                state.subnets[subnet_id] = str(net)
                self._save(state)
            self._sync_dnsmasq(state)

    def delete_subnet(self, vpc_id: str, subnet_id: str) -> None:
        ns = self.netns_name(vpc_id)
        with self._lock(vpc_id):
            state = self._load(vpc_id)
            if state is None or not netlink.netns_exists(ns):
                return
            netlink.delete_link(ns, bridge_name(subnet_id))
            if state.subnets.pop(subnet_id, None) is not None:
                self._save(state)
            self._sync_dnsmasq(state)

    # ------------------------------------------------------------------ ports

    def plug_port(self, vpc_id: str, subnet_id: str, tap_name: str) -> None:
        """Move ``tap_name`` from the root namespace into the VPC, master the subnet bridge, up.

        No lock and no state file read: three netlink requests. Measured ~20 ms, nearly all of it
        the kernel moving the device between namespaces (``ip link set ... netns`` takes the same).
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
            vpc_net = ipaddress.IPv4Network(state.cidr)
            for lease in leases:
                if ipaddress.IPv4Address(lease.ip) not in vpc_net:
                    raise InvalidArgument(f"lease {lease.ip} is outside VPC {vpc_id} ({state.cidr})")
            removed = set(state.leases) - set(leases)
            state.leases = sorted(set(leases), key=lambda x: (x.mac, x.ip))
            self._save(state)
            self._sync_dnsmasq(state)
            for lease in removed:
                self._release(state, lease)

    def _release(self, state: _VpcState, lease: Lease) -> None:
        """Drop dnsmasq's dynamic lease of a removed host (as Neutron does with dhcp_release), so
        the address can go to a new MAC at once instead of after the lease time."""
        addr = ipaddress.IPv4Address(lease.ip)
        for sid, cidr in state.subnets.items():
            if addr in ipaddress.IPv4Network(cidr):
                ns = self.netns_name(state.vpc_id)
                subprocess.run(["ip", "netns", "exec", ns, "dhcp_release", bridge_name(sid), lease.ip, lease.mac],
                               capture_output=True, timeout=10)
                # and forget the old MAC, so the address's next owner is reachable at once
                subprocess.run(["ip", "-n", ns, "neigh", "flush", "to", lease.ip], capture_output=True, timeout=10)
                return

    # ------------------------------------------------------------------ public pool, sweep

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
        keep = {str(ipaddress.IPv4Network(c)) for c in cidrs}
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


# =========================================================================== fake


@dataclass
class FakeVpc:
    cidr: str
    subnets: dict[str, str] = field(default_factory=dict)
    ports: dict[str, str] = field(default_factory=dict)  # tap -> subnet id
    leases: list[Lease] = field(default_factory=list)


class FakeVpcNetwork(VpcNetworkDriver):
    """In-memory stand-in with the same validation and errors; ``calls`` records every call."""

    def __init__(self, prefix: str = "ec2d", region: str = "us-east-1") -> None:
        self.prefix = check_prefix(prefix)
        self.region = region
        self.vpcs: dict[str, FakeVpc] = {}
        self.unreachable: set[str] = set()
        self.host_routes: list[netlink.RouteInfo] = []  # the fake host's routing table
        self.nameservers: list[str] = []
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self._lock = threading.Lock()

    def _rec(self, name: str, *args: object) -> None:
        self.calls.append((name, args))

    def _vpc(self, vpc_id: str) -> FakeVpc:
        try:
            return self.vpcs[vpc_id]
        except KeyError:
            raise VpcNotFound(f"VPC {vpc_id} has no network") from None

    def ensure_vpc(self, vpc_id: str, cidr: str) -> None:
        self._rec("ensure_vpc", vpc_id, cidr)
        net = ipaddress.IPv4Network(cidr)
        if not 16 <= net.prefixlen <= 28:
            raise InvalidArgument(f"VPC CIDR {cidr} must be between /16 and /28")
        self.netns_name(vpc_id)
        with self._lock:
            vpc = self.vpcs.get(vpc_id)
            if vpc is not None and ipaddress.IPv4Network(vpc.cidr) != net:
                raise AlreadyExists(f"VPC {vpc_id} exists with CIDR {vpc.cidr}, not {cidr}")
            if vpc is None:
                self.vpcs[vpc_id] = FakeVpc(cidr=str(net))

    def delete_vpc(self, vpc_id: str) -> None:
        self._rec("delete_vpc", vpc_id)
        with self._lock:
            self.vpcs.pop(vpc_id, None)

    def ensure_subnet(self, vpc_id: str, subnet_id: str, cidr: str) -> None:
        self._rec("ensure_subnet", vpc_id, subnet_id, cidr)
        bridge_name(subnet_id)
        with self._lock:
            vpc = self._vpc(vpc_id)
            known = vpc.subnets.get(subnet_id)
            if known is not None and ipaddress.IPv4Network(known) != ipaddress.IPv4Network(cidr):
                raise AlreadyExists(f"subnet {subnet_id} exists with CIDR {known}, not {cidr}")
            _check_subnet_in_vpc(vpc.cidr, str(ipaddress.IPv4Network(cidr)), vpc.subnets, subnet_id)
            vpc.subnets[subnet_id] = str(ipaddress.IPv4Network(cidr))

    def delete_subnet(self, vpc_id: str, subnet_id: str) -> None:
        self._rec("delete_subnet", vpc_id, subnet_id)
        with self._lock:
            vpc = self.vpcs.get(vpc_id)
            if vpc is not None:
                vpc.subnets.pop(subnet_id, None)
                vpc.ports = {t: s for t, s in vpc.ports.items() if s != subnet_id}

    def plug_port(self, vpc_id: str, subnet_id: str, tap_name: str) -> None:
        self._rec("plug_port", vpc_id, subnet_id, tap_name)
        with self._lock:
            vpc = self._vpc(vpc_id)
            if subnet_id not in vpc.subnets:
                raise SubnetNotFound(f"subnet {subnet_id} has no bridge")
            vpc.ports[tap_name] = subnet_id

    def unplug_port(self, vpc_id: str, subnet_id: str, tap_name: str) -> None:
        self._rec("unplug_port", vpc_id, subnet_id, tap_name)
        with self._lock:
            vpc = self.vpcs.get(vpc_id)
            if vpc is not None:
                vpc.ports.pop(tap_name, None)

    def set_leases(self, vpc_id: str, leases: Sequence[Lease]) -> None:
        self._rec("set_leases", vpc_id, tuple(leases))
        with self._lock:
            vpc = self._vpc(vpc_id)
            for lease in leases:
                if ipaddress.IPv4Address(lease.ip) not in ipaddress.IPv4Network(vpc.cidr):
                    raise InvalidArgument(f"lease {lease.ip} is outside VPC {vpc_id} ({vpc.cidr})")
            vpc.leases = sorted(set(leases), key=lambda x: (x.mac, x.ip))

    def ensure_unreachable(self, cidr: str) -> None:
        self._rec("ensure_unreachable", cidr)
        self.unreachable.add(str(ipaddress.IPv4Network(cidr)))

    def delete_unreachable(self, cidr: str) -> None:
        self._rec("delete_unreachable", cidr)
        self.unreachable.discard(str(ipaddress.IPv4Network(cidr)))

    def host_conflicts(self, cidr: str) -> list[str]:
        """Against ``host_routes`` (RouteInfo list) and ``nameservers``, set by tests."""
        return routes.conflicts(cidr, self.host_routes, self.nameservers)

    def sweep(self, prefix: str | None = None) -> SweepReport:
        self._rec("sweep", prefix)
        with self._lock:
            report = SweepReport(
                namespaces=[self.netns_name(v) for v in self.vpcs], routes=sorted(self.unreachable)
            )
            self.vpcs.clear()
            self.unreachable.clear()
        return report

    def sweep_orphans(self, vpc_ids: set[str], cidrs: set[str]) -> SweepReport:
        self._rec("sweep_orphans", frozenset(vpc_ids), frozenset(cidrs))
        with self._lock:
            gone = sorted(set(self.vpcs) - set(vpc_ids))
            for vpc_id in gone:
                del self.vpcs[vpc_id]
            keep = {str(ipaddress.IPv4Network(c)) for c in cidrs}
            routes_gone = sorted(self.unreachable - keep)
            self.unreachable &= keep
        return SweepReport(namespaces=[self.netns_name(v) for v in gone], routes=routes_gone)
