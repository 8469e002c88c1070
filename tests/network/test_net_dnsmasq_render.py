from __future__ import annotations

import pytest

from orchestrator.drivers.network.dnsmasq import (
    DhcpSubnet,
    DnsmasqPaths,
    DnsmasqSpec,
    Lease,
    render_addn_hosts,
    render_conf,
    render_dhcp_hosts,
)
from orchestrator.drivers.network.errors import InvalidArgument

LEASES = [
    Lease("02:00:00:00:00:0B", "10.0.2.7", "ip-10-0-2-7"),
    Lease("02:00:00:00:00:0a", "10.0.1.5", "ip-10-0-1-5.ec2.internal"),
]


def test_render_conf() -> None:
    spec = DnsmasqSpec(
        domain="ec2.internal",
        dns_ip="10.0.0.2",
        listen_addresses=("10.0.0.2", "169.254.169.253"),
        subnets=(DhcpSubnet("brb", "10.0.2.0/24"), DhcpSubnet("bra", "10.0.1.0/24")),
    )
    conf = render_conf(spec, DnsmasqPaths("/run/x/ns"), "nobody").splitlines()
    assert "no-resolv" in conf and "no-hosts" in conf and "bind-dynamic" in conf
    assert not any(line.startswith("server=") for line in conf)
    assert "listen-address=10.0.0.2" in conf and "local=/ec2.internal/" in conf
    assert "dhcp-hostsfile=/run/x/ns/dhcp-hosts" in conf and "addn-hosts=/run/x/ns/addn-hosts" in conf
    assert "dhcp-range=set:bra,10.0.1.0,static,255.255.255.0,3600" in conf
    assert "dhcp-option=tag:bra,option:router,10.0.1.1" in conf
    assert "dhcp-option=option:dns-server,10.0.0.2" in conf
    assert conf.index("interface=bra") < conf.index("interface=brb")  # stable order


def test_render_conf_answers_a_domain_with_an_address() -> None:
    spec = DnsmasqSpec(domain="ec2.internal", dns_ip="10.0.0.2", listen_addresses=("10.0.0.2",), subnets=(),
                       addresses=(("amazonaws.com", "169.254.169.250"),))
    conf = render_conf(spec, DnsmasqPaths("/run/x/ns"), "nobody").splitlines()
    assert "address=/amazonaws.com/169.254.169.250" in conf
    assert "no-resolv" in conf and not any(line.startswith("server=") for line in conf)  # nothing forwarded


@pytest.mark.parametrize("pair", [("amazonaws.com", "not-an-ip"), ("a/b", "10.0.0.9"), ("", "10.0.0.9"),
                                  ("a b", "10.0.0.9")])
def test_render_conf_refuses_bad_addresses(pair: tuple[str, str]) -> None:
    spec = DnsmasqSpec(domain="ec2.internal", dns_ip="10.0.0.2", listen_addresses=(), subnets=(), addresses=(pair,))
    with pytest.raises(InvalidArgument):
        render_conf(spec, DnsmasqPaths("/run/x/ns"), "nobody")


def test_render_hosts_files() -> None:
    assert (
        render_dhcp_hosts(LEASES)
        == "02:00:00:00:00:0a,10.0.1.5,ip-10-0-1-5\n02:00:00:00:00:0b,10.0.2.7,ip-10-0-2-7\n"
    )
    assert render_addn_hosts(LEASES, "ec2.internal") == (
        "10.0.1.5 ip-10-0-1-5.ec2.internal ip-10-0-1-5\n10.0.2.7 ip-10-0-2-7.ec2.internal ip-10-0-2-7\n"
    )


@pytest.mark.parametrize(
    "args",
    [
        ("02:00:00:00:00", "10.0.0.5", "h"),
        ("02:00:00:00:00:0g", "10.0.0.5", "h"),
        ("02:00:00:00:00:01", "10.0.0.5", "a,b"),
    ],
)
def test_bad_leases(args: tuple[str, str, str]) -> None:
    with pytest.raises(InvalidArgument):
        Lease(*args)
