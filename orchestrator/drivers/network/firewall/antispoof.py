"""Anti-spoofing per tap, in the bridge family (``table bridge ec2d_as``).

Frames from a managed tap must carry its MAC (Ethernet and ARP sender); only IPv4, ARP and IPv6
are accepted (no VLAN tags that would bypass br_netfilter); unless ``source_dest_check`` is
off, the IPv4 / ARP sender address must be one of the port's IPs (DHCP discover from 0.0.0.0 and
ARP probes from 0.0.0.0 are allowed), and the IPv6 source one of its IPv6 addresses or a
link-local (fe80::/64) one; from the unspecified address (::) only duplicate address detection
(neighbour solicitation) and MLD reports. A guest never sends router advertisements, redirects
or DHCPv6 server/relay messages (UDP source port 547), whatever its source/dest check says.
Frames to a tap: with the check on, IPv4 only for one of the port's addresses (or broadcast /
multicast), so a guest neither sends nor receives others' traffic; off, it may route it.
Everything is keyed ``iifname . x`` (``oifname . x``) in five sets, so the table's rules never
change with the ports: only set elements do.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from ..names import ANTISPOOF_TABLE
from ..nftables import (
    ACCEPT,
    DROP,
    Chain,
    Hook,
    InSet,
    Match,
    Rule,
    SetDecl,
    Table,
    anon_set,
    quoted,
)
from .model import Port

__all__ = ["BRIDGE", "BRIDGE_TABLE", "bridge_table"]

BRIDGE_TABLE = ANTISPOOF_TABLE
BRIDGE = f"bridge {BRIDGE_TABLE}"

_SETS = (
    SetDecl("taps", "ifname"),
    SetDecl("tap_mac", "ifname . ether_addr"),
    SetDecl("tap_ip", "ifname . ipv4_addr"),
    SetDecl("tap_ip6", "ifname . ipv6_addr"),
    SetDecl("sdc_off", "ifname"),
)


@functools.cache
def _prerouting(lockdown: bool) -> Chain:
    arp, ip, ip6 = Match("ether type", "arp"), Match("ether type", "ip"), Match("ether type", "ip6")
    return Chain("prerouting", hook=Hook("prerouting"), rules=(
        # frames from bridge ports that are not ec2d's taps (in lockdown: dropped too)
        Rule(InSet("iifname", "taps", negate=True), DROP if lockdown else ACCEPT),
        Rule(InSet(("iifname", "ether saddr"), "tap_mac", negate=True), DROP),
        Rule(Match("ether type", anon_set(("ip", "arp", "ip6")), negate=True), DROP),
        Rule(arp, InSet(("iifname", "arp saddr ether"), "tap_mac", negate=True), DROP),
        # what only routers and DHCPv6 servers send
        Rule(ip6, Match("icmpv6 type", anon_set(("nd-router-advert", "nd-redirect"))), DROP),
        Rule(ip6, Match("udp sport", "547"), DROP),
        Rule(InSet("iifname", "sdc_off"), ACCEPT),
        Rule(Match("ip saddr", "0.0.0.0"), Match("udp sport", "68"), Match("udp dport", "67"), ACCEPT),
        Rule(ip, InSet(("iifname", "ip saddr"), "tap_ip", negate=True), DROP),
        Rule(Match("arp saddr ip", "0.0.0.0"), ACCEPT),
        Rule(arp, InSet(("iifname", "arp saddr ip"), "tap_ip", negate=True), DROP),
        Rule(ip6, Match("ip6 saddr", "fe80::/64"), ACCEPT),
        Rule(ip6, Match("ip6 saddr", "::"), Match("icmpv6 type", anon_set(
            ("nd-neighbor-solicit", "mld-listener-report", "mld2-listener-report"))), ACCEPT),
        Rule(ip6, InSet(("iifname", "ip6 saddr"), "tap_ip6", negate=True), DROP),
    ))


@functools.cache
def _postrouting() -> Chain:
    """What a managed tap receives: with its source/destination check on, IPv4 only for its own
    addresses (and broadcast / multicast); off, anything (a router's next-hop traffic)."""
    ip = Match("ether type", "ip")
    return Chain("postrouting", hook=Hook("postrouting"), rules=(
        Rule(InSet("oifname", "taps", negate=True), ACCEPT),
        Rule(InSet("oifname", "sdc_off"), ACCEPT),
        Rule(ip, Match("ip daddr", anon_set(("255.255.255.255", "224.0.0.0/4"))), ACCEPT),
        Rule(ip, InSet(("oifname", "ip daddr"), "tap_ip", negate=True), DROP),
    ))


def bridge_table(ports: Sequence[Port], lockdown: bool) -> tuple[Table, dict[tuple[str, str], frozenset[str]]]:
    """The table and its set elements keyed ``(table, set)``. ``lockdown``: frames from bridge
    ports that are not known taps are dropped too, and nothing is bridged from port to port."""
    taps, tap_mac, tap_ip, tap_ip6, sdc_off = set(), set(), set(), set(), set()
    for p in ports:  # elements "<tap>" and "<tap>" . <value> (nft.concat, spelled out: hot path)
        tap = quoted(p.tap_name)
        taps.add(tap)
        tap_mac.add(f"{tap} . {p.mac.lower()}")
        tap_ip.update(f"{tap} . {ip}" for ip in p.ips)
        tap_ip6.update(f"{tap} . {ip}" for ip in p.ipv6s)
        if not p.source_dest_check:
            sdc_off.add(tap)
    elements = {
        (BRIDGE, name): frozenset(elems)
        for name, elems in (("taps", taps), ("tap_mac", tap_mac), ("tap_ip", tap_ip), ("tap_ip6", tap_ip6),
                            ("sdc_off", sdc_off))
    }
    chains = [_prerouting(lockdown), _postrouting()]
    if lockdown:
        chains.append(Chain("forward", hook=Hook("forward", policy="drop")))
    return Table("bridge", BRIDGE_TABLE, _SETS, tuple(chains)), elements
