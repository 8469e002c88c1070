"""Does KVM really work on this host? Boot a tiny guest under it and see (cached per host).

``/dev/kvm`` existing proves nothing: on some hosts (the development and CI machines among them)
``KVM_CREATE_VM`` works but guests abort (``-cpu host``/``max``: ``failed to set MSR 0x10a``,
arch-capabilities) or crawl through kernel decompression and die with ``KVM internal error.
Suberror: 1``. So the probe boots the project's own kernel with a busybox initramfs whose ``/init``
prints ``EC2D-PROBE-OK`` on the serial console and powers off, as a libvirt ``type='kvm'`` domain
with the CPU mode real KVM instances get (``host-passthrough``). The marker within ``timeout``
seconds -> 'kvm'; anything else (start error, crash, timeout, ``KVM internal error`` in the QEMU
log) -> 'qemu' (TCG) with the reason. The probe domain (``ec2dprobe-<hex>``) is always destroyed
and undefined.

The answer is cached in a JSON file keyed by kernel path + hypervisor (QEMU) version + host kernel
release, so a host probes once; an flock serialises concurrent probes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from orchestrator.drivers.compute.config import ConsoleConfig, DomainConfig, SerialConfig
from orchestrator.drivers.compute.driver import ComputeError, PowerState
from orchestrator.drivers.compute.libvirt_driver import LibvirtCompute, read_tail
from orchestrator.drivers.compute.probe_initramfs import build_initramfs
from orchestrator.images.kernel import ensure_kernel

__all__ = [
    "MARKER",
    "PROBE_PREFIX",
    "BootResult",
    "ProbeResult",
    "probe_boot",
    "probe_host",
    "probe_virt_type",
]

log = logging.getLogger(__name__)

MARKER = "EC2D-PROBE-OK"
PROBE_PREFIX = "ec2dprobe-"
QEMU_LOG_DIR = Path("/var/log/libvirt/qemu")


@dataclass(frozen=True)
class ProbeResult:
    virt_type: str  # 'kvm' | 'qemu'
    reason: str
    seconds: float  # how long the probe took when it ran (not the cache lookup)
    cached: bool = False


@dataclass(frozen=True)
class BootResult:
    ok: bool  # the marker appeared on the serial console
    reason: str
    seconds: float
    console: bytes


def _probe_config(name: str, virt_type: str, kernel: Path, initrd: Path, log_file: Path) -> DomainConfig:
    return DomainConfig(
        name=name,
        virt_type=virt_type,
        memory_mib=256,
        vcpus=1,
        arch="x86_64",
        machine="pc",
        kernel=str(kernel),
        initrd=str(initrd),
        cmdline="console=ttyS0 panic=-1",
        acpi=True,
        apic=True,
        cpu_mode="host-passthrough" if virt_type == "kvm" else "maximum",
        clock_offset="utc",
        on_poweroff="destroy",
        on_reboot="destroy",
        on_crash="destroy",
        serials=[SerialConfig(type="pty", log_file=str(log_file), log_append=False)],
        consoles=[ConsoleConfig()],
        memballoon_model="none",
    )


def _qemu_log_tail(name: str) -> str:
    return read_tail(QEMU_LOG_DIR / f"{name}.log", 16 * 1024).decode(errors="replace")


def _failure_reason(prefix: str, name: str) -> str:
    qlog = _qemu_log_tail(name)
    for needle in ("KVM internal error", "failed to set MSR", "kvm run failed", "KVM: entry failed"):
        for line in qlog.splitlines():
            if needle in line:
                return f"{prefix}: {line.strip()}"
    last = [ln.strip() for ln in qlog.splitlines() if ln.strip()][-1:]
    return prefix + (f" (qemu log: {last[0]})" if last else "")


def probe_boot(kernel: Path, virt_type: str, timeout: float = 20.0, uri: str = "qemu:///system",
               workdir: Path | None = None, marker: str = MARKER) -> BootResult:
    """Boot ``kernel`` + the probe initramfs as a ``virt_type`` domain; wait for ``marker``."""
    driver = LibvirtCompute(uri)
    name = PROBE_PREFIX + secrets.token_hex(4)
    tmp = Path(tempfile.mkdtemp(prefix=name, dir=workdir))
    tmp.chmod(0o755)  # QEMU may run as an unprivileged user
    start = time.monotonic()
    console = b""
    try:
        initrd = build_initramfs(tmp / "initrd.gz", marker)
        console_path = tmp / "console.log"
        cfg = _probe_config(name, virt_type, kernel, initrd, console_path)
        try:
            driver.spawn(cfg)
        except ComputeError as exc:
            reason = _failure_reason(f"{virt_type} domain did not start: {exc.message}", name)
            return BootResult(False, reason, time.monotonic() - start, b"")
        deadline = start + timeout
        while True:
            console = read_tail(console_path, 1 << 20)
            if marker.encode() in console:
                secs = time.monotonic() - start
                return BootResult(True, f"{virt_type} guest printed {marker} in {secs:.1f}s", secs, console)
            state = driver.state(name)
            if state not in (PowerState.RUNNING, PowerState.PAUSED, PowerState.NOSTATE):
                # one more look: the marker may have landed just before the guest powered off
                console = read_tail(console_path, 1 << 20)
                if marker.encode() in console:
                    continue
                reason = _failure_reason(f"{virt_type} guest stopped ({state}) without {marker}", name)
                return BootResult(False, reason, time.monotonic() - start, console)
            if "KVM internal error" in _qemu_log_tail(name):
                return BootResult(False, _failure_reason("KVM internal error", name),
                                  time.monotonic() - start, console)
            if time.monotonic() >= deadline:
                lines = [ln.strip() for ln in console.decode(errors="replace").splitlines() if ln.strip()]
                seen = f"last console line: {lines[-1]!r}" if lines else "no console output"
                return BootResult(False, f"no {marker} from the {virt_type} guest within {timeout:.0f}s"
                                  f" ({seen})", time.monotonic() - start, console)
            time.sleep(0.1)
    finally:
        try:
            driver.destroy(name)
            driver.undefine(name)
        finally:
            driver.close()
            shutil.rmtree(tmp, ignore_errors=True)


def _cache_key(kernel: Path, uri: str) -> str:
    try:
        import libvirt

        conn = libvirt.open(uri)
        try:
            v = conn.getVersion()
        finally:
            conn.close()
        hv = f"{v // 1000000}.{v // 1000 % 1000}.{v % 1000}"
    except Exception:  # noqa: BLE001 - a key without the version still works
        hv = "unknown"
    return f"{Path(kernel).resolve()}|qemu-{hv}|{os.uname().release}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_cache(cache_file: Path) -> dict[str, dict]:
    try:
        data = json.loads(cache_file.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def probe_virt_type(kernel: Path, cache_file: Path, timeout: float = 20.0, *,
                    uri: str = "qemu:///system", dev_kvm: Path = Path("/dev/kvm"),
                    use_cache: bool = True) -> ProbeResult:
    """Decide 'kvm' or 'qemu' (TCG) for this host; see the module docstring."""
    if not dev_kvm.exists():
        return ProbeResult("qemu", f"{dev_kvm} does not exist", 0.0)
    key = _cache_key(kernel, uri)
    with _locked(cache_file.with_name(cache_file.name + ".lock")):
        if use_cache:
            hit = _read_cache(cache_file).get(key)
            if hit and hit.get("virt_type") in ("kvm", "qemu"):
                return ProbeResult(hit["virt_type"], hit.get("reason", ""), float(hit.get("seconds", 0.0)),
                                   cached=True)
        boot = probe_boot(kernel, "kvm", timeout, uri, workdir=cache_file.parent)
        result = ProbeResult("kvm" if boot.ok else "qemu", boot.reason, round(boot.seconds, 2))
        log.info("KVM probe: %s (%s, %.1fs)", result.virt_type, result.reason, result.seconds)
        data = _read_cache(cache_file)
        entry = asdict(result)
        entry.pop("cached")
        entry["probed_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        data[key] = entry
        tmp = cache_file.with_name(cache_file.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        tmp.replace(cache_file)
        return result


def probe_host(cache_dir: Path | None = None, timeout: float = 20.0) -> ProbeResult:
    """``probe_virt_type`` with the project's kernel (``orchestrator.images.kernel``) and the
    cache file ``<cache_dir>/virt-type.json`` (cache_dir: $EC2D_CACHE_DIR or /var/cache/ec2d)."""
    cache_dir = Path(cache_dir or os.environ.get("EC2D_CACHE_DIR", "/var/cache/ec2d"))
    kernel = ensure_kernel(cache_dir)
    return probe_virt_type(Path(kernel.vmlinuz), cache_dir / "virt-type.json", timeout)
