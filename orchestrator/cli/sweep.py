"""Remove every host object with a name prefix: libvirt domains, VPC namespaces with their
dnsmasq processes, the public namespace, host link and root nft table, leftover taps,
unreachable routes and the run dir. For crashed test runs (``--prefix ec2dt`` sweeps every test
prefix, ``--exact`` just one); ``ec2d uninstall`` uses it for one data dir's prefix.

    python -m orchestrator.cli.sweep --prefix ec2dt
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys

log = logging.getLogger("ec2d.sweep")


def _prefixes_in_use(family: str) -> set[str]:
    """Concrete prefixes (``ec2dt1a2b``) of namespaces and domains that start with ``family``."""
    from orchestrator.drivers.compute.libvirt_driver import LibvirtCompute
    from orchestrator.drivers.network import netlink
    from orchestrator.drivers.network.names import prefix_of_netns

    found: set[str] = {p for p in (prefix_of_netns(ns) for ns in netlink.list_netns(family)) if p}
    try:
        for name in LibvirtCompute().list_domains(family):
            found.add(name.split("-", 1)[0])
    except Exception:  # libvirt down: nothing to sweep there
        log.debug("libvirt not reachable", exc_info=True)
    return {p for p in found if p.startswith(family)}


def sweep(prefix: str, family: bool = False) -> dict[str, list[str]]:
    from orchestrator.drivers.compute.libvirt_driver import LibvirtCompute
    from orchestrator.drivers.network import netlink
    from orchestrator.drivers.network.vpc import LinuxVpcNetwork

    prefixes = _prefixes_in_use(prefix) | {prefix} if family else {prefix}
    report: dict[str, list[str]] = {"domains": [], "namespaces": [], "taps": [], "routes": [], "run dirs": []}
    compute = LibvirtCompute()
    for p in sorted(prefixes):
        try:
            for name in compute.list_domains(f"{p}-"):
                compute.destroy(name)
                compute.undefine(name)
                report["domains"].append(name)
        except Exception:
            log.warning("could not sweep libvirt domains of %s", p, exc_info=True)
        from orchestrator.drivers.network.public import LinuxPublicNetwork

        try:
            if netlink.netns_exists(f"{p}-public"):
                report["namespaces"].append(f"{p}-public")
            LinuxPublicNetwork(p).delete()  # host link, root nft table, public namespace
        except Exception:
            log.warning("could not sweep the public network of %s", p, exc_info=True)
        net = LinuxVpcNetwork(p, f"/run/{p}")
        r = net.sweep(p)
        report["namespaces"] += r.namespaces
        report["taps"] += r.taps
        report["routes"] += [str(x) for x in r.routes]
        if os.path.isdir(f"/run/{p}"):
            shutil.rmtree(f"/run/{p}", ignore_errors=True)
            report["run dirs"].append(f"/run/{p}")
    compute.close()
    return report


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
