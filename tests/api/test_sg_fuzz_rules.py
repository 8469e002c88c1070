"""Security-group rule fuzz (a modest sample; bench/sgfuzz.py runs thousands): random rule sets,
valid and invalid mixed (rules naming managed prefix lists, whose entries change under them,
included), through the API's validation. Every accepted rule set compiles and
``nft -c`` accepts it; every rejected one is an EC2 error of a known code with status 400.
The seed is printed (``EC2D_SGFUZZ_SEED`` replays one)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import sgfuzz

from orchestrator.config import Config
from orchestrator.services import bootstrap

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (nft -c in a scratch namespace)")


def _seed() -> int:
    seed = int(os.environ.get("EC2D_SGFUZZ_SEED") or random.randrange(2**32))
    print(f"security-group fuzz seed: {seed}")
    return seed


def _verdict(st: sgfuzz.FuzzStats, seed: int) -> None:
    assert not st.uncompilable, f"seed {seed}: accepted but not compilable: {st.uncompilable[:5]}"
    assert not st.bad_errors, f"seed {seed}: not a proper EC2 error: {st.bad_errors[:5]}"
    assert st.accepted > 0 and st.rejected > 0, (seed, st)


def test_rule_fuzz_through_the_service(tmp_path: Path, ec2d) -> None:
    seed = _seed()
    backend = bootstrap.open(Config(data_dir=tmp_path, instances=False, prefix=ec2d.config.prefix))
    scratch = sgfuzz.ScratchNs(ec2d.config.prefix)
    try:
        target = sgfuzz.ServiceTarget(backend)
        st = sgfuzz.RuleFuzz(seed, target.authorize, target.describe, target.new_groups, scratch,
                             modify=target.modify, new_lists=target.new_lists,
                             modify_list=target.modify_list).run(300)
        target.cleanup()
    finally:
        scratch.close()
        backend.close()
    _verdict(st, seed)
    assert st.rule_sets == 300 and st.requests >= 300
    assert st.prefix_list_rules > 0, (seed, st)  # rules naming a list were accepted (and compiled above)


def test_rule_fuzz_through_http(ec2d, ec2) -> None:
    seed = _seed()
    vpc = ec2.create_vpc(CidrBlock="10.67.0.0/16")["Vpc"]["VpcId"]
    scratch = sgfuzz.ScratchNs(ec2d.config.prefix)
    try:
        target = sgfuzz.ApiTarget(ec2, vpc)
        st = sgfuzz.RuleFuzz(seed, target.authorize, target.describe, target.new_groups, scratch,
                             new_lists=target.new_lists, modify_list=target.modify_list).run(25)
        target.cleanup()
    finally:
        scratch.close()
        ec2.delete_vpc(VpcId=vpc)
    _verdict(st, seed)
