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
# database: the master credentials (JSON); mongodb_uri: a DocumentDB database's connection string.
SECRET_SOURCES = ("database", "mongodb_uri")


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


COLOURS = ("blue", "green")
# ALB: a rule has at most 5 condition values; a target group's name at most 32 characters.
MAX_RULE_VALUES = 5
MAX_TARGET_GROUP_NAME = 32


def balanced(service: dict[str, Any]) -> bool:
    """Whether the service takes requests from the load balancer."""
    return isinstance(service.get("load_balancer"), dict)


def default_service(data: list[dict[str, Any]]) -> str | None:
    """The name of the load-balanced service that takes every request no other one's routing claims: the one marked
    default, else the only one, else the first without paths or hosts."""
    behind = [s for s in data or [] if balanced(s)]
    marked = [s for s in behind if s["load_balancer"].get("default")]
    if marked:
        return marked[0].get("name")
    if len(behind) == 1:
        return behind[0].get("name")
    plain = [s for s in behind if not s["load_balancer"].get("paths") and not s["load_balancer"].get("hosts")]
    return plain[0].get("name") if plain else None


def target_groups(environment: str, name: str, is_default: bool, resource_names: dict[str, Any]) -> dict[str, str]:
    """A load-balanced service's target group names per colour: resource_names' for the default service."""
    if is_default:
        return {c: resource_names[f"target_group_{c}"] for c in COLOURS}
    return {c: f"{environment}-{name}-{c}" for c in COLOURS}


def release_order(data: list[dict[str, Any]], order: list[str] | None) -> list[str]:
    """The services' names in the order a release updates them."""
    names = [s.get("name") for s in data or []]
    return list(order) if order else names


def services(
    data: list[dict[str, Any]],
    environment: str,
    app_name: str,
    resource_names: dict[str, Any],
    order: list[str] | None = None,
) -> list[dict[str, Any]]:
    """The services with every name the roles give them, in release order. The default load-balanced service has the
    names of resource_names (service, task_family, target_group_blue, target_group_green; its target groups keyed by
    colour in the load balancer's result); another one's add its name: <service>-<name>, <task_family>-<name>,
    <environment>-<name>-<colour> (keyed <name>-<colour>). Names follow the service, not its place in the list."""
    default = default_service(data)
    result = []
    for service in data or []:
        suffix = "" if service["name"] == default else f"-{service['name']}"
        behind = balanced(service)
        is_default = behind and service["name"] == default
        lb = dict(service["load_balancer"]) if behind else None
        if lb is not None:
            lb["default"] = is_default
            lb["paths"] = list(lb.get("paths") or [])
            lb["hosts"] = list(lb.get("hosts") or [])
        result.append(
            {
                "name": service["name"],
                "ecs_service": f"{resource_names['service']}{suffix}",
                "task_family": f"{resource_names['task_family']}{suffix}",
                "balanced": behind,
                "target_groups": target_groups(environment, service["name"], is_default, resource_names)
                if behind
                else {},
                "target_group_keys": {c: c if is_default else f"{service['name']}-{c}" for c in COLOURS}
                if behind
                else {},
                "containers": [
                    {**container, "repository": repository(environment, app_name, container)}
                    for container in service.get("containers") or []
                ],
                "load_balancer": lb,
            }
        )
    names = release_order(data, order)
    return sorted(result, key=lambda s: names.index(s["name"]) if s["name"] in names else len(names))


def ecs_services(service: dict[str, Any], strategy: str) -> dict[str, str]:
    """A service's ECS services by colour: blue and green for a load-balanced one when the strategy has two colours,
    else one, keyed blue, named as the service."""
    if service["balanced"] and strategy in ("blue_green", "canary"):
        return {c: f"{service['ecs_service']}-{c}" for c in COLOURS}
    return {"blue": service["ecs_service"]}


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


