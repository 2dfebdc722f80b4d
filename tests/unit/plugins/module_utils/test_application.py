"""The application as data: the names the roles derive, the container definitions, and the checks on the data."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from ansible_collections.stageflow.aws.plugins.module_utils import application as app

from tests.unit.templating import native

ROOT = Path(__file__).resolve().parents[4]

NAMES = {
    "service": "dev-shop-service",
    "task_family": "dev-shop-task",
    "target_group_blue": "dev-app-blue",
    "target_group_green": "dev-app-green",
}
SHOP = [
    {
        "name": "web",
        "containers": [
            {
                "name": "api",
                "port": 8080,
                "environment": {"DEBUG": False, "WORKERS": 4, "MODE": "live"},
                "secrets": {"DB": "database"},
            },
            # A repository of another environment's is never named: each container's is its environment's own.
            {"name": "proxy", "repository": "prod-shop-proxy-repo", "port": 80, "memory": "1g", "cpu": 0.5},
        ],
        "load_balancer": {"container": "api", "port": 8080},
    }
]


def test_the_first_service_keeps_resource_names_and_containers_get_their_repositories() -> None:
    [web] = app.services(SHOP, "dev", "shop", NAMES)
    assert web["ecs_service"] == "dev-shop-service" and web["task_family"] == "dev-shop-task"
    assert web["target_groups"] == {"blue": "dev-app-blue", "green": "dev-app-green"}
    assert [c["repository"] for c in web["containers"]] == ["dev-shop-api-repo", "dev-shop-proxy-repo"]
    assert app.repositories(SHOP + SHOP, "dev", "shop") == ["dev-shop-api-repo", "dev-shop-proxy-repo"]


def test_container_definitions_carry_the_data_with_the_environments_limits_by_default() -> None:
    [web] = app.services(SHOP, "dev", "shop", NAMES)
    uris = {"dev-shop-api-repo": "1.dkr/dev-shop-api-repo", "dev-shop-proxy-repo": "1.dkr/dev-shop-proxy-repo"}
    api, proxy = app.container_definitions(
        web, uris, "initial", "/stageflow/dev/shop", "us-east-1", 0.25, "192m", {"database": "arn:secret"}
    )
    assert api["image"] == "1.dkr/dev-shop-api-repo:initial" and proxy["image"] == "1.dkr/dev-shop-proxy-repo:initial"
    assert (api["cpu"], api["memory"], proxy["cpu"], proxy["memory"]) == (256, 192, 512, 1024)
    assert api["environment"] == [
        {"name": "DEBUG", "value": "false"},
        {"name": "WORKERS", "value": "4"},
        {"name": "MODE", "value": "live"},
    ]
    assert api["secrets"] == [{"name": "DB", "valueFrom": "arn:secret"}] and proxy["secrets"] == []
    assert api["portMappings"] == [{"containerPort": 8080, "protocol": "tcp"}]
    assert proxy["logConfiguration"]["options"]["awslogs-stream-prefix"] == "proxy"
    # Without a database (no secret ARN) the secret is left out, not pointed at nothing.
    [api_alone, _proxy] = app.container_definitions(web, uris, "v1", "/g", "us-east-1", 0.25, "192m", {"database": ""})
    assert api_alone["secrets"] == []


def broken(change) -> list:
    data = copy.deepcopy(SHOP)
    change(data)
    return data


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (broken(lambda d: d.append(copy.deepcopy(d[0]))), "service 'web' is listed twice"),
        (broken(lambda d: d[0]["containers"].append({"name": "api"})), "service 'web' lists container 'api' twice"),
        (
            broken(lambda d: d[0]["load_balancer"].update(container="worker")),
            "service 'web' sends its load balancer's traffic to container 'worker', which it does not have; "
            "allowed: api, proxy",
        ),
        (
            broken(lambda d: d[0]["load_balancer"].update(port=9090)),
            "service 'web' sends its load balancer's traffic to port 9090 of container 'api', which listens on 8080",
        ),
        (broken(lambda d: d[0].update(name="Web_1")), "service name 'Web_1' is not allowed"),
        (broken(lambda d: d[0].update(containers=[])), "service 'web' has no containers"),
        (
            broken(lambda d: d[0]["containers"][0]["secrets"].update(TOKEN="sk_live_marker")),
            "service 'web' container 'api' secret TOKEN names an unknown source (not shown, it may be secret); "
            "allowed: database",
        ),
        (broken(lambda d: d[0]["containers"][0].update(secrets=["database"])), "secrets are not a mapping"),
        (broken(lambda d: d[0]["containers"][1].update(memory="lots")), "container 'proxy' memory is 'lots'"),
        ([], "setting 'application_services' is empty"),
        (
            broken(lambda d: d.append({**copy.deepcopy(d[0]), "name": "worker"})),
            "service 'worker' has a container 'api', as service 'web' does; allowed: each container name once",
        ),
        (broken(lambda d: d[0].update(name="green")), "service name 'green' is not allowed"),
        (broken(lambda d: d[0].pop("load_balancer")), "no service is behind the load balancer"),
    ],
)
def test_bad_application_data_is_refused_naming_the_service(data, fragment) -> None:
    errors = app.check("dev", data)
    assert any(fragment in error for error in errors), errors
    assert not any("sk_live_marker" in error for error in errors)
    assert all(error.startswith("environment 'dev': setting 'application_services'") for error in errors)


def test_the_shipped_shape_passes() -> None:
    assert app.check("dev", SHOP) == []


def test_the_shipped_movie_app_passes() -> None:
    shared = yaml.safe_load((ROOT / "inventories/group_vars/all/main.yml").read_text())
    values = {**shared, **yaml.safe_load((ROOT / "inventories/group_vars/prod.yml").read_text())}
    data = native(shared["application_services"], values)
    assert app.check("prod", data) == []
    assert app.repositories(data, "prod", "movie-app") == ["prod-movie-app-server-repo", "prod-movie-app-client-repo"]


def test_the_load_balancer_serves_app_port_which_the_target_groups_and_security_group_use() -> None:
    assert app.check("dev", SHOP, app_port=8080) == []
    errors = app.check("dev", SHOP, app_port=3000)
    assert any("serve app_port (3000); allowed: 3000" in e for e in errors), errors
    errors = app.check("dev", broken(lambda d: d[0].pop("load_balancer")), app_port=8080)
    assert any("no service is behind the load balancer" in e for e in errors), errors


# The second example application (examples/three-services): api and web behind the load balancer, a worker without.
THREE = [
    {
        "name": "api",
        "containers": [{"name": "api", "port": 3000}],
        "load_balancer": {"container": "api", "port": 3000, "paths": ["/api/*"]},
    },
    {"name": "worker", "containers": [{"name": "worker"}]},
    {"name": "web", "containers": [{"name": "web", "port": 3000}], "load_balancer": {"container": "web", "port": 3000}},
]


def three(change) -> list:
    data = copy.deepcopy(THREE)
    change(data)
    return data


def test_several_services_get_their_own_names_colours_and_routing_in_release_order() -> None:
    assert app.check("dev", THREE, app_port=3000, order=["worker", "api", "web"]) == []
    worker, api, web = app.services(THREE, "dev", "shop", NAMES, ["worker", "api", "web"])
    # The default (the one without routing) keeps the names of resource_names; the others add their name.
    assert (api["ecs_service"], worker["ecs_service"], web["ecs_service"]) == (
        "dev-shop-service-api",
        "dev-shop-service-worker",
        "dev-shop-service",
    )
    assert web["target_groups"] == {"blue": "dev-app-blue", "green": "dev-app-green"}
    assert web["target_group_keys"] == {"blue": "blue", "green": "green"} and web["load_balancer"]["default"]
    assert api["target_groups"] == {"blue": "dev-api-blue", "green": "dev-api-green"}
    assert api["target_group_keys"] == {"blue": "api-blue", "green": "api-green"}
    assert api["load_balancer"]["paths"] == ["/api/*"] and not api["load_balancer"]["default"]
    assert not worker["balanced"] and worker["target_groups"] == {} and worker["load_balancer"] is None
    assert app.ecs_services(api, "canary") == {
        "blue": "dev-shop-service-api-blue",
        "green": "dev-shop-service-api-green",
    }
    assert app.ecs_services(worker, "canary") == {"blue": "dev-shop-service-worker"}
    assert app.ecs_services(api, "rolling") == {"blue": "dev-shop-service-api"}
    # Without an order, the list's.
    assert [s["name"] for s in app.services(THREE, "dev", "shop", NAMES)] == ["api", "worker", "web"]


@pytest.mark.parametrize(
    ("data", "order", "fragment"),
    [
        (three(lambda d: d.append(copy.deepcopy(d[0]))), None, "service 'api' is listed twice"),
        (
            three(lambda d: d[1].update(load_balancer={"container": "jobs", "port": 3000, "paths": ["/jobs/*"]})),
            None,
            "service 'worker' sends its load balancer's traffic to container 'jobs', which it does not have",
        ),
        (
            three(lambda d: d[2]["load_balancer"].update(paths=["/api/*"])),
            None,
            "services 'api' and 'web' both claim path /api/*",
        ),
        (
            three(lambda d: d[0]["load_balancer"].pop("paths")),
            None,
            "with no paths or hosts",
        ),
        (
            three(lambda d: [d[0]["load_balancer"].update(default=True), d[2]["load_balancer"].update(default=True)]),
            None,
            "services api, web are each the default",
        ),
        (
            three(lambda d: d[0]["load_balancer"].update(paths=["/a", "/b", "/c"], hosts=["x", "y", "z"])),
            None,
            "service 'api' routes by 6 paths and hosts; allowed: at most 5",
        ),
        (
            three(lambda d: d[2]["load_balancer"].update(paths=["/"])),
            None,
            "services api, web are behind the load balancer and none is the default",
        ),
        (three(lambda d: d[1].update(name="api-blue")), None, "service name 'api-blue' is not allowed"),
        (
            three(lambda d: d[0].update(name="app")),
            None,
            "service 'app' would have target groups named dev-app-blue, dev-app-green, the default service's",
        ),
        (THREE, ["api", "worker", "web", "cron"], "names service 'cron', which application_services does not have"),
        (THREE, ["api", "web"], "leaves out worker"),
        (THREE, ["api", "api", "worker", "web"], "names api more than once"),
        (
            three(lambda d: d[0].update(name="a-very-long-name-xy")),
            None,
            "service 'a-very-long-name-xy' would have target groups named feature-payments-a-very-long-name-xy-green",
        ),
    ],
)
def test_bad_services_are_refused_naming_the_service(data, order, fragment) -> None:
    env = "feature-payments" if "long" in fragment else "dev"
    errors = app.check(env, data, app_port=3000, order=order, resource_names=NAMES)
    assert any(fragment in error for error in errors), errors


def test_each_load_balanced_service_has_its_target_groups_and_a_weighted_rule_the_default_last() -> None:
    services = app.services(THREE, "dev", "shop", NAMES, ["worker", "api", "web"])
    groups = app.target_group_list(services, "/health")
    assert [(g["name"], g["key"], g["health_path"]) for g in groups] == [
        ("dev-api-blue", "api-blue", "/health"),
        ("dev-api-green", "api-green", "/health"),
        ("dev-app-blue", "blue", "/health"),
        ("dev-app-green", "green", "/health"),
    ]
    arns = {"dev-api-blue": "arn:api-b", "dev-api-green": "arn:api-g", "dev-app-blue": "arn:app-b", "dev-app-green": ""}
    # The weights a release set are kept; a group not created yet (a check-mode plan) gets blue 100, green 0.
    rules = app.listener_rules(services, arns, {"arn:api-b": 0, "arn:api-g": 100}, 100, ["api", "worker", "web"])
    assert [r["Priority"] for r in rules] == [1, 100]
    assert rules[0]["Conditions"] == [{"Field": "path-pattern", "Values": ["/api/*"]}]
    assert rules[0]["Actions"][0]["ForwardConfig"]["TargetGroups"] == [
        {"TargetGroupArn": "arn:api-b", "Weight": 0},
        {"TargetGroupArn": "arn:api-g", "Weight": 100},
    ]
    assert rules[1]["Conditions"] == [{"Field": "path-pattern", "Values": ["/*"]}]
    assert [g["Weight"] for g in rules[1]["Actions"][0]["ForwardConfig"]["TargetGroups"]] == [100, 0]
    hosts = three(lambda d: d[0]["load_balancer"].update(paths=[], hosts=["api.example.com"]))
    [by_host, _default] = app.listener_rules(app.services(hosts, "dev", "shop", NAMES), {}, {}, 100)
    assert by_host["Conditions"] == [{"Field": "host-header", "Values": ["api.example.com"]}]


def test_every_ecs_service_with_its_colour_and_target_group_in_release_order() -> None:
    services = app.services(THREE, "dev", "shop", NAMES)
    arns = {"api-blue": "arn:ab", "api-green": "arn:ag", "blue": "arn:b", "green": "arn:g"}
    listed = app.ecs_service_list(services, "blue_green", arns)
    assert [(s["name"], s["colour"], s["service"]) for s in listed] == [
        ("dev-shop-service-api-blue", "blue", "api"),
        ("dev-shop-service-api-green", "green", "api"),
        ("dev-shop-service-worker", "blue", "worker"),
        ("dev-shop-service-blue", "blue", "web"),
        ("dev-shop-service-green", "green", "web"),
    ]
    assert listed[1]["load_balancers"] == [{"targetGroupArn": "arn:ag", "containerName": "api", "containerPort": 3000}]
    assert listed[2]["load_balancers"] == [] and listed[2]["task_family"] == "dev-shop-task-worker"
    assert [s["name"] for s in app.ecs_service_list(services, "rolling", arns)] == [
        "dev-shop-service-api",
        "dev-shop-service-worker",
        "dev-shop-service",
    ]


def test_a_service_added_while_green_is_live_starts_on_green() -> None:
    services = app.services(THREE, "dev", "shop", NAMES)
    arns = {"dev-api-blue": "arn:ab", "dev-api-green": "arn:ag", "dev-app-blue": "arn:b", "dev-app-green": "arn:g"}
    [api, web] = app.listener_rules(services, arns, {"arn:b": 0, "arn:g": 100}, 100)
    assert [g["Weight"] for g in api["Actions"][0]["ForwardConfig"]["TargetGroups"]] == [0, 100]
    assert [g["Weight"] for g in web["Actions"][0]["ForwardConfig"]["TargetGroups"]] == [0, 100]
