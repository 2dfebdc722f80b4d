# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of Stageflow environments: pure functions, no AWS call.

The schema is the validate role's ``environment`` argument spec (one place); this module
adds what an argument spec cannot say: ranges, CIDR rules, cross-environment checks,
policies and the direction of a promotion. Every message names the environment, the
setting, the value and what is allowed.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from itertools import pairwise
from typing import Any

from ansible_collections.stageflow.aws.plugins.module_utils import application, environment_limits

ENV_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,30}$")
CIDR_PREFIX_RANGE = (16, 24)

# A numeric setting's inclusive range is written in its description in the schema, as "(low..high)": the same text
# documents it (ansible-doc -t role stageflow.aws.validate -e environment) and checks it.
RANGE_IN_DESCRIPTION = re.compile(r"\((-?[0-9]+(?:\.[0-9]+)?)\.\.(-?[0-9]+(?:\.[0-9]+)?)\)")
MEMORY_PATTERN = re.compile(r"^[1-9][0-9]*[mg]$")

# Variables Ansible itself puts in a host's vars; they are not settings.
_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}


# Names of settings whose values may be secret even when the schema does not say so (an unknown key such as
# database.password): their values are never shown in a message.
SECRET_NAME = re.compile(r"passw(or)?d|passphrase|secret|token|credential|webhook|private_?key|api_?key", re.IGNORECASE)
HIDDEN = "<not shown, it may be secret>"


def _number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


def ranges_of(spec: dict[str, Any], prefix: str = "") -> dict[str, tuple[float, float]]:
    """Inclusive ranges of the schema's int and float settings, by dotted path, read from their descriptions."""
    ranges: dict[str, tuple[float, float]] = {}
    for key, option in spec.items():
        if not isinstance(option, dict):
            continue
        description = option.get("description") or ""
        text = " ".join(description) if isinstance(description, list) else str(description)
        found = RANGE_IN_DESCRIPTION.search(text)
        if option.get("type") in ("int", "float") and found:
            ranges[f"{prefix}{key}"] = (_number(found.group(1)), _number(found.group(2)))
        if option.get("type") == "dict" and isinstance(option.get("options"), dict):
            ranges.update(ranges_of(option["options"], prefix=f"{prefix}{key}."))
    return ranges


def _range_errors(env: str, values: dict[str, Any], spec: dict[str, Any], prefix: str = "") -> list[str]:
    """Every numeric value outside its schema range, nested settings and lists of them included."""
    errors = []
    for key, option in spec.items():
        value = values.get(key) if isinstance(values, dict) else None
        if not isinstance(option, dict) or value is None:
            continue
        where = f"{prefix}{key}"
        found = ranges_of({key: option}).get(key)
        if found and isinstance(value, (int, float)) and not isinstance(value, bool):
            low, high = found
            if not low <= value <= high:
                errors.append(f"environment '{env}': setting '{where}' is {value}; allowed: {low} to {high}")
        if isinstance(option.get("options"), dict):
            if isinstance(value, dict):
                errors.extend(_range_errors(env, value, option["options"], f"{where}."))
            elif isinstance(value, list):
                for index, item in enumerate(value):
                    errors.extend(_range_errors(env, item, option["options"], f"{where}[{index}]."))
    return errors


# Argument-spec types whose values are text (or anything): -e key=value gives them as they are.
TEXT_TYPES = ("str", "raw", "path", "bytes", "bits", "json", "jsonarg")
_TRUE = ("true", "yes", "on")
_FALSE = ("false", "no", "off")
_INT = re.compile(r"^[+-]?[0-9]+$")


def coerce_text(text: str, type_name: str) -> tuple[bool, Any]:
    """A setting given as text (-e key=value always gives text) in its schema type: (True, value) when the text is an
    unambiguous int, float, bool, or JSON list or object; (False, text) otherwise."""
    candidate = text.strip()
    if type_name == "int" and _INT.match(candidate):
        return True, int(candidate)
    if type_name == "float":
        try:
            value = float(candidate)
        except ValueError:
            return False, text
        return (True, value) if math.isfinite(value) else (False, text)
    if type_name == "bool" and candidate.lower() in _TRUE + _FALSE:
        return True, candidate.lower() in _TRUE
    if type_name in ("list", "dict") and candidate[:1] in "[{":
        try:
            value = json.loads(candidate)
        except ValueError:
            return False, text
        return (True, value) if isinstance(value, list if type_name == "list" else dict) else (False, text)
    return False, text


