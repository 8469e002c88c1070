"""TCP reachability between network namespaces, checked with real sockets: a listener that answers
with the peer address it saw, and a client that connects (optionally from a chosen source)."""

from __future__ import annotations

import subprocess
import sys

SERVER = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
print("ready", s.getsockname()[1], flush=True)
while True:
    c, peer = s.accept()
    c.sendall(peer[0].encode() + b"\n")
    c.close()
"""

CLIENT = r"""
import socket, sys
src, dst, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket()
s.settimeout(float(sys.argv[4]))
if src:
    s.bind((src, 0))
try:
    s.connect((dst, port))
    print(s.recv(100).decode().strip())
except OSError as e:
    print(f"error {e}")
    sys.exit(1)
"""


def _in(ns: str | None) -> list[str]:
    return ["ip", "netns", "exec", ns] if ns else []


class Listener:
    """A TCP listener on ``addr:port`` in namespace ``ns`` (None: the root namespace; port 0: any,
    see ``.port``)."""

    def __init__(self, ns: str | None, addr: str, port: int = 0) -> None:
        self.proc = subprocess.Popen([*_in(ns), sys.executable, "-c", SERVER, addr, str(port)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        word, _, chosen = self.proc.stdout.readline().partition(" ")
        assert word == "ready", f"listener in {ns} on {addr}:{port} did not start"
        self.port = int(chosen)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(ns: str | None, dst: str, port: int, src: str = "", timeout: float = 3.0) -> str | None:
    """The peer address the listener saw, or None when the connection failed (refused, rejected,
    unreachable or timed out)."""
    out = subprocess.run([*_in(ns), sys.executable, "-c", CLIENT, src, dst, str(port), str(timeout)],
                         capture_output=True, text=True, timeout=timeout + 30)
    return out.stdout.strip() if out.returncode == 0 else None


def sh(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True, text=True)
