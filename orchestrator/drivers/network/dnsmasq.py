"""dnsmasq for one VPC namespace: static DHCP leases and the VPC's private DNS.

The whole desired state is rendered from a plain model (:class:`DnsmasqSpec` + a list of
:class:`Lease`) into files under a state directory given by the caller:

* ``dnsmasq.conf``  - listen addresses, bridges, one ``static`` dhcp-range per subnet (tagged by bridge name),
  router / DNS server / domain options, no upstream servers (nothing is forwarded off the host);
* ``dhcp-hosts``    - ``MAC,IP,hostname`` per ENI (``--dhcp-hostsfile``);
* ``addn-hosts``    - ``IP fqdn short`` per ENI, so names resolve before (and without) a lease;
* ``dhcp-opts``     - the VPC's DHCP options set (:class:`DhcpOptions`: domain name, DNS, NTP and
  NetBIOS servers, NetBIOS node type; ``--dhcp-optsfile``).

:meth:`Dnsmasq.apply` writes what changed and then starts dnsmasq (not running), restarts it (the
main config changed, e.g. a subnet was added: dnsmasq reads it only at start) or sends SIGHUP (only
the hosts or options files changed: dnsmasq re-reads ``dhcp-hostsfile``, ``addn-hosts`` and
``dhcp-optsfile`` on SIGHUP, keeping its leases; clients get new options when they renew).
Applying the same state twice does nothing.

dnsmasq runs as ``ip netns exec NS dnsmasq --conf-file=...``, daemonised, found again through its
pid file, so it survives restarts of the ec2d daemon. It drops privileges (user ``dnsmasq`` when that
account exists, else ``nobody``), so the state directory and its parents must be world-searchable;
files are written 0644.
"""

from __future__ import annotations

import ipaddress
import os
import pwd
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass

from .. import procfs
from . import rootops
from .errors import DnsmasqError, InvalidArgument
from .names import subnet_gateway
from .netlink import netns_inode

DEFAULT_LEASE_TIME = 3600


@dataclass(frozen=True)
class Lease:
    """A static DHCP lease + DNS record: ``hostname`` is short (``ip-10-0-1-5``) or a FQDN;
    ``ipv6``: the address DHCPv6 hands out to the same MAC (the interface's first IPv6 address);
    ``ip`` None: an interface of an IPv6-only subnet (DHCPv6 only, then ``ipv6`` is required)."""

    mac: str
    ip: str | None
    hostname: str
    ipv6: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mac", self.mac.lower())
        if self.ip is None and self.ipv6 is None:
            raise InvalidArgument("a lease needs an IPv4 or an IPv6 address")
        try:
            if self.ip is not None:
                ipaddress.IPv4Address(self.ip)
        except ValueError as exc:
            raise InvalidArgument(f"bad IPv4 address {self.ip!r}") from exc
        parts = self.mac.split(":")
        if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdef" for c in p) for p in parts):
            raise InvalidArgument(f"bad MAC address {self.mac!r}")
        if not self.hostname or any(c.isspace() or c == "," for c in self.hostname):
            raise InvalidArgument(f"bad hostname {self.hostname!r}")
        if self.ipv6 is not None:
            try:
                object.__setattr__(self, "ipv6", str(ipaddress.IPv6Address(self.ipv6)))
            except ValueError as exc:
                raise InvalidArgument(f"bad IPv6 address {self.ipv6!r}") from exc


@dataclass(frozen=True)
class DhcpSubnet:
    bridge: str  # the interface dnsmasq serves the subnet on; also used as the dhcp tag
    cidr: str | None  # None: an IPv6-only subnet (DHCPv6 and router advertisements only)
    ipv6_cidr: str | None = None  # the subnet's /64: DHCPv6 (static) and router advertisements

    @property
    def gateway(self) -> str:
        assert self.cidr is not None
        return subnet_gateway(self.cidr)


def _check_ipv4(value: str, what: str) -> None:
    try:
        ipaddress.IPv4Address(value)
    except ValueError as exc:
        raise InvalidArgument(f"bad IPv4 address {value!r} for {what}") from exc


