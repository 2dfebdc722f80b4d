"""What a task needs to run: CPU and memory on a container instance (and an ENI for an awsvpc task), a route to its
images, and its execution role's leave to read its secrets (localcloud/ecs.py, capacity.py, reach.py, task_secrets.py,
iam_policy.py).

Each rule runs twice: in plain moto (`mock_aws`, in this process), which places and runs the task, and against the
local cloud (`python -m localcloud`, its own process, so the two moto states never meet), which refuses it as AWS does.
"""

from __future__ import annotations

import functools
import json
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from localcloud.capacity import (
    Resources,
    awsvpc_task_limit,
    max_network_interfaces,
    registered_resources,
    task_reservation,
)
from localcloud.client import LocalCloudClient, spawn
from localcloud.iam_policy import Decision, evaluate
from localcloud.reach import ImageReference
from tests.conftest import wait_for as poll

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLLOUT = 0.3
WAIT = 20.0
POLL = 0.05
CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"})
EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
ECR_IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/movie-app-server:v1"
LINUX_IMAGE = "ami-04681a1dbd79675a5"  # amzn2-ami-hvm, one of the AMIs moto always has
TROUBLESHOOTING = "For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."
# One session for every client: its loaded service models make a client cheap (mock_aws swaps boto3's default
# session for a new one each time, which loads them again). moto's stubber, hooked into botocore at import, still
# answers its clients inside mock_aws.
SESSION = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)


@cache
def _client(url: str | None, service: str) -> Any:
    return SESSION.client(service, config=CONFIG, **({"endpoint_url": url} if url else {}))


@dataclass(frozen=True)
class Cloud:
    """Clients of one cloud, and the cluster of one test: the local cloud's tests share it (a reset reloads moto's
    backends, seconds each) and keep apart by name."""

    cluster: str  # also the prefix of the test's IAM roles, secrets and target groups
    url: str | None = None

    def client(self, service: str) -> Any:
        return _client(self.url, service)


@pytest.fixture(scope="module")
def local_url() -> Iterator[str]:
    proc, url = spawn("--rollout-seconds", str(ROLLOUT), log_path=ROOT / ".localcloud-test-runtime.log")
    try:
        LocalCloudClient(url).set_rollout_seconds(ROLLOUT)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def local(local_url: str, request: pytest.FixtureRequest) -> Iterator[Cloud]:
    cloud = Cloud(f"rt{zlib.crc32(request.node.nodeid.encode()):08x}", local_url)
    ecs = cloud.client("ecs")
    ecs.create_cluster(clusterName=cloud.cluster)
    yield cloud
    # The cloud's clock moves every active service on each call it answers, whichever cluster asked: a service left
    # behind (stalled, or failing and replacing its tasks without end) would make every later test's calls slower.
    for arn in ecs.list_services(cluster=cloud.cluster)["serviceArns"]:
        ecs.delete_service(cluster=cloud.cluster, service=arn, force=True)


def _plain_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        cloud = Cloud("plain")
        cloud.client("ecs").create_cluster(clusterName=cloud.cluster)
        yield cloud
        # Stopping the mock rebuilds each backend it used, IAM's with the AWS-managed policies when asked to: seconds
        # spent on a state that is thrown away at once.
        monkeypatch.delenv("MOTO_IAM_LOAD_MANAGED_POLICIES", raising=False)


