# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IAM policies of Stageflow's identities, built from the inventory's names and the actions its playbooks call.

Three kinds of scope: a *deployer* of some environments (it provisions them and releases to them, and reads the
environments its promotions read from), a *readonly* identity (drift, report, history, status), and the *boundary*
that every role provisioning creates carries. The actions come from the catalogue (roles/access/vars/main.yml), which
scripts/record_actions.py writes from what each playbook called on the local cloud's recorder, each with its resource
types and access level from AWS's Service Authorization Reference. The resources come from the environments' names
(resource_names in group_vars/all): an action is allowed on the ARNs of the scope's environments only. Where AWS
names resources by generated ids (EC2, ACM certificates, Backup plans, Application Auto Scaling targets) the
statements go by the Environment tag, per action and resource type (_tag_statements): a create must give the new
resource one of the scope's environments, any other use needs the resource to carry one, and resources AWS owns (AMIs)
are allowed by ARN to the calls that must name them; where AWS allows only "*" (ecs:DeregisterTaskDefinition,
route53:CreateHostedZone, ...), and for reads of metadata (Describe*, List*), so does the policy, and docs/security.md
lists those actions. Route 53 record changes are allowed on any hosted zone (zones are named by generated ids) but only
for the DNS names of the scope's environments (their domain_name and its subdomains), by the condition key
route53:ChangeResourceRecordSetsNormalizedRecordNames.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict

WRITE_LEVELS = ("Write", "Tagging", "Permissions management")
READ_LEVELS = ("Read", "List")
# Services whose resources are named by generated ids: scoped by the Environment tag instead of the ARN.
TAG_SCOPED = {
    "ec2": "ec2",
    "acm": "acm",
    "backup:backupPlan": "backup",
    "application-autoscaling": "application-autoscaling",
    # DocumentDB elastic clusters and their snapshots are named by ARNs with ids AWS picks.
    "docdb-elastic": "docdb-elastic",
}
# The resource types each action creates (the Service Authorization Reference lists aws:RequestTag for them, not
# aws:ResourceTag): the new resource must be given an Environment tag of the scope's. () for an action that creates a
# resource the reference names no type for (acm:RequestCertificate, authorized on *).
CREATES = {
    "acm:RequestCertificate": (),
    "application-autoscaling:RegisterScalableTarget": ("ScalableTarget",),
    "backup:CreateBackupPlan": ("backupPlan",),
    "docdb-elastic:CreateCluster": (),
    # The reference names both the cluster (tagged) and the new snapshot (not yet): the snapshot is a create's.
    "docdb-elastic:CreateClusterSnapshot": ("cluster-snapshot",),
    "ec2:AllocateAddress": ("elastic-ip",),
    "ec2:AuthorizeSecurityGroupIngress": ("security-group-rule",),
    "ec2:CreateInternetGateway": ("internet-gateway",),
    "ec2:CreateLaunchTemplate": ("launch-template",),
    "ec2:CreateNatGateway": ("natgateway",),
    "ec2:CreateRouteTable": ("route-table",),
    "ec2:CreateSecurityGroup": ("security-group",),
    "ec2:CreateSnapshot": ("snapshot",),
    "ec2:CreateSubnet": ("subnet",),
    "ec2:CreateVolume": ("volume",),
    "ec2:CreateVpc": ("vpc",),
    "ec2:CreateVpcEndpoint": ("vpc-endpoint",),
    "ec2:RunInstances": ("instance", "network-interface", "volume"),
}
# Resources AWS owns, which carry no tag of Stageflow's: allowed by ARN, and only to the actions that must name them
# (the ECS-optimized AMI an instance launches from).
AWS_OWNED = {"ec2:RunInstances": ("image",)}
# ARN patterns of resources AWS names by id, where they differ from EC2's usual one
# (arn:<partition>:ec2:<region>:<account>:<type>/*): images and EBS snapshots name no account, the reference says.
ID_ARNS = {
    ("ec2", "image"): "arn:{partition}:ec2:{region}::image/*",
    ("ec2", "snapshot"): "arn:{partition}:ec2:{region}::snapshot/*",
    ("backup", "backupPlan"): "arn:{partition}:backup:{region}:{account}:backup-plan:*",
    ("docdb-elastic", "cluster-snapshot"): "arn:{partition}:docdb-elastic:{region}:{account}:cluster-snapshot/*",
    ("application-autoscaling", "ScalableTarget"): (
        "arn:{partition}:application-autoscaling:{region}:{account}:scalable-target/*"
    ),
}
# Scalable targets are registered untagged: community.aws.application_autoscaling_policy takes no tags, and moto keeps
# none. Their actions stay on the Environment tag only when there is one (docs/security.md, known gap).
UNTAGGED_AFTER_CREATE = ("application-autoscaling:RegisterScalableTarget", "application-autoscaling:PutScalingPolicy")
# Services that have no resource-level permissions or tag conditions for what Stageflow calls: Route 53 hosted zones
# are named by id and support no tag condition.
UNSCOPABLE = ("route53:hostedzone", "route53:change")
# Route 53 record changes: on any zone, only of the scope's DNS names (_record_statements).
RECORD_NAME_SCOPED = ("route53:ChangeResourceRecordSets",)
RECORD_NAMES_KEY = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
TAG_KEY = "Environment"
# ECS actions that name the task definition a service or task runs (condition key ecs:task-definition).
TASK_DEFINITION_PINNED = {"ecs:CreateService", "ecs:UpdateService", "ecs:RunTask", "ecs:StartTask"}
PUBLIC_PARAMETERS = "::parameter/aws/service/"
WORKLOAD_SERVICES = ("ecs-tasks.amazonaws.com", "ec2.amazonaws.com", "backup.amazonaws.com")
MANAGED_POLICY_CHARACTERS = 6144
ADMIN_POLICIES = ("arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::aws:policy/IAMFullAccess")


