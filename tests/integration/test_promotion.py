"""Deploys, promotions and rollbacks, run as playbooks against dev, staging and prod, read back with boto3.

One provisioning serves the whole file (it is the slow part); the tests run in order, as a release history does,
and each leaves the environments serving a good release.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from boto3.dynamodb.types import TypeSerializer

from tests.conftest import ROOT, Cloud
from tests.integration.releases import (
    REGISTRY,
    build,
    flat,
    live,
    lock_of,
    must,
    records,
    release,
    served,
    shifting_to,
    start_promotion,
    when,
)

pytestmark = pytest.mark.slow
# A shell with no login name in its environment (as cron or a bare container gives), outside AWX and GitHub Actions.
NO_LOGIN_NAME = dict.fromkeys(("USER", "LOGNAME", "LNAME", "USERNAME", "GITHUB_ACTOR"))
GITHUB_RUN = {
    "GITHUB_ACTOR": "octocat",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "example/stageflow",
    "GITHUB_RUN_ID": "4242",
    "GITHUB_RUN_ATTEMPT": "1",
}
MISSING_BUILD = (
    f"missing from ECR: {REGISTRY}/dev-movie-app-server-repo:no-such-build, "
    f"{REGISTRY}/dev-movie-app-client-repo:no-such-build"
)


def test_check_mode_prints_the_plan_and_makes_no_mutating_call(envs: Cloud) -> None:
    dev = must(release(envs, "deploy", "-e", "env=dev", "-e", "version=v1"))
    # dev's domain is in a private zone: the health check asks the load balancer's own DNS name, with the domain as
    # the Host header, and says so.
    dns_name = envs.client("elbv2").describe_load_balancers(Names=["dev-movie-app-alb"])["LoadBalancers"][0]["DNSName"]
    assert (
        f"health: http://{dns_name}/health through the load balancer dev-movie-app-alb (Host: dev.movie-app.internal)"
        " answered 200" in flat(dev)
    )
    envs.control.reset_recording()
    proc = must(release(envs, "promote", "-e", "source=dev", "--check", "--diff"))
    assert envs.control.mutating_calls() == [], envs.control.mutating_calls()
    assert "Plan: promote dev -> staging (blue_green, idle colour green)" in proc.stdout
    assert re.search(
        r"server: staging-movie-app-server-repo:initial -> dev-movie-app-server-repo@sha256:\w{12}", proc.stdout
    )
    assert "traffic to green: 100%" in proc.stdout


def test_promotion_by_digest_through_blue_green_and_canary(envs: Cloud, tmp_path: Path) -> None:
    v1 = build(envs, "v1")
    staging = must(release(envs, "promote", "-e", "source=dev", **NO_LOGIN_NAME))
    assert "promote dev -> staging: SUCCEEDED" in staging.stdout
    # Bound to the release staging recorded, as an approval is (-e release=<id>): staging still runs it. The pipeline
    # names it with history.yml's ci_output.
    approved = records(envs, "staging")[0]["id"]
    ci_output = tmp_path / "github_output"
    must(release(envs, "history", "-e", "env=staging", "-e", "history_limit=5", "-e", f"ci_output={ci_output}"))
    assert ci_output.read_text().split() == [f"release={approved}"]
    prod = must(release(envs, "promote", "-e", "source=staging", "-e", f"release={approved}", **GITHUB_RUN))
    assert "promote staging -> prod: SUCCEEDED" in prod.stdout
    # Who did it: the person or pipeline, and the AWS identity (the caller's ARN) - never "unknown".
    caller = envs.client("sts").get_caller_identity()["Arn"]
    local_user = f"{pwd.getpwuid(os.getuid()).pw_name}@{socket.gethostname()}"
    github = "github:octocat (run https://github.com/example/stageflow/actions/runs/4242)"
    for env, who in (("staging", local_user), ("prod", github)):
        newest = records(envs, env)[0]
        assert (newest["who"], newest["aws_identity"]) == (who, caller), newest
    assert f"by {local_user}, AWS identity {caller}" in flat(staging)
    history = flat(must(release(envs, "history", "-e", "env=prod")))
    assert f"promote succeeded staging -> prod by {github}" in history and f"AWS identity: {caller}" in history
    # prod's public domain, resolved through its Route 53 alias to the load balancer, over HTTPS.
    assert "health: https://movie-app.com/health through its domain answered 200" in flat(prod)
    for step in ("10", "50", "100"):
        assert f"step {step}%: gate passed" in prod.stdout

    for env in ("staging", "prod"):
        now = live(envs, env)
        assert now["colour"] == "green" and now["weights"] == {"blue": 0, "green": 100}
        assert now["digests"] == {"client": v1["client"], "server": v1["server"]}
        assert now["env"]["DATABASE_NAME"] == f"movieapp_{env}"  # the target's own settings stay
        assert sorted(served(envs, env)["images"]) == [
            f"{REGISTRY}/dev-movie-app-client-repo@{v1['client']}",
            f"{REGISTRY}/dev-movie-app-server-repo@{v1['server']}",
        ]
    record = records(envs, "prod")[0]
    assert record["outcome"] == "succeeded" and record["kind"] == "promote" and record["source"] == "staging"
    # Snapshots of every prod volume and the database, tagged with the promotion.
    snaps = envs.client("ec2").describe_snapshots(
        Filters=[{"Name": "tag:StageflowPromotion", "Values": [record["id"]]}]
    )["Snapshots"]
    volumes = envs.client("ec2").describe_volumes(Filters=[{"Name": "tag:Environment", "Values": ["prod"]}])["Volumes"]
    assert volumes and sorted(s["VolumeId"] for s in snaps) == sorted(v["VolumeId"] for v in volumes)
    # prod's database is an elastic cluster: its snapshot's name is lowercase.
    elastic = envs.client("docdb-elastic")
    (cluster,) = [c for c in elastic.list_clusters()["clusters"] if c["clusterName"] == "prod-movie-app-db"]
    names = [s["snapshotName"] for s in elastic.list_cluster_snapshots(clusterArn=cluster["clusterArn"])["snapshots"]]
    assert f"prod-movie-app-db-{record['id']}".lower() in names
    # The images prod references are protected from the source repository's lifecycle policy.
    tags = envs.client("ecr").describe_images(
        repositoryName="dev-movie-app-server-repo", imageIds=[{"imageDigest": v1["server"]}]
    )["imageDetails"][0]["imageTags"]
    assert f"stageflow-{record['id']}" in tags
    report = json.loads((ROOT / "reports" / f"{record['id']}.json").read_text())
    assert report["services"][0]["images"]["server"]["after_digest"] == v1["server"]


def test_same_digests_change_nothing(envs: Cloud) -> None:
    envs.control.reset_recording()
    proc = must(release(envs, "promote", "-e", "source=staging"))
    assert re.search(r"prod already serves this release \(the same digests\):\s+nothing to do", proc.stdout)
    assert re.search(r"prod-env\s+: ok=\d+\s+changed=0", proc.stdout)
    assert envs.control.mutating_calls() == []


def test_a_release_that_fails_health_mid_canary_is_rolled_back(envs: Cloud) -> None:
    v2 = build(envs, "v2")
    must(release(envs, "deploy", "-e", "env=dev", "-e", "version=v2"))
    must(release(envs, "promote", "-e", "source=dev"))
    before = live(envs, "prod")
    # The release turns unhealthy once prod's canary has sent it traffic.
    when(shifting_to(envs, "prod", "blue"), lambda: envs.control.set_fault("unhealthy", patterns=[f"*@{v2['server']}"]))
    proc = release(envs, "promote", "-e", "source=staging", "-e", json.dumps({"bake_seconds": 2}))
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "failed -" in flat(proc) and "is not all healthy" in flat(proc)
    after = live(envs, "prod")
    assert after["weights"] == before["weights"] and after["digests"] == before["digests"]
    blue = envs.client("ecs").describe_services(
        cluster="prod-movie-app-cluster", services=["prod-movie-app-service-blue"]
    )
    record = records(envs, "prod")[0]
    assert record["outcome"] == "rolled back"
    assert blue["services"][0]["taskDefinition"] == record["services"][0]["M"]["previous_task_definition"]["S"]
    assert served(envs, "prod")["status"] == "ok"
    envs.control.clear_faults()


def test_an_alarm_mid_canary_restores_the_weights(envs: Cloud) -> None:
    before = live(envs, "prod")
    cloudwatch = envs.client("cloudwatch")
    when(
        shifting_to(envs, "prod", "blue"),
        lambda: cloudwatch.set_alarm_state(
            AlarmName="prod-movie-app-target-5xx-blue", StateValue="ALARM", StateReason="test: 5XX burst"
        ),
    )
    proc = release(envs, "promote", "-e", "source=staging", "-e", json.dumps({"bake_seconds": 2}))
    cloudwatch.set_alarm_state(AlarmName="prod-movie-app-target-5xx-blue", StateValue="OK", StateReason="test: over")
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "prod-movie-app-target-5xx-blue is ALARM" in flat(proc)
    assert live(envs, "prod")["weights"] == before["weights"]
    assert records(envs, "prod")[0]["outcome"] == "rolled back"


def test_a_deployment_that_never_stabilises_times_out_and_rolls_back(envs: Cloud) -> None:
    v3 = build(envs, "v3")
    before = live(envs, "dev")
    envs.control.set_fault("hang", patterns=[f"*@{v3['server']}"])
    proc = release(envs, "deploy", "-e", "env=dev", "-e", "version=v3", "-e", json.dumps({"release_wait_timeout": 4}))
    envs.control.clear_faults()
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "not stable after 4s" in flat(proc)
    assert live(envs, "dev")["task_definition"] == before["task_definition"]
    assert records(envs, "dev")[0]["outcome"] == "rolled back"


# amazon.aws's clients set no retry config, so botocore's default applies: "standard" in the botocore installed here
# (1.44: 3 attempts per call, 4 for DynamoDB), "legacy" in older ones (5, 10 for DynamoDB). 11 throttled answers in a
# row get past botocore in either mode, so only the collection's own retry (aws_retry, which knows
# ThrottlingException) carries the release through.
THROTTLE_STREAK = 11
# The services the collection's own modules call. SSM is left out: the amazon.aws.ssm_parameter lookup retries only
# AWSRetry's default codes, which lack ThrottlingException (SSM's answer), so it gets botocore's attempts only.
# amazon.aws's elb_application_lb_info, rds_instance_snapshot and aws_caller_info do retry (ELBv2, RDS and STS answer
# `Throttling`, which AWSRetry knows); ELBv2 is in because alb_traffic and ecs_promote call it.
THROTTLED_SERVICES = ["ecs", "ecr", "elasticloadbalancing", "dynamodb", "ec2", "monitoring"]


def test_a_promotion_succeeds_with_30_percent_of_calls_throttled(envs: Cloud) -> None:
    v4 = build(envs, "v4")
    # Each streak costs about 15 s of backoff (botocore's within each of our 4 attempts), so three bound the run time.
    envs.control.set_fault(
        "throttle", share=0.3, seed=7, streak=THROTTLE_STREAK, services=THROTTLED_SERVICES, limit=3 * THROTTLE_STREAK
    )
    try:
        must(release(envs, "deploy", "-e", "env=dev", "-e", "version=v4"))
        must(release(envs, "promote", "-e", "source=dev"))
        throttle = envs.control.faults()["throttle"]
    finally:
        envs.control.clear_faults()
    print(f"throttled {throttle['throttled']} of {throttle['seen']} calls, longest streak {throttle['longest_streak']}")
    assert throttle["longest_streak"] == THROTTLE_STREAK
    assert throttle["throttled"] >= 2 * THROTTLE_STREAK
    assert live(envs, "staging")["digests"]["server"] == v4["server"]


def test_two_promotions_at_once_one_proceeds_and_the_other_names_the_holder(envs: Cloud) -> None:
    build(envs, "v5")
    must(release(envs, "deploy", "-e", "env=dev", "-e", "version=v5"))
    runs = [start_promotion(envs, "-e", "source=dev", stdout=subprocess.PIPE) for _run in range(2)]
    outputs = [r.communicate(timeout=300)[0] for r in runs]
    codes = sorted(r.returncode for r in runs)
    assert codes[0] == 0 and codes[1] != 0, outputs
    loser = " ".join(outputs[[r.returncode for r in runs].index(codes[1])].split())
    assert re.search(r"the deployment lock of staging is held by .+ \(purpose: promote dev -> staging\) since", loser)


def test_a_killed_run_is_unlocked_with_a_reason_and_a_rerun_completes(envs: Cloud) -> None:
    v6 = build(envs, "v6")
    must(release(envs, "deploy", "-e", "env=dev", "-e", "version=v6"))
    run = start_promotion(envs, "-e", "source=dev", "-e", json.dumps({"bake_seconds": 30}), stdout=subprocess.DEVNULL)
    # Kill it mid-promotion: as soon as it holds the lock, before the traffic moves.
    locks = envs.client("dynamodb")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        locked = locks.get_item(TableName="staging-movie-app-deploy-locks", Key={"environment": {"S": "staging"}})
        if "Item" in locked:
            break
        time.sleep(0.1)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    caller = envs.client("sts").get_caller_identity()["Arn"]
    # The lock names who holds it: the person (this test's user) and the AWS identity.
    assert locked["Item"]["aws_identity"]["S"] == caller and locked["Item"]["owner"]["S"].endswith(socket.gethostname())
    blocked = release(envs, "promote", "-e", "source=dev")
    assert blocked.returncode != 0 and "the deployment lock of staging is held by" in flat(blocked)
    refused = release(envs, "unlock", "-e", "env=staging")
    assert refused.returncode != 0 and "reason is required" in flat(refused)
    must(release(envs, "unlock", "-e", "env=staging", "-e", json.dumps({"reason": "test killed the run"})))
    forced = next(r for r in records(envs, "staging") if r["kind"] == "force-release")
    assert forced["reason"] == "test killed the run" and forced["aws_identity"] == caller and forced["who"]
    # Killed at once or a moment later, it may have recorded its start: abort closes that (or finds nothing to do).
    must(release(envs, "abort", "-e", "env=staging", "-e", json.dumps({"reason": "test killed the run"})))
    must(release(envs, "promote", "-e", "source=dev"))
    now = live(envs, "staging")
    assert now["digests"]["server"] == v6["server"] and sorted(now["weights"].values()) == [0, 100]


def test_rollback_flips_back_to_the_previous_release_at_once(envs: Cloud) -> None:
    before = live(envs, "staging")
    previous = [r for r in records(envs, "staging") if r["outcome"] == "succeeded"][1]
    envs.control.reset_recording()
    proc = must(release(envs, "rollback", "-e", "env=staging"))
    assert "no change (same digests)" in flat(proc)  # the idle colour still ran it: only the weights moved
    after = live(envs, "staging")
    assert after["colour"] != before["colour"]
    assert "RegisterTaskDefinition" not in {c.action for c in envs.control.mutating_calls()}
    assert records(envs, "staging")[0]["kind"] == "rollback" and previous["id"] in flat(proc)

    # Again: back past the release just rolled back from, never to it.
    releases = [
        r for r in records(envs, "staging") if r["outcome"] == "succeeded" and r["kind"] in ("deploy", "promote")
    ]
    assert releases[1]["id"] == previous["id"]
    again = release(envs, "rollback", "-e", "env=staging")
    if len(releases) > 2:
        assert again.returncode == 0 and releases[2]["id"] in flat(again), flat(again)[-3000:]
    else:
        assert again.returncode != 0 and "staging has no earlier successful release to go back to" in flat(again)
    assert releases[0]["id"] not in flat(again).split("rollback to", 1)[-1][:200]


def test_a_forged_record_naming_an_image_outside_the_applications_repositories_is_refused(envs: Cloud) -> None:
    """Records are a table anyone with its write permission can fill: a rollback checks where its images come from."""
    evil = f"{REGISTRY}/someone-elses-repo@sha256:{'e' * 64}"
    forged = {
        "environment": "dev",
        "started_at": "2099-01-01T00:00:00.000000Z",
        "id": "deploy-dev-20990101T000000-00001",
        "kind": "deploy",
        "outcome": "succeeded",
        "services": [
            {"service": "dev-movie-app-service", "images": {"server": {"after": evil}, "client": {"after": evil}}}
        ],
    }
    item = {key: TypeSerializer().serialize(value) for key, value in forged.items()}
    envs.client("dynamodb").put_item(TableName="dev-movie-app-deployments", Item=item)
    envs.control.reset_recording()
    try:
        proc = release(envs, "rollback", "-e", "env=dev", "-e", f"release={forged['id']}")
        changed = envs.control.mutating_calls()
    finally:
        key = {"environment": item["environment"], "started_at": item["started_at"]}
        envs.client("dynamodb").delete_item(TableName="dev-movie-app-deployments", Key=key)
    assert proc.returncode != 0 and f"image {evil} is not from this application's repositories" in flat(proc), flat(
        proc
    )[-3000:]
    assert changed == []


@pytest.mark.parametrize(
    ("playbook", "extra", "message"),
    [
        ("promote", ["-e", "source=nowhere"], "nowhere"),
        ("promote", ["-e", "source=prod", "-e", "target=dev"], "prod"),
        (
            "deploy",
            ["-e", "env=dev", "-e", "version=no-such-build"],
            MISSING_BUILD,
        ),
        ("deploy", ["-e", "env=dev", "-e", json.dumps({"version": "bad tag!"})], "is not an image tag"),
        (
            "promote",
            ["-e", "source=staging", "-e", "release=promote-staging-19990101T000000-00000"],
            "release promote-staging-19990101T000000-00000 is not a succeeded release of staging (no such record)",
        ),
        (
            "promote",
            ["-e", "source=staging", "-e", json.dumps({"release": "a b"})],
            'release "a b" is not a release id',
        ),
    ],
)
def test_bad_input_fails_before_any_change(envs: Cloud, playbook: str, extra: list[str], message: str) -> None:
    envs.control.reset_recording()
    proc = release(envs, playbook, *extra)
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert message in flat(proc), proc.stdout[-3000:]
    assert envs.control.mutating_calls() == []


def test_a_source_container_missing_from_the_target_is_refused(envs: Cloud) -> None:
    envs.control.reset_recording()
    proc = envs.run(
        str(Path(sys.executable).parent / "ansible"),
        "localhost",
        "-m",
        "stageflow.aws.ecs_promote",
        "-a",
        json.dumps(
            {
                "cluster": "dev-movie-app-cluster",
                "services": ["dev-movie-app-service"],
                "images": {"sidecar": f"{REGISTRY}/dev-movie-app-server-repo:v1"},
            }
        ),
    )
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "container(s) sidecar of the release are missing from dev-movie-app-service's task definition" in flat(proc)
    assert envs.control.mutating_calls() == []


def test_a_bad_snapshot_policy_is_refused_before_the_lock(envs: Cloud) -> None:
    """The SSM snapshot policy the backup role writes is read and checked before the lock: one that would let pruning
    delete every completed snapshot (keep_at_least 0) refuses the promotion with no change."""
    build(envs, "v8")
    must(release(envs, "deploy", "-e", "env=dev", "-e", "version=v8"))
    ssm, name = envs.client("ssm"), "/stageflow/staging/movie-app/snapshot-policy"
    kept = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    before = live(envs, "staging")
    ssm.put_parameter(Name=name, Value=json.dumps({"retention_days": 7, "keep_at_least": 0}), Overwrite=True)
    try:
        envs.control.reset_recording()
        proc = release(envs, "promote", "-e", "source=dev")
        changed = envs.control.mutating_calls()
    finally:
        ssm.put_parameter(Name=name, Value=kept, Overwrite=True)
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert f"the snapshot policy {name} is" in flat(proc) and "keep_at_least, a whole number >= 1" in flat(proc)
    assert changed == [] and lock_of(envs, "staging") == {}
    after = live(envs, "staging")
    assert (after["weights"], after["task_definition"]) == (before["weights"], before["task_definition"])


def test_pruning_keeps_a_completed_snapshot_while_the_releases_own_is_still_being_taken(envs: Cloud) -> None:
    """A release of staging snapshots its volumes and database and prunes their older release snapshots by the
    snapshot policy: only completed ones are counted or pruned, so while the release's own snapshots are still being
    taken, the newest completed one of each volume and of the database is kept, however old."""
    ssm, name = envs.client("ssm"), "/stageflow/staging/movie-app/snapshot-policy"
    kept = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    ec2, docdb = envs.client("ec2"), envs.client("docdb")

    def release_snapshots() -> tuple[dict[str, list[str]], list[str]]:
        """Staging's release snapshots: the states of each volume's, and of the database's."""
        volumes: dict[str, list[str]] = {}
        for snap in ec2.describe_snapshots(
            OwnerIds=["self"],
            Filters=[
                {"Name": "tag-key", "Values": ["StageflowPromotion"]},
                {"Name": "tag:Environment", "Values": ["staging"]},
            ],
        )["Snapshots"]:
            volumes.setdefault(snap["VolumeId"], []).append(snap["State"])
        snapshots = docdb.describe_db_cluster_snapshots(
            DBClusterIdentifier="staging-movie-app-db", SnapshotType="manual"
        )
        database = [
            s["Status"]
            for s in snapshots["DBClusterSnapshots"]
            if any(
                t["Key"] == "StageflowPromotion"
                for t in docdb.list_tags_for_resource(ResourceName=s["DBClusterSnapshotArn"])["TagList"]
            )
        ]
        return volumes, database

    # At least two completed snapshots of each volume staging has and of its database: the releases of staging above
    # took them (run alone, this test takes them).
    current = [
        v["VolumeId"]
        for v in ec2.describe_volumes(Filters=[{"Name": "tag:Environment", "Values": ["staging"]}])["Volumes"]
    ]
    assert current, "staging's container instances have volumes"

    def enough(volumes: dict[str, list[str]], database: list[str]) -> bool:
        completed = [volumes.get(v, []).count("completed") for v in current]
        return min(completed) >= 2 and database.count("available") >= 2

    volumes, database = release_snapshots()
    for version in ("v9", "v10"):
        if enough(volumes, database):
            break
        build(envs, version)
        must(release(envs, "deploy", "-e", "env=dev", "-e", f"version={version}"))
        must(release(envs, "promote", "-e", "source=dev"))
        volumes, database = release_snapshots()
    assert enough(volumes, database), (volumes, database)
    build(envs, "v11")
    must(release(envs, "deploy", "-e", "env=dev", "-e", "version=v11"))
    ssm.put_parameter(Name=name, Value=json.dumps({"retention_days": 1, "keep_at_least": 1}), Overwrite=True)
    envs.control.age_data_snapshots(10)  # every snapshot so far is past the retention
    envs.control.data_snapshots_pending(True)  # and the release's own are still being taken when it prunes
    try:
        must(release(envs, "promote", "-e", "source=dev"))
        volumes, database = release_snapshots()
    finally:
        envs.control.data_snapshots_pending(False)
        ssm.put_parameter(Name=name, Value=kept, Overwrite=True)
    assert all(states.count("completed") == 1 for states in volumes.values()), volumes
    assert all(volumes[v].count("pending") == 1 for v in current), volumes
    assert sorted(database) == ["available", "creating"], database
