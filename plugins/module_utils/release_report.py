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
