"""`make demo`: start a local cloud, run Stageflow's story against it, stop the cloud.

Every step is a real playbook run against the local cloud; the demo exits 0 only when
every step succeeded and every expectation read back from the cloud held.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from localcloud.client import spawn  # noqa: E402

REGION = "us-east-1"


def step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def playbook(env: dict[str, str], *args: str) -> str:
    """Run a playbook, showing its output as it goes; return the output."""
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), *args]
    print("$ ansible-playbook " + " ".join(args), flush=True)
    lines = []
    with subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            lines.append(line)
            print(line, end="", flush=True)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return "".join(lines)


def main() -> int:
    started = time.monotonic()
    step("Start the local cloud")
    proc, url = spawn("--rollout-seconds", "2", log_path=ROOT / ".demo-localcloud.log")
    print(f"local cloud at {url}")
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        # Show what changes and what fails; the many unchanged tasks would bury the story.
        "ANSIBLE_DISPLAY_OK_HOSTS": "false",
        "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "false",
    }
    env.pop("AWS_PROFILE", None)
    failures: list[str] = []

    def expect(label: str, ok: bool) -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {label}")
        if not ok:
            failures.append(label)

    def aws(service: str):
        return boto3.client(
            service, endpoint_url=url, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
        )

    try:
        step("Validate the environments and print the comparison matrix (no AWS call)")
        playbook(env, "playbooks/report.yml")

        step("Provision dev, staging and prod: every tier, in parallel")
        playbook(env, "playbooks/provision.yml", "-e", "env=dev,staging,prod")
        step("Provision again: nothing changes")
        rerun = playbook(env, "playbooks/provision.yml", "-e", "env=dev,staging,prod")
        step("Look for drift between the inventory and AWS")
        playbook(env, "playbooks/drift.yml")

        step("Roll a new task definition out on an ECS service and wait for a steady state")
        playbook(env, "playbooks/demo_rollout.yml")

        step("Expectations, read back from the cloud")
        expect(
            "the second provisioning run changed nothing", all(int(n) == 0 for n in re.findall(r"changed=(\d+)", rerun))
        )
        ecs = aws("ecs")
        for name, services in {
            "dev": ["dev-movie-app-service"],
            "staging": ["staging-movie-app-service-blue", "staging-movie-app-service-green"],
            "prod": ["prod-movie-app-service-blue", "prod-movie-app-service-green"],
        }.items():
            found = ecs.describe_services(cluster=f"{name}-movie-app-cluster", services=services)["services"]
            expect(
                f"{name}: {len(services)} service(s) ACTIVE with the circuit breaker on",
                len(found) == len(services)
                and all(
                    s["status"] == "ACTIVE" and s["deploymentConfiguration"]["deploymentCircuitBreaker"]["rollback"]
                    for s in found
                ),
            )
        vpcs = {v["CidrBlock"] for v in aws("ec2").describe_vpcs()["Vpcs"]}
        expect("VPCs 10.0/10.1/10.2 exist", {"10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/16"} <= vpcs)
        prod_db = aws("rds").describe_db_instances(DBInstanceIdentifier="prod-movie-app-db")["DBInstances"][0]
        expect(
            "prod's database is multi-AZ and protected from deletion",
            prod_db["MultiAZ"] and prod_db["DeletionProtection"],
        )
        service = ecs.describe_services(cluster="stageflow-demo-cluster", services=["stageflow-demo-service"])
        service = service["services"][0]
        primary = service["deployments"][0]
        expect("the demo service runs revision 2", service["taskDefinition"].endswith("stageflow-demo-task:2"))
        expect(
            "one deployment, COMPLETED, running = desired",
            len(service["deployments"]) == 1
            and primary["rolloutState"] == "COMPLETED"
            and primary["runningCount"] == primary["desiredCount"] == 2,
        )
    except subprocess.CalledProcessError as exc:
        failures.append(f"{' '.join(exc.cmd[1:])} exited {exc.returncode}")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    step(f"Demo {'FAILED: ' + '; '.join(failures) if failures else 'passed'} in {time.monotonic() - started:.1f}s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
