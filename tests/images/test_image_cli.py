"""``ec2d image list | build | import`` as a user runs them, against a private cache dir, and a running
ec2d (sharing that cache) registering an imported image as a public AMI in every region."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ec2d_server import RunningEc2d, start_ec2d

from orchestrator.images.cache import default_cache_dir, ensure_image
from orchestrator.tls import service_ca

EC2D = str(Path(sys.executable).parent / "ec2d")
REGIONS = ("us-east-1", "us-west-2")
MIB = 1024 * 1024


def ec2d_image(cache: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EC2D, "image", "--cache-dir", str(cache), *args], capture_output=True, text=True,
                          timeout=timeout)


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


def image_dirs(cache: Path) -> set[str]:
    root = cache / "images"
    return {d.name for d in root.iterdir() if not d.name.startswith(".")} if root.is_dir() else set()


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private cache holding (hard links to) the shared kernel, CA and current ec2d-tiny, so neither
    the CLI nor ec2d has to download or build anything (the CA's fingerprint is part of the image's
    key). The KVM probe's cached answer is carried over too (its key names the kernel's path, which
    differs here)."""
    shared = default_cache_dir()
    tiny = ensure_image("ec2d-tiny", shared)  # fast when cached (the usual case)
    cache = tmp_path_factory.mktemp("image-cache")
    (cache / "images").mkdir()
    subprocess.run(["cp", "-al", str(shared / "kernel"), str(cache / "kernel")], check=True)
    subprocess.run(["cp", "-al", str(service_ca.ca_dir(shared)), str(service_ca.ca_dir(cache))], check=True)
    subprocess.run(["cp", "-al", str(tiny.path), str(cache / "images" / tiny.path.name)], check=True)
    probe = shared / "virt-type.json"
    if probe.is_file():
        entries = json.loads(probe.read_text())
        seeded = {k.replace(str(shared), str(cache), 1): v for k, v in entries.items()}
        (cache / "virt-type.json").write_text(json.dumps(seeded, indent=2))
    return cache


@pytest.fixture(scope="module")
def server(cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEc2d]:
    srv = start_ec2d(tmp_path_factory.mktemp("image-cli-data"), cache_dir=cache)
    try:
        yield srv
    finally:
        srv.stop()
        with contextlib.suppress(OSError):  # the sweep empties /run/<prefix> but leaves the directory
            os.rmdir(f"/run/{srv.config.prefix}")


@pytest.fixture()
def disk_qcow2(tmp_path: Path) -> Path:
    """A small self-contained qcow2 whose first sector carries an MBR (one Linux partition)."""
    raw = tmp_path / "disk.raw"
    with open(raw, "wb") as fh:
        fh.truncate(8 * MIB)
        fh.seek(446)  # partition entry 1: type 0x83, LBA 2048, 14336 sectors
        fh.write(bytes([0x80, 0, 0, 0, 0x83, 0, 0, 0]) + (2048).to_bytes(4, "little") + (14336).to_bytes(4, "little"))
        fh.seek(510)
        fh.write(b"\x55\xaa")
        fh.seek(2048 * 512)
        fh.write(secrets.token_bytes(4096))  # content unique to this run: a new cache key every time
    out = tmp_path / "disk.qcow2"
    qemu_img("convert", "-f", "raw", "-O", "qcow2", str(raw), str(out))
    return out


def test_list_and_build_cached(cache: Path) -> None:
    listed = ec2d_image(cache, "list")
    assert listed.returncode == 0, listed.stderr
    tiny_dirs = [d for d in image_dirs(cache) if d.startswith("ec2d-tiny-")]
    assert len(tiny_dirs) == 1
    line = next(ln for ln in listed.stdout.splitlines() if ln.startswith("ec2d-tiny"))
    assert tiny_dirs[0].rpartition("-")[2] in line and "direct-kernel" in line and str(cache) in line

    built = ec2d_image(cache, "build", "ec2d-tiny")
    assert built.returncode == 0, built.stderr
    name, key12, path = built.stdout.split()
    assert (name, Path(path).name) == ("ec2d-tiny", f"ec2d-tiny-{key12}") and Path(path).parent == cache / "images"
    assert "cached at" in built.stderr
    assert image_dirs(cache) == {f"ec2d-tiny-{key12}"}  # nothing rebuilt


