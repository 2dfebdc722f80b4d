#!/usr/bin/python
# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecr_image_users_info
short_description: Which ECS services of other environments run images from some ECR repositories
version_added: 0.2.0
description:
  - For each cluster in O(clusters), reads every service and the task definitions it runs (the service's and each of
    its deployments') and returns the images that come from one of O(repositories), by repository name.
  - Promotions run images by digest from the repository CI pushed to (dev's); before dev's repositories are deleted
    with dev, this tells which environments still run images from them.
  - A cluster that does not exist uses nothing. A cluster these credentials may not read is an error naming it, since
    an answer that left it out could call a repository prod runs unused.
author:
  - Stageflow engineers (@stageflow)
options:
  repositories:
    description: ECR repository names.
    type: list
    elements: str
    required: true
  clusters:
    description: The ECS clusters to look in, as name -> the environment it belongs to (for the answer).
    type: dict
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Read-only; runs in check mode too.
"""

EXAMPLES = r"""
- name: Which environments run images from dev's repositories?
  stageflow.aws.ecr_image_users_info:
    repositories: [dev-webshop-web-repo, dev-webshop-api-repo]
    clusters: {staging-webshop-cluster: staging, prod-webshop-cluster: prod}
  register: users
"""

RETURN = r"""
users:
  description: Each service that runs an image from the repositories, with its environment, cluster and the images.
  returned: always
  type: list
  elements: dict
  sample: [{"environment": "prod", "cluster": "prod-webshop-cluster", "service": "prod-webshop-service-green",
    "images": ["123456789012.dkr.ecr.us-east-1.amazonaws.com/dev-webshop-api-repo@sha256:..."]}]
environments:
  description: The environments those services belong to, sorted.
  returned: always
  type: list
  elements: str
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.stageflow.aws.plugins.module_utils._ecr.images import ECR_IMAGE
from ansible_collections.stageflow.aws.plugins.module_utils._ecs import api
from ansible_collections.stageflow.aws.plugins.module_utils._ecs import deploy as rel


def users_in(ecs, cluster, repositories, tds):
    """(service name, images from the repositories) of each service in the cluster that runs one."""
    try:
        arns = api.list_services(ecs, cluster)
    except is_boto3_error_code("ClusterNotFoundException"):
        return []
    found = []
    for start in range(0, len(arns), rel.DESCRIBE_BATCH):
        answer = api.describe_services(ecs, cluster, arns[start : start + rel.DESCRIBE_BATCH])
        for service in answer.get("services", []):
            if service.get("status") == "INACTIVE":
                continue  # deleted: AWS describes it for a while (and a deleted cluster's), but it runs nothing
            arns_run = {service.get("taskDefinition")} | {
                d.get("taskDefinition") for d in service.get("deployments", [])
            }
            images = sorted(
                {
                    image
                    for arn in arns_run
                    if arn
                    for image in rel.images_of(tds.get(arn)).values()
                    if (m := ECR_IMAGE.match(image)) and m["repo"] in repositories
                }
            )
            if images:
                found.append((service["serviceName"], images))
    return found


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            repositories=dict(type="list", elements="str", required=True),
            clusters=dict(type="dict", required=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    ecs = module.client("ecs")
    tds = rel.TaskDefinitions(ecs)
    users = []
    for cluster, environment in sorted(p["clusters"].items()):
        try:
            for service, images in users_in(ecs, cluster, set(p["repositories"]), tds):
                users.append({"environment": environment, "cluster": cluster, "service": service, "images": images})
        except (BotoCoreError, ClientError) as exc:
            module.fail_json_aws(
                exc, msg=f"cannot tell which services of {environment} ({cluster}) run images from {p['repositories']}"
            )
    module.exit_json(changed=False, users=users, environments=sorted({u["environment"] for u in users}))


if __name__ == "__main__":
    main()
