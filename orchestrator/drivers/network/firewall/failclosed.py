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

from collections.abc import Mapping, Sequence

from .. import nftables as nft
from ..errors import InvalidArgument
from ..names import LOCKDOWN_CHAIN
from .antispoof import bridge_table
from .compiler import INET_TABLE, Ruleset, compile_ruleset, finish, gen_set
from .driver import SyncOutcome
from .model import Port, SecurityGroup, check_group, check_port

__all__ = ["compile_tolerant", "lockdown_ruleset"]


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
        good.append(p)
    inet = nft.Table("inet", INET_TABLE, (gen_set(),),
                     (nft.Chain(LOCKDOWN_CHAIN, hook=nft.Hook("forward", policy="drop")),))
    bridge, elements = bridge_table(good, lockdown=True)
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
