"""What a Describe's ``Filters`` let the store leave out before anything is rendered.

A Describe renders its records, then applies every filter to the rendered items (``api/describe``).
With thousands of records most of that work is wasted on items a filter drops: a ``tag:KEY`` filter,
or one on a field the record stores as the item shows it, can be asked of the store instead (an
index read of the tags table; the ``state`` column; a JSON field). Only exact values narrow (no
``*``, ``?`` or ``\\``: those stay the filter's), and the full filtering still runs on what is left,
so a narrowing only ever drops records no filter would keep: the answer is the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

STATE = "state"  # the column a filter may name in ``columns`` (otherwise: a top-level JSON field)
MAX_VALUES = 200  # EC2's limit on a call's filter values: more is FilterLimitExceeded (not narrowed)


@dataclass
class Narrowing:
    """Records kept: a state in ``states`` (None: any), for every ``(key, values)`` of ``tagged`` a
    tag ``key`` with one of ``values``, for every ``fields`` entry that top-level field in its values."""

    states: list[str] | None = None
    tagged: list[tuple[str, list[str]]] = field(default_factory=list)
    fields: dict[str, list[str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.states is not None or bool(self.tagged) or bool(self.fields)


def exact_values(f: Mapping[str, Any]) -> list[str] | None:
    """A filter's values when every one is a plain string without a pattern character (else None)."""
    values = f.get("Values") or []
    if not values or len(values) > MAX_VALUES:
        return None
    if any(not isinstance(v, str) or "*" in v or "?" in v or "\\" in v for v in values):
        return None
    return list(values)


def from_filters(filters: Sequence[Mapping[str, Any]] | None, columns: Mapping[str, str]) -> Narrowing:
    """The narrowing a request's ``Filters`` allow: ``tag:KEY`` filters, and the filters named in
    ``columns`` (filter name -> :data:`STATE` or the record's top-level field the item shows as is)."""
    out = Narrowing()
    for f in filters or ():
        name = f.get("Name")
        values = exact_values(f)
        if not isinstance(name, str) or values is None:
            continue
        if name.startswith("tag:") and len(name) > 4:
            out.tagged.append((name[4:], values))
        elif columns.get(name) == STATE:
            out.states = values if out.states is None else [s for s in out.states if s in values]
        elif name in columns:
            kept = out.fields.get(columns[name])
            out.fields[columns[name]] = values if kept is None else [v for v in kept if v in values]
    return out
