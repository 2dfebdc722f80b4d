"""playbooks/preflight.yml's judgement without AWS: route out, the execution role's access, health checks on private
zones, quotas; and the IAM evaluation it rests on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from ansible_collections.stageflow.aws.plugins.module_utils import preflight
from ansible_collections.stageflow.aws.plugins.module_utils._iam import access
from moto.iam.aws_managed_policies import aws_managed_policies_data

ROOT = Path(__file__).resolve().parents[4]
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:stageflow/dev/movie-app/database-AbCdEf"
EXECUTION_POLICY = json.loads(aws_managed_policies_data)["AmazonECSTaskExecutionRolePolicy"]["Document"]


def settings(**changes) -> dict:
    values = {
        "environment_name": "dev",
        "app_name": "movie-app",
        "aws_region": "us-east-1",
        "availability_zones": ["us-east-1a", "us-east-1b"],
        "resource_names": {"cluster": "dev-movie-app-cluster", "vpc": "dev-movie-app-vpc"},
        "domain_name": "dev.example.com",
        "health_check_via": "domain",
        "ssl_enabled": False,
        "network_egress": "nat_gateway",
    }
    values.update(changes)
    return values


def checks(found: list[dict]) -> list[str]:
    return [b["check"] for b in found]


# -- IAM ----------------------------------------------------------------------------------------------------------


def policy(*statements: dict) -> dict:
    return {"name": "p", "document": {"Version": "2012-10-17", "Statement": list(statements)}}


def test_the_managed_execution_policy_alone_cannot_read_secrets() -> None:
    answer = access.evaluate([{"name": "AmazonECSTaskExecutionRolePolicy", "document": EXECUTION_POLICY}],
                             "secretsmanager:GetSecretValue", SECRET)  # fmt: skip
    assert answer["allowed"] is False and answer["allowed_by"] == []


def allow(action: str, resource: str, key: str = "Resource") -> dict:
    return {"Effect": "Allow", "Action" if key == "Resource" else "NotAction": action, key: resource}


SECRETS_OF = "arn:aws:secretsmanager:*:*:secret:stageflow/{}/*"


@pytest.mark.parametrize(
    ("statements", "allowed"),
    [
        ([allow("secretsmanager:GetSecretValue", SECRET)], True),
        ([allow("SecretsManager:getsecretvalue", SECRET)], True),
        ([allow("secretsmanager:Get*", SECRET.rsplit("-", 1)[0] + "-??????")], True),
        ([allow("secretsmanager:*", SECRETS_OF.format("dev"))], True),
        ([allow("secretsmanager:*", SECRETS_OF.format("prod"))], False),
        ([allow("*", "*"), {"Effect": "Deny", "Action": "secretsmanager:*", "Resource": "*"}], False),
        ([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}], True),
        ([{"Effect": "Allow", "Action": "*", "NotResource": SECRET}], False),
        ([allow("ecr:*", "*")], False),
    ],
)
def test_identity_policies_are_evaluated_as_iam_does(statements, allowed) -> None:
    assert access.evaluate([policy(*statements)], "secretsmanager:GetSecretValue", SECRET)["allowed"] is allowed


def test_a_conditional_allow_is_said_to_be_conditional() -> None:
    statement = {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*", "Sid": "Read",
                 "Condition": {"StringEquals": {"aws:ResourceTag/Environment": "dev"}}}  # fmt: skip
    answer = access.evaluate([policy(statement)], "secretsmanager:GetSecretValue", SECRET)
    assert answer == {
        "action": "secretsmanager:GetSecretValue",
        "resource": SECRET,
        "allowed": True,
        "allowed_by": ["p[Read]"],
        "denied_by": [],
        "conditional": True,
    }


# -- Route out ----------------------------------------------------------------------------------------------------


def vpc(route: dict | None = None, public_ip: bool = False, endpoints: list[dict] | None = None, nats=None) -> dict:
    subnet = {"subnet_id": "subnet-1", "availability_zone": "us-east-1a", "tags": {"Tier": "private"},
              "map_public_ip_on_launch": public_ip}  # fmt: skip
    table = {"route_table_id": "rtb-1", "associations": [{"subnet_id": "subnet-1", "main": False}],
             "routes": [{"destination_cidr_block": "10.0.0.0/16", "gateway_id": "local", "state": "active"}]
             + ([route] if route else [])}  # fmt: skip
    return {"vpc": {"id": "vpc-1"}, "subnets": [subnet], "route_tables": [table], "endpoints": endpoints or [],
            "nat_gateways": nats or []}  # fmt: skip


def endpoint(name: str, kind: str = "Interface", tables=()) -> dict:
    return {"service_name": f"com.amazonaws.us-east-1.{name}", "vpc_endpoint_type": kind, "state": "available",
            "route_table_ids": list(tables)}  # fmt: skip


ALL_ENDPOINTS = [endpoint(n) for n in ("ecr.api", "ecr.dkr", "ecs", "ecs-agent", "logs", "secretsmanager")]


@pytest.mark.parametrize(
    ("live", "blocked"),
    [
        (vpc({"destination_cidr_block": "0.0.0.0/0", "nat_gateway_id": "nat-1", "state": "active"},
             nats=[{"nat_gateway_id": "nat-1", "state": "available"}]), False),
        (vpc({"destination_cidr_block": "0.0.0.0/0", "nat_gateway_id": "nat-1", "state": "active"},
             nats=[{"nat_gateway_id": "nat-1", "state": "failed"}]), True),
        (vpc({"destination_cidr_block": "0.0.0.0/0", "nat_gateway_id": "nat-1", "state": "blackhole"}), True),
        (vpc({"destination_cidr_block": "0.0.0.0/0", "gateway_id": "igw-1", "state": "active"}, public_ip=True), False),
        (vpc({"destination_cidr_block": "0.0.0.0/0", "gateway_id": "igw-1", "state": "active"}), True),
        (vpc(endpoints=[*ALL_ENDPOINTS, endpoint("s3", "Gateway", ["rtb-1"])]), False),
        (vpc(endpoints=[*ALL_ENDPOINTS, endpoint("s3", "Gateway", ["rtb-other"])]), True),
        (vpc(endpoints=[*ALL_ENDPOINTS[:2], endpoint("s3", "Gateway", ["rtb-1"])]), True),
        (vpc(), True),
    ],
)  # fmt: skip
def test_private_subnets_need_a_nat_gateway_public_ips_or_the_endpoints(live, blocked) -> None:
    found = preflight.live_route_out("dev", settings(), live)
    assert bool(found) is blocked, found


def test_a_subnet_without_a_route_out_names_the_missing_endpoints_and_what_each_breaks() -> None:
    live = vpc(endpoints=ALL_ENDPOINTS[:2])
    (blocker,) = preflight.live_route_out("dev", settings(), live)
    assert blocker["what"] == (
        "private subnet subnet-1 (us-east-1a) has no route out: its route table rtb-1 has no route to 0.0.0.0/0, "
        "and it lacks the VPC endpoints ecs, ecs-agent, logs, secretsmanager, s3 (gateway)"
    )
    assert "secretsmanager: the tasks cannot read their database secret" in blocker["why"]
    assert (
        blocker["fix"] == "run playbooks/provision.yml, which builds the route out network_egress=nat_gateway asks for"
    )
    assert blocker["text"].startswith("[dev, route out] private subnet subnet-1")


@pytest.mark.parametrize(
    ("changes", "blocked"),
    [
        ({"network_egress": "nat_gateway"}, False),
        ({"network_egress": "nat_gateway_per_az"}, False),
        ({"network_egress": "endpoints"}, False),
        ({"network_egress": "endpoints", "network_endpoint_services": ["s3", "ecr.api", "ecr.dkr"]}, True),
        ({"network_egress": None}, True),
        ({"network_egress": "none"}, True),
    ],
)
def test_before_the_vpc_exists_the_route_out_is_judged_from_network_egress(changes, blocked) -> None:
    found = preflight.planned_route_out("dev", settings(**changes))
    assert bool(found) is blocked, found
    if changes == {"network_egress": None}:
        assert found[0]["what"].startswith("network_egress is not set, so the private subnets")


# -- Execution role -----------------------------------------------------------------------------------------------


def test_the_secret_and_role_come_from_the_task_definition_when_there_is_one() -> None:
    live = {"account": "123456789012", "partition": "aws"}
    assert preflight.reads(settings(), live)["secret_arn"] == SECRET
    assert preflight.reads(settings(), live)["execution_role"] == "dev-movie-app-cluster-task-execution"
    live["task_definition"] = {
        "execution_role_arn": "arn:aws:iam::123456789012:role/custom-role",
        "container_definitions": [{"name": "server", "secrets": [{"name": "DB", "value_from": SECRET + "x"}]}],
    }
    reads = preflight.reads(settings(), live)
    assert reads["secret_arn"] == SECRET + "x" and reads["execution_role"] == "custom-role"
    assert [q["quota_code"] for q in reads["quotas"]] == ["L-F678F1CE", "L-0263D0A3", "L-53DA6B97"]


def test_an_execution_role_that_may_not_read_the_secret_blocks() -> None:
    denied = access.evaluate([{"name": "x", "document": EXECUTION_POLICY}], "secretsmanager:GetSecretValue", SECRET)
    found, notes = preflight.execution_role("dev", settings(), {"execution_role": {"exists": True, "access": [denied]}})
    assert checks(found) == ["execution role"] and notes == []
    assert found[0]["what"] == (
        "the task execution role dev-movie-app-cluster-task-execution may not secretsmanager:GetSecretValue "
        f"on {SECRET}"
    )
    assert "ResourceInitializationError" in found[0]["why"]
    found, notes = preflight.execution_role("dev", settings(), {"execution_role": {"exists": False}})
    assert found == [] and "does not exist yet" in notes[0]


# -- Health check and certificate ---------------------------------------------------------------------------------


def zone(name: str, private: bool) -> dict:
    return {"Name": name + ".", "Config": {"PrivateZone": private}}


@pytest.mark.parametrize(
    ("changes", "zones", "expected"),
    [
        ({"domain_name": "dev.movie-app.internal"}, [], ["health check"]),
        ({"domain_name": "dev.movie-app.internal", "health_check_via": "load_balancer"}, [], []),
        ({"domain_name": "dev.movie-app.internal", "ssl_enabled": True}, [], ["health check", "certificate"]),
        ({"domain_name": "staging.movie-app.com"}, [zone("movie-app.com", True)], ["health check"]),
        ({"domain_name": "staging.movie-app.com"}, [zone("movie-app.com", True), zone("movie-app.com", False)], []),
        ({"domain_name": "staging.movie-app.com"}, [zone("movie-app.com", False)], []),
        ({"domain_name": "staging.movie-app.com"}, [zone("other.com", True)], []),
    ],
)
def test_a_domain_only_the_vpc_resolves_is_not_checked_from_outside(changes, zones, expected) -> None:
    assert checks(preflight.health_check("dev", settings(**changes), {"zones": zones})) == expected


# -- Quotas -------------------------------------------------------------------------------------------------------


def quota(code: str, value: float | None = None, service: str = "vpc") -> dict:
    if value is None:
        return {"service_code": service, "quota_code": code, "readable": False, "reason": "AccessDeniedException: no"}
    return {"service_code": service, "quota_code": code, "readable": True, "value": value}


def test_a_quota_the_environment_would_exceed_blocks_and_one_not_readable_is_a_note() -> None:
    quotas = [quota("L-F678F1CE", 5.0), quota("L-0263D0A3", service="ec2")]
    quotas.append(quota("L-53DA6B97", 50.0, "elasticloadbalancing"))
    live = {"vpc": {}, "quotas": quotas, "usage": {"vpcs": 5, "elastic_ips": 5, "application_load_balancers": 3}}
    found, notes = preflight.quotas("dev", settings(), live)
    assert [b["what"] for b in found] == [
        "the environment needs 1 more of VPCs per Region (vpc L-F678F1CE); the account has 5 of 5"
    ]
    assert notes == [
        "dev: EC2-VPC Elastic IPs (ec2 L-0263D0A3) not readable (AccessDeniedException: no); AWS's default is 5"
    ]


def test_what_an_environment_adds_counts_what_it_already_has() -> None:
    live = {"vpc": {"id": "vpc-1"}, "load_balancer_exists": True, "nat_gateways": [{"state": "available"}]}
    assert preflight.needs(settings(network_egress="nat_gateway_per_az"), live) == {
        "vpcs": 0,
        "elastic_ips": 1,
        "application_load_balancers": 0,
    }
    assert preflight.needs(settings(network_egress="endpoints"), {}) == {
        "vpcs": 1,
        "elastic_ips": 0,
        "application_load_balancers": 1,
    }


# -- All of it ----------------------------------------------------------------------------------------------------


def test_the_shipped_environments_blockers_before_they_exist_are_only_what_their_settings_say() -> None:
    shared = yaml.safe_load((ROOT / "inventories/group_vars/all/main.yml").read_text())
    for env in ("dev", "staging", "prod"):
        values = {**shared, **yaml.safe_load((ROOT / f"inventories/group_vars/{env}.yml").read_text())}
        values["resource_names"] = {"cluster": f"{env}-movie-app-cluster"}
        result = preflight.blockers(env, values, {"vpc": {}})
        assert set(checks(result["blockers"])) <= {
            "names",
            "capacity",
            "enis",
            "route out",
            "health check",
            "certificate",
        }
        assert all(b["what"] and b["why"] and b["fix"] for b in result["blockers"])
