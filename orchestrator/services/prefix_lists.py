"""Managed prefix lists: Create/Describe/Modify/Delete/RestoreManagedPrefixList(Version),
GetManagedPrefixListEntries and GetManagedPrefixListAssociations.

A list is a versioned set of IPv4 CIDRs that security-group rules name (``PrefixListIds``); the
firewall compiles such a rule with the list's current CIDRs (``runtime/vpc_state.firewall_rule``).
A change of the entries records a new version and moves the list ``modify-in-progress``; the
action then re-syncs every VPC whose groups name the list and only then completes
(``modify_live``), so traffic follows the list when the call answers. A rule naming a list counts
as the list's MaxEntries rules in its group's quota, as on EC2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import errors, ids
from orchestrator.domain import prefix_lists as pld
from orchestrator.domain import vpc_endpoints as ved
from orchestrator.domain.prefix_lists import PREFIX_LIST, PrefixListData, PrefixListEntryData
from orchestrator.domain.prefix_lists import PrefixListState as PL
from orchestrator.domain.records import RTB
from orchestrator.services import lookup, vpcs
from orchestrator.services import security_groups as sgs
from orchestrator.services import tags as tag_service
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

_SETTLED = frozenset(str(s) for s in (PL.CREATE_COMPLETE, PL.MODIFY_COMPLETE, PL.MODIFY_FAILED,
                                        PL.RESTORE_COMPLETE, PL.RESTORE_FAILED, PL.DELETE_FAILED))


def create_tagged(backend: Backend, region: str, req: Mapping[str, Any]) -> tuple[Record[PrefixListData], dict[str, str]]:
    """CreateManagedPrefixList; returns the list and its tags. The same ``ClientToken`` again
    returns the list it made."""
    name = pld.name(req.get("PrefixListName"))
    family = pld.address_family(req.get("AddressFamily"))
    size = pld.max_entries(req.get("MaxEntries"))
    entries = pld.initial_entries(req.get("Entries"), size)
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), PREFIX_LIST)
    token = req.get("ClientToken")
    with backend.store.transaction():
        for other in backend.store.list(PREFIX_LIST, region) if token else []:
            if other.data.get("ClientToken") == token:
                return other, backend.store.tags_of(other.id)
        data = PrefixListData(PrefixListName=name, AddressFamily=family, MaxEntries=size, Version=1,
                              OwnerId=backend.account_id, Entries=entries, Versions={"1": entries})
        if token:
            data["ClientToken"] = token
        record = Record[PrefixListData](id=ids.new_id("pl"), type=PREFIX_LIST, region=region,
                                        state=str(PL.CREATE_IN_PROGRESS), data=data)
        backend.store.insert(record, tags or None)
        # nothing on the host to make: a list reaches the firewall only through the rules naming it
        record = backend.store.transition(record.id, str(PL.CREATE_IN_PROGRESS), str(PL.CREATE_COMPLETE))
    return record, tags


def describe_one(record: Record[PrefixListData], tags: Mapping[str, str]) -> dict[str, Any]:
    d = record.data
    out: dict[str, Any] = {
        "PrefixListId": record.id, "AddressFamily": d["AddressFamily"], "State": record.state,
        "PrefixListArn": f"arn:aws:ec2:{record.region}:{d['OwnerId']}:prefix-list/{record.id}",
        "PrefixListName": d["PrefixListName"], "MaxEntries": d["MaxEntries"], "Version": d["Version"],
        "OwnerId": d["OwnerId"], "Tags": tag_service.tag_list(tags),
    }
    if d.get("StateMessage"):
        out["StateMessage"] = d["StateMessage"]
    return out


def shown(backend: Backend, record: Record[PrefixListData]) -> dict[str, Any]:
    """The API's item of ``record`` with its tags (Modify/Restore answer with it)."""
    return describe_one(record, backend.store.tags_of(record.id))


def describe(backend: Backend, region: str, pl_ids: Sequence[str] | None) -> list[dict[str, Any]]:
    """DescribeManagedPrefixLists' items (the filters and pages are the handler's)."""
    managed = {p["PrefixListId"]: _aws_item(region, p) for p in ved.aws_prefix_lists(region)}
    own_ids = [i for i in pl_ids or [] if i not in managed]
    records = [r for r in backend.store.list(PREFIX_LIST, region) if r.state != str(PL.DELETE_COMPLETE)]
    own = tag_service.rendered(backend, region, PREFIX_LIST, lookup.select(records, own_ids, "pl"), describe_one)
    if pl_ids and not own_ids:
        own = []
    return [m for i, m in managed.items() if not pl_ids or i in pl_ids] + own


