"""The runtime of API-only mode (``ec2d serve`` with ``instances`` off, and model-level tests):
nothing is built, so every record settles at once where the real runtime would settle it after
its background work. Instances stay where the request put them (``pending``, ``stopping``, ...),
as no hypervisor ever moves them."""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.domain.lifecycle import AttachmentState
from orchestrator.domain.states import VolumeState
from orchestrator.drivers.network import routes
from orchestrator.runtime import records as rec
from orchestrator.runtime.port import Model, Then
from orchestrator.store.sqlite import Record

V = VolumeState


class ModelOnlyRuntime:
    def __init__(self, model: Model) -> None:
        self.store = model.store

    # ---- instances: nothing runs them
    def require_hypervisor(self) -> None:
        return None

    def launch(self, instance_ids: Sequence[str]) -> None:
        return None

    def start(self, instance_id: str) -> None:
        return None

    def stop(self, instance_id: str, force: bool = False) -> None:
        return None

    def terminate(self, instance_id: str) -> None:
        return None

    def reboot(self, instance_id: str) -> None:
        return None

    def console_output(self, instance_id: str) -> bytes:
        return b""

    # ---- VPC networks: none exist
    async def host_conflicts(self, region: str, cidr: str) -> list[str]:
        return routes.conflicts(cidr, [], [])  # no VPC is routed on the host: the special ranges only

    async def ensure_vpc_network(self, vpc: Record) -> None:
        return None

    async def delete_vpc_network(self, vpc: Record) -> None:
        return None

    async def ensure_subnet_network(self, subnet: Record) -> None:
        return None

    async def delete_subnet_network(self, subnet: Record) -> None:
        return None

    async def sync_vpc(self, region: str, vpc_id: str) -> None:
        return None

    def refresh_metadata(self, region: str, vpc_id: str) -> None:
        return None

    async def hotplug_eni(self, instance: Record, eni: Record) -> None:
        return None

    async def hotunplug_eni(self, instance: Record, eni: Record) -> None:
        return None

    # ---- EBS: the records settle at once
    def create_volume(self, volume_id: str) -> None:
        rec.move_volume(self.store, volume_id, V.CREATING, V.AVAILABLE)

    def delete_volume(self, volume_id: str) -> None:
        self.store.delete(volume_id)

    def attach_volume(self, volume_id: str, instance_id: str, device: str) -> None:
        rec.set_attachment_state(self.store, volume_id, AttachmentState.ATTACHED)

    def detach_volume(self, volume_id: str, instance_id: str, device: str, force: bool) -> None:
        rec.finish_detach(self.store, volume_id, instance_id)

    def modify_volume(self, volume_id: str) -> None:
        rec.complete_modification(self.store, volume_id)

    def snapshot_volumes(self, pairs: Sequence[tuple[str, str]], instance_id: str | None = None,
                         then: Then = None) -> None:
        for _, snapshot_id in pairs:
            rec.complete_snapshot(self.store, snapshot_id, None)
        if then is not None:
            then(True)

    def copy_snapshot(self, source_id: str, snapshot_id: str, then: Then = None) -> None:
        rec.complete_snapshot(self.store, snapshot_id, None)
        if then is not None:
            then(True)

    def delete_snapshot(self, snapshot_id: str) -> None:
        self.store.delete(snapshot_id)
