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
    owner, the purpose, the lock id, when it was acquired and when its lease expires.
  - Acquiring uses a conditional write, so of two runs at once exactly one gets the lock; the other fails, naming who
    holds it and since when. A lease that has expired counts as free, so a killed run cannot block forever.
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
    description: C(acquired), C(renewed) or C(released).
    type: str
    choices: [acquired, renewed, released]
    default: acquired
  lock_id:
    description:
      - Identifies this run's hold. Required to renew or to release without force. When acquiring, reusing the id
        of a lock already held makes the call idempotent.
    type: str
  owner:
    description: Who takes the lock, as shown to others (a user, an AWX job).
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
    description: The deployment records table, where a forced release is recorded.
    type: str
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
    table: prod-movie-app-deploy-locks
    environment: prod
    lock_id: "{{ promotion_id }}"
    owner: "{{ lookup('env', 'USER') }}"
    purpose: promote staging -> prod
    lease_seconds: 3600

- name: Free prod after a killed run
  stageflow.aws.deploy_lock:
    table: prod-movie-app-deploy-locks
    environment: prod
    state: released
    force: true
    reason: run 20261126T101500 was killed with its host
    records_table: prod-movie-app-deployments
"""

RETURN = r"""
lock:
  description: The lock as it is after the call (empty when released).
  returned: always
  type: dict
  sample: {"environment": "prod", "lock_id": "p-20261126", "owner": "alice", "purpose": "promote", "acquired_at":
    "2026-11-26T10:15:00.000000Z", "expires_at": 1795000000}
previous:
  description: The lock before the call (empty when there was none).
  returned: always
  type: dict
"""

import getpass
import socket
import time
import uuid

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
            state=dict(type="str", choices=["acquired", "renewed", "released"], default="acquired"),
            lock_id=dict(type="str"),
            owner=dict(type="str", default=""),
            purpose=dict(type="str", default=""),
            lease_seconds=dict(type="int", default=1800),
            force=dict(type="bool", default=False),
            reason=dict(type="str", default=""),
            records_table=dict(type="str"),
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
    table = module.resource("dynamodb").Table(p["table"])
    now = time.time()
    env = p["environment"]
    try:
        previous = st.get_lock(table, env) or {}
        held = bool(previous) and int(previous.get("expires_at", 0)) >= now
        ours = held and previous.get("lock_id") == p["lock_id"]
        result = {"previous": previous, "changed": False, "lock": previous if held else {}}
        if p["state"] == "acquired":
            if held and not ours:
                module.fail_json(msg=st.held_message(env, previous), **result)
            if not ours:
                item = {
                    "environment": env,
                    "lock_id": p["lock_id"] or str(uuid.uuid4()),
                    "owner": p["owner"] or f"{getpass.getuser()}@{socket.gethostname()}",
                    "purpose": p["purpose"],
                    "acquired_at": st.iso(st.utcnow()),
                    "expires_at": int(now + p["lease_seconds"]),
                }
                if previous:
                    item["took_over_expired"] = previous.get("lock_id", "")
                if not module.check_mode:
                    st.acquire(table, item, int(now))
                result.update(changed=True, lock=item)
        elif p["state"] == "renewed":
            if not ours:
                module.fail_json(msg=st.renew_message(env, p["lock_id"], previous or None), **result)
            expires = int(now + p["lease_seconds"])
            if not module.check_mode:
                st.renew(table, env, p["lock_id"], expires)
            result.update(changed=True, lock={**previous, "expires_at": expires})
        elif p["force"]:
            if previous:
                if not module.check_mode:
                    st.force_release(table, env)
                    if p["records_table"]:
                        records = module.resource("dynamodb").Table(p["records_table"])
                        st.put_record(
                            records,
                            {
                                "environment": env,
                                "started_at": st.iso(st.utcnow()),
                                "id": f"force-release-{uuid.uuid4().hex[:8]}",
                                "kind": "force-release",
                                "outcome": "released",
                                "who": p["owner"] or f"{getpass.getuser()}@{socket.gethostname()}",
                                "reason": p["reason"],
                                "released_lock": previous,
                                "expires_at": int(now + 400 * 86400),
                            },
                        )
                result.update(changed=True, lock={})
        elif previous:
            if previous.get("lock_id") != p["lock_id"]:
                if held:
                    module.fail_json(msg=st.release_message(env, p["lock_id"], previous), **result)
            else:
                if not module.check_mode:
                    st.release(table, env, p["lock_id"])
                result.update(changed=True, lock={})
    except st.StateError as exc:
        module.fail_json(msg=str(exc))
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg=f"the deployment lock of {env} in {p['table']} could not be read or written")
    if module._diff:
        result["diff"] = {"before": result["previous"], "after": result["lock"]}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
