"""AWX configuration as code, tested without a controller.

awx/configure.yml renders the configuration it would apply (`-e stageflow_awx_plan=<file>`); these tests check it
(templates point to playbooks that exist and read their survey variables, the approval node guards every prod step,
only Operators launch prod templates) and then launch every job template as AWX would: the survey's answers and the
template's extra vars, the credential's injected environment and extra vars, under ansible-runner (the engine AWX
runs jobs with), against the local cloud. The release workflow is walked node by node along its success and failure
edges, with the approval answered by the test.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ansible_runner
import jinja2
import pytest
import yaml

from localcloud.controller import ControllerStandIn
from tests.conftest import ROOT, Cloud, real_aws
from tests.integration.releases import build, fresh, live, must, records, release_vars, served

pytestmark = pytest.mark.slow
KEYS = {"access_key_id": "testing", "secret_access_key": "testing"}  # what the vault would hold
EDGES = ("success", "failure", "always")


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory, cloud_session: Cloud) -> dict[str, Any]:
    """The configuration awx/configure.yml applies, as it renders it."""
    path = tmp_path_factory.mktemp("awx") / "plan.json"
    must(cloud_session.playbook("awx/configure.yml", "-e", f"stageflow_awx_plan={path}"))
    return json.loads(path.read_text())


def template(plan: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in plan["job_templates"] if t["name"] == name)


def production(plan: dict[str, Any]) -> set[str]:
    """The job templates that hold a credential whose scope includes prod."""
    creds = {c["name"] for c in plan["credentials"] if "prod" in c["inputs"]["environments"].split(",")}
    return {t["name"] for t in plan["job_templates"] if t.get("credential") in creds}


# --- The configuration itself -----------------------------------------------------------------------------------


def jinja_expressions(node: Any, key: str = "") -> Iterator[str]:
    """Every Jinja expression of a playbook: {{ ... }} in any string, and the bare ones of when/that/until."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from jinja_expressions(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from jinja_expressions(v, key)
    elif isinstance(node, str):
        yield from re.findall(r"\{\{(.*?)\}\}", node, re.S)
        if key in ("when", "that", "until", "failed_when", "changed_when"):
            yield node


def playbook_expressions(path: Path) -> list[str]:
    """The expressions of a playbook and of the playbooks it imports."""
    plays = yaml.safe_load(path.read_text())
    found = list(jinja_expressions(plays))
    for play in plays:
        if "ansible.builtin.import_playbook" in play:
            found += playbook_expressions(path.parent / play["ansible.builtin.import_playbook"])
    return found


def test_every_template_runs_a_playbook_that_reads_its_survey_variables(plan: dict[str, Any]) -> None:
    assert len(plan["job_templates"]) == 13
    for tpl in plan["job_templates"]:
        playbook = ROOT / tpl["playbook"]
        assert playbook.is_file(), f"{tpl['name']}: {tpl['playbook']} does not exist"
        expressions = " ".join(playbook_expressions(playbook))
        variables = [q["variable"] for q in tpl.get("survey", [])] + list(tpl.get("extra_vars") or {})
        for variable in variables:
            assert re.search(rf"\b{variable}\b", expressions), f"{tpl['playbook']} never reads {variable}"
    # Survey choices come from promotion_order, and every default is one of its choices (AWX refuses it otherwise).
    assert template(plan, "Stageflow promote")["survey"][0]["choices"] == ["dev"]
    assert template(plan, "Stageflow promote to prod")["survey"][0]["choices"] == ["staging"]
    assert template(plan, "Stageflow deploy")["survey"][0]["choices"] == ["dev", "staging"]
    for spec in filter(None, plan["survey_specs"]):
        for question in spec["spec"]:
            assert question["type"] != "multiplechoice" or question["default"] in question["choices"]


def test_the_approval_node_comes_before_every_prod_step(plan: dict[str, Any]) -> None:
    workflow = plan["workflow"]
    nodes = {n["identifier"]: n for n in workflow["nodes"]}
    prod = production(plan)
    assert {n["template"] for n in nodes.values() if "template" in n} & prod == {
        "Stageflow promote to prod",
        "Stageflow rollback prod",
    }
    # Without the approval nodes, no node that holds prod credentials is reachable from the start.
    targets = {t for n in nodes.values() for e in EDGES for t in n.get(e, [])}
    reachable, todo = set(), [i for i in nodes if i not in targets]
    while todo:
        ident = todo.pop()
        if ident in reachable or "approval" in nodes[ident]:
            continue
        reachable.add(ident)
        todo += [t for e in EDGES for t in nodes[ident].get(e, [])]
    assert {i for i in reachable if nodes[i].get("template") in prod} == set()
    # Only the approval's success leads on, it has a timeout, and only the Approvers may approve.
    approval = nodes["approve-prod"]
    assert approval["success"] == ["promote-prod"] and not approval.get("failure") and not approval.get("always")
    assert approval["approval"]["timeout"] > 0
    assert workflow["approve"] == ["Approvers"] and workflow["execute"] == ["Operators"]
    # The rendered awx.awx job nodes carry the same edges; the approval node is applied on its own.
    rendered = {n["identifier"]: n for n in plan["workflow_nodes"]}
    assert set(rendered) == {i for i in nodes if "approval" not in nodes[i]}
    assert rendered["smoke-staging"]["related"]["success_nodes"] == [{"identifier": "approve-prod"}]


