"""The rulesets ec2d builds, compared with expected rule objects and text (pure: no root, no nft).

What the kernel does with them is checked with real traffic in test_net_firewall*.py,
test_net_imds_limit.py and tests/hostscope; here the point is that a model gives exactly the rules
and set elements it should, and that the objects render the nft syntax those tests load.
"""

from __future__ import annotations

from orchestrator.drivers.network import imds_limit
from orchestrator.drivers.network import nftables as nft
from orchestrator.drivers.network.firewall import (
    Port,
    Rule,
    SecurityGroup,
    compile_ruleset,
    compile_tolerant,
    lockdown_ruleset,
)
from orchestrator.drivers.network.firewall.compiler import group_part
from orchestrator.drivers.network.nftables import (
    ACCEPT,
    DROP,
    Chain,
    Hook,
    InSet,
    Jump,
    Match,
    SetDecl,
    Table,
    VMap,
)
from orchestrator.drivers.network.nftables import (
    Rule as NftRule,
)
from orchestrator.drivers.network.public import render_host_filter, render_nat
from orchestrator.drivers.network.public.rules import nat_table

GA, GB = "sg-0aaaaaaaaaaaaaaa1", "sg-0bbbbbbbbbbbbbbb2"
A, B = "0aaaaaaaaaaaaaaa1", "0bbbbbbbbbbbbbbb2"  # their nft identifiers
VPC = "vpc-0f1e2d3c4b5a69788"


def lookups(remote: str, prefix: str, member_of: str | None = None, icmp_set: str | None = None) -> tuple[NftRule, ...]:
    """The three accept rules the compiler writes per rule family (expected, spelled out); an
    ``ip6`` remote matches ICMPv6 (``icmp_set``: the reference's ICMPv6 set)."""
    icmp = ("icmpv6 type", "icmpv6 code") if remote.startswith("ip6 ") else ("icmp type", "icmp code")
    if member_of is None:
        return (
            NftRule(InSet((remote, "meta l4proto"), f"{prefix}_p"), ACCEPT),
            NftRule(InSet((remote, "meta l4proto", "th dport"), f"{prefix}_l4"), ACCEPT),
            NftRule(InSet((remote, *icmp), icmp_set or f"{prefix}_icmp"), ACCEPT),
        )
    return (
        NftRule(InSet(remote, member_of), InSet(("meta l4proto",), f"{prefix}_p"), ACCEPT),
        NftRule(InSet(remote, member_of), InSet(("meta l4proto", "th dport"), f"{prefix}_l4"), ACCEPT),
        NftRule(InSet(remote, member_of), InSet(icmp, icmp_set or f"{prefix}_icmp"), ACCEPT),
    )


def both(remote: str, prefix: str) -> tuple[NftRule, ...]:
    """The IPv4 and IPv6 lookups of one direction of a group (``ip saddr`` -> also ``ip6 saddr``)."""
    return lookups(remote, prefix) + lookups(remote.replace("ip ", "ip6 "), f"{prefix}6")


# --------------------------------------------------------------------------- object rendering


def test_parts_render_nft_syntax() -> None:
    assert Match("ct state", "established,related").render() == "ct state established,related"
    assert Match("ether type", nft.anon_set(["ip", "arp"]), negate=True).render() == "ether type != { ip, arp }"
    assert InSet(("iifname", "ether saddr"), "tap_mac", negate=True).render() == "iifname . ether saddr != @tap_mac"
    assert NftRule(VMap("ip saddr", "out_src")).render() == "ip saddr vmap @out_src"
    assert NftRule(Jump("g_x_in")).render() == "jump g_x_in"
    chain = Chain("fwd", (NftRule(Match("ct state", "invalid"), DROP),), Hook("forward", priority="filter + 10"))
    assert chain.render() == ("\tchain fwd {\n\t\ttype filter hook forward priority filter + 10; policy accept;\n"
                              "\t\tct state invalid drop\n\t}")
    table = Table("inet", "t", (SetDecl("s", "ipv4_addr", flags=("interval",)),), (chain,))
    assert nft.replace_table(table).startswith("table inet t\ndelete table inet t\ntable inet t {\n\tset s {\n"
                                               "\t\ttype ipv4_addr\n\t\tflags interval\n\t}\n\tchain fwd {")
    assert nft.add_elements("inet t", "s", ["10.0.0.1", "10.0.0.2"]) == "add element inet t s { 10.0.0.1, 10.0.0.2 }"


# --------------------------------------------------------------------------- security groups


