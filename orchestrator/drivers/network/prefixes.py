"""A new data dir's host-object prefix that clashes with none in use on this host.

``Config.resolve_prefix`` calls :func:`free_prefix` the first time a data dir other than the
default one is served; it looks at what is on the host (VPC and public namespaces, ``/run`` dirs)
so the new prefix's names, tap tag and route metric collide with no other data dir's.
"""

from __future__ import annotations

from pathlib import Path

from . import netlink, routes
from .names import _PREFIX_RE, generated_prefix, prefix_of_netns, tap_tag


def free_prefix(base: str) -> str:
    """``base`` + 6 random letters whose names, tap tag and route metric clash with no prefix in use."""
    in_use = {p for p in (prefix_of_netns(ns) for ns in netlink.list_netns()) if p}
    in_use |= {p.name for p in Path("/run").glob(f"{base}*") if p.is_dir()}
    usable = {p for p in in_use if _PREFIX_RE.match(p)}
    tags = {tap_tag(p) for p in usable}
    metrics = {routes.metric_for_prefix(p) for p in usable}

    def clashes(candidate: str) -> bool:
        return (candidate in in_use or tap_tag(candidate) in tags
                or routes.metric_for_prefix(candidate) in metrics)

    return generated_prefix(base, clashes)
