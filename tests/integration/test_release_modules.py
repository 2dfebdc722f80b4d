"""The release modules called on their own, as `ansible localhost -m ...` calls them, against the local cloud."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tests.conftest import Cloud

RECORD = {"id": "promote-qa-20261127T101500-01234", "kind": "promote", "started_at": "2026-11-27T10:15:00Z"}


def module(cloud: Cloud, name: str, args: dict, *flags: str):
    ansible = str(Path(sys.executable).parent / "ansible")
    return cloud.run(ansible, "localhost", "-m", f"stageflow.aws.{name}", "-a", json.dumps(args), *flags)


def records_table(cloud: Cloud) -> str:
    cloud.client("dynamodb").create_table(
        TableName="qa-movie-app-deployments",
        KeySchema=[
            {"AttributeName": "environment", "KeyType": "HASH"},
            {"AttributeName": "started_at", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "environment", "AttributeType": "S"},
            {"AttributeName": "started_at", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return "qa-movie-app-deployments"


def test_a_record_and_its_report_are_written_together_and_check_mode_writes_neither(cloud: Cloud, tmp_path) -> None:
    table, reports = records_table(cloud), tmp_path / "reports" / "nested"
    args = {
        "table": table,
        "environment": "qa",
        "record": {**RECORD, "outcome": "succeeded"},
        "report_dir": str(reports),
    }
    planned = module(cloud, "deployment_record", args, "--check")
    assert planned.returncode == 0, planned.stdout
    assert not reports.exists()
    assert cloud.client("dynamodb").scan(TableName=table)["Items"] == []

    written = module(cloud, "deployment_record", args)
    assert written.returncode == 0, written.stdout
    report = json.loads((reports / f"{RECORD['id']}.json").read_text())
    assert report["outcome"] == "succeeded" and report["environment"] == "qa"
    assert (reports / f"{RECORD['id']}.json").stat().st_mode & 0o777 == 0o644
    assert [p.name for p in reports.iterdir()] == [f"{RECORD['id']}.json"], "no temporary file is left"
    items = cloud.client("dynamodb").scan(TableName=table)["Items"]
    assert [i["id"]["S"] for i in items] == [RECORD["id"]]


def test_a_record_id_that_cannot_name_a_report_file_is_refused_before_any_write(cloud: Cloud, tmp_path) -> None:
    table = records_table(cloud)
    record = {**RECORD, "id": "../../etc/x", "outcome": "succeeded"}
    refused = module(
        cloud, "deployment_record", {"table": table, "environment": "qa", "record": record, "report_dir": str(tmp_path)}
    )
    assert refused.returncode != 0
    assert "cannot name a report file" in refused.stdout
    assert cloud.client("dynamodb").scan(TableName=table)["Items"] == [] and list(tmp_path.iterdir()) == []


def test_a_report_that_cannot_be_written_is_a_warning_and_the_record_still_lands(cloud: Cloud, tmp_path) -> None:
    table, blocked = records_table(cloud), tmp_path / "reports"
    blocked.write_text("a file where the reports directory should be")
    args = {"table": table, "environment": "qa", "record": {**RECORD, "outcome": "failed"}, "report_dir": str(blocked)}
    written = module(cloud, "deployment_record", args)
    assert written.returncode == 0, written.stdout
    assert "its report" in written.stdout + written.stderr and "could not be" in written.stdout + written.stderr
    assert [i["outcome"]["S"] for i in cloud.client("dynamodb").scan(TableName=table)["Items"]] == ["failed"]


def lock_table(cloud: Cloud) -> str:
    cloud.client("dynamodb").create_table(
        TableName="qa-movie-app-deploy-locks",
        KeySchema=[{"AttributeName": "environment", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "environment", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return "qa-movie-app-deploy-locks"


SKEWED_CLOCK = """
import os, time
_real = time.time
time.time = lambda: _real() + {skew}
open(os.environ["STAGEFLOW_SKEW_MARKER"], "a").write("skewed\\n")
"""


def test_a_controller_whose_clock_runs_ahead_cannot_take_a_live_lock(cloud: Cloud, tmp_path) -> None:
    table = lock_table(cloud)
    lock = {"table": table, "environment": "qa", "lease_seconds": 600, "purpose": "promote v1"}
    assert module(cloud, "deploy_lock", {**lock, "lock_id": "first"}).returncode == 0

    # The second controller's clock runs two hours ahead: by it, the first lease ran out long ago.
    skew = tmp_path / "skew"
    skew.mkdir()
    (skew / "sitecustomize.py").write_text(SKEWED_CLOCK.format(skew=7200))
    marker = tmp_path / "loaded"
    ahead = {"PYTHONPATH": str(skew), "STAGEFLOW_SKEW_MARKER": str(marker)}
    ansible = str(Path(sys.executable).parent / "ansible")
    args = json.dumps({**lock, "lock_id": "second"})
    taken = cloud.run(ansible, "localhost", "-m", "stageflow.aws.deploy_lock", "-a", args, **ahead)
    assert marker.read_text().count("skewed") >= 2, "the skewed clock was loaded by ansible and by the module"
    assert taken.returncode != 0, taken.stdout
    assert "the deployment lock of qa is held by" in taken.stdout and "lock id first" in taken.stdout
    item = cloud.client("dynamodb").get_item(TableName=table, Key={"environment": {"S": "qa"}})["Item"]
    assert item["lock_id"]["S"] == "first"

    # Its own lease, too, is counted by DynamoDB's clock: not two hours longer.
    args = json.dumps({**lock, "environment": "qa2", "lock_id": "third"})
    own = cloud.run(ansible, "localhost", "-m", "stageflow.aws.deploy_lock", "-a", args, **ahead)
    assert own.returncode == 0, own.stdout
    item = cloud.client("dynamodb").get_item(TableName=table, Key={"environment": {"S": "qa2"}})["Item"]
    assert int(item["expires_at"]["N"]) <= time.time() + 600 + 5
