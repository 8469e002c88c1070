"""A data dir from before DHCP options sets: its VPCs say ``default`` and were served the region's
domain and the VPC resolver; at the next start they are moved onto the region's new default set,
once (a later ``default`` association is the user's and stays)."""

from __future__ import annotations

from pathlib import Path

from api_only import opened_backend

from orchestrator.domain.dhcp_options import DHCP_OPTIONS
from orchestrator.services import bootstrap, dhcp_options


def test_older_vpcs_move_onto_the_default_set_once(tmp_path: Path) -> None:
    with opened_backend(tmp_path) as backend:
        store = backend.store
        vpc = next(v for v in store.list("vpc", "us-east-1") if v.data["IsDefault"])
        for d in store.list(DHCP_OPTIONS, "us-east-1"):  # as an older ec2d left it
            store.delete(d.id)
        store.set_setting("dhcp-options-made:us-east-1", "")
        vpc.data["DhcpOptionsId"] = "default"
        store.update(vpc)
        bootstrap.ensure_defaults(backend)
        moved = store.get(vpc.id)
        assert moved is not None and moved.data["DhcpOptionsId"].startswith("dopt-")
        found = store.get(moved.data["DhcpOptionsId"])
        assert found is not None and found.data["Default"] is True
        dhcp_options.associate(backend, "us-east-1", "default", vpc.id)  # the user's choice now
        bootstrap.ensure_defaults(backend)
        again = store.get(vpc.id)
        assert again is not None and again.data["DhcpOptionsId"] == "default"
