#!/usr/bin/python
# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: alb_traffic
short_description: Set the weights of an ALB listener rule's target groups, then gate on health and alarms
version_added: 0.1.0
description:
  - Sets the target group weights of a weighted forward rule, found by ARN or by listener and priority, without
    restating the load balancer. Other settings of the rule's actions (stickiness) are kept.
  - Reads the rule back and checks the weights after writing. Idempotent.
  - One call is one step of a progressive shift. After the weights are set it bakes O(bake_seconds), looking at the
    gate every O(gate_interval) seconds meanwhile and once more at the end - every named CloudWatch alarm is C(OK) and
    every target of the receiving groups is healthy - and stops at the first look that fails. When the gate fails it
    restores the weights the rule had before the call and fails.
  - O(gate_mode=report) is for moves that put traffic back (rescues, rollbacks, aborts) - they must not be blocked by
    the alarms of the release they undo. The gate is looked at and reported, never fails the call.
  - With O(lock), the environment's deployment lock is renewed while the step bakes; losing it (an abort took it over)
    stops the step, leaving the weights to the new holder.
  - Loop over it in a playbook for steps (10, 50, 100), so that each step shows in Ansible's output as it happens.
  - With O(rules), one step moves several rules (one per service) and bakes once for all of them.
author:
  - Stageflow engineers (@stageflow)
