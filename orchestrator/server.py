"""``ec2d serve``: the daemon's main loop."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from orchestrator.api.app import make_app
from orchestrator.config import Config
from orchestrator.services.backend import Backend

log = logging.getLogger("ec2d")


async def run(config: Config, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None) -> None:
    backend = Backend.open(config)
    app = make_app(backend)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, reuse_address=True)
    await site.start()
    zones = {r: [f"{r}{z}" for z in letters] for r, letters in config.regions.items()}
    log.info("ec2d serving the EC2 API at %s (data dir %s; zones %s)", config.endpoint_url, config.data_dir, zones)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.info("ec2d stopping")
        await runner.cleanup()
        backend.close()


def serve(config: Config) -> None:
    asyncio.run(run(config))
