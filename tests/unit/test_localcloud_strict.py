"""The local cloud refuses what AWS refuses (localcloud/strict.py) and resolves health hosts as DNS does (health.py).

Each refusal case runs twice: in plain moto (`mock_aws`, in this process), which accepts it, and against the local
cloud (`python -m localcloud`, its own process, so the two moto states never meet), which answers AWS's error.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from localcloud.client import spawn
from localcloud.health import requested_host

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"}, s3={"addressing_style": "path"})
ROLE_ARN = "arn:aws:iam::123456789012:role/stageflow-task-execution"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:stageflow-db-AbCdEf"
CLUSTER = "stageflow-cluster"
# One session for every client: its loaded service models make a client cheap (mock_aws swaps boto3's default
# session for a new one each time, which loads them again). moto's stubber, hooked into botocore at import, still
# answers its clients inside mock_aws.
SESSION = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)


class Cloud:
    """One side of a comparison: its clients, and what the cases build first, each built once, when first asked for.

    Plain moto gets a new one for each case (in a new `mock_aws`). The local cloud's lasts the module (rebuilding the
    VPC and the rest after a reset costs seconds there), so its cases keep apart by name: whatever a case creates has
    a name no other case uses, and nothing a case changes is shared.
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = url
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            endpoint = {"endpoint_url": self.url} if self.url else {}
            self._clients[service] = SESSION.client(service, config=CONFIG, **endpoint)
        return self._clients[service]

    @cached_property
    def subnets(self) -> tuple[str, list[str]]:
        """A VPC and a subnet in each of two zones."""
        ec2 = self.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
        ids = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.7.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"][
                "SubnetId"
            ]
            for i, zone in enumerate("ab")
        ]
        return vpc, ids

    @cached_property
    def ready(self) -> dict[str, Any]:
        """A cluster, subnets, a target group, and task definitions for Fargate (awsvpc) and EC2 (bridge)."""
        vpc, ids = self.subnets
        group = self.client("ec2").create_security_group(GroupName="stageflow-app", Description="app", VpcId=vpc)
        self.client("ecs").create_cluster(clusterName=CLUSTER)
        target_group = self.client("elbv2").create_target_group(
            Name="stageflow-blue", Protocol="HTTP", Port=3000, VpcId=vpc, TargetType="ip"
        )["TargetGroups"][0]["TargetGroupArn"]
        return {
            "target_group": target_group,
            "fargate": task_definition(self, "stageflow-fargate", "awsvpc", "FARGATE"),
            "bridge": task_definition(self, "stageflow-bridge", "bridge", "EC2"),
            "network": {"awsvpcConfiguration": {"subnets": ids, "securityGroups": [group["GroupId"]]}},
        }

    @cached_property
    def database(self) -> str:
        """The identifier of a PostgreSQL instance to replicate."""
        return postgres(self, "stageflow-primary")["DBInstance"]["DBInstanceIdentifier"]


@pytest.fixture(scope="module")
def local() -> Iterator[Cloud]:
    proc, url = spawn(log_path=ROOT / ".localcloud-test-strict.log")
    try:
        yield Cloud(url)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@contextmanager
def plain_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    """Plain moto in this process, new for one case; without EC2's catalogue of public AMIs, which no case reads: moto
    builds it when a case first touches EC2 (as RDS and ELB do too) and again when the mock stops, most of a case's
    time. The local cloud, started before any case, keeps its own."""
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        yield Cloud()


# -- what the cases build first --------------------------------------------------------------------------------------
def postgres(cloud: Cloud, identifier: str = "stageflow-db", **extra: Any) -> dict[str, Any]:
    """A PostgreSQL instance; a setting given as None is left out of the request."""
    settings = {"MasterUserPassword": "correct-horse", **extra}
    return cloud.client("rds").create_db_instance(
        DBInstanceIdentifier=identifier,
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        MasterUsername="stageflow",
        AllocatedStorage=20,
        **{k: v for k, v in settings.items() if v is not None},
    )


SERVER = {"name": "server", "image": "movie-app-server:v1", "memory": 512, "portMappings": [{"containerPort": 3000}]}


def task_definition(cloud: Cloud, family: str, network_mode: str, *compatibilities: str, **extra: Any) -> str:
    settings = {"containerDefinitions": [SERVER], **extra}
    return cloud.client("ecs").register_task_definition(
        family=family,
        networkMode=network_mode,
        requiresCompatibilities=list(compatibilities),
        cpu="256",
        memory="512",
        **settings,
    )["taskDefinition"]["taskDefinitionArn"]


