"""The ec2d-tiny image: busybox + dropbear on Debian's cloud kernel, a CirrOS-like guest.

Everything comes from Debian packages (``linux-image-cloud-amd64`` through ``kernel.py``,
``busybox-static``, ``dropbear-bin`` and ``wide-dhcpv6-client``'s ``dhcp6c`` as installed on the
host) plus the recipe data under
``images/tiny/`` (init scripts, udhcpc script, /etc files). Output, in
``cache_dir/images/ec2d-tiny-<key12>/``:

- ``disk.qcow2``: an ext4 root filesystem (``mkfs.ext4 -d``, no loop mounts) converted to qcow2;
- ``vmlinuz`` and ``initrd.img``: the kernel and a small initramfs that loads the virtio modules
  and switch_roots into ``root=/dev/vda`` (EC2's old AKI/ARI pair, kept beside the disk);
- ``manifest.json``.

The cache key is the sha256 of the recipe files, the package versions, the fingerprint of the
host's CA and BUILDER_VERSION, so a change to any of them gives a new directory; an unchanged input
set finds the old one.

The image trusts the host's CA (``orchestrator/tls/service_ca``: it issues the certificate of ec2d's
in-VPC service endpoint): it is the whole of ``/etc/ssl/certs/ca-certificates.crt`` (the path
Debian's and most clients' OpenSSL builds read) and also ``/etc/ssl/certs/ec2d-ca.pem``. Nothing
else is in the bundle (the image had no CA bundle before).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from orchestrator.images._proc import (
    ImageError,
    direct_kernel_manifest,
    dpkg_installed_version,
    locked,
    publish_image,
    run,
)
from orchestrator.images.kernel import Kernel, ensure_kernel
from orchestrator.tls import service_ca

NAME = "ec2d-tiny"
DESCRIPTION = "ec2d-tiny: busybox + dropbear on the Debian 12 cloud kernel (CirrOS-like test image)"
BUILDER_VERSION = "ec2d-tiny-builder-4"
RECIPE_DIR = Path(__file__).resolve().parents[2] / "images" / "tiny"
ROOT_SIZE_MIB = 128
KERNEL_CMDLINE = "console=ttyS0 root=/dev/vda rw quiet"
# Fixed timestamps inside the filesystem and the initramfs (reproducible output).
SOURCE_DATE_EPOCH = 1767225600  # 2026-01-01T00:00:00Z
EC2_USER_UID = 1000
WHEEL_GID = 10
BUSYBOX = Path("/bin/busybox")
DROPBEAR_BINARIES = (Path("/usr/sbin/dropbear"), Path("/usr/bin/dropbearkey"), Path("/usr/bin/dbclient"))
DHCP6C = Path("/usr/sbin/dhcp6c")  # wide-dhcpv6-client: busybox-static has no DHCPv6 client
PACKAGES = ("busybox-static", "dropbear-bin", "wide-dhcpv6-client")
CA_BUNDLE = Path("etc/ssl/certs/ca-certificates.crt")
CA_FILE = Path("etc/ssl/certs/ec2d-ca.pem")

Progress = Callable[[str], None]

# Recipe files that must be executable in the guest (relative to images/tiny/).
_EXECUTABLE = re.compile(r"^(initramfs/init|rootfs/etc/init\.d/.*|rootfs/etc/acpi/.*/.*|rootfs/usr/bin/.*"
                         r"|rootfs/usr/lib/ec2d-tiny/udhcpc\.script)$")
# busybox.conf is read only by the setuid copy (euid 0): the Debian busybox 1.35 build crashes
# in unprivileged applets when it can read a SUID config, so keep it root-only.
_PRIVATE = {"rootfs/etc/shadow": 0o600, "rootfs/etc/busybox.conf": 0o600}


def _noop(_: str) -> None:
    pass


def recipe_files(recipe_dir: Path = RECIPE_DIR) -> list[Path]:
    """All files of the recipe, relative to ``recipe_dir``, sorted."""
    if not recipe_dir.is_dir():
        raise ImageError(f"recipe directory {recipe_dir} is missing")
    return sorted(p.relative_to(recipe_dir) for p in recipe_dir.rglob("*") if p.is_file())


def _lib_packages(binaries: tuple[Path, ...]) -> dict[str, str]:
    """Debian packages (and versions) of the shared libraries the binaries need."""
    libs = sorted({lib for b in binaries for lib in _ldd(b)})
    candidates: set[str] = set()
    for lib in libs:
        for p in (lib, lib.resolve()):  # usrmerge: dpkg may know the file under /lib or /usr/lib
            s = str(p)
            candidates.update({s, s.removeprefix("/usr") if s.startswith("/usr/") else "/usr" + s})
    # dpkg -S exits 1 when some paths are unknown (the other usrmerge spelling) but lists the rest
    proc = subprocess.run(["dpkg", "-S", *sorted(candidates)], capture_output=True, text=True, check=False)
    pkgs: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        pkg = line.split(":", 1)[0].split(",")[0].strip()  # "libc6:amd64: /path" -> libc6
        version = dpkg_installed_version(pkg)
        if version:
            pkgs[pkg] = version
    return dict(sorted(pkgs.items()))


def gather_inputs(kernel: Kernel, ca_sha256: str) -> dict[str, object]:
    """Versions of everything the image is made of (recorded in the manifest, part of the key);
    ``ca_sha256`` is the host CA's fingerprint."""
    packages: dict[str, str] = {"linux-image-cloud-amd64": kernel.version, kernel.package: kernel.version}
    for pkg in PACKAGES:
        version = dpkg_installed_version(pkg)
        if version is None:
            raise ImageError(f"Debian package {pkg} is not installed (apt-get install {pkg})")
        packages[pkg] = version
    return {
        "packages": packages,
        "libraries": _lib_packages((*DROPBEAR_BINARIES, DHCP6C)),
        "kernel_release": kernel.release,
        "ca_sha256": ca_sha256,
    }


