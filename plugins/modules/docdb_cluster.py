#!/usr/bin/python
# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: docdb_cluster
short_description: Create, change or delete an Amazon DocumentDB instance-based cluster and its instances
version_added: 0.2.0
description:
  - Manages an Amazon DocumentDB (with MongoDB compatibility) instance-based cluster and the instances in it, named
    C(<identifier>-1) to C(<identifier>-N). Neither amazon.aws nor community.aws manage DocumentDB.
  - One instance is a single node; two or more make a replica set, the first the primary and the others replicas,
    placed round-robin over O(availability_zones) (by default the subnet group's zones), so that a replica is in
    another zone than the primary.
  - An existing cluster's backup retention and window, deletion protection, security groups, parameter group and
    (with O(update_password=always)) password are changed in place, its instances' class one by one, and instances
    are added or removed (the highest numbers first; the writer is never removed). A change AWS cannot make in place
    (the master user name, encryption, the subnet group) fails before any change.
  - Every option is validated before any AWS call. In check mode only read calls are made, and RV(plan) says what a
    real run would do.
  - O(state=absent) deletes the instances, then the cluster with a final snapshot named O(final_snapshot_identifier)
    unless O(skip_final_snapshot=true). A cluster with deletion protection is not deleted, and nothing is removed.
author:
  - Stageflow engineers (@stageflow)
options:
  identifier:
    description: The cluster's identifier, 1 to 63 letters, digits or hyphens beginning with a letter.
    type: str
    required: true
    aliases: [db_cluster_identifier]
  state:
    description: Whether the cluster exists.
    type: str
    choices: [present, absent]
    default: present
  instances:
    description:
      - How many instances the cluster has; V(1) is a single node, V(2) or more a primary and replicas.
      - V(0) leaves a cluster without instances (storage and backups only).
    type: int
    default: 1
  instance_class:
    description:
      - The instances' class. DocumentDB offers C(db.t3.medium), C(db.t4g.medium) and the C(db.r5), C(db.r6g),
        C(db.r6gd) and C(db.r8g) families; it has no micro or small class.
      - Required when O(instances) is above 0 and the cluster is created or an instance added.
    type: str
  availability_zones:
    description:
      - The zones the instances are placed in, round-robin in this order. By default the zones of O(subnet_group_name).
      - An existing instance is never moved.
    type: list
    elements: str
  engine_version:
    description: The DocumentDB engine version, for example C(5.0.0). By default AWS's current default. Used on create.
    type: str
  master_username:
    description: The admin user, 1 to 63 letters or digits beginning with a letter. Required to create the cluster.
    type: str
  master_user_password:
    description:
      - The admin user's password, 8 to 100 printable ASCII characters other than C(/), C(") and C(@). Required to
        create the cluster.
    type: str
  update_password:
    description: V(on_create) sets the password only when the cluster is created; V(always) sets it on every run.
    type: str
    choices: [always, on_create]
    default: on_create
  subnet_group_name:
    description: The DB subnet group the cluster lives in. Used on create; it cannot change afterwards.
    type: str
  vpc_security_group_ids:
    description: The security groups of the cluster. When omitted, an existing cluster's are left as they are.
    type: list
    elements: str
  port:
    description: The port the cluster listens on. Used on create.
    type: int
    default: 27017
  parameter_group_name:
    description:
      - The cluster parameter group. C(default.docdb5.0) requires TLS, which the connection string then names.
      - When omitted, an existing cluster's is left as it is.
    type: str
  backup_retention_period:
    description: Days of automated backups, 1 to 35. When omitted, AWS's default (1) on create, unchanged after.
    type: int
  preferred_backup_window:
    description: The daily backup window, C(hh24:mi-hh24:mi) in UTC. When omitted, AWS picks one.
    type: str
  storage_encrypted:
    description: Whether the cluster's storage is encrypted. It cannot change after the cluster is created.
    type: bool
    default: true
  deletion_protection:
    description: Whether AWS refuses to delete the cluster. When omitted, an existing cluster's is left as it is.
    type: bool
  skip_final_snapshot:
    description: With O(state=absent), delete without a final snapshot.
    type: bool
    default: false
  final_snapshot_identifier:
    description:
      - The final snapshot's identifier with O(state=absent). By default C(<identifier>-final-<UTC time>).
    type: str
  wait:
    description: Wait until the cluster and its instances are available (or, when deleting, gone).
    type: bool
    default: true
  wait_timeout:
    description: How many seconds to wait.
    type: int
    default: 1800
notes:
  - The password is never returned and is C(no_log).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: A replica set of a primary and a replica in another zone
  stageflow.aws.docdb_cluster:
    identifier: staging-movie-app-db
    instances: 2
    instance_class: db.t3.medium
    master_username: movieapp
    master_user_password: "{{ vault_docdb_password }}"
    subnet_group_name: staging-movie-app-db
    vpc_security_group_ids: [sg-0123456789abcdef0]
    backup_retention_period: 7
    deletion_protection: false
    tags:
      Environment: staging

- name: Delete it, keeping a final snapshot
  stageflow.aws.docdb_cluster:
    identifier: staging-movie-app-db
    state: absent
"""

RETURN = r"""
cluster:
  description:
    - The cluster after the run; in check mode, what it would be (without what only AWS can say, such as its
      endpoint). Empty when O(state=absent).
  returned: always
  type: dict
  contains:
    identifier:
      description: The cluster's identifier.
      type: str
    arn:
      description: Its ARN.
      type: str
    status:
      description: Its status, C(available) once ready.
      type: str
    endpoint:
      description: The writer's endpoint.
      type: str
    reader_endpoint:
      description: The readers' endpoint.
      type: str
    port:
      description: The port.
      type: int
    engine_version:
      description: The engine version.
      type: str
    backup_retention_period:
      description: Days of automated backups.
      type: int
    deletion_protection:
      description: Whether AWS refuses to delete it.
      type: bool
    storage_encrypted:
      description: Whether its storage is encrypted.
      type: bool
    instances:
      description: Its instances, by name, with C(identifier), C(instance_class), C(availability_zone), C(status),
        C(writer) and C(endpoint).
      type: list
      elements: dict
    availability_zones:
      description: The zones its instances are in.
      type: list
      elements: str
    tags:
      description: Its tags.
      type: dict
plan:
  description:
    - The changes made or, in check mode, that would be made, in order. Each has an C(action) (C(create_cluster),
      C(create_instance), C(modify_cluster), C(modify_instance), C(delete_instance), C(tag), C(untag) or
      C(delete_cluster)), what it acts on and a C(reason).
  returned: always
  type: list
  elements: dict
  sample: [{"action": "create_instance", "instance": "staging-movie-app-db-2", "availability_zone": "us-east-1b",
    "reason": "instances is 2 and the cluster has 1"}]
final_snapshot:
  description: The final snapshot's identifier when the cluster was (or would be) deleted with one.
  returned: when O(state=absent) and a cluster existed
  type: str
"""

from datetime import datetime, timezone

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list, compare_aws_tags
from ansible_collections.stageflow.aws.plugins.module_utils._docdb import api
from ansible_collections.stageflow.aws.plugins.module_utils._docdb.cluster import read, validate
from ansible_collections.stageflow.aws.plugins.module_utils._docdb.waiting import poll_until


class PlanError(Exception):
    """What was asked cannot be done to the cluster as it is; nothing has been changed."""


def wanted_names(params):
    return [f"{params['identifier']}-{n}" for n in range(1, params["instances"] + 1)]


def plan_create(params, zones):
    if not params["master_username"] or not params["master_user_password"]:
        raise PlanError("master_username and master_user_password are required to create the cluster")
    if params["instances"] and not params["instance_class"]:
        raise PlanError("instance_class is required to create the cluster's instances")
    steps = [{"action": "create_cluster", "cluster": params["identifier"], "reason": "the cluster does not exist"}]
    for index, name in enumerate(wanted_names(params)):
        zone = zones[index % len(zones)] if zones else None
        steps.append(
            {"action": "create_instance", "instance": name, "availability_zone": zone, "reason": "a new cluster's"}
        )
    return steps


def plan_modify(params, current, zones):
    """The steps that bring the existing cluster `current` to what is asked."""
    for option, key in (("master_username", "master_username"), ("subnet_group_name", "subnet_group_name")):
        if params[option] is not None and params[option] != current[key]:
            raise PlanError(
                f"{option} cannot change on an existing cluster (it is {current[key]!r}, asked {params[option]!r})"
            )
    if params["storage_encrypted"] != current["storage_encrypted"]:
        raise PlanError(
            f"storage_encrypted cannot change on an existing cluster (it is {current['storage_encrypted']}); "
            "restore a snapshot into a new cluster instead"
        )
    steps = []
    changes, reasons = {}, []
    for option, key, aws in (
        ("backup_retention_period", "backup_retention_period", "BackupRetentionPeriod"),
        ("preferred_backup_window", "preferred_backup_window", "PreferredBackupWindow"),
        ("deletion_protection", "deletion_protection", "DeletionProtection"),
        ("parameter_group_name", "parameter_group_name", "DBClusterParameterGroupName"),
    ):
        if params[option] is not None and params[option] != current[key]:
            changes[aws] = params[option]
            reasons.append(f"{option} is {current[key]!r}, asked {params[option]!r}")
    groups = params["vpc_security_group_ids"]
    if groups is not None and sorted(groups) != current["vpc_security_group_ids"]:
        changes["VpcSecurityGroupIds"] = sorted(groups)
        reasons.append(f"vpc_security_group_ids are {current['vpc_security_group_ids']}")
    if params["update_password"] == "always" and params["master_user_password"]:
        changes["MasterUserPassword"] = params["master_user_password"]
        reasons.append("update_password=always")
    if changes:
        shown = {k: ("********" if k == "MasterUserPassword" else v) for k, v in changes.items()}
        steps.append({"action": "modify_cluster", "changes": shown, "reason": "; ".join(reasons)})

    existing = {i["identifier"]: i for i in current["instances"]}
    wanted = wanted_names(params)
    for index, name in enumerate(wanted):
        if name not in existing:
            if not params["instance_class"]:
                raise PlanError(f"instance_class is required to add the instance {name}")
            zone = zones[index % len(zones)] if zones else None
            reason = f"instances is {params['instances']} and the cluster has no {name}"
            steps.append({"action": "create_instance", "instance": name, "availability_zone": zone, "reason": reason})
        elif params["instance_class"] and existing[name]["instance_class"] != params["instance_class"]:
            reason = f"it is {existing[name]['instance_class']}, asked {params['instance_class']}"
            steps.append(
                {
                    "action": "modify_instance",
                    "instance": name,
                    "instance_class": params["instance_class"],
                    "reason": reason,
                }
            )
    # Readers change class before the writer, so that the writer's restart fails over to a resized reader.
    steps.sort(key=lambda s: s["action"] == "modify_instance" and existing.get(s["instance"], {}).get("writer", False))
    managed = {f"{params['identifier']}-{n}" for n in range(1, 17)}
    surplus = sorted((n for n in existing if n in managed and n not in wanted), reverse=True)
    for name in surplus:
        if existing[name]["writer"] and wanted:
            raise PlanError(
                f"{name} is the cluster's writer and instances={params['instances']} would remove it; fail over to "
                f"{wanted[0]} first"
            )
        steps.append({"action": "delete_instance", "instance": name, "reason": f"instances is {params['instances']}"})

    if params["tags"] is not None:
        to_set, to_unset = compare_aws_tags(current["tags"], params["tags"], params["purge_tags"])
        if to_set:
            steps.append({"action": "tag", "tags": to_set, "reason": f"tags {sorted(to_set)} are missing or differ"})
        if to_unset:
            steps.append({"action": "untag", "tag_keys": sorted(to_unset), "reason": "not in tags (purge_tags=true)"})
    return steps


def expected(params, current, steps):
    """What check mode says the cluster would be."""
    after = dict(current or {"identifier": params["identifier"], "arn": None, "status": "creating", "instances": []})
    for key in ("backup_retention_period", "deletion_protection", "storage_encrypted", "port", "engine_version"):
        if params.get(key) is not None:
            after[key] = params[key]
    instances = {i["identifier"]: dict(i) for i in after.get("instances", [])}
    for step in steps:
        if step["action"] == "create_instance":
            instances[step["instance"]] = {
                "identifier": step["instance"],
                "instance_class": params["instance_class"],
                "availability_zone": step["availability_zone"],
                "status": "creating",
                "writer": not instances,
                "endpoint": None,
            }
        elif step["action"] == "modify_instance":
            instances[step["instance"]]["instance_class"] = step["instance_class"]
        elif step["action"] == "delete_instance":
            instances.pop(step["instance"])
    after["instances"] = sorted(instances.values(), key=lambda i: i["identifier"])
    after["availability_zones"] = sorted({i["availability_zone"] for i in instances.values() if i["availability_zone"]})
    if params["tags"] is not None:
        to_set, to_unset = compare_aws_tags(after.get("tags") or {}, params["tags"], params["purge_tags"])
        after["tags"] = {k: v for k, v in {**(after.get("tags") or {}), **to_set}.items() if k not in to_unset}
    return after


def apply(module, docdb, params, steps, done):
    tags = ansible_dict_to_boto3_tag_list(params["tags"] or {})
    identifier = params["identifier"]
    for step in steps:
        action = step["action"]
        if action == "create_cluster":
            kwargs = {
                "DBClusterIdentifier": identifier,
                "MasterUsername": params["master_username"],
                "MasterUserPassword": params["master_user_password"],
                "Port": params["port"],
                "StorageEncrypted": params["storage_encrypted"],
                "DeletionProtection": bool(params["deletion_protection"]),
                "CopyTagsToSnapshot": True,  # the final and AWS Backup's snapshots carry the Environment tag
                "Tags": tags,
            }
            optional = {
                "EngineVersion": params["engine_version"],
                "DBSubnetGroupName": params["subnet_group_name"],
                "VpcSecurityGroupIds": params["vpc_security_group_ids"],
                "DBClusterParameterGroupName": params["parameter_group_name"],
                "BackupRetentionPeriod": params["backup_retention_period"],
                "PreferredBackupWindow": params["preferred_backup_window"],
            }
            kwargs.update({k: v for k, v in optional.items() if v is not None})
            api.create_cluster(docdb, **kwargs)
        elif action == "create_instance":
            api.create_instance(
                docdb, step["instance"], identifier, params["instance_class"], step["availability_zone"], tags
            )
        elif action == "modify_cluster":
            changes = {k: v for k, v in step["changes"].items() if k != "MasterUserPassword"}
            if "MasterUserPassword" in step["changes"]:
                changes["MasterUserPassword"] = params["master_user_password"]
            api.modify_cluster(docdb, identifier, **changes)
        elif action == "modify_instance":
            # One at a time, each available again before the next, so that the cluster keeps serving.
            api.modify_instance(docdb, step["instance"], step["instance_class"])
            if params["wait"]:
                wait_for(module, docdb)
        elif action == "delete_instance":
            api.delete_instance(docdb, step["instance"])
        elif action in ("tag", "untag"):
            arn = read(docdb, identifier)["arn"]
            if action == "tag":
                api.add_tags(docdb, arn, ansible_dict_to_boto3_tag_list(step["tags"]))
            else:
                api.remove_tags(docdb, arn, step["tag_keys"])
        elif action == "delete_cluster":
            api.delete_cluster(docdb, identifier, step.get("final_snapshot"))
        done.append(step)


def settled(cluster, gone):
    if gone:
        return cluster is None
    return (
        cluster is not None
        and cluster["status"] == "available"
        and all(i["status"] == "available" for i in cluster["instances"])
    )


def wait_for(module, docdb, gone=False):
    def check():
        cluster = read(docdb, module.params["identifier"])
        return cluster, settled(cluster, gone)

    cluster, done = poll_until(check, module.params["wait_timeout"])
    if not done:
        states = "still there" if gone else f"{cluster and cluster['status']}"
        module.fail_json(
            msg=f"DocumentDB cluster {module.params['identifier']} did not settle within "
            f"{module.params['wait_timeout']}s ({states})",
            cluster=cluster or {},
        )
    return cluster


def run(module, docdb, done):
    params = module.params
    current = read(docdb, params["identifier"])
    if params["state"] == "absent":
        if current is None:
            return False, None, None, [], None
        if current["deletion_protection"]:
            raise PlanError("it has deletion protection; set deletion_protection false first. Nothing was removed")
        snapshot = None
        if not params["skip_final_snapshot"]:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
            snapshot = params["final_snapshot_identifier"] or f"{params['identifier']}-final-{stamp}"
        # A run killed mid-deletion left instances or the cluster deleting: AWS refuses to delete them again, so
        # this run waits for them instead.
        steps = [
            {"action": "delete_instance", "instance": i["identifier"], "reason": "state=absent"}
            for i in sorted(current["instances"], key=lambda i: i["writer"])
            if i["status"] != "deleting"
        ]
        if current["status"] != "deleting":
            steps.append({"action": "delete_cluster", "final_snapshot": snapshot, "reason": "state=absent"})
        else:
            snapshot = None  # the earlier run named the final snapshot
        if not module.check_mode:
            apply(module, docdb, params, steps, done)
            if params["wait"]:
                wait_for(module, docdb, gone=True)
        return True, current, None, steps, snapshot

    zones = params["availability_zones"]
    if zones is None and params["subnet_group_name"]:
        zones = api.describe_subnet_group_zones(docdb, params["subnet_group_name"])
    if params["instances"] > 1 and zones is not None and len(set(zones)) < 2:
        raise PlanError(
            f"instances={params['instances']} needs replicas in another zone than the primary, but the instances may "
            f"only go to {sorted(set(zones))}; give availability_zones or a subnet group spanning two zones or more"
        )
    if current is not None and current["status"] == "deleting":
        raise PlanError("it is being deleted (a teardown's); run again once it is gone, and it is created anew")
    steps = plan_create(params, zones) if current is None else plan_modify(params, current, zones)
    if module.check_mode:
        return bool(steps), current, expected(params, current, steps), steps, None
    if not steps:
        # Nothing to change; a cluster an earlier (killed) run left creating is waited for all the same.
        settled_now = settled(current, gone=False)
        return False, current, current if settled_now or not params["wait"] else wait_for(module, docdb), [], None
    apply(module, docdb, params, steps, done)
    after = wait_for(module, docdb) if params["wait"] else read(docdb, params["identifier"])
    return True, current, after, steps, None


def comparable(cluster):
    if not cluster:
        return {}
    keep = ("backup_retention_period", "deletion_protection", "storage_encrypted", "vpc_security_group_ids", "tags")
    shown = {k: cluster.get(k) for k in keep}
    shown["instances"] = {i["identifier"]: i["instance_class"] for i in cluster.get("instances", [])}
    return shown


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            identifier=dict(type="str", required=True, aliases=["db_cluster_identifier"]),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            instances=dict(type="int", default=1),
            instance_class=dict(type="str"),
            availability_zones=dict(type="list", elements="str"),
            engine_version=dict(type="str"),
            master_username=dict(type="str"),
            master_user_password=dict(type="str", no_log=True),
            update_password=dict(type="str", choices=["always", "on_create"], default="on_create", no_log=False),
            subnet_group_name=dict(type="str"),
            vpc_security_group_ids=dict(type="list", elements="str"),
            port=dict(type="int", default=27017),
            parameter_group_name=dict(type="str"),
            backup_retention_period=dict(type="int"),
            preferred_backup_window=dict(type="str"),
            storage_encrypted=dict(type="bool", default=True),
            deletion_protection=dict(type="bool"),
            skip_final_snapshot=dict(type="bool", default=False),
            final_snapshot_identifier=dict(type="str"),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=1800),
            tags=dict(type="dict", aliases=["resource_tags"]),
            purge_tags=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    module.params["identifier"] = module.params["identifier"].lower()  # as AWS stores it
    problems = validate(module.params)
    if problems:
        module.fail_json(msg="Invalid options: " + "; ".join(problems), problems=problems)
    docdb = module.client("docdb")
    done = []
    name = module.params["identifier"]
    try:
        changed, before, after, steps, snapshot = run(module, docdb, done)
    except PlanError as exc:
        module.fail_json(msg=f"DocumentDB cluster {name}: {exc}")
    except (BotoCoreError, ClientError) as exc:
        if done:
            message = f"DocumentDB cluster {name}: a call failed after these changes: " + ", ".join(
                s["action"] + (f" {s['instance']}" if "instance" in s else "") for s in done
            )
        else:
            message = f"DocumentDB cluster {name} could not be read or changed; nothing was changed"
        module.fail_json_aws(exc, msg=message, done=done)

    result = {"changed": changed, "cluster": after or {}, "plan": steps}
    if before is not None and module.params["state"] == "absent":
        result["final_snapshot"] = snapshot
    if module._diff:
        result["diff"] = {"before": comparable(before), "after": comparable(after)}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
