# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What AWS would refuse about an environment, known from its settings alone: the names Stageflow derives for its
resources, and whether its tasks fit its instances. Pure functions, no AWS call.

The names are the ones the roles derive (``resource_names`` in group_vars/all, and the defaults of the roles named
beside each one below); tests/unit/plugins/module_utils/test_environment_limits.py renders the roles' own templates and
fails when one here no longer matches them.

Each problem is a dict with ``environment``, ``check`` (names, capacity or enis), ``what``, ``why``, ``fix`` and
``message`` (one line, for validation's list).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from ansible_collections.stageflow.aws.plugins.module_utils import application
from ansible_collections.stageflow.aws.plugins.module_utils.aws_limits import (
    INSTANCE_TYPES,
    NAME_RULES,
    awsvpc_tasks_per_instance,
    name_problem,
    registered_cpu,
    registered_memory,
)

# Services (colours) per strategy (roles/container_platform/vars/main.yml, _container_platform_colours).
COLOURS = {"rolling": ("blue",), "blue_green": ("blue", "green"), "canary": ("blue", "green")}
# ECS deployment configuration (minimumHealthyPercent, maximumPercent) of the colours' services: a release deploys to
# the idle colour, which takes no traffic, so ECS may stop its old tasks before it starts new ones and needs no room.
# A rolling environment's one service follows its `rolling_update` setting (roles/container_platform/vars/main.yml).
IDLE_COLOUR_DEPLOYMENT = (0, 100)
# Read replicas per topology (roles/database/vars/main.yml, _database_replicas_per_topology).
REPLICAS_PER_TOPOLOGY = {"single": 0, "replica": 1, "sharded": 2}
# The gates' alarm kinds per target group (roles/monitoring/vars/main.yml, _monitoring_gate_kinds) and the load
# balancer's own alarms (_monitoring_alarms).
GATE_ALARM_KINDS = ("target-5xx", "p95-latency", "unhealthy-hosts")
LOAD_BALANCER_ALARM_KINDS = ("target-5xx", "p95-latency")
TARGET_GROUP_COLOURS = ("blue", "green")
# An AWS account id is always 12 digits; the reports bucket ends with it.
ACCOUNT_ID_EXAMPLE = "123456789012"
# A release's id (roles/release/tasks/main.yml): <kind>-<environment>-<UTC time>-<5 digits>; the longest kinds.
RELEASE_ID_EXAMPLE = "{kind}-{environment}-20250101T000000-00000"


class DerivedName(NamedTuple):
    what: str  # "load balancer name"
    source: str  # where it comes from: "resource_names.alb"
    kind: str  # a key of aws_limits.NAME_RULES
    name: str


# The names in resource_names (group_vars/all): what each names, and its kind.
RESOURCE_NAMES = {
    "vpc": ("VPC Name tag", "ec2_tag_value"),
    "cluster": ("ECS cluster name", "ecs_cluster"),
    "service": ("ECS service name", "ecs_service"),
    "task_family": ("task definition family", "ecs_task_family"),
    "alb": ("load balancer name", "elbv2_load_balancer"),
    "asg": ("Auto Scaling group name", "autoscaling_group"),
    "target_group_blue": ("target group name", "elbv2_target_group"),
    "target_group_green": ("target group name", "elbv2_target_group"),
    "database": ("database identifier", "rds_instance"),
    "dashboard": ("CloudWatch dashboard name", "cloudwatch_dashboard"),
    "lock_table": ("DynamoDB table name", "dynamodb_table"),
    "records_table": ("DynamoDB table name", "dynamodb_table"),
    "snapshot_policy_parameter": ("SSM parameter name", "ssm_parameter"),
}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def derived_names(values: dict[str, Any]) -> list[DerivedName]:
    """Every AWS name the roles give this environment's resources, as far as its settings say."""
    env = _text(values.get("environment_name"))
    app = _text(values.get("app_name"))
    names = values.get("resource_names") if isinstance(values.get("resource_names"), dict) else {}
    found: list[DerivedName] = []

    def add(what: str, source: str, kind: str, name: Any) -> None:
        if _text(name):
            found.append(DerivedName(what, source, kind, name))

    for key, (what, kind) in RESOURCE_NAMES.items():
        add(what, f"resource_names.{key}", kind, names.get(key))

    # The containers' repositories: from application_services, or as the names given (application_repositories:
    # env_create.yml checks a new environment's names where its settings are not all known yet).
    services = values.get("application_services")
    repositories = values.get("application_repositories")
    if not isinstance(repositories, list):
        valid = env and app and isinstance(services, list) and all(isinstance(s, dict) for s in services)
        repositories = application.repositories(services, env, app) if valid else []
    for repository in repositories:
        add("ECR repository name", "application_services: a container's repository", "ecr_repository", repository)

    strategy = values.get("deployment_strategy")
    cluster, service, vpc = (_text(names.get(k)) for k in ("cluster", "service", "vpc"))
    colours = COLOURS.get(strategy, ("blue",)) if isinstance(strategy, str) else ("blue",)
    # Every service's ECS services (blue and green for a load-balanced one with two colours) and target groups.
    ecs_names: list[str] = []
    if service and env and all(names.get(k) for k in ("task_family", "target_group_blue", "target_group_green")):
        valid = isinstance(services, list) and all(
            isinstance(s, dict) and isinstance(s.get("name"), str) for s in services
        )
        for index, one in enumerate(application.services(services, env, app or "", names) if valid else []):
            ecs_names += list(application.ecs_services(one, strategy if len(colours) > 1 else "rolling").values())
            if index > 0:
                add(
                    "task definition family",
                    "application_services: <task_family>-<service>",
                    "ecs_task_family",
                    one["task_family"],
                )
            if not one["load_balancer"] or one["load_balancer"]["default"]:
                continue
            for colour, name in one["target_groups"].items():
                add(
                    "target group name",
                    f"application_services: <environment>-<service>-{colour}",
                    "elbv2_target_group",
                    name,
                )
    if not ecs_names and service:
        ecs_names = [service] if len(colours) == 1 else [f"{service}-{colour}" for colour in colours]
    for name in ecs_names:
        if name != service:
            add(
                "ECS service name",
                "container_platform: resource_names.service [+ -<service>] [+ -<colour>]",
                "ecs_service",
                name,
            )
    if service and values.get("auto_scaling") not in (None, "none"):
        for name in ecs_names:
            add("scaling policy name", "container_platform: <service>-cpu", "scaling_policy", f"{name}-cpu")
    if cluster:
        for suffix in ("task-execution", "instance"):
            add(
                "IAM role name",
                f"container_platform: resource_names.cluster + -{suffix}",
                "iam_role",
                f"{cluster}-{suffix}",
            )
        add(
            "instance profile name",
            "container_platform: resource_names.cluster + -instance",
            "iam_instance_profile",
            f"{cluster}-instance",
        )
        add("launch template name", "container_platform: resource_names.cluster", "launch_template", cluster)

    database = _text(names.get("database"))
    if database:
        add("DB subnet group name", "database: resource_names.database", "rds_subnet_group", database)
        topology = (values.get("database") or {}).get("topology") if isinstance(values.get("database"), dict) else None
        for number in range(1, REPLICAS_PER_TOPOLOGY.get(topology, 0) + 1):
            add(
                "read replica identifier",
                f"database: resource_names.database + -replica-<n>, topology {topology}",
                "rds_instance",
                f"{database}-replica-{number}",
            )

    prefix = _text(names.get("alarm_prefix"))
    if prefix and values.get("monitoring_enabled") is not False:
        alarms = [f"{prefix}-{kind}" for kind in LOAD_BALANCER_ALARM_KINDS]
        alarms += [f"{prefix}-{kind}-{colour}" for kind in GATE_ALARM_KINDS for colour in TARGET_GROUP_COLOURS]
        for name in alarms:
            add(
                "CloudWatch alarm name",
                "monitoring: resource_names.alarm_prefix + -<kind>[-<colour>]",
                "cloudwatch_alarm",
                name,
            )

    if vpc:
        for suffix in ("alb", "app", "db") + (("endpoints",) if values.get("network_egress") == "endpoints" else ()):
            add("security group name", f"network: resource_names.vpc + -{suffix}", "security_group", f"{vpc}-{suffix}")
        zones = [z for z in values.get("availability_zones") or [] if isinstance(z, str)]
        tags = [f"{vpc}-igw"] + [f"{vpc}-{tier}-{zone}" for tier in ("public", "private", "nat") for zone in zones]
        for name in tags:
            add("Name tag", "network: resource_names.vpc + -<part>", "ec2_tag_value", name)

    if env and app:
        add(
            "log group name",
            "container_platform: /stageflow/<environment>/<app>",
            "log_group",
            f"/stageflow/{env}/{app}",
        )
        add(
            "secret name",
            "database: stageflow/<environment>/<app>/database",
            "secret",
            f"stageflow/{env}/{app}/database",
        )
        add(
            "reports bucket name",
            "deployment_state: <environment>-<app>-deploy-reports-<12-digit account id>",
            "s3_bucket",
            f"{env}-{app}-deploy-reports-{ACCOUNT_ID_EXAMPLE}",
        )
        if values.get("backup_enabled") is not False:
            add("backup vault name", "backup: <environment>-<app>", "backup_vault", f"{env}-{app}")
            add("backup plan name", "backup: <environment>-<app>", "backup_plan", f"{env}-{app}")
        add(
            "cross-environment dashboard name",
            "monitoring: <app>-environments",
            "cloudwatch_dashboard",
            f"{app}-environments",
        )
    if env:
        add(
            "database snapshot identifier",
            "release: the release's id, <kind>-<environment>-<time>-<n>",
            "rds_snapshot",
            RELEASE_ID_EXAMPLE.format(kind="promote", environment=env),
        )
        add(
            "image tag",
            "release: stageflow-<release id>",
            "ecr_image_tag",
            "stageflow-" + RELEASE_ID_EXAMPLE.format(kind="rollback", environment=env),
        )
    add("domain name", "domain_name", "domain_name", values.get("domain_name"))
    return found


def _occurrences(env: str, name: str) -> int:
    return len(re.findall(rf"(?<![A-Za-z0-9]){re.escape(env)}(?![A-Za-z0-9])", name))


def longest_environment_name(env: str, names: list[DerivedName]) -> int | None:
    """The longest environment name for which every name derived from it stays within its length limit."""
    bounds = []
    for entry in names:
        count = _occurrences(env, entry.name)
        if count:
            bounds.append(len(env) + (NAME_RULES[entry.kind].max_length - len(entry.name)) // count)
    return min(bounds) if bounds else None


def _problem(env: str, check: str, what: str, why: str, fix: str) -> dict[str, Any]:
    return {
        "environment": env,
        "check": check,
        "what": what,
        "why": why,
        "fix": fix,
        "message": f"environment '{env}': {what}; {why}; {fix}",
    }


def name_problems(env: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    names = derived_names(values)
    longest = longest_environment_name(env, names)
    app = values.get("app_name")
    problems = []
    for entry in names:
        refusal = name_problem(entry.kind, entry.name)
        if refusal is None:
            continue
        why, limit = refusal
        if limit is not None:
            what = f"{entry.what} '{entry.name}' ({entry.source}) is {len(entry.name)} characters"
            fix = (
                f"shorten the environment's name (at most {longest} characters with app_name {app!r}) or app_name"
                if longest is not None and _occurrences(env, entry.name)
                else "shorten app_name or the name's setting"
            )
        else:
            what = f"{entry.what} '{entry.name}' ({entry.source}) is not a valid name"
            fix = "change the environment's name, app_name or the name's setting"
        problems.append(_problem(env, "names", what, why, fix))
    return problems


# memory_limit in MiB, as the container_platform role reads it (512m, 2g): the application's one parser.
memory_mib = application.memory_mib


class Placement(NamedTuple):
    instance_type: str
    registered_cpu: int
    registered_memory: int
    task_cpu: int
    task_memory: int
    by_cpu: int  # tasks one instance holds by CPU
    by_memory: int  # ... by memory
    by_enis: int  # ... by network interfaces (awsvpc, no trunking)
    instances: int
    colours: int
    desired: int
    extra: int  # tasks a deployment starts before it may stop an old one
    services: int = 1  # ECS tasks per unit (one per service): each has its own network interface (awsvpc)

    @property
    def per_instance(self) -> int:
        return min(self.by_cpu, self.by_memory)

    @property
    def peak(self) -> int:
        """Tasks at a release's busiest moment: every colour's desired tasks, and the one more a deployment starts
        before it stops an old one when minimumHealthyPercent keeps them all (one extra is what ECS needs to
        progress)."""
        return self.desired * self.colours + self.extra if self.desired > 0 else 0

    @property
    def needed_per_instance(self) -> int:
        """What each instance must hold so that `instances` hold the peak."""
        return -(-self.peak // self.instances) if self.instances > 0 else self.peak


def deployment_percents(values: dict[str, Any]) -> tuple[int, int] | None:
    """(minimumHealthyPercent, maximumPercent) of the environment's services; None when the settings do not say."""
    if len(COLOURS.get(values.get("deployment_strategy"), ())) > 1:
        return IDLE_COLOUR_DEPLOYMENT
    rolling = values.get("rolling_update")
    if not isinstance(rolling, dict):
        return None
    minimum, maximum = rolling.get("minimum_healthy_percent"), rolling.get("maximum_percent")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (minimum, maximum)):
        return None
    return minimum, maximum


def rollout_extra(desired: int, percents: tuple[int, int]) -> int:
    """1 when minimumHealthyPercent keeps every task running, so a deployment must start a new one first; else 0."""
    minimum, _maximum = percents
    return 1 if -(-desired * minimum // 100) >= desired else 0


def deployment_problems(env: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """A rolling_update ECS would refuse, or one that can never replace a task."""
    rolling = values.get("rolling_update")
    if values.get("deployment_strategy") != "rolling" or not isinstance(rolling, dict):
        return []
    percents = deployment_percents(values)
    if percents is None:
        return []
    minimum, maximum = percents
    errors = []
    if not 0 <= minimum <= 100:
        errors.append(f"rolling_update.minimum_healthy_percent is {minimum}; allowed: 0 to 100")
    if not 100 <= maximum <= 200:
        errors.append(f"rolling_update.maximum_percent is {maximum}; allowed: 100 to 200")
    config = values.get("env_config") if isinstance(values.get("env_config"), dict) else {}
    desired = config.get("desired_capacity")
    if not errors and isinstance(desired, int) and not isinstance(desired, bool) and desired > 0:
        # ECS rounds the tasks it keeps up and the tasks it may run down: with neither room to stop one nor to start
        # one beside them, a deployment never replaces a task.
        keep, most = -(-desired * minimum // 100), desired * maximum // 100
        if keep >= desired and most <= desired:
            errors.append(
                f"rolling_update {minimum}/{maximum} with {desired} task(s) keeps {keep} running and lets "
                f"{most} run: ECS could never replace a task; lower minimum_healthy_percent or raise maximum_percent"
            )
    return [_problem(env, "deployment", error, "ECS refuses or stalls such a deployment", "") for error in errors]


def task_containers(values: dict[str, Any]) -> list[tuple[int, int]]:
    """(CPU units, memory MiB) of each container of one task of every service (the capacity model's unit: each service
    runs desired_capacity tasks, so one "task" here is one of each), as roles/container_platform registers them: its
    own cpu and memory, else cpu_limit and memory_limit. Empty when the settings do not say."""
    services = values.get("application_services")
    if not isinstance(services, list) or not services or not all(isinstance(s, dict) for s in services):
        return []
    result = []
    for container in [c for s in services for c in s.get("containers") or []]:
        if not isinstance(container, dict):
            return []
        cpu = container.get("cpu") if container.get("cpu") is not None else values.get("cpu_limit")
        memory = memory_mib(container.get("memory") or values.get("memory_limit"))
        if not isinstance(cpu, (int, float)) or isinstance(cpu, bool) or cpu <= 0 or memory is None:
            return []
        result.append((int(cpu * 1024), memory))
    return result


def _own_limits(values: dict[str, Any]) -> bool:
    services = values.get("application_services") or [{}]
    return any(
        c.get("cpu") is not None or c.get("memory")
        for s in services
        if isinstance(s, dict)
        for c in s.get("containers") or []
    )


def service_count(values: dict[str, Any]) -> int:
    """How many ECS tasks one unit of the capacity model is: one per service, each with its own network interface."""
    services = values.get("application_services")
    return max(1, len(services)) if isinstance(services, list) else 1


def placement(values: dict[str, Any]) -> Placement | None:
    """How the environment's tasks sit on its instances; None when the settings do not say (validation reports why)."""
    config = values.get("env_config") if isinstance(values.get("env_config"), dict) else {}
    instance_type = config.get("instance_type")
    memory = memory_mib(values.get("memory_limit"))
    cpu = values.get("cpu_limit")
    desired = config.get("desired_capacity")
    strategy = values.get("deployment_strategy")
    percents = deployment_percents(values)
    if (
        percents is None
        or instance_type not in INSTANCE_TYPES
        or memory is None
        or not isinstance(cpu, (int, float))
        or isinstance(cpu, bool)
        or cpu <= 0
        or not isinstance(desired, int)
        or isinstance(desired, bool)
        or strategy not in COLOURS
    ):
        return None
    containers = task_containers(values)
    if not containers:
        return None
    task_cpu = sum(c[0] for c in containers)
    task_memory = sum(c[1] for c in containers)
    reg_cpu, reg_memory = registered_cpu(instance_type), registered_memory(instance_type)
    return Placement(
        instance_type,
        reg_cpu,
        reg_memory,
        task_cpu,
        task_memory,
        reg_cpu // task_cpu if task_cpu else 0,
        reg_memory // task_memory,
        awsvpc_tasks_per_instance(instance_type),
        desired,
        len(COLOURS[strategy]),
        desired,
        rollout_extra(desired, percents),
        service_count(values),
    )


def _describe(instance_type: str) -> str:
    return f"{instance_type} ({registered_memory(instance_type)} MiB, {registered_cpu(instance_type)} CPU units)"


def _types_holding(tasks: int, task_cpu: int, task_memory: int, current: str, enis: bool = False) -> str:
    """The smallest instance types that hold `tasks` such tasks, the current family first."""
    fitting = [
        name
        for name in INSTANCE_TYPES
        if registered_cpu(name) >= tasks * task_cpu
        and registered_memory(name) >= tasks * task_memory
        and (not enis or awsvpc_tasks_per_instance(name) >= tasks)
    ]
    family = current.split(".", maxsplit=1)[0]
    fitting.sort(
        key=lambda n: (n.split(".", maxsplit=1)[0] != family, INSTANCE_TYPES[n].memory_mib, INSTANCE_TYPES[n].vcpus)
    )
    return ", ".join(_describe(n) for n in fitting[:3]) or "none in Stageflow's table"


def _largest_limits(fit: Placement, tasks: int, containers: int) -> str:
    share = tasks * containers
    cpu = (fit.registered_cpu // share) * 100 // 1024 / 100
    return f"memory_limit at most {fit.registered_memory // share}m and cpu_limit at most {cpu:g} per container"


def capacity_problems(env: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    config = values.get("env_config") if isinstance(values.get("env_config"), dict) else {}
    instance_type = config.get("instance_type")
    if isinstance(instance_type, str) and instance_type not in INSTANCE_TYPES:
        return [
            _problem(
                env,
                "capacity",
                f"setting 'env_config.instance_type' is {instance_type!r}",
                "Stageflow knows no CPU, memory or network interface limits for it, so it cannot tell whether the "
                "tasks fit",
                f"allowed: {', '.join(INSTANCE_TYPES)}",
            )
        ]
    fit = placement(values)
    if fit is None:
        return []
    count = len(task_containers(values))
    reservation = f"a task reserves {fit.task_memory} MiB and {fit.task_cpu} CPU units ({count} containers, " + (
        f"each memory_limit {values.get('memory_limit')} and cpu_limit {values.get('cpu_limit')})"
        if not _own_limits(values)
        else "some with limits of their own in application_services)"
    )
    registers = (
        f"a {fit.instance_type} registers {fit.registered_memory} MiB and {fit.registered_cpu} CPU units with ECS"
    )
    if fit.per_instance == 0:
        return [
            _problem(
                env,
                "capacity",
                f"{reservation} but {registers}",
                "ECS cannot place a single task (AWS: RESOURCE:MEMORY or RESOURCE:CPU)",
                f"what would fit: {_largest_limits(fit, 1, count)} on a {fit.instance_type}, or an instance type that "
                f"registers the task: {_types_holding(1, fit.task_cpu, fit.task_memory, fit.instance_type)}",
            )
        ]
    if fit.peak and fit.per_instance * fit.instances < fit.peak:
        limit = "memory" if fit.by_memory <= fit.by_cpu else "CPU"
        need = fit.needed_per_instance
        return [
            _problem(
                env,
                "capacity",
                f"a release's busiest moment is {fit.peak} tasks ({fit.desired} per service x {fit.colours} "
                f"colour(s){', + 1 a rolling update starts first' if fit.extra else ''}) but {fit.instances} x "
                f"{fit.instance_type} hold "
                f"{fit.per_instance * fit.instances} ({fit.per_instance} each, by {limit}: {reservation}; {registers})",
                "the deployment cannot start its new task and never completes",
                f"what would fit: {_largest_limits(fit, need, count)} on a {fit.instance_type}, or an instance type "
                f"that holds {need} tasks: {_types_holding(need, fit.task_cpu, fit.task_memory, fit.instance_type)}",
            )
        ]
    return []


def eni_problems(env: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """awsvpc tasks per instance, one network interface each, against a release's busiest moment."""
    fit = placement(values)
    # Each service runs its own tasks, each with its own network interface.
    peak = fit.peak * fit.services if fit is not None else 0
    if fit is None or not peak or fit.by_enis * fit.instances >= peak:
        return []
    info = INSTANCE_TYPES[fit.instance_type]
    need = -(-peak // fit.instances) if fit.instances > 0 else peak
    trunking = (
        f"turn on ENI trunking (awsvpcTrunking) for the account, which {fit.instance_type} supports, or "
        if info.trunking
        else ""
    )
    return [
        _problem(
            env,
            "enis",
            f"a release's busiest moment is {peak} awsvpc tasks"
            f"{f' ({fit.services} services)' if fit.services > 1 else ''}"
            f" but {fit.instances} x {fit.instance_type} hold "
            f"{fit.by_enis * fit.instances} ({info.max_enis} network interfaces each, 1 kept by the instance"
            f"{'' if info.trunking else f'; {fit.instance_type} has no ENI trunking'})",
            "each awsvpc task needs a network interface of its own, so the deployment cannot start its new task",
            f"{trunking}use an instance type with at least {need + 1} network interfaces that holds {need} tasks: "
            f"{_types_holding(need, fit.task_cpu, fit.task_memory, fit.instance_type, enis=True)}",
        )
    ]


def check_limits(
    env: str, values: dict[str, Any], checks: tuple[str, ...] = ("names", "capacity")
) -> list[dict[str, Any]]:
    problems = []
    if "names" in checks:
        problems.extend(name_problems(env, values))
    if "capacity" in checks:  # CPU, memory and network interfaces, as the local cloud places tasks too
        problems.extend(deployment_problems(env, values))
        problems.extend(capacity_problems(env, values))
        problems.extend(eni_problems(env, values))
    return problems
