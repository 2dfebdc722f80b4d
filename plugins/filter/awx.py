# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of awx/configure.yml: Stageflow's AWX data (awx/vars/controller.yml) in the shapes awx.awx takes."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

EDGES = ("success", "failure", "always")
QUESTION_KEYS = ("question_name", "question_description", "required", "type", "variable", "default")


def awx_survey_spec(template):
    """The survey_spec of a job template: every question with the same keys, as the controller stores it."""
    spec = []
    for question in template.get("survey") or []:
        missing = [key for key in ("variable", "question_name", "type") if key not in question]
        if missing:
            name = template.get("name")
            raise AnsibleFilterError(f"awx_survey_spec: a question of {name!r} lacks {', '.join(missing)}")
        item = {key: question.get(key, "" if key != "required" else False) for key in QUESTION_KEYS}
        if question["type"] == "multiplechoice":
            item["choices"] = list(question.get("choices") or [])
            if item["default"] not in item["choices"]:
                raise AnsibleFilterError(
                    f"awx_survey_spec: {question['variable']} of {template.get('name')!r} defaults to "
                    f"{item['default']!r}, which is not one of its choices {item['choices']}"
                )
        if question["type"] in ("text", "integer"):
            item["min"], item["max"] = question.get("min"), question.get("max")
        spec.append(item)
    return {"name": template.get("name", ""), "description": "", "spec": spec} if spec else {}


def awx_workflow_nodes(workflow, organization):
    """The workflow_nodes option of awx.awx.workflow_job_template for the job-template nodes of a workflow.

    Approval nodes are left out: awx.awx.workflow_job_template compares an approval template with fields it does not
    have and reports a change on every run, so configure.yml creates them with awx.awx.workflow_job_template_node.
    Edges to them are kept (they are looked up by identifier).
    """
    identifiers = {node["identifier"] for node in workflow.get("nodes", [])}
    nodes = []
    for node in workflow.get("nodes", []):
        for edge in EDGES:
            unknown = set(node.get(edge, [])) - identifiers
            if unknown:
                raise AnsibleFilterError(
                    f"awx_workflow_nodes: node {node['identifier']!r} leads to unknown node(s) {sorted(unknown)}"
                )
        if "approval" in node:
            continue
        nodes.append(
            {
                "identifier": node["identifier"],
                "unified_job_template": {
                    "name": node["template"],
                    "type": "job_template",
                    "organization": {"name": organization},
                },
                "extra_data": dict(node.get("extra_data") or {}),
                "related": {
                    f"{edge}_nodes": [{"identifier": target} for target in node.get(edge, [])] for edge in EDGES
                },
            }
        )
    return nodes


class FilterModule:
    def filters(self):
        return {"awx_survey_spec": awx_survey_spec, "awx_workflow_nodes": awx_workflow_nodes}
