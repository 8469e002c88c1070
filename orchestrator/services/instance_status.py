"""DescribeInstanceStatus and the instance's maintenance options (simplified automatic recovery).

The system status check is real (``runtime/status_checks.py``): ``initializing`` while the boot
has not shown anything on the console, ``ok`` once it has and the domain runs, ``impaired`` when
the boot stayed silent or the domain paused for the deadline. ec2d has no separate look inside
the guest's OS, so the instance status check reports the same reachability while the system
check is ``initializing`` or ``ok``, and ``insufficient-data`` while the system is impaired (the
guest cannot be checked then), as EC2 reports a check it could not run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import errors
from orchestrator.domain import status_checks as checks
from orchestrator.domain.records import InstanceData, InstanceMaintenanceOptions
from orchestrator.domain.states import InstanceState
from orchestrator.services import instances, launch_request
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

S = InstanceState


def maintenance_options(data: Mapping[str, Any]) -> InstanceMaintenanceOptions:
    """The instance's ``MaintenanceOptions`` (an instance from before they were kept: default)."""
    return {"AutoRecovery": "default", **(data.get("MaintenanceOptions") or {})}  # type: ignore[typeddict-item]


def modify_maintenance_options(backend: Backend, region: str, req: Mapping[str, Any]) -> dict[str, Any]:
    """ModifyInstanceMaintenanceOptions: recorded; the next status check pass follows it (an
    impaired instance is recovered within seconds once AutoRecovery is ``default`` again)."""
    record: Record[InstanceData] = instances.get(backend, region, req["InstanceId"])
    if record.state == S.TERMINATED:
        raise errors.IncorrectInstanceState(
            f"The instance '{record.id}' is not in a state from which it can be modified.")
    options = maintenance_options(record.data)
    if req.get("AutoRecovery") is not None:
        options = launch_request.maintenance_options({"AutoRecovery": req["AutoRecovery"]})
    record.data["MaintenanceOptions"] = options
    backend.store.update(record)
    return {"InstanceId": record.id, "AutoRecovery": options["AutoRecovery"]}


def _when(epoch: float | None) -> dt.datetime | None:
    return None if epoch is None else dt.datetime.fromtimestamp(epoch, dt.UTC)


def _checks(state: InstanceState, check: checks.SystemCheck | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(InstanceStatus, SystemStatus) of one instance."""
    if state != S.RUNNING:
        na = {"Status": "not-applicable", "Details": [{"Name": "reachability", "Status": "not-applicable"}]}
        return na, dict(na)
    summary, reach, since = checks.reachability(check)
    detail: dict[str, Any] = {"Name": "reachability", "Status": reach}
    if since is not None:
        detail["ImpairedSince"] = _when(since)
    system = {"Status": summary, "Details": [detail]}
    if summary == "impaired":
        instance = {"Status": "insufficient-data",
                    "Details": [{"Name": "reachability", "Status": "insufficient-data"}]}
    else:
        instance = {"Status": summary, "Details": [{"Name": "reachability", "Status": reach}]}
    return instance, system


def statuses(backend: Backend, region: str, instance_ids: Sequence[str] | None,
             include_all: bool) -> list[dict[str, Any]]:
    """DescribeInstanceStatus' items: running instances (every state with ``include_all``)."""
    records = instances.find(backend, region, instance_ids) if instance_ids else instances.visible(backend, region)
    out = []
    for r in records:
        state = S(r.state)
        if state != S.RUNNING and not include_all:
            continue
        instance, system = _checks(state, r.data.get("SystemCheck"))
        out.append({
            "AvailabilityZone": r.data["AvailabilityZone"],
            "InstanceId": r.id,
            "InstanceState": {"Code": state.code, "Name": str(state)},
            "InstanceStatus": instance,
            "SystemStatus": system,
            "AttachedEbsStatus": {"Status": "ok" if state == S.RUNNING else "not-applicable"},
        })
    return out
