"""`ec2d serve` refuses clearly (one line, exit 1, no traceback) when its data dir is already
served, or when its API address is taken by another daemon; `ec2d uninstall` of a data dir nothing
was ever made for says so."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from ec2d_server import free_port

EC2D = [sys.executable, "-m", "orchestrator.cli.main"]


def serve(data_dir: Path, listen: str) -> list[str]:
    return [*EC2D, "--data-dir", str(data_dir), "serve", "--no-instances", "--listen", listen]


def wait_listening(port: int, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("ec2d did not start listening")


def test_serve_refuses_a_served_data_dir_and_a_taken_address(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "EC2D_REGIONS": "us-east-1=a"}
    first = subprocess.Popen(serve(tmp_path / "a", f"127.0.0.1:{port}"), env=env, text=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_listening(port, first)
        same_dir = subprocess.run(serve(tmp_path / "a", f"127.0.0.1:{free_port()}"), env=env,
                                  capture_output=True, text=True, timeout=120)
        assert same_dir.returncode == 1
        assert f"another ec2d serves {tmp_path / 'a'} (pid {first.pid})" in same_dir.stderr
        assert "Traceback" not in same_dir.stderr
        same_port = subprocess.run(serve(tmp_path / "b", f"127.0.0.1:{port}"), env=env,
                                   capture_output=True, text=True, timeout=120)
        assert same_port.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in same_port.stderr and "Traceback" not in same_port.stderr
        busy = subprocess.run([*EC2D, "--data-dir", str(tmp_path / "a"), "uninstall"], capture_output=True,
                              text=True, timeout=120)
        assert busy.returncode == 1 and "another ec2d serves" in busy.stderr
    finally:
        first.terminate()
        first.wait(60)
    never = subprocess.run([*EC2D, "--data-dir", str(tmp_path / "never"), "uninstall", "--purge"],
                           capture_output=True, text=True, timeout=120)
    assert never.returncode == 0 and "no host objects were ever made" in never.stdout
    assert not (tmp_path / "never").exists()
