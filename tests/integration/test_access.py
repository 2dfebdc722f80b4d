"""Least privilege, enforced by the local cloud: each identity playbooks/access.yml creates holds only its scope's
policies, and the local cloud evaluates every call against them by resource ARN and condition.

dev, staging and prod are restored from the provisioning snapshot; access.yml runs as the account's administrator
(the local cloud's root key); then each test acts as one identity, through sts:AssumeRole, as AWX and CI do.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import REGION, Cloud
from tests.integration.releases import build, live, must, release

pytestmark = pytest.mark.slow
ACCOUNT = "123456789012"
ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"


class Identity:
    """One scope's role, assumed: boto3 clients and the environment of a playbook run under it."""

    def __init__(self, cloud: Cloud, scope: str) -> None:
        sts = cloud.client("sts")
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/stageflow-{scope}", RoleSessionName="tests")[
            "Credentials"
        ]
        self.cloud, self.scope = cloud, scope
        self.keys = {
            "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"],
        }

    def client(self, service: str):
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.cloud.url,
            aws_access_key_id=self.keys["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.keys["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=self.keys["AWS_SESSION_TOKEN"],
        )

    def release(self, playbook: str, *args: str):
        return release(self.cloud, playbook, *args, **self.keys)

    def playbook(self, playbook: str, *args: str):
        return self.cloud.playbook(f"playbooks/{playbook}.yml", *args, **self.keys)


def denied(call, code: str = "AccessDenied") -> str:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response["Error"]
    assert error["Code"].startswith(code) or error["Code"] == "UnauthorizedOperation", error
    return error["Message"]


@pytest.fixture(scope="module")
def access(envs: Cloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Identity]]:
    out = tmp_path_factory.mktemp("policies")
    principals = json.dumps({"access_trusted_principals": {s: [ROOT_ARN] for s in ("nonprod", "prod", "readonly")}})
    # The plan first: --check writes the policies for review and changes nothing in the account.
    envs.control.reset_recording()
    plan = must(envs.playbook("playbooks/access.yml", "--check", "-e", principals, "-e", f"access_policy_dir={out}"))
    assert envs.control.mutating_calls() == [], envs.control.mutating_calls()
    assert "stageflow-prod-1" in plan.stdout and (out / "stageflow-prod-1.json").exists()
    assert json.loads((out / "stageflow-prod-trust.json").read_text())["Statement"][1]["Principal"] == {
        "AWS": [ROOT_ARN]
    }
    must(envs.playbook("playbooks/access.yml", "-e", principals))
    again = must(envs.playbook("playbooks/access.yml", "-e", principals))
    assert "changed=0" in again.stdout, again.stdout[-3000:]
    role = envs.client("iam").get_role(RoleName="stageflow-prod")["Role"]
    attached = envs.client("iam").list_attached_role_policies(RoleName="stageflow-prod")["AttachedPolicies"]
    assert {p["PolicyName"] for p in attached} == {p.stem for p in out.glob("stageflow-prod-[0-9].json")}
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["StringLike"] == {
        "token.actions.githubusercontent.com:sub": ["repo:stageflow/movie-app:environment:production"]
    }
    yield {scope: Identity(envs, scope) for scope in ("nonprod", "prod", "readonly")}


def prod_rule(cloud: Cloud) -> str:
    elbv2 = cloud.client("elbv2")
    lb = elbv2.describe_load_balancers(Names=["prod-movie-app-alb"])["LoadBalancers"][0]
    for listener in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
        for rule in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]:
            if rule["Priority"] == "100":
                return rule["RuleArn"]
    raise AssertionError("prod has no weighted rule")


def test_the_non_prod_deployer_releases_to_dev_and_staging_and_cannot_touch_prod(
    envs: Cloud, access: dict[str, Identity]
) -> None:
    nonprod = access["nonprod"]
    digests = build(envs, "v1")
    must(nonprod.release("deploy", "-e", "env=dev", "-e", "version=v1"))
    must(nonprod.release("promote", "-e", "source=dev"))
    assert live(envs, "staging")["digests"] == digests

    prod_before = live(envs, "prod")
    ecs, elbv2 = nonprod.client("ecs"), nonprod.client("elbv2")
    message = denied(
        lambda: ecs.update_service(
            cluster="prod-movie-app-cluster", service="prod-movie-app-service-blue", desiredCount=0
        ),
        "AccessDenied",
    )
    assert "assumed-role/stageflow-nonprod/" in message and "ecs:UpdateService" in message
    rule = prod_rule(envs)
    denied(
        lambda: elbv2.modify_rule(
            RuleArn=rule, Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}]
        )
    )
    denied(
        lambda: nonprod.client("dynamodb").put_item(
            TableName="prod-movie-app-deploy-locks", Item={"environment": {"S": "prod"}}
        )
    )
    denied(
        lambda: nonprod.client("rds").delete_db_instance(
            DBInstanceIdentifier="prod-movie-app-db", SkipFinalSnapshot=True
        )
    )
    prod_after = live(envs, "prod")
    assert prod_after["weights"] == prod_before["weights"]
    assert prod_after["task_definition"] == prod_before["task_definition"]
    assert envs.client("rds").describe_db_instances(DBInstanceIdentifier="prod-movie-app-db")["DBInstances"]


