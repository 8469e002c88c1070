"""ELB's target health (DescribeTargetHealth's ``TargetHealth``) from what ec2d observed, pure.

Inputs: the registration (when it was registered, whether and until when it drains), the target
instance's state (None for an ``ip`` target), the target group's health settings, whether a listener
uses the group, and what the proxy's checks observed (``drivers.loadbalancer.driver.ServerHealth``,
None when no proxy has the server yet). The output is ELB's (State, Reason, Description) triple;
``healthy`` only when a proxy's checks observed the server UP: never on hope.

States and reasons (ELB's "Target health status" documentation): ``initial`` with
``Elb.RegistrationInProgress`` (not yet in a proxy) or ``Elb.InitialHealthChecking`` (checks running,
none concluded); ``healthy``; ``unhealthy`` with ``Target.ResponseCodeMismatch`` ("Health checks
failed with these codes: [500]"), ``Target.Timeout`` ("Request timed out"),
``Target.FailedHealthChecks`` ("Health checks failed"); ``unused`` with ``Target.NotRegistered``,
``Target.NotInUse``, ``Target.InvalidState``; ``draining`` with ``Target.DeregistrationInProgress``;
``unavailable`` with ``Target.HealthCheckDisabled``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

INITIAL, HEALTHY, UNHEALTHY, UNUSED = "initial", "healthy", "unhealthy", "unused"
DRAINING, UNAVAILABLE = "draining", "unavailable"

DESCRIPTIONS = {
    "Elb.RegistrationInProgress": "Target registration is in progress",
    "Elb.InitialHealthChecking": "Initial health checks in progress",
    "Target.Timeout": "Request timed out",
    "Target.FailedHealthChecks": "Health checks failed",
    "Target.NotRegistered": "Target is not registered to the target group",
    "Target.NotInUse": "Target group is not configured to receive traffic from the load balancer",
    "Target.InvalidState": "Target is in the stopped state",
    "Target.DeregistrationInProgress": "Target deregistration is in progress",
    "Target.HealthCheckDisabled": "Health checks are disabled",
}
TIMEOUTS = frozenset({"L4TOUT", "L6TOUT", "L7TOUT", "SOCKERR"})
USABLE_INSTANCE_STATES = frozenset({"running"})


class Observed(Protocol):
    """``drivers.loadbalancer.driver.ServerHealth`` (structurally: the domain imports no driver)."""

    status: str
    check: str
    code: int | None


@dataclass(frozen=True)
class Health:
    state: str
    reason: str | None = None
    description: str | None = None

    def as_api(self) -> dict[str, str]:
        out = {"State": self.state}
        if self.reason is not None:
            out["Reason"] = self.reason
        if self.description is not None:
            out["Description"] = self.description
        return out


def _with(state: str, reason: str, description: str | None = None) -> Health:
    return Health(state, reason, description if description is not None else DESCRIPTIONS[reason])


def not_registered() -> Health:
    return _with(UNUSED, "Target.NotRegistered")


def target_health(*, registered: bool, draining: bool, instance_state: str | None, in_use: bool,
                  checks_enabled: bool, observed: Observed | None) -> Health:
    """ELB's health of one target (see the module's docstring)."""
    if not registered:
        return not_registered()
    if draining:
        return _with(DRAINING, "Target.DeregistrationInProgress")
    if not in_use:
        return _with(UNUSED, "Target.NotInUse")
    if instance_state is not None and instance_state not in USABLE_INSTANCE_STATES:
        if instance_state == "pending":
            return _with(INITIAL, "Elb.RegistrationInProgress")
        return Health(UNUSED, "Target.InvalidState", f"Target is in the {instance_state} state")
    if not checks_enabled:
        return _with(UNAVAILABLE, "Target.HealthCheckDisabled")
    if observed is None:
        return _with(INITIAL, "Elb.RegistrationInProgress")
    return _from_checks(observed)


def _from_checks(observed: Observed) -> Health:
    status, check = observed.status, observed.check
    if status == "UP":
        return Health(HEALTHY)
    if status in ("INIT", "NOCHECK", "") or (status != "DOWN" and not check):
        return _with(INITIAL, "Elb.InitialHealthChecking")
    if status == "DRAIN":
        return _with(DRAINING, "Target.DeregistrationInProgress")
    if status == "MAINT":
        return _with(UNUSED, "Target.NotInUse")
    # DOWN: why the last check failed
    if check == "L7STS" and observed.code is not None:
        return _with(UNHEALTHY, "Target.ResponseCodeMismatch",
                     f"Health checks failed with these codes: [{observed.code}]")
    if check in TIMEOUTS:
        return _with(UNHEALTHY, "Target.Timeout")
    return _with(UNHEALTHY, "Target.FailedHealthChecks")
