"""Reusable helpers for tests that boot real guests: a network namespace with a bridge, dnsmasq,
a fixture metadata server on 169.254.169.254, sockets created inside the namespace (for paramiko
and for the server), and a libvirt domain with direct kernel boot whose tap is moved into the
namespace right after start.

Everything created carries the prefix ``ec2dt`` + random and is removed by ``close()``/the
context managers, also on failure. Nothing here contacts an address outside the namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import paramiko
from guests import start_command

CLONE_NEWNET = 0x40000000
LIBVIRT_URI = "qemu:///system"
PREFIX = "ec2dt"
T = TypeVar("T")

_libc = ctypes.CDLL(None, use_errno=True)


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr.strip()}")
    return proc


def random_name(prefix: str = PREFIX, n: int = 6) -> str:
    return prefix + secrets.token_hex(n // 2 + 1)[:n]


# --- running code inside a network namespace ------------------------------------------------

def in_netns(ns: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a short-lived thread that has joined network namespace ``ns``; return its
    result. Sockets created there stay in the namespace after the thread ends."""
    result: list[Any] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({ns}): {os.strerror(err)}")
            finally:
                os.close(fd)
            result.append(fn())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            error.append(exc)

    t = threading.Thread(target=target, name=f"netns-{ns}")
    t.start()
    t.join()
    if error:
        raise error[0]
    return result[0]


def netns_connect(ns: str, addr: tuple[str, int], timeout: float = 3.0) -> socket.socket:
    """A TCP socket connected to ``addr`` from inside namespace ``ns``."""

    def make() -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(addr)
        except BaseException:
            s.close()
            raise
        return s

    return in_netns(ns, make)


def netns_listen(ns: str, addr: tuple[str, int]) -> socket.socket:
    def make() -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(addr)
        s.listen(64)
        return s

    return in_netns(ns, make)


# --- namespace + bridge ---------------------------------------------------------------------

@dataclass
class TestNetwork:
    """A namespace holding bridge ``br0`` with the subnet's gateway and 169.254.169.254/32."""

    ns: str
    subnet: ipaddress.IPv4Network
    bridge: str = "br0"

    @property
    def gateway(self) -> str:
        return str(self.subnet.network_address + 1)

    def host_ip(self, index: int) -> str:
        return str(self.subnet.network_address + index)

    @classmethod
    def create(cls) -> TestNetwork:
        ns = random_name()
        subnet = ipaddress.IPv4Network(f"10.{secrets.randbelow(200) + 20}.{secrets.randbelow(250) + 1}.0/24")
        net = cls(ns=ns, subnet=subnet)
        sh("ip", "netns", "add", ns)
        try:
            ip = ["ip", "-n", ns]
            sh(*ip, "link", "set", "lo", "up")
            sh(*ip, "link", "add", net.bridge, "type", "bridge", "forward_delay", "0", "stp_state", "0")
            sh(*ip, "addr", "add", f"{net.gateway}/{subnet.prefixlen}", "dev", net.bridge)
            sh(*ip, "addr", "add", "169.254.169.254/32", "dev", net.bridge)
            sh(*ip, "link", "set", net.bridge, "up")
        except BaseException:
            net.close()
            raise
        return net

    def attach_tap(self, tap: str, timeout: float = 10.0) -> None:
        """Move a tap created by libvirt in the root namespace onto our bridge."""
        deadline = time.monotonic() + timeout
        while True:
            proc = sh("ip", "link", "set", tap, "netns", self.ns, check=False)
            if proc.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"cannot move {tap} into {self.ns}: {proc.stderr.strip()}")
            time.sleep(0.05)
        sh("ip", "-n", self.ns, "link", "set", tap, "master", self.bridge, "up")

    def close(self) -> None:
        sh("ip", "netns", "del", self.ns, check=False)


# --- dnsmasq --------------------------------------------------------------------------------

