"""stageflow.aws.docdb_cluster, docdb_elastic_cluster and their _info modules, run in this process against the local
cloud (its own process: plain moto has no DocumentDB) and read back with boto3. Every AWS call the modules make is
recorded, so check mode and bad input are shown to make no mutating call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.stageflow.aws.plugins.modules import (
    docdb_cluster,
    docdb_cluster_info,
    docdb_elastic_cluster,
    docdb_elastic_cluster_info,
)
from botocore.client import BaseClient

from localcloud.client import spawn

ROOT = Path(__file__).resolve().parents[4]
PASSWORD = "correct-horse-battery"
READS = ("Describe", "List", "Get")


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    proc, found = spawn("--rollout-seconds", "0.5", log_path=ROOT / ".localcloud-test-docdb-modules.log")
    try:
        yield found
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def cloud(url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in (("AWS_ENDPOINT_URL", url), ("AWS_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    session = boto3.Session(region_name="us-east-1")
    return {name: session.client(name, endpoint_url=url) for name in ("docdb", "docdb-elastic", "ec2")}


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every AWS operation made from here on, by any client."""
    made: list[str] = []
    original = BaseClient._make_api_call

    def recording(self: Any, operation_name: str, api_params: dict) -> Any:
        made.append(operation_name)
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return made


def run(module: Any, capsys: pytest.CaptureFixture, check_mode: bool = False, **args: Any) -> dict[str, Any]:
    args.update(_ansible_check_mode=check_mode, _ansible_diff=True)
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def writes(calls: list[str]) -> list[str]:
    return [c for c in calls if not c.startswith(READS)]


@pytest.fixture
def subnet_group(cloud: dict[str, Any]) -> str:
    ec2 = cloud["ec2"]
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"us-east-1{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate("ab")
    ]
    name = f"group-{vpc}"
    cloud["docdb"].create_db_subnet_group(DBSubnetGroupName=name, DBSubnetGroupDescription="db", SubnetIds=subnets)
    return name


