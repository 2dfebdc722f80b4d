# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filter of roles/access: Stageflow's IAM policies from the inventory's names and the actions catalogue."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.stageflow.aws.plugins.module_utils import access_policies as ap


def access_policies(environments, scopes, catalogue, account, region, partition="aws", boundary_name="", prefix=""):
    """{"boundary": {name, arn, document}, "policies": [{name, scope, document}], "scopes": {scope: {kind, policies}}};
    environments maps each environment (or pattern) to {"app_name", "resource_names"}."""
    if not isinstance(environments, Mapping) or not isinstance(catalogue, Mapping):
        raise AnsibleFilterError("access_policies: environments and catalogue must be mappings")
    try:
        envs = {
            env: ap.names_of(env, values.get("app_name"), values.get("resource_names"))
            for env, values in environments.items()
        }
        boundary_arn = f"arn:{partition}:iam::{account}:policy/{boundary_name}"
        for names in envs.values():
            names["boundary"] = boundary_name
        result = {"policies": [], "scopes": {}}
        for scope in scopes:
            name = scope["name"]
            for env in [*scope["environments"], *scope.get("reads", []), *scope.get("image_sources", [])]:
                if env not in envs:
                    raise ap.AccessError(
                        f"access scope {name}: '{env}' is not an environment of the inventory ({', '.join(envs)})"
                    )
            if scope["kind"] == "deployer":
                statements = ap.deployer_policy(scope, envs, catalogue, account, region, boundary_arn, partition)
            elif scope["kind"] == "readonly":
                statements = ap.readonly_policy(scope, envs, catalogue, account, region, partition)
            else:
                raise ap.AccessError(f"access scope {name}: kind must be deployer or readonly, got {scope['kind']!r}")
            policies = [
                {"name": f"{prefix}{name}-{n}", "scope": name, "document": document}
                for n, document in enumerate(ap.documents(statements, f"{prefix}{name}"), 1)
            ]
            result["policies"] += policies
            result["scopes"][name] = {"kind": scope["kind"], "policies": [p["name"] for p in policies]}
        result["boundary"] = {
            "name": boundary_name,
            "arn": boundary_arn,
            "document": ap.check(ap.boundary_policy(account, region, partition), boundary_name),
        }
        return result
    except (ap.AccessError, KeyError, TypeError) as exc:
        raise AnsibleFilterError(str(exc)) from exc


def access_trust_policy(scope, account, provider_host, repository, principals=(), partition="aws"):
    try:
        return ap.github_trust_policy(
            account, provider_host, repository, scope.get("github_environments", []), principals, partition
        )
    except ap.AccessError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def access_boundary_policy(account, region, partition="aws"):
    return ap.check(ap.boundary_policy(account, region, partition), "boundary")


class FilterModule:
    def filters(self):
        return {
            "access_policies": access_policies,
            "access_trust_policy": access_trust_policy,
            "access_boundary_policy": access_boundary_policy,
        }
