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
from tests.integration.releases import build, flat, live, must, records, release

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


@pytest.fixture(autouse=True)
def every_resource_resolved(envs: Cloud) -> Iterator[None]:
    """No call of an identity was refused because the local cloud could not tell a resource it acts on (AWS always
    can, localcloud.md): each refusal here is the policy's."""
    envs.control.unresolved(clear=True)
    yield
    assert envs.control.unresolved() == []


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
    promoted = must(nonprod.release("promote", "-e", "source=dev"))
    assert live(envs, "staging")["digests"] == digests
    # Its report reached the environment's reports bucket under the deployer's own policy.
    assert "the report was not uploaded to s3://" not in flat(promoted)
    record = records(envs, "staging")[0]
    bucket, key = record["report"]["s3"]["S"].removeprefix("s3://").split("/", 1)
    assert envs.client("s3").head_object(Bucket=bucket, Key=key)["ContentType"].startswith("text/html")

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
    # prod's database is a DocumentDB elastic cluster, known by an ARN AWS picks: the policies tell it by its tags.
    (prod_database,) = [
        c["clusterArn"]
        for c in envs.client("docdb-elastic").list_clusters()["clusters"]
        if c["clusterName"] == "prod-movie-app-db"
    ]
    denied(lambda: nonprod.client("docdb-elastic").delete_cluster(clusterArn=prod_database))
    denied(lambda: nonprod.client("docdb-elastic").update_cluster(clusterArn=prod_database, shardCount=1))
    denied(
        lambda: nonprod.client("docdb").create_db_cluster_snapshot(
            DBClusterIdentifier="prod-movie-app-db", DBClusterSnapshotIdentifier="prod-movie-app-db-taken"
        )
    )
    # Nor run prod's task definition (its execution role puts prod's secrets into the container) in its own cluster.
    dev_before = live(envs, "dev")
    message = denied(
        lambda: ecs.update_service(
            cluster="dev-movie-app-cluster",
            service=dev_before["service"]["serviceName"],
            taskDefinition=prod_before["task_definition"],
        )
    )
    assert "ecs:UpdateService" in message
    assert live(envs, "dev")["task_definition"] == dev_before["task_definition"]
    # Its alarms may tell its own environments' alerts topics only: not prod's, not an EC2 action.
    cloudwatch = nonprod.client("cloudwatch")
    alarm = {
        "AlarmName": "staging-movie-app-target-5xx",
        "Namespace": "AWS/ApplicationELB",
        "MetricName": "HTTPCode_Target_5XX_Count",
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 3,
        "Threshold": 10.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    }
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:{{}}-movie-app-alerts"
    cloudwatch.put_metric_alarm(**alarm, AlarmActions=[topic.format("staging")])
    for action in (topic.format("prod"), "arn:aws:automate:us-east-1:ec2:terminate"):
        assert "cloudwatch:PutMetricAlarm" in denied(
            lambda a=action: cloudwatch.put_metric_alarm(**alarm, AlarmActions=[a])
        )
    prod_after = live(envs, "prod")
    assert prod_after["weights"] == prod_before["weights"]
    assert prod_after["task_definition"] == prod_before["task_definition"]
    assert envs.client("docdb-elastic").get_cluster(clusterArn=prod_database)["cluster"]["status"] == "ACTIVE"


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
    for playbook in ("history", "report", "status"):
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


