"""A small evaluator of identity-based IAM policies, for what a role may do within its own account.

It follows AWS's evaluation logic for one principal: an explicit Deny in any statement wins, else an Allow is needed,
else the request is implicitly denied; a permissions boundary, when the role has one, must allow the request too.
Statements match on Action or NotAction (case-insensitive, with * and ? wildcards) and on Resource or NotResource
(case-sensitive, with wildcards). It does not evaluate Condition blocks: a statement with a Condition is treated as
not applying, so a conditional Allow grants nothing and a conditional Deny denies nothing. Policy variables are taken
literally, and resource-based policies, session policies and SCPs are not consulted.

Sources: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import unquote

Document = str | Mapping[str, Any]


class Decision(enum.Enum):
    ALLOW = "allow"
    IMPLICIT_DENY = "implicit deny"
    EXPLICIT_DENY = "explicit deny"


def _parse(document: Document) -> Mapping[str, Any]:
    if not isinstance(document, str):
        return document
    try:
        return json.loads(document)
    except ValueError:
        return json.loads(unquote(document))  # GetRolePolicy's URL-encoded form


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(documents: Iterable[Document]) -> Iterator[Mapping[str, Any]]:
    for document in documents:
        yield from _as_list(_parse(document).get("Statement", []))


def _wildcard(pattern: str, value: str, ignore_case: bool) -> bool:
    # Not fnmatch: it also reads [...] as a character class, and IAM has only * and ?
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _matches(statement: Mapping[str, Any], element: str, value: str, ignore_case: bool) -> bool:
    if element in statement:
        return any(_wildcard(p, value, ignore_case) for p in _as_list(statement[element]))
    negated = f"Not{element}"
    if negated in statement:
        return not any(_wildcard(p, value, ignore_case) for p in _as_list(statement[negated]))
    return False


def _applies(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    if "Condition" in statement:
        return False
    return _matches(statement, "Action", action, True) and _matches(statement, "Resource", resource, False)


def evaluate(documents: Iterable[Document], action: str, resource: str) -> Decision:
    """The decision the policies give for one action on one resource."""
    allowed = False
    for statement in _statements(documents):
        if not _applies(statement, action, resource):
            continue
        if statement.get("Effect") == "Deny":
            return Decision.EXPLICIT_DENY
        allowed = allowed or statement.get("Effect") == "Allow"
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def _default_document(policy: Any) -> str:
    return next(v.document for v in policy.versions if v.is_default)


def role_documents(role: Any) -> list[Document]:
    """The identity-based policies of a moto IAM role: its inline policies and its attached managed policies' default
    versions."""
    return [*role.policies.values(), *(_default_document(p) for p in role.managed_policies.values())]


def denial(role: Any, iam: Any, action: str, resource: str) -> str | None:
    """Why the role may not perform the action on the resource, worded as IAM ends its AccessDenied message; None when
    it may."""
    identity = evaluate(role_documents(role), action, resource)
    if identity is Decision.EXPLICIT_DENY:
        return "with an explicit deny in an identity-based policy"
    if identity is Decision.IMPLICIT_DENY:
        return f"because no identity-based policy allows the {action} action"
    if role.permissions_boundary_arn:
        boundary = evaluate([_default_document(iam.get_policy(role.permissions_boundary_arn))], action, resource)
        if boundary is Decision.EXPLICIT_DENY:
            return "with an explicit deny in a permissions boundary"
        if boundary is Decision.IMPLICIT_DENY:
            return f"because no permissions boundary allows the {action} action"
    return None
