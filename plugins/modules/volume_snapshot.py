#!/usr/bin/python
# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: volume_snapshot
short_description: Snapshot every EBS volume and the database of an environment before a release, and prune old ones
version_added: 0.1.0
description:
  - Snapshots every EBS volume that matches O(filters) - all of them, not the first one found - and tags each
    snapshot with the environment, the promotion id, the reason and C(ManagedBy=stageflow).
  - With O(database), also snapshots that RDS instance (C(<database>-<promotion_id>), tagged the same), in the same
    call.
  - Prunes the snapshots Stageflow made for the environment (the volumes' and the database's release snapshots, tagged
    C(StageflowPromotion)) that are older than O(retention_days), keeping at least the newest O(keep_at_least)
    completed ones per volume and per database whatever their age. Only completed snapshots (EBS C(completed), RDS
    C(available)) are counted or pruned; one still being taken - this call's own among them - is never counted as
    kept and never deleted. Snapshots it did not make (a teardown's final snapshot, AWS Backup's) are never touched.
  - In check mode it lists the volumes it would snapshot and the snapshots it would prune.
author:
  - Stageflow engineers (@stageflow)
options:
  environment:
    description: The environment; the default filter and the snapshots' C(Environment) tag.
    type: str
    required: true
  filters:
    description:
      - EC2 DescribeVolumes filters. By default C(tag:Environment=<environment>).
    type: dict
  promotion_id:
    description: The promotion (or deploy) the snapshots belong to; tagged as C(StageflowPromotion).
    type: str
    required: true
  reason:
    description: Why the snapshots are taken; tagged as C(StageflowReason) and put in the description.
    type: str
    default: before promotion
  snapshot:
    description: Take the snapshots. V(false) only prunes.
    type: bool
    default: true
  wait:
    description: Wait until every snapshot is C(completed).
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait for the snapshots.
    type: int
    default: 1800
  retention_days:
    description: Stageflow snapshots of the environment older than this are pruned. 0 prunes nothing.
    type: int
    default: 0
  keep_at_least:
    description:
      - Always keep this many of the newest completed Stageflow snapshots per volume and per database; at least 1.
    type: int
    default: 3
  database:
    description:
      - A database to snapshot as well, and whose Stageflow release snapshots are pruned by the same rule; of the kind
        O(database_kind).
    type: str
  database_kind:
    description:
      - What O(database) is. V(instance) is an RDS instance (a DB snapshot), V(docdb) an Amazon DocumentDB cluster (a
        cluster snapshot), V(docdb-elastic) a DocumentDB elastic cluster by name (an elastic cluster snapshot, its name
        lowercase and at most 63 characters).
    type: str
    choices: [instance, docdb, docdb-elastic]
    default: instance
  tags:
    description: More tags for the snapshots.
    type: dict
    default: {}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Supports check mode and diff (the snapshots it prunes and the volumes it snapshots).
"""

EXAMPLES = r"""
- name: Snapshot prod's volumes before the promotion, and prune per the snapshot policy
  stageflow.aws.volume_snapshot:
    environment: prod
    promotion_id: "{{ promotion_id }}"
    reason: promote staging -> prod
    retention_days: 30
    keep_at_least: 3
"""

RETURN = r"""
volumes:
  description: The volumes that matched.
  returned: always
  type: list
  elements: str
snapshots:
  description: The snapshots taken (or, in check mode, planned), with volume, snapshot id and state.
  returned: always
  type: list
  elements: dict
pruned:
  description:
    - The snapshots deleted (or, in check mode, that would be), with their volume (or database) and start time.
  returned: always
  type: list
  elements: dict
database_snapshot:
  description: The database snapshot taken (or planned), its id and status; empty without O(database).
  returned: always
  type: dict
