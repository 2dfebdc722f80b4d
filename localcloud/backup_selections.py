"""AWS Backup's resource assignments (backup selections), which moto lacks: Create/Get/List/DeleteBackupSelection.

A selection assigns resources to a backup plan - by ARN (`Resources`, wildcards allowed), by tag (`ListOfTags`, any
of them) and by `Conditions` (all of them) - and names the IAM role AWS Backup assumes to back them up. As in AWS:
the plan must exist (ResourceNotFoundException otherwise), a selection name is 1-50 letters, digits and `-_.`, is
unique in its plan (AlreadyExistsException), the role is required, so is `Resources` or `ListOfTags`, and a plan
cannot be deleted while it has selections (InvalidRequestException: "Related backup plan selections must be deleted
prior to backup plan deletion"). Sources: https://docs.aws.amazon.com/aws-backup/latest/devguide/API_CreateBackupSelection.html,
API_DeleteBackupPlan.html, API_BackupSelection.html.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from typing import Any

from moto.backup.exceptions import (
    AlreadyExistsException,
    InvalidParameterValueException,
    InvalidRequestException,
    ResourceNotFoundException,
)
from moto.backup.models import BackupBackend
from moto.backup.responses import BackupResponse
from moto.core.utils import unix_time

_NAME = re.compile(r"^[a-zA-Z0-9\-_.]{1,50}$")


def _selections(backend: BackupBackend) -> dict[str, dict[str, dict[str, Any]]]:
    """{plan id: {selection id: selection}}, kept on the backend (and so in its snapshots)."""
    found = getattr(backend, "stageflow_selections", None)
    if found is None:
        found = backend.stageflow_selections = {}
    return found


def _live_plan(backend: BackupBackend, plan_id: str) -> None:
    plan = backend.plans.get(plan_id)
    if plan is None or plan.deletion_date is not None:
        raise ResourceNotFoundException(msg=f"Failed reading Backup plan with provided version (plan {plan_id})")


def create_backup_selection(
    backend: BackupBackend, plan_id: str, selection: dict[str, Any], creator_request_id: str | None
) -> dict[str, Any]:
    _live_plan(backend, plan_id)
    name = selection.get("SelectionName") or ""
    if not _NAME.match(name):
        raise InvalidParameterValueException(
            f"Invalid selection name '{name}': 1 to 50 letters, digits, hyphens, underscores and periods"
        )
    if not selection.get("IamRoleArn"):
        raise InvalidParameterValueException("IamRoleArn is required")
    if not selection.get("Resources") and not selection.get("ListOfTags"):
        raise InvalidParameterValueException("Either 'ListOfTags' or 'Resources' section must be non-empty")
    plans = _selections(backend).setdefault(plan_id, {})
    if any(s["BackupSelection"]["SelectionName"] == name for s in plans.values()):
        raise AlreadyExistsException(f"Backup selection with the same name {name} already exists in this plan")
    selection_id = str(uuid.uuid4())
    plans[selection_id] = {
        "BackupSelection": selection,
        "SelectionId": selection_id,
        "BackupPlanId": plan_id,
        "CreationDate": unix_time(),
        **({"CreatorRequestId": creator_request_id} if creator_request_id else {}),
    }
    return plans[selection_id]


def get_backup_selection(backend: BackupBackend, plan_id: str, selection_id: str) -> dict[str, Any]:
    _live_plan(backend, plan_id)
    found = _selections(backend).get(plan_id, {}).get(selection_id)
    if found is None:
        raise ResourceNotFoundException(msg=f"Failed reading backup selection {selection_id} of plan {plan_id}")
    return found


def delete_backup_selection(backend: BackupBackend, plan_id: str, selection_id: str) -> None:
    get_backup_selection(backend, plan_id, selection_id)
    del _selections(backend)[plan_id][selection_id]


@functools.cache  # patches moto's classes once per process
def install() -> None:

    def plan_and_selection(response: BackupResponse) -> tuple[str, str]:
        parts = response.path.split("/plans/", 1)[1].split("/")  # <plan id>/selections/[<selection id>]
        return parts[0], parts[2] if len(parts) > 2 else ""

    def create(response: BackupResponse) -> str:
        params = json.loads(response.body or b"{}")
        plan_id = plan_and_selection(response)[0]
        made = create_backup_selection(
            response.backup_backend, plan_id, params.get("BackupSelection") or {}, params.get("CreatorRequestId")
        )
        return json.dumps({k: made[k] for k in ("SelectionId", "BackupPlanId", "CreationDate")})

    def get(response: BackupResponse) -> str:
        return json.dumps(get_backup_selection(response.backup_backend, *plan_and_selection(response)))

    def list_selections(response: BackupResponse) -> str:
        plan_id = plan_and_selection(response)[0]
        _live_plan(response.backup_backend, plan_id)
        listed = [
            {
                "SelectionId": s["SelectionId"],
                "SelectionName": s["BackupSelection"]["SelectionName"],
                "BackupPlanId": plan_id,
                "CreationDate": s["CreationDate"],
                "IamRoleArn": s["BackupSelection"]["IamRoleArn"],
                **({"CreatorRequestId": s["CreatorRequestId"]} if "CreatorRequestId" in s else {}),
            }
            for s in _selections(response.backup_backend).get(plan_id, {}).values()
        ]
        return json.dumps({"BackupSelectionsList": listed})

    def delete(response: BackupResponse) -> str:
        delete_backup_selection(response.backup_backend, *plan_and_selection(response))
        return "{}"

    BackupResponse.create_backup_selection = create
    BackupResponse.get_backup_selection = get
    BackupResponse.list_backup_selections = list_selections
    BackupResponse.delete_backup_selection = delete

    original_delete_plan = BackupBackend.delete_backup_plan

    def delete_backup_plan(backend: BackupBackend, backup_plan_id: str) -> Any:
        if _selections(backend).get(backup_plan_id):
            raise InvalidRequestException(
                "Related backup plan selections must be deleted prior to backup plan deletion"
            )
        return original_delete_plan(backend, backup_plan_id)

    BackupBackend.delete_backup_plan = delete_backup_plan
