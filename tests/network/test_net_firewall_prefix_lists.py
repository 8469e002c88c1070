"""A security-group rule naming a managed prefix list, in REAL namespaces and nftables: the rule
lets in sources in the list's CIDRs and nothing else; ModifyManagedPrefixList adding a second
source's CIDR lets it in without touching the rule (the kernel's ruleset changes by set elements
only), removing it blocks it again. Stored records go through the runtime's own conversion
(``runtime.vpc.prefix_list_cidrs`` + ``vpc_state.firewall_group``) and the real NftFirewall.

Topology as tests/network/test_net_firewall.py (fw_helpers.Topology): guests a, b, c on one
bridge; b serves TCP 8080; b's group is the one under test.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fw_helpers import A_IP, B_IP, C_IP, PORT, TcpServer, Topology, needs_root

from orchestrator.config import Config
from orchestrator.drivers.network.firewall import NftFirewall, Port, SecurityGroup, compile_ruleset
from orchestrator.runtime import vpc_state
from orchestrator.runtime.vpc import prefix_list_cidrs
from orchestrator.services import bootstrap, prefix_lists, security_groups
from orchestrator.services.backend import Backend

VPC = "vpc-0f1e2d3c4b5a69799"
GA, GB, GC = "sg-0aaaaaaaaaaaaaaa1", "sg-0bbbbbbbbbbbbbbb2", "sg-0ccccccccccccccc3"
REGION = "us-east-1"


def ports(topo: Topology) -> list[Port]:
    return [Port(f"eni-0{n * 16}", topo.guests[n].tap, topo.guests[n].mac, (ip,), (gid,))
            for n, gid, ip in (("a", GA, A_IP), ("b", GB, B_IP), ("c", GC, C_IP))]


def model(backend: Backend, gid: str) -> dict[str, SecurityGroup]:
    """The groups as the runtime builds them from the store (b's: the stored group under test)."""
    record = backend.store.get(gid)
    assert record is not None
    stored = vpc_state.firewall_group(record, prefix_list_cidrs(backend.store, vpc_state.prefix_list_ids([record])))
    return {GA: SecurityGroup(GA), GB: SecurityGroup(GB, stored.ingress, stored.egress), GC: SecurityGroup(GC)}


@needs_root
def test_rule_naming_a_prefix_list_follows_the_list(tmp_path: Path, topo: Topology, server: TcpServer,
                                                    fw: NftFirewall) -> None:
    a, c = topo.guests["a"], topo.guests["c"]
    backend = bootstrap.open(Config(data_dir=tmp_path, instances=False, prefix=topo.prefix))
    try:
        pl, _ = prefix_lists.create_tagged(backend, REGION, {
            "PrefixListName": "office", "AddressFamily": "IPv4", "MaxEntries": 4,
            "Entries": [{"Cidr": f"{A_IP}/32"}, {"Cidr": "10.99.0.0/16"}]})
        gid = security_groups.create(backend, REGION, "web", "web", None, None).id
        security_groups.authorize(backend, REGION, {"GroupId": gid, "IpPermissions": [
            {"IpProtocol": "tcp", "FromPort": PORT, "ToPort": PORT, "PrefixListIds": [{"PrefixListId": pl.id}]}]},
            egress=False)

        structures: list[str] = []
        synced: list[str] = []

        class Runtime:  # the runtime port's sync_vpc, on the real firewall of the test topology
            async def sync_vpc(self, region: str, vpc_id: str) -> None:
                groups = model(backend, gid)
                fw.sync(topo.vpc_ns, VPC, ports(topo), groups)
                structures.append(compile_ruleset(VPC, ports(topo), groups).structure)
                synced.append(vpc_id)

        backend.runtime = Runtime()  # type: ignore[assignment]
        vpc_id = backend.store.get(gid).data["VpcId"]  # type: ignore[union-attr]
        asyncio.run(backend.runtime.sync_vpc(REGION, vpc_id))
        assert a.can_connect(B_IP, PORT)  # in the list
        assert not c.can_connect(B_IP, PORT)  # not in it

        done = asyncio.run(prefix_lists.modify_live(backend, REGION, {
            "PrefixListId": pl.id, "CurrentVersion": 1, "AddEntries": [{"Cidr": f"{C_IP}/32"}]}))
        assert done.state == "modify-complete" and synced == [vpc_id, vpc_id]  # synced before it answered
        assert structures[1] == structures[0]  # the list changed, not the rule: set elements only
        assert c.can_connect(B_IP, PORT) and a.can_connect(B_IP, PORT)

        asyncio.run(prefix_lists.modify_live(backend, REGION, {
            "PrefixListId": pl.id, "CurrentVersion": 2,
            "RemoveEntries": [{"Cidr": f"{C_IP}/32"}, {"Cidr": f"{A_IP}/32"}]}))
        assert not c.can_connect(B_IP, PORT) and not a.can_connect(B_IP, PORT)
    finally:
        backend.close()
