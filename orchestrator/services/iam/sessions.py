"""STS sessions of assumed roles: ``ASIA...`` key, secret and session token, kept in the state store
until they expire (so they survive an ec2d restart, as AWS's do), the secret sealed and only the
token's SHA-256 kept (``sealed.py``). A session ends at its expiration, when its role is deleted,
or when :func:`revoke` ends it (an instance role's sessions when the role leaves the instance).

Times are the store's clock (``Store.clock``, seconds): tests move it to see a session expire.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from orchestrator.domain import errors, ids
from orchestrator.domain.lifecycle import AVAILABLE
from orchestrator.domain.records import STS_SESSION, StsSessionData
from orchestrator.services.iam import entities, sealed
from orchestrator.store.sqlite import Record, Store

EXPIRED_KEPT = 3600.0  # an expired session answers ExpiredToken this long, then it is forgotten


@dataclass(frozen=True)
class Issued:
    access_key_id: str
    secret_access_key: str
    token: str
    expiration: float  # store clock seconds
    record: Record[StsSessionData]


def issue(store: Store, root_secret: str, role: Record, session_name: str, duration: int, source_arn: str,
          policy: str | None = None, policy_arns: list[str] | None = None, owner: str | None = None) -> Issued:
    """New credentials for a session of ``role`` lasting ``duration`` seconds (checked by the caller)."""
    now = store.clock()
    key_id = ids.new_iam_id("session-key")
    secret = secrets.token_urlsafe(30)[:40]
    token = "IQoJb3JpZ2luX2Vj" + secrets.token_urlsafe(240)  # opaque, about the length of AWS's tokens
    data: StsSessionData = {
        "RoleId": role.id, "RoleArn": role.data["Arn"], "RoleName": role.data["RoleName"],
        "SessionName": session_name, "SealedSecret": sealed.seal(root_secret, key_id, secret),
        "TokenHash": sealed.token_hash(token), "Issued": now, "Expiration": float(int(now) + duration),
        "SourceArn": source_arn, "Policy": policy, "PolicyArns": list(policy_arns or [])}
    if owner is not None:
        data["Owner"] = owner
    with store.transaction():
        prune(store, now)
        record = store.insert(Record[StsSessionData](id=key_id, type=STS_SESSION, region=entities.REGION,
                                                     state=AVAILABLE, data=data))
    return Issued(key_id, secret, token, data["Expiration"], record)


def lookup(store: Store, root_secret: str, key_id: str, token: str) -> tuple[Record[StsSessionData], str] | None:
    """The session and its secret for this key and token, None when unknown, or ``ExpiredToken``
    for one past its expiration (clients refresh their credentials on that code)."""
    if not key_id.startswith("ASIA"):
        return None
    record = store.get(key_id, STS_SESSION)
    if record is None or not sealed.token_matches(token, record.data["TokenHash"]):
        return None
    if record.data["Expiration"] <= store.clock():
        raise errors.ExpiredToken()
    if store.get(record.data["RoleId"], entities.ROLE) is None:
        return None  # the role was deleted: its sessions end with it
    secret = sealed.unseal(root_secret, key_id, record.data["SealedSecret"])
    return None if secret is None else (record, secret)


def revoke(store: Store, role_id: str | None = None, owner: str | None = None) -> int:
    """End every session of ``role_id`` and/or of ``owner`` now; how many ended."""
    ended = 0
    with store.transaction():
        for record in store.list(STS_SESSION, entities.REGION):
            if (role_id is None or record.data["RoleId"] == role_id) and (
                    owner is None or record.data.get("Owner") == owner) and (role_id or owner):
                ended += store.delete(record.id)
    return ended


def prune(store: Store, now: float | None = None) -> None:
    """Forget sessions that expired more than ``EXPIRED_KEPT`` seconds ago."""
    now = store.clock() if now is None else now
    with store.transaction():
        for record in store.list(STS_SESSION, entities.REGION):
            if record.data["Expiration"] + EXPIRED_KEPT <= now:
                store.delete(record.id)
