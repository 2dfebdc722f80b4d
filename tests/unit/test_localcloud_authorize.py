"""Each call is authorized against the caller's IAM policies, with the resource ARNs it acts on (authorize.py,
resources.py, operations.py and iam_policy.py in localcloud/).

An IAM user in a group whose policy is scoped to the dev environment (ECS services in `dev-*` clusters, `dev-*` tables,
target groups and listener rules of `dev-*` load balancers, `dev-*` databases, parameters under /stageflow/dev/, EC2
security groups tagged Environment=dev, roles created only with the boundary, no AdministratorAccess, task roles passed
only to ECS tasks) makes the dev calls and is refused the prod ones, as AWS refuses them. So are a role it assumes (with
a permissions boundary) and a role assumed with a web identity token. Plain moto (`mock_aws`) lets the same user do
everything: it passes `*` as the resource and does not evaluate policies by default.
"""

from __future__ import annotations

import base64
import functools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from localcloud import iam_policy
from localcloud.authorize import normalized_record_name
from localcloud.client import LocalCloudClient, spawn
from localcloud.iam_policy import Decision, evaluate
from localcloud.operations import IAM_ACTIONS, operation_of
from localcloud.resources import reference

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"
CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"}, s3={"addressing_style": "path"})
ROOT_SESSION = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
ISSUER = "token.actions.githubusercontent.com"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/stageflow-boundary"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def arn(service: str, resource: str, region: str = REGION) -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


DEPLOYER = document(
    {
        "Effect": "Allow",
        "Action": ["ecs:UpdateService", "ecs:DescribeServices"],
        "Resource": arn("ecs", "service/dev-*/*"),
    },
    {"Effect": "Allow", "Action": ["ecs:List*", "ecs:DescribeClusters"], "Resource": "*"},
    {"Effect": "Allow", "Action": "dynamodb:*", "Resource": arn("dynamodb", "table/dev-*")},
    {
        "Effect": "Allow",
        "Action": ["elasticloadbalancing:ModifyRule", "elasticloadbalancing:ModifyListener"],
        "Resource": [
            arn("elasticloadbalancing", "listener-rule/app/dev-*/*"),
            arn("elasticloadbalancing", "listener/app/dev-*/*"),
        ],
    },
    {"Effect": "Allow", "Action": "elasticloadbalancing:Describe*", "Resource": "*"},
    {
        "Effect": "Allow",
        "Action": ["rds:DeleteDBInstance", "rds:DescribeDBInstances"],
        "Resource": arn("rds", "db:dev-*"),
    },
    {
        "Effect": "Allow",
        "Action": ["ssm:PutParameter", "ssm:GetParameter"],
        "Resource": arn("ssm", "parameter/stageflow/dev/*"),
    },
    {
        "Effect": "Allow",
        "Action": ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:ResourceTag/Environment": "dev"}},
    },
    {"Effect": "Allow", "Action": ["ec2:Describe*", "ec2:CreateVpc"], "Resource": "*"},
    {
        "Effect": "Allow",
        "Action": "iam:CreateRole",
        "Resource": f"arn:aws:iam::{ACCOUNT}:role/stageflow-*",
        "Condition": {"StringEquals": {"iam:PermissionsBoundary": BOUNDARY}},
    },
    {
        "Effect": "Allow",
        "Action": "iam:AttachRolePolicy",
        "Resource": f"arn:aws:iam::{ACCOUNT}:role/stageflow-*",
        "Condition": {"ArnNotEquals": {"iam:PolicyARN": ADMIN}},
    },
    {
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": f"arn:aws:iam::{ACCOUNT}:role/stageflow-task-*",
        "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
    },
    {"Effect": "Allow", "Action": "ecs:RegisterTaskDefinition", "Resource": "*"},
    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"arn:aws:iam::{ACCOUNT}:role/stageflow-*"},
)
NO_DELETE = document({"Effect": "Deny", "Action": "dynamodb:DeleteTable", "Resource": "*"})
NOTHING_OF_SSM = document({"Effect": "Allow", "NotAction": "ssm:*", "Resource": "*"})


def trusting(principal: dict[str, Any], action: str = "sts:AssumeRole", **condition: Any) -> str:
    statement = {"Effect": "Allow", "Principal": principal, "Action": action}
    return document({**statement, "Condition": condition} if condition else statement)


