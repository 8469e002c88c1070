"""VPC peering links: a veth pair between two VPC namespaces, and the forward filter that makes
each side follow its route tables (pure parts here, applied by :func:`apply` for the Linux driver).

- the link: ``px`` + the last 13 hex of the ``pcx-`` id, the same name at both ends (each end lives
  in one VPC's namespace, so deleting either namespace, or a sweep of it, removes the pair); a /30
  of :data:`LINK_BLOCK` (the requester holds the first host, the accepter the second), picked
  free in both namespaces when the pair is made and read back from the link afterwards;
- each namespace routes the peer VPC's CIDRs (primary and secondary) via the peer's end of the link;
- ``table ip ec2d_pcx`` (forward and input hooks): a packet leaves over a peering only from a
  subnet whose route table sends its destination to that connection (``PeeringLink.allowed``);
  a packet that came in over a peering is never forwarded to another peering nor to the internet
  gateway (no transit: NAT gateways and the IGW are both behind ``igw0``), and never reaches the
  namespace's own services (metadata, DNS);
- IPv6 likewise: the link also carries a /126 of :data:`LINK6_BLOCK` (beside its IPv4 /30), each
  namespace routes the peer VPC's /56s over it, and ``table ip6 ec2d_pcx6`` lets a subnet's
  packets out over the peering only to what its route table sends there (``allowed6``), with the
  same no-transit rules (neighbour discovery on the link is the only thing the namespace takes in).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from .. import netlink, netlink_routes, rootops
from .. import nftables as nft
from ..errors import AlreadyExists
from ..names import id_hex
from ..nftables import ACCEPT, DROP, Chain, Hook, Match, Rule, quoted

LINK_BLOCK = ipaddress.IPv4Network("100.66.0.0/16")  # link /30s (CGNAT space, never routed out)
LINK6_BLOCK = ipaddress.IPv6Network("fd00:ec2:66::/96")  # the links' IPv6 /126s: this + their IPv4 addresses
PEERING_TABLE = "ec2d_pcx"
PEERING_TABLE6 = "ec2d_pcx6"
_HAS_IPV6 = os.path.exists("/proc/net/if_inet6")  # False on a kernel booted with ipv6.disable=1
IF_PREFIX = "px"
IGW_IFNAME = "igw0"  # the internet gateway's link (drivers/network/public)
_pair_lock = threading.Lock()  # both sides' syncs may race to make the same pair


@dataclass(frozen=True)
class PeeringLink:
    """One active peering as one side sees it: the connection, the peer VPC's namespace and CIDR,
    whether this side requested it, and per local subnet CIDR the destinations its route table
    sends to the connection (empty: nothing may leave over it)."""

    pcx_id: str
    peer_ns: str
    peer_cidr: str
    requester: bool
    allowed: tuple[tuple[str, tuple[str, ...]], ...] = ()
    secondary_cidrs: tuple[str, ...] = ()  # the peer VPC's secondary IPv4 blocks: routed over the link too
    ipv6_blocks: tuple[str, ...] = ()  # the peer VPC's IPv6 /56s: routed over the link too
    allowed6: tuple[tuple[str, tuple[str, ...]], ...] = ()  # per local subnet /64, as ``allowed``

    @property
    def peer_cidrs(self) -> tuple[str, ...]:
        return (self.peer_cidr, *self.secondary_cidrs)


def ifname(pcx_id: str) -> str:
    """The link's name at both ends (<= 15 characters)."""
    return IF_PREFIX + id_hex(pcx_id)[-13:]


