# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ECR calls, one small function each, retried on throttling."""

from __future__ import annotations

from typing import Any

from ansible_collections.stageflow.aws.plugins.module_utils.retries import aws_retry


@aws_retry
def describe_images(ecr: Any, registry: str, repo: str, ids: list[dict[str, str]]) -> dict[str, Any]:
    return ecr.describe_images(registryId=registry, repositoryName=repo, imageIds=ids)


@aws_retry
def batch_get_image(ecr: Any, registry: str, repo: str, digest: str) -> dict[str, Any]:
    return ecr.batch_get_image(registryId=registry, repositoryName=repo, imageIds=[{"imageDigest": digest}])


@aws_retry
def put_image(
    ecr: Any, registry: str, repo: str, manifest: str, media_type: str | None, tag: str, digest: str
) -> dict[str, Any]:
    kwargs = {"imageManifestMediaType": media_type} if media_type else {}
    return ecr.put_image(
        registryId=registry, repositoryName=repo, imageManifest=manifest, imageTag=tag, imageDigest=digest, **kwargs
    )
