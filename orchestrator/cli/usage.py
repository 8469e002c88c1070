"""``ec2d usage [--since WHEN] [--by instance|service|type]``: what the usage ledger has billed, as
a table in the terminal: running time, GiB-hours, public IPv4 hours and cost per resource (or per
service, or per usage type), with what still accrues marked, so a stopped instance's volume that
still costs and a terminated instance that costs nothing show at a glance.

It reads the data dir's store directly (a second SQLite connection in WAL mode is safe beside a
running ec2d) and prices with the same table the API uses (shipped, or ``DATA_DIR/prices.json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from pathlib import Path

from orchestrator.config import Config
from orchestrator.services import usage
from orchestrator.store.sqlite import Store

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("usage", help="billed usage and cost per resource, service or usage type")
    p.add_argument("--data-dir", default=argparse.SUPPRESS)
    p.add_argument("--since", default=None,
                   help="from when: YYYY-MM-DD, YYYY-MM-DDThh:mm:ssZ, or ago: 90m, 24h, 7d (default: all)")
    p.add_argument("--by", choices=usage.BY, default="instance",
                   help="one row per resource (instance: every resource by id), service or usage type")
    p.set_defaults(func=cmd_usage)


def parse_since(value: str | None, now: float) -> float | None:
    if value is None:
        return None
    m = _RELATIVE.match(value)
    if m:
        return now - float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(value, fmt).replace(tzinfo=dt.UTC).timestamp()
        except ValueError:
            continue
    raise SystemExit(f"ec2d usage: --since {value!r}: expected YYYY-MM-DD, YYYY-MM-DDThh:mm:ssZ or 90m/24h/7d")


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def render(lines: list[usage.Line], by: str) -> str:
    head = {"instance": ["RESOURCE", "USAGE TYPES"], "service": ["SERVICE"], "type": ["USAGE TYPE", "SERVICE"]}[by]
    rows = [[*head, "ACCRUING", "RUNNING", "GiB-HOURS", "IP-HOURS", "COST (USD)"]]
    for ln in lines:
        names = {"instance": [ln.key, ln.usage_type], "service": [ln.key], "type": [ln.key, ln.service]}[by]
        rows.append([*names, "yes" if ln.state == "open" else "no",
                     _duration(ln.running_seconds) if ln.running_seconds else "-",
                     f"{ln.gib_hours:.3f}" if ln.gib_hours else "-", f"{ln.ip_hours:.3f}" if ln.ip_hours else "-",
                     f"{ln.cost:.6f}"])
    rows.append(["TOTAL", *[""] * (len(head) - 1), "", _duration(sum(ln.running_seconds for ln in lines)),
                 f"{sum(ln.gib_hours for ln in lines):.3f}", f"{sum(ln.ip_hours for ln in lines):.3f}",
                 f"{sum(ln.cost for ln in lines):.6f}"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = set(range(len(head) + 1, len(rows[0])))
    return "\n".join("  ".join(c.rjust(w) if i in right else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip() for r in rows)


def cmd_usage(args: argparse.Namespace) -> int:
    config = Config(data_dir=Path(args.data_dir))
    if not config.db_path.exists():
        raise SystemExit(f"ec2d usage: no ec2d state in {config.data_dir}")
    store = Store(config.db_path)
    try:
        since = parse_since(args.since, store.now())
        lines = usage.lines(store, usage.load_prices(config.data_dir), since, args.by)
    finally:
        store.close()
    print(render(lines, args.by))
    return 0
