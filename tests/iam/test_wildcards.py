"""Wildcard matching: the backtracking-free regexes agree with a plain dynamic-programming glob
matcher on random patterns (and, for ARNs, with AWS's part-by-part rule), and a pathological
policy costs no more than a normal one (a policy is user input evaluated on every request)."""

from __future__ import annotations

import random
import time
from functools import cache

import pytest
from iam_helpers import ALLOW, IMPLICIT, allow, decide, pol

from orchestrator.domain.iam.wildcards import ActionSet, compile_globs


def reference(pattern: str, text: str) -> bool:
    """Glob by dynamic programming: '*' any run, '?' one character."""

    @cache
    def match(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(text)
        if pattern[i] == "*":
            return match(i + 1, j) or (j < len(text) and match(i, j + 1))
        return j < len(text) and pattern[i] in ("?", text[j]) and match(i + 1, j + 1)

    return match(0, 0)


def arn_reference(pattern: str, text: str) -> bool:
    """AWS's ArnLike: each of the six colon-separated parts matched on its own."""
    p, t = pattern.split(":", 5), text.split(":", 5)
    return len(p) == len(t) == 6 and all(reference(a, b) for a, b in zip(p, t, strict=True))


def _random(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, n)))


def test_globs_agree_with_the_reference() -> None:
    rng = random.Random(12)
    hits = 0
    for _ in range(4000):
        pattern = _random(rng, "ab*?", 8)
        text = _instance(rng, pattern, "ab").replace(":", "a") if rng.random() < 0.5 else _random(rng, "ab", 10)
        got = compile_globs([pattern]).fullmatch(text) is not None
        assert got == reference(pattern, text), (pattern, text)
        hits += got
    assert 1000 < hits < 3500


def _instance(rng: random.Random, pattern: str, fill: str) -> str:
    """A string the pattern matches ('*' and '?' filled from `fill`), then sometimes spoiled."""
    out = "".join(_random(rng, fill, 3) if c == "*" else rng.choice(fill) if c == "?" else c for c in pattern)
    if out and rng.random() < 0.3:
        i = rng.randrange(len(out))
        out = out[:i] + rng.choice("ab:") + out[i + 1 :]
    return out


def test_arn_globs_agree_with_part_by_part_matching() -> None:
    rng = random.Random(13)
    hits = 0
    for _ in range(6000):
        head = [_random(rng, "ab*?", 3) for _ in range(5)]
        tail = _random(rng, "ab:*?", 4)
        pattern = ":".join([*head, tail])
        text = ":".join([*(_instance(rng, h, "ab") for h in head), _instance(rng, tail, "ab:")])
        if rng.random() < 0.2:
            text = _random(rng, "ab:", 14)
        got = compile_globs([pattern], arn=True).fullmatch(text) is not None
        assert got == arn_reference(pattern, text), (pattern, text)
        hits += got
    assert 1000 < hits < 5500  # the sample holds both matches and misses


def test_actions_are_case_insensitive_and_grouped_by_service() -> None:
    actions = ActionSet(["ec2:Describe*", "S3:get*", "iam:?etRole"])
    assert actions.fullmatch("ec2:DescribeInstances") and actions.fullmatch("s3:GetObject")
    assert actions.fullmatch("IAM:GetRole") and not actions.fullmatch("iam:GetRolePolicy")
    assert not actions.fullmatch("ec2:RunInstances") and not actions.fullmatch("sqs:GetQueueUrl")


@pytest.mark.parametrize("where", ["resource", "StringLike", "ArnLike", "action"])
def test_pathological_patterns_stay_fast(where: str) -> None:
    evil = "a*" * 40 + "b"
    text = "a" * 4000
    if where == "resource":
        policy, request = pol(allow("s3:GetObject", f"arn:aws:s3:::{evil}")), ("s3:GetObject", f"arn:aws:s3:::{text}", {})
    elif where == "StringLike":
        policy = pol(allow(Condition={"StringLike": {"s3:prefix": evil}}))
        request = ("s3:ListBucket", "*", {"s3:prefix": text})
    elif where == "ArnLike":
        policy = pol(allow(Condition={"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{evil}"}}))
        request = ("s3:ListBucket", "*", {"aws:SourceArn": f"arn:aws:s3:::{text}"})
    else:
        policy, request = pol(allow(f"s3:{evil}")), (f"s3:{text}", "*", {})
    start = time.perf_counter()
    assert decide(policy, request[0], request[1], **request[2]) is IMPLICIT
    assert decide(policy, request[0], request[1] + "b" if where == "resource" else request[1],
                  **({k: v + "b" for k, v in request[2].items()})) is (ALLOW if where != "action" else IMPLICIT)
    assert time.perf_counter() - start < 1.0