def test_the_prod_deployer_promotes_staging_to_prod_and_cannot_change_staging(
    envs: Cloud, access: dict[str, Identity]
) -> None:
    prod = access["prod"]
    staging = live(envs, "staging")
    must(prod.release("promote", "-e", "source=staging"))
    assert live(envs, "prod")["digests"] == staging["digests"]
    denied(
        lambda: prod.client("ecs").update_service(
            cluster="staging-movie-app-cluster", service="staging-movie-app-service-blue", desiredCount=0
        )
    )
    denied(
        lambda: prod.client("dynamodb").put_item(
            TableName="staging-movie-app-deployments", Item={"environment": {"S": "staging"}, "started_at": {"S": "x"}}
        )
    )


def test_the_read_only_identity_reads_every_environment_and_writes_nothing(
    envs: Cloud, access: dict[str, Identity]
) -> None:
    readonly = access["readonly"]
    for playbook in ("history", "report"):
        run = readonly.playbook(playbook)
        assert run.returncode == 0, run.stdout[-3000:]
    drift = readonly.playbook("drift")
    assert "AccessDenied" not in drift.stdout and "UnauthorizedOperation" not in drift.stdout, drift.stdout[-3000:]
    assert drift.returncode in (0, 2), drift.stdout[-3000:]
    denied(
        lambda: readonly.client("ecs").update_service(
            cluster="dev-movie-app-cluster", service="dev-movie-app-service", desiredCount=0
        )
    )
    denied(
        lambda: readonly.client("dynamodb").put_item(
            TableName="dev-movie-app-deploy-locks", Item={"environment": {"S": "dev"}}
        )
    )
    denied(lambda: readonly.client("ec2").create_vpc(CidrBlock="10.9.0.0/16"))


def test_a_deployer_creates_roles_only_within_the_boundary(envs: Cloud, access: dict[str, Identity]) -> None:
    iam = access["nonprod"].client("iam")
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ecs-tasks.amazonaws.com"}}
            ],
        }
    )
    name = "dev-movie-app-cluster-escalate"
    denied(lambda: iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust))
    boundary = f"arn:aws:iam::{ACCOUNT}:policy/stageflow-workload-boundary"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, PermissionsBoundary=boundary)
    denied(lambda: iam.attach_role_policy(RoleName=name, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"))
    denied(lambda: iam.delete_role_permissions_boundary(RoleName=name))
    denied(
        lambda: iam.create_role(
            RoleName="prod-movie-app-cluster-x", AssumeRolePolicyDocument=trust, PermissionsBoundary=boundary
        )
    )
    roles = envs.client("iam").list_roles()["Roles"]
    assert {r["RoleName"] for r in roles} >= {"dev-movie-app-cluster-task-execution", name}
    assert (
        envs.client("iam").get_role(RoleName="dev-movie-app-cluster-task-execution")["Role"]["PermissionsBoundary"][
            "PermissionsBoundaryArn"
        ]
        == boundary
    )


def token(sub: str) -> str:
    """A GitHub Actions OIDC token as STS sees it (the local cloud does not check its signature)."""

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    claims = {"iss": "https://token.actions.githubusercontent.com", "aud": "sts.amazonaws.com", "sub": sub}
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2ln"


def test_github_actions_assume_a_role_only_from_the_repository_and_its_environment(
    envs: Cloud, access: dict[str, Identity]
) -> None:
    sts = envs.client("sts")
    role = f"arn:aws:iam::{ACCOUNT}:role/stageflow-prod"
    ok = sts.assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="ci", WebIdentityToken=token("repo:stageflow/movie-app:environment:production")
    )
    assert ok["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/stageflow-prod/")
    for sub in (
        "repo:stageflow/movie-app:environment:staging",
        "repo:stageflow/movie-app:ref:refs/heads/main",
        "repo:someone/else:environment:production",
    ):
        denied(
            lambda sub=sub: sts.assume_role_with_web_identity(
                RoleArn=role, RoleSessionName="ci", WebIdentityToken=token(sub)
            )
        )


def test_a_scope_naming_an_environment_the_inventory_lacks_is_refused_before_any_change(envs: Cloud) -> None:
    scopes = [{"name": "qa", "kind": "deployer", "environments": ["qa"], "playbooks": ["deploy"]}]
    envs.control.reset_recording()
    run = envs.playbook("playbooks/access.yml", "-e", json.dumps({"access_scopes": scopes}))
    assert run.returncode != 0
    assert "access scope qa: 'qa' is not an environment of the inventory" in " ".join(run.stdout.split())
    assert envs.control.mutating_calls() == []
