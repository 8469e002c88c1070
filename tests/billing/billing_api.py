"""ec2d's API with the fake-driver runtime in this process, on loopback, with an injected clock:
the store's (ledger intervals open and close at its time) and the fake hypervisor's (when domains
stop). Instances move ``pending`` -> ``running`` -> ... as with real drivers, nothing is made on
the host, and time moves only when a test moves it, so billed seconds are exact."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from clock import Clock
from loopback_api import LoopbackApi

from orchestrator.drivers.compute.fake import FakeCompute
from orchestrator.runtime.core import Runtime
from orchestrator.services.backend import Backend

T = TypeVar("T")


class BillingApi(LoopbackApi):
    """The API app and the fake runtime on loopback (``loopback_api``), on the billing tests' clock:
    the store's and the fake hypervisor's."""

    def __init__(self, backend: Backend, clock: Clock,
                 prepare: Callable[[Runtime], None] | None = None) -> None:
        """``prepare``: called with the runtime before it opens (before its start-up reconcile),
        e.g. to make the fake hypervisor hold what a real one would after an ec2d outage."""
        self.clock = clock
        backend.store.clock = clock
        self._prepare_test = prepare
        super().__init__(backend, runtime=True, prepare=self._on_clock)

    def _on_clock(self, runtime: Runtime) -> None:
        compute = runtime.parts.compute
        assert isinstance(compute, FakeCompute)
        compute.clock = self.clock
        if self._prepare_test is not None:
            self._prepare_test(runtime)

    @property
    def compute(self) -> FakeCompute:
        assert self.runtime is not None and isinstance(self.runtime.parts.compute, FakeCompute)
        return self.runtime.parts.compute


def wait_for(check: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` wall-clock seconds."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"still waiting after {timeout:.0f}s for {what}"
        time.sleep(0.01)
    return value


def state_of(api: BillingApi, rid: str) -> str | None:
    rec = api.backend.store.get(rid)
    return rec.state if rec is not None else None


def reaches(api: BillingApi, rid: str, state: str) -> None:
    wait_for(lambda: state_of(api, rid) == state, f"{rid} to be {state}")
