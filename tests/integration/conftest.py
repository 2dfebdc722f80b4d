"""Fixtures of the release tests (test_promotion.py, test_release_safety.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import Cloud, real_aws
from tests.integration.releases import ENVIRONMENTS, build, must, release_vars


@pytest.fixture(scope="module")
def envs(cloud_session: Cloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """dev, staging and prod provisioned once per test process (restored from the snapshot another module took, when
    one did); release v1 built for dev."""
    if real_aws():
        pytest.skip("the release tests build fake images and inject faults: local cloud only")
    cloud = cloud_session.provisioned(
        ENVIRONMENTS,
        lambda: must(cloud_session.playbook("playbooks/provision.yml", "-e", "env=dev,staging,prod", timeout=900)),
    )
    cloud.vars_file = tmp_path_factory.mktemp("release") / "localcloud.json"
    cloud.vars_file.write_text(json.dumps(release_vars(cloud)))
    build(cloud, "v1")
    yield cloud
    cloud.control.clear_faults()
