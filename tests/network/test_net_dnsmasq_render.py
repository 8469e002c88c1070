from __future__ import annotations

import pytest

from orchestrator.drivers.network.dnsmasq import (
    DhcpOptions,
    DhcpSubnet,
    DnsmasqPaths,
    DnsmasqSpec,
    Lease,
    render_addn_hosts,
    render_conf,
    render_dhcp_hosts,
    render_dhcp_opts,
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
    assert conf.index("interface=bra") < conf.index("interface=brb")  # stable order


def test_render_conf_answers_a_domain_with_an_address() -> None:
    spec = DnsmasqSpec(domain="ec2.internal", dns_ip="10.0.0.2", listen_addresses=("10.0.0.2",), subnets=(),
                       addresses=(("amazonaws.com", "169.254.169.250"),))
    conf = render_conf(spec, DnsmasqPaths("/run/x/ns"), "nobody").splitlines()
    assert "address=/amazonaws.com/169.254.169.250" in conf
    assert "no-resolv" in conf and not any(line.startswith("server=") for line in conf)  # nothing forwarded


def test_render_conf_answers_a_local_domain_only_from_the_records() -> None:
    """Interface endpoints' names: ``vpce.amazonaws.com`` answered from the hosts file only (a name
    without a record is NXDOMAIN, not the wider ``amazonaws.com`` address)."""
    spec = DnsmasqSpec(domain="ec2.internal", dns_ip="10.0.0.2", listen_addresses=(), subnets=(),
                       addresses=(("amazonaws.com", "169.254.169.250"),), local_domains=("vpce.amazonaws.com",))
    conf = render_conf(spec, DnsmasqPaths("/run/x/ns"), "nobody").splitlines()
    assert "local=/vpce.amazonaws.com/" in conf and "address=/amazonaws.com/169.254.169.250" in conf
    with pytest.raises(InvalidArgument):
        render_conf(DnsmasqSpec(domain="ec2.internal", dns_ip="10.0.0.2", listen_addresses=(), subnets=(),
                                local_domains=("a/b",)), DnsmasqPaths("/run/x/ns"), "nobody")


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


def test_conf_reads_the_options_file_and_hands_out_nothing_itself() -> None:
    spec = DnsmasqSpec(domain="ec2.internal", dns_ip="10.0.0.2", listen_addresses=(), subnets=())
    conf = render_conf(spec, DnsmasqPaths("/run/x/ns"), "nobody").splitlines()
    assert "dhcp-optsfile=/run/x/ns/dhcp-opts" in conf  # re-read on SIGHUP: no restart, leases kept
    assert not any(line.startswith("dhcp-option=option:dns-server") for line in conf)
    assert not any(line.startswith("dhcp-option=option:domain-name") for line in conf)


def test_options_default_to_the_region_domain_and_the_vpc_resolver() -> None:
    spec = DnsmasqSpec(domain="ec2.internal", dns_ip="10.0.0.2", listen_addresses=(), subnets=())
    assert render_dhcp_opts(spec.dhcp_options).splitlines()[1:] == [
        "option:domain-name,ec2.internal", "option:dns-server,10.0.0.2"]


def test_render_a_full_options_set() -> None:
    opts = DhcpOptions("example.internal corp.example", ("10.0.0.2", "10.9.9.9"), ("10.0.0.123", "10.0.0.124"),
                       ("10.0.0.44",), 2)
    assert render_dhcp_opts(opts).splitlines()[1:] == [
        "option:domain-name,example.internal corp.example", "option:dns-server,10.0.0.2,10.9.9.9",
        "option:ntp-server,10.0.0.123,10.0.0.124", "option:netbios-ns,10.0.0.44", "option:netbios-nodetype,2"]


def test_render_no_domain_and_no_dns_sends_neither() -> None:
    """dnsmasq sends its own address as DNS server and its domain unless the option is given empty."""
    assert render_dhcp_opts(DhcpOptions(None, ())).splitlines()[1:] == ["option:domain-name", "option:dns-server"]


@pytest.mark.parametrize("kwargs", [
    {"domain_name": "a,b"}, {"domain_name": "a\nb"}, {"domain_name": ""}, {"dns_servers": ("AmazonProvidedDNS",)},
    {"ntp_servers": ("fd00::1",)}, {"netbios_node_type": 3},
])
def test_options_refuse_what_dnsmasq_would_misread(kwargs: dict) -> None:
    base: dict = {"domain_name": "x.internal", "dns_servers": ("10.0.0.2",)}
    with pytest.raises(InvalidArgument):
        DhcpOptions(**(base | kwargs))


def test_ipv6_only_subnet_gets_dhcpv6_and_ra_only() -> None:
    spec = DnsmasqSpec(domain="ec2.internal", dns_ip="10.0.0.2", listen_addresses=("10.0.0.2",),
                       subnets=(DhcpSubnet("br6", None, "2001:db8:5::/64"), DhcpSubnet("bra", "10.0.1.0/24")),
                       dns_ipv6="fd00:ec2::253")
    conf = render_conf(spec, DnsmasqPaths("/run/x/ns"), "nobody").splitlines()
    assert "interface=br6" in conf and "dhcp-range=set:br6,2001:db8:5::,static,64,3600" in conf
    assert not any(line.startswith(("dhcp-range=set:br6,1", "dhcp-option=tag:br6")) for line in conf)
    assert "enable-ra" in conf and "dhcp-range=set:bra,10.0.1.0,static,255.255.255.0,3600" in conf
    assert "dhcp-option=option6:dns-server,[fd00:ec2::253]" in conf
    v6only = Lease("02:00:00:00:00:0c", None, "i-0123456789abcdef0", "2001:db8:5::10")
    assert render_dhcp_hosts([v6only]) == "02:00:00:00:00:0c,[2001:db8:5::10],i-0123456789abcdef0\n"
    assert render_addn_hosts([v6only, *LEASES], "ec2.internal", [("i-0123456789abcdef0.ec2.internal",
                                                                  "2001:db8:5::10")]) == (
        "10.0.1.5 ip-10-0-1-5.ec2.internal ip-10-0-1-5\n10.0.2.7 ip-10-0-2-7.ec2.internal ip-10-0-2-7\n"
        "2001:db8:5::10 i-0123456789abcdef0.ec2.internal\n")
    with pytest.raises(InvalidArgument):
        Lease("02:00:00:00:00:0d", None, "i-0123456789abcdef1")  # neither IPv4 nor IPv6
