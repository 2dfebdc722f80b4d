"""AWX as the tests see it: the configuration awx/configure.yml renders, and job launches as AWX makes them."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ansible_runner
import jinja2

from tests.conftest import ROOT, Cloud
from tests.integration.releases import must

KEYS = {"access_key_id": "testing", "secret_access_key": "testing"}  # what the vault would hold
USER = "release-manager"  # who launches the jobs, as AWX tells every job (awx_user_name)
EDGES = ("success", "failure", "always")


def awx_keys(cloud: Cloud) -> dict[str, dict[str, str]]:
    """Access keys of the IAM users playbooks/access.yml made for AWX's credentials (stageflow-<scope>-awx), as an
    administrator creates them for AWX's vault: the jobs then run under each scope's policies only."""
    iam = cloud.client("iam")
    keys = {}
    for scope in ("nonprod", "prod"):
        key = iam.create_access_key(UserName=f"stageflow-{scope}-awx")["AccessKey"]
        keys[scope] = {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}
    return keys


def render_plan(cloud: Cloud, path: Path) -> dict[str, Any]:
    """The configuration awx/configure.yml applies, as it renders it."""
    must(cloud.playbook("awx/configure.yml", "-e", f"stageflow_awx_plan={path}"))
    return json.loads(path.read_text())


def template(plan: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in plan["job_templates"] if t["name"] == name)


def production(plan: dict[str, Any]) -> set[str]:
    """The job templates that hold a credential whose scope includes prod."""
    creds = {c["name"] for c in plan["credentials"] if "prod" in c["inputs"]["environments"].split(",")}
    return {t["name"] for t in plan["job_templates"] if t.get("credential") in creds}


class SurveyRefused(Exception):
    """What AWX answers a launch whose survey answer is not one of the choices."""


class Controller:
    """Launches job templates of the plan under ansible-runner, as AWX does: survey, extra vars, credentials."""

    def __init__(
        self,
        plan: dict[str, Any],
        cloud: Cloud,
        workdir: Path,
        base_vars: dict[str, Any],
        keys: dict[str, dict[str, str]] | None = None,
    ) -> None:
        """`keys`: each credential's access keys by its `secrets` name (nonprod, prod), as AWX's vault holds them;
        the local cloud's root key for any credential not named."""
        self.plan, self.cloud, self.workdir, self.base_vars = plan, cloud, workdir, base_vars
        self.keys = keys or {}
        self.jobs: list[tuple[str, dict[str, Any], int]] = []
        self.lock = threading.Lock()

    def job_vars(
        self, name: str, answers: dict[str, Any], enforce_survey: bool, number: int = 0, artifacts: dict | None = None
    ) -> tuple[dict, dict]:
        tpl = template(self.plan, name)
        survey = {q["variable"]: q for q in tpl.get("survey", [])}
        if enforce_survey:
            for variable, value in answers.items():
                question = survey.get(variable)
                if question is None:
                    raise SurveyRefused(f"{name} does not prompt for {variable}")
                if question["type"] == "multiplechoice" and value not in question["choices"]:
                    raise SurveyRefused(f"{variable}: {value!r} is not one of {question['choices']}")
        # The job's own variables, as AWX gives every job (and again with the older tower_ prefix).
        job = {"job_id": number, "user_name": USER, "job_template_name": name, "job_launch_type": "manual"}
        extra = {**{f"{prefix}_{k}": v for k, v in job.items() for prefix in ("awx", "tower")}, **self.base_vars}
        extra.update(tpl.get("extra_vars") or {})
        extra.update(artifacts or {})  # what earlier jobs of a workflow published (set_stats), under the node's data
        extra.update({v: q["default"] for v, q in survey.items() if q["default"] != ""})
        extra.update(answers)
        # The execution environment: ansible-playbook on the PATH, AWS's endpoint and region (the local cloud's).
        env = {k: v for k, v in self.cloud.env.items() if k.startswith("AWS_")}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        if "credential" in tpl:
            credential = next(c for c in self.plan["credentials"] if c["name"] == tpl["credential"])
            ctype = next(t for t in self.plan["credential_types"] if t["name"] == credential["credential_type"])
            inputs = {**credential["inputs"], **self.keys.get(credential.get("secrets", ""), KEYS)}
            env.pop("AWS_SESSION_TOKEN", None)  # the credential's keys are an IAM user's, with no session
            render = jinja2.Environment(undefined=jinja2.StrictUndefined)
            env.update({k: render.from_string(v).render(inputs) for k, v in ctype["injectors"]["env"].items()})
            extra.update({k: render.from_string(v).render(inputs) for k, v in ctype["injectors"]["extra_vars"].items()})
        return extra, env

    def launch(
        self,
        name: str,
        answers: dict[str, Any] | None = None,
        enforce_survey: bool = True,
        artifacts: dict | None = None,
    ) -> Any:
        with self.lock:  # a launch the survey refuses is no job: it takes no number
            number = len(self.jobs) + 1
            extra, env = self.job_vars(name, dict(answers or {}), enforce_survey, number, artifacts)
            self.jobs.append((name, answers or {}, -1))
        private = self.workdir / f"job-{number}"
        private.mkdir()
        runner = ansible_runner.run(
            private_data_dir=str(private),
            project_dir=str(ROOT),
            playbook=template(self.plan, name)["playbook"],
            inventory=str(ROOT / "inventories" / "stageflow.yml"),
            extravars=extra,
            envvars=env,
            quiet=True,
            timeout=900,
        )
        runner.output = runner.stdout.read()
        # What the job published with set_stats, as AWX keeps it as the job's artifacts.
        stats = [e for e in runner.events if e.get("event") == "playbook_on_stats"]
        runner.artifacts = (stats[-1].get("event_data", {}).get("artifact_data") or {}) if stats else {}
        with self.lock:
            self.jobs[number - 1] = (name, answers or {}, runner.rc)
        return runner

    def must(self, name: str, answers: dict[str, Any] | None = None) -> Any:
        runner = self.launch(name, answers)
        assert runner.rc == 0, f"{name} {answers}: rc {runner.rc}\n{runner.output[-5000:]}"
        return runner

    def workflow(self, approve: Callable[[dict], bool], after: Callable[[str, bool], None] | None = None) -> list:
        """Walks the release workflow as AWX does: from its root, along success or failure edges; each job gets the
        artifacts (set_stats) of the jobs before it as extra variables, under its node's own data."""
        nodes = {n["identifier"]: n for n in self.plan["workflow"]["nodes"]}
        targets = {t for n in nodes.values() for e in EDGES for t in n.get(e, [])}
        queue, walked, artifacts = [i for i in nodes if i not in targets], [], {}
        self.workflow_jobs: dict[str, Any] = {}
        while queue:
            ident = queue.pop(0)
            node = nodes[ident]
            if "approval" in node:
                ok = approve(node["approval"])
            else:
                runner = self.launch(node["template"], node.get("extra_data"), artifacts=artifacts)
                self.workflow_jobs[ident] = runner
                artifacts = {**artifacts, **runner.artifacts}
                ok = runner.rc == 0
            walked.append((ident, ok))
            if after:
                after(ident, ok)
            queue += node.get("success" if ok else "failure", []) + node.get("always", [])
        return walked
