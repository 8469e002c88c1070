"""qcow2.py against the real qemu-img (files in a tmp dir)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestrator.drivers.storage import qcow2
from orchestrator.drivers.storage.qcow2 import ForeignBackingFile, NotADiskImage, StorageError

from .conftest import GiB, MiB, has_pattern, write_pattern


def img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


def test_create_blank_and_info(tmp_path: Path) -> None:
    p = qcow2.create_blank(tmp_path / "a.qcow2", GiB)
    i = qcow2.info(p)
    assert (i.format, i.virtual_size, i.backing_file, i.depth) == ("qcow2", GiB, None, 1)
    assert not list(tmp_path.glob(".tmp-*"))
    with pytest.raises(StorageError):
        qcow2.create_blank(p, GiB)
    with pytest.raises(StorageError):
        qcow2.create_blank(tmp_path / "b.qcow2", 0)


def test_overlay_pins_format_and_absolute_backing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = qcow2.create_blank(tmp_path / "base.qcow2", 64 * MiB)
    write_pattern(base, 0xAB)
    monkeypatch.chdir(tmp_path)  # a relative argument still ends up absolute in the header
    ov = qcow2.create_overlay(tmp_path / "ov.qcow2", "base.qcow2", 128 * MiB, roots=[tmp_path])
    hdr = qcow2.read_header(ov)
    assert hdr.backing_file == str(base) and hdr.backing_format == "qcow2"
    i = qcow2.info(ov, roots=[tmp_path])
    assert i.virtual_size == 128 * MiB and i.backing_format == "qcow2" and i.depth == 2
    assert i.chain[1].filename == str(base)
    assert has_pattern(ov, 0xAB)
    with pytest.raises(StorageError, match="smaller"):
        qcow2.create_overlay(tmp_path / "small.qcow2", base, MiB)


def test_overlay_refuses_non_qcow2_backing(tmp_path: Path) -> None:
    raw = tmp_path / "disk.raw"
    img("create", "-f", "raw", str(raw), "16M")
    with pytest.raises(NotADiskImage):
        qcow2.create_overlay(tmp_path / "ov.qcow2", raw, roots=[tmp_path])
    assert not (tmp_path / "ov.qcow2").exists()


def test_foreign_backing_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    foreign_base = qcow2.create_blank(outside / "base.qcow2", 16 * MiB)
    # a base in the root whose own backing lies outside
    mid = root / "mid.qcow2"
    img("create", "-f", "qcow2", "-u", "-b", str(foreign_base), "-F", "qcow2", str(mid), "16M")
    with pytest.raises(ForeignBackingFile):
        qcow2.create_overlay(root / "ov.qcow2", mid, roots=[root])
    # the backing itself outside the roots
    with pytest.raises(ForeignBackingFile):
        qcow2.create_overlay(root / "ov.qcow2", foreign_base, roots=[root])
    # Nova's rule when no roots are given: the base may not have a backing at all
    with pytest.raises(ForeignBackingFile):
        qcow2.create_overlay(root / "ov.qcow2", mid)
    # a header pointing at a host file, relative path escaping the root
    evil = root / "evil.qcow2"
    img("create", "-f", "qcow2", "-u", "-b", "../../../../etc/passwd", "-F", "raw", str(evil), "16M")
    with pytest.raises(ForeignBackingFile):
        qcow2.check_chain(evil, [root])
    with pytest.raises(ForeignBackingFile):
        qcow2.info(evil, roots=[root])
    # a symlink inside the root that leads outside it
    (root / "link.qcow2").symlink_to(foreign_base)
    sneaky = root / "sneaky.qcow2"
    img("create", "-f", "qcow2", "-u", "-b", str(root / "link.qcow2"), "-F", "qcow2", str(sneaky), "16M")
    with pytest.raises(ForeignBackingFile):
        qcow2.check_chain(sneaky, [root])
    assert not (root / "ov.qcow2").exists()


def test_freeze_top_is_rename_plus_empty_overlay(tmp_path: Path) -> None:
    vol = qcow2.create_blank(tmp_path / "vol.qcow2", GiB)
    write_pattern(vol, 0xAB)
    inode = vol.stat().st_ino
    layer = qcow2.freeze_top(vol, tmp_path / "layer.qcow2", roots=[tmp_path])
    assert layer.stat().st_ino == inode and layer.stat().st_nlink == 1
    assert (layer.stat().st_mode & 0o777) == 0o400
    assert vol.exists() and vol.stat().st_ino != inode
    assert qcow2.read_header(vol).backing_file == str(layer)
    assert qcow2.allocated_bytes(vol) < MiB  # nothing copied
    write_pattern(vol, 0xCD)
    assert has_pattern(layer, 0xAB) and has_pattern(vol, 0xCD)
    with pytest.raises(StorageError, match="exists"):
        qcow2.freeze_top(vol, layer)
    assert not list(tmp_path.glob(".tmp-*"))


def test_resize_grows_only(tmp_path: Path) -> None:
    p = qcow2.create_blank(tmp_path / "a.qcow2", 64 * MiB)
    qcow2.resize(p, 128 * MiB)
    assert qcow2.info(p).virtual_size == 128 * MiB
    with pytest.raises(StorageError, match="shrink"):
        qcow2.resize(p, 64 * MiB)


def test_rebase_safe_unsafe_and_to_none(tmp_path: Path) -> None:
    a = qcow2.create_blank(tmp_path / "a.qcow2", 16 * MiB)
    write_pattern(a, 0xAA)
    ov = qcow2.create_overlay(tmp_path / "ov.qcow2", a, roots=[tmp_path])
    write_pattern(ov, 0xBB, MiB)
    # unsafe: identical data under a new name
    a2 = tmp_path / "a2.qcow2"
    subprocess.run(["cp", "--sparse=always", str(a), str(a2)], check=True)
    qcow2.rebase(ov, a2, safe=False, roots=[tmp_path])
    assert qcow2.read_header(ov).backing_file == str(a2)
    # safe: onto an empty base - the differences are copied in
    b = qcow2.create_blank(tmp_path / "b.qcow2", 16 * MiB)
    qcow2.rebase(ov, b, roots=[tmp_path])
    assert qcow2.info(ov).backing_file == str(b)
    assert has_pattern(ov, 0xAA) and has_pattern(ov, 0xBB, MiB)
    qcow2.rebase(ov, None)
    assert qcow2.read_header(ov).backing_file is None
    assert has_pattern(ov, 0xAA) and has_pattern(ov, 0xBB, MiB)
    outside = tmp_path.parent / f"{tmp_path.name}-x.qcow2"
    with pytest.raises(ForeignBackingFile):
        qcow2.rebase(ov, outside, roots=[tmp_path])


def test_commit_and_flatten(tmp_path: Path) -> None:
    base = qcow2.create_blank(tmp_path / "base.qcow2", 16 * MiB)
    write_pattern(base, 0xAA)
    ov = qcow2.create_overlay(tmp_path / "ov.qcow2", base)
    write_pattern(ov, 0xBB, MiB)
    flat = qcow2.flatten(ov, tmp_path / "flat.qcow2")
    assert qcow2.read_header(flat).backing_file is None
    assert has_pattern(flat, 0xAA) and has_pattern(flat, 0xBB, MiB)
    assert qcow2.check(flat)["check-errors"] == 0
    qcow2.commit(ov)
    assert has_pattern(base, 0xBB, MiB)
    with pytest.raises(StorageError):
        qcow2.commit(base)


def test_allocated_bytes_counts_written_data(tmp_path: Path) -> None:
    p = qcow2.create_blank(tmp_path / "a.qcow2", 100 * GiB)
    before = qcow2.allocated_bytes(p)
    write_pattern(p, 0x11, 0, 8 * MiB)
    assert qcow2.allocated_bytes(p) - before >= 8 * MiB
    with pytest.raises(StorageError):
        qcow2.allocated_bytes(tmp_path / "missing")


def test_validate_import(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a disk\n" * 100)
    with pytest.raises(NotADiskImage):
        qcow2.validate_import(text)
    raw = tmp_path / "disk.raw"
    img("create", "-f", "raw", str(raw), "16M")
    with pytest.raises(NotADiskImage):
        qcow2.validate_import(raw)
    with pytest.raises(NotADiskImage):
        qcow2.validate_import(tmp_path)
    base = qcow2.create_blank(tmp_path / "base.qcow2", 16 * MiB)
    backed = qcow2.create_overlay(tmp_path / "backed.qcow2", base)
    with pytest.raises(ForeignBackingFile):
        qcow2.validate_import(backed)
    datafile = tmp_path / "ext.qcow2"
    img("create", "-f", "qcow2", "-o", f"data_file={tmp_path / 'ext.data'}", str(datafile), "16M")
    with pytest.raises(ForeignBackingFile):
        qcow2.validate_import(datafile)
    truncated = tmp_path / "trunc.qcow2"
    truncated.write_bytes(base.read_bytes()[:50])
    with pytest.raises(NotADiskImage):
        qcow2.validate_import(truncated)
    i = qcow2.validate_import(base)
    assert (i.format, i.virtual_size, i.backing_file) == ("qcow2", 16 * MiB, None)


def _flaky_qemu_img(tmp_path: Path, failures: int, message: str) -> Path:
    """A qemu-img that fails ``failures`` times with ``message`` on stderr, then runs the real one
    (call N's stderr kept in ``err.N``: the real tool has the same flake on a busy host)."""
    count = tmp_path / "calls"
    count.write_text("0")
    exe = tmp_path / "qemu-img"
    exe.write_text(f"""#!/bin/sh
n=$(cat {count}); echo $((n + 1)) > {count}
if [ "$n" -lt {failures} ]; then echo "qemu-img: $5: {message}" >&2; exit 1; fi
qemu-img "$@" 2>{tmp_path}/err.$n; rc=$?
cat {tmp_path}/err.$n >&2
exit $rc
""")
    exe.chmod(0o755)
    return exe


def test_luks_pbkdf_timing_flake_is_run_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """QEMU's PBKDF2 timing can read 0 ms of user CPU and fail a LUKS create: that failure is
    transient, so the command runs again and the encrypted file is made."""
    monkeypatch.setattr(qcow2, "QEMU_IMG", str(_flaky_qemu_img(tmp_path, 2, "Unable to get accurate CPU usage")))
    p = qcow2.create_blank(tmp_path / "enc.qcow2", 64 * MiB, key="k" * 64)
    assert qcow2.read_header(p).encrypted
    calls = int((tmp_path / "calls").read_text())
    real = [(tmp_path / f"err.{n}").read_text() for n in range(2, calls)]
    # the two made-up flakes were run again; so was any flake of the real tool itself (a busy host),
    # and only those: the last real run succeeded
    assert calls >= 3 and all(qcow2._PBKDF_FLAKE in err for err in real[:-1]), real
    assert qcow2._PBKDF_FLAKE not in real[-1], real


def test_other_failures_and_a_lasting_flake_are_not_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qcow2, "QEMU_IMG", str(_flaky_qemu_img(tmp_path, 1, "Permission denied")))
    with pytest.raises(StorageError, match="Permission denied"):
        qcow2.create_blank(tmp_path / "a.qcow2", 64 * MiB)
    assert (tmp_path / "calls").read_text().strip() == "1"
    monkeypatch.setattr(qcow2, "QEMU_IMG", str(_flaky_qemu_img(tmp_path, 99, "Unable to get accurate CPU usage")))
    with pytest.raises(StorageError, match="accurate CPU usage"):
        qcow2.create_blank(tmp_path / "b.qcow2", 64 * MiB, key="k" * 64)
    assert (tmp_path / "calls").read_text().strip() == str(qcow2._PBKDF_TRIES)
    assert not list(tmp_path.glob("*.qcow2")) and not list(tmp_path.glob(".tmp-*"))
