"""IAM authorization of each call: who calls, what they ask for, on which resources, and whether policies allow it.

The caller is the access key in the request's SigV4 credential scope. `testing` (what the tests, the Molecule
scenarios and the demo use) is the account's root user: everything is allowed and nothing is evaluated, as for AWS's
root user. An IAM user's access key is that user (its inline and attached policies, its groups', its permissions
boundary); a key STS handed out by AssumeRole or AssumeRoleWithWebIdentity is that role's session (the role's
policies and boundary). Any other key is refused as AWS refuses it (InvalidClientTokenId, UnrecognizedClientException,
AuthFailure, InvalidAccessKeyId: each protocol's word for it).

A call is authorized as AWS authorizes it: as its IAM action (operations.py) on each resource the Service
Authorization Reference lists for that action, with the resource's ARN filled in from the request's parameters and,
where the parameters name a resource by name or id, from moto's state; actions the reference lists without a resource
type are authorized on `*`. The request context carries the caller's keys (aws:PrincipalArn, aws:username,
aws:userid, aws:PrincipalAccount, aws:PrincipalType, aws:PrincipalTag/*), the request's tags (aws:RequestTag/*,
aws:TagKeys), each existing resource's tags (aws:ResourceTag/* and the service's own <service>:ResourceTag/*), and
iam:PermissionsBoundary, iam:PolicyARN, iam:PassedToService, ecs:cluster, s3:prefix, ec2:CreateAction (and ECS's and
ELB's), and Route 53's ChangeResourceRecordSets keys from its change batch (route53:ChangeResourceRecordSetsActions,
...RecordTypes and ...NormalizedRecordNames: each name in lower case, with no trailing dot, and every character other
than a-z, 0-9, -, _ and the dots between labels as its \\ooo octal escape, as Route 53 normalizes them: `*.example.com`
is `\\052.example.com`). Besides the call's own action, AWS authorizes:

- iam:PassRole on each role a call hands to a service (PASSED_ROLES), with iam:PassedToService;
- s3:GetObject on the source of CopyObject and UploadPartCopy;
- the tagging action on the new resource when EC2, ECS or Elastic Load Balancing create a resource with tags
  (ec2:CreateTags, ecs:TagResource, elasticloadbalancing:AddTags, with <service>:CreateAction), and when IAM, RDS,
  Secrets Manager, CloudWatch Logs or Application Auto Scaling do (TAGGED_CREATES: iam:TagRole ...);
- ec2:RunInstances (and ec2:CreateTags) when an Auto Scaling group is created or updated with a launch template;
- for DynamoDB's TransactWriteItems and TransactGetItems, each item's own action on its table.

A change acting on an existing resource whose ARN the local cloud cannot tell (resources.py: Call.unresolved) is
refused and kept (GET /_localcloud/unresolved), never judged on `*`.

sts:AssumeRole also needs the role's trust policy to name the caller (or its account, which then also needs an
identity policy allowing it); sts:AssumeRoleWithWebIdentity (unsigned) needs the trust policy to name an OpenID Connect
provider of the account for the token's issuer, with its conditions on <issuer>:sub, <issuer>:aud ... read from the
token, whose signature is not verified. sts:GetCallerIdentity needs no permission.

Sources: https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html,
https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html,
https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_oidc.html,
https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/specifying-rrset-conditions.html
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.utils import utcnow
from moto.ecs.models import ecs_backends
from moto.iam.models import iam_backends
from moto.sts.models import sts_backends
from moto.utilities.utils import get_partition

from . import iam_policy
from .errors import Answer, error_response
from .operations import Operation, models_of, operation_of, scope_of, service_model
from .resources import (
    ANY,
    CREATING,
    Call,
    Resource,
    ec2_arn,
    guarded,
    name_of,
    reference,
    resource,
    resource_type,
    resources_of,
    tag_dict,
    values,
)

ROOT_KEY = "testing"

# The service principal each role-passing parameter hands its role to: (IAM action, parameter path) -> service.
PASSED_ROLES: dict[tuple[str, str], str] = {
    ("ecs:RegisterTaskDefinition", "taskRoleArn"): "ecs-tasks.amazonaws.com",
    ("ecs:RegisterTaskDefinition", "executionRoleArn"): "ecs-tasks.amazonaws.com",
    ("ecs:RunTask", "overrides.taskRoleArn"): "ecs-tasks.amazonaws.com",
    ("ecs:RunTask", "overrides.executionRoleArn"): "ecs-tasks.amazonaws.com",
    ("ecs:StartTask", "overrides.taskRoleArn"): "ecs-tasks.amazonaws.com",
    ("ecs:StartTask", "overrides.executionRoleArn"): "ecs-tasks.amazonaws.com",
    ("ecs:CreateService", "role"): "ecs.amazonaws.com",
    ("backup:CreateBackupSelection", "BackupSelection.IamRoleArn"): "backup.amazonaws.com",
    ("backup:StartBackupJob", "IamRoleArn"): "backup.amazonaws.com",
    ("backup:StartRestoreJob", "IamRoleArn"): "backup.amazonaws.com",
    ("rds:CreateDBInstance", "MonitoringRoleArn"): "monitoring.rds.amazonaws.com",
    ("rds:ModifyDBInstance", "MonitoringRoleArn"): "monitoring.rds.amazonaws.com",
}
# Calls that hand an instance profile's role to EC2, and the parameter naming the profile ({"Arn"} or {"Name"}, or
# the launch configuration's name or ARN).
PASSED_PROFILES: dict[str, str] = {
    "ec2:RunInstances": "IamInstanceProfile",
    "ec2:AssociateIamInstanceProfile": "IamInstanceProfile",
    "ec2:ReplaceIamInstanceProfileAssociation": "IamInstanceProfile",
    "autoscaling:CreateLaunchConfiguration": "IamInstanceProfile",
}
# Auto Scaling groups launch instances from a launch template: the template's instance profile is passed to EC2.
LAUNCHING_GROUPS = ("autoscaling:CreateAutoScalingGroup", "autoscaling:UpdateAutoScalingGroup")
# Services that authorize tags given to a creating call as their tagging action on the new resource.
TAG_ON_CREATE = {
    "ec2": ("ec2:CreateTags", "ec2:createaction"),
    "ecs": ("ecs:TagResource", "ecs:createaction"),
    "elasticloadbalancing": ("elasticloadbalancing:AddTags", "elasticloadbalancing:createaction"),
}
_TAGGING_ACTIONS = {"ec2:CreateTags", "ecs:TagResource", "elasticloadbalancing:AddTags"}
# Other services' creates that, given tags, AWS also authorizes as the service's tagging action on the new resource
# (with no CreateAction key): creating call -> (the type it creates, the parameter naming it when the call names
# resources of that type it does not create, the tagging actions: one of them must be allowed). IAM's (a role created
# with tags needs iam:TagRole, as AWS answers CreateRole without it: "is not authorized to perform: iam:TagRole"), RDS's
# (the reference's dependent action rds:AddTagsToResource), SNS's (below), Secrets Manager's (CreateSecret's API
# reference: "If you include tags in the secret, you also need secretsmanager:TagResource"), CloudWatch Logs'
# (CreateLogGroup's: "you must have either the logs:TagResource or logs:TagLogGroup permission") and Application Auto
# Scaling's (the reference's dependent action application-autoscaling:TagResource). The reference lists no such
# dependent action, and their API references say nothing of it, for SSM's PutParameter, Backup's CreateBackupVault and
# CreateBackupPlan, and ACM's RequestCertificate: those authorize their tags as aws:RequestTag of the create alone.
TAGGED_CREATES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "iam:CreateRole": ("role", "", ("iam:TagRole",)),
    "iam:CreateUser": ("user", "", ("iam:TagUser",)),
    "iam:CreatePolicy": ("policy", "", ("iam:TagPolicy",)),
    "iam:CreateInstanceProfile": ("instance-profile", "", ("iam:TagInstanceProfile",)),
    "iam:CreateOpenIDConnectProvider": ("oidc-provider", "", ("iam:TagOpenIDConnectProvider",)),
    "rds:CreateDBInstance": ("db", "DBInstanceIdentifier", ("rds:AddTagsToResource",)),
    "rds:CreateDBInstanceReadReplica": ("db", "DBInstanceIdentifier", ("rds:AddTagsToResource",)),
    "rds:CreateDBSubnetGroup": ("subgrp", "DBSubnetGroupName", ("rds:AddTagsToResource",)),
    "rds:CreateDBSnapshot": ("snapshot", "DBSnapshotIdentifier", ("rds:AddTagsToResource",)),
    "rds:CreateDBCluster": ("cluster", "DBClusterIdentifier", ("rds:AddTagsToResource",)),
    "rds:CreateDBClusterSnapshot": ("cluster-snapshot", "DBClusterSnapshotIdentifier", ("rds:AddTagsToResource",)),
    "secretsmanager:CreateSecret": ("Secret", "", ("secretsmanager:TagResource",)),
    "logs:CreateLogGroup": ("log-group", "", ("logs:TagResource", "logs:TagLogGroup")),
    "application-autoscaling:RegisterScalableTarget": ("ScalableTarget", "", ("application-autoscaling:TagResource",)),
    # SNS's CreateTopic reference: "To be able to tag a topic on creation, you must have the sns:CreateTopic and
    # sns:TagResource permissions."
    "sns:CreateTopic": ("topic", "", ("sns:TagResource",)),
}
# DynamoDB has no action for its transactions: each item is authorized as its own action.
_TRANSACTION_ITEMS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}


# -- the request ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    """One authorization AWS makes for a call: an action on resources, with the request's own context keys."""

    action: str
    resources: tuple[Resource, ...]
    context: dict[str, list[str]] = field(default_factory=dict)
    alternatives: tuple[str, ...] = ()  # other actions any one of which allows it as well (logs:TagLogGroup)


