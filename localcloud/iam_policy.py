"""An evaluator of IAM policies for one principal in its own account: identity-based policies, permissions boundaries
and role trust policies.

It follows AWS's evaluation logic: an explicit Deny in any statement wins, else an Allow is needed, else the request is
implicitly denied; a permissions boundary, when the principal has one, must allow the request too. Statements match
on Action or NotAction (case-insensitive, with * and ? wildcards), on Resource or NotResource (case-sensitive, with
wildcards), on Principal or NotPrincipal in a trust policy, and on their Condition block against the request context
(condition key, lower-cased -> its values):

- operators StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, StringLike,
  StringNotLike, ArnEquals, ArnLike, ArnNotEquals, ArnNotLike (each of the six colon-separated parts matched on its
  own), Bool, Numeric(Not)Equals, NumericLessThan(Equals), NumericGreaterThan(Equals), and Null; each with the
  `IfExists` suffix and the `ForAnyValue:` / `ForAllValues:` set prefixes;
- the operators of a block, and the keys of an operator, are ANDed; the values of a key are ORed (NORed for a negated
  operator);
- a key missing from the context makes a condition false, or true for a negated operator; `...IfExists` is true, and
  `ForAllValues:` is true, when the key is missing; `Null` tests whether it is;
- an operator not in that list (Date*, IpAddress, Binary*) never matches: a conditional Allow with one grants nothing,
  and a conditional Deny with one denies nothing.

Policy variables (`${aws:username}`, `${aws:PrincipalTag/team}`, `${*}` ...) in Resource and in String and Arn
condition values of a `2012-10-17` policy take the request context's value; a variable the context lacks (with no
`, 'default'`) makes the element not match. Resource-based policies other than trust policies, session policies and
SCPs are not consulted.

Sources: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
"""

from __future__ import annotations

import enum
import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

Document = str | Mapping[str, Any]
Context = Mapping[str, Sequence[str]]  # condition key, lower-cased -> its values

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_SPECIAL = {"*": "*", "?": "?", "$": "$"}


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


def _statements(documents: Iterable[Document]) -> Iterator[tuple[Mapping[str, Any], bool]]:
    """Each statement, and whether its policy's version expands policy variables."""
    for document in documents:
        parsed = _parse(document)
        variables = parsed.get("Version") == "2012-10-17"
        for statement in _as_list(parsed.get("Statement", [])):
            yield statement, variables


@functools.lru_cache(maxsize=4096)
def _plain_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    # Not fnmatch: it also reads [...] as a character class, and IAM has only * and ?
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE if ignore_case else 0)


def _variable(name: str, context: Context) -> str | None:
    """A policy variable's value: the context's (single) value, its `, 'default'`, or None."""
    key, _comma, default = name.partition(",")
    key = key.strip()
    if key in _SPECIAL:
        return _SPECIAL[key]
    values = context.get(key.lower())
    if values and len(values) == 1:
        return values[0]
    default = default.strip()
    return default[1:-1] if len(default) >= 2 and default[0] == default[-1] == "'" else None


def _regex(pattern: str, ignore_case: bool, context: Context | None) -> re.Pattern[str] | None:
    """The pattern's regex, its policy variables replaced by their literal values (None when one has no value)."""
    if context is None or "${" not in pattern:
        return _plain_regex(pattern, ignore_case)
    parts, position = [], 0
    for match in _VARIABLE.finditer(pattern):
        parts.append(_plain_regex(pattern[position : match.start()], ignore_case).pattern)
        value = _variable(match.group(1), context)
        if value is None:
            return None
        parts.append(re.escape(value))
        position = match.end()
    parts.append(_plain_regex(pattern[position:], ignore_case).pattern)
    return re.compile("".join(parts), re.IGNORECASE if ignore_case else 0)


def _wildcard(pattern: str, value: str, ignore_case: bool, context: Context | None = None) -> bool:
    regex = _regex(pattern, ignore_case, context)
    return regex is not None and regex.fullmatch(value) is not None


