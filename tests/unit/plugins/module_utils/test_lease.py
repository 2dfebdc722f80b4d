"""The deployment lock's lease: judged by DynamoDB's clock, renewed while a module waits, lost when taken over."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.stageflow.aws.plugins.module_utils._dynamodb import state as st
from botocore.exceptions import ClientError


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.t += seconds


class FakeTable:
    """A lock table of one item; answers carry DynamoDB's Date (2 hours behind this host's wall clock)."""

    DATE = "Fri, 27 Nov 2026 08:00:00 GMT"  # 1795766400

    def __init__(self, item: dict[str, Any] | None) -> None:
        self.item = item
        self.updates: list[int] = []

    def get_item(self, **_kwargs: Any) -> dict[str, Any]:
        answer: dict[str, Any] = {"ResponseMetadata": {"HTTPHeaders": {"date": self.DATE}}}
        if self.item:
            answer["Item"] = dict(self.item)
        return answer

    def update_item(self, **kwargs: Any) -> None:
        if not self.item or self.item["lock_id"] != kwargs["ExpressionAttributeValues"][":id"]:
            raise ClientError({"Error": {"Code": "ConditionalCheckFailedException", "Message": "no"}}, "UpdateItem")
        self.item["expires_at"] = kwargs["ExpressionAttributeValues"][":exp"]
        self.updates.append(kwargs["ExpressionAttributeValues"][":exp"])


def test_the_clock_is_dynamodbs_not_this_hosts() -> None:
    local = FakeClock()
    clock = st.Clock(local=local, wall=lambda: 9_999_999_999.0)  # this host's wall clock is far off
    assert clock.now() == 9_999_999_999.0  # nothing heard from DynamoDB yet
    clock.observe(FakeTable(None).get_item())
    local.t += 30
    assert clock.now() == 1795766400 + 30


def test_a_lease_is_renewed_every_third_of_it_while_the_module_sleeps() -> None:
    local = FakeClock()
    table = FakeTable({"environment": "prod", "lock_id": "mine", "expires_at": 1795766403})
    lease = st.Lease(table, "prod", "mine", 3, local=local, sleep=local.sleep)
    lease.sleep(10)
    assert local.t == 1010.0
    # At 0 s, then every second: each renewal grants 3 s from DynamoDB's time then.
    assert table.updates == [1795766403 + i for i in range(11)]
    assert lease.renewals == 11


def test_a_lease_taken_over_stops_the_module() -> None:
    local = FakeClock()
    table = FakeTable({"environment": "prod", "lock_id": "mine", "expires_at": 1795766403})
    lease = st.Lease(table, "prod", "mine", 30, local=local, sleep=local.sleep)
    lease.keep()
    table.item = {"environment": "prod", "lock_id": "abort-prod-1", "owner": "ops", "expires_at": 1795766700}
    with pytest.raises(st.LeaseLost, match="cannot renew lock mine of prod: the lock is held by ops"):
        lease.sleep(60)
    assert local.t == 1000.0  # found out at the first look, before sleeping at all


def test_a_lease_that_is_not_ours_from_the_start_is_lost() -> None:
    local = FakeClock()
    lease = st.Lease(FakeTable(None), "prod", "mine", 30, local=local, sleep=local.sleep)
    with pytest.raises(st.LeaseLost, match="the lock is free"):
        lease.keep()
