"""The read modules preflight.yml adds, against botocore's Stubber: each call's parameter names are checked against
the service's model, and each refusal is reported for what it is."""

from __future__ import annotations

import json
from urllib.parse import quote

import boto3
from ansible_collections.stageflow.aws.plugins.module_utils._iam import access, api
from ansible_collections.stageflow.aws.plugins.modules.service_quota_info import read_quota
from botocore.stub import Stubber

ROLE = "dev-movie-app-cluster-task-execution"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:stageflow/dev/movie-app/database-AbCdEf"


def client(service: str):
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_a_quota_is_read_as_applied_or_else_as_aws_default() -> None:
    quotas = client("service-quotas")
    with Stubber(quotas) as stub:
        stub.add_response(
            "get_service_quota",
            {"Quota": {"QuotaName": "VPCs per Region", "Value": 5.0, "Adjustable": True}},
            {"ServiceCode": "vpc", "QuotaCode": "L-F678F1CE"},
        )
        stub.add_client_error(
            "get_service_quota",
            "NoSuchResourceException",
            expected_params={"ServiceCode": "ec2", "QuotaCode": "L-0263D0A3"},
        )
        stub.add_response(
            "get_aws_default_service_quota",
            {"Quota": {"QuotaName": "EC2-VPC Elastic IPs", "Value": 5.0, "Adjustable": True}},
            {"ServiceCode": "ec2", "QuotaCode": "L-0263D0A3"},
        )
        assert read_quota(quotas, "vpc", "L-F678F1CE") == {
            "service_code": "vpc",
            "quota_code": "L-F678F1CE",
            "readable": True,
            "name": "VPCs per Region",
            "value": 5.0,
            "adjustable": True,
            "source": "applied",
        }
        assert read_quota(quotas, "ec2", "L-0263D0A3")["source"] == "default"


def test_a_quota_the_api_refuses_is_not_readable_with_the_reason_never_zero() -> None:
    quotas = client("service-quotas")
    with Stubber(quotas) as stub:
        stub.add_client_error("get_service_quota", "AccessDeniedException", "not authorized to GetServiceQuota")
        stub.add_client_error("get_service_quota", "NoSuchResourceException")
        stub.add_client_error("get_aws_default_service_quota", service_error_code="", http_status_code=500,
                              service_message="<!doctype html><title>500</title>")  # fmt: skip
        assert read_quota(quotas, "elasticloadbalancing", "L-53DA6B97") == {
            "service_code": "elasticloadbalancing",
            "quota_code": "L-53DA6B97",
            "readable": False,
            "reason": "AccessDeniedException: not authorized to GetServiceQuota",
        }
        answer = read_quota(quotas, "ec2", "L-0263D0A3")
        assert answer["readable"] is False and "value" not in answer
        assert answer["reason"] == "HTTP 500: not an AWS error answer (the endpoint may lack the call)"


def test_a_roles_inline_and_managed_policies_are_read_and_decoded() -> None:
    iam = client("iam")
    inline = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                                                      "Resource": SECRET}]}  # fmt: skip
    managed = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}
    arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
    with Stubber(iam) as stub:
        stub.add_response("list_role_policies", {"PolicyNames": ["read-environment-secrets"]}, {"RoleName": ROLE})
        stub.add_response(
            "get_role_policy",
            {"RoleName": ROLE, "PolicyName": "read-environment-secrets", "PolicyDocument": quote(json.dumps(inline))},
            {"RoleName": ROLE, "PolicyName": "read-environment-secrets"},
        )
        stub.add_response(
            "list_attached_role_policies",
            {"AttachedPolicies": [{"PolicyName": "AmazonECSTaskExecutionRolePolicy", "PolicyArn": arn}]},
            {"RoleName": ROLE},
        )
        stub.add_response("get_policy", {"Policy": {"DefaultVersionId": "v1"}}, {"PolicyArn": arn})
        stub.add_response(
            "get_policy_version",
            {"PolicyVersion": {"Document": quote(json.dumps(managed)), "VersionId": "v1"}},
            {"PolicyArn": arn, "VersionId": "v1"},
        )
        policies = api.inline_policies(iam, ROLE) + api.attached_policies(iam, ROLE)
    assert [(p["kind"], p["name"]) for p in policies] == [
        ("inline", "read-environment-secrets"),
        ("managed", "AmazonECSTaskExecutionRolePolicy"),
    ]
    assert policies[0]["document"] == inline and policies[1]["document"] == managed
    answer = access.evaluate(policies, "secretsmanager:GetSecretValue", SECRET)
    assert answer["allowed"] and answer["allowed_by"] == ["read-environment-secrets[0]"]
