"""A crash between DeleteVpc's database delete and the removal of its network leaves a namespace,
dnsmasq and a root route; the next start removes them, and only them (not another data dir's)."""

from __future__ import annotations

from pathlib import Path

from ec2d_server import make_test_prefix, start_ec2d
from hostobjects import host_objects

from orchestrator.drivers.network import netlink, routes
from orchestrator.drivers.network.vpc import LinuxVpcNetwork
from orchestrator.hostscope import sweep
from orchestrator.store.sqlite import Store


def test_start_sweeps_networks_of_vpcs_gone_from_the_store(tmp_path: Path) -> None:
    server = start_ec2d(tmp_path / "data")
    prefix = server.config.prefix
    other = make_test_prefix()  # another data dir's objects, with the same CIDR
    foreign = LinuxVpcNetwork(other, f"/run/{other}")
    try:
        ec2 = server.client()
        default_vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        vpc = ec2.create_vpc(CidrBlock="10.123.0.0/16")["Vpc"]["VpcId"]
        foreign.ensure_vpc("vpc-0123456789abcdef0", "10.123.0.0/16")
        ns = f"{prefix}-{vpc}"
        before = host_objects(prefix)
        assert ns in before.namespaces and "10.123.0.0/16" in before.routes
        assert any(netlink.netns_inode(ns) == _netns_of(pid) for pid in before.dnsmasq)
        server.stop(sweep=False)

        store = Store(server.config.db_path)  # the crash: the record is gone, the network is not
        store.delete(vpc)
        store.close()
        assert ns in netlink.list_netns(prefix + "-")

        server = start_ec2d(tmp_path / "data", prefix=prefix)
        after = host_objects(prefix)
        assert ns not in after.namespaces and "10.123.0.0/16" not in after.routes
        assert len(after.dnsmasq) == len(before.dnsmasq) - 1
        assert f"{prefix}-{default_vpc}" in after.namespaces and "172.31.0.0/16" in after.routes
        theirs = host_objects(other)  # untouched
        assert theirs.namespaces == [f"{other}-vpc-0123456789abcdef0"] and theirs.dnsmasq
        assert theirs.routes == ["10.123.0.0/16"]
        assert [v["VpcId"] for v in server.client().describe_vpcs()["Vpcs"]] == [default_vpc]
    finally:
        server.stop()
        foreign.sweep()
        sweep(other)
    assert host_objects(prefix).empty and host_objects(other).empty
    assert "10.123.0.0/16" not in routes.list_unreachable(prefix=other)


def _netns_of(pid: int) -> tuple[int, int] | None:
    import os

    try:
        st = os.stat(f"/proc/{pid}/ns/net")
    except OSError:
        return None
    return st.st_dev, st.st_ino
