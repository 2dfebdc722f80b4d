# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Elastic Load Balancing v2 calls, one small function each, retried on throttling."""

from __future__ import annotations

from typing import Any

from ansible_collections.stageflow.aws.plugins.module_utils.retries import aws_retry


@aws_retry
def describe_rules(elbv2: Any, **kwargs: Any) -> list[dict[str, Any]]:
    return elbv2.describe_rules(**kwargs)["Rules"]


@aws_retry
def describe_target_groups(elbv2: Any, names: list[str]) -> list[dict[str, Any]]:
    return elbv2.describe_target_groups(Names=names)["TargetGroups"]


@aws_retry
def modify_rule(elbv2: Any, rule_arn: str, actions: list[dict[str, Any]]) -> None:
    elbv2.modify_rule(RuleArn=rule_arn, Actions=actions)


@aws_retry
def describe_target_health(elbv2: Any, arn: str) -> list[dict[str, Any]]:
    return elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
