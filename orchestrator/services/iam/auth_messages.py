"""EC2's encoded authorization failure message: the decoded message (explain.decoded_message's
JSON) encrypted, so a denied caller learns nothing of the policies until someone allowed
``sts:DecodeAuthorizationMessage`` decodes it, as on AWS.

AES-256-GCM under a key derived (HKDF-SHA256) from the root secret with an info string of its
own (so it is not the key `sealed` seals secrets with), base64url without padding: opaque to the
client, and only this account's ec2d decodes it. The account id is the associated data.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"ec2d encoded authorization message v1"


@functools.lru_cache(maxsize=4)
def _key(root_secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(root_secret.encode())


def encode(root_secret: str, account_id: str, message: dict[str, Any]) -> str:
    nonce = os.urandom(12)
    plain = json.dumps(message, separators=(",", ":")).encode()
    sealed = AESGCM(_key(root_secret)).encrypt(nonce, plain, account_id.encode())
    return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def decode(root_secret: str, account_id: str, encoded: str) -> str | None:
    """The decoded message (JSON text), or None when ``encoded`` is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        return AESGCM(_key(root_secret)).decrypt(raw[:12], raw[12:], account_id.encode()).decode()
    except (InvalidTag, ValueError, binascii.Error, UnicodeDecodeError):
        return None