@pytest.fixture
def plain(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    """Plain moto in this process."""
    yield from _plain_moto(monkeypatch)


@pytest.fixture
def plain_with_aws_policies(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    """Plain moto with the AWS-managed IAM policies, as the local cloud loads them (it takes seconds)."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    yield from _plain_moto(monkeypatch)


wait_for = functools.partial(poll, timeout=WAIT, interval=POLL)


# -- what the cases build --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Network:
    vpc: str
    subnet: str
    group: str
    route_table: str

    def awsvpc(self, public_ip: bool = False) -> dict[str, Any]:
        config = {"subnets": [self.subnet], "securityGroups": [self.group]}
        return {"awsvpcConfiguration": {**config, "assignPublicIp": "ENABLED" if public_ip else "DISABLED"}}


def network(cloud: Cloud, egress: str = "none") -> Network:
    """A VPC with one task subnet whose route table sends 0.0.0.0/0 to a NAT gateway, to an internet gateway, or
    nowhere."""
    ec2 = cloud.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # plain moto's awsvpc tasks need it
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.8.1.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    if egress != "none":
        gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    if egress == "igw":
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    if egress == "nat":
        public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.8.0.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]
        allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
        nat = ec2.create_nat_gateway(SubnetId=public["SubnetId"], AllocationId=allocation)["NatGateway"]
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat["NatGatewayId"])
    return Network(vpc, subnet, group, table)


def ecr_endpoints(cloud: Cloud, net: Network) -> None:
    """What a private subnet needs to pull from ECR without a way to the internet."""
    ec2 = cloud.client("ec2")
    for service in ("ecr.dkr", "ecr.api"):
        ec2.create_vpc_endpoint(
            VpcEndpointType="Interface",
            VpcId=net.vpc,
            ServiceName=f"com.amazonaws.{REGION}.{service}",
            SubnetIds=[net.subnet],
            SecurityGroupIds=[net.group],
            PrivateDnsEnabled=True,
        )
    ec2.create_vpc_endpoint(
        VpcEndpointType="Gateway",
        VpcId=net.vpc,
        ServiceName=f"com.amazonaws.{REGION}.s3",
        RouteTableIds=[net.route_table],
    )


def fargate_task_definition(cloud: Cloud, image: str, family: str = "app", **extra: Any) -> str:
    container = {
        "name": "server",
        "image": image,
        "essential": True,
        "memory": 512,  # plain moto's RunTask sums its containers' memory
        "portMappings": [{"containerPort": 3000}],
    }
    return cloud.client("ecs").register_task_definition(
        family=family,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{**container, **extra.pop("container", {})}],
        **extra,
    )["taskDefinition"]["taskDefinitionArn"]


def fargate_service(
    cloud: Cloud, net: Network, task_definition: str, breaker: bool = True, public_ip: bool = False, **extra: Any
) -> None:
    cloud.client("ecs").create_service(
        cluster=cloud.cluster,
        serviceName="app",
        taskDefinition=task_definition,
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration=net.awsvpc(public_ip),
        deploymentConfiguration={
            "deploymentCircuitBreaker": {"enable": breaker, "rollback": breaker},
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
        },
        **extra,
    )


def run_fargate(cloud: Cloud, net: Network, task_definition: str) -> dict[str, Any]:
    """The task plain moto's RunTask starts (its DescribeTasks moves every task a step towards STOPPED)."""
    answer = cloud.client("ecs").run_task(
        cluster=cloud.cluster, taskDefinition=task_definition, launchType="FARGATE", networkConfiguration=net.awsvpc()
    )
    assert answer["failures"] == []
    return answer["tasks"][0]


def service_of(cloud: Cloud, name: str = "app") -> dict[str, Any]:
    return cloud.client("ecs").describe_services(cluster=cloud.cluster, services=[name])["services"][0]


def primary(cloud: Cloud, name: str = "app") -> dict[str, Any]:
    return next(d for d in service_of(cloud, name)["deployments"] if d["status"] == "PRIMARY")


def tasks(cloud: Cloud, status: str, name: str = "app") -> list[dict[str, Any]]:
    ecs = cloud.client("ecs")
    arns = ecs.list_tasks(cluster=cloud.cluster, serviceName=name, desiredStatus=status)["taskArns"]
    return ecs.describe_tasks(cluster=cloud.cluster, tasks=arns)["tasks"] if arns else []


def events(cloud: Cloud, name: str = "app") -> list[str]:
    return [e["message"] for e in service_of(cloud, name)["events"]]


# -- 1. placement by CPU and memory ----------------------------------------------------------------------------------
def container_instances(cloud: Cloud) -> list[dict[str, Any]]:
    ecs = cloud.client("ecs")
    arns = ecs.list_container_instances(cluster=cloud.cluster)["containerInstanceArns"]
    return ecs.describe_container_instances(cluster=cloud.cluster, containerInstances=arns)["containerInstances"]


def resources(instance: dict[str, Any], kind: str) -> Resources:
    values = {r["name"]: r["integerValue"] for r in instance[kind] if r["name"] in ("CPU", "MEMORY")}
    return Resources(values["CPU"], values["MEMORY"])


def launch_instances(
    cloud: Cloud, instance_type: str, count: int = 1, agent_config: str = "", subnet: str | None = None
) -> list[str]:
    """EC2 instances whose ECS agent joins the cluster, in the default VPC (public IPs, an internet gateway) unless a
    subnet is given."""
    user_data = f"#!/bin/bash\necho ECS_CLUSTER={cloud.cluster} >> /etc/ecs/ecs.config\n{agent_config}"
    reservation = cloud.client("ec2").run_instances(
        ImageId=LINUX_IMAGE,
        MinCount=count,
        MaxCount=count,
        InstanceType=instance_type,
        UserData=user_data,
        **({"SubnetId": subnet} if subnet else {}),
    )
    return [i["InstanceId"] for i in reservation["Instances"]]


def ec2_task_definition(cloud: Cloud, memory: int, cpu: int = 256, family: str = "worker", tag: str = "v1") -> str:
    container = {"name": "worker", "image": f"public.ecr.aws/nginx/nginx:{tag}", "cpu": cpu, "memory": memory}
    return cloud.client("ecs").register_task_definition(family=family, containerDefinitions=[container])[
        "taskDefinition"
    ]["taskDefinitionArn"]


def ec2_service(
    cloud: Cloud,
    task_definition: str,
    desired: int,
    minimum: int = 100,
    maximum: int = 200,
    name: str = "app",
    net: Network | None = None,
) -> None:
    cloud.client("ecs").create_service(
        cluster=cloud.cluster,
        serviceName=name,
        taskDefinition=task_definition,
        desiredCount=desired,
        launchType="EC2",
        deploymentConfiguration={"maximumPercent": maximum, "minimumHealthyPercent": minimum},
        **({"networkConfiguration": net.awsvpc()} if net else {}),
    )


def completed_on(cloud: Cloud, task_definition: str, name: str = "app") -> dict[str, Any] | None:
    service = service_of(cloud, name)
    deployment = service["deployments"][0]
    done = deployment["rolloutState"] == "COMPLETED" and deployment["taskDefinition"] == task_definition
    return service if done and len(service["deployments"]) == 1 else None


def test_plain_moto_registers_any_instance_alike_and_places_a_task_it_has_no_room_for(plain: Cloud) -> None:
    ecs = plain.client("ecs")
    instance = launch_instances(plain, "t3.micro")[0]
    ecs.register_container_instance(
        cluster=plain.cluster, instanceIdentityDocument=json.dumps({"instanceId": instance})
    )
    registered = resources(container_instances(plain)[0], "registeredResources")
    assert registered == Resources(4096, 7482), "moto registers every type the same"
    placed = ecs.run_task(
        cluster=plain.cluster, taskDefinition=ec2_task_definition(plain, memory=2048), launchType="EC2"
    )
    assert len(placed["tasks"]) == 1 and placed["failures"] == [], "a t3.micro has 1 GiB; moto placed 2 GiB on it"


@pytest.mark.parametrize(
    ("instance_type", "agent_config", "expected"),
    [
        ("t3.micro", "", Resources(2048, 998)),
        ("m5.large", "", Resources(2048, 7985)),  # AWS's example: 8 GiB registers 7985 MiB
        ("m5.large", "echo ECS_RESERVED_MEMORY=256 >> /etc/ecs/ecs.config", Resources(2048, 7729)),
        ("t2.micro", "", Resources(1024, 998)),
        ("c5.2xlarge", "", Resources(8192, 15970)),
    ],
)
def test_a_container_instance_registers_its_instance_types_cpu_and_memory(
    local: Cloud, instance_type: str, agent_config: str, expected: Resources
) -> None:
    launch_instances(local, instance_type, agent_config=agent_config)
    (instance,) = container_instances(local)
    assert resources(instance, "registeredResources") == expected
    assert resources(instance, "remainingResources") == expected


@pytest.mark.parametrize(
    ("memory", "cpu", "lacking"), [(2048, 256, "memory"), (128, 4096, "CPU units")], ids=["memory", "cpu"]
)
def test_a_task_that_fits_on_no_instance_stays_unplaced_with_ecs_event(
    local: Cloud, memory: int, cpu: int, lacking: str
) -> None:
    launch_instances(local, "t3.micro")
    ec2_service(local, ec2_task_definition(local, memory=memory, cpu=cpu), desired=1)
    time.sleep(ROLLOUT * 3)
    (instance,) = container_instances(local)
    expected = (
        "(service app) was unable to place a task because no container instance met all of its requirements. The "
        f"closest matching (container-instance {instance['containerInstanceArn'].split('/')[-1]}) has insufficient "
        f"{lacking} available. {TROUBLESHOOTING}"
    )
    assert events(local) == [expected], "written once for the stall, not on every look"
    deployment = primary(local)
    assert (deployment["rolloutState"], deployment["runningCount"]) == ("IN_PROGRESS", 0)
    assert tasks(local, "RUNNING") == []
    assert resources(instance, "remainingResources") == resources(instance, "registeredResources")


def test_tasks_that_fit_spread_over_the_instances_and_free_their_reservations_when_stopped(local: Cloud) -> None:
    ecs = local.client("ecs")
    launch_instances(local, "t3.small", count=2)
    task_definition = ec2_task_definition(local, memory=512, cpu=256)
    ec2_service(local, task_definition, desired=2)
    wait_for(lambda: completed_on(local, task_definition))
    running = tasks(local, "RUNNING")
    assert len({t["containerInstanceArn"] for t in running}) == 2, "one task on each instance"
    for instance in container_instances(local):
        registered = resources(instance, "registeredResources")
        assert registered == Resources(2048, 1996)
        assert resources(instance, "remainingResources") == Resources(2048 - 256, 1996 - 512)
        assert instance["runningTasksCount"] == 1
    ecs.update_service(cluster=local.cluster, service="app", desiredCount=0)
    for instance in container_instances(local):
        assert resources(instance, "remainingResources") == Resources(2048, 1996)
        assert instance["runningTasksCount"] == 0


def started_batches(cloud: Cloud) -> list[str]:
    return [m for m in reversed(events(cloud)) if "has started" in m]


def test_a_rolling_update_with_one_spare_slot_completes_in_batches(local: Cloud) -> None:
    ecs = local.client("ecs")
    launch_instances(local, "t3.small")  # 1996 MiB: three tasks of 600 MiB
    old = ec2_task_definition(local, memory=600, tag="v1")
    ec2_service(local, old, desired=2)
    wait_for(lambda: completed_on(local, old))
    started = time.monotonic()
    new = ec2_task_definition(local, memory=600, tag="v2")
    ecs.update_service(cluster=local.cluster, service="app", taskDefinition=new)
    first = primary(local)
    assert (first["rolloutState"], first["runningCount"]) == ("IN_PROGRESS", 1), "room for one new task only"
    wait_for(lambda: completed_on(local, new))
    assert time.monotonic() - started >= 2 * ROLLOUT, "two batches, each healthy for the rollout time"
    assert [m.split(":")[0] for m in started_batches(local)] == [
        "(service app) has started 2 tasks",
        "(service app) has started 1 tasks",
        "(service app) has started 1 tasks",
    ]
    running = tasks(local, "RUNNING")
    assert {t["taskDefinitionArn"] for t in running} == {new} and len(running) == 2
    stopped = tasks(local, "STOPPED")
    assert {t["taskDefinitionArn"] for t in stopped} == {old} and len(stopped) == 2
    assert {t["stopCode"] for t in stopped} == {"ServiceSchedulerInitiated"}


def test_minimum_healthy_percent_lets_old_tasks_stop_first_when_there_is_no_spare_room(local: Cloud) -> None:
    ecs = local.client("ecs")
    launch_instances(local, "t3.small")
    old = ec2_task_definition(local, memory=900, tag="v1")  # two fit, a third does not
    ec2_service(local, old, desired=2, minimum=50)
    wait_for(lambda: completed_on(local, old))
    new = ec2_task_definition(local, memory=900, tag="v2")
    ecs.update_service(cluster=local.cluster, service="app", taskDefinition=new)
    assert len(tasks(local, "RUNNING")) == 2, "one old task stopped, one new started in its place"
    wait_for(lambda: completed_on(local, new))


def test_a_deployment_with_no_room_at_all_stays_in_progress(local: Cloud) -> None:
    ecs = local.client("ecs")
    launch_instances(local, "t3.small")
    old = ec2_task_definition(local, memory=900, tag="v1")
    ec2_service(local, old, desired=2)  # minimumHealthyPercent 100: no old task may stop first
    wait_for(lambda: completed_on(local, old))
    new = ec2_task_definition(local, memory=900, tag="v2")
    ecs.update_service(cluster=local.cluster, service="app", taskDefinition=new)
    time.sleep(ROLLOUT * 4)
    deployments = service_of(local)["deployments"]
    assert [(d["taskDefinition"], d["rolloutState"], d["runningCount"]) for d in deployments] == [
        (new, "IN_PROGRESS", 0),
        (old, "COMPLETED", 2),
    ]
    assert any("has insufficient memory available" in m for m in events(local))


# -- 1b. an awsvpc task takes one of its instance's network interfaces ------------------------------------------------
def awsvpc_ec2_task_definition(cloud: Cloud, family: str = "api", tag: str = "v1") -> str:
    container = {"name": "api", "image": f"public.ecr.aws/nginx/nginx:{tag}", "cpu": 256, "memory": 128}
    return cloud.client("ecs").register_task_definition(
        family=family, networkMode="awsvpc", containerDefinitions=[container]
    )["taskDefinition"]["taskDefinitionArn"]


def eni_stall(cloud: Cloud) -> str:
    (instance,) = container_instances(cloud)
    return (
        "(service app) was unable to place a task because no container instance met all of its requirements. The "
        f"closest matching (container-instance {instance['containerInstanceArn'].split('/')[-1]}) encountered error "
        f'"RESOURCE:ENI". {TROUBLESHOOTING}'
    )


def unable(cloud: Cloud, name: str = "app") -> list[str]:
    return [m for m in events(cloud, name) if "was unable to" in m]


def test_plain_moto_places_awsvpc_tasks_beyond_the_instances_network_interfaces(plain: Cloud) -> None:
    ecs = plain.client("ecs")
    net = network(plain, "nat")
    instance = launch_instances(plain, "t3.micro", subnet=net.subnet)[0]
    ecs.register_container_instance(
        cluster=plain.cluster, instanceIdentityDocument=json.dumps({"instanceId": instance})
    )
    placed = ecs.run_task(
        cluster=plain.cluster,
        taskDefinition=awsvpc_ec2_task_definition(plain),
        launchType="EC2",
        count=2,
        networkConfiguration=net.awsvpc(),
    )
    assert len(placed["tasks"]) == 2 and placed["failures"] == [], "a t3.micro has one ENI for tasks; moto placed two"


def test_a_t3_micro_holds_one_awsvpc_task_and_still_places_bridge_mode_tasks(local: Cloud) -> None:
    ecs = local.client("ecs")
    net = network(local, "nat")
    launch_instances(local, "t3.micro", subnet=net.subnet)  # two ENIs, one the instance's own
    ec2_service(local, awsvpc_ec2_task_definition(local), desired=2, net=net)
    wait_for(lambda: len(tasks(local, "RUNNING")) == 1)
    time.sleep(ROLLOUT * 3)
    assert unable(local) == [eni_stall(local)], "written once for the stall, not on every look"
    deployment = primary(local)
    assert (deployment["rolloutState"], deployment["runningCount"]) == ("IN_PROGRESS", 1)
    bridge = ec2_task_definition(local, memory=128, family="web")
    ec2_service(local, bridge, desired=2, name="web")
    wait_for(lambda: completed_on(local, bridge, "web"))  # bridge mode tasks take no ENI
    ecs.update_service(cluster=local.cluster, service="app", desiredCount=0)
    other = awsvpc_ec2_task_definition(local, family="other")
    ec2_service(local, other, desired=1, name="other", net=net)
    wait_for(lambda: completed_on(local, other, "other"))  # the stopped task freed its ENI
    assert unable(local, "other") == []


def test_a_rolling_update_on_one_awsvpc_slot_completes_when_old_tasks_may_stop_first(local: Cloud) -> None:
    ecs = local.client("ecs")
    net = network(local, "nat")
    launch_instances(local, "t3.micro", subnet=net.subnet)
    old = awsvpc_ec2_task_definition(local, tag="v1")
    ec2_service(local, old, desired=1, minimum=0, maximum=100, net=net)
    wait_for(lambda: completed_on(local, old))
    new = awsvpc_ec2_task_definition(local, tag="v2")
    ecs.update_service(cluster=local.cluster, service="app", taskDefinition=new)
    wait_for(lambda: completed_on(local, new))
    assert [t["taskDefinitionArn"] for t in tasks(local, "RUNNING")] == [new]
    stopped = tasks(local, "STOPPED")
    assert [(t["taskDefinitionArn"], t["stopCode"]) for t in stopped] == [(old, "ServiceSchedulerInitiated")]
    assert unable(local) == []


def test_a_rolling_update_on_one_awsvpc_slot_that_must_keep_the_old_task_stays_in_progress(local: Cloud) -> None:
    ecs = local.client("ecs")
    net = network(local, "nat")
    launch_instances(local, "t3.micro", subnet=net.subnet)
    old = awsvpc_ec2_task_definition(local, tag="v1")
    ec2_service(local, old, desired=1, minimum=100, maximum=200, net=net)
    wait_for(lambda: completed_on(local, old))
    new = awsvpc_ec2_task_definition(local, tag="v2")
    ecs.update_service(cluster=local.cluster, service="app", taskDefinition=new)
    time.sleep(ROLLOUT * 4)
    deployments = service_of(local)["deployments"]
    assert [(d["taskDefinition"], d["rolloutState"], d["runningCount"]) for d in deployments] == [
        (new, "IN_PROGRESS", 0),
        (old, "COMPLETED", 1),
    ]
    assert unable(local) == [eni_stall(local)], "maximumPercent 200 lets a task start: placement is what fails"


# -- 2. image pulls need a route ---------------------------------------------------------------------------------------
def test_plain_moto_runs_a_task_that_has_no_route_to_its_image(plain: Cloud) -> None:
    net = network(plain, "none")
    task = run_fargate(plain, net, fargate_task_definition(plain, "nginx:1.27"))
    assert task["lastStatus"] == "RUNNING" and not task.get("stoppedReason")


def pull_error(image: str, url: str) -> str:
    return (
        f'CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref "{image}": '
        f'failed to do request: Head "{url}": dial tcp '
    )


def test_a_task_without_a_route_to_its_image_fails_to_start_and_trips_the_circuit_breaker(local: Cloud) -> None:
    net = network(local, "igw")  # a route to the internet, but the task gets no public IP
    elbv2 = local.client("elbv2")
    group = elbv2.create_target_group(Name=local.cluster, Protocol="HTTP", Port=3000, VpcId=net.vpc, TargetType="ip")
    group_arn = group["TargetGroups"][0]["TargetGroupArn"]
    balancers = [{"targetGroupArn": group_arn, "containerName": "server", "containerPort": 3000}]
    fargate_service(local, net, fargate_task_definition(local, "nginx:1.27"), loadBalancers=balancers)
    failed = wait_for(lambda: primary(local)["rolloutState"] == "FAILED" and primary(local))
    assert failed["failedTasks"] >= 3
    assert failed["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    stopped = tasks(local, "STOPPED")
    assert stopped and {t["stopCode"] for t in stopped} == {"TaskFailedToStart"}
    expected = pull_error(
        "docker.io/library/nginx:1.27", "https://registry-1.docker.io/v2/library/nginx/manifests/1.27"
    )
    assert all(t["stoppedReason"].startswith(expected) for t in stopped), stopped[0]["stoppedReason"]
    assert stopped[0]["stoppedReason"].endswith(":443: i/o timeout")
    assert elbv2.describe_target_health(TargetGroupArn=group_arn)["TargetHealthDescriptions"] == []
    messages = events(local)
    assert any(
        m.startswith("(service app) (task ") and " failed to start: CannotPullContainerError" in m for m in messages
    )
    assert any("deployment failed: tasks failed to start." in m for m in messages)


def test_without_the_circuit_breaker_ecs_keeps_launching_replacements(local: Cloud) -> None:
    net = network(local, "none")
    fargate_service(local, net, fargate_task_definition(local, "nginx:1.27"), breaker=False)
    wait_for(lambda: primary(local)["failedTasks"] >= 4)
    assert primary(local)["rolloutState"] == "IN_PROGRESS"
    impaired = f"(service app) is unable to consistently start tasks successfully. {TROUBLESHOOTING}"
    assert events(local).count(impaired) == 1


def test_a_release_that_cannot_pull_rolls_back_to_the_one_that_could(local: Cloud) -> None:
    """A private subnet with ECR's endpoints pulls ECR images, and nothing from Docker Hub."""
    net = network(local, "none")
    ecr_endpoints(local, net)
    good = fargate_task_definition(local, ECR_IMAGE)
    fargate_service(local, net, good)
    wait_for(lambda: completed_on(local, good))
    bad = fargate_task_definition(local, "nginx:1.27")
    local.client("ecs").update_service(cluster=local.cluster, service="app", taskDefinition=bad)
    service = wait_for(lambda: completed_on(local, good))
    assert any("rolling back to deployment" in e["message"] for e in service["events"])
    assert {t["taskDefinitionArn"] for t in tasks(local, "RUNNING")} == {good}


@pytest.mark.parametrize(
    ("egress", "public_ip", "endpoints", "image"),
    [
        ("nat", False, False, "nginx:1.27"),
        ("igw", True, False, "nginx:1.27"),
        ("none", False, True, ECR_IMAGE),
    ],
    ids=["nat-gateway", "internet-gateway-and-public-ip", "ecr-endpoints"],
)
def test_a_task_with_a_route_to_its_image_runs(
    local: Cloud, egress: str, public_ip: bool, endpoints: bool, image: str
) -> None:
    net = network(local, egress)
    if endpoints:
        ecr_endpoints(local, net)
    task_definition = fargate_task_definition(local, image)
    fargate_service(local, net, task_definition, public_ip=public_ip)
    wait_for(lambda: completed_on(local, task_definition))
    assert primary(local)["failedTasks"] == 0
    assert tasks(local, "STOPPED") == []


def test_ecr_endpoints_without_the_s3_gateway_endpoint_do_not_pull(local: Cloud) -> None:
    net = network(local, "none")
    ec2 = local.client("ec2")
    for service in ("ecr.dkr", "ecr.api"):
        ec2.create_vpc_endpoint(
            VpcEndpointType="Interface", VpcId=net.vpc, ServiceName=f"com.amazonaws.{REGION}.{service}"
        )
    fargate_service(local, net, fargate_task_definition(local, ECR_IMAGE))
    stopped = wait_for(lambda: tasks(local, "STOPPED"))
    registry = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
    expected = pull_error(f"{registry}/movie-app-server:v1", f"https://{registry}/v2/movie-app-server/manifests/v1")
    assert stopped[0]["stoppedReason"].startswith(expected)


# -- 3. secrets need the execution role's leave ------------------------------------------------------------------------
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def execution_role(cloud: Cloud, inline: dict[str, Any] | None = None) -> str:
    iam, name = cloud.client("iam"), f"{cloud.cluster}-execution"
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]
    iam.attach_role_policy(RoleName=name, PolicyArn=EXECUTION_POLICY)
    if inline:
        iam.put_role_policy(RoleName=name, PolicyName="secrets", PolicyDocument=json.dumps(inline))
    return role["Arn"]


def database_secret(cloud: Cloud) -> str:
    secret = json.dumps({"username": "app", "password": "correct-horse"})
    return cloud.client("secretsmanager").create_secret(Name=f"{cloud.cluster}-db", SecretString=secret)["ARN"]


def with_secret(cloud: Cloud, role: str, value_from: str) -> str:
    secrets = [{"name": "DATABASE_PASSWORD", "valueFrom": value_from}]
    return fargate_task_definition(cloud, "nginx:1.27", executionRoleArn=role, container={"secrets": secrets})


def allow(action: str, resource: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]}


def test_plain_moto_runs_a_task_whose_role_may_not_read_its_secret(plain_with_aws_policies: Cloud) -> None:
    plain = plain_with_aws_policies
    task_definition = with_secret(plain, execution_role(plain), database_secret(plain))
    task = run_fargate(plain, network(plain, "nat"), task_definition)
    assert task["lastStatus"] == "RUNNING" and not task.get("stoppedReason")


def test_a_role_without_get_secret_value_on_the_secret_stops_the_task(local: Cloud) -> None:
    secret = database_secret(local)
    task_definition = with_secret(local, execution_role(local), f"{secret}:password::")
    fargate_service(local, network(local, "nat"), task_definition)
    failed = wait_for(lambda: primary(local)["rolloutState"] == "FAILED" and primary(local))
    assert failed["failedTasks"] >= 3
    task = tasks(local, "STOPPED")[0]
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"] == (
        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "
        "unable to retrieve secret from asm: service call has been retried 1 time(s): AccessDeniedException: User: "
        f"arn:aws:sts::{ACCOUNT}:assumed-role/{local.cluster}-execution/{task['taskArn'].split('/')[-1]} is not "
        "authorized to "
        f"perform: secretsmanager:GetSecretValue on resource: {secret} because no identity-based policy allows the "
        "secretsmanager:GetSecretValue action"
    )


