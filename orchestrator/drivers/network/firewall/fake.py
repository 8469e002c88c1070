"""``FakeFirewall``: the firewall contract in memory, for fast tests of services and the API-only
mode. It validates the model exactly as the real driver does (the same failing-closed compile),
records every call and answers :meth:`FakeFirewall.allows` with the reference semantics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .driver import FirewallDriver, SyncOutcome
from .failclosed import compile_tolerant
from .model import Port, SecurityGroup
from .semantics import allows

__all__ = ["FakeFirewall"]


@dataclass
class FakeFirewall(FirewallDriver):
    """Records the model per namespace; :meth:`allows` answers with :func:`~.semantics.allows`."""

    state: dict[str, tuple[str, tuple[Port, ...], dict[str, SecurityGroup]]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    outcomes: dict[str, SyncOutcome] = field(default_factory=dict)

    def sync(
        self, netns: str, vpc_id: str, ports: Sequence[Port], groups: Mapping[str, SecurityGroup]
    ) -> SyncOutcome:
        _, outcome = compile_tolerant(vpc_id, ports, groups)  # same validation as the real driver
        safe = {gid: (SecurityGroup(gid, (), ()) if gid in outcome.faults else g) for gid, g in groups.items()}
        self.state[netns] = (vpc_id, tuple(ports), safe)
        self.outcomes[netns] = outcome
        self.calls.append(("sync", netns))
        return outcome

    def remove(self, netns: str) -> None:
        self.state.pop(netns, None)
        self.calls.append(("remove", netns))

    def lockdown(self, netns: str, vpc_id: str, reason: str) -> None:
        self.state[netns] = (vpc_id, (), {})
        self.outcomes[netns] = SyncOutcome("lockdown", {"*": reason})
        self.calls.append(("lockdown", netns))

    def allows(
        self,
        netns: str,
        src_ip: str,
        dst_ip: str,
        protocol: str | int,
        port: int | None = None,
        code: int | None = None,
    ) -> bool:
        if netns not in self.state:
            return True
        if self.outcomes[netns].mode == "lockdown":
            return False
        _, ports, groups = self.state[netns]
        return allows(ports, groups, src_ip, dst_ip, protocol, port, code)
