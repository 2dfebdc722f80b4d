# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWS's limits that decide whether an environment's settings can work at all: data, and pure rules over it.

Three tables, each row with the AWS documentation it comes from: the EC2 instance types an environment may run its
ECS tasks on (vCPUs, memory, network interfaces), what ECS registers of such an instance for tasks, and the naming
rule of every kind of AWS name Stageflow derives from an environment's settings. No AWS call; the local cloud's
strictness (localcloud/strict.py) enforces the same rules on the calls themselves.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple


class InstanceType(NamedTuple):
    vcpus: int
    memory_mib: int
    max_enis: int
    # ENI trunking (awsvpcTrunking) raises the awsvpc tasks per instance; only Nitro families other than t3/t3a/t2.
    trunking: bool


# vCPUs, memory and maximum network interfaces per instance type:
# https://docs.aws.amazon.com/ec2/latest/instancetypes/gp.html (general purpose: t2, t3, t3a, m4, m5)
# https://docs.aws.amazon.com/ec2/latest/instancetypes/co.html (compute optimized: c5)
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/AvailableIpPerENI.html (network interfaces)
# ENI trunking: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/eni-trunking-supported-instance-types.html
# ("t2, t3 and t3a ... are not supported"; m5 and c5 are).
INSTANCE_TYPES: dict[str, InstanceType] = {
    "t2.nano": InstanceType(1, 512, 2, False),
    "t2.micro": InstanceType(1, 1024, 2, False),
    "t2.small": InstanceType(1, 2048, 3, False),
    "t2.medium": InstanceType(2, 4096, 3, False),
    "t2.large": InstanceType(2, 8192, 3, False),
    "t2.xlarge": InstanceType(4, 16384, 3, False),
    "t2.2xlarge": InstanceType(8, 32768, 3, False),
    "t3.nano": InstanceType(2, 512, 2, False),
    "t3.micro": InstanceType(2, 1024, 2, False),
    "t3.small": InstanceType(2, 2048, 3, False),
    "t3.medium": InstanceType(2, 4096, 3, False),
    "t3.large": InstanceType(2, 8192, 3, False),
    "t3.xlarge": InstanceType(4, 16384, 4, False),
    "t3.2xlarge": InstanceType(8, 32768, 4, False),
    "t3a.nano": InstanceType(2, 512, 2, False),
    "t3a.micro": InstanceType(2, 1024, 2, False),
    "t3a.small": InstanceType(2, 2048, 2, False),
    "t3a.medium": InstanceType(2, 4096, 3, False),
    "t3a.large": InstanceType(2, 8192, 3, False),
    "t3a.xlarge": InstanceType(4, 16384, 4, False),
    "t3a.2xlarge": InstanceType(8, 32768, 4, False),
    "m4.large": InstanceType(2, 8192, 2, False),
    "m5.large": InstanceType(2, 8192, 3, True),
    "m5.xlarge": InstanceType(4, 16384, 4, True),
    "m5.2xlarge": InstanceType(8, 32768, 4, True),
    "m5.4xlarge": InstanceType(16, 65536, 8, True),
    "c5.large": InstanceType(2, 4096, 3, True),
    "c5.xlarge": InstanceType(4, 8192, 4, True),
    "c5.2xlarge": InstanceType(8, 16384, 4, True),
}

# What a container instance registers with ECS: 1,024 CPU units per vCPU, and its memory less what the operating
# system and the ECS agent keep. AWS's documented example is an m4.large, 8 GiB installed, that registers 7985 MiB;
# Stageflow assumes every instance keeps that share (rounded down).
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/memory-management.html
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html#ContainerDefinition-cpu
CPU_UNITS_PER_VCPU = 1024
REGISTERED_MEMORY_EXAMPLE = (7985, 8192)  # (registered MiB, installed MiB) of the m4.large example

# An awsvpc task on EC2 takes a network interface of its own; the instance keeps its primary one.
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-networking-awsvpc.html
ENIS_KEPT_BY_INSTANCE = 1


def registered_cpu(instance_type: str) -> int:
    return INSTANCE_TYPES[instance_type].vcpus * CPU_UNITS_PER_VCPU


def registered_memory(instance_type: str) -> int:
    registered, installed = REGISTERED_MEMORY_EXAMPLE
    return INSTANCE_TYPES[instance_type].memory_mib * registered // installed


def awsvpc_tasks_per_instance(instance_type: str) -> int:
    """awsvpc tasks one instance can run without ENI trunking (off unless the account turns awsvpcTrunking on)."""
    return INSTANCE_TYPES[instance_type].max_enis - ENIS_KEPT_BY_INSTANCE


