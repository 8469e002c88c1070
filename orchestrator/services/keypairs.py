"""Key pairs: region-scoped, named, created (private key returned once) or imported."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import errors, ids
from orchestrator.domain import keypairs as crypto
from orchestrator.domain.lifecycle import AVAILABLE
from orchestrator.domain.records import KeyPairData
from orchestrator.services import lookup
from orchestrator.services import tags as tag_service
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

TYPE = "key-pair"


# EC2: "Constraints: Up to 255 ASCII characters" -- printable ones (AWS's own templates check key
# names with AllowedPattern [\x20-\x7E]*). Control characters such as a newline would inject lines
# into the public-keys listing of the metadata service ("0=name") and break XML responses.
_KEY_NAME = re.compile(r"[\x20-\x7e]{1,255}")
_ESCAPE_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7f)}


def _check_name(name: str) -> None:
    if not _KEY_NAME.fullmatch(name or ""):
        shown = (name or "").encode("ascii", "backslashreplace").decode().translate(_ESCAPE_CONTROLS)
        raise errors.InvalidParameterValue.for_param(
            "KeyName", shown, "Key names must be 1 to 255 printable ASCII characters.")


def _by_name(backend: Backend, region: str, name: str) -> Record[KeyPairData] | None:
    found = backend.store.find_by_field(TYPE, region, "KeyName", name)
    return found[0] if found else None


def _insert(
    backend: Backend, region: str, name: str, key_type: str, public_key: str, fingerprint: str,
    tag_specs: Sequence[Mapping[str, Any]] | None,
) -> Record:
    tags = tag_service.tags_from_specifications(tag_specs, TYPE)
    record = Record[KeyPairData](
        id=ids.new_id("key"),
        type=TYPE,
        region=region,
        state=AVAILABLE,
        data={
            "KeyName": name,
            "KeyType": key_type,
            "KeyFingerprint": fingerprint,
            "PublicKey": public_key,
        },
    )
    with backend.store.transaction():
        if _by_name(backend, region, name) is not None:
            raise errors.Duplicate("InvalidKeyPair.Duplicate", f"The keypair '{name}' already exists.")
        backend.store.insert(record)
        if tags:
            backend.store.set_tags(record.id, TYPE, region, tags)
    return record


def create(
    backend: Backend, region: str, name: str, key_type: str = "rsa", key_format: str = "pem",
    tag_specs: Sequence[Mapping[str, Any]] | None = None,
) -> tuple[Record, str]:
    """Create a key pair; returns the record and the private key material (shown only once)."""
    _check_name(name)
    if _by_name(backend, region, name) is not None:
        raise errors.Duplicate("InvalidKeyPair.Duplicate", f"The keypair '{name}' already exists.")
    try:
        generated = crypto.create_key_pair(key_type=key_type, key_format=key_format)
    except crypto.KeyPairError as e:
        raise errors.ApiError(e.message, code=e.code) from None
    record = _insert(
        backend, region, name, key_type, generated.public_key_openssh, generated.fingerprint, tag_specs
    )
    return record, generated.private_key_material


def import_(
    backend: Backend, region: str, name: str, material: bytes,
    tag_specs: Sequence[Mapping[str, Any]] | None = None,
) -> Record:
    _check_name(name)
    try:
        imported = crypto.import_public_key(material)
    except crypto.KeyPairError as e:
        raise errors.ApiError(e.message, code=e.code) from None
    return _insert(backend, region, name, imported.key_type, imported.public_key_openssh, imported.fingerprint,
                   tag_specs)


def create_tagged(backend: Backend, region: str, name: str, key_type: str, key_format: str,
                  tag_specs: Sequence[Mapping[str, Any]] | None) -> tuple[Record, str, dict[str, str]]:
    """CreateKeyPair; returns the record, the private key material and the pair's tags."""
    record, material = create(backend, region, name, key_type, key_format, tag_specs)
    return record, material, tag_service.of(backend, record.id)


def import_tagged(backend: Backend, region: str, name: str, material: bytes,
                  tag_specs: Sequence[Mapping[str, Any]] | None) -> tuple[Record, dict[str, str]]:
    """ImportKeyPair; returns the record and the pair's tags."""
    record = import_(backend, region, name, material, tag_specs)
    return record, tag_service.of(backend, record.id)


def find(backend: Backend, region: str, names: Sequence[str] = (), key_ids: Sequence[str] = ()) -> list[Record]:
    records = backend.store.list(TYPE, region)
    if not names and not key_ids:
        return records
    by_name = {r.data["KeyName"]: r for r in records}
    by_id = {r.id: r for r in records}
    out: list[Record] = []
    for name in names:
        if name not in by_name:
            raise errors.NotFound("InvalidKeyPair.NotFound", f"The key pair '{name}' does not exist")
        out.append(by_name[name])
    for key_id in key_ids:
        ids.check(key_id, "key")
        if key_id not in by_id:
            raise errors.NotFound("InvalidKeyPair.NotFound", f"The key pair ID '{key_id}' does not exist")
        out.append(by_id[key_id])
    seen: set[str] = set()
    return [r for r in out if not (r.id in seen or seen.add(r.id))]


def delete(backend: Backend, region: str, name: str | None, key_id: str | None) -> str | None:
    """Delete by name or id. As on EC2, deleting an unknown *name* succeeds (idempotent)."""
    if not name and not key_id:
        raise errors.MissingParameter("KeyName")
    if key_id:
        record = lookup.key_pair(backend, region, key_id)
    else:
        record = _by_name(backend, region, name or "")
    if record is None:
        return None
    backend.store.delete(record.id)
    return record.id


def describe(record: Record[KeyPairData], tags: Mapping[str, str], include_public_key: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "KeyPairId": record.id,
        "KeyFingerprint": record.data["KeyFingerprint"],
        "KeyName": record.data["KeyName"],
        "KeyType": record.data["KeyType"],
        "Tags": tag_service.tag_list(tags),
        "CreateTime": dt.datetime.fromtimestamp(record.created_at, dt.UTC),
    }
    if include_public_key:
        out["PublicKey"] = record.data["PublicKey"]
    return out


def public_key(backend: Backend, region: str, name: str) -> str:
    record = _by_name(backend, region, name)
    if record is None:
        raise errors.NotFound("InvalidKeyPair.NotFound", f"The key pair '{name}' does not exist")
    return str(record.data["PublicKey"])


def describe_key_pairs(backend: Backend, region: str, names: Sequence[str], key_ids: Sequence[str],
                       include_public_key: bool) -> list[dict[str, Any]]:
    records = find(backend, region, names, key_ids)
    return tag_service.rendered(backend, region, TYPE, records,
                                lambda r, tags: describe(r, tags, include_public_key))