def check(env: Any, data: Any, app_port: Any = None, order: Any = None, resource_names: Any = None) -> list[str]:
    """What the schema cannot say about application_services: unique names, the load balancer's container, port and
    routing, the secrets' sources, the release order; each message names the service."""
    if not isinstance(data, list) or not all(isinstance(s, dict) for s in data):
        return []  # the schema reports it
    errors = []
    where = f"environment '{env}': setting 'application_services'"
    if not data:
        errors.append(f"{where} is empty; allowed: one service or more, each with its containers")
    seen: set[str] = set()
    owners: dict[str, str] = {}
    for service in data:
        name = service.get("name")
        if not isinstance(name, str) or not SERVICE_NAME.match(name):
            errors.append(f"{where}: service name {name!r} is not allowed: ^[a-z][a-z0-9-]{{0,19}}$")
            continue
        if name in COLOURS or name.endswith(("-blue", "-green")):
            errors.append(
                f"{where}: service name '{name}' is not allowed: blue and green (and -blue, -green) name the colours "
                "of a service's ECS services and target groups"
            )
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
                continue
            if names.count(cname) > 1:
                errors.append(f"{where}: service '{name}' lists container '{cname}' twice; allowed: each once")
            elif cname in owners and owners[cname] != name:
                errors.append(
                    f"{where}: service '{name}' has a container '{cname}', as service '{owners[cname]}' does; "
                    f"allowed: each container name once in the application (its images are in "
                    f"<environment>-<app_name>-{cname}-repo)"
                )
            owners.setdefault(cname, name)
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
                        "credentials, and a DocumentDB database's connection string)"
                    )
        balanced_to = service.get("load_balancer")
        if isinstance(balanced_to, dict):
            errors.extend(_check_balanced(where, name, balanced_to, containers, app_port))
    named = [s for s in data if isinstance(s.get("name"), str)]
    errors.extend(_check_routing(where, named))
    default = default_service(named)
    for service in named:
        longest = f"{env}-{service['name']}-green"
        if balanced(service) and service["name"] != default and len(longest) > MAX_TARGET_GROUP_NAME:
            errors.append(
                f"{where}: service '{service['name']}' would have target groups named {longest} ({len(longest)} "
                f"characters); allowed: at most {MAX_TARGET_GROUP_NAME}, so a shorter service name"
            )
        taken = {(resource_names or {}).get(f"target_group_{c}") for c in COLOURS if isinstance(resource_names, dict)}
        mine = {f"{env}-{service['name']}-{c}" for c in COLOURS}
        if balanced(service) and service["name"] != default and mine & taken:
            errors.append(
                f"{where}: service '{service['name']}' would have target groups named "
                f"{', '.join(sorted(mine & taken))}, the default service's (resource_names); allowed: another name"
            )
    errors.extend(_check_order(env, [s.get("name") for s in data], order))
    return errors


def _check_balanced(where, name, balanced_to, containers, app_port) -> list[str]:
    errors = []
    names = [c.get("name") for c in containers]
    if app_port is not None and balanced_to.get("port") != app_port:
        errors.append(
            f"{where}: service '{name}' sends its load balancer's traffic to port {balanced_to.get('port')}, but the "
            f"target groups and the security group serve app_port ({app_port}); allowed: {app_port}"
        )
    target = next((c for c in containers if c.get("name") == balanced_to.get("container")), None)
    if target is None:
        errors.append(
            f"{where}: service '{name}' sends its load balancer's traffic to container "
            f"{balanced_to.get('container')!r}, which it does not have; allowed: {', '.join(map(str, names))}"
        )
    elif target.get("port") != balanced_to.get("port"):
        port = target.get("port")
        listens = port if isinstance(port, int) and not isinstance(port, bool) else "another port"
        errors.append(
            f"{where}: service '{name}' sends its load balancer's traffic to port {balanced_to.get('port')} of "
            f"container '{target.get('name')}', which listens on {listens}; allowed: its port"
        )
    values = len(balanced_to.get("paths") or []) + len(balanced_to.get("hosts") or [])
    if values > MAX_RULE_VALUES:
        errors.append(
            f"{where}: service '{name}' routes by {values} paths and hosts; allowed: at most {MAX_RULE_VALUES} "
            "(an ALB rule's conditions)"
        )
    return errors


def _check_routing(where, data) -> list[str]:
    """Exactly one default among the load-balanced services; no path or host claimed by two services."""
    behind = [s for s in data if balanced(s)]
    if data and not behind:
        return [
            f"{where}: no service is behind the load balancer; allowed: at least one service with a load_balancer "
            "(its container and port)"
        ]
    errors = []
    marked = [s["name"] for s in behind if s["load_balancer"].get("default")]
    if len(marked) > 1:
        errors.append(
            f"{where}: services {', '.join(marked)} are each the default; allowed: one default service, the others "
            "routed by paths or hosts"
        )
    if len(behind) > 1 and default_service(behind) is None:
        errors.append(
            f"{where}: services {', '.join(s['name'] for s in behind)} are behind the load balancer and none is the "
            "default; allowed: exactly one with default: true (or without paths and hosts), which takes every request "
            "the others' routing does not claim"
        )
    if len(behind) > 1:
        default = default_service(behind)
        for service in behind:
            lb = service["load_balancer"]
            if service["name"] != default and not lb.get("paths") and not lb.get("hosts"):
                errors.append(
                    f"{where}: service '{service['name']}' is behind the load balancer with no paths or hosts, and "
                    f"'{default}' is the default; allowed: paths or hosts for every load-balanced service but the "
                    "default"
                )
    claimed: dict[tuple[tuple[str, ...], str], str] = {}
    for service in behind:
        lb = service["load_balancer"]
        if lb.get("default") or service["name"] == default_service(behind):
            continue
        hosts = tuple(sorted(str(h).lower() for h in lb.get("hosts") or []))
        for path in lb.get("paths") or [""]:
            key = (hosts, str(path))
            if key in claimed and claimed[key] != service["name"]:
                what = f"path {path}" if path else f"hosts {', '.join(hosts)}"
                errors.append(
                    f"{where}: services '{claimed[key]}' and '{service['name']}' both claim {what}; allowed: each path "
                    "(per host) routed to one service"
                )
            claimed.setdefault(key, service["name"])
    return errors


