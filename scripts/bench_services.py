"""Benchmark: a blue/green release (playbooks/deploy.yml) of an application of 1 and of 10 services, on the local cloud.

    .venv/bin/python scripts/bench_services.py [counts...]      (default: 1 10)

For each count it writes an inventory overlay (after inventories/stageflow.yml, as examples/three-services is given)
whose application has that many services behind the load balancer - one default, the others routed by path - and
provisions staging (blue_green) with it. It then releases v1 and v2 with deploy.yml and reports the wall time of the
second release (idle colours deployed, every rule shifted, the gates, the health check, the record) and its AWS API
calls by action, read from the local cloud's request recorder. A benchmark, not a test: it prints figures and asserts
nothing about speed.

10 services in two colours are 20 awsvpc tasks: more than any instance type Stageflow's capacity check knows holds
without ENI trunking (which neither it nor the local cloud models). So the benchmark skips that check
(validate_checks without capacity) and uses p4d.24xlarge, whose 60 network interfaces (moto's data) the local cloud
places them by, as ECS does.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from localcloud.client import LocalCloudClient, aws_env, push_image, spawn  # noqa: E402

REGION = "us-east-1"
ROLLOUT_SECONDS = "2"


def overlay(folder: Path, count: int) -> Path:
    """An inventory whose group_vars give the application `count` services, all behind the load balancer."""
    shutil.copy(ROOT / "examples/three-services/stageflow.yml", folder / "stageflow.yml")
    services = [
        {
            "name": "web" if index == 0 else f"s{index:02d}",
            "containers": [{"name": "web" if index == 0 else f"s{index:02d}", "port": "{{ app_port }}"}],
            "load_balancer": {"container": "web" if index == 0 else f"s{index:02d}", "port": "{{ app_port }}"}
            | ({"default": True} if index == 0 else {"paths": [f"/s{index:02d}/*"]}),
        }
        for index in range(count)
    ]
    (folder / "group_vars").mkdir()
    (folder / "group_vars/all.yml").write_text(
        yaml.safe_dump({"app_name": "bench", "application_services": services}, sort_keys=False)
    )
    staging = {
        "env_config": {
            "instance_type": "p4d.24xlarge",
            "min_size": 1,
            "max_size": 1,
            "desired_capacity": 1,
            "enable_monitoring": True,
            "backup_retention": 14,
            "domain_suffix": "staging",
        },
        "domain_name": "staging.bench.example",
    }
    (folder / "group_vars/staging.yml").write_text(yaml.safe_dump(staging, sort_keys=False))
    return folder / "stageflow.yml"


# The capacity check is left out (see above); the settings and names are still checked.
CHECKS = ("-e", json.dumps({"validate_checks": ["settings", "names"]}))


def run(env: dict, inventory: Path, playbook: str, *args: str) -> float:
    started = time.monotonic()
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "inventories/stageflow.yml"]
    proc = subprocess.run(
        [*command, "-i", str(inventory), f"playbooks/{playbook}.yml", *CHECKS, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{playbook} {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    return time.monotonic() - started


def main(argv: list[str]) -> int:
    counts = [int(a) for a in argv] or [1, 10]
    rows = []
    for count in counts:
        proc, url = spawn("--rollout-seconds", ROLLOUT_SECONDS, log_path=ROOT / ".bench-localcloud.log")
        try:
            with tempfile.TemporaryDirectory() as tmp:
                inventory = overlay(Path(tmp), count)
                extra = Path(tmp) / "localcloud.json"
                extra.write_text(
                    json.dumps(
                        {
                            "health_check_connect": url + "/_localcloud/lb/{host}{path}?port={port}",
                            "health_check": {"path": "/health", "retries": 3, "delay": 1, "expected_status": 200},
                            "bake_seconds": 1,
                            "release_poll_interval": 0.5,
                            "release_wait_timeout": 120,
                        }
                    )
                )
                env = aws_env(url, REGION, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
                provision = run(env, inventory, "provision", "-e", "env=staging")
                keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
                ecr = boto3.client("ecr", endpoint_url=url, region_name=REGION, **keys)
                names = ["web"] + [f"s{i:02d}" for i in range(1, count)]
                for version in ("v1", "v2"):
                    for name in names:
                        push_image(ecr, f"staging-bench-{name}-repo", version, f"{name} {version}")
                run(env, inventory, "deploy", "-e", f"@{extra}", "-e", "env=staging", "-e", "version=v1")
                control = LocalCloudClient(url)
                control.reset_recording()
                seconds = run(env, inventory, "deploy", "-e", f"@{extra}", "-e", "env=staging", "-e", "version=v2")
                calls = Counter(c.action for c in control.calls())
                rows.append((count, provision, seconds, calls))
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    print(f"\nrollout time per ECS deployment in the local cloud: {ROLLOUT_SECONDS}s; bake 1s; blue_green (staging)")
    print(f"{'services':>8} {'provision s':>11} {'release s':>9} {'calls':>6}  release's calls by action (top 8)")
    base = rows[0][2] if rows else 0
    for count, provision, seconds, calls in rows:
        top = ", ".join(f"{a} {n}" for a, n in calls.most_common(8))
        print(f"{count:>8} {provision:>11.1f} {seconds:>9.1f} {sum(calls.values()):>6}  {top}")
    if len(rows) > 1 and base:
        print(f"release wall time of {rows[-1][0]} services / {rows[0][0]}: {rows[-1][2] / base:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