@dataclass(frozen=True)
class DhcpOptions:
    """What the DHCP server hands out besides the address and the router. ``domain_name`` None:
    no option 15; an empty server tuple: no such option (DNS included: dnsmasq would otherwise
    offer itself)."""

    domain_name: str | None
    dns_servers: tuple[str, ...]
    ntp_servers: tuple[str, ...] = ()
    netbios_name_servers: tuple[str, ...] = ()
    netbios_node_type: int | None = None

    def __post_init__(self) -> None:
        name = self.domain_name
        if name is not None and (not name or any(c in ",#\"\\" or (c.isspace() and c != " ") for c in name)):
            raise InvalidArgument(f"bad domain name {name!r}")
        for what, servers in (("dns", self.dns_servers), ("ntp", self.ntp_servers),
                              ("netbios", self.netbios_name_servers)):
            for ip in servers:
                _check_ipv4(ip, what)
        if self.netbios_node_type not in (None, 1, 2, 4, 8):
            raise InvalidArgument(f"bad NetBIOS node type {self.netbios_node_type!r}")


@dataclass(frozen=True)
class DnsmasqSpec:
    domain: str  # ec2.internal / <region>.compute.internal
    dns_ip: str  # handed out as DNS server (VPC base + 2)
    listen_addresses: tuple[str, ...]  # extra addresses to answer DNS on (VPC base+2, .253 on lo)
    subnets: tuple[DhcpSubnet, ...]
    lease_time: int = DEFAULT_LEASE_TIME
    log_dhcp: bool = False
    # (domain, IPv4): the domain and every name under it answer with that address (A only; other
    # types get an empty answer), e.g. ("amazonaws.com", the in-VPC service endpoint)
    addresses: tuple[tuple[str, str], ...] = ()
    # domains answered only from the records (a name there without one is NXDOMAIN), more specific
    # than ``addresses``' (e.g. interface endpoints' ``vpce.amazonaws.com`` inside ``amazonaws.com``)
    local_domains: tuple[str, ...] = ()
    # the VPC's DHCP options set; None: the region's default (``domain`` and ``dns_ip``)
    options: DhcpOptions | None = None
    dns_ipv6: str | None = None  # the resolver's IPv6 address DHCPv6 (and the RAs) hand out

    @property
    def dhcp_options(self) -> DhcpOptions:
        return self.options if self.options is not None else DhcpOptions(self.domain, (self.dns_ip,))


@dataclass(frozen=True)
class DnsmasqPaths:
    state_dir: str

    def _p(self, name: str) -> str:
        return os.path.join(self.state_dir, name)

    @property
    def conf(self) -> str:
        return self._p("dnsmasq.conf")

    @property
    def hosts(self) -> str:
        return self._p("dhcp-hosts")

    @property
    def addn_hosts(self) -> str:
        return self._p("addn-hosts")

    @property
    def opts(self) -> str:
        return self._p("dhcp-opts")

    @property
    def leases(self) -> str:
        return self._p("dnsmasq.leases")

    @property
    def pid(self) -> str:
        return self._p("dnsmasq.pid")

    @property
    def log(self) -> str:
        return self._p("dnsmasq.log")


