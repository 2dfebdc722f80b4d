"""Who is behind a run, as locks and records name it: AWX, GitHub Actions, else the local user - never 'unknown' when
the OS knows the uid."""

from __future__ import annotations

import pytest
from ansible_collections.stageflow.aws.plugins.module_utils.actor import actor, local_user

GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_ACTOR": "octocat",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "example/stageflow",
    "GITHUB_RUN_ID": "123",
    "GITHUB_RUN_ATTEMPT": "1",
    "USER": "runner",
}


def who(environ: dict, **kwargs) -> str:
    defaults = {"uid": 1000, "passwd_name": lambda uid: "alice" if uid == 1000 else "", "hostname": lambda: "build1"}
    return actor(environ=environ, **{**defaults, **kwargs})


def test_an_awx_job_names_its_user_and_job_before_anything_else() -> None:
    assert who(GITHUB, awx_user="bob", awx_job=42) == "awx:bob (job 42)"
    assert who({}, awx_user="bob") == "awx:bob"
    assert who({}, awx_job="43") == "awx (job 43)"  # a scheduled job has no user


def test_a_github_actions_run_names_its_actor_and_run() -> None:
    assert who(GITHUB) == "github:octocat (run https://github.com/example/stageflow/actions/runs/123)"
    rerun = {**GITHUB, "GITHUB_RUN_ATTEMPT": "2", "GITHUB_SERVER_URL": "https://ghe.example.com/"}
    assert who(rerun) == "github:octocat (run https://ghe.example.com/example/stageflow/actions/runs/123/attempts/2)"
    assert who({"GITHUB_ACTOR": "octocat"}) == "github:octocat"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"USER": "carol"}, "carol@build1"),
        ({"LOGNAME": "dave", "USER": "carol"}, "dave@build1"),  # getpass's order
        ({}, "alice@build1"),  # no login name in the environment: the uid's passwd entry
        ({"USER": "", "LOGNAME": " ", "GITHUB_ACTOR": "", "USERNAME": ""}, "alice@build1"),  # empty counts as unset
    ],
)
def test_otherwise_the_local_user_and_host(environ: dict, expected: str) -> None:
    assert who(environ, awx_user="", awx_job="") == expected


def test_a_uid_without_a_passwd_entry_is_named_by_its_number_never_unknown() -> None:
    assert who({}, uid=1000750000) == "uid 1000750000@build1"
    assert local_user({}, uid=0, passwd_name=lambda uid: "root") == "root"


def test_this_process_has_a_name(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    assert local_user() not in ("", "unknown")
