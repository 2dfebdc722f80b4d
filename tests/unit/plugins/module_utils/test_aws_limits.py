"""The table of AWS limits: instance types as EC2 describes them, what ECS registers, and each service's name rules."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import moto
import pytest
from ansible_collections.stageflow.aws.plugins.module_utils import aws_limits as limits

SOURCE = (Path(limits.__file__)).read_text()


def test_the_instance_types_stageflow_needs_are_in_the_table() -> None:
    wanted = [f"t2.{s}" for s in ("micro", "small", "medium", "large")]
    wanted += [
        f"{f}.{s}" for f in ("t3", "t3a") for s in ("nano", "micro", "small", "medium", "large", "xlarge", "2xlarge")
    ]
    wanted += [f"m5.{s}" for s in ("large", "xlarge", "2xlarge", "4xlarge")] + ["c5.large", "c5.xlarge", "c5.2xlarge"]
    assert set(wanted) <= set(limits.INSTANCE_TYPES)


def test_the_table_agrees_with_ec2s_own_description_of_each_instance_type() -> None:
    """moto ships EC2's DescribeInstanceTypes answers: vCPUs, memory and network interfaces must match them."""
    path = Path(moto.__file__).parent / "ec2/resources/instance_types.json.gz"
    described = json.loads(gzip.decompress(path.read_bytes()))
    for name, row in limits.INSTANCE_TYPES.items():
        ec2 = described[name]
        assert (row.vcpus, row.memory_mib, row.max_enis) == (
            ec2["VCpuInfo"]["DefaultVCpus"],
            ec2["MemoryInfo"]["SizeInMiB"],
            ec2["NetworkInfo"]["MaximumNetworkInterfaces"],
        ), name


def test_ecs_registers_the_documented_share_of_memory_and_1024_cpu_units_per_vcpu() -> None:
    assert limits.registered_memory("m4.large") == 7985  # AWS's documented example
    assert limits.registered_memory("t3.micro") == 998
    assert limits.registered_memory("t3.small") == 1996
    assert limits.registered_memory("t3.medium") == 3992
    assert limits.registered_cpu("t3.micro") == 2048 and limits.registered_cpu("t2.micro") == 1024
    assert limits.registered_cpu("m5.4xlarge") == 16 * 1024


def test_awsvpc_tasks_per_instance_keep_the_primary_interface_and_t3_has_no_trunking() -> None:
    assert limits.awsvpc_tasks_per_instance("t3.micro") == 1
    assert limits.awsvpc_tasks_per_instance("t3.small") == 2
    assert limits.awsvpc_tasks_per_instance("t3a.small") == 1
    assert limits.awsvpc_tasks_per_instance("m5.4xlarge") == 7
    assert not any(limits.INSTANCE_TYPES[n].trunking for n in limits.INSTANCE_TYPES if n.startswith(("t2", "t3")))
    assert limits.INSTANCE_TYPES["m5.large"].trunking and limits.INSTANCE_TYPES["c5.large"].trunking


def test_every_rule_and_quota_names_its_aws_documentation() -> None:
    for kind, rule in limits.NAME_RULES.items():
        assert rule.url.startswith("https://"), kind
        assert rule.min_length <= rule.max_length, kind
    for quota in limits.SERVICE_QUOTAS.values():
        assert quota.url.startswith("https://docs.aws.amazon.com/")
    assert SOURCE.count("https://docs.aws.amazon.com/") >= len(limits.NAME_RULES)


