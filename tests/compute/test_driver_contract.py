"""The ComputeDriver contract, run against FakeCompute and LibvirtCompute on test:///default
(libvirt's in-process test driver: real libvirt semantics, no QEMU). Device hot-plug and events
are not supported by the test driver; they are covered on the fake here and on QEMU in
test_libvirt_qemu.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from orchestrator.drivers.compute.config import DomainConfig, InterfaceConfig
from orchestrator.drivers.compute.designer import InstanceSpec, NicSpec, design_disk, design_domain
from orchestrator.drivers.compute.driver import (
    ComputeDriver,
    ComputeError,
    DomainExists,
    DomainNotFound,
    PowerState,
)
from orchestrator.drivers.compute.fake import FakeCompute
from orchestrator.drivers.compute.libvirt_driver import LibvirtCompute, event_names


def make_config(name: str, tap: str = "ec2dtc0") -> DomainConfig:
    spec = InstanceSpec(instance_id="i-" + name, domain_name=name, instance_type="t3.nano",
                        vcpus=1, memory_mib=128, root_disk="/nonexistent/root.qcow2", kernel="/k",
                        nics=(NicSpec(tap, "02:00:00:00:00:01"),))
    return design_domain(spec, "qemu")


@pytest.fixture(params=["fake", "test-driver"])
def driver(request: pytest.FixtureRequest, prefix: str) -> Iterator[ComputeDriver]:
    d: ComputeDriver = FakeCompute(boot_line=False) if request.param == "fake" else LibvirtCompute("test:///default")
    try:
        yield d
    finally:
        if isinstance(d, LibvirtCompute):
            for n in d.list_domains(prefix):
                d.destroy(n)
                d.undefine(n)
        d.close()


def test_spawn_state_list(driver: ComputeDriver, prefix: str) -> None:
    name = prefix + "a"
    assert driver.state(name) is PowerState.ABSENT
    driver.spawn(make_config(name))
    assert driver.state(name) is PowerState.RUNNING
    driver.spawn(make_config(prefix + "b"))
    assert driver.list_domains(prefix) == [prefix + "a", prefix + "b"]
    assert driver.list_domains(prefix + "b") == [prefix + "b"]
    assert driver.get_config(name).name == name
    assert driver.tap_names(name) == ["ec2dtc0"]


def test_states_of_every_domain_at_once(driver: ComputeDriver, prefix: str) -> None:
    assert driver.states(prefix) == {}
    driver.spawn(make_config(prefix + "a"))
    driver.spawn(make_config(prefix + "b"))
    driver.power_off(prefix + "b", graceful=False, timeout=1)
    assert driver.states(prefix) == {prefix + "a": PowerState.RUNNING, prefix + "b": PowerState.SHUTOFF}
    assert driver.states(prefix + "b") == {prefix + "b": PowerState.SHUTOFF}
    assert driver.states(prefix) == {n: driver.state(n) for n in driver.list_domains(prefix)}


def test_spawn_refuses_existing_name_and_keeps_it(driver: ComputeDriver, prefix: str) -> None:
    name = prefix + "a"
    driver.spawn(make_config(name))
    with pytest.raises(DomainExists):
        driver.spawn(make_config(name))
    assert driver.state(name) is PowerState.RUNNING


def test_power_cycle(driver: ComputeDriver, prefix: str) -> None:
    name = prefix + "a"
    driver.spawn(make_config(name))
    assert driver.power_off(name, graceful=False, timeout=1) is False
    assert driver.state(name) is PowerState.SHUTOFF
    assert driver.power_off(name, graceful=True, timeout=1) is True  # already off: no-op
    driver.power_on(name)
    driver.power_on(name)  # idempotent
    assert driver.state(name) is PowerState.RUNNING
    driver.reboot(name)
    assert driver.power_off(name, graceful=True, timeout=5) is True
    assert driver.state(name) is PowerState.SHUTOFF
    with pytest.raises(ComputeError):
        driver.reboot(name)


def test_destroy_undefine_tolerate_absence(driver: ComputeDriver, prefix: str) -> None:
    name = prefix + "a"
    driver.destroy(name)
    driver.undefine(name)
    driver.spawn(make_config(name))
    driver.destroy(name)
    driver.destroy(name)
    assert driver.state(name) is PowerState.SHUTOFF
    driver.undefine(name)
    driver.undefine(name)
    assert driver.state(name) is PowerState.ABSENT
    assert driver.list_domains(prefix) == []


def test_missing_domain_errors(driver: ComputeDriver, prefix: str) -> None:
    name = prefix + "missing"
    for call in (lambda: driver.power_on(name), lambda: driver.power_off(name),
                 lambda: driver.get_config(name), lambda: driver.tap_names(name),
                 lambda: driver.console_log(name), lambda: driver.reboot(name)):
        with pytest.raises(DomainNotFound):
            call()


def test_console_log_empty_without_output(driver: ComputeDriver, prefix: str) -> None:
    driver.spawn(make_config(prefix + "a"))
    assert driver.console_log(prefix + "a") == b""


# ------------------------------------------------------------------ fake only


def test_fake_spawn_failure_leaves_nothing() -> None:
    fake = FakeCompute()
    fake.fail_next("spawn")
    with pytest.raises(ComputeError):
        fake.spawn(make_config("x"))
    assert fake.state("x") is PowerState.ABSENT
    fake.spawn(make_config("x"))  # retry works
    assert fake.state("x") is PowerState.RUNNING


def test_fake_devices_and_console() -> None:
    fake = FakeCompute()
    fake.spawn(make_config("x"))
    fake.attach_disk("x", design_disk("/v.qcow2", "vdf", "vol-0123"))
    with pytest.raises(ComputeError):
        fake.attach_disk("x", design_disk("/w.qcow2", "vdf"))
    assert [d.target_dev for d in fake.get_config("x").disks] == ["vda", "vdf"]
    assert fake.detach_disk("x", "vdf") is True
    with pytest.raises(ComputeError):
        fake.detach_disk("x", "vdf")
    fake.attach_interface("x", InterfaceConfig(mac="02:00:00:00:00:02", target_dev="ec2dtc1"))
    assert fake.tap_names("x") == ["ec2dtc0", "ec2dtc1"]
    fake.domains["x"].hold_devices = True
    assert fake.detach_interface("x", "02:00:00:00:00:02") is False
    fake.domains["x"].hold_devices = False
    assert fake.detach_interface("x", "02:00:00:00:00:02") is True
    fake.write_console("x", b"a" * 10 + b"END")
    assert fake.console_log("x", max_bytes=3) == b"END"


def test_fake_graceful_refused_means_destroyed() -> None:
    fake = FakeCompute()
    fake.spawn(make_config("x"))
    fake.domains["x"].ignore_acpi = True
    assert fake.power_off("x", graceful=True, timeout=0.1) is False
    assert fake.state("x") is PowerState.SHUTOFF


def test_fake_events() -> None:
    async def main() -> list[tuple[str, str, str]]:
        fake = FakeCompute()
        seen: list[tuple[str, str, str]] = []
        fake.start_events(asyncio.get_running_loop(), lambda *e: seen.append(e))
        fake.spawn(make_config("x"))
        fake.power_off("x")
        fake.power_on("x")
        fake.crash("x")
        fake.destroy("x")
        fake.undefine("x")
        await asyncio.sleep(0)
        fake.stop_events()
        return seen

    assert asyncio.run(main()) == [
        ("x", "defined", "added"), ("x", "started", "booted"), ("x", "stopped", "shutdown"),
        ("x", "started", "booted"), ("x", "stopped", "crashed"), ("x", "undefined", "removed"),
    ]


def test_event_names() -> None:
    import libvirt

    assert event_names(libvirt.VIR_DOMAIN_EVENT_STARTED, 0) == ("started", "booted")
    assert event_names(libvirt.VIR_DOMAIN_EVENT_STOPPED, 0) == ("stopped", "shutdown")
    assert event_names(libvirt.VIR_DOMAIN_EVENT_STOPPED, 1) == ("stopped", "destroyed")
    assert event_names(libvirt.VIR_DOMAIN_EVENT_STOPPED, 2) == ("stopped", "crashed")
    assert event_names(libvirt.VIR_DOMAIN_EVENT_SHUTDOWN, 1) == ("shutdown", "guest")
    assert event_names(99, 7) == ("unknown-99", "unknown-7")
