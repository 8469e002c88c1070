"""Temporary credentials (``ASIA...`` key, secret, session token) that ec2d hands to instances
through the metadata service, rotated before they expire, and that its own API accepts.

They are the instance identity credentials of ``identity-credentials/ec2/security-credentials/
ec2-instance`` now, and the base of instance-role credentials later. Kept in memory: after an
ec2d restart guests fetch new ones (clients refresh on 401 and before ``Expiration``).

An owner's credentials are revoked (:meth:`SessionCredentialStore.forget`) whenever its instance
leaves ``running`` (``instances.transition``); the metadata service then issues fresh ones on the
next request. Tokens are compared in constant time.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import string
import threading
from dataclasses import dataclass

LIFETIME = dt.timedelta(hours=6)
ROTATE_BEFORE = dt.timedelta(minutes=15)  # EC2 rotates at least 5 minutes before expiry
_ALPHABET = string.ascii_uppercase + "234567"


@dataclass(frozen=True)
class SessionCredentials:
    access_key_id: str
    secret_access_key: str
    token: str
    issued: dt.datetime
    expiration: dt.datetime
    owner: str  # instance id (or role session) the credentials belong to

    def as_imds(self) -> dict[str, object]:
        return {"AccessKeyId": self.access_key_id, "SecretAccessKey": self.secret_access_key,
                "Token": self.token, "Expiration": self.expiration, "LastUpdated": self.issued}


class SessionCredentialStore:
    def __init__(self) -> None:
        self._by_owner: dict[str, SessionCredentials] = {}
        self._by_key: dict[str, SessionCredentials] = {}
        self._lock = threading.Lock()

    def for_owner(self, owner: str, now: dt.datetime | None = None) -> SessionCredentials:
        """The owner's current credentials, issuing new ones when close to expiry."""
        now = now or dt.datetime.now(dt.UTC)
        with self._lock:
            current = self._by_owner.get(owner)
            if current is not None and current.expiration - now > ROTATE_BEFORE:
                return current
            creds = SessionCredentials(
                access_key_id="ASIA" + "".join(secrets.choice(_ALPHABET) for _ in range(16)),
                secret_access_key=secrets.token_urlsafe(30)[:40],
                token=secrets.token_urlsafe(96),
                issued=now.replace(microsecond=0),
                expiration=(now + LIFETIME).replace(microsecond=0),
                owner=owner,
            )
            for key, old in list(self._by_key.items()):  # rotated keys stay valid until they expire
                if old.expiration <= now:
                    del self._by_key[key]
            self._by_owner[owner] = creds
            self._by_key[creds.access_key_id] = creds
            return creds

    def lookup(self, access_key_id: str, token: str | None,
               now: dt.datetime | None = None) -> SessionCredentials | None:
        """The unexpired credentials with this key id and session token, or None."""
        now = now or dt.datetime.now(dt.UTC)
        with self._lock:
            creds = self._by_key.get(access_key_id)
        if creds is None or token is None or creds.expiration <= now:
            return None
        if not hmac.compare_digest(token.encode("utf-8", "surrogatepass"), creds.token.encode()):
            return None
        return creds

    def forget(self, owner: str) -> None:
        """Revoke every key of ``owner`` (current and rotated); the next ``for_owner`` issues new ones."""
        with self._lock:
            self._by_owner.pop(owner, None)
            for key, c in list(self._by_key.items()):
                if c.owner == owner:
                    del self._by_key[key]
