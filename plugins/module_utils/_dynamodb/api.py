# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DynamoDB table calls (boto3's Table resource), one small function each, retried on throttling."""

from __future__ import annotations

from typing import Any

from ansible_collections.stageflow.aws.plugins.module_utils.retries import aws_retry


@aws_retry
def get_item_response(table: Any, key: dict[str, Any]) -> dict[str, Any]:
    """The whole answer: the item and the response metadata (its Date header is DynamoDB's clock)."""
    return table.get_item(Key=key, ConsistentRead=True)


def get_item(table: Any, key: dict[str, Any]) -> dict[str, Any] | None:
    return get_item_response(table, key).get("Item")


@aws_retry
def put_item(table: Any, item: dict[str, Any], **conditions: Any) -> None:
    table.put_item(Item=item, **conditions)


@aws_retry
def update_item(table: Any, key: dict[str, Any], **update: Any) -> None:
    table.update_item(Key=key, **update)


@aws_retry
def delete_item(table: Any, key: dict[str, Any], **conditions: Any) -> None:
    table.delete_item(Key=key, **conditions)


@aws_retry
def query(table: Any, **kwargs: Any) -> dict[str, Any]:
    return table.query(**kwargs)
