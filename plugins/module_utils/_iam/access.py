# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a role's own policies allow an action on a resource: IAM's evaluation of identity-based policies.

An explicit Deny wins over any Allow; without an Allow the answer is no. Action names match case-insensitively,
resources case-sensitively, both with the * and ? wildcards; NotAction and NotResource are honoured. Conditions are not
evaluated: a matching statement with a condition is reported as conditional. Permissions boundaries, session policies,
SCPs and the resource's own policy are not read, so "allowed" here is necessary, not sufficient.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
"""

from __future__ import annotations

import re
from typing import Any


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _matches(pattern: str, value: str, ignore_case: bool) -> bool:
    expression = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(expression, value, (re.IGNORECASE | re.DOTALL) if ignore_case else re.DOTALL) is not None


def _applies(statement: dict[str, Any], action: str, resource: str) -> bool:
    if "NotAction" in statement:
        action_ok = not any(_matches(p, action, True) for p in _as_list(statement["NotAction"]))
    else:
        action_ok = any(_matches(p, action, True) for p in _as_list(statement.get("Action")))
    if "NotResource" in statement:
        resource_ok = not any(_matches(p, resource, False) for p in _as_list(statement["NotResource"]))
    else:
        resource_ok = any(_matches(p, resource, False) for p in _as_list(statement.get("Resource")))
    return action_ok and resource_ok


def evaluate(policies: list[dict[str, Any]], action: str, resource: str) -> dict[str, Any]:
    """`policies` are dicts with `name` and `document`; the answer names the statements that decided."""
    allowed_by, denied_by, conditional = [], [], False
    for policy in policies:
        for index, statement in enumerate(_as_list((policy.get("document") or {}).get("Statement"))):
            if not isinstance(statement, dict) or not _applies(statement, action, resource):
                continue
            label = f"{policy.get('name')}[{statement.get('Sid') or index}]"
            if statement.get("Effect") == "Deny" and not statement.get("Condition"):
                denied_by.append(label)
            elif statement.get("Effect") == "Allow":
                allowed_by.append(label)
                conditional = conditional or bool(statement.get("Condition"))
    return {
        "action": action,
        "resource": resource,
        "allowed": bool(allowed_by) and not denied_by,
        "allowed_by": allowed_by,
        "denied_by": denied_by,
        "conditional": conditional and not denied_by,
    }
