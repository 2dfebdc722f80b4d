"""Validation rules of environments, on the real inventory's settings and on broken copies of them."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from ansible_collections.stageflow.aws.plugins.module_utils import environments as envs

ROOT = Path(__file__).resolve().parents[4]
SPEC = yaml.safe_load((ROOT / "roles/validate/meta/argument_specs.yml").read_text())["argument_specs"]["environment"][
    "options"
]
SHARED = yaml.safe_load((ROOT / "inventories/group_vars/all/main.yml").read_text())


def env_vars(name: str) -> dict:
    values = {**SHARED, **yaml.safe_load((ROOT / f"inventories/group_vars/{name}.yml").read_text())}
    values["resource_names"] = {"cluster": f"{name}-movie-app-cluster"}
    values["resource_tags"] = {"Environment": name}
    values["group_names"] = [name, "environments", "permanent"]
    return values


@pytest.fixture
def inventory() -> dict:
    return {name: env_vars(name) for name in ("dev", "staging", "prod")}


def run(inventory: dict, requested=("dev", "staging", "prod"), promotion=None, declared=None):
    return envs.validate(list(requested), inventory, SPEC, SHARED["environment_policies"], promotion, declared)


def test_the_shipped_inventory_is_valid(inventory) -> None:
    errors, facts = run(inventory)
    assert errors == []
    assert facts["environments"] == ["dev", "prod", "staging"]


def test_min_size_above_max_size_names_environment_key_value_and_rule(inventory) -> None:
    inventory["staging"]["env_config"]["min_size"] = 5
    errors, _facts = run(inventory)
    assert errors == [
        "environment 'staging': env_config sizes min_size=5, desired_capacity=2, max_size=3; "
        "allowed: min_size <= desired_capacity <= max_size"
    ]


def test_overlapping_cidrs_across_environments(inventory) -> None:
    inventory["staging"]["vpc_cidr"] = "10.2.128.0/17"
    errors, _facts = run(inventory, requested=["dev"])
    assert errors == [
        "environment 'staging': setting 'vpc_cidr' is 10.2.128.0/17, which overlaps environment 'prod' (10.2.0.0/16); "
        "allowed: a CIDR no other environment uses"
    ]


@pytest.mark.parametrize(
    ("cidr", "fragment"),
    [
        ("11.0.0.0/8", "allowed: a prefix from /16 to /24"),
        ("10.3.0.0/28", "/16 to /24"),
        ("10.3.0.1/16", "not a valid IPv4 network"),
        ("banana", "not a valid IPv4 network"),
    ],
)
def test_bad_cidrs(inventory, cidr, fragment) -> None:
    inventory["dev"]["vpc_cidr"] = cidr
    errors, _facts = run(inventory, requested=["dev"])
    assert len(errors) == 1 and fragment in errors[0] and "environment 'dev'" in errors[0]


def test_unknown_nested_key_is_reported(inventory) -> None:
    inventory["prod"]["env_config"]["instance_typ"] = "t3.large"
    errors, _facts = run(inventory, requested=["prod"])
    assert errors == [
        "environment 'prod': unknown setting 'env_config.instance_typ' (value 't3.large'); allowed here: "
        "backup_retention, desired_capacity, domain_suffix, enable_monitoring, instance_type, max_size, min_size"
    ]


def test_unknown_top_level_key_in_a_group_vars_file_is_reported() -> None:
    keys = ["environment_name", "instance_typ", "vault_notification_webhook_url", "ansible_connection"]
    declared = [{"file": "inventories/group_vars/prod.yml", "scope": "prod", "keys": keys}]
    errors = envs.check_declared(declared, SPEC)
    assert errors == [
        "environment 'prod' (inventories/group_vars/prod.yml): unknown setting 'instance_typ'; "
        "see ansible-doc -t role stageflow.aws.validate -e environment for the settings"
    ]


@pytest.mark.parametrize("name", ["staging; rm -rf /", "../prod", "Prod", "", "p", None, "a" * 32])
def test_bad_environment_names_are_refused_before_anything_else(inventory, name) -> None:
    errors, facts = run(inventory, requested=[name])
    assert len(errors) == 1 and "is not allowed: it must match ^[a-z][a-z0-9-]{1,30}$" in errors[0]
    assert facts == {}


def test_unknown_environment(inventory) -> None:
    errors, _facts = run(inventory, requested=["qa"])
    assert errors == ["environment 'qa' does not exist; known environments: dev, prod, staging"]


def test_prod_without_multi_az_breaks_the_policy(inventory) -> None:
    inventory["prod"]["database"]["multi_az"] = False
    errors, _facts = run(inventory, requested=["prod"])
    assert errors == [
        "environment 'prod': setting 'database.multi_az' is False; the policy requires True "
        "(production survives the loss of an AZ)"
    ]


def test_policies_are_data(inventory) -> None:
    inventory["dev"]["ssl_enabled"] = False
    policies = [{"environments": ["dev"], "setting": "ssl_enabled", "equals": True}]
    errors, _facts = envs.validate(["dev"], inventory, SPEC, policies)
    assert errors == ["environment 'dev': setting 'ssl_enabled' is False; the policy requires True"]


def test_types_and_choices(inventory) -> None:
    inventory["dev"]["log_level"] = "verbose"
    inventory["dev"]["app_port"] = "3000"
    inventory["dev"]["cpu_limit"] = 64
    errors, _facts = run(inventory, requested=["dev"])
    assert "environment 'dev': setting 'log_level' is 'verbose'; allowed: debug, info, warn, error" in errors
    assert "environment 'dev': setting 'app_port' is '3000' (str); allowed: a int" in errors
    assert "environment 'dev': setting 'cpu_limit' is 64; allowed: 0.25 to 16" in errors


def test_missing_required_setting(inventory) -> None:
    del inventory["dev"]["database"]["topology"]
    errors, _facts = run(inventory, requested=["dev"])
    assert errors == ["environment 'dev': setting 'database.topology' is missing; it is required (str)"]


def test_env_name_must_match_its_group(inventory) -> None:
    inventory["dev"]["group_names"] = ["staging", "environments"]
    errors, _facts = run(inventory, requested=["dev"])
    assert len(errors) == 1 and "its host is in groups ['environments', 'staging']" in errors[0]


@pytest.mark.parametrize(
    ("source", "target", "allow", "expected_target", "fragment"),
    [
        ("staging", None, False, "prod", None),
        ("dev", None, False, "staging", None),
        ("dev", "staging", False, "staging", None),
        ("dev", "prod", True, "prod", None),
        ("dev", "prod", False, None, "skips staging"),
        ("prod", "dev", False, None, "goes backwards"),
        ("prod", None, False, None, "is the last environment"),
        ("staging", "staging", False, None, "equals the source"),
        ("qa", None, False, None, "not in promotion_order"),
        ("staging", "qa", False, None, "not in promotion_order"),
    ],
)
def test_promotion_direction(source, target, allow, expected_target, fragment) -> None:
    resolved, errors = envs.resolve_promotion(source, target, SHARED["promotion_order"], allow)
    assert resolved == expected_target
    if fragment:
        assert len(errors) == 1 and fragment in errors[0]
    else:
        assert errors == []


def test_promotion_is_checked_with_the_environments(inventory) -> None:
    errors, facts = run(inventory, requested=["staging", "prod"], promotion={"source": "staging"})
    assert errors == [] and facts["promotion"] == {"source": "staging", "target": "prod"}
    errors, _facts = run(inventory, requested=["prod", "dev"], promotion={"source": "prod", "target": "dev"})
    assert len(errors) == 1 and "goes backwards" in errors[0]


def test_canary_steps_must_rise_to_100(inventory) -> None:
    broken = copy.deepcopy(inventory)
    broken["prod"]["canary_steps"] = [50, 10, 100]
    errors, _facts = run(broken, requested=["prod"])
    assert errors == [
        "environment 'prod': setting 'canary_steps' is [50, 10, 100]; allowed: rising percentages above 0 ending at 100"
    ]


def test_canary_pauses_must_be_canary_steps_below_100(inventory) -> None:
    broken = copy.deepcopy(inventory)
    broken["prod"]["canary_pauses"] = [10, 100]
    errors, _facts = run(broken, requested=["prod"])
    assert errors == [
        "environment 'prod': setting 'canary_pauses' is [10, 100]; allowed: canary steps below 100 (of [10, 50, 100]) "
        "after which a person resumes the release"
    ]
    broken["prod"]["canary_pauses"] = [50]
    assert run(broken, requested=["prod"])[0] == []


def test_a_health_check_through_the_load_balancer_is_refused_with_https(inventory) -> None:
    inventory["dev"]["ssl_enabled"] = True
    errors, _facts = run(inventory, requested=("dev",))
    assert any("'health_check_via' is 'load_balancer' with ssl_enabled" in e for e in errors), errors


SECRET = "https://hooks.example.com/services/T000/B000/s3cr3t-marker"


def test_secret_settings_come_apart_and_are_checked_without_showing_them(inventory) -> None:
    assert envs.secret_names(SPEC) == ["notification_webhook_url"]
    for values in inventory.values():
        values.pop("notification_webhook_url", None)  # what the validate role gives hosts_vars: no secret
    plain_http = "http://" + SECRET.removeprefix("https://")
    secrets = {"dev": {"notification_webhook_url": SECRET}, "prod": {"notification_webhook_url": plain_http}}
    errors, _facts = envs.validate(
        ["dev", "prod"], inventory, SPEC, SHARED["environment_policies"], secret_settings=secrets
    )
    assert errors == [
        "environment 'prod': setting 'notification_webhook_url' is <not shown, it may be secret>; "
        "allowed: an https:// URL, or empty for no notifications"
    ]
    secrets["prod"]["notification_webhook_url"] = 42
    errors, _facts = envs.validate(["prod"], inventory, SPEC, [], secret_settings=secrets)
    assert errors == [
        "environment 'prod': setting 'notification_webhook_url' is <not shown, it may be secret> (int); allowed: a str"
    ]


def test_no_message_shows_a_value_that_may_be_secret(inventory) -> None:
    inventory["prod"]["database"]["password"] = SECRET  # an unknown key named like a secret
    policies = [{"environments": ["prod"], "setting": "notification_webhook_url", "equals": ""}]
    errors, _facts = envs.validate(
        ["prod"], inventory, SPEC, policies, secret_settings={"prod": {"notification_webhook_url": SECRET}}
    )
    assert len(errors) == 2 and "unknown setting 'database.password'" in errors[0]
    assert "'notification_webhook_url' is <not shown" in errors[1]
    assert not any("s3cr3t" in error for error in errors), errors
