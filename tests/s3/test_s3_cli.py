"""The AWS CLI against ec2d's S3, with the root profile ``ec2d aws-profile`` writes (it names
ec2d's endpoint for every service, S3 included): ``aws s3 mb/cp/ls/rm``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ec2d_server import RunningEc2d

BIN = Path(sys.executable).parent


def aws(env: dict[str, str], *args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run([str(BIN / "aws"), "--profile", "ec2d", *args], env=env, input=stdin,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def test_aws_cli_s3_commands(s3d: RunningEc2d, tmp_path: Path) -> None:
    aws_dir = tmp_path / "aws"
    subprocess.run([sys.executable, "-m", "orchestrator.cli.main", "--data-dir", str(s3d.config.data_dir),
                    "aws-profile", "--aws-dir", str(aws_dir), "--listen", s3d.config.listen], check=True,
                   env={**os.environ}, timeout=60)
    env = {**os.environ, "AWS_CONFIG_FILE": str(aws_dir / "config"),
           "AWS_SHARED_CREDENTIALS_FILE": str(aws_dir / "credentials"), "HOME": str(tmp_path)}
    env.pop("AWS_PROFILE", None)
    endpoint = s3d.config.endpoint_url
    aws(env, "--endpoint-url", endpoint, "s3", "mb", "s3://cli-bucket")
    src = tmp_path / "hello.txt"
    src.write_bytes(b"hello from the aws cli\n")
    aws(env, "--endpoint-url", endpoint, "s3", "cp", str(src), "s3://cli-bucket/dir/hello.txt")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 * 1024 * 1024))  # over the CLI's 8 MiB threshold: multipart
    aws(env, "s3", "cp", str(big), "s3://cli-bucket/big.bin")  # the profile's endpoint_url alone
    listing = aws(env, "--endpoint-url", endpoint, "s3", "ls", "s3://cli-bucket/", "--recursive")
    assert "dir/hello.txt" in listing and "big.bin" in listing and str(9 * 1024 * 1024) in listing
    assert aws(env, "s3", "cp", "s3://cli-bucket/dir/hello.txt", "-") == "hello from the aws cli\n"
    aws(env, "s3", "cp", "s3://cli-bucket/big.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == big.read_bytes()
    aws(env, "--endpoint-url", endpoint, "s3", "rm", "s3://cli-bucket/", "--recursive")
    assert aws(env, "s3", "ls", "s3://cli-bucket/", "--recursive") == ""
    aws(env, "s3", "rb", "s3://cli-bucket")
    assert "cli-bucket" not in aws(env, "s3", "ls")
