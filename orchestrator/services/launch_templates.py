"""EC2 launch templates: a named, versioned set of RunInstances parameters (what Auto Scaling
groups launch from).

A template is one ``launch-template`` record whose ``Versions`` hold each version's
``LaunchTemplateData`` as the request gave it (RequestLaunchTemplateData and
ResponseLaunchTemplateData name their members alike, so a Describe answers with what was stored).
Version numbers start at 1 and are never reused (``NextVersion``); ``$Latest`` is the highest
remaining one, ``$Default`` the one ``DefaultVersionNumber`` names, which cannot be deleted.

As on EC2 ("launch template parameters are not fully validated when you create the launch
template") the data is checked only for what EC2 refuses at once: the instance type and the tag
specifications inside it. Images, key pairs, groups, subnets and user data (base64, at most 16 KiB)
are checked when RunInstances launches from it, by the ordinary RunInstances checks: :func:`for_run` turns a request
naming a template into one ordinary request, the template version's data under the request's own
parameters (:func:`merge`, pure), plus the ``aws:ec2launchtemplate:*`` tags EC2 gives the instances.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import errors, ids
from orchestrator.domain import instance_types as catalogue
from orchestrator.domain.launch_template_records import LaunchTemplateRecordData, LaunchTemplateVersionEntry
from orchestrator.domain.lifecycle import AVAILABLE
from orchestrator.domain.records import LAUNCH_TEMPLATE
from orchestrator.services import lookup
from orchestrator.services import tags as tag_service
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

LATEST, DEFAULT = "$Latest", "$Default"
NAME = re.compile(r"[a-zA-Z0-9()./_-]{3,128}")
MAX_DESCRIPTION = 255
MAX_DELETE = 200  # versions per DeleteLaunchTemplateVersions
# the resource types a template's data may tag (LaunchTemplateTagSpecificationRequest), and the
# ones RunInstances tags (ec2d launches no spot requests or elastic GPUs)
DATA_TAG_TYPES = ("instance", "volume", "network-interface", "spot-instances-request", "elastic-gpu")
RUN_TAG_TYPES = ("instance", "volume", "network-interface")
TAG_ID, TAG_VERSION = "aws:ec2launchtemplate:id", "aws:ec2launchtemplate:version"
# template data members RunInstances spells otherwise, and those it has no parameter for
RUN_NAMES = {"RamDiskId": "RamdiskId", "ElasticGpuSpecifications": "ElasticGpuSpecification"}
NOT_FOR_RUN = frozenset({"InstanceRequirements"})
OPERATOR = {"Managed": False}  # a template the caller made, not one another service manages
_ERROR_ITEM_CODES = {  # a template DeleteLaunchTemplateVersions cannot find: its per-version code
    "InvalidLaunchTemplateId.Malformed": "launchTemplateIdMalformed",
    "InvalidLaunchTemplateId.NotFound": "launchTemplateIdDoesNotExist",
    "InvalidLaunchTemplateName.MalformedException": "launchTemplateNameMalformed",
    "InvalidLaunchTemplateName.NotFoundException": "launchTemplateNameDoesNotExist",
}
_ALL_TEMPLATES = (  # EC2's own wording, curly quotes included
    "To describe the launch template data for all your launch templates, for \u2018--versions\u2019 specify "
    "\u2018$Latest\u2019, \u2018$Default\u2019, or both, and omit \u2018--launch-template-id\u2019, "
    "\u2018--launch-template-name\u2019, and version numbers. To describe the launch template data for a specific "
    "launch template, specify \u2018--launch-template-id\u2019 or \u2018--launch-template-name\u2019, and for "
    "\u2018--versions\u2019 specify one or more of the following values: \u2018$Latest\u2019, "
    "\u2018$Default\u2019, or one or more version numbers.")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ---------------------------------------------------------------------------------------------
# finding a template and a version


def one_of(template_id: str | None, name: str | None, verb: str = "use") -> None:
    """Exactly one of a template's id and name (EC2's codes when both or neither are given)."""
    if template_id and name:
        raise errors.InvalidParameterCombination(
            f"Either provide launch template ID or launch template name to {verb} the template.")
    if not template_id and not name:
        raise errors.MissingParameter("launch template ID or launch template name")


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise errors.LaunchTemplateNameMalformed()
    return name


def find(backend: Backend, region: str, template_id: str | None, name: str | None) -> Record[LaunchTemplateRecordData]:
    """The template with this id, or this name (one of them is given: :func:`one_of`)."""
    if template_id:
        return lookup.launch_template(backend, region, template_id)
    found = backend.store.find_by_field(LAUNCH_TEMPLATE, region, "LaunchTemplateName", check_name(name or ""))
    if not found:
        raise errors.LaunchTemplateNameNotFound(name)
    return found[0]


def _number(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise errors.InvalidParameterValue.for_param(
            "version", text, f"Expected '{LATEST}', '{DEFAULT}' or a version number.")
    return int(text)


def version(record: Record[LaunchTemplateRecordData], wanted: str | int | None) -> LaunchTemplateVersionEntry:
    """The version ``wanted`` names: a number, ``$Latest``, ``$Default`` (also when None)."""
    text = DEFAULT if wanted is None else str(wanted)
    entries = record.data["Versions"]
    if text == LATEST:
        return entries[-1]
    number = record.data["DefaultVersionNumber"] if text == DEFAULT else _number(text)
    for entry in entries:
        if entry["VersionNumber"] == number:
            return entry
    raise errors.LaunchTemplateVersionNotFound(text, record.id)


# ---------------------------------------------------------------------------------------------
# what a template may hold


def check_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """The launch template data to store (a copy), after the checks EC2 makes when it is created."""
    itype = data.get("InstanceType")
    if itype is not None and catalogue.get(itype) is None:
        raise errors.InvalidParameterValue(f"Invalid value '{itype}' for InstanceType.")
    for spec in data.get("TagSpecifications") or []:
        if spec.get("ResourceType") not in DATA_TAG_TYPES:
            raise errors.InvalidParameterValue(
                f"'{spec.get('ResourceType')}' is not a valid taggable resource type for this operation.")
        tag_service.tags_from_specifications([spec], spec["ResourceType"])
    hops = (data.get("MetadataOptions") or {}).get("HttpPutResponseHopLimit")
    if hops is not None and not 1 <= hops <= 64:
        raise errors.InvalidParameterValue.for_param("httpPutResponseHopLimit", hops,
                                                     "Expected a value between 1 and 64.")
    return copy.deepcopy(dict(data))


def _template_tags(specs: Sequence[Mapping[str, Any]] | None) -> dict[str, str]:
    for spec in specs or []:
        if spec.get("ResourceType") != "launch-template":
            raise errors.InvalidParameterValue(
                "The value for the ResourceType member of the TagSpecification request parameter must be "
                "'launch-template'. Verify the ResourceType and try again.")
    return tag_service.tags_from_specifications(specs, "launch-template")


def _new_version(number: int, created_by: str, data: dict[str, Any], description: str | None,
                 token: str | None) -> LaunchTemplateVersionEntry:
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise errors.InvalidParameterValue.for_param("versionDescription", description[:32] + "...",
                                                     f"The description must be at most {MAX_DESCRIPTION} characters.")
    entry: LaunchTemplateVersionEntry = {"VersionNumber": number, "CreateTime": now_iso(), "CreatedBy": created_by,
                                         "LaunchTemplateData": data}
    if description is not None:
        entry["VersionDescription"] = description
    if token:
        entry["ClientToken"] = token
    return entry


def _inherited(source: Mapping[str, Any]) -> dict[str, Any]:
    """A source version's data as a new version inherits it: block-device snapshots are not
    carried over unless the new data names them again (CreateLaunchTemplateVersion)."""
    out = copy.deepcopy(dict(source))
    for mapping in out.get("BlockDeviceMappings") or []:
        (mapping.get("Ebs") or {}).pop("SnapshotId", None)
    return out


# ---------------------------------------------------------------------------------------------
# create, modify, delete


def create(backend: Backend, region: str, req: Mapping[str, Any],
           created_by: str) -> tuple[Record[LaunchTemplateRecordData], dict[str, str]]:
    """CreateLaunchTemplate: the new template (version 1, the default) and its tags."""
    name = check_name(req["LaunchTemplateName"])
    token = req.get("ClientToken")
    if token:
        same = [r for r in backend.store.list(LAUNCH_TEMPLATE, region) if r.data.get("ClientToken") == token]
        if same:
            return same[0], tag_service.of(backend, same[0].id)
    data = check_data(req["LaunchTemplateData"])
    tags = _template_tags(req.get("TagSpecifications"))
    first = _new_version(1, created_by, data, req.get("VersionDescription"), None)
    record = Record[LaunchTemplateRecordData](id=ids.new_id("lt"), type=LAUNCH_TEMPLATE, region=region,
                                              state=AVAILABLE, data={
        "LaunchTemplateName": name, "CreateTime": first["CreateTime"], "CreatedBy": created_by,
        "DefaultVersionNumber": 1, "NextVersion": 2, "Versions": [first]})
    if token:
        record.data["ClientToken"] = token
    with backend.store.transaction():
        if backend.store.find_by_field(LAUNCH_TEMPLATE, region, "LaunchTemplateName", name):
            raise errors.LaunchTemplateNameInUse()
        backend.store.insert(record, tags)
    return record, tags


def create_version(backend: Backend, region: str, req: Mapping[str, Any],
                   created_by: str) -> tuple[Record[LaunchTemplateRecordData], LaunchTemplateVersionEntry]:
    """CreateLaunchTemplateVersion: the next version, from ``SourceVersion``'s data (if given)
    with the request's data over it."""
    one_of(req.get("LaunchTemplateId"), req.get("LaunchTemplateName"), "create a version of")
    token = req.get("ClientToken")
    with backend.store.transaction():
        record = find(backend, region, req.get("LaunchTemplateId"), req.get("LaunchTemplateName"))
        done = [e for e in record.data["Versions"] if token and e.get("ClientToken") == token]
        if done:
            return record, done[0]
        data = check_data(req["LaunchTemplateData"])
        if req.get("SourceVersion"):
            data = {**_inherited(version(record, req["SourceVersion"])["LaunchTemplateData"]), **data}
        entry = _new_version(record.data["NextVersion"], created_by, data, req.get("VersionDescription"), token)
        record.data["Versions"].append(entry)
        record.data["NextVersion"] += 1
        backend.store.update(record)
    return record, entry


