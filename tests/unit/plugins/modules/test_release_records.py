"""Who made a change, in deploy_lock's locks and deployment_record's records: the person or pipeline and the AWS
identity (the caller's ARN, read from STS by the module). Each module runs in this process, as Ansible runs it, against
moto (`mock_aws`), and the items are read back from DynamoDB."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.stageflow.aws.plugins.module_utils._dynamodb import state as st
from ansible_collections.stageflow.aws.plugins.modules import deploy_lock, deployment_record, deployment_record_info
from moto import mock_aws

LOCKS, RECORDS = "prod-movie-app-deploy-locks", "prod-movie-app-deployments"
RELEASER = "arn:aws:sts::123456789012:assumed-role/stageflow-deployer/alice"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Any:
    """moto's DynamoDB with the lock and records tables of the deployment_state role; the modules find it as AWS."""
    for name in ("AWS_ENDPOINT_URL", "AWS_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in ("GITHUB_ACTOR", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOGNAME", "alice")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=LOCKS,
            KeySchema=[{"AttributeName": "environment", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "environment", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.create_table(
            TableName=RECORDS,
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
        yield boto3.resource("dynamodb", region_name="us-east-1")


@pytest.fixture
def caller(dynamodb: Any) -> str:
    """The ARN moto answers sts:GetCallerIdentity with, for these credentials."""
    return boto3.client("sts", region_name="us-east-1").get_caller_identity()["Arn"]


def run(capsys: pytest.CaptureFixture, module: Any, check_mode: bool = False, **args) -> dict:
    """The module's result, run as Ansible runs it: one call of main() with these arguments."""
    args.update(_ansible_check_mode=check_mode)
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def stored_lock(dynamodb: Any) -> dict:
    return st.from_dynamo(dynamodb.Table(LOCKS).get_item(Key={"environment": "prod"}).get("Item", {}))


def stored_records(dynamodb: Any) -> list[dict]:
    return st.query_records(dynamodb.Table(RECORDS), "prod", 0)


def test_a_lock_names_its_owner_and_the_aws_identity_that_took_it(capsys, dynamodb, caller) -> None:
    assert caller.startswith("arn:aws:") and caller.count(":") >= 5
    result = run(capsys, deploy_lock, table=LOCKS, environment="prod", lock_id="promote-1",
                 owner="github:octocat (run https://github.com/example/stageflow/actions/runs/1)",
                 purpose="promote staging -> prod")  # fmt: skip
    lock = stored_lock(dynamodb)
    assert lock["owner"] == "github:octocat (run https://github.com/example/stageflow/actions/runs/1)"
    assert lock["aws_identity"] == caller == result["lock"]["aws_identity"]
    assert f"AWS identity {caller}" in st.describe_holder(lock)


def test_a_lock_without_an_owner_names_the_local_user_never_unknown(capsys, dynamodb, caller) -> None:
    run(capsys, deploy_lock, table=LOCKS, environment="prod", lock_id="provision-1", purpose="provision")
    lock = stored_lock(dynamodb)
    assert lock["owner"].startswith("alice@") and lock["aws_identity"] == caller


def test_a_check_mode_lock_shows_who_would_hold_it_and_writes_nothing(capsys, dynamodb, caller) -> None:
    result = run(capsys, deploy_lock, check_mode=True, table=LOCKS, environment="prod", lock_id="x", owner="bob")
    assert result["lock"]["aws_identity"] == caller and result["lock"]["owner"] == "bob"
    assert stored_lock(dynamodb) == {}


def test_a_forced_release_records_who_freed_it_and_whose_lock_it_was(capsys, dynamodb, caller) -> None:
    dynamodb.Table(LOCKS).put_item(
        Item=st.to_dynamo({"environment": "prod", "lock_id": "promote-1", "owner": "awx:bob (job 7)",
                           "aws_identity": RELEASER, "purpose": "promote staging -> prod", "expires_at": 4102444800})
    )  # fmt: skip
    run(capsys, deploy_lock, table=LOCKS, environment="prod", state="released", force=True, reason="run 7 was killed",
        owner="awx:carol (job 9)", records_table=RECORDS)  # fmt: skip
    [record] = stored_records(dynamodb)
    assert record["kind"] == "force-release" and record["who"] == "awx:carol (job 9)"
    assert record["aws_identity"] == caller
    assert record["released_lock"]["owner"] == "awx:bob (job 7)" and record["released_lock"]["aws_identity"] == RELEASER


def record(**fields: Any) -> dict:
    return {"id": "promote-prod-1", "kind": "promote", "started_at": "2026-11-27T10:00:00.000000Z",
            "outcome": "started", **fields}  # fmt: skip


def test_a_record_carries_who_and_the_aws_identity_that_wrote_it(capsys, dynamodb, caller, tmp_path) -> None:
    # The identity is the caller's, whatever the record claims.
    claimed = record(who="awx:bob (job 7)", aws_identity="arn:aws:iam::999999999999:user/someone-else")
    result = run(capsys, deployment_record, table=RECORDS, environment="prod", report_dir=str(tmp_path), record=claimed)
    [stored] = stored_records(dynamodb)
    assert stored["who"] == "awx:bob (job 7)" and stored["aws_identity"] == caller
    assert result["record"]["aws_identity"] == caller
    report = json.loads((tmp_path / "promote-prod-1.json").read_text())
    assert (report["who"], report["aws_identity"]) == ("awx:bob (job 7)", caller)


def test_a_record_without_who_names_the_local_user(capsys, dynamodb, caller) -> None:
    run(capsys, deployment_record, table=RECORDS, environment="prod", record=record())
    [stored] = stored_records(dynamodb)
    assert stored["who"].startswith("alice@") and stored["aws_identity"] == caller


def test_an_abort_keeps_the_releases_identity_and_adds_its_own(capsys, dynamodb, caller) -> None:
    dynamodb.Table(RECORDS).put_item(Item=st.to_dynamo({**record(who="awx:bob (job 7)", aws_identity=RELEASER),
                                                        "environment": "prod"}))  # fmt: skip
    closed = record(who="awx:bob (job 7)", aws_identity=RELEASER, outcome="aborted", aborted_by="carol@ops1")
    run(capsys, deployment_record, table=RECORDS, environment="prod", record=closed, replace_outcome="started",
        identity_field="aborted_by_aws_identity")  # fmt: skip
    [stored] = stored_records(dynamodb)
    assert stored["outcome"] == "aborted" and stored["aws_identity"] == RELEASER
    assert stored["aborted_by"] == "carol@ops1" and stored["aborted_by_aws_identity"] == caller


def test_records_written_before_the_identity_was_kept_still_read(capsys, dynamodb, caller) -> None:
    older = {**record(who="alice", outcome="succeeded"), "environment": "prod"}
    dynamodb.Table(RECORDS).put_item(Item=st.to_dynamo(older))
    run(capsys, deployment_record, table=RECORDS, environment="prod",
        record=record(id="deploy-prod-2", kind="deploy", started_at="2026-11-28T10:00:00.000000Z", who="bob@b2",
                      outcome="succeeded"))  # fmt: skip
    history = run(capsys, deployment_record_info, table=RECORDS, environment="prod")["records"]
    assert [(r["id"], r["who"], r.get("aws_identity")) for r in history] == [
        ("deploy-prod-2", "bob@b2", caller),
        ("promote-prod-1", "alice", None),
    ]


def test_an_abort_takes_over_by_its_id_a_release_lock_whose_lease_ran_out(capsys, dynamodb, caller) -> None:
    """A live run late renewing its lease looks expired for a moment: the abort names the lock it saw (lock_seen) and
    takes it over by that id, so a renewal between its read and its write cannot refuse it (the write's condition
    names the lock)."""
    late = {"environment": "prod", "lock_id": "promote-1", "owner": "awx:bob (job 7)", "aws_identity": RELEASER,
            "purpose": "promote staging -> prod", "expires_at": 1}  # fmt: skip
    dynamodb.Table(LOCKS).put_item(Item=st.to_dynamo(late))
    read = run(capsys, deployment_record_info, table=RECORDS, environment="prod", lock_table=LOCKS)
    assert read["lock"] == {} and read["lock_seen"]["lock_id"] == "promote-1"
    taken = []
    original = st.acquire
    with pytest.MonkeyPatch.context() as patch:
        # The late run renews its lease between the abort's read and its write.
        def renewed_first(table, item, now, take_over=None):
            table.update_item(Key={"environment": "prod"}, UpdateExpression="SET expires_at = :e",
                              ExpressionAttributeValues={":e": 4102444800})  # fmt: skip
            taken.append(take_over)
            return original(table, item, now, take_over)

        patch.setattr(deploy_lock.st, "acquire", renewed_first)
        run(capsys, deploy_lock, table=LOCKS, environment="prod", lock_id="abort-1", purpose="abort promote-1: killed",
            take_over="promote-1")  # fmt: skip
    assert taken == ["promote-1"]
    lock = stored_lock(dynamodb)
    assert lock["lock_id"] == "abort-1" and lock["took_over"] == "promote-1"


def test_a_provisions_expired_lock_is_not_taken_over_by_id(capsys, dynamodb, caller) -> None:
    dynamodb.Table(LOCKS).put_item(
        Item=st.to_dynamo({"environment": "prod", "lock_id": "provision-1", "purpose": "provision", "expires_at": 1})
    )
    run(
        capsys,
        deploy_lock,
        table=LOCKS,
        environment="prod",
        lock_id="abort-1",
        purpose="abort",
        take_over="provision-1",
    )
    assert stored_lock(dynamodb)["took_over_expired"] == "provision-1"


def take_lock(capsys: pytest.CaptureFixture, lock_id: str, lease_seconds: int = 600) -> dict:
    return run(capsys, deploy_lock, table=LOCKS, environment="prod", lock_id=lock_id, lease_seconds=lease_seconds)


LEASE = {"table": LOCKS, "environment": "prod", "lock_id": "promote-prod-1", "lease_seconds": 900}


def test_a_start_record_is_written_only_while_the_run_holds_its_lock_and_renews_it(capsys, dynamodb, caller) -> None:
    take_lock(capsys, "promote-prod-1", lease_seconds=60)
    before = stored_lock(dynamodb)["expires_at"]
    run(capsys, deployment_record, table=RECORDS, environment="prod", record=record(outcome="started"), lock=LEASE)
    assert [r["outcome"] for r in stored_records(dynamodb)] == ["started"]
    assert stored_lock(dynamodb)["expires_at"] >= before + 800, "the lease was renewed for lease_seconds"

    # An abort took the lock over: the run writes nothing more and says whose the lock is.
    dynamodb.Table(LOCKS).update_item(
        Key={"environment": "prod"},
        UpdateExpression="SET lock_id = :a, #o = :o",
        ExpressionAttributeNames={"#o": "owner"},
        ExpressionAttributeValues={":a": "abort-prod-2", ":o": "bob"},
    )
    second = record(outcome="started", started_at="2026-11-27T10:20:00.000000Z", id="promote-prod-3")
    failed = run(capsys, deployment_record, table=RECORDS, environment="prod", record=second, lock=LEASE)
    assert failed["failed"] and "cannot renew lock promote-prod-1 of prod" in failed["msg"] and "bob" in failed["msg"]
    assert len(stored_records(dynamodb)) == 1


def test_closing_a_record_releases_only_the_runs_own_lock(capsys, dynamodb, caller, tmp_path) -> None:
    take_lock(capsys, "promote-prod-1")
    closed = run(
        capsys,
        deployment_record,
        table=RECORDS,
        environment="prod",
        record=record(outcome="succeeded"),
        report_dir=str(tmp_path),
        lock=LEASE,
        release_lock=True,
    )
    assert closed["lock_released"] is True and stored_lock(dynamodb) == {}
    assert (tmp_path / "promote-prod-1.json").exists() and stored_records(dynamodb)[0]["outcome"] == "succeeded"

    # Another run holds the lock: nothing is written, the lock is left to its holder, and the module says whose it is.
    take_lock(capsys, "deploy-prod-9")
    later = record(outcome="succeeded", id="promote-prod-4", started_at="2026-11-27T11:00:00.000000Z")
    again = run(
        capsys, deployment_record, table=RECORDS, environment="prod", record=later, lock=LEASE, release_lock=True
    )
    assert again["failed"] and "cannot renew lock promote-prod-1 of prod" in again["msg"], again["msg"]
    assert "deploy-prod-9" in again["msg"] and stored_lock(dynamodb)["lock_id"] == "deploy-prod-9"
    assert [r["id"] for r in stored_records(dynamodb)] == ["promote-prod-1"]

    # In check mode nothing is written or released.
    planned = run(
        capsys,
        deployment_record,
        True,
        table=RECORDS,
        environment="prod",
        record=record(outcome="succeeded"),
        lock=LEASE,
        release_lock=True,
    )
    assert planned["lock_released"] is False and stored_lock(dynamodb)["lock_id"] == "deploy-prod-9"
