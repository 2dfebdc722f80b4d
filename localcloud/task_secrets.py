"""The secrets a task definition's containers name, and whether ECS can fetch them before the task starts.

ECS fetches each `secrets[].valueFrom` (a Secrets Manager secret ARN, optionally with a
`:json-key:version-stage:version-id` suffix, or a Systems Manager parameter ARN or name) and each private registry's
`repositoryCredentials` with the task's execution role, from the task's network. The task stops before it starts when
the service is out of reach, when the role's policies do not allow secretsmanager:GetSecretValue on the secret
(ssm:GetParameters on the parameter), or when the secret, its JSON key or the parameter does not exist.

Sources: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html,
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html,
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/resource-initialization-error.html
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from moto.iam.exceptions import NotFoundException
from moto.iam.models import iam_backends
from moto.secretsmanager.exceptions import (
    InvalidRequestException,
    ResourceNotFoundException,
    SecretNotFoundException,
)
from moto.secretsmanager.models import secretsmanager_backends
from moto.ssm.models import ssm_backends
from moto.utilities.utils import get_partition

from . import reach
from .iam_policy import denial

FAILED = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "
_CALLS = {
    "secretsmanager": ("unable to retrieve secret from asm", "secretsmanager:GetSecretValue"),
    "ssm": ("unable to retrieve secrets from ssm", "ssm:GetParameters"),
}


@dataclass(frozen=True)
class SecretRef:
    """One value ECS fetches: the service it asks, the resource ARN IAM is asked about, and how to find it."""

    service: str
    arn: str
    region: str
    account: str
    json_key: str = ""
    version_stage: str = ""
    version_id: str = ""
    parameter_name: str = ""

    @classmethod
    def parse(cls, value_from: str, region: str, account: str) -> SecretRef:
        parts = value_from.split(":")
        if value_from.startswith("arn:") and parts[2] == "secretsmanager":
            extra = [*parts[7:], "", "", ""]
            return cls("secretsmanager", ":".join(parts[:7]), parts[3], parts[4], *extra[:3])
        if value_from.startswith("arn:"):
            return cls("ssm", value_from, parts[3], parts[4], parameter_name=value_from.split(":parameter", 1)[1])
        arn = f"arn:{get_partition(region)}:ssm:{region}:{account}:parameter/{value_from.lstrip('/')}"
        return cls("ssm", arn, region, account, parameter_name=value_from)

    def call_failed(self, what: str, retries: int = 1) -> str:
        return f"{FAILED}{_CALLS[self.service][0]}: service call has been retried {retries} time(s): {what}"

    def missing(self) -> str | None:
        """Why the value cannot be read although the role may read it; None when it can."""
        if self.service == "ssm":
            backend = ssm_backends[self.account][self.region]
            candidates = {self.parameter_name, self.parameter_name.lstrip("/")}
            if any(backend.get_parameter(name) for name in candidates):
                return None
            return f"{FAILED}{_CALLS['ssm'][0]}: invalid parameters: {self.parameter_name}"
        backend = secretsmanager_backends[self.account][self.region]
        try:
            value = backend.get_secret_value(self.arn, self.version_id or None, self.version_stage or None)
        except (SecretNotFoundException, ResourceNotFoundException):
            return self.call_failed("ResourceNotFoundException: Secrets Manager can't find the specified secret.")
        except InvalidRequestException:
            return self.call_failed(
                "InvalidRequestException: You can't perform this operation on the secret because it was marked "
                "for deletion."
            )
        if self.json_key and self.json_key not in _json_object(value.get("SecretString")):
            return (
                f"{FAILED}{_CALLS['secretsmanager'][0]}: retrieved secret from Secrets Manager did not contain json "
                f"key {self.json_key}"
            )
        return None


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def secret_refs(task_definition: Any, region: str, account: str) -> list[SecretRef]:
    values = []
    for container in task_definition.container_definitions:
        values += [s["valueFrom"] for s in container.get("secrets") or [] if s.get("valueFrom")]
        credentials = (container.get("repositoryCredentials") or {}).get("credentialsParameter")
        if credentials:
            values.append(credentials)
    return [SecretRef.parse(value, region, account) for value in values]


def _unreachable(refs: list[SecretRef], path: reach.NetworkPath) -> str | None:
    for ref in refs:
        if not reach.reaches_service(path, ref.service):
            host = f"{ref.service}.{path.region}.amazonaws.com"
            return ref.call_failed(
                f"RequestError: send request failed caused by: {reach.timeout('Post', f'https://{host}/', host)}",
                retries=5,
            )
    return None


def _role(execution_role_arn: str, account: str) -> tuple[Any, Any] | None:
    """The moto IAM role and backend of an execution role ARN; None when there is no such role."""
    iam = iam_backends[account][_partition(execution_role_arn)]
    try:
        return iam.get_role_by_arn(execution_role_arn), iam
    except NotFoundException:
        return None


def _partition(arn: str) -> str:
    return arn.split(":")[1]


def secrets_failure(task_definition: Any, task_id: str, path: reach.NetworkPath, account: str) -> str | None:
    """The stopped reason of a task whose secrets ECS cannot fetch; None when it can fetch them all (or has none)."""
    refs = secret_refs(task_definition, path.region, account)
    if not refs:
        return None
    unreachable = _unreachable(refs, path)
    if unreachable:
        return unreachable
    role_arn = getattr(task_definition, "execution_role_arn", None)
    if not role_arn:
        # AWS refuses such a task definition at RegisterTaskDefinition; a task of one cannot fetch anything.
        return f"{FAILED}the task definition names secrets but no executionRoleArn to fetch them with"
    found = _role(role_arn, account)
    if found is None:
        return (
            f"ECS was unable to assume the role '{role_arn}' that was provided for this task. Please verify that the "
            "role being passed has the proper trust relationship and permissions and that your IAM user has "
            "permissions to pass this role."
        )
    role, iam = found
    caller = f"arn:{_partition(role_arn)}:sts::{account}:assumed-role/{role.name}/{task_id}"
    for ref in refs:
        action = _CALLS[ref.service][1]
        why = denial(role, iam, action, ref.arn)
        if why:
            return ref.call_failed(
                f"AccessDeniedException: User: {caller} is not authorized to perform: {action} on resource: "
                f"{ref.arn} {why}"
            )
        missing = ref.missing()
        if missing:
            return missing
    return None
