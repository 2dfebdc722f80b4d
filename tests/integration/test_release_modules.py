"""The release modules called on their own, as `ansible localhost -m ...` calls them, against the local cloud."""

from __future__ import annotations

import json
import sys
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
