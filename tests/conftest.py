"""Test harness: one local cloud per test session, reset between tests.

Set STAGEFLOW_TEST_TARGET=aws (with AWS_PROFILE or other credentials) to run the
integration tests that need no fault injection against a real AWS account; the
tests that switch faults on skip there, because only the local cloud has them.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.config import Config

from localcloud.client import LocalCloudClient, spawn

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ROLLOUT_SECONDS = 1.0
# Set by scripts/run_tests.py for one `make test`: a folder where its test processes share provisionings. One exports
# the snapshot it took (<name>.pickle); run_tests.py writes <name>.promised beforehand, naming that process, so that the
# others wait for it instead of provisioning the same again; <name>.failed when it gave up.
SHARED_SNAPSHOTS = os.environ.get("STAGEFLOW_SHARED_SNAPSHOTS")
SHARED_WAIT_SECONDS = 1200


def wait_for(predicate: Callable[[], object], timeout: float, interval: float) -> object:
    """The predicate's first truthy value, polled every `interval` seconds; AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout}s; last value {value!r}")
        time.sleep(interval)


def real_aws() -> bool:
    return os.environ.get("STAGEFLOW_TEST_TARGET") == "aws"


class Cloud:
    """What a test sees: where the cloud is, boto3 clients, the environment for ansible runs."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self.control = LocalCloudClient(url) if url else None
        self.env = dict(os.environ)
        # Runs name the local user as who made a change, wherever the tests run (in GitHub Actions too); a test that
        # wants a pipeline's actor sets GITHUB_ACTOR itself.
        self.env.pop("GITHUB_ACTOR", None)
        self.env.update({"AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION})
        if url:
            self.env.update(
                {
                    "AWS_ENDPOINT_URL": url,
                    "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_SESSION_TOKEN": "testing",
                }
            )
            self.env.pop("AWS_PROFILE", None)

    def reset(self) -> Cloud:
        """The local cloud emptied, with no faults and the tests' rollout time."""
        self.control.reset()
        self.control.clear_faults()
        self.control.set_rollout_seconds(ROLLOUT_SECONDS)
        return self

    def provisioned(self, name: str, provision: Callable[[], object]) -> Cloud:
        """The cloud, reset, in the state `provision` leaves it: restored from the snapshot `name` when this test
        process has saved one (about a second), else provisioned now and saved. On real AWS it simply provisions."""
        if self.control is None:
            provision()
            return self
        self.reset()
        if self.control.restore_snapshot(name) or (self.import_shared(name) and self.control.restore_snapshot(name)):
            return self
        provision()
        self.control.save_snapshot(name)
        return self

    def import_shared(self, name: str) -> bool:
        """Import the snapshot `name` another test process of this `make test` exported, waiting for it while one has
        promised it and not given up (SHARED_SNAPSHOTS); False when there is none to wait for."""
        if not SHARED_SNAPSHOTS:
            return False
        folder, deadline = Path(SHARED_SNAPSHOTS), time.monotonic() + SHARED_WAIT_SECONDS
        promise = folder / f"{name}.promised"
        if promise.exists() and promise.read_text().strip() == os.environ.get("STAGEFLOW_TEST_SHARD"):
            return False  # this process promised it: nobody else will make it
        while True:
            try:
                if self.control.import_snapshot(name):
                    return True
            except RuntimeError as exc:  # an export this cloud cannot read: provision instead
                print(f"the shared snapshot {name} could not be imported ({exc}); provisioning", file=sys.stderr)
                return False
            promised = promise.exists() and not (folder / f"{name}.failed").exists()
            if not promised or time.monotonic() > deadline:
                return False
            time.sleep(2)

    def share(self, name: str) -> None:
        """Export the saved snapshot `name` for the other test processes of this `make test` (a no-op otherwise)."""
        if SHARED_SNAPSHOTS and self.control:
            try:
                self.control.export_snapshot(name)
            except RuntimeError as exc:  # the others provision for themselves; this process's tests go on
                print(f"the snapshot {name} could not be shared ({exc})", file=sys.stderr)
                self.give_up(name)

    @staticmethod
    def give_up(name: str) -> None:
        """Tell the processes waiting for the snapshot `name` that it will not come: they provision themselves."""
        if SHARED_SNAPSHOTS and not (Path(SHARED_SNAPSHOTS) / f"{name}.pickle").exists():
            (Path(SHARED_SNAPSHOTS) / f"{name}.failed").write_text(os.environ.get("STAGEFLOW_TEST_SHARD", "session"))

    def client(self, service: str, retries: bool = True):
        kwargs = {"region_name": REGION}
        if not retries:
            kwargs["config"] = Config(retries={"max_attempts": 1, "mode": "standard"})
        if self.url:
            kwargs.update(endpoint_url=self.url, aws_access_key_id="testing", aws_secret_access_key="testing")
        return boto3.client(service, **kwargs)

    def faults(self) -> LocalCloudClient:
        if self.control is None:
            pytest.skip("fault injection exists only in the local cloud")
        return self.control

    def run(
        self, *args: str, check: bool = False, timeout: int = 600, **env: str | None
    ) -> subprocess.CompletedProcess:
        """A command in the checkout with the cloud's environment and `env` over it (a variable given None is unset)."""
        merged = {**self.env, **env, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
        full_env = {name: value for name, value in merged.items() if value is not None}
        proc = subprocess.run(
            list(args), cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def playbook(self, playbook: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.run(str(Path(sys.executable).parent / "ansible-playbook"), playbook, *args, **kwargs)


def check_actions(control: LocalCloudClient) -> None:
    """Every IAM action Ansible's AWS modules called in this test process is in the access role's catalogue: else
    the least-privilege policies built from it would refuse a call the playbooks make. The recording is written to
    tests/output/actions-<shard>.json for scripts/record_actions.py (make actions)."""
    recorded = control.actions()
    shard = os.environ.get("STAGEFLOW_TEST_SHARD", "session")
    out = ROOT / "tests" / "output" / f"actions-{shard}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(recorded, indent=1, sort_keys=True))
    catalogue = yaml.safe_load((ROOT / "roles" / "access" / "vars" / "main.yml").read_text())["access_catalogue"]
    missing = sorted(set(recorded.get("ansible", [])) - set(catalogue) - {"sts:GetCallerIdentity"})
    assert not missing, (
        "Ansible called IAM actions the access catalogue (roles/access/vars/main.yml) lacks; run `make actions` "
        f"(it also reads {out}): {', '.join(missing)}"
    )


def start_localcloud(*extra: str) -> tuple[subprocess.Popen, str]:
    """Start `python -m localcloud` on a free port; its log goes to .localcloud-test[-<shard>].log."""
    shard = os.environ.get("STAGEFLOW_TEST_SHARD", "")  # set by scripts/run_tests.py
    shared = ("--snapshot-dir", SHARED_SNAPSHOTS) if SHARED_SNAPSHOTS else ()
    return spawn(*shared, *extra, log_path=ROOT / f".localcloud-test{'-' + shard if shard else ''}.log")


@pytest.fixture(scope="session")
def cloud_session() -> Iterator[Cloud]:
    if real_aws():
        yield Cloud(None)
        return
    proc, url = start_localcloud("--rollout-seconds", str(ROLLOUT_SECONDS))
    try:
        cloud = Cloud(url)
        yield cloud
        check_actions(cloud.control)
    finally:
        # A snapshot this process promised and did not export will not come: the processes waiting for it go on.
        for promise in Path(SHARED_SNAPSHOTS).glob("*.promised") if SHARED_SNAPSHOTS else ():
            if promise.read_text().strip() == os.environ.get("STAGEFLOW_TEST_SHARD"):
                Cloud.give_up(promise.name.removesuffix(".promised"))
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def cloud(cloud_session: Cloud) -> Iterator[Cloud]:
    """The session's local cloud, reset to empty with no faults and the default rollout time."""
    if cloud_session.control is not None:
        cloud_session.reset()
    yield cloud_session


@pytest.fixture
def requires_localcloud(cloud_session: Cloud) -> None:
    """For tests of the local cloud itself: they have nothing to test on real AWS."""
    if cloud_session.control is None:
        pytest.skip("this test exercises the local cloud itself")


def _cpu_seconds() -> float:
    """CPU time of this process and the ones it waited for (the playbooks and modules a test ran)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_CPU_AT_START] = _cpu_seconds()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Each test's CPU seconds (its fixtures' setup included) as the property cpu_seconds of its JUnit report:
    on two cores the suite is bound by CPU, not by waiting, and scripts/run_tests.py lists the tests that use most."""
    if call.when == "teardown" and _CPU_AT_START in item.stash:
        item.user_properties.append(("cpu_seconds", round(_cpu_seconds() - item.stash[_CPU_AT_START], 1)))
    yield


_CPU_AT_START = pytest.StashKey[float]()
