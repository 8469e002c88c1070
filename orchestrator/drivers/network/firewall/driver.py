"""The firewall driver interface: security groups of one VPC namespace.

Implementations: :class:`~.nft_driver.NftFirewall` (nftables) and :class:`~.fake.FakeFirewall`
(the model evaluated in Python). Drivers take the model (:mod:`.model`), never read the store, are
idempotent and blocking (call them via ``asyncio.to_thread``). They fail closed: a model that
cannot be enforced exactly never leaves the namespace open or with older, wider rules; what was
put in force is returned as a :class:`SyncOutcome`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import NftError
from .model import Port, SecurityGroup

__all__ = ["FirewallDriver", "FirewallError", "SyncOutcome"]


class FirewallError(NftError):
    """nft refused a script (``stderr`` holds nft's message) or could not be run."""


@dataclass(frozen=True)
class SyncOutcome:
    """What a sync put in force: ``enforced`` (exactly the model), ``degraded`` (groups in
    ``faults`` could not be compiled and allow nothing) or ``lockdown`` (nothing is forwarded)."""

    mode: str
    faults: Mapping[str, str] = field(default_factory=dict)


class FirewallDriver(ABC):
    """Security groups of one VPC namespace. Idempotent; blocking (call via asyncio.to_thread)."""

    @abstractmethod
    def sync(
        self, netns: str, vpc_id: str, ports: Sequence[Port], groups: Mapping[str, SecurityGroup]
    ) -> SyncOutcome:
        """Make the namespace enforce exactly ``groups`` for ``ports``, or fail closed (see
        :class:`SyncOutcome`); raises only when not even the lockdown ruleset could be applied."""

    @abstractmethod
    def remove(self, netns: str) -> None:
        """Remove all security-group state of the namespace (absent is fine)."""

    @abstractmethod
    def lockdown(self, netns: str, vpc_id: str, reason: str) -> None:
        """Forward nothing in the namespace (the model could not even be read)."""