options:
  rule_arn:
    description: The rule. Or give O(listener_arn) and O(priority).
    type: str
  listener_arn:
    description: The listener whose rule at O(priority) is set.
    type: str
  priority:
    description: The rule's priority on O(listener_arn).
    type: int
  weights:
    description: Target group name or ARN -> weight (0-999). Every group of the rule must be named.
    type: dict
  rules:
    description:
      - Several rules moved together in one step (an application of several services, each with its own rule), each
        as C(rule_arn) and C(weights). They are set in their order, the bake and gate cover them all, and a failed
        gate restores every one. Instead of O(rule_arn)/O(listener_arn) and O(weights).
    type: list
    elements: dict
    suboptions:
      rule_arn:
        description: The rule.
        type: str
        required: true
      weights:
        description: Target group name or ARN -> weight (0-999). Every group of the rule must be named.
        type: dict
        required: true
  bake_seconds:
    description: Seconds to wait after the weights change, before the gate.
    type: int
    default: 0
  gate_alarms:
    description: CloudWatch alarms that must all be C(OK) after the bake.
    type: list
    elements: str
    default: []
  gate_target_groups:
    description:
      - Target groups whose targets must all be healthy after the bake. By default, every group whose weight is
        above 0.
    type: list
    elements: str
  restore_on_failure:
    description: Restore the weights the rule had before this call when the gate fails.
    type: bool
    default: true
  gate_mode:
    description: C(enforce) fails the step when the gate fails; C(report) only reports what the gate sees.
    type: str
    choices: [enforce, report]
    default: enforce
  gate_interval:
    description: Seconds between two looks at the gate during the bake.
    type: int
    default: 10
  pause:
    description:
      - After the bake's gate passes, wait for a person - C(deploy_lock state=resumed), which C(playbooks/resume.yml)
        runs - still looking at the gate every O(gate_interval) seconds (a failure stops the step as during the bake).
        The pause is written on the lock item (C(paused_percent)), so others can see it. Needs O(lock).
    type: bool
    default: false
  pause_timeout:
    description: Seconds a paused step waits to be resumed before it fails (and restores, as a failed gate does).
    type: int
    default: 3600
  notify:
    description:
      - Tell the step's result, and a pause's wait for approval, as M(stageflow.aws.release_notify) does - after the
        bake (and after a failing step's weights are restored), once per destination within O(notify.timeout). A miss
        is returned in RV(notified), never an error.
    type: dict
    version_added: 0.2.0
    suboptions:
      webhook_url:
        description: A Slack-compatible webhook (a secret, never shown).
        type: str
      webhook_secret:
        description: A Secrets Manager secret holding the webhook URL.
        type: str
      sns_topic_arn:
        description: An SNS topic.
        type: str
      timeout:
        description: Seconds each destination may take.
        type: float
        default: 5
      skip_webhook:
        description: Do not try the webhook (it missed an earlier event of this release).
        type: bool
        default: false
      release:
        description: The release, as M(stageflow.aws.release_notify) takes it; C(step.percent) names the step.
        type: dict
        default: {}
extends_documentation_fragment:
  - stageflow.aws.lease
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Supports check mode (the weights that would be set; no bake, no gate) and diff.
"""

EXAMPLES = r"""
- name: Canary steps to green, each gated on prod's alarms
  stageflow.aws.alb_traffic:
    listener_arn: "{{ listener_arn }}"
    priority: 100
    weights:
      prod-app-blue: "{{ 100 - item }}"
      prod-app-green: "{{ item }}"
    bake_seconds: 300
    gate_alarms: [prod-webshop-target-5xx, prod-webshop-p95-latency]
  loop: [10, 50, 100]

- name: One step of two services' rules, baked and gated once
  stageflow.aws.alb_traffic:
    rules:
      - {rule_arn: "{{ api_rule_arn }}", weights: {prod-api-blue: 90, prod-api-green: 10}}
      - {rule_arn: "{{ web_rule_arn }}", weights: {prod-app-blue: 90, prod-app-green: 10}}
    gate_target_groups: [prod-api-green, prod-app-green]
    bake_seconds: 300
"""

RETURN = r"""
rule_arn:
  description: The rule.
  returned: always
  type: str
before:
  description: Weights by target group ARN before the call.
  returned: always
  type: dict
after:
  description: Weights by target group ARN after the call (the restored ones when the gate failed).
  returned: always
  type: dict
rules:
  description: Each rule's C(rule_arn), C(before), C(after) and C(changed), in the order given (one for O(rule_arn)).
  returned: always
  type: list
  elements: dict
gate:
  description: C(passed), C(failed) with C(why), or C(skipped).
  returned: always
  type: dict
  sample: {"passed": true, "enforced": true, "alarms": "2 alarm(s) OK", "health": "1 target group(s) all healthy",
    "seconds": 300.2, "looks": 31}
notified:
  description: With O(notify), where the step's events were delivered, and what was missed (to, why, event).
  returned: when notify names a destination
  type: dict
  version_added: 0.2.0
restored:
  description: Whether the weights were restored after a failed gate.
  returned: always
  type: bool
"""

import time

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.stageflow.aws.plugins.module_utils import notify
from ansible_collections.stageflow.aws.plugins.module_utils._cloudwatch import alarms as cw_alarms
from ansible_collections.stageflow.aws.plugins.module_utils._dynamodb import state as st
from ansible_collections.stageflow.aws.plugins.module_utils._elbv2 import traffic
from ansible_collections.stageflow.aws.plugins.module_utils.progress import Progress, seconds_left


def look(elbv2, cloudwatch, alarms, receiving):
    """One look at the gate: (passed, alarms said, health said)."""
    alarms_ok, alarms_why = cw_alarms.alarm_gate(cloudwatch, alarms)
    health_ok, health_why = traffic.health_gate(elbv2, receiving) if alarms_ok else (False, "not checked")
    return alarms_ok and health_ok, alarms_why, health_why


def describe(module):
    """The weights asked for, for progress lines: each target group by name and its weight."""
    asked = module.params["rules"] or [{"weights": module.params["weights"]}]

    def name(group):
        return group.rsplit("/", 2)[-2] if ":targetgroup/" in str(group) else group

    return "; ".join(", ".join(f"{name(g)} {w}" for g, w in (a["weights"] or {}).items()) for a in asked)


def tell(module, event, gate=None):
    """The step's notification (option notify): None without one; never raises."""
    n = module.params["notify"]
    if not notify.wanted(n):
        return None
    release = dict(n.get("release") or {})
    step = dict(release.get("step") or {})
    if gate is not None:
        why = gate["alarms"] if gate.get("health") == "not checked" else gate.get("health", "")
        step.update(passed=bool(gate["passed"]), seconds=gate["seconds"], gate=why)
    release["step"] = step
    try:
        return notify.send(
            module.client,
            event,
            release,
            webhook_url=n.get("webhook_url") or "",
            webhook_secret=n.get("webhook_secret") or "",
            sns_topic_arn=n.get("sns_topic_arn") or "",
            timeout=n.get("timeout") or 5.0,
            skip_webhook=bool(n.get("skip_webhook")),
        )
    except Exception as exc:  # a notification never stops a step, nor its restore
        return {"event": event, "delivered": [], "missed": [{"to": "webhook", "why": type(exc).__name__}]}


def bake(module, elbv2, cloudwatch, receiving, lease, changed):
    """Bake, looking at the gate every gate_interval seconds and at the end; stop at the first failing look."""
    p = module.params
    started = time.monotonic()
    end = started + (p["bake_seconds"] if changed else 0)
    looks = 0
    # The lock was checked just before the weights moved; the lease's sleep checks it (and renews it) again at every
    # interval, so each look follows one check.
    sleep = lease.sleep if lease is not None else time.sleep
    progress = Progress(f"alb_traffic {lease.environment}" if lease is not None else "alb_traffic")
    while True:
        passed, alarms_why, health_why = look(elbv2, cloudwatch, p["gate_alarms"], receiving)
        looks += 1
        left = end - time.monotonic()
        if not passed or left <= 0:
            break
        progress(f"baking {describe(module)}, {seconds_left(left)}; gate passing - {alarms_why}; {health_why}")
        sleep(min(left, float(p["gate_interval"])))
    return {
        "passed": passed,
        "enforced": p["gate_mode"] == "enforce",
        "alarms": alarms_why,
        "health": health_why,
        "seconds": round(time.monotonic() - started, 1),
        "looks": looks,
    }


def pause(module, elbv2, cloudwatch, receiving, lease, percent):
    """Wait until a person resumes the step, looking at the gate meanwhile. Returns (resumed, gate, why)."""
    p = module.params
    lease.mark(paused_percent=percent)
    started = time.monotonic()
    progress = Progress(f"alb_traffic {lease.environment}")
    while True:
        passed, alarms_why, health_why = look(elbv2, cloudwatch, p["gate_alarms"], receiving)
        progress(
            f"paused at {percent}% for playbooks/resume.yml, {seconds_left(started + p['pause_timeout'] - time.monotonic())}"
            f"; gate {'passing' if passed else 'failing'} - {alarms_why}; {health_why}"
        )
        if not passed:
            return False, alarms_why if health_why == "not checked" else health_why
        if lease.read().get("resumed_percent") == percent:
            return True, f"resumed after {round(time.monotonic() - started, 1)}s"
        if time.monotonic() - started >= p["pause_timeout"]:
            return False, f"not resumed within {p['pause_timeout']}s (playbooks/resume.yml)"
        lease.sleep(float(p["gate_interval"]))


def wanted_weights(module, raw):
    """The weights asked for, as whole numbers within ALB's limits."""
    try:
        wanted = {k: int(v) for k, v in (raw or {}).items()}
    except (TypeError, ValueError):
        module.fail_json(msg=f"weights must map target groups to whole numbers, got {raw}")
    bad = {k: v for k, v in wanted.items() if not 0 <= v <= 999}
    if bad or not wanted or sum(wanted.values()) == 0:
        module.fail_json(msg=f"weights must be 0-999 each and not all 0 (ALB's limits), got {raw}")
    return wanted


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            rule_arn=dict(type="str"),
            listener_arn=dict(type="str"),
            priority=dict(type="int"),
            weights=dict(type="dict"),
            rules=dict(
                type="list",
                elements="dict",
                options=dict(rule_arn=dict(type="str", required=True), weights=dict(type="dict", required=True)),
            ),
            bake_seconds=dict(type="int", default=0),
            gate_alarms=dict(type="list", elements="str", default=[]),
            gate_target_groups=dict(type="list", elements="str"),
            restore_on_failure=dict(type="bool", default=True),
            gate_mode=dict(type="str", choices=["enforce", "report"], default="enforce"),
            gate_interval=dict(type="int", default=10),
            pause=dict(type="bool", default=False),
            pause_timeout=dict(type="int", default=3600),
            lock=st.LEASE_OPTION,
            notify=dict(
                type="dict",
                options=dict(
                    webhook_url=dict(type="str", no_log=True),
                    webhook_secret=dict(type="str", no_log=False),
                    sns_topic_arn=dict(type="str"),
                    timeout=dict(type="float", default=5.0),
                    skip_webhook=dict(type="bool", default=False),
                    release=dict(type="dict", default={}),
                ),
            ),
        ),
        required_one_of=[("rule_arn", "listener_arn", "rules")],
        mutually_exclusive=[("rule_arn", "listener_arn", "rules"), ("weights", "rules")],
        required_together=[("listener_arn", "priority")],
        required_if=[("pause", True, ("lock",)), ("rule_arn", "*", ("weights",)), ("listener_arn", "*", ("weights",))],
        supports_check_mode=True,
    )
    p = module.params
    if p["rules"] is not None and not p["rules"]:
        module.fail_json(msg="rules is empty; give one rule or more, each with rule_arn and weights")
    asked = p["rules"] or [{"rule_arn": p["rule_arn"], "weights": p["weights"]}]
    wanted_raw = [wanted_weights(module, a["weights"]) for a in asked]
    if p["bake_seconds"] < 0:
        module.fail_json(msg=f"bake_seconds must be >= 0, got {p['bake_seconds']}")
    if p["gate_interval"] < 1:
        module.fail_json(msg=f"gate_interval must be at least 1 second, got {p['gate_interval']}")
    elbv2, cloudwatch = module.client("elbv2"), module.client("cloudwatch")
    result = {"changed": False, "restored": False, "gate": {"passed": None, "why": "skipped"}, "rules": []}
    try:
        moves = []
        for one, raw in zip(asked, wanted_raw):  # noqa: B905 - modules run on Python 3.8+
            rule = traffic.find_rule(elbv2, one["rule_arn"], p["listener_arn"], p["priority"])
            before = traffic.weights_of(rule)
            wanted = traffic.resolve_groups(elbv2, raw)
            if set(before) != set(wanted):
                module.fail_json(
                    msg=f"weights must name exactly the rule's target groups {sorted(before)}; got {sorted(wanted)}"
                )
            moves.append({"rule": rule, "before": before, "after": wanted})
        result["rules"] = [
            {
                "rule_arn": m["rule"]["RuleArn"],
                "before": m["before"],
                "after": m["after"],
                "changed": m["after"] != m["before"],
            }
            for m in moves
        ]
        changed = any(r["changed"] for r in result["rules"])
        first = result["rules"][0]
        result.update(rule_arn=first["rule_arn"], before=first["before"], after=first["after"], changed=changed)
        if module._diff:
            result["diff"] = {
                "before": {r["rule_arn"]: r["before"] for r in result["rules"]},
                "after": {r["rule_arn"]: r["after"] for r in result["rules"]},
            }
        if module.check_mode:
            module.exit_json(**result)
        started = time.monotonic()
        lease = st.lease_from(module, p["lock"])
        if lease is not None:
            lease.keep()  # still this run's, before the weights move
        for move in moves:
            if move["after"] != move["before"]:
                traffic.set_weights(elbv2, move["rule"], move["after"])
        receiving = p["gate_target_groups"]
        receiving = (
            list(traffic.resolve_groups(elbv2, {g: 1 for g in receiving}))
            if receiving is not None
            else [arn for m in moves for arn, w in m["after"].items() if w > 0]
        )
        result["gate"] = bake(module, elbv2, cloudwatch, receiving, lease, changed)
        told = []
        if p["pause"] and result["gate"]["passed"]:
            percent = (
                moves[0]["after"][receiving[0]]
                if receiving and receiving[0] in moves[0]["after"]
                else max(moves[0]["after"].values())
            )
            told.append(tell(module, "step", result["gate"]))
            told.append(tell(module, "paused"))
            resumed, why = pause(module, elbv2, cloudwatch, receiving, lease, percent)
            result["gate"].update(paused=why, seconds=round(time.monotonic() - started, 1))
            if not resumed:
                result["gate"].update(passed=False, health=why)
        failed = not result["gate"]["passed"] and p["gate_mode"] == "enforce"
        if failed and p["restore_on_failure"] and changed:
            if lease is not None:
                lease.keep()  # a run whose lock an abort took leaves the weights to the abort
            for move, entry in zip(moves, result["rules"]):  # noqa: B905
                if move["after"] != move["before"]:
                    traffic.set_weights(elbv2, move["rule"], move["before"])
                entry["after"] = move["before"]
            result.update(after=moves[0]["before"], restored=True)
        # Told once the weights are where they stay: a failing step's restore never waits for a notification.
        if not told or not result["gate"]["passed"]:
            told.append(tell(module, "step", result["gate"]))
        told = [t for t in told if t is not None]
        if told:
            result["notified"] = {
                "delivered": [d for t in told for d in t["delivered"]],
                "missed": [{**m, "event": t["event"]} for t in told for m in t["missed"]],
            }
        if failed:
            gate = result["gate"]
            why = gate["alarms"] if gate["health"] == "not checked" else gate["health"]
            restored = " The weights before this step were restored." if result["restored"] else ""
            shown = wanted_raw[0] if len(wanted_raw) == 1 else wanted_raw
            module.fail_json(msg=f"gate failed {gate['seconds']}s after setting {shown}: {why}.{restored}", **result)
    except st.LeaseLost as exc:
        module.fail_json(msg=f"stopped: {exc}; the weights are left to the lock's new holder", **result)
    except traffic.TrafficError as exc:
        module.fail_json(msg=str(exc), **result)
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg="ALB rule weights could not be read or set")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
