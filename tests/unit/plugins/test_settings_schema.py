"""The settings schema (the validate role's environment options and every role's own) and the callback that types
settings given as -e key=value."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from ansible_collections.stageflow.aws.plugins.callback.typed_settings import CallbackModule
from ansible_collections.stageflow.aws.plugins.module_utils import environments as envs
from ansible_collections.stageflow.aws.plugins.plugin_utils.settings_schema import settings_schema


def test_the_schema_holds_the_environment_and_the_roles_own_settings() -> None:
    schema = settings_schema()
    assert schema["bake_seconds"]["type"] == "int"
    assert schema["database_engine"]["choices"] == ["docdb", "postgres"]
    assert envs.ranges_of(schema)["release_wait_timeout"] == (0, 86400)
    # A role's option is never required of an environment (its role's defaults give it).
    assert "required" not in schema["release_kind"]
    # An option in both is the environment's: backup_enabled is required of every environment.
    assert schema["backup_enabled"]["required"] is True


def test_each_caller_gets_a_copy_of_its_own() -> None:
    """The schema is read once per process; what one caller changes (a nested list too) no later caller sees."""
    first = settings_schema()
    first["database_engine"]["choices"].append("mysql")
    first["bake_seconds"]["type"] = "str"
    del first["release_kind"]
    again = settings_schema()
    assert again["database_engine"]["choices"] == ["docdb", "postgres"]
    assert again["bake_seconds"]["type"] == "int" and "release_kind" in again


@pytest.mark.parametrize(
    ("declared", "ok"),
    [
        (
            {"database_engine": "postgres", "release_wait_timeout": 600, "load_balancer_certificate_wait_timeout": 900},
            True,
        ),
        ({"database_engine": "oracle"}, False),
        ({"release_wait_timeout": -5}, False),
    ],
)
def test_group_vars_may_set_the_roles_own_settings_within_their_schema(declared, ok) -> None:
    schema = settings_schema()
    values = dict(declared)
    errors = envs.check_against_spec("dev", values, {k: schema[k] for k in declared}) + envs.check_ranges_and_rules(
        "dev", values, {k: schema[k] for k in declared}
    )
    errors = [e for e in errors if "environment_name" not in e]
    assert (errors == []) is ok, errors


def play_with(extra: dict):
    return SimpleNamespace(_variable_manager=SimpleNamespace(extra_vars=extra))


def test_the_callback_types_extra_variables_that_are_settings_and_leaves_the_rest() -> None:
    extra = {"bake_seconds": "30", "ssl_enabled": "false", "canary_steps": "[20, 100]", "env": "dev", "version": "42"}
    callback = CallbackModule()
    callback.v2_playbook_on_play_start(play_with(extra))
    assert extra == {"bake_seconds": 30, "ssl_enabled": False, "canary_steps": [20, 100], "env": "dev", "version": "42"}
    # A later play finds nothing left to convert; text that does not convert stays for validation to refuse.
    extra["cpu_limit"] = "a lot"
    callback.v2_playbook_on_play_start(play_with(extra))
    assert extra["cpu_limit"] == "a lot" and extra["bake_seconds"] == 30


def test_the_callback_does_nothing_without_extra_variables() -> None:
    CallbackModule().v2_playbook_on_play_start(SimpleNamespace())
    CallbackModule().v2_playbook_on_play_start(play_with({}))


def test_text_typed_settings_such_as_paths_are_taken_as_given() -> None:
    schema = settings_schema()
    assert schema["release_reports_dir"]["type"] == "path"
    given = {"release_reports_dir": "/tmp/reports", "bake_seconds": "30"}
    assert envs.coerce_settings(given, schema) == {"bake_seconds": 30}
    errors = envs.check_against_spec(
        "dev", {"release_reports_dir": "/tmp/reports"}, {"release_reports_dir": schema["release_reports_dir"]}
    )
    assert errors == []