def entries(backend: Backend, region: str, pl_id: str, target_version: int | None) -> list[dict[str, Any]]:
    """GetManagedPrefixListEntries: the current entries, or those of ``target_version``."""
    managed = ved.aws_prefix_list(pl_id, [region])
    if managed is not None:
        return [{"Cidr": c} for c in managed[1]["Cidrs"]]
    record = lookup.prefix_list(backend, region, pl_id)
    if target_version is None:
        return [dict(e) for e in record.data["Entries"]]
    kept = record.data["Versions"].get(str(target_version))
    if kept is None:
        raise errors.InvalidParameterValue(f"The version '{target_version}' of prefix list '{pl_id}' does not exist.")
    return [dict(e) for e in kept]


def referencing_groups(backend: Backend, region: str, pl_id: str) -> list[Record]:
    """The security groups with a rule naming the list."""
    return [g for g in backend.store.list(sgs.SG, region)
            if any(r.get("PrefixListId") == pl_id for r in g.data.get("Rules") or [])]


def referencing_tables(backend: Backend, region: str, pl_id: str) -> list[Record]:
    """The route tables with a route to the list."""
    return [t for t in backend.store.list(RTB, region)
            if any(r.get("DestinationPrefixListId") == pl_id for r in t.data["Routes"])]


def associations(backend: Backend, region: str, pl_id: str) -> list[dict[str, Any]]:
    """GetManagedPrefixListAssociations: the groups and route tables that reference the list."""
    lookup.prefix_list(backend, region, pl_id)
    return [{"ResourceId": r.id, "ResourceOwner": r.data["OwnerId"]}
            for r in [*referencing_groups(backend, region, pl_id), *referencing_tables(backend, region, pl_id)]]


def _settled(record: Record[PrefixListData]) -> None:
    if record.state not in _SETTLED:
        raise errors.IncorrectState(f"The prefix list '{record.id}' is in the current state ({record.state}) "
                                    "and cannot be modified.")


def _check_version(record: Record[PrefixListData], current: Any) -> None:
    if current is not None and current != record.data["Version"]:
        raise errors.ApiError("The prefix list has the incorrect version number.", code="PrefixListVersionMismatch")


def _new_version(data: PrefixListData, new: list[PrefixListEntryData]) -> dict[str, Any]:
    """The data changes that record ``new`` as the next version (the oldest kept one dropped past
    EC2's 1,000)."""
    version = data["Version"] + 1
    versions = {**data["Versions"], str(version): new}
    for old in sorted(versions, key=int)[:max(0, len(versions) - pld.MAX_VERSIONS)]:
        del versions[old]
    return {"Entries": new, "Version": version, "Versions": versions}


def _too_small(backend: Backend, region: str, pl_id: str, size: int) -> list[str]:
    """The groups naming the list whose rule quota the new MaxEntries would break."""
    out = []
    for g in referencing_groups(backend, region, pl_id):
        for egress in (False, True):
            try:
                sgs.check_limit(backend, region, g.data["Rules"], egress, resized={pl_id: size})
            except errors.ApiError:
                out.append(g.id)
                break
    return out


def modify(backend: Backend, region: str, req: Mapping[str, Any]) -> tuple[Record[PrefixListData], bool]:
    """ModifyManagedPrefixList's decision: name, entries (a new version) or MaxEntries (not both
    of the last two). Returns the list and whether its entries changed (the list is then
    ``modify-in-progress`` until the VPCs naming it follow)."""
    add, remove, size = req.get("AddEntries"), req.get("RemoveEntries"), req.get("MaxEntries")
    if size is not None and (add or remove):
        raise errors.InvalidParameterCombination(
            "You cannot modify the entries and the maximum entries for the prefix list in the same request.")
    with backend.store.transaction():
        record = lookup.prefix_list(backend, region, req["PrefixListId"])
        _settled(record)
        _check_version(record, req.get("CurrentVersion"))
        changes: dict[str, Any] = {"StateMessage": ""}
        if req.get("PrefixListName") is not None:
            changes["PrefixListName"] = pld.name(req["PrefixListName"])
        if add or remove:
            new = pld.modified_entries(record.data["Entries"], add, remove, record.data["MaxEntries"])
            changes.update(_new_version(record.data, new))
        target = str(PL.MODIFY_COMPLETE)
        if size is not None:
            size = pld.max_entries(size)
            if size < len(record.data["Entries"]):
                raise errors.InvalidParameterValue(
                    f"The maximum number of entries ({size}) is less than the number of entries in the prefix list "
                    f"({len(record.data['Entries'])}).")
            blocked = _too_small(backend, region, record.id, size)
            if blocked:  # as EC2: the modification fails, the state message names the resources
                changes["StateMessage"] = ("The following resources do not support the new maximum size: "
                                           + ", ".join(blocked[:10]))
                target = str(PL.MODIFY_FAILED)
            else:
                changes["MaxEntries"] = size
        moving = bool(add or remove)
        record = backend.store.transition(record.id, record.state, str(PL.MODIFY_IN_PROGRESS), changes)
        if not moving:
            record = backend.store.transition(record.id, str(PL.MODIFY_IN_PROGRESS), target)
    return record, moving


