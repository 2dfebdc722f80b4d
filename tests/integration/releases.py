"""What a release test reads back: the images CI pushed, what an environment serves, its release records."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from localcloud.client import push_image
from tests.conftest import ROOT, Cloud

REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
ROLLING = {"dev"}  # one service, no colours (group_vars/dev.yml: deployment_strategy rolling)


ENVIRONMENTS = "provisioned-dev,staging,prod"  # the snapshot of the three permanent environments, newly provisioned


def release_vars(cloud: Cloud) -> dict:
    """What a release needs to run fast on the local cloud: its health URL, short checks, bakes and waits."""
    return {
        "health_check_connect": cloud.url + "/_localcloud/lb/{host}{path}?port={port}",
        "health_check": {"path": "/health", "retries": 3, "delay": 1, "expected_status": 200},
        "bake_seconds": 1,
        "release_poll_interval": 0.5,
        "release_wait_timeout": 60,
    }


def flat(proc: subprocess.CompletedProcess) -> str:
    """The run's output with Ansible's line wrapping undone."""
    return " ".join((proc.stdout + proc.stderr).split())


def must(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    return proc


def build(cloud: Cloud, version: str) -> dict[str, str]:
    """What CI leaves in dev's repositories for a version: container -> digest."""
    ecr = cloud.client("ecr")
    return {c: push_image(ecr, f"dev-movie-app-{c}-repo", version, f"{c} {version}") for c in ("client", "server")}


def live(cloud: Cloud, env: str) -> dict:
    """What an environment serves: the live colour's service, its task definition's images and env vars, the weights."""
    elbv2, ecs = cloud.client("elbv2"), cloud.client("ecs")
    lb = elbv2.describe_load_balancers(Names=[f"{env}-movie-app-alb"])["LoadBalancers"][0]
    listeners = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    weights = {}
    for listener in listeners:
        for rule in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]:
            if rule["Priority"] == "100":
                for tg in rule["Actions"][0]["ForwardConfig"]["TargetGroups"]:
                    weights["blue" if "-app-blue/" in tg["TargetGroupArn"] else "green"] = tg["Weight"]
    colour = None if env in ROLLING or env.startswith("feature-") else max(weights, key=weights.get)
    name = f"{env}-movie-app-service" + (f"-{colour}" if colour else "")
    service = ecs.describe_services(cluster=f"{env}-movie-app-cluster", services=[name])["services"][0]
    td = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    return {
        "colour": colour,
        "weights": weights,
        "service": service,
        "task_definition": service["taskDefinition"],
        "digests": {c["name"]: c["image"].rsplit("@", 1)[-1] for c in td["containerDefinitions"]},
        "env": {e["name"]: e["value"] for c in td["containerDefinitions"] for e in c.get("environment", [])},
    }


def records(cloud: Cloud, env: str) -> list[dict]:
    table = cloud.client("dynamodb")
    items = table.query(
        TableName=f"{env}-movie-app-deployments",
        KeyConditionExpression="environment = :e",
        ExpressionAttributeValues={":e": {"S": env}},
        ScanIndexForward=False,
    )["Items"]
    return [{k: next(iter(v.values())) for k, v in item.items()} for item in items]


def served(cloud: Cloud, env: str) -> dict:
    """One request through the environment's load balancer."""
    status, body = cloud.control.lb_get(f"{env}-movie-app-alb")
    return {**body, "http_status": status}


def start(cloud: Cloud, playbook: str, *args: str, stdout: int = subprocess.DEVNULL) -> subprocess.Popen:
    """A release playbook in the background, for runs that race or are killed."""
    command = [str(Path(sys.executable).parent / "ansible-playbook"), f"playbooks/{playbook}.yml"]
    env = {**cloud.env, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    command += ["-e", f"@{cloud.vars_file}", *args]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout, text=True, start_new_session=True)


def start_promotion(cloud: Cloud, *args: str, stdout: int) -> subprocess.Popen:
    """promote.yml in the background."""
    return start(cloud, "promote", *args, stdout=stdout)


def release(cloud: Cloud, playbook: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return cloud.playbook(f"playbooks/{playbook}.yml", "-e", f"@{cloud.vars_file}", *args, **kwargs)


def when(condition: Callable[[], bool], then: Callable[[], None], timeout: float = 120) -> threading.Thread:
    """Run `then` once `condition` holds (polled), in the background: a fault that strikes mid-release."""

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if condition():
                    then()
                    return
            except Exception:  # the cloud is busy or the resource is not there yet; poll again
                pass
            time.sleep(0.2)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def wait_until(condition: Callable[[], bool], timeout: float = 120, what: str = "the condition") -> None:
    """Poll `condition` (errors count as not yet) until it holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:  # the resource is not there yet
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout}s")


def shifting_to(cloud: Cloud, env: str, colour: str) -> Callable[[], bool]:
    """True once a traffic step sends the colour part, not all, of the environment's requests."""
    return lambda: 0 < live(cloud, env)["weights"].get(colour, 0) < 100


def lock_of(cloud: Cloud, env: str) -> dict:
    """The environment's deployment lock item, {} when free."""
    item = cloud.client("dynamodb").get_item(
        TableName=f"{env}-movie-app-deploy-locks", Key={"environment": {"S": env}}, ConsistentRead=True
    )
    return {k: next(iter(v.values())) for k, v in item.get("Item", {}).items()}


def idle_service(cloud: Cloud, env: str) -> dict:
    """The colour that is not live: its service as ECS describes it."""
    colour = "green" if live(cloud, env)["colour"] == "blue" else "blue"
    return cloud.client("ecs").describe_services(
        cluster=f"{env}-movie-app-cluster", services=[f"{env}-movie-app-service-{colour}"]
    )["services"][0]