def modify(backend: Backend, region: str,
           req: Mapping[str, Any]) -> tuple[Record[LaunchTemplateRecordData], dict[str, str]]:
    """ModifyLaunchTemplate: set the default version (a version number); the template and its tags."""
    one_of(req.get("LaunchTemplateId"), req.get("LaunchTemplateName"), "modify")
    with backend.store.transaction():
        record = find(backend, region, req.get("LaunchTemplateId"), req.get("LaunchTemplateName"))
        wanted = req.get("DefaultVersion")
        if wanted is not None:
            numbers = {str(e["VersionNumber"]) for e in record.data["Versions"]}
            if wanted not in numbers:
                raise errors.LaunchTemplateVersionNotFound(wanted)
            record.data["DefaultVersionNumber"] = int(wanted)
            backend.store.update(record)
    return record, tag_service.of(backend, record.id)


def delete(backend: Backend, region: str, template_id: str | None, name: str | None) -> Record[LaunchTemplateRecordData]:
    """DeleteLaunchTemplate: the template and every version of it."""
    one_of(template_id, name, "delete")
    with backend.store.transaction():
        record = find(backend, region, template_id, name)
        backend.store.delete(record.id)
    return record


def _error_item(template_id: str | None, name: str | None, number: str, code: str, message: str) -> dict[str, Any]:
    item: dict[str, Any] = {"LaunchTemplateId": template_id, "LaunchTemplateName": name,
                            "ResponseError": {"Code": code, "Message": message}}
    if number.isascii() and number.isdigit():
        item["VersionNumber"] = int(number)
    return item


