"""The in-VPC service endpoint, from inside a VPC with unmodified clients.

In every VPC, VPC DNS answers ``*.amazonaws.com`` with ec2d's HTTPS endpoint (169.254.169.250 in the
VPC's namespace; S3's names with S3's own address there), whose certificate the host's CA signed. Here boto3 and the AWS CLI run inside the
default VPC's namespace (``ip netns exec``, resolv.conf naming the VPC's DNS, the CA as their
bundle: the trust the images have baked in) with no endpoint configured, and reach STS and S3 at
their AWS names. A new VPC gets its endpoint too, and loses it with the VPC.

Only addresses inside the namespaces ec2d creates are contacted; names outside ``amazonaws.com``
do not resolve there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from ec2d_server import RunningEc2d, start_ec2d

from orchestrator.domain.vpc_endpoints import s3_address
from orchestrator.drivers.network.names import LINK_LOCAL_DNS_IP, SERVICE_ENDPOINT_IP, netns_name
from orchestrator.tls import service_ca

VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEc2d]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    running = start_ec2d(tmp_path_factory.mktemp("endpoint-data"), s3=True)
    yield running
    running.stop()


class Vpc:
    """Runs commands in a VPC's namespace, resolving names with the VPC's DNS."""

    def __init__(self, server: RunningEc2d, vpc_id: str) -> None:
        self.ns = netns_name(server.config.prefix or "", vpc_id)
        self.etc = Path("/etc/netns") / self.ns  # ip netns exec bind-mounts these over /etc
        self.etc.mkdir(parents=True, exist_ok=True)
        (self.etc / "resolv.conf").write_text(f"nameserver {LINK_LOCAL_DNS_IP}\n")
        self.env = {"PATH": f"{VENV_BIN}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(server.config.data_dir),
                    "AWS_CA_BUNDLE": str(service_ca.ensure(server.config.cache_dir)),
                    "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
                    "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}

    def run(self, argv: list[str], env: dict[str, str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["ip", "netns", "exec", self.ns, *argv], env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=120)
        if check:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    def python(self, code: str, env: dict[str, str] | None = None, check: bool = True) -> str:
        return self.run([sys.executable, "-c", textwrap.dedent(code)], env, check).stdout

    def close(self) -> None:
        shutil.rmtree(self.etc, ignore_errors=True)


def keys(server: RunningEc2d) -> dict[str, str]:
    c = server.credentials
    return {"AWS_ACCESS_KEY_ID": c["aws_access_key_id"], "AWS_SECRET_ACCESS_KEY": c["aws_secret_access_key"]}


@pytest.fixture(scope="module")
def default_vpc(server: RunningEc2d) -> Iterator[Vpc]:
    vpc_id = server.client().describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    vpc = Vpc(server, vpc_id)
    yield vpc
    vpc.close()


RESOLVE = """
import json, socket
out = {}
for name in %r:
    try:
        out[name] = sorted({a[4][0] for a in socket.getaddrinfo(name, 443, socket.AF_INET, socket.SOCK_STREAM)})
    except socket.gaierror as exc:
        out[name] = "error: %%s" %% exc.errno
    try:
        socket.getaddrinfo(name, 443, socket.AF_INET6, socket.SOCK_STREAM)
        out[name + " AAAA"] = "answered"
    except socket.gaierror:
        out[name + " AAAA"] = "none"
