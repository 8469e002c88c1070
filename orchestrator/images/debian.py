"""The debian-12 image: Debian bookworm made with mmdebstrap, with cloud-init (EC2 datasource),
openssh-server, sudo and the cloud kernel; default user ``admin`` as on Debian's AWS images.

Booted by direct kernel boot with the kernel and the initramfs that the image's own
initramfs-tools made (kept beside the disk, like ec2d-tiny). The recipe lives under
``images/debian-12/``. Cache key: recipe files + builder version + the apt candidate versions of
the kernel, cloud-init and the AWS CLI on this host (a proxy for "the archive changed") + the
fingerprint of the host's CA; the full package list of a build is recorded in the manifest.

The image carries Debian's AWS CLI v2 (``awscli``) and boto3 and trusts the host's CA (ec2d's
in-VPC service endpoint presents a certificate it issued): ``customize.sh`` installs it as a local
CA (update-ca-certificates), and :func:`check_trust` then asks the CLI's and botocore's own code,
in the chroot, which bundle they verify with and fails the build unless that bundle holds the CA.
cloud-init's ``ca_certs`` is not used: the EC2 datasource reads no vendor-data, and a ``ca_certs``
entry baked into cloud.cfg.d would only re-run update-ca-certificates at each instance's first boot
(boot work under TCG) to add what the image already trusts; a new CA makes a new image instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from orchestrator.images._proc import (
    ImageError,
    apt_candidate,
    direct_kernel_manifest,
    locked,
    publish_image,
    run,
)
from orchestrator.tls import service_ca

NAME = "debian-12"
DESCRIPTION = "Debian 12 (bookworm) with cloud-init, openssh-server and the cloud kernel (mmdebstrap)"
BUILDER_VERSION = "debian-12-builder-3"
RECIPE_DIR = Path(__file__).resolve().parents[2] / "images" / "debian-12"
ROOT_SIZE_MIB = 3072
# cloud-init=enabled: the image enables cloud-init.target itself (no generator, no ds-identify; customize.sh)
KERNEL_CMDLINE = "console=ttyS0 root=/dev/vda rw cloud-init=enabled"
SUITE = "bookworm"
CA_FILE = "usr/local/share/ca-certificates/ec2d-ca.crt"
# Which CA bundle each client verifies with, asked of the clients themselves (run in the chroot),
# one process each: once ``awscli`` is imported, ``import botocore`` gives the CLI's own copy.
_WHICH_BUNDLE = {
    "awscli": "from awscli.botocore.httpsession import get_cert_path; print(get_cert_path(True))",
    "botocore": "from botocore.httpsession import get_cert_path; print(get_cert_path(True))",
}


def _noop(_: str) -> None:
    pass


def _recipe_files() -> list[Path]:
    if not RECIPE_DIR.is_dir():
        raise ImageError(f"recipe directory {RECIPE_DIR} is missing")
    return sorted(p.relative_to(RECIPE_DIR) for p in RECIPE_DIR.rglob("*") if p.is_file())


def packages() -> list[str]:
    lines = (RECIPE_DIR / "packages.txt").read_text().splitlines()
    return [x.split("#", 1)[0].strip() for x in lines if x.split("#", 1)[0].strip()]


def cache_key(ca_sha256: str) -> tuple[str, dict[str, object]]:
    """The image's key and its inputs; ``ca_sha256`` is the host CA's fingerprint (a new CA, a new image)."""
    inputs: dict[str, object] = {
        "suite": SUITE,
        "apt_candidates": {p: apt_candidate(p) for p in ("linux-image-cloud-amd64", "cloud-init", "openssh-server",
                                                           "awscli", "python3-botocore")},
        "ca_sha256": ca_sha256,
    }
    h = hashlib.sha256(f"builder {BUILDER_VERSION}\n".encode())
    for rel in _recipe_files():
        data = (RECIPE_DIR / rel).read_bytes()
        h.update(f"file {rel.as_posix()} {len(data)}\n".encode())
        h.update(data)
    h.update(json.dumps(inputs, sort_keys=True).encode())
    return h.hexdigest(), inputs


def _holds(bundle: Path, pem: bytes) -> bool:
    return bundle.is_file() and pem.strip() in bundle.read_bytes()


def check_trust(root: Path, ca_pem: bytes) -> dict[str, str]:
    """The CA bundle the AWS CLI and botocore (boto3) use in the image at ``root``, checked to hold
    ``ca_pem``; raises ImageError if either client would not trust the host's CA."""
    bundles = {client: run(["chroot", root, "python3", "-c", code]).strip() for client, code in _WHICH_BUNDLE.items()}
    for client, path in bundles.items():
        if not _holds(root / path.lstrip("/"), ca_pem):
            raise ImageError(f"{NAME}: {client} verifies with {path}, which does not hold the host's CA")
    return bundles


