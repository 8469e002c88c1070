"""Failing closed: what is put in force when the model cannot be enforced exactly.

A model that breaks (a store written by an older version, by hand, a bug) never leaves the
namespace open or with older, wider rules: :func:`compile_tolerant` replaces a group that fails
:func:`~.model.check_group` by a group that allows nothing (``degraded``: its ports keep their other
groups' rules, never more than the model allows); when the ruleset as a whole cannot be compiled
it returns :func:`lockdown_ruleset`: inet forward policy drop, bridge forward drop (holds without
br_netfilter), anti-spoofing kept; guests still reach the namespace (DHCP, DNS, metadata),
nothing else, established flows included.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

from .. import nftables as nft
from ..errors import InvalidArgument
from ..names import LOCKDOWN_CHAIN
from .antispoof import bridge_table
from .compiler import INET_TABLE, Ruleset, compile_ruleset, finish, gen_set
from .driver import SyncOutcome
from .model import Port, SecurityGroup, check_group, check_port

__all__ = ["compile_tolerant", "lockdown_ruleset"]


def _is_ipv4(ip: object) -> bool:
    try:
        ipaddress.IPv4Address(ip)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True


def lockdown_ruleset(vpc_id: str, ports: Sequence[Port], reason: str = "") -> Ruleset:
    """Fail closed: nothing is forwarded in the namespace (inet forward policy drop, and bridge
    forward drop, which holds even without br_netfilter); anti-spoofing stays for every port whose
    model is valid, frames from other bridge ports are dropped. Guests keep DHCP, DNS and
    metadata (namespace-local, not forwarded)."""
    good = []
    for p in ports:
        try:
            check_port(p)
        except InvalidArgument:
            continue
        if not p.local:
            good.append(p)
    # the namespace's own services stay reachable; what it serves on local ports' addresses (a load
    # balancer) is dropped both ways, like forwarded traffic
    local = frozenset(ip for p in ports if p.local for ip in p.ips if _is_ipv4(ip))
    sets: tuple[nft.SetDecl, ...] = (gen_set(),)
    chains: tuple[nft.Chain, ...] = (nft.Chain(LOCKDOWN_CHAIN, hook=nft.Hook("forward", policy="drop")),)
    if local:
        sets += (nft.SetDecl("local", "ipv4_addr"),)
        chains += (nft.Chain(LOCKDOWN_CHAIN + "_in", hook=nft.Hook("input"),
                             rules=(nft.Rule(nft.InSet("ip daddr", "local"), nft.DROP),)),
                   nft.Chain(LOCKDOWN_CHAIN + "_out", hook=nft.Hook("output"),
                             rules=(nft.Rule(nft.InSet("ip saddr", "local"), nft.DROP),)))
    inet = nft.Table("inet", INET_TABLE, sets, chains)
    bridge, elements = bridge_table(good, lockdown=True)
    if local:
        elements[(f"inet {INET_TABLE}", "local")] = local
    why = " ".join(reason.split())[:200]
    return finish(f"# LOCKDOWN of {vpc_id}: forwarded traffic dropped ({why})", (inet, bridge), elements)


def compile_tolerant(
    vpc_id: str, ports: Sequence[Port], groups: Mapping[str, SecurityGroup]
) -> tuple[Ruleset, SyncOutcome]:
    """Compile, failing closed: a group whose rules cannot be compiled is replaced by a group that
    allows nothing (its ports still get their other groups' rules: never more than the model
    allows); when the ruleset as a whole cannot be compiled, the lockdown ruleset."""
    faults: dict[str, str] = {}
    safe: dict[str, SecurityGroup] = {}
    for gid, g in groups.items():
        try:
            check_group(g)
            hash(g)
            safe[gid] = g
        except (InvalidArgument, TypeError) as exc:
            faults[str(gid)] = f"group cannot be compiled: {exc}"
            safe[gid] = SecurityGroup(gid, (), ())
    try:
        ruleset = compile_ruleset(vpc_id, ports, safe)
    except Exception as exc:  # noqa: BLE001 - anything the model holds must fail closed, not open
        faults["*"] = f"ruleset cannot be compiled: {exc}"
        return lockdown_ruleset(vpc_id, ports, str(exc)), SyncOutcome("lockdown", faults)
    return ruleset, SyncOutcome("degraded" if faults else "enforced", faults)
