"""Instance identity credentials on fake drivers (fast): they resolve to the instance and nothing
more, are refused for every action, and die when the instance stops or terminates; a start hands
out new ones. The same is checked against a real guest's IMDS in tests/instances/test_metadata.py."""

from __future__ import annotations

import asyncio

import pytest
from test_runtime_fakes import launch, run, world  # noqa: F401  (world is a fixture)

from orchestrator.domain import errors
from orchestrator.services import instances, principals


def idle(runtime) -> asyncio.Future:
    return asyncio.gather(*[t for t in runtime.tasks if t not in runtime.jobs.loops])


def test_identity_credentials_identify_the_instance_only_while_it_runs(world) -> None:  # noqa: F811
    backend, runtime, *_ = world

    def imds_credentials(iid: str) -> dict:
        """What the metadata service serves at identity-credentials/ec2/security-credentials/ec2-instance."""
        return runtime.metadata_of(backend.store.get(iid)).identity_credentials()

    def resolve(creds: dict):
        return backend.resolve_key(creds["AccessKeyId"], creds["Token"])

    async def go() -> None:
        [iid] = await launch(backend, runtime)
        assert backend.store.get(iid).state == "running"
        first = imds_credentials(iid)
        found = resolve(first)
        assert found is not None and found.secret == first["SecretAccessKey"]
        assert (found.caller.kind, found.caller.instance_id) == (principals.INSTANCE_IDENTITY, iid)
        assert found.caller.arn == f"arn:aws:sts::{backend.account_id}:assumed-role/aws:ec2-instance/{iid}"
        with pytest.raises(errors.UnauthorizedOperation) as info:
            principals.authorize(found.caller, "DescribeInstances")
        assert (info.value.status, info.value.message) == (403, "You are not authorized to perform this operation.")
        root = backend.resolve_key(backend.credentials.access_key_id, None)
        assert root is not None and root.caller.kind == principals.ROOT
        principals.authorize(root.caller, "TerminateInstances")  # root may do everything

        # the token must match exactly; the key alone, another key's token or the root key with it fail
        token = first["Token"]
        assert backend.resolve_key(first["AccessKeyId"], token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        assert backend.resolve_key(first["AccessKeyId"], None) is None
        assert backend.resolve_key(backend.credentials.access_key_id, token) is None
        assert imds_credentials(iid) == first  # stable while running (rotated only near expiry)

        instances.request(backend, "us-east-1", [iid], instances.Request.STOP)
        await idle(runtime)
        assert backend.store.get(iid).state == "stopped"
        assert resolve(first) is None
        late = imds_credentials(iid)  # as if the guest asked while it was shutting down
        assert late["AccessKeyId"] != first["AccessKeyId"] and resolve(late) is None

        instances.request(backend, "us-east-1", [iid], instances.Request.START)
        await idle(runtime)
        assert backend.store.get(iid).state == "running"
        assert resolve(first) is None and resolve(late) is None  # a start revokes what a stop left
        fresh = imds_credentials(iid)
        assert fresh["AccessKeyId"] not in (first["AccessKeyId"], late["AccessKeyId"])
        assert resolve(fresh).caller.instance_id == iid

        instances.request(backend, "us-east-1", [iid], instances.Request.TERMINATE)
        await idle(runtime)
        assert backend.store.get(iid).state == "terminated"
        assert resolve(fresh) is None
        await runtime.close()

    run(go())
