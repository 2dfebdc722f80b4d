"""The local cloud's Amazon DocumentDB (localcloud/docdb.py, docdb_elastic.py): what plain moto refuses or lacks, and
the rules AWS's DocumentDB APIs enforce.

Plain moto (`mock_aws`, in this process) refuses Engine=docdb and has no DocumentDB Elastic Clusters at all; the local
cloud (`python -m localcloud`, its own process) answers both as AWS does, and refuses what AWS refuses.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from localcloud.client import spawn

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"})
SESSION = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    proc, found = spawn("--rollout-seconds", "1", log_path=ROOT / ".localcloud-test-docdb.log")
    try:
        yield found
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def refusing_cluster(url: str) -> str:
    client("docdb", url).create_db_cluster(
        DBClusterIdentifier="refusing-db", Engine="docdb", MasterUsername="movieapp", MasterUserPassword=PASSWORD
    )
    return "refusing-db"


def client(service: str, url: str | None = None) -> Any:
    return SESSION.client(service, config=CONFIG, **({"endpoint_url": url} if url else {}))


def error_of(call: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]


def test_plain_moto_refuses_documentdb_which_the_local_cloud_creates_with_documentdbs_defaults(url: str) -> None:
    def create(docdb: Any) -> dict[str, Any]:
        return docdb.create_db_cluster(
            DBClusterIdentifier="catalogue-db", Engine="docdb", MasterUsername="movieapp", MasterUserPassword=PASSWORD
        )["DBCluster"]

    with mock_aws():
        assert error_of(lambda: create(client("docdb")))["Code"] == "InvalidParameterValue"
    docdb = client("docdb", url)
    cluster = create(docdb)
    # AWS's default engine version is the newest available; its parameter group is the version's default.
    assert (cluster["Engine"], cluster["EngineVersion"], cluster["Port"]) == ("docdb", "8.0.0", 27017)
    assert cluster["DBClusterParameterGroup"] == "default.docdb8.0"
    pinned = docdb.create_db_cluster(
        DBClusterIdentifier="pinned-db",
        Engine="docdb",
        EngineVersion="5.0.0",
        MasterUsername="movieapp",
        MasterUserPassword=PASSWORD,
    )["DBCluster"]
    assert (pinned["EngineVersion"], pinned["DBClusterParameterGroup"]) == ("5.0.0", "default.docdb5.0")
    docdb.create_db_instance(
        DBInstanceIdentifier="catalogue-db-1",
        DBClusterIdentifier="catalogue-db",
        Engine="docdb",
        DBInstanceClass="db.t3.medium",
    )
    (member,) = docdb.describe_db_clusters(DBClusterIdentifier="catalogue-db")["DBClusters"][0]["DBClusterMembers"]
    assert member == {**member, "DBInstanceIdentifier": "catalogue-db-1", "IsClusterWriter": True}
    (instance,) = docdb.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": ["catalogue-db"]}])[
        "DBInstances"
    ]
    assert (instance["Engine"], instance["Endpoint"]["Port"]) == ("docdb", 27017)


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [
        (
            {"action": "instance", "DBInstanceClass": "db.t3.micro"},
            "InvalidParameterCombination",
            "RDS does not support creating a DB instance with the following combination: DBInstanceClass=db.t3.micro, "
            "Engine=docdb, EngineVersion=8.0.0, LicenseModel=na. For supported combinations of instance class and "
            "database engine version, see the documentation.",
        ),
        (
            {"action": "instance", "DBInstanceClass": "db.t3.medium", "DBClusterIdentifier": None},
            "InvalidParameterValue",
            "The parameter DBClusterIdentifier must be provided for engine docdb.",
        ),
        (
            {"action": "cluster", "MasterUserPassword": "has@sign-in-it"},
            "InvalidParameterValue",
            'The parameter MasterUserPassword is not a valid password. Only printable ASCII characters besides "/", '
            '""", "@" may be used, and it must contain from 8 to 100 characters.',
        ),
        (
            {"action": "cluster", "MasterUserPassword": "short"},
            "InvalidParameterValue",
            'The parameter MasterUserPassword is not a valid password. Only printable ASCII characters besides "/", '
            '""", "@" may be used, and it must contain from 8 to 100 characters.',
        ),
        (
            {"action": "cluster", "MasterUsername": "movie_app"},
            "InvalidParameterValue",
            "MasterUsername must be 1 to 63 letters or numbers, and its first character must be a letter.",
        ),
    ],
    ids=["no-micro-class", "instance-outside-a-cluster", "password-with-at", "short-password", "user-with-underscore"],
)
def test_the_local_cloud_refuses_what_documentdb_refuses(
    url: str, refusing_cluster: str, request_: dict, code: str, message: str
) -> None:
    docdb, request_ = client("docdb", url), dict(request_)
    if request_.pop("action") == "instance":
        settings = {"DBInstanceIdentifier": "refusing-db-1", "DBClusterIdentifier": refusing_cluster, **request_}
        # The docdb client's model requires a cluster; RDS's, the same API, sends a request without one.
        sender = docdb if settings["DBClusterIdentifier"] else client("rds", url)
        error = error_of(
            lambda: sender.create_db_instance(Engine="docdb", **{k: v for k, v in settings.items() if v is not None})
        )
    else:
        settings = {"MasterUsername": "movieapp", "MasterUserPassword": PASSWORD, **request_}
        error = error_of(lambda: docdb.create_db_cluster(DBClusterIdentifier="refused-db", Engine="docdb", **settings))
    assert (error["Code"], error["Message"]) == (code, message)
    assert (
        docdb.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": [refusing_cluster]}])["DBInstances"]
        == []
    )


