"""kvm_probe: the cache and /dev/kvm short cuts, and real probe boots on qemu:///system."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.drivers.compute import kvm_probe
from orchestrator.drivers.compute.kvm_probe import MARKER, PROBE_PREFIX, probe_boot, probe_virt_type
from orchestrator.drivers.compute.libvirt_driver import LibvirtCompute

from .conftest import GuestKernel


def test_no_dev_kvm_means_qemu(tmp_path: Path) -> None:
    r = probe_virt_type(tmp_path / "vmlinuz", tmp_path / "probe.json", dev_kvm=tmp_path / "kvm")
    assert (r.virt_type, r.cached) == ("qemu", False)
    assert "does not exist" in r.reason
    assert not (tmp_path / "probe.json").exists()


def test_cached_answer_skips_the_boot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kernel, cache, fake_kvm = tmp_path / "vmlinuz", tmp_path / "probe.json", tmp_path / "kvm"
    kernel.write_bytes(b"k")
    fake_kvm.touch()
    calls: list[str] = []

    def fake_boot(k: Path, virt_type: str, timeout: float, uri: str, workdir: Path | None = None):
        calls.append(virt_type)
        return kvm_probe.BootResult(True, "fake kvm boot", 1.25, b"")

    monkeypatch.setattr(kvm_probe, "probe_boot", fake_boot)
    first = probe_virt_type(kernel, cache, dev_kvm=fake_kvm, uri="test:///default")
    second = probe_virt_type(kernel, cache, dev_kvm=fake_kvm, uri="test:///default")
    assert (first.virt_type, first.cached, second.virt_type, second.cached) == ("kvm", False, "kvm", True)
    assert calls == ["kvm"]
    (entry,) = json.loads(cache.read_text()).values()
    assert entry["virt_type"] == "kvm" and entry["seconds"] == 1.25
    (key,) = json.loads(cache.read_text())
    assert str(kernel) in key and "qemu-" in key  # kernel path | hypervisor version | host release
    probe_virt_type(kernel, cache, dev_kvm=fake_kvm, uri="test:///default", use_cache=False)
    assert calls == ["kvm", "kvm"]


def _leftovers() -> list[str]:
    d = LibvirtCompute()
    try:
        return d.list_domains(PROBE_PREFIX)
    finally:
        d.close()


def test_probe_tcg_boot_prints_marker(qemu_driver: LibvirtCompute, guest_kernel: GuestKernel,
                                      tmp_path: Path) -> None:
    """The probe's method works on a working hypervisor: TCG boots and prints the marker."""
    before = set(_leftovers())
    r = probe_boot(guest_kernel.vmlinuz, "qemu", timeout=60)
    assert r.ok, r.reason
    assert MARKER.encode() in r.console
    print(f"TCG probe boot: {r.reason} ({r.seconds:.2f}s)")
    assert set(_leftovers()) <= before


def test_probe_virt_type_on_this_host(qemu_driver: LibvirtCompute, guest_kernel: GuestKernel,
                                      tmp_path: Path) -> None:
    if not Path("/dev/kvm").exists():
        pytest.skip("no /dev/kvm: nothing to probe")
    before = set(_leftovers())
    cache = tmp_path / "virt-type.json"
    r = probe_virt_type(guest_kernel.vmlinuz, cache, timeout=15)
    print(f"KVM probe: {r}")
    assert r.virt_type in ("kvm", "qemu") and r.reason and not r.cached
    if r.virt_type == "kvm":
        assert "printed" in r.reason
    again = probe_virt_type(guest_kernel.vmlinuz, cache, timeout=15)
    assert (again.virt_type, again.cached) == (r.virt_type, True)
    assert set(_leftovers()) <= before  # the probe domain is always destroyed and undefined
