"""IAM users' access keys: ``AKIA...`` ids, a secret shown once (in CreateAccessKey's answer) and
kept sealed (``sealed.py``), at most two per user, ``Active`` or ``Inactive``. An inactive or deleted
key stops authenticating on the next request (``keystore.py`` reads the record every time)."""

from __future__ import annotations

import secrets
from typing import Any

from orchestrator.domain import errors, ids
from orchestrator.domain.lifecycle import AVAILABLE
from orchestrator.domain.records import IamAccessKeyData
from orchestrator.services.backend import Backend
from orchestrator.services.iam import access, entities, sealed
from orchestrator.services.iam.entities import ACCESS_KEY
from orchestrator.services.principals import IAM_USER, Caller
from orchestrator.store.sqlite import Record

MAX_KEYS = 2
STATUSES = ("Active", "Inactive")


def _owner_name(caller: Caller | None, name: str | None) -> str:
    """The user a call is about: the one named, else the calling IAM user itself."""
    if name is not None:
        return name
    if caller is not None and caller.kind == IAM_USER and caller.name:
        return caller.name
    raise errors.ValidationError("Must specify userName when calling with non-User credentials")


def _shape(record: Record, with_secret: str | None = None) -> dict[str, Any]:
    d = record.data
    out = {"UserName": d["UserName"], "AccessKeyId": record.id, "Status": d["Status"],
           "CreateDate": entities.timestamp(d["CreateDate"])}
    if with_secret is not None:
        out["SecretAccessKey"] = with_secret
    return out


def create(backend: Backend, caller: Caller | None, user_name: str | None) -> dict[str, Any]:
    store = backend.store
    with store.transaction():
        user = entities.user(store, _owner_name(caller, user_name))
        access.require(backend, caller, "iam:CreateAccessKey", user.data["Arn"])
        if len(store.find_by_field(ACCESS_KEY, entities.REGION, "UserId", user.id)) >= MAX_KEYS:
            raise errors.LimitExceeded(f"Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS}")
        key_id = ids.new_iam_id("access-key")
        secret = secrets.token_urlsafe(30)[:40]
        record = store.insert(Record[IamAccessKeyData](
            id=key_id, type=ACCESS_KEY, region=entities.REGION, state=AVAILABLE,
            data={"UserId": user.id, "UserName": user.data["UserName"], "Status": "Active",
                  "CreateDate": entities.now(store),
                  "SealedSecret": sealed.seal(backend.credentials.secret_access_key, key_id, secret)}))
    return _shape(record, with_secret=secret)


def listing(backend: Backend, caller: Caller | None, user_name: str | None, marker: str | None,
            max_items: int | None) -> dict[str, Any]:
    user = entities.user(backend.store, _owner_name(caller, user_name))
    access.require(backend, caller, "iam:ListAccessKeys", user.data["Arn"])
    keys = sorted(backend.store.find_by_field(ACCESS_KEY, entities.REGION, "UserId", user.id), key=lambda r: r.id)
    return entities.page([_shape(r) for r in keys], marker, max_items, lambda k: k["AccessKeyId"],
                         "AccessKeyMetadata")


def _key(backend: Backend, caller: Caller | None, user_name: str | None, key_id: str,
         action: str) -> Record[IamAccessKeyData]:
    user = entities.user(backend.store, _owner_name(caller, user_name))
    access.require(backend, caller, action, user.data["Arn"])
    record = backend.store.get(key_id, ACCESS_KEY)
    if record is None or record.data["UserId"] != user.id:
        raise errors.NoSuchEntity(f"The Access Key with id {key_id} cannot be found.")
    return record


def update(backend: Backend, caller: Caller | None, user_name: str | None, key_id: str, status: str) -> None:
    if status not in STATUSES:
        raise entities.validation(status, "status", "Member must satisfy enum value set: [Active, Inactive]")
    with backend.store.transaction():
        record = _key(backend, caller, user_name, key_id, "iam:UpdateAccessKey")
        record.data["Status"] = status
        backend.store.update(record)


def delete(backend: Backend, caller: Caller | None, user_name: str | None, key_id: str) -> None:
    with backend.store.transaction():
        record = _key(backend, caller, user_name, key_id, "iam:DeleteAccessKey")
        backend.store.delete(record.id)
