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
            "has 2 services (web, worker); allowed: one service per environment",
        ),
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
    assert any("service 'web' has no load_balancer" in e for e in errors), errors
