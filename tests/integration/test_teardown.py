"""Tearing down a permanent environment (issue 15): named twice, the data kept in a final snapshot, the data stores
deleted last. On staging (backups on, deletion protection off) restored from the snapshot the AWX jobs left; the
refusals, which make no AWS call, are in test_provisioning.py."""

from __future__ import annotations

import re

import pytest

from tests.conftest import Cloud
from tests.integration.releases import flat, must, release
from tests.integration.test_provisioning import tagged

pytestmark = pytest.mark.slow


def at(calls: list[str], prefix: str, last: bool = False) -> int:
    """Where the first (or last) call starting with `prefix` is in the run's calls (service:action; a REST API's action
    is its method and path)."""
    found = [index for index, call in enumerate(calls) if call.startswith(prefix)]
    assert found, f"no {prefix} call among {sorted(set(calls))}"
    return found[-1] if last else found[0]


def test_an_environment_whose_images_a_later_one_runs_is_not_torn_down(envs: Cloud) -> None:
    """Promotions run dev's images by digest from its repositories: a teardown of dev would delete what staging runs."""
    must(release(envs, "deploy", "-e", "env=dev", "-e", "version=v1"))
    must(release(envs, "promote", "-e", "source=dev"))
    envs.control.reset_recording()
    teardown = ("-e", "env=dev", "-e", "provision_state=absent", "-e", "confirm_destroy=dev")
    refused = envs.playbook("playbooks/provision.yml", *teardown)
    assert refused.returncode != 0
    assert "dev is not torn down: staging still run images from its repositories" in flat(refused), flat(refused)[
        -3000:
    ]
    assert "Nothing was removed" in flat(refused)
    assert [c for c in envs.control.mutating_calls() if c.service != "dynamodb"] == [], "only the lock taken and freed"
    assert envs.client("ecr").describe_repositories(repositoryNames=["dev-movie-app-server-repo"])["repositories"]


def test_a_confirmed_teardown_keeps_a_final_snapshot_and_deletes_the_data_stores_last(envs: Cloud) -> None:
    cloud, control = envs, envs.faults()
    control.timings(clear=True)
    teardown = ("-e", "env=staging", "-e", "provision_state=absent", "-e", "confirm_destroy=staging")
    must(cloud.playbook("playbooks/provision.yml", *teardown, timeout=900))
    calls = [f"{service}:{action}" for _started, _seconds, service, action in control.timings()]
    snapshots = cloud.client("docdb").describe_db_cluster_snapshots(DBClusterIdentifier="staging-movie-app-db")
    snapshots = snapshots["DBClusterSnapshots"]
    final = [
        s for s in snapshots if re.fullmatch(r"staging-movie-app-db-final-\d{14}", s["DBClusterSnapshotIdentifier"])
    ]
    assert len(final) == 1 and final[0]["Status"] == "available", snapshots
    # What serves traffic goes first, then the database (its replica and primary instances, then the cluster with its
    # final snapshot); the records, locks, reports and backups only after it is gone; the network last.
    database = at(calls, "rds:DeleteDBInstance")
    assert at(calls, "ecs:DeleteService", last=True) < database < at(calls, "rds:DeleteDBCluster")
    assert at(calls, "elasticloadbalancing:DeleteLoadBalancer", last=True) < database
    snapshot_complete = at(calls, "rds:DescribeDBClusters", last=True)
    assert snapshot_complete < at(calls, "dynamodb:DeleteTable") and snapshot_complete < at(
        calls, "backup:DELETE /backup-vaults/"
    )
    assert max(
        at(calls, "dynamodb:DeleteTable", last=True), at(calls, "backup:DELETE /backup-vaults/", last=True)
    ) < at(calls, "ec2:DeleteVpc")
    # Only the data kept on purpose: the final snapshot and the releases' EBS and RDS snapshots.
    assert [arn for arn in tagged(cloud, "staging") if not re.search(r":(cluster-)?snapshot[:/]", arn)] == []
    # dev and prod are untouched.
    names = [lb["LoadBalancerName"] for lb in cloud.client("elbv2").describe_load_balancers()["LoadBalancers"]]
    assert sorted(names) == ["dev-movie-app-alb", "prod-movie-app-alb"]
