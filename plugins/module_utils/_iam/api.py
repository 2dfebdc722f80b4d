# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""IAM reads of a role and its policies, one small function each, retried on throttling."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from ansible_collections.stageflow.aws.plugins.module_utils.retries import aws_retry


def _document(document: Any) -> dict[str, Any]:
    """IAM answers policy documents URL-encoded; boto3 usually decodes them, a stand-in may not."""
    if isinstance(document, str):
        return json.loads(unquote(document))
    return document or {}


@aws_retry
def get_role(iam: Any, name: str) -> dict[str, Any]:
    return iam.get_role(RoleName=name)["Role"]


@aws_retry
def inline_policies(iam: Any, role: str) -> list[dict[str, Any]]:
    names = iam.get_paginator("list_role_policies").paginate(RoleName=role).build_full_result()["PolicyNames"]
    found = []
    for name in names:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        found.append({"kind": "inline", "name": name, "arn": None, "document": _document(document)})
    return found


@aws_retry
def attached_policies(iam: Any, role: str) -> list[dict[str, Any]]:
    paginator = iam.get_paginator("list_attached_role_policies")
    attached = paginator.paginate(RoleName=role).build_full_result()["AttachedPolicies"]
    found = []
    for entry in attached:
        version = iam.get_policy(PolicyArn=entry["PolicyArn"])["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=entry["PolicyArn"], VersionId=version)["PolicyVersion"]["Document"]
        found.append(
            {"kind": "managed", "name": entry["PolicyName"], "arn": entry["PolicyArn"], "document": _document(document)}
        )
    return found
