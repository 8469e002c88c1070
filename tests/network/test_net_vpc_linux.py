"""LinuxVpcNetwork against the real kernel: namespaces, bridges, veth stand-in guests, dnsmasq."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import threading

import pytest

from orchestrator.drivers.network import netlink, netlink_routes, routes
from orchestrator.drivers.network.dnsmasq import DhcpOptions, Dnsmasq, Lease, dnsmasq_pids
from orchestrator.drivers.network.errors import (
    AlreadyExists,
    InvalidArgument,
    LinkNotFound,
    SubnetNotFound,
    VpcNotFound,
)
from orchestrator.drivers.network.names import bridge_name
from orchestrator.drivers.network.vpc import LinuxVpcNetwork
from orchestrator.drivers.network.vpc.driver import HostRecord, LocalAddress


def rid(kind: str) -> str:
    return f"{kind}-{secrets.token_hex(9)[:17]}"


VPC_A, SUB_A1, SUB_A2 = rid("vpc"), rid("subnet"), rid("subnet")
MAC1, MAC2, MAC3, MAC_UNKNOWN = (
    "02:00:0a:00:01:05",
    "02:00:0a:00:00:05",
    "02:00:0a:00:01:06",
    "02:00:0a:00:09:09",
)
LEASE1 = Lease(MAC1, "10.0.1.5", "ip-10-0-1-5")
LEASE2 = Lease(MAC2, "10.0.0.5", "ip-10-0-0-5")
LEASE3 = Lease(MAC3, "10.0.1.6", "ip-10-0-1-6")
ROOT_FORWARD = open("/proc/sys/net/ipv4/ip_forward").read().strip()


@pytest.fixture(scope="module")
def vpc_a(net_driver: LinuxVpcNetwork, make_guest):
    """VPC 10.0.0.0/16 with subnets 10.0.1.0/24 (g1) and 10.0.0.0/24 (g2, holds the DNS .2)."""
    d = net_driver
    d.ensure_vpc(VPC_A, "10.0.0.0/16")
    d.ensure_subnet(VPC_A, SUB_A1, "10.0.1.0/24")
    d.ensure_subnet(VPC_A, SUB_A2, "10.0.0.0/24")
    d.set_leases(VPC_A, [LEASE1, LEASE2])
    g1 = make_guest(VPC_A, SUB_A1, MAC1)
    g2 = make_guest(VPC_A, SUB_A2, MAC2)
    env1, env2 = g1.dhcp(), g2.dhcp()
    yield {"g1": g1, "g2": g2, "env1": env1, "env2": env2}
    d.delete_vpc(VPC_A)


def test_idempotent_ensure(net_driver: LinuxVpcNetwork, vpc_a) -> None:
    pid = Dnsmasq(
        net_driver.netns_name(VPC_A), os.path.join(net_driver.run_dir, net_driver.netns_name(VPC_A))
    ).pid()
    net_driver.ensure_vpc(VPC_A, "10.0.0.0/16")
    net_driver.ensure_subnet(VPC_A, SUB_A1, "10.0.1.0/24")
    net_driver.set_leases(VPC_A, [LEASE2, LEASE1])
    assert (
        Dnsmasq(
            net_driver.netns_name(VPC_A), os.path.join(net_driver.run_dir, net_driver.netns_name(VPC_A))
        ).pid()
        == pid
    )
    ns = net_driver.netns_name(VPC_A)
    br = netlink.link_info(ns, bridge_name(SUB_A1))
    assert br is not None and br.kind == "bridge" and br.up and br.addresses == ["10.0.1.1/24"]
    assert netlink.read_sysctl(ns, "net.ipv4.ip_forward") == "1"
    assert netlink.read_sysctl(None, "net.ipv4.ip_forward") == ROOT_FORWARD  # root untouched
    # the VPC namespace has no way out: only its subnets' connected routes, no default route
    assert sorted(r.dst for r in netlink_routes.list_routes(ns)) == ["10.0.0.0/24", "10.0.1.0/24"]
    assert set(netlink.link_info(ns, "lo").addresses) >= {
        "169.254.169.254/32",
        "169.254.169.253/32",
        "10.0.0.2/32",
    }


def test_static_dhcp_leases(vpc_a) -> None:
    env1, env2 = vpc_a["env1"], vpc_a["env2"]
    assert env1 is not None and env2 is not None
    assert env1["ip"] == "10.0.1.5" and env1["router"] == "10.0.1.1" and env1["mask"] == "24"
    assert env1["dns"].split() == ["10.0.0.2"] and env1["domain"] == "ec2.internal"
    assert env1["hostname"] == "ip-10-0-1-5"
    assert env2["ip"] == "10.0.0.5" and env2["router"] == "10.0.0.1"


def test_routing_between_subnets(vpc_a) -> None:
    assert vpc_a["g1"].ping("10.0.0.5")
    assert vpc_a["g2"].ping("10.0.1.5")


def test_private_dns(vpc_a) -> None:
    g1, g2 = vpc_a["g1"], vpc_a["g2"]
    assert g1.resolve("ip-10-0-1-5.ec2.internal", "10.0.0.2") == (0, ["10.0.1.5"])  # routed via gateway
    assert g2.resolve("ip-10-0-1-5.ec2.internal", "10.0.0.2") == (0, ["10.0.1.5"])  # on-link (ARP)
    assert g1.resolve("ip-10-0-0-5.ec2.internal", "169.254.169.253") == (0, ["10.0.0.5"])
    assert g1.resolve("ip-10-9-9-9.ec2.internal", "10.0.0.2") == (3, [])  # NXDOMAIN, local domain
    rcode, addrs = g1.resolve("example.com", "10.0.0.2")  # never forwarded anywhere
    assert addrs == [] and rcode != 0


def _listener(ns: str, ip: str) -> socket.socket:
    srv = netlink.netns_socket(ns, socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((ip, 0))
    srv.listen(4)
    srv.settimeout(3)
    return srv


def test_metadata_address_reachable_routed_and_on_link(net_driver: LinuxVpcNetwork, vpc_a) -> None:
    g1, g2 = vpc_a["g1"], vpc_a["g2"]
    assert g2.sh("ip", "route", "add", "169.254.169.254/32", "dev", "eth0").returncode == 0
    with _listener(net_driver.netns_name(VPC_A), "169.254.169.254") as srv:
        port = srv.getsockname()[1]
        for guest, src in ((g1, "10.0.1.5"), (g2, "10.0.0.5")):
            with guest.socket(socket.SOCK_STREAM) as c:
                c.settimeout(3)
                c.connect(("169.254.169.254", port))
                conn, peer = srv.accept()
                conn.close()
                assert peer[0] == src
    neigh = g2.sh("ip", "neigh", "show", "169.254.169.254").stdout
    assert "lladdr" in neigh  # g2 reached it on-link: the namespace answered ARP on the bridge


def test_set_leases_sighup_adds_host(net_driver: LinuxVpcNetwork, vpc_a, make_guest) -> None:
    ns = net_driver.netns_name(VPC_A)
    dm = Dnsmasq(ns, os.path.join(net_driver.run_dir, ns))
    pid = dm.pid()
    assert pid is not None
    g3 = make_guest(VPC_A, SUB_A1, MAC3)
    net_driver.set_leases(VPC_A, [LEASE1, LEASE2, LEASE3])
    assert dm.pid() == pid  # reloaded by SIGHUP, not restarted
    env3 = g3.dhcp()
    assert env3 is not None and env3["ip"] == "10.0.1.6" and env3["hostname"] == "ip-10-0-1-6"
    assert vpc_a["g1"].resolve("ip-10-0-1-6.ec2.internal", "10.0.0.2") == (0, ["10.0.1.6"])
    assert vpc_a["g1"].ping("10.0.1.6")


def test_a_restarted_daemon_reloads_hosts_written_before_it_was_killed(
        net_driver: LinuxVpcNetwork, vpc_a, make_guest, monkeypatch: pytest.MonkeyPatch) -> None:
    """ec2d killed between writing the hosts files and the SIGHUP: the next daemon's driver finds the
    files already up to date, yet the running dnsmasq still serves the old ones."""
    ns = net_driver.netns_name(VPC_A)
    state = os.path.join(net_driver.run_dir, ns)
    pid = Dnsmasq(ns, state).pid()
    lease4 = Lease("02:00:0a:00:01:07", "10.0.1.7", "ip-10-0-1-7")
    g4 = make_guest(VPC_A, SUB_A1, lease4.mac)
    leases = [LEASE1, LEASE2, LEASE3, lease4]
    monkeypatch.setattr(Dnsmasq, "reload", lambda self: None)  # killed after the write, before the HUP
    net_driver.set_leases(VPC_A, leases)
    monkeypatch.undo()
    restarted = LinuxVpcNetwork(net_driver.prefix, net_driver.run_dir, net_driver.region)
    restarted.set_leases(VPC_A, leases)
    assert Dnsmasq(ns, state).pid() == pid  # reloaded, not restarted
    env = g4.dhcp()
    assert env is not None and env["ip"] == lease4.ip


def test_dhcp_options_set_reloads_without_a_restart(net_driver: LinuxVpcNetwork, vpc_a) -> None:
    """A DHCP options set reaches the next lease by SIGHUP (the daemon and its leases stay)."""
    ns = net_driver.netns_name(VPC_A)
    dm = Dnsmasq(ns, os.path.join(net_driver.run_dir, ns))
    pid = dm.pid()
    g1 = vpc_a["g1"]
    wanted = DhcpOptions("example.internal", ("10.0.0.2", "10.9.9.9"), ("10.0.0.123",), ("10.0.0.44",), 2)
    try:
        net_driver.set_dhcp_options(VPC_A, wanted)
        assert dm.pid() == pid
        env = g1.dhcp(request=("ntpsrv", "wins"))
        assert env is not None and env["ip"] == "10.0.1.5" and env["domain"] == "example.internal"
        assert env["dns"].split() == ["10.0.0.2", "10.9.9.9"] and env["ntpsrv"].split() == ["10.0.0.123"]
        assert env["wins"].split() == ["10.0.0.44"]
        net_driver.set_dhcp_options(VPC_A, DhcpOptions(None, ("169.254.169.253",)))
        env = g1.dhcp(request=("ntpsrv", "wins"))
        assert env is not None and env["dns"].split() == ["169.254.169.253"]
        assert "domain" not in env and "ntpsrv" not in env and "wins" not in env
        assert dm.pid() == pid
    finally:
        net_driver.set_dhcp_options(VPC_A, None)
    env = g1.dhcp()
    assert env is not None and env["domain"] == "ec2.internal" and env["dns"].split() == ["10.0.0.2"]
    assert net_driver._load(VPC_A).options is None  # noqa: SLF001 - the state file follows


def test_unknown_mac_gets_no_lease(vpc_a, make_guest) -> None:
    g = make_guest(VPC_A, SUB_A1, MAC_UNKNOWN)
    assert g.dhcp(tries=1) is None


def test_root_namespace_has_unreachable_routes(net_driver: LinuxVpcNetwork, vpc_a) -> None:
    assert "10.0.0.0/16" in routes.list_unreachable(prefix=net_driver.prefix)
    out = subprocess.run(["ip", "route", "get", "10.0.1.5"], capture_output=True, text=True)
    err = out.stderr.lower()
    assert out.returncode != 0 and ("unreachable" in err or "no route to host" in err)
    with pytest.raises(OSError):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.0.1.5", 9))  # route lookup fails before anything is sent


def test_plug_port_idempotent_fast_and_errors(net_driver: LinuxVpcNetwork, vpc_a) -> None:
    g1 = vpc_a["g1"]
    net_driver.plug_port(VPC_A, SUB_A1, g1.tap)  # already inside: fine
    info = netlink.link_info(net_driver.netns_name(VPC_A), g1.tap)
    assert info is not None and info.up and info.master is not None
    timings = vpc_a["g1"].plug_seconds + vpc_a["g2"].plug_seconds
    print(f"plug_port seconds: {[round(t, 4) for t in timings]}")
    assert max(timings) < 0.25
    with pytest.raises(LinkNotFound):
        net_driver.plug_port(VPC_A, SUB_A1, "nosuchtap0")
    with pytest.raises(SubnetNotFound):
        net_driver.plug_port(VPC_A, rid("subnet"), g1.tap)
    with pytest.raises(VpcNotFound):
        net_driver.plug_port(rid("vpc"), SUB_A1, g1.tap)


def test_same_cidr_vpcs_are_isolated(net_driver: LinuxVpcNetwork, vpc_a, make_guest) -> None:
    vpc_b, sub_b = rid("vpc"), rid("subnet")
    net_driver.ensure_vpc(vpc_b, "10.0.0.0/16")
    try:
        net_driver.ensure_subnet(vpc_b, sub_b, "10.0.1.0/24")
        mac_b = "02:00:0b:00:01:05"
        net_driver.set_leases(vpc_b, [Lease(mac_b, "10.0.1.5", "ip-10-0-1-5")])  # same IP as g1 in A
        gb = make_guest(vpc_b, sub_b, mac_b)
        env = gb.dhcp()
        assert env is not None and env["ip"] == "10.0.1.5"
        assert gb.ping("10.0.1.1")
        assert not gb.ping("10.0.0.5")  # g2 of VPC A
        assert vpc_a["g1"].ping("10.0.0.5")  # A unaffected
        assert gb.resolve("ip-10-0-0-5.ec2.internal", "10.0.0.2") == (3, [])  # A's names unknown in B
    finally:
        ns_b = net_driver.netns_name(vpc_b)
        net_driver.delete_vpc(vpc_b)
    assert not netlink.netns_exists(ns_b)
    assert "10.0.0.0/16" in routes.list_unreachable(prefix=net_driver.prefix)  # still used by A


def test_delete_vpc_removes_everything(net_driver: LinuxVpcNetwork) -> None:
    vpc, sub = rid("vpc"), rid("subnet")
    net_driver.ensure_vpc(vpc, "10.99.0.0/16")
    net_driver.ensure_subnet(vpc, sub, "10.99.1.0/24")
    ns = net_driver.netns_name(vpc)
    pid = Dnsmasq(ns, os.path.join(net_driver.run_dir, ns)).pid()
    assert pid is not None and "10.99.0.0/16" in routes.list_unreachable(prefix=net_driver.prefix)
    net_driver.delete_subnet(vpc, sub)
    assert not netlink.link_exists(ns, bridge_name(sub))
    net_driver.delete_vpc(vpc)
    net_driver.delete_vpc(vpc)  # absent: fine
    net_driver.delete_subnet(vpc, sub)
    assert not netlink.netns_exists(ns)
    assert pid not in dnsmasq_pids()
    assert "10.99.0.0/16" not in routes.list_unreachable(prefix=net_driver.prefix)
    assert not os.path.exists(os.path.join(net_driver.run_dir, ns))


def test_sweep_removes_everything_of_its_prefix_only(net_driver: LinuxVpcNetwork, vpc_a, make_guest) -> None:
    other = LinuxVpcNetwork(net_driver.prefix + "s", net_driver.run_dir)
    vpc, sub = rid("vpc"), rid("subnet")
    other.ensure_vpc(vpc, "10.0.0.0/16")
    other.ensure_subnet(vpc, sub, "10.0.1.0/24")
    other.ensure_unreachable("198.18.0.0/24")  # a "public pool"
    ns = other.netns_name(vpc)
    dm_pid = Dnsmasq(ns, os.path.join(other.run_dir, ns)).pid()
    stray = other.tap_name(rid("eni"))  # a tap libvirt made but nobody plugged
    netlink.create_veth(None, stray, stray[:-1] + "p")
    report = other.sweep()
    assert ns in report.namespaces and stray in report.taps and dm_pid in report.dnsmasq_pids
    assert set(report.routes) == {"10.0.0.0/16", "198.18.0.0/24"}
    assert not netlink.netns_exists(ns) and not netlink.link_exists(None, stray)
    assert dm_pid not in dnsmasq_pids()
    assert routes.list_unreachable(prefix=other.prefix) == []
    # the session prefix is untouched
    assert netlink.netns_exists(net_driver.netns_name(VPC_A))
    assert "10.0.0.0/16" in routes.list_unreachable(prefix=net_driver.prefix)
    assert vpc_a["g1"].ping("10.0.0.5")


def test_driver_is_usable_from_worker_threads(net_driver: LinuxVpcNetwork, vpc_a) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                net_driver.ensure_subnet(VPC_A, SUB_A1, "10.0.1.0/24")
                assert netlink.link_exists(net_driver.netns_name(VPC_A), bridge_name(SUB_A2))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_ensure_vpc_rebuilds_after_namespace_loss(net_driver: LinuxVpcNetwork, make_guest) -> None:
    """As after a host reboot (or someone deleting the namespace): ensure_vpc restores it all."""
    vpc, sub = rid("vpc"), rid("subnet")
    net_driver.ensure_vpc(vpc, "10.98.0.0/16")
    try:
        net_driver.ensure_subnet(vpc, sub, "10.98.1.0/24")
        with pytest.raises(AlreadyExists):
            net_driver.ensure_subnet(vpc, sub, "10.98.2.0/24")
        with pytest.raises(InvalidArgument):
            net_driver.set_leases(vpc, [Lease("02:00:62:00:01:05", "10.0.1.5", "ip-10-0-1-5")])
        net_driver.set_leases(vpc, [Lease("02:00:62:00:01:05", "10.98.1.5", "ip-10-98-1-5")])
        ns = net_driver.netns_name(vpc)
        dm = Dnsmasq(ns, os.path.join(net_driver.run_dir, ns))
        old_pid = dm.pid()
        netlink.delete_netns(ns)  # dnsmasq keeps the old namespace alive: it is now stale
        assert dm.pid() is None
        net_driver.ensure_vpc(vpc, "10.98.0.0/16")
        assert netlink.link_exists(ns, bridge_name(sub))
        assert dm.pid() not in (None, old_pid) and old_pid not in dnsmasq_pids()
        g = make_guest(vpc, sub, "02:00:62:00:01:05")
        env = g.dhcp()
        assert env is not None and env["ip"] == "10.98.1.5"
    finally:
        net_driver.delete_vpc(vpc)


def test_local_addresses_and_records(net_driver: LinuxVpcNetwork, vpc_a) -> None:
    """A load balancer's node addresses sit on the subnet bridges of the namespace (reachable from
    guests on-link, the gateway stays the bridge's primary address) and its name resolves to every
    node; a later call without them removes both; the state survives a new driver instance."""
    ns, g1 = net_driver.netns_name(VPC_A), vpc_a["g1"]
    name = "internal-web-123456.us-east-1.elb.amazonaws.com"
    nodes = [LocalAddress(SUB_A1, "10.0.1.200"), LocalAddress(SUB_A2, "10.0.0.200")]
    net_driver.set_local_addresses(VPC_A, nodes, [HostRecord(name, "10.0.1.200"), HostRecord(name, "10.0.0.200")])
    addrs = netlink.list_addresses(ns)
    assert {"10.0.1.200/24", "10.0.0.200/24", "10.0.1.1/24"} <= set(addrs)
    assert addrs.index("10.0.1.1/24") < addrs.index("10.0.1.200/24")  # the gateway stays primary
    assert g1.ping("10.0.1.200")
    rcode, found = g1.resolve(name, "10.0.0.2")
    assert (rcode, sorted(found)) == (0, ["10.0.0.200", "10.0.1.200"])
    with pytest.raises(InvalidArgument):
        net_driver.set_local_addresses(VPC_A, [LocalAddress(SUB_A1, "10.0.0.201")])  # not in that subnet
    with pytest.raises(SubnetNotFound):
        net_driver.set_local_addresses(VPC_A, [LocalAddress(rid("subnet"), "10.0.1.201")])
    again = LinuxVpcNetwork(net_driver.prefix, net_driver.run_dir, net_driver.region)
    again.set_local_addresses(VPC_A, nodes[:1], [HostRecord(name, "10.0.1.200")])
    addrs = netlink.list_addresses(ns)
    assert "10.0.1.200/24" in addrs and "10.0.0.200/24" not in addrs
    assert g1.resolve(name, "10.0.0.2") == (0, ["10.0.1.200"])
    again.set_local_addresses(VPC_A, [])
    assert "10.0.1.200/24" not in netlink.list_addresses(ns)
    assert "10.0.1.200" not in g1.resolve(name, "10.0.0.2")[1]  # (*.amazonaws.com: the service endpoint)
    assert not g1.ping("10.0.1.200")
