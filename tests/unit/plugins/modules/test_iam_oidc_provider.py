"""stageflow.aws.iam_oidc_provider, run in this process against moto (`mock_aws`) and read back with boto3; every call
the module makes is recorded, so check mode and bad input are shown to make no mutating call. moto 5.2 lacks
AddClientIDToOpenIDConnectProvider and RemoveClientIDFromOpenIDConnectProvider: client id changes are tested with
botocore's Stubber, which checks each call's parameters against IAM's model."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.amazon.aws.plugins.module_utils import cloud
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.stageflow.aws.plugins.modules import iam_oidc_provider
from botocore.client import BaseClient
from botocore.stub import Stubber
from moto import mock_aws

GITHUB = "https://token.actions.githubusercontent.com"
ARN = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
GITHUB_THUMBPRINT = "6938fd4d98bab03faadb97b34396831e3780aea1"
OTHER_THUMBPRINT = "1c58a3a8518e8759bf075b76b750d4f2df264fcd"
READS = {"ListOpenIDConnectProviders", "GetOpenIDConnectProvider"}


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict]]:
    """Every AWS call made from here on, by any client, as (operation, parameters)."""
    made: list[tuple[str, dict]] = []
    original = BaseClient._make_api_call

    def recording(self, operation_name, api_params):
        made.append((operation_name, dict(api_params)))
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return made


@pytest.fixture
def iam(monkeypatch: pytest.MonkeyPatch, calls: list) -> Any:
    """An empty moto IAM; the module finds it through boto3's defaults, as it finds AWS."""
    for name in ("AWS_ENDPOINT_URL", "AWS_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("iam", region_name="us-east-1")
        yield client


def run(capsys: pytest.CaptureFixture, check_mode: bool = False, diff: bool = False, **args) -> dict:
    """The module's result, run as Ansible runs it: one call of main() with these arguments."""
    args.update(_ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args), pytest.raises(SystemExit):
        iam_oidc_provider.main()
    return json.loads(capsys.readouterr().out)


def mutating(calls: list[tuple[str, dict]]) -> list[str]:
    return [name for name, _params in calls if name not in READS]


def read_back(iam: Any, arn: str = ARN) -> dict:
    answer = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    return {
        "client_ids": sorted(answer["ClientIDList"]),
        "thumbprints": answer.get("ThumbprintList", []),
        "tags": {t["Key"]: t["Value"] for t in answer.get("Tags", [])},
    }


def existing(iam: Any, client_ids=("sts.amazonaws.com",), thumbprints=(), tags=None) -> None:
    kwargs = {"Url": GITHUB, "ClientIDList": list(client_ids), "ThumbprintList": list(thumbprints)}
    if tags:
        kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    iam.create_open_id_connect_provider(**kwargs)


# -- create, idempotence, check mode ---------------------------------------------------------------------------------


def test_github_provider_is_created_with_the_sts_audience_and_no_thumbprint_sent(iam, calls, capsys) -> None:
    result = run(capsys, url=GITHUB, tags={"Project": "stageflow"})
    assert result["changed"] is True
    assert [step["action"] for step in result["plan"]] == ["create"]
    creates = [params for name, params in calls if name == "CreateOpenIDConnectProvider"]
    assert creates == [
        {"Url": GITHUB, "ClientIDList": ["sts.amazonaws.com"], "Tags": [{"Key": "Project", "Value": "stageflow"}]}
    ]
    provider = result["provider"]
    assert provider["arn"] == ARN and provider["url"] == GITHUB
    assert provider["client_ids"] == ["sts.amazonaws.com"] and provider["tags"] == {"Project": "stageflow"}
    assert datetime.fromisoformat(provider["create_date"]).tzinfo is not None
    assert read_back(iam) == {"client_ids": ["sts.amazonaws.com"], "thumbprints": [], "tags": {"Project": "stageflow"}}


def test_a_second_run_changes_nothing_and_only_reads(iam, calls, capsys) -> None:
    args = {"url": GITHUB, "thumbprints": [GITHUB_THUMBPRINT], "tags": {"Project": "stageflow"}}
    first = run(capsys, **args)
    calls.clear()
    second = run(capsys, diff=True, **args)
    assert second["changed"] is False and second["plan"] == []
    assert second["provider"] == first["provider"]
    assert second["diff"]["before"] == second["diff"]["after"]
    assert mutating(calls) == []


def test_check_mode_plans_the_create_and_makes_no_mutating_call(iam, calls, capsys) -> None:
    result = run(
        capsys, check_mode=True, diff=True, url=GITHUB, client_ids=["sts.amazonaws.com", "https://github.com/x"]
    )
    assert result["changed"] is True
    assert result["plan"][0]["action"] == "create"
    assert result["plan"][0]["client_ids"] == ["sts.amazonaws.com", "https://github.com/x"]
    assert result["provider"]["arn"] is None and result["provider"]["create_date"] is None
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"] == {
        "url": GITHUB,
        "client_ids": ["https://github.com/x", "sts.amazonaws.com"],
        "thumbprints": [],
        "tags": {},
    }
    assert mutating(calls) == []
    assert iam.list_open_id_connect_providers()["OpenIDConnectProviderList"] == []


