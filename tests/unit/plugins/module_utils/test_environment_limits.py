"""What AWS would refuse, from an environment's settings alone: its derived names and whether its tasks fit.

The names must be the ones the roles really derive: the first tests render the roles' own templates and compare.
"""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest
import yaml
from ansible_collections.stageflow.aws.plugins.module_utils import environment_limits as el
from ansible_collections.stageflow.aws.plugins.module_utils import environments as envs

from tests.unit.templating import native

ROOT = Path(__file__).resolve().parents[4]
SHARED = yaml.safe_load((ROOT / "inventories/group_vars/all/main.yml").read_text())
SPEC = yaml.safe_load((ROOT / "roles/validate/meta/argument_specs.yml").read_text())["argument_specs"]["environment"][
    "options"
]


def render(template: str, **variables) -> str:
    return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(template).render(**variables)


def load(path: str):
    return yaml.safe_load((ROOT / path).read_text())


def settings(env: str, group: str | None = None, **changes) -> dict:
    """An environment's settings as Ansible templates them: group_vars/all, then its group's file."""
    values = {**SHARED, **load(f"inventories/group_vars/{group or env}.yml"), "environment_name": env}
    values["resource_names"] = {
        key: render(template, environment_name=env, app_name=values["app_name"])
        for key, template in SHARED["resource_names"].items()
    }
    feature_domain_name = render(SHARED["feature_domain_name"], environment_name=env)  # feature.yml's domain_name
    values["domain_name"] = render(values["domain_name"], environment_name=env, feature_domain_name=feature_domain_name)
    for key, value in changes.items():
        if isinstance(value, dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    values["application_services"] = native(values["application_services"], values)
    return values


def names_of(values: dict) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for entry in el.derived_names(values):
        found.setdefault(entry.what, []).append(entry.name)
    return found


# -- The names are the roles' names -----------------------------------------------------------------------------


def test_names_derived_from_role_defaults_are_what_the_roles_render() -> None:
    values = settings("staging")
    names = names_of(values)
    context = {"environment_name": "staging", "app_name": "movie-app", "resource_names": values["resource_names"]}
    platform = load("roles/container_platform/defaults/main.yml")
    assert names["log group name"] == [render(platform["container_platform_log_group"], **context)]
    database = load("roles/database/defaults/main.yml")
    assert names["secret name"] == [render(database["database_secret_name"], **context)]
    state = load("roles/deployment_state/defaults/main.yml")
    bucket = render(
        state["deployment_state_reports_bucket"], _deployment_state_account=el.ACCOUNT_ID_EXAMPLE, **context
    )
    assert names["reports bucket name"] == [bucket]
    backup = load("roles/backup/defaults/main.yml")
    assert names["backup vault name"] == [render(backup["backup_name"], **context)]
    monitoring = load("roles/monitoring/defaults/main.yml")
    assert names["cross-environment dashboard name"] == [render(monitoring["monitoring_cross_dashboard"], **context)]


def test_iam_roles_launch_template_and_security_groups_are_what_the_tasks_name() -> None:
    values = settings("staging")
    names = names_of(values)
    cluster, vpc = values["resource_names"]["cluster"], values["resource_names"]["vpc"]
    tasks = load("roles/container_platform/tasks/present.yml")
    roles = next(t for t in tasks if "amazon.aws.iam_role" in t)
    assert names["IAM role name"] == [render(i["name"], container_platform_cluster=cluster) for i in roles["loop"]]
    template = next(t for t in tasks if "amazon.aws.ec2_launch_template" in t)["amazon.aws.ec2_launch_template"]
    assert names["launch template name"] == [render(template["name"], container_platform_cluster=cluster)]
    assert names["instance profile name"] == [
        render(template["iam_instance_profile"], container_platform_cluster=cluster)
    ]
    network = (ROOT / "roles/network/tasks/present.yml").read_text()
    groups = re.findall(r'name: "\{\{ network_name \}\}-([a-z]+)"', network)
    assert {"alb", "app", "db"} <= set(groups)
    assert set(names["security group name"]) == {f"{vpc}-{g}" for g in ("alb", "app", "db")}
    assert set(groups) <= {"alb", "app", "db", "endpoints"}
    with_endpoints = names_of(settings("staging", network_egress="endpoints"))
    assert f"{vpc}-endpoints" in with_endpoints["security group name"]


def test_containers_colours_replicas_alarms_and_release_ids_are_the_roles() -> None:
    platform = load("roles/container_platform/vars/main.yml")
    # The containers are the data's (application_services), with the environment's limits unless they give their own.
    tasks = (ROOT / "roles/container_platform/tasks/present.yml").read_text()
    assert "stageflow.aws.container_definitions(" in tasks
    assert "container_platform_cpu_limit | float, container_platform_memory_limit" in tasks
    assert el.task_containers(settings("dev")) == [(256, 192), (256, 192)]  # server and client, 0.25 vCPU, 192m
    own = settings("dev")
    own["application_services"] = [{"name": "api", "containers": [{"name": "api", "cpu": 0.5, "memory": "1g"}]}]
    assert el.task_containers(own) == [(512, 1024)]
    assert (
        "['blue', 'green'] if container_platform_strategy in ['blue_green', 'canary'] else ['blue']"
        in (platform["_container_platform_colours"])
    )
    database = load("roles/database/vars/main.yml")
    assert database["_database_replicas_per_topology"] == el.REPLICAS_PER_TOPOLOGY
    monitoring = load("roles/monitoring/vars/main.yml")
    assert tuple(k["kind"] for k in monitoring["_monitoring_gate_kinds"]) == el.GATE_ALARM_KINDS
    assert [a["name"].rsplit("}}-", 1)[1] for a in monitoring["_monitoring_alarms"]] == list(
        el.LOAD_BALANCER_ALARM_KINDS
    )
    release = (ROOT / "roles/release/tasks/main.yml").read_text()
    assert (
        "release_id: \"{{ release_kind }}-{{ environment_name }}-{{ now(utc=true, fmt='%Y%m%dT%H%M%S') }}-" in release
    )


def test_a_blue_green_environment_has_a_service_and_alarms_per_colour_and_its_replicas() -> None:
    names = names_of(settings("prod"))
    assert names["ECS service name"][1:] == ["prod-movie-app-service-blue", "prod-movie-app-service-green"]
    assert names["read replica identifier"] == ["prod-movie-app-db-replica-1", "prod-movie-app-db-replica-2"]
    assert "prod-movie-app-unhealthy-hosts-green" in names["CloudWatch alarm name"]
    assert names["scaling policy name"] == ["prod-movie-app-service-blue-cpu", "prod-movie-app-service-green-cpu"]
    dev = names_of(settings("dev"))
    assert "CloudWatch alarm name" not in dev and "read replica identifier" not in dev  # no monitoring, single


# -- Names over a limit ---------------------------------------------------------------------------------------


def test_the_permanent_environments_names_fit() -> None:
    for env in ("dev", "staging", "prod"):
        assert el.name_problems(env, settings(env)) == []


def test_a_long_feature_name_is_refused_naming_the_name_its_length_the_limit_and_the_longest_allowed() -> None:
    name = "feature-averyveryverylongname"
    problems = el.name_problems(name, settings(name, "feature"))
    assert problems[0]["message"] == (
        f"environment '{name}': load balancer name '{name}-movie-app-alb' (resource_names.alb) is 43 characters; "
        "AWS allows at most 32 (Elastic Load Balancing); shorten the environment's name (at most 18 characters with "
        "app_name 'movie-app') or app_name"
    )
    refused = {p["what"].split(" '", 1)[0] for p in problems}
    assert refused == {"load balancer name", "target group name", "reports bucket name"}


def test_the_longest_feature_name_is_computed_from_the_names_and_their_limits() -> None:
    values = settings("feature-x", "feature")
    assert el.longest_environment_name("feature-x", el.derived_names(values)) == 18
    assert el.name_problems("feature-abcdefghij", settings("feature-abcdefghij", "feature")) == []  # 18
    assert el.name_problems("feature-abcdefghijk", settings("feature-abcdefghijk", "feature"))  # 19
    # A longer app name leaves less room.
    longer = settings("feature-x", "feature", app_name="movie-app-extra")
    longer["resource_names"] = {
        k: render(t, environment_name="feature-x", app_name="movie-app-extra")
        for k, t in SHARED["resource_names"].items()
    }
    assert el.longest_environment_name("feature-x", el.derived_names(longer)) == 12


def test_a_name_with_two_hyphens_breaks_rds_rules_not_a_length() -> None:
    problems = el.name_problems("feature--x", settings("feature--x", "feature"))
    messages = [p["message"] for p in problems]
    assert any("database identifier 'feature--x-movie-app-db'" in m and "two hyphens in a row" in m for m in messages)


# -- Capacity ---------------------------------------------------------------------------------------------------

SEED_SIZES = {
    "dev": {"memory_limit": "512m", "cpu_limit": 0.5},
    "staging": {"memory_limit": "1g", "cpu_limit": 1.0},
    "prod": {"memory_limit": "2g", "cpu_limit": 2.0},
}


def test_the_seeds_sizes_fit_no_instance_and_the_message_says_what_would() -> None:
    problems = el.capacity_problems("dev", settings("dev", **SEED_SIZES["dev"]))
    assert [p["message"] for p in problems] == [
        "environment 'dev': a task reserves 1024 MiB and 1024 CPU units (2 containers, each memory_limit 512m and "
        "cpu_limit 0.5) but a t3.micro registers 998 MiB and 2048 CPU units with ECS; ECS cannot place a single task "
        "(AWS: RESOURCE:MEMORY or RESOURCE:CPU); what would fit: memory_limit at most 499m and cpu_limit at most 1 "
        "per container on a t3.micro, or an instance type that registers the task: t3.small (1996 MiB, 2048 CPU "
        "units), t3.medium (3992 MiB, 2048 CPU units), t3.large (7985 MiB, 2048 CPU units)"
    ]
    staging = el.capacity_problems("staging", settings("staging", **SEED_SIZES["staging"]))
    assert "a t3.small registers 1996 MiB and 2048 CPU units" in staging[0]["what"]
    prod = el.capacity_problems(
        "prod", settings("prod", **SEED_SIZES["prod"], env_config={"instance_type": "t3.medium"})
    )
    assert "a task reserves 4096 MiB and 4096 CPU units" in prod[0]["what"]
    assert "c5.xlarge (7985 MiB, 4096 CPU units)" in prod[0]["fix"]  # the first type with 4 vCPUs and 4 GiB free


def test_a_release_peak_that_does_not_fit_the_instances_is_refused() -> None:
    # blue/green: 2 tasks per colour x 2 colours; the idle colour's deployment stops its old tasks first (0/100), so
    # nothing more. A t3.small holds 1 task of 1024 MiB: 2 instances hold 2.
    values = settings(
        "staging",
        memory_limit="512m",
        cpu_limit=0.25,
        deployment_strategy="blue_green",
        env_config={"desired_capacity": 2},
    )
    problems = el.capacity_problems("staging", values)
    assert len(problems) == 1
    assert problems[0]["what"].startswith(
        "a release's busiest moment is 4 tasks (2 per service x 2 colour(s)) but 2 x t3.small hold 2 (1 each, by memory"
    )
    assert problems[0]["fix"].startswith(
        "what would fit: memory_limit at most 499m and cpu_limit at most 0.5 per container on a t3.small, or an "
        "instance type that holds 2 tasks: t3.medium"
    )


def test_a_rolling_update_that_keeps_every_task_needs_room_for_one_more() -> None:
    # 100/200: one new task starts before an old one stops. A t3.micro (998 MiB) holds one task of 2 x 384 MiB.
    keep_all = {"minimum_healthy_percent": 100, "maximum_percent": 200}
    values = settings("dev", memory_limit="384m", cpu_limit=0.25, rolling_update=keep_all)
    problems = el.capacity_problems("dev", values)
    assert problems[0]["what"].startswith(
        "a release's busiest moment is 2 tasks (1 per service x 1 colour(s), + 1 a rolling update starts first) but "
        "1 x t3.micro hold 1"
    )
    stop_first = {"minimum_healthy_percent": 0, "maximum_percent": 100}
    assert el.capacity_problems("dev", {**values, "rolling_update": stop_first}) == []


@pytest.mark.parametrize(
    ("rolling", "message"),
    [
        ({"minimum_healthy_percent": 100, "maximum_percent": 100}, "ECS could never replace a task"),
        # one task: 50 % keeps it (rounded up), 150 % lets only it run (rounded down)
        ({"minimum_healthy_percent": 50, "maximum_percent": 150}, "keeps 1 running and lets 1 run"),
        ({"minimum_healthy_percent": 50, "maximum_percent": 100}, "ECS could never replace a task"),
        ({"minimum_healthy_percent": 120, "maximum_percent": 200}, "minimum_healthy_percent is 120; allowed: 0 to 100"),
        ({"minimum_healthy_percent": 50, "maximum_percent": 250}, "maximum_percent is 250; allowed: 100 to 200"),
    ],
)
def test_a_rolling_update_ecs_cannot_run_is_refused(rolling: dict, message: str) -> None:
    problems = el.check_limits("dev", settings("dev", rolling_update=rolling), ("capacity",))
    assert any(message in p["message"] for p in problems), problems


@pytest.mark.parametrize(("minimum", "maximum"), [(0, 100), (50, 200), (100, 200)])
def test_a_rolling_update_ecs_can_run_passes(minimum: int, maximum: int) -> None:
    rolling = {"minimum_healthy_percent": minimum, "maximum_percent": maximum}
    assert el.deployment_problems("dev", settings("dev", rolling_update=rolling)) == []


@pytest.mark.parametrize(
    ("strategy", "desired", "memory", "fits"),
    [
        # rolling with dev's 0/100: the one task alone; a t3.micro registers 998 MiB.
        ("rolling", 1, "499m", True),
        ("rolling", 1, "500m", False),
        # two colours of one task each on one t3.micro: 2 tasks of 2 containers.
        ("blue_green", 1, "249m", True),
        ("blue_green", 1, "250m", False),
        # two colours of two tasks on two instances: 2 tasks each.
        ("canary", 2, "249m", True),
        ("canary", 2, "250m", False),
    ],
)
def test_peak_arithmetic(strategy, desired, memory, fits) -> None:
    values = settings("dev", memory_limit=memory, cpu_limit=0.25, deployment_strategy=strategy)
    values["env_config"] = {**values["env_config"], "desired_capacity": desired}
    problems = el.capacity_problems("dev", values)
    assert (problems == []) is fits, problems


def test_an_unknown_instance_type_names_the_allowed_ones() -> None:
    problems = el.capacity_problems("dev", settings("dev", env_config={"instance_type": "x9.huge"}))
    assert problems[0]["message"].startswith(
        "environment 'dev': setting 'env_config.instance_type' is 'x9.huge'; Stageflow knows no CPU, memory or "
        "network interface limits for it"
    )
    assert "allowed: t2.nano, t2.micro," in problems[0]["message"] and "c5.2xlarge" in problems[0]["message"]


def test_awsvpc_tasks_are_limited_by_network_interfaces() -> None:
    keep_all = {"minimum_healthy_percent": 100, "maximum_percent": 200}
    micro = el.eni_problems("dev", settings("dev", memory_limit="192m", cpu_limit=0.25, rolling_update=keep_all))
    assert micro[0]["what"] == (
        "a release's busiest moment is 2 awsvpc tasks but 1 x t3.micro hold 1 (2 network interfaces each, 1 kept by "
        "the instance; t3.micro has no ENI trunking)"
    )
    assert micro[0]["fix"].startswith(
        "use an instance type with at least 3 network interfaces that holds 2 tasks: t3.small"
    )
    small = settings(
        "dev", memory_limit="192m", cpu_limit=0.25, env_config={"instance_type": "t3.small"}, rolling_update=keep_all
    )
    assert el.eni_problems("dev", small) == []
    # An instance type that supports trunking is told so (one m5.large, 2 task interfaces, 3 tasks at peak).
    m5 = settings(
        "dev", memory_limit="512m", env_config={"instance_type": "m5.large"}, deployment_strategy="blue_green"
    )
    m5["env_config"]["desired_capacity"] = 1
    fit = el.placement(m5)
    assert fit is not None and fit.by_enis == 2 and fit.peak == 2
    assert el.eni_problems("dev", {**m5, "deployment_strategy": "rolling", "rolling_update": keep_all}) == []


# -- Through validate -------------------------------------------------------------------------------------------


def test_validation_reports_names_and_capacity_with_the_settings_and_can_leave_them_out() -> None:
    inventory = {env: settings(env, **SEED_SIZES[env]) for env in ("dev", "staging", "prod")}
    for env, values in inventory.items():
        values["group_names"] = [env, "environments"]
        values["health_check_connect"] = ""
    errors, _facts = envs.validate(["dev"], inventory, SPEC, SHARED["environment_policies"])
    assert len(errors) == 1 and errors[0].startswith("environment 'dev': a task reserves 1024 MiB")
    errors, _facts = envs.validate(["dev"], inventory, SPEC, SHARED["environment_policies"], checks=["settings"])
    assert errors == []


def test_a_would_be_environments_names_are_checked_from_its_names_alone() -> None:
    name = "feature-averyveryverylongname"
    hosts_vars = {
        name: {
            "environment_name": name,
            "app_name": "movie-app",
            "resource_names": settings(name, "feature")["resource_names"],
        }
    }
    errors, facts = envs.validate([name], hosts_vars, {}, [], checks=["names"])
    assert facts == {"environments": [name]}
    assert [e.split(" is ", 1)[0] for e in errors] == [
        f"environment '{name}': load balancer name '{name}-movie-app-alb' (resource_names.alb)",
        f"environment '{name}': target group name '{name}-app-blue' (resource_names.target_group_blue)",
        f"environment '{name}': target group name '{name}-app-green' (resource_names.target_group_green)",
        f"environment '{name}': reports bucket name '{name}-movie-app-deploy-reports-123456789012' "
        "(deployment_state: <environment>-<app>-deploy-reports-<12-digit account id>)",
    ]
