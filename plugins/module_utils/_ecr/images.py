# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release images: resolve ECR tags to digests once, pin images by digest, protect them from lifecycle expiry."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.stageflow.aws.plugins.module_utils._ecr import api

ECR_IMAGE = re.compile(
    r"^(?P<registry>(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?)"
    r"/(?P<repo>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
DIGEST_IMAGE = re.compile(r"^(?P<name>[^@]+)@(?P<digest>sha256:[0-9a-f]{64})$")


class ImageError(Exception):
    """An image that cannot be resolved or protected; the message names it and why."""


def check_own(image: str, account: str, region: str, repositories: list[str]) -> None:
    """ImageError unless the image is in `account`'s ECR registry in `region`, in one of `repositories`."""
    m = ECR_IMAGE.match(image)
    if m is None or m["account"] != account or m["region"] != region or m["repo"] not in repositories:
        raise ImageError(
            f"image {image} is not from this application's repositories (ECR of account {account} in {region}: "
            f"{', '.join(sorted(repositories))}); nothing was changed"
        )


def _exists(ecr: Any, registry: str, repo: str, image_id: dict[str, str]) -> bool:
    try:
        api.describe_images(ecr, registry, repo, [image_id])
    except is_boto3_error_code("ImageNotFoundException"):
        return False
    return True


def resolve_digests(ecr: Any, images: Iterable[str]) -> dict[str, dict[str, str]]:
    """image reference -> {"digest", "repository", "registry", "by_digest"}: one DescribeImages call per repository.

    ECR images are looked up, so a tag or digest that does not exist is an error naming the image. Other images must
    already be pinned by digest: their tags cannot be checked here.
    """
    wanted: dict[tuple[str, str, str], list[tuple[str, dict[str, str]]]] = {}
    resolved: dict[str, dict[str, str]] = {}
    for image in dict.fromkeys(images):
        m = ECR_IMAGE.match(image)
        if m is None:
            pinned_image = DIGEST_IMAGE.match(image)
            if pinned_image is None:
                raise ImageError(
                    f"image {image} is not in ECR and not pinned by digest; Stageflow promotes images by digest only"
                )
            resolved[image] = {
                "digest": pinned_image["digest"],
                "repository": pinned_image["name"],
                "registry": "",
                "tag": "",
            }
            continue
        key = (m["account"], m["repo"], m["registry"])
        image_id = {"imageDigest": m["digest"]} if m["digest"] else {"imageTag": m["tag"] or "latest"}
        wanted.setdefault(key, []).append((image, image_id))
    missing: list[str] = []
    for (account, repo, registry), items in wanted.items():
        ids = list({tuple(i.items()): i for _image, i in items}.values())
        try:
            answer = api.describe_images(ecr, account, repo, ids)
        except is_boto3_error_code("RepositoryNotFoundException"):
            raise ImageError(f"ECR repository {repo} does not exist (needed for {items[0][0]})") from None
        except is_boto3_error_code("ImageNotFoundException"):
            missing.extend(image for image, image_id in items if not _exists(ecr, account, repo, image_id))
            continue
        details = answer.get("imageDetails", [])
        for image, image_id in items:
            match = [
                d
                for d in details
                if d["imageDigest"] == image_id.get("imageDigest") or image_id.get("imageTag") in d.get("imageTags", [])
            ]
            if not match:
                raise ImageError(f"image {image} is missing from ECR repository {repo}")
            resolved[image] = {
                "digest": match[0]["imageDigest"],
                "repository": f"{registry}/{repo}",
                "registry": account,
                "tag": image_id.get("imageTag", ""),
            }
    if missing:
        raise ImageError(
            f"image(s) missing from ECR: {', '.join(missing)}; push them first, or name a tag or digest that exists"
        )
    return resolved


def pinned(digest_info: dict[str, str]) -> str:
    return f"{digest_info['repository']}@{digest_info['digest']}"


def digest_of(image: str) -> str:
    return image.rsplit("@", 1)[1] if "@" in image else ""


def protect_image(ecr: Any, image: str, tag: str) -> bool:
    """Tag the image in its own repository so the lifecycle policy's stageflow- rule keeps it; True when tagged now."""
    m = ECR_IMAGE.match(image)
    if m is None or not m["digest"]:
        return False
    got = api.batch_get_image(ecr, m["account"], m["repo"], m["digest"])
    if not got.get("images"):
        raise ImageError(f"image {image} is missing from ECR: it cannot be protected from expiry")
    found = got["images"][0]
    if tag in [i["imageId"].get("imageTag") for i in got["images"]]:
        return False
    try:
        api.put_image(
            ecr, m["account"], m["repo"], found["imageManifest"], found.get("imageManifestMediaType"), tag, m["digest"]
        )
    except is_boto3_error_code("ImageAlreadyExistsException"):
        return False
    return True
