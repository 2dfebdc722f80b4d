"""Small gaps between moto's answers and AWS's, closed where Stageflow's modules depend on them.

Each patch names the AWS behaviour it restores; docs/localcloud.md lists them.
"""

from __future__ import annotations

import uuid
from typing import Any

from moto.dynamodb.models.table import Table
from moto.ecs import models as ecs_models

_INSTALLED = False


def install() -> None:
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True

    original_cluster_init = ecs_models.Cluster.__init__

    def cluster_init(cluster: Any, *args: Any, **kwargs: Any) -> None:
        original_cluster_init(cluster, *args, **kwargs)
        # DescribeClusters always carries these lists, empty or not; community.aws.ecs_cluster indexes them.
        cluster.capacity_providers = cluster.capacity_providers or []
        cluster.default_capacity_provider_strategy = cluster.default_capacity_provider_strategy or []

    ecs_models.Cluster.__init__ = cluster_init

    original_describe = Table.describe

    def describe(table: Table, *args: Any, **kwargs: Any) -> dict[str, Any]:
        # DescribeTable's TableDescription has a TableId; community.aws.dynamodb_table reads it.
        result = original_describe(table, *args, **kwargs)
        if not hasattr(table, "_lc_table_id"):
            table._lc_table_id = str(uuid.uuid4())
        for value in result.values():
            if isinstance(value, dict) and "TableName" in value:
                value.setdefault("TableId", table._lc_table_id)
        return result

    Table.describe = describe
