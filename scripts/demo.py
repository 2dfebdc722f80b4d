"""`make demo`: start a local cloud, run Stageflow's story against it, stop the cloud.

Every step is a real playbook run against the local cloud; the demo exits 0 only when
every step succeeded and every expectation read back from the cloud held.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from localcloud.client import LocalCloudClient, kill_run, push_image, spawn  # noqa: E402
from localcloud.webhook import WebhookReceiver  # noqa: E402

REGION = "us-east-1"
CONTAINERS = ("client", "server")


def read_databases(identity: dict[str, str]) -> dict[str, Any]:
    """Each environment's database as AWS answers it, and a line per database to show."""
    session = boto3.Session(
        aws_access_key_id=identity["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=identity["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=identity.get("AWS_SESSION_TOKEN"),
        region_name="us-east-1",
    )
    docdb, elastic = (session.client(s, endpoint_url=identity["AWS_ENDPOINT_URL"]) for s in ("docdb", "docdb-elastic"))
    found: dict[str, Any] = {"lines": []}
    for env in ("dev", "staging"):
        cluster = docdb.describe_db_clusters(DBClusterIdentifier=f"{env}-movie-app-db")["DBClusters"][0]
        instances = docdb.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": [f"{env}-movie-app-db"]}])
        zones = sorted({i["AvailabilityZone"] for i in instances["DBInstances"]})
        found[env], found[f"{env} zones"] = cluster, zones
        classes = ", ".join(sorted({i["DBInstanceClass"] for i in instances["DBInstances"]}))
        found["lines"].append(
            f"{env:8} DocumentDB {cluster['EngineVersion']} cluster {cluster['DBClusterIdentifier']}: "
            f"{len(cluster['DBClusterMembers'])}x {classes} in {', '.join(zones)}, {cluster['Status']}, "
            f"backups {cluster['BackupRetentionPeriod']} day(s), deletion protection {cluster['DeletionProtection']}"
        )
    (listed,) = [c for c in elastic.list_clusters()["clusters"] if c["clusterName"] == "prod-movie-app-db"]
    prod = elastic.get_cluster(clusterArn=listed["clusterArn"])["cluster"]
    found["prod"], found["prod tags"] = prod, elastic.list_tags_for_resource(resourceArn=prod["clusterArn"])["tags"]
    found["lines"].append(
        f"prod     DocumentDB elastic cluster {prod['clusterName']}: {prod['shardCount']} shards x "
        f"{prod['shardCapacity']} vCPUs x {prod['shardInstanceCount']} instances, {prod['status']}, backups "
        f"{prod['backupRetentionPeriod']} day(s), DeletionProtection tag {found['prod tags'].get('DeletionProtection')}"
    )
    return found


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


def prod_rule(elbv2) -> str:
    """The weighted rule of prod's HTTPS listener."""
    lb = elbv2.describe_load_balancers(Names=["prod-movie-app-alb"])["LoadBalancers"][0]
    for listener in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
        for rule in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]:
            if rule["Priority"] == "100":
                return rule["RuleArn"]
    raise RuntimeError("prod has no weighted rule")


def weights(elbv2, rule: str) -> dict[str, int]:
    """Target group name -> weight."""
    action = elbv2.describe_rules(RuleArns=[rule])["Rules"][0]["Actions"][0]
    return {g["TargetGroupArn"].split("/")[1]: g["Weight"] for g in action["ForwardConfig"]["TargetGroups"]}


def release_settings(url: str, bake_seconds: float, poll_interval: float) -> dict:
    """Release settings for the local cloud: health checks through its resolver, short bakes and waits."""
    return {
        "health_check_connect": url + "/_localcloud/lb/{host}{path}?port={port}",
        "health_check": {"path": "/health", "retries": 5, "delay": 1, "expected_status": 200},
        "bake_seconds": bake_seconds,
        "release_poll_interval": poll_interval,
        "release_wait_timeout": 120,
    }


