"""The data keys of encrypted volumes and snapshots, unwrapped for the storage and compute
drivers (see ``domain/ebs_keys.py``): the storage driver asks ``KeyRing.passphrase`` for a
volume's or layer's LUKS passphrase when it makes or rewrites a file; the compute designer gets
a disk's libvirt secret (``DiskKey``) when a domain is defined or a disk hot-plugged."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.domain import ebs_keys
from orchestrator.drivers.compute.designer import DiskEncryption
from orchestrator.drivers.compute.driver import ComputeDriver
from orchestrator.drivers.storage.driver import StorageDriver
from orchestrator.store.sqlite import Record, Store


def data_key(store: Store, record: Record) -> bytes | None:
    """The record's lineage data key, or None (not encrypted, or its KMS key is unusable)."""
    return ebs_keys.data_key(record.data, store.get_setting)


@dataclass(frozen=True)
class DiskKey:
    """What the hypervisor needs to open an encrypted disk's chain."""

    secret_uuid: str
    usage: str
    passphrase: str


class KeyRing:
    """Passphrases by volume or snapshot (layer) id, read from the store on each call."""

    def __init__(self, store: Store, prefix: str) -> None:
        self.store = store
        self.prefix = prefix

    def passphrase(self, resource_id: str) -> str | None:
        rec = self.store.get(resource_id)
        key = data_key(self.store, rec) if rec is not None else None
        return ebs_keys.passphrase(key) if key is not None else None

    def disk_key(self, volume_id: str) -> DiskKey | None:
        rec = self.store.get(volume_id)
        key = data_key(self.store, rec) if rec is not None else None
        if rec is None or key is None:
            return None
        lineage = rec.data["KeyLineage"]
        return DiskKey(ebs_keys.secret_uuid(self.prefix, lineage), f"{self.prefix}-ebs-key-{lineage}",
                       ebs_keys.passphrase(key))


def forget_secret(store: Store, prefix: str, compute: ComputeDriver, deleted: Record) -> None:
    """After ``deleted`` (a volume record) is gone: when it was its lineage's last volume, the
    hypervisor forgets the lineage's secret (snapshots keep the data key, wrapped, in the store)."""
    lineage = deleted.data.get("KeyLineage")
    if lineage and not any(v.data.get("KeyLineage") == lineage for v in store.list("volume")):
        compute.undefine_secrets("", ebs_keys.secret_uuid(prefix, lineage))


def disk_encryption(store: Store, prefix: str, compute: ComputeDriver, storage: StorageDriver,
                    volume_id: str) -> DiskEncryption | None:
    """An encrypted volume's disk encryption for the domain XML, its passphrase handed to the
    hypervisor first (``define_secret``); None for a clear volume. Blocking: call it in a job."""
    key = KeyRing(store, prefix).disk_key(volume_id)
    if key is None:
        return None
    compute.define_secret(key.secret_uuid, key.usage, key.passphrase)
    below = storage.chain(volume_id)[1:]
    return DiskEncryption(key.secret_uuid, tuple((str(p), enc) for p, enc in below))
