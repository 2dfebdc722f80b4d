# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""EC2 volume and snapshot calls, one small function each, retried on throttling."""

from __future__ import annotations

from typing import Any

from ansible_collections.stageflow.aws.plugins.module_utils.retries import aws_retry


@aws_retry
def describe_volumes(ec2: Any, **kwargs: Any) -> list[dict[str, Any]]:
    return ec2.get_paginator("describe_volumes").paginate(**kwargs).build_full_result()["Volumes"]


@aws_retry
def describe_snapshots(ec2: Any, **kwargs: Any) -> list[dict[str, Any]]:
    return ec2.get_paginator("describe_snapshots").paginate(**kwargs).build_full_result()["Snapshots"]


@aws_retry
def create_snapshot(ec2: Any, volume_id: str, description: str, tags: dict[str, str]) -> dict[str, Any]:
    return ec2.create_snapshot(
        VolumeId=volume_id,
        Description=description,
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )


@aws_retry
def delete_snapshot(ec2: Any, snapshot_id: str) -> None:
    ec2.delete_snapshot(SnapshotId=snapshot_id)
