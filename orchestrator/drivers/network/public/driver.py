"""The public network interface: the internet side of every internet gateway.

One namespace (``{prefix}-public``) stands for the internet side of every IGW; each VPC namespace
whose IGW is attached is joined to it by a veth pair:

- VPC side: ``igw0`` in the VPC namespace, the VPC's default route points across it.
- Public side: ``g`` + 12 hex of the VPC id; a /32 route per public IP of that VPC points back.
- 1:1 NAT in the VPC namespace (``table ip ec2d_nat``), as EC2's IGW does it: packets to a public
  IP are DNATed to the instance's private IP, and the instance's packets leaving through the IGW
  are SNATed to its public IP.
- IPv6 (``set_ipv6``): the link also carries a /126 of :data:`LINK6_BLOCK`; the VPC's default IPv6
  route points across it, the public side routes the VPC's /56s back, and ``table ip6
  ec2d_route6`` in the VPC namespace lets through only what the route tables send to the
  internet gateway (both ways) or to an egress-only internet gateway (out, and the replies).
  An egress-only internet gateway uses the same link (a VPC with either gets it).

Each link is a /30 out of 100.64.0.0/16 (carrier-grade NAT space, never routed to the uplink),
picked from the VPC id so it is stable. The root namespace keeps an ``unreachable`` route for the
public pool: nothing reaches it, or leaves through the uplink, unless ``--host-routes`` asks for a
link from the root namespace (then only the pool is routed into the public namespace).

Every object carries the data dir's prefix (``{prefix}-public``, host link ``{prefix}-h``, root
nft table ``inet {prefix}_host``), so two daemons have separate public networks even though their
pools are the same range. Only the root route of the pool itself cannot be shared: one ec2d per
host may use ``--host-routes``/``--uplink-nat``, a second one refuses (:class:`PoolRouteTaken`).

Implementations: :class:`~.linux.LinuxPublicNetwork` and :class:`~.fake.FakePublicNetwork`.
Blocking; call via ``asyncio.to_thread``.
"""

from __future__ import annotations

import hashlib
import ipaddress
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import NetworkDriverError
from ..names import check_prefix, id_hex

__all__ = [
    "HOST_LINK_BLOCK",
    "HOST_PEER_IFNAME",
    "IGW_IFNAME",
    "LINK_BLOCK",
    "POOL_ROUTE_METRIC",
    "PRIVATE_RANGES",
    "PoolRouteTaken",
    "PublicNetworkDriver",
    "PublicNetworkError",
    "SubnetEgress",
    "SubnetEgress6",
    "link6",
    "link_net",
]

IGW_IFNAME = "igw0"
LINK_BLOCK = ipaddress.IPv4Network("100.64.0.0/16")
HOST_LINK_BLOCK = ipaddress.IPv4Network("100.65.0.0/16")  # root <-> public links, one /30 per prefix
LINK6_BLOCK = ipaddress.IPv6Network("fd00:ec2:64::/96")  # the links' IPv6 addresses: this + their IPv4 one
HOST_PEER_IFNAME = "host0"  # the public namespace's end of the host link
POOL_ROUTE_METRIC = 10  # the root route of the pool into the public namespace (one owner per host)
# never reachable from guests through --uplink-nat (plus the pool and the uplink's own networks)
PRIVATE_RANGES = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
)


@dataclass(frozen=True)
class SubnetEgress:
    """What may leave a subnet through the VPC's internet gateway, as its route table says:
    ``direct`` destinations (CIDRs) leave as they are (a public IP's 1:1 NAT applies), those of
    ``via_nat`` (NAT gateway public IP, destination CIDRs) leave translated to that address;
    everything else sent towards the IGW is dropped."""

    cidr: str
    direct: tuple[str, ...] = ()
    via_nat: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class SubnetEgress6:
    """What crosses the VPC's link to the public network over IPv6 for one subnet (``cidr``, its
    /64), as its route table says (instances' IPv6 addresses are global: no NAT): ``internet``
    destinations (routed to the internet gateway) both ways, subject to the security groups;
    ``outbound_only`` destinations (routed to an egress-only internet gateway) only in
    connections the subnet opened, with their replies; nothing else."""

    cidr: str
    internet: tuple[str, ...] = ()
    outbound_only: tuple[str, ...] = ()


class PublicNetworkError(NetworkDriverError):
    """The public side could not be set up as asked (bad option, no IGW link, nft refused)."""


