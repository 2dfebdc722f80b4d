"""Requests AWS refuses and moto accepts, refused before moto sees them, with AWS's error code and message.

Each rule reads the call's own parameters (for ECS also the task definition, cluster or service moto holds) and
returns a Refusal, or None to let moto answer. Rules moto already enforces are left to moto. docs/localcloud.md
("Strictness: requests AWS refuses") lists every rule with its AWS source.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from moto.core.exceptions import JsonRESTError
from moto.ecs.models import EC2ContainerServiceBackend, TaskDefinition, ecs_backends
from moto.iam.models import get_account_id_from

from .errors import Answer, error_response

_SCOPE = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/")
ELBV2_VERSION = "2015-12-01"
FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")

RDS_IDENTIFIER = re.compile(r"[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}(?<!-)")
RDS_SUBNET_GROUP = re.compile(r"[A-Za-z0-9._ -]{1,255}")
LOAD_BALANCER_CHARACTERS = re.compile(r"[A-Za-z0-9-]+")
BUCKET_CHARACTERS = re.compile(r"[a-z0-9][a-z0-9.-]*[a-z0-9]")
BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
ECS_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
DYNAMODB_TABLE = r"[a-zA-Z0-9_.-]+"
IAM_NAME = r"[\w+=,.@-]+"
IAM_PATH = r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)"
LOG_GROUP = r"[\.\-_/#A-Za-z0-9]+"


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str
    fields: dict[str, str] = field(default_factory=dict)  # extra elements of an S3 error (BucketName)


@dataclass(frozen=True)
class Call:
    params: dict[str, Any]  # the request's parameters: its JSON body, its query form, or S3's Bucket
    environ: dict[str, Any]


Rule = Callable[[Call], Refusal | None]


def refusal(environ: dict[str, Any], body: bytes, service: str, action: str) -> Answer | None:
    """AWS's answer to a call it refuses and moto would accept; None for every other call."""
    action = _s3_action(environ, action) if service == "s3" else action
    rule = RULES.get((service, action))
    if rule is None:
        return None
    refused = rule(Call(_params(environ, body, service), environ))
    if refused is None:
        return None
    return error_response(service, environ, "400 Bad Request", refused.code, refused.message, refused.fields)


# -- reading a call ------------------------------------------------------------------------------------------------
def _s3_action(environ: dict[str, Any], action: str) -> str:
    """S3 names no action: a PUT of a bucket's path with no subresource is CreateBucket (path-style addressing)."""
    method, _space, path = action.partition(" ")
    bucket = path.strip("/")
    if method == "PUT" and bucket and "/" not in bucket and not environ.get("QUERY_STRING"):
        return "CreateBucket"
    return action


def _params(environ: dict[str, Any], body: bytes, service: str) -> dict[str, Any]:
    if service == "s3":
        return {"Bucket": environ.get("PATH_INFO", "").strip("/")}
    text = body.decode("utf-8", "replace")
    if "json" in environ.get("CONTENT_TYPE", ""):
        try:
            params = json.loads(text or "{}")
        except ValueError:
            return {}
        return params if isinstance(params, dict) else {}
    return {key: values[0] for key, values in parse_qs(text).items()}


def _is_true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _constraint_failures(
    member: str, value: str, *, pattern: str | None = None, max_length: int | None = None
) -> list[str]:
    """The failures AWS's request validation lists for one member, in its words."""
    prefix = f"Value '{value}' at '{member}' failed to satisfy constraint: Member must "
    failures = []
    if max_length is not None and len(value) > max_length:
        failures.append(f"{prefix}have length less than or equal to {max_length}")
    if pattern is not None and not re.fullmatch(pattern, value, re.ASCII):
        failures.append(f"{prefix}satisfy regular expression pattern: {pattern}")
    return failures


