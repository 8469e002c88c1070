"""The runtime: what makes instances real. It owns the drivers (compute, network, storage, IMDS),
runs their blocking calls in worker threads, and moves instances along the lifecycle table.

One asyncio lock per instance serialises everything done to it (launch, stop, terminate, events),
so a request arriving mid-launch waits for the launch to settle. A reconciler compares the store
with libvirt at start and periodically, and libvirt lifecycle events catch guests that power off
or domains killed behind ec2d's back.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from orchestrator.domain import instance_types as catalogue
from orchestrator.domain.states import ACTIVE, InstanceState
from orchestrator.drivers.compute.designer import InstanceSpec, NicSpec, VolumeSpec, design_domain
from orchestrator.drivers.compute.driver import (
    RECONNECTED,
    ComputeDriver,
    ComputeError,
    HypervisorUnavailable,
    PowerState,
)
from orchestrator.drivers.network.dnsmasq import Lease
from orchestrator.drivers.network.vpc import VpcNetworkDriver
from orchestrator.drivers.storage.volumes import StorageDriver
from orchestrator.imds.model import InstanceMetadata, MetadataOptions, NetworkInterface
from orchestrator.services import images, instances, network_interfaces, public_ips, vpcs
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record, StateConflict

log = logging.getLogger("ec2d.runtime")
S = InstanceState
GIB = 1024**3
IMAGE_RESCAN_SECONDS = 5.0


class Runtime:
    def __init__(
        self,
        backend: Backend,
        compute: ComputeDriver,
        networks: dict[str, VpcNetworkDriver],
        storage: StorageDriver,
        imds: Any,  # orchestrator.imds.server.IMDSServer (or a stand-in with the same methods)
        virt_type: str,
        open_listener: Callable[[str], Any] | None = None,
        public: Any = None,  # orchestrator.drivers.network.public.PublicNetwork, None: no public side
        firewall: Any = None,  # orchestrator.drivers.network.firewall.FirewallDriver, None: no filtering
    ) -> None:
        self.public = public
        self.firewall = firewall
        self.backend = backend
        self.compute = compute
        self.networks = networks
        self.storage = storage
        self.imds = imds
        self.virt_type = virt_type
        self.open_listener = open_listener
        self.prefix = backend.config.prefix
        self.locks: dict[str, asyncio.Lock] = {}
        self.vpc_locks: dict[str, asyncio.Lock] = {}  # one sync of a VPC at a time (sync_vpc)
        self.plugged: set[str] = set()  # instances whose NICs this process put in their VPC
        self.tasks: set[asyncio.Task[Any]] = set()
        self.listening: set[str] = set()
        self.loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ plumbing
    def domain_name(self, instance_id: str) -> str:
        return f"{self.prefix}-{instance_id}"

    def instance_of_domain(self, name: str) -> str | None:
        head = f"{self.prefix}-"
        return name[len(head):] if name.startswith(head) and name[len(head):].startswith("i-") else None

    def _lock(self, instance_id: str) -> asyncio.Lock:
        return self.locks.setdefault(instance_id, asyncio.Lock())

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _call(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kw)

    def instance_dir(self, instance_id: str) -> Path:
        path = self.backend.config.data_dir / "instances" / instance_id
        path.mkdir(mode=0o700, parents=True, exist_ok=True)  # console log: owner-only
        return path

    # ------------------------------------------------------------------ start-up
    async def open(self) -> None:
        """Build each region's default VPC network, register images, reconcile, follow events."""
        self.loop = asyncio.get_running_loop()
        if self.public is not None:
            await self._call(self.public.ensure, self.backend.config.host_routes, self.backend.config.uplink_nat)
            await self._call(next(iter(self.networks.values())).ensure_unreachable, self.backend.config.public_pool)
        await self._sweep_orphan_networks()
        for region in self.backend.config.regions:
            for vpc in self.backend.store.list(vpcs.VPC, region):
                try:  # one broken VPC must not keep the daemon (and every other VPC) down
                    await self.ensure_vpc_network(vpc)
                except Exception:
                    log.exception("%s: network could not be brought up; its firewall fails closed", vpc.id)
                    await self.sync_firewall(region, vpc.id, None)
        await self.register_images()
        await self._sweep_storage()
        self.compute.start_events(self.loop, self._on_event)
        await self.reconcile()
        from orchestrator.services import snapshots

        self._spawn(snapshots.recover(self.backend))  # finish EBS work a restart interrupted
        self._spawn(self._periodic())
        self._spawn(self._image_rescan())

    async def _sweep_orphan_networks(self) -> None:
        """At start: remove this prefix's VPC networks (namespace, dnsmasq, root route) whose VPC
        is no longer in the store, e.g. after a crash between DeleteVpc's database delete and the
        network's removal. Only objects of this data dir's prefix are looked at."""
        vpc_records = [v for region in self.backend.config.regions for v in self.backend.store.list(vpcs.VPC, region)]
        cidrs = {v.data["CidrBlock"] for v in vpc_records}
        if self.public is not None:
            cidrs.add(self.backend.config.public_pool)
        report = await self._call(next(iter(self.networks.values())).sweep_orphans,
                                  {v.id for v in vpc_records}, cidrs)
        if report.namespaces or report.routes:
            log.warning("removed orphan VPC networks %s and routes %s", report.namespaces, report.routes)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        try:
            self.compute.stop_events()
        except Exception:
            log.debug("stop_events failed", exc_info=True)

    async def register_images(self) -> None:
        """Publish every cached image as an AMI: registered ``pending``, its layer imported into
        storage, then ``available`` (a launch in between would find no layer)."""
        layers = set(await self._call(self.storage.list_layers))
        for record in await self._call(images.sync_published, self.backend, False):
            snapshot_id = record.data["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
            snap = self.backend.store.get(snapshot_id)
            if snap is None:
                continue
            if snapshot_id not in layers:
                images.mark_pending(self.backend, record.id)
                log.info("importing %s as layer %s", record.data["Name"], snapshot_id)
                await self._call(self.storage.import_image, Path(snap.data["layer_path"]), snapshot_id)
                layers.add(snapshot_id)
            images.mark_available(self.backend, record.id)

    async def _sweep_storage(self) -> None:
        """At start, before any storage work: remove files no volume or snapshot record owns (a
        crash's leftovers). The driver never removes a file something kept builds on or a domain uses."""
        known_volumes = [r.id for region in self.backend.config.regions for r in self.backend.store.list("volume", region)]
        known_layers = [r.id for region in self.backend.config.regions
                        for r in self.backend.store.list("snapshot", region)]
        result = await self._call(self.storage.sweep, known_volumes, known_layers)
        if result.removed:
            log.warning("removed %d orphan storage files: %s", len(result.removed), result.removed)

    async def ensure_vpc_network(self, vpc: Record) -> None:
        net = self.networks[vpc.region]
        await self._call(net.ensure_vpc, vpc.id, vpc.data["CidrBlock"])
        for subnet in vpcs.subnets(self.backend, vpc.region, vpc.id):
            await self._call(net.ensure_subnet, vpc.id, subnet.id, subnet.data["CidrBlock"])
        if vpc.id not in self.listening and self.open_listener is not None:
            sock = await self._call(self.open_listener, net.netns_name(vpc.id))
            await self.imds.add_listener(vpc.id, sock)
            self.listening.add(vpc.id)
        await self.sync_vpc(vpc.region, vpc.id)

    async def ensure_subnet_network(self, subnet: Record) -> None:
        await self._call(self.networks[subnet.region].ensure_subnet, subnet.data["VpcId"], subnet.id,
                         subnet.data["CidrBlock"])

    async def delete_subnet_network(self, subnet: Record) -> None:
        await self._call(self.networks[subnet.region].delete_subnet, subnet.data["VpcId"], subnet.id)

    async def delete_vpc_network(self, vpc: Record) -> None:
        if vpc.id in self.listening:
            await self.imds.remove_listener(vpc.id)
            self.listening.discard(vpc.id)
        await self._call(self.networks[vpc.region].delete_vpc, vpc.id)

    # ------------------------------------------------------------------ model -> network/IMDS
    def _metadata(self, rec: Record) -> InstanceMetadata:
        d = rec.data
        subnet = self.backend.store.get(d["SubnetId"])
        vpc = self.backend.store.get(d["VpcId"])
        assert subnet is not None and vpc is not None
        image = self.backend.store.get(d["ImageId"])
        zone = self.backend.regions.zone(d["AvailabilityZone"])
        bdm = {"ami": d["RootDeviceName"], "root": d["RootDeviceName"]}
        for n, m in enumerate(d["BlockDeviceMappings"][1:], start=1):
            bdm[f"ebs{n}"] = m["DeviceName"]
        opts = d["MetadataOptions"]
        tags = self.backend.store.tags_of(rec.id) if opts.get("InstanceMetadataTags") == "enabled" else {}
        return InstanceMetadata(
            instance_id=rec.id,
            image_id=d["ImageId"],
            instance_type=d["InstanceType"],
            reservation_id=d["ReservationId"],
            region=rec.region,
            availability_zone=d["AvailabilityZone"],
            availability_zone_id=zone.zone_id if zone else d["AvailabilityZone"],
            account_id=d["OwnerId"],
            private_ip=d["PrivateIpAddress"],
            mac=d["MacAddress"],
            subnet_id=d["SubnetId"],
            subnet_cidr=subnet.data["CidrBlock"],
            vpc_id=d["VpcId"],
            vpc_cidrs=[vpc.data["CidrBlock"]],
            interface_id=d["NetworkInterfaceId"],
            launched_at=dt.datetime.fromisoformat(d["LaunchTime"].replace("Z", "+00:00")),
            ami_launch_index=d["AmiLaunchIndex"],
            security_groups=[g["GroupName"] for g in d["SecurityGroups"]],
            security_group_ids=[g["GroupId"] for g in d["SecurityGroups"]],
            public_keys=[(d["KeyName"], d["PublicKey"])] if d.get("PublicKey") else [],
            user_data=base64.b64decode(d["UserData"]) if d.get("UserData") else None,
            block_device_mapping=bdm,
            tags=tags,
            options=MetadataOptions(
                http_tokens=opts["HttpTokens"], http_endpoint=opts["HttpEndpoint"],
                http_put_response_hop_limit=int(opts["HttpPutResponseHopLimit"]),
                instance_metadata_tags=opts.get("InstanceMetadataTags", "disabled")),
            ami_manifest_path=(image.data.get("ImageLocation") if image else None) or "(unknown)",
            identity_credentials=lambda iid=rec.id: self.backend.sessions.for_owner(iid).as_imds(),
            network_interfaces=self._interfaces_metadata(rec, vpc),
            public_ip=public_ips.public_ip_of(self.backend, rec),
        )

    def _interfaces_metadata(self, rec: Record, vpc: Record) -> list[NetworkInterface]:
        out = []
        public = public_ips.public_ip_of(self.backend, rec)
        for n, eni in enumerate(network_interfaces.attached_enis(self.backend, rec)):
            subnet = self.backend.store.get(eni.data["SubnetId"])
            assert subnet is not None
            pub = public if n == 0 else None
            out.append(NetworkInterface(
                mac=eni.data["MacAddress"], interface_id=eni.id,
                device_number=(eni.data.get("Attachment") or {}).get("DeviceIndex", n),
                private_ips=[eni.data["PrivateIpAddress"], *network_interfaces.secondary_ips(eni)],
                local_hostname=vpcs.private_dns_name(eni.data["PrivateIpAddress"], rec.region),
                owner_id=eni.data["OwnerId"], subnet_id=subnet.id, subnet_cidr=subnet.data["CidrBlock"],
                vpc_id=vpc.id, vpc_cidrs=[vpc.data["CidrBlock"]],
                security_groups=[g["GroupName"] for g in eni.data["Groups"]],
                security_group_ids=[g["GroupId"] for g in eni.data["Groups"]],
                public_ip=pub, public_hostname=public_ips.public_dns_name(pub, rec.region) if pub else None))
        return out

    async def hotplug_eni(self, instance: Record, eni: Record) -> None:
        """Attach a NIC to the running domain and put its tap on the subnet's bridge."""
        from orchestrator.drivers.compute.designer import design_interface

        net = self.networks[instance.region]
        tap = net.tap_name(eni.id)
        async with self._lock(instance.id):
            current = self.backend.store.get(instance.id)
            if current is not None and current.state == S.RUNNING:
                await self._call(self.compute.attach_interface, self.domain_name(instance.id),
                                 design_interface(NicSpec(tap, eni.data["MacAddress"])))
                await self._call(net.plug_port, eni.data["VpcId"], eni.data["SubnetId"], tap)
        await self.sync_vpc(instance.region, instance.data["VpcId"])

    async def hotunplug_eni(self, instance: Record, eni: Record) -> None:
        async with self._lock(instance.id):
            current = self.backend.store.get(instance.id)
            if current is not None and current.state == S.RUNNING:
                await self._call(self.compute.detach_interface, self.domain_name(instance.id),
                                 eni.data["MacAddress"])
        await self.sync_vpc(instance.region, instance.data["VpcId"])

    async def sync_vpc(self, region: str, vpc_id: str) -> None:
        """Regenerate the VPC's firewall, DHCP leases, metadata table and NAT from the store.
        The firewall goes first: a DHCP or metadata failure never keeps a change of rules (or a
        new port's anti-spoofing) out of the kernel.

        Syncs of one VPC run one at a time, each reading the store only once it holds the VPC's
        lock: two syncs racing (say, after two terminations) could otherwise apply their snapshots
        in the wrong order and leave the older one in force."""
        async with self.vpc_locks.setdefault(vpc_id, asyncio.Lock()):
            await self._sync_vpc(region, vpc_id)

    async def _sync_vpc(self, region: str, vpc_id: str) -> None:
        if self.backend.store.get(vpc_id) is None:
            return  # the VPC is gone (its namespace with it)
        recs = [r for r in self.backend.store.list("instance", region)
                if r.data["VpcId"] == vpc_id and r.state != S.TERMINATED]
        await self.sync_firewall(region, vpc_id, recs)
        leases = [Lease(e.data["MacAddress"], e.data["PrivateIpAddress"],
                        "ip-" + e.data["PrivateIpAddress"].replace(".", "-"))
                  for r in recs for e in network_interfaces.attached_enis(self.backend, r)]
        await self._call(self.networks[region].set_leases, vpc_id, leases)
        if vpc_id in self.listening:
            table = {r.data["PrivateIpAddress"]: self._metadata(r) for r in recs if r.state in ACTIVE}
            self.imds.set_instances(vpc_id, table)
        await self.sync_public(region, vpc_id)

    async def sync_firewall(self, region: str, vpc_id: str, recs: list[Record] | None) -> None:
        """Security groups of the VPC, rendered and applied atomically in its namespace.

        Never raises: the driver fails closed (a group it cannot compile allows nothing, a ruleset
        it cannot compile or apply becomes a lockdown that forwards nothing) and logs why; only when
        not even that could be applied is the error logged here, as critical. ``recs`` None: the
        VPC's instances are read from the store."""
        if self.firewall is None or self.backend.store.get(vpc_id) is None:
            return
        from orchestrator.drivers.network import firewall as fw
        from orchestrator.services import security_groups as sgs

        net = self.networks[region]
        ns = net.netns_name(vpc_id)
        try:
            if recs is None:
                recs = [r for r in self.backend.store.list("instance", region)
                        if r.data["VpcId"] == vpc_id and r.state != S.TERMINATED]
            groups = {g.id: sgs.firewall_group(g) for g in self.backend.store.list(vpcs.SECURITY_GROUP, region)
                      if g.data.get("VpcId") == vpc_id}
            ports = [fw.Port(e.id, net.tap_name(e.id), e.data["MacAddress"],
                             (e.data["PrivateIpAddress"], *network_interfaces.secondary_ips(e)),
                             tuple(g["GroupId"] for g in e.data["Groups"] if g["GroupId"] in groups))
                     for r in recs if r.state in ACTIVE for e in network_interfaces.attached_enis(self.backend, r)]
        except Exception as exc:  # the store holds something the model cannot express: fail closed
            log.exception("%s: security-group model unreadable, locking the VPC down", vpc_id)
            try:
                await self._call(self.firewall.lockdown, ns, vpc_id, f"model unreadable: {exc}")
            except Exception:
                log.critical("%s: LOCKDOWN could not be applied either", vpc_id, exc_info=True)
            return
        try:
            await self._call(self.firewall.sync, ns, vpc_id, ports, groups)
        except Exception:
            log.critical("%s: security groups could not be applied, not even as a lockdown", vpc_id,
                         exc_info=True)

    async def sync_public(self, region: str, vpc_id: str) -> None:
        """Internet gateway link and 1:1 NAT of the VPC, from the store."""
        if self.public is None or self.backend.store.get(vpc_id) is None:
            return
        ns = self.networks[region].netns_name(vpc_id)
        if public_ips.attached_igw(self.backend, region, vpc_id) is None:
            await self._call(self.public.detach_vpc, vpc_id, ns)
            return
        await self._call(self.public.attach_vpc, vpc_id, ns)
        await self._call(self.public.set_public_ips, vpc_id, ns, public_ips.nat_table(self.backend, region, vpc_id))

    def refresh_metadata(self, region: str, vpc_id: str) -> None:
        self._spawn(self.sync_vpc(region, vpc_id))

    # ------------------------------------------------------------------ requests (from services)
    def require_hypervisor(self) -> None:
        """Refuse work at once with a retryable 503 while libvirtd is unreachable (the driver is
        reconnecting), instead of accepting it and failing it halfway."""
        from orchestrator.domain import errors

        if not self.compute.available:
            raise errors.ServiceUnavailable(
                "The request has failed due to a temporary failure of the server: the hypervisor is "
                "unreachable. Nothing was changed; retry shortly.")

    def launch(self, instance_ids: list[str]) -> None:
        for iid in instance_ids:
            self._spawn(self._guarded(iid, self._launch))

    def start(self, instance_id: str) -> None:
        self._spawn(self._guarded(instance_id, self._launch))

    def stop(self, instance_id: str, force: bool = False) -> None:
        self._spawn(self._guarded(instance_id, lambda i: self._stop(i, force)))

    def terminate(self, instance_id: str) -> None:
        self._spawn(self._guarded(instance_id, self._terminate))

    def reboot(self, instance_id: str) -> None:
        self._spawn(self._guarded(instance_id, self._reboot))

    def console_output(self, instance_id: str) -> bytes:
        path = self.backend.config.data_dir / "instances" / instance_id / "console.log"
        try:
            return path.read_bytes()[-64 * 1024:]
        except OSError:
            return b""

    async def _guarded(self, instance_id: str, op: Callable[[str], Coroutine[Any, Any, None]]) -> None:
        async with self._lock(instance_id):
            try:
                await op(instance_id)
            except Exception:
                log.exception("%s: %s failed", instance_id, getattr(op, "__name__", "operation"))

    # ------------------------------------------------------------------ operations
    def _design(self, rec: Record, image: Record) -> Any:
        d = rec.data
        itype = catalogue.get(d["InstanceType"])
        assert itype is not None
        root = d["BlockDeviceMappings"][0]
        extras = tuple(VolumeSpec(m["VolumeId"], str(self.storage.volume_path(m["VolumeId"])), m["DeviceName"])
                       for m in d["BlockDeviceMappings"][1:])
        spec = InstanceSpec(
            instance_id=rec.id,
            domain_name=self.domain_name(rec.id),
            instance_type=itype.name,
            vcpus=itype.vcpus,
            memory_mib=itype.memory_mib,
            root_disk=str(self.storage.volume_path(root["VolumeId"])),
            root_volume_id=root["VolumeId"],
            kernel=image.data.get("kernel"),
            initrd=image.data.get("initrd"),
            cmdline=image.data.get("cmdline"),
            volumes=extras,
            nics=tuple(NicSpec(self.networks[rec.region].tap_name(e.id), e.data["MacAddress"])
                       for e in network_interfaces.attached_enis(self.backend, rec)),
            console_log=str(self.instance_dir(rec.id) / "console.log"),
            account_id=d["OwnerId"],
            region=rec.region,
            availability_zone=d["AvailabilityZone"],
        )
        return design_domain(spec, self.virt_type)

    def _prepare_disks(self, rec: Record) -> None:
        present = set(self.storage.list_volumes())
        for n, m in enumerate(rec.data["BlockDeviceMappings"]):
            if m["VolumeId"] in present:
                continue
            vol = self.backend.store.get(m["VolumeId"])
            assert vol is not None
            size = int(vol.data["Size"]) * GIB
            layer = vol.data.get("SnapshotId") or None
            if n == 0 and layer is None:
                raise RuntimeError(f"root volume {vol.id} has no snapshot to start from")
            self.storage.create_volume(vol.id, size, from_layer=layer)

    def _set_volume_attachment(self, rec: Record, state: str) -> None:
        for m in rec.data["BlockDeviceMappings"]:
            vol = self.backend.store.get(m["VolumeId"])
            if vol is None:
                continue
            for att in vol.data.get("Attachments") or []:
                att["State"] = state
            self.backend.store.update(vol)

    def _accumulate(self, rec: Record) -> dict[str, Any]:
        billing = dict(rec.data.get("billing") or {})
        since = billing.get("running_since")
        if since:
            billing["running_seconds"] = float(billing.get("running_seconds") or 0) + max(0.0, time.time() - since)
        billing["running_since"] = None
        return billing

    async def _launch(self, instance_id: str) -> None:
        rec = self.backend.store.get(instance_id)
        if rec is None or rec.state != S.PENDING:
            return
        name = self.domain_name(instance_id)
        started = time.monotonic()
        try:
            image = self.backend.store.get(rec.data["ImageId"])
            if image is None:
                raise RuntimeError(f"image {rec.data['ImageId']} is gone")
            await self._call(self._prepare_disks, rec)
            config = self._design(rec, image)
            await self.sync_vpc(rec.region, rec.data["VpcId"])
            await self._call(self._discard_domain, name)
            await self._call(self.compute.spawn, config)
            await self._call(self._plug_ports, rec, name, False)
            await self._mark_running(rec)
            log.info("%s running (%s, %.2fs to domain start + plug)", instance_id, self.virt_type,
                     time.monotonic() - started)
        except StateConflict:
            log.info("%s changed state during launch; leaving it to the next operation", instance_id)
        except HypervisorUnavailable as exc:  # not the instance's fault: stays pending, relaunched
            log.warning("%s launch interrupted, libvirtd unreachable (%s); retried once it is back",
                        instance_id, exc)
        except Exception as exc:
            log.exception("%s launch failed", instance_id)
            await self._fail_launch(instance_id, f"Server.InternalError: {exc}")

    def _plug_ports(self, rec: Record, name: str, attach_missing: bool) -> None:
        """Put the tap of every NIC of the instance (primary first) into its VPC, on its subnet's
        bridge (idempotent: a tap already there is only enslaved and set up again).
        ``attach_missing``: hot-plug NICs the domain lacks (a crash interrupted an attach)."""
        from orchestrator.drivers.compute.designer import design_interface

        net = self.networks[rec.region]
        live = set(self.compute.tap_names(name)) if attach_missing else set()
        for eni in network_interfaces.attached_enis(self.backend, rec):
            tap = net.tap_name(eni.id)
            if attach_missing and tap not in live:
                log.warning("%s: NIC %s missing from domain %s; attaching it", rec.id, eni.id, name)
                self.compute.attach_interface(name, design_interface(NicSpec(tap, eni.data["MacAddress"])))
            net.plug_port(eni.data["VpcId"], eni.data["SubnetId"], tap)
        self.plugged.add(rec.id)

    async def _mark_running(self, rec: Record) -> None:
        await self._call(self._set_volume_attachment, rec, "attached")
        billing = dict(rec.data.get("billing") or {})
        billing["running_since"] = time.time()
        instances.transition(self.backend, rec.id, S.PENDING, S.RUNNING, {"StateReason": None, "billing": billing})

    async def _adopt(self, instance_id: str) -> None:
        """The instance's domain runs but this process did not launch it (ec2d restarted, maybe
        killed between starting the domain and plugging its NICs): finish the launch - every NIC
        in its VPC, volumes attached, ``running`` - and bring the VPC's firewall, leases and
        metadata in line. A pending instance whose adoption fails is launched again from scratch."""
        rec = self.backend.store.get(instance_id)
        if rec is None or rec.state not in (S.PENDING, S.RUNNING):
            return
        name = self.domain_name(instance_id)
        try:
            if await self._call(self.compute.state, name) != PowerState.RUNNING:
                raise ComputeError(f"domain {name} is not running")
            await self._call(self._plug_ports, rec, name, True)
            if rec.state == S.PENDING:
                await self._mark_running(rec)
                log.info("%s adopted: its running domain's launch finished", instance_id)
        except StateConflict:
            return
        except Exception:
            if rec.state != S.PENDING:
                log.exception("%s: adopting the running domain failed", instance_id)
                return
            log.exception("%s: adopting the domain failed; launching it again", instance_id)
            await self._launch(instance_id)
            return
        await self.sync_vpc(rec.region, rec.data["VpcId"])

    async def _fail_launch(self, instance_id: str, message: str) -> None:
        """Undo every piece of a failed launch and end in ``terminated`` with the reason."""
        rec = self.backend.store.get(instance_id)
        if rec is None:
            return
        await self._call(self._discard_domain, self.domain_name(instance_id))
        first_launch = not rec.data.get("billing", {}).get("running_seconds")
        try:
            if first_launch:
                await self._release(rec, delete_all_volumes=True)
                instances.transition(self.backend, instance_id, S.PENDING, S.TERMINATED, {
                    "AutoPublicIp": None,
                    "StateReason": {"Code": "Server.InternalError", "Message": message},
                    "StateTransitionReason": message})
            else:  # a start of an existing instance failed: it stays, stopped, with its disks
                instances.transition(self.backend, instance_id, S.PENDING, S.STOPPED, {
                    "StateReason": {"Code": "Server.InternalError", "Message": message},
                    "StateTransitionReason": message})
        except StateConflict:
            pass
        await self.sync_vpc(rec.region, rec.data["VpcId"])

    def _discard_domain(self, name: str) -> None:
        try:
            self.compute.destroy(name)
        finally:
            self.compute.undefine(name)

    async def _stop(self, instance_id: str, force: bool) -> None:
        rec = self.backend.store.get(instance_id)
        if rec is None or rec.state != S.STOPPING:
            return
        name = self.domain_name(instance_id)
        try:
            await self._call(self.compute.power_off, name, not force, self.backend.config.stop_timeout)
        except ComputeError:
            log.warning("%s: power off failed, destroying", instance_id, exc_info=True)
        await self._call(self._discard_domain, name)
        await self._call(self._set_volume_attachment, rec, "attached")
        instances.transition(self.backend, instance_id, S.STOPPING, S.STOPPED,
                             {"billing": self._accumulate(rec), "AutoPublicIp": None})
        await self.sync_vpc(rec.region, rec.data["VpcId"])
        log.info("%s stopped", instance_id)

    async def _reboot(self, instance_id: str) -> None:
        rec = self.backend.store.get(instance_id)
        if rec is None or rec.state != S.RUNNING:
            return
        await self._call(self.compute.reboot, self.domain_name(instance_id))

    async def _terminate(self, instance_id: str) -> None:
        rec = self.backend.store.get(instance_id)
        if rec is None or rec.state != S.SHUTTING_DOWN:
            return
        await self._call(self._discard_domain, self.domain_name(instance_id))
        await self._release(rec, delete_all_volumes=False)
        for eip in self.backend.store.list(public_ips.EIP, rec.region):  # EIPs stay allocated, unassociated
            if eip.data.get("InstanceId") == instance_id:
                public_ips.disassociate_address(self.backend, rec.region, eip.data["AssociationId"], None)
        instances.transition(self.backend, instance_id, S.SHUTTING_DOWN, S.TERMINATED,
                             {"billing": self._accumulate(rec), "AutoPublicIp": None})
        await self.sync_vpc(rec.region, rec.data["VpcId"])
        log.info("%s terminated", instance_id)

    async def _release(self, rec: Record, delete_all_volumes: bool) -> None:
        """Delete the instance's DeleteOnTermination volumes (all on a failed launch), detach the
        others, and delete its primary ENI (freeing the address)."""
        for m in rec.data["BlockDeviceMappings"]:
            vol = self.backend.store.get(m["VolumeId"])
            if vol is None:
                continue
            if delete_all_volumes or m["DeleteOnTermination"]:
                await self._call(self.storage.delete_volume, vol.id)
                self.backend.store.delete(vol.id)
            else:
                vol.data["Attachments"] = []
                self.backend.store.update(vol)
                self.backend.store.transition(vol.id, ["in-use", "creating"], "available")
        self.backend.store.delete(rec.data["NetworkInterfaceId"])
        for eni_id in rec.data.get("SecondaryEnis") or []:  # attached ENIs are detached, not deleted
            eni = self.backend.store.get(eni_id)
            if eni is not None and eni.state == "in-use":
                eni.data["Attachment"] = None
                self.backend.store.update(eni)
                self.backend.store.transition(eni.id, "in-use", "available")

    # ------------------------------------------------------------------ events and reconciliation
    def _on_event(self, name: str, event: str, detail: str) -> None:
        if event == RECONNECTED:  # libvirtd restarted: its events of the outage are lost
            self._spawn(self._reconcile_logged())
            return
        instance_id = self.instance_of_domain(name)
        if instance_id is None or event != "stopped":
            return
        self._spawn(self._guarded(instance_id, lambda i: self._domain_gone(i, detail)))

    async def _domain_gone(self, instance_id: str, detail: str) -> None:
        """The domain stopped while ec2d thought the instance running: the guest powered off
        (detail 'shutdown') or the domain was killed/crashed behind ec2d's back."""
        rec = self.backend.store.get(instance_id)
        if rec is None or rec.state != S.RUNNING:
            return
        state = await self._call(self.compute.state, self.domain_name(instance_id))
        if state == PowerState.RUNNING:
            return  # e.g. a reboot
        guest = detail == "shutdown"
        if guest and rec.data.get("InstanceInitiatedShutdownBehavior") == "terminate":
            instances.transition(self.backend, instance_id, S.RUNNING, S.SHUTTING_DOWN, {
                "StateReason": {"Code": "Client.InstanceInitiatedShutdown",
                                "Message": "Client.InstanceInitiatedShutdown: Instance initiated shutdown"}})
            await self._terminate(instance_id)
            return
        reason = ({"Code": "Client.InstanceInitiatedShutdown",
                   "Message": "Client.InstanceInitiatedShutdown: Instance initiated shutdown"} if guest else
                  {"Code": "Server.InternalError",
                   "Message": f"Server.InternalError: the instance's domain stopped unexpectedly ({detail})"})
        instances.transition(self.backend, instance_id, S.RUNNING, S.STOPPING, {"StateReason": reason})
        await self._stop(instance_id, force=True)

    async def _reconcile_logged(self) -> None:
        try:
            await self.reconcile()
        except Exception:
            log.exception("reconcile after reconnecting to libvirtd failed")

    async def reconcile(self) -> None:
        """Bring libvirt in line with the store: finish interrupted work, notice dead domains,
        remove domains nobody owns."""
        names = await self._call(self.compute.list_domains, f"{self.prefix}-i-")
        known: set[str] = set()
        for region in self.backend.config.regions:
            for rec in self.backend.store.list("instance", region):
                name = self.domain_name(rec.id)
                known.add(name)
                state = S(rec.state)
                if state in (S.PENDING, S.STOPPING, S.SHUTTING_DOWN) and not self._lock(rec.id).locked():
                    if state == S.PENDING and name in names and (
                            await self._call(self.compute.state, name)) == PowerState.RUNNING:
                        self._spawn(self._guarded(rec.id, self._adopt))  # finish the launch
                        continue
                    op = {S.PENDING: self._launch, S.STOPPING: lambda i: self._stop(i, True),
                          S.SHUTTING_DOWN: self._terminate}[state]
                    self._spawn(self._guarded(rec.id, op))
                elif state == S.RUNNING and not self._lock(rec.id).locked():
                    if name not in names or (await self._call(self.compute.state, name)) != PowerState.RUNNING:
                        self._spawn(self._guarded(rec.id, lambda i: self._domain_gone(i, "missing")))
                    elif rec.id not in self.plugged:  # running before this process started
                        self._spawn(self._guarded(rec.id, self._adopt))
                elif state in (S.STOPPED, S.TERMINATED) and name in names and not self._lock(rec.id).locked():
                    await self._call(self._discard_domain, name)
        for name in names:
            if name not in known:
                log.warning("removing domain %s that ec2d does not know", name)
                await self._call(self._discard_domain, name)

    async def _image_rescan(self) -> None:
        """New cache entries (``ec2d image build/import``) become AMIs within seconds."""
        while True:
            await asyncio.sleep(IMAGE_RESCAN_SECONDS)
            try:
                await self.register_images()
            except Exception:
                log.exception("image registration failed")

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(30)
            try:
                await self.reconcile()
                self._purge_terminated()
                from orchestrator.services import snapshots

                await snapshots.collect_garbage(self.backend)
            except Exception:
                log.exception("periodic reconcile failed")

    def _purge_terminated(self) -> None:
        cutoff = time.time() - instances.TERMINATED_VISIBLE_SECONDS
        for region in self.backend.config.regions:
            for rec in self.backend.store.list("instance", region):
                if rec.state == S.TERMINATED and rec.updated_at < cutoff:
                    self.backend.store.delete(rec.id)
