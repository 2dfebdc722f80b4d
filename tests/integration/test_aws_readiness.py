"""What a real account needs from provisioned environments, read back from the strict local cloud: a route out of the
private subnets, a database created with the password Secrets Manager keeps, an execution role that reads exactly its
environment's secret, a backup plan that selects the environment's data stores. (docs/localcloud.md lists the
strictness that refuses each defect these tests once had.)"""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.conftest import Cloud
from tests.integration.releases import live

pytestmark = pytest.mark.slow
ZONES = ["us-east-1a", "us-east-1b"]


def secret_of(cloud: Cloud, env: str) -> dict:
    secrets = cloud.client("secretsmanager")
    arn = secrets.describe_secret(SecretId=f"stageflow/{env}/movie-app/database")["ARN"]
    return {"arn": arn, **json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])}


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_the_database_is_created_with_the_password_kept_in_secrets_manager(envs: Cloud, env: str) -> None:
    """Each environment's MongoDB-compatible database (dev and staging a DocumentDB cluster, prod an elastic one) was
    created with the password Secrets Manager keeps, and the server container gets its connection string as
    MONGODB_URI: TLS, the cluster's endpoint, the replica set where there is one."""
    kept = secret_of(envs, env)
    assert len(kept["password"]) == 32 and kept["username"] == "movieapp"
    name = f"{env}-movie-app-db"
    if env == "prod":
        (listed,) = [c for c in envs.client("docdb-elastic").list_clusters()["clusters"] if c["clusterName"] == name]
        cluster = envs.client("docdb-elastic").get_cluster(clusterArn=listed["clusterArn"])["cluster"]
        user, endpoint, replica_set = cluster["adminUserName"], cluster["clusterEndpoint"], ""
    else:
        cluster = envs.client("docdb").describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]
        user, endpoint, replica_set = cluster["MasterUsername"], cluster["Endpoint"], "&replicaSet=rs0"
    assert user == kept["username"]
    created_with = envs.control.master_password_sha256(name)
    assert created_with == hashlib.sha256(kept["password"].encode()).hexdigest()
    secrets = envs.client("secretsmanager")
    uri_arn = secrets.describe_secret(SecretId=f"stageflow/{env}/movie-app/mongodb-uri")["ARN"]
    uri = secrets.get_secret_value(SecretId=uri_arn)["SecretString"]
    assert uri.startswith(f"mongodb://movieapp:{kept['password']}@{endpoint}:27017/movieapp_{env}?tls=true&")
    assert replica_set in uri and "retryWrites=false" in uri
    assert ("readPreference=secondaryPreferred" in uri) == (env == "staging")
    definition = envs.client("ecs").describe_task_definition(taskDefinition=live(envs, env)["task_definition"])
    definition = definition["taskDefinition"]
    server = next(c for c in definition["containerDefinitions"] if c["name"] == "server")
    assert {s["name"]: s["valueFrom"] for s in server["secrets"]} == {
        "DATABASE_CREDENTIALS": kept["arn"],
        "MONGODB_URI": uri_arn,
    }


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
            "Resource": [
                secret_of(envs, env)["arn"],
                envs.client("secretsmanager").describe_secret(SecretId=f"stageflow/{env}/movie-app/mongodb-uri")["ARN"],
            ],
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
    assert sorted(selection["Resources"]) == [
        "arn:aws:ec2:*:*:volume/*",
        "arn:aws:rds:*:*:cluster:*",
        "arn:aws:rds:*:*:db:*",
    ]
    # It backs up what it should: the environment's DocumentDB cluster and volumes; and nothing of the other
    # environments'. (prod's elastic cluster keeps its own automated backups: AWS Backup does not take them.)
    rds, ec2 = envs.client("docdb"), envs.client("ec2")
    for other in ("dev", "staging"):
        database = rds.describe_db_clusters(DBClusterIdentifier=f"{other}-movie-app-db")["DBClusters"][0]
        listed = rds.list_tags_for_resource(ResourceName=database["DBClusterArn"])["TagList"]
        tags = {t["Key"]: t["Value"] for t in listed}
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
