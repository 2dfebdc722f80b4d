"""The local cloud's additions, driven with plain boto3 as any AWS client would."""

from __future__ import annotations

import functools
import socket
import subprocess
import sys
import time
from pathlib import Path

import botocore.exceptions
import pytest

from tests.conftest import ROLLOUT_SECONDS, ROOT, Cloud, start_localcloud
from tests.conftest import wait_for as poll

WAIT = ROLLOUT_SECONDS * 8 + 5
pytestmark = pytest.mark.usefixtures("requires_localcloud")


wait_for = functools.partial(poll, timeout=WAIT, interval=0.2)


def build_stack(cloud: Cloud, name: str = "lc", circuit_breaker: bool = True, desired: int = 2) -> dict:
    """A VPC routed to an internet gateway, an ALB with blue/green target groups and a weighted rule, and a Fargate
    service on blue whose tasks get public IPs (to pull their images, as on AWS)."""
    ec2, elbv2, ecs = cloud.client("ec2"), cloud.client("elbv2"), cloud.client("ecs")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    main = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "association.main", "Values": ["true"]}]
    )["RouteTables"][0]["RouteTableId"]
    ec2.create_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"us-east-1{az}")["Subnet"][
            "SubnetId"
        ]
        for i, az in enumerate("ab")
    ]
    sg = ec2.create_security_group(GroupName=f"{name}-app", Description="app", VpcId=vpc)["GroupId"]
    lb = elbv2.create_load_balancer(Name=f"{name}-alb", Subnets=subnets, SecurityGroups=[sg])["LoadBalancers"][0]
    tgs = {
        colour: elbv2.create_target_group(
            Name=f"{name}-app-{colour}",
            Protocol="HTTP",
            Port=3000,
            VpcId=vpc,
            TargetType="ip",
            HealthCheckPath="/health",
        )["TargetGroups"][0]["TargetGroupArn"]
        for colour in ("blue", "green")
    }
    listener = elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
    )["Listeners"][0]["ListenerArn"]
    rule = elbv2.create_rule(
        ListenerArn=listener,
        Priority=100,
        Conditions=[{"Field": "path-pattern", "Values": ["/*"]}],
        Actions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": tgs["blue"], "Weight": 100},
                        {"TargetGroupArn": tgs["green"], "Weight": 0},
                    ]
                },
            }
        ],
    )["Rules"][0]["RuleArn"]
    ecs.create_cluster(clusterName=f"{name}-cluster")
    tds = [
        ecs.register_task_definition(
            family=f"{name}-task",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[
                {
                    "name": "server",
                    "image": f"movie-app-server:{tag}",
                    "essential": True,
                    "portMappings": [{"containerPort": 3000}],
                }
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        for tag in ("v1", "v2", "bad")
    ]
    service = ecs.create_service(
        cluster=f"{name}-cluster",
        serviceName=f"{name}-service",
        taskDefinition=tds[0],
        desiredCount=desired,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg], "assignPublicIp": "ENABLED"}
        },
        loadBalancers=[{"targetGroupArn": tgs["blue"], "containerName": "server", "containerPort": 3000}],
        deploymentConfiguration={
            "deploymentCircuitBreaker": {"enable": circuit_breaker, "rollback": circuit_breaker},
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
        },
    )["service"]
    return {
        "cluster": f"{name}-cluster",
        "service": service["serviceName"],
        "tds": tds,
        "tgs": tgs,
        "lb": f"{name}-alb",
        "rule": rule,
    }


def describe(cloud: Cloud, stack: dict) -> dict:
    return cloud.client("ecs").describe_services(cluster=stack["cluster"], services=[stack["service"]])["services"][0]


def completed_on(cloud: Cloud, stack: dict, td_arn: str):
    service = describe(cloud, stack)
    primary = next(d for d in service["deployments"] if d["status"] == "PRIMARY")
    if (
        primary["rolloutState"] == "COMPLETED"
        and primary["taskDefinition"] == td_arn
        and len(service["deployments"]) == 1
    ):
        return service
    return None


