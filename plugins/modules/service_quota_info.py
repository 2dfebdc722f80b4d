#!/usr/bin/python
# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: service_quota_info
short_description: Read the account's service quotas, saying which could not be read
version_added: 0.1.0
description:
  - Reads each quota as applied to the account (Service Quotas' GetServiceQuota), or its AWS default where no applied
    value exists (GetAWSDefaultServiceQuota).
  - A quota the API refuses (no permission, a service or quota it does not know, a region without Service Quotas) is
    returned with C(readable=false) and the error's code and message, never as a missing or zero quota; the module
    itself fails only on bad arguments.
  - Makes only read calls. Used by C(playbooks/preflight.yml).
author:
  - Stageflow engineers (@stageflow)
options:
  quotas:
    description: The quotas to read.
    type: list
    elements: dict
    required: true
    suboptions:
      service_code:
        description: The service's code in Service Quotas, like C(vpc), C(ec2) or C(elasticloadbalancing).
        type: str
        required: true
      quota_code:
        description: The quota's code, like C(L-F678F1CE) (VPCs per Region).
        type: str
        required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Read the VPC, Elastic IP and Application Load Balancer quotas
  stageflow.aws.service_quota_info:
    quotas:
      - {service_code: vpc, quota_code: L-F678F1CE}
      - {service_code: ec2, quota_code: L-0263D0A3}
      - {service_code: elasticloadbalancing, quota_code: L-53DA6B97}
  register: quotas
"""

RETURN = r"""
quotas:
  description:
    - One entry per requested quota, in order, with C(service_code), C(quota_code), C(readable), and either C(name),
      C(value), C(adjustable) and C(source) (C(applied) or C(default)), or C(reason) (why it could not be read).
  returned: always
  type: list
  elements: dict
  sample:
    - {"service_code": "vpc", "quota_code": "L-F678F1CE", "readable": true, "name": "VPCs per Region", "value": 5.0,
       "adjustable": true, "source": "applied"}
    - {"service_code": "ec2", "quota_code": "L-0263D0A3", "readable": false,
       "reason": "AccessDeniedException: not authorized to perform servicequotas:GetServiceQuota"}
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.stageflow.aws.plugins.module_utils._servicequotas import api


def describe_error(exc):
    """The error's code and the first line of its message (an endpoint that lacks the API may answer a web page)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code, message = str(error.get("Code") or status), str(error.get("Message") or "")
        code = f"HTTP {code}" if code.isdigit() else code
        if message.lstrip().startswith("<"):
            message = "not an AWS error answer (the endpoint may lack the call)"
    else:
        code, message = type(exc).__name__, str(exc)
    first = message.strip().splitlines()[0] if message.strip() else ""
    return f"{code}: {first[:160]}" if first else code


def read_quota(client, service_code, quota_code):
    entry = {"service_code": service_code, "quota_code": quota_code}
    try:
        try:
            quota, source = api.get_service_quota(client, service_code, quota_code), "applied"
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchResourceException":
                raise
            quota, source = api.get_default_service_quota(client, service_code, quota_code), "default"
    except (BotoCoreError, ClientError) as exc:
        return {**entry, "readable": False, "reason": describe_error(exc)}
    return {
        **entry,
        "readable": True,
        "name": quota.get("QuotaName", ""),
        "value": quota.get("Value"),
        "adjustable": quota.get("Adjustable"),
        "source": source,
    }


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            quotas=dict(
                type="list",
                elements="dict",
                required=True,
                options=dict(service_code=dict(type="str", required=True), quota_code=dict(type="str", required=True)),
            ),
        ),
        supports_check_mode=True,
    )
    client = module.client("service-quotas")
    quotas = [read_quota(client, q["service_code"], q["quota_code"]) for q in module.params["quotas"]]
    module.exit_json(changed=False, quotas=quotas)


if __name__ == "__main__":
    main()
