"""Security groups of local ports (a load balancer's node addresses, held by the VPC namespace
itself) in REAL namespaces: what reaches the node is filtered by the node's groups (and the
sender's egress), what the node sends by its own egress and the target's ingress, where target
rules may reference the node's group. Topology as in test_net_firewall (fw_helpers.Topology); the
node address 10.50.0.100 sits on the bridge, a TCP server listens on it inside the VPC namespace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fw_helpers import FwGuest, TcpServer, Topology, new_prefix
from test_net_firewall import A_IP, B_IP, GA, GB, GC, PORT, needs_root, sample_ports, sgs, tcp

from orchestrator.drivers.network import netlink
from orchestrator.drivers.network.firewall import NftFirewall, Rule, SecurityGroup, compile_ruleset
from orchestrator.drivers.network.firewall.failclosed import lockdown_ruleset
from orchestrator.drivers.network.firewall.model import local_port

VPC = "vpc-0f1e2d3c4b5a69788"
GL = "sg-0111111111111111e"  # the load balancer's group
NODE = "10.50.0.100"


def node_port() -> object:
    return local_port("eni-0lb", (NODE,), (GL,))


def groups(lb: SecurityGroup, target: SecurityGroup) -> dict[str, SecurityGroup]:
    out = sgs(target)
    out[GL] = lb
    return out


def test_no_local_chains_without_local_ports() -> None:
    plain = compile_ruleset(VPC, sample_ports(), sgs())
    assert "hook input" not in plain.structure and "hook output" not in plain.structure
    with_lb = compile_ruleset(VPC, [*sample_ports(), node_port()], groups(SecurityGroup(GL), SecurityGroup(GB)))
    assert "hook input" in with_lb.structure and "hook output" in with_lb.structure
    assert with_lb.elements[("inet ec2d_sg", "local")] == frozenset({NODE})
    assert NODE in with_lb.elements[("inet ec2d_sg", f"g_{GL[3:]}_m")]  # members of its group
    assert not any(NODE in e for e in with_lb.elements[("inet ec2d_sg", "in_dst")])  # not a forwarded port
    lock = lockdown_ruleset(VPC, [*sample_ports(), node_port()], "test")
    assert "ip daddr @local drop" in lock.structure and lock.elements[("inet ec2d_sg", "local")] == {NODE}
    assert "@local" not in lockdown_ruleset(VPC, sample_ports(), "test").structure


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:
    t = Topology.build(new_prefix())
    try:
        netlink.add_address(t.vpc_ns, t.bridge, f"{NODE}/24")
        yield t
    finally:
        t.destroy()
        assert not netlink.list_netns(t.prefix)


@pytest.fixture(scope="module")
def servers(topo: Topology) -> Iterator[None]:
    lb, target = TcpServer(topo.vpc_ns, NODE, PORT), TcpServer(topo.guests["b"].ns, B_IP, PORT)
    yield None
    lb.close()
    target.close()


def node(topo: Topology) -> FwGuest:
    """The VPC namespace itself, as a guest that sends from the node address."""
    return FwGuest("lb", topo.vpc_ns, "", "", NODE)


def node_reaches(topo: Topology, ip: str) -> bool:
    sock = node(topo).connect(ip, PORT, src=NODE)
    if sock is None:
        return False
    with sock:
        sock.sendall(b"ping\n")
        return sock.recv(64) == b"pong:ping\n"


def sync(fw: NftFirewall, topo: Topology, lb: SecurityGroup, target: SecurityGroup) -> None:
    outcome = fw.sync(topo.vpc_ns, VPC, [*sample_ports(topo), node_port()], groups(lb, target))
    assert outcome.mode == "enforced", outcome


@needs_root
def test_node_ingress_follows_its_group(topo: Topology, servers: None, fw: NftFirewall) -> None:
    a, c = topo.guests["a"], topo.guests["c"]
    sync(fw, topo, SecurityGroup(GL, ingress=(tcp(PORT, f"{A_IP}/32"),)), SecurityGroup(GB))
    assert a.can_connect(NODE, PORT) and not c.can_connect(NODE, PORT)
    sync(fw, topo, SecurityGroup(GL, ingress=(tcp(PORT, groups=(GC,)),)), SecurityGroup(GB))
    assert c.can_connect(NODE, PORT) and not a.can_connect(NODE, PORT)
    assert a.ping("10.50.0.1")  # the namespace's own addresses are not filtered
    # the sender's egress applies too: a's group allows nothing out
    sync(fw, topo, SecurityGroup(GL, ingress=(tcp(PORT, "10.50.0.0/24"),)), SecurityGroup(GB))
    assert a.can_connect(NODE, PORT)
    out = groups(SecurityGroup(GL, ingress=(tcp(PORT, "10.50.0.0/24"),)), SecurityGroup(GB))
    out[GA] = SecurityGroup(GA, egress=())
    fw.sync(topo.vpc_ns, VPC, [*sample_ports(topo), node_port()], out)
    assert not a.can_connect(NODE, PORT) and c.can_connect(NODE, PORT)


@needs_root
def test_targets_may_reference_the_node_group(topo: Topology, servers: None, fw: NftFirewall) -> None:
    sync(fw, topo, SecurityGroup(GL), SecurityGroup(GB, ingress=(tcp(PORT, groups=(GL,)),)))
    assert node_reaches(topo, B_IP)
    assert not topo.guests["a"].can_connect(B_IP, PORT)  # only the load balancer's group
    sync(fw, topo, SecurityGroup(GL), SecurityGroup(GB, ingress=(tcp(PORT, groups=(GA,)),)))
    assert not node_reaches(topo, B_IP)
    # the node's own egress: nothing allowed out, even where the target allows it in
    sync(fw, topo, SecurityGroup(GL, egress=()), SecurityGroup(GB, ingress=(tcp(PORT, groups=(GL,)),)))
    assert not node_reaches(topo, B_IP)
    sync(fw, topo, SecurityGroup(GL, egress=(Rule("tcp", PORT, PORT, cidrs=(f"{B_IP}/32",)),)),
         SecurityGroup(GB, ingress=(tcp(PORT, groups=(GL,)),)))
    assert node_reaches(topo, B_IP)


@needs_root
def test_lockdown_closes_the_node(topo: Topology, servers: None, fw: NftFirewall) -> None:
    sync(fw, topo, SecurityGroup(GL, ingress=(tcp(PORT, "10.50.0.0/24"),)), SecurityGroup(GB))
    assert topo.guests["a"].can_connect(NODE, PORT)
    fw.lockdown(topo.vpc_ns, VPC, "test")
    assert not topo.guests["a"].can_connect(NODE, PORT)
