"""Provisioning, drift and feature environments, run as playbooks and read back with boto3."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, Cloud

pytestmark = pytest.mark.slow


def changed(proc: subprocess.CompletedProcess) -> dict[str, int]:
    return changed_on(proc.stdout)


def changed_on(output: str) -> dict[str, int]:
    """changed= per host from the PLAY RECAP of a run's output (AWX's is coloured: the colours are left out)."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", plain, re.M)}


def changed_tasks(output: str) -> set[str]:
    """The names of the tasks that reported a change in a run's output."""
    found, task = set(), ""
    for line in re.sub(r"\x1b\[[0-9;]*m", "", output).splitlines():
        header = re.match(r"^(?:TASK|RUNNING HANDLER) \[(.*)\] \**$", line)
        if header:
            task = header.group(1)
        elif line.startswith("changed: "):
            found.add(task)
    return found


def must(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc


def tagged(cloud: Cloud, environment: str) -> list[str]:
    """ARNs still tagged with the environment, leaving out what AWS keeps visible for a while after deletion:
    terminated instances, INACTIVE services and deleted NAT gateways."""
    tagging, ec2, ecs = cloud.client("resourcegroupstaggingapi"), cloud.client("ec2"), cloud.client("ecs")
    arns = [
        r["ResourceARN"]
        for r in tagging.get_resources(TagFilters=[{"Key": "Environment", "Values": [environment]}])[
            "ResourceTagMappingList"
        ]
    ]
    left = []
    for arn in arns:
        if ":instance/" in arn:
            state = ec2.describe_instances(InstanceIds=[arn.rsplit("/", 1)[1]])["Reservations"][0]["Instances"][0]
            if state["State"]["Name"] in ("terminated", "shutting-down"):
                continue
        if ":ecs:" in arn and ":service/" in arn:
            cluster, service = arn.split(":service/", 1)[1].split("/")
            found = ecs.describe_services(cluster=cluster, services=[service])["services"]
            if not found or found[0]["status"] == "INACTIVE":
                continue
        if ":natgateway/" in arn:
            found = ec2.describe_nat_gateways(NatGatewayIds=[arn.rsplit("/", 1)[1]])["NatGateways"]
            if not found or found[0]["State"] == "deleted":
                continue
        left.append(arn)
    return left


DEV = "provisioned-dev"  # the snapshot of dev as a completed provisioning left it


def provision_dev(cloud: Cloud) -> subprocess.CompletedProcess:
    return must(cloud.playbook("playbooks/provision.yml", "-e", "env=dev"))


@pytest.fixture
def dev(cloud: Cloud) -> Cloud:
    """dev provisioned: restored from the snapshot the killed-run test saved, or provisioned here when run alone."""
    return cloud.provisioned(DEV, lambda: provision_dev(cloud))


def test_a_check_mode_plan_of_a_new_environment_makes_no_mutating_call(cloud: Cloud) -> None:
    control = cloud.faults()
    control.reset_recording()
    plan = must(cloud.playbook("playbooks/provision.yml", "-e", "env=dev", "--check", "--diff"))
    assert control.mutating_calls() == [], "a check-mode plan makes no mutating call"
    assert "Create the VPC" in plan.stdout


def test_a_killed_run_is_completed_by_a_rerun(cloud: Cloud) -> None:
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "playbooks/provision.yml", "-e", "env=dev"]
    env = {**cloud.env, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 120
    for line in proc.stdout:  # kill it once the load balancer tier has started
        if "stageflow.aws.load_balancer" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert cloud.client("ecs").list_clusters()["clusterArns"] == [], "killed before the container platform"

    first = provision_dev(cloud)
    assert changed(first)["dev-env"] > 10
    service = cloud.client("ecs").describe_services(
        cluster="dev-movie-app-cluster", services=["dev-movie-app-service"]
    )["services"][0]
    assert service["status"] == "ACTIVE"
    # That a rerun of a complete environment changes nothing is checked below: in check mode by the plan, and for real
    # by the drift test's rerun, which changes only what drifted.
    if cloud.control:
        cloud.control.save_snapshot(DEV)  # the environment a complete provisioning leaves, for the tests below


def test_a_provisioned_environment_plans_no_change_and_matches_its_settings(dev: Cloud) -> None:
    cloud, control = dev, dev.faults()
    control.reset_recording()
    again = must(cloud.playbook("playbooks/provision.yml", "-e", "env=dev", "--check", "--diff"))
    assert changed(again)["dev-env"] == 0 and control.mutating_calls() == []

    ec2, elbv2, ecs = cloud.client("ec2"), cloud.client("elbv2"), cloud.client("ecs")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["dev-movie-app-vpc"]}])["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    assert {t["Key"]: t["Value"] for t in vpc["Tags"]}.items() >= {
        "Environment": "dev",
        "Application": "movie-app",
        "ManagedBy": "stageflow",
    }.items()
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    assert sorted(s["CidrBlock"] for s in subnets) == ["10.0.0.0/20", "10.0.128.0/20", "10.0.144.0/20", "10.0.16.0/20"]
    groups = {
        g["GroupName"]: g
        for g in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["SecurityGroups"]
    }
    app_rule = groups["dev-movie-app-vpc-app"]["IpPermissions"][0]
    assert app_rule["FromPort"] == 3000 and app_rule["IpRanges"] == []
    assert app_rule["UserIdGroupPairs"][0]["GroupId"] == groups["dev-movie-app-vpc-alb"]["GroupId"]

    blue = elbv2.describe_target_groups(Names=["dev-app-blue"])["TargetGroups"][0]
    assert (
        blue["HealthCheckPath"],
        blue["HealthCheckIntervalSeconds"],
        blue["HealthCheckTimeoutSeconds"],
        blue["HealthyThresholdCount"],
        blue["UnhealthyThresholdCount"],
        blue["Matcher"]["HttpCode"],
    ) == ("/health", 30, 5, 2, 2, "200")
    service = ecs.describe_services(cluster="dev-movie-app-cluster", services=["dev-movie-app-service"])["services"][0]
    assert service["desiredCount"] == 1
    assert service["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    (database,) = cloud.client("docdb").describe_db_instances(
        Filters=[{"Name": "db-cluster-id", "Values": ["dev-movie-app-db"]}]
    )["DBInstances"]
    assert (database["Engine"], database["DBInstanceClass"]) == ("docdb", "db.t3.medium")


