"""Instance and volume lifecycles as data: EC2's state names and codes, and the allowed moves.

Services never assign a state: they ask the store to compare-and-swap along an edge of these
tables, so an illegal move is impossible rather than merely unchecked.
"""

from __future__ import annotations

from enum import StrEnum


class InstanceState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SHUTTING_DOWN = "shutting-down"
    TERMINATED = "terminated"
    STOPPING = "stopping"
    STOPPED = "stopped"

    @property
    def code(self) -> int:
        return INSTANCE_CODES[self]


INSTANCE_CODES = {
    InstanceState.PENDING: 0,
    InstanceState.RUNNING: 16,
    InstanceState.SHUTTING_DOWN: 32,
    InstanceState.TERMINATED: 48,
    InstanceState.STOPPING: 64,
    InstanceState.STOPPED: 80,
}

S = InstanceState

# Every edge the lifecycle may take (who takes it is in the comment).
INSTANCE_TRANSITIONS: dict[InstanceState, frozenset[InstanceState]] = {
    S.PENDING: frozenset({S.RUNNING,  # domain started
                          S.SHUTTING_DOWN,  # TerminateInstances
                          S.TERMINATED,  # launch failed (cleaned up)
                          S.STOPPED}),  # domain died while starting
    S.RUNNING: frozenset({S.STOPPING,  # StopInstances / guest poweroff / domain gone
                          S.SHUTTING_DOWN}),  # TerminateInstances / poweroff with behaviour terminate
    S.STOPPING: frozenset({S.STOPPED, S.SHUTTING_DOWN}),
    S.STOPPED: frozenset({S.PENDING,  # StartInstances
                          S.SHUTTING_DOWN}),
    S.SHUTTING_DOWN: frozenset({S.TERMINATED}),
    S.TERMINATED: frozenset(),
}


class Request(StrEnum):
    START = "started"
    STOP = "stopped"
    REBOOT = "rebooted"
    TERMINATE = "terminated"


# What each API request does from each state: the target state, "noop" (answer with the current
# state, as EC2 does for e.g. stopping a stopped instance), or absent (IncorrectInstanceState).
REQUESTS: dict[Request, dict[InstanceState, InstanceState | str]] = {
    Request.START: {S.STOPPED: S.PENDING, S.PENDING: "noop", S.RUNNING: "noop"},
    Request.STOP: {S.RUNNING: S.STOPPING, S.STOPPING: "noop", S.STOPPED: "noop"},
    Request.REBOOT: {S.RUNNING: "noop", S.PENDING: "noop"},
    Request.TERMINATE: {S.PENDING: S.SHUTTING_DOWN, S.RUNNING: S.SHUTTING_DOWN, S.STOPPING: S.SHUTTING_DOWN,
                        S.STOPPED: S.SHUTTING_DOWN, S.SHUTTING_DOWN: "noop", S.TERMINATED: "noop"},
}

# States in which an instance holds host capacity (memory) and a libvirt domain may exist.
ACTIVE = frozenset({S.PENDING, S.RUNNING, S.STOPPING, S.SHUTTING_DOWN})


def check_edge(current: InstanceState, target: InstanceState) -> None:
    if target not in INSTANCE_TRANSITIONS[current]:
        raise ValueError(f"illegal instance transition {current} -> {target}")


class VolumeState(StrEnum):
    CREATING = "creating"
    AVAILABLE = "available"
    IN_USE = "in-use"
    DELETING = "deleting"
    DELETED = "deleted"
    ERROR = "error"


VOLUME_TRANSITIONS: dict[VolumeState, frozenset[VolumeState]] = {
    VolumeState.CREATING: frozenset({VolumeState.AVAILABLE, VolumeState.IN_USE, VolumeState.ERROR}),
    VolumeState.AVAILABLE: frozenset({VolumeState.IN_USE, VolumeState.DELETING}),
    VolumeState.IN_USE: frozenset({VolumeState.AVAILABLE, VolumeState.DELETING}),
    VolumeState.DELETING: frozenset({VolumeState.DELETED}),
    VolumeState.ERROR: frozenset({VolumeState.DELETING}),
    VolumeState.DELETED: frozenset(),
}