# Above this many containers an environment's repositories are named by pattern (names_of).
MAX_NAMED_REPOSITORIES = 4


class AccessError(ValueError):
    """A scope or a policy that must not be applied."""


def names_of(environment, app_name, resource_names, domain_name=None, repositories=None, target_groups=None):
    """Every name Stageflow gives an environment's resources: resource_names plus the ones the roles derive, the
    containers' ECR repositories (the stageflow.aws.application_repositories of its application_services), and its
    domain_name (the DNS names it may change: the domain and its subdomains), as AWS normalizes record names: lower
    case, no trailing dot."""
    names = dict(resource_names or {})
    missing = [
        k
        for k in ("cluster", "service", "task_family", "alb", "target_group_blue", "target_group_green", "database")
        if not names.get(k)
    ]
    if missing:
        raise AccessError(f"{environment}: resource_names lacks {', '.join(missing)}; the policy scopes by these names")
    names.setdefault("lock_table", f"{environment}-{app_name}-deploy-locks")
    names.setdefault("records_table", f"{environment}-{app_name}-deployments")
    names.setdefault("alarm_prefix", f"{environment}-{app_name}")
    names.setdefault("dashboard", f"{environment}-{app_name}")
    names.setdefault("snapshot_policy_parameter", f"/stageflow/{environment}/{app_name}/snapshot-policy")
    names.setdefault("log_group", f"/stageflow/{environment}/{app_name}")
    names.setdefault("secret_prefix", f"stageflow/{environment}/{app_name}/")
    names.setdefault("reports_bucket", f"{environment}-{app_name}-deploy-reports-*")
    names.setdefault("backup_vault", f"{environment}-{app_name}")
    if not repositories:
        # Without them the policy would lose its Deny on deleting the repositories releases take images from.
        raise AccessError(f"{environment}: no ECR repositories given (application_services); the policy scopes by them")
    # Each container's repository, while they are few; by pattern (<environment>-<app_name>-*-repo, which only this
    # environment's match: validation refuses a name that starts with another's and a hyphen) when many, so that a
    # scope's policies stay within IAM's size limits whatever the number of containers.
    names["repositories"] = (
        sorted(repositories) if len(repositories) <= MAX_NAMED_REPOSITORIES else [f"{environment}-{app_name}-*-repo"]
    )
    # resource_names' blue and green (the default service's); the other services' (<environment>-<service>-<colour>,
    # stageflow.aws.application_target_groups) by pattern, so that the policy's size does not grow with the services
    # (validation refuses an environment whose name starts with another's and a hyphen).
    defaults = {names["target_group_blue"], names["target_group_green"]}
    more = [f"{environment}-*-{colour}" for colour in ("blue", "green")] if set(target_groups or []) - defaults else []
    names["target_groups"] = sorted(defaults) + more
    names["app_name"] = app_name
    names["environment"] = environment
    names["domain_name"] = str(domain_name or "").strip().rstrip(".").lower()
    return names