def test_create_service_deployment_completes_with_tasks_and_healthy_targets(cloud: Cloud) -> None:
    stack = build_stack(cloud)
    first = describe(cloud, stack)
    assert first["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    assert first["taskDefinition"] == stack["tds"][0]
    service = wait_for(lambda: completed_on(cloud, stack, stack["tds"][0]))
    primary = service["deployments"][0]
    assert primary["runningCount"] == primary["desiredCount"] == 2
    assert any("has reached a steady state" in e["message"] for e in service["events"])

    ecs = cloud.client("ecs")
    arns = ecs.list_tasks(cluster=stack["cluster"], serviceName=stack["service"])["taskArns"]
    tasks = ecs.describe_tasks(cluster=stack["cluster"], tasks=arns)["tasks"]
    assert len(tasks) == 2
    assert {t["lastStatus"] for t in tasks} == {"RUNNING"}
    assert {t["taskDefinitionArn"] for t in tasks} == {stack["tds"][0]}

    health = cloud.client("elbv2").describe_target_health(TargetGroupArn=stack["tgs"]["blue"])
    states = [d["TargetHealth"]["State"] for d in health["TargetHealthDescriptions"]]
    assert states == ["healthy", "healthy"]


def test_update_service_rolls_out_new_task_definition_and_stops_old_tasks(cloud: Cloud) -> None:
    stack = build_stack(cloud)
    wait_for(lambda: completed_on(cloud, stack, stack["tds"][0]))
    ecs = cloud.client("ecs")
    old_tasks = ecs.list_tasks(cluster=stack["cluster"], serviceName=stack["service"])["taskArns"]

    ecs.update_service(cluster=stack["cluster"], service=stack["service"], taskDefinition="lc-task:2")
    during = describe(cloud, stack)
    assert during["taskDefinition"] == stack["tds"][1], "service.taskDefinition is the full ARN"
    assert [(d["status"], d["rolloutState"]) for d in during["deployments"]] == [
        ("PRIMARY", "IN_PROGRESS"),
        ("ACTIVE", "COMPLETED"),
    ]
    assert all(d["taskDefinition"].startswith("arn:aws:ecs:") for d in during["deployments"])

    wait_for(lambda: completed_on(cloud, stack, stack["tds"][1]))
    stopped = ecs.describe_tasks(cluster=stack["cluster"], tasks=old_tasks)["tasks"]
    assert {t["lastStatus"] for t in stopped} == {"STOPPED"}
    running = ecs.list_tasks(cluster=stack["cluster"], serviceName=stack["service"])["taskArns"]
    assert set(running).isdisjoint(old_tasks) and len(running) == 2
    targets = cloud.client("elbv2").describe_target_health(TargetGroupArn=stack["tgs"]["blue"])
    assert len(targets["TargetHealthDescriptions"]) == 2, "the old deployment's targets drained away"


def test_force_new_deployment_starts_a_deployment_of_the_same_revision(cloud: Cloud) -> None:
    stack = build_stack(cloud, desired=1)
    wait_for(lambda: completed_on(cloud, stack, stack["tds"][0]))
    before = describe(cloud, stack)["deployments"][0]["id"]
    cloud.client("ecs").update_service(cluster=stack["cluster"], service=stack["service"], forceNewDeployment=True)
    service = describe(cloud, stack)
    assert service["deployments"][0]["id"] != before
    assert service["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    wait_for(lambda: completed_on(cloud, stack, stack["tds"][0]))


def test_unhealthy_release_fails_and_circuit_breaker_rolls_back(cloud: Cloud) -> None:
    faults = cloud.faults()
    stack = build_stack(cloud)
    wait_for(lambda: completed_on(cloud, stack, stack["tds"][0]))
    faults.set_fault("unhealthy", patterns=["*:bad"])
    cloud.client("ecs").update_service(
        cluster=stack["cluster"], service=stack["service"], taskDefinition=stack["tds"][2]
    )

    def failed_deployment():
        deployments = describe(cloud, stack)["deployments"]
        return next((d for d in deployments if d["rolloutState"] == "FAILED"), None)

    failed = wait_for(failed_deployment)
    assert failed["taskDefinition"] == stack["tds"][2]
    assert failed["failedTasks"] >= 3
    service = wait_for(lambda: completed_on(cloud, stack, stack["tds"][0]))
    assert service["taskDefinition"] == stack["tds"][0], "the service is back on the previous revision"
    assert any("rolling back" in e["message"] for e in service["events"])


def test_unhealthy_release_without_circuit_breaker_keeps_trying(cloud: Cloud) -> None:
    faults = cloud.faults()
    stack = build_stack(cloud, circuit_breaker=False)
    wait_for(lambda: completed_on(cloud, stack, stack["tds"][0]))
    faults.set_fault("unhealthy", patterns=["*:bad"])
    cloud.client("ecs").update_service(
        cluster=stack["cluster"], service=stack["service"], taskDefinition=stack["tds"][2]
    )
    time.sleep(ROLLOUT_SECONDS * 2)
    primary = describe(cloud, stack)["deployments"][0]
    assert (primary["taskDefinition"], primary["rolloutState"]) == (stack["tds"][2], "IN_PROGRESS")
    health = cloud.client("elbv2").describe_target_health(TargetGroupArn=stack["tgs"]["blue"])
    bad = [d for d in health["TargetHealthDescriptions"] if d["TargetHealth"]["State"] == "unhealthy"]
    assert len(bad) == 2
    assert {d["TargetHealth"]["Reason"] for d in bad} == {"Target.FailedHealthChecks"}


def test_hung_rollout_never_stabilises(cloud: Cloud) -> None:
    faults = cloud.faults()
    stack = build_stack(cloud)
    wait_for(lambda: completed_on(cloud, stack, stack["tds"][0]))
    faults.set_fault("hang", patterns=["movie-app-server:v2"])
    cloud.client("ecs").update_service(
        cluster=stack["cluster"], service=stack["service"], taskDefinition=stack["tds"][1]
    )
    time.sleep(ROLLOUT_SECONDS * 3)
    primary = describe(cloud, stack)["deployments"][0]
    assert primary["rolloutState"] == "IN_PROGRESS"
    assert primary["runningCount"] == 0 and primary["pendingCount"] == 2


def test_health_url_follows_release_and_weights(cloud: Cloud) -> None:
    faults = cloud.faults()
    stack = build_stack(cloud)
    wait_for(lambda: completed_on(cloud, stack, stack["tds"][0]))
    status, body = faults.lb_get(stack["lb"], "/health")
    assert status == 200 and body["images"] == ["movie-app-server:v1"] and body["target_group"] == "lc-app-blue"

    faults.set_fault("unhealthy", patterns=["movie-app-server:v1"])
    status, body = faults.lb_get(stack["lb"], "/health")
    assert status == 500 and body["status"] == "failing"
    faults.clear_faults()

    cloud.client("elbv2").modify_rule(
        RuleArn=stack["rule"],
        Actions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": stack["tgs"]["blue"], "Weight": 0},
                        {"TargetGroupArn": stack["tgs"]["green"], "Weight": 100},
                    ]
                },
            }
        ],
    )
    status, body = faults.lb_get(stack["lb"], "/health")
    assert status == 503 and body["target_group"] == "lc-app-green", "green has no targets yet"


