"""``NftFirewall``: the firewall driver on nftables, in each VPC namespace.

A sync compiles the model (:func:`~.failclosed.compile_tolerant`) and applies either the full
script (both tables replaced in one transaction) or, when only set/map elements differ from what
this driver applied last (rules of existing kinds, members, ports joining an existing group
combination), just ``delete element``/``add element`` for the differences, guarded by the
generation element the kernel must hold; any failure falls back to the full script. An unchanged
model still costs one tiny transaction that proves the kernel holds the generation (tables
flushed or a namespace re-created behind the driver's back are noticed). Conntrack state is not
part of the tables, so neither path cuts connections: changed rules affect NEW connections, as
EC2 does for tracked connections.

Before applying, the namespace is prepared (:func:`..hostprep.ensure_netns`: br_netfilter and its
sysctl); when that fails, or the model cannot be compiled, or nft refuses the script, the
namespace gets the lockdown ruleset instead and the reason is logged (fail closed).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .. import hostprep
from . import failclosed, loader
from .compiler import INET, Ruleset, render_delta, touch_generation
from .driver import FirewallDriver, FirewallError, SyncOutcome
from .model import Port, SecurityGroup, local_port

log = logging.getLogger("ec2d.firewall")

__all__ = ["NftFirewall", "SyncStats"]


@dataclass
class SyncStats:
    """How syncs were applied (for tests and the benchmark)."""

    full: int = 0
    delta: int = 0
    noop: int = 0
    fallbacks: int = 0
    lockdowns: int = 0


class NftFirewall(FirewallDriver):
    """nftables implementation: full atomic script, or an element-only delta when possible."""

    def __init__(self, prepare: bool = True) -> None:
        self._applied: dict[str, Ruleset] = {}
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self.stats = SyncStats()
        self.prepare = prepare
        self.outcomes: dict[str, SyncOutcome] = {}

    def sync(
        self, netns: str, vpc_id: str, ports: Sequence[Port], groups: Mapping[str, SecurityGroup]
    ) -> SyncOutcome:
        new, outcome = failclosed.compile_tolerant(vpc_id, ports, groups)
        with self._locks[netns]:
            if outcome.mode != "lockdown" and self.prepare:
                try:
                    hostprep.ensure_netns(netns)
                except hostprep.PreconditionError as exc:
                    new = failclosed.lockdown_ruleset(vpc_id, ports, str(exc))
                    outcome = SyncOutcome("lockdown", {**outcome.faults, "*": str(exc)})
            try:
                self._apply(netns, new)
            except FirewallError as exc:
                if outcome.mode == "lockdown":
                    raise
                outcome = SyncOutcome("lockdown", {**outcome.faults, "*": f"nft refused the ruleset: {exc}"})
                self._apply(netns, failclosed.lockdown_ruleset(vpc_id, ports, str(exc)))
            if outcome.mode == "lockdown":
                self.stats.lockdowns += 1
        self._report(netns, vpc_id, outcome)
        return outcome

    def _report(self, netns: str, vpc_id: str, outcome: SyncOutcome) -> None:
        before = self.outcomes.get(netns)
        self.outcomes[netns] = outcome
        if outcome.mode == "enforced":
            if before is not None and before.mode != "enforced":
                log.warning("security groups of %s enforced again", vpc_id)
            return
        for what, reason in sorted(outcome.faults.items()):
            log.error("security groups of %s: %s: %s", vpc_id, "VPC" if what == "*" else what, reason)
        if outcome.mode == "lockdown":
            log.critical("security groups of %s cannot be enforced: LOCKDOWN, all forwarded traffic "
                         "to and from its instances is dropped until this is fixed", vpc_id)
        else:
            log.error("security groups of %s: the groups above allow nothing until fixed", vpc_id)

    def _apply_delta(self, netns: str, old: Ruleset, new: Ruleset) -> bool:
        """Patch ``old`` into ``new`` by elements; False when a full script is needed."""
        delta = render_delta(old, new)
        unchanged = delta == ""
        if unchanged:  # still prove the kernel holds it (tables removed, namespace re-created?)
            delta = touch_generation(old.generation)
        if delta is None:
            return False
        try:
            loader.apply(netns, delta)
        except FirewallError:
            self.stats.fallbacks += 1  # kernel did not hold `old`: replace everything
            return False
        if unchanged:
            self.stats.noop += 1
        else:
            self.stats.delta += 1
        return True

    def _apply(self, netns: str, new: Ruleset) -> None:
        old = self._applied.pop(netns, None)
        if old is not None and self._apply_delta(netns, old, new):
            self._applied[netns] = new
            return
        loader.apply(netns, new.script())
        self._applied[netns] = new
        self.stats.full += 1

    def remove(self, netns: str) -> None:
        with self._locks[netns]:
            self._applied.pop(netns, None)
            self.outcomes.pop(netns, None)
            loader.remove(netns)

    def lockdown(self, netns: str, vpc_id: str, reason: str) -> None:
        with self._locks[netns]:
            # the model is unreadable: the local addresses last in force are closed too
            held = self._applied.get(netns)
            local = sorted(held.elements.get((INET, "local"), ())) if held is not None else []
            ports = [local_port("held", tuple(local), ())] if local else []
            self._apply(netns, failclosed.lockdown_ruleset(vpc_id, ports, reason))
            self.stats.lockdowns += 1
        self._report(netns, vpc_id, SyncOutcome("lockdown", {"*": reason}))