class PoolRouteTaken(PublicNetworkError):
    """Another route (another ec2d's host link) already covers the public pool in the root namespace."""


def link_net(vpc_id: str, taken: set[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    """The /30 joining VPC ``vpc_id`` to the public namespace: stable per VPC id, not in ``taken``."""
    n = int(hashlib.sha256(vpc_id.encode()).hexdigest(), 16) % (LINK_BLOCK.num_addresses // 4)
    for i in range(LINK_BLOCK.num_addresses // 4):
        net = ipaddress.IPv4Network((int(LINK_BLOCK.network_address) + 4 * ((n + i) % 16384), 30))
        if net not in taken:
            return net
    raise PublicNetworkError("no free link networks left")


def link6(address: ipaddress.IPv4Address) -> ipaddress.IPv6Address:
    """The IPv6 address (ULA, /126 per link) standing beside ``address`` on a VPC's link."""
    return LINK6_BLOCK.network_address + int(address)


class PublicNetworkDriver(ABC):
    """What the runtime needs from the public side. ``ensure``/``attach_vpc``/``set_public_ips``
    are idempotent; ``detach_vpc`` and ``delete`` tolerate absence."""

    def __init__(self, prefix: str, pool: str = "198.18.0.0/15") -> None:
        self.prefix = check_prefix(prefix)
        self.pool = ipaddress.IPv4Network(pool)
        self.ns = f"{self.prefix}-public"

    def peer_ifname(self, vpc_id: str) -> str:
        """The public namespace's end of VPC ``vpc_id``'s link."""
        return "g" + id_hex(vpc_id)[-12:]

    @property
    def host_ifname(self) -> str:
        """The root namespace's end of the host link (named after the prefix, for sweeps)."""
        return f"{self.prefix[:12]}-h"

    def host_link_net(self) -> ipaddress.IPv4Network:
        """The /30 of the host link (root side first host, public side second)."""
        n = int(hashlib.sha256(self.prefix.encode()).hexdigest(), 16) % (HOST_LINK_BLOCK.num_addresses // 4)
        return ipaddress.IPv4Network((int(HOST_LINK_BLOCK.network_address) + 4 * n, 30))

    @abstractmethod
    def ensure(self, host_routes: bool = False, uplink: str | None = None) -> None:
        """The public namespace; with ``host_routes`` a link from the host routing just the pool
        into it; with ``uplink`` (explicit opt-in, never in tests) guests with public IPs may reach
        the real internet through the host's interface ``uplink``, masqueraded. Without either
        option, a host link left by an earlier start is removed (the options are the truth).
        :class:`PoolRouteTaken` when another route already covers the pool."""

    @abstractmethod
    def attach_vpc(self, vpc_id: str, vpc_ns: str) -> None:
        """Join the VPC namespace to the public one (IGW attached)."""

    @abstractmethod
    def detach_vpc(self, vpc_id: str, vpc_ns: str) -> None:
        """Remove the VPC's link and its NAT table."""

    @abstractmethod
    def set_public_ips(self, vpc_id: str, vpc_ns: str, mapping: Mapping[str, str],
                       egress: Sequence[SubnetEgress] | None = None) -> None:
        """Make exactly ``{public ip: private ip}`` reachable through this VPC's IGW; with
        ``egress`` (one per subnet), traffic towards the IGW follows the route tables: only what
        it lists leaves, translated to a NAT gateway's address where it says so, and those
        addresses are routed to the VPC too (nothing may open a connection through them).
        :class:`PublicNetworkError` when the VPC is not attached."""

    @abstractmethod
    def set_ipv6(self, vpc_id: str, vpc_ns: str, blocks: Sequence[str], egress6: Sequence[SubnetEgress6]) -> None:
        """IPv6 across the VPC's link exactly as ``egress6`` says (one per subnet with a /64; see
        :class:`SubnetEgress6`), the VPC's ``blocks`` (its /56s) routed to it on the public side.
        The root namespace keeps its ``unreachable`` route for the whole IPv6 pool and the public
        namespace has no way out: nothing leaves the machine. :class:`PublicNetworkError` when
        the VPC is not attached."""

    @abstractmethod
    def set_host_names(self, names: Mapping[str, Sequence[str]]) -> None:
        """Make the host resolve exactly ``{name: [public ip, ...]}`` (with host routes: the host
        reaches those addresses); {} removes them all. ``delete`` removes them too."""

    @abstractmethod
    def delete(self) -> None:
        """Remove the host link, the root table and the public namespace."""
