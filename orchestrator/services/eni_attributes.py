"""Network interface attributes: Modify / Describe / ResetNetworkInterfaceAttribute, and the
source/destination check as the instance attributes show it (the primary ENI's).

``SourceDestCheck`` (default true) is the anti-spoofing of the ENI's port in the VPC's namespace
(``drivers/network/firewall/antispoof``): on, the guest may send only from its own addresses;
off, it may forward others' traffic (a NAT or router instance, the next hop of a route to it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.domain import errors
from orchestrator.domain.records import InstanceData, NetworkInterfaceData
from orchestrator.services import lookup, vpcs
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

ATTRIBUTES = ("description", "groupSet", "sourceDestCheck", "attachment", "associatePublicIpAddress")
SERVED = ("NetworkInterfaceId", "DryRun", "SourceDestCheck", "Description", "Groups", "Attachment")  # the rest: refused


def as_bool(value: Any, name: str) -> bool:
    """A boolean attribute value (``{"Value": x}`` or ``x``; "true"/"false" strings too)."""
    inner = value.get("Value") if isinstance(value, Mapping) else value
    if isinstance(inner, bool):
        return inner
    if isinstance(inner, str) and inner.lower() in ("true", "false"):
        return inner.lower() == "true"
    raise errors.InvalidParameterValue.for_param(name, str(inner))


def primary_eni(backend: Backend, instance: Record[InstanceData]) -> Record[NetworkInterfaceData] | None:
    return backend.store.get(instance.data["NetworkInterfaceId"])  # type: ignore[return-value]


def instance_source_dest_check(backend: Backend, instance: Record[InstanceData]) -> bool:
    """The instance's ``SourceDestCheck``: its primary ENI's."""
    eni = primary_eni(backend, instance)
    return bool(eni.data.get("SourceDestCheck", True)) if eni is not None else True


def set_instance_source_dest_check(backend: Backend, instance: Record[InstanceData], value: Any) -> None:
    """ModifyInstanceAttribute's ``SourceDestCheck``: the primary ENI's; an instance with several
    ENIs is refused as EC2 does (the ENI must be named)."""
    if instance.data.get("SecondaryEnis"):
        raise errors.ApiError(f"There are multiple interfaces attached to instance '{instance.id}'. Please "
                              "specify an interface ID for the operation instead.", code="InvalidInstanceID")
    eni = primary_eni(backend, instance)
    if eni is not None:
        eni.data["SourceDestCheck"] = as_bool(value, "sourceDestCheck")
        backend.store.update(eni)


def modify(backend: Backend, region: str, req: Mapping[str, Any]) -> Record[NetworkInterfaceData]:
    """ModifyNetworkInterfaceAttribute: one of SourceDestCheck, Description, Groups, Attachment
    (DeleteOnTermination)."""
    eni = lookup.network_interface(backend, region, req["NetworkInterfaceId"])
    unserved = sorted(k for k, v in req.items() if k not in SERVED and v is not None)
    if unserved:
        raise errors.ApiError(f"ec2d does not serve {unserved[0]} for network interfaces.", code="UnsupportedOperation")
    given = [k for k in ("SourceDestCheck", "Description", "Groups", "Attachment") if req.get(k) is not None]
    if not given:
        raise errors.MissingParameter("Attribute")
    if len(given) > 1:
        raise errors.InvalidParameterCombination("Fields for multiple attribute types specified: "
                                                 + ", ".join(k[0].lower() + k[1:] for k in given))
    if eni.data.get("RequesterManaged") and given[0] != "Description":
        raise errors.ApiError("You do not have permission to access the specified resource.",
                              code="OperationNotPermitted")
    if req.get("SourceDestCheck") is not None:
        eni.data["SourceDestCheck"] = as_bool(req["SourceDestCheck"], "sourceDestCheck")
    elif req.get("Description") is not None:
        eni.data["Description"] = str((req["Description"] or {}).get("Value") or "")
    elif req.get("Groups") is not None:
        eni.data["Groups"] = vpcs.security_groups(backend, region, eni.data["VpcId"], req["Groups"])
        _groups_to_instance(backend, eni)
    else:
        _delete_on_termination(eni, req["Attachment"])
    return backend.store.update(eni)


def _groups_to_instance(backend: Backend, eni: Record[NetworkInterfaceData]) -> None:
    """A primary ENI's groups are its instance's ``SecurityGroups`` too."""
    attachment = eni.data.get("Attachment") or {}
    instance = backend.store.get(attachment["InstanceId"]) if attachment.get("InstanceId") else None
    if instance is not None and instance.data.get("NetworkInterfaceId") == eni.id:
        instance.data["SecurityGroups"] = eni.data["Groups"]
        backend.store.update(instance)


def _delete_on_termination(eni: Record[NetworkInterfaceData], wanted: Mapping[str, Any]) -> None:
    attachment = eni.data.get("Attachment")
    if not attachment or wanted.get("AttachmentId") != attachment.get("AttachmentId"):
        raise errors.NotFound("InvalidAttachmentID.NotFound",
                              f"The attachment ID '{wanted.get('AttachmentId')}' does not exist")
    if wanted.get("DeleteOnTermination") is None:
        raise errors.MissingParameter("Attachment.DeleteOnTermination")
    attachment["DeleteOnTermination"] = as_bool(wanted["DeleteOnTermination"], "deleteOnTermination")


def describe(backend: Backend, region: str, eni_id: str, attribute: str | None,
             shown: Mapping[str, Any]) -> dict[str, Any]:
    """DescribeNetworkInterfaceAttribute (``shown``: the ENI as DescribeNetworkInterfaces shows it)."""
    lookup.network_interface(backend, region, eni_id)
    if attribute not in ATTRIBUTES:
        raise errors.InvalidParameterValue.for_param("attribute", str(attribute))
    out: dict[str, Any] = {"NetworkInterfaceId": eni_id}
    if attribute == "description":
        out["Description"] = {"Value": shown["Description"]}
    elif attribute == "groupSet":
        out["Groups"] = shown["Groups"]
    elif attribute == "sourceDestCheck":
        out["SourceDestCheck"] = {"Value": shown["SourceDestCheck"]}
    elif attribute == "associatePublicIpAddress":
        out["AssociatePublicIpAddress"] = bool(shown.get("Association"))
    elif shown.get("Attachment"):
        out["Attachment"] = shown["Attachment"]
    return out


def reset(backend: Backend, region: str, eni_id: str, source_dest_check: str | None) -> Record[NetworkInterfaceData]:
    """ResetNetworkInterfaceAttribute: its one attribute, ``SourceDestCheck``, back to true."""
    eni = lookup.network_interface(backend, region, eni_id)
    if source_dest_check is None:
        raise errors.MissingParameter("SourceDestCheck")
    eni.data["SourceDestCheck"] = True
    return backend.store.update(eni)


async def modify_live(backend: Backend, region: str, req: Mapping[str, Any]) -> None:
    """ModifyNetworkInterfaceAttribute, then the VPC's firewall follows."""
    eni = modify(backend, region, req)
    await vpcs.sync_network(backend, region, eni.data["VpcId"])


async def reset_live(backend: Backend, region: str, eni_id: str, attribute: str | None) -> None:
    eni = reset(backend, region, eni_id, attribute)
    await vpcs.sync_network(backend, region, eni.data["VpcId"])
