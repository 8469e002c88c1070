"""The API edge's policy check keeps resources' tags (and a caller's key and policies) between
requests: a tag written by this server or by another process (another connection to the same
database, as the ``ec2d`` CLI is) decides the very next request; the store's ``tags`` generation
moves with every tag write and only then."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from enforced_api import EnforcedApi, refused

from orchestrator.services.iam import keystore
from orchestrator.store.sqlite import TAGS_GENERATION, Record, Store

TEAM_C = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "ec2:StopInstances", "Resource": "arn:aws:ec2:*:*:instance/*",
     "Condition": {"StringEquals": {"ec2:ResourceTag/team": "c"}}}]}


def _dry_stop(user: Any, iid: str) -> str:
    return refused(user.stop_instances, InstanceIds=[iid], DryRun=True)[1]


def test_a_tag_written_by_another_process_decides_the_next_request(api: EnforcedApi,
                                                                    team_instances: dict[str, str]) -> None:
    b = team_instances["b"]
    user = api.client("ec2", api.user("tag-watcher", inline=TEAM_C))
    other = Store(api.backend.config.db_path)  # another process's connection
    try:
        for _ in range(3):  # warm: the tags of b are cached now
            assert _dry_stop(user, b) == "UnauthorizedOperation"
        other.set_tags(b, "instance", "us-east-1", {"team": "c"})
        assert _dry_stop(user, b) == "DryRunOperation"
        assert _dry_stop(user, b) == "DryRunOperation"
        other.delete_tags(b, {"team": None})
        assert _dry_stop(user, b) == "UnauthorizedOperation"
        other.set_tags(b, "instance", "us-east-1", {"team": "c"})
        assert _dry_stop(user, b) == "DryRunOperation"
    finally:
        other.set_tags(b, "instance", "us-east-1", {"team": "b"})
        other.close()
    assert _dry_stop(user, b) == "UnauthorizedOperation"


def test_a_variable_with_a_default_reads_the_key_it_names(api: EnforcedApi, ec2,
                                                          team_instances: dict[str, str]) -> None:
    """An explicit Deny on ``${ec2:InstanceType, 'none'}`` needs the instance's type in the
    context: were it left out as a key no policy names, the default would decide and the Deny
    would not apply."""
    a = team_instances["a"]
    user = api.client("ec2", api.user("by-size", inline={"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ec2:StopInstances", "Resource": "*"},
        {"Effect": "Deny", "Action": "ec2:StopInstances", "Resource": "arn:aws:ec2:*:*:instance/*",
         "Condition": {"StringEquals": {"ec2:ResourceTag/size": "${ec2:InstanceType, 'none'}"}}}]}))
    assert _dry_stop(user, a) == "DryRunOperation"
    ec2.create_tags(Resources=[a], Tags=[{"Key": "size", "Value": "t3.nano"}])  # its type: denied
    try:
        assert _dry_stop(user, a) == "UnauthorizedOperation"
    finally:
        ec2.delete_tags(Resources=[a], Tags=[{"Key": "size"}])
    assert _dry_stop(user, a) == "DryRunOperation"


def test_a_resolved_key_carries_the_current_generations(api: EnforcedApi, team_instances: dict[str, str]) -> None:
    """The policy check reuses the generations the key was resolved at: a cached key must never
    carry older ones than the store's."""
    creds = api.user("stamped", inline=TEAM_C)
    store, backend = api.backend.store, api.backend
    key = creds["aws_access_key_id"]
    first = keystore.user_key(store, backend.credentials, key)
    assert first is not None and first.caller.generations == store.generations("iam", TAGS_GENERATION)
    assert keystore.user_key(store, backend.credentials, key) is first  # cached
    store.set_tags(team_instances["b"], "instance", "us-east-1", {"team": "b"})  # any tag write
    again = keystore.user_key(store, backend.credentials, key)
    assert again is not None and again.caller.generations == store.generations("iam", TAGS_GENERATION)
    assert again.caller.generations != first.caller.generations
    api.client("iam").put_user_policy(UserName="stamped", PolicyName="more", PolicyDocument=json.dumps(TEAM_C))
    latest = keystore.user_key(store, backend.credentials, key)
    assert latest is not None and latest.caller.generations == store.generations("iam", TAGS_GENERATION)
    assert latest.caller.generations[0] > again.caller.generations[0]


def _vpc(rid: str) -> Record:
    return Record(id=rid, type="vpc", region="us-east-1", state="available",
                  data={"CidrBlock": "10.0.0.0/16", "IsDefault": False})


def test_the_tags_generation_moves_with_tag_writes_only(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db", check_records=False)
    other = Store(tmp_path / "state.db", check_records=False)

    def tags() -> int:
        found = store.generations(TAGS_GENERATION)
        assert found is not None
        return found[0]

    start = tags()
    store.insert(_vpc("vpc-00000000000000001"))
    assert tags() == start  # no tags written
    store.insert(_vpc("vpc-00000000000000002"), tags={"a": "b"})
    assert tags() == start + 1
    vpc = store.get("vpc-00000000000000001")
    assert vpc is not None
    store.update(vpc)
    assert tags() == start + 1  # a record write is not a tag write
    other.set_tags("vpc-00000000000000001", "vpc", "us-east-1", {"k": "v"})
    assert tags() == start + 2
    other.delete_tags("vpc-00000000000000001", {"k": None})
    assert tags() == start + 3
    other.delete("vpc-00000000000000002")  # its tags go with it
    assert tags() == start + 4
    assert store.generations("iam", TAGS_GENERATION) == (store.generation("iam"), start + 4)
    with store.transaction():
        assert store.generations(TAGS_GENERATION) is None  # uncommitted writes may roll back
    other.close()
    store.close()
