"""Root-only network primitives: namespaces, links, addresses, sysctls (routes: ``netlink_routes``).

Small functions taking primitives (names, CIDR strings); errno values become the named exceptions
of :mod:`.errors`; ``ensure_*`` are idempotent and ``delete_*`` tolerate absence. ``ns=None`` means
the root namespace.

How namespaces are entered (safe for a threaded asyncio daemon)
---------------------------------------------------------------
pyroute2 0.9's ``IPRoute(netns=NAME)`` and ``pyroute2.netns.create`` ``os.fork()`` a child that
enters the namespace and passes a socket back. Forking a multi-threaded process is what deadlocked
Neutron. Instead :func:`run_in_netns` runs a callable in a fresh, short-lived *thread* that calls
``setns(fd, CLONE_NEWNET)`` (namespace membership is per thread, so the rest of the process is
untouched, and the thread ends right after). Sockets created there stay in that namespace; the
netlink socket is handed to ``IPRoute(fileno=...)`` which then works from any thread.
Creating/deleting a namespace uses ``ip netns add/delete`` through :mod:`.rootops` (iproute2 does
the /run/netns mount dance; ``subprocess`` uses fork+exec, which is safe with threads).

All functions are blocking and quick (a few ms). From asyncio call them through
``asyncio.to_thread`` (pyroute2's synchronous API must not run on a thread with a running loop).
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import ipaddress
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from . import rootops
from .errors import (
    AlreadyExists,
    InvalidArgument,
    LinkNotFound,
    NamespaceNotFound,
    NetlinkFailure,
    NetworkDriverError,
    from_errno,
)
from .names import IFNAME_MAX

NETNS_RUN_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
NETLINK_ROUTE = 0
IFA_F_NODAD = 0x02  # an address added without duplicate address detection (usable at once)

_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


# --------------------------------------------------------------------------- entering namespaces


def netns_path(ns: str) -> str:
    if not ns or "/" in ns or ns in (".", ".."):
        raise InvalidArgument(f"bad namespace name {ns!r}")
    return os.path.join(NETNS_RUN_DIR, ns)


def _open_netns(ns: str) -> int:
    try:
        return os.open(netns_path(ns), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NamespaceNotFound(f"network namespace {ns} not found", errno=errno.ENOENT) from None


def run_in_netns(ns: str, fn: Callable[[], T]) -> T:
    """Run ``fn()`` on a new thread that has entered namespace ``ns``; return its result.

    Only that thread changes namespace; it ends when ``fn`` returns. Sockets created by ``fn``
    belong to ``ns`` for their whole life, wherever they are used afterwards.
    """
    fd = _open_netns(ns)
    result: list[Any] = []
    failure: list[BaseException] = []

    def body() -> None:
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                code = ctypes.get_errno()
                raise from_errno(code, f"setns into {ns}")
            result.append(fn())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(exc)

    try:
        thread = threading.Thread(target=body, name=f"netns:{ns}", daemon=True)
        thread.start()
        thread.join()
    finally:
        os.close(fd)
    if failure:
        raise failure[0]
    return result[0]


def netns_socket(ns: str | None, family: int, type_: int, proto: int = 0) -> socket.socket:
    """A socket that lives in namespace ``ns`` (root when None)."""
    if ns is None:
        return socket.socket(family, type_, proto)
    return run_in_netns(ns, lambda: socket.socket(family, type_, proto))


def _no_running_loop() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError("network driver calls block: run them via asyncio.to_thread, not on the event loop")


@contextmanager
def ipr_in(ns: str | None) -> Iterator[IPRoute]:
    _no_running_loop()
    if ns is None:
        ipr = IPRoute()
    else:
        sock = netns_socket(ns, socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)
        ipr = IPRoute(fileno=sock.detach())
    try:
        yield ipr
    finally:
        ipr.close()


@contextmanager
def translated(what: str) -> Iterator[None]:
    try:
        yield
    except NetworkDriverError:
        raise
    except NetlinkError as exc:
        raise from_errno(exc.code, what) from exc
    except OSError as exc:
        raise from_errno(exc.errno or errno.EIO, what) from exc


def where(ns: str | None) -> str:
    return f"netns {ns}" if ns else "root netns"


def _check_ifname(name: str) -> None:
    if not name or len(name) > IFNAME_MAX or "/" in name or any(c.isspace() for c in name):
        raise InvalidArgument(f"bad interface name {name!r}")


# --------------------------------------------------------------------------- namespaces


def netns_exists(ns: str) -> bool:
    return os.path.exists(netns_path(ns))


def list_netns(prefix: str = "") -> list[str]:
    """Names of namespaces in /run/netns starting with ``prefix``."""
    try:
        names = os.listdir(NETNS_RUN_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith(prefix))


def ensure_netns(ns: str) -> None:
    """Create namespace ``ns`` (with ``lo`` up) unless it exists."""
    if not netns_exists(ns):
        proc = rootops.netns_add(ns)
        if not proc.ok and not netns_exists(ns):
            raise NetlinkFailure(f"ip netns add {ns}: {proc.stderr.strip()}")
    set_up(ns, "lo")


def delete_netns(ns: str) -> None:
    """Delete namespace ``ns`` (its virtual links go with it); absent is fine."""
    path = netns_path(ns)
    if not os.path.exists(path):
        return
    proc = rootops.netns_delete(ns)
    if not proc.ok and os.path.exists(path):
        try:  # a stale, unmounted file left by a crash
            os.unlink(path)
        except OSError:
            raise NetlinkFailure(f"ip netns delete {ns}: {proc.stderr.strip()}") from None


def netns_inode(ns: str) -> tuple[int, int] | None:
    """(st_dev, st_ino) identifying the namespace, to match /proc/PID/ns/net."""
    try:
        st = os.stat(netns_path(ns))
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def sysctl(ns: str | None, key: str, value: str) -> None:
    """Write ``key`` (dotted, e.g. ``net.ipv4.ip_forward``) in namespace ``ns`` only."""
    path = "/proc/sys/" + key.replace(".", "/")
    if not key.startswith("net.") or ".." in key:
        raise InvalidArgument(f"only per-namespace net.* sysctls may be set: {key}")

    def write() -> None:
        with open(path, "w") as fh:
            fh.write(value)

    with translated(f"sysctl {key} in {where(ns)}"):
        if ns is None:
            write()
        else:
            run_in_netns(ns, write)


def read_sysctl(ns: str | None, key: str) -> str:
    path = "/proc/sys/" + key.replace(".", "/")

    def read() -> str:
        with open(path) as fh:
            return fh.read().strip()

    with translated(f"sysctl {key} in {where(ns)}"):
        return read() if ns is None else run_in_netns(ns, read)


# --------------------------------------------------------------------------- links


@dataclass
class LinkInfo:
    name: str
    index: int
    kind: str | None
    up: bool
    master: int | None
    mac: str | None
    addresses: list[str] = field(default_factory=list)  # CIDR strings


def _lookup(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def _require(ipr: IPRoute, name: str, ns: str | None) -> int:
    idx = _lookup(ipr, name)
    if idx is None:
        raise LinkNotFound(f"link {name} not found in {where(ns)}", errno=errno.ENODEV)
    return idx


def _link_info(ipr: IPRoute, msg: Any) -> LinkInfo:
    linkinfo = msg.get_attr("IFLA_LINKINFO")
    kind = linkinfo.get_attr("IFLA_INFO_KIND") if linkinfo is not None else None
    idx = msg["index"]
    addrs = [
        f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
        for a in ipr.get_addr(index=idx, family=socket.AF_INET)
    ]
    return LinkInfo(
        name=msg.get_attr("IFLA_IFNAME"),
        index=idx,
        kind=kind,
        up=bool(msg["flags"] & 1),
        master=msg.get_attr("IFLA_MASTER"),
        mac=msg.get_attr("IFLA_ADDRESS"),
        addresses=addrs,
    )


def link_info(ns: str | None, name: str) -> LinkInfo | None:
    """State of link ``name`` in ``ns`` or None when absent."""
    with translated(f"link {name} in {where(ns)}"), ipr_in(ns) as ipr:
        idx = _lookup(ipr, name)
        if idx is None:
            return None
        return _link_info(ipr, ipr.get_links(idx)[0])


def list_addresses(ns: str | None) -> list[str]:
    """IPv4 addresses (CIDR form, ``10.0.1.1/24``) of every link in ``ns``."""
    with translated(f"list addresses in {where(ns)}"), ipr_in(ns) as ipr:
        return [f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for a in ipr.get_addr(family=socket.AF_INET)]


def link_exists(ns: str | None, name: str) -> bool:
    with translated(f"link {name} in {where(ns)}"), ipr_in(ns) as ipr:
        return _lookup(ipr, name) is not None


def list_links(ns: str | None, prefix: str = "") -> list[str]:
    """Names of links in ``ns`` starting with ``prefix``."""
    with translated(f"list links in {where(ns)}"), ipr_in(ns) as ipr:
        names = [m.get_attr("IFLA_IFNAME") for m in ipr.get_links()]
    return sorted(n for n in names if n and n.startswith(prefix))


def _ensure_addresses(ipr: IPRoute, idx: int, addresses: list[str]) -> None:
    have = {
        (a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr(index=idx, family=socket.AF_INET)
    }
    for cidr in addresses:
        iface = ipaddress.IPv4Interface(cidr)
        key = (str(iface.ip), iface.network.prefixlen)
        if key in have:
            continue
        try:
            ipr.addr("add", index=idx, address=key[0], prefixlen=key[1])
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise


def _ensure_kind(ipr: IPRoute, ns: str | None, name: str, kind: str, **extra: Any) -> int:
    _check_ifname(name)
    idx = _lookup(ipr, name)
    if idx is None:
        try:
            ipr.link("add", ifname=name, kind=kind, **extra)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise
        idx = _require(ipr, name, ns)
    info = _link_info(ipr, ipr.get_links(idx)[0])
    if info.kind != kind:
        raise AlreadyExists(f"{name} in {where(ns)} is a {info.kind}, not a {kind}", errno=errno.EEXIST)
    return idx


def ensure_bridge(ns: str | None, name: str, addresses: list[str], mac: str | None = None) -> None:
    """Bridge ``name`` (STP off, forward delay 0, fixed ``mac``) up, carrying ``addresses``."""
    extra: dict[str, Any] = {"br_stp_state": 0, "br_forward_delay": 0}
    if mac:
        extra["address"] = mac
    with translated(f"ensure bridge {name} in {where(ns)}"), ipr_in(ns) as ipr:
        idx = _ensure_kind(ipr, ns, name, "bridge", **extra)
        _ensure_addresses(ipr, idx, addresses)
        ipr.link("set", index=idx, state="up")


def ensure_dummy(ns: str | None, name: str, addresses: list[str]) -> None:
    """Dummy interface ``name`` up, carrying ``addresses`` (e.g. 169.254.169.254/32)."""
    with translated(f"ensure dummy {name} in {where(ns)}"), ipr_in(ns) as ipr:
        idx = _ensure_kind(ipr, ns, name, "dummy")
        _ensure_addresses(ipr, idx, addresses)
        ipr.link("set", index=idx, state="up")


def set_addresses6(ns: str | None, link: str, cidrs: list[str]) -> None:
    """``link`` carries exactly these global IPv6 addresses (``2001:db8::1/64``; added without
    duplicate address detection: ec2d owns the subnet); link-local ones are left alone."""
    want = {(str(i.ip), i.network.prefixlen) for i in map(ipaddress.IPv6Interface, cidrs)}
    with translated(f"set IPv6 addresses {cidrs} of {link} in {where(ns)}"), ipr_in(ns) as ipr:
        idx = _require(ipr, link, ns)
        have = {(a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr(index=idx, family=socket.AF_INET6)
                if not ipaddress.IPv6Address(a.get_attr("IFA_ADDRESS")).is_link_local}
        for address, prefixlen in sorted(have - want):
            ipr.addr("del", index=idx, address=address, prefixlen=prefixlen, family=socket.AF_INET6)
        for address, prefixlen in sorted(want - have):
            try:
                ipr.addr("add", index=idx, address=address, prefixlen=prefixlen, family=socket.AF_INET6,
                         flags=IFA_F_NODAD)
            except NetlinkError as exc:
                if exc.code != errno.EEXIST:
                    raise


def add_address6(ns: str | None, link: str, cidr: str) -> None:
    """Add the IPv6 ``cidr`` (``fd00:ec2::254/128``) to ``link`` without DAD; present is fine."""
    iface = ipaddress.IPv6Interface(cidr)
    with translated(f"add {cidr} to {link} in {where(ns)}"), ipr_in(ns) as ipr:
        try:
            ipr.addr("add", index=_require(ipr, link, ns), address=str(iface.ip), prefixlen=iface.network.prefixlen,
                     family=socket.AF_INET6, flags=IFA_F_NODAD)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise


def add_address(ns: str | None, link: str, cidr: str) -> None:
    """Add ``cidr`` (``10.0.1.1/24``) to ``link``; present already is fine."""
    with translated(f"add {cidr} to {link} in {where(ns)}"), ipr_in(ns) as ipr:
        _ensure_addresses(ipr, _require(ipr, link, ns), [cidr])


def delete_address(ns: str | None, link: str, cidr: str) -> None:
    iface = ipaddress.IPv4Interface(cidr)
    with translated(f"delete {cidr} from {link} in {where(ns)}"), ipr_in(ns) as ipr:
        idx = _lookup(ipr, link)
        if idx is None:
            return
        try:
            ipr.addr("del", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)
        except NetlinkError as exc:
            if exc.code not in (errno.EADDRNOTAVAIL, errno.ENOENT, errno.ENODEV):
                raise


def delete_link(ns: str | None, name: str) -> None:
    """Delete link ``name`` in ``ns``; absent (or namespace gone) is fine."""
    if ns is not None and not netns_exists(ns):
        return
    with translated(f"delete link {name} in {where(ns)}"), ipr_in(ns) as ipr:
        idx = _lookup(ipr, name)
        if idx is None:
            return
        try:
            ipr.link("del", index=idx)
        except NetlinkError as exc:
            if exc.code not in (errno.ENODEV, errno.ENOENT):
                raise


def set_up(ns: str | None, link: str) -> None:
    with translated(f"set {link} up in {where(ns)}"), ipr_in(ns) as ipr:
        ipr.link("set", index=_require(ipr, link, ns), state="up")


def set_down(ns: str | None, link: str) -> None:
    with translated(f"set {link} down in {where(ns)}"), ipr_in(ns) as ipr:
        ipr.link("set", index=_require(ipr, link, ns), state="down")


def set_master(ns: str | None, link: str, bridge: str | None) -> None:
    """Enslave ``link`` to ``bridge`` (None: release it) inside ``ns``."""
    with translated(f"set master of {link} in {where(ns)}"), ipr_in(ns) as ipr:
        idx = _require(ipr, link, ns)
        master = _require(ipr, bridge, ns) if bridge else 0
        ipr.link("set", index=idx, master=master)


def move_link_to_netns(link: str, ns: str, src_ns: str | None = None) -> None:
    """Move ``link`` from ``src_ns`` (root by default) into ``ns``; already there is fine."""
    with translated(f"move {link} into netns {ns}"):
        with ipr_in(src_ns) as ipr:
            idx = _lookup(ipr, link)
            if idx is not None:
                fd = _open_netns(ns)
                try:
                    ipr.link("set", index=idx, net_ns_fd=fd)
                finally:
                    os.close(fd)
                return
        if not link_exists(ns, link):
            raise LinkNotFound(
                f"link {link} neither in {where(src_ns)} nor in netns {ns}", errno=errno.ENODEV
            )


def plug_link(link: str, ns: str, bridge: str) -> None:
    """Fast path for a new port: move ``link`` from root into ``ns``, enslave to ``bridge``, up.

    Two netlink sockets and three requests; a link that is already inside ``ns`` is fine.
    """
    with translated(f"plug {link} into {bridge} in netns {ns}"):
        with ipr_in(None) as root:
            idx = _lookup(root, link)
            if idx is not None:
                fd = _open_netns(ns)
                try:
                    root.link("set", index=idx, net_ns_fd=fd)
                finally:
                    os.close(fd)
        with ipr_in(ns) as ipr:
            idx2 = _require(ipr, link, ns)
            ipr.link("set", index=idx2, master=_require(ipr, bridge, ns), state="up")


def create_veth(
    ns: str | None, name: str, peer: str, peer_ns: str | None = None, peer_mac: str | None = None
) -> None:
    """veth pair: ``name`` in ``ns``, ``peer`` created directly in ``peer_ns`` (default: ``ns``)."""
    _check_ifname(name)
    _check_ifname(peer)
    fd = _open_netns(peer_ns) if peer_ns is not None else None
    try:
        with translated(f"create veth {name}/{peer} in {where(ns)}"), ipr_in(ns) as ipr:
            peer_spec: dict[str, Any] = {"ifname": peer}
            if peer_mac:
                peer_spec["address"] = peer_mac
            if fd is not None:
                peer_spec["net_ns_fd"] = fd
            ipr.link("add", ifname=name, kind="veth", peer=peer_spec)
    finally:
        if fd is not None:
            os.close(fd)
