# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a release record and its summary keep of the modules' results."""

from __future__ import annotations

from typing import Any


def short_image(image: str) -> str:
    """repo@sha256:abcdef... -> repo@sha256:abcdef123456 (the registry host and most of the digest dropped)."""
    name = image.rsplit("/", 1)[-1]
    if "@sha256:" in name:
        repo, digest = name.split("@sha256:", 1)
        return f"{repo}@sha256:{digest[:12]}"
    return name


def service_summary(service: dict[str, Any]) -> dict[str, Any]:
    """One service of ecs_promote's result, as records and reports keep it."""
    return {
        "service": service.get("service", ""),
        "previous_task_definition": service.get("previous_task_definition", ""),
        "task_definition": service.get("task_definition", ""),
        "failed_task_definition": service.get("failed_task_definition", ""),
        "state": service.get("state", ""),
        "images": {
            name: {
                "before": image.get("before", ""),
                "after": image.get("after", ""),
                "before_digest": image.get("before_digest", ""),
                "after_digest": image.get("after_digest", ""),
                "reason": image.get("reason", ""),
            }
            for name, image in (service.get("images") or {}).items()
        },
    }


def images_after(services: list[dict[str, Any]]) -> dict[str, str]:
    """Container -> the image, by digest, that services run after a release (a record's `services` or ecs_promote's
    plan): what the release delivers, which an approval names."""
    images: dict[str, str] = {}
    for service in services or []:
        for name, image in (service.get("images") or {}).items():
            if image.get("after"):
                images.setdefault(name, image["after"])
    return images


