"""Fixtures for the compute driver tests: a unique domain prefix, a swept qemu:///system driver
and the guest kernel (from orchestrator.images.kernel, else extracted here for the tests only)."""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import libvirt
import pytest

from orchestrator.drivers.compute.libvirt_driver import LibvirtCompute

QEMU_URI = "qemu:///system"


@dataclass(frozen=True)
class GuestKernel:
    vmlinuz: Path
    modules_dir: Path | None

    def module(self, relpath: str) -> Path | None:
        if self.modules_dir is None:
            return None
        found = sorted(self.modules_dir.glob(f"kernel/{relpath}"))
        return found[0] if found else None


@pytest.fixture
def prefix() -> str:
    return f"ec2dt{secrets.token_hex(2)}-"


def _qemu_usable() -> str | None:
    try:
        conn = libvirt.open(QEMU_URI)
    except libvirt.libvirtError as exc:
        return f"{QEMU_URI} not reachable: {exc}"
    conn.close()
    return None


def sweep(driver: LibvirtCompute, prefix: str) -> None:
    for name in driver.list_domains(prefix):
        driver.destroy(name)
        driver.undefine(name)


@pytest.fixture
def qemu_driver(prefix: str):
    why = _qemu_usable()
    if why:
        pytest.skip(why)
    driver = LibvirtCompute(QEMU_URI, poll_interval=0.1)
    sweep(driver, prefix)
    try:
        yield driver
    finally:
        sweep(driver, prefix)
        driver.close()


def _extract_kernel(dest: Path) -> GuestKernel:
    """Test-only fallback: apt-get download + dpkg-deb -x the Debian cloud kernel."""
    done = sorted(dest.glob("root/boot/vmlinuz-*"))
    if not done:
        dest.mkdir(parents=True, exist_ok=True)
        deps = subprocess.run(["apt-cache", "depends", "linux-image-cloud-amd64"], capture_output=True,
                              text=True, check=True).stdout
        pkg = next(line.split(":", 1)[1].strip() for line in deps.splitlines()
                   if line.strip().startswith("Depends:") and "linux-image-" in line)
        subprocess.run(["apt-get", "download", "-q", pkg], cwd=dest, check=True, capture_output=True)
        deb = sorted(dest.glob(f"{pkg}_*.deb"))[0]
        subprocess.run(["dpkg-deb", "-x", str(deb), str(dest / "root")], check=True)
        deb.unlink()
        done = sorted(dest.glob("root/boot/vmlinuz-*"))
    vmlinuz = done[0]
    release = vmlinuz.name.removeprefix("vmlinuz-")
    modules = dest / "root/lib/modules" / release
    return GuestKernel(vmlinuz, modules if modules.is_dir() else None)


@pytest.fixture(scope="session")
def guest_kernel(tmp_path_factory: pytest.TempPathFactory) -> GuestKernel:
    try:
        from orchestrator.images.kernel import ensure_kernel
    except ImportError:
        ensure_kernel = None
    if ensure_kernel is not None:
        try:
            k = ensure_kernel(Path(os.environ.get("EC2D_CACHE_DIR", "/var/cache/ec2d")))
            mods = getattr(k, "modules_dir", None)
            return GuestKernel(Path(k.vmlinuz), Path(mods) if mods else None)
        except Exception as exc:  # noqa: BLE001 - fall back to a test-only copy
            print(f"ensure_kernel failed ({exc}); extracting a kernel for the tests")
    try:
        return _extract_kernel(tmp_path_factory.mktemp("kernel"))
    except (subprocess.CalledProcessError, StopIteration, IndexError) as exc:
        pytest.skip(f"no guest kernel available: {exc}")


@pytest.fixture
def vm_dir(tmp_path: Path) -> Path:
    """A directory QEMU can read (it may run as an unprivileged user)."""
    for p in (tmp_path, *tmp_path.parents):
        if p == Path("/tmp") or p == Path("/"):
            break
        p.chmod(p.stat().st_mode | 0o755)
    return tmp_path
