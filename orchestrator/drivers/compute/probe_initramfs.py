"""A tiny busybox initramfs that prints a marker on the serial console (probe and tests).

Written as a gzip'd ``newc`` cpio archive by Python itself (device nodes included, no mknod, no
external ``cpio``). Its ``/init`` mounts proc/sys/devtmpfs, prints ``marker`` to the console and
then either powers off at once (``wait_for_power_button=False``: the KVM probe) or loads the
given kernel modules (the ACPI ``button`` and ``evdev`` drivers), waits until every
``/dev/input/event*`` is open for reading, prints ``<marker>-READY`` and powers off when the ACPI
power button is pressed (``virsh shutdown``), on the first event read. Without a power-button driver it simply sleeps until destroyed.
"""

from __future__ import annotations

import gzip
import io
import shutil
import stat
from collections.abc import Sequence
from pathlib import Path

__all__ = ["BUSYBOX", "build_initramfs", "init_script"]

BUSYBOX = Path("/bin/busybox")


def init_script(marker: str, wait_for_power_button: bool, modules: Sequence[str] = ()) -> str:
    lines = [
        "#!/bin/busybox sh",
        "/bin/busybox --install -s /bin",
        "export PATH=/bin",
        "mount -t proc proc /proc",
        "mount -t sysfs sysfs /sys",
        "mount -t devtmpfs devtmpfs /dev 2>/dev/null",
        f"echo '{marker}' > /dev/console",
    ]
    if not wait_for_power_button:
        lines += ["sync", "poweroff -f"]
        return "\n".join(lines) + "\n"
    lines += [f"insmod /lib/modules/{m} 2>/dev/console" for m in modules]
    # READY means "a press now powers off": wait (bounded) for the power button's input device,
    # then print READY only after every listener has its event device open (a press before that
    # would be lost, which under load made graceful power-off tests flaky)
    lines += [
        "n=0",
        "while [ $n -lt 1200 ]; do",
        "  grep -qs 'Power Button' /sys/class/input/event*/device/name && break",
        "  n=$((n+1)); sleep 0.1",
        "done",
        "want=0",
        "for ev in /dev/input/event*; do",
        "  [ -e \"$ev\" ] || continue",
        "  want=$((want+1))",
        "  (exec 3<\"$ev\"; : > /tmp/armed.$want; dd of=/dev/null bs=24 count=1 <&3 2>/dev/null; "
        "echo 'power button' > /dev/console; poweroff -f) &",
        "done",
        "while [ \"$(ls /tmp | grep -c '^armed[.]')\" -lt $want ]; do sleep 0.1; done",
        f"echo '{marker}-READY' > /dev/console",
        "while true; do sleep 3600; done",
    ]
    return "\n".join(lines) + "\n"


class _Cpio:
    """Minimal ``newc`` (SVR4, no CRC) archive writer."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.ino = 1

    def _pad(self) -> None:
        self.buf.write(b"\0" * (-self.buf.tell() % 4))

    def add(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        encoded = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0]
        self.ino += 1
        self.buf.write(b"070701" + b"".join(b"%08X" % f for f in fields))
        self.buf.write(encoded)
        self._pad()
        self.buf.write(data)
        self._pad()

    def finish(self) -> bytes:
        self.add("TRAILER!!!", 0)
        return self.buf.getvalue()


def build_initramfs(dest: Path, marker: str, *, wait_for_power_button: bool = False,
                    modules: Sequence[Path] = (), busybox: Path = BUSYBOX) -> Path:
    """Write the initramfs to ``dest`` (gzip'd cpio) and return ``dest``.

    ``busybox`` must be a static binary (Debian's ``busybox-static``). ``modules`` are ``.ko``
    files loaded in the given order (only used with ``wait_for_power_button``).
    """
    if shutil.which(str(busybox)) is None and not busybox.is_file():
        raise FileNotFoundError(f"{busybox} not found (install busybox-static)")
    archive = _Cpio()
    for d in ("bin", "dev", "proc", "sys", "lib", "lib/modules", "tmp"):
        archive.add(d, stat.S_IFDIR | 0o755)
    archive.add("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
    archive.add("dev/null", stat.S_IFCHR | 0o666, rdev=(1, 3))
    archive.add("bin/busybox", stat.S_IFREG | 0o755, busybox.read_bytes())
    archive.add("bin/sh", stat.S_IFLNK | 0o777, b"busybox")
    names = []
    for mod in modules:
        archive.add(f"lib/modules/{mod.name}", stat.S_IFREG | 0o644, mod.read_bytes())
        names.append(mod.name)
    script = init_script(marker, wait_for_power_button, names)
    archive.add("init", stat.S_IFREG | 0o755, script.encode())
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_bytes(gzip.compress(archive.finish(), compresslevel=6, mtime=0))
    tmp.replace(dest)
    return dest
