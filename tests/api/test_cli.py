"""The ec2d command as a user runs it: serve, credentials, aws-profile with the AWS CLI, restart."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ec2d_server import make_test_prefix

from orchestrator.hostscope import sweep

BIN = Path(sys.executable).parent
EC2D = str(BIN / "ec2d")
AWS = str(BIN / "aws")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 600) -> None:
    """Until ec2d listens (or exits); ``timeout`` is a backstop only: start-up probes KVM, may
    build ec2d-tiny and starts the S3 engine, which takes a while on a loaded machine."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"ec2d exited: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"ec2d did not listen: {log.read_text()}")


@pytest.fixture()
def served(tmp_path: Path):
    port = free_port()
    data = tmp_path / "data"
    prefix = make_test_prefix()
    procs: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        log = tmp_path / f"ec2d-{len(procs)}.log"  # a file, not a pipe nobody reads (a full pipe blocks ec2d)
        with open(log, "w") as out:
            proc = subprocess.Popen([EC2D, "--data-dir", str(data), "serve", "--listen", f"127.0.0.1:{port}",
                                     "--prefix", prefix], stdout=out, stderr=subprocess.STDOUT, text=True)
        procs.append(proc)
        wait_port(port, proc, log)
        return proc

    yield start, data, port
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    sweep(prefix)


def aws(tmp_path: Path, *args: str) -> dict:
    env = {**os.environ, "AWS_CONFIG_FILE": str(tmp_path / "aws" / "config"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws" / "credentials")}
    env.pop("AWS_PROFILE", None)
    out = subprocess.run([AWS, "--profile", "ec2d", *args], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else {}


def test_first_session_with_the_aws_cli(served, tmp_path: Path) -> None:
    start, data, port = served
    proc = start()
    creds = json.loads(subprocess.check_output([EC2D, "--data-dir", str(data), "credentials"], text=True))
    assert creds["AccessKeyId"].startswith("AKIA") and len(creds["SecretAccessKey"]) == 40
    assert stat.S_IMODE((data / "credentials.json").stat().st_mode) == 0o600
    subprocess.run([EC2D, "--data-dir", str(data), "aws-profile", "--aws-dir", str(tmp_path / "aws"),
                    "--listen", f"127.0.0.1:{port}"], check=True, capture_output=True)
    zones = aws(tmp_path, "ec2", "describe-availability-zones")["AvailabilityZones"]
    assert [z["ZoneName"] for z in zones] == ["us-east-1a", "us-east-1b", "us-east-1c"]
    west = aws(tmp_path, "ec2", "describe-availability-zones", "--region", "us-west-2")["AvailabilityZones"]
    assert west[0]["ZoneName"] == "us-west-2a"
    made = aws(tmp_path, "ec2", "create-key-pair", "--key-name", "cli-key", "--key-type", "ed25519")
    aws(tmp_path, "ec2", "create-tags", "--resources", made["KeyPairId"], "--tags", "Key=Name,Value=laptop")

    # Stop (SIGTERM: clean exit) and start again on the same data dir: everything is still there.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    start()
    again = aws(tmp_path, "ec2", "describe-key-pairs", "--key-names", "cli-key")["KeyPairs"][0]
    assert again["KeyPairId"] == made["KeyPairId"]
    assert again["KeyFingerprint"] == made["KeyFingerprint"]
    assert again["Tags"] == [{"Key": "Name", "Value": "laptop"}]
    creds_again = json.loads(subprocess.check_output([EC2D, "--data-dir", str(data), "credentials"], text=True))
    assert creds_again == creds


def test_boto3_session_from_profile(served, tmp_path: Path, monkeypatch) -> None:
    import boto3

    start, data, port = served
    start()
    subprocess.run([EC2D, "--data-dir", str(data), "aws-profile", "--aws-dir", str(tmp_path / "aws"),
                    "--listen", f"127.0.0.1:{port}"], check=True, capture_output=True)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws" / "credentials"))
    ec2 = boto3.Session(profile_name="ec2d").client("ec2")
    assert ec2.meta.region_name == "us-east-1"
    assert len(ec2.describe_regions()["Regions"]) == 2


def test_status_reports_host_readiness(tmp_path: Path) -> None:
    out = subprocess.run([EC2D, "--data-dir", str(tmp_path), "status", "--json"], capture_output=True, text=True,
                         timeout=300)
    report = json.loads(out.stdout)
    assert out.returncode == 0 and report["ok"] is True
    assert report["libvirt"].startswith("ok")
    mode, _, reason = report["virtualization"].partition(" ")
    assert mode in ("kvm", "tcg") and reason  # decided by a probe boot, with the reason
    assert report["nftables"].startswith("nftables") and report["dnsmasq"].startswith("Dnsmasq")
    assert report["regions"]["us-west-2"] == "us-west-2a, us-west-2b, us-west-2c"
