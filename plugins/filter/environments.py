# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over Stageflow's environments: branch mapping, the environments' variables, the matrix."""

from __future__ import annotations

import fnmatch
import ipaddress

from ansible.errors import AnsibleFilterError
from ansible_collections.stageflow.aws.plugins.module_utils import matrix as _matrix


def environment_for_branch(branch, mapping):
    if not isinstance(branch, str) or not branch:
        raise AnsibleFilterError(f"environment_for_branch: the branch must be a non-empty string, got {branch!r}")
    if not isinstance(mapping, list) or not mapping:
        raise AnsibleFilterError("environment_for_branch: the mapping must be a non-empty list of rules")
    name = branch[len("refs/heads/") :] if branch.startswith("refs/heads/") else branch
    for index, rule in enumerate(mapping):
        if not isinstance(rule, dict) or not {"pattern", "environment", "deploy"} <= set(rule):
            raise AnsibleFilterError(
                f"environment_for_branch: rule {index} is {rule!r}; each rule needs pattern, environment and deploy"
            )
        if fnmatch.fnmatchcase(name, rule["pattern"]):
            return {"branch": name, "environment": rule["environment"], "deploy": bool(rule["deploy"])}
    raise AnsibleFilterError(f"environment_for_branch: no rule matches branch {name!r}; add a '*' rule last")


def outside_scope(environments, allowed):
    """The environments that no shell-style pattern of `allowed` matches, in order and without repeats."""
    if not isinstance(allowed, list) or not all(isinstance(p, str) and p for p in allowed):
        raise AnsibleFilterError(
            "outside_scope: the allowed environments must be a list of names or patterns such as feature-*, "
            f"got {allowed!r}"
        )
    result = []
    for name in environments:
        if name and name not in result and not any(fnmatch.fnmatchcase(str(name), p) for p in allowed):
            result.append(name)
    return result


def teardown_refusals(environments, permanent, protected, confirm=""):
    """Why a teardown of `environments` must not start: a permanent environment that `confirm` (the run's
    confirm_destroy, comma-separated) does not name, a `confirm` naming one this run does not tear down, an environment
    whose deletion protection is on. [] when it may."""
    wanted = [e for e in environments if e]
    named = [c.strip() for c in str(confirm or "").split(",") if c.strip()]
    refusals = []
    stray = sorted(set(named) - set(wanted))
    if stray:
        refusals.append(
            f"confirm_destroy names {', '.join(stray)}, which this run does not tear down ({', '.join(wanted)}): "
            "name exactly the permanent environments of -e env"
        )
    for env in wanted:
        if env in protected:
            refusals.append(
                f"{env} has deletion protection on (deletion_protection: true in its group_vars) and is never torn "
                f"down while it is: set it to false, provision {env} (which turns off its database's own protection), "
                f"then tear it down with -e confirm_destroy={env}"
            )
        elif env in permanent and env not in named:
            refusals.append(
                f"{env} is a permanent environment: tearing it down deletes its services, load balancer, database "
                f"(after a final snapshot), release records and backups. Name it twice to go on: -e env={env} "
                f"-e provision_state=absent -e confirm_destroy={env}"
            )
    return refusals


def environment_vars(hosts, hostvars, keys=None):
    """The variables of each environment's host, keyed by the environment's name (its environment_name); with `keys`,
    only those of them the host has (what a module is given, so that no other variable - an extra or vaulted one - is
    templated into its arguments)."""
    if keys is not None and (not isinstance(keys, (list, tuple)) or not all(isinstance(k, str) for k in keys)):
        raise AnsibleFilterError(f"environment_vars: keys must be a list of variable names, got {keys!r}")
    result = {}
    for host in hosts:
        host_vars = hostvars[host]
        name = host_vars.get("environment_name", host)
        wanted = host_vars if keys is None else [key for key in keys if key in host_vars]
        result[name] = {key: host_vars[key] for key in wanted}
    return result


VAULT_HEADER = "$ANSIBLE_VAULT;"


