"""The built-in images trust the host's CA: its fingerprint is part of their cache keys (a new CA,
new images) and of their manifests, and a built ec2d-tiny disk holds it as the system CA bundle."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from orchestrator.images import debian, tiny
from orchestrator.images.cache import default_cache_dir, load_image
from orchestrator.images.kernel import Kernel, cached_kernels
from orchestrator.tls import service_ca

INPUTS = {"packages": {"busybox-static": "1:1.35.0-4", "dropbear-bin": "2022.83-1"}}


def test_tiny_cache_key_changes_with_the_ca(tmp_path: Path) -> None:
    one, two = service_ca.fingerprint(tmp_path / "a"), service_ca.fingerprint(tmp_path / "b")
    key_one = tiny.cache_key(tiny.RECIPE_DIR, {**INPUTS, "ca_sha256": one})
    assert key_one == tiny.cache_key(tiny.RECIPE_DIR, {**INPUTS, "ca_sha256": one})
    assert key_one != tiny.cache_key(tiny.RECIPE_DIR, {**INPUTS, "ca_sha256": two})


def test_debian_cache_key_changes_with_the_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(debian, "apt_candidate", lambda package: f"{package}-1.0")  # apt-cache: ~3 s a call
    one, two = service_ca.fingerprint(tmp_path / "a"), service_ca.fingerprint(tmp_path / "b")
    key_one, inputs = debian.cache_key(one)
    assert inputs["ca_sha256"] == one and debian.cache_key(one)[0] == key_one
    assert debian.cache_key(two)[0] != key_one


def test_debian_recipe_carries_the_cli_and_installs_the_ca() -> None:
    assert {"awscli", "python3-boto3", "python3-certifi", "ca-certificates"} <= set(debian.packages())
    script = (debian.RECIPE_DIR / "customize.sh").read_text()
    assert f'"$root/{debian.CA_FILE}"' in script and 'chroot "$root" update-ca-certificates' in script


def test_stage_ca_writes_the_bundle(tmp_path: Path) -> None:
    pem = service_ca.certificate_pem(tmp_path / "cache")
    tiny.stage_ca(tmp_path / "root", pem)
    for rel in (tiny.CA_BUNDLE, tiny.CA_FILE):
        f = tmp_path / "root" / rel
        assert f.read_bytes() == pem and (f.stat().st_mode & 0o777) == 0o644


def _cached_kernel() -> Kernel:
    kernels = cached_kernels(default_cache_dir())
    if not kernels:
        pytest.skip("no kernel in the default image cache (ec2d image build ec2d-tiny)")
    return max(kernels, key=lambda k: k.version)


def _debugfs_cat(disk: Path, path: str, work: Path) -> bytes:
    raw = work / "disk.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(disk), str(raw)], check=True)
    out = subprocess.run(["debugfs", "-R", f"cat {path}", str(raw)], check=True, capture_output=True).stdout
    raw.unlink()
    return out


def test_built_tiny_disk_holds_the_ca_and_a_new_ca_makes_a_new_image(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        pytest.skip("the tiny build makes device nodes and chowns (root)")
    kernel = _cached_kernel()  # no download at test time: the kernel the default cache already holds
    monkeypatch.setattr(tiny, "ensure_kernel", lambda _cache: kernel)
    cache = tmp_path / "cache"
    image = load_image(tiny.build(cache))
    fingerprint = service_ca.fingerprint(cache)
    assert image.manifest["ca_sha256"] == fingerprint == image.manifest["inputs"]["ca_sha256"]
    pem = service_ca.certificate_pem(cache)
    for rel in (tiny.CA_BUNDLE, tiny.CA_FILE):
        assert _debugfs_cat(image.disk, "/" + rel.as_posix(), tmp_path) == pem
    assert tiny.build(cache) == image.path  # same CA: the cached image

    shutil.rmtree(service_ca.ca_dir(cache))  # a new CA: a new image that holds the new one
    rebuilt = load_image(tiny.build(cache))
    assert rebuilt.path != image.path and rebuilt.manifest["ca_sha256"] == service_ca.fingerprint(cache)
    assert service_ca.fingerprint(cache) != fingerprint
    bundle = _debugfs_cat(rebuilt.disk, "/" + tiny.CA_BUNDLE.as_posix(), tmp_path)
    assert bundle == service_ca.certificate_pem(cache)
