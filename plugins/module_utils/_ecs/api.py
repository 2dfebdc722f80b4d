# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ECS calls, one small function each, retried on throttling."""

from __future__ import annotations

from typing import Any

from ansible_collections.stageflow.aws.plugins.module_utils.retries import aws_retry


@aws_retry
def describe_services(ecs: Any, cluster: str, names: list[str]) -> dict[str, Any]:
    return ecs.describe_services(cluster=cluster, services=names)


@aws_retry
def describe_task_definition(ecs: Any, arn: str) -> dict[str, Any]:
    return ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])


@aws_retry
def register_task_definition(ecs: Any, body: dict[str, Any], tags: list[dict[str, str]]) -> dict[str, Any]:
    return ecs.register_task_definition(**body, **({"tags": tags} if tags else {}))


@aws_retry
def update_service(ecs: Any, cluster: str, service: str, task_definition: str) -> dict[str, Any]:
    return ecs.update_service(cluster=cluster, service=service, taskDefinition=task_definition)["service"]


@aws_retry
def list_services(ecs: Any, cluster: str) -> list[str]:
    return ecs.get_paginator("list_services").paginate(cluster=cluster).build_full_result()["serviceArns"]
