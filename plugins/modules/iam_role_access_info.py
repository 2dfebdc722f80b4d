#!/usr/bin/python
# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: iam_role_access_info
short_description: Read an IAM role's policies and say whether they allow given actions on given resources
version_added: 0.1.0
description:
  - Reads a role's inline policies and the default versions of its attached managed policies, and evaluates, for each
    of O(checks), whether those identity-based policies allow the action on the resource (an explicit Deny wins;
    wildcards in actions and resources are honoured; conditions are not evaluated but reported).
  - Permissions boundaries, SCPs and resource policies are not read, so C(allowed=false) is certain and
    C(allowed=true) is necessary but not sufficient.
  - Makes only read calls (iam:GetRole, ListRolePolicies, GetRolePolicy, ListAttachedRolePolicies, GetPolicy,
    GetPolicyVersion). Used by C(playbooks/preflight.yml) to find a task execution role that cannot read its secrets.
author:
  - Stageflow engineers (@stageflow)
options:
  name:
    description: The role's name.
    type: str
    required: true
  checks:
    description: The actions to evaluate, each on one resource ARN.
    type: list
    elements: dict
    default: []
    suboptions:
      action:
        description: An IAM action, like C(secretsmanager:GetSecretValue).
        type: str
        required: true
      resource:
        description: The ARN the action acts on.
        type: str
        required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: May dev's task execution role read the database secret?
  stageflow.aws.iam_role_access_info:
    name: dev-webshop-cluster-task-execution
    checks:
      - action: secretsmanager:GetSecretValue
        resource: arn:aws:secretsmanager:us-east-1:123456789012:secret:stageflow/dev/webshop/database-AbCdEf
  register: execution_role
"""

RETURN = r"""
exists:
  description: Whether the role exists.
  returned: always
  type: bool
arn:
  description: The role's ARN.
  returned: when the role exists
  type: str
  sample: arn:aws:iam::123456789012:role/dev-webshop-cluster-task-execution
policies:
  description: The role's policies, with C(kind) (inline or managed), C(name), C(arn) (managed ones) and C(document).
  returned: always
  type: list
  elements: dict
access:
  description:
    - One answer per check, with C(action), C(resource), C(allowed), C(allowed_by) and C(denied_by) (the statements
      that decided, as C(policy[Sid or index])) and C(conditional) (an allowing statement has a condition).
  returned: always
  type: list
  elements: dict
  sample: [{"action": "secretsmanager:GetSecretValue", "resource": "arn:aws:secretsmanager:...", "allowed": false,
    "allowed_by": [], "denied_by": [], "conditional": false}]
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.stageflow.aws.plugins.module_utils._iam import access, api


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            checks=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(action=dict(type="str", required=True), resource=dict(type="str", required=True)),
            ),
        ),
        supports_check_mode=True,
    )
    name = module.params["name"]
    iam = module.client("iam")
    try:
        role = api.get_role(iam, name)
    except is_boto3_error_code("NoSuchEntity"):
        module.exit_json(changed=False, exists=False, policies=[], access=[])
    except (BotoCoreError, ClientError) as exc:  # pylint: disable=duplicate-except
        module.fail_json_aws(exc, msg=f"the role {name} could not be read")
    try:
        policies = api.inline_policies(iam, name) + api.attached_policies(iam, name)
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg=f"the policies of the role {name} could not be read")
    answers = [access.evaluate(policies, check["action"], check["resource"]) for check in module.params["checks"]]
    module.exit_json(changed=False, exists=True, arn=role["Arn"], policies=policies, access=answers)


if __name__ == "__main__":
    main()
