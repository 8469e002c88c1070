"""Per-ENI packet rate limit on traffic to the metadata service, in the kernel of each VPC namespace.

EC2 allows each ENI 1,024 packets per second to the link-local services (instance metadata among
them); the rest is dropped. ec2d does the same with one small nftables table per VPC namespace::

    table bridge ec2d_imds
        set per_port { type ifname; flags dynamic,timeout; timeout 1m }
        chain prerouting (bridge prerouting, after the anti-spoofing table):
            ip daddr 169.254.169.254 update @per_port { iifname limit rate over 1024/second
                burst 256 packets } counter drop
            (the same for ip6 daddr fd00:ec2::254, the metadata service over IPv6: one budget)

Why here and not in the HTTP server:

* the key is the bridge port the frame came in on (the ENI's tap), which a guest cannot choose
  or forge, whatever source IP or MAC it writes (spoofed frames are dropped by the anti-spoofing
  table anyway); an application-level limit could only key on the source IP;
* excess packets are dropped before they reach the TCP stack or the daemon's event loop, so a
  flood (even of bare SYNs or of garbage) costs ec2d nothing beyond 1,024 packets/s per ENI, and it
  slows only the flooding ENI's own connections (its TCP retransmits), never another ENI's;
* it is stateless for ec2d: no per-guest state to create, forget or restore after a restart. The
  table depends on nothing but the namespace, so it is installed once per VPC (``ensure``) and
  never touched by security-group changes (the buckets are created on the first packet of a port
  and expire a minute after its last one).

The packet rate does not bound how many connections a guest keeps open (an idle connection costs
no packets, and the daemon a file descriptor for as long as it stays open), so the same namespace
also caps concurrent TCP connections to the metadata service per source address (conntrack
``ct count``; the source is trustworthy because of the anti-spoofing table), excess SYNs get a
reset::

    table inet ec2d_imds
        chain input: ip daddr 169.254.169.254 tcp dport 80 ct state new
            add @conns { ip saddr ct count over 64 } counter reject with tcp reset

Several ENIs flooding at once share the daemon's event loop, each held to the same packet budget,
so every ENI slows alike and none is starved. ``bench/imds.py`` measures the effect.
"""

from __future__ import annotations

import re

from . import nftables as nft
from . import rootops
from .errors import NetworkDriverError, NftError
from .names import METADATA_IP, METADATA_IPV6
from .nftables import COUNTER, DROP, Chain, Hook, Match, Reject, Rule, SetDecl, SetUpdate, Table

TABLE = "ec2d_imds"
FAMILY = "bridge"
RATE_PER_SECOND = 1024  # EC2: packets per second per ENI to the link-local services
BURST_PACKETS = 256
MAX_CONNECTIONS = 64  # concurrent TCP connections to the metadata service per source address
_DELETE = nft.delete_table(f"{FAMILY} {TABLE}") + nft.delete_table(f"inet {TABLE}")


def tables(rate: int = RATE_PER_SECOND, burst: int = BURST_PACKETS,
           connections: int = MAX_CONNECTIONS) -> tuple[Table, Table]:
    """The connection cap (``inet``, input hook) and the per-port packet limit (``bridge``), for
    the metadata service's IPv4 and IPv6 addresses (one packet budget per port for both)."""
    conn_cap = Table("inet", TABLE, (SetDecl("conns", "ipv4_addr", flags=("dynamic",), size=65535),
                                     SetDecl("conns6", "ipv6_addr", flags=("dynamic",), size=65535)), (
        Chain("input", hook=Hook("input"), rules=tuple(Rule(
            Match(f"{fam} daddr", addr), Match("tcp dport", "80"), Match("ct state", "new"),
            SetUpdate("add", conns, f"{fam} saddr", f"ct count over {connections}"),
            COUNTER, Reject("tcp reset"),
        ) for fam, addr, conns in (("ip", METADATA_IP, "conns"), ("ip6", METADATA_IPV6, "conns6")))),
    ))
    packet_limit = Table(FAMILY, TABLE, (
        SetDecl("per_port", "ifname", flags=("dynamic", "timeout"), size=65535, timeout="1m"),
    ), (
        Chain("prerouting", hook=Hook("prerouting", priority="filter + 10"), rules=tuple(Rule(
            Match("ether type", etype), Match(f"{fam} daddr", addr),
            SetUpdate("update", "per_port", "iifname", f"limit rate over {rate}/second burst {burst} packets"),
            COUNTER, DROP,
        ) for etype, fam, addr in (("ip", "ip", METADATA_IP), ("ip6", "ip6", METADATA_IPV6)))),
    ))
    return conn_cap, packet_limit


def render(rate: int = RATE_PER_SECOND, burst: int = BURST_PACKETS, connections: int = MAX_CONNECTIONS) -> str:
    """The ``nft -f`` script that (re)creates both tables in one transaction."""
    return "\n".join(nft.replace_table(t) for t in tables(rate, burst, connections)) + "\n"


def _load(netns: str, script: str) -> None:
    try:
        rootops.run_nft(script, netns)
    except NftError as exc:
        raise NetworkDriverError(str(exc)) from exc


def ensure(
    netns: str, rate: int = RATE_PER_SECOND, burst: int = BURST_PACKETS, connections: int = MAX_CONNECTIONS
) -> None:
    """Install (or reset) the limits in ``netns``."""
    _load(netns, render(rate, burst, connections))


def remove(netns: str) -> None:
    """Remove the limits from ``netns`` (absent is fine)."""
    _load(netns, _DELETE)


def _counter(netns: str, family: str, chain: str) -> int | None:
    res = rootops.nft_list(netns, family, TABLE, chain)
    if not res.ok:
        return None
    counts = [int(n) for n in re.findall(r"counter packets (\d+)", res.stdout)]
    return sum(counts) if counts else None


def dropped(netns: str) -> int | None:
    """Packets dropped by the rate limit so far in ``netns`` (None: the table is not there)."""
    return _counter(netns, FAMILY, "prerouting")


def refused(netns: str) -> int | None:
    """Connections refused by the connection cap so far in ``netns`` (None: no table)."""
    return _counter(netns, "inet", "input")