@dataclass
class Dnsmasq:
    net: TestNetwork
    workdir: Path
    hosts: dict[str, str] = field(default_factory=dict)  # MAC -> IP
    proc: subprocess.Popen[bytes] | None = None

    @property
    def leases_file(self) -> Path:
        return self.workdir / "dnsmasq.leases"

    @property
    def log_file(self) -> Path:
        return self.workdir / "dnsmasq.log"

    def start(self) -> None:
        first, last = self.net.host_ip(100), self.net.host_ip(200)
        cmd = [
            "ip", "netns", "exec", self.net.ns, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
            "--port=0", "--no-resolv", "--no-hosts", f"--interface={self.net.bridge}", "--bind-interfaces",
            "--except-interface=lo", f"--dhcp-range={first},{last},{self.net.subnet.netmask},1h",
            f"--dhcp-leasefile={self.leases_file}", f"--pid-file={self.workdir / 'dnsmasq.pid'}",
            "--dhcp-authoritative", "--log-dhcp", f"--log-facility={self.log_file}",
            f"--dhcp-option=option:router,{self.net.gateway}",
        ]
        cmd += [f"--dhcp-host={mac},{ip}" for mac, ip in self.hosts.items()]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not (self.workdir / "dnsmasq.pid").exists():
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"dnsmasq exited: {err}")
            if time.monotonic() > deadline:
                raise RuntimeError("dnsmasq did not start")
            time.sleep(0.05)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()


# --- fixture metadata server ----------------------------------------------------------------

@dataclass
class InstanceData:
    instance_id: str
    mac: str
    ip: str
    public_key: str = ""
    user_data: bytes | None = None
    hostname: str = ""
    require_token: bool = False


class MetadataServer:
    """Tiny IMDS for tests (not the project's IMDS): PUT /latest/api/token, GET of the leaves an
    ec2d-tiny guest reads. Serves 169.254.169.254:80 inside the namespace. Records requests."""

    def __init__(self, ns: str, instances: dict[str, InstanceData]) -> None:
        self.ns = ns
        self.instances = instances  # by guest IP
        self.requests: list[tuple[str, str, str, bool]] = []  # (client ip, method, path, had token)
        self.tokens: dict[str, str] = {}
        self.disable_token = False  # True: answer the token PUT with 404 like an IMDSv1-only server
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_PUT(self) -> None:  # noqa: N802
                client = self.client_address[0]
                server.requests.append((client, "PUT", self.path, False))
                if server.disable_token:
                    self._send(404)
                    return
                if self.path != "/latest/api/token":
                    self._send(403 if self.path.endswith("/api/token") else 404)
                    return
                ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
                if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                    self._send(400)
                    return
                token = secrets.token_urlsafe(32)
                server.tokens[token] = client
                self._send(200, token.encode(), {"X-Aws-Ec2-Metadata-Token-Ttl-Seconds": ttl,
                                                 "Content-Type": "text/plain"})

            def do_GET(self) -> None:  # noqa: N802
                client = self.client_address[0]
                token = self.headers.get("X-aws-ec2-metadata-token")
                server.requests.append((client, "GET", self.path, bool(token)))
                inst = server.instances.get(client)
                if inst is None:
                    self._send(404)
                    return
                if token is not None and server.tokens.get(token) != client:
                    self._send(401)
                    return
                if token is None and inst.require_token:
                    self._send(401)
                    return
                if self.path == "/latest/api/token":
                    self._send(405, headers={"Allow": "OPTIONS, PUT"})
                    return
                body = server.lookup(inst, self.path)
                if body is None:
                    self._send(404)
                else:
                    self._send(200, body, {"Content-Type": "text/plain"})

            do_HEAD = do_GET  # noqa: N815

        self.httpd = ThreadingHTTPServer(("169.254.169.254", 80), Handler, bind_and_activate=False)
        self.httpd.socket.close()
        self.httpd.socket = netns_listen(ns, ("169.254.169.254", 80))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                       daemon=True)
        self.thread.start()

    @staticmethod
    def lookup(inst: InstanceData, path: str) -> bytes | None:
        m = re.match(r"^/(latest|\d{4}-\d{2}-\d{2})/(.*)$", path.split("?", 1)[0])
        if m is None:
            return None
        rel = m.group(2)
        hostname = inst.hostname or f"ip-{inst.ip.replace('.', '-')}.ec2.internal"
        leaves: dict[str, str] = {
            "meta-data/instance-id": inst.instance_id,
            "meta-data/hostname": hostname,
            "meta-data/local-hostname": hostname,
            "meta-data/local-ipv4": inst.ip,
            "meta-data/mac": inst.mac,
            "meta-data/placement/availability-zone": "us-east-1a",
        }
        if inst.public_key:
            leaves["meta-data/public-keys/0/openssh-key"] = inst.public_key
        if rel == "user-data":
            return inst.user_data
        rel = rel.rstrip("/")
        if rel in leaves:
            return leaves[rel].encode()
        if rel == "meta-data/public-keys" and inst.public_key:
            return b"0=test-key"
        # a directory: list its children, sub-directories with a trailing "/"
        prefix = rel + "/"
        children = sorted({k[len(prefix):].split("/", 1)[0] + ("/" if "/" in k[len(prefix):] else "")
                           for k in leaves if k.startswith(prefix)})
        if children:
            return "\n".join(children).encode()
        return None

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --- SSH from inside the namespace -----------------------------------------------------------

