"""The system status check's rules (domain/status_checks.py), case by case."""

from __future__ import annotations

import pytest

from orchestrator.domain import status_checks as checks
from orchestrator.domain.status_checks import Action, Observation, Policy

POLICY = Policy(deadline=30.0, max_recoveries=2)
T0 = 1000.0


def run(check, paused=False, console=0, at=T0, auto=True):
    return checks.assess(check, Observation(paused=paused, console_bytes=console), at, POLICY, auto)


def test_a_boot_that_prints_is_ok_and_one_that_stays_silent_is_impaired() -> None:
    boot = checks.booting(T0, console_bytes=500)  # the log holds an earlier boot's 500 bytes
    assert run(boot, console=500, at=T0 + 29)[0]["Status"] == "initializing"
    ok, action = run(boot, console=501, at=T0 + 1)
    assert (ok["Status"], action) == ("ok", None)
    bad, action = run(boot, console=500, at=T0 + 30)
    assert (bad["Status"], bad["Reason"], bad["ImpairedSince"], action) == ("impaired", "no-boot-progress", T0 + 30, None)


def test_printing_while_paused_is_not_progress() -> None:
    boot = checks.booting(T0, console_bytes=0)
    check, _ = run(boot, paused=True, console=10, at=T0 + 5)
    assert check["Status"] == "initializing" and check["PausedSince"] == T0 + 5
    check, _ = run(check, paused=True, console=10, at=T0 + 30)
    assert (check["Status"], check["Reason"]) == ("impaired", "paused")


def test_an_ok_instance_paused_for_the_deadline_is_impaired_and_comes_back_when_resumed() -> None:
    ok, _ = run(checks.booting(T0, 0), console=100, at=T0 + 2)
    check, _ = run(ok, paused=True, console=100, at=T0 + 10)
    assert check["Status"] == "ok" and check["PausedSince"] == T0 + 10
    check, _ = run(check, paused=True, console=100, at=T0 + 39)
    assert check["Status"] == "ok"
    check, action = run(check, paused=True, console=100, at=T0 + 40, auto=False)
    assert (check["Status"], check["Reason"], action) == ("impaired", "paused", None)
    check, action = run(check, paused=True, console=100, at=T0 + 200, auto=False)
    assert (check["Status"], action) == ("impaired", None)  # recovery disabled: left impaired
    back, action = run(check, paused=False, console=100, at=T0 + 201, auto=False)
    assert (back["Status"], back["PausedSince"], back["ImpairedSince"], action) == ("ok", None, None, None)


def test_a_short_pause_is_forgotten() -> None:
    ok, _ = run(checks.booting(T0, 0), console=100, at=T0 + 2)
    check, _ = run(ok, paused=True, console=100, at=T0 + 10)
    check, _ = run(check, paused=False, console=100, at=T0 + 20)
    check, _ = run(check, paused=True, console=100, at=T0 + 45)
    assert check["Status"] == "ok" and check["PausedSince"] == T0 + 45


def test_recovery_resets_then_checks_the_new_boot_and_gives_up_after_max() -> None:
    check, _ = run(checks.booting(T0, 0), console=0, at=T0 + 30)
    assert check["Status"] == "impaired"
    after, action = run(check, console=0, at=T0 + 31)
    assert action is Action.RESET
    assert (after["Status"], after["Recoveries"], after["BootAt"], after["RecoveredAt"]) == (
        "initializing", 1, T0 + 31, T0 + 31)
    after, _ = run(after, console=0, at=T0 + 61)  # the new boot is silent too
    after, action = run(after, console=0, at=T0 + 62)
    assert action is Action.RESET and after["Recoveries"] == 2
    after, _ = run(after, console=0, at=T0 + 92)
    left, action = run(after, console=0, at=T0 + 93)
    assert (left["Status"], action) == ("impaired", None)  # max_recoveries reached
    ok, _ = run(left, console=7, at=T0 + 94)  # it printed after all
    assert (ok["Status"], ok["Recoveries"]) == ("ok", 0)


def test_a_recovered_boot_that_prints_is_ok_and_the_count_starts_over() -> None:
    check, _ = run(checks.booting(T0, 0), console=0, at=T0 + 30)
    after, action = run(check, console=0, at=T0 + 31)
    assert action is Action.RESET
    ok, action = run(after, console=80, at=T0 + 33)
    assert (ok["Status"], ok["Recoveries"], action) == ("ok", 0, None)


@pytest.mark.parametrize(("status", "expected"), [
    ("initializing", ("initializing", "initializing", None)),
    ("ok", ("ok", "passed", None)),
    ("impaired", ("impaired", "failed", T0)),
])
def test_reachability(status: str, expected: tuple) -> None:
    check = {**checks.booting(T0, 0), "Status": status, "ImpairedSince": T0 if status == "impaired" else None}
    assert checks.reachability(check) == expected
    assert checks.reachability(None) == ("ok", "passed", None)


def seen_at(check, cpu, at, console=0):
    return checks.assess(check, Observation(paused=False, console_bytes=console, cpu_seconds=cpu), at, POLICY, True)


def test_a_starved_guest_is_judged_by_the_cpu_time_it_got_not_by_the_clock() -> None:
    """A loaded host gives a TCG guest a sliver of a core: silent for the deadline in wall time
    but having run 5 s is still booting, not hung (a reset would only start it over)."""
    boot = checks.booting(T0, console_bytes=0, cpu=0.0)
    check, action = seen_at(boot, cpu=5.0, at=T0 + 100)
    assert (check["Status"], action) == ("initializing", None)
    check, _ = seen_at(check, cpu=6.0, at=T0 + 101, console=80)
    assert check["Status"] == "ok"


def test_a_guest_that_ran_the_deadline_silent_is_impaired_and_its_reset_keeps_the_cpu_mark() -> None:
    boot = checks.booting(T0, console_bytes=0, cpu=0.0)
    bad, _ = seen_at(boot, cpu=30.0, at=T0 + 31)
    assert (bad["Status"], bad["Reason"]) == ("impaired", "no-boot-progress")
    recovered, action = seen_at(bad, cpu=31.0, at=T0 + 32)
    assert (recovered["Status"], recovered["CpuMark"], action) == ("initializing", 31.0, Action.RESET)
    assert seen_at(recovered, cpu=60.0, at=T0 + 62)[0]["Status"] == "initializing"  # 29 s since the reset
    assert seen_at(recovered, cpu=61.0, at=T0 + 63)[0]["Status"] == "impaired"


def test_a_guest_that_hangs_without_running_is_caught_by_the_wall_clock_backstop() -> None:
    boot = checks.booting(T0, console_bytes=0, cpu=0.0)
    backstop = POLICY.deadline * POLICY.backstop
    assert seen_at(boot, cpu=0.4, at=T0 + backstop - 1)[0]["Status"] == "initializing"
    assert seen_at(boot, cpu=0.4, at=T0 + backstop)[0]["Status"] == "impaired"


def test_without_cpu_time_the_wall_clock_deadline_applies() -> None:
    """A check recorded before CPU marks existed, or a driver that cannot tell."""
    old = checks.booting(T0, console_bytes=0)
    assert seen_at(old, cpu=1.0, at=T0 + 30)[0]["Status"] == "impaired"
    assert seen_at(checks.booting(T0, 0, cpu=0.0), cpu=None, at=T0 + 30)[0]["Status"] == "impaired"
