"""What a prefix owns on the host right now (namespaces, domains, dnsmasq, routes, run dir, taps)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

import libvirt

from orchestrator.drivers.network import netlink, routes
from orchestrator.drivers.network.dnsmasq import conf_file_of, dnsmasq_pids
from orchestrator.drivers.network.names import is_tap_name


@dataclass
class HostObjects:
    namespaces: list[str]
    domains: dict[str, int]  # name -> libvirt state
    dnsmasq: list[int]
    routes: list[str]
    run_dir: bool
    taps: list[str]
    nft_tables: list[str]

    @property
    def empty(self) -> bool:
        return not (self.namespaces or self.domains or self.dnsmasq or self.routes or self.run_dir
                    or self.taps or self.nft_tables)


def host_objects(prefix: str) -> HostObjects:
    conn = libvirt.open("qemu:///system")
    try:
        domains = {d.name(): d.state()[0] for d in conn.listAllDomains() if d.name().startswith(prefix + "-")}
    finally:
        conn.close()
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True).stdout
    return HostObjects(
        namespaces=netlink.list_netns(prefix + "-"),
        domains=domains,
        dnsmasq=[p for p in dnsmasq_pids() if (conf_file_of(p) or "").startswith(f"/run/{prefix}/")],
        routes=routes.list_unreachable(prefix=prefix),
        run_dir=os.path.exists(f"/run/{prefix}"),
        taps=[n for n in netlink.list_links(None) if is_tap_name(prefix, n)],
        nft_tables=[t for t in tables.split() if t.startswith(prefix + "_")],
    )