def wait_ssh_banner(ns: str, ip: str, timeout: float = 300.0, port: int = 22) -> tuple[float, str]:
    """Poll until the SSH server sends its banner; return (monotonic time, banner line)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            s = netns_connect(ns, (ip, port), timeout=2.0)
        except OSError as exc:
            last = exc
            time.sleep(0.1)
            continue
        try:
            data = b""
            while b"\n" not in data:
                chunk = s.recv(256)
                if not chunk:
                    break
                data += chunk
            if data.startswith(b"SSH-"):
                return time.monotonic(), data.split(b"\n", 1)[0].decode(errors="replace").strip()
        except OSError as exc:
            last = exc
        finally:
            s.close()
        time.sleep(0.1)
    raise TimeoutError(f"no SSH banner from {ip} in {ns} within {timeout} s (last error: {last})")


def ssh_client(ns: str, ip: str, username: str, pkey: paramiko.PKey, timeout: float = 300.0) -> paramiko.SSHClient:
    """A logged-in paramiko client whose TCP socket lives in namespace ``ns``."""
    deadline = time.monotonic() + timeout
    while True:
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        try:
            sock = netns_connect(ns, (ip, 22), timeout=10.0)
            client.connect(ip, username=username, pkey=pkey, sock=sock, timeout=20, banner_timeout=30,
                           auth_timeout=30, allow_agent=False, look_for_keys=False)
            return client
        except (OSError, paramiko.SSHException):
            client.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def ssh_run(client: paramiko.SSHClient, command: str, timeout: float = 60.0) -> tuple[int, str, str]:
    stdout, stderr = start_command(client, command, timeout=timeout)
    out = stdout.read().decode(errors="replace")
    err = stderr.read().decode(errors="replace")
    return stdout.channel.recv_exit_status(), out, err


def generate_ed25519() -> tuple[paramiko.Ed25519Key, str]:
    """A fresh key pair: (paramiko private key, OpenSSH public key line)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                            serialization.NoEncryption()).decode()
    import io

    pkey = paramiko.Ed25519Key.from_private_key(io.StringIO(pem))
    pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return pkey, pub.decode() + " test@ec2d"


def random_mac() -> str:
    return "52:54:00:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))


# --- libvirt domain --------------------------------------------------------------------------

def domain_xml(name: str, *, kernel: Path, initrd: Path | None, cmdline: str, disk: Path, tap: str, mac: str,
               serial_log: Path, memory_mib: int = 256, vcpus: int = 1, domain_type: str = "qemu") -> str:
    dom = ET.Element("domain", type=domain_type)
    ET.SubElement(dom, "name").text = name
    ET.SubElement(dom, "memory", unit="MiB").text = str(memory_mib)
    ET.SubElement(dom, "vcpu").text = str(vcpus)
    os_el = ET.SubElement(dom, "os")
    ET.SubElement(os_el, "type", arch="x86_64", machine="pc").text = "hvm"
    ET.SubElement(os_el, "kernel").text = str(kernel)
    if initrd is not None:
        ET.SubElement(os_el, "initrd").text = str(initrd)
    ET.SubElement(os_el, "cmdline").text = cmdline
    features = ET.SubElement(dom, "features")
    ET.SubElement(features, "acpi")
    ET.SubElement(features, "apic")
    ET.SubElement(dom, "on_poweroff").text = "destroy"
    ET.SubElement(dom, "on_reboot").text = "restart"
    ET.SubElement(dom, "on_crash").text = "destroy"
    dev = ET.SubElement(dom, "devices")
    d = ET.SubElement(dev, "disk", type="file", device="disk")
    ET.SubElement(d, "driver", name="qemu", type="qcow2")
    ET.SubElement(d, "source", file=str(disk))
    ET.SubElement(d, "target", dev="vda", bus="virtio")
    iface = ET.SubElement(dev, "interface", type="ethernet")
    ET.SubElement(iface, "mac", address=mac)
    ET.SubElement(iface, "target", dev=tap, managed="yes")
    ET.SubElement(iface, "model", type="virtio")
    serial = ET.SubElement(dev, "serial", type="file")
    ET.SubElement(serial, "source", path=str(serial_log))
    ET.SubElement(serial, "target", port="0")
    rng = ET.SubElement(dev, "rng", model="virtio")
    ET.SubElement(rng, "backend", model="random").text = "/dev/urandom"
    ET.SubElement(dev, "memballoon", model="none")
    return ET.tostring(dom, encoding="unicode")


