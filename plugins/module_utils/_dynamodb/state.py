# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployment lock and deployment records, in the DynamoDB tables of the deployment_state role.

Lock table: hash key `environment`, one item per held lock. Records table: hash key `environment`, range key
`started_at` (ISO 8601 UTC, so records sort by time). Both carry `expires_at` (epoch seconds), the tables' TTL.
Locks name who holds them in `owner` (the person or pipeline) and `aws_identity` (the caller's ARN); records in `who`
and `aws_identity` (older ones, written before, lack `aws_identity`).

A lease is judged by DynamoDB's clock, not the controller's: every lock call first reads the item, and the Date header
of that answer says what time it is for the lock (`Clock`). A controller whose clock runs hours ahead therefore cannot
take a lock whose lease is still running, nor shorten its own.
"""

from __future__ import annotations

import contextlib
import datetime
import email.utils
import json
import time
from decimal import Decimal
from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.stageflow.aws.plugins.module_utils._dynamodb import api


class StateError(Exception):
    """A lock held by someone else, or a record that cannot be written; the message says who and since when."""


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_dynamo(value: Any) -> Any:
    """Plain data -> what the DynamoDB resource API stores (numbers as Decimal, no empty strings in sets)."""
    return json.loads(json.dumps(value), parse_float=Decimal, parse_int=Decimal)


def from_dynamo(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_dynamo(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


# --- the lock ------------------------------------------------------------------------------------------------------

RELEASE_KINDS = ("deploy", "promote", "rollback")


class LeaseLost(StateError):
    """This run's lock is no longer its own (an abort took it over, or someone force-released it)."""


class Clock:
    """DynamoDB's time, from the Date header of its last answer, carried forward with this host's monotonic clock."""

    def __init__(self, local: Any = time.monotonic, wall: Any = time.time) -> None:
        self._local, self._wall = local, wall
        self._base: tuple[float, float] | None = None  # (server epoch, local monotonic) when it was read

    def observe(self, response: dict[str, Any]) -> None:
        date = (response.get("ResponseMetadata") or {}).get("HTTPHeaders", {}).get("date")
        if date:
            with contextlib.suppress(TypeError, ValueError):  # an unreadable Date: keep the last one
                self._base = (email.utils.parsedate_to_datetime(date).timestamp(), self._local())

    def now(self) -> float:
        """Seconds since the epoch by DynamoDB's clock (this host's when DynamoDB never said: no Date header)."""
        if self._base is None:
            return self._wall()
        server, local = self._base
        return server + (self._local() - local)


def read_lock(table: Any, environment: str, clock: Clock | None = None) -> dict[str, Any] | None:
    answer = api.get_item_response(table, {"environment": environment})
    if clock is not None:
        clock.observe(answer)
    item = answer.get("Item")
    return from_dynamo(item) if item else None


def get_lock(table: Any, environment: str) -> dict[str, Any] | None:
    return read_lock(table, environment)


def is_held(lock: dict[str, Any] | None, now: float) -> bool:
    return bool(lock) and int(lock.get("expires_at", 0)) >= now


def open_release(records: Any, environment: str) -> dict[str, Any] | None:
    """The newest deploy, promote or rollback record among the recent ones that is still open (`started`, never
    closed). Not only the newest record: `started_at` is the writing controller's clock, so one whose clock runs
    behind can write an open record that sorts below a later one."""
    for record in query_records(records, environment, 50):
        if record.get("kind") in RELEASE_KINDS and record.get("outcome") == "started":
            return record
    return None


def open_message(environment: str, record: dict[str, Any]) -> str:
    return (
        f"an interrupted release is open in {environment}: {record.get('id')} ({record.get('kind')} "
        f"{record.get('note', '')}, started {record.get('started_at')} by {record.get('who', '?')}) never closed. "
        f"Return the environment to the release before it first: ansible-playbook playbooks/abort.yml "
        f'-e env={environment} -e reason="..."'
    )


def describe_holder(lock: dict[str, Any]) -> str:
    return (
        f"held by {lock.get('owner')} (purpose: {lock.get('purpose') or '-'}) since {lock.get('acquired_at')}, "
        f"lease until {iso(datetime.datetime.fromtimestamp(int(lock.get('expires_at', 0)), datetime.timezone.utc))}, "
        f"lock id {lock.get('lock_id')}"
        + (f", AWS identity {lock['aws_identity']}" if lock.get("aws_identity") else "")
    )


def held_message(environment: str, holder: dict[str, Any] | None) -> str:
    return (
        f"the deployment lock of {environment} is {describe_holder(holder) if holder else 'held'}; "
        "wait for it, or free it if its run is dead"
    )


def renew_message(environment: str, lock_id: str, holder: dict[str, Any] | None) -> str:
    return f"cannot renew lock {lock_id} of {environment}: the lock is {describe_holder(holder) if holder else 'free'}"


def release_message(environment: str, lock_id: str, holder: dict[str, Any] | None) -> str:
    return (
        f"lock {lock_id} of {environment} is not held: the lock is "
        f"{describe_holder(holder) if holder else 'free'}; not releasing someone else's lock"
    )


def _put_if_free(table: Any, item: dict[str, Any], now: int, take_over: str | None) -> None:
    condition = "attribute_not_exists(environment) OR expires_at < :now OR lock_id = :id"
    values: dict[str, Any] = {":now": now, ":id": item["lock_id"]}
    if take_over:
        condition += " OR lock_id = :holder"
        values[":holder"] = take_over
    api.put_item(table, to_dynamo(item), ConditionExpression=condition, ExpressionAttributeValues=values)


def acquire(table: Any, item: dict[str, Any], now: int, take_over: str | None = None) -> None:
    """Write the lock if it is free, its lease ran out (by `now`, DynamoDB's time), it is this run's already, or it is
    held by exactly `take_over` (the holder an abort saw)."""
    try:
        _put_if_free(table, item, now, take_over)
    except is_boto3_error_code("ConditionalCheckFailedException"):
        raise StateError(held_message(item["environment"], get_lock(table, item["environment"]))) from None


def _update_if_ours(table: Any, environment: str, lock_id: str, expires_at: int) -> None:
    api.update_item(
        table,
        {"environment": environment},
        UpdateExpression="SET expires_at = :exp",
        ConditionExpression="lock_id = :id",
        ExpressionAttributeValues={":exp": expires_at, ":id": lock_id},
    )


def renew(table: Any, environment: str, lock_id: str, expires_at: int) -> None:
    try:
        _update_if_ours(table, environment, lock_id, expires_at)
    except is_boto3_error_code("ConditionalCheckFailedException"):
        raise LeaseLost(renew_message(environment, lock_id, get_lock(table, environment))) from None


class Lease:
    """Keeps a lock this run holds while a module waits: renews it every third of its lease (and at once on the first
    call), by DynamoDB's clock. Raises LeaseLost when the lock is no longer this run's - the run must then stop
    changing things: whoever took the lock (an abort) decides."""

    def __init__(
        self,
        table: Any,
        environment: str,
        lock_id: str,
        lease_seconds: int,
        local: Any = time.monotonic,
        sleep: Any = time.sleep,
    ) -> None:
        self.table, self.environment, self.lock_id, self.lease_seconds = table, environment, lock_id, lease_seconds
        self._local, self._sleep = local, sleep
        self.clock = Clock(local=local)
        self.renewals = 0
        self._due = float("-inf")

    def keep(self) -> None:
        """Make sure the lock is still this run's (one read), and renew it when due (one conditional write)."""
        if self._local() < self._due:
            self.read()
            return
        if not self.renewals:  # learn DynamoDB's time, and that the lock is still this run's
            self.read()
        renew(self.table, self.environment, self.lock_id, int(self.clock.now() + self.lease_seconds))
        self.renewals += 1
        self._due = self._local() + max(1.0, self.lease_seconds / 3)

    def read(self) -> dict[str, Any]:
        """The lock as it is now; LeaseLost when it is no longer this run's."""
        lock = read_lock(self.table, self.environment, self.clock)
        if not lock or lock.get("lock_id") != self.lock_id:
            raise LeaseLost(renew_message(self.environment, self.lock_id, lock))
        return lock

    def mark(self, **attributes: Any) -> None:
        """Set attributes on this run's lock (a pause others can see and resume); LeaseLost when it is not its own."""
        names = {f"#a{i}": k for i, k in enumerate(attributes)}
        values = {f":v{i}": v for i, v in enumerate(attributes.values())}
        try:
            api.update_item(
                self.table,
                {"environment": self.environment},
                UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(attributes))),
                ConditionExpression="lock_id = :id",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_dynamo({**values, ":id": self.lock_id}),
            )
        except is_boto3_error_code("ConditionalCheckFailedException"):
            raise LeaseLost(
                renew_message(self.environment, self.lock_id, get_lock(self.table, self.environment))
            ) from None

    def sleep(self, seconds: float) -> None:
        """Sleep, renewing the lease whenever it is due meanwhile."""
        end = self._local() + max(0.0, seconds)
        while True:
            self.keep()
            left = end - self._local()
            if left <= 0:
                return
            self._sleep(min(left, max(0.0, self._due - self._local())))


