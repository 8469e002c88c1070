"""LibvirtCompute against the real qemu:///system with TCG guests (kernel + busybox initramfs).

Every domain is named with the test's unique ``ec2dt<hex>-`` prefix and swept by the
``qemu_driver`` fixture, also when a test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from orchestrator.drivers.compute.config import InterfaceConfig
from orchestrator.drivers.compute.designer import (
    InstanceSpec,
    NicSpec,
    VolumeSpec,
    design_disk,
    design_domain,
)
from orchestrator.drivers.compute.driver import ComputeError, PowerState
from orchestrator.drivers.compute.libvirt_driver import LibvirtCompute
from orchestrator.drivers.compute.probe_initramfs import build_initramfs

from .conftest import GuestKernel

MARKER = "EC2DT-GUEST-UP"
GUEST_DEADLINE = 300.0  # waits end on an event or a console marker; this only bounds a hung guest


def qcow2(path: Path, size: str = "16M") -> str:
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), size], check=True)
    return str(path)


def wait_for(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def make_spec(prefix: str, vm_dir: Path, kernel: GuestKernel, initrd: Path) -> InstanceSpec:
    return InstanceSpec(
        instance_id=f"i-{prefix.strip('-')}000000001",
        domain_name=prefix + "vm",
        instance_type="t3.nano",
        vcpus=1,
        memory_mib=256,
        root_disk=qcow2(vm_dir / "root.qcow2"),
        root_volume_id="vol-0aaaaaaaaaaaaaaaa",
        kernel=str(kernel.vmlinuz),
        initrd=str(initrd),
        cmdline="console=ttyS0 panic=-1",
        volumes=(VolumeSpec("vol-0123456789abcdef0", qcow2(vm_dir / "vol1.qcow2"), "/dev/sdf"),),
        nics=(NicSpec(prefix + "t0", "02:00:00:aa:bb:01"),),
        console_log=str(vm_dir / "console.log"),
    )


def test_real_instance_lifecycle(qemu_driver: LibvirtCompute, prefix: str, vm_dir: Path,
                                 guest_kernel: GuestKernel) -> None:
    modules = [guest_kernel.module("drivers/acpi/button.ko*"), guest_kernel.module("drivers/input/evdev.ko*")]
    acpi = all(m is not None for m in modules) and all(not m.name.endswith((".xz", ".zst")) for m in modules)
    # without the power-button driver the guest just sleeps until it is destroyed
    initrd = build_initramfs(vm_dir / "initrd.gz", MARKER, wait_for_power_button=True,
                             modules=[m for m in modules if m is not None] if acpi else [])
    spec = make_spec(prefix, vm_dir, guest_kernel, initrd)
    cfg = design_domain(spec, "qemu")
    name = spec.domain_name
    ready = f"{MARKER}-READY".encode()

    async def main() -> list[tuple[str, str, str]]:
        loop = asyncio.get_running_loop()
        events: list[tuple[str, str, str]] = []
        arrived = asyncio.Event()

        def on_event(dom: str, event: str, detail: str) -> None:
            if dom == name:
                events.append((dom, event, detail))
                arrived.set()

        async def until_event(event: str, timeout: float = GUEST_DEADLINE) -> tuple[str, str, str]:
            deadline = loop.time() + timeout
            while True:
                hit = next((e for e in events if e[1] == event), None)
                if hit:
                    return hit
                arrived.clear()
                left = deadline - loop.time()
                if left <= 0:
                    raise AssertionError(f"no {event!r} event; got {events}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(arrived.wait(), left)

        def run(fn, *args):  # blocking driver calls go to the thread pool
            return loop.run_in_executor(None, fn, *args)

        qemu_driver.start_events(loop, on_event)
        try:
            await run(qemu_driver.spawn, cfg)
            assert await until_event("started") == (name, "started", "booted")
            assert await run(qemu_driver.state, name) is PowerState.RUNNING
            await run(wait_for, lambda: ready in qemu_driver.console_log(name), GUEST_DEADLINE, "guest marker")
            assert MARKER.encode() in await run(qemu_driver.console_log, name)
            assert await run(qemu_driver.tap_names, name) == [prefix + "t0"]
            live = await run(qemu_driver.get_config, name)
            assert [d.target_dev for d in live.disks] == ["vda", "vdf"]
            assert live.disk("vdf").serial == "vol0123456789abcdef0"

            # live hot-plug of a volume and a NIC, and unplug again
            disk = design_disk(qcow2(vm_dir / "vol2.qcow2"), "vdg", "vol-0bbbbbbbbbbbbbbbb")
            await run(qemu_driver.attach_disk, name, disk)
            live = await run(qemu_driver.get_config, name)
            assert live.disk("vdg") is not None and live.disk("vdg").serial == "vol0bbbbbbbbbbbbbbbb"
            with pytest.raises(ComputeError):
                await run(qemu_driver.attach_disk, name, disk)
            await run(qemu_driver.attach_interface, name,
                      InterfaceConfig(mac="02:00:00:aa:bb:02", target_dev=prefix + "t1"))
            assert await run(qemu_driver.tap_names, name) == [prefix + "t0", prefix + "t1"]
            assert Path(f"/sys/class/net/{prefix}t1").exists()
            detached_nic = await run(qemu_driver.detach_interface, name, "02:00:00:aa:bb:02", GUEST_DEADLINE)
            detached_disk = await run(qemu_driver.detach_disk, name, "vdg", GUEST_DEADLINE)
            assert detached_disk and detached_nic, "the guest (ACPI PCI hotplug) released the devices"
            assert await run(qemu_driver.tap_names, name) == [prefix + "t0"]
            inactive = await run(qemu_driver.get_config, name)
            assert inactive.disk("vdg") is None

            # ACPI reboot: the guest powers off on the button, libvirt restarts it (on_reboot)
            if acpi:
                before = (await run(qemu_driver.console_log, name)).count(ready)
                await run(qemu_driver.reboot, name)
                await run(wait_for, lambda: qemu_driver.console_log(name).count(ready) > before, GUEST_DEADLINE,
                          "second boot after reboot")
                assert await run(qemu_driver.state, name) is PowerState.RUNNING

            # power off: graceful (ACPI power button) when the guest has the button driver. The
            # guest printed READY only once it listens for the button, so the press is not lost;
            # the deadline is generous because TCG guests crawl on a loaded host
            graceful = await run(qemu_driver.power_off, name, acpi, GUEST_DEADLINE)
            assert graceful is acpi
            stopped = await until_event("stopped")
            assert stopped[2] == ("shutdown" if acpi else "destroyed")
            assert await run(qemu_driver.state, name) is PowerState.SHUTOFF
            assert not Path(f"/sys/class/net/{prefix}t0").exists()  # libvirt removed the tap

            # start again from the persistent definition; the console log is appended to
            boots = (await run(qemu_driver.console_log, name)).count(ready)
            await run(qemu_driver.power_on, name)
            await run(wait_for, lambda: qemu_driver.console_log(name).count(ready) > boots, GUEST_DEADLINE,
                      "boot after power on")
            await run(qemu_driver.destroy, name)
            await run(qemu_driver.undefine, name)
            assert await run(qemu_driver.state, name) is PowerState.ABSENT
            await until_event("undefined")
            return events
        finally:
            qemu_driver.stop_events()

    events = asyncio.run(main())
    kinds = [e[1] for e in events]
    assert kinds.index("started") < kinds.index("stopped") < kinds.index("undefined")


def test_spawn_failure_cleans_up(qemu_driver: LibvirtCompute, prefix: str, vm_dir: Path,
                                 guest_kernel: GuestKernel) -> None:
    initrd = build_initramfs(vm_dir / "initrd.gz", MARKER)
    spec = make_spec(prefix, vm_dir, guest_kernel, initrd)
    bad = design_domain(replace(spec, kernel=str(vm_dir / "no-such-kernel")), "qemu")
    with pytest.raises(ComputeError):
        qemu_driver.spawn(bad)
    assert qemu_driver.state(spec.domain_name) is PowerState.ABSENT
    assert qemu_driver.list_domains(prefix) == []


def test_console_log_tail(qemu_driver: LibvirtCompute, prefix: str, vm_dir: Path,
                          guest_kernel: GuestKernel) -> None:
    """The probe-style guest prints the marker and powers off; on_poweroff=destroy keeps the
    definition, and the log stays readable afterwards."""
    initrd = build_initramfs(vm_dir / "initrd.gz", MARKER)
    spec = make_spec(prefix, vm_dir, guest_kernel, initrd)
    qemu_driver.spawn(design_domain(spec, "qemu"))
    wait_for(lambda: qemu_driver.state(spec.domain_name) is PowerState.SHUTOFF, GUEST_DEADLINE, "guest power off")
    out = qemu_driver.console_log(spec.domain_name)
    assert MARKER.encode() in out and b"reboot: Power down" in out
    assert qemu_driver.console_log(spec.domain_name, max_bytes=100) == out[-100:]


def test_events_across_event_loops(qemu_driver: LibvirtCompute, prefix: str, vm_dir: Path,
                                   guest_kernel: GuestKernel) -> None:
    """Events work again on a second asyncio loop (tests, CLI and in-process servers make many)."""
    initrd = build_initramfs(vm_dir / "initrd.gz", MARKER)
    cfg = design_domain(make_spec(prefix, vm_dir, guest_kernel, initrd), "qemu")
    name = cfg.name or ""

    async def define_and_remove() -> list[tuple[str, str, str]]:
        loop = asyncio.get_running_loop()
        seen: list[tuple[str, str, str]] = []
        qemu_driver.start_events(loop, lambda *e: seen.append(e) if e[0] == name else None)
        try:
            await loop.run_in_executor(None, lambda: qemu_driver.conn.defineXML(cfg.to_xml()))
            await loop.run_in_executor(None, qemu_driver.undefine, name)
            for _ in range(100):
                if len(seen) >= 2:
                    break
                await asyncio.sleep(0.05)
            return seen
        finally:
            qemu_driver.stop_events()

    expected = [(name, "defined", "added"), (name, "undefined", "removed")]
    assert asyncio.run(define_and_remove()) == expected
    assert asyncio.run(define_and_remove()) == expected
