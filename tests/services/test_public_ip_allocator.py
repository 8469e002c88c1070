"""Public IPs for a whole RunInstances (services/public_ips.public_ip_allocator): the addresses in
use read once, each next address the lowest still free, as one allocate_public_ip after another."""

from __future__ import annotations

from pathlib import Path

from orchestrator.config import Config
from orchestrator.domain.records import ElasticIpData
from orchestrator.services import bootstrap, public_ips
from orchestrator.store.sqlite import Record


def test_allocator_gives_the_lowest_free_addresses_in_turn(tmp_path: Path) -> None:
    backend = bootstrap.open(Config(data_dir=tmp_path, instances=False, public_pool="198.18.0.0/23"))
    try:
        with backend.store.transaction():
            held = public_ips.allocate_public_ip(backend)
            backend.store.insert(Record[ElasticIpData](id="eipalloc-0123456789abcdef0", type="elastic-ip",
                                                       region="us-east-1", state="available", data={
                "PublicIp": "198.18.0.2", "Domain": "vpc", "PublicIpv4Pool": "amazon",
                "NetworkBorderGroup": "us-east-1"}))
            allocate = public_ips.public_ip_allocator(backend)
            got = [allocate() for _ in range(255)]
        assert held == "198.18.0.1"  # not stored: free again
        assert got[:3] == ["198.18.0.1", "198.18.0.3", "198.18.0.4"]  # .2 is the Elastic IP's
        assert len(set(got)) == 255 and "198.18.0.255" not in got and "198.18.1.0" not in got
        assert got[-1] == "198.18.1.2"  # 253 below .255 (minus .2), then .1.1 and .1.2
    finally:
        backend.store.close()
