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
    ("ref", "environment", "deploy"),
    [
        ("refs/heads/main", "prod", "true"),
        ("refs/heads/develop", "staging", "true"),
        ("refs/heads/feature/x", "dev", "true"),
        ("refs/heads/bugfix/y", "dev", "false"),
    ],
)
def test_determine_environment_gives_the_seeds_answers(tmp_path: Path, ref: str, environment: str, deploy: str) -> None:
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
    assert output.read_text().split() == [f"environment={environment}", f"deploy={deploy}"]


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
