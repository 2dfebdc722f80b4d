# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""STS calls, one small function each, retried on throttling."""

from __future__ import annotations

from typing import Any

from ansible_collections.stageflow.aws.plugins.module_utils.retries import aws_retry


@aws_retry
def get_caller_identity(sts: Any) -> dict[str, Any]:
    return sts.get_caller_identity()


def caller_arn(module: Any) -> str:
    """The ARN of the AWS identity the module's credentials stand for - who a lock or a record says made the change.
    sts:GetCallerIdentity needs no permission (AWS allows it to every identity, even under an explicit Deny)."""
    return get_caller_identity(module.client("sts"))["Arn"]
