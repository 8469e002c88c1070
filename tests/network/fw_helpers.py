"""A VPC-like namespace with one bridge and veth stand-in guests, for security-group tests.

Everything lives in namespaces named ``{prefix}-...`` (prefix ``ec2dt`` + 4 hex); the tap ends of
the veths are created directly inside the VPC namespace, so nothing appears in the root namespace.
Only addresses inside these namespaces are ever contacted.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import threading
from dataclasses import dataclass, field

import pytest

from orchestrator.drivers.network import netlink, netlink_routes

SUBNET = "10.50.0.0/24"
GATEWAY = "10.50.0.1"
CONNECT_TIMEOUT = 1.0
A_IP, B_IP, C_IP = "10.50.0.10", "10.50.0.11", "10.50.0.12"  # Topology.build's guests a, b, c
PORT = 8080  # b's TcpServer (the ``server`` fixture)


def can_run() -> str | None:
    """Why the real-namespace tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("ip", "nft", "busybox"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


needs_root = pytest.mark.skipif(can_run() is not None, reason=str(can_run()))


def new_prefix() -> str:
    return "ec2dt" + secrets.token_hex(2)


def family(ip: str) -> int:
    """The socket family of an address (IPv6 when it has a colon)."""
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


@dataclass
class FwGuest:
    name: str
    ns: str
    tap: str  # veth end inside the VPC namespace, enslaved to the bridge
    mac: str
    ip: str

    def sh(self, *argv: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.ns, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ping(self, ip: str) -> bool:
        return self.sh("busybox", "ping", "-c", "1", "-W", "1", ip).returncode == 0

    def connect(
        self, ip: str, port: int, timeout: float = CONNECT_TIMEOUT, src: str | None = None
    ) -> socket.socket | None:
        """A connected TCP socket from inside the guest, or None when it could not connect."""
        sock = netlink.netns_socket(self.ns, family(ip), socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            if src:
                sock.bind((src, 0))
            sock.connect((ip, port))
        except OSError:
            sock.close()
            return None
        return sock

    def can_connect(self, ip: str, port: int) -> bool:
        sock = self.connect(ip, port)
        if sock is None:
            return False
        with sock:
            sock.sendall(b"ping\n")
            return sock.recv(64) == b"pong:ping\n"

    def send_udp(self, ip: str, port: int, payload: bytes, src: str | None = None) -> None:
        with netlink.netns_socket(self.ns, family(ip), socket.SOCK_DGRAM) as sock:
            if src:
                sock.bind((src, 0))
            sock.sendto(payload, (ip, port))


@dataclass
class Topology:
    prefix: str
    vpc_ns: str
    bridge: str
    guests: dict[str, FwGuest] = field(default_factory=dict)

    @classmethod
    def build(cls, prefix: str, names: tuple[str, ...] = ("a", "b", "c")) -> Topology:
        topo = cls(prefix=prefix, vpc_ns=f"{prefix}-vpc", bridge="br0")
        try:
            netlink.ensure_netns(topo.vpc_ns)
            netlink.ensure_bridge(topo.vpc_ns, topo.bridge, [f"{GATEWAY}/24"], mac="02:50:00:00:00:01")
            for i, name in enumerate(names):
                g = FwGuest(
                    name=name,
                    ns=f"{prefix}-g{name}",
                    tap=f"{prefix}t{name}",
                    mac=f"02:50:00:00:00:{10 + i:02x}",
                    ip=f"10.50.0.{10 + i}",
                )
                netlink.ensure_netns(g.ns)
                netlink.create_veth(topo.vpc_ns, g.tap, "eth0", peer_ns=g.ns, peer_mac=g.mac)
                netlink.set_master(topo.vpc_ns, g.tap, topo.bridge)
                netlink.set_up(topo.vpc_ns, g.tap)
                netlink.add_address(g.ns, "eth0", f"{g.ip}/24")
                netlink.set_up(g.ns, "eth0")
                netlink_routes.ensure_route(g.ns, "0.0.0.0/0", via=GATEWAY)
                topo.guests[name] = g
        except BaseException:
            topo.destroy()
            raise
        return topo

    def destroy(self) -> None:
        for g in self.guests.values():
            netlink.delete_netns(g.ns)
        netlink.delete_netns(self.vpc_ns)
        for ns in netlink.list_netns(self.prefix + "-"):
            netlink.delete_netns(ns)


class TcpServer:
    """Answers ``pong:<line>`` per line on each connection; listens inside a namespace."""

    def __init__(self, ns: str, ip: str, port: int) -> None:
        self.sock = netlink.netns_socket(ns, family(ip), socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.peers: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.peers.append(peer[0])
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        with conn:
            try:
                f = conn.makefile("rb")
                for line in f:
                    conn.sendall(b"pong:" + line)
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class UdpSink:
    """Collects (source IP, payload) of datagrams received inside a namespace."""

    def __init__(self, ns: str, ip: str, port: int) -> None:
        self.sock = netlink.netns_socket(ns, family(ip), socket.SOCK_DGRAM)
        self.sock.bind((ip, port))
        self.sock.settimeout(0.1)

    def drain(self, wait: float = 0.5) -> list[tuple[str, bytes]]:
        got: list[tuple[str, bytes]] = []
        deadline = wait
        while deadline > 0:
            try:
                data, peer = self.sock.recvfrom(2048)
                got.append((peer[0], data))
            except TimeoutError:
                deadline -= 0.1
        return got

    def close(self) -> None:
        self.sock.close()