def test_a_replica_set_is_planned_created_idempotent_scaled_and_deleted_with_a_final_snapshot(
    cloud: dict[str, Any], subnet_group: str, calls: list[str], capsys: pytest.CaptureFixture
) -> None:
    wanted = dict(
        identifier="staging-shop-db",
        instances=2,
        instance_class="db.t3.medium",
        master_username="shop",
        master_user_password=PASSWORD,
        subnet_group_name=subnet_group,
        backup_retention_period=7,
        deletion_protection=True,
        tags={"Environment": "staging"},
        wait_timeout=60,
    )
    planned = run(docdb_cluster, capsys, check_mode=True, **wanted)
    assert planned["changed"] and writes(calls) == []
    assert [(s["action"], s.get("availability_zone")) for s in planned["plan"]] == [
        ("create_cluster", None),
        ("create_instance", "us-east-1a"),
        ("create_instance", "us-east-1b"),
    ]
    assert "correct-horse" not in json.dumps(planned)

    made = run(docdb_cluster, capsys, **wanted)["cluster"]
    read = cloud["docdb"].describe_db_clusters(DBClusterIdentifier="staging-shop-db")["DBClusters"][0]
    assert (read["BackupRetentionPeriod"], read["DeletionProtection"], read["StorageEncrypted"]) == (7, True, True)
    instances = cloud["docdb"].describe_db_instances(
        Filters=[{"Name": "db-cluster-id", "Values": ["staging-shop-db"]}]
    )["DBInstances"]
    assert sorted((i["DBInstanceIdentifier"], i["AvailabilityZone"]) for i in instances) == [
        ("staging-shop-db-1", "us-east-1a"),
        ("staging-shop-db-2", "us-east-1b"),
    ]
    assert made["availability_zones"] == ["us-east-1a", "us-east-1b"] and made["endpoint"] == read["Endpoint"]
    assert [i["writer"] for i in made["instances"]] == [True, False]

    calls.clear()
    again = run(docdb_cluster, capsys, **wanted)
    assert (again["changed"], again["plan"], writes(calls)) == (False, [], [])

    scaled = run(docdb_cluster, capsys, **{**wanted, "instances": 3, "instance_class": "db.r6g.large"})
    # The reader changes class first, the writer last: the cluster keeps a writer while its instances restart.
    assert [(s["action"], s["instance"]) for s in scaled["plan"]] == [
        ("modify_instance", "staging-shop-db-2"),
        ("create_instance", "staging-shop-db-3"),
        ("modify_instance", "staging-shop-db-1"),
    ]
    assert {i["instance_class"] for i in scaled["cluster"]["instances"]} == {"db.r6g.large"}
    assert scaled["diff"]["before"]["instances"] == {
        "staging-shop-db-1": "db.t3.medium",
        "staging-shop-db-2": "db.t3.medium",
    }

    calls.clear()
    refused = run(docdb_cluster, capsys, identifier="staging-shop-db", state="absent")
    assert refused["failed"] and "deletion protection" in refused["msg"] and writes(calls) == []
    run(
        docdb_cluster,
        capsys,
        **{**wanted, "instances": 3, "instance_class": "db.r6g.large", "deletion_protection": False},
    )
    deleted = run(docdb_cluster, capsys, identifier="staging-shop-db", state="absent", wait_timeout=60)
    assert deleted["plan"][-1]["action"] == "delete_cluster" and deleted["final_snapshot"].startswith(
        "staging-shop-db-final-"
    )
    assert run(docdb_cluster_info, capsys, identifier="staging-shop-db")["clusters"] == []
    snapshots = cloud["docdb"].describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=deleted["final_snapshot"])
    assert snapshots["DBClusterSnapshots"][0]["Status"] == "available"


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        ({"instance_class": "db.t3.micro"}, "instance_class 'db.t3.micro' is not a DocumentDB instance class"),
        ({"instances": 17}, "instances must be 0 to 16"),
        ({"master_user_password": "p@ssword-1"}, "master_user_password must be 8 to 100 printable ASCII characters"),
        ({"identifier": "Two--Hyphens"}, "identifier 'two--hyphens' must be 1 to 63 letters"),
        ({"backup_retention_period": 0}, "backup_retention_period must be 1 to 35 days, got 0"),
    ],
)
def test_bad_options_are_refused_before_any_call(
    cloud: dict[str, Any], calls: list[str], capsys: pytest.CaptureFixture, bad: dict, said: str
) -> None:
    wanted = dict(identifier="dev-shop-db", instance_class="db.t3.medium", master_username="shop")
    result = run(docdb_cluster, capsys, **{**wanted, "master_user_password": PASSWORD, **bad})
    assert result["failed"] and said in result["msg"] and calls == []


def test_a_replica_set_needs_a_second_zone(
    cloud: dict[str, Any], calls: list[str], capsys: pytest.CaptureFixture
) -> None:
    result = run(
        docdb_cluster,
        capsys,
        identifier="lonely-db",
        instances=2,
        instance_class="db.t3.medium",
        master_username="shop",
        master_user_password=PASSWORD,
        availability_zones=["us-east-1a"],
    )
    assert result["failed"] and "needs replicas in another zone" in result["msg"] and writes(calls) == []


