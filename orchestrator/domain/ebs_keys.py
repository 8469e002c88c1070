"""EBS encryption keys, pure: KMS key identifiers, and data keys wrapped under a master key.

ec2d has no KMS of its own. Each account and region has the AWS-managed ``alias/aws/ebs`` key
(``arn:aws:kms:REGION:ACCOUNT:key/<uuid>``, made on first use), and a well-formed key id or key
ARN of the caller's account and region names a customer key that ec2d makes on first use. An
alias other than ``alias/aws/ebs``, or a key of another account or region, names no key: as on
AWS (which checks keys asynchronously) the request appears to work and then fails.

Every KMS key has a 256-bit master key (kept in ec2d's store, never beside a volume file). An
encrypted volume's data is encrypted by QEMU's LUKS-in-qcow2 with a *data key*, one per key
lineage: a volume made blank gets a new one; its snapshots, the volumes made from those, and
their snapshots share it (a qcow2 backing chain is opened with one secret per encrypted file, so
one lineage key per chain keeps every chain openable); CopySnapshot that changes the key makes a
new lineage (the data is re-encrypted). The data key is stored wrapped (AES-256-GCM under the
master key, the key ARN as associated data); re-wrapping under another KMS key (a volume made
from a snapshot with another ``KmsKeyId``) keeps the lineage.
"""

from __future__ import annotations

import base64
import os
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

DEFAULT_ALIAS = "alias/aws/ebs"
_KEY_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_MRK_ID = re.compile(r"^mrk-[0-9a-f]{32}$")
_KEY_ARN = re.compile(r"^arn:aws:kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):key/(?P<id>[A-Za-z0-9-]+)$")
_ALIAS_ARN = re.compile(r"^arn:aws:kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<alias>alias/[\w/.+=,@-]+)$")
_ALIAS = re.compile(r"^alias/[\w/.+=,@-]+$")


def key_arn(region: str, account: str, key_id: str) -> str:
    return f"arn:aws:kms:{region}:{account}:key/{key_id}"


def new_key_id() -> str:
    return str(uuid.uuid4())


def resolve(value: str, region: str, account: str, default_arn: str) -> str | None:
    """The key ARN ``value`` names in ``region`` of ``account`` (a key id, key ARN, alias, or
    alias ARN), or None when it names no key there. ``default_arn``: the ``alias/aws/ebs`` key."""
    v = (value or "").strip()
    if m := _ALIAS_ARN.match(v):
        if (m["region"], m["account"]) != (region, account):
            return None
        v = m["alias"]
    if _ALIAS.match(v):
        return default_arn if v == DEFAULT_ALIAS else None
    if _KEY_ID.match(v) or _MRK_ID.match(v):
        return key_arn(region, account, v)
    if m := _KEY_ARN.match(v):
        ok = (m["region"], m["account"]) == (region, account) and (_KEY_ID.match(m["id"]) or _MRK_ID.match(m["id"]))
        return v if ok else None
    return None


# ---------------------------------------------------------------------------------------------
# key material


def new_master() -> str:
    """A new 256-bit master key, base64."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


def new_data_key() -> bytes:
    """A new lineage data key: 32 random bytes (the LUKS passphrase is their hex)."""
    return os.urandom(32)


def wrap(master_b64: str, arn: str, data_key: bytes) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(base64.b64decode(master_b64)).encrypt(nonce, data_key, arn.encode())
    return base64.b64encode(nonce + sealed).decode()


def unwrap(master_b64: str, arn: str, wrapped: str) -> bytes:
    raw = base64.b64decode(wrapped)
    return AESGCM(base64.b64decode(master_b64)).decrypt(raw[:12], raw[12:], arn.encode())


def data_key(data: Mapping[str, Any], master_of: Callable[[str], str | None]) -> bytes | None:
    """A volume's or snapshot's lineage data key from its record ``data``, unwrapped with the
    master key ``master_of(setting name)`` returns; None when not encrypted or the key is unusable."""
    if not data.get("Encrypted") or not data.get("DataKey"):
        return None
    master = master_of(master_setting(data["KmsKeyId"]))
    return None if master is None else unwrap(master, data["KmsKeyId"], data["DataKey"])


def passphrase(data_key: bytes) -> str:
    """What QEMU's LUKS and libvirt's secret get: the data key in hex (plain ASCII)."""
    return data_key.hex()


def new_lineage() -> str:
    return uuid.uuid4().hex


def secret_uuid(prefix: str, lineage: str) -> str:
    """The libvirt secret of a lineage: stable, so a redefinition replaces it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ec2d:{prefix}:ebs-key:{lineage}"))


# settings keys in the store
def master_setting(arn: str) -> str:
    return f"kms.master.{arn}"


def default_key_setting(account: str, region: str) -> str:
    return f"ebs.aws-ebs-key.{account}.{region}"


def default_kms_setting(account: str, region: str) -> str:
    return f"ebs.default-kms-key.{account}.{region}"


def by_default_setting(account: str, region: str) -> str:
    return f"ebs.encryption-by-default.{account}.{region}"
