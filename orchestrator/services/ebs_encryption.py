"""EBS encryption, the API side: which key a new volume or snapshot is encrypted under, the
account's default encryption (Enable/Disable/GetEbsEncryptionByDefault) and default KMS key
(Get/Modify/ResetEbsDefaultKmsKeyId). Keys and lineages: ``domain/ebs_keys.py``.

What a record carries when encrypted (volume or snapshot ``data``): ``Encrypted``, ``KmsKeyId``
(the key ARN; as given when it names no key), ``DataKey`` (the lineage data key wrapped under
that KMS key; absent when the key is unusable, and the record then fails as on AWS: a volume
disappears, a snapshot copy ends in ``error``) and ``KeyLineage``. The runtime unwraps a
record's data key (``runtime/volume_keys.py``) when it makes or opens its files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.domain import ebs_keys, errors
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

Encryption = dict[str, Any]
CLEAR: Encryption = {"Encrypted": False}


def _master(backend: Backend, arn: str) -> str:
    """The KMS key's master key, made on first use."""
    setting = ebs_keys.master_setting(arn)
    with backend.store.transaction():
        found = backend.store.get_setting(setting)
        if found is None:
            found = ebs_keys.new_master()
            backend.store.set_setting(setting, found)
    return found


def aws_ebs_key(backend: Backend, region: str) -> str:
    """The ARN of the region's AWS-managed ``alias/aws/ebs`` key (made on first use)."""
    setting = ebs_keys.default_key_setting(backend.account_id, region)
    with backend.store.transaction():
        arn = backend.store.get_setting(setting)
        if arn is None:
            arn = ebs_keys.key_arn(region, backend.account_id, ebs_keys.new_key_id())
            backend.store.set_setting(setting, arn)
    return arn


def resolve(backend: Backend, region: str, key: str) -> str | None:
    return ebs_keys.resolve(key, region, backend.account_id, aws_ebs_key(backend, region))


def default_key(backend: Backend, region: str) -> str:
    """What GetEbsDefaultKmsKeyId answers: the key set by ModifyEbsDefaultKmsKeyId, else aws/ebs."""
    return backend.store.get_setting(ebs_keys.default_kms_setting(backend.account_id, region)) \
        or aws_ebs_key(backend, region)


def by_default(backend: Backend, region: str) -> bool:
    return backend.store.get_setting(ebs_keys.by_default_setting(backend.account_id, region)) == "true"


def set_by_default(backend: Backend, region: str, on: bool) -> bool:
    backend.store.set_setting(ebs_keys.by_default_setting(backend.account_id, region), "true" if on else "false")
    return on


def modify_default_key(backend: Backend, region: str, key: str | None) -> str:
    if not key:
        raise errors.MissingParameter("KmsKeyId")
    arn = resolve(backend, region, key)
    value = arn or key  # AWS checks keys asynchronously: an unusable one fails the volumes made with it
    backend.store.set_setting(ebs_keys.default_kms_setting(backend.account_id, region), value)
    return value


def reset_default_key(backend: Backend, region: str) -> str:
    backend.store.set_setting(ebs_keys.default_kms_setting(backend.account_id, region), "")
    return aws_ebs_key(backend, region)


# ---------------------------------------------------------------------------------------------
# new records


def check_dependency(req: Mapping[str, Any]) -> None:
    if req.get("KmsKeyId") and not req.get("Encrypted"):
        raise errors.ApiError("The parameter KmsKeyId requires the parameter Encrypted to be set.",
                              code="InvalidParameterDependency")


def _fresh(backend: Backend, arn: str | None, given: str) -> Encryption:
    if arn is None:
        return {"Encrypted": True, "KmsKeyId": given}
    data_key = ebs_keys.new_data_key()
    return {"Encrypted": True, "KmsKeyId": arn, "KeyLineage": ebs_keys.new_lineage(),
            "DataKey": ebs_keys.wrap(_master(backend, arn), arn, data_key)}


def _inherit(backend: Backend, source: Record, arn: str | None, given: str) -> Encryption:
    """The source's lineage re-wrapped under ``arn`` (same data key: the chain stays openable)."""
    data_key = ebs_keys.data_key(source.data, backend.store.get_setting)
    if arn is None or data_key is None:
        return {"Encrypted": True, "KmsKeyId": arn or given}
    return {"Encrypted": True, "KmsKeyId": arn, "KeyLineage": source.data["KeyLineage"],
            "DataKey": ebs_keys.wrap(_master(backend, arn), arn, data_key)}


def for_volume(backend: Backend, region: str, encrypted: bool | None, kms_key_id: str | None,
               snapshot: Record | None) -> Encryption:
    """A new volume's encryption (CreateVolume, RunInstances' mappings): encrypted when asked,
    when made from an encrypted snapshot, or by the account's default; under ``kms_key_id``, else
    the snapshot's key, else the default key. Call ``check_dependency`` first."""
    from_encrypted = snapshot is not None and bool(snapshot.data.get("Encrypted"))
    if not (encrypted or from_encrypted or by_default(backend, region)):
        return dict(CLEAR)
    given = kms_key_id or (snapshot.data["KmsKeyId"] if from_encrypted and snapshot else "") \
        or default_key(backend, region)
    arn = resolve(backend, region, given)
    if from_encrypted and snapshot is not None:
        return _inherit(backend, snapshot, arn, given)
    return _fresh(backend, arn, given)


def inherited(source: Record) -> Encryption:
    """A snapshot of a volume (or a same-key copy of a snapshot) is encrypted as its source is,
    in its lineage."""
    d = source.data
    if not d.get("Encrypted"):
        return dict(CLEAR)
    return {k: d[k] for k in ("Encrypted", "KmsKeyId", "KeyLineage", "DataKey") if k in d}


def for_copy(backend: Backend, region: str, source: Record, encrypted: bool | None,
             kms_key_id: str | None) -> Encryption:
    """A snapshot copy's encryption (CopySnapshot): the source's lineage when it stays under the
    same key; a new lineage (the runtime re-encrypts the data) when it becomes encrypted or the
    key changes."""
    src_encrypted = bool(source.data.get("Encrypted"))
    if not (encrypted or src_encrypted or by_default(backend, region)):
        return dict(CLEAR)
    same_region = source.region == region  # a key is regional: another region's copy takes its default
    given = kms_key_id or (source.data["KmsKeyId"] if src_encrypted and same_region else "") \
        or default_key(backend, region)
    arn = resolve(backend, region, given)
    if src_encrypted and arn is not None and arn == source.data.get("KmsKeyId"):
        return _inherit(backend, source, arn, given)
    return _fresh(backend, arn, given)


def usable(data: Mapping[str, Any]) -> bool:
    """False for an encrypted record whose key names no key (it fails, as on AWS)."""
    return not data.get("Encrypted") or bool(data.get("DataKey"))


def shown(data: Mapping[str, Any]) -> dict[str, Any]:
    """``Encrypted`` and, for an encrypted record, ``KmsKeyId``: what Describe* show."""
    if not data.get("Encrypted"):
        return {"Encrypted": False}
    return {"Encrypted": True, "KmsKeyId": data.get("KmsKeyId")}
