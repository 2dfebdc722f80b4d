"""`make demo`: start a local cloud, run Stageflow's story against it, stop the cloud.

Every step is a real playbook run against the local cloud; the demo exits 0 only when
every step succeeded and every expectation read back from the cloud held.
"""

from __future__ import annotations

import os
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


def playbook(env: dict[str, str], *args: str) -> None:
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), *args]
    print("$ " + " ".join(args), flush=True)
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)


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
    }
    env.pop("AWS_PROFILE", None)
    failures: list[str] = []
    try:
        step("Create a small ECS service, roll out a new task definition, wait for a steady state")
        playbook(env, "playbooks/demo_rollout.yml")
        ecs = boto3.client(
            "ecs", endpoint_url=url, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        service = ecs.describe_services(cluster="stageflow-demo-cluster", services=["stageflow-demo-service"])
        service = service["services"][0]
        primary = service["deployments"][0]
        checks = {
            "the service runs revision 2": service["taskDefinition"].endswith("stageflow-demo-task:2"),
            "one deployment, COMPLETED": len(service["deployments"]) == 1 and primary["rolloutState"] == "COMPLETED",
            "running = desired": primary["runningCount"] == primary["desiredCount"] == 2,
        }
        step("Expectations, read back from the cloud")
        for label, ok in checks.items():
            print(f"{'ok  ' if ok else 'FAIL'} {label}")
            if not ok:
                failures.append(label)
    except subprocess.CalledProcessError as exc:
        failures.append(f"{' '.join(exc.cmd[1:])} exited {exc.returncode}")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    step(f"Demo {'FAILED: ' + '; '.join(failures) if failures else 'passed'} in {time.monotonic() - started:.1f}s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
