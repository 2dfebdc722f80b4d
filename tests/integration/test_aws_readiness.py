"""What a real account needs from provisioned environments, read back from the strict local cloud: a route out of the
private subnets, a database created with the password Secrets Manager keeps, an execution role that reads exactly its
environment's secret, a backup plan that selects the environment's data stores. (docs/localcloud.md lists the
strictness that refuses each defect these tests once had.)"""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.conftest import Cloud

pytestmark = pytest.mark.slow
ZONES = ["us-east-1a", "us-east-1b"]


def secret_of(cloud: Cloud, env: str) -> dict:
    secrets = cloud.client("secretsmanager")
    arn = secrets.describe_secret(SecretId=f"stageflow/{env}/movie-app/database")["ARN"]
    return {"arn": arn, **json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])}


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_the_database_is_created_with_the_password_kept_in_secrets_manager(envs: Cloud, env: str) -> None:
    kept = secret_of(envs, env)
    assert len(kept["password"]) == 32
    instance = envs.client("rds").describe_db_instances(DBInstanceIdentifier=f"{env}-movie-app-db")["DBInstances"][0]
    assert instance["MasterUsername"] == kept["username"]
    created_with = envs.control.master_password_sha256(f"{env}-movie-app-db")
    assert created_with == hashlib.sha256(kept["password"].encode()).hexdigest()


@pytest.mark.parametrize(("env", "nat_zones"), [("dev", ZONES[:1]), ("staging", ZONES[:1]), ("prod", ZONES)])
def test_each_private_subnet_routes_out_through_a_nat_gateway(envs: Cloud, env: str, nat_zones: list[str]) -> None:
    ec2 = envs.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [f"{env}-movie-app-vpc"]}])["Vpcs"][0]["VpcId"]
    subnets = {s["SubnetId"]: s for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]}
    nats = ec2.describe_nat_gateways(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "state", "Values": ["available"]}]
    )
    nat_zone = {n["NatGatewayId"]: subnets[n["SubnetId"]]["AvailabilityZone"] for n in nats["NatGateways"]}
    assert sorted(nat_zone.values()) == nat_zones
    for gateway in nats["NatGateways"]:  # each in a public subnet, with an Elastic IP
        assert subnets[gateway["SubnetId"]]["MapPublicIpOnLaunch"]
        assert gateway["NatGatewayAddresses"][0]["AllocationId"]
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]
    private = [s for s in subnets.values() if not s["MapPublicIpOnLaunch"]]
    assert len(private) == 2
    for subnet in private:
        table = next(t for t in tables if any(a.get("SubnetId") == subnet["SubnetId"] for a in t["Associations"]))
        out = next(r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0")
        expected = subnet["AvailabilityZone"] if len(nat_zones) > 1 else nat_zones[0]
        assert nat_zone[out["NatGatewayId"]] == expected


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_execution_role_reads_exactly_its_environments_secret(envs: Cloud, env: str) -> None:
    iam = envs.client("iam")
    role = f"{env}-movie-app-cluster-task-execution"
    document = iam.get_role_policy(RoleName=role, PolicyName="read-environment-secrets")["PolicyDocument"]
    assert document["Statement"] == [
        {
            "Sid": "ReadThisEnvironmentsSecrets",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [secret_of(envs, env)["arn"]],
        }
    ]
    # The services' tasks, which read that secret and pull from ECR through the NAT gateway, run.
    ecs = envs.client("ecs")
    cluster = f"{env}-movie-app-cluster"
    for arn in ecs.list_services(cluster=cluster)["serviceArns"]:
        service = ecs.describe_services(cluster=cluster, services=[arn])["services"][0]
        assert service["runningCount"] == service["desiredCount"] > 0, service["events"][:3]
    stopped = ecs.list_tasks(cluster=cluster, desiredStatus="STOPPED")["taskArns"]
    reasons = (
        [t.get("stoppedReason", "") for t in ecs.describe_tasks(cluster=cluster, tasks=stopped)["tasks"]]
        if stopped
        else []
    )
    assert not [r for r in reasons if "CannotPull" in r or "ResourceInitialization" in r], reasons


def selected(selection: dict, tags: dict[str, str]) -> bool:
    """Whether a resource with these tags meets every StringEquals condition of a backup selection, as AWS Backup
    assigns resources (the conditions are ANDed; the ARN patterns are checked separately)."""
    conditions = selection["Conditions"]["StringEquals"]
    return bool(conditions) and all(
        tags.get(c["ConditionKey"].removeprefix("aws:ResourceTag/")) == c["ConditionValue"] for c in conditions
    )


@pytest.mark.parametrize(("env", "enabled"), [("dev", False), ("staging", True), ("prod", True)])
def test_the_backup_plan_selects_the_environments_database_and_volumes_by_tag(
    envs: Cloud, env: str, enabled: bool
) -> None:
    backup, iam = envs.client("backup"), envs.client("iam")
    plans = {p["BackupPlanName"]: p for p in backup.list_backup_plans()["BackupPlansList"]}
    role = f"{env}-movie-app-cluster-backup"
    if not enabled:  # dev's backup_enabled is false: no plan, no role
        assert f"{env}-movie-app" not in plans
        assert role not in {r["RoleName"] for r in iam.list_roles()["Roles"]}
        return
    plan = plans[f"{env}-movie-app"]["BackupPlanId"]
    (listed,) = backup.list_backup_selections(BackupPlanId=plan)["BackupSelectionsList"]
    selection = backup.get_backup_selection(BackupPlanId=plan, SelectionId=listed["SelectionId"])["BackupSelection"]
    assert sorted(selection["Resources"]) == ["arn:aws:ec2:*:*:volume/*", "arn:aws:rds:*:*:db:*"]
    # It backs up what it should: the environment's database and volumes; and nothing of the other environments'.
    rds, ec2 = envs.client("rds"), envs.client("ec2")
    for other in ("dev", "staging", "prod"):
        database = rds.describe_db_instances(DBInstanceIdentifier=f"{other}-movie-app-db")["DBInstances"][0]
        tags = {t["Key"]: t["Value"] for t in database.get("TagList", [])}
        assert selected(selection, tags) == (other == env), (other, tags)
    volumes = ec2.describe_volumes(Filters=[{"Name": "tag:Environment", "Values": [env]}])["Volumes"]
    assert volumes and all(selected(selection, {t["Key"]: t["Value"] for t in v["Tags"]}) for v in volumes)
    # By the role AWS Backup assumes, created within the scope's permissions boundary.
    found = iam.get_role(RoleName=role)["Role"]
    assert selection["IamRoleArn"] == found["Arn"]
    boundary = "stageflow-prod-workload-boundary" if env == "prod" else "stageflow-nonprod-workload-boundary"
    assert found["PermissionsBoundary"]["PermissionsBoundaryArn"].endswith(f":policy/{boundary}")
    trusted = found["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
    assert trusted == {"Service": "backup.amazonaws.com"}
    attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AWSBackupServiceRolePolicyForBackup"]
