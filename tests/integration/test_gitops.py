"""The GitOps pipeline: the determine-environment step gives the seed's answers, by running its own command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "pipeline.yml"


def determine_environment_command() -> str:
    job = yaml.safe_load(WORKFLOW.read_text())["jobs"]["determine-environment"]
    return next(step["run"] for step in job["steps"] if step.get("id") == "set-env")


@pytest.mark.parametrize(
    ("ref", "environment", "deploy", "road", "github_environment"),
    [
        ("refs/heads/main", "prod", "true", "promote", "production"),
        ("refs/heads/develop", "staging", "true", "deploy", "staging"),
        ("refs/heads/feature/x", "dev", "true", "deploy", "dev"),
        ("refs/heads/bugfix/y", "dev", "false", "deploy", "dev"),
    ],
)
def test_determine_environment_gives_the_seeds_answers(
    tmp_path: Path, ref: str, environment: str, deploy: str, road: str, github_environment: str
) -> None:
    output = tmp_path / "github_output"
    output.write_text("")
    env = {
        **os.environ,
        "GITHUB_REF": ref,
        "GITHUB_OUTPUT": str(output),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    # The workflow's own command line, with the checkout's .venv.
    proc = subprocess.run(
        ["bash", "-c", determine_environment_command()], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert output.read_text().split() == [
        f"environment={environment}",
        f"deploy={deploy}",
        f"road={road}",
        f"github_environment={github_environment}",
        "production=prod",
    ]


def test_every_aws_job_assumes_a_role_by_oidc_and_prod_waits_for_reviewers() -> None:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    text = WORKFLOW.read_text()
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    for name, job in jobs.items():
        uses = [s.get("uses", "") for s in job.get("steps", [])]
        if any(u.startswith("aws-actions/configure-aws-credentials") for u in uses):
            assert job["permissions"]["id-token"] == "write", name
    assert jobs["promote-to-prod"]["environment"] == "production"
    assert "promote.yml -e source=staging" in str(jobs["promote-to-prod"]["steps"])
    # Bound to the release staging served when its tests ran (the deploy job names it), never to what it runs later.
    promote = next(s for s in jobs["promote-to-prod"]["steps"] if "promote.yml" in s.get("run", ""))
    assert promote["env"]["RELEASE"] == "${{ needs.deploy.outputs.release }}"
    assert '-e "release=${RELEASE}"' in promote["run"] and "-e require_approved_release=true" in promote["run"]
    assert jobs["deploy"]["outputs"]["release"] == "${{ steps.release.outputs.release }}"
    named = next(s for s in jobs["deploy"]["steps"] if s.get("id") == "release")
    assert "playbooks/history.yml" in named["run"] and "ci_output=${GITHUB_OUTPUT}" in named["run"]
    # The smoke test asks the environment's health URL as its inventory describes it, never a host written here.
    smoke = next(s for s in jobs["integration-tests"]["steps"] if "Smoke" in s.get("name", ""))
    assert smoke["run"] == '.venv/bin/ansible-playbook playbooks/smoke.yml -e "env=${TARGET}"'
    assert "movie-app" not in text
    # Every other job that assumes a role runs in the GitHub environment its target maps to (production for prod, the
    # one the prod role trusts), never one a branch names freely.
    for name, job in jobs.items():
        if "id-token" in job.get("permissions", {}) and name != "promote-to-prod":
            assert job["environment"] == "${{ needs.determine-environment.outputs.github_environment }}", name


def test_prod_receives_releases_only_by_promotion_one_change_at_a_time_per_environment() -> None:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    deploys = [name for name, job in jobs.items() if "playbooks/deploy.yml" in str(job.get("steps"))]
    assert deploys == ["deploy"]
    # main maps to prod, whose road is promote (test above): the deploy job does not run for it.
    assert "needs.determine-environment.outputs.road == 'deploy'" in jobs["deploy"]["if"]
    groups = {name: job.get("concurrency", {}).get("group") for name, job in jobs.items()}
    target = "stageflow-env-${{ needs.determine-environment.outputs.environment }}"
    assert groups["apply"] == groups["deploy"] == target
    assert groups["promote-to-prod"] == "stageflow-env-${{ needs.determine-environment.outputs.production }}"
    assert all(not job.get("concurrency", {}).get("cancel-in-progress") for job in jobs.values())


def test_a_failing_plan_fails_its_job(tmp_path: Path) -> None:
    """The plan step pipes into tee; GitHub runs it as `bash --noprofile --norc -eo pipefail {0}` because the workflow
    names bash (docs: jobs.<job_id>.steps[*].shell). Without pipefail the same script passes."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow["defaults"]["run"]["shell"] == "bash"
    step = next(s for s in workflow["jobs"]["plan"]["steps"] if s.get("name", "").startswith("Plan"))
    assert "| tee plan.txt" in step["run"]
    # The step as written, run from the checkout (its playbook path is relative), its plan.txt kept in tmp_path.
    script = tmp_path / "plan.sh"
    script.write_text(f"cd {ROOT}\n" + step["run"].replace("tee plan.txt", f"tee {tmp_path / 'plan.txt'}"))
    env = {
        **os.environ,
        "TARGET": "qa",  # no such environment: the plan fails, before any AWS call
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }

    def run(*shell: str) -> subprocess.CompletedProcess:
        return subprocess.run([*shell, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)

    failed = run("bash", "--noprofile", "--norc", "-eo", "pipefail")
    assert failed.returncode != 0
    assert "environment 'qa' does not exist" in " ".join((tmp_path / "plan.txt").read_text().split())
    assert run("bash", "-e").returncode == 0, "without pipefail the failing plan would pass"
