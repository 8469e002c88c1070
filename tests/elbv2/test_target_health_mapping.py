"""``domain.target_health``: ELB's (State, Reason, Description) from a registration, the target's
instance state, the group's settings and what the proxy observed; never ``healthy`` without UP."""

from __future__ import annotations

import itertools

import pytest

from orchestrator.domain.target_health import target_health
from orchestrator.drivers.loadbalancer.driver import ServerHealth

BASE = {"registered": True, "draining": False, "instance_state": "running", "in_use": True, "checks_enabled": True}


def health(observed: ServerHealth | None, **changes: object) -> dict[str, str]:
    return target_health(**{**BASE, **changes}, observed=observed).as_api()  # type: ignore[arg-type]


@pytest.mark.parametrize(("observed", "expected"), [
    (ServerHealth("UP", "L7OK", 200), {"State": "healthy"}),
    (None, {"State": "initial", "Reason": "Elb.RegistrationInProgress",
            "Description": "Target registration is in progress"}),
    (ServerHealth("INIT", ""), {"State": "initial", "Reason": "Elb.InitialHealthChecking",
                                "Description": "Initial health checks in progress"}),
    (ServerHealth("DOWN", "L7STS", 500), {"State": "unhealthy", "Reason": "Target.ResponseCodeMismatch",
                                          "Description": "Health checks failed with these codes: [500]"}),
    (ServerHealth("DOWN", "L4TOUT"), {"State": "unhealthy", "Reason": "Target.Timeout",
                                      "Description": "Request timed out"}),
    (ServerHealth("DOWN", "L7TOUT"), {"State": "unhealthy", "Reason": "Target.Timeout",
                                      "Description": "Request timed out"}),
    (ServerHealth("DOWN", "L4CON"), {"State": "unhealthy", "Reason": "Target.FailedHealthChecks",
                                     "Description": "Health checks failed"}),
    (ServerHealth("DOWN", "L7RSP"), {"State": "unhealthy", "Reason": "Target.FailedHealthChecks",
                                     "Description": "Health checks failed"}),
])
def test_observations_map_to_elb_states(observed: ServerHealth | None, expected: dict[str, str]) -> None:
    assert health(observed) == expected


def test_registration_and_group_come_before_observations() -> None:
    up = ServerHealth("UP", "L7OK", 200)
    assert health(up, registered=False)["Reason"] == "Target.NotRegistered"
    assert health(up, draining=True) == {"State": "draining", "Reason": "Target.DeregistrationInProgress",
                                         "Description": "Target deregistration is in progress"}
    assert health(up, in_use=False)["Reason"] == "Target.NotInUse"
    assert health(up, instance_state="stopped") == {"State": "unused", "Reason": "Target.InvalidState",
                                                    "Description": "Target is in the stopped state"}
    assert health(up, instance_state="terminated")["Reason"] == "Target.InvalidState"
    assert health(up, checks_enabled=False) == {"State": "unavailable", "Reason": "Target.HealthCheckDisabled",
                                                "Description": "Health checks are disabled"}
    assert health(up, instance_state=None) == {"State": "healthy"}  # an ip target


def test_never_healthy_unless_observed_up() -> None:
    statuses = ["UP", "DOWN", "INIT", "DRAIN", "MAINT", "NOCHECK", ""]
    checks = ["", "L7OK", "L7STS", "L4CON", "L4TOUT", "L7TOUT"]
    for status, check, registered, draining, state, in_use, enabled in itertools.product(
            statuses, checks, [True, False], [True, False], ["running", "stopped", "pending", None],
            [True, False], [True, False]):
        observed = ServerHealth(status, check, 200 if check == "L7OK" else 500)
        got = target_health(registered=registered, draining=draining, instance_state=state, in_use=in_use,
                            checks_enabled=enabled, observed=observed)
        if got.state == "healthy":
            assert status == "UP" and registered and not draining and in_use and enabled
    assert target_health(**BASE, observed=None).state != "healthy"  # type: ignore[arg-type]
