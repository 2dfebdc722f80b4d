#!/usr/bin/python
# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: docdb_elastic_cluster_info
short_description: Read Amazon DocumentDB elastic (sharded) clusters
version_added: 0.2.0
description:
  - Reads one Amazon DocumentDB Elastic Cluster by name, or every elastic cluster of the region, with its shards,
    capacity, backup settings and tags, in the shape stageflow.aws.docdb_elastic_cluster returns.
  - It makes read calls only (C(docdb-elastic:ListClusters), C(docdb-elastic:GetCluster),
    C(docdb-elastic:ListTagsForResource)).
author:
  - Stageflow engineers (@stageflow)
options:
  name:
    description: The cluster to read. When omitted, every elastic cluster of the region.
    type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Read prod's sharded database
  stageflow.aws.docdb_elastic_cluster_info:
    name: prod-movie-app-db
  register: database
"""

RETURN = r"""
clusters:
  description:
    - The clusters found, sorted by name; empty when the one named does not exist.
    - Each has the keys stageflow.aws.docdb_elastic_cluster returns in its C(cluster).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "prod-movie-app-db", "status": "ACTIVE", "shard_count": 2, "shard_capacity": 2,
    "shard_instance_count": 2, "backup_retention_period": 30, "deletion_protection": true}]
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.stageflow.aws.plugins.module_utils._docdb import api
from ansible_collections.stageflow.aws.plugins.module_utils._docdb.elastic import read, view


def main():
    module = AnsibleAWSModule(argument_spec=dict(name=dict(type="str")), supports_check_mode=True)
    elastic = module.client("docdb-elastic")
    name = module.params["name"]
    try:
        if name:
            found = read(elastic, name)
            clusters = [found] if found else []
        else:
            clusters = []
            for listed in api.elastic_list(elastic):
                cluster = api.elastic_get(elastic, listed["clusterArn"])
                if cluster:
                    clusters.append(view(cluster, api.elastic_tags(elastic, cluster["clusterArn"])))
            clusters.sort(key=lambda c: c["name"])
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg=f"DocumentDB elastic cluster(s) {name or '(all)'} could not be read")
    module.exit_json(changed=False, clusters=clusters)


if __name__ == "__main__":
    main()
