"""The encryption keys an EBS volume's or snapshot's record holds (``records.VolumeData`` and
``records.SnapshotData`` extend this; see ``services/ebs_encryption.py``).

(No ``from __future__ import annotations``: ``TypedDict`` must see ``NotRequired``, as in records.py.)
"""

from typing import NotRequired, TypedDict


class EncryptionData(TypedDict):
    Encrypted: bool
    KmsKeyId: NotRequired[str]  # the key ARN (as given when it names no key)
    DataKey: NotRequired[str]  # the lineage data key, wrapped under KmsKeyId's master key
    KeyLineage: NotRequired[str]
