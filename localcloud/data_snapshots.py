"""Time and progress for EBS and RDS snapshots, which in moto are complete the moment they are asked for.

On AWS a snapshot takes minutes to hours (EBS `pending` with a progress, RDS `creating`) and ages with the clock. The
tests of snapshot retention need both: `PUT /_localcloud/data-snapshots {"pending": true}` makes the snapshots taken
from then on stay pending (EBS) or creating (RDS) until `{"pending": false}` completes them, and
`POST /_localcloud/data-snapshots/age {"days": N}` moves the start of every snapshot the account took (EBS
`StartTime`, RDS `SnapshotCreateTime`) N days back, as if it had been taken then. A reset forgets the setting.
"""

from __future__ import annotations

import datetime
import functools
from typing import Any

from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_block_store import EBSBackend
from moto.rds.models import RDSBackend, rds_backends

from . import docdb_elastic

_STATE = {"pending": False}


@functools.cache  # patches moto's classes once per process
def install() -> None:
    create_snapshot, create_db_snapshot = EBSBackend.create_snapshot, RDSBackend.create_db_snapshot
    create_cluster_snapshot = RDSBackend.create_db_cluster_snapshot

    def ebs_snapshot(backend: EBSBackend, *args: Any, **kwargs: Any) -> Any:
        snapshot = create_snapshot(backend, *args, **kwargs)
        if _STATE["pending"]:
            snapshot.status = "pending"
        return snapshot

    def db_snapshot(backend: RDSBackend, *args: Any, **kwargs: Any) -> Any:
        snapshot = create_db_snapshot(backend, *args, **kwargs)
        if _STATE["pending"]:
            snapshot.status = "creating"
        return snapshot

    def cluster_snapshot(backend: RDSBackend, *args: Any, **kwargs: Any) -> Any:
        snapshot = create_cluster_snapshot(backend, *args, **kwargs)
        if _STATE["pending"]:
            snapshot.status = "creating"
        return snapshot

    EBSBackend.create_snapshot = ebs_snapshot
    RDSBackend.create_db_snapshot = db_snapshot
    RDSBackend.create_db_cluster_snapshot = cluster_snapshot


def _all(backends: Any) -> list[Any]:
    return [backend for regions in backends.values() for backend in regions.values()]


def set_pending(pending: bool) -> None:
    """Snapshots taken from now on stay pending (True); False completes every pending one."""
    _STATE["pending"] = pending
    if not pending:
        for backend in _all(ec2_backends):
            for snapshot in backend.snapshots.values():
                if snapshot.status == "pending":
                    snapshot.status = "completed"
        for backend in _all(rds_backends):
            for snapshot in [*backend.database_snapshots.values(), *backend.cluster_snapshots.values()]:
                if snapshot.status == "creating":
                    snapshot.status = "available"


def age(days: float) -> int:
    """Move every EBS and RDS snapshot's start `days` back; how many were moved."""
    delta, moved = datetime.timedelta(days=days), 0
    for backend in _all(ec2_backends):
        for snapshot in backend.snapshots.values():
            if snapshot.owner_id == backend.account_id and not snapshot.from_ami:  # not the AMIs' moto preloads
                snapshot.start_time -= delta
                moved += 1
    for backend in _all(rds_backends):
        for snapshot in [*backend.database_snapshots.values(), *backend.cluster_snapshots.values()]:
            snapshot.created -= delta
            moved += 1
    return moved + docdb_elastic.emulator.age_snapshots(delta)


def reset() -> None:
    _STATE["pending"] = False


def settings() -> dict[str, Any]:
    return dict(_STATE)
