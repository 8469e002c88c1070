"""A private network namespace with HTTP servers on its loopback, for the real-HAProxy tests.

The namespace is ``ec2dh`` + random hex; the balancer's address and the backends' addresses are
/32s on its ``lo`` (this kernel has no dummy driver). Each backend is a small Python HTTP server
(``ip netns exec NS python3 -c SERVER``) answering ``NAME PATH X-Forwarded-For`` with 200, or 500
while the file ``CONTROL/NAME.fail`` exists; it writes ``CONTROL/NAME.ready`` once listening.
Requests go through :meth:`Lab.get`, one ``ip netns exec`` per batch.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

SERVER = r"""
import http.server, os, sys
name, addr, port, control = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        code = 500 if os.path.exists(os.path.join(control, name + ".fail")) else 200
        body = f"{name} {self.path} {self.headers.get('X-Forwarded-For')}".encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer((addr, port), H)
open(os.path.join(control, name + ".ready"), "w").close()
srv.serve_forever()
"""

CLIENT = r"""
import http.client, json, sys
out = []
header = sys.argv[2]
for url in json.loads(sys.argv[1]):
    host, path, headers = url
    try:
        c = http.client.HTTPConnection(host, timeout=5)
        c.request("GET", path, headers=headers)
        r = c.getresponse()
        out.append([r.status, r.read().decode(), r.getheader(header)])
        c.close()
    except OSError as exc:
        out.append([0, str(exc), None])
print(json.dumps(out))
"""


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.05) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Lab:
    BALANCER = "10.9.0.1"
    BACKENDS = {"a": "10.9.0.11", "b": "10.9.0.12", "c": "10.9.0.13"}
    PORT = 8080

    def __init__(self) -> None:
        self.netns = "ec2dh" + secrets.token_hex(3)
        self.control = Path(tempfile.mkdtemp(prefix="ec2dh"))
        self.servers: dict[str, subprocess.Popen[bytes]] = {}

    def setup(self) -> None:
        subprocess.run(["ip", "netns", "add", self.netns], check=True)
        subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True)
        for addr in [self.BALANCER, *self.BACKENDS.values()]:
            subprocess.run(["ip", "-n", self.netns, "addr", "add", f"{addr}/32", "dev", "lo"], check=True)

    def start(self, name: str) -> None:
        ready = self.control / f"{name}.ready"
        ready.unlink(missing_ok=True)
        self.servers[name] = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, sys.executable, "-c", SERVER, name, self.BACKENDS[name],
             str(self.PORT), str(self.control)], stderr=subprocess.DEVNULL)
        wait_for(f"server {name} listening", ready.exists, 10)

    def stop(self, name: str) -> None:
        proc = self.servers.pop(name, None)
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)

    def fail(self, name: str, failing: bool) -> None:
        flag = self.control / f"{name}.fail"
        if failing:
            flag.touch()
        else:
            flag.unlink(missing_ok=True)

    def get(self, requests: list[tuple[str, str, dict[str, str]]],
            header: str = "Content-Type") -> list[tuple[int, str, str | None]]:
        """Run the requests ``(host:port, path, headers)`` from inside the namespace: (status,
        body, the answer's ``header``) each."""
        out = subprocess.run(["ip", "netns", "exec", self.netns, sys.executable, "-c", CLIENT,
                              json.dumps(requests), header], check=True, capture_output=True, text=True, timeout=60)
        return [tuple(r) for r in json.loads(out.stdout)]  # type: ignore[misc]

    def names(self, n: int, port: int = 80, path: str = "/") -> list[str]:
        """Which backend answered each of ``n`` requests through the balancer (first word)."""
        return [body.split(" ")[0] if status == 200 else f"<{status}>"
                for status, body, _ in self.get([(f"{self.BALANCER}:{port}", path, {})] * n)]

    def teardown(self) -> None:
        for name in list(self.servers):
            self.stop(name)
        subprocess.run(["ip", "netns", "delete", self.netns], check=False)
        shutil.rmtree(self.control, ignore_errors=True)

    def netns_pids(self) -> list[int]:
        out = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True, text=True, check=False)
        return [int(x) for x in out.stdout.split()]


def can_run(haproxy: str) -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    if not os.path.exists(haproxy) or shutil.which("ip") is None:
        return f"needs {haproxy} and ip"
    return None
