"""Pieces every Describe* action shares: selecting records by the ids the caller named (with EC2's
Malformed/NotFound codes) and reading an item's tags for ``tag:`` filters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.domain import ids
from orchestrator.store.sqlite import Record


def select(records: Sequence[Record], wanted: Sequence[str] | None, prefix: str) -> list[Record]:
    """``records`` (all of them when nothing is named), or the named ones in the order named."""
    if not wanted:
        return list(records)
    by_id = {r.id: r for r in records}
    for rid in wanted:
        ids.check(rid, prefix)
        if rid not in by_id:
            raise ids.KINDS[prefix].not_found_error(rid)
    return [by_id[rid] for rid in wanted]


def item_tags(item: dict[str, Any], key: str = "Tags") -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item.get(key) or []}
