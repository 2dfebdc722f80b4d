# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CloudWatch calls (dashboards, alarms), one small function each, retried on throttling."""

from __future__ import annotations

import json
from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.stageflow.aws.plugins.module_utils.retries import aws_retry


@aws_retry
def get_dashboard(client: Any, name: str) -> dict[str, Any] | None:
    try:
        body = client.get_dashboard(DashboardName=name)["DashboardBody"]
    except is_boto3_error_code("ResourceNotFound"):
        return None
    return json.loads(body)


@aws_retry
def put_dashboard(client: Any, name: str, body: dict[str, Any]) -> None:
    client.put_dashboard(DashboardName=name, DashboardBody=json.dumps(body, sort_keys=True))


@aws_retry
def delete_dashboard(client: Any, name: str) -> None:
    client.delete_dashboards(DashboardNames=[name])


@aws_retry
def list_dashboards(client: Any, prefix: str = "") -> list[dict[str, Any]]:
    kwargs = {"DashboardNamePrefix": prefix} if prefix else {}
    return client.get_paginator("list_dashboards").paginate(**kwargs).build_full_result()["DashboardEntries"]


@aws_retry
def describe_alarms(client: Any, names: list[str]) -> dict[str, Any]:
    return client.describe_alarms(AlarmNames=names, AlarmTypes=["MetricAlarm", "CompositeAlarm"])
