# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The application as data: its services, each with its containers (the inventory's ``application_services``).

Pure functions, no AWS call: the names the roles derive from the data (ECR repositories, ECS services, task
families, target groups), the ECS container definitions of a service, and the checks validation runs on the data.
"""

from __future__ import annotations

import re
from typing import Any

SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
# ECS: a container's name has up to 255 letters, digits, hyphens and underscores.
CONTAINER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
MEMORY = re.compile(r"^([1-9][0-9]*)([mg])$")
# What a container's secret may name: the environment's own secrets, by the role that makes them.
SECRET_SOURCES = ("database",)


def memory_mib(text: Any) -> int | None:
    """A size like 512m or 2g in MiB; None when it is not one."""
    found = MEMORY.match(text) if isinstance(text, str) else None
    if not found:
        return None
    return int(found.group(1)) * (1024 if found.group(2) == "g" else 1)


def repository(environment: str, app_name: str, container: dict[str, Any]) -> str:
    """A container's ECR repository, <environment>-<app_name>-<container>-repo: always the environment's own, so that
    a teardown deletes only its own and each scope's policies name only theirs."""
    return f"{environment}-{app_name}-{container['name']}-repo"


def repositories(services: list[dict[str, Any]], environment: str, app_name: str) -> list[str]:
    """Every ECR repository of the application in one environment, in the order of the data, without repeats."""
    names: list[str] = []
    for service in services or []:
        for container in service.get("containers") or []:
            name = repository(environment, app_name, container)
            if name not in names:
                names.append(name)
    return names


def services(
    data: list[dict[str, Any]], environment: str, app_name: str, resource_names: dict[str, Any]
) -> list[dict[str, Any]]:
    """The services with every name the roles give them. The first service's resources have the names of
    resource_names (service, task_family, target_group_blue, target_group_green); a later one's add its name."""
    result = []
    for index, service in enumerate(data or []):
        suffix = "" if index == 0 else f"-{service['name']}"
        result.append(
            {
                "name": service["name"],
                "ecs_service": f"{resource_names['service']}{suffix}",
                "task_family": f"{resource_names['task_family']}{suffix}",
                "target_groups": {
                    "blue": resource_names["target_group_blue"]
                    if index == 0
                    else f"{environment}-{service['name']}-blue",
                    "green": resource_names["target_group_green"]
                    if index == 0
                    else f"{environment}-{service['name']}-green",
                },
                "containers": [
                    {**container, "repository": repository(environment, app_name, container)}
                    for container in service.get("containers") or []
                ],
                "load_balancer": service.get("load_balancer"),
            }
        )
    return result


def _text(value: Any) -> str:
    """A value as ECS's environment takes it: text; booleans as true and false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def container_definitions(
    service: dict[str, Any],
    repository_uris: dict[str, str],
    tag: str,
    log_group: str,
    region: str,
    cpu_limit: float,
    memory_limit: str,
    secret_arns: dict[str, str],
) -> list[dict[str, Any]]:
    """The ECS container definitions of a service's first task definition: each container's image
    (<repository URI>:<tag>), CPU units and memory (its own, else the environment's cpu_limit and memory_limit), its
    port, environment, secrets (by source: the environment's secret ARNs) and logs."""
    definitions = []
    for container in service["containers"]:
        cpu = container.get("cpu") if container.get("cpu") is not None else cpu_limit
        definition: dict[str, Any] = {
            "name": container["name"],
            "image": f"{repository_uris[container['repository']]}:{tag}",
            "essential": container.get("essential", True),
            "memory": memory_mib(container.get("memory") or memory_limit),
            "cpu": int(float(cpu) * 1024),
            "environment": [
                {"name": name, "value": _text(value)} for name, value in (container.get("environment") or {}).items()
            ],
            "secrets": [
                {"name": name, "valueFrom": secret_arns[source]}
                for name, source in (container.get("secrets") or {}).items()
                if secret_arns.get(source)
            ],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": log_group,
                    "awslogs-region": region,
                    "awslogs-stream-prefix": container["name"],
                },
            },
        }
        if container.get("port") is not None:
            definition["portMappings"] = [{"containerPort": int(container["port"]), "protocol": "tcp"}]
        definitions.append(definition)
    return definitions