_TAG_PARAMETERS = ("Tags", "tags", "Tagging", "AddTags", "BackupVaultTags", "BackupPlanTags", "RecoveryPointTags")
_TAG_KEY_PARAMETERS = ("TagKeys", "tagKeys", "RemoveTagKeys")


def request_tags(operation: Operation) -> tuple[dict[str, str], list[str]]:
    """The tags a request sets (aws:RequestTag) and the tag keys it names (aws:TagKeys)."""
    params = operation.params
    tags: dict[str, str] = {}
    keys: list[str] = []
    for name in _TAG_PARAMETERS:
        if name not in params:
            continue
        value = params[name]
        if operation.name == "DeleteTags":  # tags named by key, with or without the value to match
            keys += [t["Key"] for t in value if isinstance(t, dict) and t.get("Key")]
            continue
        tags.update(tag_dict(value))
    for specification in values(params, "TagSpecifications"):
        tags.update(tag_dict(specification.get("Tags")))
    for name in _TAG_KEY_PARAMETERS:
        keys += [str(k) for k in values(params, name)]
    return tags, list(dict.fromkeys([*tags, *keys]))


@functools.cache
def _takes_cluster(operation_name: str) -> bool:
    """Whether an ECS operation acts in a cluster (its `cluster` parameter, "default" when not given)."""
    model = service_model("ecs")
    shape = model.operation_model(operation_name).input_shape if operation_name in model.operation_names else None
    return shape is not None and "cluster" in shape.members


