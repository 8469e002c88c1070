"""The typed port the services call the runtime through, and what the runtime needs of the model.

Services import this module only (never the implementation): ``Backend.runtime`` is a
:class:`RuntimePort`, implemented once: :class:`orchestrator.runtime.core.Runtime`, on the real
drivers (libvirt/namespaces/qcow2) or on their in-memory fakes (API-only mode, ``ec2d serve``
without instances, and tests; see ``server.fake_runtime``).

Request methods return at once and do the slow part in the background (``launch``, EBS work);
``async`` methods finish their work before returning (a security-group change is in the kernel
before the API call answers).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from orchestrator.config import Config
from orchestrator.domain.regions import RegionCatalogue
from orchestrator.drivers.loadbalancer.driver import ServerHealth
from orchestrator.store.sqlite import Record, Store

# ``then(ok)`` after background EBS work (CopyImage/CreateImage settle their AMI with it)
Then = Callable[[bool], None] | None


class SessionCredentials(Protocol):
    def as_imds(self) -> dict[str, object]: ...


class IdentitySessions(Protocol):
    """The instance identity credentials the metadata service hands out (services' session store)."""

    def for_owner(self, owner: str, now: dt.datetime | None = None) -> SessionCredentials: ...

    def forget(self, owner: str) -> None: ...


class InstanceRoles(Protocol):
    """An instance's role as the metadata service serves it (services' ``instance_roles``)."""

    def attached(self, instance: Record) -> tuple[str, str, str, dt.datetime] | None:
        """(role name, instance profile ARN, instance profile id, associated at) while a profile
        with a role is attached to the instance, else None (then IMDS lists no ``iam/``)."""

    def credentials(self, instance_id: str) -> dict[str, object]:
        """The role's current credentials (IMDS fields), or ``{"Code": <not Success>, ...}``."""

    def peek(self, instance_id: str) -> dict[str, object] | None:
        """What :meth:`credentials` would answer now, when that is known without blocking (it runs
        on the metadata service's loop), else None."""

    def revoke(self, instance_id: str) -> None:
        """End every role session of the instance (stop, terminate, profile removed)."""


class Model(Protocol):
    """What the runtime reads and writes: the configuration, the store, the region catalogue and
    the identity credentials. ``services.backend.Backend`` is one (structurally)."""

    config: Config
    store: Store
    regions: RegionCatalogue

    @property
    def sessions(self) -> IdentitySessions: ...

    @property
    def roles(self) -> InstanceRoles | None: ...


class RuntimePort(Protocol):
    """Everything the services ask of the runtime."""

    # ---- instances
    def require_hypervisor(self) -> None:
        """Raise ``ServiceUnavailable`` while the hypervisor is unreachable (nothing changed)."""

    def launch(self, instance_ids: Sequence[str]) -> None: ...

    def start(self, instance_id: str) -> None: ...

    def stop(self, instance_id: str, force: bool = False) -> None: ...

    def terminate(self, instance_id: str) -> None: ...

    def reboot(self, instance_id: str) -> None: ...

    def console_output(self, instance_id: str) -> bytes: ...

    # ---- VPC networks (finish before returning)
    async def host_conflicts(self, region: str, cidr: str) -> list[str]:
        """Routes, addresses or name servers of the host a VPC CIDR would shadow."""

    async def ensure_vpc_network(self, vpc: Record) -> None: ...

    async def delete_vpc_network(self, vpc: Record) -> None: ...

    async def ensure_subnet_network(self, subnet: Record) -> None: ...

    async def delete_subnet_network(self, subnet: Record) -> None: ...

    async def sync_vpc(self, region: str, vpc_id: str) -> None:
        """Firewall, DHCP leases, metadata table and NAT of the VPC, from the store."""

    def refresh_metadata(self, region: str, vpc_id: str) -> None:
        """``sync_vpc`` in the background."""

    def settle_profile_association(self, instance_id: str, association_id: str) -> None:
        """In the background: move the association out of ``associating``/``disassociating``
        (``lifecycle.PROFILE_ASSOCIATION_SETTLES``), then sync the instance's VPC metadata."""

    async def hotplug_eni(self, instance: Record, eni: Record) -> None: ...

    async def hotunplug_eni(self, instance: Record, eni: Record) -> None: ...

    # ---- EBS (background; the records move when the work is done)
    def create_volume(self, volume_id: str) -> None:
        """``creating`` -> ``available`` (or ``error``) once the file exists."""

    def delete_volume(self, volume_id: str) -> None:
        """Remove the ``deleting`` volume's file and record, then collect layers."""

    def attach_volume(self, volume_id: str, instance_id: str, device: str) -> None:
        """Hot-plug into a running domain; the attachment becomes ``attached``."""

    def detach_volume(self, volume_id: str, instance_id: str, device: str, force: bool) -> None:
        """Hot-unplug; the volume becomes ``available`` (or its attachment ``busy``)."""

    def modify_volume(self, volume_id: str) -> None:
        """Apply the volume's ``Modification`` (grow the file, online when attached)."""

    def snapshot_volumes(self, pairs: Sequence[tuple[str, str]], instance_id: str | None = None,
                         then: Then = None) -> None:
        """Freeze ``(volume_id, snapshot_id)`` pairs (atomically per running domain)."""

    def copy_snapshot(self, source_id: str, snapshot_id: str, then: Then = None) -> None:
        """Give ``snapshot_id`` the content of ``source_id``'s layer, then complete it."""

    def delete_snapshot(self, snapshot_id: str) -> None:
        """The snapshot is ``deleted`` (hidden): remove its layer and record once nothing builds on it."""

    # ---- ELBv2 load balancers (runtime/load_balancers.py)
    def provision_load_balancer(self, region: str, lb_arn: str) -> None:
        """In the background: the VPC synced (node addresses...), the proxy applied, then the
        record ``provisioning`` -> ``active`` (``failed`` with a ``StateReason`` if that failed)."""

    async def sync_load_balancer(self, region: str, lb_arn: str, vpc_id: str) -> None:
        """Make the proxy match the store (VPC sync, then the driver's apply); when the record is
        gone, remove the proxy (its name comes from the ARN) and re-sync ``vpc_id``."""

    async def target_health(self, region: str, target_group_arn: str) -> dict[tuple[str, int], ServerHealth | None]:
        """``(target id, port) -> what the proxies' checks observed`` for each registration of the
        group (None: no proxy has the server yet)."""

    # ---- what Auto Scaling's target tracking measures
    async def instance_cpu(self, instance_ids: Sequence[str]) -> dict[str, float]:
        """Cumulative CPU seconds (all vCPUs) of each running instance of ``instance_ids`` (from the
        hypervisor: libvirt's domain CPU time); instances not running are left out."""

    async def target_requests(self, region: str, target_group_arn: str) -> dict[tuple[str, int], int]:
        """``(target id, port) -> requests the load balancers sent it`` (cumulative, HAProxy's
        ``stot``; restarts when the proxy or the server does) for each registration of the group."""

    # ---- the services' own background work (Auto Scaling's controller)
    def background(self, what: str, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``factory()`` in the background (failures logged); cancelled when the runtime closes."""

    def exclusive(self, key: str) -> AbstractAsyncContextManager[None]:
        """The runtime's lock ``key`` (``Jobs.holding``): one holder at a time, in this process."""
