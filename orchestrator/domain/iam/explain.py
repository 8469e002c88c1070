"""Why a request was decided so: the statements that applied, and the decoded authorization
message EC2 encodes into ``UnauthorizedOperation`` (what ``sts decode-authorization-message``
shows: allowed, explicitDeny, matchedStatements, failures and the request's context).

Only for denied requests, so it re-evaluates every statement without `engine`'s shortcuts.
The encoding (EC2 encrypts the message; STS DecodeAuthorizationMessage decrypts it for callers
allowed ``sts:DecodeAuthorizationMessage``) is the API layer's: this builds the plaintext.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.domain.iam.engine import applies, evaluate, principal_match
from orchestrator.domain.iam.model import Decision, Policy, Request, Statement
from orchestrator.domain.iam.variables import context_str


@dataclass(frozen=True)
class Match:
    source: str  # "identity" | "session" | "resource"
    index: int  # the policy's position in its list
    statement: Statement


@dataclass(frozen=True)
class Explanation:
    decision: Decision
    matched: tuple[Match, ...]  # every statement that applies, Allow and Deny

    @property
    def denied_by(self) -> tuple[Match, ...]:
        return tuple(m for m in self.matched if m.statement.effect == "Deny")


def explain(request: Request, identity: Sequence[Policy], *, session: Sequence[Policy] | None = None,
            resource: Policy | None = None) -> Explanation:
    decision = evaluate(request, identity, session=session, resource=resource)
    groups: list[tuple[str, Sequence[Policy]]] = [("identity", identity), ("session", session or ()),
                                                  ("resource", (resource,) if resource is not None else ())]
    matched = tuple(
        Match(source, i, st)
        for source, policies in groups
        for i, p in enumerate(policies)
        for st in p.statements
        if applies(st, request) and principal_match(st, request) is not None
    )
    return Explanation(decision, matched)


def _items(values: Sequence[Any]) -> dict[str, Any]:
    return {"items": [{"value": context_str(v)} for v in values]}


def _statement(st: Statement, principal_id: str) -> dict[str, Any]:
    conditions = [{"key": c.name or c.key, "values": _items(c.values)} for c in st.conditions]
    return {
        "statementId": st.sid or "",
        "effect": st.effect.upper(),
        "principals": _items([principal_id]),
        "principalGroups": {"items": []},
        "actions": _items(st.actions),
        "resources": _items(st.resources or ()),
        "conditions": {"items": conditions},
    }


def _conditions(context: Mapping[str, Any]) -> dict[str, Any]:
    out = []
    for key, value in context.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        out.append({"key": key, "values": _items(values)})
    return {"items": out}


def decoded_message(explanation: Explanation, request: Request, *, principal_id: str, principal_name: str,
                    principal_arn: str) -> dict[str, Any]:
    """The DecodedMessage of a denied request, as STS DecodeAuthorizationMessage returns it (JSON).
    AWS lists the matched statements only for an explicit deny."""
    explicit = explanation.decision is Decision.EXPLICIT_DENY
    matched = [_statement(m.statement, principal_id) for m in explanation.denied_by] if explicit else []
    return {
        "allowed": explanation.decision is Decision.ALLOW,
        "explicitDeny": explicit,
        "matchedStatements": {"items": matched},
        "failures": {"items": []},
        "context": {
            "principal": {"id": principal_id, "name": principal_name, "arn": principal_arn},
            "action": request.action,
            "resource": request.resource,
            "conditions": _conditions(request.context),
        },
    }
