"""Pure logic of the local cloud: fault settings, request classification, recorder parsing."""

from __future__ import annotations

import base64

import pytest

from localcloud.client import Call, _call_of
from localcloud.faults import FaultError, Faults
from localcloud.server import request_service_and_action, throttling_response

AUTH = "AWS4-HMAC-SHA256 Credential=testing/20261126/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=x"


def test_throttle_share_is_repeatable_for_a_seed_and_respects_max_consecutive() -> None:
    decisions = []
    for _attempt in range(2):
        faults = Faults()
        faults.set("throttle", {"share": 0.5, "seed": 11, "max_consecutive": 2})
        decisions.append([faults.should_throttle("ecs") for _attempt in range(200)])
    assert decisions[0] == decisions[1]
    run = longest = 0
    for hit in decisions[0]:
        run = run + 1 if hit else 0
        longest = max(longest, run)
    assert longest <= 2
    assert 60 <= sum(decisions[0]) <= 110


def test_throttle_limit_and_service_filter() -> None:
    faults = Faults()
    faults.set("throttle", {"share": 1, "limit": 3, "services": ["ecs"], "max_consecutive": 10})
    assert [faults.should_throttle("ec2") for _attempt in range(3)] == [False] * 3
    assert [faults.should_throttle("ecs") for _attempt in range(5)] == [True, True, True, False, False]


def test_a_throttle_streak_answers_more_times_in_a_row_than_botocore_retries() -> None:
    faults = Faults()
    # botocore makes 3 attempts per call in its standard retry mode (DynamoDB 4), 5 in the legacy one (DynamoDB 10).
    faults.set("throttle", {"share": 0.3, "seed": 7, "streak": 11, "services": ["ecs", "dynamodb"]})
    assert faults.as_dict()["throttle"]["max_consecutive"] == 11  # defaults to the streak
    calls = [(service, faults.should_throttle(service)) for _call in range(300) for service in ("ecs", "dynamodb")]
    for service in ("ecs", "dynamodb"):
        runs, run = [], 0
        for hit in [hit for called, hit in calls if called == service]:
            if hit:
                run += 1
            elif run:
                runs, run = [*runs, run], 0
        # Every throttled call starts a run of exactly 11 answers to that service, and then one gets through.
        assert runs and set(runs) == {11}, (service, runs)
    state = faults.as_dict()["throttle"]
    assert state["longest_streak"] == 11 and state["throttled"] == sum(hit for _service, hit in calls)


def test_a_throttle_streak_is_cut_by_the_limit() -> None:
    faults = Faults()
    faults.set("throttle", {"share": 1, "streak": 6, "limit": 8})
    assert [faults.should_throttle("ecs") for _call in range(9)] == [True] * 6 + [False] + [True] * 2
    assert [faults.should_throttle("ecs") for _call in range(3)] == [False] * 3


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("throttle", {"share": 2}, "from 0 to 1"),
        ("throttle", {"share": True}, "from 0 to 1"),
        ("throttle", {"share": 0.1, "seed": "x"}, "'seed' must be an integer"),
        ("throttle", {"share": 0.1, "limit": -1}, "'limit' must be a whole number"),
        ("throttle", {"share": 0.1, "max_consecutive": 0}, "max_consecutive"),
        ("throttle", {"share": 0.1, "streak": 0}, "'streak' must be an integer >= 1"),
        ("throttle", {"share": 0.1, "streak": True}, "'streak' must be an integer >= 1"),
        ("throttle", {"share": 0.1, "streak": "6"}, "'streak' must be an integer >= 1"),
        (
            "throttle",
            {"share": 0.1, "streak": 6, "max_consecutive": 5},
            "'max_consecutive' \\(5\\) must be at least 'streak' \\(6\\)",
        ),
        ("throttle", {"share": 0.1, "burst": 3}, "allowed: share, seed, limit, services, max_consecutive, streak"),
        ("unhealthy", {}, "non-empty list"),
        ("hang", {"patterns": [""]}, "non-empty list"),
        ("nope", {}, "unknown fault 'nope'"),
    ],
)
def test_bad_fault_settings_are_refused_and_change_nothing(name: str, body: dict, message: str) -> None:
    faults = Faults()
    before = faults.as_dict()
    with pytest.raises(FaultError, match=message):
        faults.set(name, body)
    assert faults.as_dict() == before


def test_release_patterns_match_tags_and_digests() -> None:
    faults = Faults()
    faults.set("unhealthy", {"patterns": ["*:bad", "*@sha256:dead*"]})
    assert faults.release_unhealthy(["repo/server:bad"])
    assert faults.release_unhealthy(["repo/server@sha256:deadbeef"])
    assert not faults.release_unhealthy(["repo/server:good"])


def test_requests_are_classified_by_service_and_action() -> None:
    json_req = {
        "HTTP_AUTHORIZATION": AUTH.format("ecs"),
        "HTTP_X_AMZ_TARGET": "AmazonEC2ContainerServiceV20141113.UpdateService",
    }
    assert request_service_and_action(json_req, b"") == ("ecs", "UpdateService")
    query_req = {"HTTP_AUTHORIZATION": AUTH.format("ec2"), "CONTENT_TYPE": "application/x-www-form-urlencoded"}
    assert request_service_and_action(query_req, b"Action=DescribeVpcs&Version=2016-11-15") == ("ec2", "DescribeVpcs")
    assert request_service_and_action({}, b"") == ("", "")


def test_throttling_answers_follow_each_protocol() -> None:
    status, headers, body = throttling_response("ecs", {"CONTENT_TYPE": "application/x-amz-json-1.1"})
    assert status.startswith("400") and b"ThrottlingException" in body
    assert ("x-amzn-ErrorType", "ThrottlingException") in headers
    status, _headers, body = throttling_response("ec2", {"CONTENT_TYPE": "application/x-www-form-urlencoded"})
    assert status.startswith("503") and b"RequestLimitExceeded" in body
    status, headers, body = throttling_response("backup", {})
    assert status.startswith("400") and ("x-amzn-ErrorType", "ThrottlingException") in headers
    status, _headers, body = throttling_response("elasticloadbalancing", {})
    assert status.startswith("400") and b"<Code>Throttling</Code>" in body


def test_recorder_entries_become_calls_and_reads_are_not_mutating() -> None:
    entry = {
        "headers": {"Authorization": AUTH.format("ec2")},
        "method": "POST",
        "url": "http://x/",
        "body": base64.b64encode(b"Action=CreateVpc&CidrBlock=10.0.0.0/16").decode(),
        "body_encoded": True,
    }
    assert _call_of(entry) == Call("ec2", "CreateVpc")
    assert Call("ec2", "CreateVpc").mutating
    assert not Call("ecs", "DescribeServices").mutating
    assert not Call("s3", "GET /bucket").mutating and Call("s3", "PUT /bucket").mutating
    assert _call_of({"headers": {}, "url": "http://x/moto-api/reset"}) is None