def test_a_role_allowed_get_secret_value_on_the_secret_runs_the_task(local: Cloud) -> None:
    secret = database_secret(local)
    role = execution_role(local, allow("secretsmanager:GetSecretValue", secret))
    task_definition = with_secret(local, role, f"{secret}:password::")
    fargate_service(local, network(local, "nat"), task_definition)
    wait_for(lambda: completed_on(local, task_definition))
    assert tasks(local, "STOPPED") == []


@pytest.mark.parametrize(
    ("value_from", "egress", "error"),
    [
        (
            f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:app-missing-AbCdEf",
            "nat",
            "unable to retrieve secret from asm: service call has been retried 1 time(s): ResourceNotFoundException: "
            "Secrets Manager can't find the specified secret.",
        ),
        (
            "SECRET:nope::",
            "nat",
            "unable to retrieve secret from asm: retrieved secret from Secrets Manager did not contain json key nope",
        ),
        ("/app/missing", "nat", "unable to retrieve secrets from ssm: invalid parameters: /app/missing"),
        (
            "SECRET",
            "none",
            "unable to retrieve secret from asm: service call has been retried 5 time(s): RequestError: send request "
            f'failed caused by: Post "https://secretsmanager.{REGION}.amazonaws.com/": dial tcp ',
        ),
    ],
    ids=["no-such-secret", "no-such-json-key", "no-such-parameter", "no-route-to-secrets-manager"],
)
def test_a_secret_ecs_cannot_fetch_stops_the_task(local: Cloud, value_from: str, egress: str, error: str) -> None:
    secret = database_secret(local)
    statement = {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "ssm:GetParameters"], "Resource": "*"}
    role = execution_role(local, {"Version": "2012-10-17", "Statement": [statement]})
    fargate_service(
        local,
        network(local, egress),
        with_secret(local, role, value_from.replace("SECRET", secret)),
    )
    task = wait_for(lambda: tasks(local, "STOPPED"))[0]
    prefix = (
        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "
    )
    assert task["stoppedReason"].startswith(prefix + error), task["stoppedReason"]