def service(
    cloud: Cloud, task_definition_arn: str, name: str = "stageflow-service", cluster: str = CLUSTER, **settings: Any
) -> Any:
    return cloud.client("ecs").create_service(
        cluster=cluster, serviceName=name, taskDefinition=task_definition_arn, desiredCount=0, **settings
    )


def load_balancer(cloud: Cloud, name: str) -> dict[str, Any]:
    return cloud.client("elbv2").create_load_balancer(Name=name, Subnets=cloud.subnets[1])["LoadBalancers"][0]


# -- requests AWS refuses --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Refused:
    id: str
    request: Callable[[Cloud], Any]  # what it builds first, then the request AWS refuses
    code: str
    message: str


LB_LENGTH = "LoadBalancer name cannot be longer than 32 characters"
LB_CHARACTERS = "LoadBalancer name cannot contain characters that are not letters, or digits or the dash."
RDS_IDENTIFIER = (
    "The parameter DBInstanceIdentifier is not a valid identifier. Identifiers must begin with a letter; must contain "
    "only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens."
)
LAUNCH_TYPE = "Task definition does not support launch_type FARGATE."
NETWORK = "Network Configuration must be provided when networkMode 'awsvpc' is specified."


def coral(member: str, value: str, constraint: str) -> str:
    failure = f"Value '{value}' at '{member}' failed to satisfy constraint: Member must {constraint}"
    return f"1 validation error detected: {failure}"


