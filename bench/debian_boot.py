"""debian-12 boot benchmark: RunInstances -> SSH login as ``admin`` (cloud-init's first boot),
against ec2d-tiny to SSH (bench/boot.py, same run) and the systemd floor of the same image.

    .venv/bin/python bench/debian_boot.py [--runs N] [--floor-runs N] [--instance-type t2.micro]

Rows (N runs each; one ec2d in this process as in bench/launch.py, instances terminated between runs):
  (a) debian-12   RunInstances call -> paramiko login as ``admin`` + ``true`` returned; every run
                  with a NEW key pair and a new instance (cloud-init's per-instance work: host keys,
                  the user's key, hostname);
  (b) floor       the same kernel, initramfs and disk (a throwaway qcow2 overlay on the image),
                  booted as a bare domain with the instance type's vCPUs and memory, systemd with
                  nothing enabled: every unit the image enables (each link under
                  /etc/systemd/system/*.wants/ and *.requires/, read in the guest of (a)) masked by
                  ``systemd.mask=`` on the kernel command line and cloud-init's generator off
                  (``cloud-init=disabled``); domain start -> "Reached target multi-user.target" on
                  the serial console;
  ec2d-tiny       bench/boot.py's "to SSH banner" row, run first as a subprocess.
Target printed at the end: (a) <= 1.5 x ec2d-tiny + (b) (p50s).
(c) After the last run's login: ``cloud-init analyze show/blame``, ``systemd-analyze``, ``blame``
and ``critical-chain`` taken in the guest over SSH (top items).

Under TCG on a shared 2-core host the figures are noisy: compare rows of one run only.
EC2D_CACHE_DIR picks the image cache (as for ec2d itself and bench/boot.py).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "images"))

from ec2d_server import RunningEc2d, free_port  # noqa: E402
from guest_fixtures import Guest as BareGuest  # noqa: E402
from guest_fixtures import guest_network  # noqa: E402
from guests import instance_netns, private_key, published_ami, ssh  # noqa: E402
from launch import LOGIN_TIMEOUT, Bench, login_once, p50, run_floor  # noqa: E402

from orchestrator.config import Config  # noqa: E402
from orchestrator.domain.instance_types import CATALOGUE  # noqa: E402
from orchestrator.images.cache import ImageArtifact, default_cache_dir, ensure_image  # noqa: E402

MULTI_USER = re.compile(r"Reached target (multi-user\.target|.*Multi-User System)")
ENABLED_UNITS = ("sudo find /etc/systemd/system -mindepth 2 -maxdepth 2 -type l "
                 r"\( -path '*.wants/*' -o -path '*.requires/*' \) -printf '%f\n' | sort -u")
BREAKDOWN = [  # (title, command, lines kept)
    ("cloud-init analyze show (stages)", "sudo cloud-init analyze show | grep -E 'Finished stage|Total Time|^-- Boot'", 20),
    ("cloud-init analyze blame (top)", "sudo cloud-init analyze blame | head -n 16", 16),
    ("systemd-analyze", "systemd-analyze", 4),
    ("systemd-analyze blame (top)", "systemd-analyze blame --no-pager | head -n 20", 20),
    ("systemd-analyze critical-chain", "systemd-analyze critical-chain --no-pager", 40),
    ("systemd-analyze critical-chain ssh.service", "systemd-analyze critical-chain --no-pager ssh.service", 30),
]


class DebianBench(Bench):
    """bench/launch.py's ec2d lifecycle (start, terminate, sweep) with the debian-12 AMI."""

    def __init__(self, instance_type: str, image: ImageArtifact) -> None:
        super().__init__(instance_type)
        self.image = image
        self.key_names: list[str] = []

    def start(self) -> None:
        config = Config(data_dir=self.data_dir, listen=f"127.0.0.1:{free_port()}", prefix=self.prefix,
                        cache_dir=default_cache_dir())
        t = time.monotonic()
        self.server = RunningEc2d(config).start()
        self.ec2 = self.server.client()
        print(f"ec2d (prefix {self.prefix}) up in {time.monotonic() - t:.1f}s at {config.endpoint_url}", flush=True)
        self.image_id = published_ami(self.ec2, f"debian-12-{self.image.key[:12]}")
        print(f"image debian-12-{self.image.key[:12]} = {self.image_id}; instance type {self.instance_type}",
              flush=True)

    def launch_debian(self) -> tuple[float, dict[str, Any], Any]:
        """A new key pair, one RunInstances; (seconds to login, the instance, the private key)."""
        made = self.ec2.create_key_pair(KeyName=f"bench-debian-{uuid.uuid4().hex[:6]}")
        self.key_names.append(made["KeyName"])
        key = private_key(made["KeyMaterial"])
        t0 = time.monotonic()
        inst = self.ec2.run_instances(ImageId=self.image_id, MinCount=1, MaxCount=1,
                                      InstanceType=self.instance_type, KeyName=made["KeyName"])["Instances"][0]
        self.live.add(inst["InstanceId"])
        done = login_once(instance_netns(self.server, inst), inst["PrivateIpAddress"], key, "admin",
                          t0 + LOGIN_TIMEOUT * 3, self.stop)
        return done - t0, inst, key

    def breakdown(self, inst: dict[str, Any], key: Any) -> list[str]:
        """Print (c) for this instance; return the units the image enables (for the floor)."""
        g = ssh(instance_netns(self.server, inst), inst["PrivateIpAddress"], key, user="admin", timeout=120)
        try:
            print(g.run("cloud-init status --wait", timeout=600, check=False).strip())
            print("systemctl is-system-running --wait:",
                  g.run("timeout 600 systemctl is-system-running --wait", timeout=620, check=False).strip())
            for title, command, keep in BREAKDOWN:
                out = g.run(command, timeout=300, check=False).rstrip().splitlines()
                print(f"--- (c) {title}  [$ {command}]")
                print("\n".join(f"    {line}" for line in out[:keep]), flush=True)
            return g.run(ENABLED_UNITS).split()
        finally:
            g.close()

    def close(self) -> None:
        if self.ec2 is not None:
            for name in self.key_names:
                try:
                    self.ec2.delete_key_pair(KeyName=name)
                except Exception as e:  # the data dir goes with close() anyway
                    print(f"delete_key_pair {name}: {e}", file=sys.stderr)
        super().close()


