# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RDS snapshot calls, one small function each, retried on throttling."""

from __future__ import annotations

from typing import Any

from ansible_collections.stageflow.aws.plugins.module_utils.retries import aws_retry


@aws_retry
def describe_db_snapshots(rds: Any, db_instance: str) -> list[dict[str, Any]]:
    pages = rds.get_paginator("describe_db_snapshots").paginate(DBInstanceIdentifier=db_instance, SnapshotType="manual")
    return pages.build_full_result()["DBSnapshots"]


@aws_retry
def create_db_snapshot(rds: Any, db_instance: str, snapshot_id: str, tags: dict[str, str]) -> dict[str, Any]:
    return rds.create_db_snapshot(
        DBInstanceIdentifier=db_instance,
        DBSnapshotIdentifier=snapshot_id,
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )["DBSnapshot"]


@aws_retry
def delete_db_snapshot(rds: Any, snapshot_id: str) -> None:
    rds.delete_db_snapshot(DBSnapshotIdentifier=snapshot_id)


@aws_retry
def describe_db_cluster_snapshots(rds: Any, cluster: str) -> list[dict[str, Any]]:
    pages = rds.get_paginator("describe_db_cluster_snapshots").paginate(
        DBClusterIdentifier=cluster, SnapshotType="manual"
    )
    return pages.build_full_result()["DBClusterSnapshots"]


@aws_retry
def list_tags(rds: Any, arn: str) -> list[dict[str, str]]:
    return rds.list_tags_for_resource(ResourceName=arn)["TagList"]


@aws_retry
def create_db_cluster_snapshot(rds: Any, cluster: str, snapshot_id: str, tags: dict[str, str]) -> dict[str, Any]:
    return rds.create_db_cluster_snapshot(
        DBClusterIdentifier=cluster,
        DBClusterSnapshotIdentifier=snapshot_id,
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )["DBClusterSnapshot"]


@aws_retry
def delete_db_cluster_snapshot(rds: Any, snapshot_id: str) -> None:
    rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=snapshot_id)
