"""Compute driver: libvirt domain XML config objects (config), the designer that decides them,
the driver interface with its libvirt and fake implementations, and the KVM probe."""

from orchestrator.drivers.compute.driver import (
    ComputeDriver,
    ComputeError,
    DomainExists,
    DomainNotFound,
    EventCallback,
    PowerState,
)

__all__ = [
    "ComputeDriver",
    "ComputeError",
    "DomainExists",
    "DomainNotFound",
    "EventCallback",
    "PowerState",
]