def _validation_refusal(code: str, failures: list[str]) -> Refusal | None:
    if not failures:
        return None
    count = len(failures)
    return Refusal(code, f"{count} validation error{'s' if count > 1 else ''} detected: {'; '.join(failures)}")


# -- names and required parameters ---------------------------------------------------------------------------------
def load_balancer_name(call: Call) -> Refusal | None:
    name = call.params.get("Name")
    if call.params.get("Version") != ELBV2_VERSION or name is None:
        return None  # the classic ELB API shares the action name
    if len(name) > 32:
        return Refusal("ValidationError", "LoadBalancer name cannot be longer than 32 characters")
    if not LOAD_BALANCER_CHARACTERS.fullmatch(name):
        return Refusal(
            "ValidationError",
            "LoadBalancer name cannot contain characters that are not letters, or digits or the dash.",
        )
    if name.startswith("-") or name.endswith("-"):
        return Refusal("ValidationError", "LoadBalancer name cannot begin or end with a hyphen")
    if name.startswith("internal-"):
        return Refusal("ValidationError", "LoadBalancer name cannot begin with 'internal-'")
    return None


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


def bucket_name(call: Call) -> Refusal | None:
    name = call.params["Bucket"]
    valid = (
        3 <= len(name) <= 63
        and BUCKET_CHARACTERS.fullmatch(name)
        and ".." not in name
        and not _is_ip_address(name)
        and not name.startswith(BUCKET_PREFIXES)
        and not name.endswith(BUCKET_SUFFIXES)
    )
    return None if valid else Refusal("InvalidBucketName", "The specified bucket is not valid.", {"BucketName": name})


def _rds_identifier(call: Call, parameter: str) -> Refusal | None:
    value = call.params.get(parameter)
    if value is None or RDS_IDENTIFIER.fullmatch(value):
        return None
    return Refusal(
        "InvalidParameterValue",
        f"The parameter {parameter} is not a valid identifier. Identifiers must begin with a letter; must contain only "
        "ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens.",
    )


def db_instance_password(call: Call) -> Refusal | None:
    engine = call.params.get("Engine", "")
    if engine.startswith("aurora") or _is_true(call.params.get("ManageMasterUserPassword")):
        return None  # cluster members take the cluster's password; a managed one lives in Secrets Manager
    password = call.params.get("MasterUserPassword", "")
    if not password:
        return Refusal(
            "InvalidParameterValue", "The parameter MasterUserPassword must be provided and must not be blank."
        )
    if len(password) < 8:
        return Refusal(
            "InvalidParameterValue",
            "The parameter MasterUserPassword is not a valid password because it is shorter than 8 characters.",
        )
    return None


# DocumentDB's instance classes (Amazon DocumentDB Developer Guide, "Instance class specifications", engine 5.0):
# the burstable db.t3.medium and db.t4g.medium and the memory-optimised families; no micro or small class.
DOCDB_INSTANCE_CLASS = re.compile(
    r"db\.(t3\.medium|t4g\.medium|r5\.(large|[248]xlarge|1[26]xlarge|24xlarge)"
    r"|r6gd?\.(large|[248]xlarge|1[26]xlarge)|r8g\.(large|[248]xlarge|1[26]xlarge)|serverless)"
)
DOCDB_MASTER_USER = re.compile(r"[A-Za-z][A-Za-z0-9]{0,62}")


def docdb_create_cluster(call: Call) -> Refusal | None:
    """CreateDBCluster of DocumentDB (API reference of CreateDBCluster, Amazon DocumentDB): the master user is 1 to 63
    letters or digits beginning with a letter, and a password is required."""
    params = call.params
    if params.get("Engine") != "docdb":
        return None
    if not DOCDB_MASTER_USER.fullmatch(params.get("MasterUsername", "")):
        return Refusal(
            "InvalidParameterValue",
            "MasterUsername must be 1 to 63 letters or numbers, and its first character must be a letter.",
        )
    if not params.get("MasterUserPassword") and not _is_true(params.get("ManageMasterUserPassword")):
        return Refusal(
            "InvalidParameterValue", "The parameter MasterUserPassword must be provided and must not be blank."
        )
    return _docdb_password(params) or _rds_identifier(call, "DBClusterIdentifier")


