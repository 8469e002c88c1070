"""Availability Zones' states: ``available``, or ``impaired`` by the operator (``ec2d zone
impair ZONE``), kept as store settings so the CLI (another process) changes them and the daemon
follows. What an impaired zone does: ``zone_outages.py`` (the runtime) and ``services/zones.py``
(the API)."""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.domain import errors
from orchestrator.store.sqlite import Store

AVAILABLE = "available"
IMPAIRED = "impaired"
STATES = (AVAILABLE, IMPAIRED)


def _key(zone: str) -> str:
    return f"zone-state.{zone}"


def state(store: Store, zone: str) -> str:
    return store.get_setting(_key(zone)) or AVAILABLE


def set_state(store: Store, zone: str, value: str) -> None:
    if value not in STATES:
        raise ValueError(f"zone state {value!r}: one of {', '.join(STATES)}")
    store.set_setting(_key(zone), value)


def message(zone: str) -> str:
    return f"{zone} is impaired: instances in it lost power and new ones cannot launch there."


def insufficient_capacity(instance_type: str, zone: str, others: Iterable[str]) -> errors.ApiError:
    """EC2's answer to a launch into a zone without capacity (HTTP 500, as EC2 sends it)."""
    alternatives = ", ".join(others)
    hint = (f" You can currently get {instance_type} capacity by not specifying an Availability Zone in your "
            f"request or choosing {alternatives}.") if alternatives else ""
    return errors.InsufficientInstanceCapacity(
        f"We currently do not have sufficient {instance_type} capacity in the Availability Zone you requested "
        f"({zone}). Our system will be working on provisioning additional capacity.{hint}")


POWER_LOSS = {"Code": "Server.InternalError",
              "Message": "Server.InternalError: the instance's Availability Zone lost power (impaired)"}