def delete_versions(backend: Backend, region: str, template_id: str | None, name: str | None,
                    wanted: Sequence[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """DeleteLaunchTemplateVersions: (deleted, not deleted), each version on its own, as EC2
    reports them: one that does not exist, the default version and, when the template itself is
    not found, every version asked for, each with its ``ResponseError``."""
    one_of(template_id, name, "delete versions of")
    if len(wanted) > MAX_DELETE:
        raise errors.InvalidParameterValue(f"You can specify up to {MAX_DELETE} launch template version numbers.")
    with backend.store.transaction():
        try:
            record = find(backend, region, template_id, name)
        except errors.ApiError as exc:
            code = _ERROR_ITEM_CODES.get(exc.code)
            if code is None:
                raise
            return [], [_error_item(template_id, name, v, code, exc.message) for v in wanted]
        ids_names = {"LaunchTemplateId": record.id, "LaunchTemplateName": record.data["LaunchTemplateName"]}
        by_number = {str(e["VersionNumber"]): e for e in record.data["Versions"]}
        deleted: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for number in wanted:
            if number not in by_number:
                failed.append(_error_item(record.id, ids_names["LaunchTemplateName"], number,
                                          "launchTemplateVersionDoesNotExist",
                                          "The specified launch template version does not exist."))
            elif int(number) == record.data["DefaultVersionNumber"]:
                failed.append(_error_item(record.id, ids_names["LaunchTemplateName"], number, "unexpectedError",
                                          "Cannot delete the default version of a launch template. Set another "
                                          "version as the default first, or delete the launch template."))
            else:
                del by_number[number]
                deleted.append({**ids_names, "VersionNumber": int(number)})
        if deleted:
            record.data["Versions"] = [e for e in record.data["Versions"] if str(e["VersionNumber"]) in by_number]
            backend.store.update(record)
    return deleted, failed


# ---------------------------------------------------------------------------------------------
# Describe


def render(record: Record[LaunchTemplateRecordData], tags: Mapping[str, str]) -> dict[str, Any]:
    """A ``LaunchTemplate`` as Describe/Create/Modify/DeleteLaunchTemplate show it."""
    data = record.data
    out: dict[str, Any] = {
        "LaunchTemplateId": record.id, "LaunchTemplateName": data["LaunchTemplateName"],
        "CreateTime": data["CreateTime"], "CreatedBy": data["CreatedBy"],
        "DefaultVersionNumber": data["DefaultVersionNumber"],
        "LatestVersionNumber": data["Versions"][-1]["VersionNumber"], "Operator": dict(OPERATOR)}
    if tags:
        out["Tags"] = tag_service.tag_list(tags)
    return out


def render_version(record: Record[LaunchTemplateRecordData], entry: LaunchTemplateVersionEntry) -> dict[str, Any]:
    """A ``LaunchTemplateVersion``."""
    out: dict[str, Any] = {
        "LaunchTemplateId": record.id, "LaunchTemplateName": record.data["LaunchTemplateName"],
        "VersionNumber": entry["VersionNumber"], "CreateTime": entry["CreateTime"], "CreatedBy": entry["CreatedBy"],
        "DefaultVersion": entry["VersionNumber"] == record.data["DefaultVersionNumber"],
        "LaunchTemplateData": copy.deepcopy(entry["LaunchTemplateData"]), "Operator": dict(OPERATOR)}
    if "VersionDescription" in entry:
        out["VersionDescription"] = entry["VersionDescription"]
    return out


def describe(backend: Backend, region: str, template_ids: Sequence[str] | None,
             names: Sequence[str] | None) -> list[dict[str, Any]]:
    """DescribeLaunchTemplates: every template, or the ones named (ids, then names)."""
    records = backend.store.list(LAUNCH_TEMPLATE, region)
    if template_ids or names:
        by_id = {r.id: r for r in records}
        by_name = {r.data["LaunchTemplateName"]: r for r in records}
        for tid in template_ids or []:
            ids.check(tid, "lt")
            if tid not in by_id:
                raise errors.LaunchTemplateIdNotFound(tid)
        if any(n not in by_name for n in names or []):
            raise errors.LaunchTemplateNameNotFound()
        chosen = [by_id[t] for t in template_ids or []] + [by_name[n] for n in names or []]
        records = list({r.id: r for r in chosen}.values())
    return tag_service.rendered(backend, region, LAUNCH_TEMPLATE, records, render)


def _range(record: Record[LaunchTemplateRecordData], low: str | None, high: str | None) -> list[LaunchTemplateVersionEntry]:
    first = _number(low) if low else 1
    last = _number(high) if high else record.data["NextVersion"]
    return [e for e in reversed(record.data["Versions"]) if first <= e["VersionNumber"] <= last]


def describe_versions(backend: Backend, region: str, req: Mapping[str, Any]) -> list[dict[str, Any]]:
    """DescribeLaunchTemplateVersions: the versions named (in that order), else those between
    MinVersion and MaxVersion, newest first; without a template, ``$Latest``/``$Default`` of
    every template."""
    template_id, name, wanted = req.get("LaunchTemplateId"), req.get("LaunchTemplateName"), req.get("Versions") or []
    if template_id and name:
        one_of(template_id, name, "describe")
    if not template_id and not name:
        if not wanted:
            raise errors.ApiError(_ALL_TEMPLATES, code="MissingParameter")
        if any(v not in (LATEST, DEFAULT) for v in wanted):
            raise errors.InvalidParameterValue(_ALL_TEMPLATES)
        return [render_version(r, version(r, v)) for r in backend.store.list(LAUNCH_TEMPLATE, region) for v in wanted]
    record = find(backend, region, template_id, name)
    entries = ([version(record, v) for v in wanted] if wanted
               else _range(record, req.get("MinVersion"), req.get("MaxVersion")))
    return [render_version(record, e) for e in entries]


# ---------------------------------------------------------------------------------------------
# RunInstances from a template


def _merged_tag_specs(template_specs: Sequence[Mapping[str, Any]],
                      request_specs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Tag specifications per resource type: the template's tags, then the request's (a key both
    give takes the request's value)."""
    by_type: dict[str, dict[str, str]] = {}
    loose: list[dict[str, Any]] = []  # a request spec without a type: RunInstances refuses it as sent
    for spec in [*template_specs, *request_specs]:
        rtype = spec.get("ResourceType")
        if rtype is None:
            loose.append(dict(spec))
            continue
        tags = by_type.setdefault(rtype, {})
        for tag in spec.get("Tags") or []:
            tags[tag.get("Key")] = tag.get("Value") or ""
    return [{"ResourceType": rtype, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            for rtype, tags in by_type.items()] + loose


def merge(template_data: Mapping[str, Any], request: Mapping[str, Any]) -> dict[str, Any]:
    """One RunInstances request from a template version's data and the request that names it:
    every parameter the request gives wins over the template's (a parameter is replaced whole,
    as EC2 lets a launch override but not remove a template's parameter), except tags, merged per
    resource type (the template's spot-request and elastic-GPU tags have nothing to tag here).
    The ``LaunchTemplate`` parameter itself is dropped. Pure."""
    out = {RUN_NAMES.get(k, k): copy.deepcopy(v) for k, v in template_data.items()
           if k not in NOT_FOR_RUN and k != "TagSpecifications"}
    out.update((k, v) for k, v in request.items() if k != "LaunchTemplate")
    template_specs = [s for s in template_data.get("TagSpecifications") or [] if s.get("ResourceType") in RUN_TAG_TYPES]
    if template_specs:
        out["TagSpecifications"] = _merged_tag_specs(template_specs, request.get("TagSpecifications") or [])
    return out


def for_run(backend: Backend, region: str, req: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(the request RunInstances carries on with, the tags its instances get from the template):
    ``req`` itself and no tags when it names no ``LaunchTemplate``."""
    spec = req.get("LaunchTemplate")
    if not spec:
        return dict(req), {}
    one_of(spec.get("LaunchTemplateId"), spec.get("LaunchTemplateName"))
    record = find(backend, region, spec.get("LaunchTemplateId"), spec.get("LaunchTemplateName"))
    entry = version(record, spec.get("Version"))
    return merge(entry["LaunchTemplateData"], req), {TAG_ID: record.id, TAG_VERSION: str(entry["VersionNumber"])}


def as_authorized(backend: Backend, region: str, req: Mapping[str, Any]) -> Mapping[str, Any]:
    """What IAM evaluates a RunInstances request naming a template on: the launch's parameters
    with the template version's data under them (its instance type, profile, tags ...), keeping
    ``LaunchTemplate`` (the template is a resource of the request). ``req`` itself when it names
    no template or one that cannot be found: the handler then answers with EC2's error."""
    if not req.get("LaunchTemplate"):
        return req
    try:
        merged, _ = for_run(backend, region, req)
    except errors.ApiError:
        return req
    return {**merged, "LaunchTemplate": req["LaunchTemplate"]}