print(json.dumps(out))
"""


def test_vpc_dns_answers_aws_names_with_the_endpoint_and_nothing_else(default_vpc: Vpc) -> None:
    """S3's names get S3's own address (reached as the route tables allow: tests/instances/
    test_s3_endpoint.py), the other services' the endpoint's."""
    s3_names = ["s3.amazonaws.com", "s3.us-east-1.amazonaws.com", "bucket-1.s3.us-east-1.amazonaws.com"]
    names = [*s3_names, "sts.amazonaws.com", "sts.us-east-1.amazonaws.com", "ec2.us-east-1.amazonaws.com",
             "example.com"]
    got = json.loads(default_vpc.python(RESOLVE % (names,)))
    for name in names[:-1]:
        assert got[name] == [s3_address("us-east-1") if name in s3_names else SERVICE_ENDPOINT_IP], (name, got)
        assert got[name + " AAAA"] == "none", (name, got)
    assert got["example.com"] != [SERVICE_ENDPOINT_IP] and got["example.com"].startswith("error"), got


def test_the_certificate_is_the_hosts_ca_s_and_no_public_ca_s(default_vpc: Vpc) -> None:
    code = """
        import socket, ssl, sys
        ctx = ssl.create_default_context(cafile=sys.argv[1]) if len(sys.argv) > 1 else ssl.create_default_context()
        try:
            with socket.create_connection(("sts.us-east-1.amazonaws.com", 443), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="sts.us-east-1.amazonaws.com") as tls:
                    print("verified", tls.version())
        except ssl.SSLCertVerificationError as exc:
            print("refused", exc.verify_message)
    """
    ca = default_vpc.env["AWS_CA_BUNDLE"]
    assert default_vpc.run([sys.executable, "-c", textwrap.dedent(code), ca]).stdout.startswith("verified TLSv1.")
    import certifi  # a bundle of public CAs only: it must refuse ec2d's endpoint

    assert "refused" in default_vpc.run([sys.executable, "-c", textwrap.dedent(code), certifi.where()]).stdout


def test_boto3_reaches_sts_and_s3_by_their_aws_names(server: RunningEc2d, default_vpc: Vpc) -> None:
    bucket = f"ep-{uuid.uuid4().hex[:10]}"
    host_s3 = server.client("s3")
    host_s3.create_bucket(Bucket=bucket)
    host_s3.put_object(Bucket=bucket, Key="from-host", Body=b"hello from the host")
    code = f"""
        import boto3, json
        from botocore.config import Config
        sts = boto3.client("sts")
        s3 = boto3.client("s3", config=Config(s3={{"addressing_style": "virtual"}}))
        me = sts.get_caller_identity()
        s3.put_object(Bucket="{bucket}", Key="from-vpc", Body=b"hello from the vpc")
        got = s3.get_object(Bucket="{bucket}", Key="from-host")["Body"].read().decode()
        print(json.dumps({{"account": me["Account"], "arn": me["Arn"], "got": got,
                          "sts": sts.meta.endpoint_url, "s3": s3.meta.endpoint_url}}))
    """
    out = json.loads(default_vpc.python(code, keys(server)))
    assert out["got"] == "hello from the host"
    assert out["account"] == server.client("sts").get_caller_identity()["Account"]
    assert out["sts"].endswith(".amazonaws.com") and out["s3"].endswith(".amazonaws.com"), out  # AWS's own names
    assert host_s3.get_object(Bucket=bucket, Key="from-vpc")["Body"].read() == b"hello from the vpc"


def test_the_aws_cli_copies_through_the_endpoint(server: RunningEc2d, default_vpc: Vpc, tmp_path: Path) -> None:
    bucket = f"ep-{uuid.uuid4().hex[:10]}"
    host_s3 = server.client("s3")
    host_s3.create_bucket(Bucket=bucket)
    host_s3.put_object(Bucket=bucket, Key="x", Body=b"object x\n")
    assert default_vpc.run(["aws", "s3", "cp", f"s3://{bucket}/x", "-"], keys(server)).stdout == "object x\n"
    local = tmp_path / "up.bin"
    local.write_bytes(os.urandom(9 * 1024 * 1024 + 5))  # over the CLI's 8 MiB threshold: a multipart upload
    default_vpc.run(["aws", "s3", "cp", str(local), f"s3://{bucket}/up.bin"], keys(server))
    assert host_s3.get_object(Bucket=bucket, Key="up.bin")["Body"].read() == local.read_bytes()
    denied = default_vpc.run(["aws", "s3", "ls", f"s3://{bucket}"],
                             {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "x" * 40},
                             check=False)
    assert denied.returncode != 0 and "InvalidAccessKeyId" in denied.stderr, denied.stderr


def test_a_new_vpc_gets_its_own_endpoint_and_loses_it_with_the_vpc(server: RunningEc2d) -> None:
    ec2 = server.client()
    vpc_id = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    vpc = Vpc(server, vpc_id)
    try:
        code = """
            import boto3
            print(boto3.client("sts").get_caller_identity()["Account"])
        """
        assert vpc.python(code, keys(server)).strip() == server.client("sts").get_caller_identity()["Account"]
        ec2.delete_vpc(VpcId=vpc_id)
        gone = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert vpc.ns not in gone
    finally:
        vpc.close()
        try:
            ec2.delete_vpc(VpcId=vpc_id)
        except ec2.exceptions.ClientError:
            pass
