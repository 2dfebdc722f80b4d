"""The collection's one retry: throttling of every service is retried, real errors are not, and not-found is exact."""

from __future__ import annotations

import boto3
import pytest
from ansible_collections.amazon.aws.plugins.module_utils import cloud
from ansible_collections.stageflow.aws.plugins.module_utils import retries
from ansible_collections.stageflow.aws.plugins.module_utils._dynamodb import api as dynamodb_api
from ansible_collections.stageflow.aws.plugins.module_utils._elbv2 import traffic
from botocore.exceptions import ClientError
from botocore.stub import Stubber

TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/prod-app-blue/0123456789abcdef"


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoff's sleeps, recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr(cloud.time, "sleep", slept.append)
    return slept


def client(service: str):
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")


def error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "Call")


def test_dynamodb_throttling_is_retried_until_the_call_succeeds(sleeps: list[float]) -> None:
    ddb = boto3.resource(
        "dynamodb", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    table = ddb.Table("locks")
    key = {"environment": "prod"}
    with Stubber(ddb.meta.client) as stub:
        for code in ("ThrottlingException", "ProvisionedThroughputExceededException"):
            stub.add_client_error("get_item", service_error_code=code, http_status_code=400)
        stub.add_response(
            "get_item",
            {"Item": {"environment": {"S": "prod"}}},
            {"TableName": "locks", "Key": key, "ConsistentRead": True},
        )
        assert dynamodb_api.get_item(table, key) == {"environment": "prod"}
        stub.assert_no_pending_responses()
    assert len(sleeps) == 2


@pytest.mark.parametrize("code", retries.THROTTLING_CODES)
def test_every_throttling_code_is_retried(code: str, sleeps: list[float]) -> None:
    answers = [error(code), error(code), "done"]

    @retries.aws_retry
    def call() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert call() == "done"
    assert len(sleeps) == 2


@pytest.mark.parametrize("code", ["AccessDeniedException", "AccessDenied", "LimitExceededException"])
def test_real_errors_and_quotas_are_not_retried(code: str, sleeps: list[float]) -> None:
    ecs = client("ecs")
    with Stubber(ecs) as stub:
        stub.add_client_error("describe_services", service_error_code=code, http_status_code=400)
        with pytest.raises(ClientError) as raised:
            retries.aws_retry(ecs.describe_services)(cluster="c", services=["s"])
        stub.assert_no_pending_responses()
    assert raised.value.response["Error"]["Code"] == code
    assert sleeps == []


def test_throttling_that_never_ends_gives_up_after_the_set_attempts(sleeps: list[float]) -> None:
    calls = []

    @retries.retry_decorator(retries=3)
    def call() -> None:
        calls.append(1)
        raise error("ThrottlingException")

    with pytest.raises(ClientError, match="ThrottlingException"):
        call()
    assert len(calls) == 3 and len(sleeps) == 2


def test_a_missing_target_group_is_named(sleeps: list[float]) -> None:
    elbv2 = client("elbv2")
    with Stubber(elbv2) as stub:
        stub.add_client_error("describe_target_groups", service_error_code="TargetGroupNotFound", http_status_code=400)
        with pytest.raises(traffic.TrafficError, match=r"target group\(s\) prod-app-gone not found"):
            traffic.resolve_groups(elbv2, {"prod-app-gone": 100, TG_ARN: 0})


def test_access_denied_on_target_groups_is_not_turned_into_not_found(sleeps: list[float]) -> None:
    elbv2 = client("elbv2")
    with Stubber(elbv2) as stub:
        stub.add_client_error("describe_target_groups", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(ClientError) as raised:
            traffic.resolve_groups(elbv2, {"prod-app-blue": 100})
    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    assert sleeps == []


def test_target_group_names_resolve_after_throttling(sleeps: list[float]) -> None:
    elbv2 = client("elbv2")
    with Stubber(elbv2) as stub:
        stub.add_client_error("describe_target_groups", service_error_code="Throttling", http_status_code=400)
        stub.add_response(
            "describe_target_groups",
            {"TargetGroups": [{"TargetGroupName": "prod-app-blue", "TargetGroupArn": TG_ARN}]},
            {"Names": ["prod-app-blue"]},
        )
        assert traffic.resolve_groups(elbv2, {"prod-app-blue": 100}) == {TG_ARN: 100}
    assert len(sleeps) == 1
