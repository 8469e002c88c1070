"""Loading compiled rulesets into a VPC namespace (through :mod:`..rootops`, the one place ``nft``
runs). ``nft -f`` commits a whole file atomically: either everything or nothing, no window without
rules."""

from __future__ import annotations

from .. import nftables as nft
from .. import rootops
from ..errors import NftError
from ..netlink import netns_exists, netns_path
from .antispoof import BRIDGE
from .compiler import INET
from .driver import FirewallError

__all__ = ["apply", "check", "remove"]

_REMOVE = nft.delete_table(INET) + nft.delete_table(BRIDGE)


def _require_ns(netns: str) -> None:
    netns_path(netns)  # validates the name
    if not netns_exists(netns):
        raise FirewallError(f"network namespace {netns} not found")


def _load(netns: str, script: str, check_only: bool) -> None:
    _require_ns(netns)
    try:
        rootops.run_nft(script, netns, check_only=check_only)
    except NftError as exc:
        raise FirewallError(str(exc), stderr=exc.stderr) from exc


def apply(netns: str, script: str) -> None:
    """Load ``script`` inside ``netns`` as one nft transaction; :class:`FirewallError` on refusal."""
    _load(netns, script, check_only=False)


def check(netns: str, script: str) -> None:
    """Validate ``script`` with ``nft -c`` in ``netns`` (nothing is changed)."""
    _load(netns, script, check_only=True)


def remove(netns: str) -> None:
    """Delete ec2d's tables in ``netns``; absent tables or namespace are fine."""
    if not netns_exists(netns):
        return
    apply(netns, _REMOVE)