def test_health_url_for_unknown_load_balancer_is_404(cloud: Cloud) -> None:
    status, body = cloud.faults().lb_get("nope-alb")
    assert status == 404 and "nope-alb" in body["error"]


def test_throttling_share_is_bounded_seeded_and_retried_by_clients(cloud: Cloud) -> None:
    faults = cloud.faults()
    faults.set_fault("throttle", share=0.3, seed=7, services=["ecs"])
    ecs = cloud.client("ecs")
    for _attempt in range(60):
        ecs.list_clusters()  # botocore retries throttling errors itself
    state = faults.faults()["throttle"]
    assert state["seen"] >= 60
    share = state["throttled"] / state["seen"]
    assert 0.1 <= share <= 0.45, state
    # Without retries the error reaches the caller, in each protocol's shape.
    faults.set_fault("throttle", share=1, seed=1, services=["ecs", "ec2"], max_consecutive=100)
    with pytest.raises(botocore.exceptions.ClientError) as err:
        cloud.client("ecs", retries=False).list_clusters()
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        cloud.client("ec2", retries=False).describe_vpcs()
    assert err.value.response["Error"]["Code"] == "RequestLimitExceeded"


def test_throttle_limit_caps_the_number_of_throttled_calls(cloud: Cloud) -> None:
    faults = cloud.faults()
    faults.set_fault("throttle", share=1, seed=3, limit=4, max_consecutive=2)
    ecs = cloud.client("ecs")
    for _attempt in range(10):
        ecs.list_clusters()
    assert faults.faults()["throttle"]["throttled"] == 4


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/_localcloud/faults/explode", {"patterns": ["*"]}, "unknown fault 'explode'"),
        ("/_localcloud/faults/throttle", {"share": 1.5}, "from 0 to 1"),
        ("/_localcloud/faults/throttle", {"share": -0.1}, "from 0 to 1"),
        ("/_localcloud/faults/unhealthy", {"patterns": []}, "non-empty list"),
        ("/_localcloud/faults/throttle", {"share": 0.2, "burst": 3}, "unknown throttle setting"),
    ],
)
def test_bad_control_requests_get_4xx_and_the_cloud_keeps_running(cloud: Cloud, path, body, expected) -> None:
    faults = cloud.faults()
    status, answer = faults.request("PUT", path, body)
    assert status == 400 and expected in answer["error"]
    status, answer = faults.request("PUT", "/_localcloud/faults/hang", raw=b"{not json")
    assert status == 400 and "not valid JSON" in answer["error"]
    assert cloud.client("ecs").list_clusters()["clusterArns"] == []


