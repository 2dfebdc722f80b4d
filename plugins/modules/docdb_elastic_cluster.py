#!/usr/bin/python
# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: docdb_elastic_cluster
short_description: Create, change or delete an Amazon DocumentDB elastic (sharded) cluster
version_added: 0.2.0
description:
  - Manages an Amazon DocumentDB Elastic Cluster, DocumentDB's sharded MongoDB-compatible database, by name. Neither
    amazon.aws nor community.aws manage elastic clusters.
  - An existing cluster's shard count, shard capacity, instances per shard, backup retention and windows, subnets,
    security groups and (with O(update_password=always)) password are changed with one C(UpdateCluster); its admin
    user name and authentication type cannot change, and asking to fails before any change.
  - Every option is validated before any AWS call. In check mode only read calls are made, and RV(plan) says what a
    real run would do.
  - Elastic clusters have no deletion protection in AWS and no final snapshot on deletion. With O(state=absent) the
    module first takes a snapshot named O(final_snapshot_name) and waits until it is complete, unless
    O(skip_final_snapshot=true); O(deletion_protection=true) (kept as the cluster's C(DeletionProtection) tag, which
    AWS does not enforce) makes the module refuse to delete it.
author:
  - Stageflow engineers (@stageflow)
options:
  name:
    description: The cluster's name, 1 to 50 lowercase letters, digits or hyphens, beginning with a letter.
    type: str
    required: true
  state:
    description: Whether the cluster exists.
    type: str
    choices: [present, absent]
    default: present
  shard_count:
    description: The number of shards, 1 to 32. Required to create the cluster.
    type: int
  shard_capacity:
    description: The vCPUs of each shard's instances. Required to create the cluster.
    type: int
    choices: [2, 4, 8, 16, 32, 64]
  shard_instance_count:
    description: Instances per shard, 1 to 16; above 1 each shard has replicas. When omitted, AWS's default (2).
    type: int
  admin_user_name:
    description: The admin user, 1 to 63 letters or digits beginning with a letter. Required to create the cluster.
    type: str
  admin_user_password:
    description:
      - The admin user's password, 8 to 100 printable ASCII characters other than C(/), C(") and C(@); with
        O(auth_type=SECRET_ARN), the ARN of the Secrets Manager secret holding it.
    type: str
  update_password:
    description: V(on_create) sets the password only when the cluster is created; V(always) on every run.
    type: str
    choices: [always, on_create]
    default: on_create
  auth_type:
    description: How the admin password is given.
    type: str
    choices: [PLAIN_TEXT, SECRET_ARN]
    default: PLAIN_TEXT
  subnet_ids:
    description: The subnets the cluster's endpoints are in. When omitted, an existing cluster's are left as they are.
    type: list
    elements: str
  vpc_security_group_ids:
    description: Its security groups. When omitted, an existing cluster's are left as they are.
    type: list
    elements: str
  backup_retention_period:
    description: Days of automated backups, 1 to 35.
    type: int
  preferred_backup_window:
    description: The daily backup window, C(hh24:mi-hh24:mi) in UTC.
    type: str
  preferred_maintenance_window:
    description: The weekly maintenance window, C(ddd:hh24:mi-ddd:hh24:mi) in UTC.
    type: str
  deletion_protection:
    description:
      - Refuse O(state=absent) while the cluster is tagged C(DeletionProtection=true). This is Stageflow's guard, kept
        as a tag; AWS does not enforce it.
      - When omitted, the tag is left as it is.
    type: bool
  skip_final_snapshot:
    description: With O(state=absent), delete without a snapshot first.
    type: bool
    default: false
  final_snapshot_name:
    description: The snapshot taken before deletion. By default C(<name>-final-<UTC time>).
    type: str
  wait:
    description: Wait until the cluster is C(ACTIVE) (or, when deleting, gone).
    type: bool
    default: true
  wait_timeout:
    description: How many seconds to wait.
    type: int
    default: 3600
notes:
  - The password is never returned and is C(no_log).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: A sharded database of two shards of 2 vCPUs, each with a replica
  stageflow.aws.docdb_elastic_cluster:
    name: prod-movie-app-db
    shard_count: 2
    shard_capacity: 2
    shard_instance_count: 2
    admin_user_name: movieapp
    admin_user_password: "{{ vault_docdb_password }}"
    subnet_ids: "{{ private_subnet_ids }}"
    vpc_security_group_ids: [sg-0123456789abcdef0]
    backup_retention_period: 30
    deletion_protection: true
    tags:
      Environment: prod
