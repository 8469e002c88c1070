"""libvirt's numbers as names: domain states and lifecycle events (``event_names``)."""

from __future__ import annotations

import libvirt

from orchestrator.drivers.compute.driver import PowerState

STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: PowerState.NOSTATE,
    libvirt.VIR_DOMAIN_RUNNING: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_PAUSED: PowerState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_SHUTOFF: PowerState.SHUTOFF,
    libvirt.VIR_DOMAIN_CRASHED: PowerState.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: PowerState.PAUSED,
}

_EVENTS = ["defined", "undefined", "started", "suspended", "resumed", "stopped", "shutdown",
           "pmsuspended", "crashed"]
_DETAILS: dict[int, list[str]] = {
    libvirt.VIR_DOMAIN_EVENT_DEFINED: ["added", "updated", "renamed", "from_snapshot"],
    libvirt.VIR_DOMAIN_EVENT_UNDEFINED: ["removed", "renamed"],
    libvirt.VIR_DOMAIN_EVENT_STARTED: ["booted", "migrated", "restored", "from_snapshot", "wakeup"],
    libvirt.VIR_DOMAIN_EVENT_SUSPENDED: ["paused", "migrated", "ioerror", "watchdog", "restored",
                                         "from_snapshot", "api_error", "postcopy", "postcopy_failed"],
    libvirt.VIR_DOMAIN_EVENT_RESUMED: ["unpaused", "migrated", "from_snapshot", "postcopy",
                                       "postcopy_failed"],
    libvirt.VIR_DOMAIN_EVENT_STOPPED: ["shutdown", "destroyed", "crashed", "migrated", "saved",
                                       "failed", "from_snapshot"],
    libvirt.VIR_DOMAIN_EVENT_SHUTDOWN: ["finished", "guest", "host"],
    libvirt.VIR_DOMAIN_EVENT_PMSUSPENDED: ["memory", "disk"],
    libvirt.VIR_DOMAIN_EVENT_CRASHED: ["panicked", "crashloaded"],
}


def event_names(event: int, detail: int) -> tuple[str, str]:
    """libvirt lifecycle (event, detail) numbers -> ("stopped", "shutdown") etc."""
    name = _EVENTS[event] if 0 <= event < len(_EVENTS) else f"unknown-{event}"
    details = _DETAILS.get(event, [])
    det = details[detail] if 0 <= detail < len(details) else f"unknown-{detail}"
    return name, det