def _rds_cluster(call: Call, identifier: str) -> Any:
    """The cluster moto holds under `identifier` for this call's account and region, or None."""
    from moto.rds.models import rds_backends

    scope = _SCOPE.search(call.environ.get("HTTP_AUTHORIZATION", ""))
    if scope is None:
        return None
    backend = rds_backends[_account(call.environ, scope.group(1))][scope.group(2)]
    return backend.clusters.get(str(identifier or "").lower())


def docdb_modify_cluster(call: Call) -> Refusal | None:
    if "MasterUserPassword" not in call.params:
        return None
    cluster = _rds_cluster(call, call.params.get("DBClusterIdentifier", ""))
    return _docdb_password(call.params) if cluster is not None and cluster.engine == "docdb" else None


def _docdb_password(params: dict[str, Any]) -> Refusal | None:
    """DocumentDB's master password: 8 to 100 printable ASCII characters other than /, " and @."""
    password = params.get("MasterUserPassword")
    if password is None or (
        8 <= len(password) <= 100
        and password.isascii()
        and password.isprintable()
        and not re.search(r'[/"@]', password)
    ):
        return None
    return Refusal(
        "InvalidParameterValue",
        'The parameter MasterUserPassword is not a valid password. Only printable ASCII characters besides "/", '
        '""", "@" may be used, and it must contain from 8 to 100 characters.',
    )


def db_instance(call: Call) -> Refusal | None:
    """CreateDBInstance: a DocumentDB instance joins a cluster and is of a class DocumentDB offers; the others need
    their password (db_instance_password)."""
    params = call.params
    if params.get("Engine") != "docdb":
        return db_instance_password(call)
    if not params.get("DBClusterIdentifier"):
        return Refusal("InvalidParameterValue", "The parameter DBClusterIdentifier must be provided for engine docdb.")
    instance_class = params.get("DBInstanceClass", "")
    if not DOCDB_INSTANCE_CLASS.fullmatch(instance_class):
        cluster = _rds_cluster(call, params["DBClusterIdentifier"])
        version = getattr(cluster, "engine_version", None) or "8.0.0"
        return Refusal(
            "InvalidParameterCombination",
            "RDS does not support creating a DB instance with the following combination: "
            f"DBInstanceClass={instance_class}, Engine=docdb, EngineVersion={version}, LicenseModel=na. For supported "
            "combinations of instance class and database engine version, see the documentation.",
        )
    return _rds_identifier(call, "DBInstanceIdentifier")


def read_replica_identifier(call: Call) -> Refusal | None:
    return _rds_identifier(call, "DBInstanceIdentifier")


def db_subnet_group_name(call: Call) -> Refusal | None:
    name = call.params.get("DBSubnetGroupName", "")
    if RDS_SUBNET_GROUP.fullmatch(name) and name.lower() != "default":
        return None
    return Refusal(
        "InvalidParameterValue",
        "The parameter DBSubnetGroupName is not a valid identifier. It must contain no more than 255 letters, numbers, "
        "periods, underscores, spaces, or hyphens, and must not be default.",
    )


def repository_name(call: Call) -> Refusal | None:
    name = call.params.get("repositoryName", "")
    # moto checks the pattern; the length is left here.
    failures = _constraint_failures("repositoryName", name, max_length=256)
    return _validation_refusal("InvalidParameterException", failures)


def _ecs_name(kind: str, name: str | None) -> Refusal | None:
    if name is None or ECS_NAME.fullmatch(name):
        return None
    return Refusal(
        "InvalidParameterException",
        f"{kind} name is invalid: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens "
        "are allowed.",
    )