def elastic_settings(name: str, **changes: Any) -> dict[str, Any]:
    settings = {
        "clusterName": name,
        "adminUserName": "movieapp",
        "adminUserPassword": PASSWORD,
        "authType": "PLAIN_TEXT",
        "shardCapacity": 2,
        "shardCount": 2,
        "tags": {"Environment": "prod"},
    }
    return {**settings, **changes}


def wait_active(elastic: Any, arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while (cluster := elastic.get_cluster(clusterArn=arn)["cluster"])["status"] != "ACTIVE":
        assert time.monotonic() < deadline, cluster
        time.sleep(0.3)
    return cluster


def test_plain_moto_has_no_elastic_clusters_which_the_local_cloud_runs_as_aws_does(url: str) -> None:
    with mock_aws():
        assert "Not yet implemented" in str(error_of(lambda: client("docdb-elastic").list_clusters()))
    elastic = client("docdb-elastic", url)
    made = elastic.create_cluster(**elastic_settings("orders-db"))["cluster"]
    assert made["status"] == "CREATING" and "adminUserPassword" not in made
    # Not ACTIVE yet: AWS refuses to change it.
    refused = error_of(lambda: elastic.update_cluster(clusterArn=made["clusterArn"], shardCount=3))
    assert refused["Code"] == "ConflictException"
    cluster = wait_active(elastic, made["clusterArn"])
    assert (cluster["shardCount"], cluster["shardCapacity"], cluster["shardInstanceCount"]) == (2, 2, 2)
    assert len(cluster["shards"]) == 2 and cluster["clusterEndpoint"].endswith(".docdb-elastic.amazonaws.com")
    assert elastic.update_cluster(clusterArn=made["clusterArn"], shardCount=3)["cluster"]["status"] == "UPDATING"
    assert wait_active(elastic, made["clusterArn"])["shardCount"] == 3
    assert elastic.list_tags_for_resource(resourceArn=made["clusterArn"])["tags"] == {"Environment": "prod"}
    snapshot = elastic.create_cluster_snapshot(clusterArn=made["clusterArn"], snapshotName="orders-db-before")
    listed = elastic.list_cluster_snapshots(clusterArn=made["clusterArn"])["snapshots"]
    assert [s["snapshotArn"] for s in listed] == [snapshot["snapshot"]["snapshotArn"]]
    assert elastic.delete_cluster(clusterArn=made["clusterArn"])["cluster"]["status"] == "DELETING"
    deadline = time.monotonic() + 20
    while any(c["clusterName"] == "orders-db" for c in elastic.list_clusters()["clusters"]):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    gone = error_of(lambda: elastic.get_cluster(clusterArn=made["clusterArn"]))
    assert gone["Code"] == "ResourceNotFoundException"
    # Its snapshot stays: the data outlives the cluster.
    assert elastic.get_cluster_snapshot(snapshotArn=snapshot["snapshot"]["snapshotArn"])["snapshot"]["status"]


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"shardCapacity": 3}, "shardCapacity must be one of 2, 4, 8, 16, 32, 64, got 3"),
        ({"shardCount": 33}, "shardCount must be between 1 and 32, got 33"),
        ({"shardInstanceCount": 17}, "shardInstanceCount must be between 1 and 16, got 17"),
        ({"backupRetentionPeriod": 36}, "backupRetentionPeriod must be between 1 and 35, got 36"),
        ({"adminUserPassword": "with/slash-in-it"}, "adminUserPassword must be 8 to 100 printable ASCII characters"),
        ({"clusterName": "Orders_DB"}, "clusterName must be 1 to 50 lowercase letters, digits or hyphens"),
        ({"adminUserName": "9lives"}, "adminUserName must be 1 to 63 letters or digits and begin with a letter"),
    ],
)
def test_the_local_cloud_refuses_elastic_clusters_aws_refuses(url: str, changes: dict, said: str) -> None:
    error = error_of(lambda: client("docdb-elastic", url).create_cluster(**elastic_settings("refused-db", **changes)))
    assert error["Code"] == "ValidationException" and said in error["Message"]