def _literal(pattern: str, context: Context | None) -> str | None:
    """A condition value with its policy variables replaced (None when one has no value)."""
    if context is None or "${" not in pattern:
        return pattern
    values = [_variable(match.group(1), context) for match in _VARIABLE.finditer(pattern)]
    if None in values:
        return None
    replacements = iter(values)
    return _VARIABLE.sub(lambda _match: next(replacements), pattern)


def _matches(
    statement: Mapping[str, Any], element: str, value: str, ignore_case: bool, context: Context | None
) -> bool:
    if element in statement:
        return any(_wildcard(p, value, ignore_case, context) for p in _as_list(statement[element]))
    negated = f"Not{element}"
    if negated in statement:
        return not any(_wildcard(p, value, ignore_case, context) for p in _as_list(statement[negated]))
    return False


# -- conditions -------------------------------------------------------------------------------------------------------
def _arn_like(pattern: str, value: str) -> bool:
    patterns, values = pattern.split(":", 5), value.split(":", 5)
    return len(patterns) == len(values) and all(_wildcard(p, v, False) for p, v in zip(patterns, values, strict=True))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def test(policy: str, value: str) -> bool:
        left, right = _number(value), _number(policy)
        return left is not None and right is not None and compare(left, right)

    return test


# operator -> (does the request value match the policy value, is the operator negated)
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (lambda p, v: p == v, False),
    "StringNotEquals": (lambda p, v: p == v, True),
    "StringEqualsIgnoreCase": (lambda p, v: p.lower() == v.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda p, v: p.lower() == v.lower(), True),
    "StringLike": (lambda p, v: _wildcard(p, v, False), False),
    "StringNotLike": (lambda p, v: _wildcard(p, v, False), True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
    "Bool": (lambda p, v: p.lower() == v.lower(), False),
    "NumericEquals": (_numeric(lambda v, p: v == p), False),
    "NumericNotEquals": (_numeric(lambda v, p: v == p), True),
    "NumericLessThan": (_numeric(lambda v, p: v < p), False),
    "NumericLessThanEquals": (_numeric(lambda v, p: v <= p), False),
    "NumericGreaterThan": (_numeric(lambda v, p: v > p), False),
    "NumericGreaterThanEquals": (_numeric(lambda v, p: v >= p), False),
}


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _condition(operator: str, key: str, policy_values: list[Any], context: Context) -> bool:
    qualifier, _colon, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists")
    name = name.removesuffix("IfExists")
    values = context.get(key.lower())
    if name == "Null":
        return any((_text(p).lower() == "true") == (values is None) for p in policy_values)
    if name not in _OPERATORS or qualifier not in ("", "ForAnyValue", "ForAllValues"):
        return False
    test, negated = _OPERATORS[name]
    if values is None:
        return if_exists or qualifier == "ForAllValues" or (negated and qualifier == "")
    substituted = [_literal(_text(p), context) for p in policy_values]
    expected = [p for p in substituted if p is not None]

    def matches(value: str) -> bool:
        return any(test(p, value) for p in expected)

    if qualifier == "ForAllValues":
        return all(matches(v) != negated for v in values)
    if qualifier == "ForAnyValue":
        return any(matches(v) != negated for v in values)
    return not any(map(matches, values)) if negated else any(map(matches, values))


def conditions_hold(block: Mapping[str, Any], context: Context) -> bool:
    """Whether a statement's Condition block holds in the request context."""
    return all(
        _condition(operator, key, _as_list(values), context)
        for operator, keys in block.items()
        for key, values in keys.items()
    )


def _applies(
    statement: Mapping[str, Any], action: str, resource: str | None, context: Context | None, variables: bool
) -> bool:
    expand = context if variables else None
    if not _matches(statement, "Action", action, True, None):
        return False
    if resource is not None and not _matches(statement, "Resource", resource, False, expand):
        return False
    return "Condition" not in statement or conditions_hold(statement["Condition"], context or {})


