"""Release safety, against dev, staging and prod restored from the snapshot the AWX jobs left: one release at a time, a
lease that holds while its run lives, abort and recovery after a kill at the canary bake and during the ECS wait,
provisions that wait for releases, restores and rollbacks that no alarm blocks, gates that watch the whole bake.

The tests run in order, as a release history does, and each leaves the environments serving a good release.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time

import pytest

from localcloud.client import kill_run
from tests.conftest import ROOT, Cloud
from tests.integration.releases import (
    build,
    flat,
    live,
    lock_of,
    must,
    records,
    release,
    shifting_to,
    start,
    wait_until,
    when,
)

pytestmark = pytest.mark.slow


def services(cloud: Cloud, env: str) -> dict[str, str]:
    """Each colour's service -> its task definition."""
    names = [f"{env}-movie-app-service-{c}" for c in ("blue", "green")]
    answer = cloud.client("ecs").describe_services(cluster=f"{env}-movie-app-cluster", services=names)
    return {s["serviceName"]: s["taskDefinition"] for s in answer["services"]}


def promote(cloud: Cloud, source: str, **settings: object) -> subprocess.Popen:
    """promote.yml from `source` in the background, its output piped, with these settings."""
    return start(cloud, "promote", "-e", f"source={source}", "-e", json.dumps(settings), stdout=subprocess.PIPE)


def other(colour: str) -> str:
    return "green" if colour == "blue" else "blue"


def test_the_gates_are_each_colours_own_alarms_over_a_window_shorter_than_a_bake(envs: Cloud) -> None:
    alarms = envs.client("cloudwatch").describe_alarms(AlarmNamePrefix="prod-movie-app-")["MetricAlarms"]
    by_name = {a["AlarmName"]: a for a in alarms}
    for kind in ("target-5xx", "p95-latency", "unhealthy-hosts"):
        for colour in ("blue", "green"):
            alarm = by_name[f"prod-movie-app-{kind}-{colour}"]
            dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
            assert dimensions["TargetGroup"].startswith(f"targetgroup/prod-app-{colour}/"), alarm
            # One 60 s period: shorter than every environment's bake (120 s, prod 300 s).
            assert alarm["Period"] * alarm["EvaluationPeriods"] == 60, alarm


def test_a_canary_killed_mid_bake_blocks_releases_and_provisions_until_it_is_aborted(envs: Cloud) -> None:
    v7 = build(envs, "v7")
    must(release(envs, "deploy", "-e", "env=dev", "-e", "version=v7"))
    must(release(envs, "promote", "-e", "source=dev"))
    before, tds_before = live(envs, "prod"), services(envs, "prod")
    canary = other(before["colour"])
    run = promote(envs, "staging", bake_seconds=300, release_lease_seconds=4)
    try:
        wait_until(shifting_to(envs, "prod", canary), what="prod's first canary step")
    finally:
        kill_run(run)
    split, tds_split = live(envs, "prod")["weights"], services(envs, "prod")
    assert 0 < split[canary] < 100 and tds_split != tds_before
    interrupted = records(envs, "prod")[0]
    assert interrupted["outcome"] == "started"
    lease_end = int(lock_of(envs, "prod")["expires_at"])
    wait_until(lambda: time.time() > lease_end + 1, timeout=30, what="the killed run's lease to run out")

    history = must(release(envs, "history", "-e", "env=prod"))
    assert re.search(r"promote\s+INTERRUPTED\s+staging -> prod", flat(history)), history.stdout[-2000:]
    assert "playbooks/abort.yml -e env=prod" in flat(history)

    refused = release(envs, "promote", "-e", "source=staging")
    assert refused.returncode != 0 and f"an interrupted release is open in prod: {interrupted['id']}" in flat(refused)
    assert "playbooks/abort.yml -e env=prod" in flat(refused)
    provision = release(envs, "provision", "-e", "env=prod")
    assert provision.returncode != 0 and f"{interrupted['id']}" in flat(provision), provision.stdout[-3000:]
    assert "playbooks/abort.yml -e env=prod" in flat(provision)
    assert live(envs, "prod")["weights"] == split and services(envs, "prod") == tds_split  # nothing written back

    envs.control.reset_recording()
    no_reason = release(envs, "abort", "-e", "env=prod")
    assert no_reason.returncode != 0 and "reason is required" in flat(no_reason)
    assert envs.control.mutating_calls() == []

    aborted = must(release(envs, "abort", "-e", "env=prod", "-e", json.dumps({"reason": "test: killed mid-canary"})))
    (ROOT / "tests" / "output").mkdir(exist_ok=True)
    (ROOT / "tests" / "output" / "abort-after-a-killed-canary.log").write_text(aborted.stdout)
    assert f"aborted {interrupted['id']} in prod (test: killed mid-canary)" in flat(aborted)
    back = rf"weights to (prod-app-{before['colour']} 100, prod-app-{canary} 0|prod-app-{canary} 0, prod-app-\w+ 100)"
    assert re.search(back, flat(aborted)), flat(aborted)[-1500:]
    after = live(envs, "prod")
    assert after["weights"] == before["weights"] and after["colour"] == before["colour"]
    assert services(envs, "prod") == tds_before
    closed = records(envs, "prod")[0]
    assert closed["id"] == interrupted["id"] and closed["outcome"] == "aborted"
    assert closed["reason"] == "test: killed mid-canary"
    assert lock_of(envs, "prod") == {}
    assert re.search(r"promote\s+aborted\s+staging -> prod", flat(must(release(envs, "history", "-e", "env=prod"))))

    envs.control.reset_recording()
    again = must(release(envs, "abort", "-e", "env=prod", "-e", json.dumps({"reason": "test: again"})))
    assert "prod has nothing to abort" in flat(again) and envs.control.mutating_calls() == []

    must(release(envs, "promote", "-e", "source=staging"))
    assert live(envs, "prod")["digests"]["server"] == v7["server"]