def identity(url: str, scope: str) -> dict[str, str]:
    """The environment of a run as Stageflow's `scope` identity (playbooks/access.yml made it): its role, assumed."""
    sts = boto3.client(
        "sts", endpoint_url=url, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::123456789012:role/stageflow-{scope}", RoleSessionName="demo")
    keys = creds["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": keys["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": keys["SecretAccessKey"],
        "AWS_SESSION_TOKEN": keys["SessionToken"],
    }


def main() -> int:
    started = time.monotonic()
    began = time.time() - 1
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
        # Waits are seconds here: show a progress line every 2 s of them (10 s by default).
        "STAGEFLOW_PROGRESS_SECONDS": "2",
    }
    # The team's chat, as a webhook receiver on 127.0.0.1: every release event is posted to it.
    hook = WebhookReceiver().start()
    env.pop("AWS_PROFILE", None)
    failures: list[str] = []
    digests: dict[str, dict[str, str]] = {}

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

        step("As the account's administrator: create Stageflow's least-privilege identities (docs/security.md)")
        trusted = {s: ["arn:aws:iam::123456789012:root"] for s in ("nonprod", "prod", "readonly")}
        playbook(env, "playbooks/access.yml", "-e", json.dumps({"access_trusted_principals": trusted}))
        # From here on every run acts as one of them: the local cloud checks each call against its policies.
        nonprod = {**env, **identity(url, "nonprod")}
        prod = {**env, **identity(url, "prod")}
        readonly = {**env, **identity(url, "readonly")}

        step("Provision dev and staging as the non-prod deployer, prod as the prod deployer, at the same time")
        provisions = [
            subprocess.Popen(
                [str(Path(sys.executable).parent / "ansible-playbook"), "playbooks/provision.yml", "-e", f"env={envs}"],
                cwd=ROOT,
                env=identity_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for envs, identity_env in (("dev,staging", nonprod), ("prod", prod))
        ]
        for run in provisions:
            print(run.communicate()[0][-3000:], end="", flush=True)
            if run.returncode != 0:
                raise subprocess.CalledProcessError(run.returncode, run.args)
        step("Provision again: nothing changes")
        rerun = playbook(nonprod, "playbooks/provision.yml", "-e", "env=dev,staging")
        rerun += playbook(prod, "playbooks/provision.yml", "-e", "env=prod")
        step("Look for drift between the inventory and AWS, as the read-only identity")
        playbook(readonly, "playbooks/drift.yml")
        step("The MongoDB-compatible databases of the three topologies, read back as the read-only identity")
        databases = read_databases(readonly)
        for line in databases["lines"]:
            print("  " + line)
        step("What runs where before any release, read live as the read-only identity")
        playbook({**readonly, "ANSIBLE_DISPLAY_OK_HOSTS": "true"}, "playbooks/status.yml")
        step("The non-prod deployer may not touch prod: AWS refuses")
        try:
            boto3.client(
                "ecs",
                endpoint_url=url,
                region_name=REGION,
                aws_access_key_id=nonprod["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=nonprod["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=nonprod["AWS_SESSION_TOKEN"],
            ).update_service(cluster="prod-movie-app-cluster", service="prod-movie-app-service-blue", desiredCount=0)
            failures.append("the non-prod deployer changed prod's service")
        except ClientError as exc:
            print(exc.response["Error"]["Code"] + ": " + exc.response["Error"]["Message"])

        release_vars = ROOT / ".demo" / "localcloud-release.json"
        release_vars.parent.mkdir(exist_ok=True)
        # The local cloud resolves each environment's health host (its domain or its load balancer's DNS name) and
        # answers it; bakes are seconds here, minutes in production.
        settings = {**release_settings(url, bake_seconds=2, poll_interval=1), "release_notify_webhook_url": hook.url}
        release_vars.write_text(json.dumps(settings))
        ecr = aws("ecr")

        def build(version: str) -> dict[str, str]:
            print(f"CI pushes dev-movie-app-{{client,server}}-repo:{version}")
            return {
                c: push_image(ecr, f"dev-movie-app-{c}-repo", version, f"{c} {version}") for c in ("client", "server")
            }

        # Releases are short: show their plans and summaries (debug tasks are "ok").
        outputs: list[str] = []

        def release(identity_env: dict[str, str], *args: str) -> str:
            try:
                out = playbook({**identity_env, "ANSIBLE_DISPLAY_OK_HOSTS": "true"}, *args, "-e", f"@{release_vars}")
            except subprocess.CalledProcessError as exc:
                outputs.append(getattr(exc, "output", "") or "")
                raise
            outputs.append(out)
            return out

        for version in ("v1", "v2"):
            digests[version] = build(version)
            step(f"Deploy {version} to dev (rolling)")
            release(nonprod, "playbooks/deploy.yml", "-e", "env=dev", "-e", f"version={version}")
            step(f"Promote {version}: dev -> staging (blue/green)")
            release(nonprod, "playbooks/promote.yml", "-e", "source=dev")
            step(f"Promote {version}: staging -> prod (canary 10/50/100, with snapshots)")
            release(prod, "playbooks/promote.yml", "-e", "source=staging")

        digests["v3"] = build("v3")
        step("Deploy v3 to dev and promote it to staging")
        release(nonprod, "playbooks/deploy.yml", "-e", "env=dev", "-e", "version=v3")
        release(nonprod, "playbooks/promote.yml", "-e", "source=dev")
        step("Promote v3 to prod, where it fails its health checks: it must be rolled back automatically")
        control = LocalCloudClient(url)
        control.set_fault("unhealthy", patterns=[f"*@{digests['v3']['server']}"])
        try:
            release(prod, "playbooks/promote.yml", "-e", "source=staging")
            failures.append("the promotion of the failing release to prod succeeded")
        except subprocess.CalledProcessError:
            print("(the promotion failed, as it should)")
        control.clear_faults()

        step("Promote v3 to prod again and kill the run (kill -9) during its first canary bake; then abort it")
        ansible_playbook = str(Path(sys.executable).parent / "ansible-playbook")
        promote = [ansible_playbook, "playbooks/promote.yml", "-e", "source=staging"]
        killed = subprocess.Popen(
            [*promote, "-e", f"@{release_vars}", "-e", json.dumps({"bake_seconds": 300, "release_lease_seconds": 5})],
            cwd=ROOT,
            env=prod,
            stdout=subprocess.DEVNULL,
        )
        rule = prod_rule(aws("elbv2"))
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not any(0 < w < 100 for w in weights(aws("elbv2"), rule).values()):
            time.sleep(0.2)
        print(f"prod's weights mid-canary: {weights(aws('elbv2'), rule)}; killing the run")
        kill_run(killed)
        time.sleep(6)  # its 5 s lease runs out: nothing renews it any more
        refused = subprocess.run(
            [*promote, "-e", f"@{release_vars}"],
            cwd=ROOT,
            env=prod,
            capture_output=True,
            text=True,
            check=False,
        )
        print("the next promotion is refused:", " ".join(refused.stdout.split()).rsplit("msg: ", maxsplit=1)[-1][:300])
        release(prod, "playbooks/abort.yml", "-e", "env=prod", "-e", json.dumps({"reason": "demo: killed mid-canary"}))
        aborted = weights(aws("elbv2"), rule)

        step("What runs where after the releases, read live; the environments' page")
        playbook(
            {**readonly, "ANSIBLE_DISPLAY_OK_HOSTS": "true"},
            "playbooks/status.yml",
            "-e",
            "format=html",
            "-e",
            f"status_dir={ROOT / 'reports'}",
        )
        statuses = {
            e["environment"]: e for e in json.loads((ROOT / "reports" / "status.json").read_text())["environments"]
        }

        step("The notifications the team's webhook received")
        for body in hook.received:
            print("  " + body["text"])

        step("History of every environment")
        history = playbook({**readonly, "ANSIBLE_DISPLAY_OK_HOSTS": "true"}, "playbooks/history.yml")
        step("The environment matrix")
        playbook(readonly, "playbooks/report.yml")

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
        dev_db, staging_db, prod_db = (databases[name] for name in ("dev", "staging", "prod"))
        expect(
            "dev's database is a one-instance DocumentDB cluster, staging's a primary and a replica in another zone",
            len(dev_db["DBClusterMembers"]) == 1
            and len(staging_db["DBClusterMembers"]) == 2
            and len(databases["staging zones"]) == 2,
        )
        expect(
            "prod's database is a DocumentDB elastic cluster of 2 shards x 2 vCPUs x 2 instances, tagged protected",
            (prod_db["status"], prod_db["shardCount"], prod_db["shardCapacity"], prod_db["shardInstanceCount"])
            == ("ACTIVE", 2, 2, 2)
            and databases["prod tags"].get("DeletionProtection") == "true",
        )
        for name, version in (("dev", "v3"), ("staging", "v3"), ("prod", "v2")):
            status, body = control.lb_get(f"{name}-movie-app-alb")
            served = sorted(i.rsplit("@", 1)[-1] for i in body.get("images", []))
            expect(
                f"{name} serves {version} (by digest), HTTP {status}",
                status == 200 and served == sorted(digests[version].values()),
            )
        expect("prod's history shows the rolled-back v3 promotion", bool(re.search(r"promote\s+rolled back", history)))
        expect(
            "the killed v3 promotion of prod refused the next run, then was aborted: all traffic back on one colour",
            refused.returncode != 0
            and "abort.yml" in refused.stdout
            and sorted(aborted.values()) == [0, 100]
            and bool(re.search(r"promote\s+aborted", history)),
        )
        snapshots = aws("ec2").describe_snapshots(Filters=[{"Name": "tag:Environment", "Values": ["prod"]}])
        expect("prod's volumes were snapshotted before its promotions", len(snapshots["Snapshots"]) > 0)
        events = [b["metadata"]["event_payload"]["event"] for b in hook.received]
        expect(
            "the webhook heard every release start, step, success, the rolled-back v3 and the abort",
            events.count("started") >= 10
            and "step" in events
            and "succeeded" in events
            and "rolled back" in events
            and events[-1] == "aborted",
        )
        expect(
            "status read prod live: v2 served by digest, no drift, the lock free",
            statuses["prod"]["drift"] == "none"
            and not statuses["prod"]["lock"]
            and sorted(i.rsplit("@", 1)[-1] for i in statuses["prod"]["services"][0]["serving"]["images"].values())
            == sorted(digests["v2"].values()),
        )
        written = [p for p in (ROOT / "reports").glob("*.html") if p.stat().st_mtime >= began]
        pages = sorted(written, key=lambda p: p.stat().st_mtime)
        expect(
            "the environments' page and a report for every release were written in this run",
            ROOT / "reports" / "status.html" in pages and len(pages) >= events.count("started"),
        )
        shown = "".join(outputs)
        expect(
            "progress lines showed the releases' ECS waits and bakes while they ran",
            "  progress " in shown
            and "ecs_promote prod-movie-app-cluster: waiting" in shown
            and "alb_traffic prod: baking prod-app-" in shown,
        )
        print("HTML pages:")
        for page in pages:
            print(f"  {page}")
    except subprocess.CalledProcessError as exc:
        failures.append(f"{' '.join(exc.cmd[1:])} exited {exc.returncode}")
    finally:
        hook.stop()
        proc.terminate()
        proc.wait(timeout=20)
    step(f"Demo {'FAILED: ' + '; '.join(failures) if failures else 'passed'} in {time.monotonic() - started:.1f}s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
