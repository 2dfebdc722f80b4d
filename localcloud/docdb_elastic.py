"""Amazon DocumentDB Elastic Clusters (the `docdb-elastic` REST API), which moto does not emulate at all.

A cluster is created CREATING and becomes ACTIVE after the rollout time (at most a second), as AWS's takes minutes;
an update is UPDATING for as long, a deletion DELETING before the cluster is gone. Snapshots are CREATING, then
ACTIVE. Each rule of the API reference the modules depend on is enforced with its error (docs/localcloud.md,
"DocumentDB Elastic Clusters"): the shard capacity (2, 4, 8, 16, 32 or 64 vCPUs), shard count (1 to 32), instances
per shard (1 to 16), backup retention (1 to 35 days), the cluster name and the admin user's name and password rules,
and a cluster that is not ACTIVE refuses updates, deletions and snapshots (ConflictException).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from moto.iam.models import get_account_id_from

from .errors import Answer
from .operations import operation_of

SIGNING_NAME = "docdb-elastic"
SHARD_CAPACITIES = (2, 4, 8, 16, 32, 64)
SHARD_COUNT = (1, 32)
SHARD_INSTANCE_COUNT = (1, 16)
BACKUP_RETENTION = (1, 35)
CLUSTER_NAME = re.compile(r"[a-z](?!.*--)[a-z0-9-]{0,49}(?<!-)")
ADMIN_USER = re.compile(r"[A-Za-z][A-Za-z0-9]{0,62}")
ADMIN_PASSWORD = re.compile(r"[\x20-\x7e]{8,100}")
PASSWORD_FORBIDDEN = re.compile(r'[/"@]')
_ERRORS = {  # code -> HTTP status, from the service model
    "ValidationException": "400 Bad Request",
    "ResourceNotFoundException": "404 Not Found",
    "ConflictException": "409 Conflict",
    "ServiceQuotaExceededException": "402 Payment Required",
}


class ElasticError(Exception):
    def __init__(self, code: str, message: str, **fields: str) -> None:
        super().__init__(message)
        self.code, self.message, self.fields = code, message, fields


@dataclass
class _Cluster:
    arn: str
    name: str
    params: dict[str, Any]
    created: str
    status: str = "CREATING"
    ready_at: float = 0.0
    next_status: str = "ACTIVE"
    tags: dict[str, str] = field(default_factory=dict)
    password_digest: str = ""


@dataclass
class _Snapshot:
    arn: str
    name: str
    cluster: _Cluster
    created: str
    snapshot_type: str = "MANUAL"
    ready_at: float = 0.0
    tags: dict[str, str] = field(default_factory=dict)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _between(params: dict[str, Any], name: str, bounds: tuple[int, int], problems: list[str]) -> None:
    value = params.get(name)
    if value is not None and not bounds[0] <= int(value) <= bounds[1]:
        problems.append(f"{name} must be between {bounds[0]} and {bounds[1]}, got {value}")


def _validate(params: dict[str, Any], creating: bool) -> None:
    """CreateCluster's and UpdateCluster's constraints, as the API reference states them."""
    problems: list[str] = []
    if creating and not CLUSTER_NAME.fullmatch(params.get("clusterName", "")):
        problems.append(
            "clusterName must be 1 to 50 lowercase letters, digits or hyphens, begin with a letter, and neither end "
            "with a hyphen nor contain two consecutive hyphens"
        )
    if creating and not ADMIN_USER.fullmatch(params.get("adminUserName", "")):
        problems.append("adminUserName must be 1 to 63 letters or digits and begin with a letter")
    password = params.get("adminUserPassword")
    if password is not None and (not ADMIN_PASSWORD.fullmatch(password) or PASSWORD_FORBIDDEN.search(password)):
        problems.append(
            "adminUserPassword must be 8 to 100 printable ASCII characters other than forward slash (/), double "
            'quote (") and the at sign (@)'
        )
    capacity = params.get("shardCapacity")
    if capacity is not None and int(capacity) not in SHARD_CAPACITIES:
        problems.append(f"shardCapacity must be one of {', '.join(map(str, SHARD_CAPACITIES))}, got {capacity}")
    _between(params, "shardCount", SHARD_COUNT, problems)
    _between(params, "shardInstanceCount", SHARD_INSTANCE_COUNT, problems)
    _between(params, "backupRetentionPeriod", BACKUP_RETENTION, problems)
    if params.get("authType") not in (None, "PLAIN_TEXT", "SECRET_ARN"):
        problems.append("authType must be PLAIN_TEXT or SECRET_ARN")
    if problems:
        raise ElasticError("ValidationException", "; ".join(problems), reason="fieldValidationFailed")


class DocdbElastic:
    """The clusters and snapshots of one local cloud, every account and region apart."""

    def __init__(self, settle_seconds: float = 3.0) -> None:
        self.settle_seconds = settle_seconds
        self._lock = threading.Lock()
        self.clusters: dict[str, _Cluster] = {}
        self.snapshots: dict[str, _Snapshot] = {}

    def reset(self) -> None:
        with self._lock:
            self.clusters.clear()
            self.snapshots.clear()

    # -- WSGI ----------------------------------------------------------------------------------------------------
    def answer(self, environ: dict[str, Any], body: bytes) -> Answer | None:
        """The answer to a docdb-elastic call; None for any other request."""
        operation = operation_of(environ, body)
        if operation is None or operation.signing_name != SIGNING_NAME:
            return None
        scope = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
        region = scope.group(1) if scope else "us-east-1"
        key = re.search(r"Credential=([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
        account = get_account_id_from(key.group(1) if key else "")
        handler = getattr(self, "_" + re.sub(r"(?<!^)(?=[A-Z])", "_", operation.name).lower(), None)
        try:
            if handler is None:
                raise ElasticError("ValidationException", f"{operation.name} is not emulated by the local cloud")
            with self._lock:
                self._settle()
                result = handler(dict(operation.params), f"{region}:{account}")
        except ElasticError as error:
            payload = json.dumps({"message": error.message, **error.fields}).encode()
            headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", error.code)]
            return _ERRORS[error.code], headers, payload
        return "200 OK", [("Content-Type", "application/json")], json.dumps(result).encode()

    # -- state ---------------------------------------------------------------------------------------------------
    def _settle(self) -> None:
        now = time.time()
        for arn, cluster in list(self.clusters.items()):
            if cluster.status in ("CREATING", "UPDATING", "DELETING") and now >= cluster.ready_at:
                if cluster.status == "DELETING":
                    del self.clusters[arn]
                else:
                    cluster.status = cluster.next_status
        for snapshot in self.snapshots.values():
            if snapshot.ready_at and now >= snapshot.ready_at:
                snapshot.ready_at = 0.0

    def _cluster(self, arn: str, where: str) -> _Cluster:
        cluster = self.clusters.get(unquote(arn))
        if cluster is None or not cluster.arn.split(":")[3:5] == where.split(":"):
            raise ElasticError(
                "ResourceNotFoundException",
                f"The specified cluster {arn} was not found.",
                resourceId=arn,
                resourceType="CLUSTER",
            )
        return cluster

    def _active(self, cluster: _Cluster, action: str) -> None:
        if cluster.status != "ACTIVE":
            raise ElasticError(
                "ConflictException",
                f"Cannot {action} cluster {cluster.name} in {cluster.status} state.",
                resourceId=cluster.arn,
                resourceType="CLUSTER",
            )

    def _view(self, cluster: _Cluster) -> dict[str, Any]:
        p, region = cluster.params, cluster.arn.split(":")[3]
        count = int(p["shardCount"])
        return {
            "adminUserName": p["adminUserName"],
            "authType": p["authType"],
            "backupRetentionPeriod": int(p.get("backupRetentionPeriod", 1)),
            "clusterArn": cluster.arn,
            "clusterEndpoint": f"{cluster.name}-{cluster.arn[-12:]}.{region}.docdb-elastic.amazonaws.com",
            "clusterName": cluster.name,
            "createTime": cluster.created,
            "kmsKeyId": p.get("kmsKeyId", "AWS_OWNED_KMS_KEY"),
            "preferredBackupWindow": p.get("preferredBackupWindow", "04:00-04:30"),
            "preferredMaintenanceWindow": p.get("preferredMaintenanceWindow", "sun:05:00-sun:05:30"),
            "shardCapacity": int(p["shardCapacity"]),
            "shardCount": count,
            "shardInstanceCount": int(p.get("shardInstanceCount", 2)),
            "shards": [
                {"createTime": cluster.created, "shardId": f"{cluster.arn[-8:]}-{n}", "status": cluster.status}
                for n in range(count)
            ],
            "status": cluster.status,
            "subnetIds": list(p.get("subnetIds") or []),
            "vpcSecurityGroupIds": list(p.get("vpcSecurityGroupIds") or []),
        }

    def _snapshot_view(self, snapshot: _Snapshot) -> dict[str, Any]:
        p = snapshot.cluster.params
        return {
            "adminUserName": p["adminUserName"],
            "clusterArn": snapshot.cluster.arn,
            "clusterCreationTime": snapshot.cluster.created,
            "kmsKeyId": p.get("kmsKeyId", "AWS_OWNED_KMS_KEY"),
            "snapshotArn": snapshot.arn,
            "snapshotCreationTime": snapshot.created,
            "snapshotName": snapshot.name,
            "snapshotType": snapshot.snapshot_type,
            "status": "CREATING" if snapshot.ready_at else "ACTIVE",
            "subnetIds": list(p.get("subnetIds") or []),
            "vpcSecurityGroupIds": list(p.get("vpcSecurityGroupIds") or []),
        }

    # -- operations ----------------------------------------------------------------------------------------------
    def _create_cluster(self, params: dict[str, Any], where: str) -> dict[str, Any]:
        for required in (
            "adminUserName",
            "adminUserPassword",
            "authType",
            "clusterName",
            "shardCapacity",
            "shardCount",
        ):
            if params.get(required) in (None, ""):
                raise ElasticError("ValidationException", f"{required} is required", reason="fieldValidationFailed")
        _validate(params, creating=True)
        region, account = where.split(":")
        if any(
            c.name == params["clusterName"] and c.arn.split(":")[3:5] == [region, account]
            for c in self.clusters.values()
        ):
            raise ElasticError(
                "ConflictException",
                f"Cluster {params['clusterName']} already exists.",
                resourceId=params["clusterName"],
                resourceType="CLUSTER",
            )
        arn = f"arn:aws:docdb-elastic:{region}:{account}:cluster/{uuid.uuid4()}"
        tags = dict(params.pop("tags", None) or {})
        # Only its digest is kept, for the tests' master_password_sha256; AWS answers the password nowhere.
        digest = hashlib.sha256(params.pop("adminUserPassword").encode()).hexdigest()
        cluster = _Cluster(arn, params["clusterName"], params, _now(), ready_at=time.time() + self.settle_seconds)
        cluster.password_digest = digest
        cluster.tags = tags
        self.clusters[arn] = cluster
        return {"cluster": self._view(cluster)}

    def _get_cluster(self, params: dict[str, Any], where: str) -> dict[str, Any]:
        return {"cluster": self._view(self._cluster(params["clusterArn"], where))}

    def _list_clusters(self, params: dict[str, Any], where: str) -> dict[str, Any]:
        region, account = where.split(":")
        found = [c for c in self.clusters.values() if c.arn.split(":")[3:5] == [region, account]]
        return {"clusters": [{"clusterArn": c.arn, "clusterName": c.name, "status": c.status} for c in found]}

    def _update_cluster(self, params: dict[str, Any], where: str) -> dict[str, Any]:
        cluster = self._cluster(params.pop("clusterArn"), where)
        self._active(cluster, "update")
        params.pop("clientToken", None)
        _validate(params, creating=False)
        if not params:
            raise ElasticError("ValidationException", "At least one parameter to update must be given.")
        password = params.pop("adminUserPassword", None)
        if password is not None:
            cluster.password_digest = hashlib.sha256(password.encode()).hexdigest()
        cluster.params.update(params)
        cluster.status, cluster.ready_at = "UPDATING", time.time() + self.settle_seconds
        return {"cluster": self._view(cluster)}

    def _delete_cluster(self, params: dict[str, Any], where: str) -> dict[str, Any]:
        cluster = self._cluster(params["clusterArn"], where)
        self._active(cluster, "delete")
        cluster.status, cluster.ready_at = "DELETING", time.time() + self.settle_seconds
        return {"cluster": self._view(cluster)}

    def _create_cluster_snapshot(self, params: dict[str, Any], where: str) -> dict[str, Any]:
        cluster = self._cluster(params["clusterArn"], where)
        self._active(cluster, "snapshot")
        name = params["snapshotName"]
        if not CLUSTER_NAME.fullmatch(name[:50]) or len(name) > 63:
            raise ElasticError(
                "ValidationException",
                "snapshotName must be 1 to 63 lowercase letters, digits or hyphens and begin with a letter",
            )
        region, account = where.split(":")
        if any(s.name == name and s.arn.split(":")[3:5] == [region, account] for s in self.snapshots.values()):
            raise ElasticError(
                "ConflictException", f"Snapshot {name} already exists.", resourceId=name, resourceType="SNAPSHOT"
            )
        arn = f"arn:aws:docdb-elastic:{region}:{account}:cluster-snapshot/{uuid.uuid4()}"
        snapshot = _Snapshot(arn, name, cluster, _now(), ready_at=time.time() + self.settle_seconds)
        snapshot.tags = dict(params.get("tags") or {})
        self.snapshots[arn] = snapshot
        return {"snapshot": self._snapshot_view(snapshot)}

    def _snapshot(self, arn: str) -> _Snapshot:
        snapshot = self.snapshots.get(unquote(arn))
        if snapshot is None:
            raise ElasticError(
                "ResourceNotFoundException",
                f"The specified snapshot {arn} was not found.",
                resourceId=arn,
                resourceType="SNAPSHOT",
            )
        return snapshot

    def _get_cluster_snapshot(self, params: dict[str, Any], where: str) -> dict[str, Any]:
        return {"snapshot": self._snapshot_view(self._snapshot(params["snapshotArn"]))}

    def _delete_cluster_snapshot(self, params: dict[str, Any], where: str) -> dict[str, Any]:
        snapshot = self._snapshot(params["snapshotArn"])
        del self.snapshots[snapshot.arn]
        return {"snapshot": self._snapshot_view(snapshot)}

    def _list_cluster_snapshots(self, params: dict[str, Any], where: str) -> dict[str, Any]:
        region, account = where.split(":")
        found = [
            s
            for s in self.snapshots.values()
            if s.arn.split(":")[3:5] == [region, account]
            and params.get("clusterArn") in (None, s.cluster.arn)
            and params.get("snapshotType", s.snapshot_type).upper() == s.snapshot_type
        ]
        return {
            "snapshots": [{k: v for k, v in self._snapshot_view(s).items() if k in _SNAPSHOT_IN_LIST} for s in found]
        }

    def _tagged(self, arn: str) -> _Cluster | _Snapshot:
        arn = unquote(arn)
        found = self.clusters.get(arn) or self.snapshots.get(arn)
        if found is None:
            raise ElasticError(
                "ResourceNotFoundException",
                f"The resource {arn} was not found.",
                resourceId=arn,
                resourceType="CLUSTER",
            )
        return found

    def _list_tags_for_resource(self, params: dict[str, Any], where: str) -> dict[str, Any]:
        return {"tags": dict(self._tagged(params["resourceArn"]).tags)}

    def _tag_resource(self, params: dict[str, Any], where: str) -> dict[str, Any]:
        self._tagged(params["resourceArn"]).tags.update(params.get("tags") or {})
        return {}

    def _untag_resource(self, params: dict[str, Any], where: str) -> dict[str, Any]:
        found = self._tagged(params["resourceArn"])
        for key in params.get("tagKeys") or []:
            found.tags.pop(key, None)
        return {}

    def snapshot_state(self) -> tuple[dict[str, _Cluster], dict[str, _Snapshot]]:
        """The clusters and snapshots, for a snapshot of the whole local cloud (localcloud/snapshots.py copies them)."""
        with self._lock:
            return self.clusters, self.snapshots

    def restore_state(self, state: tuple[dict[str, _Cluster], dict[str, _Snapshot]]) -> None:
        with self._lock:
            self.clusters, self.snapshots = dict(state[0]), dict(state[1])

    def age_snapshots(self, delta: Any) -> int:
        """Move every snapshot's creation time `delta` (a timedelta) back; how many were moved."""
        with self._lock:
            for snapshot in self.snapshots.values():
                taken = datetime.strptime(snapshot.created, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
                snapshot.created = (taken - delta).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            return len(self.snapshots)

    def tags_of(self, arn: str) -> dict[str, str]:
        """A cluster's or snapshot's tags, for the authorizer's aws:ResourceTag; empty when there is none."""
        with self._lock:
            found = self.clusters.get(arn) or self.snapshots.get(arn)
            return dict(found.tags) if found else {}


_SNAPSHOT_IN_LIST = ("clusterArn", "snapshotArn", "snapshotCreationTime", "snapshotName", "status")


def password_digest(name: str) -> str | None:
    """SHA-256 of the admin password the elastic cluster named `name` was created or last updated with."""
    return next((c.password_digest for c in list(emulator.clusters.values()) if c.name == name), None)


# The one emulator of the process, as moto's state is global: the server answers from it, the authorizer reads tags.
emulator = DocdbElastic()
