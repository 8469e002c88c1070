"""Boot benchmark: ec2d-tiny from domain start to SSH banner, against the floor of the same kernel
with a bare initramfs whose /init prints a marker on the serial console and powers off.

    .venv/bin/python bench/boot.py [--runs N] [--cache-dir DIR]

Each ec2d-tiny run is a new instance (new MAC, IP and instance-id: first boot, host keys are
generated). Everything runs in a private namespace created and removed here (TCG, 1 vCPU, 256 MiB).
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "images"))

from boot_steps import breakdown, parse_steps  # noqa: E402
from guest_fixtures import (  # noqa: E402
    Guest,
    InstanceData,
    generate_ed25519,
    guest_network,
    random_mac,
    wait_ssh_banner,
)

from orchestrator.images.cache import default_cache_dir, ensure_image  # noqa: E402

MARKER = "EC2D-FLOOR-MARKER"
FLOOR_INIT = f"""#!/bin/busybox sh
/bin/busybox echo {MARKER} up $(/bin/busybox cut -d' ' -f1 /proc/uptime 2>/dev/null)
/bin/busybox mount -t proc proc /proc 2>/dev/null
/bin/busybox echo {MARKER} uptime $(/bin/busybox cut -d' ' -f1 /proc/uptime)
/bin/busybox poweroff -f
"""


def build_floor_initrd(workdir: Path) -> Path:
    root = workdir / "floor-root"
    for d in ("bin", "dev", "proc"):
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copyfile("/bin/busybox", root / "bin/busybox")
    os.chmod(root / "bin/busybox", 0o755)
    (root / "init").write_text(FLOOR_INIT)
    os.chmod(root / "init", 0o755)
    os.mknod(root / "dev/console", 0o600 | 0o020000, os.makedev(5, 1))
    listing = "\n".join(["."] + sorted(str(p.relative_to(root)) for p in root.rglob("*"))) + "\n"
    cpio = subprocess.run(["cpio", "-o", "-H", "newc", "-R", "0:0", "--quiet"], cwd=root,
                          input=listing.encode(), capture_output=True, check=True).stdout
    out = workdir / "floor-initrd.img"
    out.write_bytes(gzip.compress(cpio, mtime=0))
    return out


def floor_uptime(g: Guest, timeout: float = 30.0) -> float:
    """The kernel's uptime the floor's init printed (the whole line, up to its newline)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(MARKER + r" uptime ([0-9.]+)\s", g.console())
        if m:
            return float(m.group(1))
        time.sleep(0.05)
    raise TimeoutError(f"no uptime line on the floor's console within {timeout} s")


def cpu_seconds(g: Guest) -> float:
    """The CPU time the guest's QEMU process has used so far (libvirt's cpuTime)."""
    return g.dom.info()[4] / 1e9


def p50(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/boot.py needs root (namespaces, libvirt)", file=sys.stderr)
        return 2
    t = time.monotonic()
    image = ensure_image("ec2d-tiny", args.cache_dir or default_cache_dir())
    print(f"image {image.path.name} ready in {time.monotonic() - t:.2f} s (cached or built)")
    _pkey, pub = generate_ed25519()
    tiny: list[float] = []
    floor: list[float] = []
    steps: list[list[tuple[str, float]]] = []
    lag: list[float] = []
    floor_up: list[float] = []  # the floor's kernel uptime at its marker
    floor_cpu: list[float] = []  # QEMU's CPU time at the marker / at the banner: the work done,
    tiny_cpu: list[float] = []   # which a busy host does not inflate the way it does wall time
    with guest_network() as (net, dns, mds, workdir):
        macs = [random_mac() for _ in range(args.runs)]
        dns.close()
        for i, mac in enumerate(macs):
            ip = net.host_ip(20 + i)
            dns.hosts[mac] = ip
            mds.instances[ip] = InstanceData(f"i-0be0c0000000000{i:02x}", mac, ip, public_key=pub)
        dns.start()
        floor_initrd = build_floor_initrd(Path(tempfile.mkdtemp(prefix="floor-", dir=workdir)))
        for i, mac in enumerate(macs):
            ip = net.host_ip(20 + i)
            # floor: same kernel, same domain shape, bare initramfs
            g = Guest(net, workdir, kernel=image.kernel, initrd=floor_initrd, cmdline="console=ttyS0 quiet",
                      base_disk=image.disk, mac=random_mac())
            try:
                t0 = g.start()
                floor.append(g.wait_console(MARKER, timeout=120) - t0)
                floor_cpu.append(cpu_seconds(g))
                floor_up.append(floor_uptime(g))
            finally:
                g.close()
            # ec2d-tiny: start to SSH banner from inside the namespace
            g = Guest(net, workdir, kernel=image.kernel, initrd=image.initrd, cmdline=image.kernel_cmdline or "",
                      base_disk=image.disk, mac=mac)
            try:
                t0 = g.start()
                t1, _banner = wait_ssh_banner(net.ns, ip, timeout=180)
                tiny.append(t1 - t0)
                tiny_cpu.append(cpu_seconds(g))
                g.wait_console("ec2d-tiny: ready", timeout=120)
                marks = dict(parse_steps(g.console()))  # none from an image older than the marks
                if marks:
                    steps.append(list(marks.items()))
                if "dropbear" in marks:
                    # the kernel's clock starts after QEMU and the firmware: what the guest's
                    # uptime does not see (plus the bench's banner polling)
                    lag.append(tiny[-1] - marks["dropbear"])
            finally:
                g.close()
            print(f"run {i + 1}/{args.runs}: floor (start -> marker) {floor[-1]:.2f} s, "
                  f"ec2d-tiny (start -> SSH banner) {tiny[-1]:.2f} s", flush=True)
    print()
    print(f"{'':28}{'p50':>8}{'min':>8}{'max':>8}")
    print(f"{'floor: kernel + bare init':28}{p50(floor):8.2f}{min(floor):8.2f}{max(floor):8.2f}")
    print(f"{'ec2d-tiny: to SSH banner':28}{p50(tiny):8.2f}{min(tiny):8.2f}{max(tiny):8.2f}")
    print(f"{'floor: QEMU CPU time':28}{p50(floor_cpu):8.2f}{min(floor_cpu):8.2f}{max(floor_cpu):8.2f}")
    print(f"{'ec2d-tiny: QEMU CPU time':28}{p50(tiny_cpu):8.2f}{min(tiny_cpu):8.2f}{max(tiny_cpu):8.2f}")
    print(f"ratio ec2d-tiny / floor (p50): {p50(tiny) / p50(floor):.2f}x   (runs: {args.runs}, TCG, 1 vCPU)")
    print(f"ratio of CPU time (p50): {p50(tiny_cpu) / p50(floor_cpu):.2f}x")
    print()
    if floor_up:
        print(f"{'floor: uptime at its marker':28}{p50(floor_up):8.2f}   (the same kernel, a bare initramfs)")
    if steps:
        print("\n".join(breakdown(steps)))
    if lag:
        print(f"{'QEMU + firmware + polling':28}{'':8}{p50(lag):10.2f}{max(lag):10.2f}"
              "   (wall to banner - uptime at dropbear)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
