"""The load-balancer driver interface: what the runtime needs from a proxy engine (HAProxy).

One :class:`Balancer` is one ELBv2 load balancer: a proxy process running inside its VPC's network
namespace, listening on one node address per enabled subnet (ELB has a node per zone). The runtime
computes the whole desired :class:`Balancer` from the store and calls :meth:`apply` with it after
every change; the driver makes the process match: starts it if absent (or dead), changes target
servers through the engine's runtime API where it can (no reload: connections and health state
survive), reloads gracefully otherwise, and always keeps the configuration file equal to the model
(a reload or restart keeps every server). :meth:`health` reads what the engine's checks observed;
the mapping to ELB's target states (``initial``/``healthy``/``unhealthy``... with their reasons)
is the caller's, not the driver's.

Drivers never read the store. Names are short, nft/haproxy-safe identifiers chosen by the caller.
Blocking (milliseconds, except the first start): call via the runtime's thread pool.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class HealthCheck:
    """A target group's health check, in ELB's terms (seconds and counts, as the API holds them)."""

    protocol: str = "HTTP"  # "HTTP" | "TCP"
    path: str = "/"  # HTTP only
    port: int | None = None  # None: the target's traffic port ("traffic-port")
    interval: int = 30
    timeout: int = 6
    healthy_threshold: int = 5  # consecutive successes to become healthy (haproxy "rise")
    unhealthy_threshold: int = 2  # consecutive failures to become unhealthy (haproxy "fall")
    matcher: str = "200"  # ELB's HttpCode: "200", "200,202", "200-299"
    enabled: bool = True


@dataclass(frozen=True)
class Server:
    """One registered target: ``name`` is unique in its backend (e.g. ``i-0abc_80``)."""

    name: str
    address: str
    port: int
    draining: bool = False  # deregistering: no new requests, existing ones finish


@dataclass(frozen=True)
class Backend:
    """One target group as used by this load balancer."""

    name: str
    protocol: str  # "HTTP" | "TCP"
    health: HealthCheck
    servers: tuple[Server, ...] = ()


@dataclass(frozen=True)
class FixedResponse:
    status: int
    content_type: str = "text/plain"
    body: str = ""


@dataclass(frozen=True)
class Redirect:
    """ELB's redirect: each component is literal text or keeps the request's own through ELB's
    placeholders ``#{protocol}``, ``#{host}``, ``#{port}``, ``#{path}`` (without its leading
    slash) and ``#{query}``; ``status`` 301 or 302."""

    protocol: str = "#{protocol}"
    host: str = "#{host}"
    port: str = "#{port}"
    path: str = "/#{path}"
    query: str = "#{query}"
    status: int = 301


@dataclass(frozen=True)
class Action:
    """A listener or rule action: forward to ``backend`` (its name), to several backends by
    weight (``weighted``: (name, weight) pairs, each request to one of them with probability
    weight / total), answer ``fixed``, or ``redirect``."""

    backend: str | None = None
    fixed: FixedResponse | None = None
    weighted: tuple[tuple[str, int], ...] = ()
    redirect: Redirect | None = None


@dataclass(frozen=True)
class Rule:
    """A listener rule (HTTP listeners only): all given conditions must match; ELB wildcards
    ``*`` and ``?`` in the patterns; hosts match case-insensitively."""

    priority: int
    action: Action
    path_patterns: tuple[str, ...] = ()
    host_patterns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Listener:
    port: int
    protocol: str  # "HTTP" | "TCP"
    default: Action
    rules: tuple[Rule, ...] = ()  # evaluated by ascending priority


@dataclass(frozen=True)
class Balancer:
    """The whole desired state of one load balancer's proxy."""

    name: str  # unique per data dir, e.g. "lb-" + the ARN's 16 hex digits
    netns: str  # the VPC's network namespace
    addresses: tuple[str, ...]  # node addresses (already configured in the namespace by the caller)
    listeners: tuple[Listener, ...] = ()
    backends: tuple[Backend, ...] = ()
    idle_timeout: int = 60  # seconds (ELB's idle_timeout.timeout_seconds)
    # the address connections to targets (and health checks) come from: a node's, so the targets'
    # security groups see the load balancer's group (None: the kernel's choice)
    source: str | None = None


@dataclass(frozen=True)
class ServerHealth:
    """What the engine observed of one server.

    ``status``: ``"UP"``, ``"DOWN"``, ``"INIT"`` (no check has concluded yet: fewer than ``rise``
    successes since it was added, never UP), ``"DRAIN"``, ``"MAINT"``, ``"NOCHECK"``.
    ``check``: the last check's result as HAProxy names it (``"L7OK"``, ``"L7STS"`` (HTTP status
    mismatch), ``"L4CON"`` (connection refused/reset), ``"L4TOUT"``/``"L7TOUT"`` (timeouts),
    ``"L7RSP"``, ...), ``""`` before the first check; ``code``: the HTTP status of the last check
    when there was one.
    """

    status: str
    check: str = ""
    code: int | None = None


class LoadBalancerError(Exception):
    """The engine could not be started, configured or asked (message says why)."""


class LoadBalancerDriver(ABC):
    @abstractmethod
    def apply(self, balancer: Balancer) -> None:
        """Make the running proxy match ``balancer`` (start, runtime-API changes or reload)."""

    @abstractmethod
    def remove(self, name: str) -> None:
        """Stop the proxy ``name`` and delete its files; tolerates absence."""

    @abstractmethod
    def health(self, name: str) -> Mapping[str, Mapping[str, ServerHealth]]:
        """``{backend name: {server name: ServerHealth}}`` of the running proxy ({} if not running)."""

    def requests(self, name: str) -> Mapping[str, Mapping[str, int]]:
        """``{backend name: {server name: requests sent to it}}`` (cumulative, HAProxy's ``stot``,
        from when the proxy or the server started) of the running proxy ({} if not running):
        Auto Scaling's ``ALBRequestCountPerTarget`` is its rate."""
        return {}

    @abstractmethod
    def running(self) -> Sequence[str]:
        """Names of the proxies of this data dir whose process is alive."""
