"""An in-memory load-balancer driver (API-only mode and tests): it records the balancers applied
and reports every server ``UP`` (``L7OK``, 200) once applied, unless a test says otherwise with
:meth:`FakeLoadBalancerDriver.set_health`. Nothing is started on the host."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from orchestrator.drivers.loadbalancer.driver import (
    Balancer,
    LoadBalancerDriver,
    LoadBalancerError,
    ServerHealth,
)

UP = ServerHealth("UP", "L7OK", 200)


class FakeLoadBalancerDriver(LoadBalancerDriver):
    """``observes=False``: no check ever concludes (every server ``INIT``), for a daemon on real
    drivers without a proxy engine: no target is ever called healthy there."""

    def __init__(self, observes: bool = True) -> None:
        self.observes = observes
        self.balancers: dict[str, Balancer] = {}
        self.applied: list[str] = []  # names, one per apply (tests count re-applies)
        self.removed: list[str] = []
        self.overrides: dict[tuple[str, str], ServerHealth] = {}  # (backend, server) -> health
        self.served: dict[tuple[str, str], int] = {}  # (backend, server) -> requests (tests set them)
        self.fail_apply: str | None = None  # a message: the next applies raise LoadBalancerError
        self._lock = threading.Lock()

    def apply(self, balancer: Balancer) -> None:
        if self.fail_apply is not None:
            raise LoadBalancerError(self.fail_apply)
        with self._lock:
            self.balancers[balancer.name] = balancer
            self.applied.append(balancer.name)

    def remove(self, name: str) -> None:
        with self._lock:
            if self.balancers.pop(name, None) is not None:
                self.removed.append(name)

    def health(self, name: str) -> Mapping[str, Mapping[str, ServerHealth]]:
        with self._lock:
            balancer = self.balancers.get(name)
            if balancer is None:
                return {}
            if not self.observes:
                return {b.name: {s.name: ServerHealth("INIT") for s in b.servers} for b in balancer.backends}
            return {b.name: {s.name: (ServerHealth("DRAIN", "L7OK", 200) if s.draining
                                      else self.overrides.get((b.name, s.name), UP))
                             for s in b.servers}
                    for b in balancer.backends}

    def requests(self, name: str) -> Mapping[str, Mapping[str, int]]:
        with self._lock:
            balancer = self.balancers.get(name)
            if balancer is None:
                return {}
            return {b.name: {s.name: self.served.get((b.name, s.name), 0) for s in b.servers}
                    for b in balancer.backends}

    def running(self) -> Sequence[str]:
        with self._lock:
            return sorted(self.balancers)

    def set_health(self, backend: str, server: str, health: ServerHealth | None) -> None:
        """What :meth:`health` reports for one server from now on (None: back to UP)."""
        with self._lock:
            if health is None:
                self.overrides.pop((backend, server), None)
            else:
                self.overrides[(backend, server)] = health
