"""ecr_image_users_info: which services of other environments run images from some repositories, against moto."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.stageflow.aws.plugins.modules import ecr_image_users_info
from moto import mock_aws

DEV_IMAGE = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/dev-movie-app-server-repo@sha256:{'a' * 64}"
OWN_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/prod-movie-app-server-repo:initial"


@pytest.fixture
def ecs(aws_credentials: None) -> Any:
    with mock_aws():
        client = boto3.client("ecs", region_name="us-east-1")
        client.create_cluster(clusterName="prod-movie-app-cluster")
        for service, image in (("prod-movie-app-service-green", DEV_IMAGE), ("prod-movie-app-service-blue", OWN_IMAGE)):
            td = client.register_task_definition(
                family=service, containerDefinitions=[{"name": "server", "image": image, "memory": 256}]
            )["taskDefinition"]["taskDefinitionArn"]
            client.create_service(
                cluster="prod-movie-app-cluster", serviceName=service, taskDefinition=td, desiredCount=0
            )
        yield client


def run(capsys: pytest.CaptureFixture, **args) -> dict:
    with patch_module_args(args), pytest.raises(SystemExit):
        ecr_image_users_info.main()
    return json.loads(capsys.readouterr().out)


def test_the_services_running_images_from_the_repositories_are_named(capsys, ecs) -> None:
    clusters = {"prod-movie-app-cluster": "prod", "staging-movie-app-cluster": "staging"}  # staging's: none yet
    found = run(capsys, repositories=["dev-movie-app-server-repo"], clusters=clusters)
    assert found["environments"] == ["prod"]
    assert found["users"] == [
        {
            "environment": "prod",
            "cluster": "prod-movie-app-cluster",
            "service": "prod-movie-app-service-green",
            "images": [DEV_IMAGE],
        }
    ]
    unused = run(capsys, repositories=["staging-movie-app-server-repo"], clusters=clusters)
    assert unused["users"] == [] and unused["environments"] == [] and unused["changed"] is False