def test_drift_is_reported_and_a_rerun_converges_keeping_the_weights(dev: Cloud, tmp_path: Path) -> None:
    cloud = dev
    elbv2, ecs = cloud.client("elbv2"), cloud.client("ecs")
    blue = elbv2.describe_target_groups(Names=["dev-app-blue"])["TargetGroups"][0]
    # Weights belong to deployments: a re-run keeps what a deployment shifted.
    alb = elbv2.describe_load_balancers(Names=["dev-movie-app-alb"])["LoadBalancers"][0]
    listener = elbv2.describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"][0]
    rule = next(r for r in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"] if r["Priority"] == "100")
    green = elbv2.describe_target_groups(Names=["dev-app-green"])["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_rule(
        RuleArn=rule["RuleArn"],
        Actions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": blue["TargetGroupArn"], "Weight": 50},
                        {"TargetGroupArn": green, "Weight": 50},
                    ]
                },
            }
        ],
    )

    # Drift: a desired count and a health-check path changed by hand.
    ecs.update_service(cluster="dev-movie-app-cluster", service="dev-movie-app-service", desiredCount=2)
    elbv2.modify_target_group(TargetGroupArn=blue["TargetGroupArn"], HealthCheckPath="/healthz")
    drift = cloud.playbook("playbooks/drift.yml", "-e", "env=dev", "-e", f"drift_report_dir={tmp_path}")
    assert drift.returncode != 0
    report = json.loads((tmp_path / "drift.json").read_text())["drift"]
    assert {(d["resource"], d["setting"], d["live"], d["expected"]) for d in report} == {
        ("service dev-movie-app-service", "env_config.desired_capacity", 2, 1),
        ("target group dev-app-blue", "target_group_health_check.path", "/healthz", "/health"),
    }
    shown = drift.stdout.replace("\n        ", " ").replace("''", "'")
    assert "dev: target group dev-app-blue: target_group_health_check.path is '/healthz' live" in shown

    rerun = provision_dev(cloud)
    # The rerun puts back what drifted and changes nothing else (a real run of a complete environment, not a plan).
    assert changed_tasks(rerun.stdout) == {
        "stageflow.aws.container_platform : Create the services, with the circuit breaker and rollback on, and the "
        "deployment percents of the strategy",
        "stageflow.aws.load_balancer : Create each load-balanced service's blue and green target groups with the "
        "seed's health check",
    }, rerun.stdout[-3000:]
    clean = must(cloud.playbook("playbooks/drift.yml", "-e", "env=dev", "-e", f"drift_report_dir={tmp_path}"))
    assert "No drift in dev." in clean.stdout
    weights = {
        tg["TargetGroupArn"]: tg["Weight"]
        for tg in elbv2.describe_rules(RuleArns=[rule["RuleArn"]])["Rules"][0]["Actions"][0]["ForwardConfig"][
            "TargetGroups"
        ]
    }
    assert weights == {blue["TargetGroupArn"]: 50, green: 50}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "staging is a permanent environment"),
        (["-e", "confirm_destroy=dev"], "confirm_destroy names dev, which this run does not tear down (staging)"),
        (["-e", "env=prod", "-e", "confirm_destroy=prod"], "prod has deletion protection on"),
        (["-e", "provision_state=bogus"], "provision_state is 'bogus': present (build, the default) or absent"),
    ],
)
def test_a_permanent_environment_is_torn_down_only_when_named_twice(cloud: Cloud, extra: list[str], message: str):
    control = cloud.faults()
    control.timings(clear=True)
    proc = cloud.playbook("playbooks/provision.yml", "-e", "env=staging", "-e", "provision_state=absent", *extra)
    assert proc.returncode != 0 and message in " ".join(proc.stdout.split()), proc.stdout[-3000:]
    assert control.timings() == [], "refused before any AWS call"


@pytest.mark.parametrize(
    ("playbook", "extra", "message"),
    [
        ("playbooks/env_destroy.yml", "env_name=prod", "env_destroy.yml refuses prod"),
        ("playbooks/env_destroy.yml", "env_name=staging", "env_destroy.yml refuses staging"),
        ("playbooks/env_create.yml", "env_name=dev", "is not allowed"),
        ("playbooks/env_create.yml", "env_name=feature;rm", "is not allowed"),
        ("playbooks/provision.yml", "env=qa", "environment 'qa' does not exist"),
    ],
)
def test_lifecycle_bad_input_is_refused_before_any_aws_call(cloud: Cloud, playbook, extra, message) -> None:
    control = cloud.faults()
    control.reset_recording()
    proc = cloud.playbook(playbook, "-e", extra)
    assert proc.returncode != 0
    assert message in proc.stdout.replace("\n        ", " "), proc.stdout[-2000:]
    assert control.calls() == []
