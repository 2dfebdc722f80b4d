# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Amazon DocumentDB calls (the `docdb` client: RDS's API with Engine=docdb) and DocumentDB Elastic Clusters calls
(the `docdb-elastic` client), one small function each, retried on throttling."""

from __future__ import annotations

from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.stageflow.aws.plugins.module_utils.retries import aws_retry

# -- instance-based clusters ------------------------------------------------------------------------------------------


@aws_retry
def describe_cluster(docdb: Any, identifier: str) -> dict[str, Any] | None:
    try:
        found = docdb.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"]
    except is_boto3_error_code("DBClusterNotFoundFault"):
        return None
    return found[0] if found and found[0].get("Engine") == "docdb" else None


@aws_retry
def describe_clusters(docdb: Any) -> list[dict[str, Any]]:
    pages = docdb.get_paginator("describe_db_clusters").paginate(Filters=[{"Name": "engine", "Values": ["docdb"]}])
    return [c for c in pages.build_full_result()["DBClusters"] if c.get("Engine") == "docdb"]


@aws_retry
def describe_instances(docdb: Any, cluster: str) -> list[dict[str, Any]]:
    pages = docdb.get_paginator("describe_db_instances").paginate(
        Filters=[{"Name": "db-cluster-id", "Values": [cluster]}]
    )
    return pages.build_full_result()["DBInstances"]


@aws_retry
def list_tags(docdb: Any, arn: str) -> list[dict[str, str]]:
    return docdb.list_tags_for_resource(ResourceName=arn)["TagList"]


@aws_retry
def create_cluster(docdb: Any, **kwargs: Any) -> dict[str, Any]:
    return docdb.create_db_cluster(Engine="docdb", **kwargs)["DBCluster"]


@aws_retry
def modify_cluster(docdb: Any, identifier: str, **kwargs: Any) -> dict[str, Any]:
    return docdb.modify_db_cluster(DBClusterIdentifier=identifier, ApplyImmediately=True, **kwargs)["DBCluster"]


@aws_retry
def delete_cluster(docdb: Any, identifier: str, final_snapshot: str | None) -> None:
    if final_snapshot:
        docdb.delete_db_cluster(
            DBClusterIdentifier=identifier, SkipFinalSnapshot=False, FinalDBSnapshotIdentifier=final_snapshot
        )
    else:
        docdb.delete_db_cluster(DBClusterIdentifier=identifier, SkipFinalSnapshot=True)


@aws_retry
def create_instance(
    docdb: Any, identifier: str, cluster: str, instance_class: str, zone: str | None, tags: Any
) -> None:
    kwargs = {"AvailabilityZone": zone} if zone else {}
    docdb.create_db_instance(
        DBInstanceIdentifier=identifier,
        DBClusterIdentifier=cluster,
        Engine="docdb",
        DBInstanceClass=instance_class,
        Tags=tags,
        **kwargs,
    )


@aws_retry
def modify_instance(docdb: Any, identifier: str, instance_class: str) -> None:
    docdb.modify_db_instance(DBInstanceIdentifier=identifier, DBInstanceClass=instance_class, ApplyImmediately=True)


@aws_retry
def delete_instance(docdb: Any, identifier: str) -> None:
    docdb.delete_db_instance(DBInstanceIdentifier=identifier)


@aws_retry
def add_tags(docdb: Any, arn: str, tags: list[dict[str, str]]) -> None:
    docdb.add_tags_to_resource(ResourceName=arn, Tags=tags)


@aws_retry
def remove_tags(docdb: Any, arn: str, keys: list[str]) -> None:
    docdb.remove_tags_from_resource(ResourceName=arn, TagKeys=keys)


@aws_retry
def describe_subnet_group_zones(docdb: Any, name: str) -> list[str] | None:
    """The zones of a subnet group's subnets; None when there is no such group (yet: a check-mode plan)."""
    try:
        group = docdb.describe_db_subnet_groups(DBSubnetGroupName=name)["DBSubnetGroups"][0]
    except is_boto3_error_code("DBSubnetGroupNotFoundFault"):
        return None
    return sorted({s["SubnetAvailabilityZone"]["Name"] for s in group.get("Subnets") or []})


# -- elastic clusters -------------------------------------------------------------------------------------------------


def elastic_find(elastic: Any, name: str) -> dict[str, Any] | None:
    """The elastic cluster named `name` (GetCluster's view), or None; each call retried on its own."""
    for listed in elastic_list(elastic):
        if listed["clusterName"] == name:
            return elastic_get(elastic, listed["clusterArn"])
    return None


@aws_retry
def elastic_list(elastic: Any) -> list[dict[str, Any]]:
    return elastic.get_paginator("list_clusters").paginate().build_full_result().get("clusters", [])


@aws_retry
def elastic_get(elastic: Any, arn: str) -> dict[str, Any] | None:
    try:
        return elastic.get_cluster(clusterArn=arn)["cluster"]
    except is_boto3_error_code("ResourceNotFoundException"):
        return None


@aws_retry
def elastic_tags(elastic: Any, arn: str) -> dict[str, str]:
    return elastic.list_tags_for_resource(resourceArn=arn).get("tags") or {}


@aws_retry
def elastic_create(elastic: Any, **kwargs: Any) -> dict[str, Any]:
    return elastic.create_cluster(**kwargs)["cluster"]


@aws_retry
def elastic_update(elastic: Any, arn: str, **kwargs: Any) -> dict[str, Any]:
    return elastic.update_cluster(clusterArn=arn, **kwargs)["cluster"]


@aws_retry
def elastic_delete(elastic: Any, arn: str) -> None:
    elastic.delete_cluster(clusterArn=arn)


@aws_retry
def elastic_snapshot(elastic: Any, arn: str, name: str, tags: dict[str, str]) -> dict[str, Any]:
    return elastic.create_cluster_snapshot(clusterArn=arn, snapshotName=name, tags=tags)["snapshot"]


@aws_retry
def elastic_get_snapshot(elastic: Any, arn: str) -> dict[str, Any]:
    return elastic.get_cluster_snapshot(snapshotArn=arn)["snapshot"]


@aws_retry
def elastic_snapshots(elastic: Any, cluster_arn: str) -> list[dict[str, Any]]:
    pages = elastic.get_paginator("list_cluster_snapshots").paginate(clusterArn=cluster_arn)
    return pages.build_full_result().get("snapshots", [])


@aws_retry
def elastic_tag(elastic: Any, arn: str, tags: dict[str, str]) -> None:
    elastic.tag_resource(resourceArn=arn, tags=tags)


@aws_retry
def elastic_untag(elastic: Any, arn: str, keys: list[str]) -> None:
    elastic.untag_resource(resourceArn=arn, tagKeys=keys)


@aws_retry
def elastic_delete_snapshot(elastic: Any, arn: str) -> None:
    elastic.delete_cluster_snapshot(snapshotArn=arn)
