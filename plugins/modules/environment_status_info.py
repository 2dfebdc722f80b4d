#!/usr/bin/python
# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: environment_status_info
short_description: What runs where in one environment, read live
version_added: 0.2.0
description:
  - Reads one environment as it is now, with no write - what C(playbooks/status.yml) shows. Per service of the
    application, in release order - the weights of its listener rule, and per ECS service (a colour of a load-balanced
    service, else the service itself) its task definition, images by digest, running, desired and pending counts,
    rollout state, target health and the colour's gate alarms.
  - For the environment - the live colour, whether the traffic is split, every alarm in ALARM, the deployment lock
    (holder, purpose, lease), the last releases, and drift in one word (see RV(status.drift)).
  - A resource that does not exist is listed in RV(status.missing), never an error - an environment that is not provisioned
    says so, resource by resource.
  - A handful of calls whatever the size - one C(DescribeServices) per ten ECS services, one C(DescribeAlarms) by the
    environment's alarm prefix, one C(DescribeTaskDefinition) per task definition in use, one C(DescribeTargetHealth)
    per target group, one C(GetItem) and one C(Query). Throttled calls are retried.
author:
  - Stageflow engineers (@stageflow)
options:
  environment:
    description: The environment.
    type: str
    required: true
  cluster:
    description: Its ECS cluster.
    type: str
    required: true
  strategy:
    description: Its deployment strategy; C(blue_green) and C(canary) give each load-balanced service two colours.
    type: str
    required: true
    choices: [rolling, blue_green, canary]
  services:
    description: The application's services with their names, as the C(stageflow.aws.application_services) filter gives them.
    type: list
    elements: dict
    required: true
  load_balancer:
    description: The environment's load balancer (its name).
    type: str
    required: true
  listener_port:
    description: The port of the listener whose rules carry the weights.
    type: int
    default: 80
  alarm_prefix:
    description: The environment's alarm name prefix; empty reads no alarm (an environment without monitoring).
    type: str
    default: ""
  lock_table:
    description: The environment's lock table.
    type: str
    required: true
  records_table:
    description: The environment's records table.
    type: str
    required: true
  records_limit:
    description: How many of the newest records to return.
    type: int
    default: 5
notes:
  - Supports check mode (it only reads).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Read prod
  stageflow.aws.environment_status_info:
    environment: prod
    cluster: prod-webshop-cluster
    strategy: canary
    services: "{{ application_services | stageflow.aws.application_services('prod', 'webshop', resource_names) }}"
    load_balancer: prod-webshop-alb
    listener_port: 443
    alarm_prefix: prod-webshop
    lock_table: prod-webshop-deploy-locks
    records_table: prod-webshop-deployments
  register: prod_status

- name: Show it
  ansible.builtin.debug:
    msg: "{{ [prod_status.status] | stageflow.aws.status_text }}"
"""

RETURN = r"""
status:
  description: The environment as it is now.
  returned: always
  type: dict
  contains:
    environment:
      description: The environment.
      type: str
      returned: always
    strategy:
      description: Its deployment strategy.
      type: str
      returned: always
    live_colour:
      description: The colour the default service's rule sends its traffic to (empty with C(rolling)).
      type: str
      returned: always
    interrupted:
      description: The traffic is split between the colours, or the services' rules disagree.
      type: bool
      returned: always
    services:
      description:
        - Per service, in release order - name, balanced, default, routes, C(serving) (the ECS service that takes the
          traffic and its images), and C(ecs_services), each with colour, ecs_service, task_definition, images
          (container to image), running, desired, pending, rollout, deployments, targets (name, healthy, total,
          states), and for a colour - weight and alarms (name to state); C(missing) when it does not exist.
      type: list
      elements: dict
      returned: always
    alarms:
      description: The environment-wide gate alarms' states, every alarm in ALARM, and how many there are.
      type: dict
      returned: always
    lock:
      description: The lock item (held, lock_id, owner, purpose, acquired_at, lease_until, lease_left_seconds, paused); empty when free.
      type: dict
      returned: always
    releases:
      description: The newest records (id, kind, outcome, who, source, note, started_at, finished_at, duration_seconds, failure).
      type: list
      elements: dict
      returned: always
    drift:
      description:
        - One word. C(none) - the serving services run the images the last succeeded release left. C(images) - an ECS
          service that release left runs others, or no longer takes the traffic (changed outside Stageflow).
          C(releasing) or C(paused) - a release that holds the lock is under way, or waits for C(playbooks/resume.yml).
          C(interrupted) - a release never closed and nobody holds the lock. C(split) - the traffic is on both colours
          with no release under way. C(unknown) - no succeeded release among the last 50 records. C(not provisioned) -
          no ECS service exists. C(playbooks/drift.yml) compares every setting.
      type: str
      returned: always
    drift_detail:
      description: Why, in a sentence.
      type: str
      returned: always
    missing:
      description: The resources that do not exist (an environment not or partly provisioned).
      type: list
      elements: str
      returned: always
  sample:
    environment: prod
    live_colour: blue
    drift: none
    missing: []
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.stageflow.aws.plugins.module_utils import status


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            environment=dict(type="str", required=True),
            cluster=dict(type="str", required=True),
            strategy=dict(type="str", required=True, choices=["rolling", "blue_green", "canary"]),
            services=dict(type="list", elements="dict", required=True),
            load_balancer=dict(type="str", required=True),
            listener_port=dict(type="int", default=80),
            alarm_prefix=dict(type="str", default=""),
            lock_table=dict(type="str", required=True),
            records_table=dict(type="str", required=True),
            records_limit=dict(type="int", default=5),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["records_limit"] < 1:
        module.fail_json(msg=f"records_limit must be at least 1, got {p['records_limit']}")
    dynamodb = module.resource("dynamodb")
    try:
        result = status.read_environment(
            {"ecs": module.client("ecs"), "elbv2": module.client("elbv2"), "cloudwatch": module.client("cloudwatch")},
            p["environment"],
            p["cluster"],
            p["strategy"],
            p["services"],
            p["load_balancer"],
            p["listener_port"],
            p["alarm_prefix"],
            dynamodb.Table(p["lock_table"]),
            p["lock_table"],
            dynamodb.Table(p["records_table"]),
            p["records_table"],
            p["records_limit"],
        )
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg=f"the status of {p['environment']} could not be read")
    module.exit_json(changed=False, status=result)


if __name__ == "__main__":
    main()
