"""Seeing and hearing releases: status.yml reads the live environments, the progress callback shows what a waiting
module does, and every release event reaches a webhook (a receiver on 127.0.0.1) - also when the webhook is down."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcloud.webhook import WebhookReceiver
from tests.browser import rendered_dom, screenshot
from tests.conftest import ROOT, Cloud, real_aws
from tests.integration.releases import build, flat, live, lock_of, must, records, release, start, wait_until


def status(cloud: Cloud, tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict[str, dict]]:
    """status.yml's run and its JSON (reports/status.json), by environment."""
    run = cloud.playbook("playbooks/status.yml", "-e", f"status_dir={tmp_path}", *args)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    data = json.loads((tmp_path / "status.json").read_text())
    return run, {e["environment"]: e for e in data["environments"]}


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


def notified(receiver: WebhookReceiver) -> list[dict]:
    return [b["metadata"]["event_payload"] for b in receiver.received]


def test_an_environment_that_is_not_provisioned_is_said_so_per_resource(cloud: Cloud, tmp_path: Path) -> None:
    if real_aws():
        pytest.skip("needs an empty account")
    cloud.control.reset_recording()
    run, found = status(cloud, tmp_path, "-e", "env=prod")
    prod = found["prod"]
    assert prod["drift"] == "not provisioned"
    assert {
        "load balancer prod-movie-app-alb",
        "cluster prod-movie-app-cluster",
        "lock table prod-movie-app-deploy-locks",
        "records table prod-movie-app-deployments",
    } <= set(prod["missing"])
    assert "not provisioned: load balancer prod-movie-app-alb" in flat(run)
    assert not cloud.control.mutating_calls()


