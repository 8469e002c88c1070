"""Start-up lives above the services: ``Backend.open`` makes no resource, ``bootstrap.open`` makes
each region's default VPC once (subnets per zone, default group, attached gateway, main route
table), and a default VPC the user deleted is not made again."""

from __future__ import annotations

from pathlib import Path

from orchestrator.config import Config
from orchestrator.services import bootstrap, public_ips, vpcs
from orchestrator.services.backend import Backend


def test_backend_open_makes_no_resources(tmp_path: Path) -> None:
    backend = Backend.open(Config(data_dir=tmp_path, instances=False))
    try:
        assert all(backend.store.list("vpc", r) == [] for r in backend.config.regions)
    finally:
        backend.close()


def test_bootstrap_makes_each_regions_default_vpc_once(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path, instances=False)
    backend = bootstrap.open(config)
    try:
        for region in config.regions:
            vpc = vpcs.default_vpc(backend, region)
            assert vpc is not None and vpc.data["CidrBlock"] == "172.31.0.0/16"
            zones = backend.regions.get(region).zones  # type: ignore[union-attr]
            assert len(vpcs.subnets(backend, region, vpc.id)) == len(zones)
            assert public_ips.attached_igw(backend, region, vpc.id) is not None
            assert public_ips.main_route_table(backend, region, vpc.id) is not None
        first = {r: vpcs.default_vpc(backend, r).id for r in config.regions}  # type: ignore[union-attr]
        bootstrap.ensure_defaults(backend)
        assert {r: vpcs.default_vpc(backend, r).id for r in config.regions} == first  # type: ignore[union-attr]
    finally:
        backend.close()
