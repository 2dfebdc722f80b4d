"""AWX configuration as code, tested without a controller: the configuration itself, and bad launches.

awx/configure.yml renders the configuration it would apply (`-e stageflow_awx_plan=<file>`); these tests check it
(templates point to playbooks that exist and read their survey variables, the approval node guards every prod step,
only Operators launch prod templates), apply it twice to an AWX API stand-in, and launch templates with bad survey
answers under ansible-runner: each fails at validation with no AWS call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from localcloud.controller import ControllerStandIn
from tests.conftest import ROOT, Cloud, real_aws
from tests.integration.awx import EDGES, KEYS, Controller, SurveyRefused, production, render_plan, template
from tests.integration.releases import must


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory, cloud_session: Cloud) -> dict[str, Any]:
    return render_plan(cloud_session, tmp_path_factory.mktemp("awx") / "plan.json")


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
    assert len(plan["job_templates"]) == 20
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
    # Feature environments come and go: the non-prod templates take a name, which the playbook checks (it must exist,
    # and be within the credential's scope) before any change.
    for name in ("Stageflow deploy", "Stageflow rollback", "Stageflow abort", "Stageflow smoke check non-prod"):
        question = template(plan, name)["survey"][0]
        assert question["type"] == "text" and question["variable"] == "env", name
        assert "dev, staging or a feature environment" in question["question_description"], name
    assert template(plan, "Stageflow smoke check")["survey"][0]["choices"] == ["staging", "prod"]
    for spec in filter(None, plan["survey_specs"]):
        for question in spec["spec"]:
            assert question["type"] != "multiplechoice" or question["default"] in question["choices"]


def test_failures_and_approvals_are_told_to_the_webhook_whose_url_stays_out_of_the_data(plan: dict[str, Any]) -> None:
    (notification,) = plan["notification_templates"]
    assert notification["notification_type"] == "webhook"
    for event in ("running", "approved", "denied", "timed_out"):
        body = json.loads(
            notification["messages"]["workflow_approval"][event]["body"].replace("{{", "").replace("}}", "")
        )
        assert "approval_node_name" in body["text"] and "workflow_url" in body["text"]
    assert "{{ url }}" in notification["messages"]["error"]["body"]
    assert plan["notifications"] == {
        "job_templates_error": [notification["name"]],
        "workflow_error": [notification["name"]],
        "workflow_success": [notification["name"]],
        "workflow_approvals": [notification["name"]],
    }
    assert "url" not in json.dumps(notification).replace("{{ url }}", "").replace("workflow_url", "")


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
    # What is approved is what reaches prod: the prod promotion takes only a named release (the workflow names the one
    # its staging promotion recorded), never whatever staging runs by then.
    assert template(plan, "Stageflow promote to prod")["extra_vars"] == {"require_approved_release": True}
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
        "Stageflow abort prod",
        "Stageflow resume prod",
        "Stageflow drift prod",
        "Stageflow status prod",
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


WEBHOOK = "https://hooks.example.com/services/T000/B000/not-a-real-token"


@pytest.mark.slow  # two full applies of the configuration: left out of the inner loop (make test-fast)
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
        "-e",
        f"stageflow_awx_notify_webhook_url={WEBHOOK}",
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
        # Failed jobs and the workflow's approvals are told to the webhook, whose URL no run printed.
        hook = awx.named("notification_templates", "Stageflow releases webhook")
        assert hook["notification_configuration"]["url"] == WEBHOOK and hook["notification_type"] == "webhook"
        assert WEBHOOK not in first.stdout + again.stdout + checked.stdout
        for tpl in plan["job_templates"]:
            jt = awx.named("job_templates", tpl["name"])
            assert awx.linked("job_templates", jt["id"], "notification_templates_error") == [hook["id"]], tpl["name"]
        wf = awx.named("workflow_job_templates", workflow)
        for event in ("error", "success", "approvals"):
            assert awx.linked("workflow_job_templates", wf["id"], f"notification_templates_{event}") == [hook["id"]]


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
        ("Stageflow deploy", {"env": "feature-$(id)", "version": "v1"}, "is not a feature environment's name"),
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
