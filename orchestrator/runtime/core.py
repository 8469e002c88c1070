"""The runtime on drivers: what makes instances, volumes and VPC networks real.

:class:`Runtime` implements :class:`~orchestrator.runtime.port.RuntimePort` by delegating to its
parts, each in its own module: :mod:`jobs` (locks, background tasks, the thread pool),
:mod:`instances`, :mod:`ebs`, :mod:`vpc` (+ the pure :mod:`vpc_state`), :mod:`reconciler` and
:mod:`startup`. The same class runs on the real drivers (``ec2d serve``) and on the fakes (tests).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from orchestrator.domain import elbv2
from orchestrator.domain.records import TARGET_GROUP
from orchestrator.drivers.compute.driver import ComputeDriver
from orchestrator.drivers.loadbalancer.driver import LoadBalancerDriver, ServerHealth
from orchestrator.drivers.loadbalancer.fake import FakeLoadBalancerDriver
from orchestrator.drivers.network.firewall import FirewallDriver
from orchestrator.drivers.network.vpc import VpcNetworkDriver
from orchestrator.drivers.storage.driver import StorageDriver
from orchestrator.imds.model import InstanceMetadata
from orchestrator.runtime.ebs import Ebs
from orchestrator.runtime.instances import Instances
from orchestrator.runtime.jobs import Jobs
from orchestrator.runtime.load_balancers import LoadBalancers
from orchestrator.runtime.parts import MetadataService, Parts, PublicSide, VpcEndpoint
from orchestrator.runtime.port import Model, Then
from orchestrator.runtime.reconciler import Reconciler
from orchestrator.runtime.records import settle_association
from orchestrator.runtime.startup import PublishImages, Startup
from orchestrator.runtime.status_checks import StatusChecks
from orchestrator.runtime.volume_keys import KeyRing
from orchestrator.runtime.vpc import VpcNetworks, read_view
from orchestrator.runtime.vpc_state import instance_metadata
from orchestrator.runtime.zone_outages import ZoneOutages
from orchestrator.store.sqlite import Record


class Runtime:
    def __init__(
        self,
        model: Model,
        compute: ComputeDriver,
        networks: Mapping[str, VpcNetworkDriver],
        storage: StorageDriver,
        imds: MetadataService,
        virt_type: str,
        open_listener: Callable[[str], socket.socket] | None = None,
        public: PublicSide | None = None,
        firewall: FirewallDriver | None = None,
        publish_images: PublishImages | None = None,
        endpoint: VpcEndpoint | None = None,
        load_balancers: LoadBalancerDriver | None = None,
        loops: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
        open_listener6: Callable[[str], socket.socket] | None = None,
    ) -> None:
        self.parts = Parts(model, compute, networks, storage, imds, virt_type, Jobs(), open_listener, public,
                           firewall, endpoint=endpoint, open_listener6=open_listener6)
        self.jobs = self.parts.jobs
        storage.use_keys(KeyRing(model.store, self.parts.prefix).passphrase)  # encrypted volumes' files
        self.vpcs = VpcNetworks(self.parts)
        self.instances = Instances(self.parts, self.vpcs)
        self.ebs = Ebs(self.parts, self.vpcs)
        self.reconciler = Reconciler(self.parts, self.instances, self.ebs)
        self.startup = Startup(self.parts, self.vpcs, self.ebs, self.reconciler, publish_images)
        self.status_checks = StatusChecks(self.parts)
        self.zone_outages = ZoneOutages(self.parts, self.instances)
        # None: the in-memory driver (no proxy is made)
        self.load_balancers = LoadBalancers(self.parts, self.vpcs, load_balancers or FakeLoadBalancerDriver())
        self.loops = list(loops)  # the services' periodic work (Auto Scaling), started once open

    # ------------------------------------------------------------------ parts and life
    @property
    def compute(self) -> ComputeDriver:
        return self.parts.compute

    @property
    def storage(self) -> StorageDriver:
        return self.parts.storage

    @property
    def networks(self) -> Mapping[str, VpcNetworkDriver]:
        return self.parts.networks

    @property
    def imds(self) -> MetadataService:
        return self.parts.imds

    @property
    def tasks(self) -> set[asyncio.Task[Any]]:
        return self.jobs.tasks

    def domain_name(self, instance_id: str) -> str:
        return self.parts.domain_name(instance_id)

    async def open(self) -> None:
        await self.startup.open()
        self.load_balancers.restore()
        self.jobs.spawn_loop(self.load_balancers.supervise())
        self.jobs.spawn_loop(self.status_checks.run())
        self.jobs.spawn_loop(self.zone_outages.run())
        for loop in self.loops:
            self.jobs.spawn_loop(loop())

    async def close(self) -> None:
        await self.startup.close()

    async def register_images(self) -> None:
        await self.startup.register_images()

    async def reconcile(self) -> None:
        await self.reconciler.reconcile()

    async def settle(self, timeout: float = 60.0) -> None:
        """Wait until the background work (not the loops) is done."""
        await self.jobs.settle(timeout)

    def metadata_of(self, instance: Record) -> InstanceMetadata:
        """What the metadata service serves the instance (from the store, now)."""
        vpc = self.parts.model.store.get(instance.data["VpcId"])
        assert vpc is not None
        sessions = self.parts.model.sessions
        return instance_metadata(read_view(self.parts, instance.region, vpc), instance,
                                 lambda i: sessions.for_owner(i).as_imds(), self.parts.model.roles)

    # ------------------------------------------------------------------ RuntimePort: instances
    def require_hypervisor(self) -> None:
        self.instances.require_hypervisor()

    def launch(self, instance_ids: Sequence[str]) -> None:
        for iid in instance_ids:
            self.instances.run(iid, self.instances.launch)

    def start(self, instance_id: str) -> None:
        self.instances.run(instance_id, self.instances.launch)

    def stop(self, instance_id: str, force: bool = False) -> None:
        self.instances.run(instance_id, lambda i: self.instances.stop(i, force))

    def terminate(self, instance_id: str) -> None:
        self.instances.run(instance_id, self.instances.terminate)

    def reboot(self, instance_id: str) -> None:
        self.instances.run(instance_id, self.instances.reboot)

    def console_output(self, instance_id: str) -> bytes:
        return self.instances.console_output(instance_id)

    # ------------------------------------------------------------------ RuntimePort: VPC networks
    async def host_conflicts(self, region: str, cidr: str) -> list[str]:
        return await self.vpcs.host_conflicts(region, cidr)

    async def ensure_vpc_network(self, vpc: Record) -> None:
        await self.vpcs.ensure_vpc(vpc)

    async def delete_vpc_network(self, vpc: Record) -> None:
        await self.vpcs.delete_vpc(vpc)

    async def ensure_subnet_network(self, subnet: Record) -> None:
        await self.vpcs.ensure_subnet(subnet)

    async def delete_subnet_network(self, subnet: Record) -> None:
        await self.vpcs.delete_subnet(subnet)

    async def sync_vpc(self, region: str, vpc_id: str) -> None:
        await self.vpcs.sync(region, vpc_id)

    def refresh_metadata(self, region: str, vpc_id: str) -> None:
        self.vpcs.refresh(region, vpc_id)

    def settle_profile_association(self, instance_id: str, association_id: str) -> None:
        async def settle() -> None:
            record = settle_association(self.parts.model.store, instance_id, association_id)
            if record is not None:
                await self.vpcs.sync(record.region, record.data["VpcId"])

        self.jobs.spawn_logged(f"{association_id} settling", settle)

    async def hotplug_eni(self, instance: Record, eni: Record) -> None:
        await self.instances.hotplug_eni(instance, eni)

    async def hotunplug_eni(self, instance: Record, eni: Record) -> None:
        await self.instances.hotunplug_eni(instance, eni)

    # ------------------------------------------------------------------ RuntimePort: EBS
    def create_volume(self, volume_id: str) -> None:
        self.jobs.spawn_logged("creating " + volume_id, lambda: self.ebs.create_files(volume_id))

    def delete_volume(self, volume_id: str) -> None:
        self.jobs.spawn_logged("deleting " + volume_id, lambda: self.ebs.delete_files(volume_id))

    def attach_volume(self, volume_id: str, instance_id: str, device: str) -> None:
        self.jobs.spawn_logged("attaching " + volume_id, lambda: self.ebs.plug(volume_id, instance_id, device))

    def detach_volume(self, volume_id: str, instance_id: str, device: str, force: bool) -> None:
        self.jobs.spawn_logged("detaching " + volume_id,
                               lambda: self.ebs.unplug(volume_id, instance_id, device, force))

    def modify_volume(self, volume_id: str) -> None:
        self.jobs.spawn_logged("modifying " + volume_id, lambda: self.ebs.apply_modification(volume_id))

    def snapshot_volumes(self, pairs: Sequence[tuple[str, str]], instance_id: str | None = None,
                         then: Then = None) -> None:
        items = list(pairs)
        self.jobs.spawn_logged("snapshot", lambda: self.ebs.freeze(items, instance_id, then))

    def copy_snapshot(self, source_id: str, snapshot_id: str, then: Then = None) -> None:
        self.jobs.spawn_logged("copying " + source_id, lambda: self.ebs.copy(source_id, snapshot_id, then))

    def delete_snapshot(self, snapshot_id: str) -> None:
        self.jobs.spawn_logged("garbage collection", self._collect)

    async def _collect(self) -> None:
        await self.ebs.collect_garbage()

    # ------------------------------------------------------------------ RuntimePort: ELBv2
    def provision_load_balancer(self, region: str, lb_arn: str) -> None:
        self.load_balancers.provision(region, lb_arn)

    async def sync_load_balancer(self, region: str, lb_arn: str, vpc_id: str) -> None:
        await self.load_balancers.sync(region, lb_arn, vpc_id)

    async def target_health(self, region: str, target_group_arn: str) -> dict[tuple[str, int], ServerHealth | None]:
        return await self.load_balancers.target_health(region, target_group_arn)
    # ------------------------------------------------------------------ RuntimePort: metrics (Auto Scaling)
    async def instance_cpu(self, instance_ids: Sequence[str]) -> dict[str, float]:
        names = {self.parts.domain_name(i): i for i in instance_ids}
        found = await self.jobs.call(self.compute.cpu_seconds, list(names))
        return {names[n]: seconds for n, seconds in found.items() if n in names}

    async def target_requests(self, region: str, target_group_arn: str) -> dict[tuple[str, int], int]:
        tg = self.parts.model.store.get(target_group_arn, TARGET_GROUP)
        if tg is None:
            return {}
        lbs = self.load_balancers
        backend = elbv2.backend_name(target_group_arn)
        served: dict[str, int] = {}
        for lb_arn in lbs.users_of(region, target_group_arn):  # a target behind two balancers: both count
            counts = await self.jobs.call(lbs.driver.requests, elbv2.balancer_name(lb_arn))
            for server, n in (counts.get(backend) or {}).items():
                served[server] = served.get(server, 0) + n
        return {(t["Id"], int(t["Port"])): served.get(elbv2.server_name(t["Id"], t["Port"]), 0)
                for t in tg.data["Targets"]}

    # ------------------------------------------------------------------ RuntimePort: services' work
    def background(self, what: str, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.jobs.spawn_logged(what, factory)

    def exclusive(self, key: str) -> AbstractAsyncContextManager[None]:
        return self.jobs.holding(key)
