"""A caller's identity (and session) policies prepared for many requests: the API edge's fast path.

`engine.evaluate` answers one `Request` (a dataclass whose context it lower-cases) against policies
it walks statement by statement. The API edge asks the same few actions of the same policy set on
every request, so `PolicySet` keeps, per action, the statements whose Action/NotAction take it
(``ReadOnlyAccess``-style sets have hundreds of statements, of which a StopInstances request needs
one or two), and evaluates a resource ARN and an already lower-cased context without building a
Request. It answers only "allowed or not": a refused request is explained with `engine.evaluate` and
`explain`, which take the same policies, so the decision is the engine's (tests/iam/test_compiled.py
checks it against `engine.evaluate` over many policies and requests).

Only identity-kind policies (no Principal, no resource policy): the intersection of identity and
session policies, an explicit Deny in either deciding, as `engine.evaluate` without a resource policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from orchestrator.domain.iam.conditions import holds
from orchestrator.domain.iam.model import ContextValue, Policy, Statement
from orchestrator.domain.iam.variables import resolve
from orchestrator.domain.iam.wildcards import compile_tokens

Statements = tuple[Statement, ...]


def _resource_ok(st: Statement, resource: str, ctx: Mapping[str, ContextValue]) -> bool:
    """`engine._resource_ok` on a resource and a lower-cased context."""
    if st.resources is None:
        return True
    hit = st.resource_re is not None and st.resource_re.fullmatch(resource) is not None
    if not hit:
        for template in st.resource_templates:
            tokens = resolve(template, ctx)
            if tokens is not None and compile_tokens(tokens).fullmatch(resource):
                hit = True
                break
    return hit != st.not_resource


def _scan(statements: Statements, resource: str, ctx: Mapping[str, ContextValue]) -> bool | None:
    """None if a Deny applies, else whether an Allow does (statements already taking the action)."""
    allowed = False
    for st in statements:
        if allowed and st.effect == "Allow":
            continue
        if not _resource_ok(st, resource, ctx):
            continue
        for c in st.conditions:
            if not holds(c, ctx):
                break
        else:
            if st.effect == "Deny":
                return None
            allowed = True
    return allowed


class PolicySet:
    """Identity policies and (None, or an assumed-role session's) session policies, as `allows` asks."""

    MEMO_MAX = 64  # actions kept (the edge asks a handful; a bound, as a policy set lives long)

    def __init__(self, identity: Sequence[Policy], session: Sequence[Policy] | None = None) -> None:
        for p in (*identity, *(session or ())):
            if p.kind != "identity":
                raise ValueError("a PolicySet takes identity-kind policies only")
        self.identity: Statements = tuple(st for p in identity for st in p.statements)
        # an empty session list means no session policies, as in engine.evaluate
        self.session: Statements | None = tuple(st for p in session for st in p.statements) if session else None
        self._by_action: dict[str, tuple[Statements, Statements | None]] = {}

    @staticmethod
    def _taking(statements: Statements, action: str) -> Statements:
        return tuple(st for st in statements if st.action_match.fullmatch(action) != st.not_action)

    def statements_for(self, action: str) -> tuple[Statements, Statements | None]:
        """(identity, session) statements whose Action/NotAction take ``action`` (kept per action)."""
        found = self._by_action.get(action)
        if found is None:
            if len(self._by_action) >= self.MEMO_MAX:
                self._by_action.clear()
            session = self._taking(self.session, action) if self.session is not None else None
            found = self._by_action[action] = (self._taking(self.identity, action), session)
        return found

    def allows(self, action: str, resource: str, ctx: Mapping[str, ContextValue]) -> bool:
        """Whether `engine.evaluate` would answer ALLOW. ``ctx``: the context with lower-cased keys
        (it may leave out keys no statement looks at: `policy.context_keys`)."""
        identity, session = self.statements_for(action)
        if not identity:  # no Allow can apply: implicit deny (a Deny only makes it explicit)
            return False
        if not _scan(identity, resource, ctx):
            return False
        return session is None or bool(_scan(session, resource, ctx))