def check(env: str, data: Any, app_port: Any = None) -> list[str]:
    """What the schema cannot say about application_services: unique names, a load balancer's container and port
    among the service's, the secrets' sources; each message names the service."""
    if not isinstance(data, list) or not all(isinstance(s, dict) for s in data):
        return []  # the schema reports it
    errors = []
    where = f"environment '{env}': setting 'application_services'"
    if not data:
        errors.append(f"{where} is empty; allowed: one service or more, each with its containers")
    seen: set[str] = set()
    for service in data:
        name = service.get("name")
        if not isinstance(name, str) or not SERVICE_NAME.match(name):
            errors.append(f"{where}: service name {name!r} is not allowed: ^[a-z][a-z0-9-]{{0,19}}$")
            continue
        if name in seen:
            errors.append(f"{where}: service '{name}' is listed twice; allowed: each service once")
        seen.add(name)
        containers = [c for c in service.get("containers") or [] if isinstance(c, dict)]
        if not containers:
            errors.append(f"{where}: service '{name}' has no containers; allowed: one or more")
        names = [c.get("name") for c in containers]
        for container in containers:
            cname = container.get("name")
            if not isinstance(cname, str) or not CONTAINER_NAME.match(cname):
                errors.append(
                    f"{where}: service '{name}' container name {cname!r} is not allowed: letters, digits, - and _, "
                    "at most 255"
                )
            elif names.count(cname) > 1:
                errors.append(f"{where}: service '{name}' lists container '{cname}' twice; allowed: each once")
            memory = container.get("memory")
            if memory is not None and memory_mib(memory) is None:
                errors.append(
                    f"{where}: service '{name}' container '{cname}' memory is {memory!r}; allowed: a size like 512m "
                    "or 2g"
                )
            secrets = container.get("secrets") or {}
            if not isinstance(secrets, dict):
                errors.append(
                    f"{where}: service '{name}' container '{cname}' secrets are not a mapping of variable to source; "
                    f"allowed: {{VARIABLE: {SECRET_SOURCES[0]}}}"
                )
                secrets = {}
            for secret, source in secrets.items():
                if source not in SECRET_SOURCES:
                    # Never the value: a secret's value put where its source belongs must not be printed.
                    errors.append(
                        f"{where}: service '{name}' container '{cname}' secret {secret} names an unknown source (not "
                        f"shown, it may be secret); allowed: {', '.join(SECRET_SOURCES)} (the environment's database "
                        "credentials)"
                    )
        balanced = service.get("load_balancer")
        if balanced is None and app_port is not None:
            errors.append(
                f"{where}: service '{name}' has no load_balancer; allowed: the container and port its target groups "
                "serve (the environment's one service is behind its load balancer)"
            )
        if isinstance(balanced, dict) and app_port is not None and balanced.get("port") != app_port:
            errors.append(
                f"{where}: service '{name}' sends its load balancer's traffic to port {balanced.get('port')}, but the "
                f"target groups and the security group serve app_port ({app_port}); allowed: {app_port}"
            )
        if isinstance(balanced, dict):
            target = next((c for c in containers if c.get("name") == balanced.get("container")), None)
            if target is None:
                errors.append(
                    f"{where}: service '{name}' sends its load balancer's traffic to container "
                    f"{balanced.get('container')!r}, which it does not have; allowed: {', '.join(map(str, names))}"
                )
            elif target.get("port") != balanced.get("port"):
                port = target.get("port")
                listens = port if isinstance(port, int) and not isinstance(port, bool) else "another port"
                errors.append(
                    f"{where}: service '{name}' sends its load balancer's traffic to port {balanced.get('port')} of "
                    f"container '{target.get('name')}', which listens on {listens}; allowed: its port"
                )
    if len(data) > 1:
        errors.append(
            f"{where} has {len(data)} services ({', '.join(str(s.get('name')) for s in data)}); allowed: one service "
            "per environment (several services, each with its own traffic, are not supported yet)"
        )
    return errors
