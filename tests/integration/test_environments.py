"""Environments as data: validation, branch mapping and the report, run as playbooks.

Each run's AWS calls are read from the local cloud's recorder: validation must make none.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, Cloud


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    """A copy of the shipped inventory that a test may break."""
    copy = tmp_path / "inventories"
    shutil.copytree(ROOT / "inventories", copy)
    return copy


def edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def validate(cloud: Cloud, inventory: Path | None = None, *extra: str):
    if cloud.control:
        cloud.control.reset_recording()
    args = ["playbooks/validate.yml", *extra]
    if inventory:
        args = ["-i", str(inventory / "stageflow.yml"), *args]
    proc = cloud.playbook(*args)
    calls = cloud.control.calls() if cloud.control else []
    return proc, calls


def test_shipped_inventory_validates_without_aws_calls(cloud: Cloud) -> None:
    proc, calls = validate(cloud)
    assert proc.returncode == 0, proc.stdout
    assert "Valid: dev, prod, staging" in proc.stdout
    assert calls == []


BAD_INPUTS = [
    pytest.param(
        lambda inv: edit(inv / "group_vars/staging.yml", lambda d: d.update(vpc_cidr="10.2.0.0/20")),
        (),
        "environment 'staging': setting 'vpc_cidr' is 10.2.0.0/20, which overlaps environment 'prod' (10.2.0.0/16)",
        id="overlapping CIDRs",
    ),
    pytest.param(
        lambda inv: edit(inv / "group_vars/dev.yml", lambda d: d["env_config"].update(min_size=3)),
        ("-e", "env=dev"),
        "environment 'dev': env_config sizes min_size=3, desired_capacity=1, max_size=2",
        id="min_size > max_size",
    ),
    pytest.param(
        lambda inv: edit(inv / "group_vars/prod.yml", lambda d: d.update(instance_typ="t3.large")),
        ("-e", "env=prod"),
        "unknown setting 'instance_typ'",
        id="unknown key",
    ),
    pytest.param(
        None,
        ("-e", '{"env": "staging; rm -rf /"}'),
        "environment name 'staging; rm -rf /' is not allowed",
        id="shell metacharacters",
    ),
    pytest.param(None, ("-e", "env=../prod"), "environment name '../prod' is not allowed", id="path trick"),
    pytest.param(None, ("-e", "env=Prod"), "environment name 'Prod' is not allowed", id="upper case"),
    pytest.param(None, ("-e", '{"env": ""}'), "environment name '' is not allowed", id="empty name"),
    pytest.param(
        lambda inv: edit(inv / "group_vars/prod.yml", lambda d: d["database"].update(multi_az=False)),
        ("-e", "env=prod"),
        "environment 'prod': setting 'database.multi_az' is False; the policy requires True",
        id="prod without multi-AZ",
    ),
    pytest.param(
        None,
        ("-e", "source=prod", "-e", "target=dev"),
        "promotion prod -> dev goes backwards",
        id="promotion prod to dev",
    ),
    pytest.param(
        None,
        ("-e", "source=staging", "-e", "target=staging"),
        "promotion target 'staging' equals the source",
        id="source equals target",
    ),
    pytest.param(
        None,
        ("-e", "env=dev", "-e", "bake_seconds=3O"),
        "environment 'dev': setting 'bake_seconds' is '3O' (text); allowed: a int. Give it as JSON: "
        "-e '{\"bake_seconds\": 30}'",
        id="a number that is not one, on the command line",
    ),
    pytest.param(
        None,
        ("-e", "env=dev", "-e", "canary_steps=20,100"),
        "setting 'canary_steps' is '20,100' (text); allowed: a list. Give it as JSON: -e '{\"canary_steps\": [...]}'",
        id="a list that is not JSON, on the command line",
    ),
    pytest.param(
        None,
        # Typed by the callback before validation: "false" is false, so production's HTTPS policy refuses it.
        ("-e", "env=prod", "-e", "ssl_enabled=false"),
        "environment 'prod': setting 'ssl_enabled' is False; the policy requires True",
        id="a boolean on the command line is a boolean",
    ),
    pytest.param(
        lambda inv: edit(inv / "group_vars/dev.yml", lambda d: d.update(database_engine="oracle")),
        ("-e", "env=dev"),
        "environment 'dev': setting 'database_engine' is 'oracle'; allowed: docdb, postgres",
        id="a role's own setting in group_vars, checked against its role",
    ),
    pytest.param(
        lambda inv: edit(inv / "group_vars/all/main.yml", lambda d: d.update(feature_cidr_prefix=12)),
        ("-e", "env=dev"),
        "environment 'dev': setting 'feature_cidr_prefix' is 12; allowed: 16 to 24",
        id="feature_cidr_prefix out of its documented range",
    ),
    pytest.param(
        lambda inv: edit(
            inv / "group_vars/all/main.yml",
            lambda d: d["application_services"][0]["load_balancer"].update(container="api"),
        ),
        ("-e", "env=dev"),
        "environment 'dev': setting 'application_services': service 'app' sends its load balancer's traffic to "
        "container 'api', which it does not have; allowed: server, client",
        id="a load balancer sent to a container the service lacks",
    ),
    pytest.param(
        lambda inv: edit(
            inv / "group_vars/all/main.yml",
            lambda d: d["application_services"][0]["containers"].append({"name": "server", "port": 81}),
        ),
        ("-e", "env=staging"),
        "environment 'staging': setting 'application_services': service 'app' lists container 'server' twice",
        id="a container listed twice",
    ),
    pytest.param(
        None,
        ("-e", "env=qa"),
        "environment 'qa' does not exist; known environments: dev, prod, staging",
        id="environment that does not exist",
    ),
]


@pytest.mark.parametrize(("breakage", "extra", "message"), BAD_INPUTS)
def test_bad_input_fails_fast_with_a_clear_message_and_no_aws_call(cloud: Cloud, inventory, breakage, extra, message):
    if breakage:
        breakage(inventory)
    proc, calls = validate(cloud, inventory, *extra)
    assert proc.returncode != 0
    output = proc.stdout.replace("\n        ", " ").replace("''", "'")
    assert message in output, proc.stdout
    assert calls == []


def test_non_adjacent_promotion_needs_the_named_override(cloud: Cloud) -> None:
    proc, _calls = validate(cloud, None, "-e", "source=dev", "-e", "target=prod")
    assert proc.returncode != 0 and "skips staging" in proc.stdout
    proc, calls = validate(cloud, None, "-e", "source=dev", "-e", "target=prod", "-e", "allow_non_adjacent=true")
    assert proc.returncode == 0 and "promotion dev -> prod" in proc.stdout
    assert calls == []


def test_settings_typed_on_the_command_line_and_the_roles_own_in_group_vars_are_accepted(
    cloud: Cloud, inventory
) -> None:
    edit(inventory / "group_vars/dev.yml", lambda d: d.update(release_wait_timeout=600, database_engine="postgres"))
    proc, calls = validate(
        cloud,
        inventory,
        *("-e", "env=dev", "-e", "bake_seconds=30", "-e", "canary_steps=[20,100]", "-e", "cpu_limit=0.5"),
        *("-e", "debug_mode=no", "-e", 'cors_origins=["https://a.example"]'),
    )
    assert proc.returncode == 0, proc.stdout
    assert "Valid: dev" in proc.stdout
    assert calls == []


@pytest.mark.parametrize(
    ("allow", "message"),
    [
        ("false", "promotion dev -> prod skips staging"),
        ("maybe", "allow_non_adjacent is 'maybe'; allowed: true or false"),
    ],
)
def test_promote_forwards_allow_non_adjacent_and_reads_it_strictly(cloud: Cloud, allow, message) -> None:
    cloud.control.reset_recording()
    proc = cloud.playbook(
        "playbooks/promote.yml", "-e", "source=dev", "-e", "target=prod", "-e", f"allow_non_adjacent={allow}"
    )
    assert proc.returncode != 0
    assert message in proc.stdout.replace("\n        ", " ").replace("''", "'"), proc.stdout
    assert cloud.control.calls() == []


def test_a_feature_environment_is_found_by_its_tags_and_promotes_to_dev_only_when_allowed(cloud: Cloud) -> None:
    ec2 = cloud.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.130.0.0/16")["Vpc"]["VpcId"]
    tags = {"ManagedBy": "stageflow", "Application": "movie-app", "Environment": "feature-login"}
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    # One read (the VPC by its tags), then the same validation as any environment's.
    proc, calls = validate(cloud, None, "-e", "env=feature-login")
    assert proc.returncode == 0, proc.stdout
    assert "Valid: feature-login" in proc.stdout
    assert {call.action for call in calls} == {"DescribeVpcs", "DescribeVpcAttribute"}  # ec2_vpc_net_info's reads

    proc, calls = validate(cloud, None, "-e", "env=feature-nope")
    assert proc.returncode != 0
    assert "feature environment feature-nope does not exist" in proc.stdout.replace("\n", " ")
    assert "ansible-playbook playbooks/env_create.yml -e env_name=feature-nope" in proc.stdout.replace("\n", " ")

    proc, _calls = validate(cloud, None, "-e", "source=feature-login")
    assert proc.returncode != 0
    assert "feature_promotion is false" in proc.stdout.replace("\n        ", " "), proc.stdout
    proc, _calls = validate(cloud, None, "-e", "source=feature-login", "-e", "feature_promotion=true")
    assert proc.returncode == 0, proc.stdout
    assert "promotion feature-login -> dev" in proc.stdout
    proc, _calls = validate(
        cloud, None, "-e", "source=feature-login", "-e", "target=staging", "-e", "feature_promotion=true"
    )
    assert proc.returncode != 0
    assert "a feature environment promotes to dev only" in proc.stdout.replace("\n        ", " "), proc.stdout


def test_report_prints_and_writes_the_matrix_offline(cloud: Cloud, tmp_path) -> None:
    if cloud.control:
        cloud.control.reset_recording()
    proc = cloud.playbook("playbooks/report.yml", "-e", f"report_dir={tmp_path}")
    assert proc.returncode == 0, proc.stdout
    assert "| **Instances** | 1x t3.micro | 2x t3.small | 3x t3.medium |" in proc.stdout
    data = json.loads((tmp_path / "environment-matrix.json").read_text())
    assert data["environments"] == ["dev", "staging", "prod"] and data["seed_total"] == 245
    assert data["total"] == round(sum(c["cost_total"] for c in data["columns"]), 2)
    markdown = (tmp_path / "environment-matrix.md").read_text()
    assert "| **Cost/Month (seed)** | $25 | $70 | $150 |" in markdown
    if cloud.control:
        assert cloud.control.calls() == []
