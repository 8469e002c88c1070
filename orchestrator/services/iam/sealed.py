"""Secrets of IAM access keys and STS sessions, sealed before they reach the state store.

SigV4 needs the secret itself to check a signature, so it cannot be hashed as a password would be.
The root key is kept in ``credentials.json`` (owner-only, outside the database); IAM users' and
sessions' secrets are kept in ``state.db`` encrypted with AES-256-GCM under a key derived (HKDF-SHA256)
from that root secret, with the access key id as associated data. A copy of the database alone (a
backup, a bug report) thus reveals no usable secret, and a sealed secret cannot be moved to another
key id. Session tokens are not needed to verify anything but themselves: only their SHA-256 is kept.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"ec2d iam secret sealing v1"


@functools.lru_cache(maxsize=4)
def _key(root_secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(root_secret.encode())


def seal(root_secret: str, key_id: str, secret: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_key(root_secret)).encrypt(nonce, secret.encode(), key_id.encode())
    return base64.b64encode(nonce + sealed).decode()


def unseal(root_secret: str, key_id: str, blob: str) -> str | None:
    """The secret, or None when ``blob`` was not sealed for ``key_id`` under this root key."""
    try:
        raw = base64.b64decode(blob)
        return AESGCM(_key(root_secret)).decrypt(raw[:12], raw[12:], key_id.encode()).decode()
    except Exception:  # InvalidTag, bad base64: not ours
        return None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash(token), stored_hash)