def test_check_mode_on_an_existing_provider_plans_updates_and_changes_nothing(iam, calls, capsys) -> None:
    existing(iam, thumbprints=[GITHUB_THUMBPRINT], tags={"Project": "stageflow", "Owner": "ops"})
    calls.clear()
    result = run(capsys, check_mode=True, diff=True, url=GITHUB, thumbprints=[OTHER_THUMBPRINT], tags={"Project": "x"})
    assert result["changed"] is True
    assert [step["action"] for step in result["plan"]] == ["update_thumbprints", "tag", "untag"]
    assert result["diff"]["before"]["thumbprints"] == [GITHUB_THUMBPRINT]
    assert result["diff"]["after"]["thumbprints"] == [OTHER_THUMBPRINT]
    assert result["diff"]["after"]["tags"] == {"Project": "x"}
    assert result["provider"]["arn"] == ARN
    assert mutating(calls) == []
    assert read_back(iam) == {
        "client_ids": ["sts.amazonaws.com"],
        "thumbprints": [GITHUB_THUMBPRINT],
        "tags": {"Project": "stageflow", "Owner": "ops"},
    }


# -- updates -----------------------------------------------------------------------------------------------------------


def test_thumbprints_are_replaced_compared_in_lower_case_and_left_alone_when_omitted(iam, calls, capsys) -> None:
    existing(iam, thumbprints=[GITHUB_THUMBPRINT])
    result = run(capsys, url=GITHUB, thumbprints=[OTHER_THUMBPRINT.upper(), GITHUB_THUMBPRINT])
    assert result["changed"] is True
    assert [params for name, params in calls if name == "UpdateOpenIDConnectProviderThumbprint"] == [
        {"OpenIDConnectProviderArn": ARN, "ThumbprintList": sorted([OTHER_THUMBPRINT, GITHUB_THUMBPRINT])}
    ]
    assert sorted(read_back(iam)["thumbprints"]) == sorted([OTHER_THUMBPRINT, GITHUB_THUMBPRINT])
    assert run(capsys, url=GITHUB, thumbprints=[GITHUB_THUMBPRINT.upper(), OTHER_THUMBPRINT])["changed"] is False
    calls.clear()
    assert run(capsys, url=GITHUB)["changed"] is False
    assert mutating(calls) == []


def test_tags_are_set_changed_and_purged_and_left_alone_when_omitted(iam, capsys) -> None:
    existing(iam, tags={"Project": "stageflow", "Owner": "ops"})
    result = run(capsys, url=GITHUB, tags={"Project": "movie-app", "Team": "web"})
    assert [(s["action"], s.get("tags"), s.get("tag_keys")) for s in result["plan"]] == [
        ("tag", {"Project": "movie-app", "Team": "web"}, None),
        ("untag", None, ["Owner"]),
    ]
    assert result["provider"]["tags"] == {"Project": "movie-app", "Team": "web"}
    assert read_back(iam)["tags"] == {"Project": "movie-app", "Team": "web"}

    kept = run(capsys, url=GITHUB, tags={"Cost": 42}, purge_tags=False)
    assert kept["plan"] == [{"action": "tag", "tags": {"Cost": "42"}, "reason": "tags ['Cost'] are missing or differ"}]
    assert read_back(iam)["tags"] == {"Project": "movie-app", "Team": "web", "Cost": "42"}
    assert run(capsys, url=GITHUB)["changed"] is False
    assert run(capsys, url=GITHUB, tags={"Cost": "42"}, purge_tags=False)["changed"] is False


