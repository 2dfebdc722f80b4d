"""The filters that turn awx/vars/controller.yml into awx.awx's shapes."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.stageflow.aws.plugins.filter import awx

WORKFLOW = {
    "nodes": [
        {"identifier": "a", "template": "T", "extra_data": {"source": "dev"}, "success": ["gate"], "failure": ["r"]},
        {"identifier": "gate", "approval": {"name": "Approve", "timeout": 60}, "success": ["b"]},
        {"identifier": "b", "template": "U"},
        {"identifier": "r", "template": "R"},
    ]
}


def test_survey_spec_gives_every_question_the_same_keys() -> None:
    spec = awx.awx_survey_spec(
        {
            "name": "T",
            "survey": [
                {
                    "variable": "env",
                    "question_name": "Env",
                    "type": "multiplechoice",
                    "choices": ["dev"],
                    "default": "dev",
                },
                {"variable": "v", "question_name": "V", "type": "text", "required": True, "min": 1, "max": 9},
            ],
        }
    )
    assert spec["name"] == "T" and spec["description"] == ""
    first, second = spec["spec"]
    assert first == {
        "question_name": "Env",
        "question_description": "",
        "required": False,
        "type": "multiplechoice",
        "variable": "env",
        "default": "dev",
        "choices": ["dev"],
    }
    assert (second["min"], second["max"], second["default"], second["required"]) == (1, 9, "", True)
    assert awx.awx_survey_spec({"name": "no survey"}) == {}


def test_survey_spec_refuses_a_default_outside_the_choices_and_missing_keys() -> None:
    bad = {"variable": "env", "question_name": "Env", "type": "multiplechoice", "choices": ["dev"], "default": "prod"}
    with pytest.raises(AnsibleFilterError, match="defaults to 'prod', which is not one of its choices"):
        awx.awx_survey_spec({"name": "T", "survey": [bad]})
    with pytest.raises(AnsibleFilterError, match="lacks question_name, type"):
        awx.awx_survey_spec({"name": "T", "survey": [{"variable": "x"}]})


def test_workflow_nodes_keep_job_nodes_and_every_edge() -> None:
    nodes = {n["identifier"]: n for n in awx.awx_workflow_nodes(WORKFLOW, "Org")}
    assert set(nodes) == {"a", "b", "r"}  # the approval node is applied on its own
    assert nodes["a"]["unified_job_template"] == {"name": "T", "type": "job_template", "organization": {"name": "Org"}}
    assert nodes["a"]["extra_data"] == {"source": "dev"}
    assert nodes["a"]["related"] == {
        "success_nodes": [{"identifier": "gate"}],
        "failure_nodes": [{"identifier": "r"}],
        "always_nodes": [],
    }


def test_workflow_nodes_refuse_an_edge_to_an_unknown_node() -> None:
    broken = {"nodes": [{"identifier": "a", "template": "T", "success": ["nowhere"]}]}
    with pytest.raises(AnsibleFilterError, match=r"node 'a' leads to unknown node\(s\) \['nowhere'\]"):
        awx.awx_workflow_nodes(broken, "Org")
