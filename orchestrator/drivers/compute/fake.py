"""``FakeCompute``: the ``ComputeDriver`` contract in memory, for fast tests of services and API.

Guests do whatever they are told at once: a graceful power off succeeds immediately unless the
test made the domain ignore the power button (``ignore_acpi``). Tests can inject failures
(``fail_next``), crash a domain (``crash``), pause one (``pause``), make boots hang (``hang_boots``)
and write console output (``write_console``). A boot that does not hang writes a line to the
domain's serial console (in memory and to its ``<log file>``, as the serial console does). Events
are delivered on the loop given to ``start_events`` with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

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

__all__ = ["FakeCompute", "FakeDomain"]


@dataclass
class FakeDomain:
    config: DomainConfig
    state: PowerState = PowerState.SHUTOFF
    console: bytearray = field(default_factory=bytearray)
    ignore_acpi: bool = False
    hold_devices: bool = False  # the guest refuses to release hot-unplugged devices


class FakeCompute(ComputeDriver):
    def __init__(self, boot_line: bool = True) -> None:
        """``boot_line``: a boot writes the kernel's first line to the console (the status checks
        see the boot get somewhere); off, guests print nothing unless told (``write_console``)."""
        self.boot_line = boot_line
        self.domains: dict[str, FakeDomain] = {}
        self.secrets: dict[str, str] = {}  # define_secret: uuid -> passphrase
        self.secret_usages: dict[str, str] = {}
        self._lock = threading.RLock()
        self._events: tuple[asyncio.AbstractEventLoop, EventCallback] | None = None
        self._fail: dict[str, ComputeError] = {}
        self.calls: list[tuple[str, str]] = []  # (method, domain name), for assertions
        self.down = False  # the hypervisor is unreachable (``outage``/``recover``)
        self.clock: Callable[[], float] = time.time  # when domains stop (``stopped_at``); tests inject one
        self.stops: dict[str, float] = {}  # domain name -> when it last stopped, kept across undefine
        self.cpu: dict[str, float] = {}  # domain name -> cumulative CPU seconds (tests set them)
        self.hang_boots = 0  # the next this many boots print nothing (a guest stuck before its kernel)
        self.boots: list[str] = []  # domain names, one per boot (spawn, power on, reset)

    # ------------------------------------------------------------- test helpers
    def fail_next(self, method: str, error: ComputeError | None = None) -> None:
        """Make the next call of ``method`` (e.g. "spawn") raise ``error``."""
        self._fail[method] = error or ComputeError(f"injected failure in {method}")

    def outage(self) -> None:
        """libvirtd goes away: every call raises ``HypervisorUnavailable`` until ``recover``."""
        self.down = True

    def recover(self) -> None:
        """libvirtd is back: calls work again and the event connection reports ``reconnected``."""
        self.down = False
        self._emit("", RECONNECTED, "")

    @property
    def available(self) -> bool:
        return not self.down

    def crash(self, name: str) -> None:
        with self._lock:
            self._get(name).state = PowerState.SHUTOFF
            self.stops[name] = self.clock()
        self._emit(name, "stopped", "crashed")

    def pause(self, name: str) -> None:
        """The hypervisor holds the domain's vCPUs (``virsh suspend``, an I/O error)."""
        with self._lock:
            self._get(name).state = PowerState.PAUSED
        self._emit(name, "suspended", "paused")

    def write_console(self, name: str, data: bytes) -> None:
        with self._lock:
            dom = self._get(name)
            dom.console.extend(data)
            for serial in dom.config.serials:
                if serial.log_file:
                    with open(serial.log_file, "ab") as f:
                        f.write(data)

    def _boot(self, name: str) -> None:
        """A boot of ``name`` begins (lock held): the kernel's first line, unless it hangs."""
        self.boots.append(name)
        if self.hang_boots > 0:
            self.hang_boots -= 1
            return
        if not self.boot_line:
            return
        self.write_console(name, f"[    0.000000] Linux version (fake) booting {name}\n".encode())

    def _check_fail(self, method: str, name: str) -> None:
        self.calls.append((method, name))
        self._reachable(method, name)
        err = self._fail.pop(method, None)
        if err is not None:
            raise err

    def _reachable(self, method: str, name: str) -> None:
        if self.down:
            raise HypervisorUnavailable(f"{method} {name}: libvirtd unreachable; retry later")

    def _get(self, name: str) -> FakeDomain:
        dom = self.domains.get(name)
        if dom is None:
            raise DomainNotFound(f"no domain {name}")
        return dom

    def _emit(self, name: str, event: str, detail: str) -> None:
        if self._events is not None:
            loop, cb = self._events
            loop.call_soon_threadsafe(cb, name, event, detail)

    def restore(self, names: list[str]) -> None:
        """Hold these domains again, running: a restart keeps the store but not this memory, where
        libvirt's domains outlive the daemon. Their configs hold only the name."""
        with self._lock:
            for name in names:
                self.domains.setdefault(name, FakeDomain(config=DomainConfig(name=name), state=PowerState.RUNNING))

    # ------------------------------------------------------------- interface
    def spawn(self, config: DomainConfig) -> None:
        name = config.name or ""
        with self._lock:
            if not name:
                raise ComputeError("spawn: the config has no name")
            if name in self.domains:
                raise DomainExists(f"spawn {name}: a domain of that name exists")
            self._check_fail("spawn", name)  # failure leaves nothing behind
            self.domains[name] = FakeDomain(config=copy.deepcopy(config), state=PowerState.RUNNING)
            self._boot(name)
        self._emit(name, "defined", "added")
        self._emit(name, "started", "booted")

    def power_off(self, name: str, graceful: bool = True, timeout: float = 60.0) -> bool:
        with self._lock:
            self._check_fail("power_off", name)
            dom = self._get(name)
            if dom.state is PowerState.SHUTOFF:
                return True
            dom.state = PowerState.SHUTOFF
            self.stops[name] = self.clock()
            clean = graceful and not dom.ignore_acpi
        self._emit(name, "stopped", "shutdown" if clean else "destroyed")
        return clean

    def power_on(self, name: str) -> None:
        with self._lock:
            self._check_fail("power_on", name)
            dom = self._get(name)
            if dom.state is PowerState.RUNNING:
                return
            dom.state = PowerState.RUNNING
            self._boot(name)
        self._emit(name, "started", "booted")

    def reboot(self, name: str) -> None:
        with self._lock:
            self._check_fail("reboot", name)
            if self._get(name).state is not PowerState.RUNNING:
                raise ComputeError(f"reboot {name}: domain is not running")

    def reset(self, name: str) -> None:
        with self._lock:
            self._check_fail("reset", name)
            dom = self._get(name)
            if dom.state not in (PowerState.RUNNING, PowerState.PAUSED):
                raise ComputeError(f"reset {name}: domain is not running")
            resumed = dom.state is PowerState.PAUSED
            dom.state = PowerState.RUNNING
            self._boot(name)
        if resumed:
            self._emit(name, "resumed", "unpaused")

    def destroy(self, name: str) -> None:
        with self._lock:
            self._check_fail("destroy", name)
            dom = self.domains.get(name)
            if dom is None or dom.state is PowerState.SHUTOFF:
                return
            dom.state = PowerState.SHUTOFF
            self.stops[name] = self.clock()
        self._emit(name, "stopped", "destroyed")

    def undefine(self, name: str) -> None:
        with self._lock:
            self._check_fail("undefine", name)
            if self.domains.pop(name, None) is None:
                return
        self._emit(name, "undefined", "removed")

    def state(self, name: str) -> PowerState:
        with self._lock:
            self._reachable("state", name)
            dom = self.domains.get(name)
            return PowerState.ABSENT if dom is None else dom.state

    def stopped_at(self, name: str) -> float | None:
        with self._lock:
            dom = self.domains.get(name)
            if dom is not None and dom.state is PowerState.RUNNING:
                return None
            return self.stops.get(name)

    def cpu_seconds(self, names: Sequence[str]) -> dict[str, float]:
        with self._lock:
            return {n: self.cpu.get(n, 0.0) for n in names
                    if n in self.domains and self.domains[n].state is PowerState.RUNNING}

    def list_domains(self, prefix: str = "") -> list[str]:
        with self._lock:
            self._reachable("list_domains", prefix)
            return sorted(n for n in self.domains if n.startswith(prefix))

    def states(self, prefix: str = "") -> dict[str, PowerState]:
        with self._lock:
            self._reachable("states", prefix)
            return {n: dom.state for n, dom in self.domains.items() if n.startswith(prefix)}

    def get_config(self, name: str) -> DomainConfig:
        with self._lock:
            self._reachable("get_config", name)
            return copy.deepcopy(self._get(name).config)

    def define_secret(self, secret_uuid: str, usage: str, value: str) -> None:
        with self._lock:
            self.secrets[secret_uuid] = value
            self.secret_usages[secret_uuid] = usage

    def undefine_secrets(self, usage_prefix: str = "", secret_uuid: str | None = None) -> list[str]:
        with self._lock:
            gone = [u for u, usage in self.secret_usages.items()
                    if (secret_uuid is None or u == secret_uuid) and usage.startswith(usage_prefix)]
            for u in gone:
                self.secrets.pop(u, None)
            return [self.secret_usages.pop(u) for u in gone]

    def attach_disk(self, name: str, disk: DiskConfig) -> None:
        with self._lock:
            self._check_fail("attach_disk", name)
            cfg = self._get(name).config
            if cfg.disk(disk.target_dev or "") is not None:
                raise ComputeError(f"attach disk {name}: target {disk.target_dev} already in use")
            cfg.disks.append(copy.deepcopy(disk))

    def detach_disk(self, name: str, target: str, timeout: float = 10.0) -> bool:
        with self._lock:
            self._check_fail("detach_disk", name)
            dom = self._get(name)
            disk = dom.config.disk(target)
            if disk is None:
                raise ComputeError(f"detach disk {name}: no disk {target}")
            if dom.hold_devices and dom.state is PowerState.RUNNING:
                return False
            dom.config.disks.remove(disk)
            return True

    def attach_interface(self, name: str, iface: InterfaceConfig) -> None:
        with self._lock:
            self._check_fail("attach_interface", name)
            cfg = self._get(name).config
            if any((i.mac or "").lower() == (iface.mac or "").lower() for i in cfg.interfaces):
                raise ComputeError(f"attach interface {name}: MAC {iface.mac} already in use")
            cfg.interfaces.append(copy.deepcopy(iface))

    def detach_interface(self, name: str, mac: str, timeout: float = 10.0) -> bool:
        with self._lock:
            self._check_fail("detach_interface", name)
            dom = self._get(name)
            iface = next((i for i in dom.config.interfaces if (i.mac or "").lower() == mac.lower()), None)
            if iface is None:
                raise ComputeError(f"detach interface {name}: no interface with MAC {mac}")
            if dom.hold_devices and dom.state is PowerState.RUNNING:
                return False
            dom.config.interfaces.remove(iface)
            return True

    def tap_names(self, name: str) -> list[str]:
        with self._lock:
            self._reachable("tap_names", name)
            return [i.target_dev for i in self._get(name).config.interfaces
                    if i.type == "ethernet" and i.target_dev]

    def console_log(self, name: str, max_bytes: int = 64 * 1024) -> bytes:
        with self._lock:
            return bytes(self._get(name).console[-max_bytes:]) if max_bytes > 0 else b""

    def start_events(self, loop: asyncio.AbstractEventLoop, callback: EventCallback) -> None:
        if self._events is not None:
            raise ComputeError("events already started")
        self._events = (loop, callback)

    def stop_events(self) -> None:
        self._events = None
