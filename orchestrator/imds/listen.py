"""Sockets inside named network namespaces (/run/netns/<name>).

Python 3.11 has no os.setns. A socket belongs to the network namespace of the thread that created
it, for its whole life. So each function here starts a short-lived dedicated thread (an OS thread),
which calls libc setns(fd, CLONE_NEWNET) for itself only, creates the socket, and ends; the socket
stays in that namespace and is then used from any thread (e.g. handed to aiohttp on the main loop).
The calling thread's namespace never changes.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import socket
import threading
from collections.abc import Callable
from typing import TypeVar

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"

T = TypeVar("T")

_libc = ctypes.CDLL(None, use_errno=True)
_setns = _libc.setns
_setns.argtypes = [ctypes.c_int, ctypes.c_int]
_setns.restype = ctypes.c_int


def netns_path(netns_name: str) -> str:
    if not netns_name or "/" in netns_name or netns_name in (".", ".."):
        raise ValueError(f"invalid network namespace name: {netns_name!r}")
    return os.path.join(NETNS_DIR, netns_name)


def run_in_netns(netns_name: str, fn: Callable[[], T]) -> T:
    """Run fn() in a new thread that first enters the named network namespace; return its result
    (or raise its exception). Only that thread changes namespace; it ends when fn returns."""
    path = netns_path(netns_name)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)  # FileNotFoundError: no such namespace
    outcome: list[tuple[bool, object]] = []

    def target() -> None:
        try:
            if _setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns({path}): {os.strerror(err)}")
            outcome.append((True, fn()))
        except BaseException as exc:  # handed to the caller
            outcome.append((False, exc))

    try:
        thread = threading.Thread(target=target, name=f"netns:{netns_name}", daemon=True)
        thread.start()
        thread.join()
    finally:
        os.close(fd)
    ok, value = outcome[0]
    if not ok:
        assert isinstance(value, BaseException)
        raise value
    return value  # type: ignore[return-value]


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET


def open_listener_in_netns(
    netns_name: str,
    address: str = "169.254.169.254",
    port: int = 80,
    *,
    backlog: int = 128,
    freebind: bool = False,
) -> socket.socket:
    """A non-blocking listening TCP socket bound to address:port inside the namespace.

    The address must exist in that namespace unless freebind=True (IP_FREEBIND)."""

    def make() -> socket.socket:
        family = _family(address)
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if freebind:
                sock.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND
            sock.bind((address, port))
            sock.listen(backlog)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    return run_in_netns(netns_name, make)


def connect_in_netns(netns_name: str, host: str, port: int, timeout: float | None = 5.0) -> socket.socket:
    """A TCP client socket created and connected inside the namespace (blocking, with `timeout`
    as its socket timeout)."""

    def make() -> socket.socket:
        sock = socket.socket(_family(host), socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect((host, port))
        except BaseException:
            sock.close()
            raise
        return sock

    return run_in_netns(netns_name, make)
