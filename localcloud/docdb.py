"""Amazon DocumentDB's instance-based clusters: the RDS query API with Engine=docdb, which moto refuses.

DocumentDB shares RDS's API (the `docdb` client signs as `rds` and calls the same actions, version 2014-10-31) and
its clusters behave as Aurora's: storage belongs to the cluster, instances join it with DBClusterIdentifier, one is
the writer. moto models those clusters for Aurora and Neptune; this adds `docdb` to the engines it accepts, with
DocumentDB's defaults: the newest engine version (8.0.0: CreateDBCluster's EngineVersion "defaults to the newest
available"), port 27017, the engine's default parameter group (`default.docdb8.0`, `default.docdb5.0`). The requests AWS
refuses for DocumentDB (instance classes it does not offer, passwords it does not take) are in strict.py.
docs/localcloud.md ("DocumentDB") names the AWS source of each behaviour.
"""

from __future__ import annotations

import functools
from typing import Any

from moto.rds import models as rds_models
from moto.rds import utils as rds_utils

ENGINE = "docdb"
ENGINE_VERSION = "8.0.0"  # CreateDBCluster's default: the newest available
PORT = 27017


def _with_docdb(original: Any, value: Any) -> Any:
    """A moto lookup by engine that also knows docdb."""

    @functools.wraps(original)
    def lookup(engine: str, *args: Any, **kwargs: Any) -> Any:
        return value if engine == ENGINE else original(engine, *args, **kwargs)

    return staticmethod(lookup)


@functools.cache  # patches moto's classes once per process
def install() -> None:
    cluster_engines = rds_utils.ClusterEngine.list_cluster_engines
    instance_engines = rds_utils.DbInstanceEngine.valid_db_instance_engine
    rds_utils.ClusterEngine.list_cluster_engines = classmethod(lambda cls: sorted([*cluster_engines(), ENGINE]))
    rds_utils.DbInstanceEngine.valid_db_instance_engine = classmethod(lambda cls: sorted([*instance_engines(), ENGINE]))

    cluster = rds_models.DBCluster
    cluster.default_engine_version = _with_docdb(cluster.default_engine_version, ENGINE_VERSION)
    cluster.default_port = _with_docdb(cluster.default_port, PORT)
    # DocumentDB storage grows by itself, as Aurora's does: AllocatedStorage is 1 on the cluster.
    cluster.default_allocated_storage = _with_docdb(cluster.default_allocated_storage, 1)
    instance = rds_models.DBInstance
    instance.default_engine_versions = {**instance.default_engine_versions, ENGINE: ENGINE_VERSION}
    instance.default_port = _with_docdb(instance.default_port, PORT)
    instance.default_allocated_storage = _with_docdb(instance.default_allocated_storage, 1)

    original_init = cluster.__init__

    def cluster_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if self.engine == ENGINE and self.parameter_group == "default.aurora8.0":
            self.parameter_group = f"default.docdb{str(self.engine_version).split('.', maxsplit=1)[0]}.0"

    cluster.__init__ = cluster_init
