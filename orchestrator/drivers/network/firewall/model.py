"""The security-group model the firewall enforces, and the checks a rule must pass to be compiled.

Plain frozen dataclasses, no store, no root: :class:`Rule`, :class:`SecurityGroup`, :class:`Port`.
:func:`check_rule` holds every check the compiler makes of a rule; the API runs each rule it is
about to store through it (``services.security_groups``), so no rule the API accepts can make the
compiler raise. :func:`perm` reduces a rule to one of three shapes the compiler and the reference
semantics (:mod:`.semantics`) share.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from ..errors import InvalidArgument
from .ranges import cidr_range, cidr_range6, is_ipv6_cidr

__all__ = [
    "ALLOW_ALL_EGRESS",
    "ICMP",
    "ICMPV6",
    "PORTED",
    "PROTOCOLS",
    "Perm",
    "Port",
    "Rule",
    "SecurityGroup",
    "check_group",
    "check_port",
    "check_rule",
    "local_port",
    "perm",
    "protocol_number",
]

PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58}
PORTED = (6, 17)
ICMP = 1
ICMPV6 = 58
_ALL_PORTS = (0, 65535)
_ALL_BYTE = (0, 255)


@dataclass(frozen=True)
class Rule:
    """One permission: ``protocol`` ``"tcp"|"udp"|"icmp"|"icmpv6"|"-1"`` (all) or an IP protocol
    number.

    tcp/udp: ``from_port``..``to_port`` (None or -1: all ports). icmp and icmpv6 (58):
    ``from_port`` is the type and ``to_port`` the code (None or -1: all). Other protocols ignore
    ports. The rule matches remote addresses in ``cidrs`` (IPv4 or IPv6) or of ports that are
    members of ``group_ids``. An icmp rule never matches IPv6 traffic, an icmpv6 rule never IPv4.
    """

    protocol: str | int
    from_port: int | None = None
    to_port: int | None = None
    cidrs: tuple[str, ...] = ()
    group_ids: tuple[str, ...] = ()


ALLOW_ALL_EGRESS = Rule("-1", cidrs=("0.0.0.0/0",))


@dataclass(frozen=True)
class SecurityGroup:
    """A group; the defaults are those of a new EC2 group: no ingress, all egress."""

    group_id: str
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = (ALLOW_ALL_EGRESS,)


@dataclass(frozen=True)
class Port:
    """An ENI: its tap (in the VPC namespace), MAC, private IPs, groups and IPv6 addresses.

    ``local``: an ENI whose addresses the namespace holds itself (a load balancer's node: the
    proxy runs in the namespace), so it has no tap and no MAC; its groups filter what the namespace
    receives on those addresses (input hook) and sends from them (output hook), and its addresses
    are members of its groups like any port's (targets' rules may reference them)."""

    eni_id: str
    tap_name: str
    mac: str
    ips: tuple[str, ...]
    group_ids: tuple[str, ...]
    source_dest_check: bool = True
    local: bool = False
    ipv6s: tuple[str, ...] = ()


def local_port(eni_id: str, ips: tuple[str, ...], group_ids: tuple[str, ...]) -> Port:
    """A :class:`Port` held by the namespace itself (see ``Port.local``)."""
    return Port(eni_id, "", "", ips, group_ids, local=True)


@dataclass(frozen=True)
class Perm:
    """A rule reduced to one of four shapes: proto range, tcp/udp ports, icmp or icmpv6 type codes."""

    kind: str  # "p" | "l4" | "icmp" | "icmp6"
    key: int | None  # l4: protocol; icmp, icmp6: type; p: None
    lo: int  # p: protocol range; l4: port range; icmp: code range
    hi: int


def protocol_number(value: str | int) -> int | None:
    """IP protocol number, or None for all."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidArgument(f"protocol must be a name or number, not {value!r}")
    text = str(value).strip().lower()
    if text in ("-1", "all"):
        return None
    if text in PROTOCOLS:
        return PROTOCOLS[text]
    try:
        number = int(text)
    except ValueError:
        raise InvalidArgument(f"unknown protocol {value!r}") from None
    if not 0 <= number <= 255:
        raise InvalidArgument(f"protocol number out of range: {value!r}")
    return number


def _unset(v: int | None) -> bool:
    return v is None or v == -1


def _port_value(v: object) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise InvalidArgument(f"port/type/code must be an integer, not {v!r}")
    return v


