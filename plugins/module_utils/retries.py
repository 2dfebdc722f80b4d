# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's one retry: every boto3 call in plugins/ goes through `aws_retry`.

amazon.aws's `AWSRetry.found()` matches exact error codes and, of the throttling ones, knows only `Throttling`,
`RequestLimitExceeded` and `TooManyRequestsException`. The JSON-protocol services a release talks to (ECS, ECR, ACM,
DynamoDB, CloudWatch's JSON endpoint, SSM) answer `ThrottlingException`, DynamoDB also
`ProvisionedThroughputExceededException`; without them the decorator never retries and only botocore's own few
attempts stand between a busy account and a failed release: amazon.aws's clients set no retry config, so that is
botocore's default mode, "standard" in botocore 1.44 (3 attempts, 4 for DynamoDB), "legacy" in older ones (5, 10 for
DynamoDB).
"""

from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# Every code an AWS service answers when it throttles a caller; botocore's standard retry mode lists the same ones
# (botocore/retries/standard.py, ThrottledRetryableChecker). Quota errors (LimitExceededException: too many
# resources, not too many requests) are left out on purpose: retrying them only delays the same error.
THROTTLING_CODES = (
    "Throttling",  # query protocols: ELBv2, CloudWatch (query), STS, RDS, IAM, Auto Scaling
    "ThrottlingException",  # JSON protocols: ECS, ECR, ACM, DynamoDB, SSM, CloudWatch (JSON), Backup
    "ThrottledException",
    "RequestThrottled",  # SQS
    "RequestThrottledException",
    "ProvisionedThroughputExceededException",  # DynamoDB, Kinesis
    "RequestLimitExceeded",  # EC2
    "EC2ThrottledException",
    "TooManyRequestsException",  # API Gateway, Lambda, Organizations
    "SlowDown",  # S3
    "PriorRequestNotComplete",  # Route 53
    "BandwidthLimitExceeded",
)

RETRIES = 12
DELAY = 1
MAX_DELAY = 20


def retry_decorator(retries: int = RETRIES, delay: float = DELAY, max_delay: float = MAX_DELAY):
    """`AWSRetry.jittered_backoff` catching every throttling code; also for `module.client(retry_decorator=...)`."""
    return AWSRetry.jittered_backoff(
        retries=retries, delay=delay, max_delay=max_delay, catch_extra_error_codes=list(THROTTLING_CODES)
    )


# Up to 12 attempts, each after a random sleep of up to 1, 2, 4 ... 20 seconds: about 1.5 minutes of throttling,
# on top of botocore's own retries inside each attempt.
aws_retry = retry_decorator()
