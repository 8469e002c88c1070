"""Security-group apply cost against the number of rules in place.

    .venv/bin/python bench/sg.py [-n 15] [--sizes 10,1000,10000]

In a throwaway network namespace (``ec2dt<hex>-sgbench``, deleted at the end; no interfaces are
needed, nft tables only reference tap names), loads a model of 50 groups and 200 ports with 10,
1,000 and 10,000 rules spread over the groups (tcp/udp single ports and ranges from /32 and /24
CIDRs, every 25th rule referencing another group, a few ICMP rules), then times ONE rule change
(authorize / revoke of one ingress rule, alternately) done two ways, median of ``-n`` runs:

* full:  compile + render() the whole script + apply() (replaces both tables in one transaction)
* sync:  NftFirewall.sync(): compile + element-only delta + apply (what the driver does);
         (compile) is its Python part alone (model -> ruleset, unchanged groups cached)

Both include the Python compile of the model and one ``ip netns exec ... nft -f -`` process.
Root only; nothing is contacted.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from orchestrator.drivers.network import netlink  # noqa: E402
from orchestrator.drivers.network.firewall import (  # noqa: E402
    NftFirewall,
    Port,
    Rule,
    SecurityGroup,
    apply,
    compile_ruleset,
    render,
)

GROUPS = 50
PORTS = 200
VPC = "vpc-0123456789abcdef0"


def group_id(i: int) -> str:
    return f"sg-{i:017x}"


def model(n_rules: int, seed: int = 7) -> tuple[list[Port], dict[str, list[Rule]]]:
    rnd = random.Random(seed)
    ports = []
    for i in range(PORTS):
        gids = (group_id(i % GROUPS),) if i % 4 else (group_id(i % GROUPS), group_id((i + 1) % GROUPS))
        ip = f"10.60.{i // 250}.{i % 250 + 4}"
        ports.append(
            Port(
                f"eni-{i:017x}", f"tapbench{i:05d}", f"02:60:00:00:{i // 256:02x}:{i % 256:02x}", (ip,), gids
            )
        )
    rules: dict[str, list[Rule]] = {group_id(g): [] for g in range(GROUPS)}
    for i in range(n_rules):
        g = group_id(i % GROUPS)
        proto = "udp" if i % 7 == 0 else "tcp"
        lo = rnd.randrange(1, 60000)
        hi = lo if i % 3 else lo + rnd.randrange(1, 100)
        if i % 25 == 0:
            rule = Rule(proto, lo, hi, group_ids=(group_id((i + 3) % GROUPS),))
        elif i % 101 == 0:
            rule = Rule("icmp", 8, -1, cidrs=(f"172.{16 + i % 16}.0.0/16",))
        elif i % 2:
            rule = Rule(
                proto,
                lo,
                hi,
                cidrs=(f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(256)}/32",),
            )
        else:
            rule = Rule(proto, lo, hi, cidrs=(f"192.168.{rnd.randrange(256)}.0/24",))
        rules[g].append(rule)
    return ports, rules


def groups_of(rules: dict[str, list[Rule]], extra: Rule | None) -> dict[str, SecurityGroup]:
    out = {gid: SecurityGroup(gid, ingress=tuple(rs)) for gid, rs in rules.items()}
    if extra is not None:
        g0 = group_id(0)
        out[g0] = SecurityGroup(g0, ingress=(*out[g0].ingress, extra))
    return out


def bench_size(ns: str, n_rules: int, runs: int) -> dict[str, float]:
    ports, rules = model(n_rules)
    extra = Rule("tcp", 4444, 4444, cidrs=("10.99.0.7/32",))
    base, changed = groups_of(rules, None), groups_of(rules, extra)
    script = render(VPC, ports, base)
    t0 = time.perf_counter()
    apply(ns, script)
    initial = time.perf_counter() - t0
    full: list[float] = []
    for k in range(runs):
        t0 = time.perf_counter()
        apply(ns, render(VPC, ports, changed if k % 2 == 0 else base))
        full.append(time.perf_counter() - t0)
    fw = NftFirewall()
    fw.sync(ns, VPC, ports, base)
    sync: list[float] = []
    for k in range(runs):
        t0 = time.perf_counter()
        fw.sync(ns, VPC, ports, changed if k % 2 == 0 else base)
        sync.append(time.perf_counter() - t0)
    assert fw.stats.delta == runs and fw.stats.fallbacks == 0, fw.stats
    comp: list[float] = []
    for k in range(runs):  # the Python part of a sync alone (compile with per-group cache)
        t0 = time.perf_counter()
        compile_ruleset(VPC, ports, changed if k % 2 == 0 else base)
        comp.append(time.perf_counter() - t0)
    listing = subprocess.run(
        ["ip", "netns", "exec", ns, "nft", "list", "ruleset"], capture_output=True, text=True
    )
    nft_rules = sum(
        1
        for line in listing.stdout.splitlines()
        if line.strip().endswith(("accept", "drop")) or "vmap" in line
    )
    return {
        "rules": n_rules,
        "script_kb": len(script) / 1024,
        "nft_rules": nft_rules,
        "initial_ms": initial * 1000,
        "full_ms": statistics.median(full) * 1000,
        "sync_ms": statistics.median(sync) * 1000,
        "compile_ms": statistics.median(comp) * 1000,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=15, help="runs per size (median)")
    ap.add_argument("--sizes", default="10,1000,10000")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/sg.py needs root")
    sizes = [int(s) for s in args.sizes.split(",")]
    ns = f"ec2dt{secrets.token_hex(2)}-sgbench"
    netlink.ensure_netns(ns)
    try:
        print(f"namespace {ns}: {GROUPS} groups, {PORTS} ports, median of {args.n} runs per size")
        print(
            f"{'rules':>7} {'script':>9} {'nft rules':>9} {'initial':>10} {'full change':>12} {'sync change':>12} {'(compile)':>9}"
        )
        results = []
        for n in sizes:
            r = bench_size(ns, n, args.n)
            results.append(r)
            print(
                f"{n:>7} {r['script_kb']:>7.0f}KB {r['nft_rules']:>9} {r['initial_ms']:>8.1f}ms "
                f"{r['full_ms']:>10.1f}ms {r['sync_ms']:>10.1f}ms {r['compile_ms']:>8.1f}ms"
            )
        if len(results) >= 2:
            lo, hi = results[0], results[-1]
            print(
                f"ratio {hi['rules']}/{lo['rules']}: full {hi['full_ms'] / lo['full_ms']:.2f}x, "
                f"sync {hi['sync_ms'] / lo['sync_ms']:.2f}x"
            )
    finally:
        netlink.delete_netns(ns)
    assert not netlink.netns_exists(ns)


if __name__ == "__main__":
    main()
