"""The Describe skeleton every action answers through (api/describe.respond): filters (with tag
filters read from the item's tag list), then MaxResults/NextToken within the action's bounds."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.api.describe import no_tags, respond, tags_in
from orchestrator.domain import errors

ITEMS = [{"Id": f"x-{n}", "Tags": [{"Key": "n", "Value": str(n)}], "TagSet": [{"Key": "m", "Value": str(n)}]}
         for n in range(12)]
GETTERS = {"id": lambda i: i["Id"]}


def test_filters_then_pages_with_a_next_token() -> None:
    req: dict[str, Any] = {"Filters": [{"Name": "tag:n", "Values": ["1*"]}], "MaxResults": 5}
    first = respond(req, ITEMS, GETTERS, "Things")
    assert [i["Id"] for i in first["Things"]] == ["x-1", "x-10", "x-11"]
    assert first["NextToken"] is None
    first = respond({"MaxResults": 5}, ITEMS, GETTERS, "Things")
    assert len(first["Things"]) == 5 and first["NextToken"]
    rest = respond({"MaxResults": 5, "NextToken": first["NextToken"]}, ITEMS, GETTERS, "Things")
    assert [i["Id"] for i in rest["Things"]] == [f"x-{n}" for n in range(5, 10)]


def test_page_bounds_are_the_actions() -> None:
    with pytest.raises(errors.ApiError) as e:
        respond({"MaxResults": 200}, ITEMS, GETTERS, "Things", page=(5, 100))
    assert e.value.code == "InvalidParameterValue"
    assert respond({"MaxResults": 200}, ITEMS, GETTERS, "Things")["NextToken"] is None


def test_a_bad_filter_is_reported_before_a_bad_page_size() -> None:
    with pytest.raises(errors.ApiError) as e:
        respond({"Filters": [{"Name": "nope", "Values": ["x"]}], "MaxResults": 1}, ITEMS, GETTERS, "Things")
    assert e.value.code == "InvalidParameterValue" and "nope" in e.value.message


def test_unpaged_actions_answer_everything_without_a_token() -> None:
    out = respond({"MaxResults": 1}, ITEMS, GETTERS, "Things", page=None)
    assert out == {"Things": ITEMS}


def test_tag_filter_sources() -> None:
    by_tagset = respond({"Filters": [{"Name": "tag:m", "Values": ["3"]}]}, ITEMS, GETTERS, "T", tags_of=tags_in("TagSet"))
    assert [i["Id"] for i in by_tagset["T"]] == ["x-3"]
    assert respond({"Filters": [{"Name": "tag:n", "Values": ["3"]}]}, ITEMS, GETTERS, "T", tags_of=no_tags)["T"] == []
    with pytest.raises(errors.ApiError):
        respond({"Filters": [{"Name": "tag:n", "Values": ["3"]}]}, ITEMS, GETTERS, "T", tags_of=None)