# -- the pieces, without a cloud -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("statements", "action", "resource", "decision"),
    [
        (
            [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}],
            "secretsmanager:GetSecretValue",
            "arn:s",
            Decision.ALLOW,
        ),
        (
            [{"Effect": "Allow", "Action": "SecretsManager:Get*", "Resource": "arn:s*"}],
            "secretsmanager:GetSecretValue",
            "arn:s-1",
            Decision.ALLOW,
        ),
        (
            [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValu?", "Resource": "arn:S"}],
            "secretsmanager:GetSecretValue",
            "arn:s",
            Decision.IMPLICIT_DENY,
        ),
        ([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}], "ssm:GetParameters", "arn:p", Decision.ALLOW),
        (
            [{"Effect": "Allow", "Action": "*", "NotResource": "arn:p"}],
            "ssm:GetParameters",
            "arn:p",
            Decision.IMPLICIT_DENY,
        ),
        (
            [
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Effect": "Deny", "Action": "ssm:*", "Resource": "*"},
            ],
            "ssm:GetParameters",
            "arn:p",
            Decision.EXPLICIT_DENY,
        ),
        (
            [
                {
                    "Effect": "Allow",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"Bool": {"aws:SecureTransport": "true"}},
                }
            ],
            "ssm:GetParameters",
            "arn:p",
            Decision.IMPLICIT_DENY,
        ),
        (
            [{"Effect": "Allow", "Action": "ssm:[G]etParameters", "Resource": "*"}],
            "ssm:GetParameters",
            "arn:p",
            Decision.IMPLICIT_DENY,
        ),
    ],
    ids=[
        "wildcard",
        "case-of-actions",
        "case-of-resources",
        "not-action",
        "not-resource",
        "deny-wins",
        "condition",
        "no-brackets",
    ],
)
def test_iam_policy_evaluation(
    statements: list[dict[str, Any]], action: str, resource: str, decision: Decision
) -> None:
    assert evaluate([json.dumps({"Statement": statements})], action, resource) is decision