def _request_context(call: Call) -> dict[str, list[str]]:
    operation, params = call.operation, call.params
    context: dict[str, list[str]] = {}
    tags, keys = request_tags(operation)
    for key, value in tags.items():
        context[f"aws:requesttag/{key}".lower()] = [value]
    if keys:
        context["aws:tagkeys"] = keys
    if operation.prefix == "iam":
        boundary = params.get("PermissionsBoundary")
        if boundary is None and params.get("RoleName"):
            role = guarded(lambda: call.global_backend(iam_backends).get_role(params["RoleName"]))
            boundary = role.permissions_boundary_arn if role is not None else None
        if boundary:
            context["iam:permissionsboundary"] = [boundary]
        if params.get("PolicyArn"):
            context["iam:policyarn"] = [params["PolicyArn"]]
    if operation.prefix == "ecs" and _takes_cluster(operation.name):
        cluster = params.get("cluster") or "default"
        arn = cluster if cluster.startswith("arn:") else call.arn("ecs", "cluster", ClusterName=cluster)
        context["ecs:cluster"] = [arn]
    if operation.prefix == "ecs" and isinstance(params.get("taskDefinition"), str):
        context["ecs:task-definition"] = [_task_definition_arn(call, params["taskDefinition"])]
    if operation.iam_action == "cloudwatch:PutMetricAlarm" and params.get("AlarmActions"):
        context["cloudwatch:alarmactions"] = [str(a) for a in params["AlarmActions"]]
    if operation.prefix == "s3" and params.get("Prefix") is not None:
        context["s3:prefix"] = [params["Prefix"]]
    if operation.iam_action == "route53:ChangeResourceRecordSets":
        context.update(_record_set_context(params))
    return context


def _task_definition_arn(call: Call, named: str) -> str:
    """The ARN of the task definition a request names (ecs:task-definition): an ARN, family:revision, or a family
    (its latest active revision, as ECS resolves it)."""
    if named.startswith("arn:"):
        return named
    family, revision = [*named.split(":", 1), ""][:2]
    if not revision:
        found = guarded(lambda: call.backend(ecs_backends).describe_task_definition(family))
        if found is not None:
            return found.arn
    return call.arn("ecs", "task-definition", TaskDefinitionFamilyName=family, TaskDefinitionRevisionNumber=revision)


_RECORD_NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


def normalized_record_name(name: str) -> str:
    """A record name as Route 53 normalizes it for route53:ChangeResourceRecordSetsNormalizedRecordNames: lower case,
    no trailing dot, and every character other than a-z, 0-9, -, _ and the dots between labels as a \\ooo octal
    escape (`*` is `\\052`). A request may escape any character itself (\\ooo, or \\ before it): read as that
    character, a dot so escaped being part of its label."""
    characters: list[tuple[str, bool]] = []  # (character, escaped)
    position = 0
    while position < len(name):
        if name[position] == "\\" and re.fullmatch(r"[0-7]{3}", name[position + 1 : position + 4]):
            characters.append((chr(int(name[position + 1 : position + 4], 8)), True))
            position += 4
        elif name[position] == "\\" and position + 1 < len(name):
            characters.append((name[position + 1], True))
            position += 2
        else:
            characters.append((name[position], False))
            position += 1
    if characters and characters[-1] == (".", False):
        characters.pop()
    normalized = []
    for character, escaped in characters:
        character = character.lower()
        if character in _RECORD_NAME_CHARACTERS or (character == "." and not escaped):
            normalized.append(character)
        else:
            normalized += [f"\\{byte:03o}" for byte in character.encode("utf-8")]
    return "".join(normalized)


def _record_set_context(params: dict[str, Any]) -> dict[str, list[str]]:
    """Route 53's condition keys of a ChangeResourceRecordSets request: its changes' actions, record types and
    normalized record names (multivalued: a policy tests them with ForAllValues or ForAnyValue)."""
    changes = [c for c in values(params, "ChangeBatch.Changes") if isinstance(c, dict)]
    record_sets = [c.get("ResourceRecordSet") or {} for c in changes]
    found = {
        "route53:changeresourcerecordsetsactions": [str(c.get("Action", "")).upper() for c in changes],
        "route53:changeresourcerecordsetsrecordtypes": [str(r.get("Type", "")).upper() for r in record_sets],
        "route53:changeresourcerecordsetsnormalizedrecordnames": [
            normalized_record_name(str(r.get("Name", ""))) for r in record_sets
        ],
    }
    found = {key: list(dict.fromkeys(v for v in found_values if v)) for key, found_values in found.items()}
    return {key: found_values for key, found_values in found.items() if found_values}


