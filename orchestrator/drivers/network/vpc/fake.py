"""``FakeVpcNetwork``: the VPC network contract in memory, with the real driver's validation and
errors; ``calls`` records every call (tests of services, the API-only mode)."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .. import netlink_routes, routes
from ..dnsmasq import DhcpOptions, Lease
from ..errors import AlreadyExists, InvalidArgument, SubnetNotFound, VpcNotFound
from ..names import bridge_name, check_prefix
from . import peering, subnet_routes
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

__all__ = ["FakeVpc", "FakeVpcNetwork"]


@dataclass
class FakeVpc:
    cidr: str
    subnets: dict[str, str] = field(default_factory=dict)
    v6only: set[str] = field(default_factory=set)  # IPv6-only subnets (no IPv4 CIDR)
    secondary: list[str] = field(default_factory=list)
    ports: dict[str, str] = field(default_factory=dict)  # tap -> subnet id
    leases: list[Lease] = field(default_factory=list)
    local: list[LocalAddress] = field(default_factory=list)
    records: list[HostRecord] = field(default_factory=list)
    options: DhcpOptions | None = None
    peerings: list[PeeringLink] = field(default_factory=list)
    service_access: dict[str, tuple[str, ...]] = field(default_factory=dict)  # address -> sources
    subnet_routes: list[SubnetRoute] = field(default_factory=list)  # routes to ENIs


class FakeVpcNetwork(VpcNetworkDriver):
    """In-memory stand-in with the same validation and errors; ``calls`` records every call."""

    def __init__(self, prefix: str = "ec2d", region: str = "us-east-1") -> None:
        self.prefix = check_prefix(prefix)
        self.region = region
        self.vpcs: dict[str, FakeVpc] = {}
        self.unreachable: set[str] = set()
        self.host_routes: list[netlink_routes.RouteInfo] = []  # the fake host's routing table
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

    def set_service_access(self, vpc_id: str, access: Mapping[str, Sequence[str]]) -> None:
        self._rec("set_service_access", vpc_id, dict(access))
        with self._lock:
            self._vpc(vpc_id).service_access = {a: tuple(s) for a, s in access.items()}

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
            gone = self.vpcs.pop(vpc_id, None)
            if gone is not None:
                others = {c for v in self.vpcs.values() for c in (v.cidr, *v.secondary)}
                self.unreachable -= set(gone.secondary) - others

    def set_secondary_cidrs(self, vpc_id: str, cidrs: Sequence[str]) -> None:
        self._rec("set_secondary_cidrs", vpc_id, tuple(cidrs))
        with self._lock:
            vpc = self._vpc(vpc_id)
            wanted = check_secondary_cidrs(vpc.cidr, cidrs, vpc.subnets)
            others = {c for v_id, v in self.vpcs.items() if v_id != vpc_id for c in (v.cidr, *v.secondary)}
            self.unreachable |= set(wanted)
            self.unreachable -= {c for c in vpc.secondary if c not in wanted and c not in others}
            vpc.secondary = wanted

    def ensure_subnet(self, vpc_id: str, subnet_id: str, cidr: str | None, ipv6_cidr: str | None = None) -> None:
        self._rec("ensure_subnet", vpc_id, subnet_id, cidr, *((ipv6_cidr,) if ipv6_cidr else ()))
        check_subnet_cidrs(cidr, ipv6_cidr)
        bridge_name(subnet_id)
        with self._lock:
            vpc = self._vpc(vpc_id)
            if cidr is None:  # IPv6-only: a bridge without IPv4
                vpc.v6only.add(subnet_id)
                return
            known = vpc.subnets.get(subnet_id)
            if known is not None and ipaddress.IPv4Network(known) != ipaddress.IPv4Network(cidr):
                raise AlreadyExists(f"subnet {subnet_id} exists with CIDR {known}, not {cidr}")
            check_subnet_in_vpc([vpc.cidr, *vpc.secondary], str(ipaddress.IPv4Network(cidr)), vpc.subnets, subnet_id)
            vpc.subnets[subnet_id] = str(ipaddress.IPv4Network(cidr))

    def delete_subnet(self, vpc_id: str, subnet_id: str) -> None:
        self._rec("delete_subnet", vpc_id, subnet_id)
        with self._lock:
            vpc = self.vpcs.get(vpc_id)
            if vpc is not None:
                vpc.subnets.pop(subnet_id, None)
                vpc.v6only.discard(subnet_id)
                vpc.ports = {t: s for t, s in vpc.ports.items() if s != subnet_id}

    def plug_port(self, vpc_id: str, subnet_id: str, tap_name: str) -> None:
        self._rec("plug_port", vpc_id, subnet_id, tap_name)
        with self._lock:
            vpc = self._vpc(vpc_id)
            if subnet_id not in vpc.subnets and subnet_id not in vpc.v6only:
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
                if lease.ip is not None and not any(ipaddress.IPv4Address(lease.ip) in ipaddress.IPv4Network(c)
                           for c in (vpc.cidr, *vpc.secondary)):
                    raise InvalidArgument(f"lease {lease.ip} is outside VPC {vpc_id} ({vpc.cidr})")
            vpc.leases = sorted(set(leases), key=lambda x: (x.mac, x.ip or ""))

    def set_dhcp_options(self, vpc_id: str, options: DhcpOptions | None) -> None:
        self._rec("set_dhcp_options", vpc_id, options)
        with self._lock:
            self._vpc(vpc_id).options = options

    def set_local_addresses(self, vpc_id: str, addresses: Sequence[LocalAddress],
                            records: Sequence[HostRecord] = ()) -> None:
        self._rec("set_local_addresses", vpc_id, tuple(addresses), tuple(records))
        with self._lock:
            vpc = self._vpc(vpc_id)
            for a in addresses:
                cidr = vpc.subnets.get(a.subnet_id)
                if cidr is None:
                    raise SubnetNotFound(f"subnet {a.subnet_id} has no bridge")
                if ipaddress.IPv4Address(a.ip) not in ipaddress.IPv4Network(cidr):
                    raise InvalidArgument(f"{a.ip} is not in subnet {a.subnet_id} ({cidr})")
            vpc.local = sorted(set(addresses), key=lambda a: (a.subnet_id, a.ip))
            vpc.records = sorted(set(records), key=lambda r: (r.name, r.ip))

    def set_peerings(self, vpc_id: str, links: Sequence[PeeringLink]) -> None:
        self._rec("set_peerings", vpc_id, tuple(links))
        peering.table(links)  # the real driver's filter builds from the same links
        with self._lock:
            self._vpc(vpc_id).peerings = list(links)

    def set_subnet_routes(self, vpc_id: str, routes: Sequence[SubnetRoute]) -> None:
        self._rec("set_subnet_routes", vpc_id, tuple(routes))
        with self._lock:
            vpc = self._vpc(vpc_id)
            subnet_routes.check(routes, vpc.subnets)
            vpc.subnet_routes = list(routes)

    def ensure_unreachable(self, cidr: str) -> None:
        self._rec("ensure_unreachable", cidr)
        self.unreachable.add(str(ipaddress.ip_network(cidr)))

    def delete_unreachable(self, cidr: str) -> None:
        self._rec("delete_unreachable", cidr)
        self.unreachable.discard(str(ipaddress.ip_network(cidr)))

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
            keep = {str(ipaddress.ip_network(c)) for c in cidrs}
            routes_gone = sorted(self.unreachable - keep)
            self.unreachable &= keep
        return SweepReport(namespaces=[self.netns_name(v) for v in gone], routes=routes_gone)