def test_moto_reset_also_resets_faults(cloud: Cloud) -> None:
    faults = cloud.faults()
    faults.set_fault("unhealthy", patterns=["*"])
    faults.request("POST", "/moto-api/reset")
    assert faults.faults()["unhealthy"] == []


def test_recorder_lists_calls_by_service_and_action(cloud: Cloud) -> None:
    faults = cloud.faults()
    faults.reset_recording()
    cloud.client("ecs").create_cluster(clusterName="rec")
    cloud.client("ecs").list_clusters()
    cloud.client("ec2").describe_vpcs()
    calls = [str(c) for c in faults.calls()]
    assert calls == ["ecs:CreateCluster", "ecs:ListClusters", "ec2:DescribeVpcs"]
    assert [str(c) for c in faults.mutating_calls()] == ["ecs:CreateCluster"]


def test_ec2_launch_type_places_tasks_on_instances_that_joined_the_cluster(cloud: Cloud) -> None:
    ecs, ec2 = cloud.client("ecs"), cloud.client("ec2")
    ecs.create_cluster(clusterName="ec2c")
    td = ecs.register_task_definition(
        family="ec2t",
        containerDefinitions=[
            {
                "name": "server",
                "image": "srv:v1",
                "memory": 128,
                "portMappings": [{"containerPort": 3000, "hostPort": 0}],
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="ec2c", serviceName="svc", taskDefinition=td, desiredCount=1, launchType="EC2")
    time.sleep(ROLLOUT_SECONDS * 1.5)
    service = ecs.describe_services(cluster="ec2c", services=["svc"])["services"][0]
    assert service["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    assert any("unable to place a task" in e["message"] for e in service["events"])

    image = ec2.describe_images()["Images"][0]["ImageId"]
    ec2.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, UserData="#!/bin/bash\necho ECS_CLUSTER=ec2c >> /etc/ecs/ecs.config"
    )
    wait_for(
        lambda: (
            ecs.describe_services(cluster="ec2c", services=["svc"])["services"][0]["deployments"][0]["rolloutState"]
            == "COMPLETED"
        )
    )
    assert len(ecs.list_container_instances(cluster="ec2c")["containerInstanceArns"]) == 1


def test_launch_template_volume_tags_reach_the_volumes_of_an_auto_scaling_groups_instances(cloud: Cloud) -> None:
    ec2, autoscaling = cloud.client("ec2"), cloud.client("autoscaling")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    ec2.create_launch_template(
        LaunchTemplateName="tagged",
        LaunchTemplateData={
            "ImageId": image,
            "InstanceType": "t3.micro",
            "TagSpecifications": [{"ResourceType": "volume", "Tags": [{"Key": "Environment", "Value": "prod"}]}],
        },
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="tagged",
        LaunchTemplate={"LaunchTemplateName": "tagged"},
        MinSize=2,
        MaxSize=2,
        AvailabilityZones=["us-east-1a"],
    )
    volumes = ec2.describe_volumes(Filters=[{"Name": "tag:Environment", "Values": ["prod"]}])["Volumes"]
    assert len(volumes) == 2 and all(v["Attachments"] for v in volumes)


def test_port_in_use_exits_non_zero_with_a_clear_message() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "localcloud", "--port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert proc.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in proc.stderr


def test_only_loopback_is_allowed() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "localcloud", "--host", "0.0.0.0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2 and "--host must be 127.0.0.1" in proc.stderr


def test_stops_cleanly_on_sigterm() -> None:
    proc, _url = start_localcloud()
    proc.terminate()
    out, _err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "localcloud stopped" in out


def test_a_snapshot_restores_the_whole_cloud_as_saved_however_often(cloud: Cloud) -> None:
    stack = build_stack(cloud, "snap")
    wait_for(lambda: completed_on(cloud, stack, stack["tds"][0]))
    ec2, ecs, elbv2 = cloud.client("ec2"), cloud.client("ecs"), cloud.client("elbv2")

    def targets() -> list[dict]:
        return elbv2.describe_target_health(TargetGroupArn=stack["tgs"]["blue"])["TargetHealthDescriptions"]

    before = sorted(t["Target"]["Id"] for t in targets())
    assert len(before) == 2
    # Models that plain deep copies refuse: ECR's backend and S3's keys hold locks, SSM's parameters are a dict whose
    # constructor needs the region.
    s3, ssm = cloud.client("s3"), cloud.client("ssm")
    cloud.client("ecr").create_repository(repositoryName="snap-repo")  # moto's ECR backend holds a lock
    s3.create_bucket(Bucket="snap-reports")
    s3.put_object(Bucket="snap-reports", Key="report.json", Body=b"saved")
    ssm.put_parameter(Name="/snap/policy", Value="saved", Type="String")
    cloud.control.save_snapshot("stack")
    s3.put_object(Bucket="snap-reports", Key="report.json", Body=b"changed")
    ssm.put_parameter(Name="/snap/policy", Value="changed", Type="String", Overwrite=True)

    ecs.update_service(cluster=stack["cluster"], service=stack["service"], taskDefinition=stack["tds"][1])
    ec2.create_vpc(CidrBlock="10.77.0.0/16")
    wait_for(lambda: completed_on(cloud, stack, stack["tds"][1]))
    for _restore in range(2):  # a restore does not spend the snapshot
        assert cloud.control.restore_snapshot("stack")
        assert describe(cloud, stack)["taskDefinition"] == stack["tds"][0]
        assert sorted(t["Target"]["Id"] for t in targets()) == before
        assert [v["CidrBlock"] for v in ec2.describe_vpcs()["Vpcs"] if v["CidrBlock"] == "10.77.0.0/16"] == []
        status, answer = cloud.control.lb_get("snap-alb")
        assert status == 200 and answer["task_definition"] == stack["tds"][0], answer
        assert s3.get_object(Bucket="snap-reports", Key="report.json")["Body"].read() == b"saved"
        assert ssm.get_parameter(Name="/snap/policy")["Parameter"]["Value"] == "saved"
    assert cloud.control.snapshots() == ["stack"]
    assert cloud.control.restore_snapshot("no-such-snapshot") is False
    cloud.control.reset()
    assert ecs.list_clusters()["clusterArns"] == [], "a reset empties the cloud; the snapshot stays"
    assert cloud.control.restore_snapshot("stack") and ecs.list_clusters()["clusterArns"]
    # A reset disposes of the live S3 objects only, not the snapshot's.
    assert s3.get_object(Bucket="snap-reports", Key="report.json")["Body"].read() == b"saved"
    assert "snap-reports" in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_an_exported_snapshot_is_imported_whole_by_another_local_cloud(tmp_path) -> None:
    """How the test processes of one `make test` share a provisioning (scripts/run_tests.py)."""
    clouds = [start_localcloud("--snapshot-dir", str(tmp_path)) for _copy in range(2)]
    try:
        maker, taker = (Cloud(url) for _proc, url in clouds)
        stack = build_stack(maker, "share")
        wait_for(lambda: completed_on(maker, stack, stack["tds"][0]))
        maker.client("s3").create_bucket(Bucket="share-reports")
        maker.client("s3").put_object(Bucket="share-reports", Key="report.json", Body=b"saved")
        maker.client("ssm").put_parameter(
            Name="/share/policy", Value="saved", Type="String", Tags=[{"Key": "a", "Value": "b"}]
        )
        # moto keeps an ACM certificate's key and certificate as cryptography's objects
        certificate = maker.client("acm").request_certificate(DomainName="share.example.com")["CertificateArn"]
        maker.control.save_snapshot("shared")
        assert Path(maker.control.export_snapshot("shared")) == tmp_path / "shared.pickle"

        assert taker.control.import_snapshot("no-such-snapshot") is False
        assert taker.control.import_snapshot("shared") and taker.control.restore_snapshot("shared")
        assert describe(taker, stack)["taskDefinition"] == stack["tds"][0]
        status, answer = taker.control.lb_get("share-alb")
        assert status == 200 and answer["task_definition"] == stack["tds"][0], answer
        ssm = taker.client("ssm")
        assert ssm.get_parameter(Name="/share/policy")["Parameter"]["Value"] == "saved"
        assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/share/policy")["TagList"] == [
            {"Key": "a", "Value": "b"}
        ]
        described = taker.client("acm").describe_certificate(CertificateArn=certificate)["Certificate"]
        assert described["DomainName"] == "share.example.com"
        taker.control.reset()  # disposes of the live S3 objects only, not the imported snapshot's
        assert taker.control.restore_snapshot("shared")
        assert taker.client("s3").get_object(Bucket="share-reports", Key="report.json")["Body"].read() == b"saved"
    finally:
        for proc, _url in clouds:
            proc.terminate()
            proc.wait(timeout=20)


def test_timings_list_each_aws_call_with_its_duration(cloud: Cloud) -> None:
    cloud.control.timings(clear=True)
    cloud.client("ec2").describe_vpcs()
    cloud.client("ecs").list_clusters()
    calls = cloud.control.timings(clear=True)
    assert [(c[2], c[3]) for c in calls] == [("ec2", "DescribeVpcs"), ("ecs", "ListClusters")]
    assert all(c[1] >= 0 and c[0] > 1.7e9 for c in calls)
    assert cloud.control.timings() == []


def test_backup_selections_assign_resources_to_a_plan_as_aws_does(cloud: Cloud) -> None:
    """moto lacks backup selections: the local cloud keeps them, refuses what AWS refuses, and a plan is deleted only
    after its selections (localcloud/backup_selections.py)."""
    backup = cloud.client("backup", retries=False)
    plan = backup.create_backup_plan(
        BackupPlan={"BackupPlanName": "p", "Rules": [{"RuleName": "daily", "TargetBackupVaultName": "v"}]}
    )["BackupPlanId"]
    selection = {
        "SelectionName": "tagged",
        "IamRoleArn": "arn:aws:iam::123456789012:role/backup",
        "Resources": ["arn:aws:rds:*:*:db:*"],
        "Conditions": {"StringEquals": [{"ConditionKey": "aws:ResourceTag/Environment", "ConditionValue": "dev"}]},
    }
    made = backup.create_backup_selection(BackupPlanId=plan, BackupSelection=selection)
    read = backup.get_backup_selection(BackupPlanId=plan, SelectionId=made["SelectionId"])
    assert read["BackupSelection"]["Conditions"] == selection["Conditions"] and read["BackupPlanId"] == plan
    listed = backup.list_backup_selections(BackupPlanId=plan)["BackupSelectionsList"]
    assert [(s["SelectionName"], s["IamRoleArn"]) for s in listed] == [("tagged", selection["IamRoleArn"])]

    def code(call) -> str:
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            call()
        return refused.value.response["Error"]["Code"]

    assert code(lambda: backup.create_backup_selection(BackupPlanId=plan, BackupSelection=selection)) == (
        "AlreadyExistsException"
    )
    bad_name = {**selection, "SelectionName": "no spaces"}
    assert code(lambda: backup.create_backup_selection(BackupPlanId=plan, BackupSelection=bad_name)) == (
        "InvalidParameterValueException"
    )
    nothing = {k: v for k, v in selection.items() if k != "Resources"}
    assert code(lambda: backup.create_backup_selection(BackupPlanId=plan, BackupSelection=nothing)) == (
        "InvalidParameterValueException"
    )
    assert code(lambda: backup.create_backup_selection(BackupPlanId="nope", BackupSelection=selection)) == (
        "ResourceNotFoundException"
    )
    assert code(lambda: backup.delete_backup_plan(BackupPlanId=plan)) == "InvalidRequestException"
    backup.delete_backup_selection(BackupPlanId=plan, SelectionId=made["SelectionId"])
    assert backup.list_backup_selections(BackupPlanId=plan)["BackupSelectionsList"] == []
    backup.delete_backup_plan(BackupPlanId=plan)


def test_data_snapshots_can_be_kept_pending_and_aged_as_aws_time_would(cloud: Cloud) -> None:
    """moto's EBS and RDS snapshots are complete at once and never age: the local cloud can keep new ones pending and
    move existing ones back in time, for the tests of snapshot retention (localcloud/data_snapshots.py)."""
    ec2, rds = cloud.client("ec2"), cloud.client("rds")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    rds.create_db_instance(
        DBInstanceIdentifier="db1",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="u",
        MasterUserPassword="p" * 12,
        AllocatedStorage=20,
    )
    done = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    cloud.control.data_snapshots_pending(True)
    try:
        pending = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
        rds.create_db_snapshot(DBInstanceIdentifier="db1", DBSnapshotIdentifier="s1")
        states = {s["SnapshotId"]: s["State"] for s in ec2.describe_snapshots(SnapshotIds=[done, pending])["Snapshots"]}
        assert states == {done: "completed", pending: "pending"}
        assert rds.describe_db_snapshots(DBSnapshotIdentifier="s1")["DBSnapshots"][0]["Status"] == "creating"
    finally:
        cloud.control.data_snapshots_pending(False)
    assert ec2.describe_snapshots(SnapshotIds=[pending])["Snapshots"][0]["State"] == "completed"
    assert rds.describe_db_snapshots(DBSnapshotIdentifier="s1")["DBSnapshots"][0]["Status"] == "available"

    before = ec2.describe_snapshots(SnapshotIds=[done])["Snapshots"][0]["StartTime"]
    db_before = rds.describe_db_snapshots(DBSnapshotIdentifier="s1")["DBSnapshots"][0]["SnapshotCreateTime"]
    database_snapshots = rds.describe_db_snapshots()["DBSnapshots"]  # s1 and the instance's automated one
    assert cloud.control.age_data_snapshots(10) == 2 + len(database_snapshots)
    assert (before - ec2.describe_snapshots(SnapshotIds=[done])["Snapshots"][0]["StartTime"]).days == 10
    after = rds.describe_db_snapshots(DBSnapshotIdentifier="s1")["DBSnapshots"][0]["SnapshotCreateTime"]
    assert (db_before - after).days == 10
    status, answer = cloud.control.request("POST", "/_localcloud/data-snapshots/age", {"days": -1})
    assert status == 400 and "days" in answer["error"]
