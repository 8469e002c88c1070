"""``ec2d serve``: the daemon's main loop."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from orchestrator.api.app import make_app
from orchestrator.api.endpoint_sites import PORT, EndpointSites, host_context
from orchestrator.config import Config
from orchestrator.domain.states import InstanceState, VolumeState
from orchestrator.domain.vpc_endpoints import s3_address
from orchestrator.drivers.compute.fake import FakeCompute
from orchestrator.drivers.loadbalancer.fake import FakeLoadBalancerDriver
from orchestrator.drivers.network.firewall.fake import FakeFirewall
from orchestrator.drivers.network.names import METADATA_IPV6, SERVICE_ENDPOINT_IP
from orchestrator.drivers.network.prefixes import free_prefix
from orchestrator.drivers.network.public import FakePublicNetwork
from orchestrator.drivers.network.vpc import FakeVpcNetwork
from orchestrator.drivers.objectstore.driver import EngineError, ObjectStoreEngine
from orchestrator.drivers.objectstore.seaweed import SeaweedEngine
from orchestrator.drivers.storage.fake import FakeStorage
from orchestrator.hostscope import lock_data_dir, unlock_data_dir
from orchestrator.imds.fake import FakeImds
from orchestrator.runtime.core import Runtime
from orchestrator.runtime.parts import VpcEndpoint
from orchestrator.services import bootstrap, images
from orchestrator.services.autoscaling import controller as autoscaling
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

if TYPE_CHECKING:
    from orchestrator.imds.threaded import ThreadedIMDSServer

log = logging.getLogger("ec2d")

class ListenError(Exception):
    """The API address is taken (e.g. by another ec2d on the default --listen)."""


class S3EngineError(Exception):
    """S3 is enabled but its engine could not be started."""


async def start_s3_engine(config: Config) -> ObjectStoreEngine | None:
    """The S3 engine (SeaweedFS under DATA_DIR/s3), started and ready; None with ``--no-s3``."""
    if not config.s3:
        return None
    engine = SeaweedEngine(config.s3_dir)
    try:
        await engine.start()
    except EngineError as exc:
        raise S3EngineError(f"{exc} (or serve without S3: --no-s3)") from exc
    return engine


async def build_default_image(backend: Backend, runtime: Runtime) -> None:
    """API-only mode: build ec2d-tiny if its inputs changed or it is missing (while the API already
    answers), then register it at once rather than at the runtime's next rescan."""
    from orchestrator.images.cache import ImageError, ensure_image

    try:
        await asyncio.to_thread(ensure_image, "ec2d-tiny", backend.config.cache_dir,
                                lambda m: log.info("ec2d-tiny: %s", m))
    except (ImageError, OSError) as e:
        log.error("could not build ec2d-tiny: %s", e)
        return
    await runtime.register_images()


def publisher(backend: Backend) -> Callable[[], list[Record]]:
    """The runtime's image registration: every cached image an AMI, new ones ``pending`` until
    the runtime imported their layer (a service decision the runtime calls back into)."""
    return lambda: images.sync_published(backend, False)


def service_loops(backend: Backend) -> list[Callable[[], Coroutine[Any, Any, None]]]:
    """The services' periodic work the runtime runs once open: Auto Scaling's controller."""
    return [lambda: autoscaling.run_periodically(backend)]


def fake_runtime(backend: Backend) -> Runtime:
    """API-only mode (``instances`` off): the same runtime on the in-memory drivers. Instances go
    ``pending`` -> ``running`` on the fake hypervisor, volumes ``creating`` -> ``available``, images
    are imported as (fake) layers; nothing is made on the host: no domain, namespace, nft table,
    metadata listener or file (the fakes keep everything in memory; at start :func:`restored` refills
    the storage and :func:`restored_compute` the running domains from the store)."""
    config = backend.config
    prefix = config.prefix or "ec2d"
    return Runtime(
        backend,
        compute=restored_compute(FakeCompute(), backend, prefix),
        networks={r: FakeVpcNetwork(prefix, r) for r in config.regions},
        storage=restored(FakeStorage(config.data_dir / "storage"), backend),
        imds=FakeImds(),
        virt_type="qemu",
        public=FakePublicNetwork(prefix, config.public_pool),
        firewall=FakeFirewall(),
        publish_images=publisher(backend),
        load_balancers=FakeLoadBalancerDriver(),
        loops=service_loops(backend),
    )


