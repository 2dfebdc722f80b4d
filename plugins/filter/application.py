# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over the application as data (application_services): the names the roles derive, the containers."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.stageflow.aws.plugins.module_utils import application as app


def application_services(data, environment_name, app_name, resource_names, order=None):
    try:
        return app.services(data, environment_name, app_name, resource_names, order or None)
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError(f"application_services: the services or resource_names lack {exc}") from exc


def application_repositories(data, environment_name, app_name):
    return app.repositories(data, environment_name, app_name)


def environments_repositories(hosts, hostvars):
    """Every ECR repository of the application in each of the environments (inventory hosts) given."""
    names = []
    for host in hosts:
        values = hostvars[host]
        for name in app.repositories(values["application_services"], values["environment_name"], values["app_name"]):
            if name not in names:
                names.append(name)
    return names


def container_definitions(service, repository_uris, tag, log_group, region, cpu_limit, memory_limit, secret_arns):
    try:
        return app.container_definitions(
            service, repository_uris, tag, log_group, region, cpu_limit, memory_limit, secret_arns
        )
    except KeyError as exc:
        raise AnsibleFilterError(f"container_definitions: no repository URI for {exc}") from exc


def application_target_groups(services, health_path):
    return app.target_group_list(services, health_path)


def application_listener_rules(services, arns_by_name, live_weights, default_priority, data_order=None):
    return app.listener_rules(services, arns_by_name, live_weights, int(default_priority), data_order)


def application_ecs_services(service, strategy):
    return app.ecs_services(service, strategy)


def application_ecs_service_list(services, strategy, arns_by_key):
    return app.ecs_service_list(services, strategy, arns_by_key or {})


class FilterModule:
    def filters(self):
        return {
            "application_services": application_services,
            "application_repositories": application_repositories,
            "environments_repositories": environments_repositories,
            "container_definitions": container_definitions,
            "application_target_groups": application_target_groups,
            "application_listener_rules": application_listener_rules,
            "application_ecs_services": application_ecs_services,
            "application_ecs_service_list": application_ecs_service_list,
        }