def _check_order(env, names, order) -> list[str]:
    if order in (None, []):
        return []
    where = f"environment '{env}': setting 'application_release_order'"
    if not isinstance(order, list):
        return [f"{where} is {order!r}; allowed: a list of the services' names"]
    errors = [
        f"{where} names service {name!r}, which application_services does not have; allowed: "
        f"{', '.join(map(str, names))}"
        for name in order
        if name not in names
    ]
    twice = sorted({str(n) for n in order if order.count(n) > 1})
    if twice:
        errors.append(f"{where} names {', '.join(twice)} more than once; allowed: each service once")
    missing = [str(n) for n in names if n not in order]
    if missing:
        errors.append(f"{where} leaves out {', '.join(missing)}; allowed: every service, each once")
    return errors


def target_group_list(services_: list[dict[str, Any]], health_path: str) -> list[dict[str, Any]]:
    """Every target group of the load-balanced services: service, colour, name, key, health check path."""
    groups = []
    for service in services_:
        if not service.get("balanced"):
            continue
        path = (service.get("load_balancer") or {}).get("health_path") or health_path
        for colour in COLOURS:
            groups.append(
                {
                    "service": service["name"],
                    "colour": colour,
                    "name": service["target_groups"][colour],
                    "key": service["target_group_keys"][colour],
                    "health_path": path,
                }
            )
    return groups


def listener_rules(
    services_: list[dict[str, Any]],
    arns_by_name: dict[str, str],
    live_weights: dict[str, int],
    default_priority: int,
    data_order: list[str] | None = None,
) -> list[dict[str, Any]]:
    """The weighted forward rule of each load-balanced service, as elb_application_lb takes it: the routed services'
    at priorities 1, 2, ... in the order of application_services (data_order), the default service's at
    default_priority for /*. The weights the rules have live are kept (a release sets them); a new rule sends all
    to the colour the default service's rule serves."""
    routed = [s for s in services_ if s.get("balanced") and not s["load_balancer"]["default"]]
    if data_order:
        routed.sort(key=lambda s: data_order.index(s["name"]) if s["name"] in data_order else len(data_order))
    defaults = [s for s in services_ if s.get("balanced") and s["load_balancer"]["default"]]
    # A new rule (a service added) starts on the colour the default service's rule serves now, so that the services'
    # rules agree (a release reads disagreeing rules as an interrupted one).
    live = "blue"
    for service in defaults:
        blue = arns_by_name.get(service["target_groups"]["blue"], "")
        green = arns_by_name.get(service["target_groups"]["green"], "")
        if blue in live_weights and green in live_weights and int(live_weights[green]) > int(live_weights[blue]):
            live = "green"
    rules = []
    for index, service in enumerate(routed + defaults):
        lb = service["load_balancer"]
        if lb["default"]:
            priority, conditions = default_priority, [{"Field": "path-pattern", "Values": ["/*"]}]
        else:
            priority, conditions = index + 1, []
            if lb.get("paths"):
                conditions.append({"Field": "path-pattern", "Values": list(lb["paths"])})
            if lb.get("hosts"):
                conditions.append({"Field": "host-header", "Values": list(lb["hosts"])})
        groups = []
        for colour in COLOURS:
            arn = arns_by_name.get(service["target_groups"][colour], "")
            fresh = 100 if colour == live else 0
            weight = live_weights.get(arn, fresh) if arn else fresh
            groups.append({"TargetGroupArn": arn, "Weight": int(weight)})
        rules.append(
            {
                "Priority": priority,
                "Conditions": conditions,
                "Actions": [
                    {
                        "Type": "forward",
                        "ForwardConfig": {"TargetGroups": groups, "TargetGroupStickinessConfig": {"Enabled": False}},
                    }
                ],
            }
        )
    return rules


def ecs_service_list(
    services_: list[dict[str, Any]], strategy: str, arns_by_key: dict[str, str]
) -> list[dict[str, Any]]:
    """Every ECS service of the application, in release order: name, colour, its application service, task family,
    and the load balancer entries (target group ARN by key, container, port) of a load-balanced one."""
    result = []
    for service in services_:
        lb = service.get("load_balancer")
        for colour, name in ecs_services(service, strategy).items():
            entries = []
            if lb is not None:
                entries.append(
                    {
                        "targetGroupArn": arns_by_key.get(service["target_group_keys"][colour], ""),
                        "containerName": lb["container"],
                        "containerPort": int(lb["port"]),
                    }
                )
            result.append(
                {
                    "name": name,
                    "colour": colour,
                    "service": service["name"],
                    "task_family": service["task_family"],
                    "load_balancers": entries,
                }
            )
    return result