def test_a_deployer_creates_roles_only_within_its_scopes_boundary(envs: Cloud, access: dict[str, Identity]) -> None:
    iam = access["nonprod"].client("iam")
    # A role the nonprod deployer might make to escape its scope: trusted by the whole account, allowed every secret.
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": ROOT_ARN}}],
        }
    )
    name = "dev-movie-app-cluster-escalate"
    nonprod = f"arn:aws:iam::{ACCOUNT}:policy/stageflow-nonprod-workload-boundary"
    prod = f"arn:aws:iam::{ACCOUNT}:policy/stageflow-prod-workload-boundary"
    denied(lambda: iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust))
    denied(lambda: iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, PermissionsBoundary=prod))
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, PermissionsBoundary=nonprod)
    every_secret = {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}
    iam.put_role_policy(
        RoleName=name,
        PolicyName="every-secret",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [every_secret]}),
    )
    denied(lambda: iam.attach_role_policy(RoleName=name, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"))
    denied(lambda: iam.delete_role_permissions_boundary(RoleName=name))
    denied(lambda: iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=prod))
    denied(
        lambda: iam.create_role(
            RoleName="prod-movie-app-cluster-x", AssumeRolePolicyDocument=trust, PermissionsBoundary=nonprod
        )
    )
    # Whoever assumes that role reads dev's database secret, and not prod's: the boundary is nonprod's.
    creds = envs.client("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}", RoleSessionName="escape")
    keys = creds["Credentials"]
    escaped = boto3.client(
        "secretsmanager",
        region_name=REGION,
        endpoint_url=envs.url,
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys["SessionToken"],
    )
    secrets = {s["Name"] for s in envs.client("secretsmanager").list_secrets()["SecretList"]}
    dev_secret = next(n for n in secrets if n.startswith("stageflow/dev/"))
    prod_secret = next(n for n in secrets if n.startswith("stageflow/prod/"))
    assert escaped.get_secret_value(SecretId=dev_secret)["SecretString"]
    assert "no permissions boundary allows" in denied(lambda: escaped.get_secret_value(SecretId=prod_secret))

    root = envs.client("iam")
    root.delete_role_policy(RoleName=name, PolicyName="every-secret")
    root.delete_role(RoleName=name)

    # Provisioning gave each environment's roles its scope's boundary.
    for env, boundary in (("dev", nonprod), ("staging", nonprod), ("prod", prod)):
        role = root.get_role(RoleName=f"{env}-movie-app-cluster-task-execution")["Role"]
        assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary, env


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


def test_a_deployer_changes_only_its_own_dns_records_and_cannot_delete_a_zone_with_records(
    envs: Cloud, access: dict[str, Identity]
) -> None:
    """Route 53 names zones by id: ChangeResourceRecordSets is allowed on any zone, but only for the scope's DNS names
    (route53:ChangeResourceRecordSetsNormalizedRecordNames, ForAllValues). The non-prod deployer cannot repoint prod's
    domain; DeleteHostedZone stays on any zone, and Route 53 refuses to delete prod's while it holds prod's records."""
    root = envs.client("route53")
    zones = {z["Name"]: z["Id"] for z in root.list_hosted_zones()["HostedZones"]}
    prod_zone, dev_zone = zones["movie-app.com."], zones["dev.movie-app.internal."]

    def records(zone: str) -> list[dict]:
        return root.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]

    def upsert(name: str, kind: str, value: str, action: str = "UPSERT") -> dict:
        record = {"Name": name, "Type": kind, "TTL": 60, "ResourceRecords": [{"Value": value}]}
        return {"Changes": [{"Action": action, "ResourceRecordSet": record}]}

    prod_before = records(prod_zone)
    assert [r for r in prod_before if r["Type"] not in ("SOA", "NS")], prod_before  # the domain's alias, at least
    route53 = access["nonprod"].client("route53")
    mixed = upsert("x.dev.movie-app.internal", "A", "10.0.0.9")  # ForAllValues: one name not its own refuses all
    mixed["Changes"] += upsert("movie-app.com", "A", "203.0.113.66")["Changes"]
    for batch in (
        upsert("movie-app.com", "A", "203.0.113.66"),
        upsert("www.movie-app.com", "CNAME", "attacker.example.net"),
        mixed,
    ):
        message = denied(
            lambda batch=batch: route53.change_resource_record_sets(HostedZoneId=prod_zone, ChangeBatch=batch)
        )
        assert "assumed-role/stageflow-nonprod/" in message and "route53:ChangeResourceRecordSets" in message
    assert records(prod_zone) == prod_before

    # Its own names: a record of dev's, made and removed again.
    own = ("check.dev.movie-app.internal", "TXT", '"stageflow access"')
    route53.change_resource_record_sets(HostedZoneId=dev_zone, ChangeBatch=upsert(*own))
    assert any(r["Name"] == "check.dev.movie-app.internal." for r in records(dev_zone))
    route53.change_resource_record_sets(HostedZoneId=dev_zone, ChangeBatch=upsert(*own, action="DELETE"))

    denied(lambda: route53.delete_hosted_zone(Id=prod_zone), "HostedZoneNotEmpty")
    assert root.get_hosted_zone(Id=prod_zone)["HostedZone"]["Id"] == prod_zone
    assert records(prod_zone) == prod_before

    # prod's *.movie-app.com would cover staging.movie-app.com: an explicit deny keeps staging's names from prod.
    staging = upsert("staging.movie-app.com", "A", "203.0.113.66")
    as_prod = access["prod"].client("route53")
    message = denied(lambda: as_prod.change_resource_record_sets(HostedZoneId=prod_zone, ChangeBatch=staging))
    assert "with an explicit deny" in message
