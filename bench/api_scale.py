"""The API at scale: ec2d vs moto_server with the same data, at two scales, same run.

    .venv/bin/python bench/api_scale.py [--scales 1000,10000] [--runs 50] [--heavy-runs 20]
    .venv/bin/python bench/api_scale.py --quick          # a smoke run: 100 and 300 instances
    .venv/bin/python bench/api_scale.py --no-moto --scales 1000,10000   # ec2d alone: its growth table
    .venv/bin/python bench/api_scale.py --no-moto --in-turns             # the growth, scales timed in turns

Both servers run as local processes on loopback (ec2d ``serve --no-instances``: the fake
drivers). Each is populated with the same data: per scale N, N instances (RunInstances of
MaxCount=100, over the default subnets, three instance types), N volumes (CreateVolume) and 5 tags
on every instance and volume (CreateTags on groups of 10: 10 N tags). Then every call below is
timed at that scale, and the next scale tops the same state up.

The figure is the API time: from the request leaving botocore to its whole answer read (the
``before-send`` and ``before-parse`` events), so the client's signing and XML parsing, the same
for both servers, are not counted. p50/p99 per call, the ratio ec2d/moto of the p50s (below 1.0:
ec2d is faster) and each server's growth from the first scale to the last.

``--in-turns`` (ec2d alone): one ec2d per scale, each populated to its scale, then every call timed
on them in turns, in blocks of a few runs (a warm-up call first in each block), while the other
servers are stopped (SIGSTOP: their background work does not run meanwhile). A host whose speed
drifts over minutes (a shared machine) then slows every scale alike, and the growth compares the
scales under the same conditions; timed one after the other, minutes apart, the growth also holds
the drift.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import BIN, Server, free_port, pct  # noqa: E402
from botocore.exceptions import ReadTimeoutError  # noqa: E402

TYPES = ["t3.nano", "t3.micro", "t3.small"]
THREADS = 4


class Timer:
    """The HTTP round trip of the last call made by this thread on a client."""

    def __init__(self, client) -> None:
        self.local = threading.local()
        client.meta.events.register("before-send", self._sent)
        client.meta.events.register("before-parse", self._answered)

    def _sent(self, **kwargs) -> None:
        self.local.t0 = time.perf_counter()

    def _answered(self, **kwargs) -> None:
        self.local.ms = (time.perf_counter() - self.local.t0) * 1000

    def measure(self, fn: Callable[[int], object], runs: int, warm: bool = True,
                cut_at_ms: float | None = None) -> list[float]:
        """``runs`` timings (after a warm-up call unless ``warm`` is off). A call the client cut
        off at its read timeout ends the series with :class:`AtLeast` ``cut_at_ms``: the server
        is still at it, so no further run of the call would be timed alone."""
        out: list[float] = []
        for i in [-1, *range(runs)] if warm else range(runs):  # (-1: the warm-up, not kept)
            try:
                fn(i)
            except ReadTimeoutError:
                if cut_at_ms is None:
                    raise
                out.append(AtLeast(cut_at_ms))
                break
            if i >= 0:
                out.append(self.local.ms)
        return out


class AtLeast(float):
    """A figure that is only a lower bound: the call was cut off unanswered at this many ms."""


class Target:
    """One server under test, and what was made in it."""

    def __init__(self, server: Server, image_id: str, budget: float | None = None) -> None:
        self.server = server
        self.c = server.client  # populating
        self.tc = server.make_client(budget, retry=False) if budget else self.c  # the timed calls
        self.image_id = image_id
        self.timer = Timer(self.tc)
        subnets = self.c.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        self.subnets = sorted(s["SubnetId"] for s in subnets)
        self.instances: list[str] = []
        self.volumes: list[str] = []
        self.zones = sorted(s["AvailabilityZone"] for s in subnets)
        self.batches = 0

    def run(self, batch: int, count: int = 100, timed: bool = False) -> list[str]:
        r = (self.tc if timed else self.c).run_instances(ImageId=self.image_id, MinCount=count, MaxCount=count,
                                 InstanceType=TYPES[batch % len(TYPES)],
                                 SubnetId=self.subnets[batch % len(self.subnets)])
        return [i["InstanceId"] for i in r["Instances"]]

    def populate(self, target: int) -> float:
        t = time.perf_counter()
        first_instance, first_volume = len(self.instances), len(self.volumes)
        with ThreadPoolExecutor(THREADS) as pool:
            counts = []
            missing = target - len(self.instances)
            while missing > 0:
                counts.append(min(100, missing))
                missing -= counts[-1]
            batches = range(self.batches, self.batches + len(counts))
            self.batches += len(counts)
            for made in pool.map(lambda bc: self.run(*bc), zip(batches, counts, strict=True)):
                self.instances.extend(made)
            n_vol = target - len(self.volumes)
            start = len(self.volumes)
            self.volumes.extend(pool.map(
                lambda i: self.c.create_volume(Size=1, AvailabilityZone=self.zones[i % len(self.zones)],
                                               VolumeType="gp3" if i % 2 else "gp2")["VolumeId"],
                range(start, start + n_vol)))
            jobs = []
            for kind, ids, first in (("i", self.instances, first_instance), ("v", self.volumes, first_volume)):
                for g in range(first // 10, (len(ids) + 9) // 10):
                    jobs.append((ids[g * 10:(g + 1) * 10], kind, g))
            list(pool.map(lambda job: self.c.create_tags(Resources=job[0], Tags=tags_of(job[1], job[2])), jobs))
        self.wait_settled()
        return time.perf_counter() - t

    def wait_settled(self) -> None:
        """Until no instance is pending and no volume creating (ec2d settles them in the background)."""
        deadline = time.time() + 1800
        while time.time() < deadline:
            pending = self.c.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["pending"]}],
                                                MaxResults=5)["Reservations"]
            creating = self.c.describe_volumes(Filters=[{"Name": "status", "Values": ["creating"]}],
                                               MaxResults=5)["Volumes"]
            if not pending and not creating:
                return
            time.sleep(0.5)
        raise SystemExit(f"{self.server.name}: instances or volumes never settled")


def tags_of(kind: str, group: int) -> list[dict[str, str]]:
    """5 tags per resource: a name, a group of 10, a team of 5%, an env of a third, a rare key (1%)."""
    return [{"Key": "Name", "Value": f"{kind}-{group}"}, {"Key": "group", "Value": f"{kind}g{group}"},
            {"Key": "team", "Value": f"t{group % 20}"}, {"Key": "env", "Value": f"e{group % 3}"},
            {"Key": f"role-{group % 100}", "Value": "x"}]


def calls(t: Target, rng: random.Random) -> list[tuple[str, bool, Callable[[int], object]]]:
    """(name, heavy, call): heavy calls answer thousands of items and get fewer runs."""
    c = t.tc
    n_groups = len(t.instances) // 10
    return [
        ("DescribeInstances (all)", True, lambda i: c.describe_instances()),
        ("DescribeInstances tag:group (10)", False, lambda i: c.describe_instances(
            Filters=[{"Name": "tag:group", "Values": [f"ig{rng.randrange(n_groups)}"]}])),
        ("DescribeInstances state+type (1/3)", True, lambda i: c.describe_instances(
            Filters=[{"Name": "instance-state-name", "Values": ["running"]},
                     {"Name": "instance-type", "Values": ["t3.micro"]}])),
        ("DescribeInstances 10 InstanceIds", False, lambda i: c.describe_instances(
            InstanceIds=rng.sample(t.instances, 10))),
        ("DescribeVolumes (all)", True, lambda i: c.describe_volumes()),
        ("DescribeVolumes available+team (5%)", False, lambda i: c.describe_volumes(
            Filters=[{"Name": "status", "Values": ["available"]},
                     {"Name": "tag:team", "Values": [f"t{rng.randrange(20)}"]}])),
        ("DescribeTags (all)", True, lambda i: c.describe_tags()),
        ("DescribeTags resource-id (5)", False, lambda i: c.describe_tags(
            Filters=[{"Name": "resource-id", "Values": [rng.choice(t.instances)]}])),
        ("DescribeTags key (1%)", False, lambda i: c.describe_tags(
            Filters=[{"Name": "key", "Values": [f"role-{rng.randrange(100)}"]}])),
    ]


def time_scale(t: Target, runs: int, heavy_runs: int, run_runs: int, only: tuple[str, ...] = (),
               budget: float | None = None, before: dict[str, list[float]] | None = None) -> dict[str, list[float]]:
    """Each call's timings. ``budget`` (seconds, the client's read timeout): the calls go from the
    fastest to the slowest at the previous scale (``before``; unknown: the calls answering
    thousands last), those that took over a second there without a warm-up, and a call cut off at
    the budget is recorded as a lower bound. The server keeps working on a cut-off request, and
    its threads share one GIL, so with k such requests still running a later call has at least
    1/(k+1) of the interpreter: its bound is the budget / (k+1)."""
    rng = random.Random(7)
    out = {}
    cut = 0
    chosen = [c for c in calls(t, rng) if not only or c[0].startswith(only)]
    if budget is not None:  # timed before any request runs away
        chosen.sort(key=lambda c: pct(before[c[0]], 50) if before and c[0] in before else float(c[1]) * 1e9)
    for name, heavy, fn in chosen:
        slow = heavy if not before or name not in before else pct(before[name], 50) > 1000
        out[name] = t.timer.measure(fn, heavy_runs if heavy else runs, warm=budget is None or not slow,
                                    cut_at_ms=budget * 1000 / (cut + 1) if budget is not None else None)
        cut += isinstance(out[name][-1], AtLeast)
        print(f"#   {t.server.name} {name}: p50 {shown(out[name], 50)} p99 {shown(out[name], 99)}",
              file=sys.stderr, flush=True)  # as it comes: a long run shows what it has
    if only and not "RunInstances MaxCount=100".startswith(only) or cut:
        return out  # (after a cut-off call the server is busy: no RunInstances figure, no settling)

    def run(i: int) -> None:
        t.batches += 1
        t.instances.extend(t.run(t.batches, timed=True))
    out["RunInstances MaxCount=100"] = t.timer.measure(run, run_runs)
    t.wait_settled()
    return out


BLOCKS = 4  # --in-turns: each call's runs are split into this many blocks per scale


@contextlib.contextmanager
def alone(t: Target, others: list[Target]):
    """Only ``t``'s server runs meanwhile: the others are stopped, and continued after."""
    for o in others:
        o.server.proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for o in others:
            o.server.proc.send_signal(signal.SIGCONT)


