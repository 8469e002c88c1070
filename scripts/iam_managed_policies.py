"""Regenerate orchestrator/domain/iam/managed_policies.json from moto's copy of AWS's managed policies.

moto (Apache-2.0) ships the documents of every AWS-managed policy in moto/iam/aws_managed_policies.py,
refreshed monthly from AWS. This script reads the moto installed from PyPI in the venv (a dev
dependency), keeps the policies ec2d serves, and records moto's version, licence and the source
file's sha256 in the JSON's header. Run from the repository root:

    .venv/bin/python scripts/iam_managed_policies.py
"""

from __future__ import annotations

import hashlib
import json
import sys
from importlib import metadata
from pathlib import Path

from moto.iam import aws_managed_policies

NAMES = [
    "AdministratorAccess", "PowerUserAccess", "ReadOnlyAccess",
    "AmazonS3FullAccess", "AmazonS3ReadOnlyAccess",
    "AmazonEC2FullAccess", "AmazonEC2ReadOnlyAccess",
    "AmazonVPCFullAccess", "AmazonVPCReadOnlyAccess",
    "IAMFullAccess", "IAMReadOnlyAccess",
    "AWSBillingReadOnlyAccess", "Billing",
    "ElasticLoadBalancingFullAccess", "ElasticLoadBalancingReadOnly",
    "AutoScalingFullAccess", "AutoScalingReadOnlyAccess",
    "AmazonSSMManagedInstanceCore", "CloudWatchAgentServerPolicy",
]

OUT = Path(__file__).resolve().parent.parent / "orchestrator" / "domain" / "iam" / "managed_policies.json"


def main() -> int:
    source = Path(aws_managed_policies.__file__)
    data = json.loads(aws_managed_policies.aws_managed_policies_data)
    policies = {}
    for name in NAMES:
        p = data[name]
        policies[name] = {
            "Arn": f"arn:aws:iam::aws:policy{p['Path']}{name}",
            "Path": p["Path"],
            "DefaultVersionId": p["DefaultVersionId"],
            "CreateDate": p["CreateDate"],
            "UpdateDate": p["UpdateDate"],
            "Document": p["Document"],
        }
    out = {
        "source": "moto/iam/aws_managed_policies.py (https://github.com/getmoto/moto), from the moto wheel on PyPI",
        "moto_version": metadata.version("moto"),
        "moto_license": "Apache-2.0",
        "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "note": "AWS-managed policy documents as AWS publishes them; regenerate with scripts/iam_managed_policies.py",
        "policies": policies,
    }
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {len(policies)} policies to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