def cluster_name(call: Call) -> Refusal | None:
    return _ecs_name("Cluster", call.params.get("clusterName"))


def table_name(call: Call) -> Refusal | None:
    name = call.params.get("TableName", "")
    name = name.split(":table/", 1)[-1] if name.startswith("arn:") else name
    if not 3 <= len(name) <= 255:
        return Refusal(
            "ValidationException", "TableName must be at least 3 characters long and at most 255 characters long"
        )
    return _validation_refusal("ValidationException", _constraint_failures("tableName", name, pattern=DYNAMODB_TABLE))


def _iam_path_failures(call: Call) -> list[str]:
    path = call.params.get("Path")
    return [] if path is None else _constraint_failures("path", path, pattern=IAM_PATH, max_length=512)


def role_name(call: Call) -> Refusal | None:
    failures = _constraint_failures("roleName", call.params.get("RoleName", ""), pattern=IAM_NAME, max_length=64)
    return _validation_refusal("ValidationError", failures + _iam_path_failures(call))


def instance_profile_name(call: Call) -> Refusal | None:
    name = call.params.get("InstanceProfileName", "")
    failures = _constraint_failures("instanceProfileName", name, pattern=IAM_NAME, max_length=128)
    return _validation_refusal("ValidationError", failures + _iam_path_failures(call))


def log_group_name(call: Call) -> Refusal | None:
    # moto checks the length (512); the characters are left here.
    failures = _constraint_failures("logGroupName", call.params.get("logGroupName", ""), pattern=LOG_GROUP)
    return _validation_refusal("InvalidParameterException", failures)


# -- ECS: what a service or task asks of its task definition -------------------------------------------------------
def _ecs_backend(environ: dict[str, Any]) -> EC2ContainerServiceBackend | None:
    """The ECS backend moto answers this call from: its account (as moto picks it) and region."""
    scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if scope is None:
        return None
    access_key, region = scope.groups()
    return ecs_backends[_account(environ, access_key)][region]


def _account(environ: dict[str, Any], access_key: str) -> str:
    """The account moto answers a call from, as moto picks it."""
    return os.environ.get("MOTO_ACCOUNT_ID") or environ.get("HTTP_X_MOTO_ACCOUNT_ID") or get_account_id_from(access_key)


def _backend_and_task_definition(call: Call) -> tuple[EC2ContainerServiceBackend, TaskDefinition] | None:
    backend, name = _ecs_backend(call.environ), call.params.get("taskDefinition")
    if backend is None or not name:
        return None
    try:
        return backend, backend.describe_task_definition(name)
    except JsonRESTError:
        return None  # moto answers that itself


def _launch_type_refusal(task_definition: TaskDefinition, fargate: bool) -> Refusal | None:
    if fargate and "FARGATE" not in (task_definition.requires_compatibilities or []):
        return Refusal("InvalidParameterException", "Task definition does not support launch_type FARGATE.")
    return None


def _network_refusal(task_definition: TaskDefinition, network_configuration: Any) -> Refusal | None:
    if task_definition.network_mode == "awsvpc" and not network_configuration:
        return Refusal(
            "InvalidParameterException",
            "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
        )
    return None


def _load_balancer_refusal(task_definition: TaskDefinition, load_balancers: list[dict[str, Any]]) -> Refusal | None:
    containers = {c.get("name"): c for c in task_definition.container_definitions}
    for entry in load_balancers:
        name, port = entry.get("containerName"), entry.get("containerPort")
        if name is None:
            continue
        if name not in containers:
            return Refusal("InvalidParameterException", f"The container {name} does not exist in the task definition.")
        ports = {mapping.get("containerPort") for mapping in containers[name].get("portMappings") or []}
        if port is not None and int(port) not in ports:
            return Refusal(
                "InvalidParameterException", f"The container {name} did not have a container port {port} defined."
            )
    return None