"""

RETURN = r"""
cluster:
  description: The cluster after the run; in check mode, what it would be. Empty when O(state=absent).
  returned: always
  type: dict
  contains:
    name:
      description: Its name.
      type: str
    arn:
      description: Its ARN (null for a cluster check mode would create).
      type: str
    status:
      description: Its status, C(ACTIVE) once ready.
      type: str
    endpoint:
      description: Its endpoint, where clients connect (port 27017).
      type: str
    shard_count:
      description: The number of shards.
      type: int
    shard_capacity:
      description: The vCPUs of each shard's instances.
      type: int
    shard_instance_count:
      description: Instances per shard.
      type: int
    backup_retention_period:
      description: Days of automated backups.
      type: int
    deletion_protection:
      description: Whether its C(DeletionProtection) tag is C(true).
      type: bool
    tags:
      description: Its tags.
      type: dict
plan:
  description:
    - The changes made or, in check mode, that would be made. Each has an C(action) (C(create), C(update), C(tag),
      C(untag), C(snapshot) or C(delete)) and a C(reason).
  returned: always
  type: list
  elements: dict
final_snapshot:
  description: The snapshot taken before deletion, C(name) and C(arn) (null in check mode).
  returned: when O(state=absent), a cluster existed and O(skip_final_snapshot=false)
  type: dict