def test_the_provider_is_found_whatever_the_case_of_its_host(iam, calls, capsys) -> None:
    existing(iam)
    calls.clear()
    result = run(capsys, url="https://Token.Actions.GitHubUserContent.com")
    assert result["changed"] is False and result["provider"]["arn"] == ARN
    assert mutating(calls) == []


def test_another_providers_url_is_a_different_provider(iam, capsys) -> None:
    existing(iam)
    result = run(capsys, url="https://token.actions.githubusercontent.com/example")
    assert result["changed"] is True and result["provider"]["arn"] == ARN + "/example"
    assert len(iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]) == 2


# -- client ids, against IAM's model (moto lacks the calls) ----------------------------------------------------------


def stubbed_iam() -> Any:
    return boto3.client("iam", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")


def expect_read(stub: Stubber, client_ids: list[str], listed: bool = True) -> None:
    """The provider's read: found by listing first, or (`listed=False`) read back by its ARN after a change."""
    if listed:
        stub.add_response("list_open_id_connect_providers", {"OpenIDConnectProviderList": [{"Arn": ARN}]}, {})
    stub.add_response(
        "get_open_id_connect_provider",
        {"Url": GITHUB[len("https://") :], "ClientIDList": client_ids, "ThumbprintList": [], "Tags": [],
         "CreateDate": datetime(2025, 1, 31, tzinfo=UTC)},
        {"OpenIDConnectProviderArn": ARN},
    )  # fmt: skip


def params(**changes) -> dict:
    values = {"url": GITHUB, "client_ids": ["sts.amazonaws.com"], "purge_client_ids": True, "thumbprints": None,
              "tags": None, "purge_tags": True, "state": "present"}  # fmt: skip
    values.update(changes)
    return values


def test_client_ids_are_added_before_others_are_removed() -> None:
    iam = stubbed_iam()
    wanted = ["sts.amazonaws.com", "https://github.com/example"]
    with Stubber(iam) as stub:
        expect_read(stub, ["sts.amazonaws.com", "old-audience"])
        stub.add_response(
            "add_client_id_to_open_id_connect_provider",
            {},
            {"OpenIDConnectProviderArn": ARN, "ClientID": "https://github.com/example"},
        )
        stub.add_response(
            "remove_client_id_from_open_id_connect_provider",
            {},
            {"OpenIDConnectProviderArn": ARN, "ClientID": "old-audience"},
        )
        expect_read(stub, wanted, listed=False)
        changed, before, after, steps = iam_oidc_provider.run(iam, params(client_ids=wanted), False, [])
        stub.assert_no_pending_responses()
    assert changed and [s["action"] for s in steps] == ["add_client_id", "remove_client_id"]
    assert before["client_ids"] == ["old-audience", "sts.amazonaws.com"]
    assert after["client_ids"] == ["https://github.com/example", "sts.amazonaws.com"]


def test_without_purge_client_ids_none_is_removed() -> None:
    iam = stubbed_iam()
    with Stubber(iam) as stub:
        expect_read(stub, ["sts.amazonaws.com", "old-audience"])
        stub.add_response(
            "add_client_id_to_open_id_connect_provider", {}, {"OpenIDConnectProviderArn": ARN, "ClientID": "new"}
        )
        expect_read(stub, ["new", "old-audience", "sts.amazonaws.com"], listed=False)
        changed, _before, after, steps = iam_oidc_provider.run(
            iam, params(client_ids=["new"], purge_client_ids=False), False, []
        )
    assert changed and [s["action"] for s in steps] == ["add_client_id"]
    assert after["client_ids"] == ["new", "old-audience", "sts.amazonaws.com"]


def test_a_failed_change_says_what_was_already_done(monkeypatch, capsys) -> None:
    iam = stubbed_iam()
    monkeypatch.setattr(AnsibleAWSModule, "client", lambda self, service, **kwargs: iam)
    with Stubber(iam) as stub:
        expect_read(stub, ["old-audience"])
        stub.add_response(
            "add_client_id_to_open_id_connect_provider",
            {},
            {"OpenIDConnectProviderArn": ARN, "ClientID": "sts.amazonaws.com"},
        )
        stub.add_client_error("remove_client_id_from_open_id_connect_provider", "AccessDenied", "not authorized")
        result = run(capsys, url=GITHUB)
    assert result["failed"] is True
    assert "a call failed after these changes were made: add_client_id" in result["msg"]
    assert [step["action"] for step in result["done"]] == ["add_client_id"]


def test_a_new_provider_is_read_back_through_iams_eventual_consistency(monkeypatch) -> None:
    monkeypatch.setattr(cloud.time, "sleep", lambda seconds: None)
    iam = stubbed_iam()
    with Stubber(iam) as stub:
        stub.add_response("list_open_id_connect_providers", {"OpenIDConnectProviderList": []}, {})
        stub.add_response(
            "create_open_id_connect_provider",
            {"OpenIDConnectProviderArn": ARN},
            {"Url": GITHUB, "ClientIDList": ["sts.amazonaws.com"], "ThumbprintList": [GITHUB_THUMBPRINT]},
        )
        stub.add_client_error("get_open_id_connect_provider", "NoSuchEntity", http_status_code=404)
        expect_read(stub, ["sts.amazonaws.com"], listed=False)
        changed, _before, after, _steps = iam_oidc_provider.run(iam, params(thumbprints=[GITHUB_THUMBPRINT]), False, [])
    assert changed and after["arn"] == ARN and after["create_date"] == "2025-01-31T00:00:00+00:00"


# -- absent ------------------------------------------------------------------------------------------------------------


def test_absent_deletes_the_provider_once_and_check_mode_keeps_it(iam, calls, capsys) -> None:
    existing(iam)
    calls.clear()
    planned = run(capsys, check_mode=True, diff=True, url=GITHUB, state="absent")
    assert planned["changed"] is True and planned["plan"][0]["action"] == "delete"
    assert planned["diff"]["after"] == {} and planned["diff"]["before"]["url"] == GITHUB
    assert mutating(calls) == []
    assert read_back(iam)["client_ids"] == ["sts.amazonaws.com"]

    deleted = run(capsys, url=GITHUB, state="absent")
    assert deleted["changed"] is True and deleted["provider"] == {}
    assert iam.list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
    calls.clear()
    again = run(capsys, url=GITHUB, state="absent")
    assert again["changed"] is False and again["plan"] == []
    assert mutating(calls) == []


# -- bad input ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"url": "http://token.actions.githubusercontent.com"}, "url must begin with https://"),
        ({"url": "https://"}, "url must name a host after https://"),
        ({"url": "https://example.com:8443"}, "url may not have a port number"),
        ({"url": "https://example.com/path?x=1"}, "url may have a path but no query (?) or fragment (#)"),
        ({"url": "https://example.com/#top"}, "url may have a path but no query (?) or fragment (#)"),
        ({"url": "https://example.com/" + "a" * 240}, "url is 260 characters long; at most 255 are allowed"),
        ({"client_ids": [""]}, "client_ids[0] is 0 characters long; each client id must be 1 to 255 characters"),
        ({"client_ids": ["x" * 256]}, "client_ids[0] is 256 characters long"),
        ({"client_ids": [f"app-{n}" for n in range(101)]},
         "client_ids has 101 distinct entries; a provider may have at most 100"),
        ({"thumbprints": ["6938fd4d98bab03f"]},
         "thumbprints[0] ('6938fd4d98bab03f') is not a SHA-1 fingerprint of 40 hexadecimal characters"),
        ({"thumbprints": ["z" * 40]}, "thumbprints[0]"),
        ({"thumbprints": [f"{n:040x}" for n in range(6)]},
         "thumbprints has 6 distinct entries; a provider may have at most 5"),
        ({"thumbprints": []}, "thumbprints may not be an empty list"),
        ({"tags": {"aws:owner": "x"}}, "tags key 'aws:owner' begins with aws:"),
        ({"tags": {f"k{n}": "v" for n in range(51)}}, "tags has 51 entries; IAM allows at most 50"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_by_name_before_any_aws_call(iam, calls, capsys, args, message) -> None:
    result = run(capsys, **{"url": GITHUB, **args})
    assert result["failed"] is True
    assert message in result["msg"], result["msg"]
    assert calls == []


def test_every_problem_is_reported_at_once(iam, calls, capsys) -> None:
    result = run(capsys, url="http://example.com?x", client_ids=[""], thumbprints=["abc"])
    assert len(result["problems"]) == 4
    assert calls == []


def test_too_many_client_ids_without_purge_is_refused_before_any_change(iam, calls, capsys) -> None:
    existing(iam, client_ids=[f"app-{n}" for n in range(100)])
    calls.clear()
    result = run(capsys, url=GITHUB, client_ids=["one-more"], purge_client_ids=False)
    assert result["failed"] is True
    assert "would make 101, and a provider may have at most 100" in result["msg"]
    assert mutating(calls) == []
