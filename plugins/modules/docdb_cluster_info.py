#!/usr/bin/python
# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: docdb_cluster_info
short_description: Read Amazon DocumentDB instance-based clusters and their instances
version_added: 0.2.0
description:
  - Reads one Amazon DocumentDB cluster by identifier, or every DocumentDB cluster of the region, each with its
    instances (class, zone, status, which one is the writer) and tags, in the shape stageflow.aws.docdb_cluster
    returns.
  - It makes read calls only (C(rds:DescribeDBClusters), C(rds:DescribeDBInstances), C(rds:ListTagsForResource)).
author:
  - Stageflow engineers (@stageflow)
options:
  identifier:
    description: The cluster to read. When omitted, every DocumentDB cluster of the region.
    type: str
    aliases: [db_cluster_identifier]
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Read prod's database
  stageflow.aws.docdb_cluster_info:
    identifier: staging-movie-app-db
  register: database

- name: Say how many replicas it has
  ansible.builtin.debug:
    msg: "{{ database.clusters[0].instances | rejectattr('writer') | list | length }} replica(s)"
  when: database.clusters | length > 0
"""

RETURN = r"""
clusters:
  description:
    - The clusters found, sorted by identifier; empty when the one named does not exist.
    - Each has the keys stageflow.aws.docdb_cluster returns in its C(cluster).
  returned: always
  type: list
  elements: dict
  sample: [{"identifier": "staging-movie-app-db", "status": "available", "port": 27017, "instances": [
    {"identifier": "staging-movie-app-db-1", "instance_class": "db.t3.medium", "availability_zone": "us-east-1a",
    "status": "available", "writer": true, "endpoint": "staging-movie-app-db-1.abc.us-east-1.docdb.amazonaws.com"}]}]
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.stageflow.aws.plugins.module_utils._docdb import api
from ansible_collections.stageflow.aws.plugins.module_utils._docdb.cluster import read, view


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(identifier=dict(type="str", aliases=["db_cluster_identifier"])),
        supports_check_mode=True,
    )
    docdb = module.client("docdb")
    identifier = module.params["identifier"]
    try:
        if identifier:
            found = read(docdb, identifier)
            clusters = [found] if found else []
        else:
            clusters = sorted((view(docdb, c) for c in api.describe_clusters(docdb)), key=lambda c: c["identifier"])
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg=f"DocumentDB cluster(s) {identifier or '(all)'} could not be read")
    module.exit_json(changed=False, clusters=clusters)


if __name__ == "__main__":
    main()
