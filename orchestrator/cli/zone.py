"""``ec2d zone list | impair ZONE | restore ZONE``: take an Availability Zone down and back, as
an AWS zone that loses power (runtime/zone_states.py says what an impaired zone does).

It writes the data dir's store directly (a second SQLite connection beside a running ec2d); the
daemon follows within seconds. Zones are checked against ``--regions`` / ``EC2D_REGIONS`` (the
daemon's own setting) or the default regions.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from orchestrator.config import Config, parse_regions
from orchestrator.domain.regions import RegionCatalogue
from orchestrator.runtime import zone_states
from orchestrator.store.sqlite import Store


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("zone", help="list zones' states; impair or restore a zone (a simulated zone outage)")
    p.add_argument("--data-dir", default=argparse.SUPPRESS)
    p.add_argument("--regions", default=os.environ.get("EC2D_REGIONS"), help="the daemon's regions, if not the default")
    p.add_argument("action", choices=("list", "impair", "restore"))
    p.add_argument("zone", nargs="?", help="e.g. us-east-1c (impair, restore)")
    p.set_defaults(func=cmd_zone)


def cmd_zone(args: argparse.Namespace) -> int:
    config = Config(data_dir=Path(args.data_dir))
    if args.regions:
        config.regions = parse_regions(args.regions)
    catalogue = RegionCatalogue(config.regions)
    known = [z.name for r in catalogue.regions.values() for z in r.zones]
    if not config.db_path.exists():
        raise SystemExit(f"ec2d zone: no ec2d state in {config.data_dir}")
    if args.action != "list" and args.zone not in known:
        raise SystemExit(f"ec2d zone {args.action}: give one of the zones {', '.join(known)}")
    store = Store(config.db_path)
    try:
        if args.action == "impair":
            zone_states.set_state(store, args.zone, zone_states.IMPAIRED)
        elif args.action == "restore":
            zone_states.set_state(store, args.zone, zone_states.AVAILABLE)
        for zone in known if args.action == "list" else [args.zone]:
            print(f"{zone}\t{zone_states.state(store, zone)}")
    finally:
        store.close()
    return 0
