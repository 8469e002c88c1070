"""`vagrant validate` on vagrant/Vagrantfile, when the vagrant command is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

VAGRANT_DIR = Path(__file__).resolve().parents[2] / "vagrant"
VAGRANT = shutil.which("vagrant")

pytestmark = pytest.mark.skipif(
    VAGRANT is None,
    reason="the vagrant command is not installed (apt-get install -y --no-install-recommends vagrant)",
)


def vagrant(tmp_path: Path, *args: str, provider: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        VAGRANT_CHECKPOINT_DISABLE="1",  # no update check: nothing leaves the machine
        VAGRANT_DOTFILE_PATH=str(tmp_path / "dotvagrant"),  # keep vagrant/.vagrant out of the tree
        VAGRANT_NO_COLOR="1",
    )
    if provider is not None:
        env["VAGRANT_DEFAULT_PROVIDER"] = provider
    return subprocess.run(
        [VAGRANT or "vagrant", *args], cwd=VAGRANT_DIR, env=env, capture_output=True, text=True, timeout=300
    )


def has_libvirt_plugin(tmp_path: Path) -> bool:
    result = vagrant(tmp_path, "plugin", "list")
    return result.returncode == 0 and "vagrant-libvirt" in result.stdout


def test_vagrantfile_validates(tmp_path: Path) -> None:
    """Everything but provider blocks (no provider needs to be usable on this host)."""
    result = vagrant(tmp_path, "validate", "--ignore-provider")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validated successfully" in result.stdout


def test_vagrantfile_validates_with_libvirt_provider(tmp_path: Path) -> None:
    """With vagrant-libvirt installed its block is checked too (unknown settings are errors)."""
    if not has_libvirt_plugin(tmp_path):
        pytest.skip("vagrant-libvirt plugin not installed (Debian package vagrant-libvirt)")
    result = vagrant(tmp_path, "validate", provider="libvirt")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validated successfully" in result.stdout


def test_vagrantfile_settings() -> None:
    text = (VAGRANT_DIR / "Vagrantfile").read_text()
    for needle in (
        'config.vm.box = "debian/bookworm64"',
        "lv.nested = true",
        'lv.cpu_mode = "host-passthrough"',
        '"--nested-hw-virt", "on"',
        '"/ec2d"',
        "bash /ec2d/scripts/setup.sh",
        "ec2d serve --listen 0.0.0.0:",
        'forwarded_port", guest: API_PORT, host: HOST_PORT',
    ):
        assert needle in text, needle