def cache_key(recipe_dir: Path, inputs: dict[str, object], builder_version: str = BUILDER_VERSION) -> str:
    """sha256 over the recipe files (path + content), the input versions and the builder version."""
    h = hashlib.sha256()
    h.update(f"builder {builder_version}\n".encode())
    for rel in recipe_files(recipe_dir):
        data = (recipe_dir / rel).read_bytes()
        h.update(f"file {rel.as_posix()} {len(data)}\n".encode())
        h.update(data)
    h.update(json.dumps(inputs, sort_keys=True).encode())
    return h.hexdigest()


def _ldd(binary: Path) -> list[Path]:
    out = run(["ldd", binary])
    libs = []
    for line in out.splitlines():
        m = re.search(r"(/\S+)\s+\(0x", line)
        if m:
            libs.append(Path(m.group(1)))
    return libs


def _copy_file(src: Path, dst: Path, mode: int | None = None) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src.resolve(), dst)
    os.chmod(dst, mode if mode is not None else stat.S_IMODE(src.resolve().stat().st_mode))


def _recipe_mode(rel: str) -> int:
    if rel in _PRIVATE:
        return _PRIVATE[rel]
    return 0o755 if _EXECUTABLE.match(rel) else 0o644


def _module_list(recipe_dir: Path) -> list[str]:
    names = []
    for line in (recipe_dir / "modules.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line)
    return names


def _find_module(kernel: Kernel, name: str) -> Path | None:
    for pattern in (f"{name}.ko", f"{name}.ko.xz", f"{name.replace('_', '-')}.ko", f"{name.replace('-', '_')}.ko"):
        hits = sorted(kernel.modules_dir.rglob(pattern))
        if hits:
            return hits[0]
    return None


def _builtin_modules(kernel: Kernel) -> set[str]:
    f = kernel.modules_dir / "modules.builtin"
    if not f.is_file():
        return set()
    return {Path(line.strip()).name.removesuffix(".ko").replace("-", "_") for line in f.read_text().splitlines()}


def _stage_rootfs(root: Path, kernel: Kernel, recipe_dir: Path, modules: list[tuple[str, Path]]) -> None:
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "usr/lib/ec2d-tiny", "lib", "lib64", "etc/dropbear",
              "proc", "sys", "dev", "run", "tmp", "mnt", "var/log", "var/lib/cloud/instances", "var/tmp",
              "root", "home/ec2-user/.ssh", "var/lib/dhcpv6"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    os.chmod(root / "var/tmp", 0o1777)
    os.chmod(root / "root", 0o700)
    _install_busybox(root)
    # The sudo mechanism (see images/tiny/rootfs/usr/bin/sudo): setuid-root busybox for group wheel.
    suid = root / "usr/lib/ec2d-tiny/busybox-suid"
    _copy_file(BUSYBOX, suid, 0o750)
    os.chown(suid, 0, WHEEL_GID)
    os.chmod(suid, 0o4750)
    # dropbear, the DHCPv6 client and their shared libraries
    for binary in (*DROPBEAR_BINARIES, DHCP6C):
        _copy_file(binary, root / binary.relative_to("/"), 0o755)
        for lib in _ldd(binary):
            dst = root / lib.relative_to("/")
            if not dst.exists():
                _copy_file(lib, dst, 0o755)
    # recipe files
    for rel in recipe_files(recipe_dir):
        relstr = rel.as_posix()
        if not relstr.startswith("rootfs/"):
            continue
        dst = root / rel.relative_to("rootfs")
        if dst.is_symlink() or dst.exists():
            dst.unlink()
        _copy_file(recipe_dir / rel, dst, _recipe_mode(relstr))
    # kernel modules (the initramfs loads them; kept on the root disk too for modprobe/lsmod)
    mod_root = root / "lib/modules" / kernel.release
    for _name, src in modules:
        _copy_file(src, mod_root / src.relative_to(kernel.modules_dir), 0o644)
    for f in ("modules.builtin", "modules.builtin.modinfo", "modules.order"):
        if (kernel.modules_dir / f).is_file():
            _copy_file(kernel.modules_dir / f, mod_root / f, 0o644)
    run(["depmod", "-b", root, kernel.release])
    # the login user
    home = root / "home/ec2-user"
    for p in (home, home / ".ssh"):
        os.chown(p, EC2_USER_UID, EC2_USER_UID)
    os.chmod(home, 0o755)
    os.chmod(home / ".ssh", 0o700)
    # minimal device nodes for the time before devtmpfs is mounted
    os.mknod(root / "dev/console", 0o600 | stat.S_IFCHR, os.makedev(5, 1))
    os.mknod(root / "dev/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))


def stage_ca(root: Path, ca_pem: bytes) -> None:
    """Put the host's CA into the root filesystem at ``root`` as the system CA bundle."""
    for rel in (CA_BUNDLE, CA_FILE):
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(ca_pem)
        os.chmod(dst, 0o644)


def _install_busybox(root: Path) -> None:
    """busybox and a link for each of its applets, made here once: `busybox --install -s` in the
    guest costs hundreds of symlinks' worth of TCG time at every boot."""
    _copy_file(BUSYBOX, root / "bin/busybox", 0o755)
    for applet in run([BUSYBOX, "--list-full"]).split():
        link = root / applet
        if link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("/bin/busybox")


def _stage_initramfs(root: Path, kernel: Kernel, recipe_dir: Path, modules: list[tuple[str, Path]]) -> None:
    for d in ("bin", "dev", "proc", "sys", "newroot", "etc"):
        (root / d).mkdir(parents=True, exist_ok=True)
    _install_busybox(root)
    _copy_file(recipe_dir / "initramfs/init", root / "init", 0o755)
    mod_dir = root / "lib/modules" / kernel.release
    for name, src in modules:
        _copy_file(src, mod_dir / f"{name}.ko", 0o644)
    (root / "etc/modules-load").write_text("".join(f"{name}\n" for name, _ in modules))
    os.mknod(root / "dev/console", 0o600 | stat.S_IFCHR, os.makedev(5, 1))
    os.mknod(root / "dev/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))


def _fix_times(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for n in filenames + dirnames:
            os.utime(os.path.join(dirpath, n), (SOURCE_DATE_EPOCH, SOURCE_DATE_EPOCH), follow_symlinks=False)
    os.utime(root, (SOURCE_DATE_EPOCH, SOURCE_DATE_EPOCH))


def _make_cpio_gz(root: Path, out: Path) -> None:
    names = sorted(
        os.path.relpath(os.path.join(d, n), root)
        for d, dirs, files in os.walk(root)
        for n in dirs + files
    )
    listing = ("\n".join(["."] + names) + "\n").encode()
    proc = subprocess.run(["cpio", "-o", "-H", "newc", "--reproducible", "-R", "0:0", "--quiet"],
                          cwd=root, input=listing, capture_output=True, check=False)
    if proc.returncode != 0:
        raise ImageError(f"cpio failed: {proc.stderr.decode(errors='replace')}")
    with open(out, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", compresslevel=9, mtime=0, filename="") as gz:
        gz.write(proc.stdout)


def _make_ext4(root: Path, raw: Path, key: str) -> None:
    fs_uuid = str(uuid.UUID(key[:32]))
    with open(raw, "wb") as fh:
        fh.truncate(ROOT_SIZE_MIB * 1024 * 1024)
    env = dict(os.environ, E2FSPROGS_FAKE_TIME=str(SOURCE_DATE_EPOCH))
    run(["mkfs.ext4", "-q", "-F", "-T", "default", "-L", "cloudimg-rootfs", "-U", fs_uuid,
         "-E", f"hash_seed={fs_uuid},root_owner=0:0", "-m", "1", "-d", root, raw], env=env)
    # mkfs.ext4 -d copies each file's ctime (which utime cannot set): pin it for reproducibility.
    paths = ["/"] + sorted("/" + os.path.relpath(os.path.join(d, n), root)
                           for d, dirs, files in os.walk(root) for n in dirs + files)
    script = "".join(f'sif "{p}" ctime {SOURCE_DATE_EPOCH}\n' for p in paths)
    run(["debugfs", "-w", "-f", "-", raw], input=script.encode(), env=env)


def image_dir_for(cache_dir: Path, key: str) -> Path:
    return Path(cache_dir) / "images" / f"{NAME}-{key[:12]}"


def build(cache_dir: Path, progress: Progress | None = None, recipe_dir: Path = RECIPE_DIR) -> Path:
    """Ensure the ec2d-tiny image is in the cache; return its directory (holds manifest.json)."""
    say = progress or _noop
    cache_dir = Path(cache_dir)
    say("ec2d-tiny: resolving the kernel package")
    kernel = ensure_kernel(cache_dir)
    ca_pem = service_ca.certificate_pem(cache_dir)
    inputs = gather_inputs(kernel, service_ca.fingerprint(cache_dir))
    key = cache_key(recipe_dir, inputs)
    final = image_dir_for(cache_dir, key)
    if (final / "manifest.json").is_file():
        say(f"ec2d-tiny: cached at {final}")
        return final
    images = final.parent
    images.mkdir(parents=True, exist_ok=True)
    with locked(images / f".{NAME}.lock"):
        if (final / "manifest.json").is_file():
            return final
        started = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix=f".{NAME}-{key[:12]}.", dir=images))
        try:
            builtin = _builtin_modules(kernel)
            modules: list[tuple[str, Path]] = []
            for name in _module_list(recipe_dir):
                src = _find_module(kernel, name)
                if src is not None:
                    modules.append((name, src))
                elif name.replace("-", "_") not in builtin:
                    raise ImageError(f"kernel {kernel.release} has no module {name}")
            say("ec2d-tiny: staging the root filesystem")
            rootfs = tmp / "rootfs"
            _stage_rootfs(rootfs, kernel, recipe_dir, modules)
            stage_ca(rootfs, ca_pem)
            _fix_times(rootfs)
            say("ec2d-tiny: staging the initramfs")
            initfs = tmp / "initramfs"
            _stage_initramfs(initfs, kernel, recipe_dir, modules)
            _fix_times(initfs)
            out = tmp / "out"
            out.mkdir()
            _make_cpio_gz(initfs, out / "initrd.img")
            _copy_file(kernel.vmlinuz, out / "vmlinuz", 0o644)
            say(f"ec2d-tiny: mkfs.ext4 -d ({ROOT_SIZE_MIB} MiB) and qemu-img convert")
            raw = tmp / "root.raw"
            _make_ext4(rootfs, raw, key)
            run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, out / "disk.qcow2"])
            raw.unlink()
            manifest = direct_kernel_manifest(
                name=NAME, description=DESCRIPTION, key=key, builder_version=BUILDER_VERSION,
                inputs={**inputs, "recipe": {
                    rel.as_posix(): hashlib.sha256((recipe_dir / rel).read_bytes()).hexdigest()
                    for rel in recipe_files(recipe_dir)}},
                kernel_release=kernel.release, kernel_cmdline=KERNEL_CMDLINE, root_size_mib=ROOT_SIZE_MIB,
                login_user="ec2-user", started=started, filesystem_uuid=str(uuid.UUID(key[:32])),
                ca_sha256=inputs["ca_sha256"])
            publish_image(out, final, manifest)
            say(f"ec2d-tiny: built {final} in {time.monotonic() - started:.1f} s")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final
