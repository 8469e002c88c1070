"""The S3 engine lives and dies with its ec2d: stopped (no process, no pid file, no socket) when
ec2d stops, killed by the kernel when ec2d is SIGKILLed, swept at the next start when a leftover is
found, and its data kept across restarts. Each test has its own data dir and ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from xml.etree import ElementTree

import pytest
from ec2d_server import free_port, start_ec2d
from s3lib import (
    credentials,
    engine_pid,
    pid_alive,
    raw,
    s3_client,
    start_with_s3,
    wait_for,
    weed_processes_for,
)

from orchestrator.drivers.objectstore import seaweed

REPO = Path(__file__).resolve().parents[2]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_stop_leaves_nothing_and_restart_keeps_the_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_with_s3(data)
    try:
        pid = engine_pid(data)
        ports = json.loads((data / "s3" / "weed.pid").read_text())["ports"]
        assert all(p != server.config.port for p in ports.values()) and len(set(ports.values())) == len(ports)
        assert oct((data / "s3" / "engine-admin.json").stat().st_mode & 0o777) == "0o600"
        s3 = s3_client(server)
        s3.create_bucket(Bucket="kept-data")
        s3.put_object(Bucket="kept-data", Key="k", Body=b"survives a restart")
    finally:
        server.stop()
    assert not pid_alive(pid) and weed_processes_for(data) == []
    assert not (data / "s3" / "weed.pid").exists()
    assert not any(port_open(p) for p in ports.values())
    assert not any(path.exists() for path in seaweed._sockets(ports))

    server = start_with_s3(data)
    try:
        s3 = s3_client(server)
        assert s3.get_object(Bucket="kept-data", Key="k")["Body"].read() == b"survives a restart"
    finally:
        server.stop()
    assert weed_processes_for(data) == []


def test_sigkilled_ec2d_leaves_no_engine(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    script = textwrap.dedent(f"""
        from pathlib import Path
        from orchestrator.config import Config
        from orchestrator.server import serve
        serve(Config(data_dir=Path({str(data)!r}), listen="127.0.0.1:{port}", instances=False,
                     build_images=False, prefix="ec2dtkill"))
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: port_open(port), "ec2d to listen", timeout=120)
        pid = engine_pid(data)
        assert pid_alive(pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        wait_for(lambda: not pid_alive(pid), "the engine to die with its ec2d (PR_SET_PDEATHSIG)")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert weed_processes_for(data) == []
    assert seaweed.sweep_leftover(data / "s3") == []  # its pid file names a dead process: just removed
    assert not (data / "s3" / "weed.pid").exists()


def test_a_leftover_engine_is_swept_but_nothing_else(tmp_path: Path) -> None:
    engine_dir = tmp_path / "data" / "s3"
    (engine_dir / "data").mkdir(parents=True)
    binary = seaweed.weed_binary()
    assert binary is not None
    ports = dict(zip(seaweed.PORTS, seaweed.free_ports(len(seaweed.PORTS)), strict=True))
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    leftover = subprocess.Popen(seaweed.command(binary, engine_dir, ports), cwd=engine_dir, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        (engine_dir / "weed.pid").write_text(json.dumps({"pid": stranger.pid, "ports": ports}))
        assert seaweed.sweep_leftover(engine_dir) == []  # a pid that is not this data dir's weed: untouched
        assert stranger.poll() is None
        (engine_dir / "weed.pid").write_text(json.dumps({"pid": leftover.pid, "ports": ports}))
        wait_for(lambda: Path(f"/proc/{leftover.pid}/cmdline").read_bytes(), "the leftover's command line")
        assert seaweed.sweep_leftover(engine_dir) == [f"weed pid {leftover.pid}"]
        assert leftover.wait(10) == -signal.SIGKILL
        assert not (engine_dir / "weed.pid").exists()
    finally:
        for p in (stranger, leftover):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_uninstall_removes_a_leftover_engine(tmp_path: Path) -> None:
    from orchestrator.config import Config
    from orchestrator.hostscope import uninstall

    data = tmp_path / "data"
    engine_dir = data / "s3"
    (engine_dir / "data").mkdir(parents=True)
    binary = seaweed.weed_binary()
    assert binary is not None
    ports = dict(zip(seaweed.PORTS, seaweed.free_ports(len(seaweed.PORTS)), strict=True))
    leftover = subprocess.Popen(seaweed.command(binary, engine_dir, ports), cwd=engine_dir, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        (engine_dir / "weed.pid").write_text(json.dumps({"pid": leftover.pid, "ports": ports}))
        wait_for(lambda: Path(f"/proc/{leftover.pid}/cmdline").read_bytes(), "the leftover's command line")
        report = uninstall(Config(data_dir=data))  # no host prefix was ever made: only the engine
        assert report == {"s3 engine": [f"weed pid {leftover.pid}"]}
        assert leftover.wait(10) == -signal.SIGKILL
    finally:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait()


def test_s3_can_be_switched_off(tmp_path: Path) -> None:
    server = start_ec2d(tmp_path / "data", instances=False, build_images=False, s3=False)
    try:
        assert not (tmp_path / "data" / "s3").exists()
        status, _, body = raw(server, "GET", "/", sign=credentials(server))
        assert status == 503 and ElementTree.fromstring(body).findtext("Code") == "ServiceUnavailable"
        assert server.client("sts").get_caller_identity()["Account"]
    finally:
        server.stop()


@pytest.mark.parametrize("flag", ["--no-s3"])
def test_cli_flag(flag: str) -> None:
    from orchestrator.cli.main import _config, build_parser

    args = build_parser().parse_args(["--data-dir", "/tmp/x", "serve", flag])
    assert _config(args).s3 is False
    assert _config(build_parser().parse_args(["--data-dir", "/tmp/x", "serve"])).s3 is True
