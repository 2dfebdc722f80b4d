"""Every AWX job template launched as AWX launches it, against the local cloud.

The survey's answers over the template's extra vars, the credential type's injectors rendered with the credential's
inputs, under ansible-runner (the engine AWX runs jobs with). The release workflow is walked node by node along its
success and failure edges, with the approval answered by the test.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from localcloud.client import push_image
from tests.conftest import Cloud, real_aws
from tests.integration.awx import USER, Controller, awx_keys, render_plan
from tests.integration.releases import (
    ENVIRONMENTS,
    build,
    flat,
    live,
    lock_of,
    must,
    records,
    release_vars,
    served,
    wait_until,
)
from tests.integration.test_provisioning import changed_on, tagged

pytestmark = pytest.mark.slow
# A secret every job gets, as an AWX credential would inject the notification webhook URL (issue 14): no job artifact
# - the events AWX keeps and shows, with each task's arguments and result - may hold it.
WEBHOOK = f"https://hooks.example.com/services/awx-marker-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory, cloud_session: Cloud) -> dict[str, Any]:
    return render_plan(cloud_session, tmp_path_factory.mktemp("awx") / "plan.json")


@pytest.fixture(scope="module")
def awx_envs(plan: dict[str, Any], cloud_session: Cloud, tmp_path_factory: pytest.TempPathFactory) -> Controller:
    """dev, staging and prod provisioned by their three provision templates, launched at once. Each job runs under its
    credential's identity: the access keys of the IAM user playbooks/access.yml made for it (stageflow-nonprod-awx,
    stageflow-prod-awx), which hold only their scope's policies; the local cloud checks every call against them."""
    if real_aws():
        pytest.skip("the job launches build fake images and inject faults: local cloud only")
    cloud = cloud_session.reset()
    must(cloud.playbook("playbooks/access.yml"))  # as the account's administrator (the local cloud's root key)
    controller = Controller(
        plan,
        cloud,
        tmp_path_factory.mktemp("jobs"),
        {**release_vars(cloud), "notification_webhook_url": WEBHOOK},
        keys=awx_keys(cloud),
    )
    runs = {}
    threads = [
        threading.Thread(target=lambda n=name: runs.__setitem__(n, controller.launch(n)))
        for name in ("Stageflow provision dev", "Stageflow provision staging", "Stageflow provision prod")
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=900)
        for name, runner in runs.items():
            assert runner.rc == 0, f"{name}\n{runner.output[-5000:]}"
        assert len(runs) == 3
        # For the promotion tests, which start from the same three; and for the release safety, access and secrets
        # tests, in the test process beside this one (scripts/run_tests.py), which import it instead of provisioning.
        cloud.control.save_snapshot(ENVIRONMENTS)
        cloud.share(ENVIRONMENTS)
    except BaseException:
        cloud.give_up(ENVIRONMENTS)
        raise
    yield controller
    cloud.control.clear_faults()


def test_release_to_production_walks_smoke_check_and_approval_before_prod(awx_envs: Controller) -> None:
    v1 = build(awx_envs.cloud, "v1")
    awx_envs.must("Stageflow deploy", {"env": "dev", "version": "v1"})
    seen = {}

    def approve(approval: dict) -> bool:
        # What the approver sees: staging already serves the release, prod does not yet.
        seen["staging"], seen["prod"] = live(awx_envs.cloud, "staging"), records(awx_envs.cloud, "prod")
        return True

    walked = awx_envs.workflow(approve)
    assert walked == [
        ("promote-staging", True),
        ("smoke-staging", True),
        ("approve-prod", True),
        ("promote-prod", True),
        ("smoke-prod", True),
    ]
    assert seen["staging"]["digests"] == v1 and seen["prod"] == []
    assert live(awx_envs.cloud, "prod")["digests"] == v1
    record = records(awx_envs.cloud, "prod")[0]
    assert record["outcome"] == "succeeded"
    # Who did it: the AWX user and the job, and the AWS identity of the job's credential.
    job = max(number for number, launched in enumerate(awx_envs.jobs, 1) if launched[0] == "Stageflow promote to prod")
    assert record["who"] == f"awx:{USER} (job {job})"
    assert record["aws_identity"] == "arn:aws:iam::123456789012:user/stageflow-prod-awx"