def restored_compute(compute: FakeCompute, backend: Backend, prefix: str) -> FakeCompute:
    """The fake hypervisor running a domain for every instance the store has past its launch and
    not yet stopped (a restart of API-only mode, like one of ec2d, leaves the guests running; the
    runtime adopts them at start as it adopts libvirt's)."""
    live = (InstanceState.RUNNING, InstanceState.STOPPING, InstanceState.SHUTTING_DOWN)
    compute.restore([f"{prefix}-{r.id}" for region in backend.config.regions
                     for r in backend.store.list("instance", region) if r.state in live])
    return compute


def restored(storage: FakeStorage, backend: Backend) -> FakeStorage:
    """The fake storage holding what the store says exists (a restart of API-only mode keeps the
    data dir's store; the real driver's files would still be there): every completed snapshot's
    layer and every volume, at their sizes. AMI layers the runtime imports again at start."""
    gib = 1024**3
    layers: dict[str, int] = {}
    volumes: dict[str, tuple[int, str | None]] = {}
    for region in backend.config.regions:
        for snap in backend.store.list("snapshot", region):
            if snap.state == "completed" and not snap.data.get("layer_path"):
                layers[snap.id] = int(snap.data.get("VolumeSize") or 1) * gib
        for vol in backend.store.list("volume", region):
            if vol.state not in (VolumeState.CREATING, VolumeState.DELETED):
                volumes[vol.id] = (int(vol.data["Size"]) * gib, vol.data.get("SnapshotId") or None)
    storage.restore(layers, volumes)
    return storage


async def open_runtime(runtime: Runtime) -> Runtime:
    """Start the runtime; closed again (metadata service included) when that fails."""
    try:
        await runtime.open()
    except BaseException:
        await _close_runtime(runtime)
        raise
    return runtime


def metadata_service() -> ThreadedIMDSServer:
    """The metadata service, on an event loop of its own: guests never wait for the daemon's
    (``imds/threaded.py``; ``bench/imds_load.py`` serves its guests with this one too)."""
    from orchestrator.imds.threaded import ThreadedIMDSServer

    return ThreadedIMDSServer()


async def start_runtime(backend: Backend) -> Runtime:
    """Wire the real drivers (libvirt, Linux namespaces, qcow2, IMDS) and start the runtime."""
    from orchestrator.drivers.compute.kvm_probe import probe_host
    from orchestrator.drivers.compute.libvirt_driver import LibvirtCompute
    from orchestrator.drivers.loadbalancer.haproxy import HaproxyDriver
    from orchestrator.drivers.network.firewall import NftFirewall
    from orchestrator.drivers.network.public import PublicNetwork
    from orchestrator.drivers.network.vpc import LinuxVpcNetwork
    from orchestrator.drivers.storage.volumes import Qcow2Storage
    from orchestrator.imds.listen import open_listener_in_netns

    config = backend.config
    assert config.prefix is not None  # resolved by run()
    probe = await asyncio.to_thread(probe_host, config.cache_dir)
    log.info("virtualization: %s (%s)", "kvm" if probe.virt_type == "kvm" else "tcg", probe.reason)
    run_dir = f"/run/{config.prefix}"
    networks = {r: LinuxVpcNetwork(config.prefix, run_dir, r, list(config.regions)) for r in config.regions}
    imds = metadata_service()
    await imds.start()
    s3_ips = sorted({s3_address(r) for r in config.regions})  # S3's own address in each region
    sites = EndpointSites(await asyncio.to_thread(
        host_context, config.cache_dir, list(config.regions), config.data_dir / "tls", SERVICE_ENDPOINT_IP, *s3_ips))
    endpoint = VpcEndpoint(functools.partial(open_listener_in_netns, address=SERVICE_ENDPOINT_IP, port=PORT),
                           sites, tuple((f"s3-{ip}-{port}", functools.partial(open_listener_in_netns, address=ip,
                                                                               port=port), port == PORT)
                                        for ip in s3_ips for port in (PORT, 80)),
                           open_address=functools.partial(open_listener_in_netns, port=PORT, freebind=True))
    runtime = Runtime(
        backend,
        compute=LibvirtCompute(config.libvirt_uri),
        networks=networks,
        storage=Qcow2Storage(config.data_dir / "storage", libvirt_uri=config.libvirt_uri),
        imds=imds,
        virt_type=probe.virt_type,
        open_listener=open_listener_in_netns,
        open_listener6=(functools.partial(open_listener_in_netns, address=METADATA_IPV6)
                        if os.path.exists("/proc/net/if_inet6") else None),  # a kernel without IPv6: none
        public=PublicNetwork(config.prefix, config.public_pool),
        firewall=NftFirewall(),
        publish_images=publisher(backend),
        endpoint=endpoint,
        load_balancers=HaproxyDriver(Path(run_dir), config.prefix),
        loops=service_loops(backend),
    )
    backend.runtime = runtime
    return await open_runtime(runtime)


