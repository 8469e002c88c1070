"""The pure IPv6 arithmetic of ``domain/ipv6_pools``: /56 allocation, /64 fit, reserved addresses."""

from __future__ import annotations

import ipaddress

import pytest

from orchestrator.domain import ipv6_pools as pools


def test_vpc_blocks_are_the_lowest_free_56_and_distinct() -> None:
    first = pools.allocate_vpc_block([])
    assert first == "2001:db8::/56"
    second = pools.allocate_vpc_block([first])
    assert second == "2001:db8:0:100::/56"
    assert pools.allocate_vpc_block([second]) == first  # a released block is free again
    with pytest.raises(pools.PoolExhausted):
        pools.allocate_vpc_block(["2001:db8::/56", "2001:db8:0:100::/56"], pool="2001:db8::/55")


def test_subnet_block_must_be_a_64_inside_a_vpc_block() -> None:
    vpc = ["2001:db8:0:100::/56"]
    fits = pools.parse_network("2001:db8:0:1ff::/64")
    assert fits is not None and pools.subnet_block_fits(fits, vpc)
    for bad in ("2001:db8:0:200::/64", "2001:db8:0:100::/63", "2001:db8:0:100::/56"):
        net = pools.parse_network(bad)
        assert net is not None and not pools.subnet_block_fits(net, vpc), bad
    assert pools.parse_network("10.0.0.0/24") is None
    assert pools.parse_network("2001:db8::1/64") is None  # host bits set
    assert pools.parse_address("10.0.0.1") is None and pools.parse_address("::1") is not None


def test_reserved_router_and_lowest_free() -> None:
    net = ipaddress.IPv6Network("2001:db8:0:100::/64")
    assert str(pools.router(net)) == "2001:db8:0:100::1"
    assert not pools.usable(net, ipaddress.IPv6Address("2001:db8:0:100::3"))
    assert not pools.usable(net, net.broadcast_address)
    assert pools.usable(net, ipaddress.IPv6Address("2001:db8:0:100::4"))
    assert pools.lowest_free(net, ["2001:db8:0:100::4", "2001:db8:0:100::6"], 3) == [
        "2001:db8:0:100::5", "2001:db8:0:100::7", "2001:db8:0:100::8"]
