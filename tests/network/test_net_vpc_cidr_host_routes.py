"""CreateVpc never installs a root ``unreachable`` route that shadows something of the host:
the rule on its own, through the fake driver, against the real routing table, and through the API."""

from __future__ import annotations

import ipaddress
import os
import secrets

import pytest
from botocore.exceptions import ClientError

from orchestrator.drivers.network import netlink_routes, routes
from orchestrator.drivers.network.netlink_routes import RouteInfo
from orchestrator.drivers.network.vpc import FakeVpcNetwork


def route(dst: str, type_: str = "unicast", gateway: str | None = None, proto: int = 2,
          table: int = 254) -> RouteInfo:
    return RouteInfo(dst=dst, type=type_, gateway=gateway, proto=proto, metric=None, table=table)


HOST = [
    route("0.0.0.0/0", gateway="192.168.1.1", proto=4),
    route("192.168.1.0/24"),
    route("10.0.0.0/8", gateway="192.168.1.254", proto=4),  # e.g. a VPN
    route("192.168.1.20/32", "local", table=255),
    route("127.0.0.0/8", "local", table=255),
    route("172.20.0.0/16", "unreachable", proto=routes.RTPROT_EC2D),  # another ec2d's VPC
]


@pytest.mark.parametrize(
    ("cidr", "expected"),
    [
        ("172.20.0.0/16", []),  # same CIDR as another ec2d's fail-closed route: fine
        ("172.31.0.0/16", []),
        ("100.64.0.0/16", []),
        ("192.168.0.0/16", ["host route 192.168.1.0/24", "host gateway 192.168.1.1", "host gateway 192.168.1.254",
                            "host address 192.168.1.20"]),
        ("192.168.1.0/28", ["host route 192.168.1.0/24", "host gateway 192.168.1.1"]),
        ("10.1.0.0/16", ["host route 10.0.0.0/8"]),  # would blackhole part of the VPN
        ("8.8.8.0/24", ["host name server 8.8.8.8"]),  # reached through the default route
        ("169.254.0.0/16", ["reserved range 169.254.0.0/16"]),
        ("169.254.169.0/24", ["reserved range 169.254.0.0/16"]),
        ("127.0.0.0/16", ["reserved range 127.0.0.0/8", "host address 127.0.0.0/8"]),
        ("0.0.0.0/16", ["reserved range 0.0.0.0/8"]),
        ("224.0.0.0/16", ["reserved range 224.0.0.0/4"]),
        ("255.255.255.240/28", ["reserved range 240.0.0.0/4"]),
    ],
)
def test_conflict_rule(cidr: str, expected: list[str]) -> None:
    assert sorted(routes.conflicts(cidr, HOST, ["8.8.8.8"])) == sorted(expected)


def test_nameservers_parsing(tmp_path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# c\nnameserver 10.9.8.7\nnameserver ::1\nnameserver bogus\nsearch x\nnameserver 1.1.1.1\n")
    assert routes.nameservers(str(conf)) == ["10.9.8.7", "1.1.1.1"]
    assert routes.nameservers(str(tmp_path / "missing")) == []


def test_fake_driver_uses_its_host_table() -> None:
    fake = FakeVpcNetwork()
    assert fake.host_conflicts("10.0.0.0/16") == []
    fake.host_routes = [route("10.0.5.0/24")]
    fake.nameservers = ["10.0.9.9"]
    assert fake.host_conflicts("10.0.0.0/16") == ["host route 10.0.5.0/24", "host name server 10.0.9.9"]


# --------------------------------------------------------------------------- the real host


def _real_host_route() -> RouteInfo:
    found = [r for r in netlink_routes.list_routes(None) if ipaddress.IPv4Network(r.dst).prefixlen > 0
             and not (r.proto == routes.RTPROT_EC2D and r.type == "unreachable")
             and not ipaddress.IPv4Network(r.dst).overlaps(ipaddress.IPv4Network("198.18.0.0/15"))
             and 16 <= ipaddress.IPv4Network(r.dst).prefixlen <= 28]
    if not found:
        pytest.skip("the host has no /16-/28 route to collide with")
    return found[0]


@pytest.fixture(scope="module")
def root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")


def test_real_routing_table(root: None) -> None:
    host = _real_host_route()
    assert f"host route {host.dst}" in routes.host_conflicts(host.dst)
    inner = list(ipaddress.IPv4Network(host.dst).subnets(new_prefix=28))[0]
    assert f"host route {host.dst}" in routes.host_conflicts(str(inner))
    for ns in routes.nameservers():
        block = ipaddress.IPv4Network(f"{ns}/24", strict=False)
        assert f"host name server {ns}" in routes.host_conflicts(str(block))
    assert "reserved range 169.254.0.0/16" in routes.host_conflicts("169.254.0.0/16")
    assert any("127.0.0.0/8" in c for c in routes.host_conflicts("127.0.0.0/16"))


def test_own_unreachable_routes_of_any_prefix_do_not_count(root: None) -> None:
    free = _free_cidr()
    prefix = "ec2dt" + secrets.token_hex(2)
    routes.ensure_unreachable(free, prefix=prefix)
    try:
        assert routes.host_conflicts(free) == []
    finally:
        routes.delete_unreachable(free, prefix=prefix)


def _free_cidr() -> str:
    for n in range(1, 250):
        cand = f"10.{n}.0.0/16"
        if not routes.host_conflicts(cand):
            return cand
    pytest.skip("no free 10.x.0.0/16 on this host")


# --------------------------------------------------------------------------- the API


def test_create_vpc_refuses_what_would_shadow_the_host(root: None, ec2) -> None:
    host = _real_host_route()
    before = netlink_routes.list_routes(None)
    bad = [host.dst, "169.254.0.0/16", "169.254.169.0/24", "127.0.0.0/16", "224.0.0.0/16", "0.0.0.0/16",
           "198.18.0.0/16"]
    bad += [str(ipaddress.IPv4Network(f"{ns}/24", strict=False)) for ns in routes.nameservers()]
    for cidr in bad:
        with pytest.raises(ClientError) as info:
            ec2.create_vpc(CidrBlock=cidr)
        err = info.value.response["Error"]
        assert err["Code"] == "InvalidVpc.Range", (cidr, err)
        assert err["Message"].startswith(f"The CIDR '{cidr}' is invalid."), err
    # nothing installed for them (other tests' daemons may add their own routes meanwhile)
    assert [r for r in netlink_routes.list_routes(None) if r not in before and r.dst in bad] == []
    vpcs = {v["CidrBlock"] for v in ec2.describe_vpcs()["Vpcs"]}
    assert not vpcs & set(bad)
    # what EC2 accepts and the host does not use still works, /16 to /28
    free = _free_cidr()
    for cidr in (free, str(list(ipaddress.IPv4Network(free).subnets(new_prefix=28))[1])):
        vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]
        try:
            assert vpc["CidrBlock"] == cidr
            assert any(r.dst == cidr and r.type == "unreachable" for r in netlink_routes.list_routes(None))
        finally:
            ec2.delete_vpc(VpcId=vpc["VpcId"])
    for cidr in ("10.0.0.0/15", "10.0.0.0/29", "not-a-cidr", "10.0.0.1/16"):
        with pytest.raises(ClientError) as info:
            ec2.create_vpc(CidrBlock=cidr)
        assert info.value.response["Error"]["Code"] == "InvalidVpc.Range", cidr