def _arns(service, resource_type, n, account, region, partition):
    """ARN patterns of one environment's resources of one SAR resource type; None when the type is not mapped."""
    base = f"arn:{partition}:{service}:{region}:{account}:"
    global_base = f"arn:{partition}:{service}::{account}:"
    parameter = n["snapshot_policy_parameter"].lstrip("/").rsplit("/", 1)[0]
    table = {
        ("ecs", "cluster"): [f"{base}cluster/{n['cluster']}"],
        ("ecs", "service"): [f"{base}service/{n['cluster']}/{n['service']}*"],
        # The first service's family, and the others' (<task_family>-<service>).
        ("ecs", "task-definition"): [
            f"{base}task-definition/{n['task_family']}:*",
            f"{base}task-definition/{n['task_family']}-*:*",
        ],
        ("ecs", "task"): [f"{base}task/{n['cluster']}/*"],
        ("ecs", "container-instance"): [f"{base}container-instance/{n['cluster']}/*"],
        ("ecs", "capacity-provider"): [f"{base}capacity-provider/{n['cluster']}*"],
        ("elasticloadbalancing", "loadbalancer/app/"): [f"{base}loadbalancer/app/{n['alb']}/*"],
        ("elasticloadbalancing", "listener/app"): [f"{base}listener/app/{n['alb']}/*"],
        ("elasticloadbalancing", "listener-rule/app"): [f"{base}listener-rule/app/{n['alb']}/*"],
        ("elasticloadbalancing", "targetgroup"): [f"{base}targetgroup/{g}/*" for g in n["target_groups"]],
        ("dynamodb", "table"): [f"{base}table/{n['lock_table']}", f"{base}table/{n['records_table']}"],
        ("dynamodb", "index"): [f"{base}table/{n['lock_table']}/index/*", f"{base}table/{n['records_table']}/index/*"],
        ("ecr", "repository"): [f"{base}repository/{r}" for r in n["repositories"]],
        # The database, and its instances: PostgreSQL's <database>-replica-N, DocumentDB's <database>-N.
        ("rds", "db"): [f"{base}db:{n['database']}", f"{base}db:{n['database']}-*"],
        ("rds", "snapshot"): [f"{base}snapshot:{n['database']}-*"],
        # A DocumentDB cluster, its instances (<database>-N) and its snapshots (releases', final).
        ("rds", "cluster"): [f"{base}cluster:{n['database']}"],
        ("rds", "cluster-snapshot"): [f"{base}cluster-snapshot:{n['database']}-*"],
        ("rds", "cluster-pg"): [f"{base}cluster-pg:default*"],
        ("rds", "subgrp"): [f"{base}subgrp:{n['database']}"],
        ("rds", "pg"): [f"{base}pg:default*"],
        ("rds", "og"): [f"{base}og:default*"],
        ("s3", "bucket"): [f"arn:{partition}:s3:::{n['reports_bucket']}"],
        ("s3", "object"): [f"arn:{partition}:s3:::{n['reports_bucket']}/*"],
        ("secretsmanager", "Secret"): [f"{base}secret:{n['secret_prefix']}*"],
        # The environment's own parameters, and AWS's public ones (the ECS-optimized AMI), which name no account.
        ("ssm", "parameter"): [
            f"{base}parameter/{parameter}/*",
            f"arn:{partition}:ssm:{region}::parameter/aws/service/*",
        ],
        ("cloudwatch", "alarm"): [f"{base}alarm:{n['alarm_prefix']}-*"],
        # The alerts topic the alarms tell (monitoring role), which releases may tell (release_notify_sns_topic_arn).
        ("sns", "topic"): [f"{base}{n['alarm_prefix']}-alerts"],
        # Its own dashboard, and the one of all environments that every provisioning updates (monitoring role).
        ("cloudwatch", "dashboard"): [
            f"{global_base}dashboard/{n['dashboard']}",
            f"{global_base}dashboard/{n['app_name']}-environments",
        ],
        ("logs", "log-group"): [f"{base}log-group:{n['log_group']}", f"{base}log-group:{n['log_group']}:*"],
        ("logs", "log-stream"): [f"{base}log-group:{n['log_group']}:log-stream:*"],
        ("iam", "role"): [f"{global_base}role/{n['cluster']}-*"],
        ("iam", "instance-profile"): [f"{global_base}instance-profile/{n['cluster']}-*"],
        ("iam", "policy"): [f"{global_base}policy/{n['boundary']}"] if n.get("boundary") else None,
        ("backup", "backupVault"): [f"{base}backup-vault:{n['backup_vault']}"],
        ("autoscaling", "autoScalingGroup"): [
            f"{base}autoScalingGroup:*:autoScalingGroupName/{n.get('asg') or n['cluster'] + '-asg'}"
        ],
        # Named by Stageflow, not by id (they take no tags): the environment's cluster's.
        ("autoscaling", "launchConfiguration"): [
            f"{base}launchConfiguration:*:launchConfigurationName/{n['cluster']}*"
        ],
    }
    return table.get((service, resource_type))


def _environment_arns(action, types, names, account, region, partition, read=False):
    """The ARNs of one environment's resources an action may act on. An action the reference lists with several
    resource types acts on one of them per call (elasticloadbalancing:CreateRule: an application or a network
    load balancer's listener): the ones Stageflow has are mapped, and at least one must be."""
    service = action.split(":", 1)[0]
    arns = [arn for t in types for arn in (_arns(service, t, names, account, region, partition) or [])]
    if not arns and read:
        return ["*"]  # a read of a kind of resource Stageflow does not name (service quotas, AWS's public parameters)
    if not arns:
        raise AccessError(
            f"{action}: no ARN pattern for the {service} resource types {', '.join(types)}; add one to "
            "plugins/module_utils/access_policies.py"
        )
    return arns


def _id_arn(action, resource_type, account, region, partition):
    """The ARN pattern of every resource of a type AWS names by id."""
    service = action.split(":", 1)[0]
    pattern = ID_ARNS.get((service, resource_type))
    if pattern is None and service != "ec2":
        raise AccessError(
            f"{action}: no ARN pattern for the {service} resource type {resource_type}; add one to ID_ARNS in "
            "plugins/module_utils/access_policies.py"
        )
    pattern = pattern or "arn:{partition}:ec2:{region}:{account}:" + resource_type + "/*"
    return pattern.format(partition=partition, region=region, account=account)