def test_an_elastic_cluster_is_planned_created_resharded_guarded_and_deleted_after_its_snapshot(
    cloud: dict[str, Any], calls: list[str], capsys: pytest.CaptureFixture
) -> None:
    wanted = dict(
        name="prod-shop-db",
        shard_count=2,
        shard_capacity=2,
        shard_instance_count=2,
        admin_user_name="shop",
        admin_user_password=PASSWORD,
        backup_retention_period=30,
        deletion_protection=True,
        tags={"Environment": "prod"},
        wait_timeout=60,
    )
    planned = run(docdb_elastic_cluster, capsys, check_mode=True, **wanted)
    assert planned["changed"] and planned["plan"][0]["action"] == "create" and writes(calls) == []
    made = run(docdb_elastic_cluster, capsys, **wanted)["cluster"]
    assert (made["status"], made["shard_count"], made["deletion_protection"]) == ("ACTIVE", 2, True)
    read = cloud["docdb-elastic"].get_cluster(clusterArn=made["arn"])["cluster"]
    assert (read["shardCapacity"], read["shardInstanceCount"], read["backupRetentionPeriod"]) == (2, 2, 30)

    calls.clear()
    assert run(docdb_elastic_cluster, capsys, **wanted)["changed"] is False and writes(calls) == []
    checked = run(docdb_elastic_cluster, capsys, check_mode=True, **{**wanted, "shard_count": 4})
    assert checked["plan"] == [
        {"action": "update", "changes": {"shardCount": 4}, "reason": "shard_count is 2, asked 4"}
    ]
    assert writes(calls) == []
    assert run(docdb_elastic_cluster, capsys, **{**wanted, "shard_count": 4})["cluster"]["shard_count"] == 4
    assert run(docdb_elastic_cluster_info, capsys, name="prod-shop-db")["clusters"][0]["shards"] == 4

    refused = run(docdb_elastic_cluster, capsys, name="prod-shop-db", state="absent")
    assert refused["failed"] and "DeletionProtection=true" in refused["msg"]
    assert cloud["docdb-elastic"].get_cluster(clusterArn=made["arn"])["cluster"]["status"] == "ACTIVE"
    run(docdb_elastic_cluster, capsys, name="prod-shop-db", deletion_protection=False)
    deleted = run(docdb_elastic_cluster, capsys, name="prod-shop-db", state="absent", wait_timeout=60)
    assert [s["action"] for s in deleted["plan"]] == ["snapshot", "delete"]
    snapshot = cloud["docdb-elastic"].get_cluster_snapshot(snapshotArn=deleted["final_snapshot"]["arn"])["snapshot"]
    assert snapshot["status"] == "ACTIVE" and snapshot["snapshotName"].startswith("prod-shop-db-final-")
    assert run(docdb_elastic_cluster_info, capsys, name="prod-shop-db")["clusters"] == []


def test_elastic_shard_settings_out_of_range_are_refused_before_any_call(
    cloud: dict[str, Any], calls: list[str], capsys: pytest.CaptureFixture
) -> None:
    result = run(docdb_elastic_cluster, capsys, name="prod-shop-db", shard_count=33, shard_instance_count=0)
    assert result["failed"] and calls == []
    assert result["problems"] == ["shard_count must be 1 to 32, got 33", "shard_instance_count must be 1 to 16, got 0"]


def test_a_rerun_after_a_killed_deletion_waits_instead_of_deleting_again(
    cloud: dict[str, Any], subnet_group: str, calls: list[str], capsys: pytest.CaptureFixture
) -> None:
    """A teardown killed after its delete calls leaves the cluster deleting; the next run must finish, not fail on
    AWS's refusal to delete it twice."""
    wanted = dict(
        name="feature-x-shop-db",
        shard_count=1,
        shard_capacity=2,
        admin_user_name="shop",
        admin_user_password=PASSWORD,
        wait_timeout=60,
    )
    run(docdb_elastic_cluster, capsys, **wanted)
    arn = run(docdb_elastic_cluster_info, capsys, name="feature-x-shop-db")["clusters"][0]["arn"]
    cloud["docdb-elastic"].delete_cluster(clusterArn=arn)  # the killed run's call
    calls.clear()
    rerun = run(docdb_elastic_cluster, capsys, name="feature-x-shop-db", state="absent", wait_timeout=60)
    assert not rerun.get("failed") and "DeleteCluster" not in calls, rerun
    assert run(docdb_elastic_cluster_info, capsys, name="feature-x-shop-db")["clusters"] == []


def test_elastic_snapshot_names_fit_awss_63_characters() -> None:
    from ansible_collections.stageflow.aws.plugins.module_utils._docdb import elastic

    name = elastic.final_snapshot_name("feature-a-very-long-branch-name-movie-app-db", "20261128153000")
    assert len(name) <= 63 and name.endswith("-final-20261128153000") and "--" not in name
    assert elastic.NAME.fullmatch(name[:50])