def test_cidr_rules_become_disjoint_elements_of_three_sets() -> None:
    web = SecurityGroup(GA, ingress=(
        Rule("tcp", 80, 80, cidrs=("0.0.0.0/0",)),
        Rule("tcp", 22, 22, cidrs=("10.0.0.0/8",)),
        Rule("icmp", 8, -1, cidrs=("10.0.0.0/8",)),
        Rule("tcp", 1000, 2000, cidrs=("192.168.1.0/24",)),
        Rule("tcp", 1500, 3000, cidrs=("192.168.1.0/24",)),  # overlaps the one above: merged
        Rule(47, cidrs=("172.16.0.0/12",)),
    ), egress=())
    part = group_part(web)
    assert dict(part.elements) == {
        f"g_{A}_in_p": {"172.16.0.0/12 . 47"},
        f"g_{A}_in_l4": {
            "0.0.0.0-9.255.255.255 . 6 . 80",
            "10.0.0.0/8 . 6 . 22",
            "10.0.0.0/8 . 6 . 80",
            "11.0.0.0-192.168.0.255 . 6 . 80",
            "192.168.1.0/24 . 6 . 80",
            "192.168.1.0/24 . 6 . 1000-3000",
            "192.168.2.0-255.255.255.255 . 6 . 80",
        },
        f"g_{A}_in_icmp": {"10.0.0.0/8 . 8 . 0-255"},
        f"g_{A}_out_p": set(),
        f"g_{A}_out_l4": set(),
        f"g_{A}_out_icmp": set(),
        **{f"g_{A}_{d}6_{k}": set() for d in ("in", "out") for k in ("p", "l4", "icmp")},  # no IPv6 CIDR
    }
    assert part.chains == (
        Chain(f"g_{A}_in", both("ip saddr", f"g_{A}_in")),
        Chain(f"g_{A}_out", both("ip daddr", f"g_{A}_out")),
    )
    assert [s.name for s in part.sets] == [f"g_{A}_{d}{v}_{k}" for d in ("in", "out") for v in ("", "6")
                                           for k in ("p", "l4", "icmp")]
    assert all(s.flags == ("interval",) for s in part.sets)


def test_group_reference_matches_members_by_ip() -> None:
    g = SecurityGroup(GA, ingress=(Rule("-1", group_ids=(GB,)), Rule("udp", 53, 53, group_ids=(GB,))))
    part = group_part(g)
    ref = f"g_{A}_in_r_{B}"
    assert dict(part.elements)[f"{ref}_p"] == {"0-255"}
    assert dict(part.elements)[f"{ref}_l4"] == {"17 . 53"}
    assert dict(part.elements)[f"g_{A}_out_p"] == {"0.0.0.0/0 . 0-255"}  # a new group's egress: all
    assert part.chains[0] == Chain(f"g_{A}_in", both("ip saddr", f"g_{A}_in")
                                   + lookups("ip saddr", ref, member_of=f"g_{B}_m")
                                   + lookups("ip6 saddr", ref, member_of=f"g_{B}_m6", icmp_set=f"{ref}_icmp6"))


def test_vpc_ruleset_dispatches_ports_to_their_group_combination() -> None:
    ports = [Port("eni-0a", "tapa", "02:00:00:00:00:0a", ("10.0.0.10",), (GA,)),
             Port("eni-0b", "tapb", "02:00:00:00:00:0b", ("10.0.0.11", "10.0.0.12"), (GA, GB)),
             Port("eni-0c", "tapc", "02:00:00:00:00:0c", ("10.0.0.13",), (GB, GA), source_dest_check=False)]
    ruleset = compile_ruleset(VPC, ports, {GA: SecurityGroup(GA), GB: SecurityGroup(GB)})
    el = ruleset.elements
    assert el[("inet ec2d_sg", f"g_{A}_m")] == {"10.0.0.10", "10.0.0.11", "10.0.0.12", "10.0.0.13"}
    assert el[("inet ec2d_sg", f"g_{B}_m")] == {"10.0.0.11", "10.0.0.12", "10.0.0.13"}
    out = sorted(el[("inet ec2d_sg", "out_src")])
    assert len(out) == 4 and len({e.split(" : ")[1] for e in out}) == 2  # b and c share one combination
    combo = next(e for e in out if e.startswith("10.0.0.13 ")).split("jump ")[1][:-len("_out")]
    assert (f"\tchain {combo}_in {{\n\t\tjump g_{A}_in\n\t\tjump g_{B}_in\n\t\tdrop\n\t}}") in ruleset.structure
    assert el[("bridge ec2d_as", "tap_ip")] == {'"tapa" . 10.0.0.10', '"tapb" . 10.0.0.11',
                                                  '"tapb" . 10.0.0.12', '"tapc" . 10.0.0.13'}
    assert el[("bridge ec2d_as", "sdc_off")] == {'"tapc"'}
    nd = "{ nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect }"
    egress = Chain("fwd_egress", hook=Hook("forward"), rules=(
        NftRule(Match("ct state", "established,related"), ACCEPT),
        NftRule(Match("icmpv6 type", nd), ACCEPT),
        NftRule(Match("ct state", "invalid"), DROP),
        NftRule(Match("ip daddr", "{ 255.255.255.255, 224.0.0.0/4 }"), DROP),
        NftRule(Match("ip6 daddr", "ff00::/8"), DROP),
        NftRule(Match("ip6 saddr", "fe80::/10"), DROP),
        NftRule(Match("ip6 daddr", "fe80::/10"), DROP),
        NftRule(VMap("ip saddr", "out_src")),
        NftRule(VMap("ip6 saddr", "out_src6")),
    ))
    assert egress.render() in ruleset.structure
    script = ruleset.script()
    assert script.startswith(f"# ec2d security groups of {VPC}: 3 ports, 2 groups\n")
    assert f"add element inet ec2d_sg gen {{ {ruleset.generation} }}" in script


