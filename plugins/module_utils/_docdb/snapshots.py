# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A release's snapshots of the environment's database, whatever its kind: an RDS instance (DB snapshots), a
DocumentDB cluster (cluster snapshots) or a DocumentDB elastic cluster (elastic cluster snapshots). Each kind lists
its release snapshots (those tagged StageflowPromotion) in one shape - SnapshotId, Source, Started, Status - takes
one, and deletes one."""

from __future__ import annotations

import datetime
from typing import Any

from ansible_collections.stageflow.aws.plugins.module_utils._docdb import api as docdb_api
from ansible_collections.stageflow.aws.plugins.module_utils._docdb import elastic
from ansible_collections.stageflow.aws.plugins.module_utils._rds import api as rds_api

KINDS = ("instance", "docdb", "docdb-elastic")


class SnapshotError(Exception):
    """The database cannot be snapshotted as asked."""


RELEASE_TAG = "StageflowPromotion"


def client_name(kind: str) -> str:
    return "docdb-elastic" if kind == "docdb-elastic" else "rds"


def _tagged(tags: list[dict[str, str]] | dict[str, str]) -> bool:
    if isinstance(tags, dict):
        return RELEASE_TAG in tags
    return any(t.get("Key") == RELEASE_TAG for t in tags or [])


def _when(value: Any) -> Any:
    if isinstance(value, str):
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def snapshot_name(kind: str, database: str, promotion_id: str) -> str:
    """Named after the database, so that a deployer's policy can name its environment's snapshots; an elastic
    cluster's snapshot names are lowercase and at most 63 characters."""
    if kind != "docdb-elastic":
        return f"{database}-{promotion_id}"
    return elastic.snapshot_name(database, promotion_id)


def release_snapshots(client: Any, kind: str, database: str) -> list[dict[str, Any]]:
    """The release snapshots of `database`, each {SnapshotId, Source, Started, Status}."""
    found = []
    if kind == "instance":
        for s in rds_api.describe_db_snapshots(client, database):
            if _tagged(s.get("TagList")):
                found.append(
                    (s["DBSnapshotIdentifier"], s["DBInstanceIdentifier"], s.get("SnapshotCreateTime"), s["Status"])
                )
    elif kind == "docdb":
        for s in rds_api.describe_db_cluster_snapshots(client, database):
            tags = s.get("TagList")
            if tags is None:  # DescribeDBClusterSnapshots carries no tags: they are read per snapshot
                tags = rds_api.list_tags(client, s["DBClusterSnapshotArn"])
            if _tagged(tags):
                found.append(
                    (
                        s["DBClusterSnapshotIdentifier"],
                        s["DBClusterIdentifier"],
                        s.get("SnapshotCreateTime"),
                        s["Status"],
                    )
                )
    else:
        cluster = docdb_api.elastic_find(client, database)
        if cluster is None:
            return []
        # Listed per cluster; a release's is the one tagged StageflowPromotion (its name may be shortened to 63).
        for s in docdb_api.elastic_snapshots(client, cluster["clusterArn"]):
            if _tagged(docdb_api.elastic_tags(client, s["snapshotArn"])):
                status = "available" if s["status"] == "ACTIVE" else s["status"].lower()
                found.append((s["snapshotArn"], database, s.get("snapshotCreationTime"), status))
    return [{"SnapshotId": i, "Source": src, "Started": _when(t), "Status": st} for i, src, t, st in found]


def create(client: Any, kind: str, database: str, promotion_id: str, tags: dict[str, str]) -> dict[str, str]:
    """Takes the release's snapshot of `database`: {snapshot_id, status}."""
    name = snapshot_name(kind, database, promotion_id)
    if kind == "instance":
        made = rds_api.create_db_snapshot(client, database, name, tags)
        return {"snapshot_id": made["DBSnapshotIdentifier"], "status": made["Status"]}
    if kind == "docdb":
        made = rds_api.create_db_cluster_snapshot(client, database, name, tags)
        return {"snapshot_id": made["DBClusterSnapshotIdentifier"], "status": made["Status"]}
    cluster = docdb_api.elastic_find(client, database)
    if cluster is None:  # as RDS answers for a database that is not there: the release must not go on unprotected
        raise SnapshotError(f"the elastic cluster {database} does not exist; it cannot be snapshotted")
    made = docdb_api.elastic_snapshot(client, cluster["clusterArn"], name, tags)
    return {"snapshot_id": made["snapshotArn"], "status": made["status"].lower()}


def delete(client: Any, kind: str, snapshot_id: str) -> None:
    if kind == "instance":
        rds_api.delete_db_snapshot(client, snapshot_id)
    elif kind == "docdb":
        rds_api.delete_db_cluster_snapshot(client, snapshot_id)
    else:
        docdb_api.elastic_delete_snapshot(client, snapshot_id)