class NameRule(NamedTuple):
    service: str
    min_length: int
    max_length: int
    pattern: str  # what the whole name must match
    allowed: str  # the pattern, said in words
    forbidden: tuple[tuple[str, str], ...]  # (regular expression a name must not match, why)
    url: str


_NO_EDGE_HYPHEN = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ECS = r"[A-Za-z0-9_-]+"

NAME_RULES: dict[str, NameRule] = {
    "elbv2_load_balancer": NameRule(
        "Elastic Load Balancing",
        1,
        32,
        _NO_EDGE_HYPHEN,
        "letters, digits and hyphens, not starting or ending with a hyphen",
        ((r"^internal-", "it must not start with 'internal-'"),),
        "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html",
    ),
    "elbv2_target_group": NameRule(
        "Elastic Load Balancing",
        1,
        32,
        _NO_EDGE_HYPHEN,
        "letters, digits and hyphens, not starting or ending with a hyphen",
        (),
        "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html",
    ),
    "s3_bucket": NameRule(
        "Amazon S3",
        3,
        63,
        r"[a-z0-9][a-z0-9.-]*[a-z0-9]",
        "lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit",
        (
            (r"\.\.", "it must not have two dots in a row"),
            (r"^xn--|^sthree-|^amzn-s3-demo-", "it must not start with xn--, sthree- or amzn-s3-demo-"),
            (r"-s3alias$|--ol-s3$|\.mrap$|--x-s3$|--table-s3$", "it must not end with a suffix S3 reserves"),
        ),
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html",
    ),
    "rds_instance": NameRule(
        "Amazon RDS",
        1,
        63,
        r"[A-Za-z][A-Za-z0-9-]*",
        "letters, digits and hyphens, starting with a letter",
        ((r"--", "it must not have two hyphens in a row"), (r"-$", "it must not end with a hyphen")),
        "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html",
    ),
    "rds_snapshot": NameRule(
        "Amazon RDS",
        1,
        255,
        r"[A-Za-z][A-Za-z0-9-]*",
        "letters, digits and hyphens, starting with a letter",
        ((r"--", "it must not have two hyphens in a row"), (r"-$", "it must not end with a hyphen")),
        "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBSnapshot.html",
    ),
    "rds_subnet_group": NameRule(
        "Amazon RDS",
        1,
        255,
        r"[A-Za-z0-9._ -]+",
        "letters, digits, periods, underscores, spaces and hyphens",
        ((r"^(?i:default)$", "it must not be 'default'"),),
        "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBSubnetGroup.html",
    ),
    "ecr_repository": NameRule(
        "Amazon ECR",
        2,
        256,
        r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*",
        "lower-case letters and digits, separated by single dots, underscores, hyphens or slashes",
        (),
        "https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html",
    ),
    "ecr_image_tag": NameRule(
        "Amazon ECR (OCI image tags)",
        1,
        128,
        r"[A-Za-z0-9_][A-Za-z0-9._-]*",
        "letters, digits, underscores, periods and hyphens, not starting with a period or hyphen",
        (),
        "https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests",
    ),
    "ecs_cluster": NameRule(
        "Amazon ECS",
        1,
        255,
        _ECS,
        "letters, digits, underscores and hyphens",
        (),
        "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateCluster.html",
    ),
    "ecs_service": NameRule(
        "Amazon ECS",
        1,
        255,
        _ECS,
        "letters, digits, underscores and hyphens",
        (),
        "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html",
    ),
    "ecs_task_family": NameRule(
        "Amazon ECS",
        1,
        255,
        _ECS,
        "letters, digits, underscores and hyphens",
        (),
        "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html",
    ),
    "dynamodb_table": NameRule(
        "Amazon DynamoDB",
        3,
        255,
        r"[A-Za-z0-9_.-]+",
        "letters, digits, underscores, hyphens and dots",
        (),
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html",
    ),
    "iam_role": NameRule(
        "AWS IAM",
        1,
        64,
        r"[\w+=,.@-]+",
        "letters, digits and +=,.@_-",
        (),
        "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html",
    ),
    "iam_instance_profile": NameRule(
        "AWS IAM",
        1,
        128,
        r"[\w+=,.@-]+",
        "letters, digits and +=,.@_-",
        (),
        "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateInstanceProfile.html",
    ),
    "log_group": NameRule(
        "Amazon CloudWatch Logs",
        1,
        512,
        r"[.\-_/#A-Za-z0-9]+",
        "letters, digits and ._-/#",
        (),
        "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html",
    ),
    "secret": NameRule(
        "AWS Secrets Manager",
        1,
        512,
        r"[A-Za-z0-9/_+=.@-]+",
        "letters, digits and /_+=.@-",
        (),
        "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html",
    ),
    "ssm_parameter": NameRule(
        "AWS Systems Manager Parameter Store",
        1,
        1011,
        r"[A-Za-z0-9_./-]+",
        "letters, digits and _.-/",
        (
            (r"^/?(?i:aws|ssm)", "it must not start with aws or ssm"),
            (r"^/?(?:[^/]*/){15}", "it must have at most 15 levels"),
        ),
        "https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-parameter-name-constraints.html",
    ),
    "cloudwatch_alarm": NameRule(
        "Amazon CloudWatch",
        1,
        255,
        r"[^\x00-\x1f\x7f]+",
        "printable characters",
        (),
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html",
    ),
    "cloudwatch_dashboard": NameRule(
        "Amazon CloudWatch",
        1,
        255,
        r"[A-Za-z0-9_-]+",
        "letters, digits, hyphens and underscores",
        (),
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutDashboard.html",
    ),
    "launch_template": NameRule(
        "Amazon EC2",
        3,
        128,
        r"[A-Za-z0-9().\-/_]+",
        "letters, digits and ().-/_",
        (),
        "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplate.html",
    ),
    "security_group": NameRule(
        "Amazon EC2",
        1,
        255,
        r"[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]+",
        "letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*",
        ((r"^sg-", "it must not start with sg-"),),
        "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html",
    ),
    "ec2_tag_value": NameRule(
        "Amazon EC2 (tags)",
        0,
        256,
        r"[^\x00-\x1f\x7f]*",
        "printable characters",
        (),
        "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html#tag-restrictions",
    ),
    "autoscaling_group": NameRule(
        "Amazon EC2 Auto Scaling",
        1,
        255,
        r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+",
        "printable characters",
        (),
        "https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CreateAutoScalingGroup.html",
    ),
    "scaling_policy": NameRule(
        "Application Auto Scaling",
        1,
        256,
        r"[^\x00-\x1f\x7f]+",
        "printable characters",
        (),
        "https://docs.aws.amazon.com/autoscaling/application/APIReference/API_PutScalingPolicy.html",
    ),
    "backup_vault": NameRule(
        "AWS Backup",
        2,
        50,
        r"[A-Za-z0-9_-]+",
        "letters, digits, hyphens and underscores",
        (),
        "https://docs.aws.amazon.com/aws-backup/latest/devguide/API_CreateBackupVault.html",
    ),
    "backup_plan": NameRule(
        "AWS Backup",
        1,
        50,
        r"[A-Za-z0-9_.-]+",
        "letters, digits and -_.",
        (),
        "https://docs.aws.amazon.com/aws-backup/latest/devguide/API_BackupPlanInput.html",
    ),
    "domain_name": NameRule(
        "Amazon Route 53 and AWS Certificate Manager",
        1,
        253,
        r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
        "dot-separated labels of 1 to 63 letters, digits and hyphens, not starting or ending with a hyphen",
        (),
        "https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DomainNameFormat.html "
        "https://docs.aws.amazon.com/acm/latest/APIReference/API_RequestCertificate.html",
    ),
}


