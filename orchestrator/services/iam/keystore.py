"""Access keys of IAM users and STS sessions, for the SigV4 check (``Backend.resolve_key``): the
secret to verify with and the caller the key stands for. Read from the store, or from a cache that
any write to the store invalidates (`read_cache`), so
an access key made ``Inactive`` or deleted, a deleted user or role, and an expired or revoked
session stop authenticating at once."""

from __future__ import annotations

from orchestrator.domain.records import IAM_ACCESS_KEY, IAM_USER
from orchestrator.services import principals
from orchestrator.services.credentials import Credentials
from orchestrator.services.iam import read_cache, sealed, sessions
from orchestrator.services.principals import ResolvedKey
from orchestrator.store.sqlite import TAGS_GENERATION, Store

_USER_KEYS: read_cache.StampCache[ResolvedKey | None] = read_cache.StampCache()


def user_key(store: Store, creds: Credentials, access_key_id: str) -> ResolvedKey | None:
    """An IAM user's active key (kept until an IAM record or any tag changes: `read_cache`). Its
    caller carries the (IAM, tags) generations it was resolved at, which the request's policy check
    reuses: an entry is only a hit while both are current, so a hit's caller carries the current
    ones (tag writes are rare next to requests; a miss re-reads the key)."""
    if not access_key_id.startswith("AKIA"):
        return None
    stamps = store.generations("iam", TAGS_GENERATION)
    return _USER_KEYS.get(store, (access_key_id, creds.secret_access_key),
                          lambda: _user_key(store, creds, access_key_id, stamps), stamp=stamps)


def _user_key(store: Store, creds: Credentials, access_key_id: str,
              stamps: tuple[int, ...] | None) -> ResolvedKey | None:
    key = store.get(access_key_id, IAM_ACCESS_KEY)
    if key is None or key.data["Status"] != "Active":
        return None
    user = store.get(key.data["UserId"], IAM_USER)
    secret = sealed.unseal(creds.secret_access_key, access_key_id, key.data["SealedSecret"])
    if user is None or secret is None:
        return None
    return ResolvedKey(secret, principals.iam_user(creds.account_id, access_key_id, user.data["Arn"],
                                                   user.data["UserName"], user.id, stamps))


def session_key(store: Store, creds: Credentials, access_key_id: str, token: str) -> ResolvedKey | None:
    found = sessions.lookup(store, creds.secret_access_key, access_key_id, token)
    if found is None:
        return None
    record, secret = found
    d = record.data
    return ResolvedKey(secret, principals.assumed_role(
        creds.account_id, access_key_id, d["RoleArn"], d["RoleName"], d["RoleId"], d["SessionName"],
        d["Policy"], tuple(d["PolicyArns"]), d.get("Owner")))