# -- the requests a call makes ---------------------------------------------------------------------------------------
def _role_arns_of_profile(call: Call, profile: Any) -> list[str]:
    iam = call.global_backend(iam_backends)
    named = (profile.get("Arn") or profile.get("Name")) if isinstance(profile, dict) else profile
    if not named:
        return []
    if named.startswith("arn:"):
        found = guarded(lambda: iam.get_instance_profile_by_arn(named))
    else:
        found = guarded(lambda: iam.get_instance_profile(named))
    return [role.arn for role in found.roles] if found is not None else []


def _launch_template(call: Call, specification: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The id of the launch template a specification names, and the data of the version it names."""
    from moto.ec2.models import ec2_backends

    backend = call.backend(ec2_backends)
    template_id = specification.get("LaunchTemplateId") or backend.launch_template_name_to_ids.get(
        specification.get("LaunchTemplateName", "")
    )
    template = backend.launch_templates.get(template_id or "")
    if template is None:
        return None
    version = guarded(lambda: template.get_version(specification.get("Version") or "$Default"))
    return (template.id, version.data or {}) if version is not None else None


def _launch_template_profile(call: Call, specification: dict[str, Any]) -> Any:
    found = _launch_template(call, specification)
    return found[1].get("IamInstanceProfile") if found is not None else None


def _group_templates(call: Call) -> list[dict[str, Any]]:
    params = call.params
    return values(params, "LaunchTemplate") + values(
        params, "MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification"
    )


def _group_subnets(call: Call) -> list[str]:
    """The subnets an Auto Scaling group launches into: the request's, else the group's own."""
    from moto.autoscaling.models import autoscaling_backends

    named = values(call.params, "VPCZoneIdentifier")
    if not named:
        group = call.backend(autoscaling_backends).autoscaling_groups.get(call.params.get("AutoScalingGroupName", ""))
        named = [group.vpc_zone_identifier] if group is not None and group.vpc_zone_identifier else []
    return [subnet.strip() for value in named for subnet in str(value).split(",") if subnet.strip()]


def _launches(call: Call) -> list[Request]:
    """What Amazon EC2 Auto Scaling checks when a group is created or updated with a launch template: that the caller
    may launch its instances, ec2:RunInstances with the template (on the template, its image, its security groups, the
    group's subnets, and the instances, volumes and network interfaces a launch makes, the template's tags being the
    request's), and ec2:CreateTags with ec2:CreateAction RunInstances when the template tags what it launches.
    Source: https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-api-permissions.html"""
    if call.operation.iam_action not in LAUNCHING_GROUPS:
        return []
    requests = []
    for specification in _group_templates(call):
        found = _launch_template(call, specification)
        if found is None:  # no such template: Auto Scaling refuses the group itself
            continue
        template_id, data = found
        tags: dict[str, str] = {}
        tagged = []
        for tag_specification in values(data, "TagSpecifications"):
            tags.update(tag_dict(tag_specification.get("Tags")))
            if tag_specification.get("ResourceType") in reference()["ec2"].templates:
                tagged.append(tag_specification["ResourceType"])
        context = {f"aws:requesttag/{key}".lower(): [value] for key, value in tags.items()}
        if tags:
            context["aws:tagkeys"] = list(tags)
        arns = [ec2_arn(call, "launch-template", template_id)]
        arns += [ec2_arn(call, "image", image) for image in values(data, "ImageId")]
        groups = values(data, "SecurityGroupIds") + values(data, "NetworkInterfaces.Groups")
        arns += [ec2_arn(call, "security-group", group) for group in groups]
        subnets = _group_subnets(call) + values(data, "NetworkInterfaces.SubnetId")
        arns += [ec2_arn(call, "subnet", subnet) for subnet in subnets]
        arns += [ec2_arn(call, kind, ANY) for kind in ("instance", "volume", "network-interface")]
        targets = tuple(resource(call, arn) for arn in dict.fromkeys(arns))
        requests.append(Request("ec2:RunInstances", targets, context))
        if tags and tagged:
            made = tuple(Resource(ec2_arn(call, kind, ANY)) for kind in dict.fromkeys(tagged))
            requests.append(Request("ec2:CreateTags", made, {**context, "ec2:createaction": ["RunInstances"]}))
    return requests


def _tagged_create(call: Call, main: Request) -> Request | None:
    """The tagging AWS authorizes, besides the create itself, when a create of TAGGED_CREATES is given tags: on the
    resource it creates (named by `parameter` where the call names others of its type, as a read replica its source)."""
    entry = TAGGED_CREATES.get(call.operation.iam_action)
    if entry is None or not request_tags(call.operation)[0]:
        return None
    kind, parameter, actions = entry
    prefix = call.operation.prefix
    named = [str(v) for v in values(call.params, parameter)] if parameter else []
    arns = [
        r.arn
        for r in main.resources
        if resource_type(prefix, r.arn) == kind and (not named or any(r.arn.endswith((f":{v}", v)) for v in named))
    ]
    context = {k: v for k, v in main.context.items() if k.startswith(("aws:requesttag/", "aws:tagkeys"))}
    made = tuple(Resource(arn) for arn in arns or [call.arn(prefix, kind)])
    return Request(actions[0], made, context, actions[1:])


def _passed_roles(call: Call) -> list[tuple[str, str]]:
    """(role ARN, service principal) of each role the call hands to a service."""
    action, params = call.operation.iam_action, call.params
    passed = [
        (arn, service)
        for (passing, path), service in PASSED_ROLES.items()
        if passing == action
        for arn in values(params, path)
    ]
    if action in PASSED_PROFILES:
        for profile in values(params, PASSED_PROFILES[action]):
            passed += [(arn, "ec2.amazonaws.com") for arn in _role_arns_of_profile(call, profile)]
    if action in LAUNCHING_GROUPS:
        for specification in _group_templates(call):
            profile = _launch_template_profile(call, specification)
            passed += [(arn, "ec2.amazonaws.com") for arn in _role_arns_of_profile(call, profile)]
    return list(dict.fromkeys(passed))


def _tag_on_create(call: Call, main: Request) -> Request | None:
    operation = call.operation
    tagging = TAG_ON_CREATE.get(operation.prefix)
    if tagging is None or operation.iam_action in _TAGGING_ACTIONS or not operation.name.startswith(CREATING):
        return None
    if not request_tags(operation)[0]:
        return None
    action, create_key = tagging
    if operation.prefix == "ec2":
        arns = [
            ec2_arn(call, spec["ResourceType"], ANY)
            for spec in values(call.params, "TagSpecifications")
            if spec.get("ResourceType") in reference()["ec2"].templates
        ]
    elif operation.name in ("RunTask", "StartTask"):
        cluster = name_of(call.params.get("cluster") or "default")
        arns = [call.arn("ecs", "task", ClusterName=cluster, TaskId=ANY)]
    elif operation.name == "CreateListener":
        arns = [
            f"{arn.replace(':loadbalancer/', ':listener/', 1)}/{ANY}" for arn in values(call.params, "LoadBalancerArn")
        ]
    elif operation.name == "CreateRule":
        arns = [
            f"{arn.replace(':listener/', ':listener-rule/', 1)}/{ANY}" for arn in values(call.params, "ListenerArn")
        ]
    else:
        arns = [resource.arn for resource in main.resources]  # the resource the call creates
    context = {k: v for k, v in main.context.items() if k.startswith(("aws:requesttag/", "aws:tagkeys"))}
    context[create_key] = [operation.name]
    return Request(action, tuple(Resource(arn) for arn in arns or [ANY]), context)


def requests_of(call: Call) -> list[Request]:
    """Every authorization AWS makes for the call, its own action's first."""
    operation, params = call.operation, call.params
    context = _request_context(call)
    if operation.name in ("TransactWriteItems", "TransactGetItems") and operation.prefix == "dynamodb":
        requests = []
        for item in params.get("TransactItems") or []:
            for kind, action in _TRANSACTION_ITEMS.items():
                table = (item.get(kind) or {}).get("TableName")
                if table:
                    arn = call.arn("dynamodb", "table", TableName=table.split(":table/", 1)[-1])
                    requests.append(Request(action, (resource(call, arn),), context))
        return requests
    main = Request(operation.iam_action, tuple(resource(call, arn) for arn in resources_of(call)), context)
    requests = [main]
    for role_arn, service in _passed_roles(call):
        requests.append(Request("iam:PassRole", (resource(call, role_arn),), {"iam:passedtoservice": [service]}))
    source = params.get("CopySource") if operation.prefix == "s3" else None
    if source:
        path = unquote(source.split("?", 1)[0]).lstrip("/")
        bucket, _slash, key = path.partition("/")
        arn = call.arn("s3", "object", BucketName=bucket, ObjectName=key)
        requests.append(Request("s3:GetObject", (Resource(arn),), {}))
    tagging = _tag_on_create(call, main) or _tagged_create(call, main)
    if tagging is not None:
        requests.append(tagging)
    return requests + _launches(call)


# -- principals --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Principal:
    """Who calls: the root user, an IAM user, or a role's session, with its policies and its context keys."""

    kind: str  # "root", "user", "assumed-role"
    arn: str
    account: str
    identity: list[iam_policy.Document] = field(default_factory=list)
    boundary: list[iam_policy.Document] | None = None
    context: dict[str, list[str]] = field(default_factory=dict)
    names: tuple[str, ...] = ()  # the ARNs a trust policy may name it by directly (user, session)

    @property
    def is_root(self) -> bool:
        return self.kind == "root"


class TokenError(Exception):
    """The access key is not one AWS would accept; `expired` for a session past its expiry."""

    def __init__(self, expired: bool = False) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


def account_of(environ: dict[str, Any], access_key: str) -> str:
    """The account a call is made in, as moto picks it."""
    from moto.iam.models import get_account_id_from

    return (
        os.environ.get("MOTO_ACCOUNT_ID")
        or environ.get("HTTP_X_MOTO_ACCOUNT_ID")
        or (DEFAULT_ACCOUNT_ID if access_key == ROOT_KEY else get_account_id_from(access_key))
    )


def _principal_context(kind: str, arn: str, account: str, userid: str, tags: Any) -> dict[str, list[str]]:
    context = {
        "aws:principalarn": [arn],
        "aws:principalaccount": [account],
        "aws:principaltype": [kind],
        "aws:userid": [userid],
    }
    for key, value in tag_dict(tags).items():
        context[f"aws:principaltag/{key}".lower()] = [value]
    return context


def principal_of(access_key: str, account: str, region: str) -> Principal:
    """The principal an access key stands for; TokenError when AWS would not accept the key."""
    if access_key == ROOT_KEY:
        return Principal("root", f"arn:{get_partition(region)}:iam::{account}:root", account)
    partition = get_partition(region)
    iam = iam_backends[account][partition]
    key = iam.access_keys.get(access_key)
    if key is None or key.status != "Active":
        raise TokenError
    if key.user_name:
        user = iam.users.get(key.user_name)
        if user is None:
            raise TokenError
        context = _principal_context("User", user.arn, account, user.id, user.tags)
        context["aws:username"] = [user.name]
        boundary = iam_policy.boundary_documents(iam, getattr(user, "permissions_boundary_arn", None))
        return Principal(
            "user", user.arn, account, iam_policy.user_documents(user, iam), boundary, context, (user.arn,)
        )
    session = next((s for s in sts_backends[account][partition].assumed_roles if s.access_key_id == access_key), None)
    if session is None or key.role_arn is None:
        raise TokenError
    if utcnow() > session.expiration:
        raise TokenError(expired=True)
    role = guarded(lambda: iam.get_role_by_arn(key.role_arn))
    if role is None:  # the role was deleted: its sessions keep no permissions
        return Principal("assumed-role", session.arn, account, names=(session.arn,))
    context = _principal_context("AssumedRole", role.arn, account, f"{role.id}:{session.session_name}", role.tags)
    boundary = iam_policy.boundary_documents(iam, role.permissions_boundary_arn)
    return Principal(
        "assumed-role", session.arn, account, iam_policy.role_documents(role), boundary, context, (session.arn,)
    )


# -- trust policies ----------------------------------------------------------------------------------------------------
def _assume_role_denial(principal: Principal, call: Call, role_arn: str) -> str | None:
    """Why the principal may not assume the role (None when it may): the role's trust policy must name it, or its
    account; when it names only the account, the principal's identity policies (and boundary) must allow it too. An
    explicit deny in either refuses it."""
    role = guarded(lambda: call.global_backend(iam_backends).get_role_by_arn(role_arn))
    refused = "is not authorized to perform: sts:AssumeRole on resource: " + role_arn
    if role is None:
        return refused
    context = {**principal.context, **resource(call, role_arn).context, **_request_context(call)}
    account = principal.account
    named = {"AWS": list(principal.names)}
    delegated = {"AWS": [*principal.names, account, f"arn:{call.partition}:iam::{account}:root"]}
    document = role.assume_role_policy_document
    decision = iam_policy.trust(document, "sts:AssumeRole", delegated, context)
    if decision is not iam_policy.Decision.ALLOW:
        return refused
    if principal.is_root:
        return None
    why = iam_policy.explain(principal.identity, principal.boundary, "sts:AssumeRole", role_arn, context)
    if why is None:
        return None
    if why.startswith("because") and iam_policy.trust(document, "sts:AssumeRole", named, context) is (
        iam_policy.Decision.ALLOW
    ):
        return None  # a trust policy naming the caller itself needs no identity policy in the same account
    return f"is not authorized to perform: sts:AssumeRole on resource: {role_arn} {why}"


def _jwt_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JSON Web Token, read without verifying its signature."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str
    status: str = "403 Forbidden"


def _web_identity_refusal(call: Call) -> Refusal | None:
    """Why STS refuses AssumeRoleWithWebIdentity: a token it cannot read, an issuer with no OpenID Connect provider in
    the account, an audience the provider does not list, an expired token, or a trust policy that does not allow the
    provider with these claims."""
    params = call.params
    claims = _jwt_claims(params.get("WebIdentityToken", ""))
    if claims is None or not isinstance(claims.get("iss"), str):
        return Refusal("InvalidIdentityToken", "Couldn't parse the provided token.", "400 Bad Request")
    url = urlsplit(claims["iss"] if "://" in claims["iss"] else f"https://{claims['iss']}")
    issuer = f"{url.netloc}{url.path}".rstrip("/")
    provider_arn = f"arn:{call.partition}:iam::{call.account}:oidc-provider/{issuer}"
    iam = call.global_backend(iam_backends)
    provider = iam.open_id_providers.get(provider_arn)
    if provider is None:
        return Refusal(
            "InvalidIdentityToken",
            f"No OpenIDConnect provider found in your account for {claims['iss']}",
            "400 Bad Request",
        )
    audiences = claims.get("aud") if isinstance(claims.get("aud"), list) else [claims.get("aud")]
    if provider.client_id_list and not set(map(str, audiences)) & set(provider.client_id_list):
        return Refusal("InvalidIdentityToken", "Incorrect token audience", "400 Bad Request")
    now = int(time.time())
    if isinstance(claims.get("exp"), (int, float)) and claims["exp"] < now:
        return Refusal(
            "ExpiredTokenException",
            f"Token expired: current date/time {now} must be before the expiration date/time {int(claims['exp'])}",
            "400 Bad Request",
        )
    context: dict[str, list[str]] = {}
    for claim in ("sub", "aud", "amr", "azp", "email"):
        if claim in claims:
            value = claims[claim]
            context[f"{issuer}:{claim}".lower()] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    if "aud" in claims:
        context[f"{issuer}:oaud".lower()] = context[f"{issuer}:aud".lower()]
    context["aws:federatedprovider"] = [provider_arn]
    role = guarded(lambda: iam.get_role_by_arn(params.get("RoleArn", "")))
    allowed = (
        role is not None
        and iam_policy.trust(
            role.assume_role_policy_document,
            "sts:AssumeRoleWithWebIdentity",
            {"Federated": [provider_arn]},
            context,
        )
        is iam_policy.Decision.ALLOW
    )
    if not allowed:
        return Refusal("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    return None


# -- answers -----------------------------------------------------------------------------------------------------------
def _denied_code(operation: Operation) -> str:
    if operation.signing_name == "ec2":
        return "UnauthorizedOperation"
    query_compatible = any("awsQueryCompatible" in model.metadata for model in models_of(operation.signing_name))
    return (
        "AccessDenied" if operation.protocol in ("query", "rest-xml") or query_compatible else "AccessDeniedException"
    )


def _answer(environ: dict[str, Any], signing_name: str, refusal: Refusal) -> Answer:
    return error_response(signing_name, environ, refusal.status, refusal.code, refusal.message)


def denied(operation: Operation, principal: Principal, action: str, resource: str, why: str) -> Refusal:
    """AWS's AccessDenied for one action on one resource, in the service's code and wording."""
    text = f"User: {principal.arn} is not authorized to perform: {action} on resource: {resource} {why}"
    if operation.signing_name == "s3":
        return Refusal("AccessDenied", "Access Denied")
    if operation.signing_name == "ec2":
        return Refusal("UnauthorizedOperation", f"You are not authorized to perform this operation. {text}")
    code = _denied_code(operation)
    return Refusal(
        code,
        text,
        "400 Bad Request" if code == "AccessDeniedException" and operation.protocol == "json" else "403 Forbidden",
    )


def invalid_token(signing_name: str, protocol: str, expired: bool) -> Refusal:
    """What each protocol answers a key it does not know (or a session past its expiry)."""
    if expired:
        code = "ExpiredTokenException" if protocol in ("json", "rest-json") else "ExpiredToken"
        return Refusal(code, "The security token included in the request is expired")
    if signing_name == "s3":
        return Refusal("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
    if signing_name == "ec2":
        return Refusal(
            "AuthFailure", "AWS was not able to validate the provided access credentials", "401 Unauthorized"
        )
    if protocol in ("json", "rest-json"):
        return Refusal(
            "UnrecognizedClientException", "The security token included in the request is invalid.", "400 Bad Request"
        )
    return Refusal("InvalidClientTokenId", "The security token included in the request is invalid.")


# -- the authorizer ----------------------------------------------------------------------------------------------------
@dataclass
class Verdict:
    principal: str
    action: str
    resources: list[str]
    decision: str  # "allow" or "deny"
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "action": self.action,
            "resources": self.resources,
            "decision": self.decision,
            "reason": self.reason,
        }


APP_ID = re.compile(r"(?:^|\s)app/([A-Za-z0-9!#$%&'*+.^_`|~-]+)")


def _caller(environ: dict[str, Any]) -> str:
    agent = environ.get("HTTP_USER_AGENT", "")
    app = APP_ID.search(agent)
    return app.group(1) if app else "ansible" if "Ansible/" in agent else ""


class Authorizer:
    """Authorizes each call (LocalCloud.__call__) and keeps the last `limit` decisions, for tests and debugging."""

    def __init__(self, limit: int = 20_000) -> None:
        self.records: deque[dict[str, Any]] = deque(maxlen=limit)
        # caller (an AWS SDK application id, AWS_SDK_UA_APP_ID; else "ansible" for Ansible's AWS modules, whose user
        # agent says "Ansible/") -> every IAM action its calls needed, the implied ones (tagging on create,
        # iam:PassRole) included: what scripts/record_actions.py and the test shards read to keep the access role's
        # catalogue true. A reset leaves it: it records, it is not state.
        self.actions: dict[str, set[str]] = {}
        # The changes refused because a resource they act on could not be resolved to its ARN (_unresolvable).
        self.unresolved: deque[dict[str, Any]] = deque(maxlen=limit)

    def _record(self, verdict: Verdict) -> None:
        self.records.append({"time": time.time(), **verdict.as_dict()})

    def _note(self, environ: dict[str, Any], actions: list[str]) -> None:
        caller = _caller(environ)
        if caller:
            self.actions.setdefault(caller, set()).update(a for a in actions if a)

    def refusal(self, environ: dict[str, Any], body: bytes) -> Answer | None:
        """AWS's answer to a call the caller may not make; None to let it through."""
        scope = scope_of(environ)
        if scope is None:
            return self._unsigned(environ, body)
        account = account_of(environ, scope.access_key)
        if scope.access_key == ROOT_KEY:
            recording = bool(_caller(environ))
            operation = operation_of(environ, body, parameters=recording)
            if operation is not None:
                self._record(Verdict("root", operation.iam_action, [], "allow"))
                if recording:
                    calls = requests_of(Call(operation, scope.region, account))
                    self._note(environ, [operation.iam_action, *(r.action for r in calls)])
            return None
        operation = operation_of(environ, body)
        try:
            principal = principal_of(scope.access_key, account, scope.region)
        except TokenError as error:
            refusal = invalid_token(scope.signing_name, operation.protocol if operation else "", error.expired)
            action = operation.iam_action if operation else ""
            self._record(Verdict(scope.access_key, action, [], "deny", refusal.message))
            return _answer(environ, scope.signing_name, refusal)
        if operation is None:  # not an operation of the service's API: moto answers it
            self._record(Verdict(principal.arn, "", [], "allow", "not an operation of the service: not evaluated"))
            return None
        call = Call(operation, scope.region, account)
        refusal, verdict = self._decide(principal, call)
        self._record(verdict)
        if _caller(environ):
            self._note(environ, [operation.iam_action, *(r.action for r in requests_of(call))])
        return _answer(environ, scope.signing_name, refusal) if refusal else None

    def _decide(self, principal: Principal, call: Call) -> tuple[Refusal | None, Verdict]:
        operation = call.operation
        if operation.iam_action == "sts:GetCallerIdentity":
            return None, Verdict(principal.arn, operation.iam_action, [ANY], "allow", "needs no permission")
        if operation.iam_action == "sts:AssumeRole":
            role_arn = operation.params.get("RoleArn", "")
            why = _assume_role_denial(principal, call, role_arn)
            if why is None:
                return None, Verdict(principal.arn, operation.iam_action, [role_arn], "allow")
            message = f"User: {principal.arn} {why}"
            return Refusal("AccessDenied", message), Verdict(
                principal.arn, operation.iam_action, [role_arn], "deny", message
            )
        requests = requests_of(call)
        if call.unresolved:
            return self._unresolvable(principal, call, requests[0])
        for request in requests:
            for target in request.resources:
                context = {**principal.context, **request.context, **target.context}
                reasons = [
                    iam_policy.explain(principal.identity, principal.boundary, action, target.arn, context)
                    for action in (request.action, *request.alternatives)
                ]
                why = None if None in reasons else reasons[0]
                if why is not None:
                    refusal = denied(operation, principal, request.action, target.arn, why)
                    resources = [r.arn for r in request.resources]
                    return refusal, Verdict(principal.arn, request.action, resources, "deny", refusal.message)
        resources = [r.arn for r in requests[0].resources] if requests else []
        return None, Verdict(principal.arn, operation.iam_action, resources, "allow")

    def _unresolvable(self, principal: Principal, call: Call, main: Request) -> tuple[Refusal, Verdict]:
        """A change whose existing resource the local cloud cannot tell (Call.unresolved) is refused, never judged on
        `*`: AWS knows the ARN and judges the policy on it, so a green run here must not rest on a guess. Each is kept
        in `unresolved` (GET /_localcloud/unresolved), for tests to assert there are none."""
        kinds = list(dict.fromkeys(call.unresolved))
        arn = next((r.arn for r in main.resources if ANY in r.arn.split(":", 5)[-1]), ANY)
        why = (
            f"because the local cloud cannot tell which {' and '.join(kinds)} the request acts on (no ARN from its "
            "parameters or the local cloud's state: localcloud/resources.py)"
        )
        refusal = denied(call.operation, principal, main.action, arn, why)
        self.unresolved.append(
            {
                "time": time.time(),
                "principal": principal.arn,
                "action": main.action,
                "operation": call.operation.name,
                "resource_types": kinds,
                "parameters": sorted(call.params),
            }
        )
        return refusal, Verdict(principal.arn, main.action, [r.arn for r in main.resources], "deny", refusal.message)

    def _unsigned(self, environ: dict[str, Any], body: bytes) -> Answer | None:
        if b"AssumeRoleWithWebIdentity" not in body and "AssumeRoleWithWebIdentity" not in environ.get(
            "QUERY_STRING", ""
        ):
            return None
        operation = operation_of(environ, body)
        if operation is None or operation.iam_action != "sts:AssumeRoleWithWebIdentity":
            return None
        call = Call(operation, "us-east-1", account_of(environ, ""))  # STS's global endpoint; IAM is global
        refusal = _web_identity_refusal(call)
        role_arn = operation.params.get("RoleArn", "")
        verdict = Verdict("web-identity", operation.iam_action, [role_arn], "deny" if refusal else "allow")
        if refusal:
            verdict.reason = refusal.message
        self._record(verdict)
        return _answer(environ, "sts", refusal) if refusal else None

    def decisions(self, clear: bool = False) -> list[dict[str, Any]]:
        records = list(self.records)
        if clear:
            self.records.clear()
        return records

    def recorded_actions(self, clear: bool = False) -> dict[str, list[str]]:
        actions = {app: sorted(names) for app, names in sorted(self.actions.items())}
        if clear:
            self.actions.clear()
        return actions

    def unresolvable(self, clear: bool = False) -> list[dict[str, Any]]:
        found = list(self.unresolved)
        if clear:
            self.unresolved.clear()
        return found

    def reset(self) -> None:
        self.records.clear()
        self.unresolved.clear()