def coerce_settings(values: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """The settings among `values` that are text but typed otherwise in the schema, converted where unambiguous."""
    converted = {}
    for key, value in values.items():
        option = spec.get(key)
        if isinstance(value, str) and isinstance(option, dict) and option.get("type", "str") not in TEXT_TYPES:
            ok, typed = coerce_text(value, option["type"])
            if ok:
                converted[key] = typed
    return converted


def _json_form(key: str, type_name: str) -> str:
    sample = {"int": "30", "float": "0.5", "bool": "true", "list": "[...]", "dict": "{...}"}.get(type_name, '"..."')
    return f"-e '{{\"{key}\": {sample}}}'"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _secret(key: str, option: dict[str, Any] | None = None) -> bool:
    return bool((option or {}).get("no_log")) or bool(SECRET_NAME.search(key))


def _show_setting(key: str, value: Any, option: dict[str, Any] | None = None) -> str:
    """The value, for a message; never a secret's (a setting the schema marks no_log, or one named like a secret)."""
    return HIDDEN if _secret(key, option) else _show(value)


def secret_names(spec: dict[str, Any]) -> list[str]:
    """The settings the schema marks no_log: given to environment_check apart, as a no_log argument."""
    return sorted(key for key, option in spec.items() if isinstance(option, dict) and option.get("no_log"))


def _type_ok(value: Any, type_name: str) -> bool:
    if type_name in ("int", "float") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES.get(type_name, (object,)))


def check_name(name: Any, what: str = "environment name") -> list[str]:
    if not isinstance(name, str) or not ENV_NAME_PATTERN.match(name):
        return [
            f"{what} {_show(name)} is not allowed: it must match ^[a-z][a-z0-9-]{{1,30}}$ "
            "(a lower-case letter, then 1 to 30 lower-case letters, digits or hyphens)"
        ]
    return []


