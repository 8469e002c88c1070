"""The one skeleton every Describe* action shares, after its service call.

The service selects the records (the ids the caller named, with EC2's Malformed/NotFound codes:
``services/lookup.py``) and renders them with their tags; the handler then answers with
:func:`respond`: the request's ``Filters`` (``tag:``/``tag-key``/``tag-value`` read from the
item's tag list), then ``MaxResults``/``NextToken`` within the action's bounds, in that order,
so a bad filter is reported before a bad page size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from orchestrator.api.filters import Getter, apply_filters, paginate

Item = dict[str, Any]
TagsOf = Callable[[Item], Mapping[str, str]]


def item_tags(item: Item, key: str = "Tags") -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item.get(key) or []}


def tags_in(key: str) -> TagsOf:
    """Tag filters reading the item's ``key`` list (``TagSet`` on network interfaces)."""
    return lambda item: item_tags(item, key)


def no_tags(item: Item) -> Mapping[str, str]:
    """Tag filters are accepted and match nothing (resources without tags, e.g. group rules)."""
    return {}


def respond(req: Mapping[str, Any], items: Sequence[Item], getters: Mapping[str, Getter], key: str, *,
            tags_of: TagsOf | None = item_tags, page: tuple[int, int] | None = (5, 1000)) -> dict[str, Any]:
    """``{key: items}`` filtered by ``req["Filters"]``; with ``page`` (MaxResults bounds) the page
    ``req["NextToken"]`` points at and the ``NextToken`` of the next one. ``tags_of=None``: the
    action has no tag filters (``tag:...`` is an unknown filter)."""
    kept = apply_filters(items, req.get("Filters"), getters, tags_of=tags_of)
    if page is None:
        return {key: kept}
    low, high = page
    shown, token = paginate(kept, req.get("MaxResults"), req.get("NextToken"), low=low, high=high)
    return {key: shown, "NextToken": token}
