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


def live_colour(
    lb_info: dict[str, Any], port: int, blue_target_group: str, priority: int = 100, load_balancer: str | None = None
) -> dict[str, Any]:
    """From amazon.aws.elb_application_lb_info's result: the weighted rule at `priority` on the listener at `port`,
    its weights by target group ARN, and the live colour (blue when blue's weight is at least 50) and the idle one.
    `load_balancer` names the one to read when the result holds several (the first otherwise)."""
    found = [lb for lb in lb_info["load_balancers"] if load_balancer in (None, lb.get("load_balancer_name"))]
    if not found:
        raise ValueError(
            f"load balancer {load_balancer} is not in the result: elb_application_lb_info returns none when any of the "
            "names it is given does not exist"
        )
    listener = next(li for li in found[0]["listeners"] if li["port"] == int(port))
    rule = next(r for r in listener["rules"] if r["priority"] == str(priority))
    weights = {g["target_group_arn"]: g["weight"] for g in rule["actions"][0]["forward_config"]["target_groups"]}
    blue = next(arn for arn in weights if f":targetgroup/{blue_target_group}/" in arn)
    live = "blue" if int(weights[blue]) >= 50 else "green"
    return {"rule": rule, "weights": weights, "live": live, "idle": "green" if live == "blue" else "blue"}
