"""The nftables tables of the public side, built from :mod:`..nftables` objects (pure).

- :func:`nat_table`: a VPC namespace's 1:1 NAT (``table ip ec2d_nat``);
- :func:`route6_table`: a VPC namespace's IPv6 filter towards the public side (``table ip6 ec2d_route6``);
- :func:`host_filter_table`: the root namespace's table for the host link (``inet {prefix}_host``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .. import nftables as nft
from ..nftables import (
    ACCEPT,
    COUNTER,
    DROP,
    MASQUERADE,
    Chain,
    Hook,
    InSet,
    Keyword,
    Match,
    NatMap,
    Reject,
    Rule,
    quoted,
)
from .driver import IGW_IFNAME, PRIVATE_RANGES, SubnetEgress, SubnetEgress6

__all__ = [
    "NAT_TABLE",
    "host_filter_table",
    "host_table",
    "nat_table",
    "render_host_filter",
    "render_nat",
    "render_route6",
    "route6_table",
    "uplink_table",
]

NAT_TABLE = "ec2d_nat"
ROUTE6_TABLE = "ec2d_route6"


def host_table(prefix: str) -> str:
    """The root-namespace nft table (``inet``) of ``prefix``: host-link filter and uplink NAT."""
    return f"{prefix.replace('-', '_')}_host"


def uplink_table(prefix: str) -> str:
    """Name of the uplink NAT table of older releases (``ip``), removed when found."""
    return f"{prefix.replace('-', '_')}_uplink"


def nat_table(mapping: Mapping[str, str], egress: Sequence[SubnetEgress] | None = None) -> nft.Table:
    """The VPC namespace's 1:1 NAT for ``{public ip: private ip}``; with ``egress``, also the
    NAT gateways' source NAT (before the 1:1 NAT: a subnet routed to a NAT gateway leaves through
    it even from an instance with a public IP) and the route tables' filter (:func:`route_chain`)."""
    pairs = sorted(mapping.items())
    to_igw = Match("oifname", quoted(IGW_IFNAME))
    dnat = (Rule(NatMap("dnat", "ip daddr", tuple(pairs))),) if pairs else ()
    snat = (Rule(to_igw, NatMap("snat", "ip saddr", tuple((priv, pub) for pub, priv in pairs))),) if pairs else ()
    gateways = tuple(Rule(to_igw, Match("ip saddr", e.cidr), Match("ip daddr", nft.anon_set(dests)),
                          Keyword(f"snat ip to {ip}"))
                     for e in egress or () for ip, dests in e.via_nat)
    chains = [Chain("pre", dnat, Hook("prerouting", priority="dstnat", type="nat")),
              Chain("post", gateways + snat, Hook("postrouting", priority="srcnat", type="nat"))]
    if egress is not None:
        chains.append(route_chain(egress))
    return nft.Table("ip", NAT_TABLE, (), tuple(chains))


def route_chain(egress: Sequence[SubnetEgress]) -> Chain:
    """The forward filter that makes the IGW follow the route tables: a subnet's packets towards
    the IGW leave only to the destinations its table routes to the IGW or to a working NAT
    gateway; a packet from outside to a NAT gateway's address that conntrack did not translate
    back (a new connection, not a reply) is dropped, and nothing hairpins back out."""
    to_igw, from_igw = Match("oifname", quoted(IGW_IFNAME)), Match("iifname", quoted(IGW_IFNAME))
    rules = [Rule(from_igw, to_igw, DROP)]
    nat_ips = sorted({ip for e in egress for ip, _ in e.via_nat})
    if nat_ips:
        rules.append(Rule(from_igw, Match("ip daddr", nft.anon_set(nat_ips)), DROP))
    for e in egress:
        allowed = sorted(set(e.direct) | {d for _, dests in e.via_nat for d in dests})
        src = Match("ip saddr", e.cidr)
        rules.append(Rule(to_igw, src, Match("ip daddr", nft.anon_set(allowed), negate=True), DROP) if allowed
                     else Rule(to_igw, src, DROP))
    return Chain("route", tuple(rules), Hook("forward", priority="filter - 5"))


def render_nat(mapping: Mapping[str, str], egress: Sequence[SubnetEgress] | None = None) -> str:
    """The ``nft -f`` script replacing the VPC's NAT table atomically."""
    return nft.replace_table(nat_table(mapping, egress)) + "\n"