async def run(config: Config, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None) -> None:
    lock = lock_data_dir(config.data_dir)  # one daemon per data dir (refuses while another serves it)
    try:
        await _run_locked(config, ready, stop)
    finally:
        unlock_data_dir(lock)


async def _run_locked(config: Config, ready: asyncio.Event | None, stop: asyncio.Event | None) -> None:
    if config.instances:
        prefix = config.resolve_prefix(generate=free_prefix)
        log.info("host objects of %s are named %s-* (run dir /run/%s)", config.data_dir, prefix, prefix)
    backend = bootstrap.open(config)  # the store, credentials and each region's default VPC
    s3_engine: ObjectStoreEngine | None = None
    try:
        s3_engine = await start_s3_engine(config)
        if config.instances:
            from orchestrator.images.cache import ensure_image

            await asyncio.to_thread(ensure_image, "ec2d-tiny", config.cache_dir,
                                    lambda m: log.info("ec2d-tiny: %s", m))
            runtime = await start_runtime(backend)
        else:
            backend.runtime = runtime = fake_runtime(backend)  # before it opens: its loops use it
            await open_runtime(runtime)
    except BaseException:
        await _stop_s3(s3_engine)
        backend.close()
        raise
    sites = endpoint_sites(runtime)
    app = make_app(backend, s3_engine=s3_engine, vpc_of=sites.vpc_of if sites is not None else None)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    if sites is not None:
        await sites.serve(runner)  # the in-VPC HTTPS endpoint: the same app
    site = web.TCPSite(runner, config.host, config.port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        if sites is not None:
            await sites.close()
        await runner.cleanup()
        await _stop_s3(s3_engine)
        await _close_runtime(runtime)
        backend.close()
        raise ListenError(f"cannot listen on {config.listen}: {exc.strerror or exc} "
                          "(another ec2d there? give this one another --listen)") from exc
    zones = {r: [f"{r}{z}" for z in letters] for r, letters in config.regions.items()}
    log.info("ec2d serving the EC2 API at %s (data dir %s; zones %s)", config.endpoint_url, config.data_dir, zones)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass
    background: list[asyncio.Task[None]] = []
    if not config.instances and config.build_images:  # the real runtime's ec2d-tiny is built above
        background.append(asyncio.create_task(build_default_image(backend, runtime)))
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.info("ec2d stopping")
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if sites is not None:
            await sites.close()
        await runner.cleanup()
        await _stop_s3(s3_engine)
        await _close_runtime(runtime)
        backend.close()


def endpoint_sites(runtime: Runtime) -> EndpointSites | None:
    endpoint = runtime.parts.endpoint
    return endpoint.server if endpoint is not None and isinstance(endpoint.server, EndpointSites) else None


async def _stop_s3(engine: ObjectStoreEngine | None) -> None:
    if engine is not None:
        await engine.stop()


async def _close_runtime(runtime: Runtime) -> None:
    await runtime.close()
    await runtime.imds.close()


# Python's cyclic GC runs a full collection about every 70,000 net allocations (thresholds 700,
# 10, 10) once the objects that survived since the last one reach a quarter of the heap. Building
# a large answer (DescribeInstances of 10,000: millions of dicts and strings) is exactly that, so
# one answer paid for ~5 full collections, each walking the answer built so far: half its time at
# 10,000 (bench/api_scale.py). A first generation of 50,000 makes full collections 70x rarer; the
# young objects it holds before a collection are a few MB at most.
GC_THRESHOLDS = (50_000, 10, 10)


def tune_process() -> None:
    """The daemon's process-wide settings (``serve`` applies them; in-process benches too)."""
    gc.set_threshold(*GC_THRESHOLDS)


def serve(config: Config) -> None:
    tune_process()
    asyncio.run(run(config))
