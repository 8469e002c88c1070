"""The firewall fails closed, checked with real traffic between stand-in guests (fw_helpers).

- a group whose rules cannot be compiled allows nothing, the others keep working;
- a ruleset that cannot be compiled, or that nft refuses, becomes a lockdown: nothing is
  forwarded (established flows included), anti-spoofing stays, the namespace itself (gateway,
  DHCP, metadata) stays reachable; the next good sync heals it;
- br_netfilter's per-namespace sysctl is what makes same-subnet groups work: turned off, a guest
  reaches a neighbour on any port; the driver turns it back on before applying, and when it cannot
  (a host without br_netfilter) it locks the VPC down with a bridge-family drop that holds anyway.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from fw_helpers import (
    A_IP,
    B_IP,
    C_IP,
    GATEWAY,
    PORT,
    TcpServer,
    Topology,
    needs_root,
)

from orchestrator.drivers.network import hostprep, netlink
from orchestrator.drivers.network.firewall import (
    FakeFirewall,
    NftFirewall,
    Port,
    Rule,
    SecurityGroup,
    compile_tolerant,
    compiler,
    failclosed,
)

VPC = "vpc-0f1e2d3c4b5a69788"
GA, GB, GC, GX = ("sg-0aaaaaaaaaaaaaaa1", "sg-0bbbbbbbbbbbbbbb2", "sg-0ccccccccccccccc3",
                  "sg-0eeeeeeeeeeeeeee4")
SYSCTL = "net.bridge.bridge-nf-call-iptables"



def tcp(port: int, *cidrs: str, groups: tuple[str, ...] = ()) -> Rule:
    return Rule("tcp", port, port, cidrs=cidrs, group_ids=groups)


BAD_GX = SecurityGroup(GX, ingress=(Rule("icmp", 300, 0, cidrs=(f"{C_IP}/32",)), tcp(PORT, f"{C_IP}/32")))
GOOD_GX = SecurityGroup(GX, ingress=(tcp(PORT, f"{C_IP}/32"),))
ALLOW_A = SecurityGroup(GB, ingress=(tcp(PORT, f"{A_IP}/32"),))


def groups(*extra: SecurityGroup) -> dict[str, SecurityGroup]:
    out = {g: SecurityGroup(g) for g in (GA, GB, GC, GX)}
    out.update({g.group_id: g for g in extra})
    return out


def ports(topo: Topology, bad_ip: bool = False) -> list[Port]:
    g = topo.guests
    out = [Port("eni-0a", g["a"].tap, g["a"].mac, (A_IP,), (GA,)),
           Port("eni-0b", g["b"].tap, g["b"].mac, (B_IP,), (GB, GX)),
           Port("eni-0c", g["c"].tap, g["c"].mac, (C_IP,), (GC,))]
    if bad_ip:  # a model the compiler refuses as a whole
        out.append(Port("eni-0d", "tapbroken", "02:50:00:00:00:99", ("not-an-ip",), (GA,)))
    return out


@pytest.fixture
def fw(topo: Topology) -> Iterator[NftFirewall]:
    drv = NftFirewall()
    yield drv
    drv.remove(topo.vpc_ns)
    netlink.sysctl(topo.vpc_ns, SYSCTL, "1")


def test_tolerant_compile_model() -> None:
    ruleset, outcome = compile_tolerant(VPC, [], groups(BAD_GX))
    assert outcome.mode == "degraded" and list(outcome.faults) == [GX] and "icmp" in outcome.faults[GX]
    assert "LOCKDOWN" not in ruleset.script()
    ruleset, outcome = compile_tolerant(VPC, [Port("eni-1", "tap1", "zz", ("10.0.0.1",), ())], groups())
    assert outcome.mode == "lockdown" and "MAC" in outcome.faults["*"]
    assert "policy drop" in ruleset.script() and "iifname != @taps drop" in ruleset.script()
    fake = FakeFirewall()
    port = Port("eni-0b", "tapb", "02:00:00:00:00:0b", (B_IP,), (GB, GX))
    assert fake.sync("ns", VPC, [port], groups(ALLOW_A, BAD_GX)).mode == "degraded"
    assert fake.allows("ns", A_IP, B_IP, "tcp", PORT) and not fake.allows("ns", C_IP, B_IP, "tcp", PORT)
    fake.lockdown("ns", VPC, "test")
    assert not fake.allows("ns", A_IP, B_IP, "tcp", PORT)


@needs_root
def test_quarantined_group_allows_nothing_others_keep_working(topo: Topology, server: TcpServer,
                                                               fw: NftFirewall) -> None:
    a, c = topo.guests["a"], topo.guests["c"]
    outcome = fw.sync(topo.vpc_ns, VPC, ports(topo), groups(ALLOW_A, BAD_GX))
    assert outcome.mode == "degraded" and set(outcome.faults) == {GX}
    assert a.can_connect(B_IP, PORT)  # GB's rule is in force
    assert not c.can_connect(B_IP, PORT)  # GX's rules, good one included, are not
    assert fw.sync(topo.vpc_ns, VPC, ports(topo), groups(ALLOW_A, GOOD_GX)).mode == "enforced"
    assert c.can_connect(B_IP, PORT) and a.can_connect(B_IP, PORT)


@needs_root
def test_uncompilable_ruleset_locks_down_and_heals(topo: Topology, server: TcpServer, fw: NftFirewall) -> None:
    a = topo.guests["a"]
    assert fw.sync(topo.vpc_ns, VPC, ports(topo), groups(ALLOW_A)).mode == "enforced"
    live = a.connect(B_IP, PORT)
    assert live is not None
    try:
        live.sendall(b"before\n")
        assert live.recv(64) == b"pong:before\n"
        outcome = fw.sync(topo.vpc_ns, VPC, ports(topo, bad_ip=True), groups(ALLOW_A))
        assert outcome.mode == "lockdown" and "not-an-ip" in outcome.faults["*"]
        assert not a.can_connect(B_IP, PORT)  # the older, wider rules are not left in force
        live.settimeout(1.5)
        live.sendall(b"after\n")
        with pytest.raises(OSError):  # established flows are cut too
            if not live.recv(64):
                raise ConnectionResetError
    finally:
        live.close()
    assert a.ping(GATEWAY)  # the namespace itself (router, DHCP, DNS, metadata) is not forwarded
    assert not a.ping(B_IP)
    text = subprocess.run(["ip", "netns", "exec", topo.vpc_ns, "nft", "list", "ruleset"],
                          capture_output=True, text=True, check=True).stdout
    assert a.tap in text and a.mac in text and "iifname != @taps drop" in text  # anti-spoofing kept
    assert fw.stats.lockdowns == 1
    assert fw.sync(topo.vpc_ns, VPC, ports(topo), groups(ALLOW_A)).mode == "enforced"
    assert a.can_connect(B_IP, PORT)


@needs_root
def test_nft_refusal_locks_down(topo: Topology, server: TcpServer, fw: NftFirewall,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    a = topo.guests["a"]
    real = failclosed.compile_tolerant
    broken = real(VPC, ports(topo), groups(ALLOW_A))[0]

    def refused(vpc_id, p, g):  # a ruleset nft refuses (as a kernel or nft version might)
        ruleset, outcome = real(vpc_id, p, g)
        return compiler.Ruleset(broken.header, broken.structure + "\nthis is not nft\n", ruleset.elements,
                             ruleset.generation), outcome

    assert fw.sync(topo.vpc_ns, VPC, ports(topo), groups(ALLOW_A)).mode == "enforced"
    assert a.can_connect(B_IP, PORT)
    monkeypatch.setattr(failclosed, "compile_tolerant", refused)
    outcome = fw.sync(topo.vpc_ns, VPC, ports(topo), groups(ALLOW_A, GOOD_GX))
    assert outcome.mode == "lockdown" and "nft refused" in outcome.faults["*"]
    assert not a.can_connect(B_IP, PORT)
    monkeypatch.setattr(failclosed, "compile_tolerant", real)
    assert fw.sync(topo.vpc_ns, VPC, ports(topo), groups(ALLOW_A)).mode == "enforced"
    assert a.can_connect(B_IP, PORT)


@needs_root
def test_br_netfilter_sysctl_is_what_isolates_a_subnet(topo: Topology, server: TcpServer, fw: NftFirewall,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    c = topo.guests["c"]
    assert fw.sync(topo.vpc_ns, VPC, ports(topo), groups(ALLOW_A)).mode == "enforced"
    assert not c.can_connect(B_IP, PORT)
    netlink.sysctl(topo.vpc_ns, SYSCTL, "0")  # as on a host where nothing set it up
    assert c.can_connect(B_IP, PORT)  # same bridge: the inet forward hook never sees the packet
    assert hostprep.netns_checks(topo.vpc_ns)[0].ok is False
    assert fw.sync(topo.vpc_ns, VPC, ports(topo), groups(ALLOW_A)).mode == "enforced"
    assert netlink.read_sysctl(topo.vpc_ns, SYSCTL) == "1"  # the driver turned it back on
    assert not c.can_connect(B_IP, PORT)
    # a host where br_netfilter cannot be had: the driver refuses to pretend and locks down, with a
    # bridge-family drop that holds without br_netfilter
    netlink.sysctl(topo.vpc_ns, SYSCTL, "0")

    def missing(ns: str) -> None:
        raise hostprep.PreconditionError("br_netfilter is not available (test)")

    monkeypatch.setattr(hostprep, "ensure_netns", missing)
    outcome = fw.sync(topo.vpc_ns, VPC, ports(topo), groups(ALLOW_A, SecurityGroup(GB, ingress=(
        Rule("-1", cidrs=("0.0.0.0/0",)),))))
    assert outcome.mode == "lockdown" and "br_netfilter" in outcome.faults["*"]
    assert not c.can_connect(B_IP, PORT) and not topo.guests["a"].can_connect(B_IP, PORT)
    assert c.ping(GATEWAY)
