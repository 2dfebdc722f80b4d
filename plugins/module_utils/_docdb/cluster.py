# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What stageflow.aws.docdb_cluster and docdb_cluster_info share: DocumentDB's limits, the options' validation, and
a cluster and its instances read back in one normalised shape."""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.stageflow.aws.plugins.module_utils._docdb import api

# Amazon DocumentDB Developer Guide, "Instance class specifications" (engine 5.0): the burstable db.t3.medium and
# db.t4g.medium, and the memory-optimised r5, r6g, r6gd and r8g families. There is no micro or small class.
INSTANCE_CLASS = re.compile(
    r"db\.(t3\.medium|t4g\.medium|r5\.(large|[248]xlarge|1[26]xlarge|24xlarge)"
    r"|r6gd?\.(large|[248]xlarge|1[26]xlarge)|r8g\.(large|[248]xlarge|1[26]xlarge))"
)
INSTANCE_CLASSES_SAID = "db.t3.medium, db.t4g.medium, db.r5.*, db.r6g.*, db.r6gd.* or db.r8g.* (large to 16xlarge)"
IDENTIFIER = re.compile(r"[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,62}(?<!-)")
MASTER_USER = re.compile(r"[A-Za-z][A-Za-z0-9]{0,62}")
MAX_INSTANCES = 16  # a cluster's primary and up to 15 replicas
BACKUP_RETENTION = (1, 35)
WINDOW = re.compile(r"\d\d:\d\d-\d\d:\d\d")


def password_problem(option: str, password: str | None) -> str | None:
    if password is None:
        return None
    if (
        not 8 <= len(password) <= 100
        or not password.isascii()
        or not password.isprintable()
        or re.search(r'[/"@]', password)
    ):
        return f'{option} must be 8 to 100 printable ASCII characters other than /, " and @'
    return None


def validate(params: dict[str, Any]) -> list[str]:
    """Every problem with the options, each naming the option and what is allowed; empty when all is well."""
    problems = []
    identifier = params["identifier"]
    if not IDENTIFIER.fullmatch(identifier):
        problems.append(
            f"identifier {identifier!r} must be 1 to 63 letters, digits or hyphens, begin with a letter, and neither "
            "end with a hyphen nor contain two consecutive hyphens"
        )
    elif params["instances"] and len(f"{identifier}-{params['instances']}") > 63:
        problems.append(f"identifier {identifier!r} is too long for its instances' names ({identifier}-N, 63 at most)")
    if params["state"] == "absent":
        return problems
    instance_class = params["instance_class"]
    if instance_class is not None and not INSTANCE_CLASS.fullmatch(instance_class):
        problems.append(
            f"instance_class {instance_class!r} is not a DocumentDB instance class; use {INSTANCE_CLASSES_SAID}"
        )
    if not 0 <= params["instances"] <= MAX_INSTANCES:
        problems.append(
            f"instances must be 0 to {MAX_INSTANCES} (a primary and up to 15 replicas), got {params['instances']}"
        )
    retention = params["backup_retention_period"]
    if retention is not None and not BACKUP_RETENTION[0] <= retention <= BACKUP_RETENTION[1]:
        problems.append(f"backup_retention_period must be 1 to 35 days, got {retention}")
    window = params["preferred_backup_window"]
    if window is not None and not WINDOW.fullmatch(window):
        problems.append(f"preferred_backup_window must be hh24:mi-hh24:mi in UTC, like 03:00-03:30, got {window!r}")
    username = params["master_username"]
    if username is not None and not MASTER_USER.fullmatch(username):
        problems.append("master_username must be 1 to 63 letters or digits and begin with a letter")
    problem = password_problem("master_user_password", params["master_user_password"])
    if problem:
        problems.append(problem)
    return problems


def instance_view(instance: dict[str, Any], writer: str | None) -> dict[str, Any]:
    return {
        "identifier": instance["DBInstanceIdentifier"],
        "instance_class": instance.get("DBInstanceClass"),
        "availability_zone": instance.get("AvailabilityZone"),
        "status": instance.get("DBInstanceStatus"),
        "writer": instance["DBInstanceIdentifier"] == writer,
        "endpoint": (instance.get("Endpoint") or {}).get("Address"),
    }


def read(docdb: Any, identifier: str) -> dict[str, Any] | None:
    """The cluster, its instances (sorted by name) and tags; None when there is no DocumentDB cluster of that name."""
    cluster = api.describe_cluster(docdb, identifier)
    if cluster is None:
        return None
    return view(docdb, cluster)


def view(docdb: Any, cluster: dict[str, Any]) -> dict[str, Any]:
    members = cluster.get("DBClusterMembers") or []
    writer = next((m["DBInstanceIdentifier"] for m in members if m.get("IsClusterWriter")), None)
    instances = sorted(
        (instance_view(i, writer) for i in api.describe_instances(docdb, cluster["DBClusterIdentifier"])),
        key=lambda i: i["identifier"],
    )
    return {
        "identifier": cluster["DBClusterIdentifier"],
        "arn": cluster.get("DBClusterArn"),
        "status": cluster.get("Status"),
        "engine": cluster.get("Engine"),
        "engine_version": cluster.get("EngineVersion"),
        "endpoint": cluster.get("Endpoint"),
        "reader_endpoint": cluster.get("ReaderEndpoint"),
        "port": cluster.get("Port"),
        "master_username": cluster.get("MasterUsername"),
        "backup_retention_period": cluster.get("BackupRetentionPeriod"),
        "preferred_backup_window": cluster.get("PreferredBackupWindow"),
        "deletion_protection": bool(cluster.get("DeletionProtection")),
        "storage_encrypted": bool(cluster.get("StorageEncrypted")),
        "subnet_group_name": cluster.get("DBSubnetGroup"),
        "vpc_security_group_ids": sorted(g["VpcSecurityGroupId"] for g in cluster.get("VpcSecurityGroups") or []),
        "parameter_group_name": cluster.get("DBClusterParameterGroup"),
        "instances": instances,
        "availability_zones": sorted({i["availability_zone"] for i in instances if i["availability_zone"]}),
        "tags": boto3_tag_list_to_ansible_dict(api.list_tags(docdb, cluster["DBClusterArn"])),
    }
