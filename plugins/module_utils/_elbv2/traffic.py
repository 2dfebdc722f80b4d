# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Weighted forward rules of an ALB listener, and the target health gate that follows a shift."""

from __future__ import annotations

from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.stageflow.aws.plugins.module_utils._elbv2 import api


class TrafficError(Exception):
    """A rule or target group that is not there, or a shift that did not hold."""


def find_rule(elbv2: Any, rule_arn: str | None, listener_arn: str | None, priority: int | None) -> dict[str, Any]:
    if rule_arn:
        return api.describe_rules(elbv2, RuleArns=[rule_arn])[0]
    rules = api.describe_rules(elbv2, ListenerArn=listener_arn)
    for rule in rules:
        if rule.get("Priority") == str(priority):
            return rule
    raise TrafficError(
        f"listener {listener_arn} has no rule at priority {priority} "
        f"(it has {', '.join(sorted(r['Priority'] for r in rules)) or 'none'})"
    )


def forward_action(rule: dict[str, Any]) -> dict[str, Any]:
    for action in rule.get("Actions", []):
        if action.get("Type") == "forward":
            return action
    raise TrafficError(f"rule {rule['RuleArn']} does not forward to target groups")


def weights_of(rule: dict[str, Any]) -> dict[str, int]:
    action = forward_action(rule)
    groups = (action.get("ForwardConfig") or {}).get("TargetGroups")
    if not groups and action.get("TargetGroupArn"):
        groups = [{"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}]
    return {g["TargetGroupArn"]: int(g.get("Weight", 1)) for g in groups or []}


def resolve_groups(elbv2: Any, weights: dict[str, int]) -> dict[str, int]:
    """Target group names or ARNs -> ARNs."""
    names = [k for k in weights if not k.startswith("arn:")]
    arns = {}
    if names:
        try:
            found = api.describe_target_groups(elbv2, names)
        except is_boto3_error_code("TargetGroupNotFound") as exc:  # anything else (AccessDenied ...) is not "not found"
            raise TrafficError(f"target group(s) {', '.join(names)} not found: {exc}") from None
        arns = {g["TargetGroupName"]: g["TargetGroupArn"] for g in found}
    return {arns.get(k, k): int(v) for k, v in weights.items()}


def set_weights(elbv2: Any, rule: dict[str, Any], weights: dict[str, int]) -> dict[str, int]:
    """Write the weights (other action settings kept), then read the rule back and check them."""
    actions = []
    for action in rule["Actions"]:
        if action.get("Type") == "forward":
            config = dict(action.get("ForwardConfig") or {})
            config["TargetGroups"] = [{"TargetGroupArn": arn, "Weight": w} for arn, w in weights.items()]
            action = {k: v for k, v in action.items() if k != "TargetGroupArn"}
            action["ForwardConfig"] = config
        actions.append(action)
    api.modify_rule(elbv2, rule["RuleArn"], actions)
    after = weights_of(api.describe_rules(elbv2, RuleArns=[rule["RuleArn"]])[0])
    if after != weights:
        raise TrafficError(f"rule {rule['RuleArn']} reads back {after} after writing {weights}")
    return after


def health_gate(elbv2: Any, arns: list[str]) -> tuple[bool, str]:
    """Every target of each group is healthy, and there is at least one."""
    for arn in arns:
        health = api.describe_target_health(elbv2, arn)
        states = [h["TargetHealth"]["State"] for h in health]
        name = arn.rsplit("/", 2)[-2] if "/" in arn else arn
        if not states:
            return False, f"target group {name} has no targets"
        if any(s != "healthy" for s in states):
            counts = {s: states.count(s) for s in sorted(set(states))}
            return False, f"target group {name} is not all healthy: {counts}"
    return True, f"{len(arns)} target group(s) all healthy"
