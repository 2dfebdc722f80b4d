"""Small gaps between moto's answers and AWS's, closed where Stageflow's modules depend on them.

Each patch names the AWS behaviour it restores; docs/localcloud.md lists them.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

from moto.autoscaling.models import AutoScalingBackend
from moto.autoscaling.responses import AutoScalingResponse
from moto.backup.models import BackupBackend
from moto.core.exceptions import JsonRESTError
from moto.core.responses import EmptyResult
from moto.core.serialize import never_return
from moto.dynamodb.models.table import Table
from moto.ec2.models.instances import InstanceBackend
from moto.ec2.models.launch_templates import LaunchTemplateVersion
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE
from moto.ecs import models as ecs_models
from moto.iam.exceptions import IAMException
from moto.iam.models import Role, User
from moto.iam.responses import IamResponse


@functools.cache  # patches moto's classes once per process
def install() -> None:
    # DescribeTags names a NAT gateway's resource type `natgateway` (moto: `nat-gateway`); amazon.aws's
    # ec2_vpc_nat_gateway filters on it, and without it sees no tags and re-tags an unchanged gateway.
    EC2_PREFIX_TO_RESOURCE["nat"] = "natgateway"

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

    if not hasattr(AutoScalingResponse, "disable_metrics_collection"):

        def disable_metrics_collection(response: AutoScalingResponse) -> EmptyResult:
            # AutoScaling's DisableMetricsCollection: no metrics named means all of them.
            group = response.autoscaling_backend.autoscaling_groups[response._get_param("AutoScalingGroupName")]
            named = response._get_param("Metrics") or []
            group.metrics = [m for m in group.metrics if named and m not in named]
            return EmptyResult()

        AutoScalingResponse.disable_metrics_collection = disable_metrics_collection

    original_describe_groups = AutoScalingBackend.describe_auto_scaling_groups

    def describe_auto_scaling_groups(backend: AutoScalingBackend, *args: Any, **kwargs: Any) -> Any:
        # AutoScaling lists a group's tags sorted by key; amazon.aws.autoscaling_group compares them in that order.
        groups = original_describe_groups(backend, *args, **kwargs)
        for group in groups:
            group.tags.sort(key=lambda tag: tag.get("Key", tag.get("key", "")))
        return groups

    AutoScalingBackend.describe_auto_scaling_groups = describe_auto_scaling_groups

    original_version_init = LaunchTemplateVersion.__init__

    def version_init(version: LaunchTemplateVersion, template: Any, number: int, data: dict, description: str) -> None:
        # CreateLaunchTemplate's own TagSpecifications tag the template; they are not part of its version's data
        # (AWS refuses resource type launch-template inside LaunchTemplateData). moto copies them in.
        specs = [s for s in data.get("TagSpecifications", []) if s.get("ResourceType") != "launch-template"]
        data = (
            {**data, "TagSpecifications": specs}
            if specs
            else {k: v for k, v in data.items() if k != "TagSpecifications"}
        )
        original_version_init(version, template, number, data, description)

    LaunchTemplateVersion.__init__ = version_init

    original_describe_vault = BackupBackend.describe_backup_vault

    def describe_backup_vault(backend: BackupBackend, name: str, *args: Any, **kwargs: Any) -> Any:
        # AWS Backup answers 403 AccessDeniedException for a vault that does not exist, and amazon.aws.backup_vault
        # relies on it; moto answers ResourceNotFoundException.
        if name not in backend.vaults:
            error = JsonRESTError("AccessDeniedException", "Insufficient privileges to perform this action.")
            error.code = 403
            raise error
        return original_describe_vault(backend, name, *args, **kwargs)

    BackupBackend.describe_backup_vault = describe_backup_vault

    original_run_instances = InstanceBackend.run_instances

    def run_instances(backend: InstanceBackend, *args: Any, **kwargs: Any) -> Any:
        # A launch template's TagSpecifications for resource type volume tag the volumes of the instances it launches
        # (an auto scaling group's instances included); moto applies only the instance ones.
        if kwargs.get("launch_template"):
            data = backend._get_template_from_args(kwargs["launch_template"]).data
            specs = [s for s in data.get("TagSpecifications", []) if s.get("ResourceType") == "volume"]
            volume_tags = {t["Key"]: t["Value"] for s in specs for t in s.get("Tags", [])}
            if volume_tags:
                tags = dict(kwargs.get("tags") or {})
                tags["volume"] = {**volume_tags, **tags.get("volume", {})}
                kwargs["tags"] = tags
        return original_run_instances(backend, *args, **kwargs)

    InstanceBackend.run_instances = run_instances

    _install_user_permissions_boundaries()


def _install_user_permissions_boundaries() -> None:
    """IAM users have permissions boundaries, as roles do: CreateUser's PermissionsBoundary,
    PutUserPermissionsBoundary, DeleteUserPermissionsBoundary, and GetUser shows it. moto keeps them for roles only;
    the local cloud's authorization (authorize.py) applies a user's boundary."""

    def checked(response: IamResponse) -> str:
        boundary = response._get_param("PermissionsBoundary")
        if boundary and not response.backend.policy_arn_regex.match(boundary):
            raise IAMException(
                "InvalidParameterValue", f"Value ({boundary}) for parameter PermissionsBoundary is invalid."
            )
        return boundary

    User.permissions_boundary_arn = None
    User.permissions_boundary = Role.permissions_boundary  # the same {"PermissionsBoundaryType", ...Arn} shape
    # ListUsers leaves it out, as it leaves out tags.
    IamResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER["ListUsersResponse.Users.User.PermissionsBoundary"] = never_return
    original_create_user = IamResponse.create_user

    def create_user(response: IamResponse) -> Any:
        boundary = checked(response)
        result = original_create_user(response)
        response.backend.get_user(response._get_param("UserName")).permissions_boundary_arn = boundary or None
        return result

    def put_user_permissions_boundary(response: IamResponse) -> EmptyResult:
        boundary = checked(response)
        response.backend.get_user(response._get_param("UserName")).permissions_boundary_arn = boundary
        return EmptyResult()

    def delete_user_permissions_boundary(response: IamResponse) -> EmptyResult:
        response.backend.get_user(response._get_param("UserName")).permissions_boundary_arn = None
        return EmptyResult()

    IamResponse.create_user = create_user
    IamResponse.put_user_permissions_boundary = put_user_permissions_boundary
    IamResponse.delete_user_permissions_boundary = delete_user_permissions_boundary
