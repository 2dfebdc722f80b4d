"""What a release test reads back: the images CI pushed, what an environment serves, its release records."""

from __future__ import annotations

import subprocess

from localcloud.client import push_image
from tests.conftest import Cloud

REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
ROLLING = {"dev"}  # one service, no colours (group_vars/dev.yml: deployment_strategy rolling)


ENVIRONMENTS = "provisioned-dev,staging,prod"  # the snapshot of the three permanent environments, newly provisioned


def release_vars(cloud: Cloud) -> dict:
    """What a release needs to run fast on the local cloud: its health URL, short checks, bakes and waits."""
    return {
        "health_base_url": cloud.url + "/_localcloud/lb/{{ resource_names.alb }}",
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
    colour = None if env in ROLLING else max(weights, key=weights.get)
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
