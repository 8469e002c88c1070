"""Fast tests of the image cache: cache keys, manifests, listing and import validation."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from orchestrator.images import tiny
from orchestrator.images.cache import ImageError, import_image, list_images, load_image, validate_import
from orchestrator.images.kernel import _VERSIONED_RE

INPUTS = {"packages": {"busybox-static": "1:1.35.0-4", "dropbear-bin": "2022.83-1",
                       "linux-image-cloud-amd64": "6.1.192-2"}}


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    dst = tmp_path / "recipe"
    shutil.copytree(tiny.RECIPE_DIR, dst)
    return dst


def test_cache_key_is_stable(recipe: Path) -> None:
    assert tiny.cache_key(recipe, INPUTS) == tiny.cache_key(recipe, json.loads(json.dumps(INPUTS)))
    assert tiny.cache_key(recipe, INPUTS) == tiny.cache_key(tiny.RECIPE_DIR, INPUTS)
    assert len(tiny.cache_key(recipe, INPUTS)) == 64


def test_cache_key_changes_with_recipe_packages_and_builder(recipe: Path) -> None:
    base = tiny.cache_key(recipe, INPUTS)
    assert tiny.cache_key(recipe, INPUTS, builder_version="other") != base
    newer = {"packages": {**INPUTS["packages"], "dropbear-bin": "2022.83-2"}}
    assert tiny.cache_key(recipe, newer) != base
    rcs = recipe / "rootfs/etc/init.d/rcS"
    rcs.write_text(rcs.read_text() + "\n# changed\n")
    assert tiny.cache_key(recipe, INPUTS) != base
    rcs.unlink()
    assert tiny.cache_key(recipe, INPUTS) != base


def test_recipe_has_what_the_builder_needs() -> None:
    files = {p.as_posix() for p in tiny.recipe_files()}
    for needed in ("initramfs/init", "modules.txt", "rootfs/etc/inittab", "rootfs/etc/init.d/rcS",
                   "rootfs/usr/bin/sudo", "rootfs/usr/lib/ec2d-tiny/udhcpc.script", "rootfs/etc/passwd"):
        assert needed in files
    mods = tiny._module_list(tiny.RECIPE_DIR)
    order = ["virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
             "failover", "net_failover", "virtio_net", "virtio_blk"]
    assert [m for m in mods if m in order] == order
    assert "button" in mods


def test_versioned_kernel_dependency_is_parsed() -> None:
    m = _VERSIONED_RE.search("Depends: linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)")
    assert m is not None and m.group(1) == "linux-image-6.1.0-56-cloud-amd64" and m.group(2) == "6.1.192-2"


# --- import ----------------------------------------------------------------------------------

def test_import_refuses_a_file_that_is_not_a_disk_image(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.qcow2"
    bogus.write_text("this is not a disk image\n" * 100000)
    with pytest.raises(ImageError, match="not a disk image"):
        import_image(bogus, "bogus", tmp_path / "cache")
    assert list_images(tmp_path / "cache") == []


def test_import_refuses_tiny_and_missing_files(tmp_path: Path) -> None:
    small = tmp_path / "small.bin"
    small.write_bytes(b"\0" * 4096)
    with pytest.raises(ImageError):
        import_image(small, "small", tmp_path / "cache")
    with pytest.raises(ImageError, match="no such file"):
        import_image(tmp_path / "missing.qcow2", "missing", tmp_path / "cache")


def test_import_refuses_a_qcow2_with_a_backing_file(tmp_path: Path) -> None:
    base = tmp_path / "base.qcow2"
    top = tmp_path / "top.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", str(base), "16M")
    qemu_img("create", "-q", "-f", "qcow2", "-b", str(base), "-F", "qcow2", str(top))
    with pytest.raises(ImageError, match="backing file"):
        import_image(top, "layered", tmp_path / "cache")


def test_import_refuses_other_formats(tmp_path: Path) -> None:
    vdi = tmp_path / "disk.vdi"
    qemu_img("create", "-q", "-f", "vdi", str(vdi), "16M")
    with pytest.raises(ImageError, match="not supported"):
        validate_import(vdi)


def test_import_refuses_bad_names(tmp_path: Path) -> None:
    disk = tmp_path / "disk.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", str(disk), "16M")
    for name in ("Bad Name", "../x", "", "ec2d-tiny"):
        with pytest.raises(ImageError):
            import_image(disk, name, tmp_path / "cache")


def test_import_qcow2_and_raw_disk(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    disk = tmp_path / "cloud.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", str(disk), "32M")
    art = import_image(disk, "my-cloud", cache)
    assert art.name == "my-cloud" and art.kernel is None and art.initrd is None
    assert art.disk.is_file() and art.manifest["boot"] == "bootloader"
    assert art.manifest["virtual_size"] == 32 * 1024 * 1024
    assert art.manifest["root_device"] == "/dev/xvda"
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(art.disk)],
                                     check=True, capture_output=True, text=True).stdout)
    assert info["format"] == "qcow2" and "backing-filename" not in info
    assert import_image(disk, "my-cloud", cache) == art  # same content: same cache entry

    raw = tmp_path / "mbr.img"
    with open(raw, "wb") as fh:
        fh.truncate(8 * 1024 * 1024)
        fh.seek(510)
        fh.write(b"\x55\xaa")
    art2 = import_image(raw, "my-raw", cache)
    assert art2.manifest["inputs"]["source_format"] == "raw"
    assert {a.name for a in list_images(cache)} == {"my-cloud", "my-raw"}
    assert load_image(art2.path) == art2
    assert not [p for p in (cache / "images").iterdir() if p.name.startswith(".") and p.is_dir()]


def test_load_image_reports_missing_files(tmp_path: Path) -> None:
    d = tmp_path / "img"
    d.mkdir()
    (d / "manifest.json").write_text(json.dumps({"name": "x", "disk": "disk.qcow2", "kernel": "vmlinuz"}))
    with pytest.raises(ImageError, match="missing"):
        load_image(d)
    assert list_images(tmp_path) == []


def test_debian_recipe_lists_the_cloud_packages() -> None:
    from orchestrator.images import debian

    pkgs = debian.packages()
    for needed in ("linux-image-cloud-amd64", "openssh-server", "cloud-init", "sudo", "curl", "python3",
                   "initramfs-tools"):
        assert needed in pkgs
    cfg = (debian.RECIPE_DIR / "01_ec2d.cfg").read_text()
    assert "name: admin" in cfg and "Ec2" in cfg and "strict_id: false" in cfg
