# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over the application as data (application_services): the names the roles derive, the containers."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.stageflow.aws.plugins.module_utils import application as app


def application_services(data, environment_name, app_name, resource_names):
    try:
        return app.services(data, environment_name, app_name, resource_names)
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


class FilterModule:
    def filters(self):
        return {
            "application_services": application_services,
            "application_repositories": application_repositories,
            "environments_repositories": environments_repositories,
            "container_definitions": container_definitions,
        }