def test_a_release_is_told_at_every_event_and_shown_while_it_waits(
    envs: Cloud, hook: WebhookReceiver, tmp_path: Path
) -> None:
    tell = ["-e", json.dumps({"release_notify_webhook_url": hook.url})]
    v1 = build(envs, "v1")
    # Check mode tells nobody and writes nothing: no SNS, no S3, no record.
    envs.control.reset_recording()
    must(release(envs, "deploy", "-e", "env=dev", "-e", "version=v1", "--check", *tell))
    assert not envs.control.mutating_calls() and hook.received == []
    deploy = must(release(envs, "deploy", "-e", "env=dev", "-e", "version=v1", *tell, STAGEFLOW_PROGRESS_SECONDS="0"))
    promote = must(release(envs, "promote", "-e", "source=dev", *tell, STAGEFLOW_PROGRESS_SECONDS="0"))
    # Progress while the modules wait: ECS's rollout (tasks running) and the bake (weights and the gate).
    assert "progress" in deploy.stdout and "dev-movie-app-service: " in deploy.stdout
    waits = [line for line in promote.stdout.splitlines() if line.startswith("  progress ")]
    assert any("ecs_promote staging-movie-app-cluster: waiting for 1 of 1 service(s)" in w for w in waits), waits
    assert any(
        "alb_traffic staging: baking staging-app-green 100, staging-app-blue 0" in w and "gate passing" in w
        for w in waits
    )
    # Every event, in order, with what people need; the webhook's secret path is never printed.
    events = notified(hook)
    assert [(e["event"], e["target"]) for e in events] == [
        ("started", "dev"),
        ("succeeded", "dev"),
        ("started", "staging"),
        ("step", "staging"),
        ("succeeded", "staging"),
    ]
    started, step, done = events[2:]
    assert started["kind"] == "promote" and started["source"] == "dev" and started["who"]
    assert step["step"]["percent"] == 100 and step["step"]["passed"] is True
    after = {c: i["after"].rsplit("@", 1)[-1] for s in done["services"] for c, i in s["images"].items()}
    assert after == v1 and done["outcome"] == "succeeded"
    assert (
        hook.received[4]["text"].startswith(":white_check_mark: promote")
        and "to staging succeeded" in hook.received[4]["text"]
    )
    assert hook.received[2]["attachments"][0]["fields"][0] == {
        "title": "Environment",
        "value": "staging",
        "short": True,
    }
    assert hook.path not in deploy.stdout + promote.stdout + deploy.stderr + promote.stderr
    assert records(envs, "staging")[0]["notifications"]["missed"] == {"L": []}

    # status.yml: what runs where, as the record left it.
    run, found = status(envs, tmp_path, "-e", "env=dev,staging", "-e", "format=json")
    staging = found["staging"]
    assert staging["live_colour"] == "green" and staging["drift"] == "none" and not staging["missing"]
    app = staging["services"][0]
    green = next(c for c in app["ecs_services"] if c["colour"] == "green")
    assert green["weight"] == 100 and green["running"] == green["desired"] == 2 and green["rollout"] == "COMPLETED"
    assert {c: i.rsplit("@", 1)[-1] for c, i in green["images"].items()} == v1
    assert green["targets"][0]["healthy"] == 2 and set(green["alarms"].values()) == {"OK"}
    assert staging["releases"][0]["kind"] == "promote" and staging["releases"][0]["outcome"] == "succeeded"
    assert found["dev"]["drift"] == "none" and found["dev"]["releases"][0]["kind"] == "deploy"

    # A change made outside Stageflow is drift; a held lock names its holder. Status writes nothing.
    ecs = envs.client("ecs")
    td = ecs.describe_task_definition(taskDefinition=green["task_definition"])["taskDefinition"]
    body = {
        k: td.get(k)
        for k in ("family", "containerDefinitions", "networkMode", "requiresCompatibilities", "cpu", "memory")
    }
    body["containerDefinitions"][0]["image"] = body["containerDefinitions"][0]["image"].rsplit("@", 1)[0] + ":hotfix"
    body["executionRoleArn"], body["taskRoleArn"] = td.get("executionRoleArn"), td.get("taskRoleArn")
    arn = ecs.register_task_definition(**{k: v for k, v in body.items() if v})["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(
        cluster="staging-movie-app-cluster", service="staging-movie-app-service-green", taskDefinition=arn
    )
    envs.client("dynamodb").put_item(
        TableName="staging-movie-app-deploy-locks",
        Item={
            "environment": {"S": "staging"},
            "lock_id": {"S": "test-lock"},
            "owner": {"S": "carol@laptop"},
            "purpose": {"S": "promote dev -> staging"},
            "acquired_at": {"S": "2026-11-28T10:00:00Z"},
            "expires_at": {"N": str(int(time.time()) + 600)},
        },
    )
    envs.control.reset_recording()
    run, found = status(envs, tmp_path, "-e", "env=staging")
    assert not envs.control.mutating_calls()
    assert found["staging"]["drift"] == "images" and ":hotfix" in found["staging"]["drift_detail"]
    assert found["staging"]["lock"]["owner"] == "carol@laptop" and found["staging"]["lock"]["held"] is True
    text = flat(run)
    assert "staging blue_green live green drift: images lock: held by carol@laptop (promote dev -> staging)" in text
    assert "app (default): blue 0 / green 100" in text
    envs.client("dynamodb").delete_item(
        TableName="staging-movie-app-deploy-locks", Key={"environment": {"S": "staging"}}
    )
    must(release(envs, "promote", "-e", "source=dev"))  # back to a release Stageflow made

    # The environments' page: what runs where, the matrix and its costs, the last releases - read in a browser.
    run, found = status(envs, tmp_path, "-e", "format=html")
    assert f"environments page: {tmp_path}/status.html" in flat(run)
    dom = rendered_dom(tmp_path / "status.html")
    text = " ".join(re.sub(r"<script.*?</script>|<[^>]+>", " ", dom, flags=re.S).split())
    for words in (
        "What runs where",
        "Comparison matrix",
        "Cost/Month (estimate)",
        "Last releases",
        "staging-movie-app-service-blue",
    ):
        assert words in text, text[:3000]
    assert set(found) == {"dev", "staging", "prod"}
    screenshot(tmp_path / "status.html", ROOT / "tests" / "output" / "status.png")

    # Watched: read again every interval, a bounded number of times.
    watched = envs.playbook(
        "playbooks/status.yml", "-e", "env=dev", "-e", "watch=true", "-e", "watch_interval=1", "-e", "watch_count=2"
    )
    assert watched.returncode == 0 and flat(watched).count("dev rolling drift: none") == 2, watched.stdout[-3000:]


def test_a_failed_release_tells_what_was_restored(envs: Cloud, hook: WebhookReceiver) -> None:
    v3 = build(envs, "v3")
    envs.control.set_fault("hang", patterns=[f"*@{v3['server']}"])
    proc = release(
        envs,
        "deploy",
        "-e",
        "env=dev",
        "-e",
        "version=v3",
        "-e",
        json.dumps({"release_wait_timeout": 4, "release_notify_webhook_url": hook.url}),
    )
    envs.control.clear_faults()
    assert proc.returncode != 0
    started, ended = notified(hook)
    assert started["event"] == "started" and ended["event"] == "rolled back"
    assert "not stable after 4s" in ended["failure"] and ended["restored"]
    text = hook.received[1]["text"]
    assert text.startswith(":leftwards_arrow_with_hook: deploy v3 to dev failed and was rolled back")
    restored = next(f for f in hook.received[1]["attachments"][0]["fields"] if f["title"] == "Restored")
    assert restored["value"] == "; ".join(ended["restored"])


