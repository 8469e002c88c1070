"""Security groups as nftables: render() unit tests and behaviour in REAL namespaces.

Topology (fw_helpers.Topology): a VPC-like namespace with bridge br0 (10.50.0.1/24) and guests
a, b, c (10.50.0.10/.11/.12, default route via .1) attached by veths whose VPC-side ends are
enslaved to the bridge like taps. A TCP server listens on b:8080. Blocked connects time out
after 1 s (dropped SYNs). Everything is removed by the module finalizer.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from fw_helpers import (
    A_IP,
    B_IP,
    C_IP,
    GATEWAY,
    PORT,
    TcpServer,
    Topology,
    UdpSink,
    needs_root,
)

from orchestrator.config import Config
from orchestrator.drivers.network import netlink
from orchestrator.drivers.network.errors import InvalidArgument
from orchestrator.drivers.network.firewall import (
    BRIDGE_TABLE,
    INET_TABLE,
    FakeFirewall,
    FirewallError,
    NftFirewall,
    Port,
    Rule,
    SecurityGroup,
    allows,
    apply,
    check,
    compile_ruleset,
    remove,
    render,
    render_delta,
)
from orchestrator.drivers.network.firewall.ranges import disjoint
from orchestrator.services import bootstrap, security_group_rules, security_groups

VPC = "vpc-0f1e2d3c4b5a69788"
GA, GB, GC = "sg-0aaaaaaaaaaaaaaa1", "sg-0bbbbbbbbbbbbbbb2", "sg-0ccccccccccccccc3"


def tcp(port: int, *cidrs: str, groups: tuple[str, ...] = ()) -> Rule:
    return Rule("tcp", port, port, cidrs=cidrs, group_ids=groups)


def sample_ports(topo: Topology | None = None, **overrides: tuple[str, ...]) -> list[Port]:
    names = {
        "a": (GA, A_IP, "02:50:00:00:00:0a"),
        "b": (GB, B_IP, "02:50:00:00:00:0b"),
        "c": (GC, C_IP, "02:50:00:00:00:0c"),
    }
    ports = []
    for n, (gid, ip, mac) in names.items():
        tap = topo.guests[n].tap if topo else f"tap{n}"
        mac = topo.guests[n].mac if topo else mac
        ports.append(Port(f"eni-0{n * 16}", tap, mac, (ip,), overrides.get(n, (gid,))))
    return ports


def sgs(*groups: SecurityGroup) -> dict[str, SecurityGroup]:
    out = {g: SecurityGroup(g) for g in (GA, GB, GC)}
    out.update({g.group_id: g for g in groups})
    return out


# --------------------------------------------------------------------------- pure unit tests


def test_render_key_lines() -> None:
    groups = sgs(SecurityGroup(GB, ingress=(tcp(PORT, "10.50.0.10/32"), tcp(22, groups=(GA,))), egress=()))
    script = render(VPC, sample_ports(), groups)
    lines = [line.strip() for line in script.splitlines()]
    # atomic replacement of both tables, in one file
    assert lines[1:4] == [
        f"table inet {INET_TABLE}",
        f"delete table inet {INET_TABLE}",
        f"table inet {INET_TABLE} {{",
    ]
    assert f"delete table bridge {BRIDGE_TABLE}" in lines
    for expected in (
        "type filter hook forward priority filter; policy accept;",
        "type filter hook forward priority filter + 10; policy accept;",
        "ct state established,related accept",
        "ct state invalid drop",
        "ip saddr vmap @out_src",
        "ip daddr vmap @in_dst",
        "ip saddr . meta l4proto . th dport @g_0bbbbbbbbbbbbbbb2_in_l4 accept",
        "ip saddr @g_0aaaaaaaaaaaaaaa1_m meta l4proto . th dport @g_0bbbbbbbbbbbbbbb2_in_r_0aaaaaaaaaaaaaaa1_l4 accept",
        "iifname . ether saddr != @tap_mac drop",
        "ether type ip iifname . ip saddr != @tap_ip drop",
        "ether type arp iifname . arp saddr ip != @tap_ip drop",
        "add element inet ec2d_sg g_0bbbbbbbbbbbbbbb2_in_l4 { 10.50.0.10 . 6 . 8080 }",
        "add element inet ec2d_sg g_0bbbbbbbbbbbbbbb2_in_r_0aaaaaaaaaaaaaaa1_l4 { 6 . 22 }",
        "add element inet ec2d_sg g_0aaaaaaaaaaaaaaa1_out_p { 0.0.0.0/0 . 0-255 }",  # default egress all
        "add element inet ec2d_sg g_0aaaaaaaaaaaaaaa1_m { 10.50.0.10 }",
        'add element bridge ec2d_as tap_ip { "tapa" . 10.50.0.10, "tapb" . 10.50.0.11, "tapc" . 10.50.0.12 }',
    ):
        assert expected in lines, expected
    assert "g_0bbbbbbbbbbbbbbb2_out_p {" not in script.split("add element", 1)[1]  # B: no egress elements
    assert render(VPC, sample_ports(), groups) == script  # deterministic


def test_rule_count_does_not_grow_with_rules() -> None:
    few = sgs(SecurityGroup(GB, ingress=(tcp(1, "10.0.0.1/32"),)))
    many = sgs(
        SecurityGroup(GB, ingress=tuple(tcp(p, f"10.{p % 200}.{p // 200}.0/24") for p in range(1, 5001)))
    )
    r_few, r_many = compile_ruleset(VPC, sample_ports(), few), compile_ruleset(VPC, sample_ports(), many)
    assert r_few.structure == r_many.structure  # rules are set elements only
    assert len(r_many.elements[("inet ec2d_sg", "g_0bbbbbbbbbbbbbbb2_in_l4")]) == 5000
    delta = render_delta(r_few, r_many)
    assert delta is not None and delta.startswith("delete element inet ec2d_sg gen")
    assert render_delta(r_many, r_many) == ""
    other = sgs(SecurityGroup(GB, ingress=(tcp(1, groups=(GC,)),)))  # new reference -> new rules
    assert render_delta(r_few, compile_ruleset(VPC, sample_ports(), other)) is None


def test_group_compile_is_cached_and_lists_are_tolerated() -> None:
    big = SecurityGroup(GB, ingress=tuple(tcp(p, "10.0.0.0/8") for p in range(1, 300)))
    first = compile_ruleset(VPC, sample_ports(), sgs(big))
    again = compile_ruleset(VPC, sample_ports(), sgs(SecurityGroup(GB, ingress=tuple(big.ingress))))
    key = ("inet ec2d_sg", "g_0bbbbbbbbbbbbbbb2_in_l4")
    assert again.elements[key] is first.elements[key]  # equal group value: cached compile reused
    assert again.generation == first.generation
    listy = SecurityGroup(GB, ingress=[Rule("tcp", 1, 299, cidrs=["10.0.0.0/8"])])  # type: ignore[arg-type]
    assert compile_ruleset(VPC, sample_ports(), sgs(listy)).elements[key] == {"10.0.0.0/8 . 6 . 1-299"}


def test_overlapping_rules_become_disjoint_boxes() -> None:
    boxes = disjoint([(0, 255, 80, 80), (0, 255, 81, 90), (16, 31, 70, 85), (300, 400, 1, 1)])
    assert boxes == [(0, 15, 80, 90), (16, 31, 70, 90), (32, 255, 80, 90), (300, 400, 1, 1)]
    groups = sgs(
        SecurityGroup(
            GB,
            ingress=(
                tcp(8080, "10.0.0.0/8"),
                Rule("tcp", 8000, 9000, cidrs=("10.1.0.0/16",)),
                Rule("-1", cidrs=("192.168.0.0/16",)),
                Rule("udp", cidrs=("192.168.1.0/24",)),
                Rule("icmp", 8, -1, cidrs=("0.0.0.0/0",)),
                Rule("icmp", 3, 4, cidrs=("0.0.0.0/0",)),
                Rule("47", cidrs=("172.16.0.0/12",)),
            ),
        )
    )
    rs = compile_ruleset(VPC, sample_ports(), groups)
    assert rs.elements[("inet ec2d_sg", "g_0bbbbbbbbbbbbbbb2_in_l4")] == {
        "10.0.0.0/16 . 6 . 8080",
        "10.1.0.0/16 . 6 . 8000-9000",
        "10.2.0.0-10.255.255.255 . 6 . 8080",
        "192.168.1.0/24 . 17 . 0-65535",
    }
    assert rs.elements[("inet ec2d_sg", "g_0bbbbbbbbbbbbbbb2_in_p")] == {
        "192.168.0.0/16 . 0-255",
        "172.16.0.0/12 . 47",
    }
    assert rs.elements[("inet ec2d_sg", "g_0bbbbbbbbbbbbbbb2_in_icmp")] == {
        "0.0.0.0/0 . 8 . 0-255",
        "0.0.0.0/0 . 3 . 4",
    }


def test_model_errors() -> None:
    with pytest.raises(InvalidArgument):
        render(VPC, sample_ports(a=("sg-0123456789abcdef9",)), sgs())  # unknown group on a port
    with pytest.raises(InvalidArgument):
        render(VPC, sample_ports(), sgs(SecurityGroup(GB, ingress=(Rule("gre"),))))
    with pytest.raises(InvalidArgument):
        render(
            VPC, sample_ports(), sgs(SecurityGroup(GB, ingress=(Rule("tcp", 10, 5, cidrs=("1.2.3.4/32",)),)))
        )
    with pytest.raises(InvalidArgument):
        render(VPC, [Port("eni-0aa", "tapa", "02:50:00:00:00:0a", ("10.50.0.300",), (GA,))], sgs())
    dup = sample_ports()
    dup[2] = Port("eni-0cc", "tapc", "02:50:00:00:00:0c", (A_IP,), (GC,))
    with pytest.raises(InvalidArgument):
        render(VPC, dup, sgs())


def test_reference_semantics_and_fake() -> None:
    groups = sgs(
        SecurityGroup(
            GB, ingress=(tcp(PORT, groups=(GA,)), Rule("icmp", 8, -1, cidrs=("10.50.0.0/24",))), egress=()
        )
    )
    ports = sample_ports()
    assert allows(ports, groups, A_IP, B_IP, "tcp", PORT)
    assert not allows(ports, groups, C_IP, B_IP, "tcp", PORT)
    assert not allows(ports, groups, B_IP, A_IP, "tcp", 22)  # B: no egress; A: no ingress
    assert allows(ports, groups, C_IP, B_IP, "icmp", 8, 0)
    fake = FakeFirewall()
    fake.sync("ns1", VPC, ports, groups)
    assert fake.allows("ns1", A_IP, B_IP, 6, PORT) and not fake.allows("ns1", C_IP, B_IP, 6, PORT)
    fake.remove("ns1")
    assert fake.calls == [("sync", "ns1"), ("remove", "ns1")]


# --------------------------------------------------------------------------- real namespaces


def _sync(
    fw: NftFirewall, topo: Topology, groups: Mapping[str, SecurityGroup], **over: tuple[str, ...]
) -> None:
    fw.sync(topo.vpc_ns, VPC, sample_ports(topo, **over), groups)


def _nft_list(ns: str) -> str:
    out = subprocess.run(
        ["ip", "netns", "exec", ns, "nft", "list", "ruleset"], capture_output=True, text=True
    )
    return out.stdout


@needs_root
def test_nft_check_and_apply_twice_is_noop(topo: Topology) -> None:
    groups = sgs(SecurityGroup(GB, ingress=(tcp(PORT, "10.50.0.10/32"), tcp(22, groups=(GA,))), egress=()))
    script = render(VPC, sample_ports(topo), groups)
    check(topo.vpc_ns, script)
    assert _nft_list(topo.vpc_ns) == ""  # -c changed nothing
    try:
        apply(topo.vpc_ns, script)
        first = _nft_list(topo.vpc_ns)
        apply(topo.vpc_ns, script)
        assert _nft_list(topo.vpc_ns) == first
        with pytest.raises(FirewallError) as err:
            apply(topo.vpc_ns, "add element inet ec2d_sg nosuchset { 1.2.3.4 }\n")
        assert "nosuchset" in str(err.value) and err.value.stderr
        assert _nft_list(topo.vpc_ns) == first  # a failed script changes nothing
    finally:
        remove(topo.vpc_ns)
        remove(topo.vpc_ns)  # absent tables are fine
    assert _nft_list(topo.vpc_ns) == ""


@needs_root
def test_delta_gives_same_ruleset_as_full(topo: Topology, fw: NftFirewall) -> None:
    g1 = sgs(SecurityGroup(GB, ingress=(tcp(PORT, "10.50.0.10/32"),), egress=()))
    g2 = sgs(SecurityGroup(GB, ingress=(tcp(PORT, "10.50.0.0/28"), tcp(9000, "10.0.0.0/8")), egress=()))
    _sync(fw, topo, g1)
    _sync(fw, topo, g2)
    _sync(fw, topo, g2)
    assert (fw.stats.full, fw.stats.delta, fw.stats.noop) == (1, 1, 1)
    via_delta = _nft_list(topo.vpc_ns)
    apply(topo.vpc_ns, render(VPC, sample_ports(topo), g2))
    assert _nft_list(topo.vpc_ns) == via_delta
    # kernel state changed behind the driver's back: the delta fails as a whole, full script wins
    remove(topo.vpc_ns)
    _sync(fw, topo, g1)
    assert fw.stats.fallbacks == 1 and fw.stats.full == 2
    assert "10.50.0.10 . tcp . 8080" in _nft_list(topo.vpc_ns)


@needs_root
def test_cidr_rule_revoke_and_authorize(topo: Topology, server: TcpServer, fw: NftFirewall) -> None:
    a, c = topo.guests["a"], topo.guests["c"]
    allow_a = sgs(SecurityGroup(GB, ingress=(tcp(PORT, "10.50.0.10/32"),)))
    _sync(fw, topo, allow_a)
    assert a.can_connect(B_IP, PORT)
    assert not c.can_connect(B_IP, PORT)
    _sync(fw, topo, sgs())  # revoke: B back to no ingress
    assert not a.can_connect(B_IP, PORT)
    _sync(fw, topo, allow_a)  # authorize again: works at once, nothing restarted
    assert a.can_connect(B_IP, PORT)
    assert not c.can_connect(B_IP, PORT)


@needs_root
def test_established_connection_survives_revoke(topo: Topology, server: TcpServer, fw: NftFirewall) -> None:
    """As on EC2 for tracked connections: revoking a rule stops NEW connections only."""
    a = topo.guests["a"]
    _sync(fw, topo, sgs(SecurityGroup(GB, ingress=(tcp(PORT, "10.50.0.0/24"),))))
    sock = a.connect(B_IP, PORT)
    assert sock is not None
    with sock:
        sock.sendall(b"one\n")
        assert sock.recv(64) == b"pong:one\n"
        _sync(fw, topo, sgs())
        assert not a.can_connect(B_IP, PORT)
        sock.sendall(b"two\n")
        assert sock.recv(64) == b"pong:two\n"


@needs_root
def test_group_reference(topo: Topology, server: TcpServer, fw: NftFirewall) -> None:
    a, c = topo.guests["a"], topo.guests["c"]
    groups = sgs(SecurityGroup(GB, ingress=(tcp(PORT, groups=(GA,)),)))
    _sync(fw, topo, groups)
    assert a.can_connect(B_IP, PORT)
    assert not c.can_connect(B_IP, PORT)
    _sync(fw, topo, groups, c=(GC, GA))  # C joins G-A: now a member, allowed too
    assert c.can_connect(B_IP, PORT)


@needs_root
def test_egress_restriction_and_stateful_replies(topo: Topology, server: TcpServer, fw: NftFirewall) -> None:
    a = topo.guests["a"]
    b_open = SecurityGroup(GB, ingress=(tcp(PORT, "10.50.0.0/24"),), egress=())  # B: no egress rules
    _sync(fw, topo, sgs(b_open, SecurityGroup(GA, egress=())))
    assert not a.can_connect(B_IP, PORT)  # A may not send anything out
    _sync(fw, topo, sgs(b_open, SecurityGroup(GA, egress=(tcp(PORT, "10.50.0.11/32"),))))
    assert a.can_connect(B_IP, PORT)  # B's replies pass without any egress rule on B
    # but B cannot start anything: A admits ping, B's empty egress stops it until B may send
    a_pingable = SecurityGroup(GA, ingress=(Rule("icmp", cidrs=("10.50.0.0/24",)),))
    _sync(fw, topo, sgs(b_open, a_pingable))
    assert not topo.guests["b"].ping(A_IP)
    _sync(fw, topo, sgs(SecurityGroup(GB), a_pingable))
    assert topo.guests["b"].ping(A_IP)


@needs_root
def test_union_of_groups(topo: Topology, server: TcpServer, fw: NftFirewall) -> None:
    c = topo.guests["c"]
    extra = SecurityGroup(GC, ingress=(tcp(PORT, "10.50.0.12/32"),))
    _sync(fw, topo, sgs(extra))
    assert not c.can_connect(B_IP, PORT)
    _sync(fw, topo, sgs(extra), b=(GB, GC))  # B gets C's group too: union of rules
    assert c.can_connect(B_IP, PORT)


@needs_root
def test_gateway_metadata_always_reachable(topo: Topology, fw: NftFirewall) -> None:
    a = topo.guests["a"]
    locked = {g: SecurityGroup(g, ingress=(), egress=()) for g in (GA, GB, GC)}
    _sync(fw, topo, locked)
    assert a.ping(GATEWAY)
    netlink.add_address(topo.vpc_ns, "lo", "169.254.169.254/32")
    srv = TcpServer(topo.vpc_ns, "169.254.169.254", 80)
    try:
        assert a.can_connect("169.254.169.254", 80)  # routed via the gateway to the namespace
    finally:
        srv.close()
    assert not a.ping(B_IP)


@needs_root
def test_icmp_rule_allows_ping(topo: Topology, fw: NftFirewall) -> None:
    a, c = topo.guests["a"], topo.guests["c"]
    _sync(fw, topo, sgs())
    assert not a.ping(B_IP)
    _sync(fw, topo, sgs(SecurityGroup(GB, ingress=(Rule("icmp", 8, -1, cidrs=("10.50.0.10/32",)),))))
    assert a.ping(B_IP)
    assert not c.ping(B_IP)
    _sync(fw, topo, sgs(SecurityGroup(GB, ingress=(Rule("icmp", cidrs=("10.50.0.0/24",)),))))  # all icmp
    assert c.ping(B_IP)


@needs_root
def test_anti_spoofing(topo: Topology, fw: NftFirewall) -> None:
    """C forging A's IP, or A's MAC, gets nothing through even where A would be allowed."""
    c = topo.guests["c"]
    groups = sgs(
        SecurityGroup(GB, ingress=(Rule("udp", 9999, 9999, cidrs=("10.50.0.10/32", "10.50.0.12/32")),))
    )
    sink = UdpSink(topo.guests["b"].ns, B_IP, 9999)
    try:
        _sync(fw, topo, groups)
        c.send_udp(B_IP, 9999, b"honest")
        assert sink.drain() == [(C_IP, b"honest")]
        # 1) forged source IP (C adds A's address and sends from it)
        assert c.sh("ip", "addr", "add", f"{A_IP}/32", "dev", "eth0").returncode == 0
        try:
            c.send_udp(B_IP, 9999, b"forged-ip", src=A_IP)
            assert sink.drain() == []
            # control: without source/dest check the same packet passes (so the drop above was
            # the anti-spoofing rule, and A's IP is what B's group allows)
            ports = [
                p if p.tap_name != c.tap else Port(p.eni_id, p.tap_name, p.mac, p.ips, p.group_ids, False)
                for p in sample_ports(topo)
            ]
            fw.sync(topo.vpc_ns, VPC, ports, groups)
            c.send_udp(B_IP, 9999, b"forged-ip", src=A_IP)
            assert sink.drain() == [(A_IP, b"forged-ip")]
            _sync(fw, topo, groups)
        finally:
            c.sh("ip", "addr", "del", f"{A_IP}/32", "dev", "eth0")
        # 2) forged MAC (C takes A's MAC, keeps its own IP)
        assert c.sh("ip", "link", "set", "eth0", "address", topo.guests["a"].mac).returncode == 0
        try:
            # a static neighbour entry, so the datagram itself (not an ARP query) carries the MAC
            c.sh(
                "ip",
                "neigh",
                "replace",
                B_IP,
                "lladdr",
                topo.guests["b"].mac,
                "dev",
                "eth0",
                "nud",
                "permanent",
            )
            c.send_udp(B_IP, 9999, b"forged-mac")
            assert sink.drain() == []
            remove(topo.vpc_ns)  # control: on a bare bridge the same datagram arrives
            c.send_udp(B_IP, 9999, b"forged-mac")
            assert sink.drain() == [(C_IP, b"forged-mac")]
            _sync(fw, topo, groups)
        finally:
            c.sh("ip", "link", "set", "eth0", "address", c.mac)
            c.sh("ip", "neigh", "del", B_IP, "dev", "eth0")
        c.sh("ip", "neigh", "flush", "dev", "eth0")
        c.send_udp(B_IP, 9999, b"honest-again")
        assert sink.drain(1.0) == [(C_IP, b"honest-again")]
    finally:
        sink.close()


@needs_root
def test_arp_spoofing_dropped(topo: Topology, fw: NftFirewall) -> None:
    """C claiming A's IP in ARP does not poison B's neighbour table (it does without ec2d's tables)."""
    b, c = topo.guests["b"], topo.guests["c"]

    def b_learns_a_at_c() -> bool:
        b.sh("ip", "neigh", "flush", "dev", "eth0")
        c.sh("busybox", "arping", "-c", "2", "-w", "1", "-I", "eth0", "-s", A_IP, B_IP)
        time.sleep(0.2)
        return c.mac in b.sh("ip", "neigh", "show", A_IP).stdout

    assert c.sh("ip", "addr", "add", f"{A_IP}/32", "dev", "eth0").returncode == 0
    try:
        remove(topo.vpc_ns)
        assert b_learns_a_at_c()  # control: the forged ARP works on a bare bridge
        _sync(fw, topo, sgs())
        assert not b_learns_a_at_c()
    finally:
        c.sh("ip", "addr", "del", f"{A_IP}/32", "dev", "eth0")
        b.sh("ip", "neigh", "flush", "dev", "eth0")


@needs_root
def test_bulk_api_rules_and_a_modified_rule_in_the_kernel(
    tmp_path: Path, topo: Topology, server: TcpServer, fw: NftFirewall
) -> None:
    """Rules as the API stores them (one AuthorizeSecurityGroupIngress with several permissions and
    ranges, ModifySecurityGroupRules, a bulk revoke), compiled and applied: exactly those sources
    get through."""
    a, c = topo.guests["a"], topo.guests["c"]
    backend = bootstrap.open(Config(data_dir=tmp_path, instances=False, prefix=topo.prefix))
    try:
        gid = security_groups.create(backend, "us-east-1", "bulk", "bulk", None, None).id
        _, new = security_groups.authorize(backend, "us-east-1", {"GroupId": gid, "IpPermissions": [
            {"IpProtocol": "tcp", "FromPort": PORT, "ToPort": PORT,
             "IpRanges": [{"CidrIp": f"{A_IP}/32"}, {"CidrIp": "10.99.0.0/16"}]},
            {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": f"{C_IP}/32"}]},
        ]}, egress=False)

        def apply_stored() -> None:
            stored = security_groups.firewall_group(backend.store.get(gid))
            _sync(fw, topo, sgs(SecurityGroup(GB, stored.ingress, stored.egress)))

        apply_stored()
        assert a.can_connect(B_IP, PORT) and not c.can_connect(B_IP, PORT)
        moved = next(r for r in new if r["CidrIpv4"] == f"{A_IP}/32")["SecurityGroupRuleId"]
        security_group_rules.modify_rules(backend, "us-east-1", gid, [{"SecurityGroupRuleId": moved, "SecurityGroupRule": {
            "IpProtocol": "tcp", "FromPort": PORT, "ToPort": PORT, "CidrIpv4": f"{C_IP}/32"}}])
        apply_stored()
        assert c.can_connect(B_IP, PORT) and not a.can_connect(B_IP, PORT)
        security_groups.revoke(backend, "us-east-1", {"GroupId": gid, "IpPermissions": [
            {"IpProtocol": "tcp", "FromPort": PORT, "ToPort": PORT,
             "IpRanges": [{"CidrIp": f"{C_IP}/32"}, {"CidrIp": "10.99.0.0/16"}]}]}, egress=False)
        apply_stored()
        assert not c.can_connect(B_IP, PORT) and not a.can_connect(B_IP, PORT)
    finally:
        backend.close()
