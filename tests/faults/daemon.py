"""A real ``ec2d serve`` in a subprocess (its own data dir, port and ``ec2dt<hex>`` prefix) that a
test can ``kill -9`` and restart, and an inventory of the host objects of its prefix, to find
orphans after a crash. Used by tests/faults and bench/crash.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from ec2d_server import free_port, make_test_prefix  # noqa: E402
from guests import private_key, ssh  # noqa: E402
from waiting import until  # noqa: E402

from orchestrator.config import Config  # noqa: E402
from orchestrator.drivers.network.names import is_tap_name, tap_name  # noqa: E402

START_DEADLINE = 600.0  # a fresh cache builds ec2d-tiny and probes KVM first
SETTLE_DEADLINE = 600.0


def run(cmd: list[str]) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120).stdout


class Daemon:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.prefix = make_test_prefix()
        self.port = free_port()
        self.config = Config(data_dir=data_dir, listen=f"127.0.0.1:{self.port}", prefix=self.prefix)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "ec2d.log"

    # ------------------------------------------------------------------ process
    def start(self) -> Daemon:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from orchestrator.cli.main import main; main()",
                 "--data-dir", str(self.data_dir), "serve", "--listen", f"127.0.0.1:{self.port}",
                 "--prefix", self.prefix],
                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(REPO)})
        until("ec2d to answer", self._answers, START_DEADLINE)
        return self

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"ec2d exited with {self.proc.returncode}:\n{self.tail()}")
        try:
            self.client().describe_regions()
            return True
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(60)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(60)
        self.proc = None

    def sweep(self) -> None:
        from orchestrator.hostscope import sweep

        sweep(self.prefix)

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def client(self, region: str = "us-east-1") -> Any:
        from orchestrator.services.credentials import load_or_create

        c = load_or_create(self.config.credentials_path)
        return boto3.client("ec2", region_name=region, endpoint_url=self.config.endpoint_url,
                            aws_access_key_id=c.access_key_id, aws_secret_access_key=c.secret_access_key,
                            config=BotoConfig(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=120))

    # ------------------------------------------------------------------ API helpers
    def instances(self) -> list[dict[str, Any]]:
        return [i for r in self.client().describe_instances()["Reservations"] for i in r["Instances"]]

    def netns(self, instance: dict[str, Any]) -> str:
        return f"{self.prefix}-{instance['VpcId']}"

    def prepare(self) -> tuple[str, str, Any]:
        """(tiny AMI, key name, private key) with SSH open in the default security group."""
        ec2 = self.client()
        found = ec2.describe_images(Owners=["ec2d"], Filters=[{"Name": "name", "Values": ["ec2d-tiny-*"]}])["Images"]
        ami = max(found, key=lambda i: i["CreationDate"])["ImageId"]
        ec2.get_waiter("image_available").wait(ImageIds=[ami], WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        made = ec2.create_key_pair(KeyName=f"crash-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
        ec2.authorize_security_group_ingress(GroupName="default", IpProtocol="tcp", FromPort=22, ToPort=22,
                                             CidrIp="0.0.0.0/0")
        return ami, made["KeyName"], private_key(made["KeyMaterial"])

    def settled(self) -> list[dict[str, Any]] | None:
        """All instances, once every one is running or terminated (None while any is not)."""
        insts = self.instances()
        return insts if all(i["State"]["Name"] in ("running", "terminated") for i in insts) else None

    def login(self, instance: dict[str, Any], key: Any, timeout: float = 300) -> str:
        guest = ssh(self.netns(instance), instance["PrivateIpAddress"], key, timeout=timeout)
        try:
            return guest.run("cat /run/ec2d-tiny/instance-id").strip()
        finally:
            guest.close()

    # ------------------------------------------------------------------ host inventory
    def domains(self) -> list[str]:
        from orchestrator.drivers.compute.libvirt_driver import LibvirtCompute

        compute = LibvirtCompute()
        try:
            return compute.list_domains(f"{self.prefix}-i-")
        finally:
            compute.close()

    def vpc_namespaces(self) -> list[str]:
        return [ln.split()[0] for ln in run(["ip", "netns", "list"]).splitlines()
                if ln.split() and ln.split()[0].startswith(f"{self.prefix}-vpc-")]

    def links(self, ns: str | None) -> list[str]:
        cmd = ["ip", "-o", "link", "show"] if ns is None else ["ip", "-n", ns, "-o", "link", "show"]
        return [ln.split(":")[1].strip().split("@")[0] for ln in run(cmd).splitlines() if ":" in ln]

    def root_taps(self) -> list[str]:
        return [n for n in self.links(None) if is_tap_name(self.prefix, n)]

    def vpc_taps(self) -> dict[str, list[str]]:
        return {ns: [n for n in self.links(ns) if is_tap_name(self.prefix, n)] for ns in self.vpc_namespaces()}

    def nft_taps(self, ns: str) -> list[str]:
        out = run(["ip", "netns", "exec", ns, "nft", "-j", "list", "set", "bridge", "ec2d_as", "taps"])
        try:
            items = json.loads(out)["nftables"]
        except (ValueError, KeyError):
            return []
        return [e for it in items if "set" in it for e in it["set"].get("elem", []) if isinstance(e, str)]

    def lease_macs(self) -> list[str]:
        macs = []
        for hosts in Path(f"/run/{self.prefix}").glob("*/dhcp-hosts"):
            macs += [ln.split(",")[0].lower() for ln in hosts.read_text().splitlines() if ln.strip()]
        return macs

    def volume_files(self) -> list[str]:
        from orchestrator.drivers.storage.volumes import Qcow2Storage

        return Qcow2Storage(self.data_dir / "storage").list_volumes()

    def quiet_orphans(self, grace: float = 60.0) -> dict[str, list[str]]:
        """``orphans()`` once it is empty, or what is still there after ``grace`` seconds: an
        instance's state changes just before its VPC's leases and firewall are re-synced."""
        deadline = time.monotonic() + grace
        while True:
            found = self.orphans()
            if not any(found.values()) or time.monotonic() > deadline:
                return found
            time.sleep(1)

    def orphans(self) -> dict[str, list[str]]:
        """Host objects of this prefix that no instance/volume in ec2d's answers accounts for
        (and, as 'missing', what a running instance lacks)."""
        insts = self.instances()
        running = [i for i in insts if i["State"]["Name"] == "running"]
        alive = [i for i in insts if i["State"]["Name"] != "terminated"]
        want_domains = {f"{self.prefix}-{i['InstanceId']}" for i in running}
        want_taps = {tap_name(self.prefix, n["NetworkInterfaceId"]) for i in running for n in i["NetworkInterfaces"]}
        want_macs = {n["MacAddress"].lower() for i in alive for n in i["NetworkInterfaces"]}
        volumes = {v["VolumeId"] for v in self.client().describe_volumes()["Volumes"]}
        domains = set(self.domains())
        in_vpcs = self.vpc_taps()
        nft = {t for ns in in_vpcs for t in self.nft_taps(ns)}
        vpc_taps = {t for taps in in_vpcs.values() for t in taps}
        return {
            "domains": sorted(domains - want_domains),
            "disks": sorted(set(self.volume_files()) - volumes),
            "taps": sorted(set(self.root_taps()) | (vpc_taps - want_taps)),
            "leases": sorted(set(self.lease_macs()) - want_macs),
            "nft": sorted(nft - want_taps),
            "missing": sorted((want_domains - domains) | (want_taps - vpc_taps) | (want_taps - nft)),
        }


# --------------------------------------------------------------------------- the crash scenario
KILL_POINTS: dict[str, Callable[[Daemon], bool]] = {
    # as soon as RunInstances answered: the launches are preparing disks, no domain yet
    "before-domain": lambda d: True,
    # the first domain of the batch exists (started or starting), before its NIC is plugged
    "after-domain": lambda d: bool(d.domains()),
    # the first tap has been moved into its VPC: plugs are under way
    "during-plug": lambda d: any(d.vpc_taps().values()),
}


def crash_once(workdir: Path, point: str, count: int) -> dict[str, Any]:
    """Start ec2d, RunInstances ``count`` at once, ``kill -9`` ec2d at ``point`` (observed on the
    host, not timed), restart it and wait until every instance is running or terminated. Checks
    SSH into every running one and the host for orphans, then terminates all (orphans again) and
    removes everything of the prefix. Returns the figures."""
    d = Daemon(workdir).start()
    try:
        ami, key_name, key = d.prepare()
        d.client().run_instances(ImageId=ami, MinCount=count, MaxCount=count, InstanceType="t3.nano",
                                 KeyName=key_name)
        until(f"kill point {point}", lambda: KILL_POINTS[point](d), 300, every=0.02)
        seen = {"domains": len(d.domains()), "taps_in_vpc": sum(len(t) for t in d.vpc_taps().values())}
        d.kill9()
        restarted = time.monotonic()
        d.start()
        insts = until("every instance running or terminated", d.settled, SETTLE_DEADLINE)
        settle = time.monotonic() - restarted
        running = [i for i in insts if i["State"]["Name"] == "running"]
        terminated = [i for i in insts if i["State"]["Name"] == "terminated"]
        reasons = [(i.get("StateReason") or {}).get("Code") for i in terminated]
        logins = {i["InstanceId"]: d.login(i, key) for i in running}
        orphans = d.quiet_orphans()
        d.client().terminate_instances(InstanceIds=[i["InstanceId"] for i in insts])
        until("all terminated", lambda: all(i["State"]["Name"] == "terminated" for i in d.instances()), 300)
        after = d.quiet_orphans()
        return {"point": point, "count": len(insts), "seen_at_kill": seen, "running": len(running),
                "terminated": len(terminated), "reasons": reasons, "logins": logins, "orphans": orphans,
                "orphans_after_terminate": after, "settle_s": settle}
    except BaseException:
        print(f"ec2d log ({d.log}):\n{d.tail()}")
        raise
    finally:
        if d.proc is not None:
            d.stop()
        d.sweep()
