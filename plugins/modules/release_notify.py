#!/usr/bin/python
# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: release_notify
short_description: Tell people about a release event - a Slack-compatible webhook and, optionally, an SNS topic
version_added: 0.2.0
description:
  - Sends one release event (started, a traffic step, paused for approval, succeeded, failed with what was restored,
    rolled back, aborted, waiting for approval) to a webhook with a Slack-compatible body - C(text), an attachment
    with the environment, the release, each service's images before and after, what was restored and the report's
    link, and C(metadata) with the event as data - and, with O(sns_topic_arn), to an SNS topic as JSON.
  - Each destination is tried once, within O(timeout) seconds (a hard deadline for the webhook's whole request; no
    retry for SNS and Secrets Manager). A webhook or topic that is down, slow, refuses or answers garbage is never an
    error - the result lists it in RV(missed), which the release records and reports once.
  - The webhook URL is a secret - given as O(webhook_url) (from Ansible Vault) or read from Secrets Manager
    (O(webhook_secret)) - and never shown, in the result or in any message; errors name its host only.
author:
  - Stageflow engineers (@stageflow)
options:
  event:
    description: What happened.
    type: str
    required: true
    choices: [started, step, paused, succeeded, failed, rolled back, aborted, approval]
  release:
    description:
      - The release, as its record has it - id, kind, note, who, source, target (or environment), strategy, services
        (each with images before and after), steps, restored, failure, duration_seconds, report_url; for a step,
        C(step) with percent, passed and seconds; for an abort, reason.
    type: dict
    required: true
  webhook_url:
    description: The webhook to POST to (https). A secret - keep it in Ansible Vault.
    type: str
  webhook_secret:
    description:
      - A Secrets Manager secret (name or ARN) holding the webhook URL - its text, or JSON with C(url). Read at each
        call; used when O(webhook_url) is not given.
    type: str
  sns_topic_arn:
    description: An SNS topic to publish the event to as well.
    type: str
  timeout:
    description: Seconds each destination may take (0.5..30).
    type: float
    default: 5
  skip_webhook:
    description: Do not try the webhook - it missed an earlier event of this release; the event is listed as missed.
    type: bool
    default: false
notes:
  - In check mode nothing is sent; the result says what would be.
  - Never changes anything in AWS - C(changed) is always false.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Tell the team the release started
  stageflow.aws.release_notify:
    event: started
    release: {id: promote-prod-20261128T101500-01234, kind: promote, note: staging -> prod, source: staging,
              target: prod, who: alice}
    webhook_secret: stageflow/notifications/webhook
    sns_topic_arn: arn:aws:sns:us-east-1:123456789012:prod-webshop-alerts
  register: notified
"""

RETURN = r"""
event:
  description: The event.
  returned: always
  type: str
text:
  description: The message's text, as people read it.
  returned: always
  type: str
  sample: ":rocket: promote staging -> prod from staging to prod started by alice"
delivered:
  description: Where it was delivered (webhook, sns).
  returned: always
  type: list
  elements: str
missed:
  description: Where it was not, and why (the webhook's host only, never its URL).
  returned: always
  type: list
  elements: dict
  sample: [{"to": "webhook", "why": "the webhook at hooks.slack.com could not be reached within 5s (timeout)"}]
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.stageflow.aws.plugins.module_utils import notify


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            event=dict(type="str", required=True, choices=list(notify.EVENTS)),
            release=dict(type="dict", required=True),
            webhook_url=dict(type="str", no_log=True),
            webhook_secret=dict(type="str", no_log=False),
            sns_topic_arn=dict(type="str"),
            timeout=dict(type="float", default=5.0),
            skip_webhook=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not 0.5 <= p["timeout"] <= 30:
        module.fail_json(msg=f"timeout must be 0.5 to 30 seconds, got {p['timeout']:g}")
    url = p["webhook_url"] or ""
    if url:
        try:
            notify.check_url(url)
        except ValueError as exc:
            module.fail_json(msg=f"webhook_url: {exc}")
    if module.check_mode:
        text = notify.body(p["event"], p["release"])["text"]
        module.exit_json(changed=False, event=p["event"], text=text, delivered=[], missed=[])
    result = notify.send(
        module.client,
        p["event"],
        p["release"],
        webhook_url=url,
        webhook_secret=p["webhook_secret"] or "",
        sns_topic_arn=p["sns_topic_arn"] or "",
        timeout=p["timeout"],
        skip_webhook=p["skip_webhook"],
    )
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