def test_a_task_reserves_its_task_level_size_else_its_containers_reservations() -> None:
    @dataclass
    class Definition:
        container_definitions: list[dict[str, Any]]
        cpu: str | None = None
        memory: str | None = None

    containers = [{"cpu": 128, "memory": 1024, "memoryReservation": 512}, {"cpu": 0, "memory": 256}]
    assert task_reservation(Definition(containers)) == Resources(128, 768)
    assert task_reservation(Definition(containers, "1 vCPU", "2 GB")) == Resources(1024, 2048)
    assert task_reservation(Definition(containers, "512", "1024")) == Resources(512, 1024)
    assert registered_resources("no-such.type", "") == Resources(0, 0)


@pytest.mark.parametrize(
    ("instance_type", "interfaces"),
    [
        ("t3.nano", 2),
        ("t3.micro", 2),
        ("t3.small", 3),
        ("t3.medium", 3),
        ("t3.large", 3),
        ("t3.xlarge", 4),
        ("t3.2xlarge", 4),
        ("t3a.micro", 2),
        ("t3a.small", 2),  # not 3 as for t3.small: AWS's table gives t3a.small two interfaces
        ("t3a.medium", 3),
        ("t2.micro", 2),
        ("t2.small", 3),
        ("t2.medium", 3),
        ("t2.large", 3),
        ("m4.large", 2),
        ("m5.large", 3),
        ("m5.xlarge", 4),
        ("m5.2xlarge", 4),
        ("m5.4xlarge", 8),
        ("c5.large", 3),
        ("c5.xlarge", 4),
        ("c5.2xlarge", 4),
    ],
)
def test_an_instance_holds_its_types_network_interfaces_less_one_awsvpc_tasks(
    instance_type: str, interfaces: int
) -> None:
    """moto's copy of DescribeInstanceTypes against EC2's table "Maximum IP addresses per network interface per instance
    type"."""
    assert max_network_interfaces(instance_type) == interfaces
    assert awsvpc_task_limit(instance_type) == interfaces - 1
    assert awsvpc_task_limit("no-such.type") is None


@pytest.mark.parametrize(
    ("image", "ref", "host"),
    [
        ("nginx", "docker.io/library/nginx:latest", "registry-1.docker.io"),
        ("grafana/grafana:11", "docker.io/grafana/grafana:11", "registry-1.docker.io"),
        ("localhost:5000/app@sha256:ab", "localhost:5000/app@sha256:ab", "localhost:5000"),
        (ECR_IMAGE, ECR_IMAGE, f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"),
    ],
)
def test_image_names_resolve_as_the_container_runtime_resolves_them(image: str, ref: str, host: str) -> None:
    parsed = ImageReference.parse(image)
    assert (parsed.ref, parsed.host) == (ref, host)