def test_only_operators_launch_prod_templates_and_prod_credentials_stay_with_them(plan: dict[str, Any]) -> None:
    prod = production(plan)
    assert prod == {
        "Stageflow provision prod",
        "Stageflow promote to prod",
        "Stageflow rollback prod",
        "Stageflow drift prod",
    }
    for tpl in plan["job_templates"]:
        assert tpl["execute"] == ["Operators"] if tpl["name"] in prod else "Operators" in tpl["execute"], tpl["name"]
    # Non-prod credentials do not cover prod; no template without prod credentials targets prod by its vars.
    nonprod = next(c for c in plan["credentials"] if c["name"] == "Stageflow AWS non-prod")
    assert "prod" not in nonprod["inputs"]["environments"].split(",")
    for tpl in plan["job_templates"]:
        if tpl["name"] not in prod:
            assert "prod" not in json.dumps(tpl.get("extra_vars", {})), tpl["name"]


def test_the_awx_playbook_passes_syntax_check(cloud_session: Cloud) -> None:
    proc = cloud_session.playbook("awx/configure.yml", "--syntax-check")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_applying_without_the_inputs_stops_before_any_controller_call(cloud_session: Cloud) -> None:
    # No controller exists here: reaching the first awx.awx task would fail with a connection error instead.
    proc = cloud_session.playbook("awx/configure.yml", CONTROLLER_HOST="https://127.0.0.1:9")
    assert proc.returncode != 0
    assert "awx/configure.yml needs stageflow_awx_scm_url" in " ".join(proc.stdout.split())
    assert "TASK [Organization]" not in proc.stdout


def test_configure_applies_to_a_controller_and_a_second_run_changes_nothing(
    cloud_session: Cloud, plan: dict[str, Any], tmp_path: Path
) -> None:
    """Against the AWX API stand-in (localcloud/controller.py): what is created, read back; then no change."""
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"stageflow_awx_aws_keys": {"nonprod": KEYS, "prod": KEYS}}))
    args = (
        "-e",
        "stageflow_awx_scm_url=https://git.example.com/platform/stageflow.git",
        "-e",
        "stageflow_awx_ee_image=registry.example.com/stageflow-ee:0.1.0",
        "-e",
        f"@{keys}",
    )
    with ControllerStandIn() as awx:
        env = {"CONTROLLER_HOST": awx.url, "CONTROLLER_OAUTH_TOKEN": "testing", "CONTROLLER_VERIFY_SSL": "false"}
        first = must(cloud_session.playbook("awx/configure.yml", *args, **env))
        assert re.search(r"localhost\s+: ok=\d+\s+changed=[1-9]", first.stdout)
        applied = len(awx.store.writes)
        again = must(cloud_session.playbook("awx/configure.yml", *args, **env))
        assert re.search(r"localhost\s+: ok=\d+\s+changed=0\s", again.stdout), again.stdout[-3000:]
        checked = must(cloud_session.playbook("awx/configure.yml", *args, "--check", **env))
        assert re.search(r"localhost\s+: ok=\d+\s+changed=0\s", checked.stdout)
        assert awx.store.writes[applied:] == []  # neither the second run nor check mode wrote anything

        # Read back as a person would in the controller.
        objects = awx.store.objects
        assert sorted(o["name"] for o in objects["job_templates"].values()) == sorted(
            t["name"] for t in plan["job_templates"]
        )
        credentials = {o["id"]: o["name"] for o in objects["credentials"].values()}
        for tpl in plan["job_templates"]:
            jt = awx.named("job_templates", tpl["name"])
            held = [credentials[i] for i in awx.linked("job_templates", jt["id"], "credentials")]
            assert held == ([tpl["credential"]] if "credential" in tpl else []), tpl["name"]
            assert awx.role_teams("job_templates", tpl["name"], "execute") == sorted(tpl["execute"])
            assert jt["ask_variables_on_launch"] is False and jt["ask_credential_on_launch"] is False
            assert awx.store.surveys.get(jt["id"], {}) == next(
                s for s, t in zip(plan["survey_specs"], plan["job_templates"], strict=True) if t is tpl
            )
        for name in credentials.values():
            assert awx.role_teams("credentials", name, "use") == []
            assert awx.named("credentials", name)["inputs"]["secret_access_key"] == "testing"  # stored once
        workflow = plan["workflow"]["name"]
        assert awx.role_teams("workflow_job_templates", workflow, "approval") == ["Approvers"]
        assert awx.role_teams("workflow_job_templates", workflow, "execute") == ["Operators"]
        nodes = {n["id"]: n for n in objects["workflow_job_template_nodes"].values()}
        edges = {
            (nodes[n]["identifier"], edge, nodes[t]["identifier"])
            for n in nodes
            for edge in EDGES
            for t in awx.linked("workflow_job_template_nodes", n, f"{edge}_nodes")
        }
        assert edges == {
            (n["identifier"], edge, t) for n in plan["workflow"]["nodes"] for edge in EDGES for t in n.get(edge, [])
        }
        approval = next(n for n in nodes.values() if n["identifier"] == "approve-prod")
        template = objects["workflow_approval_templates"][approval["unified_job_template"]]
        assert template["timeout"] == 14400 and template["name"] == "Approve the release to production"


