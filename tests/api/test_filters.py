"""Filter wildcards and pagination tokens."""

from __future__ import annotations

import asyncio
import random
import threading
from types import SimpleNamespace

import pytest

from orchestrator.api.filters import apply_filters, paginate, wildcard
from orchestrator.api.registry import call
from orchestrator.domain import errors

ITEMS = [{"name": n, "tags": t} for n, t in [("web-1", {"Env": "prod"}), ("web-2", {"Env": "dev"}),
                                               ("db-1", {"Env": "prod", "Backup": ""}), ("w*b", {})]]
GETTERS = {"name": lambda i: i["name"]}


def names(filters) -> list[str]:
    return [i["name"] for i in apply_filters(ITEMS, filters, GETTERS, tags_of=lambda i: i["tags"])]


@pytest.mark.parametrize("pattern,expected", [
    ("web-*", ["web-1", "web-2"]), ("*-1", ["web-1", "db-1"]), ("web-?", ["web-1", "web-2"]),
    ("w\\*b", ["w*b"]), ("WEB-1", []), ("*", ["web-1", "web-2", "db-1", "w*b"]),
])
def test_wildcards(pattern: str, expected: list[str]) -> None:
    assert names([{"Name": "name", "Values": [pattern]}]) == expected


def test_values_or_filters_and_tags() -> None:
    assert names([{"Name": "name", "Values": ["web-1", "db-1"]}, {"Name": "tag:Env", "Values": ["prod"]}]) == [
        "web-1", "db-1"]
    assert names([{"Name": "tag-key", "Values": ["Backup"]}]) == ["db-1"]
    assert names([{"Name": "tag-value", "Values": ["d*"]}]) == ["web-2"]
    with pytest.raises(errors.ApiError) as info:
        names([{"Name": "colour", "Values": ["red"]}])
    assert (info.value.code, info.value.message) == ("InvalidParameterValue", "The filter 'colour' is invalid")


def test_wildcard_is_anchored() -> None:
    assert wildcard("a*").fullmatch("abc") and not wildcard("b").fullmatch("abc")


def test_pagination_walks_everything_once() -> None:
    items, token, seen = list(range(23)), None, []
    while True:
        page, token = paginate(items, 5, token)
        seen.extend(page)
        if token is None:
            break
    assert seen == items
    with pytest.raises(errors.ApiError):
        paginate(items, 5, "not-a-token")
    with pytest.raises(errors.ApiError):
        paginate(items, 1001, None)


def reference_match(pattern: str, text: str) -> bool:
    """fnmatch-like dynamic programming over (pattern token, text position): the specification."""
    tokens: list[tuple[str, str]] = []  # ("*", ""), ("?", ""), ("lit", ch)
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            tokens.append(("lit", pattern[i + 1]))
            i += 2
            continue
        tokens.append((pattern[i], "") if pattern[i] in "*?" else ("lit", pattern[i]))
        i += 1
    row = [True] + [False] * len(text)  # row[j]: tokens so far match text[:j]
    for kind, ch in tokens:
        new = [False] * (len(text) + 1)
        for j in range(len(text) + 1):
            if kind == "*":
                new[j] = row[j] or (j > 0 and new[j - 1])
            elif j > 0 and row[j - 1]:
                new[j] = kind == "?" or text[j - 1] == ch
        row = new
    return row[len(text)]


def test_wildcard_matches_the_reference_on_random_patterns() -> None:
    rng = random.Random(20261130)
    alphabet = "ab*?\\\n"
    checked = matched = 0
    for _ in range(20000):
        pattern = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9)))
        text = "".join(rng.choice("ab*?\\\n") for _ in range(rng.randint(0, 12)))
        expected = reference_match(pattern, text)
        assert wildcard(pattern).fullmatch(text) == expected, (pattern, text)
        checked += 1
        matched += expected
    assert checked == 20000 and 1000 < matched < 19000  # both outcomes well represented


def test_pathological_wildcard_is_answered_and_correct() -> None:
    # The pattern that took 38 s with the old backtracking regex against a 60-character tag.
    pattern, text = "*a*a*a*a*a*a*a*a*b", "a" * 60
    assert wildcard(pattern).fullmatch(text) is False
    assert wildcard(pattern).fullmatch(text + "b") is True
    assert wildcard("?" * 255).fullmatch("x" * 255) and not wildcard("?" * 255).fullmatch("x" * 254)


def test_filter_limits_are_ec2s() -> None:
    too_many = [{"Name": "name", "Values": [f"v{i}" for i in range(201)]}]
    with pytest.raises(errors.ApiError) as info:
        names(too_many)
    assert (info.value.code, info.value.message) == (
        "FilterLimitExceeded", "The maximum number of filter values specified on a single call is 200")
    spread = [{"Name": "name", "Values": ["a"] * 100}, {"Name": "tag:Env", "Values": ["b"] * 101}]
    with pytest.raises(errors.ApiError):
        names(spread)
    with pytest.raises(errors.ApiError) as info:
        names([{"Name": "name", "Values": ["x" * 256]}])
    assert (info.value.code, info.value.message) == (
        "FilterLimitExceeded", "The maximum length for a filter value is 255 characters")
    assert names([{"Name": "name", "Values": ["web-1"] + ["x" * 255] * 199}]) == ["web-1"]


def test_heavy_wildcard_describes_run_off_the_event_loop() -> None:
    async def run(action_name: str, args: dict) -> threading.Thread:
        ran_on: list[threading.Thread] = []

        def handler(ctx, req):
            ran_on.append(threading.current_thread())
            return {}

        await call(handler, SimpleNamespace(action=action_name), args)
        return ran_on[0]

    heavy = {"Filters": [{"Name": "tag-value", "Values": ["*a" * 127] * 3}]}
    light = {"Filters": [{"Name": "tag-value", "Values": ["web-*"]}]}
    main = threading.current_thread()
    assert asyncio.run(run("DescribeTags", heavy)) is not main
    assert asyncio.run(run("DescribeTags", light)) is main
    assert asyncio.run(run("CreateTags", heavy)) is main  # only read-only calls move
    with pytest.raises(errors.ApiError) as info:  # limits are checked before any handler runs
        asyncio.run(run("DescribeTags", {"Filters": [{"Name": "x", "Values": ["v"] * 201}]}))
    assert info.value.code == "FilterLimitExceeded"