def settings_of(host_vars: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """The settings among a host's variables (Ansible's own and extra variables are not settings)."""
    return {key: value for key, value in host_vars.items() if key in spec}


def check_declared(declared: list[dict[str, Any]], spec: dict[str, Any]) -> list[str]:
    """Unknown top-level keys in the inventory's group_vars and host_vars files. Ansible's own (ansible_*) are not
    settings, and vault_* are the vaulted values settings refer to (notification_webhook_url:
    "{{ vault_notification_webhook_url }}"), as Ansible's guide to vaults names them."""
    errors = []
    for entry in declared:
        for key in entry.get("keys", []):
            if key in spec or key.startswith(("ansible_", "vault_")):
                continue
            scope = entry.get("scope", "?")
            errors.append(
                f"environment '{scope}' ({entry.get('file')}): unknown setting '{key}'; "
                f"see ansible-doc -t role stageflow.aws.validate -e environment for the settings"
                if scope not in ("all", "environments", "permanent", "feature")
                else f"{entry.get('file')} (every environment in group '{scope}'): unknown setting '{key}'; "
                f"see ansible-doc -t role stageflow.aws.validate -e environment for the settings"
            )
    return errors


def check_against_spec(env: str, values: dict[str, Any], spec: dict[str, Any], prefix: str = "") -> list[str]:
    """Types, required keys, choices, list elements and unknown keys, recursively. No value inside the application's
    containers is shown: their environment and secrets may hold anything."""
    errors = []
    if prefix.startswith("application_services"):
        spec = {key: {**option, "no_log": True} for key, option in spec.items() if isinstance(option, dict)}
    for key in sorted(set(values) - set(spec)):
        where = f"{prefix}{key}"
        errors.append(
            f"environment '{env}': unknown setting '{where}' (value "
            f"{HIDDEN if prefix.startswith('application_services') else _show_setting(key, values[key])}); "
            f"allowed here: {', '.join(sorted(spec))}"
        )
    for key, option in spec.items():
        where = f"{prefix}{key}"
        if key not in values or values[key] is None:
            if option.get("required"):
                errors.append(
                    f"environment '{env}': setting '{where}' is missing; it is required ({option.get('type')})"
                )
            continue
        value = values[key]
        type_name = option.get("type", "str")
        if isinstance(value, str) and type_name not in TEXT_TYPES and not prefix:
            ok = coerce_text(value, type_name)[0]
            errors.append(
                f"environment '{env}': setting '{where}' is {_show_setting(key, value, option)} (text); allowed: a "
                f"{type_name}. "
                + (
                    f"Write it unquoted in group_vars; on the command line -e {key}=... converts with the "
                    "stageflow.aws.typed_settings callback on (the collection's ansible.cfg enables it), or give it "
                    "as JSON: "
                    if ok
                    else "Give it as JSON: "
                )
                + _json_form(key, type_name)
                + ("" if ok else " (unquoted in group_vars)")
            )
            continue
        if not _type_ok(value, type_name):
            errors.append(
                f"environment '{env}': setting '{where}' is {_show_setting(key, value, option)} "
                f"({type(value).__name__}); allowed: a {type_name}"
            )
            continue
        if "choices" in option and value not in option["choices"]:
            allowed = ", ".join(map(str, option["choices"]))
            errors.append(
                f"environment '{env}': setting '{where}' is {_show_setting(key, value, option)}; allowed: {allowed}"
            )
        if type_name == "list" and "elements" in option:
            for index, item in enumerate(value):
                if not _type_ok(item, option["elements"]):
                    errors.append(
                        f"environment '{env}': setting '{where}[{index}]' is {_show_setting(key, item, option)}; "
                        f"allowed: a {option['elements']}"
                    )
                elif option["elements"] == "dict" and isinstance(option.get("options"), dict):
                    errors.extend(check_against_spec(env, item, option["options"], prefix=f"{where}[{index}]."))
        if type_name == "dict" and "options" in option:
            errors.extend(check_against_spec(env, value, option["options"], prefix=f"{where}."))
    return errors


def lookup(values: dict[str, Any], path: str) -> Any:
    current: Any = values
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current


def check_ranges_and_rules(env: str, values: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    """The schema's ranges, and what it cannot say: size ordering, CIDR shape, steps, formats."""
    errors = _range_errors(env, values, spec)
    config = values.get("env_config") or {}
    low, desired, high = (config.get(k) for k in ("min_size", "desired_capacity", "max_size"))
    if all(isinstance(v, int) and not isinstance(v, bool) for v in (low, desired, high)) and not low <= desired <= high:
        errors.append(
            f"environment '{env}': env_config sizes min_size={low}, desired_capacity={desired}, max_size={high}; "
            "allowed: min_size <= desired_capacity <= max_size"
        )
    errors.extend(check_name(values.get("environment_name"), f"environment '{env}': setting 'environment_name'"))
    cidr = values.get("vpc_cidr")
    if isinstance(cidr, str):
        errors.extend(_check_cidr(env, cidr))
    memory = values.get("memory_limit")
    if isinstance(memory, str) and not MEMORY_PATTERN.match(memory):
        errors.append(f"environment '{env}': setting 'memory_limit' is {memory!r}; allowed: a size like 512m or 2g")
    steps = values.get("canary_steps")
    numbers = isinstance(steps, list) and all(isinstance(s, int) and not isinstance(s, bool) for s in steps)
    if numbers and (not steps or steps[-1] != 100 or steps[0] <= 0 or any(b <= a for a, b in pairwise(steps))):
        errors.append(
            f"environment '{env}': setting 'canary_steps' is {steps}; allowed: rising percentages above 0 ending at 100"
        )
    pauses = values.get("canary_pauses")
    if isinstance(pauses, list) and numbers and any(p not in steps or p == 100 for p in pauses):
        errors.append(
            f"environment '{env}': setting 'canary_pauses' is {pauses}; allowed: canary steps below 100 "
            f"(of {steps}) after which a person resumes the release"
        )
    if values.get("health_check_via") == "load_balancer" and values.get("ssl_enabled") is True:
        errors.append(
            f"environment '{env}': setting 'health_check_via' is 'load_balancer' with ssl_enabled; allowed: "
            "'domain' for an HTTPS environment (the certificate names the domain, not the load balancer's DNS name, "
            "and a certificate is never left unverified)"
        )
    webhook = values.get("notification_webhook_url")
    if isinstance(webhook, str) and webhook and not re.match(r"^https://[^\s/]+", webhook):
        errors.append(
            f"environment '{env}': setting 'notification_webhook_url' is {HIDDEN}; allowed: an https:// URL, or "
            "empty for no notifications"
        )
    errors.extend(check_database(env, values.get("database")))
    engine = (
        (values.get("database") or {}).get("engine", "postgres") if isinstance(values.get("database"), dict) else ""
    )
    if engine == "postgres" and "mongodb_uri" in str(values.get("application_services")):
        errors.append(
            f"environment '{env}': setting 'application_services' hands a container the secret source mongodb_uri, "
            "but the database's engine is postgres; allowed: database (its credentials), or engine docdb"
        )
    tg = values.get("target_group_health_check") or {}
    if isinstance(tg.get("timeout"), int) and isinstance(tg.get("interval"), int) and tg["timeout"] >= tg["interval"]:
        errors.append(
            f"environment '{env}': setting 'target_group_health_check.timeout' is {tg['timeout']}; "
            f"allowed: less than the interval ({tg['interval']})"
        )
    return errors


# DocumentDB's instance classes (Amazon DocumentDB Developer Guide, "Instance class specifications"); no micro or small.
DOCDB_INSTANCE_CLASS = re.compile(
    r"db\.(t3\.medium|t4g\.medium|r5\.(large|[248]xlarge|1[26]xlarge|24xlarge)"
    r"|r6gd?\.(large|[248]xlarge|1[26]xlarge)|r8g\.(large|[248]xlarge|1[26]xlarge))"
)
DOCDB_CLASSES_SAID = "db.t3.medium, db.t4g.medium, db.r5.*, db.r6g.*, db.r6gd.* or db.r8g.* (large to 16xlarge)"


def check_database(env: str, database: Any) -> list[str]:
    """What the engine can provide: its topologies, its instance classes, the shard settings' ranges, and a second
    zone wherever multi_az is asked."""
    if not isinstance(database, dict):
        return []
    where = f"environment '{env}': setting 'database"
    engine, topology = database.get("engine", "postgres"), database.get("topology")
    errors = []
    if engine == "postgres" and topology == "sharded":
        errors.append(
            f"{where}.topology' is 'sharded' with engine postgres; allowed: single or replica for postgres, or engine "
            "docdb for sharded (a DocumentDB elastic cluster)"
        )
    if engine != "docdb":
        return errors
    instance_class = database.get("instance_class")
    if topology != "sharded" and isinstance(instance_class, str) and not DOCDB_INSTANCE_CLASS.fullmatch(instance_class):
        errors.append(
            f"{where}.instance_class' is {instance_class!r}, which DocumentDB does not offer; "
            f"allowed: {DOCDB_CLASSES_SAID}"
        )
    for key, low, high in (
        ("replicas", 1, 15),
        ("shards", 1, 32),
        ("shard_instances", 1, 16),
        ("backup_retention", 1, 35),
    ):
        value = database.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high):
            errors.append(f"{where}.{key}' is {value!r}; allowed: {low}..{high} with engine docdb")
    capacity = database.get("shard_capacity")
    if capacity is not None and capacity not in (2, 4, 8, 16, 32, 64):
        errors.append(f"{where}.shard_capacity' is {capacity!r}; allowed: 2, 4, 8, 16, 32 or 64 (vCPUs per shard)")
    if database.get("multi_az") is True and (
        topology == "single" or (topology == "sharded" and database.get("shard_instances", 2) == 1)
    ):
        errors.append(
            f"{where}.multi_az' is true with topology {topology}; a DocumentDB {topology} database has no second "
            "zone. Allowed: topology replica, or sharded with shard_instances of 2 or more, or multi_az false"
        )
    return errors


def _check_cidr(env: str, cidr: str) -> list[str]:
    try:
        network = ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as exc:
        return [
            f"environment '{env}': setting 'vpc_cidr' is {cidr!r}, not a valid IPv4 network ({exc}); "
            "allowed: a network address with a prefix, like 10.3.0.0/16"
        ]
    low, high = CIDR_PREFIX_RANGE
    if not low <= network.prefixlen <= high:
        return [f"environment '{env}': setting 'vpc_cidr' is {cidr}; allowed: a prefix from /{low} to /{high}"]
    return []


def check_name_prefixes(names: list[str]) -> list[str]:
    """Environments whose name starts with another's and a hyphen: the access policies scope an environment's target
    groups by <environment>-*, which would reach the other's."""
    return [
        f"environment '{name}' starts with '{other}-', another environment's name and a hyphen: {other}'s access "
        f"policies name its target groups {other}-*, which would reach {name}'s; allowed: a name that does not"
        for name in sorted(names)
        for other in sorted(names)
        if other != name and name.startswith(f"{other}-")
    ]


def check_overlaps(cidrs: dict[str, str]) -> list[str]:
    """Pairs of environments whose VPC CIDRs overlap."""
    networks = {}
    for env, cidr in cidrs.items():
        try:
            networks[env] = ipaddress.IPv4Network(cidr, strict=True)
        except (ValueError, TypeError):
            continue
    errors = []
    names = sorted(networks)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            if networks[first].overlaps(networks[second]):
                errors.append(
                    f"environment '{second}': setting 'vpc_cidr' is {networks[second]}, which overlaps "
                    f"environment '{first}' ({networks[first]}); allowed: a CIDR no other environment uses"
                )
    return errors


def check_policies(
    env: str, values: dict[str, Any], policies: list[dict[str, Any]], secrets: list[str] | tuple[str, ...] = ()
) -> list[str]:
    errors = []
    for policy in policies:
        if env not in (policy.get("environments") or []):
            continue
        actual = lookup(values, policy["setting"])
        if actual != policy["equals"]:
            why = f" ({policy['why']})" if policy.get("why") else ""
            setting = str(policy["setting"])
            secret = setting.split(".", 1)[0] in (secrets or ()) or _secret(setting)
            errors.append(
                f"environment '{env}': setting '{setting}' is {HIDDEN if secret else _show(actual)}; "
                f"the policy requires {HIDDEN if secret else _show(policy['equals'])}{why}"
            )
    return errors


def check_policy_shapes(policies: Any) -> list[str]:
    if not isinstance(policies, list):
        return [f"environment_policies is {_show(policies)}; allowed: a list of rules"]
    errors = []
    for index, policy in enumerate(policies):
        if not isinstance(policy, dict) or not {"environments", "setting", "equals"} <= set(policy):
            errors.append(
                f"environment_policies[{index}] is {_show(policy)}; allowed: a rule with environments, setting, "
                "equals and an optional why"
            )
    return errors


def resolve_promotion(
    source: str | None,
    target: str | None,
    order: list[str],
    allow_non_adjacent: bool = False,
    feature_promotion: bool = False,
) -> tuple[str | None, list[str]]:
    """The target of a promotion from source, or the reasons it is not allowed. A feature environment's release goes
    to the first environment of the order, and only when the team allows it (feature_promotion)."""
    if source is None:
        return None, []
    errors = check_name(source, "promotion source") + (check_name(target, "promotion target") if target else [])
    if errors:
        return None, errors
    if source not in order and source.startswith("feature-") and order:
        if not feature_promotion:
            return None, [
                f"promotion source '{source}' is a feature environment, and feature_promotion is false: its "
                "releases are promoted nowhere; set feature_promotion: true (group_vars/feature.yml) to let them go "
                f"to {order[0]}"
            ]
        if target not in (None, order[0]):
            return None, [f"promotion {source} -> {target}: a feature environment promotes to {order[0]} only"]
        return order[0], []
    if source not in order:
        return None, [f"promotion source '{source}' is not in promotion_order; allowed: {', '.join(order[:-1])}"]
    position = order.index(source)
    if target is None:
        if position == len(order) - 1:
            return None, [
                f"promotion source '{source}' is the last environment in promotion_order "
                f"({' -> '.join(order)}); there is nothing to promote to"
            ]
        return order[position + 1], []
    if target == source:
        following = order[position + 1] if position + 1 < len(order) else "none"
        return None, [f"promotion target '{target}' equals the source; allowed: {following}"]
    if target not in order:
        allowed = ", ".join(order[position + 1 :]) or "none"
        return None, [f"promotion target '{target}' is not in promotion_order; allowed: {allowed}"]
    target_position = order.index(target)
    if target_position < position:
        return None, [
            f"promotion {source} -> {target} goes backwards in promotion_order ({' -> '.join(order)}); "
            f"allowed target: {order[position + 1] if position + 1 < len(order) else 'none'}"
        ]
    if target_position != position + 1 and not allow_non_adjacent:
        return None, [
            f"promotion {source} -> {target} skips {', '.join(order[position + 1 : target_position])}; "
            f"allowed target: {order[position + 1]}, or give the override allow_non_adjacent=true to skip"
        ]
    return target, []


CHECKS = ("settings", "names", "capacity")


def validate(
    requested: list[Any],
    hosts_vars: dict[str, dict[str, Any]],
    spec: dict[str, Any],
    policies: list[dict[str, Any]],
    promotion: dict[str, Any] | None = None,
    declared: list[dict[str, Any]] | None = None,
    checks: tuple[str, ...] | list[str] = CHECKS,
    secret_settings: dict[str, dict[str, Any]] | None = None,
) -> tuple[list[str], dict[str, Any]]:
    """Check the requested environments (and all for CIDR overlaps); return (errors, facts).

    `checks` chooses among the settings themselves (schema, ranges, policies, overlaps, the promotion), the AWS names
    derived from them and whether the tasks fit the instances (environment_limits). `secret_settings` holds, by
    environment, the settings the schema marks no_log (they come apart, as a no_log argument); they are checked like
    the others, and no message shows their values."""
    if secret_settings:
        hosts_vars = {
            env: {**values, **(secret_settings.get(env) or {})} if isinstance(values, dict) else values
            for env, values in hosts_vars.items()
        }
    secrets = secret_names(spec)
    errors: list[str] = []
    for name in requested:
        errors.extend(check_name(name))
    if errors:
        return errors, {}
    missing = [name for name in requested if name not in hosts_vars]
    for name in missing:
        errors.append(f"environment '{name}' does not exist; known environments: {', '.join(sorted(hosts_vars))}")
    limit_checks = tuple(check for check in checks if check != "settings")
    if "settings" not in checks:
        for env in requested:
            if env in hosts_vars:
                problems = environment_limits.check_limits(env, hosts_vars[env], limit_checks)
                errors.extend(problem["message"] for problem in problems)
        return errors, {"environments": sorted(requested)}
    errors.extend(check_policy_shapes(policies))
    errors.extend(check_declared(declared or [], spec))
    settings: dict[str, dict[str, Any]] = {}
    for env, host_vars in sorted(hosts_vars.items()):
        values = settings_of(host_vars, spec)
        settings[env] = values
        if env not in requested:
            continue
        groups = host_vars.get("group_names")
        if isinstance(groups, list) and env not in groups:
            errors.append(
                f"environment '{env}': setting 'environment_name' is {env!r} but its host is in groups "
                f"{sorted(groups)}; allowed: the name of the environment's group"
            )
        errors.extend(check_against_spec(env, values, spec))
        errors.extend(check_ranges_and_rules(env, values, spec))
        errors.extend(
            application.check(
                env,
                values.get("application_services"),
                values.get("app_port"),
                values.get("application_release_order"),
                values.get("resource_names"),
            )
        )
        errors.extend(problem["message"] for problem in environment_limits.check_limits(env, values, limit_checks))
        if not isinstance(policies, list) or check_policy_shapes(policies):
            continue
        errors.extend(check_policies(env, values, policies, secrets))
    errors.extend(check_overlaps({env: v.get("vpc_cidr") for env, v in settings.items()}))
    errors.extend(check_name_prefixes(list(settings)))
    facts: dict[str, Any] = {"environments": sorted(requested)}
    if promotion and promotion.get("source") is not None:
        order = next((v.get("promotion_order") for v in settings.values() if v.get("promotion_order")), [])
        allow = promotion.get("allow_non_adjacent") or False
        if isinstance(allow, str):
            # -e allow_non_adjacent=false is the text "false", which bool() would call true.
            known, allow = coerce_text(allow, "bool")
            if not known:
                errors.append(f"allow_non_adjacent is {_show(promotion['allow_non_adjacent'])}; allowed: true or false")
                allow = False
        elif not isinstance(allow, bool):
            errors.append(f"allow_non_adjacent is {_show(allow)}; allowed: true or false")
            allow = False
        source_settings = settings.get(promotion.get("source")) or {}
        target, promotion_errors = resolve_promotion(
            promotion.get("source"),
            promotion.get("target"),
            order,
            allow,
            source_settings.get("feature_promotion") is True,
        )
        errors.extend(promotion_errors)
        for env in (promotion.get("source"), target):
            if env and env not in hosts_vars and not promotion_errors:
                errors.append(
                    f"environment '{env}' does not exist; known environments: {', '.join(sorted(hosts_vars))}"
                )
        facts["promotion"] = {"source": promotion.get("source"), "target": target}
    return errors, facts