# --- Jobs, launched as AWX launches them --------------------------------------------------------------------------


class SurveyRefused(Exception):
    """What AWX answers a launch whose survey answer is not one of the choices."""


class Controller:
    """Launches job templates of the plan under ansible-runner, as AWX does: survey, extra vars, credentials."""

    def __init__(self, plan: dict[str, Any], cloud: Cloud, workdir: Path, base_vars: dict[str, Any]) -> None:
        self.plan, self.cloud, self.workdir, self.base_vars = plan, cloud, workdir, base_vars
        self.jobs: list[tuple[str, dict[str, Any], int]] = []
        self.lock = threading.Lock()

    def job_vars(self, name: str, answers: dict[str, Any], enforce_survey: bool) -> tuple[dict, dict]:
        tpl = template(self.plan, name)
        survey = {q["variable"]: q for q in tpl.get("survey", [])}
        if enforce_survey:
            for variable, value in answers.items():
                question = survey.get(variable)
                if question is None:
                    raise SurveyRefused(f"{name} does not prompt for {variable}")
                if question["type"] == "multiplechoice" and value not in question["choices"]:
                    raise SurveyRefused(f"{variable}: {value!r} is not one of {question['choices']}")
        extra = {**self.base_vars, **(tpl.get("extra_vars") or {})}
        extra.update({v: q["default"] for v, q in survey.items() if q["default"] != ""})
        extra.update(answers)
        # The execution environment: ansible-playbook on the PATH, AWS's endpoint and region (the local cloud's).
        env = {k: v for k, v in self.cloud.env.items() if k.startswith("AWS_")}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        if "credential" in tpl:
            credential = next(c for c in self.plan["credentials"] if c["name"] == tpl["credential"])
            ctype = next(t for t in self.plan["credential_types"] if t["name"] == credential["credential_type"])
            inputs = {**credential["inputs"], **KEYS}
            render = jinja2.Environment(undefined=jinja2.StrictUndefined)
            env.update({k: render.from_string(v).render(inputs) for k, v in ctype["injectors"]["env"].items()})
            extra.update({k: render.from_string(v).render(inputs) for k, v in ctype["injectors"]["extra_vars"].items()})
        return extra, env

    def launch(self, name: str, answers: dict[str, Any] | None = None, enforce_survey: bool = True) -> Any:
        extra, env = self.job_vars(name, dict(answers or {}), enforce_survey)
        with self.lock:
            number = len(self.jobs) + 1
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
        with self.lock:
            self.jobs[number - 1] = (name, answers or {}, runner.rc)
        return runner

    def must(self, name: str, answers: dict[str, Any] | None = None) -> Any:
        runner = self.launch(name, answers)
        assert runner.rc == 0, f"{name} {answers}: rc {runner.rc}\n{runner.output[-5000:]}"
        return runner

    def workflow(self, approve: Callable[[dict], bool], after: Callable[[str, bool], None] | None = None) -> list:
        """Walks the release workflow as AWX does: from its root, along success or failure edges."""
        nodes = {n["identifier"]: n for n in self.plan["workflow"]["nodes"]}
        targets = {t for n in nodes.values() for e in EDGES for t in n.get(e, [])}
        queue, walked = [i for i in nodes if i not in targets], []
        while queue:
            ident = queue.pop(0)
            node = nodes[ident]
            if "approval" in node:
                ok = approve(node["approval"])
            else:
                ok = self.launch(node["template"], node.get("extra_data")).rc == 0
            walked.append((ident, ok))
            if after:
                after(ident, ok)
            queue += node.get("success" if ok else "failure", []) + node.get("always", [])
        return walked