def token(sub: str, aud: str = "sts.amazonaws.com", issuer: str = f"https://{ISSUER}") -> str:
    """A JSON Web Token as GitHub Actions hands one out; its signature is not one (STS's is not verified here)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {"iss": issuer, "sub": sub, "aud": aud, "exp": int(time.time()) + 600}
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


@functools.cache
def _client(url: str, service: str, credentials: tuple[tuple[str, str], ...]) -> Any:
    """A client of one service for one set of credentials (the root's when none): made once, as making one costs."""
    session = _session(credentials) if credentials else ROOT_SESSION
    return session.client(service, endpoint_url=url, config=CONFIG)


@functools.cache
def _session(credentials: tuple[tuple[str, str], ...]) -> boto3.Session:
    return boto3.Session(region_name=REGION, **dict(credentials))


@dataclass
class World:
    """The local cloud, its dev and prod resources, and the dev user's keys."""

    url: str
    ids: dict[str, str]
    keys: dict[str, str]

    def client(self, service: str, **credentials: str) -> Any:
        return _client(self.url, service, tuple(sorted((credentials or self.keys).items())))

    def root(self, service: str) -> Any:
        return _client(self.url, service, ())

    @cached_property
    def control(self) -> LocalCloudClient:
        return LocalCloudClient(self.url)

    def assume(self, role: str, session: str = "release") -> dict[str, str]:
        credentials = self.client("sts").assume_role(RoleArn=role, RoleSessionName=session)["Credentials"]
        return {
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        }


def _environments(world: World) -> None:
    """dev and prod: an ECS service, a table, a load balancer with a listener rule, a database, a security group."""
    ec2, ecs, elbv2 = world.root("ec2"), world.root("ecs"), world.root("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate("ab")
    ]
    family = ecs.register_task_definition(
        family="web", containerDefinitions=[{"name": "web", "image": "web:v1", "memory": 128}]
    )["taskDefinition"]["taskDefinitionArn"]
    for env in ("dev", "prod"):
        ecs.create_cluster(clusterName=f"{env}-app")
        ecs.create_service(cluster=f"{env}-app", serviceName="web", taskDefinition=family, desiredCount=0)
        world.root("dynamodb").create_table(
            TableName=f"{env}-state",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        balancer = elbv2.create_load_balancer(Name=f"{env}-alb", Subnets=subnets)["LoadBalancers"][0]
        group = elbv2.create_target_group(Name=f"{env}-blue", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]
        forward = [{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}]
        listener = elbv2.create_listener(
            LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=forward
        )["Listeners"][0]["ListenerArn"]
        rule = elbv2.create_rule(
            ListenerArn=listener,
            Priority=10,
            Conditions=[{"Field": "path-pattern", "Values": ["/api/*"]}],
            Actions=forward,
        )["Rules"][0]["RuleArn"]
        world.root("rds").create_db_instance(
            DBInstanceIdentifier=f"{env}-db",
            Engine="postgres",
            DBInstanceClass="db.t3.micro",
            MasterUsername="stageflow",
            MasterUserPassword="correct-horse",
            AllocatedStorage=20,
        )
        security_group = ec2.create_security_group(
            GroupName=f"{env}-app",
            Description="app",
            VpcId=vpc,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": "Environment", "Value": env}]}],
        )["GroupId"]
        world.ids.update({f"{env}-rule": rule, f"{env}-listener": listener, f"{env}-sg": security_group})
        world.ids[f"{env}-sg-arn"] = arn("ec2", f"security-group/{security_group}")
        world.ids[f"{env}-target-group"] = group["TargetGroupArn"]


def _principals(world: World) -> None:
    """The dev user (in a group with the deployer policy, and an explicit deny of its own), roles it may assume, and a
    role GitHub Actions' production environment may assume."""
    iam = world.root("iam")
    iam.create_policy(PolicyName="stageflow-boundary", PolicyDocument=NOTHING_OF_SSM)
    deployer = iam.create_policy(PolicyName="stageflow-deployer", PolicyDocument=DEPLOYER)["Policy"]["Arn"]
    iam.create_group(GroupName="deployers")
    iam.attach_group_policy(GroupName="deployers", PolicyArn=deployer)
    iam.create_user(UserName="dev")
    iam.add_user_to_group(GroupName="deployers", UserName="dev")
    iam.put_user_policy(UserName="dev", PolicyName="no-table-deletes", PolicyDocument=NO_DELETE)
    key = iam.create_access_key(UserName="dev")["AccessKey"]
    world.keys = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
    user = f"arn:aws:iam::{ACCOUNT}:user/dev"
    ecs_tasks = {"Service": "ecs-tasks.amazonaws.com"}
    iam.create_role(RoleName="stageflow-task-dev", AssumeRolePolicyDocument=trusting(ecs_tasks))
    iam.create_role(RoleName="other-task", AssumeRolePolicyDocument=trusting(ecs_tasks))
    iam.create_role(RoleName="stageflow-app", AssumeRolePolicyDocument=trusting(ecs_tasks))
    iam.create_role(
        RoleName="stageflow-deployer", AssumeRolePolicyDocument=trusting({"AWS": user}), PermissionsBoundary=BOUNDARY
    )
    iam.attach_role_policy(RoleName="stageflow-deployer", PolicyArn=deployer)
    someone_else = {"AWS": f"arn:aws:iam::{ACCOUNT}:user/someone-else"}
    iam.create_role(RoleName="stageflow-other", AssumeRolePolicyDocument=trusting(someone_else))
    provider = iam.create_open_id_connect_provider(
        Url=f"https://{ISSUER}", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40]
    )["OpenIDConnectProviderArn"]
    iam.create_role(
        RoleName="stageflow-github-prod",
        AssumeRolePolicyDocument=trusting(
            {"Federated": provider},
            "sts:AssumeRoleWithWebIdentity",
            StringEquals={f"{ISSUER}:aud": "sts.amazonaws.com"},
            StringLike={f"{ISSUER}:sub": "repo:acme/stageflow:environment:prod"},
        ),
    )
    iam.attach_role_policy(RoleName="stageflow-github-prod", PolicyArn=deployer)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    proc, url = spawn(log_path=ROOT / ".localcloud-test-authorize.log")
    try:
        built = World(url, {}, {})
        _environments(built)
        _principals(built)
        yield built
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# -- the dev user: dev allowed, prod refused ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    id: str
    service: str
    call: Callable[[Any, World], Any]
    refused: str = ""  # the resource (or, after "!", the action) the refusal names; "" when allowed
    code: str = ""


def _put_item(table: str) -> Callable[[Any, World], Any]:
    return lambda c, w: c.put_item(TableName=table, Item={"id": {"S": "lock"}})


def _modify_rule(env: str) -> Callable[[Any, World], Any]:
    return lambda c, w: c.modify_rule(
        RuleArn=w.ids[f"{env}-rule"], Actions=[{"Type": "forward", "TargetGroupArn": w.ids[f"{env}-target-group"]}]
    )


def _ingress(env: str) -> Callable[[Any, World], Any]:
    return lambda c, w: c.authorize_security_group_ingress(
        GroupId=w.ids[f"{env}-sg"], IpProtocol="tcp", FromPort=443, ToPort=443, CidrIp="10.0.0.0/8"
    )


def _task_definition(role: str) -> Callable[[Any, World], Any]:
    return lambda c, w: c.register_task_definition(
        family="web",
        taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}",
        containerDefinitions=[{"name": "web", "image": "web:v2", "memory": 128}],
    )


