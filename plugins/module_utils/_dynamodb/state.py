# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployment lock and deployment records, in the DynamoDB tables of the deployment_state role.

Lock table: hash key `environment`, one item per held lock. Records table: hash key `environment`, range key
`started_at` (ISO 8601 UTC, so records sort by time). Both carry `expires_at` (epoch seconds), the tables' TTL.
"""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.stageflow.aws.plugins.module_utils._dynamodb import api


class StateError(Exception):
    """A lock held by someone else, or a record that cannot be written; the message says who and since when."""


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_dynamo(value: Any) -> Any:
    """Plain data -> what the DynamoDB resource API stores (numbers as Decimal, no empty strings in sets)."""
    return json.loads(json.dumps(value), parse_float=Decimal, parse_int=Decimal)


def from_dynamo(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_dynamo(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


# --- the lock ------------------------------------------------------------------------------------------------------


def get_lock(table: Any, environment: str) -> dict[str, Any] | None:
    item = api.get_item(table, {"environment": environment})
    return from_dynamo(item) if item else None


def describe_holder(lock: dict[str, Any]) -> str:
    return (
        f"held by {lock.get('owner')} (purpose: {lock.get('purpose') or '-'}) since {lock.get('acquired_at')}, "
        f"lease until {iso(datetime.datetime.fromtimestamp(int(lock.get('expires_at', 0)), datetime.timezone.utc))}, "
        f"lock id {lock.get('lock_id')}"
    )


def held_message(environment: str, holder: dict[str, Any] | None) -> str:
    return (
        f"the deployment lock of {environment} is {describe_holder(holder) if holder else 'held'}; "
        "wait for it, or force-release it with a reason if its run is dead"
    )


def renew_message(environment: str, lock_id: str, holder: dict[str, Any] | None) -> str:
    return f"cannot renew lock {lock_id} of {environment}: the lock is {describe_holder(holder) if holder else 'free'}"


def release_message(environment: str, lock_id: str, holder: dict[str, Any] | None) -> str:
    return (
        f"lock {lock_id} of {environment} is not held: the lock is "
        f"{describe_holder(holder) if holder else 'free'}; not releasing someone else's lock"
    )


def _put_if_free(table: Any, item: dict[str, Any], now: int) -> None:
    api.put_item(
        table,
        to_dynamo(item),
        ConditionExpression="attribute_not_exists(environment) OR expires_at < :now OR lock_id = :id",
        ExpressionAttributeValues={":now": now, ":id": item["lock_id"]},
    )


def acquire(table: Any, item: dict[str, Any], now: int) -> None:
    try:
        _put_if_free(table, item, now)
    except is_boto3_error_code("ConditionalCheckFailedException"):
        raise StateError(held_message(item["environment"], get_lock(table, item["environment"]))) from None


def _update_if_ours(table: Any, environment: str, lock_id: str, expires_at: int) -> None:
    api.update_item(
        table,
        {"environment": environment},
        UpdateExpression="SET expires_at = :exp",
        ConditionExpression="lock_id = :id",
        ExpressionAttributeValues={":exp": expires_at, ":id": lock_id},
    )


def renew(table: Any, environment: str, lock_id: str, expires_at: int) -> None:
    try:
        _update_if_ours(table, environment, lock_id, expires_at)
    except is_boto3_error_code("ConditionalCheckFailedException"):
        raise StateError(renew_message(environment, lock_id, get_lock(table, environment))) from None


def _delete_if_ours(table: Any, environment: str, lock_id: str) -> None:
    api.delete_item(
        table,
        {"environment": environment},
        ConditionExpression="lock_id = :id",
        ExpressionAttributeValues={":id": lock_id},
    )


def release(table: Any, environment: str, lock_id: str) -> None:
    try:
        _delete_if_ours(table, environment, lock_id)
    except is_boto3_error_code("ConditionalCheckFailedException"):
        raise StateError(release_message(environment, lock_id, get_lock(table, environment))) from None


def force_release(table: Any, environment: str) -> None:
    api.delete_item(table, {"environment": environment})


# --- records -------------------------------------------------------------------------------------------------------


def put_record(table: Any, record: dict[str, Any]) -> None:
    api.put_item(table, to_dynamo(record))


def query_records(table: Any, environment: str, limit: int) -> list[dict[str, Any]]:
    """Newest first, up to limit (0 for all)."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": "environment = :e",
        "ExpressionAttributeValues": {":e": environment},
        "ScanIndexForward": False,
    }
    while True:
        page = api.query(table, **kwargs)
        items.extend(from_dynamo(i) for i in page.get("Items", []))
        if (limit and len(items) >= limit) or "LastEvaluatedKey" not in page:
            return items[:limit] if limit else items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
