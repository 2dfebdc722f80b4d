#!/usr/bin/python
# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecs_promote
short_description: Promote a release to ECS services by image digest, wait truthfully, roll back on failure
version_added: 0.1.0
description:
  - Deploys a release to one or many ECS services of a target cluster, in one call. The release is what the source
    services run now (their C(service.taskDefinition), not a deployment entry), or named images, or exact task
    definitions (a rollback).
  - Every image is resolved to a digest in ECR. A tag or digest that does not exist fails the call before any change.
  - For each target service it registers the target's current task definition with only the changed images, pinned by
    digest; the target's environment variables, secrets, limits, roles and network settings stay. Nothing is
    registered or updated when the target already runs the same digests. Services that share a task definition share
    one registration.
  - Images are referenced by digest in the repository they were pushed to (see docs/promotion.md for why);
    O(protect_tag) adds a tag to each image there so the repository's lifecycle policy keeps it.
  - Waits until each service's PRIMARY deployment of the new definition is C(COMPLETED), with running = desired and
    every target of its target groups healthy. A C(FAILED) deployment, or a circuit-breaker rollback, is a failure.
  - On failure (or timeout) every service it updated is returned to its previous task definition, and the result
    says so.
  - Services run by another deployment controller (C(CODE_DEPLOY), C(EXTERNAL)) or by ECS's built-in blue/green
    strategy are refused.
author:
  - Stageflow engineers (@stageflow)
options:
  cluster:
    description: The target cluster.
    type: str
    required: true
  services:
    description:
      - The target services, in the order they are updated (api before web, say).
    type: list
    elements: str
    required: true
  source_cluster:
    description: The cluster of O(source_services).
    type: str
  source_services:
    description:
      - The services whose running release is promoted; one per target service, matched by position, or a single one
        for every target service.
    type: list
    elements: str
  images:
    description:
      - The release as container name -> image, by tag or digest (C(repo:v1), C(repo@sha256:...)), for every target
        service.
    type: dict
  service_images:
    description:
      - The release per target service, as target service -> (container name -> image), for services whose
        containers differ (an application of several services). Every target service is named.
    type: dict
  task_definitions:
    description:
      - Return services to exact task definitions, as target service -> task definition ARN (a rollback).
    type: dict
  order:
    description:
      - C(sequential) updates a service and waits for it before the next; C(parallel) updates all, then waits for all.
    type: str
    choices: [sequential, parallel]
    default: sequential
  wait:
    description: Wait for the services to be stable and healthy.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait, for all the services together. No hidden cap.
    type: int
    default: 900
  poll_interval:
    description: Seconds between reads while waiting.
    type: float
    default: 5
  rollback_on_failure:
    description: Return every updated service to its previous task definition when the release fails.
    type: bool
    default: true
  protect_tag:
    description:
      - A tag added to each promoted image in its own repository, so that a lifecycle rule for C(stageflow-) tags
        keeps it. Empty for none.
    type: str
    default: ""
  release_id:
    description: Tags new task definitions with C(StageflowRelease=<release_id>).
    type: str
    default: ""
  allowed_repositories:
    description:
      - When given, every image the release would run must be in this account's ECR registry in this region, in one of
        these repositories (the application's environments'); any other fails the module before any change, naming
        the image. What a rollback needs, whose images come from records anyone who can write the table could forge.
      - Not checked for O(task_definitions), which names task definitions this account registered.
    type: list
    elements: str