CASES = [
    Case("ecs-dev", "ecs", lambda c, w: c.update_service(cluster="dev-app", service="web", desiredCount=0)),
    Case(
        "ecs-prod",
        "ecs",
        lambda c, w: c.update_service(cluster="prod-app", service="web", desiredCount=0),
        arn("ecs", "service/prod-app/web"),
        "AccessDeniedException",
    ),
    Case("dynamodb-dev", "dynamodb", _put_item("dev-state")),
    Case(
        "dynamodb-prod",
        "dynamodb",
        _put_item("prod-state"),
        arn("dynamodb", "table/prod-state"),
        "AccessDeniedException",
    ),
    Case("elbv2-dev", "elbv2", _modify_rule("dev")),
    Case("elbv2-prod", "elbv2", _modify_rule("prod"), "prod-rule", "AccessDenied"),
    Case(
        "rds-prod",
        "rds",
        lambda c, w: c.delete_db_instance(DBInstanceIdentifier="prod-db", SkipFinalSnapshot=True),
        arn("rds", "db:prod-db"),
        "AccessDenied",
    ),
    Case("ssm-dev", "ssm", lambda c, w: c.put_parameter(Name="/stageflow/dev/release", Value="v1", Type="String")),
    Case(
        "ssm-prod",
        "ssm",
        lambda c, w: c.put_parameter(Name="/stageflow/prod/release", Value="v1", Type="String"),
        arn("ssm", "parameter/stageflow/prod/release"),
        "AccessDeniedException",
    ),
    Case("ec2-dev-tag", "ec2", _ingress("dev")),
    Case("ec2-prod-tag", "ec2", _ingress("prod"), "prod-sg-arn", "UnauthorizedOperation"),
    Case(
        "iam-role-with-boundary",
        "iam",
        lambda c, w: c.create_role(
            RoleName="stageflow-new",
            AssumeRolePolicyDocument=trusting({"Service": "ecs-tasks.amazonaws.com"}),
            PermissionsBoundary=BOUNDARY,
        ),
    ),
    Case(
        "iam-role-without-boundary",
        "iam",
        lambda c, w: c.create_role(
            RoleName="stageflow-free", AssumeRolePolicyDocument=trusting({"Service": "ecs-tasks.amazonaws.com"})
        ),
        f"arn:aws:iam::{ACCOUNT}:role/stageflow-free",
        "AccessDenied",
    ),
    Case(
        "iam-attach-read-only", "iam", lambda c, w: c.attach_role_policy(RoleName="stageflow-app", PolicyArn=READ_ONLY)
    ),
    Case(
        "iam-attach-admin",
        "iam",
        lambda c, w: c.attach_role_policy(RoleName="stageflow-app", PolicyArn=ADMIN),
        f"arn:aws:iam::{ACCOUNT}:role/stageflow-app",
        "AccessDenied",
    ),
    Case("pass-task-role", "ecs", _task_definition("stageflow-task-dev")),
    Case("pass-other-role", "ecs", _task_definition("other-task"), "!iam:PassRole", "AccessDeniedException"),
    Case(
        "tag-on-create",
        "ec2",
        lambda c, w: c.create_vpc(
            CidrBlock="10.10.0.0/16",
            TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Environment", "Value": "dev"}]}],
        ),
        "!ec2:CreateTags",
        "UnauthorizedOperation",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_dev_user_may_change_dev_and_is_refused_prod_as_aws_refuses_it(world: World, case: Case) -> None:
    client = world.client(case.service)
    if not case.refused:
        case.call(client, world)
        return
    with pytest.raises(ClientError) as raised:
        case.call(client, world)
    error = raised.value.response["Error"]
    assert error["Code"] == case.code
    action = case.refused[1:] if case.refused.startswith("!") else None
    resource = world.ids.get(case.refused, case.refused) if action is None else None
    user = f"arn:aws:iam::{ACCOUNT}:user/dev"
    if action is None:
        assert f"User: {user} is not authorized to perform: " in error["Message"]
        assert f" on resource: {resource} because no identity-based policy allows the " in error["Message"]
    else:
        assert f"User: {user} is not authorized to perform: {action} on resource: " in error["Message"]
    if case.code == "UnauthorizedOperation":
        assert error["Message"].startswith("You are not authorized to perform this operation. User: ")


def test_an_explicit_deny_wins_over_an_allow(world: World) -> None:
    with pytest.raises(ClientError) as raised:
        world.client("dynamodb").delete_table(TableName="dev-state")
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    assert raised.value.response["Error"]["Message"] == (
        f"User: arn:aws:iam::{ACCOUNT}:user/dev is not authorized to perform: dynamodb:DeleteTable on resource: "
        f"{arn('dynamodb', 'table/dev-state')} with an explicit deny in an identity-based policy"
    )


def test_plain_moto_lets_the_same_user_change_prod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        iam = boto3.client("iam", region_name=REGION)
        iam.create_user(UserName="dev")
        iam.put_user_policy(UserName="dev", PolicyName="deployer", PolicyDocument=DEPLOYER)
        key = iam.create_access_key(UserName="dev")["AccessKey"]
        dynamodb = boto3.client(
            "dynamodb",
            region_name=REGION,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
        dynamodb.create_table(
            TableName="prod-state",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.put_item(TableName="prod-state", Item={"id": {"S": "lock"}})


# -- principals --------------------------------------------------------------------------------------------------------
def test_an_unknown_access_key_is_refused_in_each_protocols_words(world: World) -> None:
    stranger = {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": "wJalrXUtnFEMI"}
    invalid = "The security token included in the request is invalid."
    calls = [
        ("sts", lambda c: c.get_caller_identity(), "InvalidClientTokenId", invalid),
        ("ecs", lambda c: c.list_clusters(), "UnrecognizedClientException", invalid),
        (
            "ec2",
            lambda c: c.describe_vpcs(),
            "AuthFailure",
            "AWS was not able to validate the provided access credentials",
        ),
        (
            "s3",
            lambda c: c.list_buckets(),
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        ),
    ]
    for service, call, code, message in calls:
        with pytest.raises(ClientError) as raised:
            call(world.client(service, **stranger))
        assert (raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]) == (code, message)


def test_the_root_key_may_do_everything_and_is_recorded(world: World) -> None:
    world.control.authorizations(clear=True)
    world.root("ssm").put_parameter(Name="/stageflow/prod/root", Value="v1", Type="String")
    assert world.client("sts").get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/dev"  # needs no permission
    records = world.control.authorizations(clear=True)
    assert [(r["principal"], r["action"], r["decision"]) for r in records] == [
        ("root", "ssm:PutParameter", "allow"),
        (f"arn:aws:iam::{ACCOUNT}:user/dev", "sts:GetCallerIdentity", "allow"),
    ]
    assert world.control.authorizations() == []


def test_a_role_assumed_by_the_user_is_held_to_its_permissions_boundary(world: World) -> None:
    session = world.assume(f"arn:aws:iam::{ACCOUNT}:role/stageflow-deployer")
    principal = f"arn:aws:sts::{ACCOUNT}:assumed-role/stageflow-deployer/release"
    assert world.client("sts", **session).get_caller_identity()["Arn"] == principal
    world.client("dynamodb", **session).put_item(TableName="dev-state", Item={"id": {"S": "release"}})
    with pytest.raises(ClientError) as raised:
        world.client("ssm", **session).put_parameter(Name="/stageflow/dev/boundary", Value="v1", Type="String")
    assert raised.value.response["Error"]["Message"] == (
        f"User: {principal} is not authorized to perform: ssm:PutParameter on resource: "
        f"{arn('ssm', 'parameter/stageflow/dev/boundary')} because no permissions boundary allows the ssm:PutParameter "
        "action"
    )


def test_a_users_permissions_boundary_limits_it_as_a_roles_does(world: World) -> None:
    """moto keeps boundaries for roles only; the local cloud keeps a user's (fidelity.py) and applies it."""
    iam = world.root("iam")
    user = iam.create_user(UserName="bounded", PermissionsBoundary=BOUNDARY)["User"]
    assert iam.get_user(UserName="bounded")["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == BOUNDARY
    iam.put_user_policy(
        UserName="bounded",
        PolicyName="parameters",
        PolicyDocument=document({"Effect": "Allow", "Action": "ssm:*", "Resource": "*"}),
    )
    key = iam.create_access_key(UserName="bounded")["AccessKey"]
    ssm = world.client("ssm", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    with pytest.raises(ClientError) as raised:
        ssm.put_parameter(Name="/stageflow/dev/bounded", Value="v1", Type="String")
    assert raised.value.response["Error"]["Message"].startswith(f"User: {user['Arn']} is not authorized")
    assert raised.value.response["Error"]["Message"].endswith(
        "because no permissions boundary allows the ssm:PutParameter action"
    )
    iam.delete_user_permissions_boundary(UserName="bounded")
    ssm.put_parameter(Name="/stageflow/dev/bounded", Value="v1", Type="String")


def test_a_role_whose_trust_policy_names_someone_else_cannot_be_assumed(world: World) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/stageflow-other"
    with pytest.raises(ClientError) as raised:
        world.client("sts").assume_role(RoleArn=role, RoleSessionName="release")
    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    assert raised.value.response["Error"]["Message"] == (
        f"User: arn:aws:iam::{ACCOUNT}:user/dev is not authorized to perform: sts:AssumeRole on resource: {role}"
    )


def test_github_actions_assumes_the_prod_role_only_from_the_prod_environment(world: World) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/stageflow-github-prod"
    sts = world.root("sts")
    for sub in ("repo:acme/stageflow:environment:dev", "repo:acme/stageflow:ref:refs/heads/main"):
        with pytest.raises(ClientError) as raised:
            sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="gha", WebIdentityToken=token(sub))
        error = raised.value.response["Error"]
        assert (error["Code"], error["Message"]) == (
            "AccessDenied",
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        )
    with pytest.raises(ClientError) as raised:
        sts.assume_role_with_web_identity(
            RoleArn=role, RoleSessionName="gha", WebIdentityToken=token("repo:x", issuer="https://gitlab.example.com")
        )
    assert raised.value.response["Error"]["Code"] == "InvalidIdentityToken"
    answer = sts.assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="gha", WebIdentityToken=token("repo:acme/stageflow:environment:prod")
    )
    credentials = answer["Credentials"]
    session = {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }
    world.client("ecs", **session).update_service(cluster="dev-app", service="web", desiredCount=0)
    with pytest.raises(ClientError) as refused:
        world.client("ecs", **session).update_service(cluster="prod-app", service="web", desiredCount=0)
    assert refused.value.response["Error"]["Message"].startswith(
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/stageflow-github-prod/gha is not authorized to perform: "
        "ecs:UpdateService on resource: "
    )


def test_a_snapshot_keeps_users_and_assumed_role_sessions(world: World) -> None:
    session = world.assume(f"arn:aws:iam::{ACCOUNT}:role/stageflow-deployer", "snapshotted")
    world.control.save_snapshot("authorize")
    try:
        world.control.reset()  # no user, no role, no session
        assert world.control.authorizations() == []  # a reset forgets the decisions too
        assert world.control.restore_snapshot("authorize")
        assert world.client("sts", **session).get_caller_identity()["Arn"].endswith("/stageflow-deployer/snapshotted")
        world.client("dynamodb").put_item(TableName="dev-state", Item={"id": {"S": "restored"}})
    finally:
        world.control.request("DELETE", "/_localcloud/snapshots/authorize")


def test_the_authorizations_record_names_principal_action_resources_and_reason(world: World) -> None:
    world.control.authorizations(clear=True)
    with pytest.raises(ClientError):
        world.client("dynamodb").put_item(TableName="prod-state", Item={"id": {"S": "x"}})
    (record,) = world.control.authorizations()
    assert record["principal"] == f"arn:aws:iam::{ACCOUNT}:user/dev"
    assert (record["action"], record["resources"], record["decision"]) == (
        "dynamodb:PutItem",
        [arn("dynamodb", "table/prod-state")],
        "deny",
    )
    assert record["reason"].endswith("because no identity-based policy allows the dynamodb:PutItem action")
    status, answer = world.control.request("GET", "/_localcloud/no-such-path")
    assert status == 404 and "GET|DELETE /_localcloud/authorizations" in answer["paths"]


# -- Route 53: record changes by name ---------------------------------------------------------------------------------
RECORD_NAMES = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
DNS_OPERATOR = document(
    {
        "Effect": "Allow",
        "Action": "route53:ChangeResourceRecordSets",
        "Resource": "arn:aws:route53:::hostedzone/*",
        "Condition": {"ForAllValues:StringLike": {RECORD_NAMES: ["*.dev.example.com"]}},
    },
    {
        "Effect": "Deny",
        "Action": "route53:ChangeResourceRecordSets",
        "Resource": "*",
        "Condition": {"ForAnyValue:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": "NS"}},
    },
    {
        "Effect": "Deny",
        "Action": "route53:ChangeResourceRecordSets",
        "Resource": "*",
        "Condition": {"ForAnyValue:StringEquals": {"route53:ChangeResourceRecordSetsActions": "DELETE"}},
    },
    {"Effect": "Allow", "Action": ["route53:DeleteHostedZone", "route53:ListResourceRecordSets"], "Resource": "*"},
)


def _change(action: str, name: str, kind: str = "A", value: str = "192.0.2.10") -> dict[str, Any]:
    return {
        "Action": action,
        "ResourceRecordSet": {"Name": name, "Type": kind, "TTL": 60, "ResourceRecords": [{"Value": value}]},
    }


def test_record_changes_are_authorized_by_their_normalized_names_types_and_actions(world: World) -> None:
    """A user allowed ChangeResourceRecordSets only for *.dev.example.com (ForAllValues: every name of the batch)
    changes app.dev.example.com (and *.dev.example.com, normalized \\052.dev.example.com), and is refused example.com,
    www.example.com and a batch that mixes both, as AWS refuses them; the record types and actions are condition keys
    too. Deleting a zone that still holds records other than its SOA and NS fails with HostedZoneNotEmpty (moto refuses
    it as AWS does)."""
    root = world.root("route53")
    zone = root.create_hosted_zone(Name="example.com", CallerReference="authorize")["HostedZone"]["Id"]
    zone_id = zone.rsplit("/", 1)[-1]
    iam = world.root("iam")
    iam.create_user(UserName="dns")
    iam.put_user_policy(UserName="dns", PolicyName="dev-records", PolicyDocument=DNS_OPERATOR)
    key = iam.create_access_key(UserName="dns")["AccessKey"]
    route53 = world.client(
        "route53", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
    )
    user = f"arn:aws:iam::{ACCOUNT}:user/dns"

    def change(*changes: dict[str, Any]) -> Any:
        return route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": list(changes)})

    change(_change("UPSERT", "app.dev.example.com."))  # normalized: no trailing dot
    change(_change("CREATE", r"\052.dev.example.com", "TXT", '"wildcard"'))  # \052.dev.example.com: * matches
    for changes in (
        [_change("UPSERT", "example.com")],
        [_change("UPSERT", "www.example.com")],
        [_change("UPSERT", "api.dev.example.com"), _change("UPSERT", "www.example.com")],  # ForAllValues: all of them
    ):
        with pytest.raises(ClientError) as raised:
            change(*changes)
        error = raised.value.response["Error"]
        assert (error["Code"], error["Message"]) == (
            "AccessDenied",
            f"User: {user} is not authorized to perform: route53:ChangeResourceRecordSets on resource: "
            f"arn:aws:route53:::hostedzone/{zone_id} because no identity-based policy allows the "
            "route53:ChangeResourceRecordSets action",
        )
    for changes in (
        [_change("UPSERT", "sub.dev.example.com", "NS", "ns1.example.net")],
        [_change("DELETE", "app.dev.example.com")],
    ):
        with pytest.raises(ClientError) as raised:
            change(*changes)
        assert raised.value.response["Error"]["Message"].endswith("with an explicit deny in an identity-based policy")
    names = {r["Name"] for r in root.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]}
    assert names == {"example.com.", "app.dev.example.com.", "\\052.dev.example.com."}  # the mixed batch made nothing

    with pytest.raises(ClientError) as raised:
        route53.delete_hosted_zone(Id=zone_id)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert raised.value.response["Error"]["Code"] == "HostedZoneNotEmpty"
    assert root.get_hosted_zone(Id=zone_id)["HostedZone"]["Id"] == zone


# -- resources named by id: the Environment tag on create and on use ---------------------------------------------------
TAG = {"Key": "Environment", "Value": "dev"}
# The shape of Stageflow's statements (plugins/module_utils/access_policies.py, _tag_statements): a create gives the new
# resource the tag; any other use needs the resource to carry it; AWS's AMIs by ARN.
NEW_WITH_THE_TAG = {
    "StringLike": {"aws:RequestTag/Environment": "dev"},
    "Null": {"aws:ResourceTag/Environment": "true"},
}
TAGGED_ONLY = document(
    {"Effect": "Allow", "Action": "ec2:CreateVpc", "Resource": arn("ec2", "vpc/*"), "Condition": NEW_WITH_THE_TAG},
    {
        "Effect": "Allow",
        "Action": "ec2:CreateSecurityGroup",
        "Resource": arn("ec2", "security-group/*"),
        "Condition": NEW_WITH_THE_TAG,
    },
    {
        "Effect": "Allow",
        "Action": "ec2:RunInstances",
        "Resource": [arn("ec2", "instance/*"), arn("ec2", "volume/*"), arn("ec2", "network-interface/*")],
        "Condition": NEW_WITH_THE_TAG,
    },
    {
        "Effect": "Allow",
        "Action": "ec2:CreateTags",
        "Resource": arn("ec2", "*/*"),
        "Condition": {
            **NEW_WITH_THE_TAG,
            "StringEquals": {"ec2:CreateAction": ["CreateVpc", "CreateSecurityGroup", "RunInstances"]},
        },
    },
    {
        "Effect": "Allow",
        "Action": ["ec2:CreateSecurityGroup", "ec2:RunInstances", "ec2:AuthorizeSecurityGroupIngress"],
        "Resource": "*",
        "Condition": {
            "StringLike": {"aws:ResourceTag/Environment": "dev"},
            "StringLikeIfExists": {"aws:RequestTag/Environment": "dev"},
        },
    },
    {"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": f"arn:aws:ec2:{REGION}::image/*"},
)
TASKS_TRUST = trusting({"Service": "ecs-tasks.amazonaws.com"})


def _user(world: World, name: str, policy: str) -> dict[str, str]:
    """An IAM user holding one inline policy, and its keys."""
    iam = world.root("iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="policy", PolicyDocument=policy)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


def _refused(call: Callable[[], Any], action: str, resource: str = "") -> str:
    with pytest.raises(ClientError) as raised:
        call()
    message = raised.value.response["Error"]["Message"]
    assert f" is not authorized to perform: {action} on resource: {resource}" in message, message
    return message


def _tagged(*kinds: str, value: str = "dev") -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": [{"Key": "Environment", "Value": value}]} for kind in kinds]


def test_a_tagged_create_policy_refuses_untagged_creates_and_untagged_resources(world: World) -> None:
    """Creates need the request's Environment tag (StringLike, no IfExists), other uses the resource's: an untagged
    VPC, security group or instance launch is refused, a tagged one allowed; so are a create in an untagged VPC and a
    change of the security group AWS made untagged with the VPC."""
    ec2, root = world.client("ec2", **_user(world, "tagger", TAGGED_ONLY)), world.root("ec2")
    _refused(lambda: ec2.create_vpc(CidrBlock="10.20.0.0/16"), "ec2:CreateVpc", arn("ec2", "vpc/*"))
    _refused(
        lambda: ec2.create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=_tagged("vpc", value="prod")),
        "ec2:CreateVpc",
    )
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=_tagged("vpc"))["Vpc"]["VpcId"]

    group = {"GroupName": "app", "Description": "app", "VpcId": vpc}
    _refused(lambda: ec2.create_security_group(**group), "ec2:CreateSecurityGroup", arn("ec2", "security-group/*"))
    group_id = ec2.create_security_group(**group, TagSpecifications=_tagged("security-group"))["GroupId"]
    untagged_vpc = root.create_vpc(CidrBlock="10.21.0.0/16")["Vpc"]["VpcId"]
    _refused(
        lambda: ec2.create_security_group(
            GroupName="app", Description="app", VpcId=untagged_vpc, TagSpecifications=_tagged("security-group")
        ),
        "ec2:CreateSecurityGroup",
        arn("ec2", f"vpc/{untagged_vpc}"),
    )

    ingress = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "10.20.0.0/16"}
    filters = [{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
    default_group = root.describe_security_groups(Filters=filters)["SecurityGroups"][0]["GroupId"]
    _refused(
        lambda: ec2.authorize_security_group_ingress(GroupId=default_group, **ingress),
        "ec2:AuthorizeSecurityGroupIngress",
        arn("ec2", f"security-group/{default_group}"),
    )
    ec2.authorize_security_group_ingress(GroupId=group_id, **ingress)

    subnet = root.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24", TagSpecifications=_tagged("subnet"))
    image = root.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    launch = {
        "ImageId": image,
        "InstanceType": "t3.micro",
        "MinCount": 1,
        "MaxCount": 1,
        "SubnetId": subnet["Subnet"]["SubnetId"],
        "SecurityGroupIds": [group_id],
    }
    message = _refused(lambda: ec2.run_instances(**launch), "ec2:RunInstances", arn("ec2", ""))
    assert "/* because no identity-based policy allows" in message  # what the launch makes: untagged
    instance = ec2.run_instances(**launch, TagSpecifications=_tagged("instance", "volume"))["Instances"][0]
    assert {"Key": "Environment", "Value": "dev"} in instance["Tags"]


def test_a_create_with_tags_is_authorized_as_the_services_tagging_action_too(world: World) -> None:
    """IAM's CreateRole with tags needs iam:TagRole, Secrets Manager's CreateSecret secretsmanager:TagResource,
    CloudWatch Logs' CreateLogGroup logs:TagResource or logs:TagLogGroup, as AWS authorizes them; without tags the
    create alone is enough, and a refused create makes nothing."""
    role, secret = f"arn:aws:iam::{ACCOUNT}:role/tagged-*", arn("secretsmanager", "secret:tagged/*")
    creates = {
        "Effect": "Allow",
        "Action": ["iam:CreateRole", "secretsmanager:CreateSecret"],
        "Resource": [role, secret],
    }
    logs = {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:TagLogGroup"], "Resource": "*"}
    keys = _user(world, "creator", document(creates, logs))
    iam, secrets = world.client("iam", **keys), world.client("secretsmanager", **keys)

    iam.create_role(RoleName="tagged-plain", AssumeRolePolicyDocument=TASKS_TRUST)
    _refused(
        lambda: iam.create_role(RoleName="tagged-role", AssumeRolePolicyDocument=TASKS_TRUST, Tags=[TAG]),
        "iam:TagRole",
        f"arn:aws:iam::{ACCOUNT}:role/tagged-role ",
    )
    secrets.create_secret(Name="tagged/plain", SecretString="s")
    _refused(
        lambda: secrets.create_secret(Name="tagged/database", SecretString="s", Tags=[TAG]),
        "secretsmanager:TagResource",
        arn("secretsmanager", "secret:tagged/database-??????"),
    )
    with pytest.raises(ClientError):
        world.root("iam").get_role(RoleName="tagged-role")
    assert not world.root("secretsmanager").list_secrets(Filters=[{"Key": "name", "Values": ["tagged/database"]}])[
        "SecretList"
    ]
    world.client("logs", **keys).create_log_group(logGroupName="/tagged/app", tags={"Environment": "dev"})
    topic = arn("sns", "tagged-alerts")
    sns_policy = {"Effect": "Allow", "Action": "sns:CreateTopic", "Resource": topic}
    world.root("iam").put_user_policy(UserName="creator", PolicyName="topics", PolicyDocument=document(sns_policy))
    sns = world.client("sns", **keys)
    sns.create_topic(Name="tagged-alerts")  # untagged: the create alone
    world.root("sns").delete_topic(TopicArn=topic)
    _refused(lambda: sns.create_topic(Name="tagged-alerts", Tags=[TAG]), "sns:TagResource", topic)
    assert not world.root("sns").list_topics()["Topics"]

    tagging = {"Effect": "Allow", "Action": ["iam:TagRole", "secretsmanager:TagResource"], "Resource": [role, secret]}
    world.root("iam").put_user_policy(UserName="creator", PolicyName="tagging", PolicyDocument=document(tagging))
    iam.create_role(RoleName="tagged-role", AssumeRolePolicyDocument=TASKS_TRUST, Tags=[TAG])
    secrets.create_secret(Name="tagged/database", SecretString="s", Tags=[TAG])
    assert world.root("iam").get_role(RoleName="tagged-role")["Role"]["Tags"] == [TAG]


def test_an_auto_scaling_group_with_a_launch_template_needs_to_launch_its_instances(world: World) -> None:
    """Auto Scaling checks that whoever creates a group with a launch template may run its instances
    (ec2:RunInstances, with the template's tags as the request's) and tag them (ec2:CreateTags on create)."""
    root = world.root("ec2")
    vpc = root.create_vpc(CidrBlock="10.22.0.0/16", TagSpecifications=_tagged("vpc"))["Vpc"]["VpcId"]
    subnet = root.create_subnet(VpcId=vpc, CidrBlock="10.22.1.0/24", TagSpecifications=_tagged("subnet"))
    image = root.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    root.create_launch_template(
        LaunchTemplateName="tagged-web",
        LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro", "TagSpecifications": _tagged("instance")},
        TagSpecifications=_tagged("launch-template"),
    )
    groups = {"Effect": "Allow", "Action": "autoscaling:CreateAutoScalingGroup", "Resource": "*"}
    keys = _user(world, "scaler", document(groups))
    group = {
        "AutoScalingGroupName": "tagged-web",
        "LaunchTemplate": {"LaunchTemplateName": "tagged-web"},
        "MinSize": 0,
        "MaxSize": 1,
        "DesiredCapacity": 0,
        "VPCZoneIdentifier": subnet["Subnet"]["SubnetId"],
    }
    autoscaling = world.client("autoscaling", **keys)
    _refused(lambda: autoscaling.create_auto_scaling_group(**group), "ec2:RunInstances", arn("ec2", "launch-template/"))
    world.root("iam").put_user_policy(UserName="scaler", PolicyName="launch", PolicyDocument=TAGGED_ONLY)
    world.root("iam").put_user_policy(
        UserName="scaler",
        PolicyName="templates",
        PolicyDocument=document(
            {
                "Effect": "Allow",
                "Action": "ec2:RunInstances",
                "Resource": arn("ec2", "launch-template/*"),
                "Condition": {"StringLike": {"aws:ResourceTag/Environment": "dev"}},
            }
        ),
    )
    autoscaling.create_auto_scaling_group(**group)


def test_a_change_whose_resource_cannot_be_told_is_refused_and_recorded_not_judged_on_any(world: World) -> None:
    """AWS knows every ARN a call acts on; where the local cloud cannot tell one (an association it has no record
    of), it refuses the change even to a policy allowing "*", says why, and keeps it for tests to assert there are
    none (GET /_localcloud/unresolved). A route table's association is resolved to the table and its subnet."""
    keys = _user(world, "router", document({"Effect": "Allow", "Action": "ec2:*RouteTable", "Resource": "*"}))
    ec2, root = world.client("ec2", **keys), world.root("ec2")
    world.control.unresolved(clear=True)
    message = _refused(
        lambda: ec2.disassociate_route_table(AssociationId="rtbassoc-0123456789abcdef0"),
        "ec2:DisassociateRouteTable",
        "* because the local cloud cannot tell which ec2:",
    )
    assert " or ec2:route-table or ec2:subnet or " in message
    (record,) = world.control.unresolved()
    assert (record["principal"], record["action"], record["parameters"]) == (
        f"arn:aws:iam::{ACCOUNT}:user/router",
        "ec2:DisassociateRouteTable",
        ["AssociationId"],
    )

    vpc = root.create_vpc(CidrBlock="10.23.0.0/16")["Vpc"]["VpcId"]
    subnet = root.create_subnet(VpcId=vpc, CidrBlock="10.23.1.0/24")["Subnet"]["SubnetId"]
    table = root.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    association = root.associate_route_table(RouteTableId=table, SubnetId=subnet)["AssociationId"]
    world.control.authorizations(clear=True)
    ec2.disassociate_route_table(AssociationId=association)
    (decision,) = world.control.authorizations()
    assert decision["resources"] == [arn("ec2", f"route-table/{table}"), arn("ec2", f"subnet/{subnet}")]
    assert len(world.control.unresolved(clear=True)) == 1


# -- the pieces, without a cloud ---------------------------------------------------------------------------------------
def _environ(method: str, path: str, query: str = "", service: str = "s3", **headers: str) -> dict[str, Any]:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/{service}/aws4_request, "
        "SignedHeaders=host, Signature=0",
    }
    environ.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    return environ


@pytest.mark.parametrize(
    ("environ", "body", "name", "action", "params"),
    [
        (
            _environ("GET", "/bucket", "list-type=2&prefix=releases%2F"),
            b"",
            "ListObjectsV2",
            "s3:ListBucket",
            {"Prefix": "releases/"},
        ),
        (_environ("HEAD", "/bucket"), b"", "HeadBucket", "s3:ListBucket", {"Bucket": "bucket"}),
        (_environ("GET", "/bucket", "versioning"), b"", "GetBucketVersioning", "s3:GetBucketVersioning", {}),
        (_environ("PUT", "/bucket", "encryption"), b"", "PutBucketEncryption", "s3:PutEncryptionConfiguration", {}),
        (
            _environ("PUT", "/bucket", "lifecycle"),
            b"",
            "PutBucketLifecycleConfiguration",
            "s3:PutLifecycleConfiguration",
            {},
        ),
        (
            _environ("GET", "/bucket", "publicAccessBlock"),
            b"",
            "GetPublicAccessBlock",
            "s3:GetBucketPublicAccessBlock",
            {},
        ),
        (_environ("DELETE", "/bucket", "policy"), b"", "DeleteBucketPolicy", "s3:DeleteBucketPolicy", {}),
        (
            _environ("PUT", "/bucket", "tagging"),
            b"<Tagging><TagSet><Tag><Key>Environment</Key><Value>dev</Value></Tag></TagSet></Tagging>",
            "PutBucketTagging",
            "s3:PutBucketTagging",
            {"Tagging": {"TagSet": [{"Key": "Environment", "Value": "dev"}]}},
        ),
        (
            _environ("PUT", "/bucket/releases/v1.json", x_amz_copy_source="/source/v1.json"),
            b"",
            "CopyObject",
            "s3:PutObject",
            {"Bucket": "bucket", "Key": "releases/v1.json", "CopySource": "/source/v1.json"},
        ),
        (
            _environ("GET", "/bucket/releases/v1.json", "versionId=3"),
            b"",
            "GetObject",
            "s3:GetObjectVersion",
            {"Key": "releases/v1.json", "VersionId": "3"},
        ),
        (
            _environ("POST", "/2013-04-01/hostedzone/Z123/rrset/", service="route53"),
            b"<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>UPSERT</Action>"
            b"<ResourceRecordSet><Name>app.example.com</Name><Type>A</Type></ResourceRecordSet></Change></Changes>"
            b"</ChangeBatch></ChangeResourceRecordSetsRequest>",
            "ChangeResourceRecordSets",
            "route53:ChangeResourceRecordSets",
            {"HostedZoneId": "Z123"},
        ),
        (
            _environ("PUT", "/backup-vaults/stageflow-dev", service="backup"),
            b'{"BackupVaultTags": {"Environment": "dev"}}',
            "CreateBackupVault",
            "backup:CreateBackupVault",
            {"BackupVaultName": "stageflow-dev", "BackupVaultTags": {"Environment": "dev"}},
        ),
        (
            _environ("PUT", "/backup/plans/plan-1/selections/", service="backup"),
            b'{"BackupSelection": {"SelectionName": "s", "IamRoleArn": "arn:aws:iam::1:role/b"}}',
            "CreateBackupSelection",
            "backup:CreateBackupSelection",
            {"BackupPlanId": "plan-1"},
        ),
    ],
    ids=[
        "s3-list-v2",
        "s3-head-bucket",
        "s3-versioning",
        "s3-encryption",
        "s3-lifecycle",
        "s3-public-access-block",
        "s3-delete-policy",
        "s3-tagging",
        "s3-copy",
        "s3-object-version",
        "route53-rrset",
        "backup-vault",
        "backup-selection",
    ],
)
def test_rest_requests_are_read_as_their_operation_and_iam_action(
    environ: dict[str, Any], body: bytes, name: str, action: str, params: dict[str, Any]
) -> None:
    operation = operation_of(environ, body)
    assert operation is not None
    assert (operation.name, operation.iam_action) == (name, action)
    assert params.items() <= operation.params.items()
    assert operation_of(environ, body, parameters=False).params == {}


def test_every_iam_action_the_table_names_exists_in_the_service_authorization_reference() -> None:
    services = reference()
    for (prefix, operation), action in IAM_ACTIONS.items():
        action_prefix, name = action.split(":")
        assert action_prefix == prefix and name in services[prefix].actions, (operation, action)


CONTEXT = {
    "aws:tagkeys": ["Environment", "Team"],
    "aws:requesttag/environment": ["dev"],
    "aws:username": ["dev"],
    "iam:policyarn": [ADMIN],
}


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        ({"StringEquals": {"aws:RequestTag/Environment": ["prod", "dev"]}}, True),  # values ORed
        ({"StringEquals": {"aws:RequestTag/Environment": "dev", "aws:username": "ops"}}, False),  # keys ANDed
        ({"StringNotEquals": {"aws:RequestTag/Owner": "x"}}, True),  # negated, key missing
        ({"StringEquals": {"aws:RequestTag/Owner": "x"}}, False),  # key missing
        ({"StringEqualsIfExists": {"aws:RequestTag/Owner": "x"}}, True),
        ({"StringLike": {"aws:RequestTag/Environment": "d?v*"}}, True),
        ({"StringEqualsIgnoreCase": {"aws:RequestTag/Environment": "DEV"}}, True),
        ({"ArnLike": {"iam:PolicyARN": "arn:aws:iam::*:policy/Admin*"}}, True),
        ({"ArnNotEquals": {"iam:PolicyARN": ADMIN}}, False),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["Environment", "Team", "Owner"]}}, True),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["Environment"]}}, False),
        ({"ForAllValues:StringEquals": {"aws:PrincipalTag/none": ["x"]}}, True),  # missing: true
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["Owner", "Team"]}}, True),
        ({"ForAnyValue:StringEquals": {"aws:PrincipalTag/none": ["x"]}}, False),
        ({"Null": {"aws:RequestTag/Owner": "true", "aws:RequestTag/Environment": "false"}}, True),
        ({"Bool": {"aws:SecureTransport": True}}, False),
        ({"StringEquals": {"aws:RequestTag/Environment": "${aws:username}"}}, True),  # the variable's value
        ({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, False),  # not evaluated: never matches
    ],
)
def test_conditions_follow_aws_condition_operators(condition: dict[str, Any], holds: bool) -> None:
    assert iam_policy.conditions_hold(condition, CONTEXT) is holds


