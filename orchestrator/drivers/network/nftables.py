"""nftables rulesets as small objects, rendered to the text ``nft -f`` loads.

ec2d's tables (security groups, anti-spoofing, the metadata limits, 1:1 NAT, the root host filter)
are built from :class:`Table`, :class:`SetDecl`, :class:`Chain` and :class:`Rule` values; a rule
is a sequence of parts (:class:`Match`, :class:`InSet`, :class:`Jump`, ...), each knowing its own
nft syntax. Code that builds a ruleset therefore names what it matches instead of pasting text,
and a test can compare a built table with expected objects or with its rendered text.

The objects render to nft's native syntax (not its JSON): the firewall's incremental path sends
``add element``/``delete element`` commands keyed by the rendered element text, and the text is
what ``nft list`` shows when a ruleset is debugged. Everything here is pure: loading a script is
:func:`orchestrator.drivers.network.rootops.run_nft`'s job.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "ACCEPT",
    "COUNTER",
    "DROP",
    "MASQUERADE",
    "Chain",
    "Hook",
    "InSet",
    "Jump",
    "Keyword",
    "Match",
    "NatMap",
    "Reject",
    "Rule",
    "SetDecl",
    "SetUpdate",
    "Table",
    "VMap",
    "add_elements",
    "anon_set",
    "concat",
    "delete_elements",
    "delete_table",
    "map_element",
    "quoted",
    "replace_table",
]


class Part(Protocol):
    """One piece of a rule: a match expression or a statement."""

    def render(self) -> str: ...


def concat(*values: object) -> str:
    """A concatenation (``a . b . c``): the key of a multi-field lookup or a set element."""
    return " . ".join(str(v) for v in values)


def anon_set(values: Iterable[str]) -> str:
    """An anonymous set literal: ``{ a, b }``."""
    return "{ " + ", ".join(values) + " }"


def quoted(name: str) -> str:
    """An interface name as nft wants it in a match or an element (``"tap0"``)."""
    return f'"{name}"'


def map_element(key: str, value: str) -> str:
    """A map element ``key : value``."""
    return f"{key} : {value}"


def _key(key: str | tuple[str, ...]) -> str:
    return key if isinstance(key, str) else concat(*key)


@dataclass(frozen=True)
class Match:
    """``key value`` or ``key != value``; a tuple key is a concatenation."""

    key: str | tuple[str, ...]
    value: str
    negate: bool = False

    def render(self) -> str:
        op = "!= " if self.negate else ""
        return f"{_key(self.key)} {op}{self.value}"


@dataclass(frozen=True)
class InSet:
    """Set lookup: ``key @set`` (or ``key != @set``); a tuple key is a concatenation."""

    key: str | tuple[str, ...]
    set_name: str
    negate: bool = False

    def render(self) -> str:
        return Match(self.key, f"@{self.set_name}", self.negate).render()


@dataclass(frozen=True)
class Keyword:
    """A statement without arguments: ``accept``, ``drop``, ``counter``, ``masquerade``."""

    word: str

    def render(self) -> str:
        return self.word


ACCEPT = Keyword("accept")
DROP = Keyword("drop")
COUNTER = Keyword("counter")
MASQUERADE = Keyword("masquerade")


@dataclass(frozen=True)
class Jump:
    chain: str

    def render(self) -> str:
        return f"jump {self.chain}"


@dataclass(frozen=True)
class VMap:
    """Verdict map lookup: ``key vmap @map``."""

    key: str
    map_name: str

    def render(self) -> str:
        return f"{self.key} vmap @{self.map_name}"


@dataclass(frozen=True)
class Reject:
    """``reject with <how>`` (e.g. ``tcp reset``, ``icmpx type admin-prohibited``)."""

    how: str

    def render(self) -> str:
        return f"reject with {self.how}"


@dataclass(frozen=True)
class SetUpdate:
    """Dynamic set update: ``add|update @set { key statement }`` (per-key meters)."""

    op: str
    set_name: str
    key: str
    statement: str

    def render(self) -> str:
        return f"{self.op} @{self.set_name} {{ {self.key} {self.statement} }}"


@dataclass(frozen=True)
class NatMap:
    """``dnat|snat ip to <key> map { a : b, ... }``."""

    kind: str
    key: str
    pairs: tuple[tuple[str, str], ...]

    def render(self) -> str:
        return f"{self.kind} ip to {self.key} map {anon_set(map_element(a, b) for a, b in self.pairs)}"


@dataclass(frozen=True)
class Rule:
    """One nft rule: its parts in order (matches first, then statements and the verdict)."""

    parts: tuple[Part, ...]

    def __init__(self, *parts: Part) -> None:
        object.__setattr__(self, "parts", parts)

    def render(self) -> str:
        return " ".join(p.render() for p in self.parts)


@dataclass(frozen=True)
class Hook:
    """What makes a chain a base chain: ``type T hook H priority P; policy X;``."""

    hook: str
    priority: str = "filter"
    type: str = "filter"
    policy: str = "accept"

    def render(self) -> str:
        return f"type {self.type} hook {self.hook} priority {self.priority}; policy {self.policy};"


@dataclass(frozen=True)
class Chain:
    """A chain. Rendered once, when built: the compiler reuses the chains of unchanged groups, so
    compiling a VPC costs little more than joining their text."""

    name: str
    rules: tuple[Rule, ...] = ()
    hook: Hook | None = None

    def __post_init__(self) -> None:
        body = [self.hook.render()] if self.hook is not None else []
        body += [r.render() for r in self.rules]
        text = f"\tchain {self.name} {{\n" + "".join(f"\t\t{line}\n" for line in body) + "\t}"
        object.__setattr__(self, "_text", text)

    def render(self) -> str:
        return self._text  # type: ignore[attr-defined, no-any-return]


@dataclass(frozen=True)
class SetDecl:
    """A named set (or map, ``is_map``) declaration; elements are added separately unless
    ``elements`` holds constant ones. Rendered once, when built (as :class:`Chain`)."""

    name: str
    type: str
    flags: tuple[str, ...] = ()
    is_map: bool = False
    size: int | None = None
    timeout: str | None = None
    auto_merge: bool = False
    elements: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        lines = [f"type {self.type}"]
        if self.size is not None:
            lines.append(f"size {self.size}")
        if self.flags:
            lines.append(f"flags {','.join(self.flags)}")
        if self.timeout is not None:
            lines.append(f"timeout {self.timeout}")
        if self.auto_merge:
            lines.append("auto-merge")
        if self.elements:
            lines.append(f"elements = {anon_set(self.elements)}")
        kind = "map" if self.is_map else "set"
        text = f"\t{kind} {self.name} {{\n" + "".join(f"\t\t{line}\n" for line in lines) + "\t}"
        object.__setattr__(self, "_text", text)

    def render(self) -> str:
        return self._text  # type: ignore[attr-defined, no-any-return]


@dataclass(frozen=True)
class Table:
    family: str
    name: str
    sets: tuple[SetDecl, ...] = ()
    chains: tuple[Chain, ...] = ()

    @property
    def ref(self) -> str:
        """``family name``, as commands address the table."""
        return f"{self.family} {self.name}"

    def render(self) -> str:
        body = [s.render() for s in self.sets] + [c.render() for c in self.chains]
        return f"table {self.ref} {{\n" + "\n".join(body) + "\n}"


def delete_table(ref: str) -> str:
    """Commands deleting table ``ref`` (``family name``) whether or not it exists (nft 1.0.6 has no
    ``destroy``: declaring it first makes the delete always valid)."""
    return f"table {ref}\ndelete table {ref}\n"


def replace_table(table: Table) -> str:
    """Commands replacing ``table`` whole; in one ``nft -f`` transaction there is no moment
    without it."""
    return delete_table(table.ref) + table.render()


def add_elements(ref: str, set_name: str, elements: Iterable[str]) -> str:
    return f"add element {ref} {set_name} {anon_set(elements)}"


def delete_elements(ref: str, set_name: str, keys: Iterable[str]) -> str:
    """Delete elements (maps: by key)."""
    return f"delete element {ref} {set_name} {anon_set(keys)}"