def test_import_of_a_text_file_is_refused(cache: Path, tmp_path: Path) -> None:
    before = image_dirs(cache)
    notes = tmp_path / "notes.txt"
    notes.write_text("this is not a disk image\n" * 3)
    small = ec2d_image(cache, "import", str(notes), "--name", "notes")
    big = tmp_path / "big.txt"  # large enough to pass the size check: refused for lacking a partition table
    big.write_text("not a disk either\n" * (2 * MIB // 18 + 1))
    large = ec2d_image(cache, "import", str(big), "--name", "bignotes")
    for proc, path, reason in ((small, notes, "too small for a disk"), (large, big, "not a disk image")):
        assert proc.returncode == 1, proc
        assert proc.stdout == ""
        assert proc.stderr.startswith("ec2d image import: ") and "Traceback" not in proc.stderr
        assert str(path) in proc.stderr and reason in proc.stderr, proc.stderr
    assert image_dirs(cache) == before


def test_import_of_a_qcow2_with_a_backing_file_is_refused(cache: Path, tmp_path: Path, disk_qcow2: Path) -> None:
    before = image_dirs(cache)
    overlay = tmp_path / "overlay.qcow2"
    qemu_img("create", "-f", "qcow2", "-b", str(disk_qcow2), "-F", "qcow2", str(overlay))
    proc = ec2d_image(cache, "import", str(overlay), "--name", "overlay")
    assert proc.returncode == 1, proc
    assert proc.stderr.startswith("ec2d image import: ") and "Traceback" not in proc.stderr
    assert "has a backing file" in proc.stderr and str(disk_qcow2) in proc.stderr, proc.stderr
    assert image_dirs(cache) == before


def test_import_is_listed_and_registered_as_ami_in_every_region(cache: Path, server: RunningEc2d,
                                                                 disk_qcow2: Path) -> None:
    name = f"imported-{secrets.token_hex(3)}"
    t0 = time.monotonic()
    proc = ec2d_image(cache, "import", str(disk_qcow2), "--name", name)
    assert proc.returncode == 0, proc.stderr
    got_name, key12, path = proc.stdout.split()
    assert (got_name, Path(path)) == (name, cache / "images" / f"{name}-{key12}")
    manifest = json.loads((Path(path) / "manifest.json").read_text())
    assert manifest["boot"] == "bootloader" and manifest["virtual_size"] == 8 * MIB

    again = ec2d_image(cache, "import", str(disk_qcow2), "--name", name)  # same file, same name: same image
    assert again.returncode == 0 and again.stdout == proc.stdout

    listed = ec2d_image(cache, "list")
    assert listed.returncode == 0, listed.stderr
    rows = [ln.split() for ln in listed.stdout.splitlines()]
    assert [name, key12] in [r[:2] for r in rows]
    assert "bootloader" in next(r for r in rows if r[0] == name)

    clients = {r: server.client(region=r) for r in REGIONS}
    found: dict[str, dict] = {}
    deadline = t0 + 300  # the runtime rescans the cache every few seconds
    while len(found) < len(REGIONS) and time.monotonic() < deadline:
        for region, ec2 in clients.items():
            if region not in found:
                images = ec2.describe_images(Filters=[{"Name": "name", "Values": [f"{name}-*"]}])["Images"]
                if images:
                    found[region] = images
        time.sleep(1)
    took = time.monotonic() - t0
    assert set(found) == set(REGIONS), f"not registered in {set(REGIONS) - set(found)} within {took:.0f}s"
    print(f"imported image registered in both regions {took:.1f}s after the import started")

    ids = set()
    for region, images in found.items():
        assert len(images) == 1, images
        assert images[0]["State"] in ("pending", "available"), images  # pending while its layer is imported
        clients[region].get_waiter("image_available").wait(ImageIds=[images[0]["ImageId"]],
                                                           WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        img = clients[region].describe_images(ImageIds=[images[0]["ImageId"]])["Images"][0]
        ids.add(img["ImageId"])
        assert img["ImageId"].startswith("ami-") and img["Name"] == f"{name}-{key12}"
        assert img["State"] == "available" and img["Public"] is True
        assert img["OwnerId"] == "ec2d" and img["ImageOwnerAlias"] == "ec2d"
        assert img["RootDeviceName"] == "/dev/xvda" and img["RootDeviceType"] == "ebs"
        assert img["VirtualizationType"] == "hvm" and img["Architecture"] == "x86_64"
        (bdm,) = img["BlockDeviceMappings"]
        assert bdm["DeviceName"] == "/dev/xvda"
        assert bdm["Ebs"]["SnapshotId"].startswith("snap-") and bdm["Ebs"]["VolumeSize"] == 1
        # found the way users look for it, too: by owner, and by id in its own region only
        ec2 = clients[region]
        owned = ec2.describe_images(Owners=["ec2d"])["Images"]
        assert img["ImageId"] in {i["ImageId"] for i in owned}
        assert ec2.describe_images(ImageIds=[img["ImageId"]])["Images"][0]["Name"] == img["Name"]
    assert len(ids) == len(REGIONS)  # one AMI per region, each with its own id