@pytest.fixture
def controller(plan: dict[str, Any], cloud: Cloud, tmp_path: Path) -> Controller:
    if real_aws():
        pytest.skip("the job launches build fake images and count calls: local cloud only")
    return Controller(plan, cloud, tmp_path, {})


@pytest.mark.parametrize(
    ("name", "answers", "message"),
    [
        ("Stageflow promote", {"source": "prod"}, "prod"),
        ("Stageflow promote", {"source": "staging"}, "prod is outside this job's credentials"),
        ("Stageflow deploy", {"env": "prod", "version": "v1"}, "prod is outside this job's credentials"),
        ("Stageflow rollback", {"env": "dev; rm -rf /"}, "dev; rm -rf /"),
        ("Stageflow environment create", {"env_name": "feature-X$(id)", "ttl_hours": 4}, "is not allowed"),
        ("Stageflow environment create", {"env_name": "feature-ok", "ttl_hours": 0}, "ttl_hours 0 is not allowed"),
        ("Stageflow environment destroy", {"env_name": "staging"}, "refuses staging"),
    ],
)
def test_a_bad_survey_answer_fails_at_validation_with_no_aws_call(
    controller: Controller, name: str, answers: dict, message: str
) -> None:
    survey = {q["variable"]: q for q in template(controller.plan, name).get("survey", [])}
    outside = [v for v, x in answers.items() if x not in survey[v].get("choices", [x])]
    if outside:  # AWX itself refuses these at launch; a caller that gets past it meets the playbook's validation
        with pytest.raises(SurveyRefused):
            controller.launch(name, answers)
    controller.cloud.control.reset_recording()
    runner = controller.launch(name, answers, enforce_survey=False)
    assert runner.rc != 0 and runner.status == "failed"
    assert message in " ".join(runner.output.split()), runner.output[-3000:]
    assert controller.cloud.control.calls() == []


@pytest.fixture(scope="module")
def awx_envs(plan: dict[str, Any], cloud_session: Cloud, tmp_path_factory: pytest.TempPathFactory) -> Controller:
    """dev, staging and prod provisioned by their three provision templates, launched at once."""
    if real_aws():
        pytest.skip("the job launches build fake images and inject faults: local cloud only")
    cloud = fresh(cloud_session)
    controller = Controller(plan, cloud, tmp_path_factory.mktemp("jobs"), release_vars(cloud))
    runs = {}
    threads = [
        threading.Thread(target=lambda n=name: runs.__setitem__(n, controller.launch(n)))
        for name in ("Stageflow provision dev", "Stageflow provision staging", "Stageflow provision prod")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=900)
    for name, runner in runs.items():
        assert runner.rc == 0, f"{name}\n{runner.output[-5000:]}"
    assert len(runs) == 3
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
    assert records(awx_envs.cloud, "prod")[0]["outcome"] == "succeeded"


def test_a_denied_approval_leaves_prod_untouched(awx_envs: Controller) -> None:
    before = records(awx_envs.cloud, "prod")
    walked = awx_envs.workflow(lambda approval: False)
    assert walked == [("promote-staging", True), ("smoke-staging", True), ("approve-prod", False)]
    assert records(awx_envs.cloud, "prod") == before


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
    for name in ("Stageflow drift non-prod", "Stageflow drift prod"):
        runner = awx_envs.must(name)
        assert "no drift" in runner.output.lower(), runner.output[-2000:]
    awx_envs.must("Stageflow environment create", {"env_name": "feature-awx", "ttl_hours": 4})
    vpcs = awx_envs.cloud.client("ec2").describe_vpcs(Filters=[{"Name": "tag:Environment", "Values": ["feature-awx"]}])
    assert len(vpcs["Vpcs"]) == 1
    awx_envs.must("Stageflow environment destroy", {"env_name": "feature-awx"})
    vpcs = awx_envs.cloud.client("ec2").describe_vpcs(Filters=[{"Name": "tag:Environment", "Values": ["feature-awx"]}])
    assert vpcs["Vpcs"] == []


def test_every_job_template_was_launched(awx_envs: Controller, plan: dict[str, Any]) -> None:
    launched = {name for name, _, rc in awx_envs.jobs if rc == 0}
    assert launched == {t["name"] for t in plan["job_templates"]}
