"""Remove every host object with a name prefix (:func:`orchestrator.hostscope.sweep`): libvirt
domains, VPC namespaces with their dnsmasq and HAProxy processes, the public namespace, host link and root nft
table, leftover taps, unreachable routes and the run dir. For crashed test runs (``--prefix ec2dt``
sweeps every test prefix, ``--exact`` just one).

    python -m orchestrator.cli.sweep --prefix ec2dt
"""

from __future__ import annotations

import argparse
import sys

from orchestrator.hostscope import sweep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--exact", action="store_true", help="only this prefix, not every prefix starting with it")
    args = ap.parse_args(argv)
    report = sweep(args.prefix, family=not args.exact)
    for kind, names in report.items():
        if names:
            print(f"swept {len(names)} {kind}: {' '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
