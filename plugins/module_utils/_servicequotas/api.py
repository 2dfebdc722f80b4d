# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Service Quotas reads, one small function each, retried on throttling."""

from __future__ import annotations

from typing import Any

from ansible_collections.stageflow.aws.plugins.module_utils.retries import aws_retry


@aws_retry
def get_service_quota(client: Any, service_code: str, quota_code: str) -> dict[str, Any]:
    """The quota as applied to the account (its default where it was never raised, for most quotas)."""
    return client.get_service_quota(ServiceCode=service_code, QuotaCode=quota_code)["Quota"]


@aws_retry
def get_default_service_quota(client: Any, service_code: str, quota_code: str) -> dict[str, Any]:
    return client.get_aws_default_service_quota(ServiceCode=service_code, QuotaCode=quota_code)["Quota"]
