from __future__ import annotations

import pytest

from orchestrator.drivers.network import FakeVpcNetwork, Lease, VpcNetworkDriver
from orchestrator.drivers.network.errors import AlreadyExists, InvalidArgument, SubnetNotFound, VpcNotFound

VPC, SUB = "vpc-0123456789abcdef0", "subnet-0123456789abcdef1"


def test_fake_records_and_models() -> None:
    net: VpcNetworkDriver = FakeVpcNetwork()
    assert isinstance(net, FakeVpcNetwork)
    net.ensure_vpc(VPC, "10.0.0.0/16")
    net.ensure_vpc(VPC, "10.0.0.0/16")
    net.ensure_subnet(VPC, SUB, "10.0.1.0/24")
    tap = net.tap_name("eni-0123456789abcdef2")
    net.plug_port(VPC, SUB, tap)
    net.set_leases(VPC, [Lease("02:00:00:00:00:01", "10.0.1.5", "ip-10-0-1-5")])
    assert net.vpcs[VPC].ports == {tap: SUB} and len(net.vpcs[VPC].leases) == 1
    assert [c[0] for c in net.calls][:3] == ["ensure_vpc", "ensure_vpc", "ensure_subnet"]
    assert net.netns_name(VPC) == "ec2d-" + VPC
    net.unplug_port(VPC, SUB, tap)
    net.delete_subnet(VPC, SUB)
    net.delete_vpc(VPC)
    net.delete_vpc(VPC)
    assert net.vpcs == {}


def test_fake_errors_match_the_real_driver() -> None:
    net = FakeVpcNetwork()
    with pytest.raises(VpcNotFound):
        net.ensure_subnet(VPC, SUB, "10.0.1.0/24")
    net.ensure_vpc(VPC, "10.0.0.0/16")
    with pytest.raises(AlreadyExists):
        net.ensure_vpc(VPC, "10.1.0.0/16")
    with pytest.raises(InvalidArgument):
        net.ensure_subnet(VPC, SUB, "10.1.1.0/24")
    with pytest.raises(SubnetNotFound):
        net.plug_port(VPC, SUB, "ec2dt0123456789")
    with pytest.raises(InvalidArgument):
        net.ensure_vpc("vpc-0123456789abcdef9", "10.0.0.0/8")
    with pytest.raises(InvalidArgument):
        net.set_leases(VPC, [Lease("02:00:00:00:00:01", "10.9.0.5", "ip-10-9-0-5")])