@pytest.mark.parametrize(
    ("kind", "limit"),
    [
        ("elbv2_load_balancer", 32),
        ("elbv2_target_group", 32),
        ("s3_bucket", 63),
        ("rds_instance", 63),
        ("ecr_repository", 256),
        ("ecs_cluster", 255),
        ("ecs_service", 255),
        ("dynamodb_table", 255),
        ("iam_role", 64),
        ("log_group", 512),
        ("secret", 512),
        ("ssm_parameter", 1011),
        ("cloudwatch_alarm", 255),
        ("cloudwatch_dashboard", 255),
        ("launch_template", 128),
        ("autoscaling_group", 255),
        ("backup_vault", 50),
    ],
)
def test_each_service_takes_names_up_to_its_limit_and_not_one_more(kind, limit) -> None:
    assert limits.name_problem(kind, "a" * limit) is None
    why, broken = limits.name_problem(kind, "a" * (limit + 1))
    assert broken == limit
    assert why == f"AWS allows at most {limit} ({limits.NAME_RULES[kind].service})"


@pytest.mark.parametrize(
    ("kind", "name", "fragment"),
    [
        ("elbv2_load_balancer", "-dev-alb", "not starting or ending with a hyphen"),
        ("elbv2_load_balancer", "dev_alb", "letters, digits and hyphens"),
        ("elbv2_load_balancer", "internal-dev", "must not start with 'internal-'"),
        ("elbv2_target_group", "dev-app-blue-", "not starting or ending with a hyphen"),
        ("s3_bucket", "Dev-bucket", "lower-case letters"),
        ("s3_bucket", "dev..bucket", "two dots in a row"),
        ("s3_bucket", "192.168.1.1", "IP address"),
        ("s3_bucket", "ab", "at least 3"),
        ("s3_bucket", "xn--bucket", "must not start with xn--"),
        ("rds_instance", "dev--db", "two hyphens in a row"),
        ("rds_instance", "dev-db-", "must not end with a hyphen"),
        ("rds_instance", "1dev", "starting with a letter"),
        ("ecr_repository", "Dev-repo", "lower-case letters"),
        ("ecr_repository", "dev--repo", "separated by single"),
        ("ecs_cluster", "dev.cluster", "letters, digits, underscores and hyphens"),
        ("dynamodb_table", "ab", "at least 3"),
        ("iam_role", "dev role", "+=,.@_-"),
        ("ssm_parameter", "/aws/dev", "must not start with aws or ssm"),
        ("ssm_parameter", "/" + "/".join("l" * 16), "at most 15 levels"),
        ("cloudwatch_dashboard", "dev dashboard", "letters, digits, hyphens and underscores"),
        ("launch_template", "ab", "at least 3"),
        ("security_group", "sg-dev", "must not start with sg-"),
        ("backup_vault", "dev.vault", "letters, digits, hyphens and underscores"),
        ("domain_name", "dev." + "a" * 64 + ".com", "labels of 1 to 63"),
        ("ecr_image_tag", "-tag", "not starting with a period or hyphen"),
    ],
)
def test_names_aws_refuses_for_their_characters(kind, name, fragment) -> None:
    why, limit = limits.name_problem(kind, name)
    assert fragment in why and limit is None


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("s3_bucket", "dev-movie-app-deploy-reports-123456789012"),
        ("ssm_parameter", "/stageflow/dev/movie-app/snapshot-policy"),
        ("log_group", "/stageflow/dev/movie-app"),
        ("secret", "stageflow/dev/movie-app/database"),
        ("ecr_repository", "dev-movie-app-client-repo"),
        ("rds_snapshot", "promote-dev-20250101T000000-00042"),
        ("domain_name", "dev.movie-app.internal"),
        ("security_group", "dev-movie-app-vpc-alb"),
    ],
)
def test_the_names_stageflow_gives_dev_are_accepted(kind, name) -> None:
    assert limits.name_problem(kind, name) is None


def test_validation_and_the_local_clouds_placement_count_the_same() -> None:
    """What validation lets through, the strict local cloud places, and the reverse (localcloud/capacity.py models ECS
    on its own, as a second opinion)."""
    from localcloud import capacity

    for name in capacity.INSTANCE_TYPES:
        registered = capacity.registered_resources(name, "")
        assert (registered.cpu, registered.memory) == (limits.registered_cpu(name), limits.registered_memory(name)), (
            name
        )