def route6_table(egress6: Sequence[SubnetEgress6]) -> nft.Table:
    """The VPC namespace's IPv6 forward filter on its link to the public network (instances' IPv6
    addresses are global, nothing is translated): a subnet's packets leave only to the destinations
    its table routes to the internet gateway or an egress-only one; from outside, a packet reaches
    a subnet only from a source its table routes to the internet gateway (a new connection: the
    security groups decide next) or, routed to an egress-only one, as part of a connection the
    subnet opened (conntrack); nothing else crosses, nothing hairpins back out."""
    to_igw, from_igw = Match("oifname", quoted(IGW_IFNAME)), Match("iifname", quoted(IGW_IFNAME))
    rules = [Rule(from_igw, to_igw, DROP)]
    for e in egress6:
        out = sorted({*e.internet, *e.outbound_only})
        if out:
            rules.append(Rule(to_igw, Match("ip6 saddr", e.cidr), Match("ip6 daddr", nft.anon_set(out)), ACCEPT))
        if e.internet:
            rules.append(Rule(from_igw, Match("ip6 daddr", e.cidr), Match("ip6 saddr", nft.anon_set(e.internet)),
                              ACCEPT))
        if e.outbound_only:
            rules.append(Rule(from_igw, Match("ip6 daddr", e.cidr), Match("ip6 saddr", nft.anon_set(e.outbound_only)),
                              Match("ct state", "established,related"), ACCEPT))
    rules += [Rule(to_igw, COUNTER, DROP), Rule(from_igw, COUNTER, DROP)]
    return nft.Table("ip6", ROUTE6_TABLE, (), (Chain("route6", tuple(rules), Hook("forward", priority="filter - 5")),))


def render_route6(egress6: Sequence[SubnetEgress6]) -> str:
    """The ``nft -f`` script replacing :func:`route6_table` atomically."""
    return nft.replace_table(route6_table(egress6)) + "\n"


def host_filter_table(prefix: str, host_if: str, pool: str, uplink: str | None = None,
                      deny: Sequence[str] = PRIVATE_RANGES) -> nft.Table:
    """The root namespace's table for the host link ``host_if`` (replaced whole).

    - input: from the host link only replies (``ct state established,related``); every connection
      a guest opens to the host itself (sshd, libvirtd, ec2d on 0.0.0.0, any host address) is
      rejected.
    - forward: nothing crosses the host between the host link and anything else, except (with
      ``uplink``) new connections from the pool out of ``uplink`` to addresses outside ``deny``
      (private, link-local, CGNAT, loopback, multicast ranges, the pool, the uplink's own
      networks), and their replies.
    - postrouting (``uplink`` only): the pool is masqueraded behind the uplink's address.
    """
    from_host, to_host = Match("iifname", quoted(host_if)), Match("oifname", quoted(host_if))
    established = Match("ct state", "established,related")
    sets: tuple[nft.SetDecl, ...] = ()
    forward = [Rule(from_host, established, ACCEPT), Rule(to_host, established, ACCEPT)]
    chains = [Chain("input", hook=Hook("input", priority="filter - 10"), rules=(
        Rule(from_host, established, ACCEPT),
        Rule(from_host, COUNTER, Reject("icmpx type admin-prohibited")),
    ))]
    if uplink:
        sets = (nft.SetDecl("blocked", "ipv4_addr", flags=("interval",), auto_merge=True,
                            elements=tuple(sorted(set(deny)))),)
        forward.append(Rule(from_host, Match("oifname", quoted(uplink)), Match("ip saddr", pool),
                            InSet("ip daddr", "blocked", negate=True), ACCEPT))
    forward += [Rule(from_host, COUNTER, DROP), Rule(to_host, COUNTER, DROP)]
    chains.append(Chain("forward", tuple(forward), Hook("forward", priority="filter - 10")))
    if uplink:
        chains.append(Chain("post", hook=Hook("postrouting", priority="srcnat", type="nat"), rules=(
            Rule(Match("oifname", quoted(uplink)), Match("ip saddr", pool), MASQUERADE),
        )))
    return nft.Table("inet", host_table(prefix), sets, tuple(chains))


def render_host_filter(prefix: str, host_if: str, pool: str, uplink: str | None = None,
                       deny: Sequence[str] = PRIVATE_RANGES) -> str:
    """The ``nft -f`` script replacing :func:`host_filter_table` atomically."""
    return nft.replace_table(host_filter_table(prefix, host_if, pool, uplink, deny)) + "\n"