REFUSED = [
    Refused("lb-33-chars", lambda c: load_balancer(c, "a" * 33), "ValidationError", LB_LENGTH),
    Refused("lb-underscore", lambda c: load_balancer(c, "stageflow_alb"), "ValidationError", LB_CHARACTERS),
    Refused(
        "lb-leading-hyphen",
        lambda c: load_balancer(c, "-stageflow-alb"),
        "ValidationError",
        "LoadBalancer name cannot begin or end with a hyphen",
    ),
    Refused(
        "lb-trailing-hyphen",
        lambda c: load_balancer(c, "stageflow-alb-"),
        "ValidationError",
        "LoadBalancer name cannot begin or end with a hyphen",
    ),
    Refused(
        "lb-internal-prefix",
        lambda c: load_balancer(c, "internal-stageflow"),
        "ValidationError",
        "LoadBalancer name cannot begin with 'internal-'",
    ),
    Refused(
        "rds-no-password",
        lambda c: postgres(c, MasterUserPassword=None),
        "InvalidParameterValue",
        "The parameter MasterUserPassword must be provided and must not be blank.",
    ),
    Refused(
        "rds-short-password",
        lambda c: postgres(c, MasterUserPassword="7-chars"),
        "InvalidParameterValue",
        "The parameter MasterUserPassword is not a valid password because it is shorter than 8 characters.",
    ),
    *(
        Refused(
            f"rds-replica-{label}",
            lambda c, name=name: c.client("rds").create_db_instance_read_replica(
                DBInstanceIdentifier=name, SourceDBInstanceIdentifier=c.database
            ),
            "InvalidParameterValue",
            RDS_IDENTIFIER,
        )
        for label, name in [
            ("64-chars", "r" * 64),
            ("digit-first", "1-replica"),
            ("double-hyphen", "stageflow--replica"),
            ("trailing-hyphen", "stageflow-replica-"),
            ("underscore", "stageflow_replica"),
        ]
    ),
    *(
        Refused(
            f"rds-subnet-group-{label}",
            lambda c, name=name: c.client("rds").create_db_subnet_group(
                DBSubnetGroupName=name, DBSubnetGroupDescription="db", SubnetIds=c.subnets[1]
            ),
            "InvalidParameterValue",
            "The parameter DBSubnetGroupName is not a valid identifier. It must contain no more than 255 letters, "
            "numbers, periods, underscores, spaces, or hyphens, and must not be default.",
        )
        for label, name in [("256-chars", "g" * 256), ("slash", "stageflow/db"), ("default", "default")]
    ),
    Refused(
        "ecr-257-chars",
        lambda c: c.client("ecr").create_repository(repositoryName="r" * 257),
        "InvalidParameterException",
        coral("repositoryName", "r" * 257, "have length less than or equal to 256"),
    ),
    *(
        Refused(
            f"ecs-cluster-{label}",
            lambda c, name=name: c.client("ecs").create_cluster(clusterName=name),
            "InvalidParameterException",
            "Cluster name is invalid: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens "
            "are allowed.",
        )
        for label, name in [("256-chars", "c" * 256), ("dot", "stageflow.cluster")]
    ),
    Refused(
        "ecs-service-name",
        lambda c: service(c, c.ready["bridge"], "stageflow service"),
        "InvalidParameterException",
        "Service name is invalid: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens "
        "are allowed.",
    ),
    Refused(
        "dynamodb-256-chars",
        lambda c: c.client("dynamodb").create_table(
            TableName="t" * 256,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        ),
        "ValidationException",
        "TableName must be at least 3 characters long and at most 255 characters long",
    ),
    Refused(
        "dynamodb-slash",
        lambda c: c.client("dynamodb").create_table(
            TableName="stageflow/locks",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        ),
        "ValidationException",
        coral("tableName", "stageflow/locks", "satisfy regular expression pattern: [a-zA-Z0-9_.-]+"),
    ),
    Refused(
        "iam-role-65-chars",
        lambda c: c.client("iam").create_role(RoleName="r" * 65, AssumeRolePolicyDocument="{}"),
        "ValidationError",
        coral("roleName", "r" * 65, "have length less than or equal to 64"),
    ),
    Refused(
        "iam-role-space",
        lambda c: c.client("iam").create_role(RoleName="stageflow role", AssumeRolePolicyDocument="{}"),
        "ValidationError",
        coral("roleName", "stageflow role", r"satisfy regular expression pattern: [\w+=,.@-]+"),
    ),
    Refused(
        "iam-role-path",
        lambda c: c.client("iam").create_role(RoleName="stageflow", Path="stageflow", AssumeRolePolicyDocument="{}"),
        "ValidationError",
        coral("path", "stageflow", r"satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)"),
    ),
    Refused(
        "iam-role-name-and-path",
        lambda c: c.client("iam").create_role(
            RoleName="r" * 65, Path="/" + "p" * 512 + "/", AssumeRolePolicyDocument="{}"
        ),
        "ValidationError",
        "2 validation errors detected: "
        f"Value '{'r' * 65}' at 'roleName' failed to satisfy constraint: Member must have length less than or equal "
        f"to 64; Value '/{'p' * 512}/' at 'path' failed to satisfy constraint: Member must have length less than or "
        "equal to 512",
    ),
    Refused(
        "iam-instance-profile-129-chars",
        lambda c: c.client("iam").create_instance_profile(InstanceProfileName="p" * 129),
        "ValidationError",
        coral("instanceProfileName", "p" * 129, "have length less than or equal to 128"),
    ),
    Refused(
        "logs-space",
        lambda c: c.client("logs").create_log_group(logGroupName="/ecs/stageflow server"),
        "InvalidParameterException",
        coral("logGroupName", "/ecs/stageflow server", r"satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]+"),
    ),
    Refused(
        "ecs-service-fargate-on-ec2-task-definition",
        lambda c: service(c, c.ready["bridge"], launchType="FARGATE"),
        "InvalidParameterException",
        LAUNCH_TYPE,
    ),
    Refused(
        "ecs-service-fargate-capacity-provider-on-ec2-task-definition",
        lambda c: service(
            c, c.ready["bridge"], capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}]
        ),
        "InvalidParameterException",
        LAUNCH_TYPE,
    ),
    Refused(
        "ecs-service-on-a-cluster-defaulting-to-fargate-with-ec2-task-definition",
        lambda c: (  # a cluster of its own: the shared one keeps no default capacity provider strategy
            c.client("ecs").create_cluster(clusterName="stageflow-fargate-default"),
            c.client("ecs").put_cluster_capacity_providers(
                cluster="stageflow-fargate-default",
                capacityProviders=["FARGATE"],
                defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
            ),
            service(c, c.ready["bridge"], cluster="stageflow-fargate-default"),
        ),
        "InvalidParameterException",
        LAUNCH_TYPE,
    ),
    Refused(
        "ecs-service-awsvpc-without-network-configuration",
        lambda c: service(c, c.ready["fargate"], launchType="FARGATE"),
        "InvalidParameterException",
        NETWORK,
    ),
    Refused(
        "ecs-service-load-balancer-container-missing",
        lambda c: service(
            c,
            (ready := c.ready)["fargate"],
            launchType="FARGATE",
            networkConfiguration=ready["network"],
            loadBalancers=[{"targetGroupArn": ready["target_group"], "containerName": "client", "containerPort": 3000}],
        ),
        "InvalidParameterException",
        "The container client does not exist in the task definition.",
    ),
    Refused(
        "ecs-service-load-balancer-port-missing",
        lambda c: service(
            c,
            (ready := c.ready)["fargate"],
            launchType="FARGATE",
            networkConfiguration=ready["network"],
            loadBalancers=[{"targetGroupArn": ready["target_group"], "containerName": "server", "containerPort": 8080}],
        ),
        "InvalidParameterException",
        "The container server did not have a container port 8080 defined.",
    ),
    Refused(
        "ecs-update-service-to-ec2-task-definition",
        lambda c: (
            service(
                c,
                (ready := c.ready)["fargate"],
                "stageflow-service-to-update",
                launchType="FARGATE",
                networkConfiguration=ready["network"],
            ),
            c.client("ecs").update_service(
                cluster=CLUSTER, service="stageflow-service-to-update", taskDefinition=ready["bridge"]
            ),
        ),
        "InvalidParameterException",
        LAUNCH_TYPE,
    ),
    Refused(
        "ecs-run-task-fargate-on-ec2-task-definition",
        lambda c: c.client("ecs").run_task(
            cluster=CLUSTER, taskDefinition=c.ready["bridge"], launchType="FARGATE", count=1
        ),
        "InvalidParameterException",
        LAUNCH_TYPE,
    ),
    Refused(
        "ecs-task-definition-secrets-without-execution-role",
        lambda c: c.client("ecs").register_task_definition(
            family="stageflow-task",
            containerDefinitions=[
                {
                    "name": "server",
                    "image": "movie-app-server:v1",
                    "memory": 512,
                    "secrets": [{"name": "DB_PASSWORD", "valueFrom": SECRET_ARN}],
                }
            ],
        ),
        "ClientException",
        "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'.",
    ),
    Refused(
        "ecs-task-definition-fargate-bridge",
        lambda c: task_definition(c, "stageflow-task", "bridge", "FARGATE"),
        "ClientException",
        "Fargate only supports network mode \u2018awsvpc\u2019.",
    ),
]


