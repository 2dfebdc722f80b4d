# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ECS release promotion: register only what changed, update, wait truthfully, roll back.

The functions take boto3 clients and plain data, so the module stays thin and the logic is tested without Ansible.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible_collections.stageflow.aws.plugins.module_utils._ecr import images as ecr_images
from ansible_collections.stageflow.aws.plugins.module_utils._ecs import api
from ansible_collections.stageflow.aws.plugins.module_utils._elbv2 import api as elbv2_api
from ansible_collections.stageflow.aws.plugins.module_utils.progress import seconds_left

# What RegisterTaskDefinition accepts back from DescribeTaskDefinition's answer.
REGISTER_KEYS = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
    "enableFaultInjection",
)
DESCRIBE_BATCH = 10  # DescribeServices takes at most 10 services


class ReleaseError(Exception):
    """A release that cannot go ahead, or failed; the message names what and why."""


# --- reading -------------------------------------------------------------------------------------------------------


def describe_services(ecs: Any, cluster: str, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Services by name, ACTIVE ones only, in batches of ten; a missing one is an error naming it."""
    names = list(dict.fromkeys(names))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(names), DESCRIBE_BATCH):
        answer = api.describe_services(ecs, cluster, names[start : start + DESCRIBE_BATCH])
        for service in answer.get("services", []):
            if service.get("status") == "ACTIVE":
                found[service["serviceName"]] = service
    missing = [n for n in names if n not in found]
    if missing:
        raise ReleaseError(f"service(s) {', '.join(missing)} not found (or not ACTIVE) in cluster {cluster}")
    return found


class TaskDefinitions:
    """DescribeTaskDefinition, once per ARN."""

    def __init__(self, ecs: Any) -> None:
        self.ecs = ecs
        self._cache: dict[str, dict[str, Any]] = {}

    def get(self, arn: str) -> dict[str, Any]:
        if arn not in self._cache:
            self._cache[arn] = api.describe_task_definition(self.ecs, arn)["taskDefinition"]
        return self._cache[arn]


def images_of(task_definition: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["image"] for c in task_definition["containerDefinitions"]}


def check_controller(service: dict[str, Any], cluster: str) -> None:
    """Refuse services whose deployments belong to someone else."""
    controller = (service.get("deploymentController") or {}).get("type", "ECS")
    name = service["serviceName"]
    if controller != "ECS":
        raise ReleaseError(
            f"service {name} in {cluster} is run by the {controller} deployment controller; Stageflow deploys only "
            "services with the ECS controller and will not fight another one over it"
        )
    strategy = (service.get("deploymentConfiguration") or {}).get("strategy", "ROLLING")
    if strategy not in ("ROLLING", None):
        raise ReleaseError(
            f"service {name} in {cluster} uses ECS's built-in {strategy} deployment strategy; Stageflow shifts traffic "
            "itself and refuses to deploy it"
        )


# --- planning ------------------------------------------------------------------------------------------------------


def plan_service(
    target: dict[str, Any],
    target_td: dict[str, Any],
    wanted: dict[str, str],
    digests: dict[str, dict[str, str]],
    reasons: dict[str, str],
) -> dict[str, Any]:
    """What one target service needs: per container before -> after by digest, and the definition to register."""
    current = images_of(target_td)
    missing = [c for c in wanted if c not in current]
    if missing:
        raise ReleaseError(
            f"container(s) {', '.join(missing)} of the release are missing from {target['serviceName']}'s task "
            f"definition {target_td['taskDefinitionArn']} (it has {', '.join(sorted(current)) or 'none'})"
        )
    images: dict[str, dict[str, str]] = {}
    new_images: dict[str, str] = {}
    for name, before in current.items():
        if name not in wanted:
            images[name] = {"before": before, "after": before, "reason": "not part of the release: kept"}
            continue
        info = digests[wanted[name]]
        after = ecr_images.pinned(info)
        same = ecr_images.digest_of(before) == info["digest"]
        images[name] = {
            "before": before,
            "after": before if same else after,
            "before_digest": ecr_images.digest_of(before),
            "after_digest": info["digest"],
            "reason": "same digest: unchanged" if same else reasons.get(name, "new release"),
        }
        if not same:
            new_images[name] = after
    return {
        "service": target["serviceName"],
        "previous_task_definition": target["taskDefinition"],
        "task_definition": target["taskDefinition"],
        "images": images,
        "new_images": new_images,
        "changed": bool(new_images),
    }


def registration(target_td: dict[str, Any], new_images: dict[str, str]) -> dict[str, Any]:
    """The target's own definition with only the images changed: its variables, secrets, limits and roles stay."""
    body = {k: target_td[k] for k in REGISTER_KEYS if target_td.get(k) not in (None, [], {})}
    body["containerDefinitions"] = [
        {**c, "image": new_images.get(c["name"], c["image"])} for c in target_td["containerDefinitions"]
    ]
    return body


def register(ecs: Any, body: dict[str, Any], tags: list[dict[str, str]]) -> str:
    return api.register_task_definition(ecs, body, tags)["taskDefinition"]["taskDefinitionArn"]


# --- waiting -------------------------------------------------------------------------------------------------------


def service_state(service: dict[str, Any], task_definition: str) -> tuple[str, str]:
    """('done' | 'waiting' | 'failed', why) for the deployment of task_definition, from DescribeServices alone."""
    deployments = service.get("deployments", [])
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    if primary is None:
        return "waiting", "no PRIMARY deployment yet"
    ours = [d for d in deployments if d.get("taskDefinition") == task_definition]
    if primary.get("taskDefinition") != task_definition:
        rolled = any(d.get("rolloutState") == "FAILED" for d in ours) or not ours
        if rolled:
            reason = next((d.get("rolloutStateReason", "") for d in ours if d.get("rolloutStateReason")), "")
            return "failed", f"the deployment failed and ECS rolled back to {primary.get('taskDefinition')}: {reason}"
        return "waiting", f"PRIMARY still runs {primary.get('taskDefinition')}"
    state = primary.get("rolloutState", "COMPLETED")
    if state == "FAILED":
        return "failed", f"deployment FAILED: {primary.get('rolloutStateReason', '')}"
    running, desired = primary.get("runningCount", 0), primary.get("desiredCount", 0)
    if state != "COMPLETED":
        return "waiting", f"deployment {state}, {running}/{desired} tasks running"
    if running != desired or len(deployments) > 1:
        return "waiting", f"COMPLETED with {running}/{desired} tasks running and {len(deployments)} deployments"
    return "done", f"COMPLETED, {running}/{desired} tasks running"


def targets_healthy(elbv2: Any, service: dict[str, Any]) -> tuple[bool, str]:
    """Every target of the service's target groups healthy, and at least the desired count of them."""
    desired = service.get("desiredCount", 0)
    for lb in service.get("loadBalancers", []):
        arn = lb.get("targetGroupArn")
        if not arn:
            continue
        health = elbv2_api.describe_target_health(elbv2, arn)
        states = [h["TargetHealth"]["State"] for h in health]
        healthy = states.count("healthy")
        if healthy < desired or any(s not in ("healthy", "draining") for s in states):
            return False, f"targets of {arn.rsplit('/', 2)[-2]}: {healthy} healthy of {len(states)} ({desired} wanted)"
    return True, "targets healthy"


def wait_for(
    ecs: Any,
    elbv2: Any,
    cluster: str,
    wanted: dict[str, str],
    timeout: float,
    interval: float,
    now: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    timeout_label: float | None = None,
    progress: Callable[..., object] | None = None,
) -> dict[str, dict[str, str]]:
    """Wait until every service's PRIMARY deployment of its task definition is COMPLETED, running = desired, targets
    healthy; or it failed; or the timeout passed. Returns {service: {"state", "why"}}; one DescribeServices per ten
    services per poll, so many services cost about as much wall time as one."""
    deadline = now() + timeout
    states: dict[str, dict[str, str]] = {s: {"state": "waiting", "why": "not read yet"} for s in wanted}
    while True:
        pending = [s for s, st in states.items() if st["state"] == "waiting"]
        if not pending:
            return states
        live = describe_services(ecs, cluster, pending)
        for name in pending:
            state, why = service_state(live[name], wanted[name])
            if state == "done":
                ok, health = targets_healthy(elbv2, live[name])
                state, why = ("done", f"{why}, {health}") if ok else ("waiting", health)
            states[name] = {"state": state, "why": why}
        if all(st["state"] != "waiting" for st in states.values()):
            return states
        if progress is not None:
            waiting = [f"{name}: {st['why']}" for name, st in states.items() if st["state"] == "waiting"]
            progress(
                f"waiting for {len(waiting)} of {len(states)} service(s) to be stable, "
                f"{seconds_left(deadline - now())} - " + "; ".join(waiting)
            )
        if now() >= deadline:
            for name, st in states.items():
                if st["state"] == "waiting":
                    waited = timeout if timeout_label is None else timeout_label
                    states[name] = {"state": "timeout", "why": f"not stable after {waited:g}s: {st['why']}"}
            return states
        sleep(min(interval, max(0.0, deadline - now())))


def in_parallel(fn: Callable[..., Any], items: list[Any], workers: int = 8) -> list[Any]:
    """fn over items in a few threads (boto3 clients are thread-safe); results in input order."""
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))
