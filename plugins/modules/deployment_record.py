#!/usr/bin/python
# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: deployment_record
short_description: Write a deploy, promotion or rollback record to an environment's history
version_added: 0.1.0
description:
  - Puts one record in the deployment records table the C(stageflow.aws.deployment_state) role creates (hash key
    C(environment), range key C(started_at)). Writing the same record again (same environment and C(started_at))
    replaces it, so a record can be written when a run starts and completed at its end.
  - Every record names who made the change - C(who), the person or pipeline (the inventory's C(stageflow_actor); when
    the record has none, the C(stageflow.aws.actor) lookup's answer here), and C(aws_identity), the AWS identity that
    wrote it (the caller's ARN, from sts:GetCallerIdentity; not an option, so a record cannot claim another).
  - With O(lock), the record is written only while that lock is still this run's, its lease renewed first (one read
    and one conditional write); otherwise the module fails, writing nothing, and the lock's new holder (an abort)
    decides. What a separate C(deploy_lock state=renewed) task before the record did, in the same call.
author:
  - Stageflow engineers (@stageflow)
options:
  table:
    description: The records table.
    type: str
    required: true
  environment:
    description: The environment the record belongs to (the target of a promotion).
    type: str
    required: true
  record:
    description:
      - The record. It must have C(id), C(kind) (deploy, promote, rollback or abort), C(started_at) (ISO 8601 UTC) and
        C(outcome); by convention also C(who), C(source), C(target), C(services) (per service the task definitions
        and images before and after), C(snapshots), C(steps), C(finished_at) and C(duration_seconds).
      - Never put a secret in it - records are read by everyone who may read the history, and written as reports.
    type: dict
    required: true
  identity_field:
    description:
      - The record's field that gets the ARN of the AWS identity writing it - C(aborted_by_aws_identity) when an
        abort closes another run's release, whose C(aws_identity) stays as that run wrote it.
    type: str
    default: aws_identity
  retention_days:
    description: Days until DynamoDB's TTL removes the record.
    type: int
    default: 400
  report_dir:
    description:
      - Also write the record as C(<id>.json) into this directory, on the host the module runs on (the controller, for
        Stageflow's environments), making the directory when it is missing. One call instead of a file and a copy task.
      - A report that cannot be written is a warning, not a failure - the record, the history, is written first - so
        a release still unlocks.
    type: path
  release_lock:
    description:
      - After the record is written (and its report), release O(lock) - only while it is still this run's; a lock
        that is free, or another's whose lease ran out, is left alone. Fails, after writing the record, while another
        run holds the lock. A C(deploy_lock state=released) task in the same call.
    type: bool
    default: false
  replace_outcome:
    description:
      - Write only over the stored record of the same key and id whose outcome is this (C(started)), closing a
        release that nobody else - an abort - closed meanwhile. Fails, writing nothing, when it was.
    type: str
extends_documentation_fragment:
  - stageflow.aws.lease
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Supports check mode (nothing is written, neither the record nor the report, and no lock is renewed or released)
    and diff (the record written).
"""

EXAMPLES = r"""
- name: Record the promotion
  stageflow.aws.deployment_record:
    table: prod-webshop-deployments
    environment: prod
    record:
      id: "{{ promotion_id }}"
      kind: promote
      started_at: "{{ started_at }}"
      outcome: succeeded
      who: "{{ stageflow_actor }}"
      source: staging
      target: prod
    report_dir: "{{ playbook_dir }}/../reports"
"""

RETURN = r"""
record:
  description: The record as written, with C(aws_identity) (the caller's ARN) and C(who).
  returned: always
  type: dict
  sample: {"id": "promote-prod-20261127T101500-01234", "kind": "promote", "outcome": "succeeded",
    "who": "github:octocat (run https://github.com/example/stageflow/actions/runs/123)",
    "aws_identity": "arn:aws:sts::123456789012:assumed-role/stageflow-deployer/GitHubActions"}
lock_released:
  description: Whether O(release_lock) released this run's lock.
  returned: when release_lock is given
  type: bool
report:
  description: The report file written (or that check mode would write), when O(report_dir) is given.
  returned: when report_dir is given and the report could be written
  type: str
  sample: /srv/stageflow/reports/promote-prod-20261127T101500-01234.json
"""

import json
import os
import re
import tempfile
import time

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.stageflow.aws.plugins.module_utils._dynamodb import state as st
from ansible_collections.stageflow.aws.plugins.module_utils._sts import api as sts
from ansible_collections.stageflow.aws.plugins.module_utils.actor import actor

KINDS = ("deploy", "promote", "rollback", "abort")
REPORT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,200}")


def write_report(path: str, record: dict) -> None:
    """The record as indented JSON, written whole (a temporary file renamed into place), readable by all."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".report-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(record, out, indent=4, sort_keys=True, default=str)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def stamped(record: dict, environment: str, retention_days: int, aws_identity: str, identity_field: str) -> dict:
    """The record as written: its environment, its expiry, who made the change (a person or pipeline in `who`, and the
    AWS identity in `identity_field`)."""
    record = dict(record)
    record.update(environment=environment, expires_at=int(time.time() + retention_days * 86400))
    if not record.get("who"):
        record["who"] = actor()
    record[identity_field] = aws_identity
    return record


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            table=dict(type="str", required=True),
            environment=dict(type="str", required=True),
            record=dict(type="dict", required=True),
            retention_days=dict(type="int", default=400),
            report_dir=dict(type="path"),
            replace_outcome=dict(type="str"),
            identity_field=dict(type="str", default="aws_identity"),
            lock=st.LEASE_OPTION,
            release_lock=dict(type="bool", default=False),
        ),
        required_if=[("release_lock", True, ("lock",))],
        supports_check_mode=True,
    )
    p = module.params
    record = p["record"]
    missing = [k for k in ("id", "kind", "started_at", "outcome") if not record.get(k)]
    if missing:
        module.fail_json(msg=f"record needs {', '.join(missing)}")
    if record["kind"] not in KINDS:
        module.fail_json(msg=f"record kind {record['kind']!r} is not one of {', '.join(KINDS)}")
    if p["report_dir"] and not REPORT_NAME.fullmatch(str(record["id"])):
        module.fail_json(msg=f"record id {record['id']!r} cannot name a report file: letters, digits, _ . - only")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", p["identity_field"]):
        module.fail_json(msg=f"identity_field {p['identity_field']!r} is not a field name: a-z, 0-9 and _")
    try:
        aws_identity = sts.caller_arn(module)
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg=f"record {record['id']}: the AWS identity writing it could not be read")
    record = stamped(record, p["environment"], p["retention_days"], aws_identity, p["identity_field"])
    report = os.path.join(os.path.abspath(p["report_dir"]), f"{record['id']}.json") if p["report_dir"] else None
    result = {"changed": True, "record": record}
    if not module.check_mode:
        try:
            lease = st.lease_from(module, p["lock"])
            if lease:
                lease.keep()
            st.put_record(module.resource("dynamodb").Table(p["table"]), record, p["replace_outcome"])
        except st.StateError as exc:
            module.fail_json(msg=str(exc))
        except (BotoCoreError, ClientError) as exc:
            module.fail_json_aws(exc, msg=f"record {record['id']} could not be written to {p['table']}")
        if report:
            try:
                write_report(report, record)
            except OSError as exc:  # the record is the history; a report it cannot write must not stop the run
                module.warn(f"the record was written; its report {report} could not be: {exc}")
                report = None
        if p["release_lock"]:
            lock = p["lock"]
            try:
                table = module.resource("dynamodb").Table(lock["table"])
                result["lock_released"] = st.release_own(table, lock["environment"], lock["lock_id"])
            except st.StateError as exc:
                module.fail_json(msg=f"record {record['id']} was written; {exc}", **result)
            except (BotoCoreError, ClientError) as exc:
                module.fail_json_aws(exc, msg=f"record {record['id']} was written; the lock could not be released")
    elif p["release_lock"]:
        result["lock_released"] = False
    if report:
        result["report"] = report
    if module._diff:
        result["diff"] = {"before": {}, "after": record}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
