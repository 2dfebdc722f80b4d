"""The environments filters: branch mapping, settings files and the comparison matrix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.stageflow.aws.plugins.filter import environments as flt
from ansible_collections.stageflow.aws.plugins.module_utils import matrix

ROOT = Path(__file__).resolve().parents[4]
MAPPING = yaml.safe_load((ROOT / "inventories/group_vars/all/main.yml").read_text())["branch_mapping"]
PRICES = yaml.safe_load((ROOT / "playbooks/vars/aws_prices.yml").read_text())["aws_prices"]


@pytest.mark.parametrize(
    ("branch", "environment", "deploy"),
    [
        ("refs/heads/main", "prod", True),
        ("develop", "staging", True),
        ("refs/heads/feature/x", "dev", True),
        ("hotfix/y", "dev", False),
        ("mainline", "dev", False),
    ],
)
def test_seed_branch_mapping(branch, environment, deploy) -> None:
    answer = flt.environment_for_branch(branch, MAPPING)
    assert (answer["environment"], answer["deploy"]) == (environment, deploy)


def test_branch_mapping_errors() -> None:
    with pytest.raises(AnsibleFilterError, match="non-empty string"):
        flt.environment_for_branch("", MAPPING)
    with pytest.raises(AnsibleFilterError, match="no rule matches branch 'x'"):
        flt.environment_for_branch("x", [{"pattern": "main", "environment": "prod", "deploy": True}])
    with pytest.raises(AnsibleFilterError, match="needs pattern, environment and deploy"):
        flt.environment_for_branch("x", [{"pattern": "*"}])


def test_outside_scope_keeps_what_no_pattern_matches() -> None:
    scope = ["dev", "staging", "feature-*"]
    assert flt.outside_scope(["dev", "prod", "feature-x", "", "prod", "featurex"], scope) == ["prod", "featurex"]
    assert flt.outside_scope(["prod"], ["prod"]) == []
    with pytest.raises(AnsibleFilterError, match="list of names or patterns"):
        flt.outside_scope(["dev"], "dev,staging")


def test_settings_files_list_top_level_keys(tmp_path) -> None:
    (tmp_path / "group_vars" / "all").mkdir(parents=True)
    (tmp_path / "group_vars" / "all" / "main.yml").write_text("app_name: x\n")
    (tmp_path / "group_vars" / "prod.yml").write_text("environment_name: prod\ninstance_typ: t3.large\n")
    inventory = tmp_path / "stageflow.yml"
    inventory.write_text("all: {}\n")
    found = flt.environment_settings_files([str(inventory)])
    assert [(f["scope"], f["keys"]) for f in found] == [
        ("all", ["app_name"]),
        ("prod", ["environment_name", "instance_typ"]),
    ]


def test_settings_files_read_inline_vault_values_and_skip_files_vaulted_whole(tmp_path) -> None:
    (tmp_path / "group_vars" / "prod").mkdir(parents=True)
    (tmp_path / "group_vars" / "prod" / "main.yml").write_text(
        "environment_name: prod\nnotification_webhook_url: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n"
    )
    (tmp_path / "group_vars" / "prod" / "vault.yml").write_text("$ANSIBLE_VAULT;1.1;AES256\n61626364\n")
    inventory = tmp_path / "stageflow.yml"
    inventory.write_text("all: {}\n")
    found = flt.environment_settings_files([str(inventory)])
    assert [(f["scope"], f["keys"], f.get("vaulted", False)) for f in found] == [
        ("prod", ["environment_name", "notification_webhook_url"], False),
        ("prod", [], True),
    ]


def test_environment_vars_gives_only_the_keys_asked_for() -> None:
    hostvars = {
        "dev-env": {"environment_name": "dev", "vpc_cidr": "10.0.0.0/16", "vault_marker": "s3cr3t"},
        "prod-env": {"environment_name": "prod", "vault_marker": "s3cr3t"},
    }
    assert flt.environment_vars(["dev-env", "prod-env"], hostvars, ["environment_name", "vpc_cidr"]) == {
        "dev": {"environment_name": "dev", "vpc_cidr": "10.0.0.0/16"},
        "prod": {"environment_name": "prod"},
    }
    assert flt.environment_vars(["dev-env"], hostvars)["dev"]["vault_marker"] == "s3cr3t"  # without keys, all
    with pytest.raises(AnsibleFilterError, match="keys must be a list"):
        flt.environment_vars(["dev-env"], hostvars, "vpc_cidr")


def seed_settings(env: str) -> dict:
    shared = yaml.safe_load((ROOT / "inventories/group_vars/all/main.yml").read_text())
    return {**shared, **yaml.safe_load((ROOT / f"inventories/group_vars/{env}.yml").read_text())}


def test_matrix_rows_follow_the_seed_and_costs_add_up() -> None:
    data = matrix.matrix({e: seed_settings(e) for e in ("prod", "dev", "staging")}, ["dev", "staging", "prod"], PRICES)
    assert data["environments"] == ["dev", "staging", "prod"]
    dev, staging, prod = data["columns"]
    assert [c["Instances"] for c in data["columns"]] == ["1x t3.micro", "2x t3.small", "3x t3.medium"]
    assert [c["Database"] for c in data["columns"]] == [
        "MongoDB (single) - DocumentDB 1x db.t3.medium",
        "MongoDB (replica) - DocumentDB 2x db.t3.medium",
        "MongoDB (sharded) - DocumentDB elastic, 2 shards x 2 vCPU x 2",
    ]
    assert [c["SSL/HTTPS"] for c in data["columns"]] == ["No", "Yes", "Yes"]
    assert [c["Auto-scaling"] for c in data["columns"]] == ["No", "Limited", "Full"]
    assert dev["cost_items"]["ec2"] == round(0.0104 * 730, 2)
    # DocumentDB: dev one db.t3.medium, staging two; prod's elastic cluster 2 shards x 2 vCPUs x 2 instances.
    assert dev["cost_items"]["database"] == round(0.078 * 730, 2)
    assert staging["cost_items"]["database"] == round(2 * 0.078 * 730, 2)
    assert prod["cost_items"]["database"] == round(8 * 0.0514 * 730, 2)
    assert prod["cost_items"]["database_storage"] == round(100 * 0.10 + 10 * 0.20, 2)
    # PostgreSQL, for an application that needs SQL: RDS's price, a standby for multi-AZ.
    postgres = {**seed_settings("prod"), "database": {**seed_settings("prod")["database"], "engine": "postgres"}}
    postgres["database"]["topology"] = "replica"
    (column,) = matrix.matrix({"prod": postgres}, ["prod"], PRICES)["columns"]
    assert column["Database"] == "PostgreSQL (replica) - RDS 3x db.t3.medium"
    assert column["cost_items"]["database"] == round(3 * 0.072 * 730, 2)
    # Route out: one NAT gateway in dev and staging, one per zone (2) in prod, each with its public IPv4 address, and
    # 20 GB a month through them.
    assert [c["Route out"] for c in data["columns"]] == ["NAT gateway (1)", "NAT gateway (1)", "NAT gateway per zone"]
    assert dev["cost_items"]["route_out"] == round((0.045 + 0.005) * 730 + 20 * 0.045, 2)
    assert prod["cost_items"]["route_out"] == round(2 * (0.045 + 0.005) * 730 + 20 * 0.045, 2)
    assert data["total"] == round(dev["cost_total"] + staging["cost_total"] + prod["cost_total"], 2)
    assert data["seed_total"] == 245
    markdown = matrix.to_markdown(data)
    assert "| **Cost/Month (seed)** | $25 | $70 | $150 |" in markdown
    assert "the seed said $245/month" in markdown


def test_endpoints_cost_an_hour_per_endpoint_and_zone() -> None:
    settings = {**seed_settings("dev"), "network_egress": "endpoints"}
    assert matrix.route_out_cost(settings, PRICES) == 7 * 2 * 0.01 * 730 + 20 * 0.01


def test_matrix_names_a_missing_price() -> None:
    settings = seed_settings("dev")
    settings["env_config"] = {**settings["env_config"], "instance_type": "x9.huge"}
    with pytest.raises(AnsibleFilterError, match=r"no EC2 price for 'x9\.huge'"):
        flt.environment_matrix({"dev": settings}, ["dev"], PRICES)
