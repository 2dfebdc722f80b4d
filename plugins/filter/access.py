# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filter of roles/access: Stageflow's IAM policies from the inventory's names and the actions catalogue."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.stageflow.aws.plugins.module_utils import access_policies as ap


def _names(environments, scopes):
    """Every environment's names (with "boundary", its permissions_boundary_name), and each scope's known."""
    if not isinstance(environments, Mapping):
        raise ap.AccessError("access: environments must be a mapping of environment to its names")
    envs = {
        env: ap.names_of(
            env,
            values.get("app_name"),
            values.get("resource_names"),
            values.get("domain_name"),
            values.get("repositories"),
            values.get("target_groups"),
        )
        for env, values in environments.items()
    }
    for env, names in envs.items():
        names["boundary"] = environments[env].get("permissions_boundary_name") or ""
    for scope in scopes:
        for env in [*scope["environments"], *scope.get("reads", []), *scope.get("image_sources", [])]:
            if env not in envs:
                raise ap.AccessError(
                    f"access scope {scope['name']}: '{env}' is not an environment of the inventory ({', '.join(envs)})"
                )
    return envs


def _boundaries(envs, scopes, account, region, partition):
    names = ap.scope_boundaries(scopes, envs)
    found = []
    for scope in scopes:
        if scope["kind"] != "deployer":
            continue
        own = [envs[e] for e in scope["environments"]]
        images = [envs[e] for e in scope.get("image_sources", [])]
        document = ap.boundary_policy(own, images, account, region, partition)
        found.append(
            {
                "name": names[scope["name"]],
                "arn": f"arn:{partition}:iam::{account}:policy/{names[scope['name']]}",
                "scope": scope["name"],
                "document": ap.check(document, names[scope["name"]]),
            }
        )
    return found


def access_boundaries(environments, scopes, account, region, partition="aws", environment=""):
    """[{name, arn, scope, document}]: each deployer scope's permissions boundary (what provisioning needs, without
    the catalogue); with `environment`, only the boundary of the scope it belongs to (none when it is in none)."""
    try:
        found = _boundaries(_names(environments, scopes), scopes, account, region, partition)
    except (ap.AccessError, KeyError, TypeError) as exc:
        raise AnsibleFilterError(str(exc)) from exc
    if environment:
        members = {
            s["name"] for s in scopes if any(fnmatch.fnmatchcase(environment, e) for e in s.get("environments", []))
        }
        found = [b for b in found if b["scope"] in members]
    return found


def access_policies(environments, scopes, catalogue, account, region, partition="aws", prefix=""):
    """{"boundaries": [{name, arn, scope, document}], "policies": [{name, scope, document}], "scopes": {scope: {kind,
    policies}}}; environments maps each environment (or pattern) to {"app_name", "resource_names",
    "permissions_boundary_name"}."""
    if not isinstance(catalogue, Mapping):
        raise AnsibleFilterError("access_policies: catalogue must be a mapping")
    try:
        envs = _names(environments, scopes)
        boundaries = _boundaries(envs, scopes, account, region, partition)
        result = {"policies": [], "scopes": {}, "boundaries": boundaries}
        arns = {b["scope"]: b["arn"] for b in boundaries}
        for scope in scopes:
            name = scope["name"]
            if scope["kind"] == "deployer":
                statements = ap.deployer_policy(scope, envs, catalogue, account, region, arns[name], partition)
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


class FilterModule:
    def filters(self):
        return {
            "access_boundaries": access_boundaries,
            "access_policies": access_policies,
            "access_trust_policy": access_trust_policy,
        }
