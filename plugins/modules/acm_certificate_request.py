#!/usr/bin/python
# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: acm_certificate_request
short_description: Request a DNS-validated ACM certificate, once
version_added: 0.1.0
description:
  - Requests an Amazon-issued certificate for a domain with DNS validation, or finds the one already requested for
    it with the same tags, and returns its ARN, status and the DNS records that validate it.
  - community.aws.acm_certificate only imports certificates; this module requests them.
author:
  - Stageflow engineers (@stageflow)
options:
  domain_name:
    description: The certificate's domain.
    type: str
    required: true
  subject_alternative_names:
    description: Other names on the certificate.
    type: list
    elements: str
    default: []
  tags:
    description:
      - Tags of the certificate; an existing certificate for the domain matches only when it carries all of them.
    type: dict
    default: {}
  state:
    description: Request (present) or delete (absent) the certificate.
    type: str
    choices: [present, absent]
    default: present
  wait_timeout:
    description:
      - Seconds to wait for the certificate to be ISSUED (after its validation records exist); 0 does not wait.
    type: int
    default: 0
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Request staging's certificate
  stageflow.aws.acm_certificate_request:
    domain_name: staging.webshop.com
    tags:
      Environment: staging
      ManagedBy: stageflow
  register: certificate
"""

RETURN = r"""
certificate_arn:
  description: The certificate's ARN; null when absent.
  returned: always
  type: str
  sample: arn:aws:acm:us-east-1:123456789012:certificate/8f2c
status:
  description: ACM's status of the certificate.
  returned: when present
  type: str
  sample: PENDING_VALIDATION
validation_records:
  description: The DNS records that validate the certificate (name, type, value).
  returned: when present
  type: list
  elements: dict
  sample: [{"name": "_x.staging.webshop.com.", "type": "CNAME", "value": "_y.acm-validations.aws."}]
"""

import time

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.stageflow.aws.plugins.module_utils._acm import api


def find(client, domain, tags):
    for summary in api.list_certificates(client):
        if summary.get("DomainName") != domain:
            continue
        arn = summary["CertificateArn"]
        current = api.list_tags(client, arn)
        if all(current.get(k) == v for k, v in tags.items()):
            return arn
    return None


def records_of(certificate):
    records = []
    for option in certificate.get("DomainValidationOptions", []):
        record = option.get("ResourceRecord")
        if record:
            records.append({"name": record["Name"], "type": record["Type"], "value": record["Value"]})
    return records


def run(module, client):
    params = module.params
    tags = {k: str(v) for k, v in params["tags"].items()}
    arn = find(client, params["domain_name"], tags)
    if params["state"] == "absent":
        if arn and not module.check_mode:
            api.delete_certificate(client, arn)
        return {
            "changed": bool(arn),
            "certificate_arn": None,
            "diff": {"before": {"certificate_arn": arn}, "after": {"certificate_arn": None}},
        }
    changed = arn is None
    if changed:
        if module.check_mode:
            return {
                "changed": True,
                "certificate_arn": None,
                "status": "NOT_REQUESTED",
                "validation_records": [],
                "diff": {"before": {}, "after": {"domain_name": params["domain_name"]}},
            }
        arn = api.request_certificate(client, params["domain_name"], params["subject_alternative_names"], tags)
    certificate = api.describe_certificate(client, arn)
    deadline = time.monotonic() + params["wait_timeout"]
    while certificate.get("Status") != "ISSUED" and time.monotonic() < deadline:
        time.sleep(5)
        certificate = api.describe_certificate(client, arn)
    if params["wait_timeout"] and certificate.get("Status") != "ISSUED":
        module.fail_json(
            msg=f"certificate {arn} for {params['domain_name']} is {certificate.get('Status')} after "
            f"{params['wait_timeout']}s; create its validation records and wait longer",
            certificate_arn=arn,
            validation_records=records_of(certificate),
        )
    return {
        "changed": changed,
        "certificate_arn": arn,
        "status": certificate.get("Status"),
        "validation_records": records_of(certificate),
        "diff": {"before": {} if changed else {"certificate_arn": arn}, "after": {"certificate_arn": arn}},
    }


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            domain_name=dict(type="str", required=True),
            subject_alternative_names=dict(type="list", elements="str", default=[]),
            tags=dict(type="dict", default={}),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            wait_timeout=dict(type="int", default=0),
        ),
        supports_check_mode=True,
    )
    client = module.client("acm")
    try:
        result = run(module, client)
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg=f"ACM call failed for {module.params['domain_name']}")
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