extends_documentation_fragment:
  - stageflow.aws.lease
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Supports check mode (a plan with every image's before and after) and diff.
"""

EXAMPLES = r"""
- name: Promote staging's release to prod's idle colour
  stageflow.aws.ecs_promote:
    source_cluster: staging-webshop-cluster
    source_services: [staging-webshop-service-blue]
    cluster: prod-webshop-cluster
    services: [prod-webshop-service-green]
    protect_tag: stageflow-prod-20261126T101500
    wait_timeout: 1200

- name: Deploy a CI build by tag
  stageflow.aws.ecs_promote:
    cluster: dev-webshop-cluster
    services: [dev-webshop-service]
    images:
      api: 123456789012.dkr.ecr.us-east-1.amazonaws.com/dev-webshop-api-repo:3f2a1c9
      web: 123456789012.dkr.ecr.us-east-1.amazonaws.com/dev-webshop-web-repo:3f2a1c9
"""

RETURN = r"""
services:
  description: Per target service, in update order.
  returned: always
  type: list
  elements: dict
  contains:
    service:
      description: The service's name.
      type: str
    previous_task_definition:
      description: The task definition the service ran before.
      type: str
    task_definition:
      description: The task definition it runs after the call (the previous one after a rollback).
      type: str
    images:
      description: Per container, C(before) and C(after) image, their digests, and C(reason).
      type: dict
    changed:
      description: Whether the service was updated.
      type: bool
    state:
      description: C(done), C(unchanged), C(planned), C(failed), C(timeout), C(rolled back) or C(not started).
      type: str
    why:
      description: What the last read of the service said.
      type: str
  sample:
    - service: prod-webshop-service-green
      previous_task_definition: arn:aws:ecs:us-east-1:123456789012:task-definition/prod-webshop-task:4
      task_definition: arn:aws:ecs:us-east-1:123456789012:task-definition/prod-webshop-task:5
      images:
        api:
          before: 123456789012.dkr.ecr.us-east-1.amazonaws.com/dev-webshop-api-repo@sha256:aaaa
          after: 123456789012.dkr.ecr.us-east-1.amazonaws.com/dev-webshop-api-repo@sha256:bbbb
          reason: staging-webshop-service-blue runs it
      changed: true
      state: done
rolled_back:
  description: Whether services were returned to their previous task definitions.
  returned: always
  type: bool
protected_images:
  description: Images tagged with O(protect_tag) by this call.
  returned: always
  type: list
  elements: str
"""

import time

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.stageflow.aws.plugins.module_utils._dynamodb import state as st
from ansible_collections.stageflow.aws.plugins.module_utils._ecr import images as ecr_images
from ansible_collections.stageflow.aws.plugins.module_utils._ecs import api as ecs_api
from ansible_collections.stageflow.aws.plugins.module_utils._ecs import deploy as rel
from ansible_collections.stageflow.aws.plugins.module_utils._sts import api as sts
from ansible_collections.stageflow.aws.plugins.module_utils.progress import Progress


def release_of(module, ecs, tds, targets):
    """container -> image wanted for each target service, and why."""
    p = module.params
    names = p["services"]
    if p["images"] is not None:
        return {s: dict(p["images"]) for s in names}, {
            s: {c: "named in the release" for c in p["images"]} for s in names
        }
    if p["service_images"] is not None:
        unnamed = [s for s in names if not p["service_images"].get(s)]
        unknown = [s for s in p["service_images"] if s not in names]
        if unnamed or unknown:
            module.fail_json(
                msg=f"service_images must name the images of every target service {names}, and only them: "
                f"missing {unnamed}, unknown {unknown}"
            )
        return {s: dict(p["service_images"][s]) for s in names}, {
            s: {c: "named in the release" for c in p["service_images"][s]} for s in names
        }
    sources = p["source_services"]
    if len(sources) not in (1, len(names)):
        module.fail_json(
            msg=f"source_services has {len(sources)} services and services has {len(names)}: give one source per "
            "target service, or a single source for all"
        )
    live = rel.describe_services(ecs, p["source_cluster"], sources)
    wanted, reasons = {}, {}
    for index, target in enumerate(names):
        source = live[sources[0] if len(sources) == 1 else sources[index]]
        # What the source runs now: service.taskDefinition, not a deployment entry.
        wanted[target] = rel.images_of(tds.get(source["taskDefinition"]))
        reasons[target] = {c: f"{source['serviceName']} runs it" for c in wanted[target]}
    return wanted, reasons


def plan(module, ecs, ecr, tds, targets):
    p = module.params
    if p["task_definitions"] is not None:
        unknown = [s for s in p["task_definitions"] if s not in p["services"]]
        if unknown:
            module.fail_json(msg=f"task_definitions names {unknown}, which are not in services {p['services']}")
        plans = []
        for name in p["services"]:
            service = targets[name]
            arn = p["task_definitions"].get(name, service["taskDefinition"])
            before, after = rel.images_of(tds.get(service["taskDefinition"])), rel.images_of(tds.get(arn))
            same = service["taskDefinition"] == arn
            plans.append(
                {
                    "service": name,
                    "previous_task_definition": service["taskDefinition"],
                    "task_definition": arn,
                    "images": {
                        c: {
                            "before": before.get(c, ""),
                            "after": after.get(c, ""),
                            "before_digest": ecr_images.digest_of(before.get(c, "")),
                            "after_digest": ecr_images.digest_of(after.get(c, "")),
                            "reason": "unchanged" if same else f"back to {arn.rsplit('/', 1)[-1]}",
                        }
                        for c in sorted(set(before) | set(after))
                    },
                    "changed": not same,
                    "register": None,
                }
            )
        return plans
    wanted, reasons = release_of(module, ecs, tds, targets)
    if p["allowed_repositories"] is not None:
        account = sts.caller_arn(module).split(":")[4]
        for image in sorted({i for named in wanted.values() for i in named.values()}):
            ecr_images.check_own(image, account, module.region, p["allowed_repositories"])
    digests = ecr_images.resolve_digests(ecr, [i for named in wanted.values() for i in named.values()])
    plans = []
    for name in p["services"]:
        service = targets[name]
        target_td = tds.get(service["taskDefinition"])
        step = rel.plan_service(service, target_td, wanted[name], digests, reasons[name])
        step["register"] = rel.registration(target_td, step.pop("new_images")) if step["changed"] else None
        plans.append(step)
    return plans


def apply(module, ecs, elbv2, ecr, plans, lease=None):
    """Register, update and wait; on failure roll back what was updated. Returns (plans, rolled_back, error)."""
    p = module.params
    sleep = lease.sleep if lease is not None else time.sleep
    progress = Progress(f"ecs_promote {p['cluster']}")
    cluster = p["cluster"]
    tags = [{"key": "StageflowRelease", "value": p["release_id"]}] if p["release_id"] else []
    registered = {}
    for step in plans:
        step["state"] = "unchanged" if not step["changed"] else "not started"
        step["why"] = "already runs this release" if not step["changed"] else ""
        if step["register"] is not None:
            key = repr(sorted(step["register"].items()))
            if key not in registered:
                registered[key] = rel.register(ecs, step["register"], tags)
            step["task_definition"] = registered[key]
    changing = [s for s in plans if s["changed"]]
    deadline = time.monotonic() + p["wait_timeout"]
    updated = []
    error = None
    groups = [changing] if p["order"] == "parallel" else [[s] for s in changing]
    for group in groups:
        rel.in_parallel(lambda s: ecs_api.update_service(ecs, cluster, s["service"], s["task_definition"]), group)
        for step in group:
            step["state"], step["why"] = "updated", "update sent"
            updated.append(step)
        if not p["wait"]:
            continue
        states = rel.wait_for(
            ecs,
            elbv2,
            cluster,
            {s["service"]: s["task_definition"] for s in group},
            max(0.0, deadline - time.monotonic()),
            p["poll_interval"],
            sleep=sleep,
            timeout_label=p["wait_timeout"],
            progress=progress,
        )
        for step in group:
            step.update(states[step["service"]])
        bad = [s for s in group if s["state"] != "done"]
        if bad:
            error = "; ".join(f"{s['service']}: {s['state']} ({s['why']})" for s in bad)
            break
    rolled_back = False
    if error and p["rollback_on_failure"] and updated:
        if lease is not None:
            lease.keep()  # a run whose lock an abort took leaves the services to the abort
        rolled_back = True
        back = {s["service"]: s["previous_task_definition"] for s in updated}
        rel.in_parallel(lambda s: ecs_api.update_service(ecs, cluster, s, back[s]), list(back))
        progress(f"rolling back {', '.join(back)}: {error}", force=True)
        states = rel.wait_for(
            ecs,
            elbv2,
            cluster,
            back,
            max(60.0, p["wait_timeout"] / 2),
            p["poll_interval"],
            sleep=sleep,
            progress=progress,
        )
        for step in updated:
            restored = states[step["service"]]
            step["failed_task_definition"] = step["task_definition"]
            step["task_definition"] = step["previous_task_definition"]
            step["state"] = "rolled back" if restored["state"] == "done" else f"rollback {restored['state']}"
            step["why"] = f"{step['why']}; rollback: {restored['why']}"
    return plans, rolled_back, error


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            cluster=dict(type="str", required=True),
            services=dict(type="list", elements="str", required=True),
            source_cluster=dict(type="str"),
            source_services=dict(type="list", elements="str"),
            images=dict(type="dict"),
            service_images=dict(type="dict"),
            task_definitions=dict(type="dict"),
            order=dict(type="str", choices=["sequential", "parallel"], default="sequential"),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=900),
            poll_interval=dict(type="float", default=5),
            rollback_on_failure=dict(type="bool", default=True),
            protect_tag=dict(type="str", default=""),
            release_id=dict(type="str", default=""),
            allowed_repositories=dict(type="list", elements="str"),
            lock=st.LEASE_OPTION,
        ),
        required_one_of=[("source_services", "images", "service_images", "task_definitions")],
        mutually_exclusive=[("source_services", "images", "service_images", "task_definitions")],
        required_together=[("source_services", "source_cluster")],
        supports_check_mode=True,
    )
    p = module.params
    if not p["services"]:
        module.fail_json(msg="services is empty: name at least one target service")
    if p["wait_timeout"] < 0 or p["poll_interval"] <= 0:
        module.fail_json(msg="wait_timeout must be >= 0 and poll_interval > 0")
    if p["protect_tag"] and not p["protect_tag"].startswith("stageflow-"):
        module.fail_json(
            msg=f"protect_tag {p['protect_tag']!r} must start with 'stageflow-', the prefix the lifecycle rule keeps"
        )
    ecs, elbv2, ecr = module.client("ecs"), module.client("elbv2"), module.client("ecr")
    tds = rel.TaskDefinitions(ecs)
    try:
        targets = rel.describe_services(ecs, p["cluster"], p["services"])
        for service in targets.values():
            rel.check_controller(service, p["cluster"])
        plans = plan(module, ecs, ecr, tds, targets)
        protected = []
        if module.check_mode:
            for step in plans:
                step["state"] = "planned" if step["changed"] else "unchanged"
                step["why"] = "check mode" if step["changed"] else "already runs this release"
            rolled_back, error = False, None
        else:
            if p["protect_tag"]:
                images = {
                    i["after"] for s in plans if s["changed"] for i in s["images"].values() if i["after"] != i["before"]
                }
                protected = [i for i in sorted(images) if ecr_images.protect_image(ecr, i, p["protect_tag"])]
            lease = st.lease_from(module, p["lock"])
            if lease is not None:
                lease.keep()  # still this run's, before any service moves
            plans, rolled_back, error = apply(module, ecs, elbv2, ecr, plans, lease)
    except st.LeaseLost as exc:
        module.fail_json(
            msg=f"stopped waiting for {p['cluster']}: {exc}; the services are left to the lock's new holder"
        )
    except (rel.ReleaseError, ecr_images.ImageError) as exc:
        module.fail_json(msg=str(exc))
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg=f"ECS promotion to {p['cluster']} failed")
    for step in plans:
        step.pop("register", None)
    result = {
        "changed": any(s["changed"] for s in plans),
        "services": plans,
        "rolled_back": rolled_back,
        "protected_images": protected,
    }
    if module._diff:
        result["diff"] = {
            "before": {s["service"]: {c: i["before"] for c, i in s["images"].items()} for s in plans},
            "after": {s["service"]: {c: i["after"] for c, i in s["images"].items()} for s in plans},
        }
    if error:
        restored = " Every updated service was returned to its previous task definition." if rolled_back else ""
        module.fail_json(msg=f"release to {p['cluster']} failed: {error}.{restored}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
