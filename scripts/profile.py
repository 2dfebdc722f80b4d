"""Profile: where a provision, a deploy and a promotion spend their time on the local cloud.

    .venv/bin/python scripts/profile.py [--compare REF] [--mitogen] [--top N] [--json FILE]

On a local cloud of its own whose ECS rollouts complete at once (--rollout-seconds 0), with bakes of 0 s, it runs
the jobs below and reports, per job and per task, the wall time, the AWS calls the cloud answered and their time, and
the rest: Ansible's own overhead (starting a worker and a Python process per task, templating, module imports).
Waits and bakes are set to zero, so what remains beyond the AWS calls is overhead.

    provision dev (new)        provision.yml -e env=dev, from nothing
    provision dev (unchanged)  the same again: reads everything, changes nothing
    deploy dev                 deploy.yml -e env=dev -e version=v1
    promote dev -> staging     promote.yml -e source=dev (staging provisioned beforehand, not measured)

--compare REF runs the same jobs with the collection at a git ref too (a copy of it, with this tree's local cloud),
side by side in one run, and prints both. --mitogen runs them under the Mitogen strategy (pip install mitogen).
A benchmark, not a test: it prints figures and asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from localcloud.client import LocalCloudClient, push_image, spawn  # noqa: E402

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
# (label, playbook and its arguments, measured)
JOBS = [
    ("provision dev (new)", ["playbooks/provision.yml", "-e", "env=dev"], True),
    ("provision dev (unchanged)", ["playbooks/provision.yml", "-e", "env=dev"], True),
    ("provision staging", ["playbooks/provision.yml", "-e", "env=staging"], False),
    ("deploy dev", ["playbooks/deploy.yml", "-e", "env=dev", "-e", "version=v1", "-e", "@{vars}"], True),
    ("promote dev -> staging", ["playbooks/promote.yml", "-e", "source=dev", "-e", "@{vars}"], True),
]


def checkout(ref: str, into: Path) -> Path:
    """The collection as it was at `ref`, with the layout a checkout has (.collections link)."""
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    link = into / ".collections" / "ansible_collections" / "stageflow" / "aws"
    link.parent.mkdir(parents=True)
    link.symlink_to("../../..")
    return into


def mitogen_strategy_dir() -> str:
    try:
        import ansible_mitogen
    except ImportError:
        sys.exit("--mitogen needs the mitogen package: .venv/bin/pip install mitogen")
    return str(Path(ansible_mitogen.__file__).parent / "plugins" / "strategy")


def run_jobs(tree: Path, label: str, mitogen: bool) -> list[dict]:
    """Every job against a fresh local cloud; per job: wall time, tasks, and the AWS calls made meanwhile."""
    proc, url = spawn("--rollout-seconds", "0", log_path=Path(tempfile.gettempdir()) / "stageflow-profile-cloud.log")
    work = Path(tempfile.mkdtemp(prefix="stageflow-profile-"))
    try:
        control = LocalCloudClient(url)
        ecr = boto3.client(
            "ecr",
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        release_vars = work / "release.json"
        release_vars.write_text(
            json.dumps(
                {
                    "health_check_connect": url + "/_localcloud/lb/{host}{path}?port={port}",
                    "health_check": {"path": "/health", "retries": 3, "delay": 1, "expected_status": 200},
                    "bake_seconds": 0,
                    "release_poll_interval": 0.2,
                    "release_wait_timeout": 60,
                }
            )
        )
        env = {
            **os.environ,
            **CREDENTIALS,
            "AWS_ENDPOINT_URL": url,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "ANSIBLE_CONFIG": str(tree / "ansible.cfg"),
            "ANSIBLE_CALLBACK_PLUGINS": str(ROOT / "scripts" / "profiling"),
            "ANSIBLE_CALLBACKS_ENABLED": "stageflow_task_timer",
        }
        if mitogen:
            env.update(ANSIBLE_STRATEGY_PLUGINS=mitogen_strategy_dir(), ANSIBLE_STRATEGY="mitogen_linear")
        rows = []
        for name, args, measured in JOBS:
            if name.startswith("deploy"):
                for container in ("client", "server"):
                    push_image(ecr, f"dev-movie-app-{container}-repo", "v1", f"{container} v1")
            times = work / f"{name.replace(' ', '_').replace('>', '')}.jsonl"
            control.timings(clear=True)
            started = time.time()
            cmd = [str(Path(sys.executable).parent / "ansible-playbook"), *(a.format(vars=release_vars) for a in args)]
            run = subprocess.run(
                cmd,
                cwd=tree,
                env={**env, "STAGEFLOW_TASK_TIMES": str(times)},
                capture_output=True,
                text=True,
                check=False,
            )
            wall = time.time() - started
            if run.returncode != 0:
                print(run.stdout[-4000:], run.stderr[-2000:], file=sys.stderr)
                sys.exit(f"{label}: {name} failed ({run.returncode})")
            if not measured:
                continue
            calls = control.timings()
            tasks = [json.loads(line) for line in times.read_text().splitlines()]
            for task in tasks:
                inside = [c for c in calls if task["start"] <= c[0] < task["end"]]
                task["calls"], task["aws"] = len(inside), sum(c[1] for c in inside)
            aws = sum(c[1] for c in calls)
            rows.append(
                {
                    "tree": label,
                    "job": name,
                    "wall": wall,
                    "tasks": len(tasks),
                    "calls": len(calls),
                    "aws": aws,
                    "overhead": wall - aws,
                    "task_times": tasks,
                }
            )
        return rows
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


def report(rows: list[dict], top: int) -> None:
    columns = ("wall s", "tasks", "calls", "AWS s", "other s", "s/task")
    print(f"\n{'tree':<14} {'job':<26} " + " ".join(f"{c:>7}" for c in columns))
    for r in rows:
        per = r["overhead"] / r["tasks"] if r["tasks"] else 0
        print(
            f"{r['tree']:<14} {r['job']:<26} {r['wall']:>7.1f} {r['tasks']:>7} {r['calls']:>7} "
            f"{r['aws']:>7.1f} {r['overhead']:>7.1f} {per:>7.2f}"
        )
    for tree in dict.fromkeys(r["tree"] for r in rows):
        slow: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0, 0.0, 0])
        for r in rows:
            if r["tree"] != tree:
                continue
            for t in r["task_times"]:
                entry = slow[r["job"], t["name"]]
                entry[0] += t["end"] - t["start"]
                entry[1] += t["calls"]
                entry[2] += t["aws"]
                entry[3] += 1
        print(f"\n{tree}: the {top} slowest tasks (wall s, runs, AWS calls, AWS s)")
        for (job, task), (wall, calls, aws, runs) in sorted(slow.items(), key=lambda kv: -kv[1][0])[:top]:
            print(f"  {wall:6.1f} {runs:>3}x {calls:>5} {aws:6.2f}  {job}: {task}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--compare", metavar="REF", help="also profile the collection at this git ref")
    parser.add_argument("--mitogen", action="store_true", help="run under the Mitogen strategy")
    parser.add_argument("--top", type=int, default=15, help="how many of the slowest tasks to list (default 15)")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="stageflow-profile-ref-") as tmp:
        if args.compare:
            rows += run_jobs(checkout(args.compare, Path(tmp) / "tree"), args.compare[:14], args.mitogen)
        rows += run_jobs(ROOT, "mitogen" if args.mitogen else "this tree", args.mitogen)
    report(rows, args.top)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