def _tag_statements(tagged, catalogue, environments, account, region, partition):
    """The statements of the actions on resources AWS names by generated ids (TAG_SCOPED), per action and resource
    type, scoped by the Environment tag without IfExists:

    - a create gives the new resource an Environment tag of the scope's (aws:RequestTag), and acts on no resource that
      has one already (Null aws:ResourceTag: the new one has none);
    - EC2's tagging on create (ec2:CreateTags with ec2:CreateAction) likewise, for the scope's creates only;
    - every other use acts only on resources that carry one of the scope's environments (aws:ResourceTag), and a
      request that sets an Environment tag sets one of those (aws:RequestTag, IfExists: only when it sets one);
    - resources AWS owns (an AMI) are allowed by ARN to the actions that must name them.
    Application Auto Scaling's scalable targets, registered untagged, keep IfExists (UNTAGGED_AFTER_CREATE)."""
    values = sorted(set(environments))
    request, resource = f"aws:RequestTag/{TAG_KEY}", f"aws:ResourceTag/{TAG_KEY}"
    new = {"StringLike": {request: values}, "Null": {resource: "true"}}
    statements = []
    untagged = sorted(a for a in tagged if a in UNTAGGED_AFTER_CREATE)
    tagged = sorted(a for a in tagged if a not in UNTAGGED_AFTER_CREATE)
    creates = {
        a: [_id_arn(a, t, account, region, partition) for t in CREATES[a]] or ["*"] for a in tagged if a in CREATES
    }
    for resources, actions in _grouped(creates):
        kinds = "".join(_sid(t) for a in actions[:1] for t in CREATES[a]) or _sid(actions[0].split(":", 1)[0])
        statements.append(_statement(f"Create{kinds}OnlyWithTheEnvironmentTag", actions, list(resources), new))
    ec2_creates = sorted(a for a in creates if a.startswith("ec2:") and CREATES[a])
    if "ec2:CreateTags" in tagged and ec2_creates:
        statements.append(
            _statement(
                "TagOnCreateOnlyWithTheEnvironmentTag",
                ["ec2:CreateTags"],
                sorted({arn for a in ec2_creates for arn in creates[a]}),
                {**new, "StringEquals": {"ec2:CreateAction": [a.split(":", 1)[1] for a in ec2_creates]}},
            )
        )
    existing = [
        a
        for a in tagged
        if set(catalogue[a].get("resources") or []) - set(CREATES.get(a, ())) - set(AWS_OWNED.get(a, ()))
    ]
    if existing:
        statements.append(
            _statement(
                "ActOnlyOnResourcesTaggedWithTheEnvironment",
                existing,
                "*",
                {"StringLike": {resource: values}, "StringLikeIfExists": {request: values}},
            )
        )
    owned = {a: [_id_arn(a, t, account, region, partition) for t in AWS_OWNED[a]] for a in tagged if a in AWS_OWNED}
    for resources, actions in _grouped(owned):
        statements.append(_statement("UseTheResourcesAwsOwnsThatTheCallsName", actions, list(resources)))
    if untagged:
        statements.append(
            _statement(
                "ScalableTargetsRegisteredUntaggedOnTheEnvironmentTagWhenTheyHaveOne",
                untagged,
                [_id_arn(untagged[0], "ScalableTarget", account, region, partition)],
                {"StringLikeIfExists": {resource: values, request: values}},
            )
        )
    return statements


# What a scope never reads of the environments it only reads (a promotion's source, the images' repositories): their
# secrets, parameters and stored objects.
DATA_OF_OTHERS = ("secretsmanager:", "ssm:GetParameter", "s3:GetObject", "kms:")
# Reads of metadata, which the playbooks make without naming a resource (DescribeRepositories with no names, AWS
# evaluates on *): allowed on *. Reads of data (secrets, objects, items, parameters: Get*, Query, Scan) stay scoped.
METADATA_READS = ("Describe", "List")


def _kind(service, resource_types, action="", access=""):
    """'tag' when the action's resources are scoped by the Environment tag, '*' when AWS allows only * (or it is a
    read of metadata), else 'arn'."""
    if action in CREATES:
        return "tag"
    if not resource_types or (access in READ_LEVELS and action.split(":", 1)[-1].startswith(METADATA_READS)):
        return "*"
    if service in TAG_SCOPED or any(f"{service}:{t}" in TAG_SCOPED for t in resource_types):
        return "tag"
    if any(f"{service}:{t}" in UNSCOPABLE for t in resource_types):
        return "*"
    return "arn"