def default_user() -> str:
    for name in ("dnsmasq", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    return "root"


# --------------------------------------------------------------------------- rendering


def render_conf(spec: DnsmasqSpec, paths: DnsmasqPaths, user: str) -> str:
    lines = [
        "# generated by ec2d: do not edit",
        f"user={user}",
        f"pid-file={paths.pid}",
        f"log-facility={paths.log}",
        "bind-dynamic",
        "no-resolv",
        "no-poll",
        "no-hosts",
        "domain-needed",
        "bogus-priv",
        f"domain={spec.domain}",
        f"local=/{spec.domain}/",
        f"addn-hosts={paths.addn_hosts}",
        f"dhcp-hostsfile={paths.hosts}",
        f"dhcp-leasefile={paths.leases}",
        f"dhcp-optsfile={paths.opts}",
        "dhcp-authoritative",
    ]
    if spec.log_dhcp:
        lines.append("log-dhcp")
    for addr in spec.listen_addresses:
        lines.append(f"listen-address={addr}")
    for domain, ip in spec.addresses:
        if not domain or any(c.isspace() or c in "/#," for c in domain):
            raise InvalidArgument(f"bad domain {domain!r}")
        try:
            ipaddress.IPv4Address(ip)
        except ValueError as exc:
            raise InvalidArgument(f"bad IPv4 address {ip!r} for {domain}") from exc
        lines.append(f"address=/{domain}/{ip}")
    for domain in spec.local_domains:
        if not domain or any(c.isspace() or c in "/#," for c in domain):
            raise InvalidArgument(f"bad domain {domain!r}")
        lines.append(f"local=/{domain}/")
    for sub in sorted(spec.subnets, key=lambda s: s.bridge):
        lines.append(f"interface={sub.bridge}")
        if sub.cidr is not None:
            net = ipaddress.IPv4Network(sub.cidr)
            lines += [
                f"dhcp-range=set:{sub.bridge},{net.network_address},static,{net.netmask},{spec.lease_time}",
                f"dhcp-option=tag:{sub.bridge},option:router,{sub.gateway}",
            ]
        if sub.ipv6_cidr:
            net6 = ipaddress.IPv6Network(sub.ipv6_cidr)
            # stateful only: the RA carries the M flag and the prefix without the A flag (no SLAAC),
            # so a guest takes its address from DHCPv6 and its default route from the RA
            lines.append(f"dhcp-range=set:{sub.bridge},{net6.network_address},static,{net6.prefixlen},"
                         f"{spec.lease_time}")
    if any(sub.ipv6_cidr for sub in spec.subnets):
        lines.append("enable-ra")
        if spec.dns_ipv6:
            lines.append(f"dhcp-option=option6:dns-server,[{ipaddress.IPv6Address(spec.dns_ipv6)}]")
    return "\n".join(lines) + "\n"


def render_dhcp_opts(options: DhcpOptions) -> str:
    """The ``--dhcp-optsfile``: one option a line. Options dnsmasq would send on its own (DNS
    server, domain name) are given without data when the set has none, so none is sent."""
    def line(name: str, values: Iterable[object]) -> str:
        return ",".join([f"option:{name}", *(str(v) for v in values)]) + "\n"

    text = "# generated by ec2d: the VPC's DHCP options set\n"
    text += line("domain-name", [options.domain_name] if options.domain_name else [])
    text += line("dns-server", options.dns_servers)
    if options.ntp_servers:
        text += line("ntp-server", options.ntp_servers)
    if options.netbios_name_servers:
        text += line("netbios-ns", options.netbios_name_servers)
    if options.netbios_node_type is not None:
        text += line("netbios-nodetype", [options.netbios_node_type])
    return text


def _short(hostname: str) -> str:
    return hostname.split(".", 1)[0]


def _fqdn(hostname: str, domain: str) -> str:
    return hostname if "." in hostname else f"{hostname}.{domain}"


def render_dhcp_hosts(leases: Iterable[Lease]) -> str:
    return "".join(f"{ls.mac},{f'{ls.ip},' if ls.ip else ''}{f'[{ls.ipv6}],' if ls.ipv6 else ''}"
                   f"{_short(ls.hostname)}\n" for ls in sorted(leases, key=lambda x: x.mac))


def render_addn_hosts(leases: Iterable[Lease], domain: str, records: Iterable[tuple[str, str]] = ()) -> str:
    """``IP fqdn short`` per lease, then ``IP name`` per extra record ``(name, ip)`` (a name with
    several records resolves to all of its addresses; an IPv6 one is an AAAA record). A lease
    without IPv4 (an IPv6-only subnet's) gives no line: its AAAA record is an extra record when
    its subnet asks for one."""
    return "".join(
        f"{ls.ip} {_fqdn(ls.hostname, domain)} {_short(ls.hostname)}\n"
        for ls in sorted((x for x in leases if x.ip), key=lambda x: (ipaddress.IPv4Address(x.ip or ""), x.mac))
    ) + "".join(f"{ip} {name}\n" for name, ip in sorted(set(records)))


def check_world_searchable(path: str) -> None:
    """dnsmasq re-reads its hosts files after dropping root: every parent must be o+x."""
    path = os.path.abspath(path)
    while True:
        st = os.stat(path)
        if not st.st_mode & 0o001:
            raise DnsmasqError(
                f"{path} is not searchable by others (mode {st.st_mode & 0o777:o}); dnsmasq "
                "drops privileges and could not re-read its hosts files"
            )
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent


def _write_if_changed(path: str, text: str) -> bool:
    try:
        with open(path) as fh:
            if fh.read() == text:
                return False
    except FileNotFoundError:
        pass
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return True


# --------------------------------------------------------------------------- processes


def dnsmasq_pids() -> list[int]:
    """PIDs of every live dnsmasq process on the host."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            pid = int(entry)
            argv = procfs.cmdline(pid)
            if argv and os.path.basename(argv[0]) == "dnsmasq" and procfs.alive(pid):
                out.append(pid)
    return out


def conf_file_of(pid: int) -> str | None:
    for arg in procfs.cmdline(pid):
        if arg.startswith("--conf-file="):
            return arg.split("=", 1)[1]
    return None


def terminate(pid: int, timeout: float = 3.0) -> None:
    """SIGTERM ``pid``, SIGKILL after ``timeout``; gone already is fine."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not procfs.alive(pid):
            return
        time.sleep(0.01)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


class Dnsmasq:
    """The dnsmasq of one namespace, with its files in ``state_dir``."""

    def __init__(self, netns: str, state_dir: str, user: str | None = None) -> None:
        self.netns = netns
        self.paths = DnsmasqPaths(state_dir)
        self.user = user or default_user()
        # The dnsmasq this object started or reloaded since it was made. One it found running
        # (ec2d restarted, perhaps killed between writing the hosts files and the SIGHUP) may
        # serve older files than those on disk: the first apply reloads it whatever changed.
        self._served_by: int | None = None

    def _pid_from_file(self) -> int | None:
        try:
            with open(self.paths.pid) as fh:
                pid = int(fh.read().strip() or 0)
        except (OSError, ValueError):
            return None
        if pid <= 0 or not procfs.alive(pid) or conf_file_of(pid) != self.paths.conf:
            return None
        return pid

    def _in_netns(self, pid: int) -> bool:
        try:
            st = os.stat(f"/proc/{pid}/ns/net")
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == netns_inode(self.netns)

    def pid(self) -> int | None:
        """PID of this namespace's running dnsmasq (verified by its command line and by its
        network namespace being the current ``netns``), or None."""
        pid = self._pid_from_file()
        if pid is None or not self._in_netns(pid):
            return None
        return pid

    def running(self) -> bool:
        return self.pid() is not None

    def write(self, spec: DnsmasqSpec, leases: Iterable[Lease],
              records: Iterable[tuple[str, str]] = ()) -> tuple[bool, bool]:
        """Render and write the files; returns (config changed, hosts or options changed)."""
        leases = list(leases)
        os.makedirs(self.paths.state_dir, mode=0o755, exist_ok=True)
        os.chmod(self.paths.state_dir, 0o755)
        check_world_searchable(self.paths.state_dir)
        conf = _write_if_changed(self.paths.conf, render_conf(spec, self.paths, self.user))
        hosts = _write_if_changed(self.paths.hosts, render_dhcp_hosts(leases))
        addn = _write_if_changed(self.paths.addn_hosts, render_addn_hosts(leases, spec.domain, records))
        opts = _write_if_changed(self.paths.opts, render_dhcp_opts(spec.dhcp_options))
        return conf, hosts or addn or opts

    def apply(self, spec: DnsmasqSpec, leases: Iterable[Lease], records: Iterable[tuple[str, str]] = ()) -> str:
        """Make the running dnsmasq serve exactly ``spec`` + ``leases`` (+ extra ``(name, ip)`` records).

        Returns what was done: ``started``, ``restarted``, ``reloaded`` or ``unchanged``.
        """
        conf_changed, hosts_changed = self.write(spec, leases, records)
        stale = self._pid_from_file()
        if stale is not None and not self._in_netns(stale):
            terminate(stale)  # serving a namespace that was deleted and re-created
        pid = self.pid()
        if pid is None:
            self._served_by = self.start()
            return "started"
        if conf_changed:
            self.stop()
            self._served_by = self.start()
            return "restarted"
        if hosts_changed or self._served_by != pid:
            self.reload()
            self._served_by = pid
            return "reloaded"
        return "unchanged"

    def start(self) -> int:
        if not os.path.exists(self.paths.leases):
            _write_if_changed(self.paths.leases, "")
        try:
            proc = rootops.start_dnsmasq(self.netns, self.paths.conf)
        except rootops.CommandFailed as exc:
            raise DnsmasqError(f"dnsmasq in {self.netns} failed to start: {exc}") from exc
        if not proc.ok:
            raise DnsmasqError(f"dnsmasq in {self.netns} failed to start: {proc.stderr.strip()}")
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            pid = self.pid()
            if pid is not None:
                return pid
            time.sleep(0.005)
        raise DnsmasqError(f"dnsmasq in {self.netns} started but wrote no pid file")

    def reload(self) -> None:
        """SIGHUP: re-read dhcp-hostsfile, addn-hosts and dhcp-optsfile (the leases are kept)."""
        pid = self.pid()
        if pid is None:
            raise DnsmasqError(f"dnsmasq in {self.netns} is not running")
        os.kill(pid, signal.SIGHUP)

    def stop(self) -> None:
        """Stop it; not running is fine."""
        pid = self._pid_from_file()
        if pid is not None:
            terminate(pid)
        try:
            os.unlink(self.paths.pid)
        except FileNotFoundError:
            pass