def test_a_denied_approval_leaves_prod_untouched(awx_envs: Controller) -> None:
    before = records(awx_envs.cloud, "prod")
    walked = awx_envs.workflow(lambda approval: False)
    assert walked == [("promote-staging", True), ("smoke-staging", True), ("approve-prod", False)]
    assert records(awx_envs.cloud, "prod") == before


def test_a_redeploy_of_staging_while_the_approval_waits_is_never_promoted_to_prod(awx_envs: Controller) -> None:
    """The approval is bound to the release promote-staging recorded (its artifact): a developer who deploys another
    build to staging meanwhile does not get it into prod; the promotion refuses and prod keeps what it ran."""
    cloud = awx_envs.cloud
    build(cloud, "v7")
    awx_envs.must("Stageflow deploy", {"env": "dev", "version": "v7"})
    prod_before = live(cloud, "prod")["digests"]
    sneaked = {}

    def redeploy_then_approve(approval: dict) -> bool:
        assert "approve to promote exactly it" in approval["description"]
        # A build pushed to staging's own repositories, as CI does for develop, and deployed there: never approved.
        ecr = cloud.client("ecr")
        sneaked.update(
            {c: push_image(ecr, f"staging-movie-app-{c}-repo", "v8", f"{c} v8") for c in ("client", "server")}
        )
        awx_envs.must("Stageflow deploy", {"env": "staging", "version": "v8"})
        return True

    walked = awx_envs.workflow(redeploy_then_approve)
    assert walked == [
        ("promote-staging", True),
        ("smoke-staging", True),
        ("approve-prod", True),
        ("promote-prod", False),
    ]
    approved = awx_envs.workflow_jobs["promote-staging"].artifacts["stageflow_releases"]["staging"]
    refusal = " ".join(awx_envs.workflow_jobs["promote-prod"].output.split())
    assert f"staging no longer runs the approved release {approved['id']}" in refusal, refusal[-3000:]
    assert live(cloud, "staging")["digests"] == sneaked
    assert live(cloud, "prod")["digests"] == prod_before
    assert lock_of(cloud, "prod") == {}


def test_a_failed_prod_smoke_check_runs_the_rollback_branch(awx_envs: Controller) -> None:
    cloud = awx_envs.cloud
    v1 = live(cloud, "prod")["digests"]
    v2 = build(cloud, "v2")
    awx_envs.must("Stageflow deploy", {"env": "dev", "version": "v2"})

    def after(ident: str, ok: bool) -> None:
        if ident == "promote-prod":  # the release lands, then stops answering
            cloud.control.set_fault("unhealthy", patterns=[f"*@{v2['server']}"])

    walked = awx_envs.workflow(lambda approval: True, after)
    cloud.control.clear_faults()
    assert walked[-3:] == [("promote-prod", True), ("smoke-prod", False), ("rollback-prod", True)]
    assert live(cloud, "prod")["digests"] == v1 and served(cloud, "prod")["status"] == "ok"
    assert [r["kind"] for r in records(cloud, "prod")[:2]] == ["rollback", "promote"]


def test_rollback_to_a_release_id_from_the_survey(awx_envs: Controller) -> None:
    first = [r for r in records(awx_envs.cloud, "staging") if r["outcome"] == "succeeded"][-1]
    awx_envs.must("Stageflow rollback", {"env": "staging", "release": first["id"]})
    assert records(awx_envs.cloud, "staging")[0]["kind"] == "rollback"
    assert live(awx_envs.cloud, "staging")["digests"] == live(awx_envs.cloud, "prod")["digests"]


