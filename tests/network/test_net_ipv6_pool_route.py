"""The VPCs' IPv6 pool fails closed in the root namespace: an ``unreachable`` IPv6 route of the
prefix (kept by every daemon start, never swept while the daemon runs), on the real kernel."""

from __future__ import annotations

import os
import secrets
import subprocess

import pytest

from orchestrator.domain.ipv6_pools import VPC_POOL
from orchestrator.drivers.network import routes

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (netlink)")


def test_ipv6_pool_unreachable_route_is_installed_listed_and_removed() -> None:
    prefix = "ec2dt" + secrets.token_hex(2)
    routes.ensure_unreachable(VPC_POOL, prefix=prefix)
    try:
        routes.ensure_unreachable(VPC_POOL, prefix=prefix)  # present is fine
        assert VPC_POOL in routes.list_unreachable(prefix=prefix)
        shown = subprocess.run(["ip", "-6", "route", "show", "type", "unreachable", "proto", str(routes.RTPROT_EC2D)],
                               capture_output=True, text=True, check=True).stdout
        assert VPC_POOL in shown, shown
        probe = subprocess.run(["ip", "-6", "route", "get", "2001:db8:0:100::5"], capture_output=True, text=True)
        assert probe.returncode != 0 and "no route to host" in probe.stderr.lower(), probe  # EHOSTUNREACH
    finally:
        assert routes.sweep_unreachable(prefix) == [VPC_POOL]
    assert routes.list_unreachable(prefix=prefix) == []