def lease_from(module: Any, spec: dict[str, Any] | None) -> Lease | None:
    """The Lease of a module's `lock` option (table, environment, lock_id, lease_seconds), None without one."""
    if not spec:
        return None
    table = module.resource("dynamodb").Table(spec["table"])
    return Lease(table, spec["environment"], spec["lock_id"], int(spec["lease_seconds"]))


LEASE_OPTION = dict(
    type="dict",
    options=dict(
        table=dict(type="str", required=True),
        environment=dict(type="str", required=True),
        lock_id=dict(type="str", required=True),
        lease_seconds=dict(type="int", required=True),
    ),
)


def resume(table: Any, environment: str, holder: dict[str, Any]) -> None:
    """Tell the release holding the lock, paused at a step, to go on (only that hold, only that pause)."""
    try:
        api.update_item(
            table,
            {"environment": environment},
            UpdateExpression="SET resumed_percent = :p",
            ConditionExpression="lock_id = :id AND paused_percent = :p",
            ExpressionAttributeValues=to_dynamo({":p": holder["paused_percent"], ":id": holder["lock_id"]}),
        )
    except is_boto3_error_code("ConditionalCheckFailedException"):
        raise StateError(
            f"the release holding the lock of {environment} moved on before it was resumed: "
            f"{describe_holder(get_lock(table, environment) or holder)}"
        ) from None


