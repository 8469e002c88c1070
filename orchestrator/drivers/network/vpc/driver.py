"""The VPC network driver interface: what services need from the host network for VPCs.

Implementations: :class:`~.linux.LinuxVpcNetwork` and :class:`~.fake.FakeVpcNetwork`. How a VPC
maps onto the host:

* a VPC is one network namespace ``{prefix}-{vpc_id}`` holding everything of the VPC, with
  ``net.ipv4.ip_forward=1`` and IPv6 forwarding inside it only (routing between its subnets; it
  never takes router advertisements itself);
* the namespace's ``lo`` carries 169.254.169.254/32 (instance metadata), 169.254.169.253/32 and
  the VPC base+2 /32 (AmazonProvidedDNS); this kernel has no ``dummy`` driver, and ``lo`` exists in
  every namespace anyway. Guests reach those addresses
  through their default route (the subnet gateway routes to a local address) and also on-link,
  because the namespace answers ARP for any of its local addresses on every bridge (arp_ignore=0);
  no DHCP classless-route option is needed;
* a subnet is a bridge ``br<13 hex>`` in the namespace with the gateway (base+1/prefixlen) and a
  fixed MAC, plus ``::1/64`` of its IPv6 /64 when it has one (dnsmasq then serves DHCPv6 by MAC
  and sends router advertisements with the M flag and no SLAAC prefix);
* an ENI is a tap created by libvirt in the root namespace; :meth:`plug_port` moves it into the
  namespace, enslaves it to the subnet bridge and sets it up (right after the domain starts);
* dnsmasq in the namespace hands out static leases (MAC -> IP) and answers DNS for
  ``ip-a-b-c-d.ec2.internal`` / ``ip-a-b-c-d.<region>.compute.internal`` on the VPC base+2 (and the
  gateways and 169.254.169.253), never forwarding anything;
* every VPC CIDR (the primary and each secondary one, :meth:`set_secondary_cidrs`) gets an
  ``unreachable`` route in the root namespace (fail closed, nothing leaks out
  of the uplink).

Drivers never read the store. All methods are idempotent where named ``ensure_*``; deletes tolerate
absence. The Linux driver is blocking (milliseconds); call it via ``asyncio.to_thread``.
"""

from __future__ import annotations

import ipaddress
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..dnsmasq import DhcpOptions, Lease
from ..errors import InvalidArgument
from ..names import netns_name as _netns_name
from ..names import tap_name as _tap_name
from .peering import PeeringLink
from .subnet_routes import SubnetRoute

__all__ = ["DhcpOptions", "HostRecord", "Lease", "LocalAddress", "PeeringLink", "SubnetRoute", "SweepReport",
           "VpcNetworkDriver", "check_secondary_cidrs", "check_subnet_cidrs", "check_subnet_in_vpc"]


@dataclass(frozen=True)
class LocalAddress:
    """An address the VPC's namespace itself holds on a subnet's bridge (with the subnet's prefix
    length), for a service running in the namespace: a load balancer's node in that subnet."""

    subnet_id: str
    ip: str


@dataclass(frozen=True)
class HostRecord:
    """An extra DNS A record the VPC's resolver answers (a load balancer's name -> a node address;
    several records of one name give several addresses). ``ip`` may be outside the VPC (public);
    an IPv6 ``ip`` makes an AAAA record (an IPv6-only subnet's resource names)."""

    name: str
    ip: str

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "ip", str(ipaddress.ip_address(self.ip)))
        except ValueError as exc:
            raise InvalidArgument(f"bad IP address {self.ip!r}") from exc
        if not self.name or any(c.isspace() or c in ",#" for c in self.name) or "." not in self.name:
            raise InvalidArgument(f"bad DNS name {self.name!r}")


@dataclass
class SweepReport:
    namespaces: list[str] = field(default_factory=list)
    taps: list[str] = field(default_factory=list)
    dnsmasq_pids: list[int] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)
    state_dirs: list[str] = field(default_factory=list)


def check_subnet_cidrs(cidr: str | None, ipv6_cidr: str | None) -> ipaddress.IPv4Network | None:
    """A subnet's IPv4 network (None: IPv6-only, which then needs its /64); its IPv6 block a /64."""
    if ipv6_cidr is not None and ipaddress.IPv6Network(ipv6_cidr).prefixlen != 64:
        raise InvalidArgument(f"subnet IPv6 CIDR {ipv6_cidr} must be a /64")
    if cidr is None and ipv6_cidr is None:
        raise InvalidArgument("an IPv6-only subnet needs its IPv6 /64")
    return ipaddress.IPv4Network(cidr) if cidr is not None else None


