"""Billing across an ec2d outage, on the fake hypervisor (``server.fake_runtime`` keeps running
domains across a restart as libvirt does): an instance that kept running is billed for the
downtime in one interval; one found stopped is closed at the time the hypervisor saw it stop
(``ComputeDriver.stopped_at``); when the hypervisor cannot tell, at the last time ec2d saw its
domains running (the reconciler's ``SEEN_RUNNING``). Nothing is billed twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from billing_api import BillingApi, reaches
from clock import Clock

from orchestrator.config import Config
from orchestrator.drivers.compute.driver import PowerState
from orchestrator.drivers.compute.fake import FakeCompute
from orchestrator.drivers.compute.libvirt_driver import last_stop
from orchestrator.images.cache import ensure_image
from orchestrator.runtime.core import Runtime
from orchestrator.runtime.reconciler import SEEN_RUNNING
from orchestrator.services import bootstrap, images


def boxes(api: BillingApi, iid: str, kind: str = "instance") -> list[tuple[float, float | None]]:
    return [(i.start_at, i.end_at) for i in api.backend.store.usage_intervals(resource_id=iid)
            if i.kind == kind]


def test_an_outage_bills_what_ran_and_only_that(tmp_path: Path) -> None:
    backend = bootstrap.open(Config(data_dir=tmp_path, instances=False, regions={"us-east-1": ["a"]}))
    ensure_image("ec2d-tiny", backend.config.cache_dir)
    images.sync_published(backend)
    clock = Clock()
    t0 = clock.t
    api = BillingApi(backend, clock).start()
    try:
        ec2 = api.client("ec2")
        ami = next(i["ImageId"] for i in ec2.describe_images(Owners=["ec2d"])["Images"]
                   if i["Name"].startswith("ec2d-tiny"))
        ids = [i["InstanceId"] for i in ec2.run_instances(ImageId=ami, MinCount=3, MaxCount=3,
                                                          InstanceType="t3.micro")["Instances"]]
        for iid in ids:
            reaches(api, iid, "running")
    finally:
        api.stop()  # ec2d goes away; the (fake) hypervisor keeps the domains
    kept, crashed, vanished = ids
    backend.store.set_setting(SEEN_RUNNING, repr(t0 + 50))  # its last pass saw them running then
    clock.advance(3600)  # an hour of downtime

    def outage(runtime: Runtime) -> None:
        compute = runtime.parts.compute
        assert isinstance(compute, FakeCompute)
        compute.domains[runtime.domain_name(crashed)].state = PowerState.SHUTOFF
        compute.stops[runtime.domain_name(crashed)] = t0 + 100  # libvirt saw it stop then
        del compute.domains[runtime.domain_name(vanished)]  # gone, and nobody knows when

    api = BillingApi(backend, clock, outage).start()
    try:
        reaches(api, crashed, "stopped")
        reaches(api, vanished, "stopped")
        assert boxes(api, crashed) == [(t0, t0 + 100)]
        assert boxes(api, vanished) == [(t0, t0 + 50)]
        assert boxes(api, kept) == [(t0, None)]  # still running: one open interval through the outage
        # its auto-assigned public IPv4 address went with the stop (EC2 releases it), not at the restart
        assert [end for _, end in boxes(api, crashed, "public-ipv4")] == [t0 + 100]
        assert [end for _, end in boxes(api, vanished, "public-ipv4")] == [t0 + 50]
        assert [end for _, end in boxes(api, kept, "public-ipv4")] == [None]
        ce = api.client("ce")
        out = ce.get_cost_and_usage_with_resources(
            TimePeriod={"Start": "2027-01-15", "End": "2027-01-16"}, Granularity="DAILY", Metrics=["UsageQuantity"],
            Filter={"Dimensions": {"Key": "SERVICE", "Values": ["Amazon Elastic Compute Cloud - Compute"]}},
            GroupBy=[{"Type": "DIMENSION", "Key": "RESOURCE_ID"}])
        hours = {g["Keys"][0]: float(g["Metrics"]["UsageQuantity"]["Amount"])
                 for g in out["ResultsByTime"][0]["Groups"]}
        assert hours == {kept: pytest.approx(1.0, abs=1e-9), crashed: pytest.approx(100 / 3600, abs=1e-9),
                         vanished: pytest.approx(60 / 3600, abs=1e-9)}  # 50 s billed as the 60-s minimum
    finally:
        api.stop()
        backend.close()


def test_libvirts_domain_log_gives_the_stop_time(tmp_path: Path) -> None:
    """``LibvirtCompute.stopped_at`` reads libvirtd's own lines from the domain's qemu log."""
    log = tmp_path / "dom.log"
    log.write_text("2026-11-30 08:00:00.100+0000: starting up libvirt version: 9.0.0, qemu version: 7.2\n"
                   "LC_ALL=C PATH=/usr/bin /usr/bin/qemu-system-x86_64 -name guest=dom\n"
                   "2026-11-30 08:52:44.182+0000: shutting down, reason=destroyed\n")
    assert last_stop(log) == 1796028764.182
    with log.open("a") as f:
        f.write("2026-11-30 09:00:00.000+0000: starting up libvirt version: 9.0.0\n")
    assert last_stop(log) is None  # started since: running, no stop time
    assert last_stop(tmp_path / "missing.log") is None
