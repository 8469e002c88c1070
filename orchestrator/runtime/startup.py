"""Opening and closing the runtime: the public side, orphan VPC networks swept, every VPC's
network brought up, cached images registered as AMIs (and imported as layers), orphan storage
files swept, then the reconciler and the background loops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from orchestrator.domain import vpc_cidrs
from orchestrator.domain.ipv6_pools import VPC_POOL
from orchestrator.domain.vpc_endpoints import S3_BLOCK
from orchestrator.runtime import records as rec
from orchestrator.runtime.ebs import Ebs
from orchestrator.runtime.parts import Parts
from orchestrator.runtime.reconciler import Reconciler
from orchestrator.runtime.vpc import VpcNetworks, settle_prefix_lists
from orchestrator.store.sqlite import Record

log = logging.getLogger("ec2d.runtime")
IMAGE_RESCAN_SECONDS = 5.0
PublishImages = Callable[[], list[Record]]  # register every cached image as an AMI (new ones ``pending``)


class Startup:
    def __init__(self, parts: Parts, vpcs: VpcNetworks, ebs: Ebs, reconciler: Reconciler,
                 publish_images: PublishImages | None) -> None:
        self.parts = parts
        self.jobs = parts.jobs
        self.vpcs = vpcs
        self.ebs = ebs
        self.reconciler = reconciler
        self.publish_images = publish_images

    async def open(self) -> None:
        """Build each region's VPC networks, register images, reconcile, follow events."""
        p = self.parts
        config = p.model.config
        if p.public is not None:
            await self.jobs.call(p.public.ensure, config.host_routes, config.uplink_nat)
            await self.jobs.call(p.any_network().ensure_unreachable, config.public_pool)
            await self.jobs.call(p.any_network().ensure_unreachable, str(S3_BLOCK))  # S3's addresses
        await self.jobs.call(p.any_network().ensure_unreachable, VPC_POOL)  # every VPC's IPv6 /56 fails closed
        await self.sweep_orphan_networks()
        for region in config.regions:
            for vpc in p.model.store.list(rec.VPC, region):
                try:  # one broken VPC must not keep the daemon (and every other VPC) down
                    await self.vpcs.ensure_vpc(vpc)
                except Exception:
                    log.exception("%s: network could not be brought up; its firewall fails closed", vpc.id)
                    await self.vpcs.sync_firewall(region, None, vpc.id)
            settle_prefix_lists(p.model.store, region)  # every firewall follows the stored lists now
        await self.register_images()
        await self.sweep_storage()
        p.compute.start_events(asyncio.get_running_loop(), self.reconciler.on_event)
        await self.reconciler.reconcile()
        self.jobs.spawn(self.ebs.recover())  # finish EBS work a restart interrupted
        self.reconciler.run_periodically()
        self.jobs.spawn_loop(self._image_rescan())

    async def close(self) -> None:
        await self.jobs.close()
        try:
            self.parts.compute.stop_events()
        except Exception:
            log.debug("stop_events failed", exc_info=True)

    async def sweep_orphan_networks(self) -> None:
        """At start: remove this prefix's VPC networks (namespace, dnsmasq, root route) whose VPC
        is no longer in the store, e.g. after a crash between DeleteVpc's database delete and the
        network's removal. Only objects of this data dir's prefix are looked at."""
        p = self.parts
        vpc_records = [v for region in p.model.config.regions for v in p.model.store.list(rec.VPC, region)]
        cidrs = {c for v in vpc_records for c in vpc_cidrs.network_cidrs(v.data)} | {VPC_POOL}
        if p.public is not None:
            cidrs |= {p.model.config.public_pool, str(S3_BLOCK)}
        report = await self.jobs.call(p.any_network().sweep_orphans, {v.id for v in vpc_records}, cidrs)
        if report.namespaces or report.routes:
            log.warning("removed orphan VPC networks %s and routes %s", report.namespaces, report.routes)

    async def register_images(self) -> None:
        """Publish every cached image as an AMI: registered ``pending``, its layer imported into
        storage, then ``available`` (a launch in between would find no layer)."""
        if self.publish_images is None:
            return
        store, storage = self.parts.model.store, self.parts.storage
        layers = set(await self.jobs.call(storage.list_layers))
        for image in await self.jobs.call(self.publish_images):
            snapshot_id = image.data["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
            snap = store.get(snapshot_id)
            if snap is None:
                continue
            if snapshot_id not in layers:
                rec.move_image(store, image.id, "available", "pending")  # not launchable until imported
                log.info("importing %s as layer %s", image.data["Name"], snapshot_id)
                await self.jobs.call(storage.import_image, Path(snap.data["layer_path"]), snapshot_id, link=True)
                layers.add(snapshot_id)
            if rec.move_image(store, image.id, "pending", "available"):
                log.info("%s is available", image.id)

    async def sweep_storage(self) -> None:
        """At start, before any storage work: remove files no volume or snapshot record owns (a
        crash's leftovers). The driver never removes a file something kept builds on or a domain uses."""
        p = self.parts
        regions = p.model.config.regions
        known_volumes = [r.id for region in regions for r in p.model.store.list(rec.VOLUME, region)]
        known_layers = [r.id for region in regions for r in p.model.store.list(rec.SNAPSHOT, region)]
        result = await self.jobs.call(p.storage.sweep, known_volumes, known_layers)
        if result.removed:
            log.warning("removed %d orphan storage files: %s", len(result.removed), result.removed)

    async def _image_rescan(self) -> None:
        """New cache entries (``ec2d image build/import``) become AMIs within seconds."""
        while True:
            await asyncio.sleep(IMAGE_RESCAN_SECONDS)
            try:
                await self.register_images()
            except Exception:
                log.exception("image registration failed")
