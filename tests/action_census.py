"""Which actions the test run answered, and on which drivers: with ``EC2D_ACTION_CENSUS=FILE`` set,
every action an in-process ec2d answers without an error is recorded with the kind of compute
driver behind it ("real": libvirt/QEMU guests, namespaces, nftables; "fake": the API-only fakes),
and FILE gets ``{service: {action: [kinds]}}`` as JSON when the session ends (merged under a lock
with what is already there, so pytest-xdist's workers add up; remove FILE before a run). Daemons the
tests start as subprocesses are not counted (a lower bound). Off by default: nothing is patched."""

from __future__ import annotations

import fcntl
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from orchestrator.api import dispatch

SEEN: defaultdict[str, defaultdict[str, set[str]]] = defaultdict(lambda: defaultdict(set))


def _kind(ctx: Any) -> str:
    runtime = getattr(ctx.backend, "runtime", None)
    compute = getattr(runtime, "compute", None) if runtime is not None else None
    return "fake" if compute is None or type(compute).__name__.startswith("Fake") else "real"


def install() -> str | None:
    """Patch the dispatcher's handler call when the census is asked for; the file's path."""
    path = os.environ.get("EC2D_ACTION_CENSUS")
    if not path:
        return None
    original = dispatch.call

    async def counted(handler: Any, ctx: Any, args: dict[str, Any], service: str) -> Any:
        out = await original(handler, ctx, args, service)
        name = getattr(ctx, "action", None) or handler.__name__
        SEEN[service][name].add(_kind(ctx))
        return out

    dispatch.call = counted  # type: ignore[assignment]
    return path


def write(path: str) -> None:
    """Merge this process's census into FILE (each xdist worker and the controller call it)."""
    with open(f"{path}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        target = Path(path)
        merged: defaultdict[str, defaultdict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        if target.exists() and target.stat().st_size:
            for service, actions in json.loads(target.read_text()).items():
                for action, kinds in actions.items():
                    merged[service][action].update(kinds)
        for service, actions in SEEN.items():
            for action, kinds in actions.items():
                merged[service][action].update(kinds)
        target.write_text(json.dumps({s: {a: sorted(k) for a, k in sorted(acts.items())}
                                      for s, acts in sorted(merged.items())}, indent=1) + "\n")