def test_a_run_killed_during_the_ecs_wait_is_aborted(envs: Cloud) -> None:
    v8 = build(envs, "v8")
    must(release(envs, "deploy", "-e", "env=dev", "-e", "version=v8"))
    before, tds_before = live(envs, "staging"), services(envs, "staging")
    envs.control.set_fault("hang", patterns=[f"*@{v8['server']}"])
    try:
        run = promote(envs, "dev", release_wait_timeout=300, release_lease_seconds=2)
        try:
            wait_until(lambda: services(envs, "staging") != tds_before, what="staging's ECS rollout")
            time.sleep(1)  # in the wait
        finally:
            orphans = kill_run(run, whole_run=False)
        # ansible-playbook is dead, its ecs_promote lives on, waiting and renewing the lease: abort takes over the lock
        # of a release run whoever holds it, and the orphan, losing it, stops without touching the services.
        time.sleep(3)
        assert int(lock_of(envs, "staging")["expires_at"]) >= int(time.time())  # a 2 s lease, renewed by the orphan
        aborted = must(
            release(envs, "abort", "-e", "env=staging", "-e", json.dumps({"reason": "test: killed in the ECS wait"}))
        )
    finally:
        envs.control.clear_faults()
        for orphan in orphans:  # should it still run
            with contextlib.suppress(ProcessLookupError):
                os.kill(orphan, signal.SIGKILL)
    assert "to its previous task definition" in flat(aborted)
    assert services(envs, "staging") == tds_before and live(envs, "staging")["weights"] == before["weights"]
    closed = records(envs, "staging")[0]
    assert closed["outcome"] == "aborted" and closed["reason"] == "test: killed in the ECS wait"
    assert lock_of(envs, "staging") == {}


def test_a_live_run_keeps_its_lock_past_its_lease_and_others_wait(envs: Cloud) -> None:
    build(envs, "v9")
    must(release(envs, "deploy", "-e", "env=dev", "-e", "version=v9"))
    before = live(envs, "staging")
    # A bake long enough for the runs below on a busy machine (four test jobs share two cores in make test).
    run = promote(envs, "dev", bake_seconds=90, release_gate_interval=1, release_lease_seconds=3)
    wait_until(lambda: live(envs, "staging")["colour"] != before["colour"], what="staging's switch")  # the bake began
    time.sleep(4)  # longer than the lease: only its renewals keep the lock
    during, tds_during = live(envs, "staging"), services(envs, "staging")
    provision = release(envs, "provision", "-e", "env=staging")
    assert provision.returncode != 0 and "the deployment lock of staging is held by" in flat(provision)
    build(envs, "v10")  # a newer release for the second promotion (staging already serves v9)
    must(release(envs, "deploy", "-e", "env=dev", "-e", "version=v10"))

    second = release(envs, "promote", "-e", "source=dev")
    assert second.returncode != 0
    held = r"the deployment lock of staging is held by \S+ \(purpose: promote dev -> staging\)"
    assert re.search(held, flat(second)), second.stdout[-5000:]
    assert "If that run is dead: ansible-playbook playbooks/abort.yml -e env=staging" in flat(second)
    assert live(envs, "staging")["weights"] == during["weights"] and services(envs, "staging") == tds_during

    out = run.communicate(timeout=300)[0]
    assert run.returncode == 0 and "promote dev -> staging: SUCCEEDED" in out, out[-3000:]
    assert lock_of(envs, "staging") == {}


