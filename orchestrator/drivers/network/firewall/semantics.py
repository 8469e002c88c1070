"""The reference semantics of security groups, in Python: may a NEW flow start?

Used by :class:`~.fake.FakeFirewall` (tests of services) and by the firewall tests as the oracle the
nftables ruleset is checked against with real traffic (``tests/sgfuzz.py``).

EC2 semantics: allow-lists; a port with several groups gets the union of their rules, a port
without groups gets nothing; stateful (replies of an allowed flow pass both ways); traffic
between two ports is checked twice, egress of the sender's groups AND ingress of the receiver's;
a rule naming a group matches any port member of that group, by the member ENIs' IPs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

from .model import ICMP, ICMPV6, Port, Rule, SecurityGroup, perm, protocol_number

__all__ = ["allows"]


def _matches(rule: Rule, remote: str, proto: int | None, port: int | None, code: int | None,
             member: Mapping[str, tuple[str, ...]]) -> bool:
    x = perm(rule)
    if x.kind == "p":
        if proto is None or not x.lo <= proto <= x.hi:
            return False
    elif x.kind == "l4":
        if proto != x.key or port is None or not x.lo <= port <= x.hi:
            return False
    elif proto != (ICMP if x.kind == "icmp" else ICMPV6) or port != x.key or code is None or not x.lo <= code <= x.hi:
        return False
    addr = ipaddress.ip_address(remote)
    if x.kind == ("icmp" if addr.version == 6 else "icmp6"):
        return False  # ICMP never matches IPv6 traffic, ICMPv6 never IPv4
    return any(addr in net for c in rule.cidrs for net in [ipaddress.ip_network(c, strict=False)]
               if net.version == addr.version) or any(g in member.get(remote, ()) for g in rule.group_ids)


def allows(
    ports: Sequence[Port],
    groups: Mapping[str, SecurityGroup],
    src_ip: str,
    dst_ip: str,
    protocol: str | int,
    port: int | None = None,
    code: int | None = None,
) -> bool:
    """May a NEW flow src -> dst (IPv4 or IPv6; ``port``: dport, or ICMP/ICMPv6 type) start?

    Egress of the sender's groups (when the sender is a port) AND ingress of the receiver's.
    """
    proto = protocol_number(protocol)
    src_ip, dst_ip = str(ipaddress.ip_address(src_ip)), str(ipaddress.ip_address(dst_ip))
    by_ip = {str(ipaddress.ip_address(ip)): p for p in ports for ip in (*p.ips, *p.ipv6s)}
    member = {ip: p.group_ids for ip, p in by_ip.items()}

    def permitted(ip: str, remote: str, direction: str) -> bool:
        p = by_ip.get(ip)
        if p is None:
            return True
        return any(
            _matches(r, remote, proto, port, code, member)
            for gid in p.group_ids
            for r in (groups[gid].ingress if direction == "in" else groups[gid].egress)
        )

    return permitted(src_ip, dst_ip, "out") and permitted(dst_ip, src_ip, "in")
