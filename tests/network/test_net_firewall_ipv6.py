"""Security groups and anti-spoofing for IPv6: compiler unit tests and behaviour in REAL namespaces.

Topology (fw_helpers.Topology) as in test_net_firewall.py, plus an IPv6 address per guest in one
/64 (2001:db8:50::a/b/c, no DAD) on the same bridge: traffic between guests is bridged, so it
reaches ``table inet ec2d_sg`` through br_netfilter (bridge-nf-call-ip6tables). A TCP server
listens on [b]:8080. Blocked connects time out after 1 s. Removed by the module finalizer.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import time
from collections.abc import Iterator, Mapping

import pytest
from fw_helpers import PORT, TcpServer, Topology, UdpSink, can_run, needs_root, new_prefix

from orchestrator.drivers.network import netlink
from orchestrator.drivers.network.errors import InvalidArgument
from orchestrator.drivers.network.firewall import (
    ALLOW_ALL_EGRESS,
    NftFirewall,
    Port,
    Rule,
    SecurityGroup,
    allows,
    check_rule,
    compile_ruleset,
    remove,
    render,
)

VPC = "vpc-0f1e2d3c4b5a69788"
GA, GB, GC = "sg-0aaaaaaaaaaaaaaa1", "sg-0bbbbbbbbbbbbbbb2", "sg-0ccccccccccccccc3"
V4 = {"a": "10.50.0.10", "b": "10.50.0.11", "c": "10.50.0.12"}
V6 = {"a": "2001:db8:50::a", "b": "2001:db8:50::b", "c": "2001:db8:50::c"}
A6, B6, C6 = V6["a"], V6["b"], V6["c"]
ALL_OUT = (ALLOW_ALL_EGRESS, Rule("-1", cidrs=("::/0",)))  # a group of a VPC with IPv6, as EC2 makes it


def tcp(port: int, *cidrs: str, groups: tuple[str, ...] = ()) -> Rule:
    return Rule("tcp", port, port, cidrs=cidrs, group_ids=groups)


def ports(topo: Topology | None = None, sdc_off: str = "") -> list[Port]:
    out = []
    for n, gid in (("a", GA), ("b", GB), ("c", GC)):
        tap = topo.guests[n].tap if topo else f"tap{n}"
        mac = topo.guests[n].mac if topo else f"02:50:00:00:00:0{n}"
        out.append(Port(f"eni-0{n * 16}", tap, mac, (V4[n],), (gid,), source_dest_check=n != sdc_off,
                        ipv6s=(V6[n],)))
    return out


def sgs(*groups: SecurityGroup) -> dict[str, SecurityGroup]:
    out = {g: SecurityGroup(g, egress=ALL_OUT) for g in (GA, GB, GC)}
    out.update({g.group_id: g for g in groups})
    return out


# --------------------------------------------------------------------------- pure unit tests


def test_render_ipv6_lines() -> None:
    groups = sgs(SecurityGroup(GB, ingress=(tcp(PORT, "2001:db8:50::a/128", "10.0.0.0/8"),
                                            Rule("icmpv6", 128, -1, cidrs=("2001:db8::/32",)),
                                            Rule("-1", group_ids=(GA,))), egress=()))
    lines = [line.strip() for line in render(VPC, ports(), groups).splitlines()]
    for expected in (
        "ip6 saddr . meta l4proto . th dport @g_0bbbbbbbbbbbbbbb2_in6_l4 accept",
        "ip6 saddr . icmpv6 type . icmpv6 code @g_0bbbbbbbbbbbbbbb2_in6_icmp accept",
        "ip6 saddr @g_0aaaaaaaaaaaaaaa1_m6 meta l4proto @g_0bbbbbbbbbbbbbbb2_in_r_0aaaaaaaaaaaaaaa1_p accept",
        "ip6 saddr vmap @out_src6",
        "ip6 daddr vmap @in_dst6",
        "ip6 daddr ff00::/8 drop",
        "ether type ip6 iifname . ip6 saddr != @tap_ip6 drop",
        "ether type ip6 ip6 saddr fe80::/64 accept",
        "add element inet ec2d_sg g_0bbbbbbbbbbbbbbb2_in6_l4 { 2001:db8:50::a . 6 . 8080 }",
        "add element inet ec2d_sg g_0bbbbbbbbbbbbbbb2_in_l4 { 10.0.0.0/8 . 6 . 8080 }",
        "add element inet ec2d_sg g_0bbbbbbbbbbbbbbb2_in6_icmp { 2001:db8::/32 . 128 . 0-255 }",
        "add element inet ec2d_sg g_0aaaaaaaaaaaaaaa1_out6_p { ::/0 . 0-255 }",
        "add element inet ec2d_sg g_0aaaaaaaaaaaaaaa1_m6 { 2001:db8:50::a }",
        'add element bridge ec2d_as tap_ip6 { "tapa" . 2001:db8:50::a, "tapb" . 2001:db8:50::b, '
        '"tapc" . 2001:db8:50::c }',
    ):
        assert expected in lines, expected
    # the ICMPv6 rule gives nothing to IPv4, the IPv4 CIDR nothing to IPv6
    rs = compile_ruleset(VPC, ports(), groups)
    assert rs.elements[("inet ec2d_sg", "g_0bbbbbbbbbbbbbbb2_in_icmp")] == frozenset()
    assert rs.elements[("inet ec2d_sg", "g_0bbbbbbbbbbbbbbb2_in6_p")] == frozenset()


def test_icmp_families_never_cross() -> None:
    """An icmp rule with ::/0 compiles to nothing, an icmpv6 one with 0.0.0.0/0 too."""
    groups = sgs(SecurityGroup(GB, ingress=(Rule("icmp", 8, -1, cidrs=("::/0",)),
                                            Rule("icmpv6", -1, -1, cidrs=("0.0.0.0/0",)))))
    rs = compile_ruleset(VPC, ports(), groups)
    for name in ("in_p", "in_icmp", "in6_p", "in6_icmp"):
        assert rs.elements[("inet ec2d_sg", f"g_0bbbbbbbbbbbbbbb2_{name}")] == frozenset(), name
    assert not allows(ports(), groups, A6, B6, "icmpv6", 128, 0)
    assert not allows(ports(), groups, V4["a"], V4["b"], "icmp", 8, 0)


def test_reference_semantics_ipv6() -> None:
    groups = sgs(SecurityGroup(GB, ingress=(tcp(PORT, f"{A6}/128"), Rule("icmpv6", 128, 0, cidrs=("::/0",)))))
    p = ports()
    assert allows(p, groups, A6, B6, "tcp", PORT)
    assert not allows(p, groups, C6, B6, "tcp", PORT)
    assert not allows(p, groups, V4["a"], V4["b"], "tcp", PORT)  # the /128 says nothing of a's IPv4
    assert allows(p, groups, C6, B6, 58, 128, 0) and not allows(p, groups, C6, B6, 58, 129, 0)
    ref = sgs(SecurityGroup(GB, ingress=(Rule("-1", group_ids=(GA,)),)))
    assert allows(p, ref, A6, B6, "udp", 53) and not allows(p, ref, C6, B6, "udp", 53)
    v4_out_only = sgs(SecurityGroup(GA, egress=(ALLOW_ALL_EGRESS,)), SecurityGroup(GB, ingress=(Rule("-1", cidrs=("::/0",)),)))
    assert not allows(p, v4_out_only, A6, B6, "tcp", PORT)  # a group made before the VPC had IPv6
    assert allows(p, v4_out_only, C6, B6, "tcp", PORT)


def test_model_checks_ipv6() -> None:
    check_rule(Rule("icmpv6", 135, 0, cidrs=("2001:db8::/64",)))
    for bad in (Rule("tcp", 1, 1, cidrs=("2001:db8::/129",)), Rule("58", -1, 3, cidrs=("::/0",))):
        with pytest.raises(InvalidArgument):
            check_rule(bad)
    for ipv6 in ("fe80::1", "ff02::1", "::", "10.0.0.1", "nonsense"):
        bad_port = Port("eni-1", "tapa", "02:00:00:00:00:01", ("10.0.0.1",), (GA,), ipv6s=(ipv6,))
        with pytest.raises(InvalidArgument):
            compile_ruleset(VPC, [bad_port], sgs())
    taken = [*ports(), Port("eni-2", "tapd", "02:00:00:00:00:0d", ("10.0.0.9",), (GA,), ipv6s=("2001:db8:50:0::a",))]
    with pytest.raises(InvalidArgument, match="belongs to both"):
        compile_ruleset(VPC, taken, sgs())


# --------------------------------------------------------------------------- real namespaces


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:
    if can_run():
        pytest.skip(str(can_run()))
    t = Topology.build(new_prefix())
    try:
        for n, g in t.guests.items():
            netlink.sysctl(g.ns, "net.ipv6.conf.eth0.accept_ra", "0")
            assert g.sh("ip", "-6", "addr", "add", f"{V6[n]}/64", "dev", "eth0", "nodad").returncode == 0
        yield t
    finally:
        t.destroy()
        assert not netlink.list_netns(t.prefix)


@pytest.fixture(scope="module")
def server(topo: Topology) -> Iterator[TcpServer]:
    srv = TcpServer(topo.guests["b"].ns, B6, PORT)
    yield srv
    srv.close()


def _sync(fw: NftFirewall, topo: Topology, groups: Mapping[str, SecurityGroup], sdc_off: str = "") -> None:
    fw.sync(topo.vpc_ns, VPC, ports(topo, sdc_off), groups)


@needs_root
def test_bridged_ipv6_needs_the_sysctl(topo: Topology, fw: NftFirewall) -> None:
    _sync(fw, topo, sgs())
    assert netlink.read_sysctl(topo.vpc_ns, "net.bridge.bridge-nf-call-ip6tables") == "1"


@needs_root
def test_ipv6_cidr_rule_authorize_and_revoke(topo: Topology, server: TcpServer, fw: NftFirewall) -> None:
    a, c = topo.guests["a"], topo.guests["c"]
    _sync(fw, topo, sgs())
    assert not a.can_connect(B6, PORT)  # no ingress rule: blocked (ND itself works, see below)
    _sync(fw, topo, sgs(SecurityGroup(GB, ingress=(tcp(PORT, f"{A6}/128"),))))
    assert a.can_connect(B6, PORT)
    assert not c.can_connect(B6, PORT)
    _sync(fw, topo, sgs(SecurityGroup(GB, ingress=(tcp(PORT, "::/0"),))))
    assert c.can_connect(B6, PORT) and a.can_connect(B6, PORT)
    _sync(fw, topo, sgs(SecurityGroup(GB, ingress=(tcp(PORT, "0.0.0.0/0"),))))  # IPv4 only
    assert not a.can_connect(B6, PORT)
    _sync(fw, topo, sgs())
    assert not a.can_connect(B6, PORT)


@needs_root
def test_ipv6_egress_and_group_reference(topo: Topology, server: TcpServer, fw: NftFirewall) -> None:
    a = topo.guests["a"]
    allow_a = SecurityGroup(GB, ingress=(Rule("-1", group_ids=(GA,)),))
    _sync(fw, topo, sgs(allow_a))
    assert a.can_connect(B6, PORT)  # -1 from members of A: their IPv6 addresses too
    _sync(fw, topo, sgs(allow_a, SecurityGroup(GA, egress=(ALLOW_ALL_EGRESS,))))
    assert not a.can_connect(B6, PORT)  # A's egress is IPv4 only (no ::/0 rule)


@needs_root
def test_icmpv6_rule_allows_ping6(topo: Topology, fw: NftFirewall) -> None:
    a, c = topo.guests["a"], topo.guests["c"]

    def ping6(g, ip: str) -> bool:
        return g.sh("busybox", "ping", "-6", "-c", "1", "-W", "1", ip).returncode == 0

    _sync(fw, topo, sgs())
    assert not ping6(a, B6)
    _sync(fw, topo, sgs(SecurityGroup(GB, ingress=(Rule("icmpv6", 128, -1, cidrs=(f"{A6}/128",)),))))
    assert ping6(a, B6) and not ping6(c, B6)
    _sync(fw, topo, sgs(SecurityGroup(GB, ingress=(Rule("icmp", -1, -1, cidrs=("::/0", "0.0.0.0/0")),))))
    assert not ping6(c, B6)  # ICMP (v4) rules never open ICMPv6
    _sync(fw, topo, sgs(SecurityGroup(GB, ingress=(Rule("58", cidrs=("2001:db8:50::/64",)),))))
    assert ping6(c, B6)


@needs_root
def test_ipv6_anti_spoofing(topo: Topology, fw: NftFirewall) -> None:
    """C forging A's IPv6 address gets nothing through even where A would be allowed; its
    link-local address and its own address work."""
    c = topo.guests["c"]
    groups = sgs(SecurityGroup(GB, ingress=(Rule("udp", 9999, 9999, cidrs=(f"{A6}/128", f"{C6}/128", "fe80::/10")),)))
    sink = UdpSink(topo.guests["b"].ns, "::", 9999)
    try:
        _sync(fw, topo, groups)
        c.send_udp(B6, 9999, b"honest")
        assert sink.drain() == [(C6, b"honest")]
        assert c.sh("ip", "-6", "addr", "add", f"{A6}/128", "dev", "eth0", "nodad").returncode == 0
        try:
            c.send_udp(B6, 9999, b"forged", src=A6)
            assert sink.drain() == []
            _sync(fw, topo, groups, sdc_off="c")  # control: without source/dest check it passes
            c.send_udp(B6, 9999, b"forged", src=A6)
            assert sink.drain() == [(A6, b"forged")]
            _sync(fw, topo, groups)
        finally:
            c.sh("ip", "-6", "addr", "del", f"{A6}/128", "dev", "eth0")
        # link-local: past the anti-spoofing (the namespace's own link-local answers) but never
        # forwarded between two ports, whatever the groups say
        assert c.sh("busybox", "ping", "-6", "-c", "1", "-W", "2", f"{_link_local(topo.vpc_ns)}%eth0").returncode == 0
        c.send_udp(f"{_link_local(topo.guests['b'].ns)}%eth0", 9999, b"link-local")
        assert sink.drain() == []
        remove(topo.vpc_ns)  # control: on a bare bridge it arrives
        c.send_udp(f"{_link_local(topo.guests['b'].ns)}%eth0", 9999, b"link-local")
        assert [d for _, d in sink.drain()] == [b"link-local"]
    finally:
        sink.close()


def _link_local(ns: str) -> str:
    """The link-local address of a guest's eth0 or of the VPC namespace's bridge."""
    dev = "br0" if ns.endswith("-vpc") else "eth0"
    out = subprocess.run(["ip", "netns", "exec", ns, "ip", "-6", "-o", "addr", "show", "dev", dev, "scope", "link"],
                         capture_output=True, text=True, check=True).stdout
    return out.split("inet6 ", 1)[1].split("/", 1)[0]


def _router_advert(mac: str) -> bytes:
    """A minimal router advertisement (type 134) with a source link-layer option; the kernel
    fills in the checksum of a raw ICMPv6 socket."""
    opt = struct.pack("!BB6s", 1, 1, bytes.fromhex(mac.replace(":", "")))
    return struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0) + opt


@needs_root
def test_router_adverts_from_guests_dropped(topo: Topology, fw: NftFirewall) -> None:
    """C advertising itself as a router: B hears it on a bare bridge, not under ec2d's tables."""
    b, c = topo.guests["b"], topo.guests["c"]

    def b_hears_ra() -> bool:
        rx = netlink.netns_socket(b.ns, socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        tx = netlink.netns_socket(c.ns, socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        with rx, tx:
            tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
            ifindex = int(c.sh("cat", "/sys/class/net/eth0/ifindex").stdout)
            tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
            rx.settimeout(0.2)
            deadline = time.monotonic() + 1.5
            tx.sendto(_router_advert(c.mac), ("ff02::1", 0, 0, ifindex))
            while time.monotonic() < deadline:
                try:
                    data, _ = rx.recvfrom(2048)
                except TimeoutError:
                    tx.sendto(_router_advert(c.mac), ("ff02::1", 0, 0, ifindex))
                    continue
                if data[:1] == b"\x86":
                    return True
        return False

    remove(topo.vpc_ns)
    assert b_hears_ra()  # control: the forged advertisement arrives on a bare bridge
    _sync(fw, topo, sgs(*(SecurityGroup(g, ingress=(Rule("-1", cidrs=("::/0",)),), egress=ALL_OUT)
                          for g in (GA, GB, GC))))
    assert not b_hears_ra()