def _delete_if_ours(table: Any, environment: str, lock_id: str) -> None:
    api.delete_item(
        table,
        {"environment": environment},
        ConditionExpression="lock_id = :id",
        ExpressionAttributeValues={":id": lock_id},
    )


def release(table: Any, environment: str, lock_id: str) -> None:
    try:
        _delete_if_ours(table, environment, lock_id)
    except is_boto3_error_code("ConditionalCheckFailedException"):
        raise StateError(release_message(environment, lock_id, get_lock(table, environment))) from None


def release_own(table: Any, environment: str, lock_id: str) -> bool:
    """Release this run's lock: True when it did; False when there was none of this run's (the lock is free, or
    another's whose lease ran out). StateError, releasing nothing, while another run holds it."""
    clock = Clock()
    lock = read_lock(table, environment, clock)
    if not lock:
        return False
    if lock.get("lock_id") != lock_id:
        if is_held(lock, clock.now()):
            raise StateError(release_message(environment, lock_id, lock))
        return False
    release(table, environment, lock_id)
    return True


def force_release(table: Any, environment: str) -> None:
    api.delete_item(table, {"environment": environment})


# --- records -------------------------------------------------------------------------------------------------------


def put_record(table: Any, record: dict[str, Any], replace_outcome: str | None = None) -> None:
    """Write a record; with replace_outcome, only over the stored record of the same key and id whose outcome that
    is (closing a `started` record that nobody else closed meanwhile)."""
    if replace_outcome is None:
        api.put_item(table, to_dynamo(record))
        return
    try:
        api.put_item(
            table,
            to_dynamo(record),
            ConditionExpression="#o = :o AND #i = :i",
            ExpressionAttributeNames={"#o": "outcome", "#i": "id"},
            ExpressionAttributeValues={":o": replace_outcome, ":i": record["id"]},
        )
    except is_boto3_error_code("ConditionalCheckFailedException"):
        raise StateError(
            f"record {record['id']} of {record.get('environment')} is no longer {replace_outcome!r}: someone else "
            "closed it meanwhile (an abort?), so it is left as they wrote it"
        ) from None


def query_records(table: Any, environment: str, limit: int) -> list[dict[str, Any]]:
    """Newest first, up to limit (0 for all)."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": "environment = :e",
        "ExpressionAttributeValues": {":e": environment},
        "ScanIndexForward": False,
    }
    while True:
        page = api.query(table, **kwargs)
        items.extend(from_dynamo(i) for i in page.get("Items", []))
        if (limit and len(items) >= limit) or "LastEvaluatedKey" not in page:
            return items[:limit] if limit else items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