def rollback_target(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The release a rollback goes back to, from an environment's succeeded records (newest first): the newest deploy or
    promotion before the one the environment runs now that no rollback has undone. A rollback record runs the release it
    went back to (its `source`), and undoes every release between that one and itself; so repeated rollbacks walk back
    through the releases and never return to one that was rolled back. {} when there is none."""
    ordered = sorted(records or [], key=lambda r: str(r.get("started_at", "")))  # oldest first
    releases = {r.get("id"): r for r in ordered if r.get("kind") in ("deploy", "promote")}
    stack: list[dict[str, Any]] = []  # the releases the environment went through, the one it runs now last
    for record in ordered:
        if record.get("kind") == "rollback":
            back_to = record.get("source", "")
            if any(r.get("id") == back_to for r in stack):
                while stack[-1].get("id") != back_to:
                    stack.pop()  # undone by this rollback
            elif back_to in releases:
                stack.append(releases[back_to])  # back to a release an earlier rollback undid: it runs again
        elif record.get("kind") in ("deploy", "promote"):
            stack.append(record)
    return stack[-2] if len(stack) > 1 else {}


def step_summary(result: dict[str, Any]) -> dict[str, Any]:
    """One alb_traffic loop result: the percentage sent to the new colour, the gate and its seconds."""
    gate = result.get("gate") or {}
    return {
        "percent": result.get("item"),
        "weights": result.get("after", {}),
        "passed": gate.get("passed"),
        "enforced": gate.get("enforced", True),
        "seconds": gate.get("seconds", 0),
        "looks": gate.get("looks", 1),
        "paused": gate.get("paused", ""),
        "gate": "; ".join(str(gate[k]) for k in ("alarms", "health") if gate.get(k)) or gate.get("why", ""),
        "failed": bool(result.get("failed")),
    }


def _rule_of(listener: dict[str, Any], blue_target_group: str) -> dict[str, Any] | None:
    """The weighted rule of a listener that forwards to the target group named blue_target_group."""
    for rule in listener.get("rules") or []:
        if rule.get("is_default"):
            continue  # the listener's default action: AWS describes it as a forward with weight 1, never weighted
        for action in rule.get("actions") or []:
            groups = (action.get("forward_config") or {}).get("target_groups") or []
            if any(f":targetgroup/{blue_target_group}/" in g.get("target_group_arn", "") for g in groups):
                return rule
    return None


def release_units(
    services: list[dict[str, Any]],
    strategy: str,
    lb_info: dict[str, Any] | None = None,
    port: int = 80,
    load_balancer: str | None = None,
) -> dict[str, Any]:
    """What a release of one environment acts on, service by service in release order (the application_services
    filter's result): each service's target ECS service (the idle colour's of a load-balanced one, else the one
    service, updated in place), the ECS service that serves now, and a load-balanced one's rule, weights and target
    groups. The environment's live colour is the default service's; `split` says that a rule sends traffic to both
    colours or that the services' rules disagree (an interrupted release)."""
    two = strategy in ("blue_green", "canary")
    listener: dict[str, Any] = {}
    if two and any(s.get("balanced") for s in services):
        if not lb_info:
            raise ValueError("the load balancer was not read: a blue/green release needs its rules")
        found = [
            lb for lb in lb_info.get("load_balancers") or [] if load_balancer in (None, lb.get("load_balancer_name"))
        ]
        if not found:
            raise ValueError(f"load balancer {load_balancer} does not exist or was not read")
        listener = next((li for li in found[0].get("listeners") or [] if li.get("port") == int(port)), {})
    colours: dict[str, dict[str, Any]] = {}
    for service in services:
        if not (two and service.get("balanced")):
            continue
        rule = _rule_of(listener, service["target_groups"]["blue"])
        if rule is None:
            raise ValueError(
                f"service {service['name']} has no weighted rule forwarding to {service['target_groups']['blue']} on "
                f"port {port} of {load_balancer}: provision the environment first"
            )
        weights = {
            g["target_group_arn"]: int(g["weight"])
            for a in rule["actions"]
            for g in (a.get("forward_config") or {}).get("target_groups") or []
        }
        blue = next(arn for arn in weights if f":targetgroup/{service['target_groups']['blue']}/" in arn)
        live = "blue" if weights[blue] >= 50 else "green"
        colours[service["name"]] = {"rule": rule, "weights": weights, "live": live}
    default = next((s["name"] for s in services if (s.get("load_balancer") or {}).get("default")), None)
    live = colours[default]["live"] if default in colours else ("blue" if colours else "")
    idle = {"blue": "green", "green": "blue"}.get(live, "")
    split = any(sum(1 for w in c["weights"].values() if w > 0) > 1 for c in colours.values())
    disagree = sorted(name for name, c in colours.items() if c["live"] != live)
    units = []
    for service in services:
        ecs = f"{service['ecs_service']}"
        unit: dict[str, Any] = {
            "service": service["name"],
            "containers": [c["name"] for c in service.get("containers") or []],
            "balanced": service["name"] in colours,
            "target": ecs,
            "serving": ecs,
        }
        if service["name"] in colours:
            c = colours[service["name"]]
            unit.update(
                target=f"{ecs}-{idle}",
                serving=f"{ecs}-{live}",
                rule_arn=c["rule"]["rule_arn"],
                weights=c["weights"],
                target_groups={"live": service["target_groups"][live], "idle": service["target_groups"][idle]},
                colour_groups=dict(service["target_groups"]),
                gate_key=service["target_group_keys"][idle],
            )
        units.append(unit)
    return {"live": live, "idle": idle, "interrupted": split or bool(disagree), "disagree": disagree, "units": units}


def release_service_images(units: list[dict[str, Any]], images: dict[str, str], environment: str) -> dict[str, Any]:
    """Each target ECS service's images, and each serving one's (compared with the release): the release's
    (container -> image) for the service's own containers. A service whose container the release does not name is
    refused, naming the service."""
    result = {}
    for unit in units:
        missing = [c for c in unit["containers"] if c not in (images or {})]
        if missing:
            raise ValueError(
                f"the release names no image for container(s) {', '.join(missing)} of service {unit['service']} in "
                f"{environment}; it names {', '.join(sorted(images or {})) or 'none'}. Nothing was changed"
            )
        result[unit["target"]] = {c: images[c] for c in unit["containers"]}
        result[unit["serving"]] = result[unit["target"]]
    return result


def release_sources(units: list[dict[str, Any]], source_units: list[dict[str, Any]], source: str) -> list[str]:
    """The source's serving ECS service for each target unit, by service name; a service the source lacks is refused."""
    serving = {u["service"]: u["serving"] for u in source_units}
    missing = [u["service"] for u in units if u["service"] not in serving]
    if missing:
        raise ValueError(
            f"{source} has no service {', '.join(missing)}: a promotion releases every service of the target from the "
            f"same service of the source. Nothing was changed"
        )
    return [serving[u["service"]] for u in units]


def step_rules(units: list[dict[str, Any]], percent: Any = None) -> list[dict[str, Any]]:
    """The load-balanced services' rules with the weights of one traffic step - percent to each service's idle target
    group, the rest to its live one - or, without a percent, the weights they have now (what a restore puts back)."""
    rules = []
    for unit in units:
        if not unit.get("balanced"):
            continue
        if percent is None:
            weights = dict(unit["weights"])
        else:
            share = int(percent)
            weights = {unit["target_groups"]["idle"]: share, unit["target_groups"]["live"]: 100 - share}
        rules.append({"rule_arn": unit["rule_arn"], "weights": weights})
    return rules


def rules_weights(rules: list[dict[str, Any]]) -> list[str]:
    """What a restore or an abort reports of the rules it set: each target group's name and weight."""
    return [
        ", ".join(f"{arn.split(':targetgroup/')[-1].split('/')[0]} {weight}" for arn, weight in rule["weights"].items())
        for rule in rules
    ]


def colour_rules(units: list[dict[str, Any]], colour: str) -> list[dict[str, Any]]:
    """Every load-balanced service's rule sending all its traffic to one colour (an abort told which was live)."""
    return [
        {
            "rule_arn": unit["rule_arn"],
            "weights": {name: 100 if group == colour else 0 for group, name in unit["colour_groups"].items()},
        }
        for unit in units
        if unit.get("balanced")
    ]


def restore_rules(restore: dict[str, Any]) -> list[dict[str, Any]]:
    """The rules and weights an open release record asks to restore: its `rules`, or a record written before several
    services (one `rule_arn` with its `weights`)."""
    if restore.get("rules"):
        return [{"rule_arn": r["rule_arn"], "weights": dict(r["weights"])} for r in restore["rules"]]
    if restore.get("rule_arn") and restore.get("weights"):
        return [{"rule_arn": restore["rule_arn"], "weights": dict(restore["weights"])}]
    return []
