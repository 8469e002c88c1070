"""The nftables tables of the public side, built from :mod:`..nftables` objects (pure).

- :func:`nat_table`: a VPC namespace's 1:1 NAT (``table ip ec2d_nat``);
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
    Match,
    NatMap,
    Reject,
    Rule,
    quoted,
)
from .driver import IGW_IFNAME, PRIVATE_RANGES

__all__ = [
    "NAT_TABLE",
    "host_filter_table",
    "host_table",
    "nat_table",
    "render_host_filter",
    "render_nat",
    "uplink_table",
]

NAT_TABLE = "ec2d_nat"


def host_table(prefix: str) -> str:
    """The root-namespace nft table (``inet``) of ``prefix``: host-link filter and uplink NAT."""
    return f"{prefix.replace('-', '_')}_host"


def uplink_table(prefix: str) -> str:
    """Name of the uplink NAT table of older releases (``ip``), removed when found."""
    return f"{prefix.replace('-', '_')}_uplink"


def nat_table(mapping: Mapping[str, str]) -> nft.Table:
    """The VPC namespace's 1:1 NAT for ``{public ip: private ip}``."""
    pairs = sorted(mapping.items())
    dnat = (Rule(NatMap("dnat", "ip daddr", tuple(pairs))),) if pairs else ()
    snat = (Rule(Match("oifname", quoted(IGW_IFNAME)),
                 NatMap("snat", "ip saddr", tuple((priv, pub) for pub, priv in pairs))),) if pairs else ()
    return nft.Table("ip", NAT_TABLE, (), (
        Chain("pre", dnat, Hook("prerouting", priority="dstnat", type="nat")),
        Chain("post", snat, Hook("postrouting", priority="srcnat", type="nat")),
    ))


def render_nat(mapping: Mapping[str, str]) -> str:
    """The ``nft -f`` script replacing the VPC's NAT table atomically."""
    return nft.replace_table(nat_table(mapping)) + "\n"


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
