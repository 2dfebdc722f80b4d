"""Benchmark: promote 1, 10 and 50 services with stageflow.aws.ecs_promote on the local cloud.

    .venv/bin/python scripts/bench_promote.py [counts...]      (default: 1 10 50)

For each count it builds a source and a target cluster of that many services (each its own task family, as
separate microservices are), pushes one release, then promotes it in one ecs_promote call (order=parallel) and
reports the wall time and the AWS API calls per service by action, read from the local cloud's request recorder.
A benchmark, not a test: it prints figures and asserts nothing about speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from localcloud.client import LocalCloudClient, push_image, spawn  # noqa: E402

REGION = "us-east-1"
ROLLOUT_SECONDS = "2"


def setup(url: str, count: int) -> tuple[list[str], list[str], str]:
    kwargs = {"endpoint_url": url, "region_name": REGION, "aws_access_key_id": "testing", "aws_secret_access_key": "t"}
    ecs, ecr, ec2 = boto3.client("ecs", **kwargs), boto3.client("ecr", **kwargs), boto3.client("ec2", **kwargs)
    vpc = ec2.create_vpc(CidrBlock="10.200.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.200.0.0/20")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="bench", Description="bench", VpcId=vpc)["GroupId"]
    repo = ecr.create_repository(repositoryName="bench-app")["repository"]["repositoryUri"]
    push_image(ecr, "bench-app", "v1", "bench v1")
    push_image(ecr, "bench-app", "v0", "bench v0")
    names = {"source": [], "target": []}
    for side, tag in (("source", "v1"), ("target", "v0")):
        ecs.create_cluster(clusterName=f"bench-{side}")
        for i in range(count):
            family = f"bench-{side}-svc{i:02d}"
            td = ecs.register_task_definition(
                family=family,
                networkMode="awsvpc",
                requiresCompatibilities=["FARGATE"],
                cpu="256",
                memory="512",
                containerDefinitions=[
                    {
                        "name": "server",
                        "image": f"{repo}:{tag}",
                        "essential": True,
                        "environment": [{"name": "SIDE", "value": side}],
                    }
                ],
            )["taskDefinition"]["taskDefinitionArn"]
            ecs.create_service(
                cluster=f"bench-{side}",
                serviceName=family,
                taskDefinition=td,
                desiredCount=2,
                launchType="FARGATE",
                networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}},
                deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
            )
            names[side].append(family)
    return names["source"], names["target"], repo


def main(argv: list[str]) -> int:
    counts = [int(a) for a in argv] or [1, 10, 50]
    rows = []
    for count in counts:
        proc, url = spawn("--rollout-seconds", ROLLOUT_SECONDS, log_path=ROOT / ".bench-localcloud.log")
        try:
            sources, targets, _repo = setup(url, count)
            control = LocalCloudClient(url)
            time.sleep(float(ROLLOUT_SECONDS) + 1)  # let the first deployments settle
            control.reset_recording()
            args = {
                "source_cluster": "bench-source",
                "source_services": sources,
                "cluster": "bench-target",
                "services": targets,
                "order": "parallel",
                "poll_interval": 1,
                "wait_timeout": 600,
            }
            env = {
                **os.environ,
                "AWS_ENDPOINT_URL": url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": REGION,
                "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            }
            started = time.monotonic()
            run = subprocess.run(
                [
                    str(Path(sys.executable).parent / "ansible"),
                    "localhost",
                    "-m",
                    "stageflow.aws.ecs_promote",
                    "-a",
                    json.dumps(args),
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            seconds = time.monotonic() - started
            if run.returncode != 0:
                print(run.stdout[-3000:], run.stderr[-2000:])
                return 1
            calls = Counter(c.action for c in control.calls())
            rows.append((count, seconds, calls))
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    print(f"\nrollout time per deployment in the local cloud: {ROLLOUT_SECONDS}s; poll interval 1s")
    print(f"{'services':>8} {'wall s':>8} {'calls':>6} {'calls/svc':>9}  calls per service by action")
    for count, seconds, calls in rows:
        per = ", ".join(f"{a} {n / count:.2f}" for a, n in sorted(calls.items(), key=lambda kv: -kv[1]))
        total = sum(calls.values())
        print(f"{count:>8} {seconds:>8.1f} {total:>6} {total / count:>9.2f}  {per}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