def _strategy_on_fargate(strategy: list[dict[str, Any]] | None) -> bool:
    return any(item.get("capacityProvider") in FARGATE_PROVIDERS for item in strategy or [])


def _fargate_requested(backend: EC2ContainerServiceBackend, params: dict[str, Any]) -> bool:
    """Whether a CreateService or RunTask launches on Fargate: its launch type, else its capacity provider strategy,
    else the cluster's default strategy."""
    if params.get("launchType"):
        return params["launchType"] == "FARGATE"
    cluster = backend.clusters.get((params.get("cluster") or "default").split("/")[-1])
    default = getattr(cluster, "default_capacity_provider_strategy", None)
    return _strategy_on_fargate(params.get("capacityProviderStrategy") or default)


def create_service(call: Call) -> Refusal | None:
    refused = _ecs_name("Service", call.params.get("serviceName"))
    found = _backend_and_task_definition(call)
    if refused or found is None:
        return refused
    backend, task_definition = found
    return (
        _launch_type_refusal(task_definition, _fargate_requested(backend, call.params))
        or _network_refusal(task_definition, call.params.get("networkConfiguration"))
        or _load_balancer_refusal(task_definition, call.params.get("loadBalancers") or [])
    )


def run_task(call: Call) -> Refusal | None:
    # moto refuses an awsvpc task without a network configuration itself, when it places the task.
    found = _backend_and_task_definition(call)
    if found is None:
        return None
    backend, task_definition = found
    return _launch_type_refusal(task_definition, _fargate_requested(backend, call.params))


def update_service(call: Call) -> Refusal | None:
    """A new task definition must suit the service's launch type and load balancers (its network configuration
    is not checked here: moto keeps it only in the deployments, which localcloud/ecs.py owns)."""
    found = _backend_and_task_definition(call)
    if found is None:
        return None
    backend, task_definition = found
    params = call.params
    try:
        service = backend._get_service(params.get("cluster") or "default", params.get("service", ""))
    except JsonRESTError:
        return None  # moto answers that itself
    strategy = params.get("capacityProviderStrategy")
    fargate = _strategy_on_fargate(strategy) if strategy else service.launch_type == "FARGATE"
    return _launch_type_refusal(task_definition, fargate) or _load_balancer_refusal(
        task_definition, params.get("loadBalancers") or service.load_balancers
    )


def register_task_definition(call: Call) -> Refusal | None:
    params = call.params
    containers = params.get("containerDefinitions") or []
    if any(c.get("secrets") for c in containers) and not params.get("executionRoleArn"):
        return Refusal(
            "ClientException",
            "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'.",
        )
    if "FARGATE" in (params.get("requiresCompatibilities") or []) and params.get("networkMode") != "awsvpc":
        return Refusal("ClientException", "Fargate only supports network mode \u2018awsvpc\u2019.")
    return None


RULES: dict[tuple[str, str], Rule] = {
    ("elasticloadbalancing", "CreateLoadBalancer"): load_balancer_name,
    ("s3", "CreateBucket"): bucket_name,
    ("rds", "CreateDBInstance"): db_instance,
    ("rds", "CreateDBCluster"): docdb_create_cluster,
    ("rds", "ModifyDBCluster"): docdb_modify_cluster,
    ("rds", "CreateDBInstanceReadReplica"): read_replica_identifier,
    ("rds", "CreateDBSubnetGroup"): db_subnet_group_name,
    ("ecr", "CreateRepository"): repository_name,
    ("ecs", "CreateCluster"): cluster_name,
    ("ecs", "CreateService"): create_service,
    ("ecs", "UpdateService"): update_service,
    ("ecs", "RunTask"): run_task,
    ("ecs", "RegisterTaskDefinition"): register_task_definition,
    ("dynamodb", "CreateTable"): table_name,
    ("iam", "CreateRole"): role_name,
    ("iam", "CreateInstanceProfile"): instance_profile_name,
    ("logs", "CreateLogGroup"): log_group_name,
}
