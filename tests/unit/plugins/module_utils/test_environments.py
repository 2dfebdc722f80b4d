"""Validation rules of environments, on the real inventory's settings and on broken copies of them."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from ansible_collections.stageflow.aws.plugins.module_utils import environments as envs

from tests.unit.templating import native

ROOT = Path(__file__).resolve().parents[4]
SPEC = yaml.safe_load((ROOT / "roles/validate/meta/argument_specs.yml").read_text())["argument_specs"]["environment"][
    "options"
]
SHARED = yaml.safe_load((ROOT / "inventories/group_vars/all/main.yml").read_text())


def env_vars(name: str) -> dict:
    values = {**SHARED, **yaml.safe_load((ROOT / f"inventories/group_vars/{name}.yml").read_text())}
    values["application_services"] = native(values["application_services"], values)
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
    assert any(e.startswith("environment 'dev': setting 'app_port' is '3000' (text); allowed: a int.") for e in errors)
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


# One schema: the ranges are read from the descriptions that document them, and the roles' own settings join it.
# What the ranges were when they lived in Python (RANGES), before they moved into the schema: none may be lost.
FORMER_RANGES = {
    "env_config.min_size": (0, 100),
    "env_config.max_size": (1, 100),
    "env_config.backup_retention": (1, 3650),
    "database.allocated_storage": (20, 65536),
    "database.backup_retention": (0, 35),
    "app_port": (1, 65535),
    "redis_port": (1, 65535),
    "cpu_limit": (0.25, 16),
    "external_api_timeout": (1, 300),
    "cache_ttl": (0, 86400),
    "backup_retention_days": (1, 3650),
    "bake_seconds": (0, 3600),
    "health_check.retries": (1, 100),
    "health_check.delay": (0, 600),
    "health_check.expected_status": (100, 599),
    "target_group_health_check.interval": (5, 300),
    "target_group_health_check.timeout": (2, 120),
    "target_group_health_check.healthy_threshold": (2, 10),
    "target_group_health_check.unhealthy_threshold": (2, 10),
    "alarm_thresholds.target_5xx_count": (1, 100000),
    "alarm_thresholds.p95_latency_seconds": (0.01, 60),
    "alarm_thresholds.unhealthy_hosts": (1, 1000),
    "feature_ttl_hours": (1, 720),
}


def test_the_schema_documents_every_range_it_checks() -> None:
    ranges = envs.ranges_of(SPEC)
    for path, expected in FORMER_RANGES.items():
        assert ranges[path] == expected, path
    # Documented and never checked before.
    assert ranges["feature_cidr_prefix"] == (16, 24)
    assert ranges["env_config.desired_capacity"] == (0, 100)


@pytest.mark.parametrize(
    ("setting", "value", "fragment"),
    [
        ("feature_cidr_prefix", 12, "setting 'feature_cidr_prefix' is 12; allowed: 16 to 24"),
        ("app_port", 70000, "setting 'app_port' is 70000; allowed: 1 to 65535"),
        ("cpu_limit", 0.1, "setting 'cpu_limit' is 0.1; allowed: 0.25 to 16"),
    ],
)
def test_a_value_out_of_its_documented_range_is_refused(inventory, setting, value, fragment) -> None:
    inventory["dev"][setting] = value
    errors, _facts = run(inventory, ["dev"])
    assert any(fragment in error for error in errors), errors


@pytest.mark.parametrize(
    ("text", "type_name", "expected"),
    [
        ("30", "int", (True, 30)),
        (" -4 ", "int", (True, -4)),
        ("3O", "int", (False, "3O")),
        ("3.5", "int", (False, "3.5")),
        ("0.5", "float", (True, 0.5)),
        ("2", "float", (True, 2.0)),
        ("nan", "float", (False, "nan")),
        ("inf", "float", (False, "inf")),
        ("false", "bool", (True, False)),
        ("False", "bool", (True, False)),
        ("yes", "bool", (True, True)),
        ("off", "bool", (True, False)),
        ("1", "bool", (False, "1")),
        ("maybe", "bool", (False, "maybe")),
        ("[10, 50, 100]", "list", (True, [10, 50, 100])),
        ('["https://a.example"]', "list", (True, ["https://a.example"])),
        ("10,50,100", "list", (False, "10,50,100")),
        ("[10, 50", "list", (False, "[10, 50")),
        ('{"a": 1}', "list", (False, '{"a": 1}')),
        ('{"path": "/health"}', "dict", (True, {"path": "/health"})),
    ],
)
def test_text_converts_only_when_it_is_unambiguous(text, type_name, expected) -> None:
    assert envs.coerce_text(text, type_name) == expected


def test_only_text_settings_typed_otherwise_are_converted() -> None:
    given = {"bake_seconds": "30", "ssl_enabled": "false", "log_level": "30", "env": "dev", "cpu_limit": 0.5}
    assert envs.coerce_settings(given, SPEC) == {"bake_seconds": 30, "ssl_enabled": False}


def test_text_that_does_not_convert_is_refused_with_the_json_form(inventory) -> None:
    inventory["dev"]["bake_seconds"] = "3O"
    inventory["dev"]["canary_steps"] = "10,100"
    errors, _facts = run(inventory, ["dev"])
    assert (
        "environment 'dev': setting 'bake_seconds' is '3O' (text); allowed: a int. Give it as JSON: "
        "-e '{\"bake_seconds\": 30}' (unquoted in group_vars)" in errors
    )
    assert any("setting 'canary_steps' is '10,100'" in e and "-e '{\"canary_steps\": [...]}'" in e for e in errors)


def test_text_that_would_convert_is_refused_without_the_callback_and_says_so(inventory) -> None:
    inventory["dev"]["bake_seconds"] = "30"
    errors, _facts = run(inventory, ["dev"])
    assert len(errors) == 1 and "stageflow.aws.typed_settings callback" in errors[0], errors


@pytest.mark.parametrize(
    ("allow", "fragment"),
    [
        ("false", "skips staging"),
        ("no", "skips staging"),
        (False, "skips staging"),
        ("maybe", "allow_non_adjacent is 'maybe'; allowed: true or false"),
        (3, "allow_non_adjacent is 3; allowed: true or false"),
    ],
)
def test_allow_non_adjacent_is_read_strictly(inventory, allow, fragment) -> None:
    errors, _facts = run(inventory, promotion={"source": "dev", "target": "prod", "allow_non_adjacent": allow})
    assert any(fragment in error for error in errors), errors
    errors, facts = run(inventory, promotion={"source": "dev", "target": "prod", "allow_non_adjacent": "true"})
    assert errors == [] and facts["promotion"]["target"] == "prod"


def test_no_value_inside_the_application_containers_is_shown(inventory) -> None:
    container = inventory["dev"]["application_services"][0]["containers"][0]
    container["enviroment"] = {"API_KEY": "sk_live_marker"}  # a typo of environment
    container["port"] = "sk_live_port_marker"
    errors, _facts = run(inventory, ["dev"])
    assert any("unknown setting 'application_services[0].containers[0].enviroment'" in e for e in errors), errors
    assert any("application_services[0].containers[0].port" in e for e in errors), errors
    assert not any("sk_live" in e for e in errors), errors


def test_an_environment_whose_name_starts_with_anothers_and_a_hyphen_is_refused() -> None:
    assert envs.check_name_prefixes(["dev", "staging", "prod"]) == []
    [error] = envs.check_name_prefixes(["dev", "dev-eu", "prod"])
    assert error.startswith("environment 'dev-eu' starts with 'dev-', another environment's name and a hyphen")


@pytest.mark.parametrize(
    ("env", "changes", "said"),
    [
        (
            "prod",
            {"engine": "postgres"},
            "environment 'prod': setting 'database.topology' is 'sharded' with engine postgres; allowed: single or "
            "replica for postgres, or engine docdb for sharded (a DocumentDB elastic cluster)",
        ),
        (
            "dev",
            {"instance_class": "db.t3.micro"},
            "environment 'dev': setting 'database.instance_class' is 'db.t3.micro', which DocumentDB does not offer; "
            "allowed: db.t3.medium, db.t4g.medium, db.r5.*, db.r6g.*, db.r6gd.* or db.r8g.* (large to 16xlarge)",
        ),
        (
            "prod",
            {"shards": 33},
            "environment 'prod': setting 'database.shards' is 33; allowed: 1..32 with engine docdb",
        ),
        (
            "prod",
            {"shard_capacity": 3},
            "environment 'prod': setting 'database.shard_capacity' is 3; allowed: 2, 4, 8, 16, 32 or 64 (vCPUs per "
            "shard)",
        ),
        (
            "staging",
            {"replicas": 16},
            "environment 'staging': setting 'database.replicas' is 16; allowed: 1..15 with engine docdb",
        ),
        (
            "staging",
            {"backup_retention": 0},
            "environment 'staging': setting 'database.backup_retention' is 0; allowed: 1..35 with engine docdb",
        ),
        (
            "dev",
            {"multi_az": True},
            "environment 'dev': setting 'database.multi_az' is true with topology single; a DocumentDB single database "
            "has no second zone. Allowed: topology replica, or sharded with shard_instances of 2 or more, or multi_az "
            "false",
        ),
    ],
    ids=["sharded-postgres", "docdb-micro", "shards", "shard-capacity", "replicas", "retention", "multi-az-single"],
)
def test_a_database_the_engine_cannot_provide_is_refused_naming_the_setting_and_what_is_allowed(
    inventory, env: str, changes: dict, said: str
) -> None:
    inventory[env]["database"].update(changes)
    errors, _facts = run(inventory)
    assert said in errors, errors


def test_a_postgres_environment_hands_no_container_a_mongodb_uri(inventory) -> None:
    inventory["dev"]["database"]["engine"] = "postgres"
    inventory["dev"]["database"]["instance_class"] = "db.t3.micro"
    errors, _facts = run(inventory)
    assert errors == [
        "environment 'dev': setting 'application_services' hands a container the secret source mongodb_uri, but the "
        "database's engine is postgres; allowed: database (its credentials), or engine docdb"
    ]
