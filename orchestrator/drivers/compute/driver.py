"""The compute driver interface: contracts every implementation (libvirt, fake) keeps.

Drivers take plain values (domain names, ``DomainConfig``/``DiskConfig``/``InterfaceConfig``),
never read the store, and raise ``ComputeError`` (``DomainNotFound`` for a missing domain) - never
``libvirt.libvirtError``. Deleting operations (``destroy``, ``undefine``) tolerate absence, so a
service can repeat them after a crash. All methods except ``start_events``/``stop_events`` block
and are meant to be called from a thread pool (``loop.run_in_executor``); one driver instance may
be used from many threads at once.
"""

from __future__ import annotations

import abc
import asyncio
import enum
from collections.abc import Callable, Sequence

from orchestrator.drivers.compute.config import DiskConfig, DomainConfig, InterfaceConfig

__all__ = [
    "ComputeDriver",
    "ComputeError",
    "DomainExists",
    "DomainNotFound",
    "EventCallback",
    "HypervisorUnavailable",
    "PowerState",
    "ALIVE",
]


class ComputeError(Exception):
    """A hypervisor operation failed. ``code`` is the libvirt error code when there is one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class DomainNotFound(ComputeError):
    """No domain of that name exists (neither running nor defined)."""


class HypervisorUnavailable(ComputeError):
    """The hypervisor cannot be reached (libvirtd down or restarting): retry later. Nothing was
    done; the driver reconnects by itself."""


class DomainExists(ComputeError):
    """``spawn`` was asked to create a domain whose name is already taken."""


class PowerState(enum.StrEnum):
    """Observed power state. libvirt's BLOCKED and SHUTDOWN (shutting down) count as RUNNING,
    PMSUSPENDED as PAUSED; ABSENT means no domain of that name exists."""

    RUNNING = "running"
    SHUTOFF = "shutoff"
    PAUSED = "paused"
    CRASHED = "crashed"
    NOSTATE = "nostate"
    ABSENT = "absent"


# States in which the domain's QEMU process exists with the guest in it (a paused guest is not gone).
ALIVE = frozenset({PowerState.RUNNING, PowerState.PAUSED})

# callback(domain name, event, detail). Events: defined, undefined, started, suspended, resumed,
# stopped, shutdown, pmsuspended, crashed. Details, e.g. for stopped: shutdown, destroyed, crashed,
# failed, saved, migrated; for started: booted, restored, wakeup; for shutdown: finished, guest,
# host. Unknown numbers become "unknown-<n>". After the event connection was lost (libvirtd
# restarted) and is back, the driver calls ("", "reconnected", "") once: events of the outage are
# lost, the caller should re-read the domains' states.
EventCallback = Callable[[str, str, str], None]
RECONNECTED = "reconnected"


class ComputeDriver(abc.ABC):
    """Runs instances as hypervisor domains, identified by domain name."""

    @abc.abstractmethod
    def spawn(self, config: DomainConfig) -> None:
        """Define the domain persistently and start it.

        Raises ``DomainExists`` (touching nothing) if the name is taken. On any other failure the
        partial domain is destroyed and undefined before ``ComputeError`` is raised, so a failed
        spawn leaves nothing behind and can be retried.
        """

    @abc.abstractmethod
    def power_off(self, name: str, graceful: bool = True, timeout: float = 60.0) -> bool:
        """Stop the domain, keeping its definition.

        ``graceful``: press the ACPI power button and wait up to ``timeout`` seconds for the guest
        to power off, then pull the plug. Returns True if the guest stopped by itself, False if it
        had to be destroyed (or ``graceful`` was False). A domain that is already stopped is a
        no-op returning True. ``DomainNotFound`` if it does not exist.
        """

    @abc.abstractmethod
    def power_on(self, name: str) -> None:
        """Start a defined, stopped domain. Already running: no-op. ``DomainNotFound``."""

    @abc.abstractmethod
    def reboot(self, name: str) -> None:
        """Ask the guest to reboot (ACPI); returns at once. ``ComputeError`` if not running."""

    @abc.abstractmethod
    def reset(self, name: str) -> None:
        """Hard-reset the guest (the reset button: no shutdown, a new boot on the same domain,
        disks and NICs) and resume it if the hypervisor held it paused. ``ComputeError`` if the
        domain is not running or paused; ``DomainNotFound``."""

    @abc.abstractmethod
    def destroy(self, name: str) -> None:
        """Stop the domain at once (pull the plug). Absent or already stopped: no-op."""

    @abc.abstractmethod
    def undefine(self, name: str) -> None:
        """Remove the persistent definition (with NVRAM, managed save and snapshot metadata).

        Absent: no-op. A running domain keeps running as a transient domain until it stops;
        call ``destroy`` first to get rid of it entirely.
        """

    @abc.abstractmethod
    def state(self, name: str) -> PowerState:
        """The observed power state; ``PowerState.ABSENT`` when there is no such domain."""

    @abc.abstractmethod
    def list_domains(self, prefix: str = "") -> list[str]:
        """Sorted names of all domains (running or defined) whose name starts with ``prefix``."""

    def states(self, prefix: str = "") -> dict[str, PowerState]:
        """The power state of every domain whose name starts with ``prefix`` (one that vanished
        meanwhile is left out): what the status checks and the reconciler look at for all
        instances at once. Here one ``state`` per domain; a driver that can ask once does."""
        found = {name: self.state(name) for name in self.list_domains(prefix)}
        return {name: st for name, st in found.items() if st is not PowerState.ABSENT}

    @abc.abstractmethod
    def get_config(self, name: str) -> DomainConfig:
        """The domain's current config (the live one while running). ``DomainNotFound``."""

    @abc.abstractmethod
    def define_secret(self, secret_uuid: str, usage: str, value: str) -> None:
        """Hold a disk-encryption passphrase for the hypervisor (libvirt: a private, ephemeral
        secret, never written to disk) under ``secret_uuid``; repeatable."""

    @abc.abstractmethod
    def undefine_secrets(self, usage_prefix: str = "", secret_uuid: str | None = None) -> list[str]:
        """Forget the secrets ``define_secret`` made whose usage starts with ``usage_prefix`` (or
        just ``secret_uuid``); returns their usages. Absent: no-op."""

    @abc.abstractmethod
    def attach_disk(self, name: str, disk: DiskConfig) -> None:
        """Hot-plug a disk into the running guest and add it to the definition (only the latter
        when stopped). ``ComputeError`` if the target is taken."""

    @abc.abstractmethod
    def detach_disk(self, name: str, target: str, timeout: float = 10.0) -> bool:
        """Remove disk ``target`` (e.g. ``vdf``) from the definition and unplug it from the guest.

        Unplugging needs the guest's cooperation: returns True once it is gone from the running
        guest (or the domain is stopped), False if the guest still holds it after ``timeout``
        seconds (it is then removed when the guest releases it or at the next stop).
        ``ComputeError`` if no such disk.
        """

    @abc.abstractmethod
    def attach_interface(self, name: str, iface: InterfaceConfig) -> None:
        """Hot-plug a NIC (libvirt creates its tap) and add it to the definition."""

    @abc.abstractmethod
    def detach_interface(self, name: str, mac: str, timeout: float = 10.0) -> bool:
        """Unplug the NIC with ``mac``; same contract as ``detach_disk``."""

    @abc.abstractmethod
    def tap_names(self, name: str) -> list[str]:
        """Tap device names of the domain's ethernet interfaces, in device order (live XML)."""

    @abc.abstractmethod
    def console_log(self, name: str, max_bytes: int = 64 * 1024) -> bytes:
        """The last ``max_bytes`` of the serial console log (b"" when there is none yet)."""

    @abc.abstractmethod
    def start_events(self, loop: asyncio.AbstractEventLoop, callback: EventCallback) -> None:
        """Call ``callback(name, event, detail)`` on ``loop`` for every domain lifecycle event.

        The callback runs on ``loop``'s thread and must not block (hand work to a task or a thread
        pool). Events are dropped once the loop is closed. One subscription per driver instance;
        after ``stop_events`` it may start again, also with another loop.
        """

    @abc.abstractmethod
    def stop_events(self) -> None:
        """Stop delivering events (call before the loop closes)."""

    def cpu_seconds(self, names: Sequence[str]) -> dict[str, float]:
        """Cumulative CPU time (seconds, all vCPUs) of each running domain of ``names`` (the others
        are left out): Auto Scaling's ``ASGAverageCPUUtilization`` is its rate over wall time."""
        return {}

    def stopped_at(self, name: str) -> float | None:
        """When the hypervisor last saw the domain stop (epoch seconds), if it knows and the
        domain has not started since; None otherwise. The usage ledger closes a running interval
        found stopped after an ec2d restart at this time."""
        return None

    @property
    def available(self) -> bool:
        """False while the driver knows the hypervisor is unreachable (it is reconnecting):
        callers can refuse work at once with a retryable error instead of failing it halfway."""
        return True

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. The driver may not be used afterwards."""
