"""Ansible's amazon.aws collection against a real ec2d with real guests: playbook.yml (VPC, subnet,
internet gateway, route table, security group, key, instance, volume, snapshot, stop and start)
makes everything on its first run and changes nothing on its second; teardown.yml removes it all,
and boto3 then finds nothing of it left."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
PLAYBOOK = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) or shutil.which("ansible-playbook")

pytestmark = pytest.mark.skipif(PLAYBOOK is None, reason="PyPI's ansible package is not installed")


def play(ec2d: Any, tmp_path: Path, book: str, extra: dict[str, str]) -> dict[str, int]:
    """Run ``book``; the PLAY RECAP's counts for localhost (the whole -vvv log kept in tmp_path)."""
    env = dict(os.environ, ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_RETRY_FILES_ENABLED="0")
    variables = {"endpoint": ec2d.config.endpoint_url, "region": "us-east-1",
                 "access_key": ec2d.credentials["aws_access_key_id"],
                 "secret_key": ec2d.credentials["aws_secret_access_key"],
                 "ansible_python_interpreter": sys.executable, **extra}
    args = [str(PLAYBOOK), "-i", "localhost,", "-vvv", str(HERE / book)]
    for k, v in variables.items():
        args += ["-e", f"{k}={v}"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=1200)
    log = tmp_path / f"{book}.{len(list(tmp_path.glob(book + '.*')))}.log"
    log.write_text(done.stdout + done.stderr)
    recap = re.search(r"^localhost\s*:\s*(.*)$", done.stdout, re.M)
    tail = "\n".join((done.stdout + done.stderr).splitlines()[-60:])
    assert done.returncode == 0 and recap, f"{book} failed (log: {log}):\n{tail}"
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", recap.group(1))}


def left_over(ec2: Any, name: str) -> dict[str, list[str]]:
    tagged = [{"Name": "tag:Name", "Values": [name]}]
    found = {
        "vpcs": [v["VpcId"] for v in ec2.describe_vpcs(Filters=tagged)["Vpcs"]],
        "subnets": [s["SubnetId"] for s in ec2.describe_subnets(Filters=tagged)["Subnets"]],
        "gateways": [g["InternetGatewayId"] for g in ec2.describe_internet_gateways(Filters=tagged)["InternetGateways"]],
        "route tables": [t["RouteTableId"] for t in ec2.describe_route_tables(Filters=tagged)["RouteTables"]],
        "groups": [g["GroupId"] for g in ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"]],
        "keys": [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"] if k["KeyName"] == name],
        "instances": [i["InstanceId"] for r in ec2.describe_instances(Filters=tagged)["Reservations"]
                      for i in r["Instances"] if i["State"]["Name"] != "terminated"],
        "volumes": [v["VolumeId"] for v in ec2.describe_volumes(Filters=[{"Name": "tag:Name", "Values": [name, name + "-data"]}])["Volumes"]],
        "snapshots": [s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"], Filters=tagged)["Snapshots"]],
    }
    return {k: v for k, v in found.items() if v}


def test_playbook_twice_then_teardown(ec2d: Any, ec2: Any, tmp_path: Path) -> None:
    name = f"ansible-{uuid.uuid4().hex[:6]}"
    extra = {"label": name, "cidr": f"10.{random.randrange(100, 250)}"}  # `name` is a reserved Ansible variable
    try:
        first = play(ec2d, tmp_path, "playbook.yml", extra)
        # made: VPC, subnet, gateway, route table, group, key, instance, volume, snapshot; stop; start
        assert first["changed"] == 11 and first["failed"] == 0, first
        instance = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": [name]}])["Reservations"][0]["Instances"][0]
        assert instance["State"]["Name"] == "running" and instance["PublicIpAddress"]
        assert [m["DeviceName"] for m in instance["BlockDeviceMappings"]][-1] == "/dev/sdf"
        snapshot, = ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag:Name", "Values": [name]}])["Snapshots"]
        assert snapshot["VolumeId"] == instance["BlockDeviceMappings"][-1]["Ebs"]["VolumeId"]
        second = play(ec2d, tmp_path, "playbook.yml", extra)
        assert second["changed"] == 0 and second["failed"] == 0, second
    finally:
        play(ec2d, tmp_path, "teardown.yml", extra)
    assert left_over(ec2, name) == {}