def test_lockdown_text() -> None:
    port = Port("eni-0a", "tapa", "02:00:00:00:00:0A", ("10.0.0.10",), (GA,))
    ruleset = lockdown_ruleset(VPC, [port, Port("eni-0x", "bad\"tap", "zz", (), ())], "nft said no")
    inet, bridge = ruleset.structure.split("\ntable bridge ec2d_as\n", 1)
    assert inet == ("table inet ec2d_sg\ndelete table inet ec2d_sg\ntable inet ec2d_sg {\n"
                    "\tset gen {\n\t\ttype mark\n\t}\n"
                    "\tchain fwd_lockdown {\n\t\ttype filter hook forward priority filter; policy drop;\n\t}\n}")
    assert "\t\tiifname != @taps drop\n" in bridge  # unknown bridge ports dropped too
    assert bridge.endswith("\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t}\n}")
    assert ruleset.elements[("bridge ec2d_as", "tap_mac")] == {'"tapa" . 02:00:00:00:00:0a'}  # bad port left out
    assert ruleset.header == f"# LOCKDOWN of {VPC}: forwarded traffic dropped (nft said no)"


def test_tolerant_compile_outcomes() -> None:
    port = Port("eni-0a", "tapa", "02:00:00:00:00:0a", ("10.0.0.10",), (GA, GB))
    bad = SecurityGroup(GB, ingress=(Rule("icmp", 300, 0, cidrs=("0.0.0.0/0",)),))
    ruleset, outcome = compile_tolerant(VPC, [port], {GA: SecurityGroup(GA), GB: bad})
    assert outcome.mode == "degraded" and set(outcome.faults) == {GB}
    assert ruleset.elements[("inet ec2d_sg", f"g_{B}_out_p")] == frozenset()  # the bad group allows nothing
    assert ruleset.elements[("inet ec2d_sg", f"g_{A}_out_p")] == {"0.0.0.0/0 . 0-255"}
    _, outcome = compile_tolerant(VPC, [port], {GA: SecurityGroup(GA)})  # GB unknown: whole VPC
    assert outcome.mode == "lockdown" and "unknown group" in outcome.faults["*"]
    _, outcome = compile_tolerant(VPC, [port], {GA: SecurityGroup(GA), GB: SecurityGroup(GB)})
    assert outcome.mode == "enforced" and not outcome.faults


# --------------------------------------------------------------------------- other tables


def test_imds_limit_tables() -> None:
    conn_cap, packet_limit = imds_limit.tables(rate=10, burst=5, connections=3)
    assert conn_cap.ref == "inet ec2d_imds" and packet_limit.ref == "bridge ec2d_imds"
    assert conn_cap.chains[0].rules[0].render() == (
        "ip daddr 169.254.169.254 tcp dport 80 ct state new add @conns { ip saddr ct count over 3 } "
        "counter reject with tcp reset")
    assert packet_limit.chains[0].rules[0].render() == (
        "ether type ip ip daddr 169.254.169.254 update @per_port { iifname limit rate over 10/second "
        "burst 5 packets } counter drop")
    assert "\t\tflags dynamic,timeout\n\t\ttimeout 1m\n" in imds_limit.render()


def test_nat_table() -> None:
    assert nat_table({}).render() == (
        "table ip ec2d_nat {\n"
        "\tchain pre {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t}\n"
        "\tchain post {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t}\n}")
    script = render_nat({"198.18.0.9": "10.0.1.5", "198.18.0.7": "10.0.1.6"})
    assert script.startswith("table ip ec2d_nat\ndelete table ip ec2d_nat\n")
    assert "\t\tdnat ip to ip daddr map { 198.18.0.7 : 10.0.1.6, 198.18.0.9 : 10.0.1.5 }\n" in script
    assert '\t\toifname "igw0" snat ip to ip saddr map { 10.0.1.6 : 198.18.0.7, 10.0.1.5 : 198.18.0.9 }\n' in script


def test_host_filter() -> None:
    closed = render_host_filter("ec2dtx", "ec2dtx-h", "198.18.0.0/15")
    assert "masquerade" not in closed and "@blocked" not in closed
    assert '\t\tiifname "ec2dtx-h" counter reject with icmpx type admin-prohibited\n' in closed
    uplink = render_host_filter("ec2dtx", "ec2dtx-h", "198.18.0.0/15", "eth9", ["10.0.0.0/8", "10.0.0.0/8"])
    assert ("\tset blocked {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\tauto-merge\n"
            "\t\telements = { 10.0.0.0/8 }\n\t}") in uplink
    assert '\t\tiifname "ec2dtx-h" oifname "eth9" ip saddr 198.18.0.0/15 ip daddr != @blocked accept\n' in uplink
    assert '\t\toifname "eth9" ip saddr 198.18.0.0/15 masquerade\n' in uplink
