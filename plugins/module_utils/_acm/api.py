# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ACM calls, one small function each, retried on throttling."""

from __future__ import annotations

from typing import Any

from ansible_collections.stageflow.aws.plugins.module_utils.retries import aws_retry


@aws_retry
def list_certificates(client: Any) -> list[dict[str, Any]]:
    paginator = client.get_paginator("list_certificates")
    statuses = ["PENDING_VALIDATION", "ISSUED", "INACTIVE", "EXPIRED", "VALIDATION_TIMED_OUT", "FAILED"]
    summaries = []
    for page in paginator.paginate(CertificateStatuses=statuses):
        summaries.extend(page.get("CertificateSummaryList", []))
    return summaries


@aws_retry
def describe_certificate(client: Any, arn: str) -> dict[str, Any]:
    return client.describe_certificate(CertificateArn=arn)["Certificate"]


@aws_retry
def list_tags(client: Any, arn: str) -> dict[str, str]:
    tags = client.list_tags_for_certificate(CertificateArn=arn).get("Tags", [])
    return {t["Key"]: t.get("Value", "") for t in tags}


@aws_retry
def request_certificate(client: Any, domain: str, alternatives: list[str], tags: dict[str, str]) -> str:
    kwargs: dict[str, Any] = {
        "DomainName": domain,
        "ValidationMethod": "DNS",
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        "IdempotencyToken": "".join(c for c in domain if c.isalnum())[:32],
    }
    if alternatives:
        kwargs["SubjectAlternativeNames"] = alternatives
    return client.request_certificate(**kwargs)["CertificateArn"]


@aws_retry
def delete_certificate(client: Any, arn: str) -> None:
    client.delete_certificate(CertificateArn=arn)