def _statement(sid, actions, resources, condition=None, effect="Allow"):
    statement = {"Sid": sid, "Effect": effect, "Action": sorted(set(actions)), "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


def _sid(text):
    return re.sub(r"[^A-Za-z0-9]", "", text.title())


def _grouped(actions_resources):
    """Statements of actions that share the same resources, one per resource list."""
    by_resources = defaultdict(list)
    for action, resources in actions_resources.items():
        by_resources[tuple(sorted(set(resources)))].append(action)
    return sorted(by_resources.items(), key=lambda item: (item[1][0].split(":")[0], sorted(item[1])[0]))


def _like(pattern, value):
    """Whether IAM's StringLike pattern (* and ? wildcards) matches the value."""
    return re.fullmatch("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), value)


def _record_statements(actions, own, others, partition):
    """Route 53 record changes on any hosted zone (AWS names zones by generated ids, with no tag condition), of the
    scope's environments' DNS names only: each one's domain_name and its subdomains (ACM's validation records
    _<token>.<domain> among them), in the form AWS normalizes them to. ForAllValues: every name of a change batch
    must be one of them; Null: a request that names none is not allowed either. Where another environment's domain
    lies under one of the scope's (staging.webshop.com under prod's webshop.com), an explicit deny keeps its names
    out (ForAnyValue: a batch naming one of them is refused whole)."""
    missing = [n["environment"] for n in own if not n.get("domain_name")]
    if missing:
        raise AccessError(
            f"{', '.join(missing)}: no domain_name; the policy allows Route 53 record changes by the environment's "
            "DNS names"
        )
    domains = sorted({n["domain_name"] for n in own})
    patterns = sorted({p for d in domains for p in (d, f"*.{d}")})
    zones = f"arn:{partition}:route53:::hostedzone/*"
    statements = [
        _statement(
            "ChangeOnlyTheDnsRecordsOfTheScopesDomains",
            actions,
            zones,
            {"ForAllValues:StringLike": {RECORD_NAMES_KEY: patterns}, "Null": {RECORD_NAMES_KEY: "false"}},
        )
    ]
    shared = sorted(
        f"{o['environment']} and {n['environment']} ({n['domain_name']})"
        for o in others
        for n in own
        if o.get("domain_name") == n["domain_name"]
    )
    if shared:
        raise AccessError(
            f"{', '.join(shared)} share a domain_name but not a deployer scope: either would change the other's DNS "
            "records"
        )
    nested = sorted(
        {
            p
            for n in others
            if n.get("domain_name") and any(_like(own_pattern, n["domain_name"]) for own_pattern in patterns)
            for p in (n["domain_name"], f"*.{n['domain_name']}")
        }
    )
    if nested:
        statements.append(
            _statement(
                "NeverChangeTheDnsRecordsOfOtherScopesDomains",
                actions,
                zones,
                {"ForAnyValue:StringLike": {RECORD_NAMES_KEY: nested}},
                effect="Deny",
            )
        )
    return statements


def deployer_policy(scope, envs, catalogue, account, region, boundary_arn, partition="aws"):
    """The identity policy of a deployer of `scope['environments']` (envs: environment -> names_of(...))."""
    own = [envs[e] for e in scope["environments"]]
    reads = [envs[e] for e in scope.get("reads", [])]
    images = [envs[e] for e in scope.get("image_sources", [])]
    playbooks = set(scope["playbooks"])
    statements = []
    star, tagged, scoped, records = set(), set(), defaultdict(list), set()
    for action, info in sorted(catalogue.items()):
        if not playbooks.intersection(info.get("playbooks", [])):
            continue
        if action in RECORD_NAME_SCOPED:
            records.add(action)  # _record_statements: only the scope's DNS names
            continue
        service = action.split(":", 1)[0]
        types = info.get("resources") or []
        kind = _kind(service, types, action, info.get("access"))
        if service == "iam":
            kind = "iam"  # _iam_statements: roles only with the boundary, passed only to the workload
        if kind == "*":
            star.add(action)
        elif kind == "tag":
            tagged.add(action)
        elif kind == "arn":
            read = info.get("access") in READ_LEVELS
            for names in own:
                arns = _environment_arns(action, types, names, account, region, partition, read)
                # AWS's public parameters (the ECS-optimized AMI) are read, never written.
                scoped[action] += [a for a in arns if read or PUBLIC_PARAMETERS not in a]
            if read and not action.startswith(DATA_OF_OTHERS):
                # The environments it reads (a promotion's source), and of its image sources only the repositories.
                for names in reads + (images if service == "ecr" else []):
                    for resource_type in types:
                        scoped[action] += _arns(service, resource_type, names, account, region, partition) or []
    families = sorted(
        {
            f"arn:{partition}:ecs:{region}:{account}:task-definition/{n['task_family']}{more}:*"
            for n in own
            for more in ("", "-*")
        }
    )
    conditioned = (
        # A service of the scope runs only the scope's task definitions: else a deployer could run another
        # environment's (its execution role, its secrets) in a cluster it controls.
        (
            "ServicesRunOnlyTheScopesTaskDefinitions",
            sorted(TASK_DEFINITION_PINNED),
            {"ArnLikeIfExists": {"ecs:task-definition": families}},
        ),
        # Stageflow's alarms tell only the scope's own alerts topics (the monitoring role's), or nothing: an alarm whose
        # action is another environment's scaling policy or topic, or an EC2 action, would act outside the scope.
        (
            "AlarmsThatTellOnlyTheScopesAlertsTopics",
            ["cloudwatch:PutMetricAlarm"],
            {
                "ForAllValues:StringLike": {
                    "cloudwatch:AlarmActions": sorted(
                        {f"arn:{partition}:sns:{region}:{account}:{n['alarm_prefix']}-alerts" for n in own}
                    )
                }
            },
        ),
    )
    for sid, actions, condition in conditioned:
        taken = {action: scoped.pop(action) for action in actions if action in scoped}
        if taken:
            resources = sorted({arn for arns in taken.values() for arn in arns})
            statements.append(_statement(sid, list(taken), resources, condition))
    if star:
        statements.append(_statement("ActionsAwsAllowsOnlyOnAnyResource", star, "*"))
    if records:
        others = [names for env, names in envs.items() if env not in scope["environments"]]
        statements += _record_statements(records, own, others, partition)
    if tagged:
        statements += _tag_statements(tagged, catalogue, [n["environment"] for n in own], account, region, partition)
    for resources, actions in _grouped(scoped):
        service = actions[0].split(":", 1)[0]
        statements.append(_statement(f"{_sid(service)}{len(statements)}", actions, list(resources)))
    # Images stay in the repository CI pushed to; a promotion tags the ones it references there so that lifecycle
    # rules keep them (stageflow.aws.ecs_promote's protect_tag).
    repositories = sorted(
        {f"arn:{partition}:ecr:{region}:{account}:repository/{r}" for n in images for r in n["repositories"]}
    )
    if repositories and "promote" in playbooks:
        statements.append(
            _statement(
                "ProtectPromotedImagesInTheRepositoriesCIPushesTo",
                ["ecr:PutImage", "ecr:BatchGetImage", "ecr:DescribeImages"],
                repositories,
            )
        )
    if repositories:
        # The repositories releases take their images from (dev's) hold what production runs: a deployer never deletes
        # them or their images, even one that provisions their environment (an administrator does).
        statements.append(
            _statement(
                "NeverDeleteTheRepositoriesReleasesTakeImagesFrom",
                ["ecr:DeleteRepository", "ecr:BatchDeleteImage"],
                repositories,
                effect="Deny",
            )
        )
    statements += _iam_statements(scope, own, catalogue, playbooks, account, boundary_arn, partition)
    return statements


def _iam_statements(scope, own, catalogue, playbooks, account, boundary_arn, partition):
    """Provisioning creates the environments' roles: only with the boundary, only with the workload's managed
    policies, passed only to the services that run the workload."""
    iam = {a for a, i in catalogue.items() if a.startswith("iam:") and playbooks.intersection(i.get("playbooks", []))}
    roles = [f"arn:{partition}:iam::{account}:role/{n['cluster']}-*" for n in own]
    profiles = [f"arn:{partition}:iam::{account}:instance-profile/{n['cluster']}-*" for n in own]
    managed = sorted(scope.get("workload_policies", []))
    granting = [p for p in managed if p in ADMIN_POLICIES or p.endswith(":policy/*")]
    if granting:
        raise AccessError(f"{scope['name']}: workload_policies must not name {', '.join(granting)}")
    statements = []
    with_boundary = {
        "CreateRole",
        "PutRolePermissionsBoundary",
        "PutRolePolicy",
        "AttachRolePolicy",
        "DetachRolePolicy",
    }
    bounded = sorted(a for a in iam if a.split(":", 1)[1] in with_boundary)
    create = [a for a in bounded if a not in ("iam:AttachRolePolicy", "iam:DetachRolePolicy")]
    attach = [a for a in bounded if a in ("iam:AttachRolePolicy", "iam:DetachRolePolicy")]
    if create:
        statements.append(
            _statement(
                "CreateTheEnvironmentsRolesOnlyWithTheBoundary",
                create,
                roles,
                {"ArnEquals": {"iam:PermissionsBoundary": boundary_arn}},
            )
        )
    if attach:
        statements.append(
            _statement(
                "AttachOnlyTheWorkloadsManagedPolicies",
                attach,
                roles,
                {"ArnEquals": {"iam:PermissionsBoundary": boundary_arn, "iam:PolicyARN": managed}},
            )
        )
    # Everything else IAM the playbooks call, on the resources each action names: the environments' roles and
    # instance profiles, the boundary and the workload's managed policies (read only: policies are not writable here).
    targets = {"role": roles, "instance-profile": profiles, "policy": [boundary_arn]}
    other = defaultdict(list)
    for action in sorted(a for a in iam if a not in bounded and a != "iam:PassRole"):
        types = catalogue[action].get("resources") or []
        if "policy" in types and catalogue[action].get("access") not in READ_LEVELS:
            # Provisioning writes a policy only to create the boundary when it is missing, as an administrator:
            # a deployer finds it made by access.yml and only reads it.
            continue
        if not types and catalogue[action].get("access") in READ_LEVELS:
            other[action].append("*")
        for resource_type in types:
            if resource_type not in targets:
                raise AccessError(f"{action}: no ARN pattern for the iam resource type '{resource_type}'")
            other[action] += targets[resource_type]
    for resources, actions in _grouped(other):
        statements.append(_statement(f"Iam{len(statements)}", actions, list(resources)))
    if "iam:PassRole" in iam:
        statements.append(
            _statement(
                "PassOnlyTheEnvironmentsRolesToTheWorkload",
                ["iam:PassRole"],
                roles,
                {"StringEquals": {"iam:PassedToService": list(WORKLOAD_SERVICES)}},
            )
        )
    # A deployer assumes no role: a role it created, trusting it, would otherwise give it whatever that role may do
    # (in one account a trust policy naming the caller needs no identity policy; an explicit deny stops it).
    statements.append(_statement("NeverAssumeARole", ["sts:AssumeRole", "sts:TagSession"], "*", effect="Deny"))
    statements.append(
        _statement(
            "NeverRemoveOrChangeTheBoundary",
            [
                "iam:DeleteRolePermissionsBoundary",
                "iam:DeletePolicy",
                "iam:CreatePolicyVersion",
                "iam:SetDefaultPolicyVersion",
            ],
            [boundary_arn, *roles],
            effect="Deny",
        )
    )
    return statements


def readonly_policy(scope, envs, catalogue, account, region, partition="aws"):
    """Read and List actions only, of the scope's playbooks, on the scope's environments."""
    own = [envs[e] for e in scope["environments"]]
    playbooks = set(scope["playbooks"])
    star, tagged, scoped = set(), set(), defaultdict(list)
    for action, info in sorted(catalogue.items()):
        if info.get("access") not in READ_LEVELS or not playbooks.intersection(info.get("playbooks", [])):
            continue
        service = action.split(":", 1)[0]
        types = info.get("resources") or []
        kind = _kind(service, types, action, info.get("access"))
        if kind == "*":
            star.add(action)
        elif kind == "tag":
            tagged.add(action)
        else:
            for names in own:
                scoped[action] += _environment_arns(
                    action, types, names, account, region, partition, info.get("access") in READ_LEVELS
                )
    statements = []
    if star:
        statements.append(_statement("ActionsAwsAllowsOnlyOnAnyResource", star, "*"))
    if tagged:
        statements.append(_statement("ReadResourcesNamedById", tagged, "*"))
    for resources, actions in _grouped(scoped):
        statements.append(_statement(f"{_sid(actions[0].split(':', 1)[0])}{len(statements)}", actions, list(resources)))
    return statements


def boundary_policy(own, images, account, region, partition="aws"):
    """The permissions boundary of the roles a deployer scope's provisioning creates (task execution, container
    instances, AWS Backup's): the most they may ever do, whatever is attached to them, and only on the scope's own
    environments (own: names_of(...) of each; images: of the environments whose repositories it pulls from). No IAM,
    no STS. Each deployer scope has its own: a role one scope creates, trusted by anyone, reaches none of another
    scope's clusters, secrets, logs, images, databases or volumes."""
    base = f"arn:{partition}:{{}}:{region}:{account}:"
    ecs, ecr, logs, secrets, rds, ec2, backup = (
        base.format(s) for s in ("ecs", "ecr", "logs", "secretsmanager", "rds", "ec2", "backup")
    )
    # AWS Backup's role reaches the data stores of the scope's environments only: by name where AWS names them, by
    # their Environment tag where it does not (volumes, and the snapshots it deletes when they expire).
    names = sorted({n["environment"] for n in own})
    environments = {"StringLike": {f"aws:ResourceTag/{TAG_KEY}": names}}
    databases = sorted(  # the database, its instances and a DocumentDB cluster, as the deployer policy names them
        {f"{rds}db:{n['database']}" for n in own}
        | {f"{rds}db:{n['database']}-*" for n in own}
        | {f"{rds}cluster:{n['database']}" for n in own}
    )
    ebs_snapshots, db_snapshots = f"arn:{partition}:ec2:{region}::snapshot/*", f"{rds}snapshot:awsbackup:*"
    cluster_snapshots = f"{rds}cluster-snapshot:awsbackup:*"
    vaults = sorted({f"{backup}backup-vault:{n['backup_vault']}" for n in own})
    clusters = sorted({f"{ecs}cluster/{n['cluster']}" for n in own})
    instances = sorted({f"{ecs}container-instance/{n['cluster']}/*" for n in own})
    repositories = sorted({f"{ecr}repository/{r}" for n in [*own, *images] for r in n["repositories"]})
    statements = [
        _statement(
            "FindTheServicesEndpointsAndTheRegistry",
            ["ecr:GetAuthorizationToken", "ecs:DiscoverPollEndpoint", "ec2:DescribeTags"],
            "*",
        ),
        _statement(
            "RunTheScopesContainerInstances",
            [
                "ecs:CreateCluster",
                "ecs:DeregisterContainerInstance",
                "ecs:Poll",
                "ecs:RegisterContainerInstance",
                "ecs:StartTelemetrySession",
                "ecs:Submit*",
                "ecs:TagResource",
                "ecs:UpdateContainerInstancesState",
            ],
            [*clusters, *instances],
        ),
        _statement(
            "PullTheScopesImages",
            ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            repositories,
        ),
        _statement(
            "WriteTheScopesLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            sorted({f"{logs}log-group:{n['log_group']}:*" for n in own}),
        ),
        _statement(
            "ReadTheScopesSecrets",
            ["secretsmanager:GetSecretValue"],
            sorted({f"{secrets}secret:{n['secret_prefix']}*" for n in own}),
        ),
        _statement(
            "FindWhatAwsBackupBacksUp",
            [
                "ec2:DescribeSnapshots",
                "ec2:DescribeVolumes",
                "rds:DescribeDBClusterSnapshots",
                "rds:DescribeDBClusters",
                "rds:DescribeDBInstances",
                "rds:DescribeDBSnapshots",
                "tag:GetResources",
            ],
            "*",
        ),
        _statement("BackUpIntoTheScopesVaults", ["backup:CopyIntoBackupVault", "backup:DescribeBackupVault"], vaults),
        _statement(
            "SnapshotTheScopesDatabases",
            ["rds:CreateDBClusterSnapshot", "rds:CreateDBSnapshot"],
            [*databases, db_snapshots, cluster_snapshots],
        ),
        _statement("ReadTheScopesDatabasesTags", ["rds:ListTagsForResource"], databases),
        # Tags only on a new snapshot (no Environment tag yet) or on the scope's own: re-tagging another scope's
        # snapshot as this scope's, to expire it below, is refused.
        _statement(
            "TagOnlyNewOrTheScopesDatabaseSnapshots",
            ["rds:AddTagsToResource", "rds:ListTagsForResource"],
            [db_snapshots, cluster_snapshots],
            {"StringLikeIfExists": {f"aws:ResourceTag/{TAG_KEY}": names}},
        ),
        _statement("SnapshotTheScopesVolumes", ["ec2:CreateSnapshot"], f"{ec2}volume/*", environments),
        _statement("MakeTheVolumeSnapshots", ["ec2:CreateSnapshot"], ebs_snapshots),
        _statement(
            "TagVolumeSnapshotsOnlyAsTheyAreTaken",
            ["ec2:CreateTags"],
            ebs_snapshots,
            {"StringEquals": {"ec2:CreateAction": ["CreateSnapshot", "CreateSnapshots"]}},
        ),
        _statement(
            "ExpireOnlyTheScopesSnapshots",
            ["ec2:DeleteSnapshot", "rds:DeleteDBClusterSnapshot", "rds:DeleteDBSnapshot"],
            [ebs_snapshots, db_snapshots, cluster_snapshots],
            environments,
        ),
        # Snapshots of encrypted volumes and databases use their keys, through EC2 and RDS only.
        _statement(
            "UseTheDataStoresKeysThroughTheirServices",
            ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext"],
            "*",
            {"StringLike": {"kms:ViaService": [f"ec2.{region}.amazonaws.com", f"rds.{region}.amazonaws.com"]}},
        ),
        _statement("NoIdentityChanges", ["iam:*", "sts:AssumeRole*", "organizations:*"], "*", effect="Deny"),
    ]
    return _document(statements)


def scope_boundaries(scopes, envs):
    """{deployer scope: its permissions boundary's name}: the permissions_boundary_name its environments share (envs:
    environment -> names_of(...) with "boundary"). Refused when a scope's environments name different ones, or two
    scopes one: a role the one scope creates would then reach the other's secrets and clusters."""
    found = {}
    for scope in scopes:
        if scope["kind"] != "deployer":
            continue
        named = {env: envs[env].get("boundary") or "" for env in scope["environments"]}
        if not all(named.values()) or len(set(named.values())) != 1:
            listed = ", ".join(f"{env}: {name or '(none)'}" for env, name in named.items())
            raise AccessError(
                f"access scope {scope['name']}: its environments must name one permissions_boundary_name, of their "
                f"own scope; they name {listed}"
            )
        found[scope["name"]] = next(iter(named.values()))
    shared = [s for s in found if list(found.values()).count(found[s]) > 1]
    if shared:
        raise AccessError(
            f"access scopes {', '.join(shared)} share the permissions boundary {found[shared[0]]}: give each deployer "
            "scope's environments a permissions_boundary_name of its own"
        )
    return found


def _document(statements):
    return {"Version": "2012-10-17", "Statement": statements}


def github_trust_policy(account, provider_host, repository, github_environments, principals=(), partition="aws"):
    """Who may assume a deployer role: GitHub Actions jobs of `repository` in one of its GitHub environments (the sub
    claim pinned), and the IAM principals named (AWX's credentials)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repository or ""):
        raise AccessError(f"access_github_repository must be <owner>/<repository>, got {repository!r}")
    statements = [
        {
            "Sid": "GitHubActionsOfThisRepositoryInItsEnvironments",
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:{partition}:iam::{account}:oidc-provider/{provider_host}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {f"{provider_host}:aud": "sts.amazonaws.com"},
                "StringLike": {
                    f"{provider_host}:sub": [f"repo:{repository}:environment:{e}" for e in github_environments]
                },
            },
        }
    ]
    if principals:
        statements.append(
            {
                "Sid": "TheCredentialsOfAWX",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(principals)},
                "Action": "sts:AssumeRole",
            }
        )
    return _document(statements)


def documents(statements, name, limit=MANAGED_POLICY_CHARACTERS):
    """The statements packed into as few managed policies as fit AWS's size limit (whitespace not counted), each
    checked."""
    packed, current = [], []
    for statement in statements:
        if current and _size(_document([*current, statement])) > limit:
            packed.append(_document(current))
            current = []
        current.append(statement)
    if current:
        packed.append(_document(current))
    return [check(document, f"{name}-{n}", limit) for n, document in enumerate(packed, 1)]


def _size(document):
    return len(json.dumps(document, separators=(",", ":")))


def check(document, name, limit=MANAGED_POLICY_CHARACTERS):
    """Refuse a policy that allows every action on every resource, or any action of a service on every resource
    outside the actions AWS allows only on *."""
    for statement in document["Statement"]:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if statement.get("Effect") != "Allow":
            continue
        if "*" in resources and any(a == "*" or a.endswith(":*") for a in actions):
            raise AccessError(f"{name}: statement {statement.get('Sid')} would allow {', '.join(actions)} on *")
    size = _size(document)
    if size > limit:
        raise AccessError(f"{name}: {size} characters; a managed policy holds at most {limit}: split the statement")
    return document