def _decide(statements: Iterable[tuple[Mapping[str, Any], bool]], applies: Callable[..., bool]) -> Decision:
    allowed = False
    for statement, variables in statements:
        if not applies(statement, variables):
            continue
        if statement.get("Effect") == "Deny":
            return Decision.EXPLICIT_DENY
        allowed = allowed or statement.get("Effect") == "Allow"
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def evaluate(documents: Iterable[Document], action: str, resource: str, context: Context | None = None) -> Decision:
    """The decision identity-based policies (or a permissions boundary) give for one action on one resource."""
    return _decide(_statements(documents), lambda s, v: _applies(s, action, resource, context, v))


# -- trust policies ---------------------------------------------------------------------------------------------------
def _principal_named(element: Any, principals: Mapping[str, Sequence[str]]) -> bool:
    if element == "*":
        return True
    if not isinstance(element, Mapping):
        return False
    return any(
        value == "*" or value in principals.get(kind, ())
        for kind, values in element.items()
        for value in _as_list(values)
    )


def trust(document: Document, action: str, principals: Mapping[str, Sequence[str]], context: Context) -> Decision:
    """The decision a role's trust policy gives a principal (`{"AWS": [arns and account ids]}`, `{"Federated":
    [provider arn]}`) asking for `action` (sts:AssumeRole ...)."""

    def applies(statement: Mapping[str, Any], variables: bool) -> bool:
        if "Principal" in statement:
            named = _principal_named(statement["Principal"], principals)
        else:
            named = "NotPrincipal" in statement and not _principal_named(statement["NotPrincipal"], principals)
        return named and _applies(statement, action, None, context, variables)

    return _decide(_statements([document]), applies)


# -- principals ------------------------------------------------------------------------------------------------------
def _default_document(policy: Any) -> str:
    return next(v.document for v in policy.versions if v.is_default)


def role_documents(role: Any) -> list[Document]:
    """The identity-based policies of a moto IAM role: its inline policies and its attached managed policies' default
    versions."""
    return [*role.policies.values(), *(_default_document(p) for p in role.managed_policies.values())]


def user_documents(user: Any, iam: Any) -> list[Document]:
    """The identity-based policies of a moto IAM user: its own inline and attached policies and its groups'."""
    documents = role_documents(user)
    for group in iam.get_groups_for_user(user.name):
        documents += role_documents(group)
    return documents


def boundary_documents(iam: Any, boundary_arn: str | None) -> list[Document] | None:
    """The permissions boundary's default version, as a list of one document; None for no boundary."""
    return [_default_document(iam.get_policy(boundary_arn))] if boundary_arn else None


def explain(
    identity: list[Document],
    boundary: list[Document] | None,
    action: str,
    resource: str,
    context: Context | None = None,
) -> str | None:
    """Why the principal may not perform the action on the resource, worded as AWS ends its AccessDenied message;
    None when it may. An explicit deny anywhere wins over a missing allow."""
    decision = evaluate(identity, action, resource, context)
    bounded = evaluate(boundary, action, resource, context) if boundary is not None else Decision.ALLOW
    if decision is Decision.EXPLICIT_DENY:
        return "with an explicit deny in an identity-based policy"
    if bounded is Decision.EXPLICIT_DENY:
        return "with an explicit deny in a permissions boundary"
    if decision is Decision.IMPLICIT_DENY:
        return f"because no identity-based policy allows the {action} action"
    if bounded is Decision.IMPLICIT_DENY:
        return f"because no permissions boundary allows the {action} action"
    return None


def denial(role: Any, iam: Any, action: str, resource: str, context: Context | None = None) -> str | None:
    """Why the role may not perform the action on the resource, worded as IAM ends its AccessDenied message; None when
    it may."""
    return explain(
        role_documents(role), boundary_documents(iam, role.permissions_boundary_arn), action, resource, context
    )