def link_net(pcx_id: str, taken: set[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    """A free /30 of :data:`LINK_BLOCK`, first tried where the connection's id points."""
    nets = 1 << (30 - LINK_BLOCK.prefixlen)
    start = int.from_bytes(hashlib.sha256(pcx_id.encode()).digest()[:4], "big") % nets
    for n in range(nets):
        net = ipaddress.IPv4Network((int(LINK_BLOCK.network_address) + ((start + n) % nets) * 4, 30))
        if net not in taken:
            return net
    raise AlreadyExists("no free peering link network")


def peer_address(own: str) -> str:
    """The other host of the /30 ``own`` (``a.b.c.d/30``) is on."""
    iface = ipaddress.IPv4Interface(own)
    return str(next(h for h in iface.network.hosts() if h != iface.ip))


def address6(address4: str) -> str:
    """The IPv6 address (/126) beside an end's IPv4 one (``a.b.c.d`` or ``a.b.c.d/30``)."""
    return str(LINK6_BLOCK.network_address + int(ipaddress.IPv4Interface(address4).ip))


def _table(family: str, name: str, allowed: Sequence[tuple[str, Sequence[tuple[str, tuple[str, ...]]]]],
           take_in: tuple[Rule, ...] = ()) -> nft.Table:
    """One family's peering filter: per link, what may leave over it (``allowed``, per link:
    (source, destinations)); no transit; of what came in over a peering the namespace takes only
    ``take_in``'s matches."""
    from_px, to_px = Match("iifname", quoted(IF_PREFIX + "*")), Match("oifname", quoted(IF_PREFIX + "*"))
    addr = "ip6" if family == "ip6" else "ip"
    rules = [Rule(from_px, to_px, DROP), Rule(from_px, Match("oifname", quoted(IGW_IFNAME)), DROP)]
    for pcx_id, pairs in allowed:
        out = Match("oifname", quoted(ifname(pcx_id)))
        rules += [Rule(out, Match(f"{addr} saddr", src), Match(f"{addr} daddr", nft.anon_set(dests)), ACCEPT)
                  for src, dests in pairs]
        rules.append(Rule(out, DROP))
    return nft.Table(family, name, (), (
        Chain("peer_fwd", tuple(rules), Hook("forward", priority="filter - 5")),
        Chain("peer_in", (*take_in, Rule(from_px, DROP)), Hook("input", priority="filter - 5")),
    ))


def table6(links: Sequence[PeeringLink]) -> nft.Table:
    """The namespace's IPv6 peering filter (see the module doc): neighbour discovery on the links
    is all it takes in."""
    neighbours = Rule(Match("iifname", quoted(IF_PREFIX + "*")),
                      Match("icmpv6 type", "{ nd-neighbor-solicit, nd-neighbor-advert }"), ACCEPT)
    return _table("ip6", PEERING_TABLE6, [(link.pcx_id, link.allowed6) for link in links], (neighbours,))


def table(links: Sequence[PeeringLink]) -> nft.Table:
    """The namespace's peering filter (see the module doc)."""
    return _table("ip", PEERING_TABLE, [(link.pcx_id, link.allowed) for link in links])


def render(links: Sequence[PeeringLink]) -> str:
    return nft.replace_table(table(links)) + "\n"


def render6(links: Sequence[PeeringLink]) -> str:
    return nft.replace_table(table6(links)) + "\n"


# ---------------------------------------------------------------------------------------------
# Linux


def _own_address(ns: str, name: str) -> str | None:
    info = netlink.link_info(ns, name)
    return info.addresses[0] if info is not None and info.addresses else None


def _taken(*namespaces: str) -> set[ipaddress.IPv4Network]:
    return {ipaddress.IPv4Interface(a).network for ns in namespaces for a in netlink.list_addresses(ns)}


def _ensure_pair(ns: str, link: PeeringLink) -> str | None:
    """The pair exists (made with both ends' addresses, up); returns this end's address, or None
    when the peer's namespace is not there yet (its own sync makes the pair then)."""
    name = ifname(link.pcx_id)
    with _pair_lock:
        own = _own_address(ns, name) if netlink.link_exists(ns, name) else None
        if own is not None:
            return own
        if not netlink.netns_exists(link.peer_ns):
            return None
        netlink.delete_link(ns, name)  # a half-made pair
        netlink.delete_link(link.peer_ns, name)
        net = link_net(link.pcx_id, _taken(ns, link.peer_ns))
        first, second = (f"{h}/30" for h in list(net.hosts())[:2])
        own, theirs = (first, second) if link.requester else (second, first)
        netlink.create_veth(ns, name, name, peer_ns=link.peer_ns)
        netlink.add_address(ns, name, own)
        netlink.add_address(link.peer_ns, name, theirs)
        netlink.set_up(ns, name)
        netlink.set_up(link.peer_ns, name)
        return own


def apply(ns: str, links: Sequence[PeeringLink]) -> None:
    """Make ``ns``'s peering links, routes and filter exactly ``links`` (blocking, idempotent)."""
    wanted = {ifname(link.pcx_id) for link in links}
    for name in netlink.list_links(ns, IF_PREFIX):
        if name not in wanted:
            netlink.delete_link(ns, name)  # its routes (and the peer's end) go with it
    for link in links:
        own = _ensure_pair(ns, link)
        if own is None:
            continue  # the peer's namespace is not up: its own sync makes the pair
        via = peer_address(own)
        for route in netlink_routes.list_routes(ns):  # a block the peer no longer has
            if route.dev == ifname(link.pcx_id) and route.gateway and route.dst not in link.peer_cidrs:
                netlink_routes.delete_route(ns, route.dst)
        for cidr in link.peer_cidrs:
            try:
                netlink_routes.ensure_route(ns, cidr, via=via)
            except AlreadyExists:  # a stale route of an older link for the same CIDR
                netlink_routes.delete_route(ns, cidr)
                netlink_routes.ensure_route(ns, cidr, via=via)
        if _HAS_IPV6:
            _ensure_ipv6(ns, link, own)
    if links:
        rootops.run_nft(render(links), ns)
        if _HAS_IPV6:
            rootops.run_nft(render6(links), ns)
    else:
        rootops.nft_delete_table(ns, "ip", PEERING_TABLE)
        rootops.nft_delete_table(ns, "ip6", PEERING_TABLE6)


def _ensure_ipv6(ns: str, link: PeeringLink, own: str) -> None:
    """Both ends' IPv6 addresses on the link, and the peer's /56s routed over it."""
    name, mine, theirs = ifname(link.pcx_id), address6(own), address6(peer_address(own))
    netlink.add_address6(ns, name, f"{mine}/126")
    if netlink.netns_exists(link.peer_ns) and netlink.link_exists(link.peer_ns, name):
        netlink.add_address6(link.peer_ns, name, f"{theirs}/126")
    wanted = {str(ipaddress.IPv6Network(b)) for b in link.ipv6_blocks}
    for route in netlink_routes.list_routes(ns, family=socket.AF_INET6):
        if route.dev == name and route.gateway and route.dst not in wanted:
            netlink_routes.delete_route(ns, route.dst)
    for block in sorted(wanted):
        try:
            netlink_routes.ensure_route(ns, block, via=theirs)
        except AlreadyExists:  # a stale route of an older link for the same block
            netlink_routes.delete_route(ns, block)
            netlink_routes.ensure_route(ns, block, via=theirs)
