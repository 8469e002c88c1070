"""``LibvirtCompute``: the ``ComputeDriver`` on a real libvirt (``qemu:///system``).

Threading: libvirt-python releases the GIL around every libvirt call and a ``virConnect`` is
thread-safe, so one command connection (opened lazily, reopened when it dies) is shared by all
threads; call the blocking methods from a thread pool, never from the event loop thread.

Events: libvirt accepts ONE event-loop implementation per process, for the life of the process
(libvirt-python raises "Event loop is already registered" on a second registration), and every
connection opened after it is registered puts its socket into that loop. Binding it to an asyncio
loop with ``libvirtaio.virEventRegisterAsyncIOImpl(loop)`` therefore breaks as soon as that loop
closes (measured: a second ``asyncio.run`` cannot get events at all, and every later
``libvirt.open`` prints "Event loop is closed" tracebacks) - which tests, the CLI and in-process
server tests all do. So ``start_events`` registers libvirt's own default implementation once per
process, runs it in a daemon thread (``libvirt-events``), and hands each lifecycle event to the
caller's loop with ``loop.call_soon_threadsafe``; any number of loops may come and go. If some
other code already registered libvirtaio on the same loop, that implementation is used instead.
Lifecycle events use a second connection, opened after the registration.

libvirtd restarts: a lost command connection is reopened on the next call; a call that cannot
reach libvirtd raises ``HypervisorUnavailable`` at once (nothing hangs). The event connection
has a keepalive and a close callback: when it closes, a thread (``libvirt-reconnect``) reopens
it with backoff (0.2 s doubling to 5 s), registers the lifecycle callback again and reports
``("", "reconnected", "")`` so the caller re-reads what it missed; ``available`` is False
meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

import libvirt
import libvirtaio

from orchestrator.drivers.compute.config import DiskConfig, DomainConfig, InterfaceConfig
from orchestrator.drivers.compute.driver import (
    RECONNECTED,
    ComputeDriver,
    ComputeError,
    DomainExists,
    DomainNotFound,
    EventCallback,
    HypervisorUnavailable,
    PowerState,
)
from orchestrator.drivers.compute.libvirt_names import STATES, event_names

__all__ = [
    "ComputeDriver",
    "ComputeError",
    "DomainExists",
    "DomainNotFound",
    "HypervisorUnavailable",
    "LibvirtCompute",
    "PowerState",
    "event_names",
]

log = logging.getLogger(__name__)


def _quiet_error_handler(_ctx: object, _err: object) -> None:
    """libvirt's default handler prints every error to stderr; errors reach us as exceptions."""


libvirt.registerErrorHandler(_quiet_error_handler, None)

_UNDEFINE_FLAGS = (
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
    | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
)


_impl_lock = threading.Lock()
_impl_thread: threading.Thread | None = None


def _run_default_impl() -> None:
    while True:
        try:
            libvirt.virEventRunDefaultImpl()
        except Exception:  # keep serving events whatever one iteration did
            log.exception("libvirt event loop iteration failed")
            time.sleep(0.1)


def _ensure_event_impl(loop: asyncio.AbstractEventLoop) -> None:
    """Register libvirt's default event implementation once and serve it from a daemon thread."""
    global _impl_thread
    with _impl_lock:
        if _impl_thread is not None:
            return
        aio = libvirtaio.getCurrentImpl()
        if aio is not None:
            if aio.loop is loop and not loop.is_closed():
                return  # someone registered libvirtaio on this very loop: events arrive there
            raise ComputeError("libvirt events are bound to another asyncio loop (libvirtaio was "
                               "registered elsewhere in this process); libvirt allows only one")
        try:
            libvirt.virEventRegisterDefaultImpl()
        except (libvirt.libvirtError, RuntimeError) as exc:
            raise ComputeError(f"cannot register libvirt's event loop: {exc}") from exc
        _impl_thread = threading.Thread(target=_run_default_impl, name="libvirt-events", daemon=True)
        _impl_thread.start()


_RECONNECT_FIRST, _RECONNECT_MAX = 0.2, 5.0


def _is_connection_lost(exc: libvirt.libvirtError) -> bool:
    """libvirtd unreachable or the connection to it broken (not an error of the operation)."""
    return (exc.get_error_code() in (libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_INVALID_CONN)
            or exc.get_error_domain() == libvirt.VIR_FROM_RPC)


