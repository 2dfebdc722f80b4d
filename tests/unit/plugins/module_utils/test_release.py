"""Release logic without AWS: deployment states, plans, registrations, digests, gates, records, pruning."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from ansible_collections.stageflow.aws.plugins.module_utils import application as app
from ansible_collections.stageflow.aws.plugins.module_utils import release_report as report
from ansible_collections.stageflow.aws.plugins.module_utils._cloudwatch import alarms
from ansible_collections.stageflow.aws.plugins.module_utils._dynamodb import state
from ansible_collections.stageflow.aws.plugins.module_utils._ecr import images
from ansible_collections.stageflow.aws.plugins.module_utils._ecs import deploy as ecs
from ansible_collections.stageflow.aws.plugins.module_utils._elbv2 import traffic
from ansible_collections.stageflow.aws.plugins.modules.volume_snapshot import prune_plan
from botocore.exceptions import ClientError

from tests.unit.plugins.module_utils.test_application import THREE

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/dev-movie-app-server-repo"
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def deployment(td: str, status: str = "PRIMARY", rollout: str = "COMPLETED", running: int = 2, desired: int = 2):
    return {
        "taskDefinition": td,
        "status": status,
        "rolloutState": rollout,
        "runningCount": running,
        "desiredCount": desired,
    }


@pytest.mark.parametrize(
    ("deployments", "expected"),
    [
        ([deployment("td:2")], "done"),
        ([deployment("td:2", rollout="IN_PROGRESS", running=1), deployment("td:1", status="ACTIVE")], "waiting"),
        ([deployment("td:2", running=1)], "waiting"),  # COMPLETED is not enough: running must equal desired
        ([deployment("td:2", rollout="FAILED")], "failed"),
        # The circuit breaker rolled back: td:1 is PRIMARY again and ours FAILED. Never a success.
        ([deployment("td:1"), deployment("td:2", status="ACTIVE", rollout="FAILED")], "failed"),
        ([deployment("td:1")], "failed"),  # ours is gone and the old one runs
        ([], "waiting"),
    ],
)
def test_service_state_is_truthful(deployments, expected) -> None:
    assert ecs.service_state({"deployments": deployments}, "td:2")[0] == expected


def test_wait_for_times_out_with_the_last_reason() -> None:
    class Ecs:
        def describe_services(self, cluster, services):
            return {
                "services": [
                    {"serviceName": s, "status": "ACTIVE", "deployments": [deployment("td:2", rollout="IN_PROGRESS")]}
                    for s in services
                ]
            }

    clock = iter(range(0, 1000, 5))
    states = ecs.wait_for(Ecs(), None, "c", {"a": "td:2"}, 12, 5, now=lambda: next(clock), sleep=lambda s: None)
    assert states["a"]["state"] == "timeout"
    assert "not stable after 12s: deployment IN_PROGRESS" in states["a"]["why"]


def target_td(**extra):
    return {
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:1:task-definition/prod-task:4",
        "family": "prod-task",
        "revision": 4,
        "status": "ACTIVE",
        "executionRoleArn": "arn:aws:iam::1:role/exec",
        "networkMode": "awsvpc",
        "requiresAttributes": [{"name": "x"}],
        "containerDefinitions": [
            {
                "name": "server",
                "image": f"{REPO}@{D1}",
                "environment": [{"name": "DATABASE_NAME", "value": "movieapp_prod"}],
            },
            {"name": "client", "image": "client:old"},
        ],
        **extra,
    }


def test_plan_changes_only_the_images_and_keeps_the_targets_settings() -> None:
    service = {"serviceName": "prod-svc-green", "taskDefinition": "arn:td:4"}
    digests = {f"{REPO}:v2": {"digest": D2, "repository": REPO, "registry": "1", "tag": "v2"}}
    step = ecs.plan_service(service, target_td(), {"server": f"{REPO}:v2"}, digests, {"server": "staging runs it"})
    assert step["changed"]
    assert step["images"]["server"] == {
        "before": f"{REPO}@{D1}",
        "after": f"{REPO}@{D2}",
        "before_digest": D1,
        "after_digest": D2,
        "reason": "staging runs it",
    }
    assert step["images"]["client"]["reason"] == "not part of the release: kept"
    body = ecs.registration(target_td(), step["new_images"])
    assert "revision" not in body and "requiresAttributes" not in body and "taskDefinitionArn" not in body
    assert body["executionRoleArn"] == "arn:aws:iam::1:role/exec"
    assert body["containerDefinitions"][0] == {
        "name": "server",
        "image": f"{REPO}@{D2}",
        "environment": [{"name": "DATABASE_NAME", "value": "movieapp_prod"}],
    }


def test_plan_with_the_same_digest_changes_nothing() -> None:
    digests = {f"{REPO}:v1": {"digest": D1, "repository": REPO, "registry": "1", "tag": "v1"}}
    step = ecs.plan_service(
        {"serviceName": "s", "taskDefinition": "td"}, target_td(), {"server": f"{REPO}:v1"}, digests, {}
    )
    assert not step["changed"] and step["new_images"] == {}
    assert step["images"]["server"]["reason"] == "same digest: unchanged"


def test_a_container_missing_from_the_target_is_named() -> None:
    with pytest.raises(ecs.ReleaseError, match=r"container\(s\) sidecar of the release are missing from s's task"):
        ecs.plan_service({"serviceName": "s", "taskDefinition": "td"}, target_td(), {"sidecar": "x"}, {}, {})


@pytest.mark.parametrize(
    ("service", "message"),
    [
        ({"deploymentController": {"type": "CODE_DEPLOY"}}, "CODE_DEPLOY deployment controller"),
        ({"deploymentController": {"type": "EXTERNAL"}}, "EXTERNAL deployment controller"),
        ({"deploymentConfiguration": {"strategy": "BLUE_GREEN"}}, "built-in BLUE_GREEN deployment strategy"),
    ],
)
def test_services_run_by_someone_else_are_refused(service, message) -> None:
    with pytest.raises(ecs.ReleaseError, match=message):
        ecs.check_controller({"serviceName": "s", **service}, "c")


class FakeEcr:
    def __init__(self, images):
        self.images = images  # repo -> {tag: digest}
        self.calls = 0

    def describe_images(self, registryId, repositoryName, imageIds):
        self.calls += 1
        tags = self.images[repositoryName]
        details = []
        for image_id in imageIds:
            if "imageTag" in image_id and image_id["imageTag"] not in tags:
                raise ClientError({"Error": {"Code": "ImageNotFoundException", "Message": "no"}}, "DescribeImages")
            digest = tags.get(image_id.get("imageTag"), image_id.get("imageDigest"))
            details.append({"imageDigest": digest, "imageTags": [t for t, d in tags.items() if d == digest]})
        return {"imageDetails": details}


def test_digests_are_resolved_with_one_call_per_repository() -> None:
    fake = FakeEcr({"dev-movie-app-server-repo": {"v1": D1, "v2": D2}})
    found = images.resolve_digests(fake, [f"{REPO}:v1", f"{REPO}:v2", f"{REPO}@{D2}"])
    assert fake.calls == 1
    assert found[f"{REPO}:v1"]["digest"] == D1 and found[f"{REPO}@{D2}"]["digest"] == D2


def test_missing_images_are_named() -> None:
    fake = FakeEcr({"dev-movie-app-server-repo": {"v1": D1}})
    with pytest.raises(
        images.ImageError, match=r"image\(s\) missing from ECR: .*dev-movie-app-server-repo:v9; push them first"
    ):
        images.resolve_digests(fake, [f"{REPO}:v1", f"{REPO}:v9"])


def test_images_outside_ecr_must_be_pinned() -> None:
    assert images.resolve_digests(None, [f"nginx@{D1}"])[f"nginx@{D1}"]["digest"] == D1
    with pytest.raises(images.ImageError, match="not in ECR and not pinned by digest"):
        images.resolve_digests(None, ["nginx:1.27"])


def test_rule_weights_and_gates() -> None:
    rule = {
        "RuleArn": "r",
        "Actions": [
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [{"TargetGroupArn": "b", "Weight": 90}, {"TargetGroupArn": "g", "Weight": 10}]
                },
            }
        ],
    }
    assert traffic.weights_of(rule) == {"b": 90, "g": 10}

    class Cw:
        def describe_alarms(self, AlarmNames, AlarmTypes):
            alarms = [{"AlarmName": "ok", "StateValue": "OK"}, {"AlarmName": "bad", "StateValue": "ALARM"}]
            return {"MetricAlarms": [a for a in alarms if a["AlarmName"] in AlarmNames]}

    assert alarms.alarm_gate(Cw(), ["ok"]) == (True, "1 alarm(s) OK")
    assert alarms.alarm_gate(Cw(), ["ok", "bad"]) == (False, "alarm(s) not OK: bad is ALARM")
    passed, why = alarms.alarm_gate(Cw(), ["ok", "gone"])
    assert not passed and "gone do not exist" in why

    class Elb:
        def describe_target_health(self, TargetGroupArn):
            states = {"g": ["healthy", "healthy"], "u": ["healthy", "unhealthy"], "e": []}[TargetGroupArn]
            return {"TargetHealthDescriptions": [{"TargetHealth": {"State": s}} for s in states]}

    assert traffic.health_gate(Elb(), ["g"])[0]
    assert traffic.health_gate(Elb(), ["u"]) == (
        False,
        "target group u is not all healthy: {'healthy': 1, 'unhealthy': 1}",
    )
    assert traffic.health_gate(Elb(), ["e"]) == (False, "target group e has no targets")


def test_records_round_trip_through_dynamodb_types() -> None:
    record = {"duration_seconds": 12.5, "steps": [{"percent": 10, "passed": True}], "note": "v1"}
    stored = state.to_dynamo(record)
    assert stored["duration_seconds"] == Decimal("12.5") and stored["steps"][0]["percent"] == Decimal(10)
    assert state.from_dynamo(stored) == record


def test_a_lock_holder_is_described_with_owner_purpose_and_times() -> None:
    text = state.describe_holder(
        {
            "owner": "alice",
            "purpose": "promote",
            "acquired_at": "2026-11-26T10:00:00Z",
            "expires_at": 0,
            "lock_id": "p1",
        }
    )
    assert text == (
        "held by alice (purpose: promote) since 2026-11-26T10:00:00Z, "
        "lease until 1970-01-01T00:00:00.000000Z, lock id p1"
    )


def test_pruning_keeps_the_newest_per_volume_and_what_is_within_retention() -> None:
    now = datetime.datetime(2026, 11, 26, tzinfo=datetime.UTC)
    snaps = [
        {
            "SnapshotId": f"snap-{v}-{age}",
            "VolumeId": v,
            "State": "completed",
            "StartTime": now - datetime.timedelta(days=age),
        }
        for v in ("a", "b")
        for age in (1, 10, 40, 50, 60)
    ]
    doomed = {s["SnapshotId"] for s in prune_plan(snaps, retention_days=30, keep_at_least=3, now=now)}
    assert doomed == {"snap-a-50", "snap-a-60", "snap-b-50", "snap-b-60"}  # snap-x-40 is old but among the newest 3
    assert prune_plan(snaps, retention_days=0, keep_at_least=0, now=now) == []


def test_report_shortens_images() -> None:
    assert report.short_image(f"{REPO}@{D1}") == "dev-movie-app-server-repo@sha256:111111111111"
    assert report.short_image("nginx:1.27") == "nginx:1.27"


def arn(name: str) -> str:
    return f"arn:aws:elasticloadbalancing:r:1:targetgroup/{name}/1"


def rule(name: str, weights: dict[str, int], priority: str = "100") -> dict:
    groups = [{"target_group_arn": arn(g), "weight": w} for g, w in weights.items()]
    actions = [{"forward_config": {"target_groups": groups}}]
    return {"rule_arn": f"rule/{name}", "priority": priority, "actions": actions}


# The second example application's shape (an API and a web front end behind the load balancer, a worker without).
SHOP = THREE
NAMES = {
    "service": "prod-shop-service",
    "task_family": "prod-shop-task",
    "target_group_blue": "prod-app-blue",
    "target_group_green": "prod-app-green",
}


def shop_lb(api: int, web: int, port: int = 443, name: str = "prod-shop-alb") -> dict:
    rules = [
        rule("api", {"prod-api-blue": api, "prod-api-green": 100 - api}, "1"),
        rule("web", {"prod-app-blue": web, "prod-app-green": 100 - web}),
    ]
    return {
        "load_balancers": [
            {"load_balancer_name": name, "listeners": [{"port": 80, "rules": []}, {"port": port, "rules": rules}]}
        ]
    }


def test_each_service_of_a_release_has_its_target_its_rule_and_the_environments_colour() -> None:
    services = app.services(SHOP, "prod", "shop", NAMES)
    found = report.release_units(services, "canary", shop_lb(100, 100), 443, load_balancer="prod-shop-alb")
    assert (found["live"], found["idle"], found["interrupted"]) == ("blue", "green", False)
    api, worker, web = found["units"]
    assert (api["target"], api["serving"]) == ("prod-shop-service-api-green", "prod-shop-service-api-blue")
    assert api["rule_arn"] == "rule/api" and api["gate_key"] == "api-green"
    assert api["target_groups"] == {"live": "prod-api-blue", "idle": "prod-api-green"}
    # A service without a load balancer is updated in place: it is its own target and what serves.
    assert (worker["balanced"], worker["target"], worker["serving"]) == (
        False,
        "prod-shop-service-worker",
        "prod-shop-service-worker",
    )
    assert web["gate_key"] == "green" and web["target"] == "prod-shop-service-green"
    # One step moves every rule; without a percent, the weights they have now (what a restore puts back).
    assert report.step_rules(found["units"], 10) == [
        {"rule_arn": "rule/api", "weights": {"prod-api-green": 10, "prod-api-blue": 90}},
        {"rule_arn": "rule/web", "weights": {"prod-app-green": 10, "prod-app-blue": 90}},
    ]
    assert report.step_rules(found["units"])[0]["weights"] == {arn("prod-api-blue"): 100, arn("prod-api-green"): 0}
    assert report.colour_rules(found["units"], "blue")[1] == {
        "rule_arn": "rule/web",
        "weights": {"prod-app-blue": 100, "prod-app-green": 0},
    }
    # Green live: the default service's colour is the environment's.
    assert report.release_units(services, "blue_green", shop_lb(0, 0), 443)["live"] == "green"
    # Rolling: no rule is read; every service is updated in place.
    rolling = report.release_units(services, "rolling")
    assert [u["target"] for u in rolling["units"]] == [
        "prod-shop-service-api",
        "prod-shop-service-worker",
        "prod-shop-service",
    ]


def test_a_split_rule_or_services_on_different_colours_is_an_interrupted_release() -> None:
    services = app.services(SHOP, "prod", "shop", NAMES)
    assert report.release_units(services, "canary", shop_lb(90, 100), 443)["interrupted"]
    mixed = report.release_units(services, "canary", shop_lb(0, 100), 443)
    assert mixed["interrupted"] and mixed["disagree"] == ["api"] and mixed["live"] == "blue"
    with pytest.raises(ValueError, match="service api has no weighted rule forwarding to prod-api-blue on port 80"):
        report.release_units(
            services,
            "canary",
            shop_lb(100, 100, port=80)
            | {"load_balancers": [{"load_balancer_name": "prod-shop-alb", "listeners": [{"port": 80, "rules": []}]}]},
            80,
        )
    with pytest.raises(ValueError, match="load balancer qa-shop-alb does not exist"):
        report.release_units(services, "canary", shop_lb(100, 100), 443, load_balancer="qa-shop-alb")


def test_each_service_takes_its_own_images_and_its_source_by_name() -> None:
    services = app.services(SHOP, "prod", "shop", NAMES)
    units = report.release_units(services, "canary", shop_lb(100, 100), 443)["units"]
    images = {"api": "r/api:v1", "worker": "r/worker:v1", "web": "r/web:v1"}
    by_service = report.release_service_images(units, images, "prod")
    assert by_service["prod-shop-service-api-green"] == by_service["prod-shop-service-api-blue"] == {"api": "r/api:v1"}
    assert by_service["prod-shop-service-worker"] == {"worker": "r/worker:v1"}
    with pytest.raises(ValueError, match=r"names no image for container\(s\) worker of service worker in prod"):
        report.release_service_images(units, {"api": "a", "web": "w"}, "prod")
    source = report.release_units(
        app.services(SHOP, "dev", "shop", {**NAMES, "service": "dev-shop-service"}), "rolling"
    )["units"]
    assert report.release_sources(units, source, "dev") == [
        "dev-shop-service-api",
        "dev-shop-service-worker",
        "dev-shop-service",
    ]
    with pytest.raises(ValueError, match="dev has no service worker"):
        report.release_sources(units, [source[0], source[2]], "dev")


def test_an_open_record_restores_its_rules_or_a_single_rule_of_an_older_record() -> None:
    rules = [{"rule_arn": "rule/api", "weights": {"a": 100, "b": 0}}]
    assert report.restore_rules({"rules": rules}) == rules
    assert report.restore_rules({"rule_arn": "rule/x", "weights": {"a": 0, "b": 100}}) == [
        {"rule_arn": "rule/x", "weights": {"a": 0, "b": 100}}
    ]
    assert report.restore_rules({}) == []
    assert report.rules_weights([{"rule_arn": "r", "weights": {arn("prod-api-blue"): 100, "prod-api-green": 0}}]) == [
        "prod-api-blue 100, prod-api-green 0"
    ]


def record(ident: str, minute: int, kind: str = "promote", source: str = "") -> dict:
    return {"id": ident, "kind": kind, "started_at": f"2026-11-27T10:{minute:02d}:00.000000Z", "source": source}


def test_repeated_rollbacks_walk_back_and_never_return_to_a_rolled_back_release() -> None:
    history = [record("r1", 1), record("r2", 2), record("r3", 3)]
    assert report.rollback_target(history)["id"] == "r2"
    history.append(record("back-1", 4, "rollback", source="r2"))  # r3 undone
    assert report.rollback_target(history)["id"] == "r1", "not back to r3, the release rolled back"
    history.append(record("back-2", 5, "rollback", source="r1"))  # r2 undone
    assert report.rollback_target(history) == {}, "nothing earlier than r1"
    history.append(record("r4", 6))
    assert report.rollback_target(history)["id"] == "r1", "after a new release, back to the one it replaced"
    assert report.rollback_target(list(reversed(history)))["id"] == "r1", "the records' order does not matter"
    # Back again, by name, to r3, which the first rollback undid: it runs again, and the history before it stays.
    history.append(record("back-3", 7, "rollback", source="r3"))
    assert report.rollback_target(history)["id"] == "r4"


def test_an_image_outside_the_applications_repositories_is_refused() -> None:
    repos = ["dev-movie-app-server-repo"]
    good = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/dev-movie-app-server-repo@sha256:{'a' * 64}"
    images.check_own(good, "123456789012", "us-east-1", repos)
    for bad in (
        good.replace("123456789012", "999999999999"),  # another account's repository of the same name
        good.replace("us-east-1", "eu-west-1"),
        good.replace("dev-movie-app-server-repo", "evil-repo"),
        f"docker.io/library/dev-movie-app-server-repo@sha256:{'a' * 64}",
    ):
        with pytest.raises(images.ImageError, match="is not from this application's repositories"):
            images.check_own(bad, "123456789012", "us-east-1", repos)
