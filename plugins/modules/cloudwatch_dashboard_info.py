#!/usr/bin/python
# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: cloudwatch_dashboard_info
short_description: Read CloudWatch dashboards and their bodies
version_added: 0.1.0
description:
  - Lists the CloudWatch dashboards whose names start with a prefix, or the named ones, with their bodies parsed from
    JSON. The counterpart of M(stageflow.aws.cloudwatch_dashboard), for checks and reports.
author:
  - Stageflow engineers (@stageflow)
options:
  names:
    description: Dashboards to read. A name that does not exist is left out of the result.
    type: list
    elements: str
    default: []
  prefix:
    description: Read every dashboard whose name starts with this. Ignored when O(names) is given.
    type: str
    default: ""
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Read prod's dashboard
  stageflow.aws.cloudwatch_dashboard_info:
    names: [prod-webshop]
  register: prod_dashboard
"""

RETURN = r"""
dashboards:
  description: The dashboards found, by name.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "prod-webshop", "body": {"widgets": []}}]
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.stageflow.aws.plugins.module_utils._cloudwatch import api


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            names=dict(type="list", elements="str", default=[]),
            prefix=dict(type="str", default=""),
        ),
        supports_check_mode=True,
    )
    client = module.client("cloudwatch")
    try:
        names = module.params["names"] or [
            entry["DashboardName"] for entry in api.list_dashboards(client, module.params["prefix"])
        ]
        found = [(name, api.get_dashboard(client, name)) for name in names]
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg="CloudWatch dashboards could not be read")
    module.exit_json(changed=False, dashboards=[{"name": n, "body": b} for n, b in found if b is not None])


if __name__ == "__main__":
    main()