def build(cache_dir: Path, progress: Callable[[str], None] | None = None) -> Path:
    say = progress or _noop
    if shutil.which("mmdebstrap") is None:
        raise ImageError("mmdebstrap is not installed (apt-get install mmdebstrap)")
    ca = service_ca.ensure(Path(cache_dir))
    ca_pem = ca.read_bytes()
    key, inputs = cache_key(service_ca.fingerprint(Path(cache_dir)))
    images = Path(cache_dir) / "images"
    final = images / f"{NAME}-{key[:12]}"
    if (final / "manifest.json").is_file():
        say(f"{NAME}: cached at {final}")
        return final
    images.mkdir(parents=True, exist_ok=True)
    with locked(images / f".{NAME}.lock"):
        if (final / "manifest.json").is_file():
            return final
        started = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix=f".{NAME}-{key[:12]}.", dir=images))
        try:
            root = tmp / "root"
            mirrors = [x for x in (RECIPE_DIR / "sources.list").read_text().splitlines() if x.strip()]
            say(f"{NAME}: mmdebstrap {SUITE} (downloads Debian packages)")
            run(["mmdebstrap", "--mode=root", "--variant=apt", "--format=directory",
                 f"--include={','.join(packages())}",
                 "--aptopt=Acquire::Languages \"none\"",
                 "--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-include=/usr/share/doc/*/copyright",
                 "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/locale/*",
                 SUITE, root, *mirrors],
                env=dict(os.environ, SOURCE_DATE_EPOCH="1767225600"))
            cfg_dir = root / "etc/cloud/cloud.cfg.d"
            cfg_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(RECIPE_DIR / "01_ec2d.cfg", cfg_dir / "01_ec2d.cfg")
            run(["sh", RECIPE_DIR / "customize.sh", root, ca])
            trust = check_trust(root, ca_pem)
            say(f"{NAME}: the host's CA is in the bundles the clients use: {trust}")
            pkg_list = run(["chroot", root, "dpkg-query", "-W", "-f=${Package}\t${Version}\n"])
            installed = dict(line.split("\t", 1) for line in pkg_list.splitlines() if "\t" in line)
            vmlinuz = sorted((root / "boot").glob("vmlinuz-*"))
            initrd = sorted((root / "boot").glob("initrd.img-*"))
            if len(vmlinuz) != 1 or len(initrd) != 1:
                raise ImageError(f"{NAME}: expected one kernel and one initramfs in /boot")
            out = tmp / "out"
            out.mkdir()
            shutil.copyfile(vmlinuz[0], out / "vmlinuz")
            shutil.copyfile(initrd[0], out / "initrd.img")
            say(f"{NAME}: mkfs.ext4 -d ({ROOT_SIZE_MIB} MiB) and qemu-img convert")
            raw = tmp / "root.raw"
            with open(raw, "wb") as fh:
                fh.truncate(ROOT_SIZE_MIB * 1024 * 1024)
            run(["mkfs.ext4", "-q", "-F", "-L", "cloudimg-rootfs", "-d", root, raw])
            shutil.rmtree(root)
            run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, out / "disk.qcow2"])
            raw.unlink()
            manifest = direct_kernel_manifest(
                name=NAME, description=DESCRIPTION, key=key, builder_version=BUILDER_VERSION,
                inputs={**inputs, "packages": {p: installed.get(p) for p in packages()},
                        "recipe": {rel.as_posix(): hashlib.sha256((RECIPE_DIR / rel).read_bytes()).hexdigest()
                                   for rel in _recipe_files()}},
                kernel_release=vmlinuz[0].name.removeprefix("vmlinuz-"), kernel_cmdline=KERNEL_CMDLINE,
                root_size_mib=ROOT_SIZE_MIB, login_user="admin", started=started, installed_packages=installed,
                ca_sha256=inputs["ca_sha256"], ca_trust=trust)
            publish_image(out, final, manifest)
            say(f"{NAME}: built {final} in {time.monotonic() - started:.0f} s")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final
