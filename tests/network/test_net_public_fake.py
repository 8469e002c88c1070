"""FakePublicNetwork keeps the PublicNetworkDriver contract the runtime relies on (pure)."""

from __future__ import annotations

import pytest

from orchestrator.drivers.network.public import (
    FakePublicNetwork,
    LinuxPublicNetwork,
    PoolRouteTaken,
    PublicNetworkDriver,
    PublicNetworkError,
)

VPC, NS = "vpc-0123456789abcdef0", "ec2dt1-vpc-0123456789abcdef0"


def test_fake_models_attach_nat_detach() -> None:
    pub: PublicNetworkDriver = FakePublicNetwork("ec2dt1")
    assert isinstance(pub, FakePublicNetwork)
    pub.ensure()
    with pytest.raises(PublicNetworkError, match="no internet gateway link"):
        pub.set_public_ips(VPC, NS, {"198.18.0.9": "10.0.1.5"})
    pub.attach_vpc(VPC, NS)
    pub.attach_vpc(VPC, NS)  # idempotent
    pub.set_public_ips(VPC, NS, {"198.18.0.9": "10.0.1.5"})
    assert pub.route_of("198.18.0.9") == "10.0.1.5" and pub.route_of("198.18.0.10") is None
    pub.set_public_ips(VPC, NS, {})  # exactly the mapping: the old one is gone
    assert pub.route_of("198.18.0.9") is None
    pub.detach_vpc(VPC, NS)
    pub.detach_vpc(VPC, NS)  # absent is fine
    assert pub.attached == {} and pub.nat == {}
    pub.delete()
    assert not pub.exists
    assert [c[0] for c in pub.calls] == ["ensure", "set_public_ips", "attach_vpc", "attach_vpc", "set_public_ips",
                                         "set_public_ips", "detach_vpc", "detach_vpc", "delete"]


def test_fake_refuses_a_pool_routed_by_another_daemon() -> None:
    pub = FakePublicNetwork("ec2dt1")
    pub.pool_routed_by = "the host link of ec2d prefix ec2dt2"
    pub.ensure()  # no host routes asked: nothing to refuse
    with pytest.raises(PoolRouteTaken):
        pub.ensure(host_routes=True)
    assert not pub.host_routes


def test_fake_and_linux_name_host_objects_alike() -> None:
    fake, real = FakePublicNetwork("ec2dt1", "198.18.0.0/15"), LinuxPublicNetwork("ec2dt1", "198.18.0.0/15")
    assert (fake.ns, fake.host_ifname, fake.peer_ifname(VPC), fake.host_link_net(), fake.pool) == (
        real.ns, real.host_ifname, real.peer_ifname(VPC), real.host_link_net(), real.pool)
    assert real.ns == "ec2dt1-public" and real.peer_ifname(VPC) == "g56789abcdef0"