def test_elastic_calls_are_recorded_for_the_check_mode_tests(url: str) -> None:
    with urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/recorder/reset-recording", method="POST")):
        pass
    client("docdb-elastic", url).list_clusters()
    with urllib.request.urlopen(f"{url}/moto-api/recorder/download-recording") as answer:
        entries = [json.loads(line) for line in answer.read().decode().splitlines() if line.strip()]
    assert [(e["method"], e["url"].split("?")[0].rsplit("/", 1)[-1]) for e in entries] == [("GET", "clusters")]


def test_elastic_clusters_are_in_the_local_clouds_snapshots_and_their_exports(tmp_path: Path) -> None:
    """The test shards share a provisioning through an exported snapshot: prod's elastic cluster must travel with it."""
    from localcloud.client import LocalCloudClient

    made, imported = (
        spawn("--rollout-seconds", "0", "--snapshot-dir", str(tmp_path), log_path=ROOT / ".localcloud-test-docdb.log")
        for _count in range(2)
    )
    try:
        elastic = client("docdb-elastic", made[1])
        arn = elastic.create_cluster(**elastic_settings("shared-db"))["cluster"]["clusterArn"]
        control = LocalCloudClient(made[1])
        control.save_snapshot("shared")
        control.export_snapshot("shared")
        elastic.delete_cluster(clusterArn=wait_active(elastic, arn)["clusterArn"])
        assert control.restore_snapshot("shared")
        assert elastic.get_cluster(clusterArn=arn)["cluster"]["clusterName"] == "shared-db"
        other = LocalCloudClient(imported[1])
        assert other.import_snapshot("shared") and other.restore_snapshot("shared")
        found = client("docdb-elastic", imported[1]).get_cluster(clusterArn=arn)["cluster"]
        assert (found["clusterName"], found["shardCount"]) == ("shared-db", 2)
    finally:
        for proc, _url in (made, imported):
            proc.terminate()
            proc.wait(timeout=20)