def systemd_floor(image: ImageArtifact, units: list[str], runs: int, vcpus: int, memory_mib: int) -> list[float]:
    """(b): the image booted bare with every enabled unit masked; start -> multi-user.target."""
    base = [t for t in (image.kernel_cmdline or "").split() if not t.startswith("cloud-init=")]
    cmdline = " ".join([*base, "cloud-init=disabled", *(f"systemd.mask={u}" for u in units)])
    print(f"floor kernel command line ({len(cmdline)} chars): {cmdline}", flush=True)
    times: list[float] = []
    with guest_network() as (net, _dns, _mds, workdir):
        for i in range(runs):
            g = BareGuest(net, workdir, kernel=image.kernel, initrd=image.initrd, cmdline=cmdline,
                          base_disk=image.disk, vcpus=vcpus, memory_mib=memory_mib)
            try:
                t0 = g.start()
                deadline = t0 + LOGIN_TIMEOUT * 2
                while not MULTI_USER.search(g.console()):
                    if time.monotonic() > deadline:
                        raise TimeoutError("no multi-user.target on the console:\n" + g.console()[-3000:])
                    time.sleep(0.05)
                times.append(time.monotonic() - t0)
                if i == 0:
                    failed = [ln for ln in g.console().splitlines() if "FAILED" in ln]
                    print("floor console FAILED lines:", *failed or ["(none)"], sep="\n    ")
            finally:
                g.close()
            print(f"floor run {i + 1}/{runs}: start -> multi-user.target {times[-1]:.2f} s "
                  f"(host load {os.getloadavg()[0]:.1f})", flush=True)
    return times


def run_debian(bench: DebianBench, runs: int) -> tuple[list[float], list[str]]:
    times: list[float] = []
    units: list[str] = []
    bench.start()
    for i in range(runs):
        took, inst, key = bench.launch_debian()
        times.append(took)
        print(f"run {i + 1}/{runs}: debian-12 RunInstances -> SSH login as admin {took:.2f} s "
              f"({inst['InstanceId']}, new key pair; host load {os.getloadavg()[0]:.1f})", flush=True)
        if i == runs - 1:
            units = bench.breakdown(inst, key)
        bench.terminate_all()
    return times, units


def report(tiny: tuple[float, float, float], floor: list[float], deb: list[float], args: argparse.Namespace) -> None:
    target = 1.5 * tiny[0] + p50(floor)
    rows = [("ec2d-tiny: start -> SSH banner (boot.py)", tiny),
            ("debian-12 floor: systemd, nothing enabled", (p50(floor), min(floor), max(floor))),
            ("debian-12: RunInstances -> admin login", (p50(deb), min(deb), max(deb)))]
    print()
    print(f"{'':44}{'p50':>8}{'min':>8}{'max':>8}")
    for label, (mid, lo, hi) in rows:
        print(f"{label:44}{mid:8.2f}{lo:8.2f}{hi:8.2f}")
    verdict = "met" if p50(deb) <= target else "NOT met"
    print(f"target: debian-12 <= 1.5 x ec2d-tiny + floor = 1.5 x {tiny[0]:.2f} + {p50(floor):.2f} = {target:.2f} s; "
          f"p50 {p50(deb):.2f} s: {verdict} ({p50(deb) / target:.2f} of the target)")
    print(f"(runs: {args.runs} debian-12, {args.floor_runs or args.runs} floor and boot.py; {args.instance_type}; "
          f"TCG; host cores: {os.cpu_count()})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--floor-runs", type=int, default=None, help="runs of the floors (default: --runs)")
    parser.add_argument("--instance-type", default="t2.micro", help="default t2.micro (1 vCPU, 1 GiB)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/debian_boot.py needs root (namespaces, libvirt)", file=sys.stderr)
        return 2

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    t = time.monotonic()
    image = ensure_image("debian-12", default_cache_dir())
    print(f"image {image.path} ready in {time.monotonic() - t:.1f} s (cached or built)", flush=True)
    itype = CATALOGUE[args.instance_type]
    floor_runs = args.floor_runs or args.runs
    try:
        tiny = run_floor(floor_runs)["tiny"]
    except KeyboardInterrupt:
        return 130
    bench = DebianBench(args.instance_type, image)
    try:
        deb, units = run_debian(bench, args.runs)
    except BaseException:
        bench.shut()
        raise
    bench.shut()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    floor = systemd_floor(image, units, floor_runs, itype.vcpus, itype.memory_mib)
    report(tiny, floor, deb, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