def _compute_error(msg: str, exc: libvirt.libvirtError) -> ComputeError:
    if _is_no_domain(exc):
        return DomainNotFound(msg, exc.get_error_code())
    if _is_connection_lost(exc):
        return HypervisorUnavailable(f"{msg} (libvirtd unreachable; retry later)", exc.get_error_code())
    return ComputeError(msg, exc.get_error_code())


def _is_no_domain(exc: libvirt.libvirtError) -> bool:
    return exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN


def _is_not_running(exc: libvirt.libvirtError) -> bool:
    return exc.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID


def _with_flag_fallback(method: Callable[[int], int], flags: int) -> None:
    """Call ``method(flags)``; drivers that reject the flags (test:///default) get ``method(0)``
    (the hypervisor default, which for QEMU without a guest agent is ACPI too)."""
    try:
        method(flags)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() not in (libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT):
            raise
        method(0)


@contextlib.contextmanager
def _translated(what: str, name: str | None = None) -> Iterator[None]:
    try:
        yield
    except libvirt.libvirtError as exc:
        raise _compute_error(f"{what}{f' {name}' if name else ''}: {exc.get_error_message() or exc}",
                             exc) from exc


class LibvirtCompute(ComputeDriver):
    """The compute driver on libvirt. ``uri`` e.g. ``qemu:///system`` or ``test:///default``."""

    def __init__(self, uri: str = "qemu:///system", poll_interval: float = 0.2) -> None:
        self.uri = uri
        self.poll_interval = poll_interval
        self._conn: libvirt.virConnect | None = None
        self._lock = threading.Lock()
        self._event_conn: libvirt.virConnect | None = None
        self._event_cb_id: int | None = None
        self._event_target: tuple[asyncio.AbstractEventLoop, EventCallback] | None = None
        self._events_stop = threading.Event()
        self._reconnecting = False
        self.reconnects = 0  # times the event connection was re-established (for tests/bench)

    # ---------------------------------------------------------------- connection
    @property
    def conn(self) -> libvirt.virConnect:
        with self._lock:
            conn = self._conn
            if conn is not None:
                try:
                    alive = conn.isAlive()
                except libvirt.libvirtError:
                    alive = 0
                if alive:
                    return conn
                with contextlib.suppress(libvirt.libvirtError):
                    conn.close()
            with _translated("connect", self.uri):
                self._conn = libvirt.open(self.uri)
            return self._conn

    def close(self) -> None:
        self.stop_events()
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(libvirt.libvirtError):
                    self._conn.close()
                self._conn = None

    def _lookup(self, name: str) -> libvirt.virDomain:
        with _translated("lookup", name):
            return self.conn.lookupByName(name)

    def _try_lookup(self, name: str) -> libvirt.virDomain | None:
        try:
            return self.conn.lookupByName(name)
        except libvirt.libvirtError as exc:
            if _is_no_domain(exc):
                return None
            raise _compute_error(f"lookup {name}: {exc.get_error_message()}", exc) from exc

    # ---------------------------------------------------------------- lifecycle
    def spawn(self, config: DomainConfig) -> None:
        if not config.name:
            raise ComputeError("spawn: the config has no name")
        if self._try_lookup(config.name) is not None:
            raise DomainExists(f"spawn {config.name}: a domain of that name exists")
        xml = config.to_xml()
        dom = None
        try:
            with _translated("define", config.name):
                dom = self.conn.defineXML(xml)
            with _translated("start", config.name):
                dom.create()
        except ComputeError:
            if dom is not None:
                self._cleanup_partial(config.name)
            raise

    def _cleanup_partial(self, name: str) -> None:
        try:
            self.destroy(name)
            self.undefine(name)
        except ComputeError as exc:  # keep the original error
            log.warning("cleanup after failed spawn of %s: %s", name, exc)

    def power_off(self, name: str, graceful: bool = True, timeout: float = 60.0) -> bool:
        dom = self._lookup(name)
        if not self._active(dom):
            return True
        if graceful:
            try:
                _with_flag_fallback(dom.shutdownFlags, libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
            except libvirt.libvirtError as exc:
                if _is_no_domain(exc) or _is_not_running(exc):
                    return True
                raise _compute_error(f"shutdown {name}: {exc.get_error_message()}", exc) from exc
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if not self._active(dom):
                    return True
                time.sleep(self.poll_interval)
            log.info("%s did not power off within %.1fs; destroying", name, timeout)
        self.destroy(name)
        return False

    def _active(self, dom: libvirt.virDomain) -> bool:
        try:
            return bool(dom.isActive())
        except libvirt.libvirtError as exc:
            if _is_no_domain(exc):
                return False
            raise _compute_error(f"isActive {dom.name()}: {exc.get_error_message()}", exc) from exc

    def power_on(self, name: str) -> None:
        dom = self._lookup(name)
        if self._active(dom):
            return
        with _translated("start", name):
            try:
                dom.create()
            except libvirt.libvirtError as exc:
                if _is_not_running(exc) and self._active(dom):  # raced with another start
                    return
                raise

    def reboot(self, name: str) -> None:
        dom = self._lookup(name)
        with _translated("reboot", name):
            _with_flag_fallback(dom.reboot, libvirt.VIR_DOMAIN_REBOOT_ACPI_POWER_BTN)

    def reset(self, name: str) -> None:
        dom = self._lookup(name)
        with _translated("reset", name):
            dom.reset(0)
            if dom.info()[0] in (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PMSUSPENDED):
                dom.resume()

    def destroy(self, name: str) -> None:
        dom = self._try_lookup(name)
        if dom is None:
            return
        try:
            dom.destroy()
        except libvirt.libvirtError as exc:
            if _is_no_domain(exc) or _is_not_running(exc):
                return
            raise _compute_error(f"destroy {name}: {exc.get_error_message()}", exc) from exc

    def undefine(self, name: str) -> None:
        dom = self._try_lookup(name)
        if dom is None:
            return
        try:
            try:
                dom.undefineFlags(_UNDEFINE_FLAGS)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() not in (libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT,
                                                libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED):
                    raise
                dom.undefine()
        except libvirt.libvirtError as exc:
            # no domain: already gone; operation invalid: a transient (never defined) domain
            if _is_no_domain(exc) or _is_not_running(exc):
                return
            raise _compute_error(f"undefine {name}: {exc.get_error_message()}", exc) from exc

    # ---------------------------------------------------------------- queries
    def state(self, name: str) -> PowerState:
        dom = self._try_lookup(name)
        if dom is None:
            return PowerState.ABSENT
        try:
            st, _reason = dom.state()
        except libvirt.libvirtError as exc:
            if _is_no_domain(exc):
                return PowerState.ABSENT
            raise _compute_error(f"state {name}: {exc.get_error_message()}", exc) from exc
        return STATES.get(st, PowerState.NOSTATE)

    def states(self, prefix: str = "") -> dict[str, PowerState]:
        """One ``virConnectGetAllDomainStats`` (state group) for every domain, not two calls per
        domain; a hypervisor driver without it gets the contract's default."""
        try:
            stats = self.conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
                raise _compute_error(f"domain states: {exc.get_error_message() or exc}", exc) from exc
            return super().states(prefix)
        out = {}
        for dom, values in stats:
            name = dom.name()  # kept in the handle: no call to libvirtd
            if name.startswith(prefix):
                out[name] = STATES.get(values.get("state.state"), PowerState.NOSTATE)
        return out

    def cpu_seconds(self, names: Sequence[str]) -> dict[str, float]:
        out = {}
        for name in names:  # virDomainGetInfo: [state, maxMem, memory, nrVirtCpu, cpuTime (ns)]
            dom = self._try_lookup(name)
            with contextlib.suppress(libvirt.libvirtError):
                info = dom.info() if dom is not None else None
                if info is not None and info[0] == libvirt.VIR_DOMAIN_RUNNING:
                    out[name] = info[4] / 1e9
        return out

    def list_domains(self, prefix: str = "") -> list[str]:
        with _translated("list domains"):
            doms = self.conn.listAllDomains(0)
        names = []
        for d in doms:
            with contextlib.suppress(libvirt.libvirtError):  # vanished meanwhile
                names.append(d.name())
        return sorted(n for n in names if n.startswith(prefix))

    def _xml(self, name: str, inactive: bool = False) -> str:
        dom = self._lookup(name)
        with _translated("dumpxml", name):
            return dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0)

    def get_config(self, name: str) -> DomainConfig:
        return DomainConfig.from_xml(self._xml(name))

    def tap_names(self, name: str) -> list[str]:
        cfg = self.get_config(name)
        return [i.target_dev for i in cfg.interfaces if i.type == "ethernet" and i.target_dev]

    def stopped_at(self, name: str) -> float | None:
        """From libvirt's own per-domain log (``/var/log/libvirt/qemu/NAME.log`` for the system
        instance): libvirtd writes ``<time>: shutting down, reason=...`` when a domain stops and
        ``<time>: starting up ...`` when it starts, in UTC with milliseconds."""
        if not self.uri.startswith("qemu:///system"):
            return None
        return last_stop(QEMU_LOG_DIR / f"{name}.log")

    def console_log(self, name: str, max_bytes: int = 64 * 1024) -> bytes:
        cfg = self.get_config(name)
        paths = [s.log_file or (s.source_path if s.type == "file" else None) for s in cfg.serials]
        path = next((p for p in paths if p), None)
        return b"" if path is None else read_tail(Path(path), max_bytes)

    # ---------------------------------------------------------------- devices
    def _device_flags(self, dom: libvirt.virDomain) -> int:
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if self._active(dom):
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        return flags

    def define_secret(self, secret_uuid: str, usage: str, value: str) -> None:
        xml = (f"<secret ephemeral='yes' private='yes'><uuid>{secret_uuid}</uuid>"
               f"<usage type='volume'><volume>{escape(usage)}</volume></usage></secret>")
        with _translated("define secret", usage):
            secret = self.conn.secretDefineXML(xml, 0)
            secret.setValue(value.encode(), 0)

    def undefine_secrets(self, usage_prefix: str = "", secret_uuid: str | None = None) -> list[str]:
        gone = []
        with _translated("undefine secrets", usage_prefix or secret_uuid or ""):
            for secret in self.conn.listAllSecrets(0):
                usage = secret.usageID() or ""
                if (secret_uuid is None or secret.UUIDString() == secret_uuid) and usage.startswith(usage_prefix):
                    with contextlib.suppress(libvirt.libvirtError):  # gone meanwhile
                        secret.undefine()
                        gone.append(usage)
        return gone

    def attach_disk(self, name: str, disk: DiskConfig) -> None:
        dom = self._lookup(name)
        with _translated("attach disk", name):
            dom.attachDeviceFlags(disk.to_xml(), self._device_flags(dom))

    def detach_disk(self, name: str, target: str, timeout: float = 10.0) -> bool:
        dom = self._lookup(name)
        cfg = DomainConfig.from_xml(self._xml(name, inactive=True))
        live = self.get_config(name)
        disk = cfg.disk(target) or live.disk(target)
        if disk is None:
            raise ComputeError(f"detach disk {name}: no disk {target}")
        return self._detach(dom, disk.to_xml(), lambda c: c.disk(target) is None, timeout)

    def attach_interface(self, name: str, iface: InterfaceConfig) -> None:
        dom = self._lookup(name)
        with _translated("attach interface", name):
            dom.attachDeviceFlags(iface.to_xml(), self._device_flags(dom))

    def detach_interface(self, name: str, mac: str, timeout: float = 10.0) -> bool:
        dom = self._lookup(name)
        mac = mac.lower()
        live = self.get_config(name)
        iface = next((i for i in live.interfaces if (i.mac or "").lower() == mac), None)
        if iface is None:
            raise ComputeError(f"detach interface {name}: no interface with MAC {mac}")
        # match by MAC only: the live tap name may differ from the persistent definition
        xml = InterfaceConfig(type=iface.type, mac=mac, model=iface.model).to_xml()
        return self._detach(
            dom, xml, lambda c: all((i.mac or "").lower() != mac for i in c.interfaces), timeout)

    def _detach(self, dom: libvirt.virDomain, xml: str, gone: Callable[[DomainConfig], bool],
                timeout: float) -> bool:
        name = dom.name()
        flags = self._device_flags(dom)
        with _translated("detach device", name):
            dom.detachDeviceFlags(xml, flags)
        if not flags & libvirt.VIR_DOMAIN_AFFECT_LIVE:
            return True
        deadline = time.monotonic() + timeout
        while True:
            if not self._active(dom) or gone(self.get_config(name)):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(self.poll_interval)

    # ---------------------------------------------------------------- events
    @property
    def available(self) -> bool:
        return not self._reconnecting

    def start_events(self, loop: asyncio.AbstractEventLoop, callback: EventCallback) -> None:
        if self._event_conn is not None or self._event_target is not None:
            raise ComputeError("events already started")
        _ensure_event_impl(loop)

        def deliver(name: str, ev: str, det: str) -> None:
            try:
                callback(name, ev, det)
            except Exception:  # a callback error must not reach libvirt or kill the loop
                log.exception("compute event callback failed for %s %s %s", name, ev, det)

        self._events_stop.clear()
        self._event_target = (loop, deliver)
        try:
            self._open_event_conn()
        except BaseException:
            self._event_target = None
            raise

    def _post(self, name: str, ev: str, det: str) -> None:
        target = self._event_target
        if target is None:
            return
        loop, deliver = target
        try:
            loop.call_soon_threadsafe(deliver, name, ev, det)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            log.debug("dropping %s event for %s: loop closed", ev, name)

    def _open_event_conn(self) -> None:
        def on_lifecycle(_conn, dom, event: int, detail: int, _opaque) -> None:
            ev, det = event_names(event, detail)
            self._post(dom.name(), ev, det)

        with _translated("connect for events", self.uri):
            conn = libvirt.open(self.uri)
            try:
                with contextlib.suppress(libvirt.libvirtError):
                    conn.setKeepAlive(5, 3)
                cb_id = conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, on_lifecycle, None)
                conn.registerCloseCallback(self._on_event_conn_closed, None)
            except libvirt.libvirtError:
                conn.close()
                raise
        self._event_conn, self._event_cb_id = conn, cb_id

    def _on_event_conn_closed(self, conn: libvirt.virConnect, reason: int, _opaque: object) -> None:
        """libvirt's event thread: the event connection died (libvirtd stopped, keepalive
        timeout). Reconnect from another thread: this one must keep serving libvirt's loop."""
        if self._events_stop.is_set() or self._event_conn is None:
            return
        log.warning("lost the libvirt event connection (reason %d); reconnecting", reason)
        self._event_conn, self._event_cb_id = None, None
        self._reconnecting = True
        threading.Thread(target=self._reconnect, name="libvirt-reconnect", daemon=True).start()

    def _reconnect(self) -> None:
        delay = _RECONNECT_FIRST
        while not self._events_stop.is_set():
            try:
                self._open_event_conn()
            except ComputeError as exc:
                log.debug("libvirt reconnect failed: %s", exc)
                self._events_stop.wait(delay)
                delay = min(delay * 2, _RECONNECT_MAX)
                continue
            if self._events_stop.is_set():  # stopped meanwhile: drop the new connection
                self._close_event_conn()
                break
            self.reconnects += 1
            log.warning("libvirt event connection re-established")
            self._reconnecting = False
            self._post("", RECONNECTED, "")
            return
        self._reconnecting = False

    def _close_event_conn(self) -> None:
        conn, self._event_conn = self._event_conn, None
        cb_id, self._event_cb_id = self._event_cb_id, None
        if conn is None:
            return
        with contextlib.suppress(libvirt.libvirtError):
            conn.unregisterCloseCallback()
        with contextlib.suppress(libvirt.libvirtError):
            if cb_id is not None:
                conn.domainEventDeregisterAny(cb_id)
        with contextlib.suppress(libvirt.libvirtError):
            conn.close()

    def stop_events(self) -> None:
        self._events_stop.set()
        self._event_target = None
        self._close_event_conn()


def read_tail(path: Path, max_bytes: int) -> bytes:
    """The last ``max_bytes`` of a file (b"" if missing)."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            fh.seek(max(0, size - max_bytes))
            return fh.read()
    except FileNotFoundError:
        return b""


QEMU_LOG_DIR = Path("/var/log/libvirt/qemu")
_LOG_TAIL = 64 * 1024


def last_stop(log: Path) -> float | None:
    """The time of the log's last ``shutting down`` line when no ``starting up`` follows it."""
    try:
        with log.open("rb") as f:
            f.seek(max(0, log.stat().st_size - _LOG_TAIL))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    when: float | None = None
    for line in text.splitlines():
        stamp, sep, rest = line.partition(": ")
        if not sep or not (rest.startswith("shutting down") or rest.startswith("starting up")):
            continue
        try:
            t = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f%z").timestamp()
        except ValueError:
            continue
        when = t if rest.startswith("shutting down") else None
    return when
