"""Launch benchmark: RunInstances -> SSH login (+ ``true``) through a real ec2d, against the floor
of bench/boot.py (the same ec2d-tiny image started as a bare domain, start -> SSH banner).

    .venv/bin/python bench/launch.py [--runs N] [--instance-type t2.nano] [--floor-runs N] [--big 16]

Measured, N runs each (instances terminated between runs):
  1 instance   RunInstances call -> paramiko login as ec2-user + ``true`` returned
  4 instances  one RunInstances (MinCount=MaxCount=4) -> ALL logged in (and per-instance times)
  16 instances one RunInstances of 16, once: time to all logged in, per-instance p50/p99, failures
               (the exit status is 1 when any failed)
The boot steps each guest marks on its console (bench/boot_steps.py) are printed for the single launches.
The floor is bench/boot.py, run first as a subprocess (its summary lines are parsed).

ec2d runs in this process (as in tests/conftest.py) with its own prefix (ec2dt + 4 hex) and a
temporary data dir; instances are terminated and the prefix swept at the end, on failure and on
Ctrl-C. Everything happens inside namespaces ec2d and boot.py create (TCG guests).
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import paramiko  # noqa: E402
from ec2d_server import RunningEc2d, free_port, make_test_prefix  # noqa: E402
from guests import instance_netns, private_key  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from boot_steps import breakdown, parse_steps  # noqa: E402

from orchestrator.config import Config  # noqa: E402
from orchestrator.images.cache import default_cache_dir, ensure_image  # noqa: E402
from orchestrator.imds.listen import connect_in_netns  # noqa: E402

LOGIN_TIMEOUT = 300.0  # per launch, plus 60 s per instance beyond 4 (16 TCG guests on 2 cores)


def p50(values: list[float]) -> float:
    return statistics.median(values)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


# --- floor: bench/boot.py -------------------------------------------------------------------

def run_floor(runs: int) -> dict[str, tuple[float, float, float]]:
    """Run bench/boot.py; return its summary rows {"floor": (p50, min, max), "tiny": (...)}."""
    cmd = [sys.executable, str(REPO / "bench" / "boot.py"), "--runs", str(runs)]
    print(f"$ {' '.join(cmd)}", flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rows: dict[str, tuple[float, float, float]] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(f"  boot.py | {line.rstrip()}", flush=True)
            m = re.match(r"^(floor: kernel \+ bare init|ec2d-tiny: to SSH banner)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)",
                         line)
            if m:
                rows["floor" if m.group(1).startswith("floor") else "tiny"] = (
                    float(m.group(2)), float(m.group(3)), float(m.group(4)))
        rc = proc.wait()
    except BaseException:
        if proc.poll() is None:  # let boot.py remove its guests and namespace
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise
    if rc != 0 or set(rows) != {"floor", "tiny"}:
        raise SystemExit(f"bench/boot.py failed (exit {rc}, parsed {sorted(rows)})")
    return rows


# --- ec2d -----------------------------------------------------------------------------------

def login_once(netns: str, ip: str, key: paramiko.PKey, user: str, deadline: float,
               stop: threading.Event) -> float:
    """Poll until a paramiko login as ``user`` works and ``true`` ran; return the monotonic time."""
    last: BaseException | None = None
    while time.monotonic() < deadline and not stop.is_set():
        try:
            sock = connect_in_netns(netns, ip, 22, timeout=2)
        except OSError as e:
            last = e
            time.sleep(0.2)
            continue
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        try:
            client.connect(ip, username=user, pkey=key, sock=sock, timeout=10, banner_timeout=15,
                           auth_timeout=15, look_for_keys=False, allow_agent=False)
            _, out, _ = client.exec_command("true", timeout=30)
            if out.channel.recv_exit_status() == 0:
                return time.monotonic()
        except (paramiko.SSHException, OSError, EOFError) as e:
            last = e
        finally:
            client.close()
        time.sleep(0.2)
    raise TimeoutError(f"no SSH login to {ip} in {netns}: {last}")


class Bench:
    def __init__(self, instance_type: str) -> None:
        self.instance_type = instance_type
        self.data_dir = Path(tempfile.mkdtemp(prefix="ec2d-bench-launch-"))
        self.prefix = make_test_prefix()
        self.server: RunningEc2d | None = None
        self.ec2: Any = None
        self.live: set[str] = set()  # instance ids not yet terminated
        self.stop = threading.Event()
        self.steps: list[list[tuple[str, float]]] = []  # boot-step marks of the single launches

    def start(self) -> None:
        config = Config(data_dir=self.data_dir, listen=f"127.0.0.1:{free_port()}", prefix=self.prefix)
        t = time.monotonic()
        self.server = RunningEc2d(config).start()
        self.ec2 = self.server.client()
        print(f"ec2d (prefix {self.prefix}) up in {time.monotonic() - t:.1f}s at {config.endpoint_url}", flush=True)
        made = self.ec2.create_key_pair(KeyName=f"bench-{uuid.uuid4().hex[:6]}")
        self.key_name, self.key = made["KeyName"], private_key(made["KeyMaterial"])
        # this checkout's ec2d-tiny (the image cache may hold other versions, published too)
        name = ensure_image("ec2d-tiny", default_cache_dir()).path.name
        images = self.ec2.describe_images(Owners=["ec2d"], Filters=[{"Name": "name", "Values": [name]}])["Images"]
        if not images:
            raise SystemExit(f"ec2d published no AMI named {name}")
        self.image_id = images[0]["ImageId"]
        print(f"image {name} = {self.image_id}; instance type {self.instance_type}", flush=True)

    def launch(self, count: int, *, strict: bool = True) -> tuple[float, list[float], list[str]]:
        """One RunInstances of ``count``; return (seconds until all logged in, per-instance seconds,
        failures). With ``strict`` the first failure is raised instead."""
        t0 = time.monotonic()
        try:
            r = self.ec2.run_instances(ImageId=self.image_id, MinCount=count, MaxCount=count,
                                       InstanceType=self.instance_type, KeyName=self.key_name)
        except Exception as e:
            if strict:
                raise
            return time.monotonic() - t0, [], [f"RunInstances: {e}"] * count
        insts = r["Instances"]
        self.live.update(i["InstanceId"] for i in insts)
        done: list[float | None] = [None] * count
        errors: list[str] = []

        def wait(n: int, inst: dict[str, Any]) -> None:
            try:
                done[n] = login_once(instance_netns(self.server, inst), inst["PrivateIpAddress"], self.key,
                                     "ec2-user", t0 + LOGIN_TIMEOUT + 60 * max(0, count - 4), self.stop)
            except BaseException as e:  # reported by the caller
                errors.append(f"{inst['InstanceId']}: {e}")

        threads = [threading.Thread(target=wait, args=(n, inst), daemon=True) for n, inst in enumerate(insts)]
        for th in threads:
            th.start()
        for th in threads:
            while th.is_alive():  # short joins: Ctrl-C stays responsive
                th.join(0.5)
        if errors and strict:
            raise RuntimeError(errors[0])
        per = [d - t0 for d in done if d is not None]
        if count == 1:  # the guest's own breakdown, on a host not shared with other guests
            self.steps += [parse_steps(self.console(i["InstanceId"])) for i in insts]
        return (max(per) if per else time.monotonic() - t0), per, errors

    def console(self, instance_id: str) -> str:
        out = self.ec2.get_console_output(InstanceId=instance_id).get("Output", "")
        try:
            return base64.b64decode(out).decode(errors="replace")
        except ValueError:
            return out

    def terminate_all(self, wait: bool = True) -> None:
        if not self.live or self.ec2 is None:
            return
        ids = sorted(self.live)
        self.ec2.terminate_instances(InstanceIds=ids)
        if wait:
            self.ec2.get_waiter("instance_terminated").wait(InstanceIds=ids,
                                                            WaiterConfig={"Delay": 1, "MaxAttempts": 180})
        self.live.clear()

    def shut(self) -> None:
        """close(), with Ctrl-C ignored from now on so the clean-up itself is not cut short."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.close()

    def close(self) -> None:
        self.stop.set()
        if self.ec2 is not None:  # also what a RunInstances cut short by Ctrl-C may have made
            try:
                for r in self.ec2.describe_instances()["Reservations"]:
                    self.live.update(i["InstanceId"] for i in r["Instances"] if i["State"]["Name"] != "terminated")
            except Exception as e:
                print(f"describe_instances failed: {e}", file=sys.stderr)
        try:
            self.terminate_all(wait=True)
        except Exception as e:  # the sweep below removes whatever is left
            print(f"terminate failed: {e}", file=sys.stderr)
        if self.server is not None:
            self.server.stop(sweep=False)
        from orchestrator.hostscope import sweep

        report = sweep(self.prefix)
        left = {k: v for k, v in report.items() if v}
        print(f"cleaned up prefix {self.prefix}" + (f" (swept {left})" if left else ""), flush=True)
        try:  # the sweep empties /run/<prefix> but leaves the directory itself
            os.rmdir(f"/run/{self.prefix}")
        except OSError:
            pass
        shutil.rmtree(self.data_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--floor-runs", type=int, default=None, help="runs of bench/boot.py (default: --runs)")
    parser.add_argument("--instance-type", default="t2.nano", help="default t2.nano (1 vCPU, like the floor)")
    parser.add_argument("--count", type=int, default=4, help="instances in the concurrent case (default 4)")
    parser.add_argument("--ec2d-log", type=Path, default=None, help="write ec2d's INFO log to this file")
    parser.add_argument("--big", type=int, default=16,
                        help="one launch of this many at once, failures counted (default 16; 0: skip)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/launch.py needs root (namespaces, libvirt)", file=sys.stderr)
        return 2

    if args.ec2d_log:
        logging.basicConfig(filename=args.ec2d_log, level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s %(message)s")

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    try:
        floor = run_floor(args.floor_runs or args.runs)
    except KeyboardInterrupt:
        print("\ninterrupted (bench/boot.py cleaned up after itself)", file=sys.stderr)
        return 130
    bench = Bench(args.instance_type)
    one: list[float] = []
    many_all: list[float] = []
    many_each: list[float] = []
    big: tuple[float, list[float], list[str]] | None = None
    try:
        bench.start()
        for i in range(args.runs):
            total, _, _ = bench.launch(1)
            one.append(total)
            bench.terminate_all()
            print(f"run {i + 1}/{args.runs}: 1 instance RunInstances -> SSH login {total:.2f} s", flush=True)
        for i in range(args.runs):
            total, per, _ = bench.launch(args.count)
            many_all.append(total)
            many_each += per
            bench.terminate_all()
            print(f"run {i + 1}/{args.runs}: {args.count} instances -> all logged in {total:.2f} s "
                  f"(each: {', '.join(f'{p:.2f}' for p in sorted(per))}; p50 {p50(per):.2f})", flush=True)
        if args.big:
            big = bench.launch(args.big, strict=False)
            bench.terminate_all()
            print(f"{args.big} instances at once: {len(big[1])} logged in, {len(big[2])} failed, "
                  f"all in {big[0]:.2f} s", flush=True)
            for err in big[2]:
                print(f"  FAILED {err}", flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up", file=sys.stderr, flush=True)
        bench.shut()
        return 130
    except BaseException:
        bench.shut()
        raise
    bench.shut()
    report(args, floor, one, many_all, many_each, big, bench.steps)
    return 1 if big is not None and big[2] else 0


def report(args: argparse.Namespace, floor: dict[str, tuple[float, float, float]], one: list[float],
           many_all: list[float], many_each: list[float], big: tuple[float, list[float], list[str]] | None,
           steps: list[list[tuple[str, float]]]) -> None:
    kernel = floor["floor"][0]
    rows = [
        ("floor: kernel + bare init (boot.py)", floor["floor"], 1.0),
        ("ec2d-tiny start -> SSH banner (boot.py)", floor["tiny"], floor["tiny"][0] / kernel),
        ("1 instance: RunInstances -> login", (p50(one), min(one), max(one)), p50(one) / kernel),
        (f"{args.count} at once: -> all logged in", (p50(many_all), min(many_all), max(many_all)),
         p50(many_all) / kernel),
        (f"{args.count} at once: per instance", (p50(many_each), min(many_each), max(many_each)),
         p50(many_each) / kernel),
    ]
    print()
    print(f"{'':42}{'p50':>8}{'min':>8}{'max':>8}{'/ kernel floor':>16}")
    for label, (mid, lo, hi), ratio in rows:
        print(f"{label:42}{mid:8.2f}{lo:8.2f}{hi:8.2f}{ratio:15.2f}x")
    print(f"{args.count} at once, all logged in / 1 instance (p50): {p50(many_all) / p50(one):.2f}x")
    if big is not None:
        total, per, failed = big
        print(f"{args.big} at once: all logged in {total:.2f} s ({total / p50(one):.2f}x one); per instance "
              f"p50 {p50(per) if per else float('nan'):.2f} s, p99 {p99(per) if per else float('nan'):.2f} s; "
              f"{len(failed)} failed of {args.big}")
    steps = [marks for marks in steps if marks]  # none from an image older than the marks
    if steps:
        print()
        print(f"boot steps of the {len(steps)} single launches (GetConsoleOutput):")
        print("\n".join(breakdown(steps)))
    print(f"(runs: {args.runs} ec2d, {args.floor_runs or args.runs} boot.py; {args.instance_type}; TCG; "
          f"host cores: {os.cpu_count()})")


if __name__ == "__main__":
    sys.exit(main())