def name_problem(kind: str, name: str) -> tuple[str, int | None] | None:
    """Why AWS refuses `name` as a name of this kind, and the length limit it breaks (None for a character rule);
    None when AWS accepts it."""
    rule = NAME_RULES[kind]
    if len(name) > rule.max_length:
        return f"AWS allows at most {rule.max_length} ({rule.service})", rule.max_length
    if len(name) < rule.min_length:
        return f"AWS needs at least {rule.min_length} ({rule.service})", None
    if not re.fullmatch(rule.pattern, name):
        return f"AWS allows only {rule.allowed} ({rule.service})", None
    for expression, why in rule.forbidden:
        if re.search(expression, name):
            return f"{why} ({rule.service})", None
    if kind == "s3_bucket" and _is_ip_address(name):
        return f"it must not look like an IP address ({rule.service})", None
    return None


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


class ServiceQuota(NamedTuple):
    service_code: str
    quota_code: str
    name: str
    default: int
    url: str


# The account's quotas one environment uses, read with Service Quotas' GetServiceQuota where the caller may.
SERVICE_QUOTAS: dict[str, ServiceQuota] = {
    "vpcs": ServiceQuota(
        "vpc",
        "L-F678F1CE",
        "VPCs per Region",
        5,
        "https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html",
    ),
    "elastic_ips": ServiceQuota(
        "ec2",
        "L-0263D0A3",
        "EC2-VPC Elastic IPs",
        5,
        "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/elastic-ip-addresses-eip.html#using-instance-addressing-limit",
    ),
    "application_load_balancers": ServiceQuota(
        "elasticloadbalancing",
        "L-53DA6B97",
        "Application Load Balancers per Region",
        50,
        "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html",
    ),
}
