#!/usr/bin/python
# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: deployment_record_info
short_description: List an environment's deployment history, newest first
version_added: 0.1.0
description:
  - Reads the records M(stageflow.aws.deployment_record) wrote for an environment, newest first.
author:
  - Stageflow engineers (@stageflow)
options:
  table:
    description: The records table.
    type: str
    required: true
  environment:
    description: The environment.
    type: str
    required: true
  id:
    description: Only the record with this id.
    type: str
  kinds:
    description: Only records of these kinds (deploy, promote, rollback, abort, force-release).
    type: list
    elements: str
    default: []
  outcomes:
    description: Only records with these outcomes (succeeded, rolled back, failed, aborted, started).
    type: list
    elements: str
    default: []
  limit:
    description: At most this many records (after filtering); 0 for all.
    type: int
    default: 20
  lock_table:
    description:
      - The environment's lock table. When given, the lock is returned (while its lease runs, by DynamoDB's clock) and
        each C(started) record says whether it is C(interrupted) - its run no longer holds the lock - or in progress.
    type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The last five successful releases of prod
  stageflow.aws.deployment_record_info:
    table: prod-webshop-deployments
    environment: prod
    outcomes: [succeeded]
    limit: 5
  register: prod_history
"""

RETURN = r"""
records:
  description:
    - The records, newest first, as M(stageflow.aws.deployment_record) wrote them.
    - Each names the person or pipeline in C(who) and the AWS identity (the caller's ARN) in C(aws_identity); records
      written before Stageflow kept the identity have no C(aws_identity).
  returned: always
  type: list
  elements: dict
  sample: [{"id": "deploy-dev-20261127T101500-01234", "kind": "deploy", "outcome": "succeeded", "who": "alice@build1",
    "aws_identity": "arn:aws:sts::123456789012:assumed-role/stageflow-deployer/alice"}]
lock:
  description: With O(lock_table), the environment's lock while its lease runs; empty when free.
  returned: always
  type: dict
lock_seen:
  description:
    - With O(lock_table), the environment's lock item as stored, also when its lease has run out (a live run that is
      late renewing it looks so for a moment); empty when there is none.
    - What an abort takes over by its id, so that it stops a late run rather than racing it.
  returned: always
  type: dict
  version_added: 0.2.0
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.stageflow.aws.plugins.module_utils._dynamodb import state as st


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            table=dict(type="str", required=True),
            environment=dict(type="str", required=True),
            id=dict(type="str"),
            kinds=dict(type="list", elements="str", default=[]),
            outcomes=dict(type="list", elements="str", default=[]),
            limit=dict(type="int", default=20),
            lock_table=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    lock, seen = {}, {}
    try:
        records = st.query_records(module.resource("dynamodb").Table(p["table"]), p["environment"], 0)
        if p["lock_table"]:
            clock = st.Clock()
            seen = st.read_lock(module.resource("dynamodb").Table(p["lock_table"]), p["environment"], clock) or {}
            lock = seen if st.is_held(seen, clock.now()) else {}
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg=f"the history of {p['environment']} could not be read from {p['table']}")
    if p["lock_table"]:
        for record in records:
            if record.get("outcome") == "started":
                record["interrupted"] = lock.get("lock_id") != record.get("id")
    records = [
        r
        for r in records
        if (not p["id"] or r.get("id") == p["id"])
        and (not p["kinds"] or r.get("kind") in p["kinds"])
        and (not p["outcomes"] or r.get("outcome") in p["outcomes"])
    ]
    module.exit_json(changed=False, records=records[: p["limit"]] if p["limit"] else records, lock=lock, lock_seen=seen)


if __name__ == "__main__":
    main()
