#!/usr/bin/python
# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: cloudwatch_dashboard
short_description: Create, update or delete a CloudWatch dashboard
version_added: 0.1.0
description:
  - Puts a CloudWatch dashboard when its body differs from the live one, compared as JSON (key order and formatting do
    not count), and deletes it when absent. neither amazon.aws nor community.aws manage dashboards.
author:
  - Stageflow engineers (@stageflow)
options:
  name:
    description: The dashboard's name.
    type: str
    required: true
  widgets:
    description: The dashboard's widgets, as in the dashboard body's C(widgets) list.
    type: list
    elements: dict
    default: []
  state:
    description: Whether the dashboard exists.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Dashboard of prod
  stageflow.aws.cloudwatch_dashboard:
    name: prod-webshop
    widgets:
      - type: metric
        properties:
          title: Request count
          metrics: [["AWS/ApplicationELB", "RequestCount", "LoadBalancer", "app/prod-webshop-alb/0123"]]
          region: us-east-1
          period: 300
"""

RETURN = r"""
dashboard:
  description: The dashboard's name and body after the run.
  returned: always
  type: dict
  sample: {"name": "prod-webshop", "body": {"widgets": []}}
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.stageflow.aws.plugins.module_utils._cloudwatch import api


def run(module, client):
    name = module.params["name"]
    before = api.get_dashboard(client, name)
    if module.params["state"] == "absent":
        if before is not None and not module.check_mode:
            api.delete_dashboard(client, name)
        return before is not None, before, None
    after = {"widgets": module.params["widgets"]}
    if before == after:
        return False, before, after
    if not module.check_mode:
        api.put_dashboard(client, name, after)
    return True, before, after


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            widgets=dict(type="list", elements="dict", default=[]),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        supports_check_mode=True,
    )
    client = module.client("cloudwatch")
    try:
        changed, before, after = run(module, client)
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg=f"CloudWatch dashboard {module.params['name']} could not be read or written")
    result = {"changed": changed, "dashboard": {"name": module.params["name"], "body": after}}
    if module._diff:
        result["diff"] = {"before": before or {}, "after": after or {}}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
