"""Filter wildcards and pagination tokens."""

from __future__ import annotations

import pytest

from orchestrator.api import errors
from orchestrator.api.filters import apply_filters, paginate, wildcard

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
    with pytest.raises(errors.Ec2Error) as info:
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
    with pytest.raises(errors.Ec2Error):
        paginate(items, 5, "not-a-token")
    with pytest.raises(errors.Ec2Error):
        paginate(items, 1001, None)