def make_overlay(base: Path, overlay: Path) -> None:
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", "qcow2", str(overlay))


class Guest:
    """A libvirt domain booting an image (direct kernel boot) on a TestNetwork."""

    def __init__(self, net: TestNetwork, workdir: Path, *, kernel: Path, initrd: Path | None, cmdline: str,
                 base_disk: Path | None, mac: str | None = None, name: str | None = None,
                 memory_mib: int = 256, vcpus: int = 1) -> None:
        import libvirt

        self.net = net
        self.workdir = workdir
        self.name = name or random_name()
        self.tap = self.name[:13] + "t0"
        self.mac = mac or random_mac()
        self.serial_log = workdir / f"{self.name}.console.log"
        self.overlay = workdir / f"{self.name}.qcow2"
        self.conn = libvirt.open(LIBVIRT_URI)
        self.dom: Any = None
        self.started_at = 0.0
        if base_disk is not None:
            make_overlay(base_disk, self.overlay)
        else:  # a tiny empty disk so the XML stays the same
            sh("qemu-img", "create", "-q", "-f", "qcow2", str(self.overlay), "1M")
        self.xml = domain_xml(self.name, kernel=kernel, initrd=initrd, cmdline=cmdline, disk=self.overlay,
                              tap=self.tap, mac=self.mac, serial_log=self.serial_log, memory_mib=memory_mib,
                              vcpus=vcpus)

    def start(self) -> float:
        """Define + start; move the tap into the namespace. Returns the monotonic start time."""
        self.dom = self.conn.defineXML(self.xml)
        self.started_at = time.monotonic()
        self.dom.create()
        self.net.attach_tap(self.tap)
        return self.started_at

    def console(self) -> str:
        try:
            return self.serial_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_console(self, marker: str, timeout: float = 120.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker in self.console():
                return time.monotonic()
            time.sleep(0.05)
        raise TimeoutError(f"{marker!r} not on the console of {self.name} within {timeout} s:\n"
                           + self.console()[-3000:])

    def is_active(self) -> bool:
        return bool(self.dom is not None and self.dom.isActive())

    def wait_stopped(self, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_active():
                return time.monotonic()
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} still running after {timeout} s")

    def close(self) -> None:
        import libvirt

        if self.dom is not None:
            with contextlib.suppress(libvirt.libvirtError):
                if self.dom.isActive():
                    self.dom.destroy()
            with contextlib.suppress(libvirt.libvirtError):
                self.dom.undefine()
            self.dom = None
        with contextlib.suppress(FileNotFoundError):
            self.overlay.unlink()
        # libvirt removes the tap on destroy; be sure when the move to the namespace failed
        sh("ip", "link", "del", self.tap, check=False)
        self.conn.close()


@contextlib.contextmanager
def guest_network(hosts: dict[str, str] | None = None,
                  instances: dict[str, InstanceData] | None = None) -> Iterator[tuple[TestNetwork, Dnsmasq,
                                                                                   MetadataServer, Path]]:
    """Namespace + bridge + dnsmasq + metadata server + a temp workdir; all removed at exit."""
    workdir = Path(tempfile.mkdtemp(prefix="ec2dt-"))
    os.chmod(workdir, 0o755)
    net = TestNetwork.create()
    dns: Dnsmasq | None = None
    mds: MetadataServer | None = None
    try:
        dns = Dnsmasq(net, workdir, hosts=dict(hosts or {}))
        dns.start()
        mds = MetadataServer(net.ns, instances if instances is not None else {})
        yield net, dns, mds, workdir
    finally:
        if mds is not None:
            mds.close()
        if dns is not None:
            dns.close()
        net.close()
        shutil.rmtree(workdir, ignore_errors=True)


def dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=str)