def test_policy_variables_and_a_missing_context_key_in_resources() -> None:
    policy = [
        document({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::home/${aws:username}/*"})
    ]
    assert evaluate(policy, "s3:GetObject", "arn:aws:s3:::home/dev/x", {"aws:username": ["dev"]}) is Decision.ALLOW
    assert (
        evaluate(policy, "s3:GetObject", "arn:aws:s3:::home/ops/x", {"aws:username": ["dev"]}) is Decision.IMPLICIT_DENY
    )
    assert evaluate(policy, "s3:GetObject", "arn:aws:s3:::home/dev/x", {}) is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(
    ("name", "normalized"),
    [
        ("App.Dev.Example.COM.", "app.dev.example.com"),
        ("*.example.com", "\\052.example.com"),  # as Route 53 writes it: \ and the octal code
        ("\\052.example.com.", "\\052.example.com"),
        ("_a1b2c3.example.com", "_a1b2c3.example.com"),  # ACM's validation records
        ("a\\056b.example.com", "a\\056b.example.com"),  # an escaped dot is part of its label
        ("\\Www.example.com", "www.example.com"),
    ],
)
def test_record_names_are_normalized_as_route53_normalizes_them(name: str, normalized: str) -> None:
    assert normalized_record_name(name) == normalized


def test_a_service_may_be_given_only_the_task_definitions_and_alarms_only_the_actions_a_policy_allows(
    world: World,
) -> None:
    """ecs:task-definition (the task definition a request names, resolved to its ARN) and cloudwatch:AlarmActions."""
    iam = world.root("iam")
    iam.create_user(UserName="pinned")
    iam.put_user_policy(
        UserName="pinned",
        PolicyName="services",
        PolicyDocument=document(
            {
                "Effect": "Allow",
                "Action": ["ecs:UpdateService", "ecs:RegisterTaskDefinition"],
                "Resource": "*",
                "Condition": {"ArnLikeIfExists": {"ecs:task-definition": arn("ecs", "task-definition/dev-app:*")}},
            },
            {
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricAlarm",
                "Resource": "*",
                "Condition": {"Null": {"cloudwatch:AlarmActions": "true"}},
            },
        ),
    )
    key = iam.create_access_key(UserName="pinned")["AccessKey"]
    creds = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
    root_ecs, ecs = world.root("ecs"), world.client("ecs", **creds)
    root_ecs.create_cluster(clusterName="dev")
    for family in ("dev-app", "prod-app"):
        root_ecs.register_task_definition(
            family=family, containerDefinitions=[{"name": "c", "image": "i", "memory": 64}]
        )

    def refused(call) -> str:
        with pytest.raises(ClientError) as raised:
            call()
        return raised.value.response["Error"]["Message"]

    for named in ("prod-app", "prod-app:1", arn("ecs", "task-definition/prod-app:1")):
        message = refused(lambda named=named: ecs.update_service(cluster="dev", service="web", taskDefinition=named))
        assert "is not authorized to perform: ecs:UpdateService" in message, named
    # Allowed (ECS then answers that the service does not exist): its own family, or no task definition at all.
    for kwargs in ({"taskDefinition": "dev-app"}, {"desiredCount": 1}):
        with pytest.raises(ClientError) as raised:
            ecs.update_service(cluster="dev", service="web", **kwargs)
        assert "not authorized" not in raised.value.response["Error"]["Message"], kwargs

    cloudwatch = world.client("cloudwatch", **creds)
    alarm = {
        "AlarmName": "dev-5xx",
        "MetricName": "HTTPCode_Target_5XX_Count",
        "Namespace": "AWS/ApplicationELB",
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    cloudwatch.put_metric_alarm(**alarm)
    action = f"arn:aws:autoscaling:us-east-1:{ACCOUNT}:scalingPolicy:x:autoScalingGroupName/prod-asg:policyName/out"
    assert "not authorized" in refused(lambda: cloudwatch.put_metric_alarm(**alarm, AlarmActions=[action]))
