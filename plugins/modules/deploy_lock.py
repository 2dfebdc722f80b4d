#!/usr/bin/python
# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: deploy_lock
short_description: Acquire, renew or release an environment's deployment lock, a DynamoDB item with a lease
version_added: 0.1.0
description:
  - One lock per environment, in the lock table the C(stageflow.aws.deployment_state) role creates. It stores the
    owner (the person or pipeline), the AWS identity that took it (the caller's ARN, from sts:GetCallerIdentity), the
    purpose, the lock id, when it was acquired and when its lease expires.
  - Acquiring uses a conditional write, so of two runs at once exactly one gets the lock; the other fails, naming who
    holds it and since when. A lease that has expired counts as free, so a killed run cannot block forever.
  - Leases are judged by DynamoDB's clock (the Date of its answer), never the controller's, so a controller whose clock
    is wrong can neither take a live lock nor cut its own lease short.
  - With O(records_table), acquiring is also refused while the newest deploy, promote or rollback record there is still
    C(started) - an interrupted release, which C(playbooks/abort.yml) must close first.
  - Renewing extends the lease of a lock this run holds. Releasing deletes it only if this run holds it.
  - O(force=true) releases a lock whoever holds it; it needs a O(reason), which is recorded in O(records_table).
author:
  - Stageflow engineers (@stageflow)
options:
  table:
    description: The lock table.
    type: str
    required: true
  environment:
    description: The environment whose lock this is.
    type: str
    required: true
  state:
    description:
      - C(acquired), C(renewed) or C(released).
      - C(resumed) tells the release that holds the lock, paused after a canary step (C(canary_pauses)), to go on;
        it fails when no release is paused, and changes nothing else.
    type: str
    choices: [acquired, renewed, released, resumed]
    default: acquired
  lock_id:
    description:
      - Identifies this run's hold. Required to renew or to release without force. When acquiring, reusing the id
        of a lock already held makes the call idempotent.
    type: str
  owner:
    description:
      - Who takes the lock - the person or pipeline, as shown to others (the inventory's C(stageflow_actor)).
      - Empty for the C(stageflow.aws.actor) lookup's answer here - a GitHub Actions run, else the local user and host.
      - The AWS identity is not an option - the module asks STS who its credentials are.
    type: str
    default: ""
  purpose:
    description: What the lock is for, as shown to others.
    type: str
    default: ""
  lease_seconds:
    description: How long the lock holds without renewal.
    type: int
    default: 1800
  force:
    description: Release the lock whoever holds it. Needs O(reason).
    type: bool
    default: false
  reason:
    description: Why a lock is force-released; recorded.
    type: str
    default: ""
  records_table:
    description:
      - The deployment records table. A forced release is recorded there (with O(owner), O(reason) and the AWS
        identity); acquiring (without O(take_over)) is refused while its newest release record is open.
    type: str
  take_over:
    description:
      - When acquiring, the lock id of the release run (purpose C(deploy), C(promote) or C(rollback)) whose lock to
        take over, whether or not its lease runs - what an abort does, naming the holder it read. Fails when the lock
        is held by anyone else by then. The run it takes the lock from finds it gone at its next look and stops.
        Never takes the lock of another kind of run (a provision, an abort). Also skips the open-release refusal.
    type: str
  missing_table:
    description:
      - C(ignore) treats a lock table that does not exist as "no lock" and changes nothing (an environment being
        created, whose lock table is built later in the same run, or removed), and a missing O(records_table) as no
        records; C(fail) fails.
    type: str
    choices: [fail, ignore]
    default: fail
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Supports check mode - it reads the lock and says what would happen - and diff (the lock before and after).
"""

EXAMPLES = r"""
- name: Lock prod for this promotion
  stageflow.aws.deploy_lock:
    table: prod-webshop-deploy-locks
    environment: prod
    lock_id: "{{ promotion_id }}"
    owner: "{{ stageflow_actor }}"
    purpose: promote staging -> prod
    lease_seconds: 3600

- name: Free prod after a killed run
  stageflow.aws.deploy_lock:
    table: prod-webshop-deploy-locks
    environment: prod
    state: released
    force: true
    reason: run 20261126T101500 was killed with its host
    records_table: prod-webshop-deployments
"""

RETURN = r"""
lock:
  description: The lock as it is after the call (empty when released).
  returned: always
  type: dict
  sample: {"environment": "prod", "lock_id": "p-20261126", "owner": "awx:alice (job 42)",
    "aws_identity": "arn:aws:sts::123456789012:assumed-role/stageflow-deployer/awx-42", "purpose": "promote",
    "acquired_at": "2026-11-26T10:15:00.000000Z", "expires_at": 1795000000}
previous:
  description: The lock before the call (empty when there was none).
  returned: always
  type: dict
open_release:
  description: The interrupted release that refused the lock (when acquiring with O(records_table)), else empty.
  returned: always
  type: dict
table_exists:
  description: Whether the lock table exists (false only with O(missing_table=ignore)).
  returned: always
  type: bool
"""

import datetime
import uuid

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.stageflow.aws.plugins.module_utils._dynamodb import state as st
from ansible_collections.stageflow.aws.plugins.module_utils._sts import api as sts
from ansible_collections.stageflow.aws.plugins.module_utils.actor import actor

RELEASE_PURPOSE = ("deploy ", "promote ", "rollback ")


def lock_item(params, env, now, aws_identity):
    """The lock as written: who holds it (the person or pipeline, and the AWS identity), why, since and until when."""
    return {
        "environment": env,
        "lock_id": params["lock_id"] or str(uuid.uuid4()),
        "owner": params["owner"] or actor(),
        "aws_identity": aws_identity,
        "purpose": params["purpose"],
        "acquired_at": st.iso(datetime.datetime.fromtimestamp(now, datetime.timezone.utc)),
        "expires_at": int(now + params["lease_seconds"]),
    }


def force_release_record(params, env, previous, started_at, now, aws_identity):
    """The record of a forced release: who freed the lock (person or pipeline, AWS identity), why, and the lock."""
    return {
        "environment": env,
        "started_at": started_at,
        "id": f"force-release-{uuid.uuid4().hex[:8]}",
        "kind": "force-release",
        "outcome": "released",
        "who": params["owner"] or actor(),
        "aws_identity": aws_identity,
        "reason": params["reason"],
        "released_lock": previous,
        "expires_at": int(now + 400 * 86400),
    }


def acquire(module, table, records, env, previous, clock, result):
    p = module.params
    now = clock.now()
    held = st.is_held(previous, now)
    ours = held and previous.get("lock_id") == p["lock_id"]
    take_over = None
    if held and not ours:
        if not p["take_over"]:
            module.fail_json(msg=st.held_message(env, previous), **result)
        if previous.get("lock_id") != p["take_over"]:
            module.fail_json(
                msg=f"the lock changed hands since {p['take_over']} was seen: {st.held_message(env, previous)}",
                **result,
            )
        if not str(previous.get("purpose", "")).startswith(RELEASE_PURPOSE):
            module.fail_json(msg=f"not a release's lock, so not taken over: {st.held_message(env, previous)}", **result)
        take_over = previous.get("lock_id")
    elif (
        p["take_over"]
        and previous
        and previous.get("lock_id") == p["take_over"]
        and str(previous.get("purpose", "")).startswith(RELEASE_PURPOSE)
    ):
        # The named release lock's lease ran out, its run dead or late renewing it: taken over by its id all the same,
        # so that a renewal between this read and the write does not refuse the abort (the write's condition names it).
        take_over = previous.get("lock_id")
    if records is not None and not p["take_over"]:
        try:
            interrupted = st.open_release(records, env)
        except is_boto3_error_code("ResourceNotFoundException"):
            if p["missing_table"] != "ignore":
                raise
            interrupted = None  # a half-built or half-removed environment: no records table, no release
        if interrupted and interrupted.get("id") != p["lock_id"]:
            result["open_release"] = interrupted
            module.fail_json(msg=st.open_message(env, interrupted), **result)
    if ours:
        return
    item = lock_item(p, env, now, sts.caller_arn(module))
    if previous:
        item["took_over_expired" if not take_over else "took_over"] = previous.get("lock_id", "")
    if not module.check_mode:
        st.acquire(table, item, int(now), take_over)
    result.update(changed=True, lock=item)


def force_release(module, table, env, previous, clock, result):
    p = module.params
    if not previous:
        return
    if not module.check_mode:
        aws_identity = sts.caller_arn(module) if p["records_table"] else ""  # read before anything is deleted
        st.force_release(table, env)
        if p["records_table"]:
            record = force_release_record(p, env, previous, st.iso(st.utcnow()), clock.now(), aws_identity)
            st.put_record(module.resource("dynamodb").Table(p["records_table"]), record)
    result.update(changed=True, lock={})


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            table=dict(type="str", required=True),
            environment=dict(type="str", required=True),
            state=dict(type="str", choices=["acquired", "renewed", "released", "resumed"], default="acquired"),
            lock_id=dict(type="str"),
            owner=dict(type="str", default=""),
            purpose=dict(type="str", default=""),
            lease_seconds=dict(type="int", default=1800),
            force=dict(type="bool", default=False),
            reason=dict(type="str", default=""),
            records_table=dict(type="str"),
            take_over=dict(type="str"),
            missing_table=dict(type="str", choices=["fail", "ignore"], default="fail"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["lease_seconds"] < 1:
        module.fail_json(msg=f"lease_seconds must be at least 1, got {p['lease_seconds']}")
    if p["force"] and (p["state"] != "released" or not p["reason"].strip()):
        module.fail_json(msg="force=true releases a lock and needs a reason: set state=released and reason")
    if p["state"] == "renewed" and not p["lock_id"]:
        module.fail_json(msg="renewing needs the lock_id the lock was acquired with")
    if p["state"] == "released" and not p["force"] and not p["lock_id"]:
        module.fail_json(msg="releasing needs the lock_id it was acquired with, or force=true with a reason")
    if p["take_over"] and p["state"] != "acquired":
        module.fail_json(msg="take_over applies to acquiring: set state=acquired")
    dynamodb = module.resource("dynamodb")
    table = dynamodb.Table(p["table"])
    records = dynamodb.Table(p["records_table"]) if p["records_table"] and p["state"] == "acquired" else None
    env = p["environment"]
    clock = st.Clock()
    result = {"previous": {}, "changed": False, "lock": {}, "open_release": {}, "table_exists": True}
    try:
        try:
            previous = st.read_lock(table, env, clock) or {}
        except is_boto3_error_code("ResourceNotFoundException"):
            if p["missing_table"] != "ignore":
                raise
            result["table_exists"] = False
            module.exit_json(**result)
        held = st.is_held(previous, clock.now())
        result.update(previous=previous, lock=previous if held else {})
        if p["state"] == "acquired":
            acquire(module, table, records, env, previous, clock, result)
        elif p["state"] == "renewed":
            if previous.get("lock_id") != p["lock_id"]:
                module.fail_json(msg=st.renew_message(env, p["lock_id"], previous or None), **result)
            expires = int(clock.now() + p["lease_seconds"])
            if not module.check_mode:
                st.renew(table, env, p["lock_id"], expires)
            result.update(changed=True, lock={**previous, "expires_at": expires})
        elif p["state"] == "resumed":
            paused = previous.get("paused_percent")
            if not held or paused is None or previous.get("resumed_percent") == paused:
                what = f"{st.describe_holder(previous)}, not paused" if held else "free"
                module.fail_json(msg=f"no release of {env} is paused to resume: the lock is {what}", **result)
            if not module.check_mode:
                st.resume(table, env, previous)
            result.update(changed=True, lock={**previous, "resumed_percent": paused})
        elif p["force"]:
            force_release(module, table, env, previous, clock, result)
        elif previous:
            if previous.get("lock_id") != p["lock_id"]:
                if held:
                    module.fail_json(msg=st.release_message(env, p["lock_id"], previous), **result)
            else:
                if not module.check_mode:
                    st.release(table, env, p["lock_id"])
                result.update(changed=True, lock={})
    except st.StateError as exc:
        module.fail_json(msg=str(exc), **result)
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg=f"the deployment lock of {env} in {p['table']} could not be read or written")
    if module._diff:
        result["diff"] = {"before": result["previous"], "after": result["lock"]}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
