"""Fixtures for network driver tests against the real kernel (namespaces, bridges, dnsmasq).

Every host object carries a per-session prefix ``ec2dt`` + 4 random hex chars, and the session
finalizer sweeps that prefix (and the sweep test's sub-prefix) even when tests fail.
Nothing here contacts anything but addresses inside namespaces the tests create.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fw_helpers import B_IP, PORT, TcpServer, Topology, can_run, new_prefix

from orchestrator.drivers.network import netlink
from orchestrator.drivers.network.firewall import NftFirewall
from orchestrator.drivers.network.vpc import LinuxVpcNetwork

NEEDED = ("ip", "dnsmasq", "busybox")


def _can_run() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    for tool in NEEDED:
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


@pytest.fixture(scope="session")
def real_network() -> None:
    reason = _can_run()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def net_prefix(real_network: None) -> str:
    return "ec2dt" + secrets.token_hex(2)


@pytest.fixture(scope="session")
def net_run_dir(net_prefix: str) -> Iterator[str]:
    path = f"/run/{net_prefix}"
    os.makedirs(path, mode=0o755, exist_ok=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def net_driver(net_prefix: str, net_run_dir: str) -> Iterator[LinuxVpcNetwork]:
    drv = LinuxVpcNetwork(net_prefix, net_run_dir)
    yield drv
    for p in (net_prefix, net_prefix + "s"):
        drv.sweep(p)
    leftovers = netlink.list_netns(net_prefix)
    assert not leftovers, leftovers


# --------------------------------------------------------------------------- stand-in guests


@dataclass
class Guest:
    """A namespace with ``eth0`` whose veth peer (named like an ENI tap) sits in the root ns."""

    ns: str
    tap: str
    mac: str
    run_dir: str
    plug_seconds: list[float] = field(default_factory=list)

    def sh(self, *argv: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.ns, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def dhcp(self, tries: int = 3, request: tuple[str, ...] = ()) -> dict[str, str] | None:
        """busybox udhcpc; returns the environment the script saw on ``bound`` (None: no lease);
        ``request``: more options to ask for (udhcpc's names, e.g. ``ntpsrv``)."""
        env_file = os.path.join(self.run_dir, f"{self.ns}.env")
        script = os.path.join(self.run_dir, f"{self.ns}.sh")
        with open(script, "w") as fh:
            fh.write(
                "#!/bin/sh\n"
                f'if [ "$1" = bound ]; then env > {env_file}\n'
                "  ip addr flush dev $interface\n"
                "  ip addr add $ip/$mask dev $interface\n"
                "  ip route replace default via $router\n"
                "fi\nexit 0\n"
            )
        os.chmod(script, 0o755)
        if os.path.exists(env_file):
            os.unlink(env_file)
        extra = [arg for name in request for arg in ("-O", name)]
        self.sh("busybox", "udhcpc", "-i", "eth0", "-s", script, "-n", "-q", "-t", str(tries), "-T", "1", *extra)
        if not os.path.exists(env_file):
            return None
        with open(env_file) as fh:
            return dict(line.rstrip("\n").split("=", 1) for line in fh if "=" in line)

    def ping(self, ip: str) -> bool:
        return self.sh("busybox", "ping", "-c", "1", "-W", "1", ip).returncode == 0

    def socket(self, type_: int = socket.SOCK_DGRAM) -> socket.socket:
        return netlink.netns_socket(self.ns, socket.AF_INET, type_)

    def resolve(self, name: str, server: str) -> tuple[int, list[str]]:
        """One DNS A query over UDP from inside the guest: (rcode, addresses)."""
        with self.socket() as sock:
            sock.settimeout(2)
            return dns_query(sock, name, server)


def dns_query(sock: socket.socket, name: str, server: str) -> tuple[int, list[str]]:
    qid = secrets.randbits(16)
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    sock.sendto(
        struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", 1, 1), (server, 53)
    )
    data, _ = sock.recvfrom(2048)
    rid, flags, qd, an, _, _ = struct.unpack("!HHHHHH", data[:12])
    assert rid == qid
    pos = 12

    def skip_name(p: int) -> int:
        while True:
            n = data[p]
            if n & 0xC0 == 0xC0:
                return p + 2
            if n == 0:
                return p + 1
            p += n + 1

    for _ in range(qd):
        pos = skip_name(pos) + 4
    addrs = []
    for _ in range(an):
        pos = skip_name(pos)
        rtype, _, _, rdlen = struct.unpack("!HHIH", data[pos : pos + 10])
        pos += 10
        if rtype == 1 and rdlen == 4:
            addrs.append(socket.inet_ntoa(data[pos : pos + 4]))
        pos += rdlen
    return flags & 0xF, addrs


@pytest.fixture(scope="session")
def make_guest(net_prefix: str, net_run_dir: str, net_driver: LinuxVpcNetwork):
    counter = iter(range(1, 1000))
    made: list[Guest] = []

    def make(vpc_id: str, subnet_id: str, mac: str, drv: LinuxVpcNetwork | None = None) -> Guest:
        drv = drv or net_driver
        n = next(counter)
        eni = f"eni-{secrets.token_hex(9)[:17]}"
        guest = Guest(ns=f"{drv.prefix}-g{n}", tap=drv.tap_name(eni), mac=mac, run_dir=net_run_dir)
        netlink.ensure_netns(guest.ns)
        netlink.create_veth(None, guest.tap, "eth0", peer_ns=guest.ns, peer_mac=mac)
        netlink.set_up(guest.ns, "eth0")
        t0 = time.perf_counter()
        drv.plug_port(vpc_id, subnet_id, guest.tap)
        guest.plug_seconds.append(time.perf_counter() - t0)
        made.append(guest)
        return guest

    yield make
    for g in made:
        netlink.delete_netns(g.ns)
        netlink.delete_link(None, g.tap)


# --------------------------------------------------------------------------- firewall topology
# For the firewall modules (fw_helpers): one Topology per module, b listening on fw_helpers.PORT,
# a fresh NftFirewall per test, removed afterwards.


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:
    if can_run():
        pytest.skip(str(can_run()))
    t = Topology.build(new_prefix())
    try:
        yield t
    finally:
        t.destroy()
        assert not netlink.list_netns(t.prefix)


@pytest.fixture(scope="module")
def server(topo: Topology) -> Iterator[TcpServer]:
    srv = TcpServer(topo.guests["b"].ns, B_IP, PORT)
    yield srv
    srv.close()


@pytest.fixture
def fw(topo: Topology) -> Iterator[NftFirewall]:
    drv = NftFirewall()
    yield drv
    drv.remove(topo.vpc_ns)