def _settings_loader():
    """A safe YAML loader that also reads Ansible's tags (an inline `!vault` value, `!unsafe`) as opaque strings."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    for tag in ("!vault", "!unsafe"):
        Loader.add_constructor(tag, lambda loader, node: "<" + node.tag + ">")
    return Loader


def environment_settings_files(sources):
    """Top-level keys of every group_vars and host_vars file beside the inventory sources. A file vaulted whole
    (ansible-vault encrypt) is listed with no keys: they cannot be read without its password."""
    import os

    import yaml

    loader = _settings_loader()
    found = []
    for source in sources or []:
        base = source if os.path.isdir(source) else os.path.dirname(source)
        for kind in ("group_vars", "host_vars"):
            folder = os.path.join(base, kind)
            if not os.path.isdir(folder):
                continue
            for entry in sorted(os.listdir(folder)):
                path = os.path.join(folder, entry)
                files = [os.path.join(path, f) for f in sorted(os.listdir(path))] if os.path.isdir(path) else [path]
                scope = os.path.splitext(entry)[0] if not os.path.isdir(path) else entry
                for file in files:
                    if not file.endswith((".yml", ".yaml")):
                        continue
                    with open(file, encoding="utf-8") as handle:
                        text = handle.read()
                    if text.startswith(VAULT_HEADER):
                        found.append({"file": os.path.relpath(file), "scope": scope, "keys": [], "vaulted": True})
                        continue
                    data = yaml.load(text, Loader=loader) or {}  # a SafeLoader, with two opaque tags
                    if not isinstance(data, dict):
                        raise AnsibleFilterError(f"{file} must hold a mapping of settings, not {type(data).__name__}")
                    found.append({"file": os.path.relpath(file), "scope": scope, "keys": sorted(data)})
    return found


def subnet_plan(vpc_cidr, availability_zones, newbits=4):
    """A public and a private subnet per availability zone: public ones from the bottom of the VPC's
    range, private ones from its middle, each `newbits` longer than the VPC's prefix."""
    try:
        subnets = list(ipaddress.IPv4Network(vpc_cidr, strict=True).subnets(prefixlen_diff=int(newbits)))
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"subnet_plan: {vpc_cidr!r} cannot be split by {newbits} bits: {exc}") from exc
    half = len(subnets) // 2
    if len(availability_zones) > half:
        raise AnsibleFilterError(
            f"subnet_plan: {vpc_cidr} split by {newbits} bits holds {half} subnets per tier, "
            f"not {len(availability_zones)} (one per availability zone)"
        )
    plan = [{"tier": "public", "az": az, "cidr": str(subnets[i])} for i, az in enumerate(availability_zones)]
    plan += [{"tier": "private", "az": az, "cidr": str(subnets[half + i])} for i, az in enumerate(availability_zones)]
    return plan


def free_cidr(taken, pool, prefix=16):
    """The first subnet of `pool` with the given prefix that overlaps none of the `taken` CIDRs."""
    try:
        networks = [ipaddress.IPv4Network(cidr, strict=False) for cidr in taken if cidr]
        candidates = ipaddress.IPv4Network(pool, strict=True).subnets(new_prefix=int(prefix))
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"free_cidr: {exc}") from exc
    for candidate in candidates:
        if not any(candidate.overlaps(network) for network in networks):
            return str(candidate)
    raise AnsibleFilterError(f"free_cidr: no /{prefix} left in {pool}; destroy unused feature environments")


def metric_widget(spec, region, period=300):
    """A CloudWatch metric widget with one line per dimension value, written as the seed writes them."""
    title, namespace, metric, dimension, values = spec
    metrics = [
        [namespace, metric, dimension, value] if index == 0 else [".", ".", ".", value]
        for index, value in enumerate(values)
    ]
    return {
        "type": "metric",
        "properties": {
            "metrics": metrics,
            "view": "timeSeries",
            "stacked": False,
            "region": region,
            "title": title,
            "period": int(period),
        },
    }


def environment_matrix(environments, order, prices):
    try:
        return _matrix.matrix(environments, order, prices)
    except (KeyError, _matrix.PriceError) as exc:
        raise AnsibleFilterError(f"environment_matrix: {exc}") from exc


def environment_matrix_markdown(data):
    return _matrix.to_markdown(data)


class FilterModule:
    def filters(self):
        return {
            "environment_for_branch": environment_for_branch,
            "environment_vars": environment_vars,
            "outside_scope": outside_scope,
            "environment_settings_files": environment_settings_files,
            "subnet_plan": subnet_plan,
            "metric_widget": metric_widget,
            "free_cidr": free_cidr,
            "environment_matrix": environment_matrix,
            "environment_matrix_markdown": environment_matrix_markdown,
            "teardown_refusals": teardown_refusals,
        }