def test_a_canary_pause_waits_for_a_person_and_resume_goes_on(envs: Cloud) -> None:
    nothing = release(envs, "resume", "-e", "env=prod")
    assert nothing.returncode != 0 and "no release of prod is paused to resume: the lock is free" in flat(nothing)

    canary = other(live(envs, "prod")["colour"])
    run = promote(envs, "staging", canary_pauses=[10], release_gate_interval=1)  # v9, which the test above left there
    try:
        wait_until(lambda: lock_of(envs, "prod").get("paused_percent") == "10", what="prod's pause after 10 %")
        # A second release meanwhile is told who holds prod - a live canary, not an interrupted one.
        second = release(envs, "promote", "-e", "source=staging")
        assert second.returncode != 0, second.stdout[-3000:]
        assert "the deployment lock of prod is held by" in flat(second), second.stdout[-3000:]
        assert "an interrupted release is open" not in flat(second) and "interrupted mid-shift" not in flat(second)
        assert live(envs, "prod")["weights"][canary] == 10 and run.poll() is None  # it waits
        resumed = must(release(envs, "resume", "-e", "env=prod"))
        assert "after its 10% step" in flat(resumed)
        out = run.communicate(timeout=300)[0]
    finally:
        if run.poll() is None:  # a failed assertion: the paused run must not hold prod for the next tests
            kill_run(run)
    assert run.returncode == 0 and "promote staging -> prod: SUCCEEDED" in out, out[-3000:]
    assert re.search(r"step 10%: gate passed after [\d.]+s, \d+ look\(s\) \(.*\), resumed after", " ".join(out.split()))
    assert live(envs, "prod")["weights"][canary] == 100


def test_an_abort_stops_a_live_release_which_then_moves_nothing(envs: Cloud) -> None:
    build(envs, "v11")
    must(release(envs, "deploy", "-e", "env=dev", "-e", "version=v11"))
    must(release(envs, "promote", "-e", "source=dev"))
    before, tds_before = live(envs, "prod"), services(envs, "prod")
    canary = other(before["colour"])
    run = promote(envs, "staging", canary_pauses=[10], release_gate_interval=1)
    try:
        wait_until(lambda: lock_of(envs, "prod").get("paused_percent") == "10", what="prod's pause after 10 %")
        assert live(envs, "prod")["weights"][canary] == 10
        aborted = must(release(envs, "abort", "-e", "env=prod", "-e", json.dumps({"reason": "test: stop it"})))
        assert "lock freed" in flat(aborted)
        out = run.communicate(timeout=120)[0]
    finally:
        if run.poll() is None:
            kill_run(run)
    assert run.returncode != 0 and "restored nothing" in " ".join(out.split()), out[-3000:]
    # The stopped run found its lock gone and left everything to the abort: nothing moved after it.
    assert live(envs, "prod")["weights"] == before["weights"] and services(envs, "prod") == tds_before
    closed = records(envs, "prod")[0]
    assert closed["outcome"] == "aborted" and closed["reason"] == "test: stop it" and lock_of(envs, "prod") == {}


def test_no_alarm_blocks_the_rescue_or_a_rollback_and_the_gates_watch_the_whole_bake(envs: Cloud) -> None:
    v9, v7 = [r for r in records(envs, "prod") if r["outcome"] == "succeeded"][:2]  # promoted by the tests above
    good = live(envs, "prod")  # staging has v11 (the test above)
    canary = other(good["colour"])
    alarm, cloudwatch = f"prod-movie-app-target-5xx-{canary}", envs.client("cloudwatch")
    # At the 50 % step: the step puts back 10 %, the rescue must move the rest back while the alarm fires.
    when(
        lambda: live(envs, "prod")["weights"].get(canary) == 50,
        lambda: cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test: 5XX burst"),
        timeout=300,  # after the 10 % step's whole bake
    )
    try:
        bad = release(
            envs, "promote", "-e", "source=staging", "-e", json.dumps({"bake_seconds": 30, "release_gate_interval": 1})
        )
        assert bad.returncode != 0 and f"{alarm} is ALARM" in flat(bad), bad.stdout[-3000:]
        record = records(envs, "prod")[0]
        assert record["outcome"] == "rolled back"
        report = json.loads((ROOT / "reports" / f"{record['id']}.json").read_text())
        steps = report["steps"]
        # The gate looked every second and stopped at the first failure, not at the end of the 30 s bake.
        assert steps[0]["percent"] == 10 and steps[0]["passed"], steps
        assert steps[1]["percent"] == 50 and not steps[1]["passed"] and steps[1]["seconds"] < 20, steps
        assert any(
            r.startswith("weights to")
            for r in json.loads((ROOT / "reports" / f"{record['id']}.json").read_text())["restored"]
        )
        # The rescue put all traffic back while the alarm still fired.
        assert live(envs, "prod")["weights"] == good["weights"]

        rollback = must(release(envs, "rollback", "-e", "env=prod"))
        after = live(envs, "prod")
        assert after["colour"] == canary and after["weights"][canary] == 100, rollback.stdout[-3000:]
        assert after["digests"]["server"] != good["digests"]["server"]
        rolled = records(envs, "prod")[0]
        assert rolled["kind"] == "rollback" and rolled["note"] == v7["id"] and v9["id"] != v7["id"]
        assert rolled["outcome"] == "succeeded"
    finally:
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="test: over")