"""

import re
from datetime import datetime, timezone

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags
from ansible_collections.stageflow.aws.plugins.module_utils._docdb import api
from ansible_collections.stageflow.aws.plugins.module_utils._docdb.cluster import MASTER_USER, password_problem
from ansible_collections.stageflow.aws.plugins.module_utils._docdb.elastic import (
    NAME,
    PROTECTION_TAG,
    final_snapshot_name,
    read,
)
from ansible_collections.stageflow.aws.plugins.module_utils._docdb.waiting import poll_until

SNAPSHOT_NAME = re.compile(r"[a-z](?!.*--)[a-z0-9-]{0,62}(?<!-)")

# option -> (the API's name, the bounds the API reference gives)
SETTINGS = {
    "shard_count": ("shardCount", (1, 32)),
    "shard_capacity": ("shardCapacity", None),
    "shard_instance_count": ("shardInstanceCount", (1, 16)),
    "backup_retention_period": ("backupRetentionPeriod", (1, 35)),
    "preferred_backup_window": ("preferredBackupWindow", None),
    "preferred_maintenance_window": ("preferredMaintenanceWindow", None),
}


class PlanError(Exception):
    """What was asked cannot be done to the cluster as it is; nothing has been changed."""


def validate(params):
    problems = []
    if not NAME.fullmatch(params["name"]):
        problems.append(
            f"name {params['name']!r} must be 1 to 50 lowercase letters, digits or hyphens, begin with a letter, and "
            "neither end with a hyphen nor contain two consecutive hyphens"
        )
    for option, (_aws, bounds) in SETTINGS.items():
        value = params[option]
        if bounds and value is not None and not bounds[0] <= value <= bounds[1]:
            problems.append(f"{option} must be {bounds[0]} to {bounds[1]}, got {value}")
    if params["admin_user_name"] is not None and not MASTER_USER.fullmatch(params["admin_user_name"]):
        problems.append("admin_user_name must be 1 to 63 letters or digits and begin with a letter")
    snapshot = params["final_snapshot_name"]
    if snapshot is not None and not SNAPSHOT_NAME.fullmatch(snapshot):
        problems.append(
            f"final_snapshot_name {snapshot!r} must be 1 to 63 lowercase letters, digits or hyphens, begin with a "
            "letter, and neither end with a hyphen nor contain two consecutive hyphens"
        )
    if params["auth_type"] == "PLAIN_TEXT":
        problem = password_problem("admin_user_password", params["admin_user_password"])
        if problem:
            problems.append(problem)
    return problems


def wanted_tags(params, current_tags):
    """The tags asked for, with the protection tag: deletion_protection's value, else the cluster's own (never purged
    by tags that leave it out)."""
    tags = None if params["tags"] is None else dict(params["tags"])
    if params["deletion_protection"] is not None:
        tags = dict(current_tags if tags is None else tags)
        tags[PROTECTION_TAG] = str(params["deletion_protection"]).lower()
    elif tags is not None and PROTECTION_TAG in current_tags:
        tags.setdefault(PROTECTION_TAG, current_tags[PROTECTION_TAG])
    return tags


def plan_present(params, current):
    if current is None:
        missing = [
            o for o in ("shard_count", "shard_capacity", "admin_user_name", "admin_user_password") if not params[o]
        ]
        if missing:
            raise PlanError(f"{', '.join(missing)} required to create the cluster")
        return [{"action": "create", "reason": "the cluster does not exist"}]
    for option in ("admin_user_name", "auth_type"):
        if params[option] is not None and params[option] != current[option]:
            raise PlanError(f"{option} cannot change on an existing cluster (it is {current[option]!r})")
    changes, reasons = {}, []
    for option, (aws, _bounds) in SETTINGS.items():
        if params[option] is not None and params[option] != current[option]:
            changes[aws] = params[option]
            reasons.append(f"{option} is {current[option]}, asked {params[option]}")
    for option, aws in (("subnet_ids", "subnetIds"), ("vpc_security_group_ids", "vpcSecurityGroupIds")):
        if params[option] is not None and sorted(params[option]) != current[option]:
            changes[aws] = sorted(params[option])
            reasons.append(f"{option} are {current[option]}")
    if params["update_password"] == "always" and params["admin_user_password"]:
        changes["adminUserPassword"] = "********"
        reasons.append("update_password=always")
    steps = [{"action": "update", "changes": changes, "reason": "; ".join(reasons)}] if changes else []
    tags = wanted_tags(params, current["tags"])
    if tags is not None:
        to_set, to_unset = compare_aws_tags(current["tags"], tags, params["purge_tags"])
        if to_set:
            steps.append({"action": "tag", "tags": to_set, "reason": f"tags {sorted(to_set)} are missing or differ"})
        if to_unset:
            steps.append({"action": "untag", "tag_keys": sorted(to_unset), "reason": "not in tags (purge_tags=true)"})
    return steps


def expected(params, current, steps):
    after = dict(current or {"name": params["name"], "arn": None, "status": "CREATING", "tags": {}})
    after["status"] = after["status"] if not steps else ("CREATING" if current is None else "UPDATING")
    for option in SETTINGS:
        if params[option] is not None:
            after[option] = params[option]
    tags = wanted_tags(params, after["tags"])
    if tags is not None:
        to_set, to_unset = compare_aws_tags(after["tags"], tags, params["purge_tags"])
        after["tags"] = {k: v for k, v in {**after["tags"], **to_set}.items() if k not in to_unset}
    after["deletion_protection"] = after["tags"].get(PROTECTION_TAG) == "true"
    return after


def wait_until(module, what, poll):
    found, done = poll_until(poll, module.params["wait_timeout"])
    if not done:
        module.fail_json(
            msg=f"DocumentDB elastic cluster {module.params['name']}: {what} within {module.params['wait_timeout']}s",
            cluster=found or {},
        )
    return found


def apply(module, elastic, current, steps, done):
    params = module.params
    arn = current["arn"] if current else None
    for step in steps:
        action = step["action"]
        if action == "create":
            kwargs = {
                "clusterName": params["name"],
                "adminUserName": params["admin_user_name"],
                "adminUserPassword": params["admin_user_password"],
                "authType": params["auth_type"],
                "tags": wanted_tags(params, {}) or {},
            }
            for option, (aws, _bounds) in SETTINGS.items():
                if params[option] is not None:
                    kwargs[aws] = params[option]
            for option, aws in (("subnet_ids", "subnetIds"), ("vpc_security_group_ids", "vpcSecurityGroupIds")):
                if params[option] is not None:
                    kwargs[aws] = params[option]
            arn = api.elastic_create(elastic, **kwargs)["clusterArn"]
        elif action == "update":
            changes = dict(step["changes"])
            if "adminUserPassword" in changes:
                changes["adminUserPassword"] = params["admin_user_password"]
            api.elastic_update(elastic, arn, **changes)
        elif action == "tag":
            api.elastic_tag(elastic, arn, step["tags"])
        elif action == "untag":
            api.elastic_untag(elastic, arn, step["tag_keys"])
        elif action == "snapshot":
            made = api.elastic_snapshot(elastic, arn, step["name"], current["tags"])
            step["arn"] = made["snapshotArn"]
            wait_until(
                module,
                f"the final snapshot {step['name']} did not complete",
                lambda arn=made["snapshotArn"]: (None, api.elastic_get_snapshot(elastic, arn)["status"] == "ACTIVE"),
            )
        elif action == "delete":
            api.elastic_delete(elastic, arn)
        done.append(step)


def run(module, elastic, done):
    params = module.params
    current = read(elastic, params["name"])
    if params["state"] == "absent":
        if current is None:
            return False, None, None, [], None
        if current["deletion_protection"]:
            raise PlanError(
                f"it is tagged {PROTECTION_TAG}=true; set deletion_protection false first. Nothing was removed"
            )
        if current["status"] == "DELETING":  # a run killed mid-deletion: this one waits for it
            if params["wait"] and not module.check_mode:
                wait_until(module, "the cluster was not deleted", lambda: (None, read(elastic, params["name"]) is None))
            return True, current, None, [], None
        if current["status"] != "ACTIVE":
            raise PlanError(f"it is {current['status']}, and AWS deletes only an ACTIVE cluster. Nothing was removed")
        steps, snapshot = [], None
        if not params["skip_final_snapshot"]:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
            snapshot = {
                "name": params["final_snapshot_name"] or final_snapshot_name(params["name"], stamp),
                "arn": None,
            }
            steps.append({"action": "snapshot", "name": snapshot["name"], "reason": "the data is kept before deletion"})
        steps.append({"action": "delete", "reason": "state=absent"})
        if not module.check_mode:
            apply(module, elastic, current, steps, done)
            if snapshot:
                snapshot["arn"] = steps[0]["arn"]
            if params["wait"]:
                wait_until(module, "the cluster was not deleted", lambda: (None, read(elastic, params["name"]) is None))
        return True, current, None, steps, snapshot

    if current is not None and current["status"] == "DELETING":
        raise PlanError("it is being deleted (a teardown's); run again once it is gone, and it is created anew")
    steps = plan_present(params, current)

    def active():
        cluster = read(elastic, params["name"])
        return cluster, bool(cluster and cluster["status"] == "ACTIVE")

    busy = current is not None and current["status"] != "ACTIVE"
    if steps and busy and not (module.check_mode or params["wait"]):
        raise PlanError(
            f"it is {current['status']}, and AWS changes only an ACTIVE cluster; run again once it is ACTIVE"
        )
    if module.check_mode:
        return bool(steps), current, expected(params, current, steps), steps, None
    if busy and params["wait"]:  # an earlier (killed) run's creation or update: wait for it before changing more
        current = wait_until(module, f"the cluster stayed {current['status']}", active)
        steps = plan_present(params, current)
    if not steps:
        return False, current, current, [], None
    apply(module, elastic, current, steps, done)
    if not params["wait"]:
        return True, current, read(elastic, params["name"]), steps, None
    return True, current, wait_until(module, "the cluster did not become ACTIVE", active), steps, None


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            shard_count=dict(type="int"),
            shard_capacity=dict(type="int", choices=[2, 4, 8, 16, 32, 64]),
            shard_instance_count=dict(type="int"),
            admin_user_name=dict(type="str"),
            admin_user_password=dict(type="str", no_log=True),
            update_password=dict(type="str", choices=["always", "on_create"], default="on_create", no_log=False),
            auth_type=dict(type="str", choices=["PLAIN_TEXT", "SECRET_ARN"], default="PLAIN_TEXT"),
            subnet_ids=dict(type="list", elements="str"),
            vpc_security_group_ids=dict(type="list", elements="str"),
            backup_retention_period=dict(type="int"),
            preferred_backup_window=dict(type="str"),
            preferred_maintenance_window=dict(type="str"),
            deletion_protection=dict(type="bool"),
            skip_final_snapshot=dict(type="bool", default=False),
            final_snapshot_name=dict(type="str"),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=3600),
            tags=dict(type="dict", aliases=["resource_tags"]),
            purge_tags=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    problems = validate(module.params)
    if problems:
        module.fail_json(msg="Invalid options: " + "; ".join(problems), problems=problems)
    elastic = module.client("docdb-elastic")
    done = []
    name = module.params["name"]
    try:
        changed, before, after, steps, snapshot = run(module, elastic, done)
    except PlanError as exc:
        module.fail_json(msg=f"DocumentDB elastic cluster {name}: {exc}")
    except (BotoCoreError, ClientError) as exc:
        if done:
            message = f"DocumentDB elastic cluster {name}: a call failed after: " + ", ".join(s["action"] for s in done)
        else:
            message = f"DocumentDB elastic cluster {name} could not be read or changed; nothing was changed"
        module.fail_json_aws(exc, msg=message, done=done)

    result = {"changed": changed, "cluster": after or {}, "plan": steps}
    if snapshot is not None:
        result["final_snapshot"] = snapshot
    if module._diff:
        keep = ("shard_count", "shard_capacity", "shard_instance_count", "backup_retention_period", "tags")
        result["diff"] = {
            "before": {k: (before or {}).get(k) for k in keep} if before else {},
            "after": {k: (after or {}).get(k) for k in keep} if after else {},
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
