"""The VPC user guide's table of IPv4 CIDR blocks a VPC may add, keyed by its primary block's range,
and the association states (pure: domain/vpc_cidrs.py)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.domain import errors
from orchestrator.domain.lifecycle import IllegalTransition
from orchestrator.domain.vpc_cidrs import CidrBlockState, check_new, move, network_cidrs


def vpc(primary: str, *others: tuple[str, str]) -> dict[str, Any]:
    assocs = [{"AssociationId": "vpc-cidr-assoc-0", "CidrBlock": primary, "CidrBlockState": {"State": "associated"}}]
    assocs += [{"AssociationId": f"vpc-cidr-assoc-{n}", "CidrBlock": c, "CidrBlockState": {"State": s}}
               for n, (c, s) in enumerate(others, start=1)]
    return {"CidrBlock": primary, "CidrBlockAssociationSet": assocs}


@pytest.mark.parametrize(("primary", "new", "allowed"), [
    ("10.0.0.0/16", "10.1.0.0/16", True),
    ("10.0.0.0/16", "100.64.0.0/16", True),  # shared address space joins any
    ("10.0.0.0/16", "203.0.113.0/24", True),  # publicly routable joins any
    ("10.0.0.0/16", "172.16.0.0/16", False),  # another RFC 1918 range
    ("10.0.0.0/16", "192.168.0.0/16", False),
    ("10.0.0.0/16", "198.19.0.0/16", False),
    ("10.2.0.0/16", "10.0.0.0/16", True),  # 10.0.0.0/16 is refused only next to a block of 10.0.0.0/15
    ("10.1.0.0/16", "10.0.0.0/24", False),
    ("172.16.0.0/16", "172.17.0.0/16", True),
    ("172.16.0.0/16", "172.31.0.0/16", False),  # 172.31.0.0/16 never joins a 172.16.0.0/12 VPC
    ("172.16.0.0/16", "10.0.0.0/16", False),
    ("192.168.0.0/20", "192.168.16.0/20", True),
    ("192.168.0.0/20", "10.0.0.0/16", False),
    ("198.19.0.0/16", "100.64.0.0/16", True),
    ("198.19.0.0/16", "10.0.0.0/16", False),
    ("100.64.0.0/16", "203.0.113.0/24", True),
    ("100.64.0.0/16", "198.19.0.0/16", False),
    ("100.64.0.0/16", "10.0.0.0/16", False),
])
def test_restriction_table(primary: str, new: str, allowed: bool) -> None:
    if allowed:
        assert str(check_new("vpc-1", vpc(primary), new)) == new
    else:
        with pytest.raises(errors.ApiError, match="is restricted") as info:
            check_new("vpc-1", vpc(primary), new)
        assert info.value.code == "InvalidVpc.Range"


def test_limit_counts_blocks_not_yet_settled() -> None:
    data = vpc("10.0.0.0/16", ("10.1.0.0/16", "associated"), ("10.2.0.0/16", "associating"),
               ("10.3.0.0/16", "disassociating"), ("10.4.0.0/16", "associated"))
    with pytest.raises(errors.ApiError) as info:
        check_new("vpc-1", data, "10.5.0.0/16")
    assert info.value.code == "CidrLimitExceeded"
    assert network_cidrs(data) == ["10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/16", "10.4.0.0/16"]


def test_route_destinations_bound_the_block() -> None:
    routes = [("rtb-1", "10.9.0.0/24")]
    assert str(check_new("vpc-1", vpc("10.0.0.0/16"), "10.9.0.0/25", routes)) == "10.9.0.0/25"
    for cidr in ("10.9.0.0/24", "10.9.0.0/16"):
        with pytest.raises(errors.ApiError, match="rtb-1"):
            check_new("vpc-1", vpc("10.0.0.0/16"), cidr, routes)


def test_states_move_along_the_lifecycle() -> None:
    entry = vpc("10.0.0.0/16", ("10.1.0.0/16", "associating"))["CidrBlockAssociationSet"][1]
    assert move(entry, CidrBlockState.ASSOCIATED)["CidrBlockState"] == {"State": "associated"}
    with pytest.raises(IllegalTransition):
        move(entry, CidrBlockState.DISASSOCIATED)
    move(entry, CidrBlockState.DISASSOCIATING)
    move(entry, CidrBlockState.DISASSOCIATED)