@pytest.mark.parametrize("case", REFUSED, ids=lambda case: case.id)
def test_plain_moto_accepts_what_the_local_cloud_refuses_as_aws_does(
    case: Refused, local: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    with plain_moto(monkeypatch) as plain:
        case.request(plain)
    with pytest.raises(ClientError) as refused:
        case.request(local)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    error = refused.value.response["Error"]
    assert (error["Code"], error["Message"]) == (case.code, case.message)


BAD_BUCKETS = [
    "Stageflow-Reports",
    "stageflow_reports",
    "stageflow..reports",
    "192.168.10.1",
    "-stageflow-reports",
    "stageflow-reports-",
    "stageflow-reports.",
    "xn--stageflow",
    "sthree-stageflow",
    "stageflow-s3alias",
    "stageflow--ol-s3",
]


@pytest.mark.parametrize("name", BAD_BUCKETS)
def test_plain_moto_accepts_bucket_names_s3_refuses(name: str, local: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    with plain_moto(monkeypatch) as plain:
        plain.client("s3").create_bucket(Bucket=name)
    with pytest.raises(ClientError) as refused:
        local.client("s3").create_bucket(Bucket=name)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    error = refused.value.response["Error"]
    assert (error["Code"], error["Message"], error["BucketName"]) == (
        "InvalidBucketName",
        "The specified bucket is not valid.",
        name,
    )


# -- requests AWS accepts, at the limits -----------------------------------------------------------------------------
ACCEPTED: list[tuple[str, Callable[[Cloud], Any]]] = [
    ("lb-32-chars", lambda c: load_balancer(c, "stageflow-" + "a" * 18 + "-alb")),
    ("bucket-63-chars", lambda c: c.client("s3").create_bucket(Bucket="stageflow.reports-" + "b" * 45)),
    ("bucket-3-chars", lambda c: c.client("s3").create_bucket(Bucket="s3b")),
    ("rds-63-chars-8-char-password", lambda c: postgres(c, "d" * 63, MasterUserPassword="8-chars!")),
    (
        "rds-managed-password",
        lambda c: postgres(c, "stageflow-managed-db", MasterUserPassword=None, ManageMasterUserPassword=True),
    ),
    (
        "rds-replica-63-chars",
        lambda c: c.client("rds").create_db_instance_read_replica(
            DBInstanceIdentifier="r-" + "1" * 61, SourceDBInstanceIdentifier=c.database
        ),
    ),
    (
        "rds-subnet-group-255-chars",
        lambda c: c.client("rds").create_db_subnet_group(
            DBSubnetGroupName="Stageflow db_subnets." + "g" * 234,
            DBSubnetGroupDescription="db",
            SubnetIds=c.subnets[1],
        ),
    ),
    ("ecr-256-chars", lambda c: c.client("ecr").create_repository(repositoryName="stageflow/" + "r" * 246)),
    ("ecs-cluster-255-chars", lambda c: c.client("ecs").create_cluster(clusterName="Stageflow_" + "c" * 245)),
    (
        "ecs-fargate-service-255-chars",
        lambda c: service(
            c,
            (ready := c.ready)["fargate"],
            "s" * 255,
            launchType="FARGATE",
            networkConfiguration=ready["network"],
            loadBalancers=[{"targetGroupArn": ready["target_group"], "containerName": "server", "containerPort": 3000}],
        ),
    ),
    (
        "ecs-ec2-service-bridge",
        lambda c: service(c, c.ready["bridge"], "stageflow-bridge-service", launchType="EC2"),
    ),
    (
        "ecs-run-fargate-task",
        lambda c: c.client("ecs").run_task(
            cluster=CLUSTER,
            taskDefinition=(ready := c.ready)["fargate"],
            launchType="FARGATE",
            networkConfiguration=ready["network"],
            count=1,
        ),
    ),
    (
        "ecs-task-definition-secrets-with-execution-role",
        lambda c: task_definition(
            c,
            "stageflow-task",
            "awsvpc",
            "FARGATE",
            executionRoleArn=ROLE_ARN,
            containerDefinitions=[{**SERVER, "secrets": [{"name": "DB_PASSWORD", "valueFrom": SECRET_ARN}]}],
        ),
    ),
    (
        "dynamodb-255-chars",
        lambda c: c.client("dynamodb").create_table(
            TableName="stageflow.locks_" + "t" * 239,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        ),
    ),
    (
        "iam-role-64-chars",
        lambda c: c.client("iam").create_role(
            RoleName="Stageflow+=,.@_-" + "r" * 48, Path="/stageflow/dev/", AssumeRolePolicyDocument="{}"
        ),
    ),
    (
        "iam-instance-profile-128-chars",
        lambda c: c.client("iam").create_instance_profile(InstanceProfileName="p" * 128),
    ),
    ("logs-512-chars", lambda c: c.client("logs").create_log_group(logGroupName="/ecs/stageflow-dev_#." + "l" * 491)),
]


@pytest.mark.parametrize(("label", "request_"), ACCEPTED, ids=[label for label, _request in ACCEPTED])
def test_the_local_cloud_accepts_what_aws_accepts_at_the_limits(
    label: str, request_: Callable[[Cloud], Any], local: Cloud
) -> None:
    request_(local)


# -- health URLs by DNS name ---------------------------------------------------------------------------------------
def health(local: Cloud, host: str, host_header: str | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"{local.url}/_localcloud/lb/{host}/health?port=80")
    if host_header:
        request.add_header("Host", host_header)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def fixed(status: str, body: str) -> list[dict[str, Any]]:
    return [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": status, "MessageBody": body}}]


def alias(dns_name: str) -> dict[str, Any]:
    return {"HostedZoneId": "Z35SXDOTRQ7X7K", "DNSName": dns_name, "EvaluateTargetHealth": False}


@pytest.fixture(scope="module")
def routed(local: Cloud) -> dict[str, str]:
    """An ALB whose listener answers "staging" for the Host staging.example.com and "default" otherwise, a private
    zone aliasing staging.example.com to it, and a public zone with an alias (dualstack, trailing dot) and a CNAME to
    it. Built once for the module: the tests only ask for health URLs."""
    vpc, ids = local.subnets
    elbv2, route53 = local.client("elbv2"), local.client("route53")
    lb = elbv2.create_load_balancer(Name="stageflow-alb", Subnets=ids)["LoadBalancers"][0]
    listener = elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=fixed("200", "default")
    )["Listeners"][0]["ListenerArn"]
    elbv2.create_rule(
        ListenerArn=listener,
        Priority=10,
        Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": ["Staging.example.com"]}}],
        Actions=fixed("200", "staging"),
    )
    private = route53.create_hosted_zone(
        Name="example.com",
        CallerReference="private",
        HostedZoneConfig={"PrivateZone": True},
        VPC={"VPCRegion": REGION, "VPCId": vpc},
    )["HostedZone"]["Id"]
    public = route53.create_hosted_zone(Name="example.org", CallerReference="public")["HostedZone"]["Id"]
    records = {
        private: [("staging.example.com.", "A", {"AliasTarget": alias(f"dualstack.{lb['DNSName']}.")})],
        public: [
            ("www.example.org.", "CNAME", {"TTL": 60, "ResourceRecords": [{"Value": lb["DNSName"]}]}),
            ("api.example.org.", "A", {"AliasTarget": alias(f"dualstack.{lb['DNSName']}.")}),
            ("elsewhere.example.org.", "A", {"AliasTarget": alias("dualstack.other-1.elb.amazonaws.com.")}),
        ],
    }
    for zone, sets in records.items():
        route53.change_resource_record_sets(
            HostedZoneId=zone,
            ChangeBatch={
                "Changes": [
                    {"Action": "UPSERT", "ResourceRecordSet": {"Name": name, "Type": kind, **target}}
                    for name, kind, target in sets
                ]
            },
        )
    return {"name": lb["LoadBalancerName"], "dns": lb["DNSName"]}


def test_health_url_reaches_a_load_balancer_by_name_and_dns_name(routed: dict[str, str], local: Cloud) -> None:
    assert health(local, routed["name"]) == (200, {"fixed_response": "default"})
    assert health(local, routed["dns"]) == (200, {"fixed_response": "default"})
    assert health(local, routed["dns"].upper() + ".") == (200, {"fixed_response": "default"})


def test_health_url_routes_by_the_host_header_as_the_listener_rules_say(routed: dict[str, str], local: Cloud) -> None:
    assert health(local, routed["dns"], "staging.example.com") == (200, {"fixed_response": "staging"})
    assert health(local, routed["name"], "staging.example.com:80") == (200, {"fixed_response": "staging"})
    assert health(local, routed["dns"], "prod.example.com") == (200, {"fixed_response": "default"})


def test_health_url_resolves_route53_aliases_and_cnames_to_the_load_balancer(
    routed: dict[str, str], local: Cloud
) -> None:
    assert health(local, "api.example.org") == (200, {"fixed_response": "default"})
    assert health(local, "www.example.org") == (200, {"fixed_response": "default"})
    # The name asked for is the Host a client sends: asked through the load balancer's DNS name with it, the
    # host-header rule matches.
    assert health(local, routed["dns"], "staging.example.com") == (200, {"fixed_response": "staging"})


def test_health_url_does_not_resolve_a_private_zone_from_outside_its_vpc(routed: dict[str, str], local: Cloud) -> None:
    # A private zone answers only inside its VPCs; the health URL is asked from outside, as the controller asks it.
    # Plain moto has no DNS: this is the local cloud's resolver keeping to what AWS's resolvers do.
    status, body = health(local, "staging.example.com")
    assert status == 404
    assert body["error"] == (
        "'staging.example.com' is only in a private hosted zone, which resolves inside its VPCs, not where this "
        "request comes from: ask the load balancer's DNS name with the domain as the Host header"
    )


def test_health_url_for_an_unknown_host_is_404_naming_what_was_tried(routed: dict[str, str], local: Cloud) -> None:
    status, body = health(local, "nowhere.example.com")
    assert status == 404
    assert body["error"] == (
        "no load balancer for 'nowhere.example.com': tried load balancer names, load balancer DNS names, "
        "and Route 53 A/AAAA alias and CNAME records"
    )
    status, body = health(local, "elsewhere.example.org")
    assert status == 404
    assert body["error"] == (
        "the Route 53 record 'elsewhere.example.org' points at other-1.elb.amazonaws.com: "
        "no load balancer has that DNS name"
    )


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("127.0.0.1:4566", None),
        ("localhost:4566", None),
        ("[::1]:4566", None),
        ("", None),
        ("Staging.Example.com.:443", "staging.example.com"),
        ("10.0.0.5", "10.0.0.5"),
    ],
)
def test_a_host_header_naming_the_local_cloud_itself_names_no_host(header: str, host: str | None) -> None:
    assert requested_host(header) == host
