"""Managed prefix lists: the record, its states and the checks EC2 makes of names, sizes and
entries. Pure: the service (``services/prefix_lists.py``) stores what these functions return;
security-group rules that name a list are compiled with its current CIDRs (``runtime/vpc_state``).

ec2d's VPCs are IPv4 only, so only ``IPv4`` lists are made. A list keeps every version's entries
(``Versions``: version number -> entries) for GetManagedPrefixListEntries' ``TargetVersion`` and
RestoreManagedPrefixListVersion; EC2 keeps 1,000 versions, so does ec2d.

(No ``from __future__ import annotations``: the record's ``TypedDict`` is here, see ``records.py``.)
"""

import ipaddress
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, NotRequired, TypedDict

from orchestrator.domain import errors

PREFIX_LIST = "prefix-list"  # the record type (and TagSpecification's ResourceType)
MAX_ENTRIES_LIMIT = 1000  # EC2's "Maximum number of entries per prefix list"
MAX_VERSIONS = 1000  # EC2's "Versions per prefix list": the oldest goes first


class PrefixListState(StrEnum):
    CREATE_IN_PROGRESS = "create-in-progress"
    CREATE_COMPLETE = "create-complete"
    CREATE_FAILED = "create-failed"
    MODIFY_IN_PROGRESS = "modify-in-progress"
    MODIFY_COMPLETE = "modify-complete"
    MODIFY_FAILED = "modify-failed"
    RESTORE_IN_PROGRESS = "restore-in-progress"
    RESTORE_COMPLETE = "restore-complete"
    RESTORE_FAILED = "restore-failed"
    DELETE_IN_PROGRESS = "delete-in-progress"
    DELETE_COMPLETE = "delete-complete"
    DELETE_FAILED = "delete-failed"


class PrefixListEntryData(TypedDict):
    Cidr: str
    Description: NotRequired[str]


class PrefixListData(TypedDict):
    """A ``prefix-list`` record's data (registered in ``records.SCHEMAS``)."""

    PrefixListName: str
    AddressFamily: str
    MaxEntries: int
    Version: int
    OwnerId: str
    Entries: list[PrefixListEntryData]  # the current version's, sorted by CIDR
    Versions: dict[str, list[PrefixListEntryData]]  # every kept version's entries, by number
    ClientToken: NotRequired[str]
    StateMessage: NotRequired[str]  # why the last modification failed ("" once a later one did not)


PL_SCHEMAS: dict[str, type[Any]] = {PREFIX_LIST: PrefixListData}


def name(value: Any) -> str:
    """PrefixListName: 1-255 characters, not starting with ``com.amazonaws``."""
    if not isinstance(value, str) or not 1 <= len(value) <= 255:
        raise errors.InvalidParameterValue("The prefix list name must be between 1 and 255 characters.")
    if value.lower().startswith("com.amazonaws"):
        raise errors.InvalidParameterValue("The prefix list name cannot start with 'com.amazonaws'.")
    return value


def address_family(value: Any) -> str:
    if value == "IPv4":
        return value
    if value == "IPv6":
        raise errors.ApiError("IPv6 prefix lists are not supported by ec2d: its VPCs are IPv4 only.",
                              code="UnsupportedOperation")
    raise errors.InvalidParameterValue(f"The address family '{value}' is not valid. Valid values are IPv4 and IPv6.")


def max_entries(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ENTRIES_LIMIT:
        raise errors.InvalidParameterValue(
            f"The maximum number of entries ({value}) must be between 1 and {MAX_ENTRIES_LIMIT}.")
    return value


def cidr(value: Any) -> str:
    """An entry's CIDR as EC2 stores it (the network address); IPv6 in an IPv4 list is refused."""
    text = value.strip() if isinstance(value, str) else ""
    try:
        return str(ipaddress.IPv4Network(text if "/" in text else "", strict=False))
    except ValueError:
        raise errors.InvalidParameterValue(f"The CIDR '{value}' is not a valid IPv4 CIDR.") from None


def entry(item: Mapping[str, Any]) -> PrefixListEntryData:
    out = PrefixListEntryData(Cidr=cidr(item.get("Cidr")))
    desc = item.get("Description")
    if desc is not None:
        if not isinstance(desc, str) or len(desc) > 255:
            raise errors.InvalidParameterValue("An entry description must be at most 255 characters.")
        out["Description"] = desc
    return out


def _sorted(entries: Iterable[PrefixListEntryData]) -> list[PrefixListEntryData]:
    return sorted(entries, key=lambda e: ipaddress.IPv4Network(e["Cidr"]))


def _check_size(entries: list[PrefixListEntryData], limit: int) -> list[PrefixListEntryData]:
    if len(entries) > limit:
        raise errors.ApiError(
            f"The prefix list has {len(entries)} entries, more than its maximum number of entries ({limit}).",
            code="PrefixListMaxEntriesExceeded")
    return _sorted(entries)


def initial_entries(items: Iterable[Mapping[str, Any]] | None, limit: int) -> list[PrefixListEntryData]:
    """CreateManagedPrefixList's ``Entries``: one entry per CIDR, at most ``limit``."""
    out: dict[str, PrefixListEntryData] = {}
    for item in items or []:
        e = entry(item)
        if e["Cidr"] in out:
            raise errors.InvalidParameterValue(f"The CIDR {e['Cidr']} appears more than once in the request.")
        out[e["Cidr"]] = e
    return _check_size(list(out.values()), limit)


def modified_entries(current: Iterable[PrefixListEntryData], add: Iterable[Mapping[str, Any]] | None,
                     remove: Iterable[Mapping[str, Any]] | None, limit: int) -> list[PrefixListEntryData]:
    """ModifyManagedPrefixList's entries: ``remove`` (each must be in the list), then ``add``
    (a CIDR already there is refused unless it is also removed; EC2's InvalidPrefixListModification)."""
    by_cidr = {e["Cidr"]: e for e in current}
    for item in remove or []:
        c = cidr(item.get("Cidr"))
        if c not in by_cidr:
            raise errors.ApiError(f"The CIDR ({c}) does not exist in the prefix list.",
                                  code="InvalidPrefixListModification")
        del by_cidr[c]
    for item in add or []:
        e = entry(item)
        if e["Cidr"] in by_cidr:
            raise errors.ApiError(
                f"An entry with the CIDR ({e['Cidr']}) and description ({e.get('Description', '')}) already exists.",
                code="InvalidPrefixListModification")
        by_cidr[e["Cidr"]] = e
    return _check_size(list(by_cidr.values()), limit)


def cidrs(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The current CIDRs of a list's record data (what a rule naming the list matches)."""
    return tuple(e["Cidr"] for e in data.get("Entries") or [])