def test_drift_templates_and_the_feature_environment_lifecycle(awx_envs: Controller) -> None:
    """The drift templates, and a feature environment's whole life through its templates, as the non-prod AWX user:
    created with 30 % of the calls throttled, with its CIDR and expiry; created again, changing nothing and allocating
    no new CIDR; destroyed, leaving nothing tagged with it."""
    cloud = awx_envs.cloud
    for name in ("Stageflow drift non-prod", "Stageflow drift prod"):
        runner = awx_envs.must(name)
        assert "no drift" in runner.output.lower(), runner.output[-2000:]
    # What runs where, read under each credential's policies.
    for name, envs in (("Stageflow status non-prod", ("dev", "staging")), ("Stageflow status prod", ("prod",))):
        shown = " ".join(awx_envs.must(name).output.split())
        assert all(f"{env} " in shown and "lock: free" in shown for env in envs), shown[-2000:]
    ec2 = cloud.client("ec2")

    def vpcs() -> list[dict]:
        return ec2.describe_vpcs(Filters=[{"Name": "tag:Environment", "Values": ["feature-awx"]}])["Vpcs"]

    cloud.control.set_fault("throttle", share=0.3, seed=11, max_consecutive=2)
    try:
        created = awx_envs.must("Stageflow environment create", {"env_name": "feature-awx", "ttl_hours": 4})
        assert cloud.control.faults()["throttle"]["throttled"] > 20
    finally:
        cloud.control.clear_faults()
    assert changed_on(created.output)["feature-awx-env"] > 10
    assert [v["CidrBlock"] for v in vpcs()] == ["10.128.0.0/16"]
    expires = {t["Key"]: t["Value"] for t in vpcs()[0]["Tags"]}["ExpiresAt"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", expires)

    again = awx_envs.must("Stageflow environment create", {"env_name": "feature-awx"})
    assert changed_on(again.output)["feature-awx-env"] == 0, "a second env_create changes nothing"
    assert [v["CidrBlock"] for v in vpcs()] == ["10.128.0.0/16"], "and allocates no new CIDR"

    # The feature environment receives releases as dev does (it releases rolling, as dev): two deploys of builds
    # pushed to its own repositories, a smoke check through its load balancer, a rollback to the first, its history.
    ecr = cloud.client("ecr")
    builds = {}
    for version in ("f1", "f2"):
        builds[version] = {
            c: push_image(ecr, f"feature-awx-movie-app-{c}-repo", version, f"{c} {version}")
            for c in ("client", "server")
        }
        awx_envs.must("Stageflow deploy", {"env": "feature-awx", "version": version})
        assert live(cloud, "feature-awx")["digests"] == builds[version]
    smoke = awx_envs.must("Stageflow smoke check non-prod", {"env": "feature-awx"})
    assert "feature-awx: http://" in smoke.output and "answered 200" in smoke.output
    awx_envs.must("Stageflow rollback", {"env": "feature-awx"})
    assert live(cloud, "feature-awx")["digests"] == builds["f1"]
    assert served(cloud, "feature-awx")["status"] == "ok"
    assert [(r["kind"], r["outcome"]) for r in records(cloud, "feature-awx")] == [
        ("rollback", "succeeded"),
        ("deploy", "succeeded"),
        ("deploy", "succeeded"),
    ]
    history = awx_envs.must("Stageflow history", {"env": "feature-awx"})
    assert history.output.count("feature-awx") >= 3 and "rollback" in history.output
    # Its release promoted to dev (the team allows it: feature_promotion), dev runs images from its repositories: its
    # teardown is refused, removing nothing, until dev runs something else.
    vars_file = awx_envs.workdir / "release-vars.json"
    vars_file.write_text(json.dumps(release_vars(cloud)))
    allow = ("-e", "feature_promotion=true", "-e", f"@{vars_file}")
    must(cloud.playbook("playbooks/promote.yml", "-e", "source=feature-awx", *allow))
    assert live(cloud, "dev")["digests"] == builds["f1"]
    assert records(cloud, "dev")[0]["source"] == "feature-awx"
    kept = cloud.playbook("playbooks/env_destroy.yml", "-e", "env_name=feature-awx", *allow)
    assert kept.returncode != 0 and "feature-awx is not torn down: dev still run images" in flat(kept), flat(kept)[
        -2000:
    ]
    assert vpcs() != []
    dev_build = build(cloud, "v9-after-feature")
    awx_envs.must("Stageflow deploy", {"env": "dev", "version": "v9-after-feature"})
    assert live(cloud, "dev")["digests"] == dev_build

    # A name that is no environment is refused before any change, naming the playbook that creates one.
    refused = awx_envs.launch("Stageflow deploy", {"env": "feature-none", "version": "f1"})
    assert refused.rc != 0 and "feature environment feature-none does not exist" in refused.output.replace("\n", " ")

    awx_envs.must("Stageflow environment destroy", {"env_name": "feature-awx"})
    # Nothing is left but the data kept on purpose: the database's final snapshot.
    assert (
        vpcs() == []
        and [arn for arn in tagged(cloud, "feature-awx") if not re.search(r":(cluster-)?snapshot[:/]", arn)] == []
    )
    # Provisioning, drift and the feature environment's life ran as the AWX users: every resource they acted on was
    # told by its ARN (none refused as unresolved), and judged on it.
    assert cloud.control.unresolved() == []


def test_abort_and_resume_templates(awx_envs: Controller) -> None:
    for name, env in (("Stageflow abort", "staging"), ("Stageflow abort prod", "prod")):
        runner = awx_envs.must(name, {"env": env, "reason": "AWX test: nothing to abort"})
        assert f"{env} has nothing to abort" in " ".join(runner.output.split())
    # A release of prod paused after its 10 % step (canary_pauses), resumed from AWX.
    build(awx_envs.cloud, "v9")
    awx_envs.must("Stageflow deploy", {"env": "dev", "version": "v9"})
    awx_envs.must("Stageflow promote", {"source": "dev"})
    approved = next(r["id"] for r in records(awx_envs.cloud, "staging") if r["outcome"] == "succeeded")
    paused = {"source": "staging", "release": approved, "canary_pauses": [10], "release_gate_interval": 1}
    runs: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: runs.__setitem__("promote", awx_envs.launch("Stageflow promote to prod", paused, False))
    )
    thread.start()
    wait_until(lambda: lock_of(awx_envs.cloud, "prod").get("paused_percent") == "10", what="prod's pause after 10 %")
    runner = awx_envs.must("Stageflow resume prod", {"env": "prod"})
    assert "after its 10% step" in " ".join(runner.output.split())
    thread.join(timeout=300)
    assert runs["promote"].rc == 0, runs["promote"].output[-3000:]
    assert served(awx_envs.cloud, "prod")["status"] == "ok"


def test_every_job_template_was_launched(awx_envs: Controller, plan: dict[str, Any]) -> None:
    launched = {job[0] for job in awx_envs.jobs if job[2] == 0}
    assert launched == {t["name"] for t in plan["job_templates"]}


def test_no_job_artifact_holds_the_secret_the_jobs_were_given(awx_envs: Controller) -> None:
    artifacts = sorted(awx_envs.workdir.glob("job-*/artifacts/**/*"))
    assert len(artifacts) > 100, "no job artifacts to look into"
    assert len(list(awx_envs.workdir.glob("job-*/env/extravars"))) == len(awx_envs.jobs)  # every job had the secret
    leaked = [str(path.relative_to(awx_envs.workdir)) for path in artifacts if path.is_file() and held(path)]
    assert leaked == []


def held(path: Path) -> bool:
    return WEBHOOK.encode() in path.read_bytes()