def _port_range(rule: Rule, from_port: int | None, to_port: int | None) -> tuple[int, int]:
    if _unset(from_port) and _unset(to_port):
        return _ALL_PORTS
    lo = from_port if from_port is not None and not _unset(from_port) else 0
    hi = to_port if to_port is not None and not _unset(to_port) else lo
    if not 0 <= lo <= hi <= 65535:
        raise InvalidArgument(f"bad port range {rule.from_port}..{rule.to_port}")
    return lo, hi


def _icmp(rule: Rule, itype: int | None, code: int | None, proto: int = ICMP) -> Perm:
    if itype is None or _unset(itype):
        if not _unset(code):
            raise InvalidArgument(f"icmp code {code} needs an icmp type")
        return Perm("p", None, proto, proto)
    lo, hi = _ALL_BYTE if code is None or _unset(code) else (code, code)
    if not (0 <= itype <= 255 and 0 <= lo <= 255):
        raise InvalidArgument(f"bad icmp type/code {rule.from_port}/{rule.to_port}")
    return Perm("icmp" if proto == ICMP else "icmp6", itype, lo, hi)


def perm(rule: Rule) -> Perm:
    """The shape of ``rule`` (:class:`InvalidArgument` when it has none)."""
    proto = protocol_number(rule.protocol)
    from_port, to_port = _port_value(rule.from_port), _port_value(rule.to_port)
    if proto is None:
        return Perm("p", None, *_ALL_BYTE)
    if proto in PORTED:
        return Perm("l4", proto, *_port_range(rule, from_port, to_port))
    if proto in (ICMP, ICMPV6):
        return _icmp(rule, from_port, to_port, proto)
    return Perm("p", None, proto, proto)


def check_rule(rule: Rule) -> None:
    """The compiler's own checks of one rule: :class:`InvalidArgument` unless the compiler can
    express it. The API runs every rule it stores through this very function (no rule the API
    accepts breaks the compiler) and the compiler quarantines a group whose rules fail it."""
    perm(rule)
    if not isinstance(rule.cidrs, (tuple, list)) or not isinstance(rule.group_ids, (tuple, list)):
        raise InvalidArgument("cidrs and group_ids must be sequences")
    for cidr in rule.cidrs:
        if not isinstance(cidr, str):
            raise InvalidArgument(f"bad IPv4 CIDR {cidr!r}")
        (cidr_range6 if is_ipv6_cidr(cidr) else cidr_range)(cidr)
    for gid in rule.group_ids:
        if not isinstance(gid, str) or not gid:
            raise InvalidArgument(f"bad group reference {gid!r}")


def check_group(group: SecurityGroup) -> None:
    """:func:`check_rule` for every rule of ``group`` (and its shape)."""
    if not isinstance(group.group_id, str) or not group.group_id:
        raise InvalidArgument(f"bad group id {group.group_id!r}")
    for rules in (group.ingress, group.egress):
        if not isinstance(rules, (tuple, list)):
            raise InvalidArgument(f"rules of {group.group_id} must be a sequence")
        for rule in rules:
            if not isinstance(rule, Rule):
                raise InvalidArgument(f"bad rule {rule!r} in {group.group_id}")
            check_rule(rule)


def check_port(p: Port) -> None:
    """What the anti-spoofing table needs of a port: a MAC, a usable tap name, IPv4 addresses,
    global IPv6 addresses (a local port: only IPv4 addresses)."""
    if p.local and p.ipv6s:
        raise InvalidArgument(f"local port {p.eni_id} cannot hold IPv6 addresses")
    if p.local:
        for ip in p.ips:
            try:
                ipaddress.IPv4Address(ip)
            except ValueError:
                raise InvalidArgument(f"bad IPv4 address {ip!r} of {p.eni_id}") from None
        return
    if not isinstance(p.mac, str) or not re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", p.mac.lower()):
        raise InvalidArgument(f"bad MAC {p.mac!r}")
    if not isinstance(p.tap_name, str) or not p.tap_name or len(p.tap_name) > 15 or '"' in p.tap_name:
        raise InvalidArgument(f"bad tap name {p.tap_name!r}")
    for ip in p.ips:
        try:
            ipaddress.IPv4Address(ip)
        except ValueError:
            raise InvalidArgument(f"bad IPv4 address {ip!r} of {p.eni_id}") from None
    for ip in p.ipv6s:
        try:
            addr = ipaddress.IPv6Address(ip)
        except ValueError:
            raise InvalidArgument(f"bad IPv6 address {ip!r} of {p.eni_id}") from None
        if addr.is_link_local or addr.is_multicast or addr.is_unspecified:
            raise InvalidArgument(f"IPv6 address {ip} of {p.eni_id} is not a unicast global address")
