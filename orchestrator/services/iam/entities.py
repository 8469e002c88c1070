"""What every IAM entity shares: names and paths as IAM validates them, ARNs, lookups by name
(IAM names are unique whatever their case, and found whatever the case asked), tags, pagination
(``Marker``/``MaxItems``), and documents as IAM returns them (URL-encoded JSON).

Messages follow IAM's: ``ValidationError`` "1 validation error detected: Value 'x y' at 'userName'
failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+".
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from orchestrator.domain import errors, records
from orchestrator.store.sqlite import Record, Store

REGION = records.IAM_REGION
NAME_PATTERN = r"[\w+=,.@-]+"
PATH_PATTERN = r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)"
_NAME_RE = re.compile(NAME_PATTERN)
_PATH_RE = re.compile(r"/|/[\x21-\x7e]+/")
MAX_TAGS = 50
TAG_PATTERN = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+"
T = TypeVar("T")


def validation(value: object, member: str, constraint: str) -> errors.ValidationError:
    shown = "null" if value is None else f"'{value}'"
    return errors.ValidationError(
        f"1 validation error detected: Value {shown} at '{member}' failed to satisfy constraint: {constraint}")


def check_name(value: str, member: str, max_len: int = 64, min_len: int = 1, pattern: str = NAME_PATTERN,
               regex: str | None = None) -> str:
    """``value`` if it has IAM's length and pattern (``regex``: Python's spelling of ``pattern``)."""
    if len(value) > max_len:
        raise validation(value, member, f"Member must have length less than or equal to {max_len}")
    if len(value) < min_len:
        raise validation(value, member, f"Member must have length greater than or equal to {min_len}")
    if not re.fullmatch(regex or pattern, value):
        raise validation(value, member, f"Member must satisfy regular expression pattern: {pattern}")
    return value


def check_path(value: str | None, member: str = "path") -> str:
    if value is None:
        return "/"
    if len(value) > 512 or not _PATH_RE.fullmatch(value):
        raise validation(value, member, f"Member must satisfy regular expression pattern: {PATH_PATTERN}")
    return value


def check_max_items(value: int | None) -> int:
    if value is None:
        return 100
    if not 1 <= value <= 1000:
        raise validation(value, "maxItems", "Member must have value "
                         + ("greater than or equal to 1" if value < 1 else "less than or equal to 1000"))
    return value


def arn(account_id: str, kind: str, path: str, name: str) -> str:
    """``arn:aws:iam::ACCOUNT:user/PATH/NAME`` (the path's slashes included)."""
    return f"arn:aws:iam::{account_id}:{kind}{path}{name}"


def now(store: Store) -> float:
    return store.clock()


def timestamp(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def url_encoded(document: str) -> str:
    """A policy document as IAM returns it: URL-encoded (botocore decodes it into a dict)."""
    return quote(document, safe="")


# -- lookups -----------------------------------------------------------------------------------


def by_name(store: Store, rtype: str, field: str, name: str) -> Record | None:
    """The entity of ``rtype`` named ``name``, whatever the case (IAM's names are case-insensitive)."""
    exact = store.find_by_field(rtype, REGION, field, name)
    if exact:
        return exact[0]
    wanted = name.lower()
    return next((r for r in store.list(rtype, REGION) if r.data[field].lower() == wanted), None)


def all_of(store: Store, rtype: str, field: str, path_prefix: str | None = None) -> list[Record]:
    """Every entity of ``rtype`` (under ``path_prefix``), sorted by name as IAM lists them."""
    found = [r for r in store.list(rtype, REGION) if path_prefix is None or r.data["Path"].startswith(path_prefix)]
    return sorted(found, key=lambda r: (r.data[field].lower(), r.data[field]))


def page(items: Sequence[T], marker: str | None, max_items: int | None, key: Callable[[T], str],
         out: str) -> dict[str, Any]:
    """One page of ``items`` (sorted by ``key``) as a List* answer: ``out`` holds the items,
    ``IsTruncated`` and ``Marker`` (an opaque token naming the first item of the next page)."""
    limit = check_max_items(max_items)
    start = 0
    if marker is not None:
        try:
            after = base64.urlsafe_b64decode(marker.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            raise validation(marker, "marker", "Member must be a marker this service issued") from None
        start = next((n for n, item in enumerate(items) if key(item) >= after), len(items))
    chunk = list(items[start:start + limit])
    answer: dict[str, Any] = {out: chunk, "IsTruncated": start + limit < len(items)}
    if answer["IsTruncated"]:
        answer["Marker"] = base64.urlsafe_b64encode(key(items[start + limit]).encode()).decode()
    return answer


# -- tags --------------------------------------------------------------------------------------


def check_tags(tags: list[dict[str, str]] | None) -> list[records.IamTag]:
    out: list[records.IamTag] = []
    for tag in tags or []:
        key, value = tag.get("Key", ""), tag.get("Value", "")
        check_name(key, "tags.member.key", 128, 1, TAG_PATTERN, r"[\w\s.:/=+\-@]+")
        if len(value) > 256:
            raise validation(value, "tags.member.value", "Member must have length less than or equal to 256")
        out.append({"Key": key, "Value": value})
    if len({t["Key"] for t in out}) != len(out):
        raise errors.InvalidInput("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
    return out


def merge_tags(current: list[records.IamTag], new: list[records.IamTag]) -> list[records.IamTag]:
    merged = {t["Key"]: t for t in current}
    for t in new:
        merged[t["Key"]] = t
    if len(merged) > MAX_TAGS:
        raise errors.LimitExceeded(f"The number of tags has reached the maximum limit of {MAX_TAGS}.")
    return list(merged.values())


def without_tags(current: list[records.IamTag], keys: list[str]) -> list[records.IamTag]:
    gone = set(keys)
    return [t for t in current if t["Key"] not in gone]


# -- the entities users and roles name -----------------------------------------------------------

USER, ROLE, POLICY, PROFILE, ACCESS_KEY = (records.IAM_USER, records.IAM_ROLE, records.IAM_POLICY,
                                           records.IAM_INSTANCE_PROFILE, records.IAM_ACCESS_KEY)


def user(store: Store, name: str) -> Record[records.IamUserData]:
    found = by_name(store, USER, "UserName", name)
    if found is None:
        raise errors.NoSuchEntity(f"The user with name {name} cannot be found.")
    return found


def role(store: Store, name: str) -> Record[records.IamRoleData]:
    found = by_name(store, ROLE, "RoleName", name)
    if found is None:
        raise errors.NoSuchEntity(f"The role with name {name} cannot be found.")
    return found


def profile(store: Store, name: str) -> Record[records.IamInstanceProfileData]:
    found = by_name(store, PROFILE, "InstanceProfileName", name)
    if found is None:
        raise errors.NoSuchEntity(f"Instance Profile {name} cannot be found.")
    return found


def user_shape(record: Record, tags: bool = False) -> dict[str, Any]:
    d = record.data
    out: dict[str, Any] = {"Path": d["Path"], "UserName": d["UserName"], "UserId": record.id, "Arn": d["Arn"],
                           "CreateDate": timestamp(d["CreateDate"])}
    if tags and d["Tags"]:
        out["Tags"] = d["Tags"]
    return out


def role_shape(record: Record, tags: bool = False) -> dict[str, Any]:
    d = record.data
    out: dict[str, Any] = {"Path": d["Path"], "RoleName": d["RoleName"], "RoleId": record.id, "Arn": d["Arn"],
                           "CreateDate": timestamp(d["CreateDate"]),
                           "AssumeRolePolicyDocument": url_encoded(d["AssumeRolePolicyDocument"]),
                           "MaxSessionDuration": d["MaxSessionDuration"]}
    if d["Description"]:
        out["Description"] = d["Description"]
    if tags and d["Tags"]:
        out["Tags"] = d["Tags"]
    return out


def profile_shape(store: Store, record: Record) -> dict[str, Any]:
    d = record.data
    roles = [r for r in (store.get(rid, ROLE) for rid in d["RoleIds"]) if r is not None]
    out: dict[str, Any] = {"Path": d["Path"], "InstanceProfileName": d["InstanceProfileName"],
                           "InstanceProfileId": record.id, "Arn": d["Arn"],
                           "CreateDate": timestamp(d["CreateDate"]), "Roles": [role_shape(r) for r in roles]}
    if d["Tags"]:
        out["Tags"] = d["Tags"]
    return out


def no_boundary(boundary: str | None) -> None:
    """Permissions boundaries are not evaluated by ec2d: refuse one rather than ignore it."""
    if boundary is not None:
        raise errors.InvalidInput("ec2d does not support permissions boundaries (PermissionsBoundary).")