def check_subnet_in_vpc(vpc_cidrs: str | Sequence[str], cidr: str, others: dict[str, str], subnet_id: str) -> None:
    """``cidr`` lies inside one of the VPC's IPv4 CIDRs (primary and secondary) and overlaps no other subnet."""
    blocks = [vpc_cidrs] if isinstance(vpc_cidrs, str) else list(vpc_cidrs)
    net = ipaddress.IPv4Network(cidr)
    if not any(net.subnet_of(ipaddress.IPv4Network(b)) for b in blocks):
        raise InvalidArgument(f"subnet {cidr} is not inside VPC {', '.join(blocks)}")
    if net.prefixlen > 28:
        raise InvalidArgument(f"subnet {cidr} is smaller than /28")
    for other_id, other in others.items():
        if other_id != subnet_id and net.overlaps(ipaddress.IPv4Network(other)):
            raise InvalidArgument(f"subnet {cidr} overlaps {other_id} ({other})")


def check_secondary_cidrs(primary: str, cidrs: Sequence[str], subnets: dict[str, str]) -> list[str]:
    """The normalized secondary CIDRs of a VPC whose primary is ``primary``: each /16-/28, none
    overlapping the primary or another, and every subnet of ``subnets`` still inside one block."""
    out: list[str] = []
    nets = [ipaddress.IPv4Network(primary)]
    for c in cidrs:
        net = ipaddress.IPv4Network(c)
        if not 16 <= net.prefixlen <= 28:
            raise InvalidArgument(f"VPC CIDR {c} must be between /16 and /28")
        if any(net.overlaps(n) for n in nets):
            raise InvalidArgument(f"VPC CIDR {c} overlaps another CIDR of the VPC")
        nets.append(net)
        out.append(str(net))
    for sid, scidr in subnets.items():
        if not any(ipaddress.IPv4Network(scidr).subnet_of(n) for n in nets):
            raise InvalidArgument(f"subnet {sid} ({scidr}) would be outside the VPC's CIDRs")
    return out


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
    def set_secondary_cidrs(self, vpc_id: str, cidrs: Sequence[str]) -> None:
        """The VPC's secondary IPv4 CIDRs exactly: each gets its root ``unreachable`` route (a
        removed one loses it unless another VPC of the prefix has it) and may hold subnets and
        leases. A CIDR still holding a subnet cannot be removed (``InvalidArgument``)."""

    @abstractmethod
    def ensure_subnet(self, vpc_id: str, subnet_id: str, cidr: str | None, ipv6_cidr: str | None = None) -> None:
        """The subnet's bridge (gateway, and ``::1`` of its IPv6 /64 when it has one) and DHCP
        on it (DHCPv6 and router advertisements for the /64). ``cidr`` None: an IPv6-only subnet
        (``ipv6_cidr`` required): no IPv4 address on its bridge and no DHCPv4 on it."""

    @abstractmethod
    def delete_subnet(self, vpc_id: str, subnet_id: str) -> None: ...

    @abstractmethod
    def plug_port(self, vpc_id: str, subnet_id: str, tap_name: str) -> None: ...

    @abstractmethod
    def unplug_port(self, vpc_id: str, subnet_id: str, tap_name: str) -> None: ...

    @abstractmethod
    def set_leases(self, vpc_id: str, leases: Sequence[Lease]) -> None: ...

    @abstractmethod
    def set_dhcp_options(self, vpc_id: str, options: DhcpOptions | None) -> None:
        """The VPC's DHCP options set (None: the region's default: its domain and the VPC's
        resolver); leases are kept, guests get the options when they renew."""

    @abstractmethod
    def set_local_addresses(self, vpc_id: str, addresses: Sequence[LocalAddress],
                            records: Sequence[HostRecord] = ()) -> None:
        """Replace the namespace's own addresses on subnet bridges (each inside its subnet) and the
        extra DNS records the resolver answers; addresses no longer listed are removed."""

    @abstractmethod
    def set_service_access(self, vpc_id: str, access: Mapping[str, Sequence[str]]) -> None:
        """Who reaches the namespace's service addresses (``{address: source CIDRs}``; S3's
        addresses, served in every VPC): only those sources (``vpc/service_access.py``)."""

    @abstractmethod
    def set_peerings(self, vpc_id: str, links: Sequence[PeeringLink]) -> None:
        """The VPC's active peering links exactly (``vpc/peering.py``): a veth pair to each peer
        VPC's namespace, a route to its CIDR, and the filter that follows the route tables; links
        no longer listed are removed (with the peer's end)."""

    @abstractmethod
    def set_subnet_routes(self, vpc_id: str, routes: Sequence[SubnetRoute]) -> None:
        """The VPC's routes to ENIs exactly (``vpc/subnet_routes.py``): per subnet, the
        destinations its route table sends to an ENI's address (or drops: a blackhole)."""

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