"""

import datetime
import time

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.transformation import ansible_dict_to_boto3_filter_list
from ansible_collections.stageflow.aws.plugins.module_utils._docdb import snapshots as database_snapshots
from ansible_collections.stageflow.aws.plugins.module_utils._ec2 import api


def prune_plan(snapshots, retention_days, keep_at_least, now, source="VolumeId", started="StartTime"):
    """Completed snapshots older than retention, beyond the newest keep_at_least (at least 1) completed ones per
    source (a volume, or a database: source="DBInstanceIdentifier", started="SnapshotCreateTime"). A snapshot still
    being taken is neither counted nor pruned."""
    if retention_days <= 0:
        return []
    cutoff = now - datetime.timedelta(days=retention_days)
    by_source = {}
    for snap in snapshots:
        if snap.get("State", snap.get("Status")) in ("completed", "available") and snap.get(started):
            by_source.setdefault(snap[source], []).append(snap)
    doomed = []
    for snaps in by_source.values():
        snaps.sort(key=lambda s: s[started], reverse=True)
        doomed.extend(s for s in snaps[max(1, keep_at_least) :] if s[started] < cutoff)
    return doomed


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            environment=dict(type="str", required=True),
            filters=dict(type="dict"),
            promotion_id=dict(type="str", required=True),
            reason=dict(type="str", default="before promotion"),
            snapshot=dict(type="bool", default=True),
            wait=dict(type="bool", default=False),
            wait_timeout=dict(type="int", default=1800),
            retention_days=dict(type="int", default=0),
            keep_at_least=dict(type="int", default=3),
            database=dict(type="str"),
            database_kind=dict(type="str", choices=list(database_snapshots.KINDS), default="instance"),
            tags=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["retention_days"] < 0:
        module.fail_json(msg=f"retention_days must be >= 0 (0 prunes nothing), got {p['retention_days']}")
    if p["keep_at_least"] < 1:
        module.fail_json(
            msg=f"keep_at_least must be >= 1 (every volume and database keeps a completed snapshot), got {p['keep_at_least']}"
        )
    env = p["environment"]
    filters = p["filters"] if p["filters"] is not None else {"tag:Environment": env}
    ec2 = module.client("ec2")
    result = {"changed": False, "volumes": [], "snapshots": [], "pruned": [], "database_snapshot": {}}
    try:
        volumes = api.describe_volumes(ec2, Filters=ansible_dict_to_boto3_filter_list(filters))
        result["volumes"] = sorted(v["VolumeId"] for v in volumes)
        ours = api.describe_snapshots(
            ec2,
            OwnerIds=["self"],
            Filters=ansible_dict_to_boto3_filter_list({"tag:ManagedBy": "stageflow", "tag:Environment": env}),
        )
        now = datetime.datetime.now(datetime.timezone.utc)
        doomed = prune_plan(ours, p["retention_days"], p["keep_at_least"], now)
        kind = p["database_kind"]
        rds = module.client(database_snapshots.client_name(kind)) if p["database"] else None
        database_doomed = (
            prune_plan(
                database_snapshots.release_snapshots(rds, kind, p["database"]),
                p["retention_days"],
                p["keep_at_least"],
                now,
                source="Source",
                started="Started",
            )
            if rds
            else []
        )
        tags = {
            **p["tags"],
            "Environment": env,
            "ManagedBy": "stageflow",
            "StageflowPromotion": p["promotion_id"],
            "StageflowReason": p["reason"],
        }
        if p["snapshot"]:
            for volume_id in result["volumes"]:
                entry = {"volume_id": volume_id, "snapshot_id": "", "state": "planned"}
                if not module.check_mode:
                    made = api.create_snapshot(
                        ec2, volume_id, f"Stageflow {env} {p['promotion_id']}: {p['reason']}", tags
                    )
                    entry.update(snapshot_id=made["SnapshotId"], state=made["State"])
                result["snapshots"].append(entry)
            if rds:
                name = database_snapshots.snapshot_name(kind, p["database"], p["promotion_id"])
                made = {"snapshot_id": name, "status": "planned"}
                if not module.check_mode:
                    made = database_snapshots.create(rds, kind, p["database"], p["promotion_id"], tags)
                result["database_snapshot"] = made
        for snap in database_doomed:
            if not module.check_mode:
                database_snapshots.delete(rds, kind, snap["SnapshotId"])
            result["pruned"].append(
                {"snapshot_id": snap["SnapshotId"], "database": snap["Source"], "started": str(snap["Started"])}
            )
        for snap in doomed:
            if not module.check_mode:
                api.delete_snapshot(ec2, snap["SnapshotId"])
            result["pruned"].append(
                {"snapshot_id": snap["SnapshotId"], "volume_id": snap["VolumeId"], "started": str(snap["StartTime"])}
            )
        result["changed"] = bool(result["snapshots"] or result["pruned"] or result["database_snapshot"])
        if p["wait"] and not module.check_mode and result["snapshots"]:
            ids = [s["snapshot_id"] for s in result["snapshots"]]
            deadline = time.monotonic() + p["wait_timeout"]
            while True:
                states = {s["SnapshotId"]: s["State"] for s in api.describe_snapshots(ec2, SnapshotIds=ids)}
                for entry in result["snapshots"]:
                    entry["state"] = states.get(entry["snapshot_id"], "missing")
                if any(s in ("error", "missing") for s in states.values()) or len(states) < len(ids):
                    module.fail_json(msg=f"snapshot(s) of {env} failed: {states}", **result)
                if all(s == "completed" for s in states.values()):
                    break
                if time.monotonic() >= deadline:
                    module.fail_json(
                        msg=f"snapshots of {env} not completed after {p['wait_timeout']}s: {states}", **result
                    )
                time.sleep(5)
    except database_snapshots.SnapshotError as exc:
        module.fail_json(msg=f"the database of {env} could not be snapshotted: {exc}", **result)
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg=f"the volumes or database of {env} could not be snapshotted or pruned", **result)
    if module._diff:
        result["diff"] = {
            "before": {"volumes": result["volumes"], "pruned": []},
            "after": {
                "volumes": result["volumes"],
                "pruned": [s["snapshot_id"] for s in result["pruned"]],
                "new_snapshots_of": [s["volume_id"] for s in result["snapshots"]],
            },
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