def time_in_turns(targets: dict[int, Target], runs: int, heavy_runs: int, run_runs: int,
                  only: tuple[str, ...] = ()) -> dict[int, dict[str, list[float]]]:
    """Each call's timings at every scale, the scales taken in turns (see ``--in-turns``): block
    after block, the scales in alternating order, each block with a warm-up call."""
    scales = sorted(targets)
    out: dict[int, dict[str, list[float]]] = {n: {} for n in scales}
    per_scale = {n: calls(targets[n], random.Random(7)) for n in scales}

    def blocks(total: int) -> list[int]:
        k = min(BLOCKS, total)
        return [total // k + (1 if b < total % k else 0) for b in range(k)]

    def run_at(n: int) -> Callable[[int], None]:
        t = targets[n]

        def run(i: int) -> None:
            t.batches += 1
            t.instances.extend(t.run(t.batches, timed=True))
        return run

    names = [c[0] for c in per_scale[scales[0]] if not only or c[0].startswith(only)]
    if not only or "RunInstances MaxCount=100".startswith(only):
        names.append("RunInstances MaxCount=100")
    for name in names:
        found = {n: next(((h, fn) for c_name, h, fn in per_scale[n] if c_name == name), (False, run_at(n)))
                 for n in scales}
        heavy = found[scales[0]][0]
        total = run_runs if name.startswith("RunInstances") else heavy_runs if heavy else runs
        for b, size in enumerate(blocks(total)):
            for n in scales if b % 2 == 0 else scales[::-1]:
                t = targets[n]
                with alone(t, [o for o in targets.values() if o is not t]):
                    out[n].setdefault(name, []).extend(t.timer.measure(found[n][1], size))
        print(f"#   in turns {name}: " + ", ".join(f"{n}: p50 {shown(out[n][name], 50)}" for n in scales),
              file=sys.stderr, flush=True)
    for t in targets.values():
        t.wait_settled()
    return out


def start_servers(data: Path, src: Path, moto: bool = True, read_timeout: int = 600,
                  ec2d: bool = True) -> list[Server]:
    """ec2d runs the code under ``src`` (default: this checkout), moto the installed moto_server."""
    ec2d_port, moto_port = free_port(), free_port()
    os.environ["PYTHONPATH"] = str(src)
    cli = [sys.executable, "-m", "orchestrator.cli.main", "--data-dir", str(data)]

    def ec2d_creds() -> dict[str, str]:
        out = json.loads(subprocess.check_output([*cli, "credentials"], cwd=src))
        return {"aws_access_key_id": out["AccessKeyId"], "aws_secret_access_key": out["SecretAccessKey"]}

    os.environ.setdefault("EC2D_MEMORY_OVERCOMMIT", "1000")  # 10,000+ instances on the fake drivers
    os.environ.setdefault("EC2D_STORAGE_OVERCOMMIT", "10000")
    servers = [] if not ec2d else [Server("ec2d", [*cli, "serve", "--listen", f"127.0.0.1:{ec2d_port}", "--log-level", "WARNING",
                               "--no-instances", "--no-s3"], ec2d_port, ec2d_creds, read_timeout,
                      cwd=src)]  # ``python -m`` puts its cwd first on sys.path, before PYTHONPATH
    if moto:
        servers.append(Server("moto", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
                              moto_port, lambda: {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
                              read_timeout))
    return servers


def image_of(server: Server) -> str:
    if server.name == "moto":
        return server.client.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    deadline = time.time() + 300
    while time.time() < deadline:
        found = [i for i in server.client.describe_images(Owners=["ec2d"])["Images"] if i["State"] == "available"]
        if found:
            return found[0]["ImageId"]
        time.sleep(0.5)
    raise SystemExit("ec2d published no AMI")


def table(n: int, results: dict[str, dict[str, list[float]]]) -> None:
    """One scale's figures (printed as soon as both servers are timed: a long run shows its first
    scale early)."""
    print(f"\n## {n} instances, {n} volumes, {10 * n} tags")
    first = next(iter(results))
    moto = "moto" in results and first != "moto"
    print(f"{'call':<38} {first + ' p50':>10} {first + ' p99':>10}"
          + (f" {'moto p50':>10} {'moto p99':>10} {'ratio':>6}" if moto else ""))
    for call, e in results[first].items():
        line = f"{call:<38} {shown(e, 50):>10} {shown(e, 99):>10}"
        if moto:
            m = results["moto"].get(call)
            if not m:
                line += f" {'-':>10} {'-':>10} {'-':>6}"
            else:
                ratio = pct(e, 50) / pct(m, 50)
                line += (f" {shown(m, 50):>10} {shown(m, 99):>10} "
                         + (f"{'<' + format(ratio, '.2f'):>6}" if isinstance(m[-1], AtLeast) else f"{ratio:6.2f}"))
        print(line, flush=True)


def shown(values: list[float], p: float) -> str:
    """A percentile as printed: ``>N s`` when the call was cut off (its only figure is a bound)."""
    if values and isinstance(values[-1], AtLeast):
        return f">{values[-1] / 1000:.0f}s" if values[-1] >= 10_000 else f">{values[-1]:.0f}ms"
    return f"{pct(values, p):.1f}ms"


def growth(results: dict[int, dict[str, dict[str, list[float]]]]) -> None:
    scales = sorted(results)
    if len(scales) > 1:
        lo, hi = scales[0], scales[-1]
        print(f"\n## growth of p50 from {lo} to {hi} ({hi / lo:.0f}x the data)")
        names = list(results[lo])
        print(f"{'call':<38}" + "".join(f" {name:>7}" for name in names))
        for call in results[lo][names[0]]:
            cells = []
            for server in names:
                low, high = results[lo][server].get(call), results[hi][server].get(call)
                if not low or not high or isinstance(low[-1], AtLeast):
                    cells.append(f" {'-':>7}")
                    continue
                bound = ">" if isinstance(high[-1], AtLeast) else ""
                cells.append(f" {bound + format(pct(high, 50) / pct(low, 50), '.1f') + 'x':>7}")
            print(f"{call:<38}" + "".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scales", default="1000,10000")
    ap.add_argument("--runs", type=int, default=50, help="runs of the light calls")
    ap.add_argument("--heavy-runs", type=int, default=20, help="runs of the calls answering thousands")
    ap.add_argument("--run-runs", type=int, default=20, help="RunInstances MaxCount=100 calls timed per scale")
    ap.add_argument("--ec2d-src", type=Path, default=Path(__file__).resolve().parents[1],
                    help="the checkout whose ec2d is run (e.g. an export of main, for a before/after pair)")
    ap.add_argument("--no-moto", action="store_true", help="ec2d alone (its growth from scale to scale)")
    ap.add_argument("--moto-only", action="store_true", help="moto alone (with --calls: some of its figures)")
    ap.add_argument("--calls", default="", help="only the calls whose name starts with one of these (comma-separated)")
    ap.add_argument("--moto-runs", default="", help="moto's light,heavy,RunInstances runs per scale when fewer than"
                    " ec2d's, e.g. 1000:10,3,3/10000:3,1,2 (moto takes minutes a call at 10,000)")
    ap.add_argument("--read-timeout", type=int, default=600, help="seconds a call may take (botocore's: 60)")
    ap.add_argument("--moto-budget", type=float, default=0,
                    help="seconds a moto call may take: one cut off there is shown as a lower bound (>N s) and"
                    " its ratio as an upper one (<x); moto's calls answering thousands then go last (see time_scale)")
    ap.add_argument("--quick", action="store_true", help="smoke run: scales 100,300, few runs")
    ap.add_argument("--in-turns", action="store_true", help="ec2d alone, one server per scale, the scales timed"
                    " in turns (see the module's doc): the growth under the same host conditions")
    args = ap.parse_args()
    if args.quick:
        args.scales, args.runs, args.heavy_runs, args.run_runs = "100,300", 5, 3, 2
    scales = [int(s) for s in args.scales.split(",")]
    if args.in_turns:
        in_turns(args, scales)
        return
    data = Path(tempfile.mkdtemp(prefix="ec2dbench-"))
    servers = start_servers(data, args.ec2d_src, moto=not args.no_moto, read_timeout=args.read_timeout,
                            ec2d=not args.moto_only)
    moto_runs = {int(k): [int(x) for x in v.split(",")] for k, v in
                 (part.split(":") for part in args.moto_runs.split("/") if part)}
    results: dict[int, dict[str, dict[str, list[float]]]] = {}
    try:
        targets = [Target(s, image_of(s), args.moto_budget if s.name == "moto" and args.moto_budget else None)
                   for s in servers]
        for n in scales:
            results[n] = {}
            for t in targets:
                took = t.populate(n)
                print(f"# {t.server.name}: populated to {len(t.instances)} instances, {len(t.volumes)} volumes"
                      f" in {took:.0f}s", file=sys.stderr, flush=True)
                runs = (args.runs, args.heavy_runs, args.run_runs)
                if t.server.name == "moto" and n in moto_runs:
                    runs = tuple(moto_runs[n])  # type: ignore[assignment]
                budget = args.moto_budget if t.server.name == "moto" and args.moto_budget else None
                before = results[scales[scales.index(n) - 1]].get(t.server.name) if scales.index(n) else None
                results[n][t.server.name] = time_scale(t, *runs, only=tuple(c for c in args.calls.split(",") if c),
                                                       budget=budget, before=before)
                print(f"# {t.server.name}: timed at {n}", file=sys.stderr, flush=True)
            table(n, results[n])
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(data, ignore_errors=True)
    growth(results)
    if moto_runs:
        print(f"\n(moto's runs (light,heavy,RunInstances) at {args.moto_runs}: fewer, for time; its p99 is then"
              " the slowest of those few)")
    print(f"\n(runs: {args.runs} light, {args.heavy_runs} heavy, {args.run_runs} RunInstances per scale; "
          f"API time = request sent to answer read, client parsing excluded; python {sys.version.split()[0]}; "
          f"cpus {os.cpu_count()})")


def in_turns(args: argparse.Namespace, scales: list[int]) -> None:
    """``--in-turns``: one ec2d per scale, populated one after the other, then timed in turns."""
    data = Path(tempfile.mkdtemp(prefix="ec2dbench-"))
    servers: list[Server] = []
    try:
        targets: dict[int, Target] = {}
        for n in scales:
            (data / str(n)).mkdir()
            servers += start_servers(data / str(n), args.ec2d_src, moto=False, read_timeout=args.read_timeout)
            t = targets[n] = Target(servers[-1], image_of(servers[-1]))
            took = t.populate(n)
            print(f"# ec2d {n}: populated to {len(t.instances)} instances, {len(t.volumes)} volumes in {took:.0f}s",
                  file=sys.stderr, flush=True)
        timed = time_in_turns(targets, args.runs, args.heavy_runs, args.run_runs,
                              only=tuple(c for c in args.calls.split(",") if c))
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(data, ignore_errors=True)
    results = {n: {"ec2d": timed[n]} for n in scales}
    for n in scales:
        table(n, results[n])
    growth(results)
    print(f"\n(in turns: one server per scale, each call's runs in {BLOCKS} blocks per scale, the other servers"
          f" stopped meanwhile; runs: {args.runs} light, {args.heavy_runs} heavy, {args.run_runs} RunInstances per"
          f" scale; API time = request sent to answer read, client parsing excluded; python"
          f" {sys.version.split()[0]}; cpus {os.cpu_count()})")


if __name__ == "__main__":
    main()