def _vpcs_naming(backend: Backend, region: str, pl_id: str) -> list[str]:
    return sorted({r.data["VpcId"] for r in [*referencing_groups(backend, region, pl_id),
                                             *referencing_tables(backend, region, pl_id)]})


async def _follow(backend: Backend, region: str, record: Record[PrefixListData], done: PL) -> Record[PrefixListData]:
    """Every VPC whose groups name the list re-synced, then the list's ``done`` state (its
    ``-failed`` one if a sync raised: the next change may try again)."""
    try:
        for vpc_id in _vpcs_naming(backend, region, record.id):
            await vpcs.sync_network(backend, region, vpc_id)
    except BaseException:
        failed = PL.MODIFY_FAILED if done == PL.MODIFY_COMPLETE else PL.RESTORE_FAILED
        backend.store.transition(record.id, record.state, str(failed), {"StateMessage": "the firewall did not follow"})
        raise
    return backend.store.transition(record.id, record.state, str(done))


async def modify_live(backend: Backend, region: str, req: Mapping[str, Any]) -> Record[PrefixListData]:
    """ModifyManagedPrefixList: recorded, then the firewalls naming the list follow before it answers."""
    record, moving = modify(backend, region, req)
    return await _follow(backend, region, record, PL.MODIFY_COMPLETE) if moving else record


def restore(backend: Backend, region: str, pl_id: str, previous: Any, current: Any) -> Record[PrefixListData]:
    """RestoreManagedPrefixListVersion's decision: the entries of ``previous`` as a new version."""
    if previous is None or current is None:
        raise errors.MissingParameter("PreviousVersion" if previous is None else "CurrentVersion")
    with backend.store.transaction():
        record = lookup.prefix_list(backend, region, pl_id)
        _settled(record)
        _check_version(record, current)
        kept = record.data["Versions"].get(str(previous))
        if kept is None:
            raise errors.InvalidParameterValue(f"The version '{previous}' of prefix list '{pl_id}' does not exist.")
        if len(kept) > record.data["MaxEntries"]:
            raise errors.ApiError(f"The version '{previous}' has more entries than the prefix list's maximum.",
                                  code="PrefixListMaxEntriesExceeded")
        return backend.store.transition(record.id, record.state, str(PL.RESTORE_IN_PROGRESS),
                                        {**_new_version(record.data, list(kept)), "StateMessage": ""})


async def restore_live(backend: Backend, region: str, pl_id: str, previous: Any, current: Any) -> Record[PrefixListData]:
    """RestoreManagedPrefixListVersion: the firewalls naming the list follow before it answers."""
    return await _follow(backend, region, restore(backend, region, pl_id, previous, current), PL.RESTORE_COMPLETE)


def delete(backend: Backend, region: str, pl_id: str) -> Record[PrefixListData]:
    """DeleteManagedPrefixList: refused while a security group's rule names it."""
    with backend.store.transaction():
        record = lookup.prefix_list(backend, region, pl_id)
        _settled(record)
        users = [*referencing_groups(backend, region, pl_id), *referencing_tables(backend, region, pl_id)]
        if users:
            raise errors.DependencyViolation(
                f"The prefix list '{pl_id}' is referenced by: {', '.join(g.id for g in users[:10])}.")
        record = backend.store.transition(record.id, record.state, str(PL.DELETE_IN_PROGRESS))
        record = backend.store.transition(record.id, str(PL.DELETE_IN_PROGRESS), str(PL.DELETE_COMPLETE))
        backend.store.delete(record.id)  # its tags with it
    return record


def aws_managed(backend: Backend, region: str, pl_ids: Sequence[str] | None) -> list[dict[str, Any]]:
    """DescribePrefixLists' items: the AWS-managed lists (``com.amazonaws.<region>.s3``)."""
    found = {p["PrefixListId"]: p for p in ved.aws_prefix_lists(region)}
    for pl_id in pl_ids or []:
        if pl_id not in found:
            raise lookup.LOOKUPS["pl"].missing(pl_id) if pl_id.startswith("pl-") else ids.KINDS["pl"].malformed_error(pl_id)
    return [dict(p) for p in found.values() if not pl_ids or p["PrefixListId"] in pl_ids]


def _aws_item(region: str, pl: Mapping[str, Any]) -> dict[str, Any]:
    """An AWS-managed list as DescribeManagedPrefixLists shows it (owner ``AWS``, no tags)."""
    return {"PrefixListId": pl["PrefixListId"], "AddressFamily": "IPv4", "State": str(PL.CREATE_COMPLETE),
            "PrefixListArn": f"arn:aws:ec2:{region}:aws:prefix-list/{pl['PrefixListId']}",
            "PrefixListName": pl["PrefixListName"], "Version": 1, "OwnerId": ved.AWS_OWNER, "Tags": []}
