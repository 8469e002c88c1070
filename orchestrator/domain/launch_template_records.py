"""The stored ``data`` of EC2 launch templates (one record per template, its versions inside), kept
apart from ``records.py`` (which lists it in ``SCHEMAS`` and checks it).

(No ``from __future__ import annotations``: see ``records.py``.)
"""

from typing import Any, NotRequired, TypedDict


class LaunchTemplateVersionEntry(TypedDict):
    """One version of an EC2 launch template: its ``LaunchTemplateData`` as the request gave it."""

    VersionNumber: int
    CreateTime: str
    CreatedBy: str  # the caller's ARN
    LaunchTemplateData: dict[str, Any]  # RequestLaunchTemplateData's members (= ResponseLaunchTemplateData's)
    VersionDescription: NotRequired[str]
    ClientToken: NotRequired[str]


class LaunchTemplateRecordData(TypedDict):
    LaunchTemplateName: str
    CreateTime: str
    CreatedBy: str
    DefaultVersionNumber: int
    NextVersion: int  # the number of the next version (EC2 never reuses a deleted one's)
    Versions: list[LaunchTemplateVersionEntry]  # ascending; LatestVersionNumber is the last one's
    ClientToken: NotRequired[str]
