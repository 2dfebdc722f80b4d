# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CloudWatch calls (dashboards, alarms), one small function each, retried on throttling."""

from __future__ import annotations

import json
from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

_retry = AWSRetry.jittered_backoff(retries=10)


@_retry
def get_dashboard(client: Any, name: str) -> dict[str, Any] | None:
    try:
        body = client.get_dashboard(DashboardName=name)["DashboardBody"]
    except is_boto3_error_code("ResourceNotFound"):
        return None
    return json.loads(body)


@_retry
def put_dashboard(client: Any, name: str, body: dict[str, Any]) -> None:
    client.put_dashboard(DashboardName=name, DashboardBody=json.dumps(body, sort_keys=True))


@_retry
def delete_dashboard(client: Any, name: str) -> None:
    client.delete_dashboards(DashboardNames=[name])


@_retry
def list_dashboards(client: Any, prefix: str = "") -> list[dict[str, Any]]:
    kwargs = {"DashboardNamePrefix": prefix} if prefix else {}
    return client.get_paginator("list_dashboards").paginate(**kwargs).build_full_result()["DashboardEntries"]


@_retry
def describe_alarms(client: Any, names: list[str]) -> dict[str, Any]:
    return client.describe_alarms(AlarmNames=names, AlarmTypes=["MetricAlarm", "CompositeAlarm"])
