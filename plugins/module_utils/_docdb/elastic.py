# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What stageflow.aws.docdb_elastic_cluster and docdb_elastic_cluster_info share: an elastic cluster read back in one
normalised shape."""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.stageflow.aws.plugins.module_utils._docdb import api

NAME = re.compile(r"[a-z](?!.*--)[a-z0-9-]{0,49}(?<!-)")
# Elastic clusters have no deletion protection in AWS: Stageflow keeps its setting as this tag and refuses to delete
# a cluster that carries it as "true".
PROTECTION_TAG = "DeletionProtection"


def view(cluster: dict[str, Any], tags: dict[str, str]) -> dict[str, Any]:
    return {
        "name": cluster["clusterName"],
        "arn": cluster["clusterArn"],
        "status": cluster["status"],
        "endpoint": cluster.get("clusterEndpoint"),
        "admin_user_name": cluster.get("adminUserName"),
        "auth_type": cluster.get("authType"),
        "shard_count": cluster.get("shardCount"),
        "shard_capacity": cluster.get("shardCapacity"),
        "shard_instance_count": cluster.get("shardInstanceCount"),
        "backup_retention_period": cluster.get("backupRetentionPeriod"),
        "preferred_backup_window": cluster.get("preferredBackupWindow"),
        "preferred_maintenance_window": cluster.get("preferredMaintenanceWindow"),
        "subnet_ids": sorted(cluster.get("subnetIds") or []),
        "vpc_security_group_ids": sorted(cluster.get("vpcSecurityGroupIds") or []),
        "shards": len(cluster.get("shards") or []),
        "deletion_protection": tags.get(PROTECTION_TAG) == "true",
        "tags": tags,
    }


SNAPSHOT_NAME_LENGTH = 63


def snapshot_name(base: str, suffix: str) -> str:
    """`<base>-<suffix>` in lower case, as an elastic cluster snapshot's name must be: at most 63 characters, the base
    shortened (and ended on a letter or digit) to make room for the suffix, which keeps the name unique."""
    suffix = suffix.lower()
    room = SNAPSHOT_NAME_LENGTH - len(suffix) - 1
    return f"{base.lower()[:room].rstrip('-')}-{suffix}"


def final_snapshot_name(cluster: str, stamp: str) -> str:
    return snapshot_name(cluster, f"final-{stamp}")


def read(elastic: Any, name: str) -> dict[str, Any] | None:
    cluster = api.elastic_find(elastic, name)
    if cluster is None:
        return None
    try:
        return view(cluster, api.elastic_tags(elastic, cluster["clusterArn"]))
    except is_boto3_error_code("ResourceNotFoundException"):  # deleted between the two reads
        return None
