"""volume_snapshot: what it prunes (never a snapshot still being taken, always a completed one per volume and per
database), and the database snapshot it takes in the same call - run as Ansible runs it, against moto."""

from __future__ import annotations

import datetime
import json
from typing import Any

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.stageflow.aws.plugins.module_utils._docdb import snapshots as database_snapshots
from ansible_collections.stageflow.aws.plugins.modules import volume_snapshot
from moto import mock_aws

NOW = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.UTC)


def snap(ident: str, days_old: float, state: str = "completed", volume: str = "vol-1") -> dict[str, Any]:
    return {
        "SnapshotId": ident,
        "VolumeId": volume,
        "State": state,
        "StartTime": NOW - datetime.timedelta(days=days_old),
    }


def pruned(snapshots: list[dict], retention: int = 30, keep: int = 3) -> list[str]:
    return [s["SnapshotId"] for s in volume_snapshot.prune_plan(snapshots, retention, keep, NOW)]


def test_only_completed_snapshots_are_counted_or_pruned() -> None:
    # Three old completed ones and the release's own, still pending: keeping 3 keeps the 3 completed ones, not 2.
    old = [snap(f"snap-{d}", d) for d in (40, 50, 60)]
    assert pruned([*old, snap("snap-new", 0, "pending")]) == []
    assert pruned([*old, snap("snap-41", 41), snap("snap-broken", 90, "error")]) == ["snap-60"]


def test_a_completed_snapshot_is_always_kept_per_volume_whatever_keep_at_least_says() -> None:
    snapshots = [
        snap("a-1", 90),
        snap("a-2", 100),
        snap("b-1", 100, volume="vol-2"),
        snap("b-new", 0, "pending", "vol-2"),
    ]
    assert sorted(pruned(snapshots, keep=0)) == ["a-2"]
    assert pruned(snapshots, retention=0) == [], "retention 0 prunes nothing"


def test_database_release_snapshots_are_pruned_by_the_same_rule() -> None:
    def db(ident: str, days_old: float, status: str = "available", release: bool = True) -> dict[str, Any]:
        tags = [{"Key": "StageflowPromotion", "Value": ident}] if release else []
        created = NOW - datetime.timedelta(days=days_old)
        return {
            "DBSnapshotIdentifier": ident,
            "DBInstanceIdentifier": "prod-db",
            "Status": status,
            "SnapshotCreateTime": created,
            "TagList": tags,
        }

    snapshots = [db("r-1", 40), db("r-2", 50), db("r-3", 60), db("r-4", 70), db("r-5", 1, "creating")]
    snapshots += [db("prod-db-final-20250101000000", 300, release=False)]  # a teardown's: never Stageflow's to prune
    mine = database_snapshots.release_snapshots(_Listing("DBSnapshots", snapshots), "instance", "prod-db")
    doomed = volume_snapshot.prune_plan(mine, 30, 3, NOW, source="Source", started="Started")
    assert [s["SnapshotId"] for s in doomed] == ["r-4"]


class _Listing:
    """A client whose one paginator lists `items` under `key`, as RDS's DescribeDBSnapshots does."""

    def __init__(self, key: str, items: list[dict[str, Any]]) -> None:
        self.key, self.items = key, items

    def get_paginator(self, name: str) -> Any:
        listing = self

        class Pages:
            def paginate(self, **kwargs: Any) -> Any:
                return self

            def build_full_result(self) -> dict[str, Any]:
                return {listing.key: listing.items}

        return Pages()


@pytest.fixture
def aws(aws_credentials: None) -> Any:
    with mock_aws():
        ec2, rds = boto3.client("ec2", region_name="us-east-1"), boto3.client("rds", region_name="us-east-1")
        ec2.create_volume(
            AvailabilityZone="us-east-1a",
            Size=8,
            TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Environment", "Value": "prod"}]}],
        )
        rds.create_db_instance(
            DBInstanceIdentifier="prod-movie-app-db",
            DBInstanceClass="db.t3.micro",
            Engine="postgres",
            MasterUsername="movie",
            MasterUserPassword="password-long-enough",
            AllocatedStorage=20,
        )
        yield ec2, rds


def stageflows(ec2: Any) -> list[dict]:
    """The EBS snapshots Stageflow made (moto's own AMIs come with snapshots of their own)."""
    return ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag:ManagedBy", "Values": ["stageflow"]}])[
        "Snapshots"
    ]


def run(capsys: pytest.CaptureFixture, check_mode: bool = False, **args) -> dict:
    args.update(_ansible_check_mode=check_mode)
    with patch_module_args(args), pytest.raises(SystemExit):
        volume_snapshot.main()
    return json.loads(capsys.readouterr().out)


def test_keep_at_least_below_one_is_refused_before_any_change(capsys, aws) -> None:
    ec2, _rds = aws
    result = run(
        capsys, environment="prod", promotion_id="promote-prod-1", keep_at_least=0, database="prod-movie-app-db"
    )
    assert result["failed"] and "keep_at_least must be >= 1" in result["msg"] and "got 0" in result["msg"]
    assert stageflows(ec2) == []


def test_the_volumes_and_the_database_are_snapshotted_in_one_call(capsys, aws) -> None:
    ec2, rds = aws
    planned = run(capsys, True, environment="prod", promotion_id="promote-prod-1", database="prod-movie-app-db")
    assert planned["database_snapshot"] == {"snapshot_id": "prod-movie-app-db-promote-prod-1", "status": "planned"}
    assert rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"] == [], "check mode takes nothing"

    taken = run(
        capsys,
        environment="prod",
        promotion_id="promote-prod-1",
        database="prod-movie-app-db",
        retention_days=30,
        tags={"Application": "movie-app"},
    )
    assert taken["changed"] and len(taken["snapshots"]) == 1 and taken["pruned"] == []
    [db] = rds.describe_db_snapshots(DBSnapshotIdentifier="prod-movie-app-db-promote-prod-1")["DBSnapshots"]
    tags = {t["Key"]: t["Value"] for t in db["TagList"]}
    assert (
        tags.items()
        >= {"StageflowPromotion": "promote-prod-1", "Environment": "prod", "Application": "movie-app"}.items()
    )
    [volume_snap] = stageflows(ec2)
    assert {t["Key"]: t["Value"] for t in volume_snap["Tags"]}["StageflowPromotion"] == "promote-prod-1"