def test_a_webhook_that_is_down_or_slow_is_tried_once_and_the_miss_recorded(envs: Cloud, hook: WebhookReceiver) -> None:
    hook.delay = 10  # slower than the timeout: each try would cost the release its notify timeout
    settings = {"release_notify_webhook_url": hook.url, "release_notify_timeout": 1}
    proc = must(release(envs, "promote", "-e", "source=staging", "-e", json.dumps(settings)))
    assert "the started notification was not delivered - the webhook at 127.0.0.1 did not answer within 1s" in flat(
        proc
    )
    assert hook.path not in proc.stdout + proc.stderr
    missed = records(envs, "prod")[0]["notifications"]["missed"]["L"]
    whys = [(m["M"]["event"]["S"], m["M"]["why"]["S"]) for m in missed]
    assert whys[0] == ("started", "the webhook at 127.0.0.1 did not answer within 1s")
    assert [e for e, w in whys[1:]] and all(w.startswith("skipped") for e, w in whys[1:]), whys
    said = flat(proc).split("the started notification was not delivered", 1)[1]
    assert "notification was not delivered" not in said, said

    # The release's report with pictures, opened in a real browser: one chart point per traffic step.
    record = records(envs, "prod")[0]
    page = Path(record["report"]["html"]["S"])
    dom = rendered_dom(page)
    assert re.findall(r'class="step-point"[^>]*data-percent="(\d+)"', dom) == ["10", "50", "100"], dom[-3000:]
    assert "3 step(s) drawn" in dom
    text = " ".join(re.sub(r"<script.*?</script>|<[^>]+>", " ", dom, flags=re.S).split())
    assert "promote staging -&gt; prod - prod succeeded" in text or "promote staging -> prod - prod succeeded" in text
    assert "dev-movie-app-server-repo@sha256:" in text and "Snapshots" in text and "snap-" in text
    screenshot(page, ROOT / "tests" / "output" / "release-report.png")
    # ... and in the environment's reports bucket, as the record says.
    bucket, key = record["report"]["s3"]["S"].removeprefix("s3://").split("/", 1)
    uploaded = envs.client("s3").get_object(Bucket=bucket, Key=key)
    assert uploaded["ContentType"].startswith("text/html") and uploaded["Body"].read() == page.read_bytes()


def test_a_paused_canary_asks_for_approval_and_its_abort_is_told(
    envs: Cloud, hook: WebhookReceiver, tmp_path: Path
) -> None:
    build(envs, "v2")
    must(release(envs, "deploy", "-e", "env=dev", "-e", "version=v2"))
    must(release(envs, "promote", "-e", "source=dev"))
    settings = {"release_notify_webhook_url": hook.url, "canary_pauses": [10], "bake_seconds": 1}
    run = start(envs, "promote", "-e", "source=staging", "-e", json.dumps(settings))
    try:
        wait_until(lambda: "paused" in [e["event"] for e in notified(hook)], timeout=120, what="the pause")
        wait_until(lambda: "paused_percent" in lock_of(envs, "prod"), timeout=30, what="the lock marked paused")
        # status says the release is paused (its run holds the lock), not that the split traffic is an interruption.
        found = status(envs, tmp_path, "-e", "env=prod")[1]
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
    assert found["prod"]["drift"] == "paused" and found["prod"]["lock"]["paused"] is True, found["prod"]
    paused = notified(hook)[-1]
    assert paused["step"]["percent"] == 10 and "resume.yml -e env=prod" in hook.received[-1]["text"]
    assert [e["event"] for e in notified(hook)] == ["started", "step", "paused"]
    assert 0 < live(envs, "prod")["weights"]["blue"] < 100
    assert lock_of(envs, "prod")  # the killed run's: the abort takes it over
    must(release(envs, "abort", "-e", "env=prod", "-e", json.dumps({"reason": "test: paused too long", **settings})))
    aborted = notified(hook)[-1]
    assert aborted["event"] == "aborted" and aborted["reason"] == "test: paused too long" and aborted["restored"]
    assert sorted(live(envs, "prod")["weights"].values()) == [0, 100]
