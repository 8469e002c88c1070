"""IMDS isolation figures: a real ec2d-tiny guest spoofing its neighbour's IP, MAC or both.

    .venv/bin/python bench/imds_spoof.py [-n 10]

Starts ec2d in this process (prefix ec2dt + 4 hex, temporary data dir), launches two ec2d-tiny
instances in one subnet (HttpTokens=optional, so IMDSv1 is a real attempt too), and runs the
experiment of tests/spoofing.py from instance A against instance B: per mode, N x (IMDSv1 GET
instance-id, IMDSv1 GET identity credentials, IMDSv2 PUT token + GET). Prints, per mode, the
requests attempted / answered / answers leaking B's id or keys / answers with A's own id, and the
frames from A's tap carrying B's MAC or IP, seen before ec2d's anti-spoofing table and passed after
it. Everything is terminated and swept at the end. Root only; nothing leaves the VPC namespace.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import spoofing  # noqa: E402
from ec2d_server import RunningEc2d, free_port, make_test_prefix  # noqa: E402
from guests import instance_netns, private_key, ssh  # noqa: E402

from orchestrator.config import Config  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--attempts", type=int, default=10, help="attempts per mode and request kind")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/imds_spoof.py needs root (namespaces, libvirt)", file=sys.stderr)
        return 2
    data_dir = Path(tempfile.mkdtemp(prefix="ec2d-bench-spoof-"))
    prefix = make_test_prefix()
    server = RunningEc2d(Config(data_dir=data_dir, listen=f"127.0.0.1:{free_port()}", prefix=prefix)).start()
    ec2 = server.client()
    ids: list[str] = []
    failed = True
    try:
        made = ec2.create_key_pair(KeyName=f"spoof-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
        key = private_key(made["KeyMaterial"])
        images = ec2.describe_images(Owners=["ec2d"], Filters=[{"Name": "name", "Values": ["ec2d-tiny-*"]}])["Images"]
        image = max(images, key=lambda i: i["CreationDate"])["ImageId"]
        r = ec2.run_instances(ImageId=image, MinCount=2, MaxCount=2, InstanceType="t3.nano",
                              KeyName=made["KeyName"], MetadataOptions={"HttpTokens": "optional"})
        ids = [i["InstanceId"] for i in r["Instances"]]
        ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 2, "MaxAttempts": 150})
        insts = {i["InstanceId"]: i for res in ec2.describe_instances(InstanceIds=ids)["Reservations"]
                 for i in res["Instances"]}
        a, b = insts[ids[0]], insts[ids[1]]
        netns = instance_netns(server, a)
        guest_b = ssh(netns, b["PrivateIpAddress"], key, timeout=300)
        t0 = time.monotonic()
        report = spoofing.run(netns, a, b, key, guest_b, args.attempts, f"{prefix}sp")
        guest_b.close()
        print(f"A {a['InstanceId']} ({a['PrivateIpAddress']}) spoofing B {b['InstanceId']} "
              f"({b['PrivateIpAddress']}, {b['NetworkInterfaces'][0]['MacAddress']}) in {netns}; "
              f"{args.attempts} x 3 requests per mode; {time.monotonic() - t0:.0f} s")
        print(spoofing.table_text(report))
        spoofed = sum(report.attempts.get(m, 0) for m in spoofing.SPOOF_MODES)
        answered = sum(report.answered.get(m, 0) for m in spoofing.SPOOF_MODES)
        leaked = sum(report.leaked.get(m, 0) for m in spoofing.SPOOF_MODES)
        print(f"summary: {spoofed} spoofed attempts, {answered} answered, {leaked} leaked; "
              f"{report.dropped} spoofed frames dropped, {sum(report.frames_passed.values())} passed")
        failed = answered or leaked or sum(report.frames_passed.values()) or not spoofed
    finally:
        if ids:
            ec2.terminate_instances(InstanceIds=ids)
            ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig={"Delay": 2, "MaxAttempts": 150})
        server.stop(sweep=False)
        from orchestrator.hostscope import sweep

        sweep(prefix)
        try:
            os.rmdir(f"/run/{prefix}")
        except OSError:
            pass
        shutil.rmtree(data_dir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
