"""The guest kernel: Debian's ``linux-image-cloud-amd64``, downloaded with apt and cached.

``ensure_kernel(cache_dir)`` resolves the metapackage's candidate version, downloads the
metapackage and the versioned ``linux-image-6.1.0-*-cloud-amd64`` it depends on
(``apt-get download``), extracts the latter with ``dpkg-deb -x`` into a temporary directory and
renames it to ``cache_dir/kernel/<package version>/``. A second call finds that directory and does
nothing. Without apt metadata (offline), the newest cached kernel is used.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from orchestrator.images._proc import ImageError, apt_candidate, locked, publish_dir, run

META_PACKAGE = "linux-image-cloud-amd64"
_VERSIONED_RE = re.compile(r"\b(linux-image-\d+\.\d+\.\d+-\d+-cloud-amd64)\b(?:\s*\(=\s*([^)\s]+)\))?")


@dataclass(frozen=True)
class Kernel:
    """An extracted kernel package.

    ``version`` is the Debian package version (the cache key, e.g. ``6.1.192-2``); ``release`` is
    the kernel release (``uname -r``, e.g. ``6.1.0-56-cloud-amd64``); ``modules_dir`` is
    ``.../lib/modules/<release>``.
    """

    version: str
    vmlinuz: Path
    modules_dir: Path
    release: str = ""
    package: str = ""
    path: Path = Path()


def _versioned_package(meta_version: str) -> tuple[str, str]:
    """Name and version of the versioned kernel package the metapackage depends on."""
    out = run(["apt-cache", "show", f"{META_PACKAGE}={meta_version}"])
    for line in out.splitlines():
        if line.startswith("Depends:"):
            m = _VERSIONED_RE.search(line)
            if m:
                return m.group(1), m.group(2) or meta_version
    raise ImageError(f"{META_PACKAGE} {meta_version}: no linux-image-*-cloud-amd64 dependency found")


def _load(path: Path) -> Kernel | None:
    info_file = path / "kernel.json"
    if not info_file.is_file():
        return None
    info = json.loads(info_file.read_text())
    kernel = Kernel(
        version=info["version"],
        vmlinuz=path / info["vmlinuz"],
        modules_dir=path / info["modules_dir"],
        release=info["release"],
        package=info["package"],
        path=path,
    )
    if not kernel.vmlinuz.is_file() or not kernel.modules_dir.is_dir():
        return None
    return kernel


def cached_kernels(cache_dir: Path) -> list[Kernel]:
    root = cache_dir / "kernel"
    found = [k for p in sorted(root.glob("*")) if p.is_dir() and (k := _load(p)) is not None]
    return found


def _extract(deb: Path, dest: Path, version: str, package: str) -> None:
    run(["dpkg-deb", "-x", deb, dest])
    vmlinuzes = sorted((dest / "boot").glob("vmlinuz-*"))
    if len(vmlinuzes) != 1:
        raise ImageError(f"{deb.name}: expected one boot/vmlinuz-*, found {len(vmlinuzes)}")
    release = vmlinuzes[0].name.removeprefix("vmlinuz-")
    for candidate in ("lib/modules", "usr/lib/modules"):
        modules = dest / candidate / release
        if modules.is_dir():
            break
    else:
        raise ImageError(f"{deb.name}: no lib/modules/{release}")
    # depmod output (modules.dep etc.) ships in the package only partially; make it complete.
    run(["depmod", "-b", _depmod_base(dest, candidate), release])
    info = {
        "version": version,
        "package": package,
        "release": release,
        "vmlinuz": str(vmlinuzes[0].relative_to(dest)),
        "modules_dir": str(modules.relative_to(dest)),
    }
    (dest / "kernel.json").write_text(json.dumps(info, indent=2) + "\n")


def _depmod_base(dest: Path, candidate: str) -> Path:
    # depmod -b BASE looks in BASE/lib/modules/<release> (usrmerge aware on bookworm via /lib).
    return dest / "usr" if candidate.startswith("usr/") else dest


def _apt_state() -> str:
    """A fingerprint of apt's package lists and preferences: the resolution below is reused
    until they change (apt-cache takes ~0.7 s per call)."""
    h = hashlib.sha256()
    for d in (Path("/var/lib/apt/lists"), Path("/etc/apt/preferences.d"), Path("/etc/apt")):
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            if e.is_file():
                st = e.stat()
                h.update(f"{d}/{e.name} {st.st_size} {st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def resolve_kernel_package() -> tuple[str, str, str] | None:
    """(metapackage version, versioned package name, its version) apt would download, or None."""
    try:
        meta_version = apt_candidate(META_PACKAGE)
    except ImageError:
        return None
    if meta_version is None:
        return None
    package, version = _versioned_package(meta_version)
    return meta_version, package, version


def _resolve_cached(root: Path) -> tuple[str, str, str] | None:
    state = _apt_state()
    memo = root / "resolved.json"
    try:
        data = json.loads(memo.read_text())
        if data.get("apt_state") == state:
            return data["meta_version"], data["package"], data["version"]
    except (OSError, ValueError, KeyError):
        pass
    resolved = resolve_kernel_package()
    if resolved is not None:
        tmp = memo.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"apt_state": state, "meta_version": resolved[0], "package": resolved[1],
                                   "version": resolved[2]}))
        os.replace(tmp, memo)
    return resolved


def ensure_kernel(cache_dir: Path) -> Kernel:
    """Return the cached Debian cloud kernel, downloading and extracting it if needed."""
    cache_dir = Path(cache_dir)
    root = cache_dir / "kernel"
    root.mkdir(parents=True, exist_ok=True)
    resolved = _resolve_cached(root)
    if resolved is None:
        cached = cached_kernels(cache_dir)
        if cached:
            return max(cached, key=lambda k: k.path.stat().st_mtime)
        raise ImageError(f"apt knows no candidate for {META_PACKAGE} (run apt-get update)")
    meta_version, package, version = resolved
    final = root / version
    kernel = _load(final)
    if kernel is not None:
        return kernel
    with locked(root / ".lock"):
        kernel = _load(final)
        if kernel is not None:
            return kernel
        if final.exists():  # incomplete leftovers from an older builder
            shutil.rmtree(final)
        tmp = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=root))
        try:
            dl = tmp / ".download"
            dl.mkdir()
            run(["apt-get", "download", "-q", f"{META_PACKAGE}={meta_version}", f"{package}={version}"],
                cwd=dl)
            debs = sorted(dl.glob(f"{package}_*.deb"))
            if len(debs) != 1:
                raise ImageError(f"apt-get download did not produce {package}_*.deb")
            extracted = tmp / "root"
            _extract(debs[0], extracted, version, package)
            shutil.rmtree(dl)
            publish_dir(extracted, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    kernel = _load(final)
    if kernel is None:
        raise ImageError(f"kernel cache {final} is incomplete after extraction")
    return kernel
