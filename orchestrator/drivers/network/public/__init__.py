"""The public network (internet side of every IGW): interface (:mod:`.driver`), Linux
implementation (:mod:`.linux`), fake (:mod:`.fake`) and its nft tables (:mod:`.rules`)."""

from .driver import (
    HOST_LINK_BLOCK,
    HOST_PEER_IFNAME,
    IGW_IFNAME,
    LINK_BLOCK,
    POOL_ROUTE_METRIC,
    PRIVATE_RANGES,
    PoolRouteTaken,
    PublicNetworkDriver,
    PublicNetworkError,
)
from .fake import FakePublicNetwork
from .linux import LinuxPublicNetwork
from .rules import host_table, render_host_filter, render_nat, uplink_table

# The name callers used before the split (server.py, cli/sweep.py, tests); same class.
PublicNetwork = LinuxPublicNetwork

__all__ = [
    "HOST_LINK_BLOCK",
    "HOST_PEER_IFNAME",
    "IGW_IFNAME",
    "LINK_BLOCK",
    "POOL_ROUTE_METRIC",
    "PRIVATE_RANGES",
    "FakePublicNetwork",
    "LinuxPublicNetwork",
    "PoolRouteTaken",
    "PublicNetwork",
    "PublicNetworkDriver",
    "PublicNetworkError",
    "host_table",
    "render_host_filter",
    "render_nat",
    "uplink_table",
]
